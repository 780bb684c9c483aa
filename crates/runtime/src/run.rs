//! Running a spec with youki's `libcontainer`: bundles, create/start/kill/pause/state/delete, and
//! waiting for a container's init process.
//!
//! # Who is the parent of the container's init process
//!
//! `Runtime::create` runs libcontainer in the calling process. libcontainer clones an
//! "intermediate" process (a normal child, exit signal `SIGCHLD`), which clones the init process
//! with `CLONE_PARENT`: the init becomes a child of **the process that called `create`**, a sibling
//! of the intermediate, and it inherits the intermediate's exit signal, so it is an ordinary child
//! that raises `SIGCHLD` and can be reaped with `waitpid(pid)`. The intermediate exits and is
//! reaped inside `create`. [`ContainerHandle::wait`] reaps the init and returns the raw wait
//! status.
//!
//! If the creator dies, the init is re-parented to the nearest ancestor that set
//! `PR_SET_CHILD_SUBREAPER`, or to the host's PID 1, which reaps it and throws the status away.
//! A process that is not the parent therefore learns the exit code only in one of these ways:
//! 1. it **is** the subreaper above the creator (then `waitpid` works once the creator is gone);
//! 2. on Linux ≥ 6.15, it holds a pidfd opened **before** the init was reaped: after the real
//!    parent reaps it, `ioctl(PIDFD_GET_INFO)` with `PIDFD_INFO_EXIT` returns the wait status
//!    ([`ContainerHandle::adopt`] + [`ContainerHandle::wait`] do exactly this). A pidfd cannot be
//!    opened once the process is reaped, so a daemon that was down when the container exited has
//!    lost the status unless someone else kept it;
//! 3. someone that was the parent wrote it down (a file in the state dir).
//!
//! So a daemon that must survive its own restart without losing exit codes needs a long-lived
//! reaper that is not the daemon: either a tiny per-container shim that calls `create` itself (and
//! is the parent), or one shared subreaper process that outlives daemon restarts and records every
//! exit in the state dir. The root tests `exit_status_reaches_a_subreaper` and
//! `exit_status_reaches_a_pidfd_holder` demonstrate 1 and 2.
//!
//! # Calling libcontainer from a daemon
//!
//! libcontainer forks with the raw `clone3` syscall (no `pthread_atfork` handlers run), makes the
//! calling process non-dumpable, and temporarily `chdir`s the whole process while connecting a
//! console socket. [`Runtime::create`] restores the dumpable flag afterwards, but the other two are
//! process-wide: call `create` from a single-threaded process (a forked helper or the supervisor),
//! not from a thread of a multi-threaded async daemon.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::{Container, ContainerStatus};
use libcontainer::error::LibcontainerError;
use libcontainer::syscall::syscall::SyscallType;
use nix::sys::signal::Signal;
use oci_spec::runtime::Spec;

/// A container's lifecycle state, as `runc state` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl From<ContainerStatus> for Status {
    fn from(s: ContainerStatus) -> Self {
        match s {
            ContainerStatus::Creating => Status::Creating,
            ContainerStatus::Created => Status::Created,
            ContainerStatus::Running => Status::Running,
            ContainerStatus::Paused => Status::Paused,
            ContainerStatus::Stopped => Status::Stopped,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// What [`Runtime::state`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub id: String,
    pub status: Status,
    /// Host pid of the init process (`None` before it exists).
    pub pid: Option<i32>,
    pub bundle: PathBuf,
    /// When the container reached `created`.
    pub created: Option<SystemTime>,
    /// User name of the uid that created the container.
    pub owner: Option<String>,
    /// The spec's annotations, as recorded at create.
    pub annotations: BTreeMap<String, String>,
}

/// Options of [`Runtime::create_with`] beyond stdio, as `runc create` takes them.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Use `MS_MOVE` + `chroot` instead of `pivot_root` (for a rootfs on a ramdisk).
    pub no_pivot: bool,
    /// Pass this many descriptors after stdio (3, 4, ...) into the container process.
    pub preserve_fds: i32,
}

/// Why a runtime operation failed. Each variant names the container and the step.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("preparing runtime directory {path}: {source}")]
    StateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("invalid container id {id:?}: use letters, digits, '_', '+', '-' and '.'")]
    InvalidId { id: String },
    #[error("writing bundle {path}: {source}")]
    WriteBundle {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("No such container: {id}")]
    NotFound { id: String },
    #[error("container {id} already exists")]
    AlreadyExists { id: String },
    #[error("container {id} is {status}, which does not allow this operation")]
    IncorrectStatus { id: String, status: Status },
    /// The command is not in the container (Docker exits 127 for this).
    #[error("container {id}: executable file not found in $PATH: {detail}")]
    CommandNotFound { id: String, detail: String },
    /// The command exists but cannot be run (Docker exits 126 for this).
    #[error("container {id}: permission denied running the command: {detail}")]
    CommandNotExecutable { id: String, detail: String },
    #[error("{op} container {id}: {detail}")]
    Libcontainer {
        op: &'static str,
        id: String,
        detail: String,
        #[source]
        source: Box<LibcontainerError>,
    },
    #[error("waiting for process {pid}: {source}")]
    Wait {
        pid: i32,
        #[source]
        source: io::Error,
    },
    #[error(
        "exit status of process {pid} is not available here: this process is not its parent, and \
         the kernel cannot report it through the pidfd (needs Linux 6.15+ and a reaping parent)"
    )]
    ExitStatusUnavailable { pid: i32 },
    #[error("process {pid} is not the init of container {id} (it exited, or the pid was reused)")]
    NotContainerProcess { id: String, pid: i32 },
    #[error("console socket {path}: {source}")]
    Console {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("creating working directory {path} in the rootfs: {detail}")]
    WorkingDir { path: PathBuf, detail: String },
    #[error("deleting container {id}: {}", failures.join("; "))]
    Teardown { id: String, failures: Vec<String> },
    #[error("reading the cgroup of container {id}: {detail}")]
    Cgroup { id: String, detail: String },
}

/// Renders an error with its whole source chain (libcontainer nests the useful part deep).
fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out
}

fn lc_error(op: &'static str, id: &str, source: LibcontainerError) -> RunError {
    match source {
        LibcontainerError::IncorrectStatus(s) => RunError::IncorrectStatus {
            id: id.to_string(),
            status: s.into(),
        },
        LibcontainerError::Exist => RunError::AlreadyExists { id: id.to_string() },
        LibcontainerError::NoDirectory => RunError::NotFound { id: id.to_string() },
        source => {
            let detail = chain(&source);
            // libcontainer reports a failed executable lookup only as text from the init process.
            let launches = op == "create" || op == "exec";
            if launches && detail.contains("not found in $PATH") {
                RunError::CommandNotFound {
                    id: id.to_string(),
                    detail,
                }
            } else if launches && detail.contains("does not have correct permissions") {
                RunError::CommandNotExecutable {
                    id: id.to_string(),
                    detail,
                }
            } else {
                RunError::Libcontainer {
                    op,
                    id: id.to_string(),
                    detail,
                    source: Box::new(source),
                }
            }
        }
    }
}

/// The container's stdio.
#[derive(Debug, Default)]
pub enum Stdio {
    /// The init inherits the caller's fds 0, 1 and 2.
    #[default]
    Inherit,
    /// The init gets these descriptors as 0, 1, 2 (pipe ends, files, `/dev/null`); a `None`
    /// stream is inherited from the caller. The caller's copies are closed once `create` returns,
    /// so a reader sees EOF when the container closes its end.
    Fds {
        stdin: Option<OwnedFd>,
        stdout: Option<OwnedFd>,
        stderr: Option<OwnedFd>,
    },
    /// For `process.terminal = true`: libcontainer connects to this unix socket and sends the pty
    /// master over it (see [`ConsoleSocket`]).
    ConsoleSocket(PathBuf),
}

/// A raw wait status (`waitpid(2)` format). The engine maps it to Docker's exit codes
/// (`code()`, or `128 + signal()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitStatus(pub i32);

impl WaitStatus {
    pub fn raw(self) -> i32 {
        self.0
    }

    /// The exit code when the process exited normally.
    pub fn code(self) -> Option<i32> {
        libc::WIFEXITED(self.0).then(|| libc::WEXITSTATUS(self.0))
    }

    /// The signal that killed the process.
    pub fn signal(self) -> Option<i32> {
        libc::WIFSIGNALED(self.0).then(|| libc::WTERMSIG(self.0))
    }

    pub fn core_dumped(self) -> bool {
        libc::WIFSIGNALED(self.0) && libc::WCOREDUMP(self.0)
    }
}

/// The running init process of a container: its pid, a pidfd on it, and its exit status once
/// known. Dropping the handle does not reap or kill anything.
#[derive(Debug)]
pub struct ContainerHandle {
    id: String,
    pid: i32,
    pidfd: Option<OwnedFd>,
    status: OnceLock<WaitStatus>,
}

fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1; no pointers.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = RawFd::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `struct pidfd_info` (Linux 6.15+, `PIDFD_INFO_SIZE_VER0` = 64 bytes).
#[repr(C)]
#[derive(Default)]
struct PidfdInfo {
    mask: u64,
    cgroupid: u64,
    pid: u32,
    tgid: u32,
    ppid: u32,
    ruid: u32,
    rgid: u32,
    euid: u32,
    egid: u32,
    suid: u32,
    sgid: u32,
    fsuid: u32,
    fsgid: u32,
    exit_code: i32,
}

const PIDFD_INFO_EXIT: u64 = 1 << 3;
/// `_IOWR(0xFF, 11, struct pidfd_info)`.
const PIDFD_GET_INFO: libc::c_ulong =
    (3 << 30) | ((std::mem::size_of::<PidfdInfo>() as libc::c_ulong) << 16) | (0xFF << 8) | 11;

/// The exit status the kernel kept for a reaped process, if it kept one. `Ok(None)`: not reaped
/// yet. `Err`: this kernel has no `PIDFD_INFO_EXIT`.
fn pidfd_exit_status(fd: BorrowedFd<'_>) -> io::Result<Option<WaitStatus>> {
    let mut info = PidfdInfo {
        mask: PIDFD_INFO_EXIT,
        ..Default::default()
    };
    // SAFETY: PIDFD_GET_INFO reads and writes exactly one `struct pidfd_info` of the size encoded
    // in the request number, and `info` is that struct, alive and writable for the call.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), PIDFD_GET_INFO, &mut info as *mut PidfdInfo) };
    if r < 0 {
        let e = io::Error::last_os_error();
        // ESRCH: reaped, and this kernel keeps no exit info for it.
        return match e.raw_os_error() {
            Some(libc::ESRCH) => Err(io::Error::from_raw_os_error(libc::ENOTSUP)),
            _ => Err(e),
        };
    }
    Ok((info.mask & PIDFD_INFO_EXIT != 0).then_some(WaitStatus(info.exit_code)))
}

impl ContainerHandle {
    /// Attaches to an existing container's init by pid (e.g. a daemon re-adopting containers after
    /// a restart). Fails if `pid` is no longer in the container's cgroup, which guards against a
    /// recycled pid. See the module doc for when `wait` can then report the exit status.
    pub fn adopt(id: &str, pid: i32) -> Result<Self, RunError> {
        let not_ours = || RunError::NotContainerProcess {
            id: id.to_string(),
            pid,
        };
        let pidfd = pidfd_open(pid).map_err(|_| not_ours())?;
        // Checked after opening the pidfd: from here on the pid cannot be recycled under us.
        let cgroups =
            std::fs::read_to_string(format!("/proc/{pid}/cgroup")).map_err(|_| not_ours())?;
        if !cgroups.lines().any(|l| l.ends_with(&format!("/{id}"))) {
            return Err(not_ours());
        }
        Ok(Self {
            id: id.to_string(),
            pid,
            pidfd: Some(pidfd),
            status: OnceLock::new(),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Host pid of the container's init process.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// A pidfd on the init process: it becomes readable when the process exits, so an async
    /// caller can register it with its reactor and call [`try_wait`](Self::try_wait) then.
    pub fn pidfd(&self) -> Option<BorrowedFd<'_>> {
        self.pidfd.as_ref().map(|f| f.as_fd())
    }

    /// Blocks until the init process exits and returns its raw wait status. Reaps it when this
    /// process is its parent; otherwise falls back to the pidfd (see the module doc). Calling it
    /// again returns the same status.
    pub fn wait(&self) -> Result<WaitStatus, RunError> {
        self.wait_inner(true)
            .and_then(|s| s.ok_or(RunError::ExitStatusUnavailable { pid: self.pid }))
    }

    /// Like [`wait`](Self::wait) but returns `Ok(None)` at once while the process is running.
    pub fn try_wait(&self) -> Result<Option<WaitStatus>, RunError> {
        self.wait_inner(false)
    }

    fn wait_inner(&self, block: bool) -> Result<Option<WaitStatus>, RunError> {
        if let Some(s) = self.status.get() {
            return Ok(Some(*s));
        }
        let flags = if block { 0 } else { libc::WNOHANG };
        loop {
            let mut raw = 0;
            // SAFETY: waitpid writes one int through the pointer we pass, which is a valid local.
            let r = unsafe { libc::waitpid(self.pid, &mut raw, flags) };
            if r == self.pid {
                return Ok(Some(*self.status.get_or_init(|| WaitStatus(raw))));
            }
            if r == 0 {
                return Ok(None);
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::ECHILD) => return self.wait_foreign(block),
                _ => {
                    return Err(RunError::Wait {
                        pid: self.pid,
                        source: e,
                    })
                }
            }
        }
    }

    /// The init is not our child: wait for the pidfd to report exit, then for the parent to reap
    /// it, and read the status the kernel kept.
    fn wait_foreign(&self, block: bool) -> Result<Option<WaitStatus>, RunError> {
        let unavailable = RunError::ExitStatusUnavailable { pid: self.pid };
        let Some(fd) = self.pidfd.as_ref() else {
            return Err(unavailable);
        };
        let timeout = if block {
            nix::poll::PollTimeout::NONE
        } else {
            nix::poll::PollTimeout::ZERO
        };
        loop {
            let mut fds = [nix::poll::PollFd::new(
                fd.as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            match nix::poll::poll(&mut fds, timeout) {
                Ok(0) => return Ok(None),
                Ok(_) => break,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    return Err(RunError::Wait {
                        pid: self.pid,
                        source: e.into(),
                    })
                }
            }
        }
        // Exited. The parent (creator, subreaper or PID 1) normally reaps within milliseconds.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match pidfd_exit_status(fd.as_fd()) {
                Ok(Some(s)) => return Ok(Some(*self.status.get_or_init(|| s))),
                // try_wait: exited but not reaped yet counts as still running.
                Ok(None) if !block => return Ok(None),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Ok(None) | Err(_) => return Err(unavailable),
            }
        }
    }
}

/// A unix socket that receives the pty master of a container created with
/// [`Stdio::ConsoleSocket`]. Bind it before `create`; after `create` returns, the master is
/// already queued on the socket, so [`receive_master`](Self::receive_master) does not block for
/// long. The socket file is removed on drop.
#[derive(Debug)]
pub struct ConsoleSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ConsoleSocket {
    pub fn bind(path: &Path) -> Result<Self, RunError> {
        let listener = UnixListener::bind(path).map_err(|source| RunError::Console {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self {
            listener,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts libcontainer's connection and returns the pty master it sends.
    pub fn receive_master(&self) -> Result<OwnedFd, RunError> {
        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};
        let err = |source: io::Error| RunError::Console {
            path: self.path.clone(),
            source,
        };
        let (conn, _) = self.listener.accept().map_err(err)?;
        let mut name = [0u8; 4096];
        let mut iov = [io::IoSliceMut::new(&mut name)];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let msg = recvmsg::<UnixAddr>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| err(e.into()))?;
        for cmsg in msg.cmsgs().map_err(|e| err(e.into()))? {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                if let Some(&fd) = fds.first() {
                    // SAFETY: SCM_RIGHTS just installed this descriptor in our table; we own it.
                    return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
                }
            }
        }
        Err(err(io::Error::new(
            io::ErrorKind::InvalidData,
            "no pty master in the console socket message",
        )))
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Runs OCI bundles with libcontainer. State lives under `state_root/state/<id>` (libcontainer's
/// `state.json`), bundles written by [`write_bundle`](Self::write_bundle) under
/// `state_root/bundles/<id>`.
#[derive(Debug, Clone)]
pub struct Runtime {
    state_dir: PathBuf,
    bundle_dir: PathBuf,
}

fn mkdir_private(path: &Path) -> Result<(), RunError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o711)
        .create(path)
        .map_err(|source| RunError::StateDir {
            path: path.to_path_buf(),
            source,
        })
}

fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'))
}

/// Runs a libcontainer build step and gives the caller back its dumpable flag: libcontainer
/// leaves the caller non-dumpable (to protect the namespace joins), while the children have their
/// own copy of the flag by then.
fn keep_dumpable<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: PR_GET_DUMPABLE takes no pointer arguments and only returns a flag.
    let dumpable = unsafe { libc::prctl(libc::PR_GET_DUMPABLE) };
    let out = f();
    if dumpable > 0 {
        // SAFETY: PR_SET_DUMPABLE takes an integer flag; no pointers involved.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, dumpable as libc::c_ulong) };
    }
    out
}

impl Runtime {
    /// Uses (and creates) `state_root`.
    pub fn new(state_root: &Path) -> Result<Self, RunError> {
        let state_dir = state_root.join("state");
        let bundle_dir = state_root.join("bundles");
        mkdir_private(&state_dir)?;
        mkdir_private(&bundle_dir)?;
        // libcontainer canonicalizes its root; do it once so our paths match its paths.
        let canon = |p: &Path| {
            p.canonicalize().map_err(|source| RunError::StateDir {
                path: p.to_path_buf(),
                source,
            })
        };
        Ok(Self {
            state_dir: canon(&state_dir)?,
            bundle_dir: canon(&bundle_dir)?,
        })
    }

    /// Where [`write_bundle`](Self::write_bundle) puts the bundle of `id`.
    pub fn bundle_path(&self, id: &str) -> PathBuf {
        self.bundle_dir.join(id)
    }

    /// Writes `spec` as `config.json` of a new bundle for `id` (atomically: temp file + rename)
    /// and returns the bundle directory. The rootfs stays where `spec.root.path` points.
    pub fn write_bundle(&self, id: &str, spec: &Spec) -> Result<PathBuf, RunError> {
        if !is_valid_id(id) {
            return Err(RunError::InvalidId { id: id.to_string() });
        }
        ensure_working_dir(spec)?;
        let dir = self.bundle_path(id);
        mkdir_private(&dir)?;
        write_config(&dir, spec)?;
        Ok(dir)
    }

    fn container_root(&self, id: &str) -> Result<PathBuf, RunError> {
        if !is_valid_id(id) {
            return Err(RunError::InvalidId { id: id.to_string() });
        }
        Ok(self.state_dir.join(id))
    }

    fn load(&self, id: &str) -> Result<Container, RunError> {
        let root = self.container_root(id)?;
        if !root.join("state.json").exists() {
            return Err(RunError::NotFound { id: id.to_string() });
        }
        Container::load(root).map_err(|e| lc_error("load", id, e))
    }

    /// Creates the container: namespaces, cgroups, mounts and the init process, stopped just
    /// before `exec` until [`start`](Self::start). The init is a child of the calling process
    /// (see the module doc); reap it with the returned handle.
    pub fn create(
        &self,
        id: &str,
        bundle: &Path,
        stdio: Stdio,
    ) -> Result<ContainerHandle, RunError> {
        self.create_with(id, bundle, stdio, &CreateOptions::default())
    }

    /// [`create`](Self::create) with `runc create`'s options.
    pub fn create_with(
        &self,
        id: &str,
        bundle: &Path,
        stdio: Stdio,
        opts: &CreateOptions,
    ) -> Result<ContainerHandle, RunError> {
        let mut builder = self
            .builder("create", id, stdio)?
            .with_preserved_fds(opts.preserve_fds);
        // A filter compiled ahead (bpf.rs) is loaded by the executor, not compiled again.
        builder = match crate::bpf::read_sidecars(bundle) {
            Some((sidecar, bpf)) => builder.with_executor(crate::exec::SeccompExecutor::new(
                crate::exec::Filter::Bpf(bpf),
                sidecar.drop_sys_admin,
            )),
            None => builder.with_executor(crate::exec::SeccompExecutor::plain()),
        };
        let built = keep_dumpable(|| {
            builder
                .as_init(bundle)
                .with_systemd(false)
                .with_detach(true)
                .with_no_pivot(opts.no_pivot)
                .build()
        });
        let container = match built {
            Ok(c) => c,
            Err(e) => {
                reap_abandoned_children();
                return Err(lc_error("create", id, e));
            }
        };
        let pid = container
            .pid()
            .map(|p| p.as_raw())
            .ok_or_else(|| RunError::NotFound { id: id.to_string() })?;
        // The init is our unreaped child, so its pid cannot be recycled before this open.
        let pidfd = pidfd_open(pid).ok();
        Ok(ContainerHandle {
            id: id.to_string(),
            pid,
            pidfd,
            status: OnceLock::new(),
        })
    }

    fn builder(
        &self,
        op: &'static str,
        id: &str,
        stdio: Stdio,
    ) -> Result<ContainerBuilder, RunError> {
        if !is_valid_id(id) {
            return Err(RunError::InvalidId { id: id.to_string() });
        }
        let mut builder = ContainerBuilder::new(id.to_string(), SyscallType::default())
            .with_root_path(&self.state_dir)
            .map_err(|e| lc_error(op, id, e))?;
        match stdio {
            Stdio::Inherit => {}
            Stdio::Fds {
                stdin,
                stdout,
                stderr,
            } => {
                if let Some(fd) = stdin {
                    builder = builder.with_stdin(fd);
                }
                if let Some(fd) = stdout {
                    builder = builder.with_stdout(fd);
                }
                if let Some(fd) = stderr {
                    builder = builder.with_stderr(fd);
                }
            }
            Stdio::ConsoleSocket(path) => builder = builder.with_console_socket(Some(path)),
        }
        Ok(builder)
    }

    /// Starts another process in the running (or, with `ignore_paused`, paused) container `id`,
    /// as `runc exec --process FILE` does: `process_json` is an OCI `process` object; the new
    /// process joins the container's namespaces and cgroup. Like the init of [`create`], it is a
    /// child of the calling process (call this from a single-threaded process); reap it with the
    /// returned handle. Set `process.terminal` together with [`Stdio::ConsoleSocket`].
    pub fn exec(
        &self,
        id: &str,
        process_json: &Path,
        stdio: Stdio,
    ) -> Result<ContainerHandle, RunError> {
        // Checked first so that "no such container" is not reported as a libcontainer failure.
        let container = self.load(id)?;
        let seccomp = crate::exec::container_seccomp(container.bundle());
        let adjusted;
        let original = process_json;
        let mut process_json = process_json;
        let mut builder = self.builder("exec", id, stdio)?;
        if let Some(seccomp) = seccomp {
            // libcontainer gives a joining process no seccomp filter of its own: the executor
            // loads the container's, as runc does for `exec`.
            let (path, drop_sys_admin) =
                crate::exec::prepare_process(process_json).map_err(|e| RunError::Libcontainer {
                    op: "exec",
                    id: id.to_string(),
                    detail: e.to_string(),
                    source: Box::new(LibcontainerError::Other(e.to_string())),
                })?;
            adjusted = path;
            process_json = &adjusted;
            builder =
                builder.with_executor(crate::exec::SeccompExecutor::new(seccomp, drop_sys_admin));
        } else {
            builder = builder.with_executor(crate::exec::SeccompExecutor::plain());
        }
        let built = keep_dumpable(|| {
            builder
                .as_tenant()
                .with_process(Some(process_json))
                .with_detach(true)
                .build()
        });
        if process_json != original {
            let _ = std::fs::remove_file(process_json);
        }
        let pid = match built {
            Ok(pid) => pid.as_raw(),
            Err(e) => {
                reap_abandoned_children();
                return Err(lc_error("exec", id, e));
            }
        };
        // Our unreaped child, so the pid cannot be recycled before this open.
        let pidfd = pidfd_open(pid).ok();
        Ok(ContainerHandle {
            id: id.to_string(),
            pid,
            pidfd,
            status: OnceLock::new(),
        })
    }

    /// Lets a created container `exec` its command.
    pub fn start(&self, id: &str) -> Result<(), RunError> {
        self.load(id)?.start().map_err(|e| lc_error("start", id, e))
    }

    /// Sends `signal` to the init (`all = false`) or to every process in the container's cgroup.
    pub fn kill(&self, id: &str, signal: Signal, all: bool) -> Result<(), RunError> {
        self.load(id)?
            .kill(signal, all)
            .map_err(|e| lc_error("kill", id, e))
    }

    /// Freezes every process of the container (cgroup freezer).
    pub fn pause(&self, id: &str) -> Result<(), RunError> {
        self.load(id)?.pause().map_err(|e| lc_error("pause", id, e))
    }

    pub fn resume(&self, id: &str) -> Result<(), RunError> {
        self.load(id)?
            .resume()
            .map_err(|e| lc_error("resume", id, e))
    }

    /// The container's status (refreshed from `/proc`) and init pid.
    pub fn state(&self, id: &str) -> Result<State, RunError> {
        let c = self.load(id)?;
        Ok(State {
            id: id.to_string(),
            status: c.status().into(),
            pid: c.pid().map(|p| p.as_raw()),
            bundle: c.bundle().clone(),
            created: c.created().map(SystemTime::from),
            owner: c.creator().map(|u| u.to_string_lossy().into_owned()),
            annotations: c
                .state
                .annotations
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }

    /// Host pids of every process in the container's cgroup.
    pub fn pids(&self, id: &str) -> Result<Vec<i32>, RunError> {
        use libcgroups::common::CgroupManager;
        let c = self.load(id)?;
        let fail = |detail: String| RunError::Cgroup {
            id: id.to_string(),
            detail,
        };
        let config = c.spec().map_err(|e| fail(chain(&e)))?;
        let manager = libcgroups::common::create_cgroup_manager(libcgroups::common::CgroupConfig {
            cgroup_path: config.cgroup_path,
            systemd_cgroup: c.systemd(),
            container_name: id.to_string(),
        })
        .map_err(|e| fail(chain(&e)))?;
        let mut pids: Vec<i32> = manager
            .get_all_pids()
            .map_err(|e| fail(chain(&e)))?
            .into_iter()
            .map(|p| p.as_raw())
            .collect();
        pids.sort_unstable();
        Ok(pids)
    }

    /// Ids of every container this runtime has state for.
    pub fn list(&self) -> Result<Vec<String>, RunError> {
        let entries = std::fs::read_dir(&self.state_dir).map_err(|source| RunError::StateDir {
            path: self.state_dir.clone(),
            source,
        })?;
        let mut ids: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name())
            .filter_map(|n: OsString| n.into_string().ok())
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Deletes the container: with `force`, kills every process first (a created-but-not-started
    /// container is always killed, as runc does); removes its cgroups, its state and a bundle that
    /// [`write_bundle`](Self::write_bundle) wrote. Every step is tried; failures are reported
    /// together. The caller still reaps the init through its [`ContainerHandle`].
    /// Deletes a container whose init process the caller has already reaped: its cgroups (see
    /// [`remove_cgroup_dirs`]), its state and its bundle. Equivalent to [`delete`](Self::delete)
    /// for specs without OCI hooks, without libcontainer's general path, which looks up the
    /// mount point of every cgroup controller in the mount table again (measured: 2.7 ms of
    /// the ~8 ms between a container's exit and its removal). The engine's specs have no hooks.
    pub fn delete_reaped(&self, id: &str, cgroups_path: Option<&Path>) -> Result<(), RunError> {
        let mut failures = Vec::new();
        if let Some(p) = cgroups_path {
            for d in remove_cgroup_dirs(p) {
                failures.push(format!("removing cgroup {}", d.display()));
            }
        }
        self.remove_state_and_bundle(id, &mut failures)?;
        if failures.is_empty() {
            Ok(())
        } else {
            Err(RunError::Teardown {
                id: id.to_string(),
                failures,
            })
        }
    }

    /// Removes `id`'s state directory and bundle, adding what could not be removed to
    /// `failures`; returns whether either was there.
    fn remove_state_and_bundle(
        &self,
        id: &str,
        failures: &mut Vec<String>,
    ) -> Result<bool, RunError> {
        let mut found = false;
        for dir in [self.container_root(id)?, self.bundle_path(id)] {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => found = true,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    found = true;
                    failures.push(format!("removing {}: {e}", dir.display()));
                }
            }
        }
        Ok(found)
    }

    pub fn delete(&self, id: &str, force: bool) -> Result<(), RunError> {
        let mut failures = Vec::new();
        let mut found = false;
        match self.load(id) {
            Ok(mut c) => {
                found = true;
                if let Err(e) = c.delete(force) {
                    match lc_error("delete", id, e) {
                        e @ RunError::IncorrectStatus { .. } => return Err(e),
                        e => failures.push(e.to_string()),
                    }
                }
            }
            Err(RunError::NotFound { .. }) => {}
            Err(e) => failures.push(e.to_string()),
        }
        // A half-created state dir (no state.json) must not block a later create with this id.
        found |= self.remove_state_and_bundle(id, &mut failures)?;
        match (found, failures.is_empty()) {
            (false, _) => Err(RunError::NotFound { id: id.to_string() }),
            (true, true) => Ok(()),
            (true, false) => Err(RunError::Teardown {
                id: id.to_string(),
                failures,
            }),
        }
    }
}

/// Removes the cgroup directory `cgroups_path` (as in a spec's `linux.cgroupsPath`) from every
/// hierarchy under `/sys/fs/cgroup`: the unified tree on a v2 host, each controller's tree (and
/// the empty unified tree) on a v1 or hybrid host. Right after the last task exits the kernel can
/// refuse `rmdir` with `EBUSY` for a moment, so that is retried for up to a second. Only empty
/// cgroups can be removed: nothing that still runs is touched. Returns the directories that are
/// still there.
pub fn remove_cgroup_dirs(cgroups_path: &Path) -> Vec<PathBuf> {
    let rel = cgroups_path.strip_prefix("/").unwrap_or(cgroups_path);
    if rel.as_os_str().is_empty()
        || rel
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Vec::new();
    }
    let base = Path::new("/sys/fs/cgroup");
    let mut dirs = vec![base.join(rel)];
    if let Ok(rd) = std::fs::read_dir(base) {
        dirs.extend(rd.flatten().map(|h| h.path().join(rel)));
    }
    let mut left = Vec::new();
    for d in dirs {
        for attempt in 0..100 {
            match std::fs::remove_dir(&d) {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 99 => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    left.push(d);
                    break;
                }
                _ => break,
            }
        }
    }
    left
}

/// After a failed create, libcontainer returns without reaping its intermediate process and the
/// init it cloned (both are children of this process). Kill and reap them so a long-lived caller
/// does not collect zombies. They are recognised by the names libcontainer gives them
/// (`youki:[1:INTER]`, `youki:[2:INIT]`) and by being our children; nothing else is touched.
fn reap_abandoned_children() {
    let me = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...; comm may contain spaces, so split at the last ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = head.split_once('(').map(|(_, c)| c).unwrap_or("");
        let ppid = rest.split_whitespace().nth(1).unwrap_or("");
        if ppid != me || !comm.starts_with("youki:[") {
            continue;
        }
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
        let mut raw = 0;
        // SAFETY: waitpid on our own child writes one int into `raw`, a valid local.
        while unsafe { libc::waitpid(pid, &mut raw, 0) } < 0
            && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
        {}
    }
}

/// Writes `config.json` into `bundle` (temp file + rename, so a reader never sees half a file).
pub fn write_config(bundle: &Path, spec: &Spec) -> Result<(), RunError> {
    let path = bundle.join("config.json");
    let tmp = bundle.join(".config.json.tmp");
    let err = |source: io::Error| RunError::WriteBundle {
        path: path.clone(),
        source,
    };
    let json = serde_json::to_vec_pretty(spec).map_err(|e| err(e.into()))?;
    std::fs::write(&tmp, json).map_err(err)?;
    std::fs::rename(&tmp, &path).map_err(err)
}

/// Creates the process's working directory in the rootfs when it is missing, owned by the
/// process's uid/gid, as Docker does (the runtime itself would fail to `chdir`). Every path
/// component is resolved inside the rootfs, so a symlink in the image cannot redirect the
/// `mkdir` to the host. [`Runtime::write_bundle`] calls it.
pub fn ensure_working_dir(spec: &Spec) -> Result<(), RunError> {
    let (Some(root), Some(process)) = (spec.root().as_ref(), spec.process().as_ref()) else {
        return Ok(());
    };
    let cwd = process.cwd();
    if cwd == Path::new("/") || cwd.as_os_str().is_empty() {
        return Ok(());
    }
    let fail = |detail: String| RunError::WorkingDir {
        path: cwd.clone(),
        detail,
    };
    let rootfs = root
        .path()
        .canonicalize()
        .map_err(|e| fail(e.to_string()))?;
    let root = pathrs::Root::open(&rootfs).map_err(|e| fail(e.to_string()))?;
    if root.resolve(cwd).is_ok() {
        return Ok(());
    }
    let dir: OwnedFd = root
        .mkdir_all(cwd, &std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .map_err(|e| fail(e.to_string()))?
        .into();
    let (uid, gid) = (process.user().uid(), process.user().gid());
    // SAFETY: fchownat with AT_EMPTY_PATH and an empty C string changes the owner of the open
    // O_PATH descriptor `dir` itself; the path pointer is a valid NUL-terminated literal.
    let r = unsafe { libc::fchownat(dir.as_raw_fd(), c"".as_ptr(), uid, gid, libc::AT_EMPTY_PATH) };
    if r != 0 {
        return Err(fail(io::Error::last_os_error().to_string()));
    }
    Ok(())
}

/// Parses a signal as the Docker API gives it: `SIGTERM`, `TERM` or `15`.
pub fn parse_signal(s: &str) -> Option<Signal> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).ok();
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_status_decodes_exit_and_signal() {
        let exited = WaitStatus(3 << 8);
        assert_eq!((exited.code(), exited.signal()), (Some(3), None));
        let killed = WaitStatus(9);
        assert_eq!(
            (killed.code(), killed.signal(), killed.core_dumped()),
            (None, Some(9), false)
        );
        let dumped = WaitStatus(11 | 0x80);
        assert_eq!((dumped.signal(), dumped.core_dumped()), (Some(11), true));
    }

    #[test]
    fn signals_parse_like_docker() {
        assert_eq!(parse_signal("SIGTERM"), Some(Signal::SIGTERM));
        assert_eq!(parse_signal("kill"), Some(Signal::SIGKILL));
        assert_eq!(parse_signal("9"), Some(Signal::SIGKILL));
        assert_eq!(parse_signal("NOPE"), None);
    }

    #[test]
    fn ids_are_checked_before_touching_paths() {
        assert!(is_valid_id("abc-1.2_x+y"));
        for bad in ["", ".", "..", "a/b", "a b", "../x"] {
            assert!(!is_valid_id(bad), "{bad:?}");
        }
        let dir = tempfile::tempdir().unwrap();
        let rt = Runtime::new(dir.path()).unwrap();
        assert!(matches!(
            rt.state("../etc"),
            Err(RunError::InvalidId { .. })
        ));
        assert!(matches!(rt.state("nope"), Err(RunError::NotFound { .. })));
        assert!(matches!(
            rt.delete("nope", true),
            Err(RunError::NotFound { .. })
        ));
    }

    #[test]
    fn bundle_is_written_atomically_and_removed_by_delete() {
        let dir = tempfile::tempdir().unwrap();
        let rt = Runtime::new(dir.path()).unwrap();
        let spec = Spec::default();
        let b = rt.write_bundle("c1", &spec).unwrap();
        let back: Spec =
            serde_json::from_slice(&std::fs::read(b.join("config.json")).unwrap()).unwrap();
        assert_eq!(back, spec);
        assert!(!b.join(".config.json.tmp").exists());
        rt.delete("c1", false).unwrap();
        assert!(!b.exists());
    }

    #[test]
    fn pidfd_info_constant_matches_the_kernel_abi() {
        assert_eq!(std::mem::size_of::<PidfdInfo>(), 64);
        assert_eq!(PIDFD_GET_INFO, 0xC040_FF0B);
    }
}
