//! The fake agent's endpoints, discovery keys and host facts: it listens on nothing,
//! it records what it was told, so tests can assert where each endpoint would send
//! clients at every moment.

use std::collections::HashMap;

use larder_endpoints::{DiscoveryConfig, RedisTargets};

use crate::interface::{AgentReply, AgentRequest, SourceCheck};
use crate::{ConfigEndpointSpec, GroupEndpointSpec, InstalledEngine};

/// What the fake's endpoints were told.
#[derive(Default)]
pub(super) struct FakeEndpoints {
    /// The last request per replication group, until retired.
    pub(super) groups: HashMap<String, GroupEndpointSpec>,
    /// Every distinct set of targets each group's endpoints were told, in order.
    pub(super) routes: HashMap<String, Vec<RedisTargets>>,
    /// The last request per memcached cluster, until retired.
    pub(super) configs: HashMap<String, ConfigEndpointSpec>,
    /// The legacy discovery document on each node, by node key.
    pub(super) legacy_keys: HashMap<String, DiscoveryConfig>,
    /// What `InstalledEngines` answers.
    pub(super) engines: Vec<InstalledEngine>,
}

impl FakeEndpoints {
    /// Serves the endpoint and host requests; `None` for any other request. Node
    /// requests (the legacy key) are checked against the nodes by the caller first.
    pub(super) fn apply(&mut self, request: &AgentRequest) -> Option<AgentReply> {
        let reply = match request {
            AgentRequest::GroupEndpoints(spec) => {
                let routes = self.routes.entry(spec.group_id.clone()).or_default();
                if routes.last() != Some(&spec.targets) {
                    routes.push(spec.targets.clone());
                }
                self.groups.insert(spec.group_id.clone(), spec.clone());
                AgentReply::Done
            }
            AgentRequest::RetireGroupEndpoints { group_id } => {
                self.groups.remove(group_id);
                AgentReply::Done
            }
            AgentRequest::RetainEndpoints {
                group_ids,
                cluster_ids,
                ..
            } => {
                let before = self.groups.len() + self.configs.len();
                self.groups.retain(|id, _| group_ids.contains(id));
                self.configs.retain(|id, _| cluster_ids.contains(id));
                AgentReply::Count(before - self.groups.len() - self.configs.len())
            }
            AgentRequest::ConfigEndpoint(spec) => {
                self.configs.insert(spec.cluster_id.clone(), spec.clone());
                AgentReply::Done
            }
            AgentRequest::RetireConfigEndpoint { cluster_id } => {
                self.configs.remove(cluster_id);
                AgentReply::Done
            }
            AgentRequest::LegacyDiscoveryKey { node, config } => {
                let old = self.legacy_keys.insert(node.key.clone(), config.clone());
                AgentReply::Flag(old.as_ref() != Some(config))
            }
            AgentRequest::InstalledEngines => AgentReply::Engines(self.engines.clone()),
            _ => return None,
        };
        Some(reply)
    }
}

/// A migration source answers when a live fake node listens on its port.
pub(super) fn source_check(answers: bool) -> AgentReply {
    AgentReply::Source(if answers {
        SourceCheck::Pong
    } else {
        SourceCheck::Unreachable {
            reason: "Connection refused (os error 111)".into(),
        }
    })
}
