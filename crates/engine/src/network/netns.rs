//! Network namespaces pinned by a bind mount on a file (as `ip netns` does), so a namespace
//! outlives its processes and the daemon: the container joins it by path, the daemon configures
//! it from a thread that entered it.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

/// Creates a new network namespace pinned at `path` (an existing one there is kept).
pub fn create(path: &Path) -> io::Result<()> {
    if is_pinned(path) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    File::create(path)?;
    let target = path.to_path_buf();
    // unshare(CLONE_NEWNET) changes only the calling thread; a short-lived thread keeps the
    // daemon's own threads in their namespace.
    std::thread::spawn(move || -> io::Result<()> {
        unshare(CloneFlags::CLONE_NEWNET)?;
        mount(
            Some("/proc/thread-self/ns/net"),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )?;
        Ok(())
    })
    .join()
    .map_err(|_| io::Error::other("network namespace thread panicked"))?
    .inspect_err(|_| {
        let _ = std::fs::remove_file(path);
    })
}

/// Unpins and removes the namespace file; the namespace goes when its last process does.
pub fn remove(path: &Path) {
    while is_pinned(path) {
        if umount2(path, MntFlags::MNT_DETACH).is_err() {
            break;
        }
    }
    let _ = std::fs::remove_file(path);
}

/// Whether a namespace is pinned on `path`: one statfs(2) (the file system there is nsfs), not
/// a read of the whole mount table.
pub fn is_pinned(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::NSFS_MAGIC)
}

/// Runs `f` on a thread that entered the namespace pinned at `path`.
pub fn run_in<T: Send>(path: &Path, f: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
    let ns = File::open(path)?;
    std::thread::scope(|s| {
        s.spawn(move || {
            setns(ns.as_fd(), CloneFlags::CLONE_NEWNET)?;
            f()
        })
        .join()
        .map_err(|_| io::Error::other("network namespace thread panicked"))?
    })
}
