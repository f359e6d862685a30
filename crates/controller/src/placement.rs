//! Where new nodes go: a port from the host's range and an availability zone.

use std::collections::HashSet;

use larder_model::{CacheCluster, Fault};

use crate::Settings;

/// Every port a stored cluster holds, nodes and configuration endpoints alike.
pub fn used_ports(clusters: &[CacheCluster]) -> HashSet<u16> {
    let mut used = HashSet::new();
    for c in clusters {
        used.extend(c.nodes.iter().map(|n| n.port));
        used.extend(c.configuration_endpoint_port);
    }
    used
}

/// What placement decisions see while they hold the placement lock.
pub(crate) struct PlacementView<'a> {
    /// Keeps other placements out until the decision is committed.
    pub _lock: std::sync::MutexGuard<'a, ()>,
    /// Every stored cluster except the one being changed.
    pub clusters: Vec<CacheCluster>,
    /// Ports those clusters and every replication group's endpoints hold.
    pub reserved: HashSet<u16>,
}

impl crate::Controller {
    /// Takes the placement lock and reads what a port or quota decision needs.
    pub(crate) fn placement_view(&self, except: Option<&str>) -> Result<PlacementView<'_>, Fault> {
        let lock = self
            .inner
            .placement
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let clusters: Vec<CacheCluster> = self
            .store()
            .list_clusters()?
            .into_iter()
            .filter(|c| Some(c.id.as_str()) != except)
            .collect();
        let reserved = self.reserved_ports(&clusters)?;
        Ok(PlacementView {
            _lock: lock,
            clusters,
            reserved,
        })
    }

    /// Ports held by the given clusters and by every replication group's endpoints.
    pub(crate) fn reserved_ports(&self, clusters: &[CacheCluster]) -> Result<HashSet<u16>, Fault> {
        let mut used = used_ports(clusters);
        for g in self.store().list_replication_groups()? {
            used.extend([g.primary_endpoint_port, g.reader_endpoint_port]);
        }
        Ok(used)
    }
}

/// Picks `count` ports that no cluster holds and that nothing else on the host is
/// listening on right now.
pub fn allocate_ports(
    settings: &Settings,
    used: &mut HashSet<u16>,
    count: usize,
) -> Result<Vec<u16>, Fault> {
    let mut out = Vec::with_capacity(count);
    for port in settings.node_ports.clone() {
        if out.len() == count {
            break;
        }
        if used.contains(&port) || !larder_agent::port_is_free(&settings.bind_host, port) {
            continue;
        }
        used.insert(port);
        out.push(port);
    }
    if out.len() < count {
        return Err(Fault::InsufficientCacheClusterCapacity(format!(
            "No free port left in the node port range {}-{}.",
            settings.node_ports.start(),
            settings.node_ports.end()
        )));
    }
    Ok(out)
}

/// Zones for `count` new nodes: the requested ones in order, then round-robin over the
/// host's zones starting after the ones the cluster already uses most.
pub fn choose_zones(
    settings: &Settings,
    existing: &[String],
    requested: &[String],
    cross_az: bool,
    count: usize,
) -> Result<Vec<String>, Fault> {
    for z in requested {
        if !settings.availability_zones.contains(z) {
            return Err(Fault::InvalidParameterValue(format!(
                "Invalid availability zone {z}; this host offers {}.",
                settings.availability_zones.join(", ")
            )));
        }
    }
    let zones = &settings.availability_zones;
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
        } else if !cross_az && !existing.is_empty() {
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

    #[test]
    fn cross_az_spreads_evenly() {
        let s = Settings::new("us-east-1");
        let z = choose_zones(&s, &[], &[], true, 4).unwrap();
        assert_eq!(z, ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1a"]);
    }

    #[test]
    fn single_az_stays_together_and_requested_wins() {
        let s = Settings::new("us-east-1");
        let z = choose_zones(&s, &["us-east-1b".into()], &[], false, 2).unwrap();
        assert_eq!(z, ["us-east-1b", "us-east-1b"]);
        let r = choose_zones(&s, &[], &["us-east-1c".into()], false, 2).unwrap();
        assert_eq!(r, ["us-east-1c", "us-east-1c"]);
        assert!(choose_zones(&s, &[], &["eu-west-1a".into()], false, 1).is_err());
    }

    #[test]
    fn ports_skip_used_ones() {
        let mut s = Settings::new("us-east-1");
        let base = 43100;
        s.node_ports = base..=base + 9;
        let mut used: HashSet<u16> = [base, base + 1].into_iter().collect();
        let p = allocate_ports(&s, &mut used, 2).unwrap();
        assert!(!p.contains(&base) && !p.contains(&(base + 1)));
        assert!(allocate_ports(&s, &mut used, 100).is_err());
    }
}
