//! Containers at scale and at their limits, through a real daemon: 100 concurrent create+start
//! requests all succeed; `rm -f` of 100 running containers leaves no mount, cgroup, process or
//! runtime state; `--pids-limit` contains a fork bomb; an OOM kill shows as `OOMKilled` and 137.
//! Needs root and the busybox image.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// Mounts under the daemon's root (container rootfs overlays).
fn mounts_under(root: &Path) -> usize {
    let root = root.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .nth(4)
                .is_some_and(|m| m.starts_with(&root))
        })
        .count()
}

/// Cgroup directories of these containers, in every hierarchy.
fn cgroups_of(ids: &[String]) -> usize {
    let mut n = 0;
    let mut bases = vec![std::path::PathBuf::from("/sys/fs/cgroup/berth")];
    if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
        bases.extend(rd.flatten().map(|e| e.path().join("berth")));
    }
    for b in bases {
        n += ids.iter().filter(|id| b.join(id).exists()).count();
    }
    n
}

/// Processes whose command line names one of these containers (shims) or that live in one of
/// their cgroups.
fn processes_of(ids: &[String]) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let name = e.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cg = std::fs::read_to_string(e.path().join("cgroup")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd);
        if ids
            .iter()
            .any(|id| cmd.contains(id.as_str()) || cg.contains(id.as_str()))
        {
            n += 1;
        }
    }
    n
}

#[test]
fn hundred_concurrent_starts_and_rm_force_leave_nothing() {
    let Some(d) = busybox_daemon() else { return };
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..100)
            .map(|i| {
                let d = &d;
                s.spawn(move || {
                    let body = json!({"Image": "busybox", "Cmd": ["sleep", "600"]});
                    let (status, _, resp) = d.http(
                        "POST",
                        &format!("/containers/create?name=many{i}"),
                        body.to_string().as_bytes(),
                    );
                    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&resp));
                    let v: Value = serde_json::from_slice(&resp).unwrap();
                    let id = v["Id"].as_str().unwrap().to_string();
                    let (status, _, resp) = d.http("POST", &format!("/containers/{id}/start"), b"");
                    assert_eq!(status, 204, "{}", String::from_utf8_lossy(&resp));
                    id
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let running = d.ok(&["ps", "-q", "--no-trunc"]);
    assert_eq!(running.lines().count(), 100);
    assert!(mounts_under(&d.root) >= 100);
    assert!(cgroups_of(&ids) >= 100);
    assert!(processes_of(&ids) >= 200, "a shim and a sleep each");

    let mut args = vec!["rm", "-f"];
    args.extend(ids.iter().map(String::as_str));
    let out = d.ok(&args);
    assert_eq!(out.lines().count(), 100);
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = (mounts_under(&d.root), cgroups_of(&ids), processes_of(&ids));
        if left == (0, 0, 0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "left behind (mounts, cgroups, processes): {left:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let state = d.exec_root.join("runtime").join("state");
    if state.exists() {
        assert_eq!(count_entries(&state), 0, "runtime state left in {state:?}");
    }
    for id in &ids {
        assert!(!d.root.join("containers").join(id).exists());
    }
}

#[test]
fn pids_limit_contains_a_fork_bomb() {
    let Some(d) = busybox_daemon() else { return };
    let id = d
        .ok(&[
            "run",
            "-d",
            "--pids-limit",
            "32",
            "busybox",
            "sh",
            "-c",
            "f() { f | f & }; f; sleep 600",
        ])
        .trim()
        .to_string();
    std::thread::sleep(Duration::from_secs(2));
    let (_, v) = d.api_json(
        "GET",
        &format!("/containers/{id}/stats?stream=false&one-shot=true"),
    );
    let current = v["pids_stats"]["current"].as_u64().unwrap();
    assert!(current <= 32, "pids.current {current} over the limit: {v}");
    assert_eq!(v["pids_stats"]["limit"], 32);
    // The host still answers, and the container goes away whole.
    d.ok(&["rm", "-f", &id]);
    let ids = vec![id];
    let deadline = Instant::now() + Duration::from_secs(20);
    while processes_of(&ids) > 0 || cgroups_of(&ids) > 0 {
        assert!(Instant::now() < deadline, "fork bomb survived rm -f");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn oom_kill_is_reported() {
    let Some(d) = busybox_daemon() else { return };
    // A shell variable that grows past the limit: the kernel kills the shell.
    let out = d.cli(&[
        "run",
        "--name",
        "oom",
        "-m",
        "16m",
        "--memory-swap",
        "16m",
        "busybox",
        "sh",
        "-c",
        "x=a; while true; do x=$x$x; done",
    ]);
    assert_eq!(out.status.code(), Some(137), "{out:?}");
    let (_, v) = d.api_json("GET", "/containers/oom/json");
    assert_eq!(v["State"]["OOMKilled"], true, "{}", v["State"]);
    assert_eq!(v["State"]["ExitCode"], 137);
    assert_eq!(v["HostConfig"]["Memory"], 16 * 1024 * 1024);
}

/// The uncompressed layer of the busybox base image (a docker-archive tar).
fn busybox_layer(archive: &Path) -> Vec<u8> {
    use std::io::Read;
    let bytes = std::fs::read(archive).expect("busybox archive");
    let mut files = std::collections::HashMap::new();
    let mut t = tar::Archive::new(&bytes[..]);
    for e in t.entries().expect("tar") {
        let mut e = e.expect("entry");
        let path = e.path().expect("path").display().to_string();
        let mut data = Vec::new();
        e.read_to_end(&mut data).expect("read");
        files.insert(path, data);
    }
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).expect("manifest");
    let layer = &files[manifest[0]["Layers"][0].as_str().expect("layer path")];
    if layer.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&layer[..])
            .read_to_end(&mut out)
            .expect("gunzip");
        out
    } else {
        layer.clone()
    }
}

#[test]
fn images_with_many_layers_run() {
    let Some(d) = busybox_daemon() else { return };
    // 80 layers: their paths make far more than the one page of options mount(2) takes.
    let mut layers = vec![busybox_layer(&base_image("busybox").unwrap())];
    for i in 1..80 {
        let name: &'static str = Box::leak(format!("layer{i}.txt").into_boxed_str());
        layers.push(layer_tar(&[Entry::File(
            name,
            format!("{i}\n").into_bytes(),
            0o644,
        )]));
    }
    let img = TestImage::new(layers, &["tall:latest"]);
    let out = d.load_bytes(&docker_archive(&[&img]));
    assert!(out.status.success(), "{out:?}");
    let out = d.ok(&[
        "run",
        "--rm",
        "tall",
        "sh",
        "-c",
        "cat /layer1.txt /layer79.txt; echo x > /w; cat /w",
    ]);
    assert_eq!(out, "1\n79\nx\n");
    assert_eq!(mounts_under(&d.root), 0);
}
