//! Properties that hold for every entry of every operation table.

use super::*;

/// A value each kind accepts, for filling in required parameters.
fn good_value(kind: Kind) -> Option<String> {
    Some(match kind {
        Kind::Str | Kind::Identifier(_) => "abc".into(),
        Kind::Int => "1".into(),
        Kind::Range { min, max, .. } => min.max(max.min(1)).to_string(),
        Kind::Enum(values, _) => values[0].to_string(),
        Kind::Window => "sun:05:00-sun:06:00".into(),
        Kind::DailyWindow => "01:00-02:00".into(),
        Kind::NodeType => "cache.t4g.micro".into(),
        Kind::Bool => "true".into(),
        Kind::Time => "2026-11-24T10:00:00Z".into(),
        Kind::Inert(Inert::False) => "false".into(),
        Kind::Inert(Inert::Zero) => "0".into(),
        Kind::Inert(Inert::Only(v)) => v.into(),
        Kind::List | Kind::Tags | Kind::Unsupported => return None,
    })
}

/// A value each checking kind refuses; `None` for kinds that accept any text.
fn bad_value(kind: Kind) -> Option<String> {
    Some(match kind {
        Kind::Str | Kind::List => return None,
        Kind::Identifier(max) => "a".repeat(max + 1),
        Kind::Int | Kind::Bool | Kind::Time | Kind::Window | Kind::DailyWindow | Kind::NodeType => {
            "!".into()
        }
        Kind::Range { max, .. } if max < i64::MAX => (max + 1).to_string(),
        Kind::Range { min, .. } => (min - 1).to_string(),
        Kind::Enum(..) => "no-such-thing".into(),
        Kind::Unsupported | Kind::Tags => "x".into(),
        Kind::Inert(Inert::False) => "true".into(),
        Kind::Inert(_) => "7".into(),
    })
}

/// The body of a request with every required parameter set to a good value.
fn required_body(op: &Operation) -> String {
    op.params
        .iter()
        .filter(|p| p.required)
        .map(|p| match (good_value(p.kind), p.kind) {
            (Some(v), _) => format!("{}={v}", p.name),
            (None, Kind::Tags) => format!("{0}.Tag.1.Key=k&{0}.Tag.1.Value=v", p.name),
            (None, _) => format!("{}.member.1=x", p.name),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// No dead table entries: every parameter whose kind checks anything is refused by
/// validate when it holds a bad value, whatever operation it belongs to, and the
/// error names it.
#[test]
fn every_checking_entry_of_every_table_is_reached_by_validate() {
    let mut reached = 0;
    for op in OPERATIONS {
        let base = required_body(op);
        for spec in op.params {
            let Some(bad) = bad_value(spec.kind) else {
                continue;
            };
            let body = match spec.kind {
                Kind::Tags => format!("{base}&{}.Tag.9.Key=aws:{bad}", spec.name),
                _ => format!("{base}&{}={bad}", spec.name),
            };
            let got = validate(op, &Params::parse(body.as_bytes())).map(drop);
            let named = match &got {
                Err(Fault::InvalidParameterValue(m) | Fault::InvalidParameterCombination(m)) => {
                    m.contains(spec.name) || matches!(spec.kind, Kind::NodeType | Kind::Tags)
                }
                Err(_) => false,
                Ok(()) => false,
            };
            assert!(named, "{}: {}={bad} gave {got:?}", op.name, spec.name);
            reached += 1;
        }
    }
    assert!(reached > 100, "only {reached} entries checked");
}

/// Every table lists each parameter once, and every operation name is unique.
#[test]
fn tables_have_no_duplicates() {
    for (i, a) in OPERATIONS.iter().enumerate() {
        assert!(
            OPERATIONS[i + 1..].iter().all(|b| b.name != a.name),
            "{}",
            a.name
        );
        for (j, p) in a.params.iter().enumerate() {
            assert!(
                a.params[j + 1..].iter().all(|q| q.name != p.name),
                "{}: {}",
                a.name,
                p.name
            );
        }
    }
}

/// A handler reading a parameter its table does not list would read an unchecked
/// value; the accessors refuse that loudly.
#[test]
#[should_panic(expected = "not in the operation's table")]
fn reading_a_name_outside_the_table_is_a_bug() {
    let params = Params::parse(b"");
    let v = validate(find("DescribeCacheClusters").unwrap(), &params).unwrap();
    v.int("NumCacheNodes");
}
