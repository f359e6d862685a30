//! Custom cache subnet group records. Creation checks the name and the quota inside
//! the transaction; whether a group is in use is checked by the controller in the
//! same transaction as the change.

use larder_model::subnet_group::{DEFAULT_SUBNET_GROUP, SUBNET_GROUP_QUOTA};
use larder_model::{CacheSubnetGroup, Fault};

use crate::backend::Table;
use crate::records::{encode, Store};
use crate::tx::Tx;

impl Tx<'_> {
    /// One custom group.
    pub fn subnet_group(&self, name: &str) -> Result<Option<CacheSubnetGroup>, Fault> {
        self.get(Table::CacheSubnetGroups, name)
    }

    /// Every custom group, ordered by name.
    pub fn subnet_groups(&self) -> Result<Vec<CacheSubnetGroup>, Fault> {
        self.all(Table::CacheSubnetGroups)
    }

    /// Writes a custom group.
    pub fn put_subnet_group(&mut self, g: &CacheSubnetGroup) -> Result<(), Fault> {
        let value = encode(&g.name, g)?;
        self.put_raw(Table::CacheSubnetGroups, &g.name, &value)
    }

    /// Inserts a new custom group: `CacheSubnetGroupAlreadyExists` if the name is
    /// taken (`default` always is), `CacheSubnetGroupQuotaExceeded` past the quota.
    pub fn create_subnet_group(&mut self, g: &CacheSubnetGroup) -> Result<(), Fault> {
        if g.name == DEFAULT_SUBNET_GROUP || self.subnet_group(&g.name)?.is_some() {
            return Err(Fault::CacheSubnetGroupAlreadyExists(g.name.clone()));
        }
        if self.subnet_groups()?.len() >= SUBNET_GROUP_QUOTA {
            return Err(Fault::CacheSubnetGroupQuotaExceeded(format!(
                "At most {SUBNET_GROUP_QUOTA} cache subnet groups may exist."
            )));
        }
        self.put_subnet_group(g)
    }

    /// Removes a custom group.
    pub fn delete_subnet_group(&mut self, name: &str) -> Result<(), Fault> {
        self.delete_raw(Table::CacheSubnetGroups, name)
    }
}

impl Store {
    /// One custom group by name.
    pub fn get_subnet_group(&self, name: &str) -> Result<Option<CacheSubnetGroup>, Fault> {
        self.read_one(Table::CacheSubnetGroups, name)
    }

    /// Every custom group, ordered by name.
    pub fn list_subnet_groups(&self) -> Result<Vec<CacheSubnetGroup>, Fault> {
        self.read_all(Table::CacheSubnetGroups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(name: &str) -> CacheSubnetGroup {
        CacheSubnetGroup {
            name: name.into(),
            description: "d".into(),
            subnets: Vec::new(),
        }
    }

    #[test]
    fn names_are_unique_default_is_taken_and_the_quota_holds() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::open_embedded(&dir.path().join("larder.redb")).unwrap();
        let taken = store.transaction(|tx| tx.create_subnet_group(&group(DEFAULT_SUBNET_GROUP)));
        assert!(matches!(
            taken,
            Err(Fault::CacheSubnetGroupAlreadyExists(_))
        ));
        for i in 0..SUBNET_GROUP_QUOTA {
            store
                .transaction(|tx| tx.create_subnet_group(&group(&format!("g{i}"))))
                .unwrap();
        }
        let again = store.transaction(|tx| tx.create_subnet_group(&group("g0")));
        assert!(matches!(
            again,
            Err(Fault::CacheSubnetGroupAlreadyExists(_))
        ));
        let over = store.transaction(|tx| tx.create_subnet_group(&group("last")));
        assert!(
            matches!(over, Err(Fault::CacheSubnetGroupQuotaExceeded(_))),
            "{over:?}"
        );
        assert_eq!(
            store.list_subnet_groups().unwrap().len(),
            SUBNET_GROUP_QUOTA
        );
    }
}
