//! The typed store against a real redb file: transactions commit whole or not at all,
//! and everything survives reopening the file.

use chrono::Utc;
use larder_model::{CacheCluster, ClusterStatus, Engine, Event, Fault, PendingModifiedValues, Tag};
use larder_store::open_embedded;

fn cluster(id: &str) -> CacheCluster {
    CacheCluster {
        id: id.into(),
        engine: Engine::Memcached,
        engine_version: "1.6.18".into(),
        cache_node_type: "cache.t4g.micro".into(),
        status: ClusterStatus::Creating,
        nodes: vec![],
        next_node_number: 1,
        preferred_availability_zone: "us-east-1a".into(),
        az_mode: "single-az".into(),
        preferred_maintenance_window: "sun:05:00-sun:06:00".into(),
        cache_parameter_group_name: "default.memcached1.6".into(),
        requested_port: None,
        create_time: Utc::now(),
        configuration_endpoint_port: None,
        config_version: 0,
        published_members: vec![],
        pending: PendingModifiedValues::default(),
        security_group_ids: vec![],
        cache_subnet_group_name: None,
        auto_minor_version_upgrade: true,
        snapshot_retention_limit: 0,
        snapshot_window: None,
        notification_topic_arn: None,
        replication_group_id: None,
    }
}

fn no_check(_: &[CacheCluster]) -> Result<(), Fault> {
    Ok(())
}

#[test]
fn create_is_unique_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("larder.redb");
    {
        let store = open_embedded(&path).unwrap();
        let tags = [Tag {
            key: "team".into(),
            value: "a".into(),
        }];
        let ev = [Event::cache_cluster("c1", "Cache cluster created")];
        store
            .create_cluster(&cluster("c1"), Some(("arn:c1", &tags)), &ev, &no_check)
            .unwrap();
        let again = store.create_cluster(&cluster("c1"), None, &[], &no_check);
        assert_eq!(again, Err(Fault::CacheClusterAlreadyExists("c1".into())));
    }
    let store = open_embedded(&path).unwrap();
    assert_eq!(store.get_cluster("c1").unwrap().unwrap().id, "c1");
    assert_eq!(store.tags("arn:c1").unwrap()[0].value, "a");
    let events = store.list_events().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].message, "Cache cluster created");
}

#[test]
fn failed_update_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_embedded(&dir.path().join("s.redb")).unwrap();
    store
        .create_cluster(&cluster("c1"), None, &[], &no_check)
        .unwrap();
    let r: Result<(), Fault> = store.update_cluster("c1", |c, ch| {
        c.status = ClusterStatus::Deleting;
        ch.events
            .push(Event::cache_cluster("c1", "should not appear"));
        Err(Fault::InvalidCacheClusterState("no".into()))
    });
    assert!(r.is_err());
    assert_eq!(
        store.get_cluster("c1").unwrap().unwrap().status,
        ClusterStatus::Creating
    );
    assert!(store.list_events().unwrap().is_empty());
    let missing = store.update_cluster("nope", |_, _| Ok(()));
    assert_eq!(missing, Err(Fault::CacheClusterNotFound("nope".into())));
}

#[test]
fn quota_check_sees_existing_clusters() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_embedded(&dir.path().join("s.redb")).unwrap();
    store
        .create_cluster(&cluster("a"), None, &[], &no_check)
        .unwrap();
    let limit_one = |existing: &[CacheCluster]| {
        if existing.is_empty() {
            Ok(())
        } else {
            Err(Fault::ClusterQuotaForCustomerExceeded("one only".into()))
        }
    };
    assert!(store
        .create_cluster(&cluster("b"), None, &[], &limit_one)
        .is_err());
    assert!(store.get_cluster("b").unwrap().is_none());
}

#[test]
fn delete_removes_record_and_tags_and_events_stay_ordered() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_embedded(&dir.path().join("s.redb")).unwrap();
    let tags = [Tag {
        key: "k".into(),
        value: "v".into(),
    }];
    store
        .create_cluster(&cluster("c1"), Some(("arn:c1", &tags)), &[], &no_check)
        .unwrap();
    for i in 0..5 {
        store
            .append_events(&[Event::cache_cluster("c1", format!("e{i}"))])
            .unwrap();
    }
    store
        .update_cluster("c1", |_, ch| {
            ch.delete_with_tags_arn = Some("arn:c1".into());
            ch.events
                .push(Event::cache_cluster("c1", "Cache cluster deleted"));
            Ok(())
        })
        .unwrap();
    assert!(store.get_cluster("c1").unwrap().is_none());
    assert!(store.tags("arn:c1").unwrap().is_empty());
    let msgs: Vec<String> = store
        .list_events()
        .unwrap()
        .into_iter()
        .map(|e| e.message)
        .collect();
    assert_eq!(
        msgs,
        ["e0", "e1", "e2", "e3", "e4", "Cache cluster deleted"]
    );
    store
        .prune_events(Utc::now() + chrono::Duration::seconds(1))
        .unwrap();
    assert!(store.list_events().unwrap().is_empty());
}

#[test]
fn unchanged_update_writes_nothing_and_still_answers() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_embedded(&dir.path().join("s.redb")).unwrap();
    store
        .create_cluster(&cluster("c1"), None, &[], &no_check)
        .unwrap();
    let before = store.get_cluster("c1").unwrap().unwrap();
    let seen = store.update_cluster("c1", |c, _| Ok(c.status)).unwrap();
    assert_eq!(seen, ClusterStatus::Creating);
    assert_eq!(store.get_cluster("c1").unwrap().unwrap(), before);
    let changed = store
        .update_cluster("c1", |c, _| {
            c.status = ClusterStatus::Available;
            Ok(())
        })
        .map(|_| store.get_cluster("c1").unwrap().unwrap().status);
    assert_eq!(changed, Ok(ClusterStatus::Available));
}
