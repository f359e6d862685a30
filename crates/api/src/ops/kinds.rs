//! Parameter kinds: what one entry of an operation's table says about its value, and
//! the one check per kind. A kind needs only the request, never stored state.

use larder_model::ids::normalize_identifier;
use larder_model::{Fault, MaintenanceWindow, SnapshotWindow};

use crate::params::Params;

/// What a parameter holds, for the shared checks.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// Free text.
    Str,
    /// An integer.
    Int,
    /// An integer within `min..=max`; outside it answers InvalidParameterValue with `why`.
    Range {
        /// Smallest accepted value.
        min: i64,
        /// Largest accepted value.
        max: i64,
        /// The reason shown to the user, e.g. `must be 1-65535`.
        why: &'static str,
    },
    /// One of a fixed set of names (compared case-insensitively); anything else answers
    /// InvalidParameterValue with the reason given.
    Enum(&'static [&'static str], &'static str),
    /// A resource identifier being created: 1..=max ASCII letters, digits and hyphens,
    /// starting with a letter, no `--`, no trailing hyphen. Read back lower-cased.
    Identifier(usize),
    /// A weekly window `ddd:hh24:mi-ddd:hh24:mi` of at least 60 minutes.
    Window,
    /// A daily UTC window `hh24:mi-hh24:mi` of at least 60 minutes (SnapshotWindow).
    DailyWindow,
    /// A node type Larder knows (`cache.t4g.micro`, …).
    NodeType,
    /// `true` or `false`.
    Bool,
    /// ISO 8601.
    Time,
    /// A flattened list or structure list; its members are checked by the operation's rules.
    List,
    /// Tags sent as `Name.Tag.N.Key` / `.Value`: at least one well-formed tag.
    Tags,
    /// Accepted by the service but not by Larder yet: refused clearly whenever given.
    Unsupported,
    /// Not implemented by Larder yet, so accepted only with the value that asks for
    /// nothing (`false`, `0`, `ipv4`, …); any other value is refused, never echoed.
    Inert(Inert),
}

/// The one value of a not-yet-implemented parameter that Larder can honour: the one
/// that changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inert {
    /// A boolean that may only be `false`.
    False,
    /// An integer that may only be `0`.
    Zero,
    /// A string that may only be this (compared case-insensitively).
    Only(&'static str),
}

/// One parameter of an operation.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// Wire name.
    pub name: &'static str,
    /// Value kind.
    pub kind: Kind,
    /// Whether the service requires it.
    pub required: bool,
}

/// An optional parameter.
pub const fn p(name: &'static str, kind: Kind) -> Param {
    Param {
        name,
        kind,
        required: false,
    }
}

/// A required parameter.
pub const fn req(name: &'static str, kind: Kind) -> Param {
    Param {
        name,
        kind,
        required: true,
    }
}

/// An integer parameter with a range.
pub const fn range(min: i64, max: i64, why: &'static str) -> Kind {
    Kind::Range { min, max, why }
}

/// Checks one present parameter against its kind.
pub fn check(params: &Params, spec: &Param) -> Result<(), Fault> {
    let name = spec.name;
    let raw = params.get(name).unwrap_or_default();
    match spec.kind {
        Kind::Int => drop(params.int(name)?),
        Kind::Range { min, max, why } => {
            if let Some(n) = params.int(name)? {
                if !(min..=max).contains(&n) {
                    return Err(Fault::invalid(name, &n.to_string(), why));
                }
            }
        }
        Kind::Enum(values, why) => {
            if !values.iter().any(|v| v.eq_ignore_ascii_case(raw)) {
                return Err(Fault::invalid(name, raw, why));
            }
        }
        Kind::Identifier(max) => drop(normalize_identifier(name, raw, max)?),
        Kind::Window => drop(MaintenanceWindow::parse(raw)?),
        Kind::DailyWindow => drop(SnapshotWindow::parse(raw)?),
        Kind::NodeType => {
            if larder_model::NodeType::find(raw).is_none() {
                return Err(Fault::InvalidParameterValue(format!(
                    "Invalid node type: {raw}"
                )));
            }
        }
        Kind::Bool => drop(params.bool(name)?),
        Kind::Time => drop(params.timestamp(name)?),
        Kind::Unsupported => return Err(not_supported(name)),
        Kind::Inert(allowed) => check_inert(params, name, allowed)?,
        Kind::Tags => {
            let tags = params.tags(name);
            if tags.is_empty() {
                return Err(Fault::missing(name));
            }
            tags.iter().try_for_each(larder_model::arn::check_tag)?;
        }
        Kind::Str | Kind::List => {}
    }
    Ok(())
}

/// The refusal of a parameter Larder does not implement yet.
pub fn not_supported(name: &str) -> Fault {
    Fault::InvalidParameterCombination(format!(
        "The parameter {name} is not supported by Larder yet."
    ))
}

/// Refuses a not-yet-implemented parameter unless it holds its do-nothing value.
fn check_inert(params: &Params, name: &str, allowed: Inert) -> Result<(), Fault> {
    let harmless = match allowed {
        Inert::False => params.bool(name)? == Some(false),
        Inert::Zero => params.int(name)? == Some(0),
        Inert::Only(v) => params
            .get(name)
            .is_some_and(|got| got.eq_ignore_ascii_case(v)),
    };
    if harmless {
        return Ok(());
    }
    let value = params.get(name).unwrap_or_default();
    Err(Fault::InvalidParameterCombination(format!(
        "{name}={value} is not supported by Larder yet{}.",
        match allowed {
            Inert::False => String::from("; only false"),
            Inert::Zero => String::from("; only 0"),
            Inert::Only(v) => format!("; only {v}"),
        }
    )))
}
