//! What the spec builder needs to know about the host, read from paths given as parameters.

use std::path::Path;

use libcgroups::common::{get_cgroup_setup_with_root, CgroupSetup};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use crate::spec::{CgroupMode, HostInfo};

/// Reads the host facts from the real `/sys/fs/cgroup` and `/proc`.
pub fn detect() -> HostInfo {
    detect_with(Path::new("/sys/fs/cgroup"), Path::new("/proc"))
}

/// [`detect`] with the cgroup mount root and procfs root as parameters. Anything unreadable
/// falls back to the conservative value (legacy cgroups, no swap limit, `cap_last_cap` 40).
pub fn detect_with(cgroup_root: &Path, proc_root: &Path) -> HostInfo {
    let cgroup = match get_cgroup_setup_with_root(cgroup_root) {
        Ok(CgroupSetup::Unified) => CgroupMode::Unified,
        Ok(CgroupSetup::Hybrid) => CgroupMode::Hybrid,
        Ok(CgroupSetup::Legacy) | Err(_) => CgroupMode::Legacy,
    };
    let swap_limit = match cgroup {
        CgroupMode::Unified => std::fs::read_to_string(cgroup_root.join("cgroup.controllers"))
            .map(|c| c.split_whitespace().any(|x| x == "memory"))
            .unwrap_or(false),
        _ => cgroup_root
            .join("memory/memory.memsw.limit_in_bytes")
            .exists(),
    };
    let cap_last_cap = std::fs::read_to_string(proc_root.join("sys/kernel/cap_last_cap"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40);
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(0);
    HostInfo {
        cgroup,
        swap_limit,
        cap_last_cap,
        cpus,
    }
}

/// The character and block devices under `dev` (normally `/dev`), for `--privileged`. Skips the
/// per-container filesystems (`pts`, `shm`, `mqueue`) and symlinks, as Docker does.
pub fn list_devices(dev: &Path) -> Vec<LinuxDevice> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut out = Vec::new();
    let mut stack = vec![dev.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let ft = meta.file_type();
            if ft.is_dir() {
                let name = e.file_name();
                if !matches!(name.to_str(), Some("pts" | "shm" | "mqueue" | "fd")) {
                    stack.push(path);
                }
                continue;
            }
            let typ = if ft.is_char_device() {
                LinuxDeviceType::C
            } else if ft.is_block_device() {
                LinuxDeviceType::B
            } else {
                continue;
            };
            let rdev = meta.rdev();
            let Ok(rel) = path.strip_prefix(dev) else {
                continue;
            };
            let mut d = LinuxDevice::default();
            d.set_path(Path::new("/dev").join(rel));
            d.set_typ(typ);
            d.set_major(i64::from(nix::sys::stat::major(rdev) as u32));
            d.set_minor(i64::from(nix::sys::stat::minor(rdev) as u32));
            d.set_file_mode(Some(meta.mode() & 0o7777));
            d.set_uid(Some(meta.uid()));
            d.set_gid(Some(meta.gid()));
            out.push(d);
        }
    }
    out.sort_by(|a, b| a.path().cmp(b.path()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_from_fake_roots() {
        let proc_root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(proc_root.path().join("sys/kernel")).unwrap();
        std::fs::write(proc_root.path().join("sys/kernel/cap_last_cap"), "37\n").unwrap();
        // A plain directory is neither tmpfs nor cgroup2: detection falls back to legacy.
        let cg = tempfile::tempdir().unwrap();
        let info = detect_with(cg.path(), proc_root.path());
        assert_eq!(info.cap_last_cap, 37);
        assert_eq!(info.cgroup, CgroupMode::Legacy);
        assert!(!info.swap_limit);
    }

    #[test]
    fn lists_host_null_device() {
        let devs = list_devices(Path::new("/dev"));
        if let Some(null) = devs.iter().find(|d| d.path() == Path::new("/dev/null")) {
            assert_eq!(
                (null.major(), null.minor(), null.typ()),
                (1, 3, LinuxDeviceType::C)
            );
        }
        assert!(!devs.iter().any(|d| d.path().starts_with("/dev/pts")));
    }
}
