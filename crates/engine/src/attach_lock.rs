//! Getting the kernel's cgroup attach lock ready before a container's process joins its cgroups.
//!
//! Moving a process into a cgroup (a write to `cgroup.procs`, v1 or v2) takes one global
//! per-CPU rw-semaphore for writing. Taking it from idle waits for a full RCU grace period
//! (measured here: 7.8 ms for an isolated write, 0.03 ms for one right after another), and for
//! the next grace period after the last writer it stays cheap to take. Every container start
//! pays that wait once, on its critical path, when the runtime moves the new process into the
//! container's cgroups.
//!
//! [`prime`] takes the lock from a background thread by writing the daemon's own pid into the
//! cgroup it already belongs to: the kernel takes the lock before it looks at the pid, the move
//! is a no-op, and nothing about the daemon changes. Called when a container is created or
//! started, the grace period runs while the rest of the start (rootfs, network, the shim's
//! exec) happens, and the runtime's own write finds the lock warm. A failed write (read-only
//! cgroupfs, a cgroup with controllers in its subtree) still took the lock, so errors are
//! ignored. At most one priming write is in flight.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

static IN_FLIGHT: AtomicBool = AtomicBool::new(false);

/// The `cgroup.procs` of a cgroup the daemon is in, once found (`None` if there is none).
fn own_procs_file() -> Option<&'static PathBuf> {
    static PATH: OnceLock<Option<PathBuf>> = OnceLock::new();
    PATH.get_or_init(|| {
        let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        find_procs_file(&cgroups, &mountinfo)
    })
    .as_ref()
}

/// Pairs a line of `/proc/self/cgroup` with the mount of its hierarchy and returns the path of
/// the process's own cgroup's `cgroup.procs` under that mount. Only mounts of the hierarchy root
/// (or of an ancestor of the process's cgroup) qualify, so the file is the process's own cgroup,
/// never another one.
fn find_procs_file(cgroups: &str, mountinfo: &str) -> Option<PathBuf> {
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        for m in mountinfo.lines() {
            // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS
            let Some((left, right)) = m.split_once(" - ") else {
                continue;
            };
            let fields: Vec<&str> = left.split(' ').collect();
            let rfields: Vec<&str> = right.split(' ').collect();
            if fields.len() < 5 || rfields.len() < 3 {
                continue;
            }
            let (root, mountpoint, fstype) = (fields[3], fields[4], rfields[0]);
            let matches = if controllers.is_empty() {
                fstype == "cgroup2"
            } else {
                fstype == "cgroup"
                    && controllers
                        .split(',')
                        .all(|c| rfields[2].split(',').any(|o| o == c))
            };
            if !matches {
                continue;
            }
            let rel = if root == "/" {
                path.trim_start_matches('/')
            } else if let Some(rest) = path.strip_prefix(root) {
                if !rest.is_empty() && !rest.starts_with('/') {
                    continue;
                }
                rest.trim_start_matches('/')
            } else {
                continue;
            };
            let file = PathBuf::from(mountpoint).join(rel).join("cgroup.procs");
            if file.exists() {
                return Some(file);
            }
        }
    }
    None
}

/// Takes the cgroup attach lock once from a background thread (see the module doc). Returns at
/// once; does nothing while an earlier priming write is still waiting.
pub fn prime() {
    let Some(file) = own_procs_file() else {
        return;
    };
    if IN_FLIGHT.swap(true, Ordering::AcqRel) {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("cgroup-prime".into())
        .spawn(move || {
            let _ = std::fs::write(file, std::process::id().to_string());
            IN_FLIGHT.store(false, Ordering::Release);
        });
    if spawned.is_err() {
        IN_FLIGHT.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
30 29 0:26 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
31 29 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
32 29 0:28 /process_api /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
33 29 0:29 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn finds_the_own_cgroup_under_a_hierarchy_mount() {
        let dir = tempfile::tempdir().unwrap();
        let mi = MOUNTINFO.replace("/sys/fs/cgroup", dir.path().to_str().unwrap());
        let procs = dir
            .path()
            .join("unified/system.slice/berth.service/cgroup.procs");
        std::fs::create_dir_all(procs.parent().unwrap()).unwrap();
        std::fs::write(&procs, "").unwrap();
        // v2 line: the unified mount.
        let got = find_procs_file("0::/system.slice/berth.service\n", &mi);
        assert_eq!(got, Some(procs));

        // v1 with a mount root: the path below it is used; a cgroup outside it is skipped.
        let mem = dir.path().join("memory/job1/cgroup.procs");
        std::fs::create_dir_all(mem.parent().unwrap()).unwrap();
        std::fs::write(&mem, "").unwrap();
        assert_eq!(
            find_procs_file("4:memory:/process_api/job1\n", &mi),
            Some(mem)
        );
        assert_eq!(find_procs_file("4:memory:/process_apix/job1\n", &mi), None);
        assert_eq!(find_procs_file("4:memory:/other\n", &mi), None);
    }

    #[test]
    fn controller_lists_must_all_be_mounted_together() {
        let dir = tempfile::tempdir().unwrap();
        let mi = MOUNTINFO.replace("/sys/fs/cgroup", dir.path().to_str().unwrap());
        let f = dir.path().join("cpu,cpuacct/cgroup.procs");
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(&f, "").unwrap();
        assert_eq!(find_procs_file("2:cpu,cpuacct:/\n", &mi), Some(f));
        // No hierarchy holds blkio: nothing found, never a wrong file.
        assert_eq!(find_procs_file("7:blkio:/\n", &mi), None);
    }
}
