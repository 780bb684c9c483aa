//! Signal proxying (`--sig-proxy`): signals the CLI receives are sent on to the container with
//! `POST /containers/{id}/kill?signal=NAME`, as Docker's `ForwardAllSignals` does.

use tokio::signal::unix::{signal, SignalKind};
use tokio::task::JoinHandle;

use super::container_path;
use crate::client::{Client, Request};

/// The signals forwarded, with the names Docker sends for them.
const FORWARDED: &[(i32, &str)] = &[
    (libc::SIGHUP, "HUP"),
    (libc::SIGINT, "INT"),
    (libc::SIGQUIT, "QUIT"),
    (libc::SIGUSR1, "USR1"),
    (libc::SIGUSR2, "USR2"),
    (libc::SIGTERM, "TERM"),
    (libc::SIGALRM, "ALRM"),
];

/// Starts forwarding signals to container `id`; abort the handle to stop.
pub fn forward_signals(client: &Client, id: &str) -> JoinHandle<()> {
    let client = client.clone();
    let path = container_path(id, "/kill");
    tokio::spawn(async move {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
        let mut listeners = Vec::new();
        for &(num, name) in FORWARDED {
            let Ok(mut s) = signal(SignalKind::from_raw(num)) else {
                continue;
            };
            let tx = tx.clone();
            listeners.push(tokio::spawn(async move {
                while s.recv().await.is_some() {
                    if tx.send(name).is_err() {
                        return;
                    }
                }
            }));
        }
        drop(tx);
        let _guard = AbortOnDrop(listeners);
        while let Some(name) = rx.recv().await {
            let _ = client
                .send(Request::post(path.clone()).query("signal", name))
                .await;
        }
    })
}

struct AbortOnDrop(Vec<JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

/// Aborts a background task when dropped.
pub struct TaskGuard(pub Option<JoinHandle<()>>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            h.abort();
        }
    }
}
