//! Pull and push against a real registry: Debian's distribution registry (`docker-registry`,
//! started here on a free loopback port with a throwaway root, optionally with htpasswd
//! auth), and the peer dockerd when it runs. Skips without root, the busybox image or the
//! registry binary.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::*;

/// A distribution registry on 127.0.0.1:<free port>, stopped (by pid) and removed on drop.
struct Registry {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start(htpasswd: Option<&str>) -> Option<Registry> {
        let bin = ["/usr/bin/docker-registry", "/usr/local/bin/registry"]
            .into_iter()
            .find(|p| Path::new(p).exists())?;
        let port = TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let dir = tempfile::tempdir().ok()?;
        let auth = match htpasswd {
            Some(line) => {
                let f = dir.path().join("htpasswd");
                std::fs::write(&f, format!("{line}\n")).ok()?;
                format!(
                    "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                    f.display()
                )
            }
            None => String::new(),
        };
        let cfg = dir.path().join("config.yml");
        std::fs::write(
            &cfg,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
                dir.path().join("data").display()
            ),
        )
        .ok()?;
        let child = Command::new(bin)
            .arg("serve")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let r = Registry {
            child,
            port,
            _dir: dir,
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(r);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        None
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn push_and_pull_by_layer_with_reuse() {
    let Some(d) = busybox_daemon() else { return };
    let Some(reg) = Registry::start(None) else {
        eprintln!("skipped: no docker-registry binary (apt-get install docker-registry)");
        return;
    };
    let r = reg.addr();
    let bb = format!("{r}/test/bb:1");
    d.ok(&["tag", "busybox", &bb]);
    let out = d.ok(&["push", &bb]);
    assert!(
        out.contains(&format!("The push refers to repository [{r}/test/bb]")),
        "{out}"
    );
    assert!(out.contains("Pushed"), "{out}");
    assert!(out.contains("1: digest: sha256:"), "{out}");
    // Pushed again: every layer is there already.
    let out = d.ok(&["push", &bb]);
    assert!(out.contains("Layer already exists"), "{out}");
    assert!(!out.contains("Pushed"), "{out}");

    // A built image on top of busybox, pushed to another repository: the base layer is
    // mounted from the first one, only the new layer moves.
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN echo built > /built.txt\nCMD cat /built.txt\n",
    )
    .unwrap();
    let app = format!("{r}/test/app:v2");
    d.ok(&["build", "-t", &app, ctx.path().to_str().unwrap()]);
    let out = d.ok(&["push", &app]);
    assert!(out.contains("Mounted from test/bb"), "{out}");
    assert_eq!(out.matches("Pushed").count(), 1, "{out}");

    // Gone locally, pulled back: layers stream in, the image runs, RepoDigests recorded.
    d.ok(&["rmi", &app]);
    d.ok(&["builder", "prune", "-f"]);
    let out = d.ok(&["pull", &app]);
    assert!(out.contains("Pull complete"), "{out}");
    assert!(
        out.contains("Already exists"),
        "the busybox layer is shared: {out}"
    );
    assert!(out.contains("Digest: sha256:"), "{out}");
    assert!(out.trim_end().ends_with(&app), "{out}");
    assert_eq!(d.ok(&["run", "--rm", &app]), "built\n");
    let (_, v) = d.api_json("GET", &format!("/images/{app}/json"));
    let digests = v["RepoDigests"].to_string();
    assert!(
        digests.contains(&format!("{r}/test/app@sha256:")),
        "{digests}"
    );
    // By digest.
    let digest = v["RepoDigests"][0]
        .as_str()
        .unwrap()
        .split('@')
        .nth(1)
        .unwrap()
        .to_string();
    d.ok(&["rmi", "-f", &app]);
    let by_digest = format!("{r}/test/app@{digest}");
    d.ok(&["pull", &by_digest]);
    assert_eq!(d.ok(&["run", "--rm", &by_digest]), "built\n");

    // `run` pulls an image it does not have, as Docker's CLI does.
    d.ok(&["rmi", "-f", &by_digest]);
    d.ok(&["builder", "prune", "-f"]);
    let out = d.cli(&["run", "--rm", &app]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "built\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Unable to find image"));

    // `pull --all-tags`: every tag of the repository (from the registry's tag list).
    let bb2 = format!("{r}/test/bb:2");
    d.ok(&["tag", "busybox", &bb2]);
    d.ok(&["push", &bb2]);
    d.ok(&["rmi", &bb, &bb2]);
    let out = d.ok(&["pull", "--all-tags", &format!("{r}/test/bb")]);
    assert!(!out.contains("Using default tag"), "{out}");
    let tags = d.ok(&["images", "--format", "{{.Tag}}", &format!("{r}/test/bb")]);
    let mut tags: Vec<&str> = tags.lines().collect();
    tags.sort();
    assert_eq!(tags, ["1", "2"], "{out}");
    let err = d.fails(&["pull", "-a", &bb]);
    assert!(
        err.contains("tag can't be used with --all-tags/-a"),
        "{err}"
    );
    let err = d.fails(&["pull", "-a", &format!("{r}/test/nope")]);
    assert!(err.contains("test/nope"), "{err}");

    // Missing things fail with the registry's answer, exit 1.
    let err = d.fails(&["pull", &format!("{r}/test/nope:1")]);
    assert!(err.contains("test/nope"), "{err}");
    let err = d.fails(&["push", &format!("{r}/test/unknown:1")]);
    assert!(err.contains("No such image"), "{err}");
}

#[test]
fn docker_pulls_what_berth_pushed_and_berth_pulls_what_docker_pushed() {
    let Some(d) = busybox_daemon() else { return };
    let docker = ["/usr/bin/docker"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let dockerd_up = docker.is_some_and(|dk| {
        Command::new(dk)
            .args(["-H", "unix:///var/run/docker.sock", "version"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !dockerd_up {
        eprintln!("skipped: the peer dockerd is not running (../shared/peers/setup.sh)");
        return;
    }
    let Some(reg) = Registry::start(None) else {
        eprintln!("skipped: no docker-registry binary");
        return;
    };
    let dk = |args: &[&str]| {
        Command::new("/usr/bin/docker")
            .args(["-H", "unix:///var/run/docker.sock"])
            .args(args)
            .output()
            .expect("docker")
    };
    let r = reg.addr();
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN echo from-berth > /who\nCMD cat /who\n",
    )
    .unwrap();
    let ours = format!("{r}/interop/berth:1");
    d.ok(&["build", "-t", &ours, ctx.path().to_str().unwrap()]);
    d.ok(&["push", &ours]);
    let out = dk(&["pull", &ours]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = dk(&["run", "--rm", &ours]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from-berth\n");
    // The other way: docker tags its busybox:local and pushes it; berth pulls and runs it.
    let theirs = format!("{r}/interop/docker:1");
    assert!(dk(&["tag", "busybox:local", &theirs]).status.success());
    let out = dk(&["push", &theirs]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    d.ok(&["pull", &theirs]);
    assert_eq!(d.ok(&["run", "--rm", &theirs, "echo", "hi"]), "hi\n");
    let _ = dk(&["rmi", "-f", &ours, &theirs]);
}

#[test]
fn login_and_pushes_with_basic_auth() {
    let Some(d) = busybox_daemon() else { return };
    let hash = Command::new("/usr/bin/python3")
        .args([
            "-W",
            "ignore",
            "-c",
            "import crypt; print(crypt.crypt('s3cret', crypt.mksalt(crypt.METHOD_BLOWFISH)))",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let Some(hash) = hash.filter(|h| h.starts_with("$2")) else {
        eprintln!("skipped: no bcrypt (python3 crypt) to make an htpasswd file");
        return;
    };
    let Some(reg) = Registry::start(Some(&format!("tester:{hash}"))) else {
        eprintln!("skipped: no docker-registry binary");
        return;
    };
    let r = reg.addr();
    let home = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["-H", &d.host()])
            .args(args)
            .env("DOCKER_CONFIG", home.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let image = format!("{r}/private/bb:1");
    d.ok(&["tag", "busybox", &image]);
    let out = cli(&["push", &image]);
    assert!(!out.status.success(), "pushed without credentials");
    let out = cli(&["login", "-u", "tester", "-p", "wrong", &r]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("login attempt"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&["login", "-u", "tester", "-p", "s3cret", &r]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Login Succeeded"));
    let cfg = std::fs::read_to_string(home.path().join("config.json")).unwrap();
    assert!(cfg.contains(&r), "{cfg}");
    let out = cli(&["push", &image]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    d.ok(&["rmi", &image]);
    let out = cli(&["pull", &image]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&["logout", &r]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Removing login credentials"));
    d.ok(&["rmi", &image]);
    assert!(
        !cli(&["pull", &image]).status.success(),
        "pulled after logout"
    );
}

#[test]
fn build_pulls_a_missing_base_image() {
    let Some(d) = busybox_daemon() else { return };
    let Some(reg) = Registry::start(None) else {
        eprintln!("skipped: no docker-registry binary");
        return;
    };
    let base = format!("{}/base/bb:1", reg.addr());
    d.ok(&["tag", "busybox", &base]);
    d.ok(&["push", &base]);
    d.ok(&["rmi", &base]);
    d.ok(&["rmi", "busybox"]);
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {base}\nRUN echo ok > /ok\n"),
    )
    .unwrap();
    let out = d.ok(&["build", "-t", "pulled-base:1", ctx.path().to_str().unwrap()]);
    assert!(out.contains("Pull complete"), "{out}");
    assert_eq!(
        d.ok(&["run", "--rm", "pulled-base:1", "cat", "/ok"]),
        "ok\n"
    );
}

/// A registry that misbehaves on purpose, per repository:
/// `ok/*` serves the image right; `wrong/*` serves other bytes for the layer; `cut/*` closes
/// the layer's stream halfway; `junk/*` serves a manifest that is not JSON; `flaky/*` answers
/// the first layer request with 503 and the next ones right.
struct BadRegistry {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl BadRegistry {
    fn start(layer: Vec<u8>, config: Vec<u8>, manifest: Vec<u8>) -> BadRegistry {
        use std::io::{BufRead, BufReader, Write};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        let flaky_hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let layer_digest = sha256(&layer);
        let config_digest = sha256(&config);
        std::thread::spawn(move || {
            while !stop2.load(std::sync::atomic::Ordering::SeqCst) {
                let Ok((mut s, _)) = listener.accept() else {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    continue;
                };
                s.set_nonblocking(false).unwrap();
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                if r.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                        break;
                    }
                }
                let repo = path
                    .trim_start_matches("/v2/")
                    .split('/')
                    .next()
                    .unwrap_or("")
                    .to_string();
                let send = |s: &mut TcpStream, status: &str, ct: &str, body: &[u8], len: usize| {
                    let _ = write!(s, "HTTP/1.1 {status}\r\nContent-Type: {ct}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n");
                    let _ = s.write_all(body);
                };
                if path == "/v2/" {
                    send(&mut s, "200 OK", "application/json", b"{}", 2);
                } else if path.contains("/manifests/") {
                    if repo == "junk" {
                        send(
                            &mut s,
                            "200 OK",
                            "application/vnd.oci.image.manifest.v1+json",
                            b"{not json",
                            9,
                        );
                    } else {
                        send(
                            &mut s,
                            "200 OK",
                            "application/vnd.oci.image.manifest.v1+json",
                            &manifest,
                            manifest.len(),
                        );
                    }
                } else if path.ends_with(&config_digest) {
                    send(
                        &mut s,
                        "200 OK",
                        "application/octet-stream",
                        &config,
                        config.len(),
                    );
                } else if path.ends_with(&layer_digest) {
                    match repo.as_str() {
                        "wrong" => {
                            let mut other = layer.clone();
                            let n = other.len();
                            other[n / 2] ^= 0xff;
                            send(&mut s, "200 OK", "application/octet-stream", &other, n);
                        }
                        "cut" => send(
                            &mut s,
                            "200 OK",
                            "application/octet-stream",
                            &layer[..layer.len() / 2],
                            layer.len(),
                        ),
                        "flaky"
                            if flaky_hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                                == 0 =>
                        {
                            send(&mut s, "503 Service Unavailable", "text/plain", b"busy", 4)
                        }
                        _ => send(
                            &mut s,
                            "200 OK",
                            "application/octet-stream",
                            &layer,
                            layer.len(),
                        ),
                    }
                } else {
                    send(&mut s, "404 Not Found", "application/json", b"{}", 2);
                }
            }
        });
        BadRegistry { port, stop }
    }
}

impl Drop for BadRegistry {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn registry_faults_give_clear_errors_and_store_nothing() {
    let Some(d) = busybox_daemon() else { return };
    let layer = layer_tar(&[
        Entry::Dir("srv"),
        Entry::File("srv/data.bin", payload(7, 300_000), 0o644),
    ]);
    let diff = sha256(&layer);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff]},
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": diff, "size": layer.len()}],
    }))
    .unwrap();
    let bad = BadRegistry::start(layer.clone(), config, manifest);
    let r = format!("127.0.0.1:{}", bad.port);
    let layers_before = d.layer_count();
    for (repo, want) in [("wrong", "digest"), ("cut", ""), ("junk", "does not parse")] {
        let image = format!("{r}/{repo}/img:1");
        let err = d.fails(&["pull", &image]);
        assert!(err.contains(&r), "{repo}: the registry is named: {err}");
        assert!(err.contains(repo), "{repo}: the repository is named: {err}");
        if repo != "junk" {
            assert!(err.contains(&diff), "{repo}: the digest is named: {err}");
        }
        assert!(err.contains(want), "{repo}: {err}");
        assert!(d.cli(&["image", "inspect", &image]).status.code() != Some(0));
        assert_eq!(d.layer_count(), layers_before, "{repo}: a layer was stored");
    }
    // A 503 on the first try: retried, and the pull completes.
    let out = d.ok(&["pull", &format!("{r}/flaky/img:1")]);
    assert!(out.contains("Retrying"), "{out}");
    assert!(out.contains("Pull complete"), "{out}");
    // After the failures, the right image pulls cleanly and runs.
    d.ok(&["pull", &format!("{r}/ok/img:1")]);
    let out = d.ok(&["system", "check"]);
    assert!(!out.to_lowercase().contains("corrupt"), "{out}");
}
