//! Container filesystems through the CLI and the API against a real daemon: `diff`, `export`,
//! `cp` both ways (files, directories, `-` tar streams, running and stopped containers),
//! archives and symlinks that try to leave the container's root, and `commit` (layers,
//! whiteouts, opaque directories, `--change`, history). The real docker CLI runs the same
//! commands when installed. Needs root and the busybox base image; skips otherwise.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// Force-removes every container when dropped (before the daemon, which is declared first),
/// so no container process or mount outlives a test, passed or failed.
struct Cleanup<'a>(&'a Daemon);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let (_, list) = self.0.api_json("GET", "/containers/json?all=1");
        for c in list.as_array().cloned().unwrap_or_default() {
            let id = c["Id"].as_str().unwrap_or_default();
            self.0
                .http("DELETE", &format!("/containers/{id}?force=1"), b"");
        }
    }
}

fn overlay_mounts_under(root: &Path) -> usize {
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

/// Runs the CLI with `input` on stdin.
fn cli_stdin(d: &Daemon, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .arg("-H")
        .arg(d.host())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run berth");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait");
    let _ = writer.join();
    out
}

fn lines(s: &str) -> Vec<String> {
    s.lines().map(str::to_string).collect()
}

fn diff(d: &Daemon, c: &str) -> Vec<String> {
    lines(&d.ok(&["diff", c]))
}

/// Polls `diff` until it holds `line` (the container writes it asynchronously).
fn wait_for_change(d: &Daemon, c: &str, line: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = diff(d, c);
        if got.iter().any(|l| l == line) {
            return got;
        }
        assert!(Instant::now() < deadline, "no {line:?} in {got:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Entries of a tar stream: name → (type, content).
fn tar_entries(bytes: &[u8]) -> BTreeMap<String, (tar::EntryType, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut ar = tar::Archive::new(bytes);
    for e in ar.entries().expect("tar") {
        let mut e = e.expect("tar entry");
        let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let kind = e.header().entry_type();
        let mut data = Vec::new();
        e.read_to_end(&mut data).expect("tar data");
        out.insert(name, (kind, data));
    }
    out
}

/// A tar built entry by entry, names written verbatim (hostile ones included).
fn raw_tar(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, kind, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_entry_type(*kind);
        let body: &[u8] = if *kind == tar::EntryType::Regular {
            data.as_bytes()
        } else {
            h.as_old_mut().linkname[..data.len()].copy_from_slice(data.as_bytes());
            b""
        };
        h.set_size(body.len() as u64);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(body);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// The decoded `X-Docker-Container-Path-Stat` of a HEAD response.
fn path_stat(d: &Daemon, c: &str, path: &str) -> (u16, Value) {
    let (status, head, _) = d.http("HEAD", &format!("/containers/{c}/archive?path={path}"), b"");
    let stat = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("x-docker-container-path-stat")
                .then(|| v.trim().to_string())
        })
        .and_then(|v| base64_decode(&v))
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    (status, stat)
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

fn message(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned())
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", rand_suffix())
}

#[test]
fn diff_lists_added_changed_and_deleted_paths() {
    let Some(d) = busybox_daemon() else { return };
    let _clean = Cleanup(&d);
    d.ok(&[
        "run",
        "--name",
        "d1",
        "busybox",
        "sh",
        "-c",
        "echo hi > /hello; echo me:x:1:1::/:/bin/sh >> /etc/passwd; rm /etc/group; \
         mkdir -p /newdir/sub; echo a > /newdir/sub/f",
    ]);
    // The runtime's /etc/hosts, /etc/hostname, /etc/resolv.conf binds are not changes.
    let want = [
        "C /etc",
        "D /etc/group",
        "C /etc/passwd",
        "A /hello",
        "A /newdir",
        "A /newdir/sub",
        "A /newdir/sub/f",
    ];
    assert_eq!(diff(&d, "d1"), want);
    let (status, v) = d.api_json("GET", "/containers/d1/changes");
    assert_eq!(status, 200);
    assert_eq!(v[3], serde_json::json!({"Path": "/hello", "Kind": 1}));
    assert_eq!(v[1], serde_json::json!({"Path": "/etc/group", "Kind": 2}));

    // A running container: its writable layer is read as it changes.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "d2",
        "busybox",
        "sh",
        "-c",
        "echo x > /tmp/live; exec sleep 300",
    ]);
    let got = wait_for_change(&d, "d2", "A /tmp/live");
    assert_eq!(got, ["C /tmp", "A /tmp/live"]);
    d.ok(&["stop", "-t", "0", "d2"]);
    assert_eq!(diff(&d, "d2"), ["C /tmp", "A /tmp/live"]);

    // An image without /etc, /proc, /sys, /dev: the runtime creates its mount points and
    // /etc placeholders in the writable layer, and they are not changes (Docker keeps them in
    // an init layer).
    let full = d.dir.path().join("full.tar");
    d.ok(&["export", "-o", full.to_str().expect("utf8"), "d1"]);
    let slim = d.dir.path().join("slim.tar");
    let mut builder = tar::Builder::new(std::fs::File::create(&slim).expect("create"));
    let bytes = std::fs::read(&full).expect("read");
    let mut ar = tar::Archive::new(&bytes[..]);
    for e in ar.entries().expect("tar") {
        let mut e = e.expect("entry");
        let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        if ["etc", "proc", "sys", "dev"]
            .iter()
            .any(|p| name.split('/').next() == Some(*p))
        {
            continue;
        }
        let mut h = e.header().clone();
        if h.entry_type() == tar::EntryType::Symlink {
            let target = e.link_name().expect("link").expect("target").into_owned();
            builder.append_link(&mut h, &name, target).expect("append");
        } else {
            let mut data = Vec::new();
            e.read_to_end(&mut data).expect("read");
            builder
                .append_data(&mut h, &name, &data[..])
                .expect("append");
        }
    }
    builder.finish().expect("finish");
    drop(builder);
    d.ok(&["import", slim.to_str().expect("utf8"), "slim:1"]);
    d.ok(&["run", "--name", "d4", "slim:1", "/bin/true"]);
    assert_eq!(d.ok(&["diff", "d4"]), "");
    d.ok(&["commit", "d4", "slim:2"]);
    assert_eq!(
        image_layers(&d, "slim:2").len(),
        1,
        "an unchanged container commits no layer"
    );

    // A container that never ran has no changes.
    d.ok(&["create", "--name", "d3", "busybox", "true"]);
    assert_eq!(d.ok(&["diff", "d3"]), "");
    let (status, v) = d.api_json("GET", "/containers/nope/changes");
    assert_eq!(status, 404, "{v}");
    assert_eq!(v["message"], "No such container: nope");
}

#[test]
fn export_streams_the_container_root() {
    let Some(d) = busybox_daemon() else { return };
    let _clean = Cleanup(&d);
    d.ok(&[
        "run",
        "--name",
        "e1",
        "busybox",
        "sh",
        "-c",
        "echo exported > /hello; rm /etc/group; ln -s /hello /link",
    ]);
    let mounts = overlay_mounts_under(&d.root);
    let file = d.dir.path().join("e1.tar");
    d.ok(&["export", "-o", file.to_str().expect("utf8"), "e1"]);
    // The stopped container's rootfs was mounted for the export only.
    assert_eq!(overlay_mounts_under(&d.root), mounts);
    let entries = tar_entries(&std::fs::read(&file).expect("read export"));
    assert_eq!(
        entries.get("hello"),
        Some(&(tar::EntryType::Regular, b"exported\n".to_vec()))
    );
    assert!(entries.contains_key("bin/busybox"), "{:?}", entries.keys());
    assert!(entries.contains_key("etc/"));
    assert!(
        !entries.contains_key("etc/group"),
        "deleted files are not exported"
    );
    assert_eq!(entries["link"].0, tar::EntryType::Symlink);
    assert!(entries
        .keys()
        .all(|k| !k.starts_with('/') && !k.starts_with("./")));

    // A running container exports to stdout.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "e2",
        "busybox",
        "sh",
        "-c",
        "echo running > /run.txt; exec sleep 300",
    ]);
    wait_for_change(&d, "e2", "A /run.txt");
    let out = d.cli(&["export", "e2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let entries = tar_entries(&out.stdout);
    assert_eq!(entries["run.txt"].1, b"running\n");
    // Only the overlay: the container's /proc is an empty directory in the export.
    assert!(entries.contains_key("proc/"));
    assert!(!entries
        .keys()
        .any(|k| k.starts_with("proc/") && k != "proc/"));
    let err = d.fails(&["export", "nope"]);
    assert!(err.contains("No such container: nope"), "{err}");
}

#[test]
fn cp_copies_both_ways() {
    let Some(d) = busybox_daemon() else { return };
    let _clean = Cleanup(&d);
    let host = tempfile::tempdir().expect("tempdir");
    let h = |p: &str| host.path().join(p);
    std::fs::create_dir_all(h("src/dir/sub")).expect("mkdir");
    std::fs::write(h("src/file.txt"), "file content\n").expect("write");
    std::fs::write(h("src/dir/a"), "alpha\n").expect("write");
    std::fs::write(h("src/dir/sub/b"), "beta\n").expect("write");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(h("src/file.txt"), std::fs::Permissions::from_mode(0o640))
            .expect("chmod");
    }
    std::fs::create_dir_all(h("out")).expect("mkdir");
    let s = |p: PathBuf| p.to_str().expect("utf8").to_string();

    d.ok(&["run", "-d", "--name", "cp1", "busybox", "sleep", "300"]);
    // Host → container: a file into a directory, a directory under a new name.
    d.ok(&["cp", &s(h("src/file.txt")), "cp1:/tmp/"]);
    d.ok(&["cp", &s(h("src/dir")), "cp1:/tmp/newdir"]);
    let (status, stat) = path_stat(&d, "cp1", "/tmp/file.txt");
    assert_eq!(status, 200);
    assert_eq!(stat["name"], "file.txt");
    assert_eq!(stat["size"], 13);
    assert_eq!(stat["mode"], 0o640);
    let (_, stat) = path_stat(&d, "cp1", "/tmp/newdir");
    assert_eq!(stat["mode"].as_u64().unwrap_or(0) & (1 << 31), 1 << 31);
    // Container → host, and back to compare.
    d.ok(&["cp", "cp1:/tmp/file.txt", &s(h("out/file.back"))]);
    assert_eq!(
        std::fs::read_to_string(h("out/file.back")).ok().as_deref(),
        Some("file content\n")
    );
    d.ok(&["cp", "cp1:/tmp/newdir", &s(h("out/dir.back"))]);
    assert_eq!(
        std::fs::read_to_string(h("out/dir.back/sub/b"))
            .ok()
            .as_deref(),
        Some("beta\n")
    );
    assert_eq!(
        std::fs::read_to_string(h("out/dir.back/a")).ok().as_deref(),
        Some("alpha\n")
    );
    // A directory's contents (`/.`) into an existing directory.
    std::fs::create_dir_all(h("out/contents")).expect("mkdir");
    d.ok(&["cp", "cp1:/tmp/newdir/.", &s(h("out/contents"))]);
    assert!(h("out/contents/sub/b").is_file());
    // The container's own view: the bind-mounted hostname, as a tar on stdout.
    let out = d.cli(&["cp", "cp1:/etc/hostname", "-"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let entries = tar_entries(&out.stdout);
    let id = d.ok(&["inspect", "--format", "{{.Id}}", "cp1"]);
    assert_eq!(
        String::from_utf8_lossy(&entries["hostname"].1).trim(),
        &id.trim()[..12]
    );
    // A tar on stdin into a directory.
    let input = raw_tar(&[("fromstdin.txt", tar::EntryType::Regular, "streamed\n")]);
    let out = cli_stdin(&d, &["cp", "-", "cp1:/tmp"], &input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = d.cli(&["cp", "cp1:/tmp/fromstdin.txt", "-"]);
    assert_eq!(tar_entries(&out.stdout)["fromstdin.txt"].1, b"streamed\n");
    assert_eq!(
        diff(&d, "cp1"),
        [
            "C /tmp",
            "A /tmp/file.txt",
            "A /tmp/fromstdin.txt",
            "A /tmp/newdir",
            "A /tmp/newdir/a",
            "A /tmp/newdir/sub",
            "A /tmp/newdir/sub/b",
        ]
    );

    // Docker's errors.
    let err = d.fails(&["cp", "cp1:/nope", &s(h("out/x"))]);
    assert!(err.contains("No such container:path: cp1:/nope"), "{err}");
    let (status, _, body) = d.http("GET", "/containers/cp1/archive?path=/nope", b"");
    assert_eq!(status, 404);
    assert_eq!(
        message(&body),
        "Could not find the file /nope in container cp1"
    );
    let (status, _, body) = d.http("GET", "/containers/cp1/archive?path=", b"");
    assert_eq!(
        (status, message(&body).as_str()),
        (400, "must specify path parameter")
    );
    let (status, _, body) = d.http("PUT", "/containers/cp1/archive?path=/tmp/file.txt", &input);
    assert_eq!(status, 400);
    assert_eq!(message(&body), "extraction point is not a directory");
    let (status, _, body) = d.http("PUT", "/containers/cp1/archive?path=/no/such/dir", &input);
    assert_eq!(status, 404);
    assert_eq!(
        message(&body),
        "Could not find the file /no/such/dir in container cp1"
    );
    let dir_over_file = raw_tar(&[("file.txt/", tar::EntryType::Directory, "")]);
    let (status, _, body) = d.http(
        "PUT",
        "/containers/cp1/archive?path=/tmp&noOverwriteDirNonDir=true",
        &dir_over_file,
    );
    assert_eq!(status, 400);
    assert_eq!(
        message(&body),
        "cannot overwrite non-directory \"/tmp/file.txt\" with directory \"/tmp\""
    );

    // Ownership: the archive's ids, or with `-a` the container user's.
    d.ok(&[
        "run", "-d", "--name", "cp3", "--user", "65534", "busybox", "sleep", "300",
    ]);
    d.ok(&["cp", &s(h("src/file.txt")), "cp3:/tmp/plain.txt"]);
    d.ok(&["cp", "-a", &s(h("src/file.txt")), "cp3:/tmp/owned.txt"]);
    let (_, _, body) = d.http("GET", "/containers/cp3/archive?path=/tmp", b"");
    let mut ar = tar::Archive::new(&body[..]);
    let mut owners = BTreeMap::new();
    for e in ar.entries().expect("tar") {
        let e = e.expect("entry");
        let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        owners.insert(
            name,
            (e.header().uid().unwrap_or(9), e.header().gid().unwrap_or(9)),
        );
    }
    assert_eq!(owners.get("tmp/plain.txt"), Some(&(0, 0)), "{owners:?}");
    assert_eq!(
        owners.get("tmp/owned.txt"),
        Some(&(65534, 65534)),
        "{owners:?}"
    );

    // A stopped container: its rootfs is mounted for the copy and unmounted after.
    d.ok(&["create", "--name", "cp2", "busybox", "cat", "/copied.txt"]);
    let mounts = overlay_mounts_under(&d.root);
    d.ok(&["cp", &s(h("src/file.txt")), "cp2:/copied.txt"]);
    assert_eq!(overlay_mounts_under(&d.root), mounts);
    assert_eq!(d.ok(&["start", "-a", "cp2"]), "file content\n");
    d.ok(&["cp", "cp2:/copied.txt", &s(h("out/from-stopped"))]);
    assert_eq!(
        std::fs::read_to_string(h("out/from-stopped"))
            .ok()
            .as_deref(),
        Some("file content\n")
    );
    assert_eq!(overlay_mounts_under(&d.root), mounts);
}

#[test]
fn cp_reaches_volumes_of_running_and_stopped_containers() {
    let Some(d) = busybox_daemon() else { return };
    let _clean = Cleanup(&d);
    let host = tempfile::tempdir().expect("tempdir");
    let file = host.path().join("v.txt");
    std::fs::write(&file, "in the volume\n").expect("write");
    let file = file.to_str().expect("utf8");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "v1",
        "-v",
        "fsvol:/data",
        "-v",
        "fsro:/ro:ro",
        "busybox",
        "sleep",
        "300",
    ]);
    // Running: the copy lands in the volume, not in the container's own layer.
    d.ok(&["cp", file, "v1:/data/"]);
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "-v",
            "fsvol:/data",
            "busybox",
            "cat",
            "/data/v.txt"
        ]),
        "in the volume\n"
    );
    assert!(!diff(&d, "v1").iter().any(|l| l.contains("v.txt")));
    let input = raw_tar(&[("x", tar::EntryType::Regular, "x")]);
    let (status, _, body) = d.http("PUT", "/containers/v1/archive?path=/ro", &input);
    assert_eq!(status, 400);
    assert_eq!(message(&body), "mounted volume is marked read-only");
    // Stopped: the volumes are mounted for the call, where the container would see them.
    d.ok(&["stop", "-t", "0", "v1"]);
    let mounts = overlay_mounts_under(&d.root);
    let out = d.cli(&["cp", "v1:/data/v.txt", "-"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(tar_entries(&out.stdout)["v.txt"].1, b"in the volume\n");
    let input = raw_tar(&[("stopped.txt", tar::EntryType::Regular, "while stopped\n")]);
    let (status, _, body) = d.http("PUT", "/containers/v1/archive?path=/data", &input);
    assert_eq!(status, 200, "{}", message(&body));
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "-v",
            "fsvol:/data",
            "busybox",
            "cat",
            "/data/stopped.txt"
        ]),
        "while stopped\n"
    );
    let (status, _, body) = d.http("PUT", "/containers/v1/archive?path=/ro", &input);
    assert_eq!(status, 400);
    assert_eq!(message(&body), "mounted volume is marked read-only");
    // Nothing of it is left mounted.
    assert_eq!(overlay_mounts_under(&d.root), mounts);
    let volumes = d.root.join("volumes").display().to_string();
    assert!(!std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .contains(&volumes));
}

#[test]
fn archives_and_symlinks_cannot_leave_the_container() {
    let Some(d) = busybox_daemon() else { return };
    let _clean = Cleanup(&d);
    // A host directory the container plants a symlink to, and names no host path may get.
    let host = tempfile::tempdir().expect("tempdir");
    std::fs::write(host.path().join("secret"), "host secret\n").expect("write");
    let (n1, n2, n3, n4) = (
        unique("berth-escape"),
        unique("berth-escape"),
        unique("berth-escape"),
        unique("berth-escape"),
    );
    let script = format!(
        "ln -s ../../../../../../../../ /tmp/up; ln -s {} /tmp/hostdir; exec sleep 300",
        host.path().display()
    );
    d.ok(&["run", "-d", "--name", "h1", "busybox", "sh", "-c", &script]);
    wait_for_change(&d, "h1", "A /tmp/up");
    let id = d
        .ok(&["inspect", "--format", "{{.Id}}", "h1"])
        .trim()
        .to_string();
    let cdir = d.root.join("containers").join(&id);
    let escaped = |n: &str| {
        [
            PathBuf::from("/").join(n),
            PathBuf::from("/tmp").join(n),
            cdir.join(n),
            d.root.join(n),
        ]
        .into_iter()
        .any(|p| p.exists())
    };

    // Names that climb out are refused.
    let evil = raw_tar(&[(&format!("../../../../{n1}"), tar::EntryType::Regular, "x")]);
    let (status, _, body) = d.http("PUT", "/containers/h1/archive?path=/tmp", &evil);
    assert_eq!(status, 400, "{}", message(&body));
    assert!(
        message(&body).contains("is outside of \"/tmp\""),
        "{}",
        message(&body)
    );
    // So are symlinks whose relative target climbs out, and hardlinks to outside.
    let evil = raw_tar(&[
        ("up2", tar::EntryType::Symlink, "../../../../../../"),
        (&format!("up2/{n1}"), tar::EntryType::Regular, "x"),
    ]);
    let (status, _, body) = d.http("PUT", "/containers/h1/archive?path=/tmp", &evil);
    assert_eq!(status, 400);
    assert_eq!(
        message(&body),
        "invalid symlink \"/tmp/up2\" -> \"../../../../../../\""
    );
    let evil = raw_tar(&[("hl", tar::EntryType::Link, "../../../../etc/passwd")]);
    let (status, _, body) = d.http("PUT", "/containers/h1/archive?path=/tmp", &evil);
    assert_eq!(status, 400, "{}", message(&body));
    assert!(
        message(&body).starts_with("invalid hardlink"),
        "{}",
        message(&body)
    );
    // An absolute symlink to `/` is the container's root: writing through it stays inside.
    let through_root = raw_tar(&[
        ("rootlink", tar::EntryType::Symlink, "/"),
        (
            &format!("rootlink/{n2}"),
            tar::EntryType::Regular,
            "inside\n",
        ),
    ]);
    let (status, _, body) = d.http("PUT", "/containers/h1/archive?path=/tmp", &through_root);
    assert_eq!(status, 200, "{}", message(&body));
    assert_eq!(path_stat(&d, "h1", &format!("/{n2}")).0, 200);
    // Symlinks the container planted resolve inside it too, for writes and reads.
    let plain = raw_tar(&[(n3.as_str(), tar::EntryType::Regular, "up\n")]);
    let (status, _, body) = d.http("PUT", "/containers/h1/archive?path=/tmp/up/", &plain);
    assert_eq!(status, 200, "{}", message(&body));
    assert_eq!(path_stat(&d, "h1", &format!("/{n3}")).0, 200);
    let (status, stat) = path_stat(&d, "h1", "/tmp/up");
    assert_eq!((status, stat["linkTarget"].as_str()), (200, Some("/")));
    let (status, _, body) = d.http(
        "GET",
        "/containers/h1/archive?path=/tmp/hostdir/secret",
        b"",
    );
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
    let (status, _, body) = d.http("GET", "/containers/h1/archive?path=/tmp/hostdir/", b"");
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
    let (status, _, body) = d.http("GET", "/containers/h1/archive?path=/tmp/up/etc/passwd", b"");
    assert_eq!(status, 200);
    let passwd = tar_entries(&body);
    assert!(!String::from_utf8_lossy(&passwd["passwd"].1).contains("host secret"));
    // The container's /proc magic links lead to other roots: refused.
    let (status, _, _) = d.http(
        "GET",
        "/containers/h1/archive?path=/proc/1/root/etc/hostname",
        b"",
    );
    assert_ne!(status, 200);

    // The same through a stopped container's temporarily mounted rootfs.
    d.ok(&["stop", "-t", "0", "h1"]);
    let plain = raw_tar(&[(n4.as_str(), tar::EntryType::Regular, "stopped\n")]);
    let (status, _, body) = d.http("PUT", "/containers/h1/archive?path=/tmp/up/", &plain);
    assert_eq!(status, 200, "{}", message(&body));
    assert_eq!(path_stat(&d, "h1", &format!("/{n4}")).0, 200);
    let (status, _, _) = d.http(
        "GET",
        "/containers/h1/archive?path=/tmp/hostdir/secret",
        b"",
    );
    assert_eq!(status, 404);
    for n in [&n1, &n2, &n3, &n4] {
        assert!(!escaped(n), "{n} escaped the container");
    }
    assert!(diff(&d, "h1").contains(&format!("A /{n4}")));
}

fn image_layers(d: &Daemon, image: &str) -> Vec<String> {
    let (status, v) = d.api_json("GET", &format!("/images/{image}/json"));
    assert_eq!(status, 200, "{v}");
    v["RootFS"]["Layers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| l.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn commit_makes_runnable_images() {
    let Some(d) = busybox_daemon() else { return };
    let _clean = Cleanup(&d);
    let base_layers = image_layers(&d, "busybox");
    d.ok(&[
        "run",
        "--name",
        "m1",
        "busybox",
        "sh",
        "-c",
        "echo committed > /file; rm /etc/group; mkdir /data; echo a > /data/a; echo b > /data/b",
    ]);
    let id = d.ok(&[
        "commit",
        "-m",
        "first commit",
        "-a",
        "Tester <t@example.com>",
        "-c",
        "CMD [\"cat\", \"/file\"]",
        "m1",
        "committed:v1",
    ]);
    let id = id.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    assert_eq!(d.ok(&["run", "--rm", "committed:v1"]), "committed\n");
    assert_eq!(
        d.ok(&["run", "--rm", "committed:v1", "cat", "/data/b"]),
        "b\n"
    );
    // Deleted stays deleted.
    let out = d.cli(&["run", "--rm", "committed:v1", "ls", "/etc/group"]);
    assert!(!out.status.success());
    // The runtime's placeholders are not part of the layer: the image's own files are back.
    assert_eq!(
        d.ok(&["run", "--rm", "committed:v1", "ls", "/etc"]),
        "hostname\nhosts\npasswd\nresolv.conf\n"
    );

    let (_, v) = d.api_json("GET", "/images/committed:v1/json");
    assert_eq!(v["Id"], id);
    assert_eq!(v["Config"]["Cmd"], serde_json::json!(["cat", "/file"]));
    assert_eq!(v["Author"], "Tester <t@example.com>");
    let (_, busybox) = d.api_json("GET", "/images/busybox/json");
    assert_eq!(v["Parent"], busybox["Id"]);
    let layers = image_layers(&d, "committed:v1");
    assert_eq!(layers.len(), base_layers.len() + 1);
    assert_eq!(layers[..base_layers.len()], base_layers[..]);
    let (_, history) = d.api_json("GET", "/images/committed:v1/history");
    assert_eq!(history[0]["Id"], id);
    assert_eq!(history[0]["Comment"], "first commit");
    assert!(history[0]["CreatedBy"]
        .as_str()
        .unwrap_or("")
        .starts_with("sh -c echo committed > /file"));
    assert_eq!(history[0]["Tags"], serde_json::json!(["committed:v1"]));
    let shown = d.ok(&["history", "committed:v1"]);
    assert!(
        shown.lines().nth(1).unwrap_or("").contains("first commit"),
        "{shown}"
    );

    // The committed layer's tar: whiteouts for deletions, no placeholders.
    let (_, _, saved) = d.http("GET", "/images/committed:v1/get", b"");
    let saved = tar_entries(&saved);
    let top = layers.last().expect("layer");
    let (_, layer_tar) = saved
        .iter()
        .find(|(_, (_, data))| sha256(data) == *top)
        .expect("committed layer in the saved archive");
    let entries = tar_entries(&layer_tar.1);
    let names: Vec<&str> = entries.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        ["data/", "data/a", "data/b", "etc/", "etc/.wh.group", "file"],
        "{names:?}"
    );

    // On top of the committed image: an opaque directory replaces /data.
    d.ok(&[
        "run",
        "--name",
        "m2",
        "committed:v1",
        "sh",
        "-c",
        "rm -rf /data && mkdir /data && echo c > /data/c",
    ]);
    assert_eq!(
        diff(&d, "m2"),
        ["C /data", "A /data/c", "D /data/a", "D /data/b"]
    );
    d.ok(&["commit", "-c", "ENV FOO=bar", "m2", "committed:v2"]);
    assert_eq!(d.ok(&["run", "--rm", "committed:v2", "ls", "/data"]), "c\n");
    assert_eq!(
        d.ok(&["run", "--rm", "committed:v2", "sh", "-c", "echo $FOO"]),
        "bar\n"
    );
    assert_eq!(
        image_layers(&d, "committed:v2").len(),
        base_layers.len() + 2
    );

    // Nothing changed: no new layer, an empty-layer history entry.
    d.ok(&["run", "--name", "m3", "committed:v2", "true"]);
    d.ok(&["commit", "m3", "committed:v3"]);
    assert_eq!(
        image_layers(&d, "committed:v3").len(),
        base_layers.len() + 2
    );
    let (_, history) = d.api_json("GET", "/images/committed:v3/history");
    assert_eq!(history[0]["Size"], 0);
    assert_eq!(history[0]["CreatedBy"], "true");

    // A running container is paused for the commit and runs on after it.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "m4",
        "busybox",
        "sh",
        "-c",
        "echo live > /live; exec sleep 300",
    ]);
    wait_for_change(&d, "m4", "A /live");
    d.ok(&["commit", "m4", "committed:live"]);
    let (_, v) = d.api_json("GET", "/containers/m4/json");
    assert_eq!(v["State"]["Running"], true);
    assert_eq!(v["State"]["Paused"], false);
    assert_eq!(
        d.ok(&["run", "--rm", "committed:live", "cat", "/live"]),
        "live\n"
    );

    // Errors.
    let err = d.fails(&["commit", "nope", "x:1"]);
    assert!(err.contains("No such container: nope"), "{err}");
    let (status, _, body) = d.http("POST", "/commit?container=m1&repo=Bad%20Name", b"");
    assert_eq!(status, 400, "{}", message(&body));
    let (status, _, body) = d.http("POST", "/commit?container=m1&changes=BOGUS%20x", b"");
    assert_eq!(status, 400, "{}", message(&body));
}

#[test]
fn docker_cli_cp_diff_export_commit() {
    let clients: Vec<&str> = ["/usr/local/bin/docker", "/usr/bin/docker"]
        .into_iter()
        .filter(|p| Path::new(p).exists())
        .collect();
    if clients.is_empty() {
        eprintln!("skipped: no docker CLI installed");
        return;
    }
    let Some(d) = busybox_daemon() else { return };
    let _clean = Cleanup(&d);
    let config = tempfile::tempdir().expect("tempdir");
    let host = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(host.path().join("dir")).expect("mkdir");
    std::fs::write(host.path().join("dir/f"), "from docker\n").expect("write");
    let src = host.path().join("dir");
    for (i, docker) in clients.into_iter().enumerate() {
        let run = |args: &[&str]| -> Output {
            Command::new(docker)
                .env("DOCKER_HOST", d.host())
                .env("DOCKER_CONFIG", config.path())
                .env_remove("DOCKER_CONTEXT")
                .env_remove("DOCKER_API_VERSION")
                .args(args)
                .output()
                .expect("run docker")
        };
        let ok = |args: &[&str]| -> Vec<u8> {
            let out = run(args);
            assert!(
                out.status.success(),
                "{docker} {args:?}: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                d.log()
            );
            out.stdout
        };
        let name = format!("k{i}");
        let back = host.path().join(format!("back{i}"));
        let back = back.to_str().expect("utf8");
        d.ok(&["run", "-d", "--name", &name, "busybox", "sleep", "300"]);
        ok(&[
            "cp",
            src.to_str().expect("utf8"),
            &format!("{name}:/copied"),
        ]);
        ok(&["cp", &format!("{name}:/copied"), back]);
        assert_eq!(
            std::fs::read_to_string(Path::new(back).join("f"))
                .ok()
                .as_deref(),
            Some("from docker\n")
        );
        let changes = String::from_utf8_lossy(&ok(&["diff", &name])).into_owned();
        assert_eq!(lines(&changes), ["A /copied", "A /copied/f"], "{docker}");
        let exported = ok(&["export", &name]);
        assert_eq!(tar_entries(&exported)["copied/f"].1, b"from docker\n");
        let out = run(&["cp", &format!("{name}:/missing"), back]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        // The daemon's 404 text, or the 20.10 client's own wording of a 404.
        assert!(
            err.contains(&format!(
                "Could not find the file /missing in container {name}"
            )) || err.contains(&format!("No such container:path: {name}:/missing")),
            "{docker}: {err}"
        );
        let image = format!("fromdocker:{i}");
        ok(&[
            "commit",
            "--change",
            "CMD [\"cat\", \"/copied/f\"]",
            &name,
            &image,
        ]);
        assert_eq!(d.ok(&["run", "--rm", &image]), "from docker\n");
    }
}
