//! Cache subnet groups. On ElastiCache a subnet is a VPC network in one
//! availability zone, and a subnet group names where a cache's nodes may go. Larder
//! has no VPCs: a subnet stands for an availability zone of the installation. The
//! operator may name subnets and their zones (`--subnets`); any other well-formed
//! subnet id (as an AWS stack already holds them) is mapped to one of the zones
//! offered when the group is created, by a hash of the id, and the mapping is kept
//! with the group so it never moves afterwards.

use serde::{Deserialize, Serialize};

use crate::Fault;

/// The subnet group every account has and clusters use when none is named.
pub const DEFAULT_SUBNET_GROUP: &str = "default";

/// Longest CacheSubnetGroupName (the service's limit).
pub const SUBNET_GROUP_NAME_MAX: usize = 255;

/// Most subnet groups one account may have (ElastiCache's regional quota).
pub const SUBNET_GROUP_QUOTA: usize = 50;

/// Most subnets in one subnet group (ElastiCache's quota).
pub const SUBNETS_PER_GROUP_MAX: usize = 20;

/// One subnet of a group: its id and the zone it stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    /// SubnetIdentifier (`subnet-…`).
    pub id: String,
    /// The availability zone its nodes go to.
    pub zone: String,
    /// Whether the zone was derived from the id (the id is not one the operator
    /// configured) rather than configured.
    pub derived: bool,
}

/// A cache subnet group as stored (the `default` group is derived, never stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheSubnetGroup {
    /// Lower-case CacheSubnetGroupName.
    pub name: String,
    /// CacheSubnetGroupDescription.
    pub description: String,
    /// Its subnets, in the order given.
    pub subnets: Vec<Subnet>,
}

impl CacheSubnetGroup {
    /// The zones its subnets stand for, each once, in subnet order.
    pub fn zones(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in &self.subnets {
            if !out.contains(&s.zone) {
                out.push(s.zone.clone());
            }
        }
        out
    }

    /// The `default` group over `zones`: one subnet per zone, with an id derived from
    /// the zone's name so it is the same on every call.
    pub fn default_over(zones: &[String]) -> CacheSubnetGroup {
        CacheSubnetGroup {
            name: DEFAULT_SUBNET_GROUP.into(),
            description: "Default CacheSubnetGroup: every availability zone of the installation"
                .into(),
            subnets: zones
                .iter()
                .map(|z| Subnet {
                    id: format!("subnet-{}", hex17(z)),
                    zone: z.clone(),
                    derived: false,
                })
                .collect(),
        }
    }
}

/// Whether `id` is shaped like an EC2 subnet id: `subnet-` and 8 or 17 lower-case
/// hexadecimal digits.
pub fn is_well_formed_subnet_id(id: &str) -> bool {
    match id.strip_prefix("subnet-") {
        Some(hex) => {
            (hex.len() == 8 || hex.len() == 17)
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        }
        None => false,
    }
}

/// The subnets for `ids`: a configured id keeps its configured zone, any other
/// well-formed id gets a zone of `zones` chosen by a hash of the id. Ids are checked
/// (`InvalidSubnet`), counted (`CacheSubnetQuotaExceededFault`) and de-duplicated.
pub fn subnets_for(
    ids: &[String],
    configured: &[(String, String)],
    zones: &[String],
) -> Result<Vec<Subnet>, Fault> {
    if ids.is_empty() {
        return Err(Fault::missing("SubnetIds"));
    }
    let mut out: Vec<Subnet> = Vec::new();
    for id in ids {
        let id = id.to_ascii_lowercase();
        if out.iter().any(|s| s.id == id) {
            continue;
        }
        let subnet = if let Some((_, zone)) = configured.iter().find(|(s, _)| *s == id) {
            Subnet {
                id,
                zone: zone.clone(),
                derived: false,
            }
        } else if !is_well_formed_subnet_id(&id) {
            return Err(Fault::InvalidSubnet(format!(
                "The subnet ID {id} is not valid: expected subnet- and 8 or 17 hexadecimal digits, or a subnet this installation configures."
            )));
        } else if zones.is_empty() {
            return Err(Fault::InvalidSubnet(format!(
                "The subnet ID {id} cannot be placed: no host offers an availability zone."
            )));
        } else {
            let zone = zones[(fnv1a(&id) % zones.len() as u64) as usize].clone();
            Subnet {
                id,
                zone,
                derived: true,
            }
        };
        out.push(subnet);
    }
    if out.len() > SUBNETS_PER_GROUP_MAX {
        return Err(Fault::CacheSubnetQuotaExceeded(format!(
            "A cache subnet group may hold at most {SUBNETS_PER_GROUP_MAX} subnets; {} were given.",
            out.len()
        )));
    }
    Ok(out)
}

/// The VpcId Larder reports for every subnet group: one per installation (region
/// and account), shaped like an EC2 VPC id so tools that parse it keep working.
pub fn vpc_id(region: &str, account_id: &str) -> String {
    format!("vpc-{}", hex17(&format!("{account_id}/{region}")))
}

/// 64-bit FNV-1a: small, stable across versions and platforms (the std hasher is
/// not), which a mapping kept in records and shown to users needs.
fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// 17 hex digits from a hash of `s`, as in EC2's long resource ids (the 64-bit
/// hash fills 16; the first digit is always 0, as in many EC2 ids).
fn hex17(s: &str) -> String {
    format!("{:017x}", fnv1a(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zones() -> Vec<String> {
        ["us-east-1a", "us-east-1b", "us-east-1c"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn subnet_ids_are_checked() {
        assert!(is_well_formed_subnet_id("subnet-0123abcd"));
        assert!(is_well_formed_subnet_id("subnet-0123456789abcdef0"));
        assert!(!is_well_formed_subnet_id("subnet-0123abc"));
        assert!(!is_well_formed_subnet_id("subnet-0123abcg"));
        assert!(!is_well_formed_subnet_id("sub-0123abcd"));
        let bad = subnets_for(&["nope".into()], &[], &zones());
        assert!(matches!(bad, Err(Fault::InvalidSubnet(_))), "{bad:?}");
    }

    #[test]
    fn derived_zones_are_stable_and_spread() {
        let ids: Vec<String> = (0..30).map(|i| format!("subnet-{i:08x}")).collect();
        let a = subnets_for(&ids[..20], &[], &zones()).unwrap();
        let b = subnets_for(&ids[..20], &[], &zones()).unwrap();
        assert_eq!(a, b);
        assert!(a.iter().all(|s| s.derived));
        let used: std::collections::BTreeSet<&str> = a.iter().map(|s| s.zone.as_str()).collect();
        assert_eq!(used.len(), 3, "20 ids over 3 zones use all of them: {a:?}");
        let over = subnets_for(&ids, &[], &zones());
        assert!(
            matches!(over, Err(Fault::CacheSubnetQuotaExceeded(_))),
            "{over:?}"
        );
    }

    #[test]
    fn configured_subnets_keep_their_zone_and_duplicates_collapse() {
        let configured = vec![("subnet-lab1".to_string(), "us-east-1c".to_string())];
        let s = subnets_for(
            &["subnet-lab1".into(), "SUBNET-LAB1".into()],
            &configured,
            &zones(),
        )
        .unwrap();
        assert_eq!(
            s,
            vec![Subnet {
                id: "subnet-lab1".into(),
                zone: "us-east-1c".into(),
                derived: false
            }]
        );
    }

    #[test]
    fn the_default_group_covers_every_zone_with_stable_ids() {
        let g = CacheSubnetGroup::default_over(&zones());
        assert_eq!(g.zones(), zones());
        assert_eq!(g, CacheSubnetGroup::default_over(&zones()));
        assert!(g.subnets.iter().all(|s| is_well_formed_subnet_id(&s.id)));
        assert!(vpc_id("us-east-1", "000000000000").len() == 21);
    }
}
