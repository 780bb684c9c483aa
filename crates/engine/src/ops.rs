//! Operations on a running container's processes: pause/unpause (cgroup freezer), top, resize,
//! and the connection to its shim's attach socket.

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use serde_json::{json, Value};

use crate::containers::ContainerRecord;
use crate::shim::{ATTACH_RESIZE, ATTACH_SOCKET};
use crate::{Engine, Error, Result};

/// Where the cgroup hierarchies are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The cgroup directories of a process, by controller (`""` for the unified hierarchy), read
/// from `/proc/PID/cgroup`; works on v1, v2 and hybrid hosts.
pub fn cgroup_dirs(pid: i64) -> Vec<(String, PathBuf)> {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
        return Vec::new();
    };
    let unified_root = if std::path::Path::new(CGROUP_ROOT)
        .join("cgroup.controllers")
        .exists()
    {
        PathBuf::from(CGROUP_ROOT)
    } else {
        PathBuf::from(CGROUP_ROOT).join("unified")
    };
    let mut out = Vec::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let rel = path.trim_start_matches('/');
        if ctrls.is_empty() {
            out.push((String::new(), unified_root.join(rel)));
            continue;
        }
        // `name=systemd` and comounted controllers (`cpu,cpuacct`) live in one directory.
        let mount = ctrls.strip_prefix("name=").unwrap_or(ctrls);
        let dir = PathBuf::from(CGROUP_ROOT).join(mount).join(rel);
        for c in ctrls.split(',') {
            out.push((c.to_string(), dir.clone()));
        }
    }
    out
}

/// The pids in the container's cgroup (every process of the container, exec'd ones included).
pub fn container_pids(pid: i64) -> Vec<i64> {
    let dirs = cgroup_dirs(pid);
    let pick = ["pids", "memory", "cpu", "freezer", ""];
    for want in pick {
        if let Some((_, d)) = dirs.iter().find(|(c, _)| c == want) {
            if let Ok(t) = std::fs::read_to_string(d.join("cgroup.procs")) {
                let pids: Vec<i64> = t.lines().filter_map(|l| l.trim().parse().ok()).collect();
                if !pids.is_empty() {
                    return pids;
                }
            }
        }
    }
    vec![pid]
}

impl Engine {
    fn running(&self, key: &str) -> Result<ContainerRecord> {
        let c = self.containers.find(key)?;
        if !c.state.running || c.state.restarting {
            return Err(Error::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        Ok(c)
    }

    /// `POST /containers/{id}/pause`.
    pub fn pause_container(&self, key: &str) -> Result<()> {
        let c = self.running(key)?;
        let lock = self.container_lock(&c.id);
        let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut c = self.containers.find(&c.id)?;
        if c.state.paused {
            return Err(Error::Conflict(format!(
                "Container {} is already paused",
                c.id
            )));
        }
        self.runtime()?
            .pause(&c.id)
            .map_err(|e| Error::Internal(format!("Cannot pause container {}: {e}", c.id)))?;
        c.state.paused = true;
        c.state.status = "paused".into();
        self.save_container(&c)?;
        self.notify_change();
        self.publish(
            "container",
            "pause",
            &c.id,
            &[("image", &c.image), ("name", &c.name)],
        );
        Ok(())
    }

    /// `POST /containers/{id}/unpause`.
    pub fn unpause_container(&self, key: &str) -> Result<()> {
        let c = self.containers.find(key)?;
        let lock = self.container_lock(&c.id);
        let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut c = self.containers.find(&c.id)?;
        if !c.state.paused {
            return Err(Error::Conflict(format!("Container {} is not paused", c.id)));
        }
        self.runtime()?
            .resume(&c.id)
            .map_err(|e| Error::Internal(format!("Cannot unpause container {}: {e}", c.id)))?;
        c.state.paused = false;
        c.state.status = "running".into();
        self.save_container(&c)?;
        self.notify_change();
        self.publish(
            "container",
            "unpause",
            &c.id,
            &[("image", &c.image), ("name", &c.name)],
        );
        Ok(())
    }

    /// Thaws a paused container (before a signal that must reach it), recording the unpause.
    pub(crate) fn thaw(&self, id: &str) {
        let Ok(mut c) = self.containers.find(id) else {
            return;
        };
        if !c.state.paused {
            return;
        }
        if let Ok(rt) = self.runtime() {
            if rt.resume(id).is_ok() {
                c.state.paused = false;
                c.state.status = "running".into();
                let _ = self.save_container(&c);
                self.notify_change();
                self.publish(
                    "container",
                    "unpause",
                    &c.id,
                    &[("image", &c.image), ("name", &c.name)],
                );
            }
        }
    }

    /// `GET /containers/{id}/top?ps_args=`: the host's `ps` output restricted to the
    /// container's processes, as `{Titles, Processes}`.
    pub fn top_container(&self, key: &str, ps_args: &str) -> Result<Value> {
        let c = self.containers.find(key)?;
        if !c.state.running {
            return Err(Error::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        let pids = container_pids(c.state.pid);
        let args: Vec<&str> = if ps_args.trim().is_empty() {
            vec!["-ef"]
        } else {
            ps_args.split_whitespace().collect()
        };
        let out = std::process::Command::new("ps")
            .args(&args)
            .output()
            .map_err(|e| Error::Internal(format!("running ps: {e}")))?;
        if !out.status.success() {
            return Err(Error::Internal(format!(
                "ps: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        parse_ps(&String::from_utf8_lossy(&out.stdout), &pids)
    }

    /// `POST /containers/{id}/resize?h=&w=`: sizes the container's terminal.
    pub fn resize_container(&self, key: &str, h: u16, w: u16) -> Result<()> {
        let c = self.running(key)?;
        if !c.config["Tty"].as_bool().unwrap_or(false) {
            // Docker accepts and ignores a resize of a container without a TTY.
            return Ok(());
        }
        let mut s = self.connect_attach(&c.id)?;
        use std::io::Write;
        s.write_all(&[ATTACH_RESIZE])
            .and_then(|_| s.write_all(format!("{h} {w}\n").as_bytes()))
            .map_err(|e| Error::Internal(format!("resizing {}: {e}", c.id)))
    }

    /// Connects to the shim's attach socket of container `id` (it exists while the container
    /// runs with a TTY or an open stdin). The socket is reached through a directory descriptor,
    /// so the length of the container's path does not matter.
    pub fn connect_attach(&self, id: &str) -> Result<UnixStream> {
        let dir = self.container_dir(id);
        let d =
            std::fs::File::open(&dir).map_err(Error::io(format!("opening {}", dir.display())))?;
        let path = format!("/proc/self/fd/{}/{ATTACH_SOCKET}", d.as_raw_fd());
        UnixStream::connect(&path).map_err(|e| {
            Error::Conflict(format!(
                "container {id} accepts no input (attach socket: {e})"
            ))
        })
    }
}

/// Docker's filtering of `ps` output: find the PID column in the header, keep the rows whose
/// pid belongs to the container. The last column (the command) may contain spaces.
fn parse_ps(output: &str, pids: &[i64]) -> Result<Value> {
    let mut lines = output.lines();
    let header = lines.next().unwrap_or_default();
    let titles: Vec<&str> = header.split_whitespace().collect();
    let pid_col = titles
        .iter()
        .position(|t| *t == "PID")
        .ok_or_else(|| Error::Internal("Couldn't find PID field in ps output".into()))?;
    let mut procs = Vec::new();
    for line in lines {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(pid) = fields.get(pid_col).and_then(|p| p.parse::<i64>().ok()) else {
            return Err(Error::Internal(format!(
                "Unexpected pid in ps output: {line}"
            )));
        };
        if !pids.contains(&pid) {
            continue;
        }
        let n = titles.len();
        let mut row: Vec<String> = fields
            .iter()
            .take(n.saturating_sub(1))
            .map(|s| s.to_string())
            .collect();
        if fields.len() >= n && n > 0 {
            row.push(fields[n - 1..].join(" "));
        }
        procs.push(row);
    }
    Ok(json!({ "Titles": titles, "Processes": procs }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_rows_are_filtered_by_pid_and_keep_the_command_whole() {
        let out = "UID  PID  PPID  C STIME TTY TIME CMD\n\
                   root 1    0     0 10:00 ?   00:00:01 /sbin/init splash\n\
                   root 42   1     0 10:01 ?   00:00:00 sleep 100\n";
        let v = parse_ps(out, &[42]).unwrap();
        assert_eq!(v["Titles"][1], "PID");
        assert_eq!(v["Processes"].as_array().unwrap().len(), 1);
        assert_eq!(v["Processes"][0][7], "sleep 100");
    }

    #[test]
    fn ps_without_a_pid_column_is_an_error() {
        assert!(parse_ps("USER COMMAND\nroot sh\n", &[1]).is_err());
    }
}
