//! The thread that carries Redis endpoint traffic.
//!
//! Endpoints run on one dedicated single-threaded runtime rather than on the
//! daemon's shared pool: a client's session, the shared node connection and its
//! reply reader then wake each other without crossing threads (no futex per hand
//! off), and API or reconcile work never delays a forwarded command. One thread
//! is plenty for a host's endpoints: the node itself is single-threaded too.

use std::sync::OnceLock;

use tokio::runtime::{Builder, Handle};

/// The data-plane runtime, started on first use and kept for the process lifetime.
pub(crate) fn handle() -> &'static Handle {
    static HANDLE: OnceLock<Handle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("larder-data-plane".into())
            .spawn(move || {
                let runtime = Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("data-plane runtime");
                tx.send(runtime.handle().clone())
                    .expect("data-plane handle receiver");
                runtime.block_on(std::future::pending::<()>());
            })
            .expect("data-plane thread");
        rx.recv().expect("data-plane runtime started")
    })
}

/// Test seam: the data-plane thread is blocked while this lives, so a test can show
/// that traffic the kernel splices needs no endpoint code at all.
#[doc(hidden)]
pub struct DataPlaneHold(#[allow(dead_code)] std::sync::mpsc::Sender<()>);

/// Blocks the data-plane thread until the returned guard is dropped.
#[doc(hidden)]
pub fn hold_data_plane() -> DataPlaneHold {
    let (release, held) = std::sync::mpsc::channel::<()>();
    let (started, blocked) = std::sync::mpsc::channel();
    handle().spawn(async move {
        let _ = started.send(());
        // Blocking here is the point: it stops every endpoint task on this thread.
        let _ = held.recv();
    });
    blocked.recv().expect("data plane running");
    DataPlaneHold(release)
}
