//! The controller: operations that change intent (the service layer the API calls) and
//! the reconcile loop that moves running nodes towards that intent, one safe,
//! idempotent step at a time. Every step's outcome is written to the store, so a
//! restarted daemon picks up where the last one stopped.

pub mod clock;
pub mod engines;
pub mod hosts;
pub mod placement;
pub mod reconcile;
pub mod retry;
mod s3;
pub mod service;
pub mod settings;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use larder_agent::NodeAgent;
use larder_store::Store;
use tokio::sync::Notify;

pub use clock::Clock;
pub use engines::{EngineCatalog, EngineVersion};
pub use hosts::{Connector, HostAnnouncement, HostStatus};
pub use retry::RetryPolicy;
pub use settings::Settings;

/// Shared state of the control plane. Cheap to clone.
#[derive(Clone)]
pub struct Controller {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    settings: Settings,
    engines: EngineCatalog,
    /// The hosts and their agents: every node-level action goes to the agent of the
    /// node's host.
    hosts: hosts::Hosts,
    /// Wakes the reconcile loop when intent changes, so workflows start at once.
    wake: Notify,
    /// Serialises port and quota decisions across API calls and the maintenance path.
    placement: Mutex<()>,
    /// Per replication group, the replicas the last replication check found fit to
    /// serve reads; the reader endpoint leads only to these.
    serving_replicas: Mutex<HashMap<String, HashSet<String>>>,
    /// The discovery config version last published per memcached cluster: a new one
    /// rewrites the legacy discovery key on every node at once.
    published_versions: Mutex<HashMap<String, u64>>,
    /// The endpoint request last sent per replication group, and when.
    sent_endpoints: Mutex<HashMap<String, (larder_agent::GroupEndpointSpec, std::time::Instant)>>,
    /// The configuration endpoint request last sent to the local agent per memcached
    /// cluster, and when.
    sent_config_endpoints:
        Mutex<HashMap<String, (larder_agent::ConfigEndpointSpec, std::time::Instant)>>,
    /// The restart policy last sent to the agent per node key, and when.
    sent_policies: Mutex<HashMap<String, (larder_agent::RestartPolicy, std::time::Instant)>>,
    /// When each host was last told which endpoints exist (`RetainEndpoints`).
    retained: Mutex<HashMap<String, std::time::Instant>>,
    /// The last judgement of each joined host (`reconcile/host_health.rs`).
    host_health: Mutex<HashMap<String, reconcile::HostHealth>>,
    /// Clusters a reconcile pass is running for; one pass per cluster at a time.
    inflight: Mutex<HashSet<String>>,
    /// The node values each parameter group gives, as of the group's contents
    /// (`reconcile/parameters.rs`): asked for every redis cluster on every pass.
    node_values: Mutex<
        HashMap<
            String,
            (
                larder_model::CacheParameterGroup,
                Arc<larder_model::parameter_apply::NodeValues>,
            ),
        >,
    >,
}

impl Controller {
    /// Builds the controller over a store and an agent.
    pub fn new(
        store: Store,
        settings: Settings,
        engines: EngineCatalog,
        agent: Arc<dyn NodeAgent>,
    ) -> Self {
        Controller {
            inner: Arc::new(Inner {
                store,
                engines,
                settings: settings.clone(),
                hosts: hosts::Hosts::new(
                    larder_model::Host {
                        id: larder_model::LOCAL_HOST.into(),
                        zones: settings.availability_zones.clone(),
                        link: "local".into(),
                        address: settings.advertise_host.clone(),
                        joined: chrono::Utc::now(),
                        fingerprint: String::new(),
                    },
                    agent,
                ),
                wake: Notify::new(),
                placement: Mutex::new(()),
                serving_replicas: Mutex::new(HashMap::new()),
                node_values: Mutex::new(HashMap::new()),
                published_versions: Mutex::new(HashMap::new()),
                inflight: Mutex::new(HashSet::new()),
                host_health: Mutex::new(HashMap::new()),
                retained: Mutex::new(HashMap::new()),
                sent_policies: Mutex::new(HashMap::new()),
                sent_endpoints: Mutex::new(HashMap::new()),
                sent_config_endpoints: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The installed engines.
    pub fn engines(&self) -> &EngineCatalog {
        &self.inner.engines
    }

    fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// The S3 client factory for exports and SnapshotArns restores.
    pub(crate) fn s3(&self) -> s3::S3 {
        let s = self.settings();
        s3::S3::new(&s.region, s.s3_endpoint.clone())
    }

    /// Waits for an agent call from a synchronous operation. The API runs operations
    /// on blocking threads (`spawn_blocking`), where waiting is allowed; a runtime
    /// worker must never get here, so the reconcile path awaits its calls instead.
    pub(crate) fn wait_for_agent<T>(&self, call: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Handle::current().block_on(call)
    }
}
