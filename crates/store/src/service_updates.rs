//! When each service update was first offered, kept in the meta table so its release
//! date stays the same across restarts (the updates themselves are worked out from
//! the installed engines, never stored).

use chrono::{DateTime, Utc};
use larder_model::Fault;

use crate::backend::Table;
use crate::records::{encode, Store};

fn key(name: &str) -> String {
    format!("service-update-released/{name}")
}

impl Store {
    /// The release date of each named update, recording `now` for a name seen for
    /// the first time.
    pub fn service_update_releases(
        &self,
        names: &[String],
        now: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>, Fault> {
        let known: Vec<Option<DateTime<Utc>>> = names
            .iter()
            .map(|n| self.read_one(Table::Meta, &key(n)))
            .collect::<Result<_, _>>()?;
        if known.iter().all(Option::is_some) {
            return Ok(known.into_iter().flatten().collect());
        }
        self.transaction(|tx| {
            let mut out = Vec::with_capacity(names.len());
            for n in names {
                let k = key(n);
                let date = match tx.get::<DateTime<Utc>>(Table::Meta, &k)? {
                    Some(d) => d,
                    None => {
                        tx.put_raw(Table::Meta, &k, &encode(&k, &now)?)?;
                        now
                    }
                };
                out.push(date);
            }
            Ok(out)
        })
    }
}
