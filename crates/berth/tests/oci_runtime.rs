//! `berth runtime`, the runc-compatible OCI runtime: the lifecycle driven by hand on a busybox
//! bundle (spec, create, start, state, ps, exec, pause, kill, delete, run), and containerd using it
//! through its runc shim (`ctr run --runc-binary`). Needs root and the busybox base image; the
//! containerd test also needs containerd, ctr and containerd-shim-runc-v2. Each skips otherwise.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// The lifecycle test makes this process a child subreaper for a while (to collect the exit
/// status of the container init, as containerd's shim does); the containerd test must not run
/// meanwhile, or its shims would be re-parented to us.
static SERIAL: Mutex<()> = Mutex::new(());

fn busybox_as_root() -> Option<PathBuf> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping: running containers needs root");
        return None;
    }
    let tar = base_image("busybox");
    if tar.is_none() {
        eprintln!("skipping: no busybox base image (run scripts/make-base-images.sh)");
    }
    tar
}

/// Unpacks the layers of a docker-archive tar into `rootfs`.
fn unpack_image(archive: &Path, rootfs: &Path) {
    let mut files: HashMap<String, Vec<u8>> = HashMap::new();
    let mut outer = tar::Archive::new(std::fs::File::open(archive).expect("open image tar"));
    for e in outer.entries().expect("entries") {
        let mut e = e.expect("entry");
        let name = e.path().expect("path").to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).expect("read entry");
        files.insert(name, data);
    }
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).expect("manifest");
    for layer in manifest[0]["Layers"].as_array().expect("layers") {
        let blob = &files[layer.as_str().expect("layer path")];
        let reader: Box<dyn Read> = if blob.starts_with(&[0x1f, 0x8b]) {
            Box::new(flate2::read::GzDecoder::new(&blob[..]))
        } else {
            Box::new(&blob[..])
        };
        let mut a = tar::Archive::new(reader);
        a.set_preserve_permissions(true);
        a.set_preserve_ownerships(true);
        a.unpack(rootfs).expect("unpack layer");
    }
}

fn out_str(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err_str(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs a command with its output captured, killing it after `secs`.
fn run_timeout(cmd: &mut Command, secs: u64) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let pid = child.id() as i32;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(out) => out.expect("wait"),
        Err(_) => {
            // SAFETY: kill(2) on the pid of a child we spawned and the waiter has not reaped.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let out = rx.recv().expect("waiter").expect("wait");
            panic!(
                "{cmd:?} timed out after {secs}s\nstdout: {}\nstderr: {}",
                out_str(&out),
                err_str(&out)
            );
        }
    }
}

/// A bundle with a busybox rootfs and a runtime root, both in one temp dir; containers left
/// behind are force-deleted and their cgroup parent removed on drop.
struct Lab {
    dir: tempfile::TempDir,
    bundle: PathBuf,
    root: PathBuf,
    cgroup_parent: String,
    ids: Vec<String>,
}

impl Lab {
    fn new(image: &Path) -> Lab {
        let dir = tempfile::Builder::new()
            .prefix("berth-oci-")
            .tempdir()
            .expect("tempdir");
        let bundle = dir.path().join("bundle");
        let rootfs = bundle.join("rootfs");
        std::fs::create_dir_all(&rootfs).expect("rootfs dir");
        unpack_image(image, &rootfs);
        Lab {
            root: dir.path().join("state"),
            bundle,
            cgroup_parent: format!("berth-oci-test-{}", std::process::id()),
            ids: Vec::new(),
            dir,
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("runtime").arg("--root").arg(&self.root).args(args);
        c.current_dir(&self.bundle);
        c
    }

    /// Runs `berth runtime ARGS` with captured output (not for commands whose container
    /// inherits stdio and outlives them).
    fn rt(&self, args: &[&str]) -> Output {
        run_timeout(&mut self.cmd(args), 60)
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.rt(args);
        assert!(
            o.status.success(),
            "berth runtime {args:?}: {}\n{}",
            o.status,
            err_str(&o)
        );
        out_str(&o)
    }

    fn fails(&self, args: &[&str]) -> String {
        let o = self.rt(args);
        assert_eq!(
            o.status.code(),
            Some(1),
            "berth runtime {args:?}: {}",
            out_str(&o)
        );
        err_str(&o)
    }

    fn state(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["state", id])).expect("state json")
    }

    /// Rewrites config.json: the process and whether it has a terminal, and a cgroup this test
    /// owns.
    fn configure(&self, id: &str, terminal: bool, args: &[&str]) {
        let path = self.bundle.join("config.json");
        let mut c: Value = serde_json::from_slice(&std::fs::read(&path).expect("config")).unwrap();
        c["process"]["terminal"] = Value::Bool(terminal);
        c["process"]["args"] = serde_json::json!(args);
        c["linux"]["cgroupsPath"] = Value::String(format!("/{}/{id}", self.cgroup_parent));
        std::fs::write(&path, serde_json::to_vec_pretty(&c).unwrap()).expect("write config");
    }

    fn track(&mut self, id: &str) {
        self.ids.push(id.to_string());
    }

    fn cgroup_dirs(&self) -> Vec<PathBuf> {
        std::fs::read_dir("/sys/fs/cgroup")
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path().join(&self.cgroup_parent))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for id in &self.ids {
            let _ = self.cmd(&["delete", "--force", id]).output();
        }
        for d in self.cgroup_dirs() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

fn wait_for_file_text(path: &Path, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.contains(want) || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Makes this process a child subreaper until dropped, so an orphaned container init is re-parented
/// here and its status can be collected with `waitpid`.
struct Subreaper;

impl Subreaper {
    fn set() -> Subreaper {
        // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag; no pointers.
        assert_eq!(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) }, 0);
        Subreaper
    }

    /// Waits for `pid` (which must be our child by now) and returns its raw wait status.
    fn wait(&self, pid: i32) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut status = 0;
            // SAFETY: waitpid writes one int through a pointer to a valid local.
            let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if r == pid {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "pid {pid} did not exit (waitpid {r})"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Subreaper {
    fn drop(&mut self) {
        // SAFETY: as in `set`.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 0) };
    }
}

#[test]
fn lifecycle_by_hand_like_runc() {
    let Some(image) = busybox_as_root() else {
        return;
    };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = Lab::new(&image);

    // `spec` writes runc's template (a terminal shell) once.
    lab.ok(&["spec", "--bundle", lab.bundle.to_str().unwrap()]);
    let spec: Value =
        serde_json::from_slice(&std::fs::read(lab.bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(spec["process"]["terminal"], true);
    assert_eq!(spec["process"]["args"], serde_json::json!(["sh"]));
    assert_eq!(spec["root"]["path"], "rootfs");
    assert!(spec["ociVersion"].as_str().unwrap().starts_with("1."));
    assert!(lab.fails(&["spec"]).contains("exists"));

    // A terminal needs a console socket when detached; nothing is left behind.
    let id = "c1";
    lab.track(id);
    let msg = lab.fails(&["create", id]);
    assert!(msg.contains("console socket"), "{msg}");
    assert!(lab.ok(&["list", "-q"]).trim().is_empty());

    lab.configure(
        id,
        false,
        &[
            "sh",
            "-c",
            "trap 'exit 7' TERM; echo ready; while :; do sleep 0.1; done",
        ],
    );
    let pid_file = lab.dir.path().join("init.pid");
    let output = lab.dir.path().join("c1.out");
    let reaper = Subreaper::set();
    // The container inherits the runtime's stdio and outlives it: give it a file, not a pipe.
    let out_file = std::fs::File::create(&output).unwrap();
    let status = lab
        .cmd(&[
            "create",
            "--bundle",
            lab.bundle.to_str().unwrap(),
            "--pid-file",
            pid_file.to_str().unwrap(),
            id,
        ])
        .stdin(Stdio::null())
        .stdout(out_file.try_clone().unwrap())
        .stderr(out_file)
        .status()
        .expect("create");
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&output).unwrap_or_default()
    );
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .parse()
        .expect("pid file holds a number");

    let st = lab.state(id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], id);
    assert_eq!(st["pid"], pid);
    assert_eq!(
        st["bundle"],
        lab.bundle.canonicalize().unwrap().to_str().unwrap()
    );
    assert_eq!(
        st["rootfs"],
        lab.bundle
            .join("rootfs")
            .canonicalize()
            .unwrap()
            .to_str()
            .unwrap()
    );
    assert!(st["created"].as_str().is_some_and(|c| c.ends_with('Z')));
    assert_eq!(lab.ok(&["list", "-q"]).trim(), id);
    let listed: Value = serde_json::from_str(&lab.ok(&["list", "--format", "json"])).unwrap();
    assert_eq!(listed[0]["status"], "created");
    let msg = lab.fails(&["create", "--bundle", lab.bundle.to_str().unwrap(), id]);
    assert!(msg.contains("exists"), "{msg}");

    lab.ok(&["start", id]);
    assert!(wait_for_file_text(&output, "ready").contains("ready"));
    assert_eq!(lab.state(id)["status"], "running");
    let msg = lab.fails(&["start", id]);
    assert!(msg.contains("already running"), "{msg}");
    let pids: Vec<i32> =
        serde_json::from_str(&lab.ok(&["ps", "--format", "json", id])).expect("ps json");
    assert!(pids.contains(&pid), "{pids:?}");

    // exec: a second process in the container; its exit code is ours.
    let o = lab.rt(&[
        "exec",
        id,
        "sh",
        "-c",
        "echo in-$HOSTNAME; cat /proc/1/cmdline; exit 5",
    ]);
    assert_eq!(o.status.code(), Some(5), "{}", err_str(&o));
    assert!(out_str(&o).contains("trap"), "{}", out_str(&o));

    lab.ok(&["pause", id]);
    assert_eq!(lab.state(id)["status"], "paused");
    assert!(lab.fails(&["pause", id]).contains("not running"));
    lab.ok(&["resume", id]);
    assert_eq!(lab.state(id)["status"], "running");
    assert!(lab.fails(&["resume", id]).contains("not paused"));

    // A running container cannot be deleted without --force.
    assert!(lab.fails(&["delete", id]).contains("not stopped"));

    // kill takes names with and without SIG, and numbers; the trap turns TERM into exit 7.
    assert!(lab.fails(&["kill", id, "NOPE"]).contains("unknown signal"));
    lab.ok(&["kill", id, "TERM"]);
    let raw = reaper.wait(pid);
    assert!(libc::WIFEXITED(raw), "wait status {raw:#x}");
    assert_eq!(libc::WEXITSTATUS(raw), 7);
    drop(reaper);
    let st = lab.state(id);
    assert_eq!(
        (st["status"].as_str(), st["pid"].as_i64()),
        (Some("stopped"), Some(0))
    );
    // What containerd's shim reads as "process already finished".
    assert!(lab
        .fails(&["kill", id, "9"])
        .contains("container not running"));

    lab.ok(&["delete", id]);
    assert!(lab
        .fails(&["state", id])
        .contains("container does not exist"));
    assert!(lab.fails(&["delete", id]).contains("does not exist"));
    lab.ok(&["delete", "--force", id]);
    for d in lab.cgroup_dirs() {
        assert!(!d.join(id).exists(), "{} left behind", d.join(id).display());
    }

    // With --log-format json the error also lands in the log file in runc's (logrus's) shape.
    let log = lab.dir.path().join("log.json");
    let o = lab.rt(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "kill",
        id,
        "KILL",
    ]);
    assert!(!o.status.success());
    let last = std::fs::read_to_string(&log).unwrap();
    let rec: Value = serde_json::from_str(last.lines().last().unwrap()).expect("json record");
    assert_eq!(rec["level"], "error");
    assert_eq!(rec["msg"], "container does not exist");
    assert!(rec["time"].as_str().is_some_and(|t| t.len() >= 20));
}

#[test]
fn run_returns_the_exit_status_and_forwards_signals() {
    let Some(image) = busybox_as_root() else {
        return;
    };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = Lab::new(&image);
    lab.ok(&["spec"]);

    lab.track("r1");
    lab.configure("r1", false, &["sh", "-c", "echo out; echo err >&2; exit 3"]);
    let o = lab.rt(&["run", "r1"]);
    assert_eq!(o.status.code(), Some(3), "{}", err_str(&o));
    assert_eq!(out_str(&o), "out\n");
    assert_eq!(err_str(&o), "err\n");
    // A foreground run deletes the container afterwards.
    assert!(lab.fails(&["state", "r1"]).contains("does not exist"));

    // A terminal without --console-socket: the runtime relays the pty itself.
    lab.track("r2");
    lab.configure("r2", true, &["sh", "-c", "tty; exit 4"]);
    let o = lab.rt(&["run", "r2"]);
    assert_eq!(o.status.code(), Some(4), "{}", err_str(&o));
    assert!(out_str(&o).contains("/dev/pts/"), "{:?}", out_str(&o));

    // Signals sent to the foreground runtime reach the container.
    lab.track("r3");
    lab.configure(
        "r3",
        false,
        &[
            "sh",
            "-c",
            "trap 'exit 9' TERM; echo ready; while :; do sleep 0.1; done",
        ],
    );
    let mut child: Child = lab
        .cmd(&["run", "r3"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn run");
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let ready = rx.recv_timeout(Duration::from_secs(20));
    if ready.as_deref() != Ok("ready") {
        let _ = child.kill();
        panic!("no ready line: {ready:?}");
    }
    assert_eq!(lab.state("r3")["status"], "running");
    // SAFETY: kill(2) on the pid of our unreaped child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("run did not exit after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(9));
    assert!(lab.fails(&["state", "r3"]).contains("does not exist"));
}

fn in_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|f| f.is_file())
    })
}

/// A containerd of our own: its root, state, sockets and runc root in a temp dir, so it shares
/// nothing with a containerd already on the host (dockerd's). Killed (by pid) and cleaned up on
/// drop.
struct Containerd {
    dir: tempfile::TempDir,
    child: Option<Child>,
    socket: PathBuf,
    /// Host directories containerd's shim and ctr create if missing (FIFOs, shim sockets).
    made_run_dirs: Vec<PathBuf>,
}

const NAMESPACE: &str = "berth-test";

impl Containerd {
    fn start() -> Containerd {
        let dir = tempfile::Builder::new()
            .prefix("berth-ctd-")
            .tempdir()
            .expect("tempdir");
        let p = dir.path();
        let socket = p.join("containerd.sock");
        let config = format!(
            r#"version = 2
root = "{root}"
state = "{state}"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[debug]
  address = ""
"#,
            root = p.join("root").display(),
            state = p.join("state").display(),
            sock = socket.display(),
        );
        std::fs::write(p.join("config.toml"), config).expect("config");
        let made_run_dirs = [
            "/run/containerd/fifo",
            "/run/containerd/s",
            "/run/containerd",
        ]
        .iter()
        .map(PathBuf::from)
        .filter(|d| !d.exists())
        .collect();
        let log = std::fs::File::create(p.join("containerd.log")).expect("log");
        let child = Command::new("containerd")
            .arg("--config")
            .arg(p.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn containerd");
        let mut c = Containerd {
            dir,
            child: Some(child),
            socket,
            made_run_dirs,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = c.child.as_mut().and_then(|ch| ch.try_wait().ok().flatten()) {
                panic!("containerd exited early ({s}): {}", c.log());
            }
            if std::os::unix::net::UnixStream::connect(&c.socket).is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "containerd did not come up: {}",
                c.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        c
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    fn ctr(&self, args: &[&str]) -> Output {
        run_timeout(
            Command::new("ctr")
                .arg("--address")
                .arg(&self.socket)
                .arg("--namespace")
                .arg(NAMESPACE)
                .args(args),
            120,
        )
    }

    fn ctr_ok(&self, args: &[&str]) -> String {
        let o = self.ctr(args);
        assert!(
            o.status.success(),
            "ctr {args:?}: {}\nstdout: {}\nstderr: {}\ncontainerd log (tail): {}",
            o.status,
            out_str(&o),
            err_str(&o),
            tail(&self.log(), 30)
        );
        out_str(&o)
    }
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on the pid of the containerd we spawned and have not reaped.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        // The containers' cgroups are /NAMESPACE/ID; the per-namespace parent stays behind.
        if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
            for e in rd.flatten() {
                let _ = std::fs::remove_dir(e.path().join(NAMESPACE));
            }
        }
        // Only directories that were not there before, and only when empty.
        for d in &self.made_run_dirs {
            let _ = std::fs::remove_dir(d);
        }
    }
}

#[test]
fn containerd_runs_containers_through_berth_runtime() {
    let Some(image) = busybox_as_root() else {
        return;
    };
    for bin in ["containerd", "ctr", "containerd-shim-runc-v2"] {
        if in_path(bin).is_none() {
            eprintln!("skipping: no {bin} in PATH (apt-get install containerd)");
            return;
        }
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let ctd = Containerd::start();
    // The shim runs the runtime by this name; argv[0] makes berth act as the runtime.
    let bin_dir = ctd.dir.path().join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let runtime = bin_dir.join("berth-runtime");
    std::os::unix::fs::symlink(BIN, &runtime).unwrap();
    let runtime = runtime.to_str().unwrap().to_string();
    let runc_root = ctd.dir.path().join("runc");
    let runc_root = runc_root.to_str().unwrap().to_string();
    let o = run_timeout(Command::new(&runtime).arg("--version"), 30);
    assert!(
        out_str(&o).starts_with("berth-runtime version "),
        "{}",
        out_str(&o)
    );

    ctd.ctr_ok(&["images", "import", image.to_str().unwrap()]);
    let images = ctd.ctr_ok(&["images", "ls", "-q"]);
    let image_ref = images
        .lines()
        .find(|l| l.contains("busybox"))
        .unwrap_or_else(|| panic!("no busybox in {images}"))
        .trim()
        .to_string();
    let run = |extra: &[&str], name: &str, cmd: &[&str]| -> Output {
        let mut args = vec!["run"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[
            "--runc-binary",
            &runtime,
            "--runc-root",
            &runc_root,
            &image_ref,
            name,
        ]);
        args.extend_from_slice(cmd);
        ctd.ctr(&args)
    };

    let o = run(&["--rm"], "hello", &["echo", "hello"]);
    assert!(
        o.status.success(),
        "{}\n{}",
        err_str(&o),
        tail(&ctd.log(), 30)
    );
    assert_eq!(out_str(&o), "hello\n");

    let o = run(&["--rm"], "exit3", &["sh", "-c", "exit 3"]);
    assert_eq!(o.status.code(), Some(3), "{}", err_str(&o));

    // A detached task: exec into it, kill it, and see the status containerd recorded.
    let o = run(
        &["-d"],
        "bg",
        &[
            "sh",
            "-c",
            "trap 'exit 9' TERM; while :; do sleep 0.1; done",
        ],
    );
    assert!(
        o.status.success(),
        "{}\n{}",
        err_str(&o),
        tail(&ctd.log(), 30)
    );
    assert!(ctd.ctr_ok(&["task", "ls"]).contains("RUNNING"));
    let o = ctd.ctr(&[
        "task",
        "exec",
        "--exec-id",
        "e1",
        "bg",
        "sh",
        "-c",
        "echo from-exec; exit 6",
    ]);
    assert_eq!(o.status.code(), Some(6), "{}", err_str(&o));
    assert_eq!(out_str(&o), "from-exec\n");
    ctd.ctr_ok(&["task", "pause", "bg"]);
    assert!(ctd.ctr_ok(&["task", "ls"]).contains("PAUSED"));
    ctd.ctr_ok(&["task", "resume", "bg"]);
    ctd.ctr_ok(&["task", "kill", "bg"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ctd.ctr_ok(&["task", "ls"]).contains("STOPPED") {
        assert!(Instant::now() < deadline, "task did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }
    ctd.ctr_ok(&["task", "delete", "bg"]);
    ctd.ctr_ok(&["container", "delete", "bg"]);
    assert!(!ctd.ctr_ok(&["task", "ls"]).contains("bg"));
    // The runtime's state for every container is gone.
    let state = Path::new(&runc_root).join(NAMESPACE).join("state");
    assert_eq!(count_entries(&state), 0, "{}", state.display());
}
