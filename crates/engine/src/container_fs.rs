//! Container filesystems seen from outside: `changes` (the container's writable layer compared
//! with its image), `export` (a tar of the merged root), the `archive` endpoints behind `cp`
//! (stat a path, tar a path, extract a tar into a directory) and `commit` (a new image made of
//! the image's layers plus one layer from the writable layer).
//!
//! Every path a client names is resolved inside the container's root with `openat2` and
//! `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`: symlinks and `..` behave as in a chroot, so
//! neither a hostile archive nor a symlink planted by the container reaches the host. Below a
//! directory resolved that way, entries are only touched one name at a time (`*at` calls with
//! `O_NOFOLLOW`), and metadata is set through descriptors, never through a path a container
//! could swap for a symlink.
//!
//! A running container is reached through its init's root (`/proc/<pid>/root`), which shows its
//! bind mounts and volumes as the container sees them; walks do not descend into kernel
//! pseudo-filesystems (`/proc`, `/sys`, ...). A stopped container has its overlay (plus its
//! volumes and bind mounts) mounted for the duration of the call in a mount namespace private
//! to one thread, so the host never sees these mounts and nothing is left behind if the call
//! dies; its operation lock is held meanwhile, so that a start waits for it.

use std::collections::{HashMap, HashSet};
use std::ffi::{CString, OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use berth_store::{Digest, LayerRecord, Reference};
use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};
use nix::unistd::{Gid, Uid};
use serde_json::{json, Map, Value};

use crate::containers::ContainerRecord;
use crate::{Engine, Error, Result};

/// `Kind` of a change in `GET /containers/{id}/changes`.
pub const CHANGE_MODIFY: u8 = 0;
pub const CHANGE_ADD: u8 = 1;
pub const CHANGE_DELETE: u8 = 2;

const OVERLAYFS_MAGIC: i64 = 0x794c_7630;
/// Kernel filesystems a walk through a running container's root does not descend into:
/// proc, sysfs, cgroup, cgroup2, devpts, mqueue, securityfs, debugfs, tracefs, bpf, pstore,
/// binfmt_misc, configfs, efivarfs, selinuxfs, fusectl, nsfs.
const PSEUDO_FS: &[i64] = &[
    0x9fa0,
    0x6265_6572,
    0x0027_e0eb,
    0x6367_7270,
    0x1cd1,
    0x1980_0202,
    0x7363_6673,
    0x6462_6720,
    0x7472_6163,
    0xcafe_4a11,
    0x6165_676c,
    0x4249_4e4d,
    0x6265_6570,
    0xde5e_81e4,
    0xf97c_ff8c,
    0x6573_5543,
    0x6e73_6673,
];

/// Files and mount points the runtime creates in a container's writable layer when the image
/// lacks them (Docker keeps these in a separate init layer): neither `diff` nor `commit`
/// shows them while they are the runtime's empty placeholders.
const PLACEHOLDER_FILES: &[&[u8]] = &[
    b"/etc/hosts",
    b"/etc/hostname",
    b"/etc/resolv.conf",
    b"/.dockerenv",
];
const PLACEHOLDER_DIRS: &[&[u8]] = &[b"/proc", b"/sys", b"/dev", b"/dev/pts", b"/dev/shm"];

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
const CAPABILITY_XATTR: &str = "security.capability";

// ---- Go path semantics, as Docker applies them to the paths of the archive endpoints ----

/// Go's `path.Clean` of an absolute path (a `..` at the root stays at the root).
fn clean_abs(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for comp in p.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    format!("/{}", out.join("/"))
}

/// Go's `filepath.Base`.
fn go_base(p: &str) -> &str {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return if p.is_empty() { "." } else { "/" };
    }
    t.rsplit('/').next().unwrap_or(t)
}

/// Docker's `PreserveTrailingDotOrSeparator`.
fn preserve_trailing(cleaned: String, original: &str) -> String {
    let mut out = cleaned;
    if go_base(&out) != "." && go_base(original) == "." {
        if !out.ends_with('/') {
            out.push('/');
        }
        out.push('.');
    }
    if !out.ends_with('/') && original.ends_with('/') {
        out.push('/');
    }
    out
}

/// A path in a container as the archive endpoints take it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    /// Absolute and clean, with a trailing `/` or `/.` kept (they ask for the directory a
    /// final symlink points to).
    abs: String,
    /// The final element is followed when it is a symlink.
    follow: bool,
    /// Docker's `SplitPathDirEntry`: the directory and the entry the archive is named after.
    dir: String,
    base: String,
}

impl Target {
    fn parse(path: &str) -> Target {
        let abs = preserve_trailing(clean_abs(&format!("/{path}")), path);
        let cleaned = clean_abs(&abs);
        let dot = go_base(&abs) == ".";
        let (dir, base) = if dot {
            (cleaned.clone(), ".".to_string())
        } else if cleaned == "/" {
            ("/".to_string(), "/".to_string())
        } else {
            let (d, b) = cleaned.rsplit_once('/').unwrap_or(("", &cleaned));
            (
                if d.is_empty() { "/".into() } else { d.into() },
                b.to_string(),
            )
        };
        let follow = cleaned == "/" || dot || abs.ends_with('/');
        Target {
            abs,
            follow,
            dir,
            base,
        }
    }
}

/// Go's `os.FileMode` bits for a `st_mode`, as Docker encodes them in the path-stat header.
pub fn go_file_mode(st_mode: u32) -> u32 {
    let mut m = st_mode & 0o777;
    m |= match st_mode & libc::S_IFMT {
        libc::S_IFBLK => 1 << 26,
        libc::S_IFCHR => (1 << 26) | (1 << 21),
        libc::S_IFDIR => 1 << 31,
        libc::S_IFIFO => 1 << 25,
        libc::S_IFLNK => 1 << 27,
        libc::S_IFSOCK => 1 << 24,
        _ => 0,
    };
    if st_mode & libc::S_ISUID != 0 {
        m |= 1 << 23;
    }
    if st_mode & libc::S_ISGID != 0 {
        m |= 1 << 22;
    }
    if st_mode & libc::S_ISVTX != 0 {
        m |= 1 << 20;
    }
    m
}

/// What `HEAD /containers/{id}/archive` reports about a path (Docker's `ContainerPathStat`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    /// Go `os.FileMode` bits.
    pub mode: u32,
    /// RFC 3339 with nanoseconds.
    pub mtime: String,
    /// For a symlink: its target, fully resolved inside the container.
    pub link_target: String,
}

impl PathStat {
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "size": self.size,
            "mode": self.mode,
            "mtime": self.mtime,
            "linkTarget": self.link_target,
        })
    }
}

fn rfc3339(sec: i64, nsec: i64) -> String {
    chrono::DateTime::from_timestamp(sec, nsec.clamp(0, 999_999_999) as u32)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Options of `PUT /containers/{id}/archive`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExtractOptions {
    /// Refuse to replace a directory with a non-directory and vice versa.
    pub no_overwrite_dir_non_dir: bool,
    /// Own the extracted files by the container's user (`Config.User`) instead of the ids in
    /// the archive.
    pub copy_uid_gid: bool,
}

/// `POST /commit`.
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    pub container: String,
    pub repo: String,
    pub tag: String,
    pub author: String,
    pub comment: String,
    pub pause: bool,
    pub changes: Vec<String>,
    /// The request body: a container config that replaces the container's own as the base.
    pub config: Option<Value>,
}

// ---- descriptors ----

fn own(fd: RawFd) -> OwnedFd {
    // SAFETY: every caller passes a descriptor a successful open/openat/openat2 just returned;
    // nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn openat(dir: RawFd, name: &OsStr, flags: OFlag) -> io::Result<OwnedFd> {
    let fd = nix::fcntl::openat(
        Some(dir),
        name,
        flags | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        Mode::empty(),
    )?;
    Ok(own(fd))
}

fn fstat(fd: &OwnedFd) -> io::Result<FileStat> {
    Ok(nix::sys::stat::fstat(fd.as_raw_fd())?)
}

fn lstat_at(dir: RawFd, name: &OsStr) -> io::Result<FileStat> {
    Ok(nix::sys::stat::fstatat(
        Some(dir),
        name,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )?)
}

fn fmt_of(st: &FileStat) -> u32 {
    st.st_mode & libc::S_IFMT
}

fn is_dir(st: &FileStat) -> bool {
    fmt_of(st) == libc::S_IFDIR
}

fn is_whiteout(st: &FileStat) -> bool {
    fmt_of(st) == libc::S_IFCHR && st.st_rdev == 0
}

/// `/proc/self/fd/N`: a path that reaches exactly the inode behind `fd`.
fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// The names in a directory, sorted bytewise (Go's `filepath.Walk` order).
fn list_dir(dir: &OwnedFd) -> io::Result<Vec<OsString>> {
    let mut names: Vec<OsString> = std::fs::read_dir(fd_path(dir))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

fn fgetxattr(fd: &OwnedFd, name: &str) -> Option<Vec<u8>> {
    let cname = CString::new(name).ok()?;
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: `cname` is NUL-terminated and `buf` is writable for `buf.len()` bytes.
        let n = unsafe {
            libc::fgetxattr(
                fd.as_raw_fd(),
                cname.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n >= 0 {
            buf.truncate(n as usize);
            return Some(buf);
        }
        if Errno::last() != Errno::ERANGE || buf.len() >= 1 << 16 {
            return None;
        }
        buf.resize(buf.len() * 4, 0);
    }
}

fn lgetxattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let cpath = CString::new(path.as_os_str().as_bytes()).ok()?;
    let cname = CString::new(name).ok()?;
    let mut buf = [0u8; 16];
    // SAFETY: both strings are NUL-terminated and `buf` is writable for its length.
    let n = unsafe {
        libc::lgetxattr(
            cpath.as_ptr(),
            cname.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (n >= 0).then(|| buf[..n as usize].to_vec())
}

fn fs_type(fd: &OwnedFd) -> Option<i64> {
    nix::sys::statfs::fstatfs(fd)
        .ok()
        // `f_type` is an i64 here, narrower on some other architectures.
        .map(|s| {
            #[allow(clippy::unnecessary_cast)]
            let t = s.filesystem_type().0 as i64;
            t
        })
}

fn is_pseudo_fs(fd: &OwnedFd) -> bool {
    fs_type(fd).is_some_and(|t| PSEUDO_FS.contains(&t))
}

fn join_bytes(prefix: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = prefix.to_vec();
    if !out.is_empty() && !out.ends_with(b"/") {
        out.push(b'/');
    }
    out.extend_from_slice(name);
    out
}

// ---- a container's root, opened for one call ----

/// Which root a call works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ViewKind {
    /// What the container sees, mounts included (the archive endpoints).
    Live,
    /// The merged overlay alone (export).
    Rootfs,
}

/// A container's root directory, open for one operation.
struct FsView {
    root: OwnedFd,
    /// The root may hold kernel filesystems that walks must not enter.
    live: bool,
}

impl FsView {
    fn open_dir(path: &Path) -> io::Result<OwnedFd> {
        let fd = nix::fcntl::open(
            path,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(own(fd))
    }

    /// Opens `path` (absolute or relative, a container path) as if the container's root were
    /// `/`: symlinks and `..` never leave it, and magic links (`/proc/*/root`) are refused.
    fn open_in(&self, path: &str, flags: OFlag) -> io::Result<OwnedFd> {
        let rel = path.trim_start_matches('/');
        let rel = if rel.is_empty() { "." } else { rel };
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        // The kernel answers EAGAIN when a concurrent rename could have let `..` escape.
        for _ in 0..32 {
            match nix::fcntl::openat2(self.root.as_raw_fd(), rel, how) {
                Ok(fd) => return Ok(own(fd)),
                Err(Errno::EAGAIN) | Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Errno::EAGAIN.into())
    }

    /// Docker's `FollowSymlinkInScope`: `abs` with every symlink resolved inside the root, as
    /// far as the path exists.
    fn resolve_in_scope(&self, abs: &str) -> io::Result<String> {
        let mut queue: std::collections::VecDeque<String> =
            abs.split('/').map(str::to_string).collect();
        let mut resolved: Vec<String> = Vec::new();
        let mut links = 0;
        while let Some(comp) = queue.pop_front() {
            match comp.as_str() {
                "" | "." => continue,
                ".." => {
                    resolved.pop();
                    continue;
                }
                _ => {}
            }
            let parent = format!("/{}", resolved.join("/"));
            let found = self
                .open_in(&parent, OFlag::O_PATH | OFlag::O_DIRECTORY)
                .and_then(|p| lstat_at(p.as_raw_fd(), OsStr::new(&comp)).map(|st| (p, st)));
            let Ok((pfd, st)) = found else {
                resolved.push(comp);
                continue;
            };
            if fmt_of(&st) != libc::S_IFLNK {
                resolved.push(comp);
                continue;
            }
            links += 1;
            if links > 255 {
                return Err(Errno::ELOOP.into());
            }
            let target = nix::fcntl::readlinkat(Some(pfd.as_raw_fd()), OsStr::new(&comp))?;
            let target = target.to_string_lossy().into_owned();
            if target.starts_with('/') {
                resolved.clear();
            }
            for (i, c) in target.split('/').enumerate() {
                queue.insert(i, c.to_string());
            }
        }
        Ok(format!("/{}", resolved.join("/")))
    }

    /// The node a target names: `(parent dir, name)` when its final symlink is not followed,
    /// else the directory itself; with its stat.
    fn locate(&self, t: &Target) -> io::Result<(Node, FileStat)> {
        if t.follow {
            let fd = self.open_in(&t.abs, OFlag::O_PATH)?;
            let st = fstat(&fd)?;
            return Ok((Node::Itself(fd), st));
        }
        let pfd = self.open_in(&t.dir, OFlag::O_PATH | OFlag::O_DIRECTORY)?;
        let name = OsString::from(&t.base);
        let st = lstat_at(pfd.as_raw_fd(), &name)?;
        Ok((Node::At(pfd, name), st))
    }
}

enum Node {
    Itself(OwnedFd),
    At(OwnedFd, OsString),
}

fn path_error(e: io::Error, path: &str, key: &str) -> Error {
    match e.raw_os_error() {
        Some(libc::ENOENT) => {
            Error::NotFound(format!("Could not find the file {path} in container {key}"))
        }
        Some(libc::ENOTDIR) => Error::InvalidParameter("not a directory".into()),
        _ => Error::Io {
            context: format!("{path} in container {key}"),
            source: e,
        },
    }
}

// ---- tar output ----

/// Reads exactly `len` bytes: the file's, then zeros if it shrank or failed to read (a file of
/// a running container may change while it is archived; the archive must stay well-formed).
struct Exact<R> {
    inner: R,
    left: u64,
    failed: bool,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = if self.failed {
            0
        } else {
            match self.inner.read(&mut buf[..want]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, "reading a file while archiving it; padding with zeros");
                    self.failed = true;
                    0
                }
            }
        };
        let n = if n == 0 {
            buf[..want].fill(0);
            want
        } else {
            n
        };
        self.left -= n as u64;
        Ok(n)
    }
}

fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3;
    let mut len = body + body.to_string().len();
    if len.to_string().len() + body != len {
        len = body + len.to_string().len();
    }
    let mut out = format!("{len} {key}=").into_bytes();
    out.extend_from_slice(value);
    out.push(b'\n');
    out
}

/// A tar stream written entry by entry: GNU headers, long names and link targets as GNU
/// `L`/`K` records, xattrs as PAX records. Names are written as given (`./x`, `/x`, `x/`).
struct TarOut<W: Write> {
    out: W,
    /// First name of each multiply-linked inode, for hardlink entries.
    links: HashMap<(u64, u64), Vec<u8>>,
    /// Do not descend into kernel pseudo-filesystems.
    skip_pseudo: bool,
}

impl<W: Write> TarOut<W> {
    fn new(out: W, skip_pseudo: bool) -> TarOut<W> {
        TarOut {
            out,
            links: HashMap::new(),
            skip_pseudo,
        }
    }

    fn raw(&mut self, header: &tar::Header, data: &mut dyn Read, len: u64) -> io::Result<()> {
        self.out.write_all(header.as_bytes())?;
        let copied = io::copy(&mut data.take(len), &mut self.out)?;
        if copied != len {
            return Err(io::Error::other("archive entry shorter than its header"));
        }
        let pad = (512 - len % 512) % 512;
        self.out.write_all(&[0u8; 512][..pad as usize])
    }

    fn long(&mut self, kind: u8, data: &[u8]) -> io::Result<()> {
        let mut h = tar::Header::new_gnu();
        let name = b"././@LongLink";
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::new(kind));
        let mut body = data.to_vec();
        body.push(0);
        h.set_size(body.len() as u64);
        h.set_cksum();
        self.raw(&h, &mut &body[..], body.len() as u64)
    }

    fn entry(
        &mut self,
        mut h: tar::Header,
        name: &[u8],
        link: Option<&[u8]>,
        pax: &[(&str, Vec<u8>)],
        data: &mut dyn Read,
    ) -> io::Result<()> {
        if !pax.is_empty() {
            let mut body = Vec::new();
            for (k, v) in pax {
                body.extend_from_slice(&pax_record(k, v));
            }
            let mut ph = tar::Header::new_ustar();
            let pname = b"PaxHeaders.0/entry";
            ph.as_old_mut().name[..pname.len()].copy_from_slice(pname);
            ph.set_mode(0o644);
            ph.set_mtime(0);
            ph.set_entry_type(tar::EntryType::XHeader);
            ph.set_size(body.len() as u64);
            ph.set_cksum();
            self.raw(&ph, &mut &body[..], body.len() as u64)?;
        }
        if name.len() > 100 {
            self.long(b'L', name)?;
        }
        let old = h.as_old_mut();
        old.name = [0; 100];
        let n = name.len().min(100);
        old.name[..n].copy_from_slice(&name[..n]);
        if let Some(l) = link {
            if l.len() > 100 {
                self.long(b'K', l)?;
            }
            let old = h.as_old_mut();
            old.linkname = [0; 100];
            let n = l.len().min(100);
            old.linkname[..n].copy_from_slice(&l[..n]);
        }
        h.set_cksum();
        let len = h.entry_size().unwrap_or(0);
        self.raw(&h, data, len)
    }

    fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&[0u8; 1024])?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn header(st: &FileStat) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_mode(st.st_mode & 0o7777);
        h.set_uid(u64::from(st.st_uid));
        h.set_gid(u64::from(st.st_gid));
        h.set_mtime(st.st_mtime.max(0) as u64);
        h.set_size(0);
        h
    }

    /// One entry for the node `name` in `dir` (a directory's entries follow when `recurse`).
    fn add_at(
        &mut self,
        dir: RawFd,
        name: &OsStr,
        st: &FileStat,
        tar_name: &[u8],
        recurse: bool,
    ) -> io::Result<()> {
        let mut h = Self::header(st);
        match fmt_of(st) {
            libc::S_IFDIR => {
                let fd = match openat(dir, name, OFlag::O_RDONLY | OFlag::O_DIRECTORY) {
                    Ok(fd) => fd,
                    Err(e) => {
                        tracing::debug!(error = %e, "skipping a directory that vanished");
                        return Ok(());
                    }
                };
                self.add_dir(fd, st, tar_name, recurse)
            }
            libc::S_IFREG => {
                // O_NONBLOCK: should the name have become a FIFO, opening it must not hang.
                let fd = match openat(dir, name, OFlag::O_RDONLY | OFlag::O_NONBLOCK) {
                    Ok(fd) => fd,
                    Err(e) => {
                        tracing::debug!(error = %e, "skipping a file that vanished");
                        return Ok(());
                    }
                };
                let now = fstat(&fd)?;
                if fmt_of(&now) != libc::S_IFREG {
                    return Ok(());
                }
                if now.st_nlink > 1 {
                    let key = (now.st_dev, now.st_ino);
                    if let Some(first) = self.links.get(&key).cloned() {
                        h.set_entry_type(tar::EntryType::Link);
                        return self.entry(h, tar_name, Some(&first), &[], &mut io::empty());
                    }
                    self.links.insert(key, tar_name.to_vec());
                }
                let pax: Vec<(&str, Vec<u8>)> = fgetxattr(&fd, CAPABILITY_XATTR)
                    .map(|v| vec![("SCHILY.xattr.security.capability", v)])
                    .unwrap_or_default();
                let size = now.st_size.max(0) as u64;
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(size);
                let mut data = Exact {
                    inner: std::fs::File::from(fd),
                    left: size,
                    failed: false,
                };
                self.entry(h, tar_name, None, &pax, &mut data)
            }
            libc::S_IFLNK => {
                let target = match nix::fcntl::readlinkat(Some(dir), name) {
                    Ok(t) => t,
                    Err(e) => {
                        tracing::debug!(error = %e, "skipping a symlink that vanished");
                        return Ok(());
                    }
                };
                h.set_entry_type(tar::EntryType::Symlink);
                self.entry(h, tar_name, Some(target.as_bytes()), &[], &mut io::empty())
            }
            libc::S_IFCHR | libc::S_IFBLK => {
                h.set_entry_type(if fmt_of(st) == libc::S_IFCHR {
                    tar::EntryType::Char
                } else {
                    tar::EntryType::Block
                });
                h.set_device_major(libc::major(st.st_rdev))?;
                h.set_device_minor(libc::minor(st.st_rdev))?;
                self.entry(h, tar_name, None, &[], &mut io::empty())
            }
            libc::S_IFIFO => {
                h.set_entry_type(tar::EntryType::Fifo);
                self.entry(h, tar_name, None, &[], &mut io::empty())
            }
            // Sockets have no tar form; Docker skips them too.
            _ => Ok(()),
        }
    }

    /// A directory entry for the open directory `fd`, then (with `recurse`) its tree.
    fn add_dir(
        &mut self,
        fd: OwnedFd,
        st: &FileStat,
        tar_name: &[u8],
        recurse: bool,
    ) -> io::Result<()> {
        let mut h = Self::header(st);
        h.set_entry_type(tar::EntryType::Directory);
        let mut dir_name = tar_name.to_vec();
        if !dir_name.ends_with(b"/") {
            dir_name.push(b'/');
        }
        let pax: Vec<(&str, Vec<u8>)> = fgetxattr(&fd, CAPABILITY_XATTR)
            .map(|v| vec![("SCHILY.xattr.security.capability", v)])
            .unwrap_or_default();
        self.entry(h, &dir_name, None, &pax, &mut io::empty())?;
        if recurse && !(self.skip_pseudo && is_pseudo_fs(&fd)) {
            self.add_children(&fd, tar_name)?;
        }
        Ok(())
    }

    fn add_children(&mut self, fd: &OwnedFd, prefix: &[u8]) -> io::Result<()> {
        for name in list_dir(fd)? {
            let st = match lstat_at(fd.as_raw_fd(), &name) {
                Ok(st) => st,
                Err(_) => continue,
            };
            let child = join_bytes(prefix, name.as_bytes());
            self.add_at(fd.as_raw_fd(), &name, &st, &child, true)?;
        }
        Ok(())
    }
}

/// Read what is left of a failed upload, so the client finishes sending and reads the error.
fn drain(input: &mut impl Read) {
    let _ = io::copy(input, &mut io::sink());
}

// ---- extraction ----

/// Go's `filepath.Clean` of an archive entry name, as components below the extraction point;
/// `Err` with the cleaned name when it climbs out.
fn entry_components(raw: &[u8]) -> std::result::Result<Vec<OsString>, String> {
    let rooted = raw.starts_with(b"/");
    let mut out: Vec<OsString> = Vec::new();
    let mut climbed = false;
    for comp in raw.split(|b| *b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                // `..` at the root of a rooted name stays at the root, as in Go's Clean.
                if out.pop().is_none() && !rooted {
                    climbed = true;
                }
            }
            c => out.push(OsString::from_vec(c.to_vec())),
        }
    }
    if climbed {
        return Err(clean_rel(&String::from_utf8_lossy(raw)));
    }
    Ok(out)
}

/// Go's `filepath.Clean` of a relative path.
fn clean_rel(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for comp in p.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    let s = out.join("/");
    match (rooted, s.is_empty()) {
        (true, _) => format!("/{s}"),
        (false, true) => ".".into(),
        (false, false) => s,
    }
}

fn to_path(prefix: &str, comps: &[OsString]) -> String {
    let mut s = prefix.trim_end_matches('/').to_string();
    for c in comps {
        s.push('/');
        s.push_str(&c.to_string_lossy());
    }
    if s.is_empty() {
        s.push('/');
    }
    s
}

/// The directory `comps` below `base` in a container, created (0755, root) where missing.
fn ensure_dir_in(view: &FsView, base: &str, comps: &[OsString]) -> Result<OwnedFd> {
    let path = to_path(base, comps);
    match view.open_in(&path, OFlag::O_PATH | OFlag::O_DIRECTORY) {
        Ok(fd) => Ok(fd),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) && !comps.is_empty() => {
            let (last, up) = comps
                .split_last()
                .ok_or(Error::Internal("empty path".into()))?;
            let pfd = ensure_dir_in(view, base, up)?;
            match nix::sys::stat::mkdirat(
                Some(pfd.as_raw_fd()),
                last.as_os_str(),
                Mode::from_bits_truncate(0o755),
            ) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(Error::io(format!("creating {path}"))(e.into())),
            }
            openat(pfd.as_raw_fd(), last, OFlag::O_PATH | OFlag::O_DIRECTORY)
                .map_err(Error::io(format!("opening {path}")))
        }
        Err(e) => Err(Error::io(format!("opening {path}"))(e)),
    }
}

/// Creates the mount point `dst` (a directory, or an empty file for a file mount).
fn create_mount_point(view: &FsView, dst: &str, dir: bool) -> Result<OwnedFd> {
    let comps: Vec<OsString> = dst
        .split('/')
        .filter(|c| !c.is_empty())
        .map(OsString::from)
        .collect();
    let Some((last, up)) = comps.split_last() else {
        return Err(Error::InvalidParameter(format!(
            "invalid mount point {dst}"
        )));
    };
    let pfd = ensure_dir_in(view, "/", up)?;
    let created = if dir {
        nix::sys::stat::mkdirat(
            Some(pfd.as_raw_fd()),
            last.as_os_str(),
            Mode::from_bits_truncate(0o755),
        )
    } else {
        nix::fcntl::openat(
            Some(pfd.as_raw_fd()),
            last.as_os_str(),
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        )
        .map(|fd| drop(own(fd)))
    };
    match created {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(Error::io(format!("creating {dst}"))(e.into())),
    }
    openat(pfd.as_raw_fd(), last, OFlag::O_PATH).map_err(Error::io(format!("opening {dst}")))
}

/// Moves the calling thread into a mount namespace of its own whose mounts propagate nowhere.
fn private_mount_namespace() -> io::Result<()> {
    use nix::mount::MsFlags;
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )?;
    Ok(())
}

/// Unpacks one archive into a directory of a container, entry by entry.
struct Extractor<'a> {
    view: &'a FsView,
    /// The extraction point as the client named it (clean, absolute).
    dest: String,
    opts: ExtractOptions,
    /// Owner forced on every entry (`copyUIDGID` with a container user).
    owner: Option<(u32, u32)>,
    /// The parent directory of the previous entry.
    cached: Option<(Vec<OsString>, OwnedFd)>,
    /// Directories whose times are set once everything below them is written.
    dirs: Vec<(Vec<OsString>, libc::timespec, libc::timespec)>,
    /// Extended attributes the filesystem refused (reported once per archive).
    xattrs_lost: usize,
}

fn timespec(sec: i64, nsec: i64) -> libc::timespec {
    libc::timespec {
        tv_sec: sec as libc::time_t,
        tv_nsec: nsec as libc::c_long,
    }
}

/// PAX times are decimal seconds with an optional fraction.
fn parse_pax_time(v: &[u8]) -> Option<(i64, i64)> {
    let s = std::str::from_utf8(v).ok()?;
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    let mut nanos = 0i64;
    for (i, b) in frac.bytes().take(9).enumerate() {
        if !b.is_ascii_digit() {
            return None;
        }
        nanos += i64::from(b - b'0') * 10_i64.pow(8 - i as u32);
    }
    Some((secs, nanos))
}

fn set_times_fd(fd: &OwnedFd, atime: &libc::timespec, mtime: &libc::timespec) -> io::Result<()> {
    let path = CString::new(fd_path(fd).into_os_string().into_vec())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let times = [*atime, *mtime];
    // SAFETY: `path` is NUL-terminated and `times` holds two initialised timespecs.
    let r = unsafe { libc::utimensat(libc::AT_FDCWD, path.as_ptr(), times.as_ptr(), 0) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn set_times_at(
    dir: RawFd,
    name: &OsStr,
    atime: &libc::timespec,
    mtime: &libc::timespec,
) -> io::Result<()> {
    let cname =
        CString::new(name.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let times = [*atime, *mtime];
    // SAFETY: `cname` is NUL-terminated, `times` holds two initialised timespecs; the call
    // does not follow a symlink at `name`.
    let r = unsafe {
        libc::utimensat(
            dir,
            cname.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn chown_fd(fd: &OwnedFd, uid: u32, gid: u32) -> io::Result<()> {
    nix::unistd::fchownat(
        Some(fd.as_raw_fd()),
        "",
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
        nix::fcntl::AtFlags::AT_EMPTY_PATH,
    )?;
    Ok(())
}

fn chmod_fd(fd: &OwnedFd, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(fd_path(fd), std::fs::Permissions::from_mode(mode))
}

fn setxattr_fd(fd: &OwnedFd, name: &str, value: &[u8]) -> io::Result<()> {
    let path = CString::new(fd_path(fd).into_os_string().into_vec())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let cname = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: both strings are NUL-terminated; `value` is readable for its length.
    let r = unsafe {
        libc::setxattr(
            path.as_ptr(),
            cname.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Removes `name` in `dir`, recursively for a directory, never following a symlink.
fn remove_all_at(dir: RawFd, name: &OsStr) -> io::Result<()> {
    use nix::unistd::UnlinkatFlags;
    match nix::unistd::unlinkat(Some(dir), name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => return Ok(()),
        Err(Errno::EISDIR) | Err(Errno::EPERM) => {}
        Err(e) => return Err(e.into()),
    }
    let child = openat(dir, name, OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
    for n in list_dir(&child)? {
        remove_all_at(child.as_raw_fd(), &n)?;
    }
    drop(child);
    nix::unistd::unlinkat(Some(dir), name, UnlinkatFlags::RemoveDir)?;
    Ok(())
}

impl Extractor<'_> {
    fn container_path(&self, comps: &[OsString]) -> String {
        to_path(&self.dest, comps)
    }

    /// The directory `comps` below the extraction point, created (0755, root) when missing.
    fn parent_dir(&mut self, comps: &[OsString]) -> Result<RawFd> {
        if self
            .cached
            .as_ref()
            .is_none_or(|(c, _)| c.as_slice() != comps)
        {
            let fd = self.ensure_dir(comps)?;
            if is_pseudo_fs(&fd) {
                return Err(Error::InvalidParameter(format!(
                    "cannot extract into {}: it is a kernel filesystem",
                    self.container_path(comps)
                )));
            }
            self.cached = Some((comps.to_vec(), fd));
        }
        Ok(self
            .cached
            .as_ref()
            .map(|(_, fd)| fd.as_raw_fd())
            .unwrap_or(-1))
    }

    fn ensure_dir(&self, comps: &[OsString]) -> Result<OwnedFd> {
        ensure_dir_in(self.view, &self.dest, comps)
    }

    fn run(&mut self, input: impl Read) -> Result<()> {
        let mut archive = tar::Archive::new(input);
        let entries = archive
            .entries()
            .map_err(|e| Error::InvalidParameter(format!("reading the archive: {e}")))?;
        for entry in entries {
            let mut entry =
                entry.map_err(|e| Error::InvalidParameter(format!("reading the archive: {e}")))?;
            self.extract_one(&mut entry)?;
        }
        if self.xattrs_lost > 0 {
            tracing::warn!(
                dest = %self.dest,
                count = self.xattrs_lost,
                "extended attributes in the archive not restored: the filesystem refused them"
            );
        }
        for (comps, atime, mtime) in std::mem::take(&mut self.dirs).iter().rev() {
            let path = self.container_path(comps);
            if let Ok(fd) = self.view.open_in(&path, OFlag::O_PATH | OFlag::O_NOFOLLOW) {
                if fstat(&fd).is_ok_and(|st| is_dir(&st)) {
                    let _ = set_times_fd(&fd, atime, mtime);
                }
            }
        }
        Ok(())
    }

    fn extract_one<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader
        ) {
            return Ok(());
        }
        let raw = entry.path_bytes().into_owned();
        let comps = entry_components(&raw).map_err(|name| {
            Error::InvalidParameter(format!("{name:?} is outside of {:?}", self.dest))
        })?;
        let Some((base, up)) = comps.split_last() else {
            // The extraction point itself.
            if kind == tar::EntryType::Directory {
                return Ok(());
            }
            return Err(Error::InvalidParameter(format!(
                "cannot overwrite directory {:?} with non-directory {:?}",
                self.dest, self.dest
            )));
        };
        let full = self.container_path(&comps);
        let header = entry.header().clone();
        let mut uid = header.uid().unwrap_or(0) as u32;
        let mut gid = header.gid().unwrap_or(0) as u32;
        let mut mtime = (header.mtime().unwrap_or(0) as i64, 0i64);
        let mut atime: Option<(i64, i64)> = None;
        let mut xattrs: Vec<(String, Vec<u8>)> = Vec::new();
        if let Ok(Some(pax)) = entry.pax_extensions() {
            for ext in pax.flatten() {
                let (Ok(key), value) = (ext.key(), ext.value_bytes()) else {
                    continue;
                };
                match key {
                    "uid" => {
                        uid = std::str::from_utf8(value)
                            .ok()
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(uid)
                    }
                    "gid" => {
                        gid = std::str::from_utf8(value)
                            .ok()
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(gid)
                    }
                    "mtime" => mtime = parse_pax_time(value).unwrap_or(mtime),
                    "atime" => atime = parse_pax_time(value),
                    k => {
                        if let Some(x) = k.strip_prefix("SCHILY.xattr.") {
                            xattrs.push((x.to_string(), value.to_vec()));
                        }
                    }
                }
            }
        }
        if let Some((u, g)) = self.owner {
            (uid, gid) = (u, g);
        }
        let mode = header.mode().unwrap_or(0o644) & 0o7777;
        let pfd = self.parent_dir(up)?;
        if let Ok(existing) = lstat_at(pfd, base) {
            let existing_dir = is_dir(&existing);
            let entry_dir = kind == tar::EntryType::Directory;
            if self.opts.no_overwrite_dir_non_dir && existing_dir && !entry_dir {
                return Err(Error::InvalidParameter(format!(
                    "cannot overwrite directory {full:?} with non-directory {:?}",
                    self.dest
                )));
            }
            if self.opts.no_overwrite_dir_non_dir && !existing_dir && entry_dir {
                return Err(Error::InvalidParameter(format!(
                    "cannot overwrite non-directory {full:?} with directory {:?}",
                    self.dest
                )));
            }
            if !(existing_dir && entry_dir) {
                remove_all_at(pfd, base).map_err(Error::io(format!("removing {full}")))?;
            }
        }
        let io_err = |what: &str| Error::io(format!("{what} {full}"));
        let perm = Mode::from_bits_truncate(mode & 0o777);
        let mut written: Option<OwnedFd> = None;
        match kind {
            tar::EntryType::Directory => {
                match nix::sys::stat::mkdirat(Some(pfd), base.as_os_str(), perm) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(io_err("creating")(e.into())),
                }
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let fd = openat(pfd, base, OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL)
                    .map_err(io_err("creating"))?;
                let mut file = std::fs::File::from(fd);
                io::copy(entry, &mut file).map_err(io_err("writing"))?;
                written = Some(OwnedFd::from(file));
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                // As Docker: a relative target that climbs above the extraction point is
                // refused (an absolute one stays inside the container anyway).
                let mut joined = up.iter().map(|c| c.as_bytes().to_vec()).collect::<Vec<_>>();
                let mut escapes = false;
                if !target.starts_with(b"/") {
                    for c in target.split(|b| *b == b'/') {
                        match c {
                            b"" | b"." => {}
                            b".." => {
                                if joined.pop().is_none() {
                                    escapes = true;
                                    break;
                                }
                            }
                            c => joined.push(c.to_vec()),
                        }
                    }
                }
                if escapes {
                    return Err(Error::InvalidParameter(format!(
                        "invalid symlink {full:?} -> {:?}",
                        String::from_utf8_lossy(&target)
                    )));
                }
                nix::unistd::symlinkat(OsStr::from_bytes(&target), Some(pfd), base.as_os_str())
                    .map_err(|e| io_err("creating")(e.into()))?;
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                let tcomps = entry_components(&target).map_err(|_| {
                    Error::InvalidParameter(format!(
                        "invalid hardlink {:?} -> {:?}",
                        clean_abs(&format!(
                            "{}/{}",
                            self.dest,
                            String::from_utf8_lossy(&target)
                        )),
                        String::from_utf8_lossy(&target)
                    ))
                })?;
                let Some((tbase, tup)) = tcomps.split_last() else {
                    return Err(Error::InvalidParameter(format!(
                        "invalid hardlink {:?} -> {:?}",
                        self.dest,
                        String::from_utf8_lossy(&target)
                    )));
                };
                let tdir = self
                    .view
                    .open_in(
                        &self.container_path(tup),
                        OFlag::O_PATH | OFlag::O_DIRECTORY,
                    )
                    .map_err(io_err("linking"))?;
                nix::unistd::linkat(
                    Some(tdir.as_raw_fd()),
                    tbase.as_os_str(),
                    Some(pfd),
                    base.as_os_str(),
                    nix::fcntl::AtFlags::empty(),
                )
                .map_err(|e| io_err("linking")(e.into()))?;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let sflag = match kind {
                    tar::EntryType::Char => SFlag::S_IFCHR,
                    tar::EntryType::Block => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                let dev = libc::makedev(
                    header.device_major().ok().flatten().unwrap_or(0),
                    header.device_minor().ok().flatten().unwrap_or(0),
                );
                nix::sys::stat::mknodat(Some(pfd), base.as_os_str(), sflag, perm, dev)
                    .map_err(|e| io_err("creating")(e.into()))?;
            }
            other => {
                return Err(Error::InvalidParameter(format!(
                    "unhandled tar header type {}",
                    other.as_byte()
                )));
            }
        }
        let atime = match atime {
            Some(a) if a >= mtime => timespec(a.0, a.1),
            _ => timespec(mtime.0, mtime.1),
        };
        let mtime = timespec(mtime.0, mtime.1);
        if kind == tar::EntryType::Symlink {
            nix::unistd::fchownat(
                Some(pfd),
                base.as_os_str(),
                Some(Uid::from_raw(uid)),
                Some(Gid::from_raw(gid)),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(|e| io_err("chown")(e.into()))?;
            let _ = set_times_at(pfd, base, &atime, &mtime);
            return Ok(());
        }
        let fd = match written {
            Some(fd) => fd,
            None => openat(pfd, base, OFlag::O_PATH).map_err(io_err("opening"))?,
        };
        let st = fstat(&fd).map_err(io_err("stat"))?;
        if fmt_of(&st) == libc::S_IFLNK {
            // Replaced under us: leave the container's link alone.
            return Ok(());
        }
        chown_fd(&fd, uid, gid).map_err(io_err("chown"))?;
        for (name, value) in &xattrs {
            if let Err(e) = setxattr_fd(&fd, name, value) {
                tracing::debug!(error = %e, path = %full, xattr = %name, "xattr not restored");
                self.xattrs_lost += 1;
            }
        }
        chmod_fd(&fd, mode).map_err(io_err("chmod"))?;
        if kind == tar::EntryType::Directory {
            self.dirs.push((comps.clone(), atime, mtime));
        } else {
            let _ = set_times_fd(&fd, &atime, &mtime);
        }
        Ok(())
    }
}

/// `user[:group]` looked up in the container's `/etc/passwd` and `/etc/group`.
fn lookup_owner(view: &FsView, user: &str) -> Result<(u32, u32)> {
    let read = |path: &str| -> String {
        let Ok(fd) = view.open_in(path, OFlag::O_RDONLY) else {
            return String::new();
        };
        let mut s = String::new();
        let _ = std::fs::File::from(fd)
            .take(16 << 20)
            .read_to_string(&mut s);
        s
    };
    let (u, g) = user.split_once(':').unwrap_or((user, ""));
    let passwd = read("/etc/passwd");
    let rows = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 4);
    let (uid, primary) = match u.parse::<u32>() {
        Ok(n) => (
            n,
            rows.clone()
                .find(|f| f[2].parse::<u32>().ok() == Some(n))
                .and_then(|f| f[3].parse().ok())
                .unwrap_or(0),
        ),
        Err(_) => rows
            .clone()
            .find(|f| f[0] == u)
            .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
            .ok_or_else(|| {
                Error::InvalidParameter(format!(
                    "unable to find user {u}: no matching entries in passwd file"
                ))
            })?,
    };
    let gid = if g.is_empty() {
        primary
    } else if let Ok(n) = g.parse::<u32>() {
        n
    } else {
        read("/etc/group")
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() >= 3 && f[0] == g)
            .and_then(|f| f[2].parse().ok())
            .ok_or_else(|| {
                Error::InvalidParameter(format!(
                    "unable to find group {g}: no matching entries in group file"
                ))
            })?
    };
    Ok((uid, gid))
}

// ---- the writable layer compared with the image ----

/// One change of a container's writable layer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DiffNode {
    /// Absolute container path.
    path: Vec<u8>,
    kind: u8,
    /// Reported by `changes`.
    listed: bool,
    /// Written to a committed layer.
    included: bool,
    /// An opaque directory (replaces what the image had there).
    opaque: bool,
}

#[derive(Debug, Default)]
struct DirSummary {
    /// A direct child was added or deleted (Docker then lists the directory as changed).
    add_or_delete: bool,
    /// Something below goes into a committed layer.
    included: bool,
    /// A runtime placeholder sits directly in the directory (its mtime says nothing).
    placeholder: bool,
}

/// The image's layers, topmost first, as the overlay stacks them.
struct Lower {
    layers: Vec<PathBuf>,
}

impl Lower {
    fn is_whiteout(m: &std::fs::Metadata) -> bool {
        m.file_type().is_char_device() && m.rdev() == 0
    }

    fn is_opaque(path: &Path) -> bool {
        lgetxattr(path, OPAQUE_XATTR).is_some_and(|v| v == b"y")
    }

    /// What the image shows at `path` (absolute), honouring whiteouts and opaque directories.
    fn lookup(&self, path: &[u8]) -> Option<std::fs::Metadata> {
        let comps: Vec<&[u8]> = path
            .split(|b| *b == b'/')
            .filter(|c| !c.is_empty())
            .collect();
        if comps.is_empty() {
            return None;
        }
        for layer in &self.layers {
            let mut cur = layer.clone();
            let mut stop_below = false;
            for (i, c) in comps.iter().enumerate() {
                cur.push(OsStr::from_bytes(c));
                let Ok(m) = std::fs::symlink_metadata(&cur) else {
                    break;
                };
                if Self::is_whiteout(&m) {
                    return None;
                }
                if i == comps.len() - 1 {
                    return Some(m);
                }
                if !m.is_dir() {
                    return None;
                }
                if Self::is_opaque(&cur) {
                    stop_below = true;
                }
            }
            if stop_below {
                return None;
            }
        }
        None
    }

    /// The names the image shows in the directory `path`.
    fn children(&self, path: &[u8]) -> Vec<OsString> {
        let rel = OsStr::from_bytes(path.strip_prefix(b"/").unwrap_or(path));
        let mut names: Vec<OsString> = Vec::new();
        let mut seen = HashSet::new();
        for layer in &self.layers {
            let Ok(rd) = std::fs::read_dir(layer.join(rel)) else {
                continue;
            };
            for e in rd.flatten() {
                let n = e.file_name();
                if seen.insert(n.clone()) {
                    names.push(n);
                }
            }
        }
        names.retain(|n| self.lookup(&join_bytes(path, n.as_bytes())).is_some());
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        names
    }
}

fn same_fs_time(a: (i64, i64), b: (i64, i64)) -> bool {
    a.0 == b.0 && (a.1 == b.1 || a.1 == 0 || b.1 == 0)
}

fn dir_meta_differs(st: &FileStat, lower: &std::fs::Metadata, trust_mtime: bool) -> bool {
    st.st_mode != lower.mode()
        || st.st_uid != lower.uid()
        || st.st_gid != lower.gid()
        || (trust_mtime
            && !same_fs_time(
                (st.st_mtime, st.st_mtime_nsec),
                (lower.mtime(), lower.mtime_nsec()),
            ))
}

/// Walks a writable (upper) directory, appending its changes in walk order.
fn walk_upper(
    lower: &Lower,
    dir: &OwnedFd,
    path: &[u8],
    out: &mut Vec<DiffNode>,
) -> io::Result<DirSummary> {
    let mut sum = DirSummary::default();
    for name in list_dir(dir)? {
        let child = join_bytes(if path.is_empty() { b"/" } else { path }, name.as_bytes());
        let st = match lstat_at(dir.as_raw_fd(), &name) {
            Ok(st) => st,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(e),
        };
        if is_whiteout(&st) {
            out.push(DiffNode {
                path: child,
                kind: CHANGE_DELETE,
                listed: true,
                included: true,
                opaque: false,
            });
            sum.add_or_delete = true;
            sum.included = true;
            continue;
        }
        if fmt_of(&st) == libc::S_IFREG
            && st.st_size == 0
            && PLACEHOLDER_FILES.contains(&child.as_slice())
        {
            sum.placeholder = true;
            continue;
        }
        let below = lower.lookup(&child);
        if !is_dir(&st) {
            let kind = if below.is_some() {
                CHANGE_MODIFY
            } else {
                CHANGE_ADD
            };
            sum.add_or_delete |= kind == CHANGE_ADD;
            sum.included = true;
            out.push(DiffNode {
                path: child,
                kind,
                listed: true,
                included: true,
                opaque: false,
            });
            continue;
        }
        let cfd = openat(dir.as_raw_fd(), &name, OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
        let opaque = fgetxattr(&cfd, OPAQUE_XATTR).is_some_and(|v| v == b"y");
        let at = out.len();
        out.push(DiffNode {
            path: child.clone(),
            kind: CHANGE_MODIFY,
            listed: false,
            included: false,
            opaque,
        });
        let mut sub = walk_upper(lower, &cfd, &child, out)?;
        let below_dir = below.as_ref().is_some_and(|m| m.is_dir());
        if opaque && below_dir {
            // What the image had here is gone, except what was made anew.
            for n in lower.children(&child) {
                if lstat_at(cfd.as_raw_fd(), &n).is_err() {
                    out.push(DiffNode {
                        path: join_bytes(&child, n.as_bytes()),
                        kind: CHANGE_DELETE,
                        listed: true,
                        included: false,
                        opaque: false,
                    });
                    sub.add_or_delete = true;
                }
            }
        }
        let nothing_below = out.len() == at + 1;
        let (kind, listed) = match &below {
            None if nothing_below
                && (sub.placeholder || PLACEHOLDER_DIRS.contains(&child.as_slice())) =>
            {
                sum.placeholder = true;
                out.truncate(at);
                continue;
            }
            None => (CHANGE_ADD, true),
            Some(m) if !m.is_dir() => (CHANGE_MODIFY, true),
            Some(m) => (
                CHANGE_MODIFY,
                opaque || sub.add_or_delete || dir_meta_differs(&st, m, !sub.placeholder),
            ),
        };
        let included = listed || sub.included;
        if !included {
            out.truncate(at);
            continue;
        }
        out[at].kind = kind;
        out[at].listed = listed;
        out[at].included = true;
        sum.add_or_delete |= listed && kind == CHANGE_ADD;
        sum.included = true;
    }
    Ok(sum)
}

/// Writes the included part of an upper directory as an OCI layer: whiteouts become `.wh.`
/// entries, opaque directories get a `.wh..wh..opq` entry.
fn write_layer<W: Write>(
    tar: &mut TarOut<W>,
    dir: &OwnedFd,
    path: &[u8],
    nodes: &HashMap<Vec<u8>, (bool, bool)>,
) -> io::Result<()> {
    for name in list_dir(dir)? {
        let child = join_bytes(if path.is_empty() { b"/" } else { path }, name.as_bytes());
        let Some(&(included, opaque)) = nodes.get(&child) else {
            continue;
        };
        if !included {
            continue;
        }
        let st = match lstat_at(dir.as_raw_fd(), &name) {
            Ok(st) => st,
            Err(_) => continue,
        };
        let tar_name = &child[1..];
        if is_whiteout(&st) {
            let mut wh = tar_name[..tar_name.len() - name.len()].to_vec();
            wh.extend_from_slice(WHITEOUT_PREFIX);
            wh.extend_from_slice(name.as_bytes());
            let mut h = TarOut::<W>::header(&st);
            h.set_mode(0o600);
            h.set_entry_type(tar::EntryType::Regular);
            tar.entry(h, &wh, None, &[], &mut io::empty())?;
            continue;
        }
        if is_dir(&st) {
            let cfd = openat(dir.as_raw_fd(), &name, OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
            tar.add_dir(cfd.try_clone()?, &st, tar_name, false)?;
            if opaque {
                let mut h = TarOut::<W>::header(&st);
                h.set_mode(st.st_mode & 0o777);
                h.set_mtime(0);
                h.set_entry_type(tar::EntryType::Regular);
                let marker = join_bytes(tar_name, OPAQUE_MARKER);
                tar.entry(h, &marker, None, &[], &mut io::empty())?;
            }
            write_layer(tar, &cfd, &child, nodes)?;
            continue;
        }
        tar.add_at(dir.as_raw_fd(), &name, &st, tar_name, false)?;
    }
    Ok(())
}

/// The config of a committed image: the request's config (or the container's) with the
/// `--change` lines applied, completed from the container's config as Docker's `merge` does.
fn commit_config(container: &Value, given: Option<&Value>, changes: &[String]) -> Result<Value> {
    let mut user: Map<String, Value> = match given {
        Some(Value::Object(m)) => m.clone(),
        _ => container.as_object().cloned().unwrap_or_default(),
    };
    crate::changes::apply_changes(&mut user, changes)?;
    let img = container.as_object().cloned().unwrap_or_default();
    let empty = |v: Option<&Value>| match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        Some(_) => false,
    };
    for key in ["User", "WorkingDir", "StopSignal"] {
        if empty(user.get(key)) {
            if let Some(v) = img.get(key) {
                user.insert(key.into(), v.clone());
            }
        }
    }
    for key in ["ExposedPorts", "Volumes"] {
        let mut merged = user
            .get(key)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (k, v) in img
            .get(key)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            merged.entry(k.clone()).or_insert_with(|| v.clone());
        }
        if !merged.is_empty() {
            user.insert(key.into(), Value::Object(merged));
        } else if !user.contains_key(key) {
            user.insert(key.into(), Value::Null);
        }
    }
    let env_key = |s: &Value| {
        s.as_str()
            .map(|s| s.split('=').next().unwrap_or(s).to_string())
    };
    let mut env: Vec<Value> = user
        .get("Env")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if env.is_empty() {
        env = img
            .get("Env")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
    } else {
        for e in img
            .get("Env")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !env.iter().any(|u| env_key(u) == env_key(e)) {
                env.push(e.clone());
            }
        }
    }
    user.insert(
        "Env".into(),
        if env.is_empty() {
            Value::Null
        } else {
            Value::Array(env)
        },
    );
    let mut labels = user
        .get("Labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (k, v) in img
        .get("Labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    user.insert("Labels".into(), Value::Object(labels));
    if empty(user.get("Entrypoint")) {
        if empty(user.get("Cmd")) {
            user.insert("Cmd".into(), img.get("Cmd").cloned().unwrap_or(Value::Null));
        }
        if user.get("Entrypoint").is_none_or(Value::is_null) {
            user.insert(
                "Entrypoint".into(),
                img.get("Entrypoint").cloned().unwrap_or(Value::Null),
            );
        }
    }
    if user.get("Healthcheck").is_none_or(Value::is_null) {
        if let Some(h) = img.get("Healthcheck") {
            user.insert("Healthcheck".into(), h.clone());
        }
    }
    Ok(crate::config::docker_config_shape(Some(&Value::Object(
        user,
    ))))
}

impl Engine {
    /// Runs `f` on a container's root: a running container's as it sees it (`Live`) or its
    /// merged overlay (`Rootfs`); a stopped container's overlay is mounted for the call, under
    /// the container's operation lock.
    fn with_fs<T: Send>(
        &self,
        key: &str,
        kind: ViewKind,
        f: impl FnOnce(&ContainerRecord, &FsView) -> Result<T> + Send,
    ) -> Result<T> {
        let id = self.containers.find(key)?.id;
        let lock = self.container_lock(&id);
        let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        let c = self.containers.find(&id)?;
        let merged = self.container_dir(&id).join("merged");
        if c.state.running && c.state.pid > 0 {
            let unreachable = |e: io::Error| {
                Error::Conflict(format!(
                    "cannot reach the filesystem of container {}: {e}",
                    c.id
                ))
            };
            let root = match kind {
                ViewKind::Live => {
                    let root = FsView::open_dir(Path::new(&format!("/proc/{}/root", c.state.pid)))
                        .map_err(unreachable)?;
                    // The pid may have been reused since the state was recorded: its root must
                    // be this container's overlay.
                    let a = fstat(&root).map_err(unreachable)?;
                    let b = nix::sys::stat::stat(&merged).map_err(|e| unreachable(e.into()))?;
                    if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino) {
                        return Err(Error::Conflict(format!(
                            "Container {} is not running",
                            c.id
                        )));
                    }
                    root
                }
                ViewKind::Rootfs => {
                    let root = FsView::open_dir(&merged).map_err(unreachable)?;
                    if fs_type(&root) != Some(OVERLAYFS_MAGIC) {
                        return Err(Error::Conflict(format!(
                            "the root filesystem of container {} is not mounted",
                            c.id
                        )));
                    }
                    root
                }
            };
            // The descriptor keeps the root reachable: the lock is not needed any more.
            drop(guard);
            let view = FsView {
                root,
                live: kind == ViewKind::Live,
            };
            return f(&c, &view);
        }
        // A stopped container: its overlay (and for the live view its volumes and bind
        // mounts) is mounted in a mount namespace private to one thread, which nothing else
        // sees and which the kernel takes down with the thread, mounts included. The lock
        // keeps the container from starting on the same writable layer meanwhile.
        let r = std::thread::scope(|s| {
            s.spawn(|| -> Result<T> {
                private_mount_namespace().map_err(Error::io("creating a mount namespace"))?;
                let merged = self.mount_rootfs(&c)?;
                let root = FsView::open_dir(&merged)
                    .map_err(Error::io(format!("opening {}", merged.display())))?;
                let view = FsView {
                    root,
                    live: kind == ViewKind::Live,
                };
                if kind == ViewKind::Live {
                    self.mount_volumes(&c, &view)?;
                }
                f(&c, &view)
            })
            .join()
            .unwrap_or_else(|_| {
                Err(Error::Internal(
                    "the container filesystem thread panicked".into(),
                ))
            })
        });
        drop(guard);
        r
    }

    /// Binds a stopped container's volumes and bind mounts into its view where the container
    /// sees them, read-only ones read-only (mount points are created as a start would).
    fn mount_volumes(&self, c: &ContainerRecord, view: &FsView) -> Result<()> {
        use nix::mount::MsFlags;
        let info = self.inspect_container(&c.id)?;
        let mut mounts: Vec<(String, String, bool)> = info["Mounts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| matches!(m["Type"].as_str(), Some("bind") | Some("volume")))
            .filter_map(|m| {
                Some((
                    m["Source"].as_str()?.to_string(),
                    clean_abs(m["Destination"].as_str()?),
                    m["RW"].as_bool().unwrap_or(true),
                ))
            })
            .filter(|(src, dst, _)| !src.is_empty() && dst != "/")
            .collect();
        // Parents before the mounts inside them.
        mounts.sort_by_key(|(_, dst, _)| dst.matches('/').count());
        for (src, dst, rw) in mounts {
            let Ok(meta) = std::fs::metadata(&src) else {
                tracing::warn!(id = %c.id, source = %src, "mount source missing; not shown");
                continue;
            };
            let target = match view.open_in(&dst, OFlag::O_PATH) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    create_mount_point(view, &dst, meta.is_dir())?
                }
                Err(e) => return Err(Error::io(format!("mount point {dst}"))(e)),
            };
            let failed = |e: Errno| Error::Internal(format!("mounting {src} on {dst}: {e}"));
            nix::mount::mount(
                Some(Path::new(&src)),
                &fd_path(&target),
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(failed)?;
            if !rw {
                let top = view
                    .open_in(&dst, OFlag::O_PATH)
                    .map_err(Error::io(format!("mount point {dst}")))?;
                nix::mount::mount(
                    None::<&str>,
                    &fd_path(&top),
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                    None::<&str>,
                )
                .map_err(failed)?;
            }
        }
        Ok(())
    }

    /// `HEAD /containers/{id}/archive?path=`.
    pub fn stat_container_path(&self, key: &str, path: &str) -> Result<PathStat> {
        if path.is_empty() {
            return Err(Error::InvalidParameter(
                "must specify path parameter".into(),
            ));
        }
        self.with_fs(key, ViewKind::Live, |_, view| {
            stat_in(view, &Target::parse(path)).map_err(|e| path_error(e, path, key))
        })
    }

    /// `GET /containers/{id}/archive?path=`: calls `ready` with the path's stat once the path
    /// is found, then writes a tar of it to the writer `ready` returns. Entries are named after
    /// the path's last element (`/` for the root, `.` for a path ending in `/.`).
    pub fn archive_container_path<W: Write>(
        &self,
        key: &str,
        path: &str,
        ready: impl FnOnce(&PathStat) -> io::Result<W> + Send,
    ) -> Result<()> {
        if path.is_empty() {
            return Err(Error::InvalidParameter(
                "must specify path parameter".into(),
            ));
        }
        self.with_fs(key, ViewKind::Live, |c, view| {
            let t = Target::parse(path);
            let stat = stat_in(view, &t).map_err(|e| path_error(e, path, key))?;
            let (node, st) = view.locate(&t).map_err(|e| path_error(e, path, key))?;
            let out = ready(&stat).map_err(Error::io("sending the archive"))?;
            self.publish(
                "container",
                "archive-path",
                &c.id,
                &[("image", &c.image), ("name", &c.name)],
            );
            let mut tar = TarOut::new(out, view.live);
            let name = t.base.as_bytes();
            let written = match node {
                Node::Itself(fd) => openat(
                    fd.as_raw_fd(),
                    OsStr::new("."),
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY,
                )
                .and_then(|dir| tar.add_dir(dir, &st, name, true)),
                Node::At(pfd, base) => tar.add_at(pfd.as_raw_fd(), &base, &st, name, true),
            };
            written
                .and_then(|()| tar.finish().map(drop))
                .map_err(Error::io(format!("archiving {path}")))
        })
    }

    /// `GET /containers/{id}/export`: calls `ready` once the root is reachable, then writes a
    /// tar of the container's root filesystem (its overlay, without mounts) to the writer
    /// `ready` returns.
    pub fn export_container<W: Write>(
        &self,
        key: &str,
        ready: impl FnOnce() -> io::Result<W> + Send,
    ) -> Result<()> {
        self.with_fs(key, ViewKind::Rootfs, |c, view| {
            let out = ready().map_err(Error::io("sending the archive"))?;
            self.publish(
                "container",
                "export",
                &c.id,
                &[("image", &c.image), ("name", &c.name)],
            );
            let mut tar = TarOut::new(out, true);
            tar.add_children(&view.root, b"")
                .and_then(|()| tar.finish().map(drop))
                .map_err(Error::io(format!("exporting container {}", c.id)))
        })
    }

    /// `PUT /containers/{id}/archive?path=`: extracts the tar `input` (plain, gzip or zstd) into
    /// the directory `path` of the container.
    pub fn extract_to_container(
        &self,
        key: &str,
        path: &str,
        opts: ExtractOptions,
        input: impl Read + Send,
    ) -> Result<()> {
        let mut input = input;
        let r = self.extract_inner(key, path, opts, &mut input);
        if r.is_err() {
            drain(&mut input);
        }
        r
    }

    fn extract_inner(
        &self,
        key: &str,
        path: &str,
        opts: ExtractOptions,
        input: &mut (dyn Read + Send),
    ) -> Result<()> {
        if path.is_empty() {
            return Err(Error::InvalidParameter(
                "must specify path parameter".into(),
            ));
        }
        self.with_fs(key, ViewKind::Live, |c, view| {
            let abs = preserve_trailing(clean_abs(&format!("/{path}")), path);
            let fd = view
                .open_in(&abs, OFlag::O_PATH)
                .map_err(|e| path_error(e, path, key))?;
            let st = fstat(&fd).map_err(|e| path_error(e, path, key))?;
            if !is_dir(&st) {
                return Err(Error::InvalidParameter(
                    "extraction point is not a directory".into(),
                ));
            }
            let root = fstat(&view.root).map_err(Error::io("stat of the container root"))?;
            let on_rootfs = st.st_dev == root.st_dev;
            if on_rootfs && c.host_config["ReadonlyRootfs"].as_bool().unwrap_or(false) {
                return Err(Error::InvalidParameter(
                    "container rootfs is marked read-only".into(),
                ));
            }
            let read_only = nix::sys::statvfs::fstatvfs(&fd)
                .is_ok_and(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY));
            if read_only {
                return Err(Error::InvalidParameter(if on_rootfs {
                    "container rootfs is marked read-only".into()
                } else {
                    "mounted volume is marked read-only".into()
                }));
            }
            let owner = match c.config["User"].as_str().filter(|u| !u.is_empty()) {
                Some(user) if opts.copy_uid_gid => Some(lookup_owner(view, user)?),
                _ => None,
            };
            let mut ex = Extractor {
                view,
                dest: clean_abs(&abs),
                opts,
                owner,
                cached: None,
                dirs: Vec::new(),
                xattrs_lost: 0,
            };
            ex.run(decompress(input)?)?;
            self.publish(
                "container",
                "extract-to-dir",
                &c.id,
                &[("image", &c.image), ("name", &c.name)],
            );
            Ok(())
        })
    }

    /// The changes of a container's writable layer, in walk order.
    fn diff_nodes(&self, c: &ContainerRecord) -> Result<Vec<DiffNode>> {
        let img = self
            .store
            .image(&c.image_id)?
            .ok_or_else(|| Error::NoSuchImage(c.image.clone()))?;
        let upper = self.container_dir(&c.id).join("upper");
        self.upper_nodes(&upper, &img.layers, &format!("container {}", c.id))
    }

    /// The changes an overlay upper dir holds over `layers` (bottom first), in walk order.
    fn upper_nodes(
        &self,
        upper: &Path,
        layers: &[LayerRecord],
        what: &str,
    ) -> Result<Vec<DiffNode>> {
        let Ok(dir) = FsView::open_dir(upper) else {
            return Ok(Vec::new());
        };
        let lower = Lower {
            layers: layers
                .iter()
                .rev()
                .map(|l| self.store.layer_diff_dir(&l.chain_id))
                .collect(),
        };
        let mut out = Vec::new();
        walk_upper(&lower, &dir, b"", &mut out)
            .map_err(Error::io(format!("reading the changes of {what}")))?;
        Ok(out)
    }

    /// `GET /containers/{id}/changes`: `[{"Path", "Kind"}]`, Kind 0 modified, 1 added,
    /// 2 deleted.
    pub fn container_changes(&self, key: &str) -> Result<Vec<Value>> {
        let c = self.containers.find(key)?;
        Ok(self
            .diff_nodes(&c)?
            .into_iter()
            .filter(|n| n.listed)
            .map(|n| json!({"Path": String::from_utf8_lossy(&n.path), "Kind": n.kind}))
            .collect())
    }

    /// The committed layer of a container: `None` when its writable layer holds no change.
    fn commit_layer(
        &self,
        c: &ContainerRecord,
        parent: Option<&Digest>,
    ) -> Result<Option<LayerRecord>> {
        let nodes = self.diff_nodes(c)?;
        let upper = self.container_dir(&c.id).join("upper");
        self.layer_from_nodes(&upper, nodes, parent, &format!("container {}", c.id))
    }

    /// The layer an overlay upper dir makes over `layers` (bottom first): `None` when it
    /// holds no change.
    pub(crate) fn layer_from_upper(
        &self,
        upper: &Path,
        layers: &[LayerRecord],
        what: &str,
    ) -> Result<Option<LayerRecord>> {
        let nodes = self.upper_nodes(upper, layers, what)?;
        let parent = layers.last().map(|l| &l.chain_id);
        self.layer_from_nodes(upper, nodes, parent, what)
    }

    fn layer_from_nodes(
        &self,
        upper: &Path,
        nodes: Vec<DiffNode>,
        parent: Option<&Digest>,
        what: &str,
    ) -> Result<Option<LayerRecord>> {
        if !nodes.iter().any(|n| n.included) {
            return Ok(None);
        }
        let map: HashMap<Vec<u8>, (bool, bool)> = nodes
            .into_iter()
            .map(|n| (n.path, (n.included, n.opaque)))
            .collect();
        let dir =
            FsView::open_dir(upper).map_err(Error::io(format!("opening {}", upper.display())))?;
        let mut tar = TarOut::new(self.store.blob_writer()?, false);
        write_layer(&mut tar, &dir, b"", &map)
            .map_err(Error::io(format!("archiving the changes of {what}")))?;
        let writer = tar
            .finish()
            .map_err(Error::io("writing the committed layer"))?;
        let (blob, _) = writer.commit(None)?;
        Ok(Some(self.store.unpack_layer(parent, &blob, None)?))
    }

    /// `POST /commit`: a new image from a container (pausing it meanwhile when asked), tagged
    /// `repo:tag` when a repository is given. Returns the image ID.
    pub fn commit_container(&self, req: &CommitRequest) -> Result<Digest> {
        let target = if req.repo.is_empty() {
            None
        } else {
            let full = if req.tag.is_empty() {
                req.repo.clone()
            } else {
                format!("{}:{}", req.repo, req.tag)
            };
            let r = Reference::parse(&full)?;
            if r.is_digest() {
                return Err(Error::InvalidParameter(
                    "cannot import digest reference".into(),
                ));
            }
            Some(r.with_default_tag())
        };
        let c = self.containers.find(&req.container)?;
        let img = self
            .store
            .image(&c.image_id)?
            .ok_or_else(|| Error::NoSuchImage(c.image.clone()))?;
        let parent_cfg = self.image_config(&c.image_id)?;
        let config = commit_config(&c.config, req.config.as_ref(), &req.changes)?;
        let parent_chain = img.layers.last().map(|l| l.chain_id.clone());
        let guard = self.store.write_guard();
        let layer = if c.state.running {
            let pause = req.pause && !c.state.paused;
            if pause {
                self.pause_container(&c.id).map_err(|e| {
                    Error::Internal(format!("Error pausing container {}: {e}", c.id))
                })?;
            }
            let r = self.commit_layer(&c, parent_chain.as_ref());
            if pause {
                if let Err(e) = self.unpause_container(&c.id) {
                    tracing::warn!(error = %e, id = %c.id, "unpausing after commit");
                }
            }
            r?
        } else {
            let lock = self.container_lock(&c.id);
            let _op = lock.lock().unwrap_or_else(|p| p.into_inner());
            self.commit_layer(&c, parent_chain.as_ref())?
        };
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let raw = &parent_cfg.raw;
        let mut diff_ids: Vec<Value> = raw["rootfs"]["diff_ids"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut layers = img.layers.clone();
        let mut entry = Map::new();
        entry.insert("created".into(), json!(now));
        if !req.author.is_empty() {
            entry.insert("author".into(), json!(req.author));
        }
        let created_by = std::iter::once(c.config["Cmd"].clone())
            .flat_map(|v| v.as_array().cloned().unwrap_or_default())
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect::<Vec<_>>()
            .join(" ");
        if !created_by.is_empty() {
            entry.insert("created_by".into(), json!(created_by));
        }
        if !req.comment.is_empty() {
            entry.insert("comment".into(), json!(req.comment));
        }
        match &layer {
            Some(l) => {
                diff_ids.push(json!(l.diff_id.as_str()));
                layers.push(l.clone());
            }
            None => {
                entry.insert("empty_layer".into(), json!(true));
            }
        }
        let mut history: Vec<Value> = raw["history"].as_array().cloned().unwrap_or_default();
        history.push(Value::Object(entry));
        let mut doc = Map::new();
        for key in ["architecture", "os", "variant", "os.version", "os.features"] {
            if let Some(v) = raw.get(key).filter(|v| !v.is_null()) {
                doc.insert(key.into(), v.clone());
            }
        }
        if !doc.contains_key("os") {
            doc.insert("os".into(), json!("linux"));
        }
        if !req.author.is_empty() {
            doc.insert("author".into(), json!(req.author));
        }
        doc.insert("config".into(), config);
        doc.insert("container".into(), json!(c.id));
        doc.insert("container_config".into(), c.config.clone());
        doc.insert("created".into(), json!(now));
        doc.insert("parent".into(), json!(c.image_id.as_str()));
        doc.insert(
            "rootfs".into(),
            json!({"type": "layers", "diff_ids": diff_ids}),
        );
        doc.insert("history".into(), Value::Array(history));
        let bytes =
            serde_json::to_vec(&Value::Object(doc)).map_err(|e| Error::Internal(e.to_string()))?;
        let id = self.store.put_blob(&bytes, None)?;
        let manifest = self.write_manifest(&id, bytes.len() as u64, &layers)?;
        let rec = self.store.create_image(&id, Some(&manifest), &layers)?;
        drop(guard);
        let mut shown = String::new();
        if let Some(r) = &target {
            self.store.tag(&rec.id, r)?;
            shown = r.to_string();
            self.publish("image", "tag", rec.id.as_str(), &[("name", &shown)]);
        }
        self.publish(
            "container",
            "commit",
            &c.id,
            &[
                ("comment", &req.comment),
                ("image", &c.image),
                ("imageID", rec.id.as_str()),
                ("imageRef", &shown),
                ("name", &c.name),
            ],
        );
        Ok(rec.id)
    }
}

/// The stat Docker reports for a target.
fn stat_in(view: &FsView, t: &Target) -> io::Result<PathStat> {
    let (_, st) = view.locate(t)?;
    let link_target = if fmt_of(&st) == libc::S_IFLNK {
        view.resolve_in_scope(&t.abs)?
    } else {
        String::new()
    };
    Ok(PathStat {
        name: go_base(&t.abs).to_string(),
        size: st.st_size,
        mode: go_file_mode(st.st_mode),
        mtime: rfc3339(st.st_mtime, st.st_mtime_nsec),
        link_target,
    })
}

/// A tar stream as sent: plain, gzip or zstd (by its magic bytes).
fn decompress<'a>(input: &'a mut (dyn Read + Send)) -> Result<Box<dyn Read + 'a>> {
    let mut magic = [0u8; 6];
    let mut n = 0;
    while n < magic.len() {
        match input.read(&mut magic[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("reading the archive")(e)),
        }
    }
    let head = io::Cursor::new(magic[..n].to_vec());
    let whole = head.chain(input);
    let m = &magic[..n];
    if m.starts_with(&[0x1f, 0x8b]) {
        return Ok(Box::new(flate2::read::MultiGzDecoder::new(whole)));
    }
    if m.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let d = zstd::stream::read::Decoder::new(whole)
            .map_err(|e| Error::InvalidParameter(format!("reading the archive: {e}")))?;
        return Ok(Box::new(d));
    }
    if m.starts_with(b"BZh") || m.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return Err(Error::InvalidParameter(
            "unsupported archive compression (use a plain, gzip or zstd tar)".into(),
        ));
    }
    Ok(Box::new(whole))
}

// ---- the builder's view of root filesystems ----

/// A root filesystem the builder reads or writes (an overlay it mounted, or a plain directory
/// such as the build context): every path is resolved inside it, as a container would see it.
pub(crate) struct ScopedRoot {
    view: FsView,
}

/// Runs `f` on a thread of its own in a private mount namespace: the overlays it mounts are
/// seen by nothing else and vanish with the thread, also when it fails.
pub(crate) fn with_private_mounts<T: Send>(f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| -> Result<T> {
            private_mount_namespace().map_err(Error::io("creating a mount namespace"))?;
            f()
        })
        .join()
        .unwrap_or_else(|_| Err(Error::Internal("a build thread panicked".into())))
    })
}

impl ScopedRoot {
    pub(crate) fn open(dir: &Path) -> Result<ScopedRoot> {
        let root =
            FsView::open_dir(dir).map_err(Error::io(format!("opening {}", dir.display())))?;
        Ok(ScopedRoot {
            view: FsView { root, live: false },
        })
    }

    /// The host path of `path` with every symlink resolved inside the root, `None` when it
    /// does not exist. The result must not be resolved again through a symlink: callers walk
    /// below it without following links.
    pub(crate) fn resolve(&self, path: &str) -> Result<Option<PathBuf>> {
        match self.view.open_in(path, OFlag::O_PATH) {
            Ok(fd) => std::fs::read_link(fd_path(&fd))
                .map(Some)
                .map_err(Error::io(format!("resolving {path}"))),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
                Ok(None)
            }
            Err(e) => Err(Error::io(format!("resolving {path}"))(e)),
        }
    }

    /// Whether `path` exists and is a directory (`None`: it does not exist).
    pub(crate) fn is_dir(&self, path: &str) -> Result<Option<bool>> {
        match self.view.open_in(path, OFlag::O_PATH) {
            Ok(fd) => Ok(Some(is_dir(
                &fstat(&fd).map_err(Error::io(format!("stat of {path}")))?,
            ))),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
                Ok(None)
            }
            Err(e) => Err(Error::io(format!("stat of {path}"))(e)),
        }
    }

    /// `user[:group]` as uid and gid by the root's /etc/passwd and /etc/group.
    pub(crate) fn owner_of(&self, user: &str) -> Result<(u32, u32)> {
        lookup_owner(&self.view, user)
    }

    /// Creates the directory `path` (and missing parents, 0755) when it is missing.
    pub(crate) fn mkdir_all(&self, path: &str) -> Result<()> {
        let abs = clean_abs(path);
        let comps: Vec<OsString> = abs
            .split('/')
            .filter(|c| !c.is_empty())
            .map(OsString::from)
            .collect();
        ensure_dir_in(&self.view, "/", &comps).map(drop)
    }

    /// Unpacks the tar `input` (plain, gzip or zstd) into the directory `dest`, keeping the
    /// owners and modes the archive gives.
    pub(crate) fn extract(&self, dest: &str, input: &mut (dyn Read + Send)) -> Result<()> {
        let dest = clean_abs(dest);
        self.mkdir_all(&dest)?;
        let mut ex = Extractor {
            view: &self.view,
            dest,
            opts: ExtractOptions::default(),
            owner: None,
            cached: None,
            dirs: Vec::new(),
            xattrs_lost: 0,
        };
        ex.run(decompress(input)?)
    }
}

impl Engine {
    /// Mounts `layers` (bottom first) as an overlay at `target` over the fresh `upper` and
    /// `work` directories. Call it inside `with_private_mounts`.
    pub(crate) fn mount_layers(
        &self,
        layers: &[LayerRecord],
        upper: &Path,
        work: &Path,
        target: &Path,
    ) -> Result<()> {
        let mut lower: Vec<String> = layers
            .iter()
            .rev()
            .map(|l| self.store.layer_diff_dir(&l.chain_id).display().to_string())
            .collect();
        if lower.is_empty() {
            let empty = target.with_extension("empty");
            std::fs::create_dir_all(&empty)
                .map_err(Error::io(format!("creating {}", empty.display())))?;
            lower.push(empty.display().to_string());
        }
        for d in [upper, work, target] {
            std::fs::create_dir_all(d).map_err(Error::io(format!("creating {}", d.display())))?;
        }
        crate::overlay::mount_overlay(&lower, upper, work, target)
            .map_err(|e| Error::Internal(format!("mounting a build root: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_follow_docker_path_rules() {
        let t = Target::parse("/etc/hostname");
        assert_eq!(
            (t.abs.as_str(), t.follow, t.dir.as_str(), t.base.as_str()),
            ("/etc/hostname", false, "/etc", "hostname")
        );
        let t = Target::parse("etc/");
        assert_eq!(
            (t.abs.as_str(), t.follow, t.dir.as_str(), t.base.as_str()),
            ("/etc/", true, "/", "etc")
        );
        let t = Target::parse("/etc/.");
        assert_eq!(
            (t.abs.as_str(), t.follow, t.dir.as_str(), t.base.as_str()),
            ("/etc/.", true, "/etc", ".")
        );
        let t = Target::parse("/");
        assert_eq!(
            (t.follow, t.dir.as_str(), t.base.as_str()),
            (true, "/", "/")
        );
        let t = Target::parse("/a/../../b/./c");
        assert_eq!((t.abs.as_str(), t.base.as_str()), ("/b/c", "c"));
        assert_eq!(go_base("/etc/"), "etc");
        assert_eq!(go_base("/"), "/");
    }

    #[test]
    fn go_file_modes() {
        assert_eq!(go_file_mode(libc::S_IFREG | 0o644), 0o644);
        assert_eq!(go_file_mode(libc::S_IFDIR | 0o755), (1 << 31) | 0o755);
        assert_eq!(go_file_mode(libc::S_IFLNK | 0o777), (1 << 27) | 0o777);
        assert_eq!(
            go_file_mode(libc::S_IFCHR | 0o666),
            (1 << 26) | (1 << 21) | 0o666
        );
        assert_eq!(
            go_file_mode(libc::S_IFDIR | libc::S_ISVTX | 0o777),
            (1 << 31) | (1 << 20) | 0o777
        );
        assert_eq!(
            go_file_mode(libc::S_IFREG | libc::S_ISUID | 0o755),
            (1 << 23) | 0o755
        );
    }

    #[test]
    fn entry_names_stay_below_the_extraction_point() {
        let c = |s: &[u8]| entry_components(s).map(|v| v.len());
        assert_eq!(c(b"a/b/c"), Ok(3));
        assert_eq!(c(b"./a/../b"), Ok(1));
        assert_eq!(c(b"/abs/x"), Ok(2));
        assert_eq!(c(b"."), Ok(0));
        assert_eq!(c(b"../x"), Err("../x".to_string()));
        assert_eq!(c(b"a/../../x"), Err("../x".to_string()));
        assert_eq!(c(b".."), Err("..".to_string()));
        // Rooted names cannot climb: `/../x` is `/x`.
        assert_eq!(c(b"/../x"), Ok(1));
    }

    #[test]
    fn pax_records_count_their_own_length() {
        let r = pax_record("SCHILY.xattr.security.capability", b"abc");
        let s = String::from_utf8_lossy(&r).into_owned();
        let (len, _) = s.split_once(' ').unwrap_or_default();
        assert_eq!(len.parse::<usize>().ok(), Some(r.len()));
        let r = pax_record("k", &[b'x'; 94]);
        let s = String::from_utf8_lossy(&r).into_owned();
        let (len, _) = s.split_once(' ').unwrap_or_default();
        assert_eq!(len.parse::<usize>().ok(), Some(r.len()));
    }

    #[test]
    fn commit_config_merges_like_docker() {
        let container = json!({
            "Cmd": ["sh"], "Env": ["PATH=/bin", "A=1"], "WorkingDir": "/w",
            "Labels": {"a": "1"}, "ExposedPorts": {"80/tcp": {}}, "Hostname": "abc",
        });
        let c = commit_config(
            &container,
            None,
            &["CMD [\"cat\", \"/f\"]".to_string(), "ENV A=2".to_string()],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c["Cmd"], json!(["cat", "/f"]));
        assert_eq!(c["Env"], json!(["PATH=/bin", "A=2"]));
        assert_eq!(c["WorkingDir"], "/w");
        assert_eq!(c["Labels"], json!({"a": "1"}));
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}}));
        // A config in the request body replaces the container's, completed from it.
        let c = commit_config(&container, Some(&json!({"Env": ["B=2"]})), &[])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c["Env"], json!(["B=2", "PATH=/bin", "A=1"]));
        assert_eq!(c["Cmd"], json!(["sh"]));
        assert_eq!(c["Hostname"], "");
        assert!(commit_config(&container, None, &["BOGUS x".to_string()]).is_err());
    }

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    fn whiteout(path: &Path) {
        nix::sys::stat::mknod(path, SFlag::S_IFCHR, Mode::empty(), 0)
            .unwrap_or_else(|e| panic!("mknod {}: {e}", path.display()));
    }

    fn set_opaque(path: &Path) {
        let p = CString::new(path.as_os_str().as_bytes()).unwrap_or_default();
        let n = CString::new(OPAQUE_XATTR).unwrap_or_default();
        // SAFETY: NUL-terminated strings and a one-byte value that outlives the call.
        let r = unsafe { libc::lsetxattr(p.as_ptr(), n.as_ptr(), b"y".as_ptr().cast(), 1, 0) };
        assert_eq!(r, 0, "setting the opaque xattr");
    }

    #[test]
    fn upper_dir_diff_matches_docker_rules() {
        if !is_root() {
            eprintln!("skipped: whiteouts and trusted xattrs need root");
            return;
        }
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (l1, l2, up) = (
            tmp.path().join("l1"),
            tmp.path().join("l2"),
            tmp.path().join("up"),
        );
        let mk = |p: PathBuf| std::fs::create_dir_all(p).unwrap_or_else(|e| panic!("{e}"));
        let put = |p: PathBuf, s: &str| std::fs::write(p, s).unwrap_or_else(|e| panic!("{e}"));
        for d in ["etc", "var/spool", "var/www", "usr/bin", "gone"] {
            mk(l1.join(d));
        }
        put(l1.join("etc/passwd"), "root\n");
        put(l1.join("etc/group"), "g\n");
        put(l1.join("usr/bin/tool"), "t\n");
        put(l1.join("gone/x"), "x\n");
        // The second image layer deletes /gone.
        mk(l2.clone());
        whiteout(&l2.join("gone"));
        // The writable layer: /etc/passwd changed, /etc/group deleted, /new added, /var
        // replaced by a fresh directory, a runtime placeholder /etc/hosts, a new /gone.
        mk(up.join("etc"));
        put(up.join("etc/passwd"), "root\nme\n");
        whiteout(&up.join("etc/group"));
        std::fs::File::create(up.join("etc/hosts")).unwrap_or_else(|e| panic!("{e}"));
        mk(up.join("var"));
        set_opaque(&up.join("var"));
        put(up.join("var/new"), "n\n");
        put(up.join("new"), "hello\n");
        put(up.join("gone"), "again\n");
        mk(up.join("proc"));
        let lower = Lower {
            layers: vec![l2, l1],
        };
        let dir = FsView::open_dir(&up).unwrap_or_else(|e| panic!("{e}"));
        let mut nodes = Vec::new();
        walk_upper(&lower, &dir, b"", &mut nodes).unwrap_or_else(|e| panic!("{e}"));
        let listed: Vec<(String, u8)> = nodes
            .iter()
            .filter(|n| n.listed)
            .map(|n| (String::from_utf8_lossy(&n.path).into_owned(), n.kind))
            .collect();
        let want: Vec<(String, u8)> = [
            ("/etc", 0),
            ("/etc/group", 2),
            ("/etc/passwd", 0),
            ("/gone", 1),
            ("/new", 1),
            ("/var", 0),
            ("/var/new", 1),
            ("/var/spool", 2),
            ("/var/www", 2),
        ]
        .iter()
        .map(|(p, k)| (p.to_string(), *k))
        .collect();
        assert_eq!(listed, want);
        // The layer carries no placeholder and no deletes already implied by the opaque /var.
        let included: Vec<String> = nodes
            .iter()
            .filter(|n| n.included)
            .map(|n| String::from_utf8_lossy(&n.path).into_owned())
            .collect();
        assert_eq!(
            included,
            [
                "/etc",
                "/etc/group",
                "/etc/passwd",
                "/gone",
                "/new",
                "/var",
                "/var/new"
            ]
        );
        assert!(nodes.iter().any(|n| n.path == b"/var" && n.opaque));
    }
}
