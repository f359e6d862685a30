//! SnapshotRetentionLimit, SnapshotWindow and the maintenance window they must not
//! meet, on create and modify of clusters and groups. The api checked each value's
//! form (retention 0–35, a window of 60 minutes or more); what needs the cache's
//! engine or its current windows is checked here.

use larder_model::maintenance_window::default_clear_of;
use larder_model::snapshot_window::{check_no_overlap, memcached_has_no_backups};
use larder_model::{Engine, Fault, MaintenanceWindow, SnapshotWindow};

/// The automatic-backup settings a cache ends with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Backups {
    /// Days of automatic snapshots kept; 0 is off.
    pub retention: u32,
    /// The daily window (none only for memcached).
    pub window: Option<String>,
    /// The weekly maintenance window, lower-cased.
    pub maintenance: String,
}

/// A new cache's settings: every redis or valkey cache gets a snapshot window, as
/// on the service (given, or assigned with [`SnapshotWindow::assign`]), whether or
/// not backups are on, so turning them on later needs no window; without a given
/// maintenance window the default steps clear of a given snapshot window.
pub(crate) fn for_create(
    id: &str,
    engine: Engine,
    retention: Option<u32>,
    window: Option<&str>,
    maintenance: Option<&str>,
) -> Result<Backups, Fault> {
    if engine == Engine::Memcached {
        // The api refused the settings that ask for backups.
        return Ok(Backups {
            retention: 0,
            window: None,
            maintenance: maintenance
                .map_or_else(|| default_clear_of(None), str::to_ascii_lowercase),
        });
    }
    let given = window.map(SnapshotWindow::parse).transpose()?;
    let maintenance = match maintenance {
        Some(m) => m.to_ascii_lowercase(),
        None => default_clear_of(given.as_ref()),
    };
    let window = match given {
        Some(w) => w.to_string(),
        None => SnapshotWindow::assign(id, &MaintenanceWindow::parse(&maintenance)?).to_string(),
    };
    check_no_overlap(&window, &maintenance)?;
    Ok(Backups {
        retention: retention.unwrap_or(0),
        window: Some(window),
        maintenance,
    })
}

/// The settings after a modify of `current`: memcached refuses them; a new window
/// (or a new maintenance window) must not meet the other; a cache recorded before
/// windows were assigned gets one when its backups are turned on.
pub(crate) fn for_modify(
    id: &str,
    engine: Engine,
    current: &Backups,
    retention: Option<u32>,
    window: Option<&str>,
    maintenance: Option<&str>,
) -> Result<Backups, Fault> {
    if engine == Engine::Memcached {
        if retention.is_some_and(|r| r > 0) {
            return Err(memcached_has_no_backups("SnapshotRetentionLimit"));
        }
        if window.is_some() {
            return Err(memcached_has_no_backups("SnapshotWindow"));
        }
    }
    let maintenance =
        maintenance.map_or_else(|| current.maintenance.clone(), str::to_ascii_lowercase);
    let retention = retention.unwrap_or(current.retention);
    let m = MaintenanceWindow::parse(&maintenance)?;
    let window = match (window, &current.window) {
        (Some(w), _) => Some(SnapshotWindow::parse(w)?.to_string()),
        // A cache recorded before windows were assigned gets one with its backups.
        (None, None) if retention > 0 => Some(SnapshotWindow::assign(id, &m).to_string()),
        // With backups off the window schedules nothing: a maintenance window moved
        // onto it moves it out of the way rather than failing the modify.
        (None, Some(w)) if retention == 0 && SnapshotWindow::parse(w)?.overlaps(&m) => {
            Some(SnapshotWindow::assign(id, &m).to_string())
        }
        (None, w) => w.clone(),
    };
    if let Some(w) = &window {
        check_no_overlap(w, &maintenance)?;
    }
    Ok(Backups {
        retention,
        window,
        maintenance,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_redis_cache_always_has_a_window_clear_of_maintenance() {
        let b = for_create("orders", Engine::Redis, None, None, None).unwrap();
        assert_eq!(b.retention, 0);
        let w = SnapshotWindow::parse(b.window.as_deref().unwrap()).unwrap();
        assert!(!w.overlaps(&MaintenanceWindow::parse(&b.maintenance).unwrap()));

        let b = for_create("orders", Engine::Redis, Some(2), Some("05:00-06:00"), None).unwrap();
        assert_eq!(b.window.as_deref(), Some("05:00-06:00"));
        assert_eq!(b.maintenance, "sun:06:00-sun:07:00", "default steps clear");

        let clash = for_create(
            "orders",
            Engine::Redis,
            Some(2),
            Some("05:00-06:00"),
            Some("sun:05:30-sun:06:30"),
        );
        assert!(matches!(clash, Err(Fault::InvalidParameterValue(m)) if m.contains("overlap")));

        let m = for_create("m", Engine::Memcached, None, None, None).unwrap();
        assert_eq!((m.retention, m.window), (0, None));
    }

    #[test]
    fn a_modify_keeps_what_it_does_not_name_and_checks_the_overlap() {
        let cur = Backups {
            retention: 0,
            window: None,
            maintenance: "sun:05:00-sun:06:00".into(),
        };
        let on = for_modify("x", Engine::Redis, &cur, Some(3), None, None).unwrap();
        assert_eq!(on.retention, 3);
        assert!(on.window.is_some(), "an old record gets a window");
        let clash = for_modify(
            "x",
            Engine::Redis,
            &on,
            None,
            None,
            Some(&format!(
                "sun:{}-sun:23:59",
                &on.window.as_deref().unwrap()[..5]
            )),
        );
        assert!(
            clash.is_err(),
            "a maintenance window moved onto the snapshot window"
        );
        assert!(matches!(
            for_modify("m", Engine::Memcached, &cur, Some(1), None, None),
            Err(Fault::InvalidParameterCombination(_))
        ));
        assert!(for_modify("m", Engine::Memcached, &cur, Some(0), None, None).is_ok());

        // Backups off: the window steps aside for a new maintenance window.
        let off = for_create("x", Engine::Redis, None, None, None).unwrap();
        let onto = format!("sun:{}-sun:23:59", &off.window.as_deref().unwrap()[..5]);
        let moved = for_modify("x", Engine::Redis, &off, None, None, Some(&onto)).unwrap();
        assert_ne!(moved.window, off.window);
        assert_eq!(moved.maintenance, onto);
    }
}
