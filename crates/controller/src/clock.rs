//! The wall clock the schedulers read: maintenance windows, snapshot windows and
//! retention.
//!
//! Everything that waits for a time of day or for days to pass reads this clock, never
//! `Utc::now()` directly, so a test can move the daemon a day ahead without waiting a
//! day. Request signing, link authentication and retry backoff stay on the system
//! clock: they measure real elapsed time and must not be fooled.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// How long a shift read from the offset file is trusted before it is read again.
const REREAD_AFTER: Duration = Duration::from_millis(200);

/// The schedulers' clock: the system clock, optionally shifted.
#[derive(Clone, Default)]
pub struct Clock {
    source: Source,
}

#[derive(Clone, Default)]
enum Source {
    /// The system clock.
    #[default]
    System,
    /// The system clock plus a number of seconds read from a file (the test seam
    /// `--clock-offset-file`); a missing or unreadable file means no shift.
    OffsetFile {
        path: PathBuf,
        cached: Arc<Mutex<Option<(Instant, i64)>>>,
    },
    /// A time set by hand (unit tests).
    Manual(Arc<Mutex<DateTime<Utc>>>),
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Source::System => f.write_str("Clock::System"),
            Source::OffsetFile { path, .. } => write!(f, "Clock::OffsetFile({})", path.display()),
            Source::Manual(t) => write!(f, "Clock::Manual({})", *t.lock().expect("clock lock")),
        }
    }
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// The system clock shifted by the whole seconds written in `path` (e.g. `86400`
    /// for a day ahead, `-3600` for an hour back).
    pub fn offset_file(path: PathBuf) -> Clock {
        Clock {
            source: Source::OffsetFile {
                path,
                cached: Arc::new(Mutex::new(None)),
            },
        }
    }

    /// A clock that stands at `at` until [`Clock::set`] moves it.
    pub fn manual(at: DateTime<Utc>) -> Clock {
        Clock {
            source: Source::Manual(Arc::new(Mutex::new(at))),
        }
    }

    /// Moves a manual clock; other clocks ignore it.
    pub fn set(&self, at: DateTime<Utc>) {
        if let Source::Manual(t) = &self.source {
            *t.lock().expect("clock lock") = at;
        }
    }

    /// The time now, as the schedulers see it.
    pub fn now(&self) -> DateTime<Utc> {
        match &self.source {
            Source::System => Utc::now(),
            Source::OffsetFile { path, cached } => {
                let mut cached = cached.lock().expect("clock lock");
                let offset = match *cached {
                    Some((read, offset)) if read.elapsed() < REREAD_AFTER => offset,
                    _ => {
                        let offset = read_offset(path);
                        *cached = Some((Instant::now(), offset));
                        offset
                    }
                };
                Utc::now() + chrono::Duration::seconds(offset)
            }
            Source::Manual(t) => *t.lock().expect("clock lock"),
        }
    }
}

/// The shift in the file, or none when it is missing or not a whole number: a test
/// that has not written it yet sees the system clock.
fn read_offset(path: &std::path::Path) -> i64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        // A shift beyond a few years is a typo, not a test.
        .filter(|s| s.abs() <= 10 * 366 * 86_400)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_file_shifts_the_clock_and_a_bad_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("offset");
        let clock = Clock::offset_file(path.clone());
        let unshifted = (clock.now() - Utc::now()).num_seconds();
        assert_eq!(unshifted, 0, "no file: no shift");

        std::fs::write(&path, "86400\n").unwrap();
        std::thread::sleep(REREAD_AFTER + Duration::from_millis(20));
        let shift = (clock.now() - Utc::now()).num_seconds();
        assert!((86_399..=86_400).contains(&shift), "shift {shift}");

        std::fs::write(&path, "tomorrow").unwrap();
        std::thread::sleep(REREAD_AFTER + Duration::from_millis(20));
        assert_eq!((clock.now() - Utc::now()).num_seconds(), 0);
    }

    #[test]
    fn a_manual_clock_stands_still_until_set() {
        let at = DateTime::parse_from_rfc3339("2026-12-01T04:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = Clock::manual(at);
        assert_eq!(clock.now(), at);
        let later = at + chrono::Duration::days(1);
        clock.set(later);
        assert_eq!(clock.clone().now(), later);
    }
}
