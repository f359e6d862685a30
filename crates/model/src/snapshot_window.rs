//! `SnapshotWindow`: the daily UTC time range (`hh24:mi-hh24:mi`, e.g. `05:00-06:00`)
//! in which the automatic backup of a redis cluster or group begins.

use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};

use crate::{Fault, MaintenanceWindow};

const DAY: u32 = 24 * 60;
const WEEK: u32 = 7 * DAY;

/// A parsed daily window, as minutes since 00:00 UTC. It may wrap past midnight
/// (`23:30-00:30`); an occurrence belongs to the day it starts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotWindow {
    start: u32,
    end: u32,
}

fn parse_time(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

impl SnapshotWindow {
    /// Parses `hh24:mi-hh24:mi`; the window must last at least 60 minutes, as the
    /// service requires (its message: "Snapshot window must be at least 60 minutes.").
    pub fn parse(s: &str) -> Result<SnapshotWindow, Fault> {
        let malformed = || Fault::invalid("SnapshotWindow", s, "expected hh24:mi-hh24:mi in UTC");
        let (a, b) = s.split_once('-').ok_or_else(malformed)?;
        let w = SnapshotWindow {
            start: parse_time(a).ok_or_else(malformed)?,
            end: parse_time(b).ok_or_else(malformed)?,
        };
        if w.length() < 60 {
            return Err(Fault::InvalidParameterValue(
                "Snapshot window must be at least 60 minutes.".into(),
            ));
        }
        Ok(w)
    }

    /// Minutes from start to end (a window ending where it starts is empty).
    fn length(&self) -> u32 {
        (self.end + DAY - self.start) % DAY
    }

    /// When the occurrence of the window that contains `now` began, if `now` is in
    /// one. Its date names the day the backup is for, also for a window that wraps
    /// past midnight.
    pub fn occurrence(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let minute = now.hour() * 60 + now.minute();
        let into = (minute + DAY - self.start) % DAY;
        if into >= self.length() {
            return None;
        }
        let at_minute = now.with_second(0)?.with_nanosecond(0)?;
        Some(at_minute - Duration::minutes(i64::from(into)))
    }

    /// The day of the occurrence containing `now`.
    pub fn day(&self, now: DateTime<Utc>) -> Option<NaiveDate> {
        self.occurrence(now).map(|t| t.date_naive())
    }

    /// Whether the window, repeated every day, meets the weekly maintenance window:
    /// ElastiCache refuses the two overlapping.
    pub fn overlaps(&self, m: &MaintenanceWindow) -> bool {
        let (m_start, m_len) = (m.start_minute(), m.length_minutes());
        (0..7).any(|d| {
            let start = d * DAY + self.start;
            (m_start + WEEK - start) % WEEK < self.length()
                || (start + WEEK - m_start) % WEEK < m_len
        })
    }

    /// The window Larder assigns when none is given: 60 minutes starting on a whole
    /// hour of the 8-hour block 00:00–08:00 UTC, the hour chosen by a hash of the
    /// cache's id (so caches spread over the block, and the same id always gets the
    /// same hour), moved on an hour at a time past any hour that would meet the
    /// maintenance window.
    pub fn assign(id: &str, maintenance: &MaintenanceWindow) -> SnapshotWindow {
        let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let first = (hash % 8) as u32;
        (0..24)
            .map(|k| {
                let hour = (first + k) % 24;
                SnapshotWindow {
                    start: hour * 60,
                    end: (hour + 1) % 24 * 60,
                }
            })
            .find(|w| !w.overlaps(maintenance))
            // Only a maintenance window of a day or more meets every hour; the service
            // would refuse any window then, so the first is as good as another.
            .unwrap_or(SnapshotWindow {
                start: first * 60,
                end: (first + 1) * 60,
            })
    }
}

impl std::fmt::Display for SnapshotWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.start / 60,
            self.start % 60,
            self.end / 60,
            self.end % 60
        )
    }
}

/// Refuses a snapshot window that meets the maintenance window (both already valid).
pub fn check_no_overlap(snapshot: &str, maintenance: &str) -> Result<(), Fault> {
    let (s, m) = (
        SnapshotWindow::parse(snapshot)?,
        MaintenanceWindow::parse(maintenance)?,
    );
    if s.overlaps(&m) {
        return Err(Fault::InvalidParameterValue(format!(
            "The snapshot window and maintenance window must not overlap ({snapshot} and {maintenance})."
        )));
    }
    Ok(())
}

/// The answer to a backup setting (SnapshotRetentionLimit, SnapshotWindow) for a
/// memcached cluster, which keeps no data to back up.
pub fn memcached_has_no_backups(param: &str) -> Fault {
    Fault::InvalidParameterCombination(format!(
        "{param} is only valid for the redis and valkey engines; memcached clusters have no snapshots."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, d, h, m, 30).unwrap()
    }

    #[test]
    fn parses_formats_and_refuses_short_or_malformed() {
        let w = SnapshotWindow::parse("05:00-06:30").unwrap();
        assert_eq!(w.to_string(), "05:00-06:30");
        let short = SnapshotWindow::parse("05:00-05:59").unwrap_err();
        assert!(short.to_string().contains("at least 60 minutes"), "{short}");
        for bad in [
            "5:00-06:00",
            "05:00",
            "24:00-01:00",
            "mon:05:00-mon:06:00",
            "",
        ] {
            assert!(SnapshotWindow::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_occurrence_belongs_to_the_day_it_starts() {
        let w = SnapshotWindow::parse("23:30-00:30").unwrap();
        let start = Utc.with_ymd_and_hms(2026, 12, 3, 23, 30, 0).unwrap();
        assert_eq!(w.occurrence(at(3, 23, 45)), Some(start));
        assert_eq!(w.occurrence(at(4, 0, 10)), Some(start));
        assert_eq!(w.day(at(4, 0, 29)), start.date_naive().into());
        assert_eq!(w.occurrence(at(4, 0, 30)), None);
        assert_eq!(w.occurrence(at(3, 12, 0)), None);
    }

    #[test]
    fn overlap_with_the_weekly_maintenance_window() {
        let m = MaintenanceWindow::parse("sun:05:00-sun:06:00").unwrap();
        assert!(SnapshotWindow::parse("05:30-06:30").unwrap().overlaps(&m));
        assert!(SnapshotWindow::parse("04:00-05:01").unwrap().overlaps(&m));
        assert!(!SnapshotWindow::parse("06:00-07:00").unwrap().overlaps(&m));
        assert!(!SnapshotWindow::parse("04:00-05:00").unwrap().overlaps(&m));
        let wrap = MaintenanceWindow::parse("sun:23:30-mon:00:30").unwrap();
        assert!(SnapshotWindow::parse("00:00-01:00")
            .unwrap()
            .overlaps(&wrap));
        assert!(check_no_overlap("05:00-06:00", "sun:05:00-sun:06:00").is_err());
        assert!(check_no_overlap("07:00-08:00", "sun:05:00-sun:06:00").is_ok());
    }

    #[test]
    fn an_assigned_window_is_an_hour_in_the_block_clear_of_maintenance() {
        let m = MaintenanceWindow::parse("sun:05:00-sun:06:00").unwrap();
        for id in ["a", "orders", "sessions-cache", "x-001"] {
            let w = SnapshotWindow::assign(id, &m);
            assert_eq!(w.length(), 60, "{id}");
            assert!(w.start < 9 * 60 && !w.overlaps(&m), "{id}: {w}");
            assert_eq!(SnapshotWindow::assign(id, &m), w, "stable for {id}");
        }
    }
}
