//! Shared fixtures for the end-to-end tests: a real `berth daemon` process on a temp root and
//! socket, the `berth` CLI pointed at it, and image archives built in memory.
#![allow(dead_code)]

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

pub const BIN: &str = env!("CARGO_BIN_EXE_berth");

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub exec_root: PathBuf,
    pub socket: PathBuf,
    child: Option<Child>,
    extra_args: Vec<String>,
    /// The network namespace that plays the host for the daemon's containers (one of its own,
    /// pinned in `dir`, given as `--network-namespace`), or `None` for the host's.
    pub netns: Option<PathBuf>,
}

impl Daemon {
    pub fn start() -> Daemon {
        Daemon::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Daemon {
        Daemon::start_in(extra, true)
    }

    /// A daemon whose containers' network is the machine's own (bridges, routes and firewall
    /// rules it makes are the machine's; `Drop` removes them).
    pub fn start_host_netns(extra: &[&str]) -> Daemon {
        Daemon::start_in(extra, false)
    }

    fn start_in(extra: &[&str], own_netns: bool) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("berth-e2e-")
            .tempdir()
            .expect("tempdir");
        let root = dir.path().join("root");
        let exec_root = dir.path().join("run");
        let socket = exec_root.join("berth.sock");
        let mut d = Daemon {
            dir,
            root,
            exec_root,
            socket,
            child: None,
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
            netns: None,
        };
        if own_netns {
            // Each daemon's containers get a network namespace of their own as their "host":
            // bridges, addresses and firewall rules never meet the machine's or another test's,
            // and they vanish with it. The daemon itself (API socket, registries) stays in the
            // machine's namespace.
            let ns = d.dir.path().join("netns");
            std::fs::File::create(&ns).expect("netns file");
            let made = Command::new("unshare")
                .arg(format!("--net={}", ns.display()))
                .arg("true")
                .status()
                .expect("unshare");
            assert!(made.success(), "unshare --net failed");
            let lo = Command::new("nsenter")
                .arg(format!("--net={}", ns.display()))
                .args(["ip", "link", "set", "lo", "up"])
                .status()
                .expect("nsenter");
            assert!(lo.success(), "loopback up in the test namespace");
            d.netns = Some(ns);
        }
        d.spawn();
        d
    }

    /// A command run in the network namespace the daemon's containers see as the host.
    pub fn host_cmd(&self, program: &str) -> Command {
        match &self.netns {
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net={}", ns.display()))
                    .arg("--")
                    .arg(program);
                c
            }
            None => Command::new(program),
        }
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    pub fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("daemon.log")).expect("log file");
        let mut cmd = Command::new(BIN);
        if let Some(ns) = &self.netns {
            cmd.arg("daemon").arg("--network-namespace").arg(ns);
        } else {
            cmd.arg("daemon");
        }
        let child = cmd
            .arg("--root")
            .arg(&self.root)
            .arg("--exec-root")
            .arg(&self.exec_root)
            .arg("-H")
            .arg(self.host())
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn berth daemon");
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    panic!("daemon exited early ({status}): {}", self.log());
                }
            }
            if UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("daemon did not come up: {}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).expect("daemon running")
    }

    /// SIGKILL the daemon process (no cleanup runs).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait; returns the exit status.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        // SAFETY: kill(2) on the pid of a child this fixture spawned and has not reaped.
        unsafe {
            libc::kill(c.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(s)) = c.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        c.wait().ok()
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Run the CLI against this daemon.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("-H")
            .arg(self.host())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run berth")
    }

    /// Run the CLI and require success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "berth {args:?} failed ({}):\nstdout: {}\nstderr: {}\ndaemon log: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run the CLI and require failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            !out.status.success(),
            "berth {args:?} unexpectedly succeeded: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// A raw HTTP/1.1 request over the socket; returns (status, headers, body).
    pub fn http(&self, method: &str, path: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
        http_unix(&self.socket, method, path, body)
    }

    pub fn api_json(&self, method: &str, path: &str) -> (u16, Value) {
        let (status, _, body) = self.http(method, path, b"");
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    pub fn load_bytes(&self, tar: &[u8]) -> Output {
        let file = self.dir.path().join(format!("load-{}.tar", rand_suffix()));
        std::fs::write(&file, tar).expect("write tar");
        let out = self.cli(&["load", "-i", file.to_str().expect("utf8")]);
        let _ = std::fs::remove_file(&file);
        out
    }

    pub fn image_root(&self) -> PathBuf {
        self.root.join("image")
    }

    /// Regular files under `blobs/sha256`.
    pub fn blob_count(&self) -> usize {
        count_entries(&self.image_root().join("blobs/sha256"))
    }

    pub fn layer_count(&self) -> usize {
        count_entries(&self.image_root().join("layers"))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Containers outlive their daemon by design: a test that ends (or fails) with running
        // containers must not leave them, their mounts or cgroups on the machine.
        if self.child.is_some() {
            let nets = try_request(&self.socket, "GET", "/networks");
            let list = try_request(&self.socket, "GET", "/containers/json?all=1");
            let list: Value = list
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or(Value::Null);
            for c in list.as_array().into_iter().flatten() {
                if let Some(id) = c["Id"].as_str() {
                    try_request(
                        &self.socket,
                        "DELETE",
                        &format!("/containers/{id}?force=1&v=1"),
                    );
                }
            }
            if self.netns.is_none() {
                // In the host's namespace: the networks' bridges and rules are the host's.
                let nets: Value = nets
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .unwrap_or(Value::Null);
                for n in nets.as_array().into_iter().flatten() {
                    if let Some(id) = n["Id"].as_str() {
                        try_request(&self.socket, "DELETE", &format!("/networks/{id}"));
                    }
                }
            }
        }
        self.stop();
        if self.netns.is_none() {
            host_network_cleanup();
        }
        let prefix = format!("{}/", self.dir.path().display());
        let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
            .filter(|m| m.starts_with(&prefix))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

/// Removes what a host-namespace daemon leaves in the host's network: the default bridge and
/// berth's firewall chains.
fn host_network_cleanup() {
    let run = |args: &[&str]| {
        let _ = Command::new(args[0])
            .args(&args[1..])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    };
    run(&["ip", "link", "del", "berth0"]);
    for (table, chain, rule) in [
        ("filter", "FORWARD", "-j BERTH-FORWARD"),
        ("nat", "POSTROUTING", "-j BERTH-POSTROUTING"),
        (
            "nat",
            "PREROUTING",
            "-m addrtype --dst-type LOCAL -j BERTH-DNAT",
        ),
        (
            "nat",
            "OUTPUT",
            "-m addrtype --dst-type LOCAL -j BERTH-DNAT",
        ),
    ] {
        let mut args = vec!["iptables", "-w", "-t", table, "-D", chain];
        args.extend(rule.split(' '));
        run(&args);
    }
    for (table, chain) in [
        ("filter", "BERTH-FORWARD"),
        ("nat", "BERTH-POSTROUTING"),
        ("nat", "BERTH-DNAT"),
    ] {
        run(&["iptables", "-w", "-t", table, "-F", chain]);
        run(&["iptables", "-w", "-t", table, "-X", chain]);
    }
}

/// A request that never panics (for clean-up in `Drop`): the response body, if any.
fn try_request(socket: &Path, method: &str, path: &str) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut s = UnixStream::connect(socket).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let req = format!("{method} {path} HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let pos = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..pos]).to_ascii_lowercase();
    let body = raw[pos + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        // Unchunk: size line, data, CRLF, until a zero size.
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let nl = rest.windows(2).position(|w| w == b"\r\n")?;
            let size =
                usize::from_str_radix(String::from_utf8_lossy(&rest[..nl]).trim(), 16).ok()?;
            if size == 0 {
                return Some(out);
            }
            out.extend_from_slice(rest.get(nl + 2..nl + 2 + size)?);
            rest = rest.get(nl + 4 + size..)?;
        }
    }
    Some(body)
}

pub fn count_entries(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

pub fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

pub fn http_unix(socket: &Path, method: &str, path: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    use std::io::Read;
    let mut s = UnixStream::connect(socket).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: berth\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    s.write_all(body).expect("write body");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (status, head, body)
}

pub fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[eol + 2 + n + 2..];
    }
    out
}

/// One file in a generated layer.
#[derive(Clone)]
pub enum Entry {
    File(&'static str, Vec<u8>, u32),
    Dir(&'static str),
    Symlink(&'static str, &'static str),
    Hardlink(&'static str, &'static str),
}

pub fn layer_tar(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        match e {
            Entry::File(p, data, mode) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, p, &data[..]).expect("append");
            }
            Entry::Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, p, &[][..]).expect("append");
            }
            Entry::Symlink(p, t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, p, t).expect("append");
            }
            Entry::Hardlink(p, t) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o644);
                h.set_size(0);
                b.append_link(&mut h, p, t).expect("append");
            }
        }
    }
    b.into_inner().expect("finish")
}

/// An image to put in an archive: layer tars (uncompressed bytes), tags and config extras.
pub struct TestImage {
    pub layers: Vec<Vec<u8>>,
    pub tags: Vec<String>,
    pub cmd: Vec<String>,
    pub labels: Value,
    pub created: String,
}

impl TestImage {
    pub fn new(layers: Vec<Vec<u8>>, tags: &[&str]) -> TestImage {
        TestImage {
            layers,
            tags: tags.iter().map(|s| s.to_string()).collect(),
            cmd: vec!["sh".into()],
            labels: Value::Null,
            created: "2024-05-01T10:00:00Z".into(),
        }
    }

    pub fn config(&self) -> Vec<u8> {
        let diff_ids: Vec<String> = self.layers.iter().map(|l| sha256(l)).collect();
        let history: Vec<Value> = self
            .layers
            .iter()
            .enumerate()
            .map(|(i, _)| json!({"created": self.created, "created_by": format!("step {i}")}))
            .chain(std::iter::once(
                json!({"created": self.created, "created_by": "CMD [\"sh\"]", "empty_layer": true}),
            ))
            .collect();
        serde_json::to_vec(&json!({
            "architecture": "amd64", "os": "linux", "created": self.created,
            "config": {"Env": ["PATH=/bin"], "Cmd": self.cmd, "Labels": self.labels},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": history,
        }))
        .expect("json")
    }

    pub fn id(&self) -> String {
        sha256(&self.config())
    }
}

fn add_file(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_mtime(0);
    b.append_data(&mut h, path, data).expect("append");
}

/// A legacy docker-archive (`manifest.json`, `<hex>.json`, `<id>/layer.tar`).
pub fn docker_archive(images: &[&TestImage]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut manifest = Vec::new();
    for img in images {
        let config = img.config();
        let cfg_hex = sha256(&config)[7..].to_string();
        let mut layer_paths = Vec::new();
        for l in &img.layers {
            let dir = sha256(l)[7..].to_string();
            let p = format!("{dir}/layer.tar");
            add_file(&mut b, &p, l);
            layer_paths.push(p);
        }
        add_file(&mut b, &format!("{cfg_hex}.json"), &config);
        manifest.push(json!({"Config": format!("{cfg_hex}.json"), "RepoTags": img.tags, "Layers": layer_paths}));
    }
    add_file(
        &mut b,
        "manifest.json",
        &serde_json::to_vec(&manifest).expect("json"),
    );
    b.into_inner().expect("finish")
}

/// An OCI image layout tar (`oci-layout`, `index.json`, `blobs/sha256/*`), layers gzip-compressed.
pub fn oci_archive(img: &TestImage, name: &str) -> Vec<u8> {
    use flate2::write::GzEncoder;
    let mut b = tar::Builder::new(Vec::new());
    let config = img.config();
    let mut layer_descs = Vec::new();
    for l in &img.layers {
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(l).expect("gzip");
        let gz = gz.finish().expect("gzip");
        let d = sha256(&gz);
        add_file(&mut b, &format!("blobs/sha256/{}", &d[7..]), &gz);
        layer_descs.push(json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": gz.len()}));
    }
    let cd = sha256(&config);
    add_file(&mut b, &format!("blobs/sha256/{}", &cd[7..]), &config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
        "layers": layer_descs,
    }))
    .expect("json");
    let md = sha256(&manifest);
    add_file(&mut b, &format!("blobs/sha256/{}", &md[7..]), &manifest);
    add_file(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    let index = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": manifest.len(),
        "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": "latest"}}]});
    add_file(
        &mut b,
        "index.json",
        &serde_json::to_vec(&index).expect("json"),
    );
    b.into_inner().expect("finish")
}

/// A deterministic pseudo-random payload of `n` bytes.
pub fn payload(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Where the project's base-image script puts its tars.
pub fn base_image(name: &str) -> Option<PathBuf> {
    let dir = std::env::var("BERTH_IMAGES_DIR").unwrap_or_else(|_| "/var/lib/berth-images".into());
    let p = Path::new(&dir).join(format!("{name}.tar"));
    p.exists().then_some(p)
}

/// A daemon with the busybox base image loaded, for tests that run containers; `None` (after
/// saying why) when not root or without the image (scripts/make-base-images.sh): the test skips.
pub fn busybox_daemon() -> Option<Daemon> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: running containers needs root");
        return None;
    }
    let Some(tar) = base_image("busybox") else {
        eprintln!("skipped: no busybox base image (run scripts/make-base-images.sh)");
        return None;
    };
    let d = Daemon::start();
    let out = d.cli(&["load", "-i", tar.to_str().expect("utf8")]);
    assert!(
        out.status.success(),
        "load: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(d)
}
