//! Restart policies through the CLI and a real daemon: on-failure with a retry budget, always
//! until a manual stop, and what a daemon restart brings back (always, unless-stopped, and a
//! failure that happened while the daemon was down). Needs root and the busybox image.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn inspect(d: &Daemon, name: &str) -> Value {
    let (status, v) = d.api_json("GET", &format!("/containers/{name}/json"));
    assert_eq!(status, 200, "{v}");
    v
}

/// Polls until `f` holds for the container's inspect output.
fn until(d: &Daemon, name: &str, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = inspect(d, name);
        if f(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: never {what}: {}",
            v["State"]
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn runs(d: &Daemon, name: &str) -> usize {
    d.ok(&["logs", name])
        .lines()
        .filter(|l| *l == "run")
        .count()
}

#[test]
fn on_failure_retries_within_its_budget() {
    let Some(d) = busybox_daemon() else { return };
    d.ok(&[
        "run",
        "-d",
        "--name",
        "fail2",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "echo run; exit 3",
    ]);
    let v = until(&d, "fail2", "gave up", |v| {
        v["RestartCount"] == 2 && v["State"]["Status"] == "exited"
    });
    assert_eq!(v["State"]["ExitCode"], 3);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(runs(&d, "fail2"), 3, "one run and two restarts");
    assert_eq!(inspect(&d, "fail2")["RestartCount"], 2);
    // A success is not a failure: no restart.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ok0",
        "--restart",
        "on-failure",
        "busybox",
        "sh",
        "-c",
        "echo run",
    ]);
    until(&d, "ok0", "exited", |v| v["State"]["Status"] == "exited");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(inspect(&d, "ok0")["RestartCount"], 0);
    assert_eq!(runs(&d, "ok0"), 1);
}

#[test]
fn always_restarts_until_stopped_by_hand() {
    let Some(d) = busybox_daemon() else { return };
    d.ok(&[
        "run",
        "-d",
        "--name",
        "alw",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "echo run; sleep 0.2",
    ]);
    until(&d, "alw", "restarted twice", |v| {
        v["RestartCount"].as_u64().unwrap_or(0) >= 2
    });
    // Between runs the container shows as restarting, or runs again.
    d.ok(&["stop", "-t", "1", "alw"]);
    let v = until(&d, "alw", "stopped", |v| {
        v["State"]["Running"] == false && v["State"]["Restarting"] == false
    });
    assert_eq!(v["State"]["Status"], "exited");
    let n = runs(&d, "alw");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(runs(&d, "alw"), n, "a stopped container stays stopped");
    // A manual start turns the policy back on.
    d.ok(&["start", "alw"]);
    until(&d, "alw", "restarted after a manual start", |v| {
        v["RestartCount"].as_u64().unwrap_or(0) >= 1
    });
    d.ok(&["rm", "-f", "alw"]);
    assert!(d.ok(&["ps", "-aq"]).trim().is_empty());
}

#[test]
fn daemon_restart_applies_policies() {
    let Some(mut d) = busybox_daemon() else {
        return;
    };
    for (name, policy) in [
        ("al-stopped", "always"),
        ("un-stopped", "unless-stopped"),
        ("no-stopped", "no"),
    ] {
        d.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--restart",
            policy,
            "busybox",
            "sleep",
            "300",
        ]);
        d.ok(&["stop", "-t", "0", name]);
    }
    d.ok(&[
        "run",
        "-d",
        "--name",
        "un-running",
        "--restart",
        "unless-stopped",
        "busybox",
        "sleep",
        "300",
    ]);
    // Fails while the daemon is down: restarted when it comes back.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "late-fail",
        "--restart",
        "on-failure:1",
        "busybox",
        "sh",
        "-c",
        "echo run; sleep 1; exit 1",
    ]);
    d.kill9();
    std::thread::sleep(Duration::from_millis(1800));
    d.restart();
    let running = |v: &Value| v["State"]["Running"] == true;
    until(&d, "al-stopped", "restarted by the daemon", running);
    until(&d, "un-running", "kept running", running);
    assert_eq!(inspect(&d, "un-stopped")["State"]["Status"], "exited");
    assert_eq!(inspect(&d, "no-stopped")["State"]["Status"], "exited");
    let v = until(&d, "late-fail", "restarted once and gave up", |v| {
        v["RestartCount"] == 1 && v["State"]["Status"] == "exited"
    });
    assert_eq!(v["State"]["ExitCode"], 1);
    assert_eq!(runs(&d, "late-fail"), 2);
    d.ok(&["rm", "-f", "al-stopped", "un-running"]);
}
