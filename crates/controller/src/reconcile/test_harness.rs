//! A controller over a temporary store and the in-memory [`FakeAgent`], for unit
//! tests of the workflows without engines. `restart` is a daemon crash: the
//! controller and its store handle go, the store file and the fake's nodes stay.

use std::sync::Arc;

use larder_agent::fake::{FakeAgent, FakeHost, FakeNode};
use larder_agent::NodeAgent;
use larder_endpoints::KernelSplice;
use std::time::Duration;

use larder_model::requests::{CreateCacheCluster, CreateReplicationGroup};
use larder_model::{CacheCluster, Engine, NodeType, ReplicationGroup, ReplicationGroupStatus};
use tempfile::TempDir;

use crate::hosts::HostAnnouncement;
use crate::{Clock, Controller, EngineCatalog, EngineVersion, RetryPolicy, Settings};

/// The replication group every harness test uses.
pub(super) const GROUP: &str = "fake-group";

/// A controller, its store directory and the fake agent.
pub(super) struct Harness {
    dir: TempDir,
    /// The nodes, shared by every controller the harness builds.
    pub(super) fake: Arc<FakeAgent>,
    /// What the controller talks to: the fake, or a wrapper around it.
    agent: Arc<dyn NodeAgent>,
    controller: Option<Controller>,
    retry: RetryPolicy,
    /// Joined hosts (none: every node on the control plane's own host).
    pub(super) hosts: Vec<Arc<FakeHost>>,
    /// The schedulers' clock, kept across restarts (the system clock unless a test
    /// sets a manual one).
    clock: Clock,
}

/// The zones of the joined hosts of [`Harness::with_hosts`], one each.
const HOST_ZONES: [&str; 3] = ["zone-a", "zone-b", "zone-c"];

/// Node step attempts in harness tests: four, with no pause, so a test runs through
/// every attempt at once.
pub(super) const QUICK_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 4,
    first_backoff: Duration::ZERO,
    max_backoff: Duration::ZERO,
};

fn build(
    dir: &TempDir,
    agent: &Arc<dyn NodeAgent>,
    retry: RetryPolicy,
    hosts: &[Arc<FakeHost>],
    clock: &Clock,
) -> Controller {
    let store = larder_store::open_embedded(&dir.path().join("larder.redb")).expect("store");
    let mut settings = Settings::new("us-east-1");
    // With joined hosts, nodes go there only (one zone each), as with --no-local-nodes.
    settings.local_nodes = hosts.is_empty();
    // The endpoints are real listeners on loopback; never touch the host's cgroups.
    settings.endpoint_kernel_splice = KernelSplice::Off;
    settings.node_retry = retry;
    settings.snapshot_dir = dir.path().join("snapshots");
    settings.clock = clock.clone();
    let engines = EngineCatalog {
        versions: vec![
            EngineVersion::new(Engine::Redis, "7.2.4"),
            EngineVersion::new(Engine::Redis, "6.2.14"),
            EngineVersion::new(Engine::Memcached, "1.6.21"),
        ],
    };
    let c = Controller::new(store, settings, engines, agent.clone());
    if !hosts.is_empty() {
        let hosts = hosts.to_vec();
        c.set_connector(Arc::new(move |link: String, _fingerprint: String| {
            let found = hosts
                .iter()
                .find(|h| link_of(h.address()) == link)
                .map(|h| h.clone() as Arc<dyn NodeAgent>);
            Box::pin(async move { found.ok_or(larder_agent::AgentError::Unreachable(link)) })
        }))
        .expect("connector");
    }
    c
}

/// Where a fake host's agent "listens".
fn link_of(address: &str) -> String {
    format!("{address}:7800")
}

impl Harness {
    /// A controller with no resources whose node steps retry as `retry` says.
    pub(super) fn new(retry: RetryPolicy) -> Harness {
        Harness::with_agent(retry, |fake| fake)
    }

    /// A controller that talks to the fake through `wrap` (an agent of another
    /// version, say).
    pub(super) fn with_agent(
        retry: RetryPolicy,
        wrap: impl FnOnce(Arc<FakeAgent>) -> Arc<dyn NodeAgent>,
    ) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let fake = FakeAgent::new();
        let agent = wrap(fake.clone());
        let clock = Clock::system();
        let controller = Some(build(&dir, &agent, retry, &[], &clock));
        Harness {
            dir,
            fake,
            agent,
            controller,
            retry,
            hosts: Vec::new(),
            clock,
        }
    }

    /// A settled group of `members` nodes with automatic failover on, spread over
    /// three joined hosts in three zones (none on the control plane's host).
    pub(super) async fn with_hosts(members: i64) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let fake = FakeAgent::new();
        let hosts: Vec<_> = (1..=HOST_ZONES.len())
            .map(|i| FakeHost::new(&fake, &format!("10.0.0.{i}")))
            .collect();
        let agent: Arc<dyn NodeAgent> = fake.clone();
        let clock = Clock::system();
        let controller = Some(build(&dir, &agent, QUICK_RETRY, &hosts, &clock));
        let h = Harness {
            dir,
            fake,
            agent,
            controller,
            retry: QUICK_RETRY,
            hosts,
            clock,
        };
        for (host, zone) in h.hosts.iter().zip(HOST_ZONES) {
            let a = HostAnnouncement {
                link: link_of(host.address()),
                zone: zone.to_string(),
                address: host.address().to_string(),
                // A fake host has no certificate; any well-formed pin will do.
                fingerprint: "ab".repeat(32),
            };
            h.controller().register_host(a).await.expect("join");
        }
        h.create_group(members);
        h.settle().await;
        h
    }

    /// The joined host member cluster `id`'s node is on.
    pub(super) fn host_of(&self, id: &str) -> Arc<FakeHost> {
        let (_, n) = self.controller().member_node(id).expect("member");
        let at = n.host.expect("a node on a joined host");
        let h = self.hosts.iter().find(|h| h.address() == at);
        h.expect("a harness host").clone()
    }

    /// One round of the health loop, through the loop's own probes: hosts judged,
    /// every group's primary probed (one call per host), a failover started for a
    /// primary that is gone or whose host is lost. A silent one counts one miss of
    /// the several it needs, and misses are not kept from round to round.
    pub(super) async fn health_round(&self) {
        let c = self.controller();
        c.check_hosts().await;
        let groups = c.store().list_replication_groups().expect("groups");
        let (mut verdicts, mut asked) = c.probe_primaries(groups);
        while let Some(done) = asked.join_next().await {
            verdicts.extend(done.expect("a probe task"));
        }
        let mut misses = std::collections::HashMap::new();
        for (g, verdict) in verdicts {
            c.count_probe(&mut misses, g, verdict);
        }
    }

    /// A settled group of `members` nodes with automatic failover on.
    pub(super) async fn with_group(members: i64) -> Harness {
        let h = Harness::new(QUICK_RETRY);
        h.create_group(members);
        h.settle().await;
        h
    }

    /// Requests [`GROUP`] with `members` members (not yet started).
    pub(super) fn create_group(&self, members: i64) {
        self.create_group_using(members, None);
    }

    /// Requests [`GROUP`] with `members` members using parameter group `parameters`
    /// (the family's default when none).
    pub(super) fn create_group_using(&self, members: i64, parameters: Option<&str>) {
        let req = group_request(members, parameters);
        self.controller()
            .create_replication_group(req)
            .expect("create");
    }

    /// Requests cache cluster `id` of `nodes` nodes of `engine` (not yet started).
    pub(super) fn create_cluster(&self, id: &str, engine: Engine, nodes: u32) {
        let req = cluster_request(id, engine, nodes);
        self.controller().create_cache_cluster(req).expect("create");
    }

    /// Cache cluster `id` as stored, if it exists.
    pub(super) fn cluster(&self, id: &str) -> Option<CacheCluster> {
        self.controller().store().get_cluster(id).expect("store")
    }

    /// Runs one pass of every cluster and one step of every group, as one tick of
    /// the reconcile loop would.
    pub(super) async fn tick(&self) {
        let c = self.controller();
        for cluster in c.store().list_clusters().expect("clusters") {
            c.pass(cluster).await;
        }
        for g in c.store().list_replication_groups().expect("groups") {
            c.group_step(&g).await;
        }
        c.backup_schedule_pass().await;
        for s in c.store().list_snapshots().expect("snapshots") {
            c.snapshot_pass(&s.name).await;
        }
    }

    /// Where the control plane keeps snapshot files.
    pub(super) fn snapshot_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("snapshots")
    }

    /// Ticks until `done` holds; panics after many ticks.
    pub(super) async fn tick_until(&self, what: &str, done: impl Fn(&Harness) -> bool) {
        for _ in 0..100 {
            if done(self) {
                return;
            }
            self.tick().await;
        }
        panic!("{what}: not reached after 100 ticks");
    }

    /// The messages of every event about `source`, oldest first.
    pub(super) fn events(&self, source: &str) -> Vec<String> {
        let all = self.controller().store().list_events().expect("events");
        all.into_iter()
            .filter(|e| e.source_identifier == source)
            .map(|e| e.message)
            .collect()
    }

    /// The current controller.
    pub(super) fn controller(&self) -> &Controller {
        self.controller.as_ref().expect("controller")
    }

    /// A daemon crash and restart: a new controller over the same store and nodes.
    pub(super) fn restart(&mut self) {
        self.controller = None;
        self.fake.recover();
        self.controller = Some(build(
            &self.dir,
            &self.agent,
            self.retry,
            &self.hosts,
            &self.clock,
        ));
    }

    /// Puts the controller on `clock` (a restart of a daemon that has done nothing).
    pub(super) fn use_clock(&mut self, clock: Clock) {
        self.clock = clock;
        self.restart();
    }

    /// After [`Harness::restart`]: waits until every joined host is dialled again
    /// (the connector runs in the background, as the binary's does).
    pub(super) async fn redialled(&self) {
        for _ in 0..1000 {
            let hosts = self.controller().hosts().all();
            if hosts.iter().all(|h| h.dialled) {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("hosts not dialled again");
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
                c.pass(cluster).await;
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

/// The request for cache cluster `id` of `nodes` nodes of `engine`, every option at
/// its default.
pub(super) fn cluster_request(id: &str, engine: Engine, nodes: u32) -> CreateCacheCluster {
    CreateCacheCluster {
        cache_cluster_id: id.into(),
        engine,
        engine_version: None,
        cache_node_type: NodeType::find("cache.t3.micro").expect("node type"),
        num_cache_nodes: nodes,
        cross_az: false,
        preferred_availability_zones: Vec::new(),
        cache_parameter_group_name: None,
        cache_subnet_group_name: None,
        tags: Vec::new(),
        preferred_maintenance_window: None,
        port: None,
        auto_minor_version_upgrade: None,
        snapshot_retention_limit: None,
        snapshot_window: None,
        snapshot_name: None,
        snapshot_object: None,
    }
}

/// The request for [`GROUP`] with `members` members using parameter group `parameters`
/// (the family's default when none), automatic failover on.
pub(super) fn group_request(members: i64, parameters: Option<&str>) -> CreateReplicationGroup {
    CreateReplicationGroup {
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
        cache_parameter_group_name: parameters.map(str::to_string),
        cache_subnet_group_name: None,
        tags: Vec::new(),
        preferred_maintenance_window: None,
        port: None,
        auto_minor_version_upgrade: None,
        snapshot_retention_limit: None,
        snapshot_window: None,
        snapshot_name: None,
        snapshot_object: None,
    }
}
