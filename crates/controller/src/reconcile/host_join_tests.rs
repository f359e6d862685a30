//! A joining agent's announcement and the certificate pin it carries: what is
//! refused (with no host stored), what re-dials with the new pin, and what costs
//! nothing. The connector records what it was asked to dial and hands out the fake.

use std::sync::{Arc, Mutex};

use larder_agent::NodeAgent;

use super::test_harness::{Harness, QUICK_RETRY};
use crate::HostAnnouncement;

fn announcement(fingerprint: &str) -> HostAnnouncement {
    HostAnnouncement {
        link: "10.0.0.12:7800".into(),
        zone: "us-east-1a".into(),
        address: "10.0.0.12".into(),
        fingerprint: fingerprint.into(),
    }
}

/// A connector that records each (link, fingerprint) it dials.
fn recording(h: &Harness) -> Arc<Mutex<Vec<(String, String)>>> {
    let dialled = Arc::new(Mutex::new(Vec::new()));
    let (seen, fake) = (dialled.clone(), h.fake.clone());
    h.controller()
        .set_connector(Arc::new(move |link, fingerprint| {
            seen.lock().unwrap().push((link, fingerprint));
            let agent = fake.clone() as Arc<dyn NodeAgent>;
            Box::pin(async move { Ok(agent) })
        }))
        .unwrap();
    dialled
}

#[tokio::test]
async fn a_join_without_a_valid_fingerprint_is_refused_and_stores_nothing() {
    let h = Harness::new(QUICK_RETRY);
    let dialled = recording(&h);
    for bad in ["", "abc", &"zz".repeat(32), &"a".repeat(65)] {
        let err = h
            .controller()
            .register_host(announcement(bad))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("fingerprint"), "{err}");
    }
    assert!(h.controller().store().list_hosts().unwrap().is_empty());
    assert!(dialled.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_new_fingerprint_for_a_known_host_is_pinned_and_dialled_again() {
    let h = Harness::new(QUICK_RETRY);
    let dialled = recording(&h);
    let (old, new) = ("ab".repeat(32), "CD".repeat(32));
    h.controller()
        .register_host(announcement(&old))
        .await
        .unwrap();
    // The same announcement again (every 5 s) dials nothing.
    h.controller()
        .register_host(announcement(&old))
        .await
        .unwrap();
    assert_eq!(dialled.lock().unwrap().len(), 1);
    // The agent was reinstalled: its signed join names a new certificate.
    h.controller()
        .register_host(announcement(&new))
        .await
        .unwrap();
    let calls = dialled.lock().unwrap().clone();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[1].1, new.to_ascii_lowercase());
    let stored = h.controller().store().list_hosts().unwrap();
    assert_eq!(stored[0].fingerprint, new.to_ascii_lowercase());
    let listed = h.controller().host_statuses().unwrap();
    assert!(listed
        .iter()
        .any(|s| s.fingerprint == new.to_ascii_lowercase()));
}
