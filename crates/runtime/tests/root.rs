//! Root tests: real containers from the busybox base image through the public API.
//!
//! Each test makes its own temp dir (rootfs + runtime state), uses the cgroup parent
//! `/berth-test`, and cleans up every process, cgroup and mount it made, also when it fails
//! (the `Fixture` drop). Tests run one at a time (libcontainer forks from the calling process and
//! changes process-wide state). Without root, or without the busybox image, they skip with a
//! message.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use berth_runtime::oci_spec::runtime::Spec;
use berth_runtime::spec::{ContainerConfig, HostConfig, ImageConfig};
use berth_runtime::{
    build_spec, host, ConsoleSocket, ContainerHandle, RunError, Runtime, SpecInput, Stdio,
    WaitStatus,
};
use nix::sys::signal::Signal;

const IMAGE: &str = "/var/lib/berth-images/busybox.tar";
const CGROUP_PARENT: &str = "/berth-test";

static SERIAL: Mutex<()> = Mutex::new(());

struct Fixture {
    _serial: MutexGuard<'static, ()>,
    dir: tempfile::TempDir,
    rootfs: PathBuf,
    image: ImageConfig,
    rt: Runtime,
    id: String,
    handle: Option<ContainerHandle>,
}

/// What a finished container left behind.
struct Outcome {
    status: WaitStatus,
    stdout: String,
    stderr: String,
    timed_out: bool,
}

fn skip(why: &str) -> Option<Fixture> {
    eprintln!("SKIPPED: {why}");
    None
}

/// `tar -xOf archive member`.
fn tar_member(archive: &Path, member: &str) -> Vec<u8> {
    let out = Command::new("tar")
        .arg("-xOf")
        .arg(archive)
        .arg(member)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tar -xOf {member}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn fixture(name: &str) -> Option<Fixture> {
    let serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !nix::unistd::geteuid().is_root() {
        return skip("root tests need root (namespaces, cgroups, mounts)");
    }
    if !Path::new(IMAGE).exists() {
        return skip(
            "no busybox image at /var/lib/berth-images/busybox.tar (scripts/make-base-images.sh)",
        );
    }
    let dir = tempfile::Builder::new()
        .prefix("berth-rt-")
        .tempdir()
        .unwrap();
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir(&rootfs).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&tar_member(Path::new(IMAGE), "manifest.json")).unwrap();
    let layer = manifest[0]["Layers"][0].as_str().unwrap();
    let config: serde_json::Value = serde_json::from_slice(&tar_member(
        Path::new(IMAGE),
        manifest[0]["Config"].as_str().unwrap(),
    ))
    .unwrap();
    let image: ImageConfig = serde_json::from_value(config["config"].clone()).unwrap();
    let layer_path = dir.path().join("layer.tar");
    std::fs::write(&layer_path, tar_member(Path::new(IMAGE), layer)).unwrap();
    let st = Command::new("tar")
        .arg("-xf")
        .arg(&layer_path)
        .arg("-C")
        .arg(&rootfs)
        .status()
        .unwrap();
    assert!(st.success());
    let rt = Runtime::new(&dir.path().join("run")).unwrap();
    Some(Fixture {
        _serial: serial,
        id: format!("rt-{name}-{}", std::process::id()),
        dir,
        rootfs,
        image,
        rt,
        handle: None,
    })
}

fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        out.push(
            e.path()
                .join(CGROUP_PARENT.trim_start_matches('/'))
                .join(id),
        );
    }
    out.push(
        Path::new("/sys/fs/cgroup")
            .join(CGROUP_PARENT.trim_start_matches('/'))
            .join(id),
    );
    out
}

/// Pids of every host process whose cgroup path names the container.
fn processes_in_cgroup(id: &str) -> Vec<i32> {
    let needle = format!("{CGROUP_PARENT}/{id}");
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
                .map(|c| c.lines().any(|l| l.ends_with(&needle)))
                .unwrap_or(false)
        })
        .collect()
}

fn mounts_under(dir: &Path) -> Vec<String> {
    let d = dir.to_string_lossy().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(String::from))
        .filter(|m| m.starts_with(&d))
        .collect()
}

fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap()
}

fn dev_null() -> OwnedFd {
    std::fs::File::open("/dev/null").unwrap().into()
}

fn read_all_in_thread(fd: OwnedFd) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::fs::File::from(fd).read_to_string(&mut s);
        s
    })
}

impl Fixture {
    fn spec(&self, cmd: &[&str], f: impl FnOnce(&mut SpecInput)) -> Spec {
        let mut input = SpecInput {
            id: self.id.clone(),
            rootfs: self.rootfs.clone(),
            image: self.image.clone(),
            config: ContainerConfig {
                cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                ..Default::default()
            },
            host_config: HostConfig::default(),
            host: host::detect(),
            cgroup_parent: Some(CGROUP_PARENT.to_string()),
            ..Default::default()
        };
        f(&mut input);
        build_spec(&input).unwrap()
    }

    fn create(&mut self, spec: &Spec, stdio: Stdio) -> Result<&ContainerHandle, RunError> {
        let bundle = self.rt.write_bundle(&self.id, spec)?;
        let h = self.rt.create(&self.id, &bundle, stdio)?;
        Ok(self.handle.insert(h))
    }

    /// Create with pipes, start, collect output, wait (killing everything after `timeout`).
    fn run_spec(&mut self, spec: &Spec, timeout: Duration) -> Outcome {
        let (out_r, out_w) = pipe();
        let (err_r, err_w) = pipe();
        self.create(
            spec,
            Stdio::Fds {
                stdin: Some(dev_null()),
                stdout: Some(out_w),
                stderr: Some(err_w),
            },
        )
        .unwrap();
        let out = read_all_in_thread(out_r);
        let err = read_all_in_thread(err_r);
        self.rt.start(&self.id).unwrap();
        let deadline = Instant::now() + timeout;
        let mut timed_out = false;
        let status = loop {
            let h = self.handle.as_ref().unwrap();
            if let Some(s) = h.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline && !timed_out {
                timed_out = true;
                self.rt.kill(&self.id, Signal::SIGKILL, true).unwrap();
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        // Background processes may still hold the pipes.
        let _ = self.rt.kill(&self.id, Signal::SIGKILL, true);
        Outcome {
            status,
            stdout: out.join().unwrap(),
            stderr: err.join().unwrap(),
            timed_out,
        }
    }

    fn run(&mut self, cmd: &[&str]) -> Outcome {
        let spec = self.spec(cmd, |_| {});
        self.run_spec(&spec, Duration::from_secs(20))
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // Best effort, every step regardless of the others: the test may have failed anywhere.
        let _ = self.rt.kill(&self.id, Signal::SIGKILL, true);
        let _ = self.rt.delete(&self.id, true);
        if let Some(h) = &self.handle {
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(h.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        for pid in processes_in_cgroup(&self.id) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
        }
        for d in cgroup_dirs(&self.id) {
            for _ in 0..50 {
                if !d.exists() || std::fs::remove_dir(&d).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // The shared parent too, once empty (tests run one at a time).
        for d in cgroup_dirs(&self.id) {
            if let Some(parent) = d.parent() {
                let _ = std::fs::remove_dir(parent);
            }
        }
        for m in mounts_under(self.dir.path()).into_iter().rev() {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

#[test]
fn echo_hello_through_a_pipe_and_init_is_our_child() {
    let Some(mut f) = fixture("echo") else { return };
    let spec = f.spec(&["echo", "hello"], |_| {});
    let (out_r, out_w) = pipe();
    let h = f
        .create(
            &spec,
            Stdio::Fds {
                stdin: Some(dev_null()),
                stdout: Some(out_w),
                stderr: None,
            },
        )
        .unwrap();
    let pid = h.pid();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let ppid = status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(
        ppid,
        std::process::id().to_string(),
        "the init must be a child of the creator"
    );
    assert_eq!(
        f.rt.state(&f.id).unwrap().status,
        berth_runtime::Status::Created
    );
    let out = read_all_in_thread(out_r);
    f.rt.start(&f.id).unwrap();
    let st = f.handle.as_ref().unwrap().wait().unwrap();
    assert_eq!(st.code(), Some(0));
    assert_eq!(out.join().unwrap(), "hello\n");
    assert_eq!(
        f.rt.state(&f.id).unwrap().status,
        berth_runtime::Status::Stopped
    );
    // Waiting again returns the same status.
    assert_eq!(f.handle.as_ref().unwrap().wait().unwrap(), st);
}

#[test]
fn missing_working_dir_is_created_for_the_user() {
    let Some(mut f) = fixture("workdir") else {
        return;
    };
    let spec = f.spec(&["sh", "-c", "pwd; stat -c %u:%g ."], |i| {
        i.config.working_dir = Some("/work/dir".into());
        i.config.user = Some("nobody".into());
    });
    let o = f.run_spec(&spec, Duration::from_secs(20));
    assert_eq!(o.stdout, "/work/dir\n65534:65534\n", "{}", o.stderr);
}

#[test]
fn exit_code_3() {
    let Some(mut f) = fixture("exit3") else {
        return;
    };
    let o = f.run(&["sh", "-c", "exit 3"]);
    assert_eq!(o.status.code(), Some(3), "{}", o.stderr);
}

#[test]
fn sigkill_is_reported_as_signal_9() {
    let Some(mut f) = fixture("sigkill") else {
        return;
    };
    let spec = f.spec(&["sleep", "100"], |_| {});
    f.create(
        &spec,
        Stdio::Fds {
            stdin: Some(dev_null()),
            stdout: Some(dev_null()),
            stderr: Some(dev_null()),
        },
    )
    .unwrap();
    f.rt.start(&f.id).unwrap();
    assert_eq!(
        f.rt.state(&f.id).unwrap().status,
        berth_runtime::Status::Running
    );
    f.rt.kill(&f.id, Signal::SIGKILL, false).unwrap();
    let st = f.handle.as_ref().unwrap().wait().unwrap();
    assert_eq!(st.signal(), Some(9));
    assert_eq!(st.code(), None);
    // The engine's mapping: 128 + signal.
    assert_eq!(128 + st.signal().unwrap(), 137);
}

#[test]
fn hostname_is_set() {
    let Some(mut f) = fixture("hostname") else {
        return;
    };
    let spec = f.spec(&["hostname"], |i| {
        i.config.hostname = Some("berth-box".into())
    });
    let o = f.run_spec(&spec, Duration::from_secs(20));
    assert_eq!(o.stdout, "berth-box\n", "{}", o.stderr);
    let o2 = {
        let spec = f.spec(&["hostname"], |_| {});
        f.rt.delete(&f.id, true).unwrap();
        f.run_spec(&spec, Duration::from_secs(20))
    };
    assert_eq!(o2.stdout.trim(), &f.id[..12]);
}

#[test]
fn pid_1_is_the_command() {
    let Some(mut f) = fixture("pid1") else { return };
    let o = f.run(&["sh", "-c", "echo $$"]);
    assert_eq!(o.stdout, "1\n", "{}", o.stderr);
}

#[test]
fn uname_r_matches_the_host() {
    let Some(mut f) = fixture("uname") else {
        return;
    };
    let o = f.run(&["uname", "-r"]);
    let host = nix::sys::utsname::uname().unwrap();
    assert_eq!(o.stdout.trim(), host.release().to_string_lossy());
}

#[test]
fn forking_works_under_the_default_seccomp_profile() {
    let Some(mut f) = fixture("seccomp") else {
        return;
    };
    // A subshell needs clone without namespace flags; /proc/self/status shows the filter mode.
    let o = f.run(&[
        "sh",
        "-c",
        "x=$(echo forked); echo $x; grep Seccomp: /proc/self/status",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", o.stderr);
    assert!(o.stdout.starts_with("forked\n"), "{}", o.stdout);
    assert!(o.stdout.contains("Seccomp:\t2"), "{}", o.stdout);
}

#[test]
fn namespace_creation_is_blocked() {
    let Some(mut f) = fixture("unshare") else {
        return;
    };
    let o = f.run(&["unshare", "-m", "true"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(o.stderr.contains("Operation not permitted"), "{}", o.stderr);
}

#[test]
fn memory_limit_lands_in_the_cgroup() {
    let Some(mut f) = fixture("memory") else {
        return;
    };
    let spec = f.spec(&["sleep", "30"], |i| i.host_config.memory = Some(64 << 20));
    f.create(
        &spec,
        Stdio::Fds {
            stdin: Some(dev_null()),
            stdout: Some(dev_null()),
            stderr: Some(dev_null()),
        },
    )
    .unwrap();
    let info = host::detect();
    let (file, want) = match info.cgroup {
        berth_runtime::spec::CgroupMode::Unified => (
            Path::new("/sys/fs/cgroup")
                .join(CGROUP_PARENT.trim_start_matches('/'))
                .join(&f.id)
                .join("memory.max"),
            (64u64 << 20).to_string(),
        ),
        _ => (
            Path::new("/sys/fs/cgroup/memory")
                .join(CGROUP_PARENT.trim_start_matches('/'))
                .join(&f.id)
                .join("memory.limit_in_bytes"),
            (64u64 << 20).to_string(),
        ),
    };
    assert_eq!(
        std::fs::read_to_string(&file).unwrap().trim(),
        want,
        "{}",
        file.display()
    );
    if info.cgroup != berth_runtime::spec::CgroupMode::Unified && info.swap_limit {
        let memsw = file.with_file_name("memory.memsw.limit_in_bytes");
        assert_eq!(
            std::fs::read_to_string(memsw).unwrap().trim(),
            (128u64 << 20).to_string()
        );
    }
    // The init process sits in that cgroup.
    let pid = f.handle.as_ref().unwrap().pid();
    let procs = std::fs::read_to_string(file.with_file_name("cgroup.procs")).unwrap();
    assert!(procs.lines().any(|l| l == pid.to_string()));
    f.rt.kill(&f.id, Signal::SIGKILL, true).unwrap();
    f.handle.as_ref().unwrap().wait().unwrap();
}

#[test]
fn pids_limit_stops_a_fork_loop() {
    let Some(mut f) = fixture("pids") else { return };
    let spec = f.spec(
        &["sh", "-c", "for i in $(seq 100); do sleep 5 & done; wait"],
        |i| i.host_config.pids_limit = Some(20),
    );
    let id = f.id.clone();
    // Watch the cgroup while the loop runs: never more than 20 tasks.
    let pids_dir = match host::detect().cgroup {
        berth_runtime::spec::CgroupMode::Unified => Path::new("/sys/fs/cgroup")
            .join(CGROUP_PARENT.trim_start_matches('/'))
            .join(&id),
        _ => Path::new("/sys/fs/cgroup/pids")
            .join(CGROUP_PARENT.trim_start_matches('/'))
            .join(&id),
    };
    let watcher = {
        let dir = pids_dir.clone();
        std::thread::spawn(move || {
            let mut max = 0u32;
            let until = Instant::now() + Duration::from_secs(2);
            while Instant::now() < until {
                if let Ok(s) = std::fs::read_to_string(dir.join("pids.current")) {
                    max = max.max(s.trim().parse().unwrap_or(0));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            max
        })
    };
    let o = f.run_spec(&spec, Duration::from_secs(3));
    let max = watcher.join().unwrap();
    assert!(max <= 20, "pids.current reached {max}");
    assert_eq!(
        std::fs::read_to_string(pids_dir.join("pids.max"))
            .unwrap()
            .trim(),
        "20"
    );
    // The kernel counts the forks it refused because of pids.max.
    let events = std::fs::read_to_string(pids_dir.join("pids.events")).unwrap();
    let refused: u64 = events
        .lines()
        .find_map(|l| l.strip_prefix("max "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(refused > 0, "no fork was refused: {events}");
    assert!(
        o.stderr.contains("can't fork") || o.stderr.contains("Resource temporarily unavailable"),
        "fork must fail beyond the limit; status {:?}, stderr: {}",
        o.status,
        o.stderr
    );
    // ash gives up the script when a fork fails; either way it ended, by itself or killed.
    assert!(
        o.status.code() == Some(2) || (o.timed_out && o.status.signal() == Some(9)),
        "{:?}",
        o.status
    );
}

#[test]
fn sysrq_trigger_and_proc_sys_are_read_only() {
    let Some(mut f) = fixture("sysrq") else {
        return;
    };
    // 'h' only prints help to the kernel log, should the write ever get through.
    let o = f.run(&["sh", "-c", "echo h > /proc/sysrq-trigger"]);
    assert_ne!(o.status.code(), Some(0), "the write must fail");
    if Path::new("/proc/sysrq-trigger").exists() {
        assert!(o.stderr.contains("Read-only file system"), "{}", o.stderr);
    } else {
        eprintln!("this kernel has no /proc/sysrq-trigger (no CONFIG_MAGIC_SYSRQ); checking /proc/sys too");
    }
    // /proc/sys is a read-only path as well; the domain name is per-UTS-namespace, so the write
    // would be harmless should it get through.
    f.rt.delete(&f.id, true).unwrap();
    let o = f.run(&["sh", "-c", "echo x > /proc/sys/kernel/domainname"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(o.stderr.contains("Read-only file system"), "{}", o.stderr);
}

#[test]
fn masked_paths_are_empty() {
    let Some(mut f) = fixture("masked") else {
        return;
    };
    // Only the masked paths this kernel has: a file reads empty, a directory lists empty.
    let mut script = String::new();
    for p in [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/sched_debug",
        "/proc/acpi",
        "/sys/firmware",
    ] {
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => script.push_str(&format!("echo {p} $(ls -A {p} | wc -l);")),
            Ok(_) => script.push_str(&format!("echo {p} $(wc -c < {p});")),
            Err(_) => {}
        }
    }
    let o = f.run(&["sh", "-c", &script]);
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert!(!lines.is_empty(), "{}", o.stderr);
    for l in lines {
        assert!(l.ends_with(" 0"), "{l} is not masked; stderr: {}", o.stderr);
    }
}

#[test]
fn missing_command_is_a_typed_error_and_leaves_nothing() {
    let Some(mut f) = fixture("notfound") else {
        return;
    };
    let spec = f.spec(&["no-such-command"], |_| {});
    let err = f.create(
        &spec,
        Stdio::Fds {
            stdin: Some(dev_null()),
            stdout: Some(dev_null()),
            stderr: Some(dev_null()),
        },
    );
    assert!(
        matches!(err, Err(RunError::CommandNotFound { .. })),
        "{err:?}"
    );
    assert!(processes_in_cgroup(&f.id).is_empty());
    // libcontainer's helpers of the failed create were reaped, not left as our zombies.
    let me = std::process::id().to_string();
    let leftovers: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
            stat.contains("(youki:[") && rest.split_whitespace().nth(1) == Some(me.as_str())
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    for d in cgroup_dirs(&f.id) {
        assert!(!d.exists(), "{} left behind", d.display());
    }
}

#[test]
fn delete_leaves_no_mount_cgroup_or_process() {
    let Some(mut f) = fixture("cleanup") else {
        return;
    };
    let spec = f.spec(&["sh", "-c", "sleep 100 & sleep 100 & wait"], |i| {
        i.host_config.memory = Some(32 << 20);
        i.host_config.pids_limit = Some(50);
        i.host_config.tmpfs = Some([("/scratch".to_string(), String::new())].into());
    });
    f.create(
        &spec,
        Stdio::Fds {
            stdin: Some(dev_null()),
            stdout: Some(dev_null()),
            stderr: Some(dev_null()),
        },
    )
    .unwrap();
    f.rt.start(&f.id).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while processes_in_cgroup(&f.id).len() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(processes_in_cgroup(&f.id).len(), 3);
    assert!(cgroup_dirs(&f.id).iter().any(|d| d.exists()));
    let pid = f.handle.as_ref().unwrap().pid();

    f.rt.delete(&f.id, true).unwrap();
    let st = f.handle.as_ref().unwrap().wait().unwrap();
    assert_eq!(st.signal(), Some(9));

    assert!(processes_in_cgroup(&f.id).is_empty(), "processes left");
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "init left");
    for d in cgroup_dirs(&f.id) {
        assert!(!d.exists(), "{} left behind", d.display());
    }
    assert!(
        mounts_under(f.dir.path()).is_empty(),
        "mounts left: {:?}",
        mounts_under(f.dir.path())
    );
    assert!(matches!(f.rt.state(&f.id), Err(RunError::NotFound { .. })));
    assert!(!f.rt.bundle_path(&f.id).exists());
}

#[test]
fn pty_through_a_console_socket() {
    let Some(mut f) = fixture("pty") else { return };
    let spec = f.spec(&["sh", "-c", "tty; echo done"], |i| {
        i.config.tty = Some(true)
    });
    let sock = ConsoleSocket::bind(&f.dir.path().join("console.sock")).unwrap();
    f.create(&spec, Stdio::ConsoleSocket(sock.path().to_path_buf()))
        .unwrap();
    let master = sock.receive_master().unwrap();
    let reader = std::thread::spawn(move || {
        let mut file = std::fs::File::from(master);
        let mut out = Vec::new();
        let mut buf = [0u8; 1024];
        // The master reads EIO once the last slave holder exits.
        while let Ok(n) = file.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&out).to_string()
    });
    f.rt.start(&f.id).unwrap();
    let st = f.handle.as_ref().unwrap().wait().unwrap();
    assert_eq!(st.code(), Some(0));
    let out = reader.join().unwrap();
    assert!(out.starts_with("/dev/"), "{out:?}");
    assert!(out.contains("done\r\n"), "{out:?}");
}

/// Runs `body` in a forked child and returns its exit code. The child must only do
/// async-signal-safe-ish work (no locks other threads may hold); it never returns into the
/// test harness.
fn in_child(body: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child runs `body` and leaves with _exit, never returning into the harness.
    match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Child => {
            let code = body();
            // SAFETY: _exit ends the child without running the parent's atexit handlers.
            unsafe { libc::_exit(code) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            match nix::sys::wait::waitpid(child, None).unwrap() {
                nix::sys::wait::WaitStatus::Exited(_, c) => c,
                other => panic!("helper child: {other:?}"),
            }
        }
    }
}

fn write_i32(fd: &OwnedFd, v: i32) {
    let _ = nix::unistd::write(fd, &v.to_ne_bytes());
}

fn read_i32(fd: OwnedFd) -> Option<i32> {
    let mut b = [0u8; 4];
    std::fs::File::from(fd).read_exact(&mut b).ok()?;
    Some(i32::from_ne_bytes(b))
}

#[test]
fn exit_status_reaches_a_subreaper() {
    let Some(f) = fixture("subreaper") else {
        return;
    };
    let spec = f.spec(&["sh", "-c", "sleep 0.3; exit 5"], |_| {});
    let bundle = f.rt.write_bundle(&f.id, &spec).unwrap();
    let (r, w) = pipe();
    let (rt, id) = (f.rt.clone(), f.id.clone());
    // S: subreaper. C (child of S): creates + starts the container, then exits without waiting,
    // like a daemon that crashed. The init is re-parented to S, which reaps it.
    let code = in_child(move || {
        // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag only.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) };
        let (pr, pw) = pipe();
        let c = in_child_nowait(move || {
            let stdio = Stdio::Fds {
                stdin: Some(dev_null()),
                stdout: Some(dev_null()),
                stderr: Some(dev_null()),
            };
            let Ok(h) = rt.create(&id, &bundle, stdio) else {
                return 10;
            };
            if rt.start(&id).is_err() {
                return 11;
            }
            write_i32(&pw, h.pid());
            0
        });
        let Some(init) = read_i32(pr) else { return 12 };
        let _ = nix::sys::wait::waitpid(c, None);
        let mut raw = 0;
        // SAFETY: waitpid writes one int into `raw`.
        if unsafe { libc::waitpid(init, &mut raw, 0) } != init {
            return 13;
        }
        write_i32(&w, raw);
        0
    });
    assert_eq!(code, 0, "helper failed at step {code}");
    let raw = read_i32(r).unwrap();
    assert_eq!(WaitStatus(raw).code(), Some(5));
}

/// Forks without waiting (for a child that must outlive nothing but be reaped by the caller).
fn in_child_nowait(body: impl FnOnce() -> i32) -> nix::unistd::Pid {
    // SAFETY: as in `in_child`.
    match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Child => {
            let code = body();
            // SAFETY: see `in_child`.
            unsafe { libc::_exit(code) }
        }
        nix::unistd::ForkResult::Parent { child } => child,
    }
}

#[test]
fn exit_status_reaches_a_pidfd_holder() {
    let Some(mut f) = fixture("pidfd") else {
        return;
    };
    let spec = f.spec(&["sh", "-c", "sleep 0.5; exit 7"], |_| {});
    let bundle = f.rt.write_bundle(&f.id, &spec).unwrap();
    let (r, w) = pipe();
    let (rt, id) = (f.rt.clone(), f.id.clone());
    // C: creates, starts and reaps the container (it is the parent). The test process is not
    // the parent; it adopts the pid and waits through a pidfd.
    let c = in_child_nowait(move || {
        let stdio = Stdio::Fds {
            stdin: Some(dev_null()),
            stdout: Some(dev_null()),
            stderr: Some(dev_null()),
        };
        let Ok(h) = rt.create(&id, &bundle, stdio) else {
            return 10;
        };
        if rt.start(&id).is_err() {
            return 11;
        }
        write_i32(&w, h.pid());
        match h.wait() {
            Ok(s) if s.code() == Some(7) => 0,
            _ => 12,
        }
    });
    let pid = read_i32(r).expect("helper did not start the container");
    let adopted = ContainerHandle::adopt(&f.id, pid).unwrap();
    let got = adopted.wait();
    let helper = nix::sys::wait::waitpid(c, None).unwrap();
    assert_eq!(helper, nix::sys::wait::WaitStatus::Exited(c, 0));
    let release = nix::sys::utsname::uname()
        .unwrap()
        .release()
        .to_string_lossy()
        .to_string();
    let mut v = release
        .split(['.', '-'])
        .filter_map(|x| x.parse::<u32>().ok());
    let (major, minor) = (v.next().unwrap_or(0), v.next().unwrap_or(0));
    if (major, minor) >= (6, 15) {
        assert_eq!(got.unwrap().code(), Some(7));
    } else {
        eprintln!("kernel {release} has no PIDFD_INFO_EXIT: {got:?}");
        assert!(matches!(got, Err(RunError::ExitStatusUnavailable { .. })));
    }
    // A pid that is not in the container's cgroup is refused.
    assert!(matches!(
        ContainerHandle::adopt(&f.id, std::process::id() as i32),
        Err(RunError::NotContainerProcess { .. })
    ));
    let _ = f.handle.take();
    let _ = &mut f;
}

/// The same config.json under runc, when it is installed: proves the spec (seccomp rules
/// included) means the same thing to both runtimes, like youki's contest suite run against runc.
#[test]
fn runc_runs_the_same_bundle_the_same_way() {
    let Some(f) = fixture("runc") else { return };
    let Ok(runc) = which("runc") else {
        eprintln!("SKIPPED: runc not installed");
        return;
    };
    let script = "x=$(echo forked); echo $x; echo $$; grep Seccomp: /proc/self/status; unshare -m true || echo blocked";
    let spec = f.spec(&["sh", "-c", script], |_| {});
    let bundle = f.rt.write_bundle(&f.id, &spec).unwrap();
    let out = Command::new(runc)
        .arg("--root")
        .arg(f.dir.path().join("runc-state"))
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&f.id)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout, "forked\n1\nSeccomp:\t2\nblocked\n");
}

fn which(name: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or(())
}
