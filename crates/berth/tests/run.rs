//! Running containers through the API against a real daemon: start, wait, logs, exit codes,
//! missing commands, stop, a daemon killed while containers run, AutoRemove, and `rm -f`
//! leaving no mount or shim behind. Needs root and the busybox base image; skips otherwise.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

fn post(d: &Daemon, path: &str, body: &Value) -> (u16, Value) {
    let (status, _, resp) = d.http("POST", path, body.to_string().as_bytes());
    (status, serde_json::from_slice(&resp).unwrap_or(Value::Null))
}

fn create(d: &Daemon, body: Value) -> String {
    let mut body = body;
    body["Image"] = json!("busybox");
    let (status, v) = post(d, "/containers/create", &body);
    assert_eq!(status, 201, "{v}");
    v["Id"].as_str().expect("id").to_string()
}

fn start(d: &Daemon, id: &str) {
    let (status, _, body) = d.http("POST", &format!("/containers/{id}/start"), b"");
    assert_eq!(
        status,
        204,
        "{} / {}",
        String::from_utf8_lossy(&body),
        d.log()
    );
}

fn wait(d: &Daemon, id: &str) -> i64 {
    let (status, v) = d.api_json("POST", &format!("/containers/{id}/wait"));
    assert_eq!(status, 200, "{v}");
    v["StatusCode"].as_i64().expect("StatusCode")
}

/// Splits a multiplexed log stream into (stream, payload) frames.
fn frames(mut b: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while b.len() >= 8 {
        let n = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
        out.push((b[0], b[8..8 + n].to_vec()));
        b = &b[8 + n..];
    }
    out
}

fn pid_alive(pid: i64) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

fn overlay_mounts_under(root: &std::path::Path) -> usize {
    let root = root.display().to_string();
    std::fs::read_to_string("/proc/mounts")
        .unwrap_or_default()
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|m| m.starts_with(&root))
        })
        .count()
}

fn shims_of(d: &Daemon) -> usize {
    let root = d.root.display().to_string();
    std::fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter(|e| {
                    // A container's init shows the shim's cmdline until it execs; its comm is
                    // libcontainer's `youki:[2:INIT]`, the shim's is `berth-shim` (or `berth`
                    // running `berth shim`).
                    let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
                    let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                    let cmd = String::from_utf8_lossy(&cmd);
                    cmd.contains(&root)
                        && (comm.trim() == "berth-shim"
                            || (comm.trim() == "berth" && cmd.contains("\0shim\0")))
                })
                .count()
        })
        .unwrap_or(0)
}

fn rm_all(d: &Daemon) {
    let (_, list) = d.api_json("GET", "/containers/json?all=1");
    for c in list.as_array().cloned().unwrap_or_default() {
        let id = c["Id"].as_str().unwrap_or_default();
        d.http("DELETE", &format!("/containers/{id}?force=1"), b"");
    }
}

#[test]
fn echo_exit_codes_and_logs() {
    let Some(d) = busybox_daemon() else { return };
    let id = create(&d, json!({"Cmd": ["echo", "hello"]}));
    start(&d, &id);
    assert_eq!(wait(&d, &id), 0);
    let (status, _, body) = d.http("GET", &format!("/containers/{id}/logs?stdout=1"), b"");
    assert_eq!(status, 200);
    assert_eq!(frames(&body), vec![(1, b"hello\n".to_vec())]);
    let (_, v) = d.api_json("GET", &format!("/containers/{id}/json"));
    assert_eq!(v["State"]["Status"], "exited");
    assert_eq!(v["State"]["ExitCode"], 0);
    // Starting again works; a second start of a running container is 304.
    let (status, _, _) = d.http("POST", &format!("/containers/{id}/start"), b"");
    assert!(status == 204 || status == 304, "{status}");

    let id = create(
        &d,
        json!({"Cmd": ["sh", "-c", "echo out; echo err >&2; exit 3"]}),
    );
    start(&d, &id);
    assert_eq!(wait(&d, &id), 3);
    let (_, _, body) = d.http(
        "GET",
        &format!("/containers/{id}/logs?stdout=1&stderr=1"),
        b"",
    );
    let f = frames(&body);
    assert!(f.contains(&(2, b"err\n".to_vec())), "{f:?}");
    assert!(f.contains(&(1, b"out\n".to_vec())), "{f:?}");
    let (_, _, body) = d.http("GET", &format!("/containers/{id}/logs?stderr=1"), b"");
    assert_eq!(frames(&body), vec![(2, b"err\n".to_vec())]);
    let (_, _, body) = d.http(
        "GET",
        &format!("/containers/{id}/logs?stdout=1&stderr=1&tail=1&timestamps=1"),
        b"",
    );
    assert_eq!(frames(&body).len(), 1);

    // kill on a stopped container is a conflict.
    let (status, v) = d.api_json("POST", &format!("/containers/{id}/kill"));
    assert_eq!(status, 409, "{v}");
    assert!(v["message"]
        .as_str()
        .unwrap_or("")
        .contains("is not running"));
    rm_all(&d);
}

#[test]
fn missing_command_is_127() {
    let Some(d) = busybox_daemon() else { return };
    let id = create(&d, json!({"Cmd": ["nosuch"]}));
    let (status, _, body) = d.http("POST", &format!("/containers/{id}/start"), b"");
    let msg = String::from_utf8_lossy(&body);
    assert_eq!(status, 400, "{msg}");
    assert!(msg.contains("executable file not found"), "{msg}");
    let (_, v) = d.api_json("GET", &format!("/containers/{id}/json"));
    assert_eq!(v["State"]["ExitCode"], 127);
    assert_eq!(v["State"]["Status"], "created");
    assert_eq!(overlay_mounts_under(&d.root), 0);
    // wait on a created container returns at once.
    assert_eq!(wait(&d, &id), 127);
    rm_all(&d);
}

#[test]
fn stop_sends_sigterm() {
    let Some(d) = busybox_daemon() else { return };
    // PID 1 ignores SIGTERM unless it handles it: trap it so the default stop path is used.
    let id = create(
        &d,
        json!({"Cmd": ["sh", "-c", "trap 'exit 143' TERM; echo ready; while true; do sleep 0.1; done"]}),
    );
    start(&d, &id);
    // Signals sent before the trap is set are ignored by PID 1: wait for it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let (_, _, body) = d.http("GET", &format!("/containers/{id}/logs?stdout=1"), b"");
        if !frames(&body).is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let t0 = Instant::now();
    let (status, _, body) = d.http("POST", &format!("/containers/{id}/stop?t=5"), b"");
    assert_eq!(status, 204, "{}", String::from_utf8_lossy(&body));
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    let (_, v) = d.api_json("GET", &format!("/containers/{id}/json"));
    assert_eq!(v["State"]["ExitCode"], 143);
    let (status, _, _) = d.http("POST", &format!("/containers/{id}/stop"), b"");
    assert_eq!(status, 304);

    // A process that ignores SIGTERM (sleep as PID 1) is SIGKILLed after the timeout.
    let id = create(&d, json!({"Cmd": ["sleep", "100"]}));
    start(&d, &id);
    let t0 = Instant::now();
    let (status, _, _) = d.http("POST", &format!("/containers/{id}/stop?t=1"), b"");
    assert_eq!(status, 204);
    assert!(t0.elapsed() < Duration::from_secs(5));
    let (_, v) = d.api_json("GET", &format!("/containers/{id}/json"));
    let code = v["State"]["ExitCode"].as_i64().unwrap_or(0);
    assert!(code == 137 || code == 143, "{code}");
    rm_all(&d);
}

#[test]
fn containers_survive_a_daemon_kill() {
    let Some(mut d) = busybox_daemon() else {
        return;
    };
    let id = create(&d, json!({"Cmd": ["sh", "-c", "sleep 2; echo done"]}));
    start(&d, &id);
    let (_, v) = d.api_json("GET", &format!("/containers/{id}/json"));
    let pid = v["State"]["Pid"].as_i64().expect("pid");
    assert!(pid > 0 && pid_alive(pid));
    d.kill9();
    std::thread::sleep(Duration::from_millis(300));
    assert!(pid_alive(pid), "container died with the daemon");
    d.spawn();
    assert_eq!(wait(&d, &id), 0);
    let (_, _, body) = d.http("GET", &format!("/containers/{id}/logs?stdout=1"), b"");
    assert_eq!(frames(&body), vec![(1, b"done\n".to_vec())]);
    assert_eq!(overlay_mounts_under(&d.root), 0);

    // Exited while the daemon was down: finished on the next start.
    let id = create(&d, json!({"Cmd": ["sh", "-c", "sleep 1; exit 4"]}));
    start(&d, &id);
    d.kill9();
    std::thread::sleep(Duration::from_millis(1500));
    d.spawn();
    assert_eq!(wait(&d, &id), 4);
    rm_all(&d);
}

#[test]
fn auto_remove_and_rm_force_leave_nothing() {
    let Some(d) = busybox_daemon() else { return };
    let id = create(
        &d,
        json!({"Cmd": ["true"], "HostConfig": {"AutoRemove": true}}),
    );
    start(&d, &id);
    let (status, _) = d.api_json("POST", &format!("/containers/{id}/wait?condition=removed"));
    assert_eq!(status, 200);
    let (status, _) = d.api_json("GET", &format!("/containers/{id}/json"));
    assert_eq!(status, 404);
    // By then the shim has removed the cgroups and the directory has left `containers/` (into
    // the trash, which a background thread empties).
    assert!(!d.root.join("containers").join(&id).exists());
    assert_eq!(cgroups_of(&id), Vec::<String>::new());
    let deadline = Instant::now() + Duration::from_secs(5);
    while d.root.join("trash").join(&id).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!d.root.join("trash").join(&id).exists());

    // A container under a cgroup parent of its own: its cgroups go with it too.
    let parent = format!("berth-test-parent-{}", std::process::id());
    let id = create(
        &d,
        json!({"Cmd": ["true"], "HostConfig": {"CgroupParent": parent}}),
    );
    start(&d, &id);
    let (status, body) = d.api_json("POST", &format!("/containers/{id}/wait"));
    assert_eq!((status, body["StatusCode"].as_i64()), (200, Some(0)));
    let under_parent: Vec<_> = std::fs::read_dir("/sys/fs/cgroup")
        .map(|rd| rd.flatten().map(|h| h.path().join(&parent)).collect())
        .unwrap_or_default();
    let left: Vec<_> = under_parent
        .iter()
        .map(|p| p.join(&id))
        .filter(|p| p.exists())
        .collect();
    for p in under_parent
        .iter()
        .chain([&std::path::Path::new("/sys/fs/cgroup").join(&parent)])
    {
        let _ = std::fs::remove_dir(p);
    }
    assert_eq!(left, Vec::<std::path::PathBuf>::new());

    let ids: Vec<String> = (0..10)
        .map(|_| {
            let id = create(&d, json!({"Cmd": ["sleep", "100"]}));
            start(&d, &id);
            id
        })
        .collect();
    assert_eq!(overlay_mounts_under(&d.root), 10);
    assert_eq!(shims_of(&d), 10);
    for id in &ids {
        let (status, _, body) = d.http("DELETE", &format!("/containers/{id}?force=1"), b"");
        assert_eq!(status, 204, "{}", String::from_utf8_lossy(&body));
    }
    assert_eq!(overlay_mounts_under(&d.root), 0);
    let deadline = Instant::now() + Duration::from_secs(5);
    while shims_of(&d) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(shims_of(&d), 0);
    for id in &ids {
        assert!(!d.root.join("containers").join(id).exists());
        assert_eq!(cgroups_of(id), Vec::<String>::new());
    }
}

/// Cgroup directories left for container `id` in any hierarchy.
fn cgroups_of(id: &str) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") else {
        return Vec::new();
    };
    rd.flatten()
        .flat_map(|h| [h.path().join("berth").join(id), h.path().join(id)])
        .chain([std::path::PathBuf::from("/sys/fs/cgroup/berth").join(id)])
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect()
}

#[test]
fn kill_restart_follow_and_events() {
    let Some(d) = busybox_daemon() else { return };
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.as_secs())
        .unwrap_or(0);
    let id = create(
        &d,
        json!({"Cmd": ["sh", "-c", "echo up; sleep 0.5; echo one; sleep 0.5; echo two"]}),
    );
    start(&d, &id);
    // follow streams until the container exits.
    let (status, _, body) = d.http(
        "GET",
        &format!("/containers/{id}/logs?stdout=1&follow=1"),
        b"",
    );
    assert_eq!(status, 200);
    let lines: Vec<Vec<u8>> = frames(&body).into_iter().map(|(_, p)| p).collect();
    assert_eq!(
        lines,
        vec![b"up\n".to_vec(), b"one\n".to_vec(), b"two\n".to_vec()]
    );
    assert_eq!(wait(&d, &id), 0);

    let id = create(&d, json!({"Cmd": ["sleep", "100"]}));
    start(&d, &id);
    let (status, _, _) = d.http("POST", &format!("/containers/{id}/start"), b"");
    assert_eq!(status, 304);
    let (_, v) = d.api_json("GET", &format!("/containers/{id}/json"));
    let first_pid = v["State"]["Pid"].as_i64().unwrap_or(0);
    let (status, _, _) = d.http("POST", &format!("/containers/{id}/restart?t=0"), b"");
    assert_eq!(status, 204);
    let (_, v) = d.api_json("GET", &format!("/containers/{id}/json"));
    assert_eq!(v["State"]["Running"], true);
    assert_ne!(v["State"]["Pid"].as_i64().unwrap_or(0), first_pid);
    let (status, _, _) = d.http("POST", &format!("/containers/{id}/kill?signal=KILL"), b"");
    assert_eq!(status, 204);
    assert_eq!(wait(&d, &id), 137);

    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.as_secs() + 1)
        .unwrap_or(0);
    let (_, _, body) = d.http("GET", &format!("/events?since={since}&until={until}"), b"");
    let actions: Vec<String> = String::from_utf8_lossy(&body)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["Actor"]["ID"] == id.as_str())
        .map(|e| e["Action"].as_str().unwrap_or("").to_string())
        .collect();
    for want in ["create", "start", "kill", "die", "stop", "restart"] {
        assert!(
            actions.iter().any(|a| a == want),
            "{want} missing: {actions:?}"
        );
    }
    rm_all(&d);
}

#[test]
fn processes_start_with_default_signal_state() {
    let Some(d) = busybox_daemon() else { return };
    // Nothing ignored, nothing blocked, as runc starts them: a pipeline whose reader goes away
    // ends its writer by SIGPIPE (the daemon and shim, Rust programs, ignore SIGPIPE).
    let grep = ["grep", "-E", "SigIgn|SigBlk", "/proc/self/status"];
    let out = d.ok(&[&["run", "--rm", "busybox:latest"][..], &grep[..]].concat());
    assert_eq!(
        out,
        "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n"
    );
    d.ok(&[
        "run",
        "-d",
        "--name",
        "sig",
        "busybox:latest",
        "sleep",
        "60",
    ]);
    let out = d.ok(&[
        "exec",
        "sig",
        "grep",
        "-E",
        "SigIgn|SigBlk",
        "/proc/self/status",
    ]);
    assert_eq!(
        out,
        "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n"
    );
    // dd killed by SIGPIPE prints nothing; with SIGPIPE ignored it would report the EPIPE.
    let out = d.cli(&[
        "run",
        "--rm",
        "busybox:latest",
        "sh",
        "-c",
        "dd if=/dev/zero bs=1024 count=100000 | head -c 1 >/dev/null",
    ]);
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("Broken pipe"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    d.ok(&["rm", "-f", "sig"]);
}
