//! DescribeEvents.

use larder_controller::service::{paginate, EventFilter};
use larder_controller::Controller;
use larder_model::Fault;

use super::{p, range, Kind::*, Param, Rule, Validated, MAX_RECORDS};
use crate::xml::Xml;

/// Every SourceType the service names.
const SOURCE_TYPES: &[&str] = &[
    "cache-cluster",
    "cache-parameter-group",
    "cache-security-group",
    "cache-subnet-group",
    "replication-group",
    "serverless-cache",
    "serverless-cache-snapshot",
    "user",
    "user-group",
];

pub const DESCRIBE: &[Param] = &[
    p("SourceIdentifier", Str),
    p(
        "SourceType",
        Enum(SOURCE_TYPES, "is not a known source type"),
    ),
    p("StartTime", Time),
    p("EndTime", Time),
    p("Duration", range(0, 20160, "must be 0-20160 minutes")),
    p("MaxRecords", MAX_RECORDS),
    p("Marker", Str),
];
/// A source id names nothing without its type.
pub const DESCRIBE_RULES: &[Rule] = &[identifier_needs_type];

fn identifier_needs_type(v: &Validated) -> Result<(), Fault> {
    if v.given("SourceIdentifier") && !v.given("SourceType") {
        return Err(Fault::InvalidParameterCombination(
            "SourceType must be given with SourceIdentifier.".into(),
        ));
    }
    Ok(())
}

pub fn describe(ctl: &Controller, v: &Validated) -> Result<String, Fault> {
    let filter = EventFilter {
        source_identifier: v.string("SourceIdentifier"),
        source_type: v.choice("SourceType").map(str::to_string),
        start_time: v.time("StartTime"),
        end_time: v.time("EndTime"),
        duration: v.int("Duration"),
    };
    let events = ctl.describe_events(&filter)?;
    let (page, marker) = paginate(events, v.int("MaxRecords"), v.string("Marker").as_deref())?;
    let mut x = Xml::default();
    x.opt("Marker", marker);
    x.open("Events");
    for e in &page {
        x.open("Event")
            .leaf("SourceIdentifier", &e.source_identifier)
            .leaf("SourceType", e.source_type.as_str())
            .leaf("Message", &e.message)
            .time("Date", &e.date)
            .close("Event");
    }
    x.close("Events");
    Ok(x.finish())
}
