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
        parameter_apply: Default::default(),
        requested_port: None,
        create_time: Utc::now(),
        configuration_endpoint_port: None,
        config_version: 0,
        published_members: vec![],
        pending: PendingModifiedValues::default(),
        upgrade: None,
        pending_upgrade: None,
        service_updates: Vec::new(),
        security_group_ids: vec![],
        cache_subnet_group_name: None,
        auto_minor_version_upgrade: true,
        snapshot_retention_limit: 0,
        snapshot_window: None,
        automated_snapshot_day: None,
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

#[test]
fn reads_after_any_commit_see_it_though_records_are_kept_decoded() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_embedded(&dir.path().join("larder.redb")).unwrap();
    for id in ["c1", "c2"] {
        store
            .create_cluster(&cluster(id), None, &[], &no_check)
            .unwrap();
    }
    assert_eq!(store.list_clusters().unwrap().len(), 2);
    assert_eq!(
        store.get_cluster("c1").unwrap().unwrap().status,
        ClusterStatus::Creating
    );
    store
        .update_cluster("c1", |c, _| {
            c.status = ClusterStatus::Available;
            Ok(())
        })
        .unwrap();
    assert_eq!(
        store.get_cluster("c1").unwrap().unwrap().status,
        ClusterStatus::Available
    );
    store
        .transaction(|tx| {
            let mut c = tx.cluster("c2")?.unwrap();
            c.status = ClusterStatus::Deleting;
            tx.put_cluster(&c)
        })
        .unwrap();
    let all = store.list_clusters().unwrap();
    assert_eq!(
        all.iter().map(|c| c.status).collect::<Vec<_>>(),
        vec![ClusterStatus::Available, ClusterStatus::Deleting]
    );
    store
        .update_cluster("c2", |_, ch| {
            ch.delete_with_tags_arn = Some("arn:c2".into());
            Ok(())
        })
        .unwrap();
    assert_eq!(store.get_cluster("c2").unwrap(), None);
    assert_eq!(store.list_clusters().unwrap().len(), 1);
}

#[test]
fn a_pure_update_that_changes_nothing_writes_nothing_and_one_that_does_commits() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_embedded(&dir.path().join("larder.redb")).unwrap();
    store
        .create_cluster(&cluster("c1"), None, &[], &no_check)
        .unwrap();
    store.list_clusters().unwrap();
    let same = store.update_cluster_pure("c1", |c, _| c.status).unwrap();
    assert_eq!(same, ClusterStatus::Creating);
    assert!(store.list_events().unwrap().is_empty());
    let moved = store
        .update_cluster_pure("c1", |c, events| {
            c.status = ClusterStatus::Available;
            events.push(Event::cache_cluster(&c.id, "Cache cluster created"));
            true
        })
        .unwrap();
    assert!(moved);
    assert_eq!(
        store.get_cluster("c1").unwrap().unwrap().status,
        ClusterStatus::Available
    );
    assert_eq!(store.list_events().unwrap().len(), 1);
    assert_eq!(
        store.update_cluster_pure("nope", |_, _| ()),
        Err(Fault::CacheClusterNotFound("nope".into()))
    );
}

#[test]
fn a_page_starts_after_its_marker_and_says_whether_more_follow() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_embedded(&dir.path().join("larder.redb")).unwrap();
    for id in ["c1", "c2", "c3", "c4", "c5"] {
        let mut c = cluster(id);
        if id == "c4" {
            c.replication_group_id = Some("g".into());
        }
        store.create_cluster(&c, None, &[], &no_check).unwrap();
    }
    let ids = |page: &[CacheCluster]| page.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    let (page, more) = store.clusters_page(None, 2, &|_| true).unwrap();
    assert_eq!(
        (ids(&page), more),
        (vec!["c1".to_string(), "c2".into()], true)
    );
    let (page, more) = store.clusters_page(Some("c2"), 2, &|_| true).unwrap();
    assert_eq!(
        (ids(&page), more),
        (vec!["c3".to_string(), "c4".into()], true)
    );
    let standalone = |c: &CacheCluster| c.replication_group_id.is_none();
    let (page, more) = store.clusters_page(Some("c2"), 2, &standalone).unwrap();
    assert_eq!(
        (ids(&page), more),
        (vec!["c3".to_string(), "c5".into()], false)
    );
    let (page, more) = store.clusters_page(Some("c5"), 2, &|_| true).unwrap();
    assert!(page.is_empty() && !more);
}
