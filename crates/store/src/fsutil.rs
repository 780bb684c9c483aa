//! Filesystem helpers for the store: removing big trees quickly, starting writeback early, and
//! the allocator hint for the directory layers are unpacked in.

use std::fs::{self, File};
use std::io;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Threads removing one batch of trees. Freeing an inode (and, with the `discard` mount option,
/// trimming its blocks) is a wait in the kernel rather than CPU work here, so removals overlap
/// well; measured on ext4 with `discard`, 16 threads remove a layer about twice as fast as one.
const REMOVE_WORKERS: usize = 16;
/// Paths one thread takes from the shared list at a time.
const CHUNK: usize = 16;

/// Remove every path in `paths` (files or whole trees; missing ones are fine), with the
/// unlinks spread over a few threads: all non-directories first, then the directories deepest
/// level first, each level in parallel. Symlinks are removed, never followed. Returns the first
/// error; everything that can be removed is removed anyway.
pub(crate) fn remove_trees(paths: &[PathBuf]) -> io::Result<()> {
    let mut files = Vec::new();
    let mut dirs: Vec<(usize, PathBuf)> = Vec::new();
    let mut first_error = None;
    for p in paths {
        match fs::symlink_metadata(p) {
            Ok(m) if m.is_dir() => {
                if let Err(e) = walk(p, &mut files, &mut dirs) {
                    first_error.get_or_insert(e);
                }
            }
            Ok(_) => files.push(p.clone()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Err(e) = for_each_parallel(&files, |p| ignore_missing(fs::remove_file(p))) {
        first_error.get_or_insert(e);
    }
    // Deepest first: by then every child of a directory at this depth is gone.
    dirs.sort_by_key(|d| std::cmp::Reverse(d.0));
    for level in dirs.chunk_by(|a, b| a.0 == b.0) {
        let level: Vec<&Path> = level.iter().map(|(_, p)| p.as_path()).collect();
        if let Err(e) = for_each_parallel(&level, |p| ignore_missing(fs::remove_dir(p))) {
            first_error.get_or_insert(e);
        }
    }
    if first_error.is_some() {
        // Whatever the fast path left (an unreadable directory, a race): the slow, thorough way.
        for p in paths {
            let rest = match fs::symlink_metadata(p) {
                Ok(m) if m.is_dir() => fs::remove_dir_all(p),
                Ok(_) => fs::remove_file(p),
                Err(e) => Err(e),
            };
            match rest {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
    }
    Ok(())
}

/// Collect the tree under `root` (a directory): non-directories into `files`, directories
/// with their depth into `dirs`. Iterative, and it never follows a symlink.
fn walk(root: &Path, files: &mut Vec<PathBuf>, dirs: &mut Vec<(usize, PathBuf)>) -> io::Result<()> {
    let mut stack = vec![(0usize, root.to_path_buf())];
    while let Some((depth, dir)) = stack.pop() {
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            // d_type from readdir: no stat per entry on ext4, xfs, btrfs.
            if entry.file_type()?.is_dir() {
                stack.push((depth + 1, entry.path()));
            } else {
                files.push(entry.path());
            }
        }
        dirs.push((depth, dir));
    }
    Ok(())
}

fn ignore_missing(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Run `f` on every item, on up to `REMOVE_WORKERS` threads (just this one for a few items).
/// Every item is tried; the first error is returned.
fn for_each_parallel<T: Sync>(
    items: &[T],
    f: impl Fn(&T) -> io::Result<()> + Sync,
) -> io::Result<()> {
    let threads = REMOVE_WORKERS.min(items.len() / CHUNK);
    if threads <= 1 {
        let mut first = None;
        for item in items {
            if let Err(e) = f(item) {
                first.get_or_insert(e);
            }
        }
        return first.map_or(Ok(()), Err);
    }
    let next = AtomicUsize::new(0);
    let first: Mutex<Option<io::Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        let work = || loop {
            let start = next.fetch_add(CHUNK, Ordering::Relaxed);
            if start >= items.len() {
                break;
            }
            for item in &items[start..items.len().min(start + CHUNK)] {
                if let Err(e) = f(item) {
                    first
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert(e);
                }
            }
        };
        for _ in 1..threads {
            // A thread that cannot start leaves its share to the others.
            let _ = std::thread::Builder::new()
                .name("berth-remove".into())
                .spawn_scoped(scope, work);
        }
        work();
    });
    first
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .map_or(Ok(()), Err)
}

/// Start writing `len` bytes of `file` from `offset` (0: to the end) to disk, without waiting:
/// `sync_file_range(SYNC_FILE_RANGE_WRITE)`. A blob is made durable at commit (fsync or the
/// batch's syncfs); starting its writeback every few MiB as it streams in lets the disk work
/// while the layer is still being unpacked. (Not done per unpacked file: measured slower, as
/// each small file's writeback then runs on the thread that creates files.) Only a hint: errors
/// are ignored, the later sync reports real ones.
pub(crate) fn start_writeback(file: &File, offset: u64, len: u64) {
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: a plain syscall on a descriptor `file` keeps open for the call; no memory is
    // passed.
    let _ = unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
    };
}

/// ext4's "top of directory hierarchies" inode flag (`chattr +T`, FS_TOPDIR_FL).
const FS_TOPDIR_FL: libc::c_int = 0x0002_0000;

/// Tell the filesystem that the directories created in `dir` start unrelated trees (ext4's
/// `chattr +T`), so its Orlov allocator spreads them over block groups instead of packing them
/// next to `dir`. Each layer is unpacked in its own directory under `tmp/`: spread out, a new
/// layer rarely lands in the block group a just-removed layer freed. There, in ext4 without a
/// journal, every inode allocation first skips all recently deleted inodes one by one (they are
/// not reused for a while), which made each create cost up to a millisecond of kernel time after
/// an `rmi`. Best effort: other filesystems refuse the flag, and nothing depends on it.
pub(crate) fn hint_topdir(dir: &Path) {
    let file = match File::open(dir) {
        Ok(f) => f,
        Err(e) => {
            tracing::debug!(dir = %dir.display(), error = %e, "cannot open dir for the topdir hint");
            return;
        }
    };
    let fd = file.as_raw_fd();
    let mut flags: libc::c_int = 0;
    // SAFETY: FS_IOC_GETFLAGS writes one int through the pointer, which points at a live,
    // writable c_int; `fd` is an open descriptor owned by `file` for the whole call.
    let got = unsafe { libc::ioctl(fd, libc::FS_IOC_GETFLAGS, &mut flags as *mut libc::c_int) };
    if got != 0 {
        tracing::debug!(dir = %dir.display(), error = %io::Error::last_os_error(),
            "filesystem flags not supported; no topdir hint");
        return;
    }
    if flags & FS_TOPDIR_FL != 0 {
        return;
    }
    flags |= FS_TOPDIR_FL;
    // SAFETY: FS_IOC_SETFLAGS reads one int through the pointer, which points at a live c_int;
    // `fd` is an open descriptor owned by `file` for the whole call.
    let set = unsafe { libc::ioctl(fd, libc::FS_IOC_SETFLAGS, &flags as *const libc::c_int) };
    if set != 0 {
        tracing::debug!(dir = %dir.display(), error = %io::Error::last_os_error(),
            "could not set the topdir hint");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn remove_trees_removes_files_dirs_and_symlinks_without_following() {
        let top = tempfile::tempdir().unwrap();
        let outside = top.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("keep"), b"k").unwrap();
        let tree = top.path().join("tree");
        for i in 0..40 {
            let d = tree.join(format!("d{}/e{}/f", i % 7, i % 3));
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join(format!("x{i}")), b"x").unwrap();
        }
        symlink(&outside, tree.join("link")).unwrap();
        let single = top.path().join("single");
        fs::write(&single, b"s").unwrap();
        let missing = top.path().join("missing");
        remove_trees(&[tree.clone(), single.clone(), missing]).unwrap();
        assert!(!tree.exists());
        assert!(!single.exists());
        assert!(
            outside.join("keep").exists(),
            "a symlink must not be followed"
        );
    }
}
