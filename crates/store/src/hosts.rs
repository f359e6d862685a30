//! The hosts (agents) the control plane knows, so a restarted control plane dials
//! them again before they announce themselves.

use larder_model::{Fault, Host};

use crate::backend::Table;
use crate::records::{encode, Store};

impl Store {
    /// Every known host, ordered by id.
    pub fn list_hosts(&self) -> Result<Vec<Host>, Fault> {
        self.read_all(Table::Hosts)
    }

    /// Writes a host (an agent that joined, or joined again with new details).
    pub fn put_host(&self, host: &Host) -> Result<(), Fault> {
        let value = encode(&host.id, host)?;
        self.transaction(|tx| tx.put_raw(Table::Hosts, &host.id, &value))
    }
}
