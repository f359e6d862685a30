//! DescribeEvents.

use larder_controller::service::{paginate, EventFilter};
use larder_controller::Controller;
use larder_model::Fault;

use super::{p, Kind::*, Param};
use crate::params::Params;
use crate::xml::Xml;

pub const DESCRIBE: &[Param] = &[
    p("SourceIdentifier", Str),
    p("SourceType", Str),
    p("StartTime", Time),
    p("EndTime", Time),
    p("Duration", Int),
    p("MaxRecords", Int),
    p("Marker", Str),
];

pub fn describe(ctl: &Controller, params: &Params) -> Result<String, Fault> {
    let filter = EventFilter {
        source_identifier: params.string("SourceIdentifier"),
        source_type: params.string("SourceType"),
        start_time: params.timestamp("StartTime")?,
        end_time: params.timestamp("EndTime")?,
        duration: params.int("Duration")?,
    };
    let events = ctl.describe_events(&filter)?;
    let (page, marker) = paginate(
        events,
        params.int("MaxRecords")?,
        params.string("Marker").as_deref(),
    )?;
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
