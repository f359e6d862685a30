//! `PreferredMaintenanceWindow`: a weekly UTC window such as `sun:05:00-sun:06:00`.

use chrono::{DateTime, Datelike, Timelike, Utc};

use crate::Fault;

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// A parsed weekly window, as minutes since Monday 00:00 UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaintenanceWindow {
    start: u32,
    end: u32,
}

const WEEK: u32 = 7 * 24 * 60;

fn parse_point(s: &str) -> Option<u32> {
    let mut it = s.split(':');
    let day_name = it.next()?.to_ascii_lowercase();
    let day = DAYS.iter().position(|d| *d == day_name)? as u32;
    let hour: u32 = it.next()?.parse().ok()?;
    let minute: u32 = it.next()?.parse().ok()?;
    if it.next().is_some() || hour > 23 || minute > 59 {
        return None;
    }
    Some(day * 24 * 60 + hour * 60 + minute)
}

impl MaintenanceWindow {
    /// Parses `ddd:hh24:mi-ddd:hh24:mi`; the window must last at least 60 minutes, as
    /// the service requires.
    pub fn parse(s: &str) -> Result<MaintenanceWindow, Fault> {
        let bad = |why: &str| Fault::invalid("PreferredMaintenanceWindow", s, why);
        let (a, b) = s
            .split_once('-')
            .ok_or_else(|| bad("expected ddd:hh24:mi-ddd:hh24:mi"))?;
        let start = parse_point(a).ok_or_else(|| bad("expected ddd:hh24:mi-ddd:hh24:mi"))?;
        let end = parse_point(b).ok_or_else(|| bad("expected ddd:hh24:mi-ddd:hh24:mi"))?;
        let w = MaintenanceWindow { start, end };
        if w.length() < 60 {
            return Err(bad("the window must be at least 60 minutes long"));
        }
        Ok(w)
    }

    fn length(&self) -> u32 {
        (self.end + WEEK - self.start) % WEEK
    }

    /// Where the window starts, in minutes since Monday 00:00 UTC.
    pub fn start_minute(&self) -> u32 {
        self.start
    }

    /// How long the window lasts, in minutes.
    pub fn length_minutes(&self) -> u32 {
        self.length()
    }

    /// True when `now` falls inside the window (windows may wrap past Sunday midnight).
    pub fn contains(&self, now: DateTime<Utc>) -> bool {
        let m = now.weekday().num_days_from_monday() * 24 * 60 + now.hour() * 60 + now.minute();
        (m + WEEK - self.start) % WEEK < self.length()
    }
}

/// The default window for new clusters, like the service picks one per region.
pub const DEFAULT_MAINTENANCE_WINDOW: &str = "sun:05:00-sun:06:00";

/// The maintenance window of a new cache that names none: the default, or when the
/// cache's snapshot window would meet it, the first later Sunday hour clear of it
/// (the service assigns its windows so that they never overlap).
pub fn default_clear_of(snapshot: Option<&crate::snapshot_window::SnapshotWindow>) -> String {
    let Some(s) = snapshot else {
        return DEFAULT_MAINTENANCE_WINDOW.to_string();
    };
    (5..29)
        .map(|h| {
            let (a, b) = (h % 24, (h + 1) % 24);
            let (da, db) = (
                if h < 24 { "sun" } else { "mon" },
                if h + 1 < 24 { "sun" } else { "mon" },
            );
            format!("{da}:{a:02}:00-{db}:{b:02}:00")
        })
        .find(|w| MaintenanceWindow::parse(w).is_ok_and(|m| !s.overlaps(&m)))
        .unwrap_or_else(|| DEFAULT_MAINTENANCE_WINDOW.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn parses_and_contains() {
        let w = MaintenanceWindow::parse("sun:23:30-mon:00:30").unwrap();
        // 2026-11-29 is a Sunday.
        assert!(w.contains(Utc.with_ymd_and_hms(2026, 11, 29, 23, 45, 0).unwrap()));
        assert!(w.contains(Utc.with_ymd_and_hms(2026, 11, 30, 0, 10, 0).unwrap()));
        assert!(!w.contains(Utc.with_ymd_and_hms(2026, 11, 30, 0, 31, 0).unwrap()));
    }

    #[test]
    fn the_default_window_steps_clear_of_a_snapshot_window() {
        use crate::snapshot_window::SnapshotWindow;
        assert_eq!(default_clear_of(None), DEFAULT_MAINTENANCE_WINDOW);
        let early = SnapshotWindow::parse("01:00-02:00").unwrap();
        assert_eq!(default_clear_of(Some(&early)), DEFAULT_MAINTENANCE_WINDOW);
        let clash = SnapshotWindow::parse("04:30-07:00").unwrap();
        assert_eq!(default_clear_of(Some(&clash)), "sun:07:00-sun:08:00");
    }

    #[test]
    fn rejects_short_and_malformed() {
        assert!(MaintenanceWindow::parse("sun:05:00-sun:05:30").is_err());
        assert!(MaintenanceWindow::parse("sunday:05:00-sun:07:00").is_err());
        assert!(MaintenanceWindow::parse("sun:25:00-mon:07:00").is_err());
    }
}
