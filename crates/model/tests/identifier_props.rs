//! Property tests: the identifier check agrees with a plain statement of ElastiCache's
//! rules on arbitrary input, and maintenance windows of any valid shape parse.

use larder_model::ids::normalize_identifier;
use larder_model::MaintenanceWindow;
use proptest::prelude::*;

/// The rules written out the obvious way, as an oracle.
fn valid(s: &str, max: usize) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= max
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && !s.ends_with('-')
        && !s.contains("--")
}

proptest! {
    #[test]
    fn identifier_check_matches_the_rules(s in "[a-zA-Z0-9_ .-]{0,55}") {
        let got = normalize_identifier("CacheClusterId", &s, 50);
        prop_assert_eq!(got.is_ok(), valid(&s, 50), "input {:?}", s);
        if let Ok(id) = got {
            prop_assert_eq!(id, s.to_ascii_lowercase());
        }
    }

    #[test]
    fn windows_of_an_hour_or_more_parse(day in 0usize..7, hour in 0u32..24, minute in 0u32..60, len in 60u32..600) {
        let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let start = hour * 60 + minute;
        let end = start + len;
        let end_day = (day + (end / (24 * 60)) as usize) % 7;
        let end = end % (24 * 60);
        let w = format!("{}:{:02}:{:02}-{}:{:02}:{:02}", days[day], hour, minute, days[end_day], end / 60, end % 60);
        prop_assert!(MaintenanceWindow::parse(&w).is_ok(), "{}", w);
    }
}
