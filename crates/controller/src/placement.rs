//! Where new nodes go: a host, an availability zone on it and a port of that host's
//! range. Zones come from the hosts (a joined agent offers its own zone; the control
//! plane's host offers the configured ones unless it runs no nodes); a group's
//! members are spread over zones, then over hosts within a zone. Ports are per
//! host, except the endpoints' ports, which every agent serves and so are held on
//! every host.

use std::collections::{HashMap, HashSet};

use larder_model::{CacheCluster, CacheNode, Fault, LOCAL_HOST};

use crate::Settings;

/// Where one new node goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePlace {
    /// The host that runs it (`None`: the control plane's own).
    pub host: Option<String>,
    /// Its availability zone.
    pub zone: String,
    /// Its port on that host.
    pub port: u16,
}

/// A host as placement sees it.
#[derive(Debug, Clone)]
pub(crate) struct HostSlot {
    /// `None` for the local host.
    pub id: Option<String>,
    /// Zones it offers.
    pub zones: Vec<String>,
    /// Whether its agent answers now; silent hosts get nodes only when nothing else
    /// offers the zone.
    pub reachable: bool,
}

/// What placement decisions see while they hold the placement lock.
pub(crate) struct PlacementView<'a> {
    /// Keeps other placements out until the decision is committed.
    pub _lock: std::sync::MutexGuard<'a, ()>,
    /// Every stored cluster except the one being changed.
    pub clusters: Vec<CacheCluster>,
    /// Hands out places and ports.
    pub placer: Placer,
}

/// Hands out places without handing anything out twice.
#[derive(Debug, Clone)]
pub(crate) struct Placer {
    ports: std::ops::RangeInclusive<u16>,
    bind_host: String,
    hosts: Vec<HostSlot>,
    /// Ports held per host (`LOCAL_HOST` for the local one).
    used: HashMap<String, HashSet<u16>>,
    /// Ports every host holds (endpoints).
    everywhere: HashSet<u16>,
    /// Nodes per host, to fill the emptiest host of a zone first.
    load: HashMap<String, usize>,
    /// The zones of the cluster's subnet group, when it names one: no node goes
    /// elsewhere.
    only: Option<Vec<String>>,
}

fn host_key(id: &Option<String>) -> String {
    id.clone().unwrap_or_else(|| LOCAL_HOST.to_string())
}

fn node_host_key(n: &CacheNode) -> String {
    n.host.clone().unwrap_or_else(|| LOCAL_HOST.to_string())
}

impl Placer {
    /// A placer over `hosts`, with every port `clusters` and `endpoint_ports` hold.
    pub fn new(
        settings: &Settings,
        hosts: Vec<HostSlot>,
        clusters: &[CacheCluster],
        endpoint_ports: impl IntoIterator<Item = u16>,
    ) -> Placer {
        let mut placer = Placer {
            ports: settings.node_ports.clone(),
            bind_host: settings.bind_host.clone(),
            hosts,
            used: HashMap::new(),
            everywhere: endpoint_ports.into_iter().collect(),
            load: HashMap::new(),
            only: None,
        };
        for c in clusters {
            placer.hold(c);
        }
        placer
    }

    /// Marks the ports and load of `c`'s nodes (and its configuration endpoint).
    pub fn hold(&mut self, c: &CacheCluster) {
        for n in &c.nodes {
            let key = node_host_key(n);
            self.used.entry(key.clone()).or_default().insert(n.port);
            *self.load.entry(key).or_default() += 1;
        }
        self.everywhere.extend(c.configuration_endpoint_port);
    }

    /// Keeps the nodes this placer places inside `zones` (a subnet group's), or
    /// anywhere when `None`.
    pub fn only_zones(&mut self, zones: Option<Vec<String>>) {
        self.only = zones;
    }

    /// The zones new nodes can go to, the configured ones first in their order,
    /// within the subnet group's zones when one is set.
    pub fn offered_zones(&self, settings: &Settings) -> Vec<String> {
        let mut all = offered(settings, &self.hosts);
        if let Some(only) = &self.only {
            all.retain(|z| only.contains(z));
        }
        all
    }

    /// A free port on host `key`; `live_check` also asks the local system.
    fn port_on(&mut self, key: &str) -> Result<u16, Fault> {
        let local = key == LOCAL_HOST;
        for port in self.ports.clone() {
            let held = self.everywhere.contains(&port)
                || self.used.get(key).is_some_and(|u| u.contains(&port));
            if held || (local && !larder_agent::port_is_free(&self.bind_host, port)) {
                continue;
            }
            self.used.entry(key.to_string()).or_default().insert(port);
            return Ok(port);
        }
        Err(Fault::InsufficientCacheClusterCapacity(format!(
            "No free port left in the node port range {}-{} on host {key}.",
            self.ports.start(),
            self.ports.end()
        )))
    }

    /// `count` ports that every host keeps free (the endpoints, which every agent
    /// serves), checked against what listens on the control plane's host now.
    pub fn endpoint_ports(&mut self, count: usize) -> Result<Vec<u16>, Fault> {
        let mut out = Vec::with_capacity(count);
        for port in self.ports.clone() {
            if out.len() == count {
                break;
            }
            let held =
                self.everywhere.contains(&port) || self.used.values().any(|u| u.contains(&port));
            if held || !larder_agent::port_is_free(&self.bind_host, port) {
                continue;
            }
            self.everywhere.insert(port);
            out.push(port);
        }
        if out.len() < count {
            return Err(Fault::InsufficientCacheClusterCapacity(format!(
                "No free port left in the node port range {}-{}.",
                self.ports.start(),
                self.ports.end()
            )));
        }
        Ok(out)
    }

    /// A port for a node that stays on its host (a node whose port was taken).
    pub fn another_port(&mut self, node: &CacheNode) -> Result<u16, Fault> {
        self.port_on(&node_host_key(node))
    }

    /// Places `count` new nodes of a cluster or group whose current nodes are
    /// `existing`: zones by [`choose_zones`], then within each zone the host with
    /// the fewest of the group's nodes, then the fewest nodes overall.
    pub fn place(
        &mut self,
        settings: &Settings,
        existing: &[&CacheNode],
        requested: &[String],
        cross_az: bool,
        count: usize,
    ) -> Result<Vec<NodePlace>, Fault> {
        let zones = self.offered_zones(settings);
        if let (Some(only), true) = (&self.only, zones.is_empty() && count > 0) {
            return Err(Fault::InsufficientCacheClusterCapacity(format!(
                "No host offers a zone of the cache subnet group ({}).",
                only.join(", ")
            )));
        }
        if zones.is_empty() && count > 0 {
            return Err(Fault::InsufficientCacheClusterCapacity(
                "No host offers an availability zone for new nodes: join an agent \
                 (larder agent run --join) or let the control plane's host run nodes."
                    .into(),
            ));
        }
        let existing_zones: Vec<String> = existing
            .iter()
            .map(|n| n.availability_zone.clone())
            .collect();
        let chosen = choose_zones(&zones, &existing_zones, requested, cross_az, count)?;
        let mut group_load: HashMap<String, usize> = HashMap::new();
        for n in existing {
            *group_load.entry(node_host_key(n)).or_default() += 1;
        }
        let mut out = Vec::with_capacity(count);
        for zone in chosen {
            let host = self
                .hosts
                .iter()
                .filter(|h| h.zones.contains(&zone))
                .min_by_key(|h| {
                    let key = host_key(&h.id);
                    (
                        !h.reachable,
                        group_load.get(&key).copied().unwrap_or(0),
                        self.load.get(&key).copied().unwrap_or(0),
                        key,
                    )
                })
                .cloned()
                .ok_or_else(|| {
                    Fault::InsufficientCacheClusterCapacity(format!("No host offers {zone}."))
                })?;
            let key = host_key(&host.id);
            let port = self.port_on(&key)?;
            *group_load.entry(key.clone()).or_default() += 1;
            *self.load.entry(key).or_default() += 1;
            out.push(NodePlace {
                host: host.id,
                zone,
                port,
            });
        }
        Ok(out)
    }
}

impl crate::Controller {
    /// Takes the placement lock and reads what a placement or quota decision needs.
    pub(crate) fn placement_view(&self, except: Option<&str>) -> Result<PlacementView<'_>, Fault> {
        let lock = self
            .inner
            .placement
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let all = self.store().list_clusters()?;
        let endpoint_ports: Vec<u16> = self
            .store()
            .list_replication_groups()?
            .iter()
            .flat_map(|g| [g.primary_endpoint_port, g.reader_endpoint_port])
            .collect();
        let hosts = self.host_slots();
        let clusters: Vec<CacheCluster> = all
            .iter()
            .filter(|c| Some(c.id.as_str()) != except)
            .cloned()
            .collect();
        let placer = Placer::new(self.settings(), hosts, &clusters, endpoint_ports);
        Ok(PlacementView {
            _lock: lock,
            clusters,
            placer,
        })
    }
}

impl crate::Controller {
    /// [`Self::placement_view`] whose placer keeps new nodes in the zones of cache
    /// subnet group `subnet_group` (any offered zone for none or `default`).
    pub(crate) fn placement_view_in(
        &self,
        except: Option<&str>,
        subnet_group: Option<&str>,
    ) -> Result<PlacementView<'_>, Fault> {
        let zones = self.subnet_zones(subnet_group)?;
        let mut view = self.placement_view(except)?;
        view.placer.only_zones(zones);
        Ok(view)
    }

    /// Every host as placement sees it.
    fn host_slots(&self) -> Vec<HostSlot> {
        self.hosts()
            .all()
            .into_iter()
            .map(|e| HostSlot {
                id: (e.host.id != LOCAL_HOST).then(|| e.host.id.clone()),
                zones: self.host_zones(&e.host),
                reachable: e.answers(),
            })
            .collect()
    }

    /// The zones some host offers now, the configured ones first in their order.
    pub(crate) fn offered_zones_now(&self) -> Vec<String> {
        offered(self.settings(), &self.host_slots())
    }
}

/// The zones of `settings` that some host offers, then the hosts' other zones.
fn offered(settings: &Settings, hosts: &[HostSlot]) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    for z in settings
        .availability_zones
        .iter()
        .chain(hosts.iter().flat_map(|h| &h.zones))
    {
        if hosts.iter().any(|h| h.zones.contains(z)) && !all.contains(z) {
            all.push(z.clone());
        }
    }
    all
}

/// Zones for `count` new nodes out of `zones`: the requested ones in order, then
/// round-robin starting after the ones the cluster already uses most.
pub fn choose_zones(
    zones: &[String],
    existing: &[String],
    requested: &[String],
    cross_az: bool,
    count: usize,
) -> Result<Vec<String>, Fault> {
    for z in requested {
        if !zones.contains(z) {
            return Err(Fault::InvalidParameterValue(format!(
                "Invalid availability zone {z}; the hosts offer {}.",
                zones.join(", ")
            )));
        }
    }
    let mut counts: Vec<usize> = zones
        .iter()
        .map(|z| existing.iter().filter(|e| *e == z).count())
        .collect();
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let zone = if let Some(z) = requested.get(i) {
            z.clone()
        } else if let (Some(z), false) = (requested.first(), cross_az) {
            z.clone()
        } else if !cross_az && !existing.is_empty() && zones.contains(&existing[0]) {
            existing[0].clone()
        } else if !cross_az {
            zones[0].clone()
        } else {
            let (idx, _) = counts
                .iter()
                .enumerate()
                .min_by_key(|(_, c)| **c)
                .unwrap_or((0, &0));
            zones[idx].clone()
        };
        if let Some(idx) = zones.iter().position(|z| *z == zone) {
            counts[idx] += 1;
        }
        out.push(zone);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zones() -> Vec<String> {
        Settings::new("us-east-1").availability_zones
    }

    #[test]
    fn cross_az_spreads_evenly() {
        let z = choose_zones(&zones(), &[], &[], true, 4).unwrap();
        assert_eq!(z, ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1a"]);
    }

    #[test]
    fn single_az_stays_together_and_requested_wins() {
        let z = choose_zones(&zones(), &["us-east-1b".into()], &[], false, 2).unwrap();
        assert_eq!(z, ["us-east-1b", "us-east-1b"]);
        let r = choose_zones(&zones(), &[], &["us-east-1c".into()], false, 2).unwrap();
        assert_eq!(r, ["us-east-1c", "us-east-1c"]);
        assert!(choose_zones(&zones(), &[], &["eu-west-1a".into()], false, 1).is_err());
    }

    fn host(id: &str, zone: &str) -> HostSlot {
        HostSlot {
            id: Some(id.into()),
            zones: vec![zone.into()],
            reachable: true,
        }
    }

    fn settings() -> Settings {
        let mut s = Settings::new("us-east-1");
        s.node_ports = 43100..=43109;
        s.local_nodes = false;
        s
    }

    #[test]
    fn a_group_spreads_over_hosts_of_distinct_zones_with_ports_per_host() {
        let s = settings();
        let hosts = vec![
            host("10.0.0.11", "us-east-1a"),
            host("10.0.0.12", "us-east-1b"),
            host("10.0.0.13", "us-east-1c"),
        ];
        let mut p = Placer::new(&s, hosts, &[], []);
        let places = p.place(&s, &[], &[], true, 3).unwrap();
        let hosts: Vec<_> = places.iter().map(|p| p.host.clone().unwrap()).collect();
        assert_eq!(hosts, ["10.0.0.11", "10.0.0.12", "10.0.0.13"]);
        // Each host has its own range: all three got the range's first port.
        assert!(places.iter().all(|p| p.port == 43100), "{places:?}");
        let zones: Vec<_> = places.iter().map(|p| p.zone.as_str()).collect();
        assert_eq!(zones, ["us-east-1a", "us-east-1b", "us-east-1c"]);
    }

    #[test]
    fn a_subnet_group_keeps_nodes_in_its_zones() {
        let s = settings();
        let hosts = vec![
            host("10.0.0.11", "us-east-1a"),
            host("10.0.0.12", "us-east-1b"),
            host("10.0.0.13", "us-east-1c"),
        ];
        let mut p = Placer::new(&s, hosts, &[], []);
        p.only_zones(Some(vec!["us-east-1c".into(), "us-east-1b".into()]));
        let places = p.place(&s, &[], &[], true, 4).unwrap();
        let zones: Vec<_> = places.iter().map(|p| p.zone.as_str()).collect();
        assert_eq!(
            zones,
            ["us-east-1b", "us-east-1c", "us-east-1b", "us-east-1c"]
        );
        assert!(p.place(&s, &[], &["us-east-1a".into()], true, 1).is_err());
        // A group whose zones no host offers gets a capacity error, not a node elsewhere.
        p.only_zones(Some(vec!["eu-west-1a".into()]));
        let none = p.place(&s, &[], &[], true, 1);
        assert!(
            matches!(none, Err(Fault::InsufficientCacheClusterCapacity(ref m)) if m.contains("subnet group")),
            "{none:?}"
        );
    }

    #[test]
    fn a_preferred_zone_picks_its_host_and_a_silent_host_comes_last() {
        let s = settings();
        let mut silent = host("10.0.0.11", "us-east-1a");
        silent.reachable = false;
        let hosts = vec![
            silent,
            host("10.0.0.21", "us-east-1a"),
            host("10.0.0.12", "us-east-1b"),
        ];
        let mut p = Placer::new(&s, hosts, &[], []);
        let places = p
            .place(
                &s,
                &[],
                &["us-east-1b".into(), "us-east-1a".into()],
                true,
                2,
            )
            .unwrap();
        assert_eq!(places[0].host.as_deref(), Some("10.0.0.12"));
        assert_eq!(places[1].host.as_deref(), Some("10.0.0.21"));
        assert!(p.place(&s, &[], &["us-east-1c".into()], true, 1).is_err());
    }

    #[test]
    fn endpoint_ports_are_held_on_every_host() {
        let s = settings();
        let hosts = vec![host("10.0.0.11", "us-east-1a")];
        let mut p = Placer::new(&s, hosts, &[], [43100]);
        let e = p.endpoint_ports(1).unwrap();
        assert_ne!(e[0], 43100);
        let node = p.place(&s, &[], &[], true, 1).unwrap();
        assert!(node[0].port != 43100 && node[0].port != e[0], "{node:?}");
        assert!(p.endpoint_ports(100).is_err());
    }

    #[test]
    fn no_zone_offered_is_a_capacity_error() {
        let s = settings();
        let mut p = Placer::new(&s, vec![], &[], []);
        let err = p.place(&s, &[], &[], true, 1).unwrap_err();
        assert!(
            matches!(err, Fault::InsufficientCacheClusterCapacity(_)),
            "{err:?}"
        );
    }
}
