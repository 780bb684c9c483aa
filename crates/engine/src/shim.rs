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
}

fn parse(args: &[OsString]) -> Option<Args> {
    let [id, bundle, state_root, dir, fd] = args else {
        return None;
    };
    Some(Args {
        id: id.to_str()?.to_string(),
        bundle: PathBuf::from(bundle),
        state_root: PathBuf::from(state_root),
        dir: PathBuf::from(dir),
        sync_fd: fd.to_str()?.parse().ok()?,
    })
}

/// Entry point of `berth shim ID BUNDLE STATE_ROOT CONTAINER_DIR SYNC_FD`; returns the exit code.
pub fn main(args: &[OsString]) -> i32 {
    let Some(a) = parse(args) else {
        eprintln!("usage: berth shim ID BUNDLE STATE_ROOT CONTAINER_DIR SYNC_FD");
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

fn report(sync: &mut std::fs::File, line: &str) {
    let one_line = line.replace('\n', " ");
    let _ = sync.write_all(format!("{one_line}\n").as_bytes());
}

fn run(a: &Args, sync: &mut std::fs::File) -> Result<(), String> {
    let rt = match Runtime::new(&a.state_root) {
        Ok(rt) => rt,
        Err(e) => {
            report(sync, &format!("err other {e}"));
            return Err(e.to_string());
        }
    };
    let pipes = || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| e.to_string());
    let (out_r, out_w) = pipes()?;
    let (err_r, err_w) = pipes()?;
    let devnull: OwnedFd = std::fs::File::open("/dev/null")
        .map_err(|e| e.to_string())?
        .into();
    let stdio = Stdio::Fds {
        stdin: Some(devnull),
        stdout: Some(out_w),
        stderr: Some(err_w),
    };
    let handle = match rt.create(&a.id, &a.bundle, stdio) {
        Ok(h) => h,
        Err(e) => {
            let kind = match &e {
                RunError::CommandNotFound { .. } => "notfound",
                RunError::CommandNotExecutable { .. } => "noexec",
                _ => "other",
            };
            report(sync, &format!("err {kind} {e}"));
            let _ = rt.delete(&a.id, true);
            return Err(e.to_string());
        }
    };
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

    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path(&a.dir, &a.id))
        .map_err(|e| e.to_string())?;
    copy_output(out_r, err_r, log);

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
    if let Err(e) = rt.delete(&a.id, true) {
        eprintln!("berth shim {}: {e}", a.id);
    }
    remove_cgroups(&a.id);
    Ok(())
}

/// Removes the container's cgroup directories that are still there: right after the last task
/// exits, the kernel can refuse `rmdir` with EBUSY for a moment, and libcontainer does not
/// retry. Only empty cgroups can be removed, so nothing that still runs is touched.
pub fn remove_cgroups(id: &str) {
    if id.is_empty() || id.contains('/') || id.starts_with('.') {
        return;
    }
    let mut dirs = vec![PathBuf::from("/sys/fs/cgroup/berth").join(id)];
    if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
        dirs.extend(rd.flatten().map(|h| h.path().join("berth").join(id)));
    }
    for d in dirs {
        for _ in 0..100 {
            match std::fs::remove_dir(&d) {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                _ => break,
            }
        }
    }
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

struct Stream {
    fd: OwnedFd,
    name: &'static str,
    buf: Vec<u8>,
    open: bool,
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

/// Copies both pipes into the log until both reach EOF (the container's processes are gone).
fn copy_output(out_r: OwnedFd, err_r: OwnedFd, mut log: std::fs::File) {
    let mut streams = [
        Stream {
            fd: out_r,
            name: "stdout",
            buf: Vec::new(),
            open: true,
        },
        Stream {
            fd: err_r,
            name: "stderr",
            buf: Vec::new(),
            open: true,
        },
    ];
    let mut chunk = vec![0u8; 32 * 1024];
    while streams.iter().any(|s| s.open) {
        let mut fds: Vec<libc::pollfd> = streams
            .iter()
            .map(|s| libc::pollfd {
                fd: if s.open { s.fd.as_raw_fd() } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: `fds` is a live, writable array of `fds.len()` pollfd structs.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if r < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            break;
        }
        let mut out = Vec::new();
        for (s, p) in streams.iter_mut().zip(&fds) {
            if !s.open || p.revents == 0 {
                continue;
            }
            // SAFETY: reads at most `chunk.len()` bytes into the live buffer `chunk`.
            let n = unsafe {
                libc::read(
                    s.fd.as_raw_fd(),
                    chunk.as_mut_ptr().cast::<libc::c_void>(),
                    chunk.len(),
                )
            };
            if n < 0 {
                if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                s.open = false;
            } else if n == 0 {
                s.open = false;
            } else {
                s.buf.extend_from_slice(&chunk[..n as usize]);
            }
            while let Some(pos) = s.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = s.buf.drain(..=pos).collect();
                entry(&mut out, s.name, &line);
            }
            while s.buf.len() >= MAX_LINE {
                let part: Vec<u8> = s.buf.drain(..MAX_LINE).collect();
                entry(&mut out, s.name, &part);
            }
            if !s.open && !s.buf.is_empty() {
                let rest = std::mem::take(&mut s.buf);
                entry(&mut out, s.name, &rest);
            }
        }
        if !out.is_empty() {
            if let Err(e) = log.write_all(&out) {
                eprintln!("berth shim: writing log: {e}");
            }
        }
    }
}
