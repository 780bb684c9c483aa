//! Restart policies (`--restart no|always|on-failure[:N]|unless-stopped`), with Docker's rules:
//! a container that exits is started again after a back-off delay (100 ms, doubling while runs
//! last under 10 s, at most a minute) and shows `restarting` meanwhile; a manual `stop` or `kill`
//! ends the policy until the container is started by hand; on daemon start, `always`
//! containers come back, `unless-stopped` ones unless stopped by hand, and `on-failure` ones
//! that failed within their retry budget.

use std::sync::Arc;
use std::time::Duration;

use crate::containers::ContainerRecord;
use crate::{Engine, Error, Result};

const MAX_DELAY: Duration = Duration::from_secs(60);
const FIRST_DELAY: Duration = Duration::from_millis(100);

/// A parsed `HostConfig.RestartPolicy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Policy {
    No,
    Always,
    UnlessStopped,
    OnFailure { max: u64 },
}

impl Policy {
    pub fn of(c: &ContainerRecord) -> Policy {
        let p = &c.host_config["RestartPolicy"];
        match p["Name"].as_str().unwrap_or("") {
            "always" => Policy::Always,
            "unless-stopped" => Policy::UnlessStopped,
            "on-failure" => Policy::OnFailure {
                max: p["MaximumRetryCount"].as_u64().unwrap_or(0),
            },
            _ => Policy::No,
        }
    }

    /// Whether a container that just exited with `code` is started again.
    fn after_exit(&self, c: &ContainerRecord, code: i64) -> bool {
        if c.manually_stopped {
            return false;
        }
        match self {
            Policy::No => false,
            Policy::Always | Policy::UnlessStopped => true,
            Policy::OnFailure { max } => code != 0 && (*max == 0 || c.restart_count < *max),
        }
    }

    /// Whether a stopped container is started when the daemon starts.
    fn on_daemon_start(&self, c: &ContainerRecord) -> bool {
        match self {
            Policy::No => false,
            Policy::Always => true,
            Policy::UnlessStopped => !c.manually_stopped,
            Policy::OnFailure { .. } => self.after_exit(c, c.state.exit_code),
        }
    }
}

/// Docker's back-off: reset when the last run lasted 10 s or more, else double.
fn delay(c: &ContainerRecord) -> Duration {
    let ran = match (
        chrono::DateTime::parse_from_rfc3339(&c.state.started_at),
        chrono::DateTime::parse_from_rfc3339(&c.state.finished_at),
    ) {
        (Ok(s), Ok(f)) => (f - s).num_milliseconds(),
        _ => 0,
    };
    if ran >= 10_000 || c.restart_count == 0 {
        return FIRST_DELAY;
    }
    let shift = c.restart_count.min(10) as u32;
    FIRST_DELAY.saturating_mul(1 << shift).min(MAX_DELAY)
}

impl Engine {
    /// Called with the container lock held, after an exit was recorded: schedules a restart
    /// when the policy says so and marks the container `restarting`.
    pub(crate) fn schedule_restart_after_exit(self: &Arc<Self>, c: &mut ContainerRecord) {
        let policy = Policy::of(c);
        if !policy.after_exit(c, c.state.exit_code) {
            return;
        }
        self.schedule_restart(c);
    }

    fn schedule_restart(self: &Arc<Self>, c: &mut ContainerRecord) {
        let wait = delay(c);
        c.restart_count += 1;
        c.state.status = "restarting".into();
        c.state.restarting = true;
        c.state.running = true;
        if let Err(e) = self.save_container(c) {
            tracing::error!(error = %e, id = %c.id, "recording restart");
            return;
        }
        self.notify_change();
        let engine = Arc::downgrade(self);
        let id = c.id.clone();
        let run = move || {
            if let Some(e) = engine.upgrade() {
                e.restart_now(&id);
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                h.spawn(async move {
                    tokio::time::sleep(wait).await;
                    let _ = tokio::task::spawn_blocking(run).await;
                });
            }
            Err(_) => {
                std::thread::spawn(move || {
                    std::thread::sleep(wait);
                    run();
                });
            }
        }
    }

    /// The delay is over: start the container unless a stop or remove came first (which
    /// clears `restarting`; the start checks it under the container lock).
    fn restart_now(self: &Arc<Self>, id: &str) {
        match self.containers.find(id) {
            Ok(c) if c.state.restarting => {}
            _ => return,
        }
        if let Err(e) = self.start_container_by_policy(id) {
            tracing::warn!(error = %e, id, "restart failed");
            let lock = self.container_lock(id);
            let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
            if let Ok(mut c) = self.containers.find(id) {
                if c.state.restarting {
                    c.state.restarting = false;
                    c.state.running = false;
                    c.state.status = "exited".into();
                    c.state.error = e.to_string();
                    let _ = self.save_container(&c);
                    self.notify_change();
                }
            }
        }
    }

    /// Ends a pending restart (a stop, kill or remove during the delay); true if there was one.
    pub(crate) fn cancel_restart(&self, id: &str) -> bool {
        let lock = self.container_lock(id);
        let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        let Ok(mut c) = self.containers.find(id) else {
            return false;
        };
        if !c.state.restarting {
            return false;
        }
        c.state.restarting = false;
        c.state.running = false;
        c.state.status = "exited".into();
        c.manually_stopped = true;
        let _ = self.save_container(&c);
        self.notify_change();
        true
    }

    /// Records that the user stopped (or killed) the container: its policy no longer applies
    /// until it is started by hand.
    pub(crate) fn mark_manually_stopped(&self, id: &str) -> Result<()> {
        let mut c = self.containers.find(id)?;
        if !c.manually_stopped {
            c.manually_stopped = true;
            self.save_container(&c)?;
        }
        Ok(())
    }

    /// On daemon start: bring back the stopped containers whose policy says so.
    pub fn restart_policies_on_daemon_start(self: &Arc<Self>) {
        for c in self.containers.all() {
            if c.is_running() || c.state.status == "created" {
                continue;
            }
            if !Policy::of(&c).on_daemon_start(&c) {
                continue;
            }
            if let Err(e) = self.start_container_by_policy(&c.id) {
                tracing::warn!(error = %e, id = %c.id, "starting container by restart policy");
            }
        }
    }

    fn start_container_by_policy(self: &Arc<Self>, id: &str) -> Result<()> {
        match self.start_container_keep_flags(id) {
            Err(Error::NotModified) => Ok(()),
            r => r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(policy: serde_json::Value, count: u64, manual: bool) -> ContainerRecord {
        let mut c: ContainerRecord = serde_json::from_value(json!({
            "id": "0".repeat(64), "name": "x", "created": "", "image": "busybox",
            "image_id": format!("sha256:{}", "1".repeat(64)), "path": "sh", "args": [],
            "config": {}, "host_config": {"RestartPolicy": policy}, "networking_config": {},
            "state": {
                "Status": "exited", "Running": false, "Paused": false, "Restarting": false,
                "OOMKilled": false, "Dead": false, "Pid": 0, "ExitCode": 0, "Error": "",
                "StartedAt": "", "FinishedAt": ""
            },
            "restart_count": count,
        }))
        .expect("record");
        c.manually_stopped = manual;
        c
    }

    #[test]
    fn policies_follow_dockers_rules() {
        let always = rec(json!({"Name": "always"}), 0, false);
        assert!(Policy::of(&always).after_exit(&always, 0));
        let stopped = rec(json!({"Name": "always"}), 0, true);
        assert!(!Policy::of(&stopped).after_exit(&stopped, 0));
        assert!(Policy::of(&stopped).on_daemon_start(&stopped));
        let unless = rec(json!({"Name": "unless-stopped"}), 0, true);
        assert!(!Policy::of(&unless).on_daemon_start(&unless));
        let fail = rec(
            json!({"Name": "on-failure", "MaximumRetryCount": 2}),
            1,
            false,
        );
        assert!(Policy::of(&fail).after_exit(&fail, 1));
        assert!(!Policy::of(&fail).after_exit(&fail, 0));
        let spent = rec(
            json!({"Name": "on-failure", "MaximumRetryCount": 2}),
            2,
            false,
        );
        assert!(!Policy::of(&spent).after_exit(&spent, 1));
        let none = rec(json!({"Name": "no"}), 0, false);
        assert!(!Policy::of(&none).after_exit(&none, 1));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let mut c = rec(json!({"Name": "always"}), 0, false);
        assert_eq!(delay(&c), FIRST_DELAY);
        c.restart_count = 3;
        assert_eq!(delay(&c), Duration::from_millis(800));
        c.restart_count = 30;
        assert_eq!(delay(&c), MAX_DELAY);
        c.state.started_at = "2026-01-01T00:00:00Z".into();
        c.state.finished_at = "2026-01-01T00:00:30Z".into();
        assert_eq!(delay(&c), FIRST_DELAY, "a long run resets the back-off");
    }
}
