//! Exec instances: `POST /containers/{id}/exec` makes one, `POST /exec/{id}/start` runs it,
//! `GET /exec/{id}/json` reports it, `POST /exec/{id}/resize` sizes its terminal.
//!
//! An exec runs under a helper (`berth shim exec`, a child of the daemon) that calls libcontainer
//! from a single-threaded process and stays the exec process's parent, so it can report the exit
//! status. The daemon holds the other ends of the process's pipes (or its pty master) and streams
//! them to the client. Exec instances live in memory, as Docker's do; an exec whose container
//! exits or is removed is gone with it.

use std::collections::HashMap;
use std::io::BufRead;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::{Engine, Error, Result};

/// The create request (`ExecConfig`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecConfig {
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub detach_keys: Option<String>,
    pub tty: bool,
    pub env: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub privileged: bool,
    pub user: Option<String>,
    pub working_dir: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ExecInstance {
    pub id: String,
    pub container_id: String,
    pub config: ExecConfig,
    pub running: bool,
    /// Set once the process has exited (or failed to start: 126/127, as Docker reports).
    pub exit_code: Option<i64>,
    pub pid: i64,
    pub started: bool,
    /// The pty master while a TTY exec runs (for resize).
    master: Option<Arc<OwnedFd>>,
    /// A size asked for before the terminal existed (the client resizes right after start).
    pending_size: Option<(u16, u16)>,
}

/// The daemon's ends of a started exec's stdio. `stdin` is `None` unless the exec attached it;
/// with a TTY, `master` carries both directions and `stdout`/`stderr` are `None`.
pub struct ExecSession {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    pub master: Option<Arc<OwnedFd>>,
    pub tty: bool,
    /// Resolves with the exit code when the process has exited.
    pub exit: tokio::sync::oneshot::Receiver<i64>,
}

/// The error text of a start failure, as the client shows it (Docker's wording).
fn start_failure(kind: &str, msg: &str, cmd: &str) -> String {
    match kind {
        "notfound" => format!(
            "OCI runtime exec failed: exec failed: unable to start container process: exec: \"{cmd}\": executable file not found in $PATH: unknown"
        ),
        "noexec" => format!(
            "OCI runtime exec failed: exec failed: unable to start container process: exec: \"{cmd}\": permission denied: unknown"
        ),
        _ => format!("OCI runtime exec failed: {msg}: unknown"),
    }
}

impl Engine {
    fn execs(&self) -> std::sync::MutexGuard<'_, HashMap<String, ExecInstance>> {
        self.execs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `POST /containers/{id}/exec`: returns the new exec's ID.
    pub fn create_exec(&self, key: &str, body: &Value) -> Result<String> {
        let c = self.containers.find(key)?;
        crate::attach_lock::prime();
        let config: ExecConfig = serde_json::from_value(body.clone())
            .map_err(|e| Error::InvalidParameter(format!("invalid exec config: {e}")))?;
        let cmd = config.cmd.clone().unwrap_or_default();
        if cmd.is_empty() || cmd[0].is_empty() {
            return Err(Error::InvalidParameter("No exec command specified".into()));
        }
        if let Some(wd) = config.working_dir.as_deref().filter(|w| !w.is_empty()) {
            if !wd.starts_with('/') {
                return Err(Error::InvalidParameter(format!(
                    "the working directory '{wd}' is invalid, it needs to be an absolute path"
                )));
            }
        }
        if c.state.paused {
            return Err(Error::Conflict(format!(
                "Container {key} is paused, unpause the container before exec"
            )));
        }
        if !c.state.running || c.state.restarting {
            return Err(Error::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        let id = hex::encode(rand::random::<[u8; 32]>());
        self.execs().insert(
            id.clone(),
            ExecInstance {
                id: id.clone(),
                container_id: c.id.clone(),
                config,
                running: false,
                exit_code: None,
                pid: 0,
                started: false,
                master: None,
                pending_size: None,
            },
        );
        let action = format!("exec_create: {}", cmd.join(" "));
        self.publish(
            "container",
            &action,
            &c.id,
            &[("name", c.name.as_str()), ("execID", id.as_str())],
        );
        Ok(id)
    }

    pub fn exec_instance(&self, id: &str) -> Result<ExecInstance> {
        self.execs()
            .get(id)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("No such exec instance: {id}")))
    }

    /// The exec IDs of a container (inspect's `ExecIDs`), or `None` when it has none.
    pub fn container_exec_ids(&self, container_id: &str) -> Option<Vec<String>> {
        let ids: Vec<String> = self
            .execs()
            .values()
            .filter(|e| e.container_id == container_id && (e.running || !e.started))
            .map(|e| e.id.clone())
            .collect();
        (!ids.is_empty()).then_some(ids)
    }

    /// Drops the exec instances of a container that stopped or was removed.
    pub(crate) fn forget_execs(&self, container_id: &str) {
        self.execs().retain(|_, e| e.container_id != container_id);
    }

    /// `GET /exec/{id}/json`.
    pub fn inspect_exec(&self, id: &str) -> Result<Value> {
        let e = self.exec_instance(id)?;
        let cmd = e.config.cmd.clone().unwrap_or_default();
        Ok(json!({
            "ID": e.id,
            "Running": e.running,
            "ExitCode": e.exit_code,
            "ProcessConfig": {
                "tty": e.config.tty,
                "entrypoint": cmd.first().cloned().unwrap_or_default(),
                "arguments": cmd.get(1..).unwrap_or(&[]),
                "privileged": e.config.privileged,
                "user": e.config.user.clone().unwrap_or_default(),
            },
            "OpenStdin": e.config.attach_stdin,
            "OpenStderr": e.config.attach_stderr,
            "OpenStdout": e.config.attach_stdout,
            "CanRemove": false,
            "ContainerID": e.container_id,
            "DetachKeys": e.config.detach_keys.clone().unwrap_or_default(),
            "Pid": e.pid,
        }))
    }

    /// `POST /exec/{id}/resize?h=&w=`.
    pub fn resize_exec(&self, id: &str, h: u16, w: u16) -> Result<()> {
        let e = {
            let mut execs = self.execs();
            let e = execs
                .get_mut(id)
                .ok_or_else(|| Error::NotFound(format!("No such exec instance: {id}")))?;
            if e.config.tty && e.master.is_none() && (e.running || !e.started) {
                // Starting: applied as soon as the terminal exists.
                e.pending_size = Some((h, w));
                return Ok(());
            }
            e.clone()
        };
        match e.master {
            Some(m) => {
                crate::shim::set_winsize(m.as_raw_fd(), h, w);
                Ok(())
            }
            None if !e.running => Err(Error::Conflict(format!(
                "Exec {id} is not running, so it can not be resized."
            ))),
            // Not a TTY: nothing to size, as with Docker.
            None => Ok(()),
        }
    }

    /// `POST /exec/{id}/start`: starts the process and returns the daemon's ends of its stdio.
    /// `tty` overrides the create request's `Tty` when given. A process that cannot start
    /// (missing or non-executable command) is an error whose text the client shows; the exec
    /// then reports exit code 126 (127 for a missing command is `docker run`'s, not exec's).
    pub fn start_exec(self: &Arc<Self>, id: &str, tty: Option<bool>) -> Result<ExecSession> {
        crate::attach_lock::prime();
        let (container_id, config) = {
            let mut execs = self.execs();
            let e = execs
                .get_mut(id)
                .ok_or_else(|| Error::NotFound(format!("No such exec instance: {id}")))?;
            if e.running {
                return Err(Error::Conflict(format!(
                    "Error: Exec command {id} is already running"
                )));
            }
            if e.started {
                return Err(Error::Conflict(format!(
                    "Error: Exec command {id} has already run"
                )));
            }
            e.started = true;
            e.running = true;
            if let Some(t) = tty {
                e.config.tty = t;
            }
            (e.container_id.clone(), e.config.clone())
        };
        let result = self.spawn_exec(id, &container_id, &config);
        match &result {
            Ok(s) => {
                let mut execs = self.execs();
                if let Some(e) = execs.get_mut(id) {
                    e.master = s.master.clone();
                    if let (Some(m), Some((h, w))) = (&e.master, e.pending_size.take()) {
                        crate::shim::set_winsize(m.as_raw_fd(), h, w);
                    }
                }
            }
            Err(_) => {
                if let Some(e) = self.execs().get_mut(id) {
                    e.running = false;
                    e.exit_code = Some(126);
                }
            }
        }
        result
    }

    fn spawn_exec(
        self: &Arc<Self>,
        exec_id: &str,
        container_id: &str,
        config: &ExecConfig,
    ) -> Result<ExecSession> {
        let c = self.containers.find(container_id)?;
        if c.state.paused {
            return Err(Error::Conflict(format!(
                "Container {} is paused, unpause the container before exec",
                c.id
            )));
        }
        if !c.state.running {
            return Err(Error::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        let rt = self.runtime()?;
        let bundle = rt.bundle_path(&c.id);
        let mut spec = berth_runtime::oci_spec::runtime::Spec::load(bundle.join("config.json"))
            .map_err(|e| Error::Internal(format!("reading the spec of {}: {e}", c.id)))?;
        berth_runtime::bpf::unlend(&mut spec, &bundle);
        let dir = self.container_dir(&c.id);
        let opts = berth_runtime::ExecOptions {
            args: config.cmd.clone().unwrap_or_default(),
            env: config.env.clone().unwrap_or_default(),
            user: config.user.clone().unwrap_or_default(),
            working_dir: config.working_dir.clone().unwrap_or_default(),
            tty: config.tty,
            privileged: config.privileged,
        };
        let process = berth_runtime::exec_process(
            &spec,
            &dir.join("merged"),
            &opts,
            crate::lifecycle::host_cap_last_cap(),
        )
        .map_err(|e| Error::InvalidParameter(e.to_string()))?;
        let process_file = self.config.exec_root.join(format!("exec-{exec_id}.json"));
        let bytes = serde_json::to_vec(&process).map_err(|e| Error::Internal(e.to_string()))?;
        std::fs::write(&process_file, bytes)
            .map_err(Error::io(format!("writing {}", process_file.display())))?;
        let cleanup = scopeguard(process_file.clone());

        let pipe = || {
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(|e| Error::Internal(format!("pipe: {e}")))
        };
        let (sync_r, sync_w) = pipe()?;
        let mut cmd = crate::shim::shim_command()
            .map_err(|e| Error::Internal(format!("finding the berth binary: {e}")))?;
        cmd.arg("exec")
            .arg(&c.id)
            .arg(self.runtime_root())
            .arg(&process_file)
            .arg(sync_w.as_raw_fd().to_string());
        let mut session = ExecSession {
            stdin: None,
            stdout: None,
            stderr: None,
            master: None,
            tty: config.tty,
            exit: tokio::sync::oneshot::channel().1,
        };
        let console = if config.tty {
            let path = self
                .config
                .exec_root
                .join(format!("x{}.sock", &exec_id[..12]));
            let _ = std::fs::remove_file(&path);
            let sock = berth_runtime::ConsoleSocket::bind(&path)
                .map_err(|e| Error::Internal(e.to_string()))?;
            cmd.arg(&path);
            cmd.stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            Some(sock)
        } else {
            if config.attach_stdin {
                let (r, w) = pipe()?;
                cmd.stdin(std::process::Stdio::from(r));
                session.stdin = Some(w);
            } else {
                cmd.stdin(std::process::Stdio::null());
            }
            let (r, w) = pipe()?;
            cmd.stdout(std::process::Stdio::from(w));
            session.stdout = Some(r);
            let (r, w) = pipe()?;
            cmd.stderr(std::process::Stdio::from(w));
            session.stderr = Some(r);
            None
        };
        let wfd = sync_w.as_raw_fd();
        // SAFETY: runs in the forked child before exec; only async-signal-safe calls (setsid,
        // fcntl) on its own process and descriptor.
        unsafe {
            cmd.pre_exec(move || {
                libc::setsid();
                if libc::fcntl(wfd, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::Internal(format!("spawning exec helper: {e}")))?;
        // The child has its copies; ours must go, or the pipes never reach EOF.
        drop(cmd);
        drop(sync_w);
        let mut sync = std::io::BufReader::new(std::fs::File::from(sync_r));
        let mut line = String::new();
        let _ = sync.read_line(&mut line);
        let line = line.trim_end().to_string();
        let Some(pid) = line.strip_prefix("ok ") else {
            let _ = child.wait();
            drop(cleanup);
            let (kind, msg) = match line.strip_prefix("err ") {
                Some(rest) => rest.split_once(' ').unwrap_or((rest, "")),
                None => ("other", "exec helper exited"),
            };
            let first = config
                .cmd
                .as_ref()
                .and_then(|c| c.first())
                .cloned()
                .unwrap_or_default();
            let msg = start_failure(kind, msg, &first);
            return Err(match kind {
                "notfound" | "noexec" => Error::ExecFailed(msg),
                _ => Error::Internal(msg),
            });
        };
        let pid: i64 = pid.trim().parse().unwrap_or(0);
        if let Some(sock) = console {
            let master = sock
                .receive_master()
                .map_err(|e| Error::Internal(format!("receiving the exec's terminal: {e}")))?;
            session.master = Some(Arc::new(master));
        }
        drop(cleanup);
        if let Some(e) = self.execs().get_mut(exec_id) {
            e.pid = pid;
        }
        let cmdline = config.cmd.clone().unwrap_or_default().join(" ");
        self.publish(
            "container",
            &format!("exec_start: {cmdline}"),
            &c.id,
            &[("name", c.name.as_str()), ("execID", exec_id)],
        );
        let (tx, rx) = tokio::sync::oneshot::channel();
        session.exit = rx;
        let engine = Arc::downgrade(self);
        let (exec_id, cid, name) = (exec_id.to_string(), c.id.clone(), c.name.clone());
        std::thread::Builder::new()
            .name("exec-wait".into())
            .spawn(move || {
                let mut line = String::new();
                let _ = sync.read_line(&mut line);
                let code = line
                    .trim_end()
                    .strip_prefix("exit ")
                    .and_then(|c| c.parse::<i64>().ok())
                    .unwrap_or(137);
                let _ = child.wait();
                if let Some(engine) = engine.upgrade() {
                    if let Some(e) = engine.execs().get_mut(&exec_id) {
                        e.running = false;
                        e.exit_code = Some(code);
                        e.master = None;
                    }
                    let code_s = code.to_string();
                    engine.publish(
                        "container",
                        "exec_die",
                        &cid,
                        &[
                            ("name", name.as_str()),
                            ("execID", exec_id.as_str()),
                            ("exitCode", code_s.as_str()),
                        ],
                    );
                }
                let _ = tx.send(code);
            })
            .map_err(|e| Error::Internal(format!("spawning exec waiter: {e}")))?;
        Ok(session)
    }
}

/// Removes the process file when dropped.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn scopeguard(path: PathBuf) -> Cleanup {
    Cleanup(path)
}
