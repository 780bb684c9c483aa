//! `berth runtime …` (or the binary called as `berth-runtime`): an OCI runtime with runc's command
//! line, so containerd's runc shim (`ctr run --runc-binary`) and other runc callers can use berth.
//!
//! The caller's contract is runc's: global flags (`--root`, `--log`, `--log-format`, `--debug`,
//! `--systemd-cgroup`) before the command; `create` leaves the init process waiting for `start`
//! and exits, so the init is re-parented to the caller's subreaper (containerd's shim is one);
//! errors go to stderr and, with `--log`, to the log file as `{"level":"error","msg":…,"time":…}`
//! lines, which the shim reads back; the phrases callers match on are runc's ("container does not
//! exist", "container not running"). State lives under `--root` (see [`Runtime`]).
//!
//! This process is single-threaded, as [`Runtime::create`] requires. Foreground `run` and `exec`
//! stay the parent of the container process: they forward signals to it, relay a pty when the
//! process has a terminal and no `--console-socket` was given, and exit with its status
//! (`128 + signal` when it was killed).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use nix::sys::signal::Signal;
use oci_spec::runtime::{Capability, Process, Spec};
use serde::Serialize;

use crate::run::{
    parse_signal, write_config, ConsoleSocket, ContainerHandle, CreateOptions, RunError, Runtime,
    State, Status, Stdio, WaitStatus,
};

/// The runtime-spec version this runtime reports and writes into `spec`.
const OCI_VERSION: &str = oci_spec::runtime::VERSION;

#[derive(Debug, Parser)]
#[command(
    name = "berth-runtime",
    about = "berth's OCI runtime, with runc's command line (for containerd and other runc callers)",
    disable_version_flag = true
)]
struct Cli {
    /// Where container state is kept.
    #[arg(long, value_name = "DIR", default_value = "/run/berth-runtime")]
    root: PathBuf,
    /// Write log records (and errors) to this file instead of stderr.
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Format of log records.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Log each step.
    #[arg(long)]
    debug: bool,
    /// Accepted for runc compatibility; cgroups are always managed through cgroupfs.
    #[arg(long)]
    systemd_cgroup: bool,
    /// Accepted for runc compatibility (checkpoint/restore is not supported).
    #[arg(long, value_name = "PATH", hide = true)]
    criu: Option<String>,
    /// Accepted for runc compatibility (true, false or auto).
    #[arg(long, value_name = "VALUE", hide = true, num_args = 0..=1, default_missing_value = "true")]
    rootless: Option<String>,
    /// Print the version.
    #[arg(short = 'v', long)]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a container from a bundle; its process waits for `start`.
    Create(CreateArgs),
    /// Run the user's process of a created container.
    Start { id: String },
    /// Create and start a container, wait for it and delete it (or return at once with -d).
    Run(RunArgs),
    /// Print a container's state as JSON.
    State { id: String },
    /// Send a signal (default SIGTERM) to the container's init, or with --all to every process.
    Kill {
        /// Signal every process in the container.
        #[arg(short, long)]
        all: bool,
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a container and its state.
    Delete {
        /// Kill the container first when it still runs; an unknown id is not an error.
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// Run another process in a running container.
    Exec(ExecArgs),
    /// List the processes of a container.
    Ps {
        #[arg(short, long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
        id: String,
        /// Options for ps(1) (table format; default -ef).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// List containers.
    List {
        /// Print only the ids.
        #[arg(short, long)]
        quiet: bool,
        #[arg(short, long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Freeze every process of a container.
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// Write a default config.json into the bundle.
    Spec {
        /// Bundle directory.
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        /// A spec for a container run by an unprivileged user.
        #[arg(long)]
        rootless: bool,
    },
    /// Print the features this runtime supports, as JSON.
    Features,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
struct CreateArgs {
    /// Bundle directory (holds config.json).
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// Unix socket that receives the pty master (for `process.terminal`).
    #[arg(long, value_name = "PATH")]
    console_socket: Option<PathBuf>,
    /// Write the init's pid to this file.
    #[arg(long, value_name = "PATH")]
    pid_file: Option<PathBuf>,
    /// Do not use pivot_root (for a rootfs on a ramdisk).
    #[arg(long)]
    no_pivot: bool,
    /// Accepted for runc compatibility: the container always keeps the caller's session keyring.
    #[arg(long)]
    no_new_keyring: bool,
    /// Pass this many extra descriptors (3, 4, …) into the container.
    #[arg(long, value_name = "N", default_value_t = 0)]
    preserve_fds: i32,
    id: String,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    create: CreateArgs,
    /// Return once the container runs.
    #[arg(short, long)]
    detach: bool,
    /// Keep the container's state after it exits.
    #[arg(long)]
    keep: bool,
    /// Accepted for runc compatibility.
    #[arg(long, hide = true)]
    no_subreaper: bool,
}

#[derive(Debug, Args)]
struct ExecArgs {
    /// An OCI `process` JSON file describing the process (instead of COMMAND).
    #[arg(short, long, value_name = "FILE")]
    process: Option<PathBuf>,
    #[arg(long, value_name = "PATH")]
    console_socket: Option<PathBuf>,
    #[arg(long, value_name = "PATH")]
    pid_file: Option<PathBuf>,
    /// Return once the process runs.
    #[arg(short, long)]
    detach: bool,
    /// Give the process a pty.
    #[arg(short, long)]
    tty: bool,
    /// Working directory in the container.
    #[arg(long, value_name = "DIR")]
    cwd: Option<PathBuf>,
    /// Add an environment variable (KEY=VALUE).
    #[arg(short, long, value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// uid[:gid] to run as.
    #[arg(short, long, value_name = "UID[:GID]")]
    user: Option<String>,
    /// An additional gid.
    #[arg(short = 'g', long, value_name = "GID")]
    additional_gids: Vec<u32>,
    /// Add a capability (CAP_NET_ADMIN or NET_ADMIN).
    #[arg(short, long, value_name = "CAP")]
    cap: Vec<String>,
    /// Set no_new_privileges.
    #[arg(long)]
    no_new_privs: bool,
    id: String,
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    command: Vec<String>,
}

/// Why a command failed. [`Display`](std::fmt::Display) gives what the caller sees on stderr and in
/// the log file, worded like runc where callers match on the text.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("{}", runtime_message(.op, .id, .source))]
    Runtime {
        op: &'static str,
        id: String,
        source: RunError,
    },
    #[error("{path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("reading {path}: {detail}")]
    ReadSpec { path: PathBuf, detail: String },
    #[error("File {} exists. Remove it first", .path.display())]
    ConfigExists { path: PathBuf },
    #[error("unknown signal {signal:?}")]
    UnknownSignal { signal: String },
    #[error("cannot allocate tty if berth-runtime will detach without setting console socket")]
    ConsoleSocketRequired,
    #[error("cannot use console socket if berth-runtime will not detach or allocate tty")]
    ConsoleSocketUnused,
    #[error("exec needs a command or --process")]
    NoExecCommand,
    #[error("invalid --user {value:?}: want uid[:gid] (numbers)")]
    BadUser { value: String },
    #[error("unknown capability {name:?}")]
    BadCapability { name: String },
    #[error("{what}: {source}")]
    Sys {
        what: &'static str,
        #[source]
        source: nix::Error,
    },
    #[error("running ps: {detail}")]
    Ps { detail: String },
}

/// runc's wording for the failures containerd's shim inspects: "does not exist" (the container
/// is gone), "container not running" (a kill that found nothing to signal).
fn runtime_message(op: &str, id: &str, e: &RunError) -> String {
    match e {
        RunError::NotFound { .. } => "container does not exist".to_string(),
        RunError::AlreadyExists { .. } => format!("container with id exists: {id}"),
        RunError::IncorrectStatus { status, .. } => match (op, status) {
            ("kill" | "pause", _) => "container not running".to_string(),
            ("resume", _) => "container not paused".to_string(),
            ("start", Status::Running) => "cannot start an already running container".into(),
            ("start", Status::Stopped) => "cannot start a container that has stopped".into(),
            ("start", s) => format!("cannot start a container in the {s} state"),
            ("delete", s) => format!("cannot delete container {id} that is not stopped: {s}"),
            ("exec", s) => format!("cannot exec in a {s} container"),
            _ => e.to_string(),
        },
        _ => e.to_string(),
    }
}

fn rt_err<'a>(op: &'static str, id: &'a str) -> impl FnOnce(RunError) -> CliError + 'a {
    move |source| CliError::Runtime {
        op,
        id: id.to_string(),
        source,
    }
}

/// `println!` that ignores a closed stdout (`… | head`) instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        let _ = writeln!(io::stdout(), $($arg)*);
    }};
}

/// Log records in logrus's shapes (runc's), to the `--log` file or stderr.
struct Logger {
    file: Option<File>,
    json: bool,
    debug: bool,
}

impl Logger {
    fn open(path: Option<&Path>, format: LogFormat, debug: bool) -> Logger {
        let file = path.and_then(|p| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o644)
                .open(p)
                .map_err(|e| eprintln!("opening log file {}: {e}", p.display()))
                .ok()
        });
        Logger {
            file,
            json: format == LogFormat::Json,
            debug,
        }
    }

    fn record(&self, level: &str, msg: &str) -> String {
        let time = Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true);
        if self.json {
            serde_json::json!({ "level": level, "msg": msg, "time": time }).to_string()
        } else {
            format!("time={time:?} level={level} msg={msg:?}")
        }
    }

    fn write(&self, level: &str, msg: &str) {
        let line = self.record(level, msg) + "\n";
        match &self.file {
            Some(f) => {
                let _ = (&*f).write_all(line.as_bytes());
            }
            None => {
                let _ = io::stderr().write_all(line.as_bytes());
            }
        }
    }

    fn debug(&self, msg: impl FnOnce() -> String) {
        if self.debug {
            self.write("debug", &msg());
        }
    }

    /// Errors always reach stderr (as runc's do) and, with `--log`, the log file too.
    fn error(&self, msg: &str) {
        if self.file.is_some() {
            self.write("error", msg);
        }
        eprintln!("{msg}");
    }
}

/// Runs the runtime CLI. `prog` is the name shown in usage text; `args` excludes it. Returns the
/// process exit code.
pub fn main(prog: &str, args: &[OsString]) -> i32 {
    let argv = std::iter::once(OsString::from(prog)).chain(args.iter().cloned());
    let cli = match Cli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    if cli.version {
        outln!("berth-runtime version {}", env!("CARGO_PKG_VERSION"));
        outln!("commit: unknown");
        outln!("spec: {OCI_VERSION}");
        return 0;
    }
    let log = Logger::open(cli.log.as_deref(), cli.log_format, cli.debug);
    let Some(command) = cli.command else {
        eprintln!("{prog}: missing command (see --help)");
        return 2;
    };
    if cli.systemd_cgroup {
        log.debug(|| "--systemd-cgroup: cgroups are managed through cgroupfs".to_string());
    }
    match dispatch(&cli.root, command, &log) {
        Ok(code) => code,
        Err(e) => {
            log.error(&e.to_string());
            1
        }
    }
}

fn dispatch(root: &Path, command: Command, log: &Logger) -> Result<i32, CliError> {
    let runtime = || {
        Runtime::new(root).map_err(|source| CliError::Runtime {
            op: "open",
            id: String::new(),
            source,
        })
    };
    match command {
        Command::Spec { bundle, rootless } => spec(&bundle, rootless).map(|()| 0),
        Command::Features => {
            outln!("{}", pretty(&features()));
            Ok(0)
        }
        Command::Create(a) => {
            let rt = runtime()?;
            let stdio = console_stdio(&a, true)?;
            log.debug(|| format!("create {} from bundle {}", a.id, a.bundle.display()));
            let handle = create(&rt, &a, stdio)?;
            log.debug(|| format!("created {} with init pid {}", a.id, handle.pid()));
            Ok(0)
        }
        Command::Run(a) => run(&runtime()?, root, &a, log),
        Command::Start { id } => {
            runtime()?.start(&id).map_err(rt_err("start", &id))?;
            log.debug(|| format!("started {id}"));
            Ok(0)
        }
        Command::State { id } => {
            let rt = runtime()?;
            let st = rt.state(&id).map_err(rt_err("state", &id))?;
            outln!("{}", pretty(&StateJson::from(st)));
            Ok(0)
        }
        Command::Kill { all, id, signal } => {
            let sig = parse_signal(&signal).ok_or(CliError::UnknownSignal { signal })?;
            log.debug(|| format!("kill {id} {sig} (all: {all})"));
            let rt = runtime()?;
            match rt.kill(&id, sig, all) {
                Ok(()) => Ok(0),
                // With --all, libcontainer tries the cgroup even when the init is gone; for the
                // caller that is runc's "container not running" all the same.
                Err(_) if all && rt.state(&id).is_ok_and(|s| s.status == Status::Stopped) => {
                    Err(CliError::Runtime {
                        op: "kill",
                        id: id.clone(),
                        source: RunError::IncorrectStatus {
                            id,
                            status: Status::Stopped,
                        },
                    })
                }
                Err(e) => Err(rt_err("kill", &id)(e)),
            }
        }
        Command::Delete { force, id } => {
            log.debug(|| format!("delete {id} (force: {force})"));
            match runtime()?.delete(&id, force) {
                Ok(()) => Ok(0),
                Err(RunError::NotFound { .. }) if force => Ok(0),
                Err(e) => Err(rt_err("delete", &id)(e)),
            }
        }
        Command::Pause { id } => {
            runtime()?.pause(&id).map_err(rt_err("pause", &id))?;
            Ok(0)
        }
        Command::Resume { id } => {
            runtime()?.resume(&id).map_err(rt_err("resume", &id))?;
            Ok(0)
        }
        Command::Ps {
            format,
            id,
            ps_args,
        } => ps(&runtime()?, &id, format, &ps_args).map(|()| 0),
        Command::List { quiet, format } => list(&runtime()?, quiet, format).map(|()| 0),
        Command::Exec(a) => exec(&runtime()?, root, &a, log),
    }
}

fn pretty<T: Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// `runc state`'s JSON, field for field.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StateJson {
    oci_version: String,
    id: String,
    pid: i32,
    status: String,
    bundle: PathBuf,
    rootfs: PathBuf,
    created: String,
    owner: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

impl From<State> for StateJson {
    fn from(st: State) -> Self {
        let rootfs = Spec::load(st.bundle.join("config.json"))
            .ok()
            .and_then(|s| s.root().as_ref().map(|r| r.path().clone()))
            .map(|p| st.bundle.join(p))
            .map(|p| p.canonicalize().unwrap_or(p))
            .unwrap_or_default();
        StateJson {
            oci_version: OCI_VERSION.to_string(),
            pid: match st.status {
                // runc reports no pid once the init is gone (it may be reused).
                Status::Stopped => 0,
                _ => st.pid.unwrap_or(0),
            },
            status: st.status.to_string(),
            rootfs,
            created: rfc3339(st.created.unwrap_or(SystemTime::UNIX_EPOCH)),
            owner: st.owner.unwrap_or_default(),
            annotations: st.annotations,
            bundle: st.bundle,
            id: st.id,
        }
    }
}

fn rfc3339(t: SystemTime) -> String {
    DateTime::<Utc>::from(t).to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn load_spec(bundle: &Path) -> Result<Spec, CliError> {
    let path = bundle.join("config.json");
    Spec::load(&path).map_err(|e| CliError::ReadSpec {
        path,
        detail: e.to_string(),
    })
}

fn bundle_dir(bundle: &Path) -> Result<PathBuf, CliError> {
    bundle.canonicalize().map_err(|source| CliError::File {
        path: bundle.to_path_buf(),
        source,
    })
}

/// The stdio of a detached container: a pty through `--console-socket` exactly when the process
/// asks for a terminal.
fn console_stdio(a: &CreateArgs, detached: bool) -> Result<Stdio, CliError> {
    let terminal = process_terminal(&load_spec(&bundle_dir(&a.bundle)?)?);
    match (&a.console_socket, terminal) {
        (Some(p), true) => Ok(Stdio::ConsoleSocket(p.clone())),
        (Some(_), false) => Err(CliError::ConsoleSocketUnused),
        (None, true) if detached => Err(CliError::ConsoleSocketRequired),
        (None, _) => Ok(Stdio::Inherit),
    }
}

fn process_terminal(spec: &Spec) -> bool {
    spec.process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false)
}

/// Creates the container, writes the pid file, and removes whatever a failed create left behind.
fn create(rt: &Runtime, a: &CreateArgs, stdio: Stdio) -> Result<ContainerHandle, CliError> {
    let bundle = bundle_dir(&a.bundle)?;
    let opts = CreateOptions {
        no_pivot: a.no_pivot,
        preserve_fds: a.preserve_fds,
    };
    let handle = match rt.create_with(&a.id, &bundle, stdio, &opts) {
        Ok(h) => h,
        Err(e) => {
            if !matches!(
                e,
                RunError::AlreadyExists { .. } | RunError::InvalidId { .. }
            ) {
                let _ = rt.delete(&a.id, true);
            }
            return Err(rt_err("create", &a.id)(e));
        }
    };
    if let Some(path) = &a.pid_file {
        if let Err(e) = write_pid_file(path, handle.pid()) {
            let _ = rt.delete(&a.id, true);
            let _ = handle.wait();
            return Err(e);
        }
    }
    Ok(handle)
}

/// Writes the pid as runc does: decimal, no newline, through a temp file and a rename, so a
/// reader never sees a partial number.
fn write_pid_file(path: &Path, pid: i32) -> Result<(), CliError> {
    let err = |source| CliError::File {
        path: path.to_path_buf(),
        source,
    };
    let name = path
        .file_name()
        .ok_or_else(|| err(io::Error::from(io::ErrorKind::InvalidInput)))?;
    let mut tmp_name = OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    std::fs::write(&tmp, pid.to_string()).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

fn exit_code(s: WaitStatus) -> i32 {
    s.code()
        .or_else(|| s.signal().map(|n| 128 + n))
        .unwrap_or(255)
}

/// A pty socket of our own, for a foreground process with a terminal; its path is short (unix
/// socket paths are limited to 108 bytes) and unique to this process.
fn own_console(root: &Path) -> Result<ConsoleSocket, CliError> {
    let path = root.join(format!(".console-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    ConsoleSocket::bind(&path).map_err(rt_err("console", ""))
}

fn run(rt: &Runtime, root: &Path, a: &RunArgs, log: &Logger) -> Result<i32, CliError> {
    let c = &a.create;
    let terminal = process_terminal(&load_spec(&bundle_dir(&c.bundle)?)?);
    let mut console = None;
    let stdio = if terminal && c.console_socket.is_none() && !a.detach {
        let sock = own_console(root)?;
        let stdio = Stdio::ConsoleSocket(sock.path().to_path_buf());
        console = Some(sock);
        stdio
    } else {
        console_stdio(c, a.detach)?
    };
    log.debug(|| format!("run {} from bundle {}", c.id, c.bundle.display()));
    let handle = create(rt, c, stdio)?;
    let master = match console.as_ref().map(|s| s.receive_master()).transpose() {
        Ok(m) => m,
        Err(e) => {
            let _ = rt.delete(&c.id, true);
            let _ = handle.wait();
            return Err(rt_err("run", &c.id)(e));
        }
    };
    drop(console);
    if let Err(e) = rt.start(&c.id) {
        let _ = rt.delete(&c.id, true);
        let _ = handle.wait();
        return Err(rt_err("start", &c.id)(e));
    }
    if a.detach {
        return Ok(0);
    }
    let status = supervise(&handle, master);
    if !a.keep {
        if let Err(e) = rt.delete(&c.id, true) {
            log.error(&rt_err("delete", &c.id)(e).to_string());
        }
    }
    let status = status?;
    log.debug(|| format!("{} exited with wait status {}", c.id, status.raw()));
    Ok(exit_code(status))
}

/// Removes a file when dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn exec(rt: &Runtime, root: &Path, a: &ExecArgs, log: &Logger) -> Result<i32, CliError> {
    let (process_file, _tmp, terminal) = match &a.process {
        Some(p) => {
            let text = std::fs::read(p).map_err(|source| CliError::File {
                path: p.clone(),
                source,
            })?;
            let process: Process =
                serde_json::from_slice(&text).map_err(|e| CliError::ReadSpec {
                    path: p.clone(),
                    detail: e.to_string(),
                })?;
            (p.clone(), None, process.terminal().unwrap_or(false))
        }
        None => {
            let process = exec_process(rt, a)?;
            let path = root.join(format!(".exec-{}.json", std::process::id()));
            let json = serde_json::to_vec(&process).unwrap_or_default();
            std::fs::write(&path, json).map_err(|source| CliError::File {
                path: path.clone(),
                source,
            })?;
            (path.clone(), Some(TempFile(path)), a.tty)
        }
    };
    let mut console = None;
    let stdio = match (&a.console_socket, terminal) {
        (Some(p), true) => Stdio::ConsoleSocket(p.clone()),
        (Some(_), false) => return Err(CliError::ConsoleSocketUnused),
        (None, true) if a.detach => return Err(CliError::ConsoleSocketRequired),
        (None, true) => {
            let sock = own_console(root)?;
            let stdio = Stdio::ConsoleSocket(sock.path().to_path_buf());
            console = Some(sock);
            stdio
        }
        (None, false) => Stdio::Inherit,
    };
    log.debug(|| format!("exec in {}", a.id));
    let handle = rt
        .exec(&a.id, &process_file, stdio)
        .map_err(rt_err("exec", &a.id))?;
    let master = match console.as_ref().map(|s| s.receive_master()).transpose() {
        Ok(m) => m,
        Err(e) => {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(handle.pid()), Signal::SIGKILL);
            let _ = handle.wait();
            return Err(rt_err("exec", &a.id)(e));
        }
    };
    drop(console);
    if let Some(path) = &a.pid_file {
        write_pid_file(path, handle.pid())?;
    }
    if a.detach {
        return Ok(0);
    }
    Ok(exit_code(supervise(&handle, master)?))
}

/// The process `exec COMMAND` runs: the container's own process (user, env, capabilities, limits)
/// with the command and the flags applied, as runc builds it.
fn exec_process(rt: &Runtime, a: &ExecArgs) -> Result<Process, CliError> {
    if a.command.is_empty() {
        return Err(CliError::NoExecCommand);
    }
    let st = rt.state(&a.id).map_err(rt_err("exec", &a.id))?;
    let spec = load_spec(&st.bundle)?;
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    p.set_console_size(None);
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    if !a.env.is_empty() {
        let mut env = p.env().clone().unwrap_or_default();
        env.extend(a.env.iter().cloned());
        p.set_env(Some(env));
    }
    if let Some(u) = &a.user {
        let bad = || CliError::BadUser { value: u.clone() };
        let (uid, gid) = match u.split_once(':') {
            Some((uid, gid)) => (uid, Some(gid)),
            None => (u.as_str(), None),
        };
        p.user_mut().set_uid(uid.parse().map_err(|_| bad())?);
        if let Some(gid) = gid {
            p.user_mut().set_gid(gid.parse().map_err(|_| bad())?);
        }
    }
    if !a.additional_gids.is_empty() {
        let mut gids = p.user().additional_gids().clone().unwrap_or_default();
        gids.extend(&a.additional_gids);
        p.user_mut().set_additional_gids(Some(gids));
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for name in &a.cap {
            let upper = name.to_ascii_uppercase();
            let full = if upper.starts_with("CAP_") {
                upper
            } else {
                format!("CAP_{upper}")
            };
            let cap: Capability = serde_json::from_value(serde_json::Value::String(full))
                .map_err(|_| CliError::BadCapability { name: name.clone() })?;
            let with = |set: &Option<oci_spec::runtime::Capabilities>| {
                let mut set = set.clone().unwrap_or_default();
                set.insert(cap);
                Some(set)
            };
            let (b, e, p2) = (
                with(caps.bounding()),
                with(caps.effective()),
                with(caps.permitted()),
            );
            caps.set_bounding(b).set_effective(e).set_permitted(p2);
        }
        p.set_capabilities(Some(caps));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    Ok(p)
}

/// Signals a foreground `run`/`exec` passes on to the container process. SIGCHLD wakes the loop;
/// SIGPIPE is blocked so a closed stdout shows up as EPIPE instead of killing the relay.
const FORWARDED: &[Signal] = &[
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGALRM,
    Signal::SIGTERM,
    Signal::SIGCONT,
    Signal::SIGTSTP,
];

/// Waits for a foreground container process: forwards signals to it and, when it has a pty whose
/// master we hold, copies our stdin to the pty and the pty to our stdout (our terminal in raw
/// mode meanwhile, window size kept in step).
fn supervise(handle: &ContainerHandle, master: Option<OwnedFd>) -> Result<WaitStatus, CliError> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::signal::SigSet;
    use nix::sys::signalfd::{SfdFlags, SignalFd};

    let sys = |what| move |source| CliError::Sys { what, source };
    let mut mask = SigSet::empty();
    for s in FORWARDED {
        mask.add(*s);
    }
    for s in [Signal::SIGCHLD, Signal::SIGPIPE, Signal::SIGWINCH] {
        mask.add(s);
    }
    // Blocked only now: the container process was cloned with our earlier (open) mask.
    mask.thread_block().map_err(sys("blocking signals"))?;
    let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(sys("signalfd"))?;
    let pid = nix::unistd::Pid::from_raw(handle.pid());
    let stdin = io::stdin();
    let stdout = io::stdout();
    let _raw = master
        .as_ref()
        .and_then(|_| RawTerminal::enter(stdin.as_fd()));
    if let Some(m) = &master {
        copy_window_size(stdin.as_fd(), m.as_fd());
    }
    let mut stdin_open = master.is_some();
    let mut master_open = master.is_some();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        if let Some(status) = handle.try_wait().map_err(rt_err("wait", handle.id()))? {
            if let Some(m) = &master {
                drain(m.as_fd(), stdout.as_fd(), &mut buf);
            }
            return Ok(status);
        }
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        let mut master_idx = None;
        let mut stdin_idx = None;
        if let Some(m) = master.as_ref().filter(|_| master_open) {
            master_idx = Some(fds.len());
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
        }
        if stdin_open {
            stdin_idx = Some(fds.len());
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(sys("poll")(e)),
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if ready[0] {
            while let Ok(Some(info)) = sfd.read_signal() {
                let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
                    continue;
                };
                match sig {
                    Signal::SIGCHLD | Signal::SIGPIPE => {}
                    Signal::SIGWINCH => {
                        if let Some(m) = &master {
                            copy_window_size(stdin.as_fd(), m.as_fd());
                        }
                    }
                    sig => {
                        let _ = nix::sys::signal::kill(pid, sig);
                    }
                }
            }
        }
        if let (Some(i), Some(m)) = (master_idx, &master) {
            if ready[i] {
                match nix::unistd::read(m.as_raw_fd(), &mut buf) {
                    Ok(n) if n > 0 => {
                        if write_all(stdout.as_fd(), &buf[..n]).is_err() {
                            master_open = false;
                        }
                    }
                    Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
                    // EOF or EIO: every holder of the pty's other side is gone.
                    _ => master_open = false,
                }
            }
        }
        if let (Some(i), Some(m)) = (stdin_idx, &master) {
            if ready[i] {
                match nix::unistd::read(stdin.as_raw_fd(), &mut buf) {
                    Ok(n) if n > 0 => {
                        let _ = write_all(m.as_fd(), &buf[..n]);
                    }
                    Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
                    _ => stdin_open = false,
                }
            }
        }
    }
}

fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> nix::Result<()> {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Copies what is still buffered in the pty after the process exited.
fn drain(master: BorrowedFd<'_>, out: BorrowedFd<'_>, buf: &mut [u8]) {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = fcntl(master.as_raw_fd(), FcntlArg::F_GETFL).unwrap_or(0);
    let _ = fcntl(
        master.as_raw_fd(),
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    );
    while let Ok(n) = nix::unistd::read(master.as_raw_fd(), buf) {
        if n == 0 || write_all(out, &buf[..n]).is_err() {
            break;
        }
    }
}

fn copy_window_size(from: BorrowedFd<'_>, to: BorrowedFd<'_>) {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `struct winsize` through the pointer, a valid local.
    if unsafe { libc::ioctl(from.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) } == 0 {
        // SAFETY: TIOCSWINSZ reads one `struct winsize` from the pointer, a valid local.
        unsafe { libc::ioctl(to.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    }
}

/// Our terminal in raw mode (keys go to the container's pty untouched) until dropped.
struct RawTerminal<'a> {
    fd: BorrowedFd<'a>,
    saved: nix::sys::termios::Termios,
}

impl<'a> RawTerminal<'a> {
    fn enter(fd: BorrowedFd<'a>) -> Option<Self> {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let saved = tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(fd, SetArg::TCSANOW, &raw).ok()?;
        Some(RawTerminal { fd, saved })
    }
}

impl Drop for RawTerminal<'_> {
    fn drop(&mut self) {
        use nix::sys::termios::{tcsetattr, SetArg};
        let _ = tcsetattr(self.fd, SetArg::TCSANOW, &self.saved);
    }
}

fn spec(bundle: &Path, rootless: bool) -> Result<(), CliError> {
    let path = bundle.join("config.json");
    if path.exists() {
        return Err(CliError::ConfigExists { path });
    }
    let mut spec = if rootless {
        Spec::rootless(
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        )
    } else {
        Spec::default()
    };
    spec.set_version(OCI_VERSION.to_string());
    spec.set_hostname(Some("berth".to_string()));
    if let Some(p) = spec.process_mut() {
        // An interactive shell, like runc's template; `create` then needs --console-socket.
        p.set_terminal(Some(true));
    }
    write_config(bundle, &spec).map_err(|e| match e {
        RunError::WriteBundle { path, source } => CliError::File { path, source },
        other => CliError::File {
            path: path.clone(),
            source: io::Error::other(other.to_string()),
        },
    })
}

fn ps(rt: &Runtime, id: &str, format: OutputFormat, ps_args: &[String]) -> Result<(), CliError> {
    let pids = rt.pids(id).map_err(rt_err("ps", id))?;
    if format == OutputFormat::Json {
        outln!("{}", serde_json::to_string(&pids).unwrap_or_default());
        return Ok(());
    }
    let args: Vec<String> = if ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        ps_args.to_vec()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .map_err(|e| CliError::Ps {
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(CliError::Ps {
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let pid_col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| CliError::Ps {
            detail: "no PID column in the output of ps".to_string(),
        })?;
    outln!("{header}");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(pid_col)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            outln!("{line}");
        }
    }
    Ok(())
}

fn list(rt: &Runtime, quiet: bool, format: OutputFormat) -> Result<(), CliError> {
    let ids = rt.list().map_err(rt_err("list", ""))?;
    // Half-created or half-deleted entries have no state; runc skips them too.
    let states: Vec<StateJson> = ids
        .iter()
        .filter_map(|id| rt.state(id).ok())
        .map(StateJson::from)
        .collect();
    if quiet {
        for s in &states {
            outln!("{}", s.id);
        }
        return Ok(());
    }
    if format == OutputFormat::Json {
        outln!("{}", serde_json::to_string(&states).unwrap_or_default());
        return Ok(());
    }
    let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from)];
    for s in &states {
        rows.push([
            s.id.clone(),
            s.pid.to_string(),
            s.status.clone(),
            s.bundle.display().to_string(),
            s.created.clone(),
            s.owner.clone(),
        ]);
    }
    // Columns as runc's tabwriter lays them out: at least 12 wide, 3 spaces of padding.
    let widths: Vec<usize> = (0..6)
        .map(|c| {
            rows.iter()
                .map(|r| r[c].len() + 3)
                .max()
                .unwrap_or(0)
                .max(12)
        })
        .collect();
    for r in &rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c == 5 {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}", w = widths[c]));
            }
        }
        outln!("{}", line.trim_end());
    }
    Ok(())
}

/// `runc features`: what this runtime understands, for callers that adapt to it.
fn features() -> serde_json::Value {
    use libcontainer::syscall::linux::MountOption;
    let mut mount_options = MountOption::known_options();
    mount_options.extend(
        [
            "rro",
            "rrw",
            "rnosuid",
            "rsuid",
            "rnodev",
            "rdev",
            "rnoexec",
            "rexec",
            "rnodiratime",
            "rdiratime",
            "rrelatime",
            "rnorelatime",
            "rnoatime",
            "ratime",
            "rstrictatime",
            "rnostrictatime",
            "rnosymfollow",
            "rsymfollow",
            "idmap",
            "ridmap",
        ]
        .map(String::from),
    );
    mount_options.sort();
    mount_options.dedup();
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": [
            "prestart", "createRuntime", "createContainer", "startContainer", "poststart",
            "poststop"
        ],
        "mountOptions": mount_options,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts", "time"],
            "capabilities": CAPABILITIES,
            "cgroup": { "v1": true, "v2": true, "systemd": false, "systemdUser": false },
            "seccomp": {
                "enabled": true,
                "actions": [
                    "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",
                    "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG",
                    "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"
                ],
                "operators": [
                    "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                    "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"
                ],
            },
            "apparmor": { "enabled": true },
            "selinux": { "enabled": true },
        },
        "annotations": {
            "org.berth.runtime.version": env!("CARGO_PKG_VERSION"),
            "org.berth.runtime.libcontainer": "0.7",
        },
    })
}

/// Every capability name the kernel defines (up to CAP_CHECKPOINT_RESTORE, 40).
const CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("berth-runtime").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    #[test]
    fn parses_what_containerds_shim_passes() {
        let cli = parse(&[
            "--root",
            "/run/containerd/runc/default",
            "--log",
            "/b/log.json",
            "--log-format",
            "json",
            "--systemd-cgroup",
            "create",
            "--bundle",
            "/b",
            "--pid-file",
            "/b/init.pid",
            "--console-socket",
            "/tmp/pty.sock",
            "--no-pivot",
            "--no-new-keyring",
            "--preserve-fds",
            "2",
            "c1",
        ]);
        assert_eq!(cli.root, Path::new("/run/containerd/runc/default"));
        assert_eq!(cli.log_format, LogFormat::Json);
        let Some(Command::Create(a)) = cli.command else {
            panic!("not create")
        };
        assert_eq!(a.bundle, Path::new("/b"));
        assert_eq!(a.pid_file.as_deref(), Some(Path::new("/b/init.pid")));
        assert!(a.no_pivot && a.no_new_keyring);
        assert_eq!((a.preserve_fds, a.id.as_str()), (2, "c1"));

        let cli = parse(&["kill", "--all", "c1", "9"]);
        assert!(
            matches!(cli.command, Some(Command::Kill { all: true, ref signal, .. }) if signal == "9")
        );
        let cli = parse(&["delete", "--force", "c1"]);
        assert!(matches!(
            cli.command,
            Some(Command::Delete { force: true, .. })
        ));
        let cli = parse(&[
            "exec",
            "--process",
            "/tmp/p.json",
            "--detach",
            "--pid-file",
            "/p",
            "c1",
        ]);
        assert!(
            matches!(cli.command, Some(Command::Exec(ref a)) if a.detach && a.command.is_empty())
        );
        let cli = parse(&["exec", "-t", "c1", "sh", "-c", "exit 5"]);
        let Some(Command::Exec(a)) = cli.command else {
            panic!("not exec")
        };
        assert_eq!(a.command, ["sh", "-c", "exit 5"]);
        let cli = parse(&["ps", "--format", "json", "c1"]);
        assert!(matches!(
            cli.command,
            Some(Command::Ps {
                format: OutputFormat::Json,
                ..
            })
        ));
        assert!(parse(&["--rootless=false", "list", "-q"])
            .rootless
            .is_some());
    }

    #[test]
    fn errors_use_runcs_words_where_the_shim_matches_them() {
        let nf = RunError::NotFound { id: "c".into() };
        assert_eq!(
            runtime_message("delete", "c", &nf),
            "container does not exist"
        );
        let stopped = RunError::IncorrectStatus {
            id: "c".into(),
            status: Status::Stopped,
        };
        assert_eq!(
            runtime_message("kill", "c", &stopped),
            "container not running"
        );
        let running = RunError::IncorrectStatus {
            id: "c".into(),
            status: Status::Running,
        };
        assert_eq!(
            runtime_message("delete", "c", &running),
            "cannot delete container c that is not stopped: running"
        );
    }

    #[test]
    fn json_log_records_have_logruss_shape() {
        let log = Logger {
            file: None,
            json: true,
            debug: false,
        };
        let v: serde_json::Value =
            serde_json::from_str(&log.record("error", "container does not exist")).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "container does not exist");
        assert!(v["time"].as_str().unwrap().parse::<DateTime<Utc>>().is_ok());
        let text = Logger { json: false, ..log }.record("error", "a \"b\"");
        assert!(text.contains("level=error msg=\"a \\\"b\\\"\""), "{text}");
    }

    #[test]
    fn spec_writes_a_runc_like_template_once() {
        let dir = tempfile::tempdir().unwrap();
        spec(dir.path(), false).unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap())
                .unwrap();
        assert_eq!(v["ociVersion"], OCI_VERSION);
        assert_eq!(v["process"]["terminal"], true);
        assert_eq!(v["process"]["args"], serde_json::json!(["sh"]));
        assert_eq!(v["root"]["path"], "rootfs");
        assert!(matches!(
            spec(dir.path(), false),
            Err(CliError::ConfigExists { .. })
        ));
    }

    #[test]
    fn pid_file_is_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("init.pid");
        write_pid_file(&p, 42).unwrap();
        write_pid_file(&p, 7).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "7");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
