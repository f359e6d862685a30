//! A controller over a temporary store and the in-memory [`FakeAgent`], for unit
//! tests of the workflows without engines. `restart` is a daemon crash: the
//! controller and its store handle go, the store file and the fake's nodes stay.

use std::sync::Arc;

use larder_agent::fake::{FakeAgent, FakeNode};
use larder_endpoints::KernelSplice;
use larder_model::requests::CreateReplicationGroup;
use larder_model::{Engine, NodeType, ReplicationGroup, ReplicationGroupStatus};
use tempfile::TempDir;

use crate::{Controller, EngineCatalog, EngineVersion, Settings};

/// The replication group every harness test uses.
pub(super) const GROUP: &str = "fake-group";

/// A controller, its store directory and the fake agent.
pub(super) struct Harness {
    dir: TempDir,
    /// The nodes, shared by every controller the harness builds.
    pub(super) fake: Arc<FakeAgent>,
    controller: Option<Controller>,
}

fn build(dir: &TempDir, fake: &Arc<FakeAgent>) -> Controller {
    let store = larder_store::open_embedded(&dir.path().join("larder.redb")).expect("store");
    let mut settings = Settings::new("us-east-1");
    // The endpoints are real listeners on loopback; never touch the host's cgroups.
    settings.endpoint_kernel_splice = KernelSplice::Off;
    let engines = EngineCatalog {
        versions: vec![EngineVersion::new(Engine::Redis, "7.2.4")],
    };
    Controller::new(store, settings, engines, fake.clone())
}

impl Harness {
    /// A settled group of `members` nodes with automatic failover on.
    pub(super) async fn with_group(members: i64) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let fake = FakeAgent::new();
        let controller = Some(build(&dir, &fake));
        let h = Harness {
            dir,
            fake,
            controller,
        };
        let req = CreateReplicationGroup {
            replication_group_id: GROUP.into(),
            description: "failover tests".into(),
            primary_cluster_id: None,
            automatic_failover: true,
            multi_az: false,
            num_cache_clusters: members as u32,
            preferred_cache_cluster_azs: Vec::new(),
            cache_node_type: NodeType::find("cache.t3.micro"),
            engine: Engine::Redis,
            engine_version: None,
            cache_parameter_group_name: None,
            cache_subnet_group_name: None,
            tags: Vec::new(),
            preferred_maintenance_window: None,
            port: None,
            auto_minor_version_upgrade: None,
            snapshot_retention_limit: None,
        };
        h.controller()
            .create_replication_group(req)
            .expect("create");
        h.settle().await;
        h
    }

    /// The current controller.
    pub(super) fn controller(&self) -> &Controller {
        self.controller.as_ref().expect("controller")
    }

    /// A daemon crash and restart: a new controller over the same store and nodes.
    pub(super) fn restart(&mut self) {
        self.controller = None;
        self.fake.recover();
        self.controller = Some(build(&self.dir, &self.fake));
    }

    /// The group as stored.
    pub(super) fn group(&self) -> ReplicationGroup {
        let g = self.controller().store().get_replication_group(GROUP);
        g.expect("store").expect("group")
    }

    /// The node key of member cluster `id`.
    pub(super) fn key(&self, id: &str) -> String {
        let (c, _) = self.controller().member_node(id).expect("member");
        c.node_key(&c.nodes[0].cache_node_id)
    }

    /// The fake node of member cluster `id`.
    pub(super) fn node(&self, id: &str) -> FakeNode {
        self.fake.node(&self.key(id)).expect("fake node")
    }

    /// Runs cluster passes and group steps until the group is available with no
    /// failover, as the reconcile loop would.
    pub(super) async fn settle(&self) {
        let c = self.controller();
        for _ in 0..100 {
            for cluster in c.store().list_clusters().expect("clusters") {
                c.pass(cluster, false).await;
            }
            let g = self.group();
            c.group_step(&g).await;
            let g = self.group();
            if g.status == ReplicationGroupStatus::Available && g.failover.is_none() {
                return;
            }
        }
        panic!("group did not settle: {:?}", self.group());
    }

    /// Runs group steps until the failover record is gone. False when the fake's
    /// simulated crash cut a step off (the step's future is dropped mid-way, as a
    /// killed daemon's would be).
    pub(super) async fn drive_failover(&self) -> bool {
        for _ in 0..100 {
            let g = self.group();
            if g.failover.is_none() {
                return true;
            }
            tokio::select! {
                _ = self.controller().group_step(&g) => {}
                _ = self.fake.crashed() => return false,
            }
        }
        panic!("failover did not finish: {:?}", self.group().failover);
    }
}
