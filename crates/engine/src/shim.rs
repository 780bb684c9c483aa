//! `berth shim`: the per-container supervisor. The daemon spawns one per container start (in its
//! own session, stdio on `/dev/null` and its own log file). It is single-threaded, so it may call
//! libcontainer's `create`; the container's init is therefore its child. It reports `ok <pid>` or
//! `err <kind> <message>` on the sync pipe, copies the container's stdout/stderr into
//! `<dir>/<id>-json.log` in Docker's json-file format, reaps the init, writes `<dir>/exit.json`
//! atomically, deletes the runtime state and exits. Containers therefore outlive the daemon.

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use berth_runtime::{RunError, Runtime, Stdio};
use serde::{Deserialize, Serialize};

/// What the shim leaves in `<container dir>/exit.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ExitRecord {
    pub exit_code: i64,
    pub finished_at: String,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
}

pub const EXIT_FILE: &str = "exit.json";

/// The command that runs the shim: the small `berth-shim` executable next to the running
/// binary when it is there, else `<this binary> shim`.
pub fn shim_command() -> std::io::Result<std::process::Command> {
    let exe = std::env::current_exe()?;
    if let Some(small) = exe.parent().map(|d| d.join("berth-shim")) {
        if small.is_file() && small != exe {
            return Ok(std::process::Command::new(small));
        }
    }
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("shim");
    Ok(cmd)
}

/// The log file of a container (Docker's json-file driver layout).
pub fn log_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}-json.log"))
}

struct Args {
    id: String,
    bundle: PathBuf,
    state_root: PathBuf,
    dir: PathBuf,
    sync_fd: RawFd,
    /// Keep the container's stdin open and feed it from attach clients (`OpenStdin`).
    open_stdin: bool,
    /// Close the container's stdin when the first attach client that sent input detaches.
    stdin_once: bool,
    log: LogLimits,
}

/// Where container output goes: the json-file log, rotated at `max_size` bytes keeping
/// `max_file` files in all, or nowhere (`--log-driver none`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimits {
    pub enabled: bool,
    /// 0: never rotate.
    pub max_size: u64,
    /// Files kept, the current one included (at least 1).
    pub max_file: u32,
}

impl LogLimits {
    /// The shim's command-line flags for these limits.
    pub fn args(&self) -> Vec<String> {
        if !self.enabled {
            return vec!["--log-none".into()];
        }
        vec![
            "--log-max-size".into(),
            self.max_size.to_string(),
            "--log-max-file".into(),
            self.max_file.to_string(),
        ]
    }
}

fn parse(args: &[OsString]) -> Option<Args> {
    let (fixed, flags) = args.split_at(args.len().min(5));
    // ID BUNDLE STATE_ROOT DIR SYNC_FD, then flags.
    let [id, bundle, state_root, dir, fd] = fixed else {
        return None;
    };
    let mut a = Args {
        id: id.to_str()?.to_string(),
        bundle: PathBuf::from(bundle),
        state_root: PathBuf::from(state_root),
        dir: PathBuf::from(dir),
        sync_fd: fd.to_str()?.parse().ok()?,
        open_stdin: false,
        stdin_once: false,
        log: LogLimits {
            enabled: true,
            max_size: 0,
            max_file: 1,
        },
    };
    let mut it = flags.iter();
    while let Some(f) = it.next() {
        match f.to_str()? {
            "--stdin" => a.open_stdin = true,
            "--stdin-once" => a.stdin_once = true,
            "--log-none" => a.log.enabled = false,
            "--log-max-size" => a.log.max_size = it.next()?.to_str()?.parse().ok()?,
            "--log-max-file" => a.log.max_file = it.next()?.to_str()?.parse().ok()?,
            _ => return None,
        }
    }
    Some(a)
}

/// The attach socket of a container, in its directory. A client sends one mode byte first:
/// [`ATTACH_STDIN`], then frames of a 4-byte big-endian length and that many bytes for the
/// container's stdin, where an empty frame is the end of the client's input (which closes a
/// `StdinOnce` stdin; a client that just goes away — a detach — closes nothing); or
/// [`ATTACH_RESIZE`], then lines `HEIGHT WIDTH`.
pub const ATTACH_SOCKET: &str = "attach.sock";
pub const ATTACH_STDIN: u8 = b'i';
pub const ATTACH_RESIZE: u8 = b'r';
const CONSOLE_SOCKET: &str = "console.sock";

/// Entry point of `berth shim ID BUNDLE STATE_ROOT CONTAINER_DIR SYNC_FD [--stdin]
/// [--stdin-once]` and `berth shim exec …` (see [`exec_main`]); returns the exit code.
pub fn main(args: &[OsString]) -> i32 {
    if args.first().is_some_and(|a| a == "exec") {
        return exec_main(&args[1..]);
    }
    let Some(a) = parse(args) else {
        eprintln!(
            "usage: berth shim ID BUNDLE STATE_ROOT CONTAINER_DIR SYNC_FD [--stdin] [--stdin-once]"
        );
        return 2;
    };
    if a.sync_fd < 3 {
        eprintln!("berth shim: invalid sync fd {}", a.sync_fd);
        return 2;
    }
    // SAFETY: the daemon passed this descriptor to us (inherited, not close-on-exec) and nothing
    // else in this process owns it.
    let mut sync = unsafe { std::fs::File::from_raw_fd(a.sync_fd) };
    set_cloexec(a.sync_fd);
    match run(&a, &mut sync) {
        Ok(()) => 0,
        Err(msg) => {
            eprintln!("berth shim {}: {msg}", a.id);
            1
        }
    }
}

fn set_cloexec(fd: RawFd) {
    // SAFETY: fcntl(F_SETFD) on a descriptor we own; no pointers.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
}

fn set_nonblocking(fd: RawFd) {
    // SAFETY: fcntl(F_GETFL/F_SETFL) on a descriptor we own; no pointers.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}

fn report(sync: &mut std::fs::File, line: &str) {
    let one_line = line.replace('\n', " ");
    let _ = sync.write_all(format!("{one_line}\n").as_bytes());
}

fn error_kind(e: &RunError) -> &'static str {
    match e {
        RunError::CommandNotFound { .. } => "notfound",
        RunError::CommandNotExecutable { .. } => "noexec",
        _ => "other",
    }
}

/// What the shim needs from the bundle's spec: whether the process has a terminal, and the
/// container's cgroup path.
fn spec_facts(bundle: &Path) -> (bool, Option<PathBuf>) {
    let spec = std::fs::read(bundle.join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .unwrap_or_default();
    (
        spec["process"]["terminal"].as_bool().unwrap_or(false),
        spec["linux"]["cgroupsPath"].as_str().map(PathBuf::from),
    )
}

fn run(a: &Args, sync: &mut std::fs::File) -> Result<(), String> {
    let rt = match Runtime::new(&a.state_root) {
        Ok(rt) => rt,
        Err(e) => {
            report(sync, &format!("err other {e}"));
            return Err(e.to_string());
        }
    };
    // Sockets are bound by relative name: a container directory can be longer than a socket
    // address allows.
    if let Err(e) = std::env::set_current_dir(&a.dir) {
        report(
            sync,
            &format!("err other entering {}: {e}", a.dir.display()),
        );
        return Err(e.to_string());
    }
    let (terminal, cgroups_path) = spec_facts(&a.bundle);
    let attach = if terminal || a.open_stdin {
        let _ = std::fs::remove_file(ATTACH_SOCKET);
        match std::os::unix::net::UnixListener::bind(ATTACH_SOCKET) {
            Ok(l) => Some(l),
            Err(e) => {
                report(sync, &format!("err other binding the attach socket: {e}"));
                return Err(e.to_string());
            }
        }
    } else {
        None
    };
    let pipes = || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| e.to_string());
    let mut io = Io::default();
    let (stdio, console) = if terminal {
        let _ = std::fs::remove_file(CONSOLE_SOCKET);
        let console = match berth_runtime::ConsoleSocket::bind(Path::new(CONSOLE_SOCKET)) {
            Ok(c) => c,
            Err(e) => {
                report(sync, &format!("err other {e}"));
                return Err(e.to_string());
            }
        };
        (
            Stdio::ConsoleSocket(a.dir.join(CONSOLE_SOCKET)),
            Some(console),
        )
    } else {
        let (out_r, out_w) = pipes()?;
        let (err_r, err_w) = pipes()?;
        let stdin: OwnedFd = if a.open_stdin {
            let (in_r, in_w) = pipes()?;
            set_nonblocking(in_w.as_raw_fd());
            io.stdin = Some(in_w);
            in_r
        } else {
            std::fs::File::open("/dev/null")
                .map_err(|e| e.to_string())?
                .into()
        };
        io.sources.push(Source::new(out_r, "stdout"));
        io.sources.push(Source::new(err_r, "stderr"));
        (
            Stdio::Fds {
                stdin: Some(stdin),
                stdout: Some(out_w),
                stderr: Some(err_w),
            },
            None,
        )
    };
    let handle = match rt.create(&a.id, &a.bundle, stdio) {
        Ok(h) => h,
        Err(e) => {
            report(sync, &format!("err {} {e}", error_kind(&e)));
            let _ = rt.delete(&a.id, true);
            return Err(e.to_string());
        }
    };
    if let Some(console) = console {
        match console.receive_master() {
            Ok(master) => {
                set_nonblocking(master.as_raw_fd());
                let dup = master.try_clone().map_err(|e| e.to_string())?;
                io.stdin = a.open_stdin.then_some(dup);
                io.master = Some(master.as_raw_fd());
                io.sources.push(Source::new(master, "stdout"));
                io.flush_partial = true;
            }
            Err(e) => {
                report(sync, &format!("err other {e}"));
                let _ = rt.delete(&a.id, true);
                let _ = handle.wait();
                return Err(e.to_string());
            }
        }
    }
    if let Err(e) = rt.start(&a.id) {
        report(sync, &format!("err other {e}"));
        let _ = rt.delete(&a.id, true);
        let _ = handle.wait();
        return Err(e.to_string());
    }
    report(sync, &format!("ok {}", handle.pid()));
    drop(std::mem::replace(
        sync,
        std::fs::File::open("/dev/null").map_err(|e| e.to_string())?,
    ));

    let log = LogFile::open(log_path(&a.dir, &a.id), a.log).map_err(|e| e.to_string())?;
    io.flush_partial |= a.open_stdin;
    io.stdin_once = a.stdin_once;
    if let Some(l) = attach {
        set_nonblocking(l.as_raw_fd());
        io.listener = Some(l);
    }
    io.run(log);
    let _ = std::fs::remove_file(ATTACH_SOCKET);

    let status = handle.wait().map_err(|e| e.to_string());
    let exit_code = match status {
        Ok(s) => s
            .code()
            .or_else(|| s.signal().map(|n| 128 + n))
            .unwrap_or(255) as i64,
        Err(e) => {
            eprintln!("berth shim {}: {e}", a.id);
            255
        }
    };
    let rec = ExitRecord {
        exit_code,
        finished_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        oom_killed: oom_killed(&a.id),
    };
    write_exit(&a.dir, &rec)?;
    // The init is reaped and, as PID 1 of its namespace, took every other process with it.
    if let Err(e) = rt.delete_reaped(&a.id, cgroups_path.as_deref()) {
        eprintln!("berth shim {}: {e}", a.id);
    }
    Ok(())
}

/// `berth shim exec CONTAINER_ID STATE_ROOT PROCESS_JSON SYNC_FD [CONSOLE_SOCKET]`: starts one
/// exec process in a running container and stays its parent. Without a console socket the
/// process gets this helper's fds 0, 1 and 2 (the daemon's pipes), which the helper then lets go
/// of, so the daemon sees EOF exactly when the process and its children close them. Reports
/// `ok PID`, then `exit CODE` (or `err KIND MESSAGE`) on the sync fd.
pub fn exec_main(args: &[OsString]) -> i32 {
    let (id, state_root, process, fd, console) = match args {
        [id, root, process, fd] => (id, root, process, fd, None),
        [id, root, process, fd, console] => (id, root, process, fd, Some(console)),
        _ => {
            eprintln!("usage: berth shim exec CONTAINER_ID STATE_ROOT PROCESS_JSON SYNC_FD [CONSOLE_SOCKET]");
            return 2;
        }
    };
    let Some(sync_fd) = fd
        .to_str()
        .and_then(|f| f.parse::<RawFd>().ok())
        .filter(|f| *f > 2)
    else {
        return 2;
    };
    // SAFETY: the daemon passed this descriptor to us (inherited) and nothing else owns it.
    let mut sync = unsafe { std::fs::File::from_raw_fd(sync_fd) };
    set_cloexec(sync_fd);
    let id = id.to_string_lossy();
    let stdio = match console {
        Some(path) => Stdio::ConsoleSocket(PathBuf::from(path)),
        None => {
            let dup = |fd: RawFd| -> Option<OwnedFd> {
                // SAFETY: fds 0-2 are open (the daemon set them); F_DUPFD_CLOEXEC makes a new one.
                let n = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
                // SAFETY: `n` is a fresh descriptor that only this OwnedFd owns.
                (n >= 0).then(|| unsafe { OwnedFd::from_raw_fd(n) })
            };
            let fds = Stdio::Fds {
                stdin: dup(0),
                stdout: dup(1),
                stderr: dup(2),
            };
            // Our own 0-2 must not keep the daemon's pipes open.
            if let Ok(null) = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")
            {
                for fd in 0..3 {
                    // SAFETY: dup2 onto our own standard descriptors; `null` stays open.
                    unsafe { libc::dup2(null.as_raw_fd(), fd) };
                }
            }
            fds
        }
    };
    let rt = match Runtime::new(Path::new(state_root)) {
        Ok(rt) => rt,
        Err(e) => {
            report(&mut sync, &format!("err other {e}"));
            return 1;
        }
    };
    let handle = match rt.exec(&id, Path::new(process), stdio) {
        Ok(h) => h,
        Err(e) => {
            report(&mut sync, &format!("err {} {e}", error_kind(&e)));
            return 1;
        }
    };
    report(&mut sync, &format!("ok {}", handle.pid()));
    let code = match handle.wait() {
        Ok(s) => s
            .code()
            .or_else(|| s.signal().map(|n| 128 + n))
            .unwrap_or(255),
        Err(_) => 255,
    };
    report(&mut sync, &format!("exit {code}"));
    0
}

/// Removes the container's cgroup directories that are still there (under the default parent
/// `berth/`): right after the last task exits, the kernel can refuse `rmdir` with EBUSY for a
/// moment, and libcontainer does not retry. Only empty cgroups can be removed, so nothing that
/// still runs is touched.
pub fn remove_cgroups(id: &str) {
    if id.is_empty() || id.contains('/') || id.starts_with('.') {
        return;
    }
    berth_runtime::remove_cgroup_dirs(&Path::new("berth").join(id));
}

fn write_exit(dir: &Path, rec: &ExitRecord) -> Result<(), String> {
    let tmp = dir.join(".exit.json.tmp");
    let json = serde_json::to_vec(rec).map_err(|e| e.to_string())?;
    std::fs::write(&tmp, json).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, dir.join(EXIT_FILE)).map_err(|e| e.to_string())
}

/// Whether the kernel OOM-killed something in the container's memory cgroup (v1 or v2).
fn oom_killed(id: &str) -> bool {
    let files = [
        format!("/sys/fs/cgroup/memory/berth/{id}/memory.oom_control"),
        format!("/sys/fs/cgroup/berth/{id}/memory.events"),
        format!("/sys/fs/cgroup/unified/berth/{id}/memory.events"),
    ];
    files.iter().any(|f| {
        std::fs::read_to_string(f).is_ok_and(|s| {
            s.lines().any(|l| {
                l.strip_prefix("oom_kill ")
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .is_some_and(|n| n > 0)
            })
        })
    })
}

/// Longest line kept whole; longer output is split into several entries, as Docker does.
const MAX_LINE: usize = 16 * 1024;

/// The container's json-file log, rotated as Docker's json-file driver does: when a write
/// would take it past `max_size`, `<log>.1` … become `<log>.2` …, the log becomes `<log>.1`,
/// and a new log starts; files beyond `max_file` are dropped.
struct LogFile {
    path: PathBuf,
    file: Option<std::fs::File>,
    written: u64,
    limits: LogLimits,
}

impl LogFile {
    fn open(path: PathBuf, limits: LogLimits) -> std::io::Result<LogFile> {
        let file = if limits.enabled {
            Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)?,
            )
        } else {
            None
        };
        let written = match &file {
            Some(f) => f.metadata()?.len(),
            None => 0,
        };
        Ok(LogFile {
            path,
            file,
            written,
            limits,
        })
    }

    fn rotated(&self, n: u32) -> PathBuf {
        PathBuf::from(format!("{}.{n}", self.path.display()))
    }

    fn write(&mut self, out: &[u8]) -> std::io::Result<()> {
        if self.file.is_none() {
            return Ok(());
        }
        let max = self.limits.max_size;
        if max > 0 && self.written > 0 && self.written + out.len() as u64 > max {
            self.rotate()?;
        }
        if let Some(f) = &mut self.file {
            f.write_all(out)?;
            self.written += out.len() as u64;
        }
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let keep = self.limits.max_file.max(1);
        if keep == 1 {
            if let Some(f) = &self.file {
                f.set_len(0)?;
            }
            self.written = 0;
            return Ok(());
        }
        let _ = std::fs::remove_file(self.rotated(keep - 1));
        for n in (1..keep - 1).rev() {
            let _ = std::fs::rename(self.rotated(n), self.rotated(n + 1));
        }
        std::fs::rename(&self.path, self.rotated(1))?;
        self.file = Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?,
        );
        self.written = 0;
        Ok(())
    }
}

/// One output of the container: a pipe (stdout or stderr) or the pty master.
struct Source {
    fd: OwnedFd,
    name: &'static str,
    buf: Vec<u8>,
    open: bool,
}

impl Source {
    fn new(fd: OwnedFd, name: &'static str) -> Source {
        Source {
            fd,
            name,
            buf: Vec::new(),
            open: true,
        }
    }
}

#[derive(PartialEq, Eq)]
enum ClientMode {
    /// Nothing received yet: the first byte picks the mode.
    New,
    Stdin,
    Resize,
}

struct Client {
    stream: std::os::unix::net::UnixStream,
    mode: ClientMode,
    /// Resize lines, or stdin frames, not complete yet.
    line: Vec<u8>,
}

/// The shim's event loop: container output into the log, attach clients into the container's
/// stdin, resize requests onto the pty. Single-threaded `poll(2)`; writes to stdin never block
/// (a container that does not read its stdin only stops the clients' input, not the log).
#[derive(Default)]
struct Io {
    sources: Vec<Source>,
    /// Write partial lines to the log at once (TTY or interactive output, where a prompt without
    /// a newline must show up); otherwise lines are kept whole, as Docker's json-file does.
    flush_partial: bool,
    stdin: Option<OwnedFd>,
    stdin_pending: Vec<u8>,
    close_stdin_when_flushed: bool,
    stdin_once: bool,
    master: Option<RawFd>,
    listener: Option<std::os::unix::net::UnixListener>,
    clients: Vec<Client>,
}

enum Slot {
    Source(usize),
    Listener,
    Client(usize),
    Stdin,
}

fn read_fd(fd: RawFd, buf: &mut [u8]) -> std::io::Result<usize> {
    // SAFETY: reads at most `buf.len()` bytes into the live, writable buffer `buf`.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast::<libc::c_void>(), buf.len()) };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

fn retry(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EINTR) | Some(libc::EAGAIN))
}

impl Io {
    /// Runs until every output source is closed (the container's processes are gone).
    fn run(&mut self, mut log: LogFile) {
        let mut chunk = vec![0u8; 32 * 1024];
        while self.sources.iter().any(|s| s.open) {
            let mut fds = Vec::new();
            let mut slots = Vec::new();
            for (i, s) in self.sources.iter().enumerate() {
                if s.open {
                    fds.push(pollfd(s.fd.as_raw_fd(), libc::POLLIN));
                    slots.push(Slot::Source(i));
                }
            }
            if let Some(l) = &self.listener {
                fds.push(pollfd(l.as_raw_fd(), libc::POLLIN));
                slots.push(Slot::Listener);
            }
            // Input is taken from clients only while nothing is waiting to go to stdin.
            let accept_input = self.stdin_pending.is_empty();
            for (i, c) in self.clients.iter().enumerate() {
                if c.mode != ClientMode::Stdin || accept_input {
                    fds.push(pollfd(c.stream.as_raw_fd(), libc::POLLIN));
                    slots.push(Slot::Client(i));
                }
            }
            if let Some(fd) = &self.stdin {
                if !self.stdin_pending.is_empty() {
                    fds.push(pollfd(fd.as_raw_fd(), libc::POLLOUT));
                    slots.push(Slot::Stdin);
                }
            }
            // SAFETY: `fds` is a live, writable array of `fds.len()` pollfd structs.
            let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
            if r < 0 {
                if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                break;
            }
            let mut out = Vec::new();
            let mut dropped = Vec::new();
            for (p, slot) in fds.iter().zip(&slots) {
                if p.revents == 0 {
                    continue;
                }
                match *slot {
                    Slot::Source(i) => self.read_source(i, &mut chunk, &mut out),
                    Slot::Listener => self.accept(),
                    Slot::Client(i) => {
                        if !self.read_client(i, &mut chunk) {
                            dropped.push(i);
                        }
                    }
                    Slot::Stdin => self.write_stdin(),
                }
            }
            for i in dropped.into_iter().rev() {
                self.clients.remove(i);
            }
            if self.close_stdin_when_flushed && self.stdin_pending.is_empty() {
                self.stdin = None;
                self.close_stdin_when_flushed = false;
            }
            if !out.is_empty() {
                if let Err(e) = log.write(&out) {
                    eprintln!("berth shim: writing log: {e}");
                }
            }
        }
    }

    fn read_source(&mut self, i: usize, chunk: &mut [u8], out: &mut Vec<u8>) {
        let flush_partial = self.flush_partial;
        let s = &mut self.sources[i];
        match read_fd(s.fd.as_raw_fd(), chunk) {
            Ok(0) => s.open = false,
            Ok(n) => s.buf.extend_from_slice(&chunk[..n]),
            Err(e) if retry(&e) => return,
            // EIO from a pty master: every slave side is closed.
            Err(_) => s.open = false,
        }
        while let Some(pos) = s.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = s.buf.drain(..=pos).collect();
            entry(out, s.name, &line);
        }
        while s.buf.len() >= MAX_LINE {
            let part: Vec<u8> = s.buf.drain(..MAX_LINE).collect();
            entry(out, s.name, &part);
        }
        if (flush_partial || !s.open) && !s.buf.is_empty() {
            let rest = std::mem::take(&mut s.buf);
            entry(out, s.name, &rest);
        }
    }

    fn accept(&mut self) {
        let Some(l) = &self.listener else { return };
        while let Ok((stream, _)) = l.accept() {
            let _ = stream.set_nonblocking(true);
            self.clients.push(Client {
                stream,
                mode: ClientMode::New,
                line: Vec::new(),
            });
        }
    }

    /// Handles input from client `i`; false when the client is gone.
    fn read_client(&mut self, i: usize, chunk: &mut [u8]) -> bool {
        use std::io::Read;
        let n = match self.clients[i].stream.read(chunk) {
            Ok(n) => n,
            Err(e) if retry(&e) => return true,
            Err(_) => 0,
        };
        let c = &mut self.clients[i];
        if n == 0 {
            return false;
        }
        let mut data = &chunk[..n];
        if c.mode == ClientMode::New {
            c.mode = match data[0] {
                ATTACH_STDIN => ClientMode::Stdin,
                ATTACH_RESIZE => ClientMode::Resize,
                _ => return false,
            };
            data = &data[1..];
        }
        match c.mode {
            ClientMode::Stdin => {
                c.line.extend_from_slice(data);
                let mut input = Vec::new();
                let mut ended = false;
                while c.line.len() >= 4 {
                    let len =
                        u32::from_be_bytes([c.line[0], c.line[1], c.line[2], c.line[3]]) as usize;
                    if len == 0 {
                        ended = true;
                        c.line.clear();
                        break;
                    }
                    if c.line.len() < 4 + len {
                        break;
                    }
                    input.extend_from_slice(&c.line[4..4 + len]);
                    c.line.drain(..4 + len);
                }
                if self.stdin.is_some() && !input.is_empty() {
                    self.stdin_pending.extend_from_slice(&input);
                    self.write_stdin();
                }
                if ended {
                    if self.stdin_once {
                        self.close_stdin_when_flushed = true;
                    }
                    return false;
                }
            }
            ClientMode::Resize => {
                c.line.extend_from_slice(data);
                while let Some(pos) = c.line.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = c.line.drain(..=pos).collect();
                    let text = String::from_utf8_lossy(&line);
                    let mut it = text.split_whitespace().map(|v| v.parse::<u16>());
                    if let (Some(Ok(h)), Some(Ok(w)), Some(m)) = (it.next(), it.next(), self.master)
                    {
                        set_winsize(m, h, w);
                    }
                }
                if c.line.len() > 64 {
                    return false;
                }
            }
            ClientMode::New => {}
        }
        true
    }

    fn write_stdin(&mut self) {
        let Some(fd) = &self.stdin else {
            self.stdin_pending.clear();
            return;
        };
        while !self.stdin_pending.is_empty() {
            // SAFETY: writes at most `stdin_pending.len()` bytes from the live buffer.
            let n = unsafe {
                libc::write(
                    fd.as_raw_fd(),
                    self.stdin_pending.as_ptr().cast::<libc::c_void>(),
                    self.stdin_pending.len(),
                )
            };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if retry(&e) {
                    return;
                }
                // EPIPE: the container closed its stdin; input has nowhere to go.
                self.stdin = None;
                self.stdin_pending.clear();
                return;
            }
            self.stdin_pending.drain(..n as usize);
        }
    }
}

fn pollfd(fd: RawFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

/// Sets a terminal's size (`TIOCSWINSZ`); the foreground process group gets `SIGWINCH`.
pub fn set_winsize(fd: RawFd, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one `struct winsize` through the pointer, a live local.
    unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws as *const libc::winsize) };
}

fn entry(out: &mut Vec<u8>, stream: &str, line: &[u8]) {
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let v = serde_json::json!({
        "log": String::from_utf8_lossy(line),
        "stream": stream,
        "time": time,
    });
    out.extend_from_slice(v.to_string().as_bytes());
    out.push(b'\n');
}
