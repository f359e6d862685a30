//! Custom cache parameter group records. Creation checks the name and the quota
//! inside the transaction; changes are made by the controller in its own
//! transactions (a group in use may not change).

use larder_model::parameter_group::PARAMETER_GROUP_QUOTA;
use larder_model::{CacheParameterGroup, Fault};

use crate::backend::Table;
use crate::records::{encode, Store};
use crate::tx::Tx;

impl Tx<'_> {
    /// One custom group.
    pub fn parameter_group(&self, name: &str) -> Result<Option<CacheParameterGroup>, Fault> {
        self.get(Table::CacheParameterGroups, name)
    }

    /// Every custom group, ordered by name.
    pub fn parameter_groups(&self) -> Result<Vec<CacheParameterGroup>, Fault> {
        self.all(Table::CacheParameterGroups)
    }

    /// Writes a custom group.
    pub fn put_parameter_group(&mut self, g: &CacheParameterGroup) -> Result<(), Fault> {
        let value = encode(&g.name, g)?;
        self.put_raw(Table::CacheParameterGroups, &g.name, &value)
    }

    /// Inserts a new custom group: `CacheParameterGroupAlreadyExists` if the name is
    /// taken, `CacheParameterGroupQuotaExceeded` past the service's quota.
    pub fn create_parameter_group(&mut self, g: &CacheParameterGroup) -> Result<(), Fault> {
        if self.parameter_group(&g.name)?.is_some() {
            return Err(Fault::CacheParameterGroupAlreadyExists(g.name.clone()));
        }
        if self.parameter_groups()?.len() >= PARAMETER_GROUP_QUOTA {
            return Err(Fault::CacheParameterGroupQuotaExceeded(format!(
                "At most {PARAMETER_GROUP_QUOTA} cache parameter groups may exist."
            )));
        }
        self.put_parameter_group(g)
    }

    /// Removes a custom group.
    pub fn delete_parameter_group(&mut self, name: &str) -> Result<(), Fault> {
        self.delete_raw(Table::CacheParameterGroups, name)
    }
}

impl Store {
    /// One custom group by name.
    pub fn get_parameter_group(&self, name: &str) -> Result<Option<CacheParameterGroup>, Fault> {
        self.read_one(Table::CacheParameterGroups, name)
    }

    /// Every custom group, ordered by name.
    pub fn list_parameter_groups(&self) -> Result<Vec<CacheParameterGroup>, Fault> {
        self.read_all(Table::CacheParameterGroups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::open_embedded(&dir.path().join("larder.redb")).unwrap();
        (dir, store)
    }

    fn group(name: &str) -> CacheParameterGroup {
        CacheParameterGroup {
            name: name.into(),
            family: "redis7".into(),
            description: "d".into(),
            values: Default::default(),
        }
    }

    #[test]
    fn names_are_unique_and_the_quota_holds() {
        let (_dir, store) = store();
        store
            .transaction(|tx| tx.create_parameter_group(&group("a")))
            .unwrap();
        let again = store.transaction(|tx| tx.create_parameter_group(&group("a")));
        assert!(matches!(
            again,
            Err(Fault::CacheParameterGroupAlreadyExists(_))
        ));
        for i in 1..PARAMETER_GROUP_QUOTA {
            store
                .transaction(|tx| tx.create_parameter_group(&group(&format!("g{i}"))))
                .unwrap();
        }
        let over = store.transaction(|tx| tx.create_parameter_group(&group("last")));
        assert!(
            matches!(over, Err(Fault::CacheParameterGroupQuotaExceeded(_))),
            "{over:?}"
        );
        assert_eq!(
            store.list_parameter_groups().unwrap().len(),
            PARAMETER_GROUP_QUOTA
        );
    }
}
