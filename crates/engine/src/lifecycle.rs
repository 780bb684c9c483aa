//! Running containers: start (rootfs mount, /etc files, spec, bundle, shim), stop, kill,
//! restart, wait, exit tracking through a pidfd on each container's shim, and re-adoption of
//! running containers after a daemon restart.

use std::io::BufRead;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use berth_runtime::spec::{ContainerConfig, EtcFiles, HostConfig, NetworkNamespace};
use berth_runtime::{HostInfo, SpecInput};

use crate::containers::ContainerRecord;
use crate::shim::{ExitRecord, EXIT_FILE};
use crate::{Engine, Error, Result};

/// What `POST /containers/{id}/wait?condition=` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

impl WaitCondition {
    pub fn parse(s: &str) -> Result<WaitCondition> {
        match s {
            "" | "not-running" => Ok(WaitCondition::NotRunning),
            "next-exit" => Ok(WaitCondition::NextExit),
            "removed" => Ok(WaitCondition::Removed),
            other => Err(Error::InvalidParameter(format!(
                "invalid condition: \"{other}\""
            ))),
        }
    }
}

const SHIM_PID_FILE: &str = "shim.pid";

fn host_info() -> &'static HostInfo {
    static HOST: OnceLock<HostInfo> = OnceLock::new();
    HOST.get_or_init(berth_runtime::host::detect)
}

pub(crate) fn host_cap_last_cap() -> u8 {
    host_info().cap_last_cap
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn pidfd_open(pid: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1; no pointers.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let fd = RawFd::try_from(fd).map_err(|_| std::io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Reaps `pid` if it is our child (a shim this daemon spawned); after a daemon restart the
/// shim is someone else's child and this is a no-op.
fn reap(pid: i32) {
    let mut status = 0;
    // SAFETY: waitpid writes one int into `status`, a valid local.
    unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
}

/// Blocks until `fd` (a pidfd) is readable, i.e. the process exited.
fn poll_blocking(fd: RawFd) {
    loop {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one live, writable pollfd.
        let r = unsafe { libc::poll(&mut p, 1, -1) };
        if r >= 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
}

/// Whether `path` is a mount point. One `statx(2)` (`STATX_ATTR_MOUNT_ROOT`, Linux 5.8+): the
/// mount table grows with every running container, and libcontainer already reads it a dozen
/// times per start. Older kernels fall back to reading the table.
fn is_mounted(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: statx reads the NUL-terminated path and writes one `struct statx` into `stx`,
    // a zeroed local that outlives the call.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    let r = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW | libc::AT_NO_AUTOMOUNT,
            0,
            &mut stx,
        )
    };
    if r != 0 {
        return false;
    }
    let bit = libc::STATX_ATTR_MOUNT_ROOT as u64;
    if stx.stx_attributes_mask & bit != 0 {
        return stx.stx_attributes & bit != 0;
    }
    is_mounted_by_table(path)
}

fn is_mounted_by_table(path: &Path) -> bool {
    let want = path.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo").is_ok_and(|s| {
        s.lines()
            .any(|l| l.split_whitespace().nth(4) == Some(want.as_str()))
    })
}

/// Whether a container directory, or its rootfs mount point in it, is a mount point: the only
/// places the daemon mounts anything in a container's directory.
pub(crate) fn container_dir_mounted(dir: &Path) -> bool {
    is_mounted(dir) || is_mounted(&dir.join("merged"))
}

fn unmount(path: &Path) {
    while is_mounted(path) {
        if let Err(e) = nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH) {
            tracing::warn!(error = %e, path = %path.display(), "unmounting rootfs");
            return;
        }
    }
}

/// `/etc/resolv.conf` for containers: the host's, or systemd-resolved's upstream list when the
/// host file only points at the local stub.
fn host_resolv_conf() -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let servers: Vec<&str> = host
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .map(str::trim)
        .collect();
    if !servers.is_empty() && servers.iter().all(|s| s.starts_with("127.0.0.53")) {
        if let Ok(up) = std::fs::read_to_string("/run/systemd/resolve/resolv.conf") {
            return up;
        }
    }
    host
}

fn start_error(c: &ContainerRecord, kind: &str, msg: &str) -> (i64, Error) {
    let prefix = "failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process";
    match kind {
        "notfound" => (
            127,
            Error::InvalidParameter(format!(
                "{prefix}: exec: \"{}\": executable file not found in $PATH: unknown",
                c.path
            )),
        ),
        "noexec" => (
            126,
            Error::InvalidParameter(format!(
                "{prefix}: exec: \"{}\": permission denied: unknown",
                c.path
            )),
        ),
        _ => (
            128,
            Error::Internal(format!("OCI runtime create failed: {msg}: unknown")),
        ),
    }
}

impl Engine {
    pub(crate) fn runtime(&self) -> Result<berth_runtime::Runtime> {
        berth_runtime::Runtime::new(&self.runtime_root())
            .map_err(|e| Error::Internal(e.to_string()))
    }

    pub fn runtime_root(&self) -> PathBuf {
        self.config.exec_root.join("runtime")
    }

    /// Tells waiters that some container changed state.
    pub(crate) fn notify_change(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub(crate) fn container_lock(&self, id: &str) -> Arc<std::sync::Mutex<()>> {
        self.op_locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id.to_string())
            .or_default()
            .clone()
    }

    /// Mounts the container's overlay rootfs at `<dir>/merged` and returns that path.
    pub(crate) fn mount_rootfs(&self, c: &ContainerRecord) -> Result<PathBuf> {
        let img = self
            .store
            .image(&c.image_id)?
            .ok_or_else(|| Error::NoSuchImage(c.image.clone()))?;
        let dir = self.container_dir(&c.id);
        let (upper, work, merged) = (dir.join("upper"), dir.join("work"), dir.join("merged"));
        let mut lower: Vec<String> = img
            .layers
            .iter()
            .rev()
            .map(|l| self.store.layer_diff_dir(&l.chain_id).display().to_string())
            .collect();
        if lower.is_empty() {
            let empty = dir.join("empty");
            std::fs::create_dir_all(&empty)
                .map_err(Error::io(format!("creating {}", empty.display())))?;
            lower.push(empty.display().to_string());
        }
        for d in [&upper, &work, &merged] {
            std::fs::create_dir_all(d).map_err(Error::io(format!("creating {}", d.display())))?;
        }
        unmount(&merged);
        crate::overlay::mount_overlay(&lower, &upper, &work, &merged)
            .map_err(|e| Error::Internal(format!("mounting rootfs of {}: {e}", c.id)))?;
        Ok(merged)
    }

    fn write_etc_files(&self, c: &ContainerRecord, dir: &Path) -> Result<EtcFiles> {
        let hostname = c.config["Hostname"]
            .as_str()
            .filter(|h| !h.is_empty())
            .unwrap_or(c.short_id())
            .to_string();
        let files = EtcFiles {
            hostname: Some(dir.join("hostname")),
            hosts: Some(dir.join("hosts")),
            resolv_conf: Some(dir.join("resolv.conf")),
        };
        let (own, resolv) = self.container_dns_files(c);
        let mut hosts = String::from(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
        );
        for extra in c.host_config["ExtraHosts"].as_array().into_iter().flatten() {
            if let Some((name, ip)) = extra.as_str().and_then(|e| e.split_once(':')) {
                let ip = if ip == "host-gateway" {
                    self.host_gateway_ip()
                } else {
                    ip.to_string()
                };
                hosts.push_str(&format!("{ip}\t{name}\n"));
            }
        }
        if own.is_empty() {
            hosts.push_str(&format!("127.0.1.1\t{hostname}\n"));
        }
        for line in own {
            hosts.push_str(&line);
            hosts.push('\n');
        }
        for (path, text) in [
            (dir.join("hostname"), format!("{hostname}\n")),
            (dir.join("hosts"), hosts),
            (
                dir.join("resolv.conf"),
                resolv.unwrap_or_else(host_resolv_conf),
            ),
        ] {
            std::fs::write(&path, text)
                .map_err(Error::io(format!("writing {}", path.display())))?;
        }
        Ok(files)
    }

    fn spec_input(
        &self,
        c: &ContainerRecord,
        rootfs: PathBuf,
        etc: EtcFiles,
        network: NetworkNamespace,
    ) -> Result<SpecInput> {
        let config: ContainerConfig = serde_json::from_value(c.config.clone())
            .map_err(|e| Error::InvalidParameter(format!("container config: {e}")))?;
        let host_config: HostConfig = serde_json::from_value(self.volume_host_config(c, &rootfs)?)
            .map_err(|e| Error::InvalidParameter(format!("host config: {e}")))?;
        let privileged = c.host_config["Privileged"].as_bool().unwrap_or(false);
        Ok(SpecInput {
            id: c.id.clone(),
            rootfs,
            image: Default::default(),
            config,
            host_config,
            etc_files: etc,
            network,
            host: host_info().clone(),
            init_binary: None,
            host_devices: if privileged {
                berth_runtime::host::list_devices(Path::new("/dev"))
            } else {
                Vec::new()
            },
            cgroup_parent: None,
        })
    }

    /// `POST /containers/{id}/start`.
    pub fn start_container(self: &Arc<Self>, key: &str) -> Result<()> {
        self.start_inner(key, true)
    }

    /// A start by the restart policy, of a container in `restarting`: the manual-stop mark
    /// stays as it is.
    pub(crate) fn start_container_keep_flags(self: &Arc<Self>, key: &str) -> Result<()> {
        self.start_inner(key, false)
    }

    fn start_inner(self: &Arc<Self>, key: &str, manual: bool) -> Result<()> {
        let id = self.containers.find(key)?.id;
        crate::attach_lock::prime();
        let lock = self.container_lock(&id);
        let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut c = self.containers.find(&id)?;
        let by_policy = !manual && c.state.restarting;
        if c.is_running() && !by_policy {
            return Err(Error::NotModified);
        }
        if by_policy {
            // Until it runs again it is not running; a failed start leaves it exited.
            c.state.restarting = false;
            c.state.running = false;
            c.state.status = "exited".into();
        }
        let dir = self.container_dir(&id);
        let _ = std::fs::remove_file(dir.join(EXIT_FILE));
        let merged = self.mount_rootfs(&c)?;
        let started = match self.setup_container_network(&mut c) {
            Ok(sandbox) => {
                let network = match sandbox {
                    crate::network::Sandbox::Host => NetworkNamespace::Host,
                    crate::network::Sandbox::Path(p) => NetworkNamespace::Path(p),
                };
                self.spawn_shim(&c, &dir, merged, network)
            }
            // As Docker: a network that cannot be set up fails the start with exit code 128.
            Err(e) => Err((Some(128), e)),
        };
        match started {
            Ok((pid, shim_pid, pidfd)) => {
                c.state.status = "running".into();
                c.state.running = true;
                c.state.paused = false;
                c.state.restarting = false;
                c.state.oom_killed = false;
                c.state.dead = false;
                c.state.pid = pid;
                c.state.exit_code = 0;
                c.state.error = String::new();
                c.state.started_at = now_rfc3339();
                if manual {
                    c.manually_stopped = false;
                    c.restart_count = 0;
                }
                self.save_container(&c)?;
                self.notify_change();
                self.publish(
                    "container",
                    "start",
                    &c.id,
                    &[("image", &c.image), ("name", &c.name)],
                );
                self.watch_shim(id, shim_pid, pidfd);
                Ok(())
            }
            Err((code, e)) => {
                unmount(&dir.join("merged"));
                let eps: Vec<_> = std::mem::take(&mut c.endpoints).into_values().collect();
                self.teardown_container_network(&c.id, &eps);
                c.published.clear();
                if let Some(code) = code {
                    c.state.exit_code = code;
                    c.state.error = e.to_string();
                    let _ = self.save_container(&c);
                }
                // As Docker: a `--rm` container that cannot start is removed, which also
                // releases a client waiting for `condition=removed`.
                if c.host_config["AutoRemove"].as_bool().unwrap_or(false) {
                    if let Err(rm) = self.delete_container_record(&c) {
                        tracing::warn!(error = %rm, id = %c.id, "removing --rm container after failed start");
                    }
                }
                self.notify_change();
                Err(e)
            }
        }
    }

    /// Writes the bundle, spawns the shim and reads its report: `(init pid, shim pid, pidfd)`.
    #[allow(clippy::type_complexity)]
    fn spawn_shim(
        &self,
        c: &ContainerRecord,
        dir: &Path,
        merged: PathBuf,
        network: NetworkNamespace,
    ) -> std::result::Result<(i64, i32, OwnedFd), (Option<i64>, Error)> {
        let plain = |e: Error| (None, e);
        let etc = self.write_etc_files(c, dir).map_err(plain)?;
        let input = self.spec_input(c, merged, etc, network).map_err(plain)?;
        let mut spec = berth_runtime::build_spec(&input)
            .map_err(|e| plain(Error::InvalidParameter(e.to_string())))?;
        // The seccomp filter is compiled once per profile here, not in every container's init.
        let precompiled = berth_runtime::bpf::take_profile(&mut spec).map_err(|e| {
            plain(Error::Internal(format!(
                "compiling the seccomp profile: {e}"
            )))
        })?;
        let rt = self.runtime().map_err(plain)?;
        // A leftover from a crashed shim would make `create` fail with "already exists".
        let _ = rt.delete(&c.id, true);
        let bundle = rt
            .write_bundle(&c.id, &spec)
            .map_err(|e| plain(Error::Internal(e.to_string())))?;
        for p in berth_runtime::bpf::sidecar_paths(&bundle) {
            let _ = std::fs::remove_file(p);
        }
        if let Some((sidecar, bpf)) = &precompiled {
            berth_runtime::bpf::write_sidecars(&bundle, sidecar, bpf)
                .map_err(|e| plain(Error::Internal(format!("writing the seccomp filter: {e}"))))?;
        }
        let (sync_r, sync_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| plain(Error::Internal(format!("pipe: {e}"))))?;
        let shim_log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("shim.log"))
            .map_err(|e| plain(Error::Internal(format!("opening shim log: {e}"))))?;
        let wfd = sync_w.as_raw_fd();
        let mut cmd = crate::shim::shim_command()
            .map_err(|e| plain(Error::Internal(format!("finding the berth binary: {e}"))))?;
        cmd.arg(&c.id)
            .arg(&bundle)
            .arg(self.runtime_root())
            .arg(dir)
            .arg(wfd.to_string());
        let limits = crate::containers::log_limits(&c.host_config)
            .map_err(|e| plain(Error::InvalidParameter(e)))?;
        cmd.args(limits.args());
        if c.config["OpenStdin"].as_bool().unwrap_or(false) {
            cmd.arg("--stdin");
            if c.config["StdinOnce"].as_bool().unwrap_or(false) {
                cmd.arg("--stdin-once");
            }
        }
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(shim_log);
        // SAFETY: the closure runs in the forked child before exec and only makes
        // async-signal-safe calls (setsid, fcntl) on its own process and descriptor.
        unsafe {
            cmd.pre_exec(move || {
                libc::setsid();
                if libc::fcntl(wfd, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| plain(Error::Internal(format!("spawning shim: {e}"))))?;
        drop(sync_w);
        let shim_pid = child.id() as i32;
        // The shim is our unreaped child, so its pid cannot be recycled before this open.
        let pidfd =
            pidfd_open(shim_pid).map_err(|e| plain(Error::Internal(format!("pidfd: {e}"))))?;
        drop(child);
        let mut line = String::new();
        let read = std::io::BufReader::new(std::fs::File::from(sync_r)).read_line(&mut line);
        let line = line.trim_end().to_string();
        if let Some(pid) = line.strip_prefix("ok ") {
            let pid: i64 = pid.trim().parse().unwrap_or(0);
            let pid_file = dir.join(SHIM_PID_FILE);
            if let Err(e) = std::fs::write(&pid_file, shim_pid.to_string()) {
                tracing::warn!(error = %e, "writing {}", pid_file.display());
            }
            return Ok((pid, shim_pid, pidfd));
        }
        // The shim failed; it has cleaned up the runtime state and exits on its own.
        poll_blocking(pidfd.as_raw_fd());
        reap(shim_pid);
        let _ = rt.delete(&c.id, true);
        let (kind, msg) = match line.strip_prefix("err ") {
            Some(rest) => rest.split_once(' ').unwrap_or((rest, "")),
            None => {
                let log = std::fs::read_to_string(dir.join("shim.log")).unwrap_or_default();
                let why = match read {
                    Err(e) => e.to_string(),
                    Ok(_) => log.lines().last().unwrap_or("shim exited").to_string(),
                };
                return Err(plain(Error::Internal(format!(
                    "OCI runtime create failed: {why}: unknown"
                ))));
            }
        };
        let (code, e) = start_error(c, kind, msg);
        Err((Some(code), e))
    }

    /// Watches a shim through its pidfd; when it exits, records the container's exit.
    fn watch_shim(self: &Arc<Self>, id: String, shim_pid: i32, pidfd: OwnedFd) {
        let engine = Arc::downgrade(self);
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                h.spawn(async move {
                    // SAFETY: `pidfd` is an open OwnedFd moved into the AsyncFd, which owns it
                    // (and so keeps it open and unchanged) for the AsyncFd's whole lifetime.
                    let registered = unsafe {
                        tokio::io::unix::AsyncFd::register_with_interest(
                            pidfd,
                            tokio::io::Interest::READABLE,
                        )
                    };
                    match registered {
                        Ok(afd) => {
                            let _ = afd.readable().await;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "watching shim; falling back to a thread");
                            let (tx, rx) = tokio::sync::oneshot::channel();
                            std::thread::spawn(move || {
                                if let Ok(fd) = pidfd_open(shim_pid) {
                                    poll_blocking(fd.as_raw_fd());
                                }
                                let _ = tx.send(());
                            });
                            let _ = rx.await;
                        }
                    }
                    reap(shim_pid);
                    if let Some(e) = engine.upgrade() {
                        let _ = tokio::task::spawn_blocking(move || e.shim_exited(&id)).await;
                    }
                });
            }
            Err(_) => {
                std::thread::spawn(move || {
                    poll_blocking(pidfd.as_raw_fd());
                    reap(shim_pid);
                    if let Some(e) = engine.upgrade() {
                        e.shim_exited(&id);
                    }
                });
            }
        }
    }

    /// The shim of `id` is gone: record the exit, unmount, publish `die`, auto-remove.
    pub fn shim_exited(self: &Arc<Self>, id: &str) {
        let lock = self.container_lock(id);
        let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        let dir = self.container_dir(id);
        let exit: Option<ExitRecord> = std::fs::read(dir.join(EXIT_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        // A shim that died without writing its exit leaves the runtime state behind.
        if let Ok(rt) = self.runtime() {
            let _ = rt.delete(id, true);
        }
        crate::shim::remove_cgroups(id);
        unmount(&dir.join("merged"));
        self.release_volume_mounts(id);
        let _ = std::fs::remove_file(dir.join(SHIM_PID_FILE));
        let Ok(mut c) = self.containers.find(id) else {
            self.teardown_container_network(id, &[]);
            self.notify_change();
            return;
        };
        let eps: Vec<_> = std::mem::take(&mut c.endpoints).into_values().collect();
        self.teardown_container_network(id, &eps);
        c.published.clear();
        if !c.is_running() || c.id != id {
            if !eps.is_empty() {
                let _ = self.save_container(&c);
            }
            return;
        }
        let (code, finished, oom) = match &exit {
            Some(e) => (e.exit_code, e.finished_at.clone(), e.oom_killed),
            None => {
                c.state.error = "container supervisor exited without an exit status".into();
                (255, now_rfc3339(), false)
            }
        };
        c.state.status = "exited".into();
        c.state.running = false;
        c.state.paused = false;
        c.state.restarting = false;
        c.state.pid = 0;
        c.state.exit_code = code;
        c.state.finished_at = finished;
        c.state.oom_killed = oom;
        let auto_remove = c.host_config["AutoRemove"].as_bool().unwrap_or(false);
        // A `--rm` container's record is deleted below; its exit code lives on for waiters in
        // the table of removed containers, so it is not written first.
        if !auto_remove {
            if let Err(e) = self.save_container(&c) {
                tracing::error!(error = %e, id, "saving container exit");
            }
            self.notify_change();
        }
        if oom {
            self.publish(
                "container",
                "oom",
                id,
                &[("image", &c.image), ("name", &c.name)],
            );
        }
        self.publish(
            "container",
            "die",
            id,
            &[
                ("exitCode", &code.to_string()),
                ("image", &c.image),
                ("name", &c.name),
            ],
        );
        if auto_remove {
            if let Err(e) = self.delete_container_record(&c) {
                tracing::error!(error = %e, id, "auto-removing container");
            }
            self.notify_change();
        } else {
            self.schedule_restart_after_exit(&mut c);
        }
    }

    /// On daemon start: watch the shims of containers recorded as running, and finish those
    /// whose shim is gone.
    pub fn readopt_containers(self: &Arc<Self>) {
        self.restore_networks();
        for c in self.containers.all() {
            if !c.is_running() {
                continue;
            }
            let dir = self.container_dir(&c.id);
            let shim = std::fs::read_to_string(dir.join(SHIM_PID_FILE))
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
                .and_then(|pid| {
                    let fd = pidfd_open(pid).ok()?;
                    // Checked after opening the pidfd: the pid cannot be recycled under us now.
                    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
                    let cmdline = String::from_utf8_lossy(&cmdline);
                    (cmdline.contains("shim") && cmdline.contains(&c.id)).then_some((pid, fd))
                });
            match shim {
                Some((pid, fd)) => {
                    tracing::info!(id = %c.id, shim = pid, "re-adopted running container");
                    self.watch_shim(c.id.clone(), pid, fd);
                }
                None => self.shim_exited(&c.id),
            }
        }
        self.restart_policies_on_daemon_start();
    }

    /// Sends `signal` to the container's init.
    fn signal_container(
        &self,
        c: &ContainerRecord,
        signal: nix::sys::signal::Signal,
    ) -> Result<()> {
        let rt = self.runtime()?;
        // A frozen process handles no signal, SIGKILL included: a paused container is thawed
        // for the signals that stop it (the runtime also refuses a resume after a kill).
        if matches!(
            signal,
            nix::sys::signal::Signal::SIGKILL | nix::sys::signal::Signal::SIGTERM
        ) || c.config["StopSignal"].as_str() == Some(signal.as_str())
        {
            self.thaw(&c.id);
        }
        rt.kill(&c.id, signal, false)
            .map_err(|e| Error::Internal(format!("Cannot kill container: {}: {e}", c.id)))
    }

    /// `POST /containers/{id}/kill?signal=` (default SIGKILL).
    pub fn kill_container(&self, key: &str, signal: Option<&str>) -> Result<()> {
        let c = self.containers.find(key)?;
        if c.state.restarting {
            return Err(Error::Conflict(format!(
                "Cannot kill container: {key}: Container {} is restarting, wait until the container is running",
                c.id
            )));
        }
        let sig = match signal.filter(|s| !s.is_empty()) {
            Some(s) => berth_runtime::parse_signal(s)
                .ok_or_else(|| Error::InvalidParameter(format!("Invalid signal: {s}")))?,
            None => nix::sys::signal::Signal::SIGKILL,
        };
        if !c.is_running() {
            return Err(Error::Conflict(format!(
                "Cannot kill container: {}: Container {} is not running",
                key, c.id
            )));
        }
        self.mark_manually_stopped(&c.id)?;
        self.publish(
            "container",
            "kill",
            &c.id,
            &[
                ("image", &c.image),
                ("name", &c.name),
                ("signal", &(sig as i32).to_string()),
            ],
        );
        self.signal_container(&c, sig)
    }

    /// Waits (without polling) until `cond` holds; returns the exit code.
    pub async fn wait_container(
        self: Arc<Self>,
        key: &str,
        cond: WaitCondition,
        timeout: Option<Duration>,
    ) -> Result<i64> {
        let mut rx = self.changes.subscribe();
        let first = self.containers.find(key)?;
        let id = first.id.clone();
        let initial_finish = first.state.finished_at.clone();
        let mut last_code = first.state.exit_code;
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        loop {
            rx.borrow_and_update();
            let cur = self.containers.find(&id).ok();
            match &cur {
                Some(c) => last_code = c.state.exit_code,
                None => {
                    if let Some(code) = self.containers.removed_exit_code(&id) {
                        last_code = code;
                    }
                }
            }
            let done = match (cond, &cur) {
                (WaitCondition::Removed, None) => true,
                (WaitCondition::Removed, Some(_)) => false,
                (_, None) => true,
                (WaitCondition::NotRunning, Some(c)) => !c.is_running(),
                (WaitCondition::NextExit, Some(c)) => {
                    !c.is_running() && c.state.finished_at != initial_finish
                }
            };
            if done {
                return Ok(last_code);
            }
            match deadline {
                Some(d) => {
                    if tokio::time::timeout_at(d, rx.changed()).await.is_err() {
                        return Err(Error::Timeout);
                    }
                }
                None => {
                    let _ = rx.changed().await;
                }
            }
        }
    }

    /// `POST /containers/{id}/stop?t=`: StopSignal (or SIGTERM), SIGKILL after the timeout.
    pub async fn stop_container(self: Arc<Self>, key: &str, t: Option<i64>) -> Result<()> {
        let c = self.containers.find(key)?;
        if self.cancel_restart(&c.id) {
            self.publish(
                "container",
                "stop",
                &c.id,
                &[("image", &c.image), ("name", &c.name)],
            );
            return Ok(());
        }
        if !c.is_running() {
            return Err(Error::NotModified);
        }
        let sig = c.config["StopSignal"]
            .as_str()
            .and_then(berth_runtime::parse_signal)
            .unwrap_or(nix::sys::signal::Signal::SIGTERM);
        let t = t.or_else(|| c.config["StopTimeout"].as_i64()).unwrap_or(10);
        let id = c.id.clone();
        let e = self.clone();
        let k = id.clone();
        let sig_name = sig.as_str().to_string();
        let sent = tokio::task::spawn_blocking(move || e.kill_container(&k, Some(&sig_name)))
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
        if let Err(err) = sent {
            tracing::debug!(error = %err, "stop signal");
        }
        let timeout = (t >= 0).then(|| Duration::from_secs(t as u64));
        let waited = self
            .clone()
            .wait_container(&id, WaitCondition::NotRunning, timeout)
            .await;
        if matches!(waited, Err(Error::Timeout)) {
            let e = self.clone();
            let k = id.clone();
            let _ = tokio::task::spawn_blocking(move || e.kill_container(&k, Some("KILL"))).await;
            self.clone()
                .wait_container(
                    &id,
                    WaitCondition::NotRunning,
                    Some(Duration::from_secs(30)),
                )
                .await?;
        }
        if let Ok(c) = self.containers.find(&id) {
            self.publish(
                "container",
                "stop",
                &id,
                &[("image", &c.image), ("name", &c.name)],
            );
        }
        Ok(())
    }

    /// `POST /containers/{id}/restart?t=`.
    pub async fn restart_container(self: Arc<Self>, key: &str, t: Option<i64>) -> Result<()> {
        let id = self.containers.find(key)?.id;
        match self.clone().stop_container(&id, t).await {
            Ok(()) | Err(Error::NotModified) => {}
            Err(e) => return Err(e),
        }
        let e = self.clone();
        let k = id.clone();
        tokio::task::spawn_blocking(move || e.start_container(&k))
            .await
            .map_err(|e| Error::Internal(e.to_string()))??;
        if let Ok(c) = self.containers.find(&id) {
            self.publish(
                "container",
                "restart",
                &id,
                &[("image", &c.image), ("name", &c.name)],
            );
        }
        Ok(())
    }

    /// `DELETE /containers/{id}?force=`: a running container is killed first (with `force`).
    pub async fn remove_container_forced(self: Arc<Self>, key: &str, force: bool) -> Result<()> {
        let mut c = self.containers.find(key)?;
        if force && self.cancel_restart(&c.id) {
            c = self.containers.find(&c.id)?;
        }
        if c.is_running() && force {
            let e = self.clone();
            let k = c.id.clone();
            let _ = tokio::task::spawn_blocking(move || e.kill_container(&k, Some("KILL"))).await;
            self.clone()
                .wait_container(
                    &c.id,
                    WaitCondition::NotRunning,
                    Some(Duration::from_secs(30)),
                )
                .await?;
        }
        let e = self.clone();
        let id = c.id.clone();
        let r = tokio::task::spawn_blocking(move || e.remove_container(&id, force))
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
        match r {
            // AutoRemove got there first.
            Err(Error::NoSuchContainer(_)) if force => Ok(()),
            r => r,
        }
    }

    /// Unmounts the rootfs and drops runtime leftovers of a container that is not running.
    pub(crate) fn release_container(&self, id: &str) {
        let eps: Vec<_> = self
            .containers
            .find(id)
            .map(|c| c.endpoints.into_values().collect())
            .unwrap_or_default();
        self.teardown_container_network(id, &eps);
        unmount(&self.container_dir(id).join("merged"));
        if let Ok(rt) = self.runtime() {
            let _ = rt.delete(id, true);
        }
    }
}
