//! Keeping a container's (or exec's) TTY the size of the local terminal: one resize when the
//! session starts, then one on every SIGWINCH (Docker's `MonitorTtySize`).

use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::task::JoinHandle;

use super::container_path;
use crate::client::{escape_path, Client, Request};
use crate::streams::terminal_size;

/// The resize request for a container or an exec.
pub fn resize_request(id: &str, is_exec: bool, height: u16, width: u16) -> Request {
    let path = if is_exec {
        format!("/exec/{}/resize", escape_path(id))
    } else {
        container_path(id, "/resize")
    };
    Request::post(path)
        .query("h", height.to_string())
        .query("w", width.to_string())
}

/// Sends one resize (nothing when the size is unknown or 0x0).
pub async fn resize_to(client: &Client, id: &str, is_exec: bool, height: u16, width: u16) -> bool {
    if height == 0 && width == 0 {
        return true;
    }
    client
        .send(resize_request(id, is_exec, height, width))
        .await
        .is_ok()
}

async fn resize(client: &Client, id: &str, is_exec: bool) -> bool {
    let (h, w) = terminal_size().unwrap_or((0, 0));
    resize_to(client, id, is_exec, h, w).await
}

/// Resizes now (retrying a few times, as a just-started process may not be ready) and on
/// every SIGWINCH until the returned task is aborted.
pub fn monitor_tty_size(client: &Client, id: &str, is_exec: bool) -> JoinHandle<()> {
    let client = client.clone();
    let id = id.to_string();
    tokio::spawn(async move {
        let mut winch = signal(SignalKind::window_change()).ok();
        if !resize(&client, &id, is_exec).await {
            let mut ok = false;
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_millis(10)).await;
                if resize(&client, &id, is_exec).await {
                    ok = true;
                    break;
                }
            }
            if !ok {
                eprintln!("failed to resize tty, using default size");
            }
        }
        let Some(winch) = winch.as_mut() else {
            return;
        };
        while winch.recv().await.is_some() {
            resize(&client, &id, is_exec).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_uris() {
        assert_eq!(
            resize_request("abc", false, 24, 80).uri(),
            "/v1.41/containers/abc/resize?h=24&w=80"
        );
        assert_eq!(
            resize_request("e1", true, 50, 120).uri(),
            "/v1.41/exec/e1/resize?h=50&w=120"
        );
    }
}
