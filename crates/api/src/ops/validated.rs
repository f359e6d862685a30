//! Validation in one place: an operation's table and rules are checked once, and the
//! handler reads the result through accessors that cannot fail.

use chrono::{DateTime, Utc};
use larder_model::{Fault, Tag};

use super::kinds::{self, Kind};
use super::{unknown, Operation};
use crate::params::Params;

/// A check across several parameters of one request (a combination such as automatic
/// failover with a single node); it sees only values its table already accepted.
pub type Rule = fn(&Validated) -> Result<(), Fault>;

/// The parameters of a request that passed its operation's table and rules.
pub struct Validated<'a> {
    op: &'static Operation,
    params: &'a Params,
}

/// Checks a request against its operation: required parameters first (as the service
/// does), then each present parameter's kind in table order, then the rules in order.
pub fn validate<'a>(op: &'static Operation, params: &'a Params) -> Result<Validated<'a>, Fault> {
    let present = |name: &str| params.has(name) && params.get(name) != Some("");
    if let Some(missing) = op.params.iter().find(|s| s.required && !present(s.name)) {
        return Err(Fault::missing(missing.name));
    }
    for spec in op.params.iter().filter(|s| present(s.name)) {
        kinds::check(params, spec)?;
    }
    let v = Validated { op, params };
    for rule in op.rules {
        rule(&v)?;
    }
    unknown::log_once(op.name, params, op.params);
    Ok(v)
}

impl<'a> Validated<'a> {
    /// The table entry of a top-level name; reading a name the table does not list is
    /// a bug in the handler (its value would never have been checked).
    fn kind(&self, name: &str) -> Kind {
        let top = name.split('.').next().unwrap_or(name);
        match self.op.params.iter().find(|p| p.name == top) {
            Some(p) => p.kind,
            None => panic!("{}: {top} is not in the operation's table", self.op.name),
        }
    }

    /// The request's raw parameters, for rules that look inside a structure list.
    pub fn params(&self) -> &'a Params {
        self.params
    }

    /// A string; absent or empty is `None`.
    pub fn string(&self, name: &str) -> Option<String> {
        self.kind(name);
        self.params.string(name)
    }

    /// A required string (the table guarantees it is present).
    pub fn required(&self, name: &str) -> String {
        self.string(name).unwrap_or_default()
    }

    /// An identifier, lower-cased as the service stores it.
    pub fn id(&self, name: &str) -> Option<String> {
        self.string(name).map(|s| s.to_ascii_lowercase())
    }

    /// A required identifier, lower-cased.
    pub fn required_id(&self, name: &str) -> String {
        self.id(name).unwrap_or_default()
    }

    /// An enumerated value in the table's own spelling.
    pub fn choice(&self, name: &str) -> Option<&'static str> {
        let Kind::Enum(values, _) = self.kind(name) else {
            panic!("{}: {name} is not an enumeration", self.op.name);
        };
        let raw = self.params.get(name)?;
        values.iter().copied().find(|v| v.eq_ignore_ascii_case(raw))
    }

    /// A node type the table checked exists.
    pub fn node_type(&self, name: &str) -> Option<larder_model::NodeType> {
        self.string(name)
            .and_then(|t| larder_model::NodeType::find(&t))
    }

    /// An integer (already checked to parse and to be in range).
    pub fn int(&self, name: &str) -> Option<i64> {
        self.kind(name);
        self.params.int(name).ok().flatten()
    }

    /// A boolean.
    pub fn bool(&self, name: &str) -> Option<bool> {
        self.kind(name);
        self.params.bool(name).ok().flatten()
    }

    /// A boolean that defaults to false.
    pub fn flag(&self, name: &str) -> bool {
        self.bool(name).unwrap_or(false)
    }

    /// A timestamp.
    pub fn time(&self, name: &str) -> Option<DateTime<Utc>> {
        self.kind(name);
        self.params.timestamp(name).ok().flatten()
    }

    /// A list sent as `Name.Member.N`.
    pub fn list(&self, name: &str, member: &str) -> Vec<String> {
        self.kind(name);
        self.params.list(name, member)
    }

    /// One field of a structure list sent as `Name.Member.N.Field`, as (N, value).
    pub fn list_field(&self, name: &str, member: &str, field: &str) -> Vec<(u32, String)> {
        self.kind(name);
        self.params.list_field(name, member, field)
    }

    /// Tags sent as `Name.Tag.N.Key` / `.Value`.
    pub fn tags(&self, name: &str) -> Vec<Tag> {
        self.kind(name);
        self.params.tags(name)
    }

    /// Whether the parameter was given (non-empty).
    pub fn given(&self, name: &str) -> bool {
        self.kind(name);
        self.params.has(name) && self.params.get(name) != Some("")
    }
}
