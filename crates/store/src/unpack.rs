//! Unpacking one layer tarball (plain, gzip or zstd) into a directory in overlayfs form.
//!
//! Layer tarballs are untrusted. This module parses them with the `tar` crate but creates every
//! file itself, and it never writes outside the destination directory:
//!
//! - entry paths lose a leading `/` or `./` (absolute paths are relative to the layer root, as in
//!   Docker); a `..` component anywhere is refused;
//! - every existing parent of a target is checked with lstat: a symlink there is refused, so a
//!   symlink entry can never redirect a later entry; missing parents are created (0755, root);
//! - files are created with `O_NOFOLLOW | O_EXCL`; symlink targets are stored verbatim and never
//!   followed; hardlinks must point at something this layer already holds, not through a symlink;
//! - device nodes are not created (warned and skipped), except the 0:0 character devices that
//!   stand for OCI whiteouts (`.wh.name`); opaque markers (`.wh..wh..opq`) become the
//!   `trusted.overlay.opaque=y` xattr. `trusted.overlay.*` xattrs from the tar are dropped.
//!
//! The uncompressed stream is hashed to EOF (trailing padding included): that is the diff_id.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use nix::sys::stat::{Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use sha2::{Digest as _, Sha256};
use tar::EntryType;
use xattr::FileExt as _;

use crate::error::IoContext;
use crate::{Digest, Error, Result};

/// Read buffer for the blob file and for the decompressed stream.
const BUF_SIZE: usize = 1 << 20;
const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Compression of a layer blob, detected from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// gzip starts with `1f 8b`, zstd with `28 b5 2f fd`; anything else is taken as a plain tar.
    pub fn detect(magic: &[u8]) -> Compression {
        if magic.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// The OCI layer media type for a blob with this compression.
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

/// What unpacking one layer produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unpacked {
    /// sha256 of the uncompressed tar stream.
    pub diff_id: Digest,
    /// st_size of regular files (each inode once) plus symlink target lengths.
    pub size: u64,
    pub compression: Compression,
}

/// Unpack the layer blob at `blob_path` into the existing, empty directory `dest`. `blob` is only
/// used to name the layer in errors. On error `dest` may hold a partial tree: the caller owns it
/// and removes it.
pub fn unpack_blob(blob_path: &Path, blob: &Digest, dest: &Path) -> Result<Unpacked> {
    unpack_file(blob_path, blob, dest, true)
}

/// As `unpack_blob`; with `hash_plain == false` an uncompressed blob is not re-hashed and its
/// diff_id is taken to be `blob` itself. Only for blobs whose content is known to hash to `blob`
/// (the store verifies every blob when it is written).
pub(crate) fn unpack_file(
    blob_path: &Path,
    blob: &Digest,
    dest: &Path,
    hash_plain: bool,
) -> Result<Unpacked> {
    let file = match File::open(blob_path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::BlobNotFound(blob.clone()))
        }
        Err(e) => return Err(Error::io(format!("open {}", blob_path.display()), e)),
    };
    let mut reader = BufReader::with_capacity(BUF_SIZE, file);
    let compression = {
        let magic = reader
            .fill_buf()
            .ctx(|| format!("read {}", blob_path.display()))?;
        Compression::detect(magic)
    };
    let mut unpacker = Unpacker::new(dest, blob);
    let diff_id = match compression {
        Compression::None if !hash_plain => {
            let reader = HashingReader::new(reader, false);
            unpacker.run(reader, false)?;
            blob.clone()
        }
        Compression::None => unpacker.run(HashingReader::new(reader, true), true)?,
        Compression::Gzip => {
            let decoder = flate2::bufread::MultiGzDecoder::new(reader);
            let hashed = HashingReader::new(decoder, true);
            unpacker.run(BufReader::with_capacity(BUF_SIZE, hashed), true)?
        }
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(reader)
                .map_err(|e| unpacker.corrupt(format!("zstd: {e}")))?;
            let hashed = HashingReader::new(decoder, true);
            unpacker.run(BufReader::with_capacity(BUF_SIZE, hashed), true)?
        }
    };
    Ok(Unpacked {
        diff_id,
        size: unpacker.size,
        compression,
    })
}

/// Anything `Unpacker::run` can read and, at the end, ask for the digest of what was read.
trait DigestSource: Read {
    fn finish(self) -> Option<Digest>;
}

/// Hashes everything read through it (when asked to).
struct HashingReader<R> {
    inner: R,
    hasher: Option<Sha256>,
}

impl<R> HashingReader<R> {
    fn new(inner: R, hash: bool) -> Self {
        HashingReader {
            inner,
            hasher: hash.then(Sha256::new),
        }
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
}

impl<R: Read> DigestSource for HashingReader<R> {
    fn finish(self) -> Option<Digest> {
        self.hasher.map(Digest::from_sha256)
    }
}

impl<R: Read> DigestSource for BufReader<HashingReader<R>> {
    fn finish(self) -> Option<Digest> {
        // Everything buffered has already been hashed (the hasher sits below the buffer).
        self.into_inner().finish()
    }
}

/// Ownership, mode, times and xattrs of one entry, read from its header and PAX records.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: TimeSpec,
    xattrs: Vec<(OsString, Vec<u8>)>,
}

struct Unpacker<'a> {
    root: &'a Path,
    blob: &'a Digest,
    /// Paths (relative to root) known to be real directories, never symlinks.
    known_dirs: HashSet<PathBuf>,
    /// Directory mtimes, applied after the last entry (creating children changes them).
    dir_times: HashMap<PathBuf, TimeSpec>,
    size: u64,
    buf: Vec<u8>,
    warned: HashSet<String>,
}

impl<'a> Unpacker<'a> {
    fn new(root: &'a Path, blob: &'a Digest) -> Self {
        let mut known_dirs = HashSet::new();
        known_dirs.insert(PathBuf::new());
        Unpacker {
            root,
            blob,
            known_dirs,
            dir_times: HashMap::new(),
            size: 0,
            buf: vec![0; BUF_SIZE],
            warned: HashSet::new(),
        }
    }

    fn corrupt(&self, reason: impl Into<String>) -> Error {
        Error::CorruptLayer {
            blob: self.blob.clone(),
            reason: reason.into(),
        }
    }

    fn refuse(&self, entry: &str, reason: &str) -> Error {
        Error::UnsafeLayerEntry {
            blob: self.blob.clone(),
            entry: entry.to_string(),
            reason: reason.to_string(),
        }
    }

    fn warn_once(&mut self, key: String, what: impl FnOnce()) {
        if self.warned.insert(key) {
            what();
        }
    }

    /// Unpack every entry, then (when hashing) read the stream to EOF and return its digest.
    fn run<R: DigestSource>(&mut self, reader: R, drain: bool) -> Result<Digest> {
        let mut archive = tar::Archive::new(reader);
        let entries = archive
            .entries()
            .map_err(|e| self.corrupt(format!("tar: {e}")))?;
        for entry in entries {
            let entry = entry.map_err(|e| self.corrupt(format!("tar: {e}")))?;
            self.entry(entry)?;
        }
        let mut rest = archive.into_inner();
        if drain {
            // The end-of-archive blocks and any padding after them are part of the diff_id.
            io::copy(&mut rest, &mut io::sink())
                .map_err(|e| self.corrupt(format!("reading past the end of the tar: {e}")))?;
        }
        self.apply_dir_times()?;
        // Without hashing the caller supplies the digest; the placeholder is never used.
        Ok(rest.finish().unwrap_or_else(|| self.blob.clone()))
    }

    fn entry<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<()> {
        let raw_path = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw_path).into_owned();
        let mut kind = entry.header().entry_type();
        if kind == EntryType::Regular && raw_path.ends_with(b"/") {
            // Pre-POSIX tars mark directories with a trailing slash only (Go's reader agrees).
            kind = EntryType::Directory;
        }
        let rel = clean_path(&raw_path).map_err(|r| self.refuse(&name, r))?;
        let meta = self.meta(&mut entry, &name)?;

        if let Some(base) = rel.file_name().map(OsStr::as_bytes) {
            if base.starts_with(WHITEOUT_PREFIX) {
                return self.whiteout(&rel, base, &meta, &name);
            }
        }
        match kind {
            EntryType::Directory => self.directory(&rel, &meta, &name),
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.regular(&rel, &meta, &name, &mut entry, kind.is_gnu_sparse())
            }
            EntryType::Symlink => {
                let target = entry.link_name_bytes().map(|t| t.into_owned());
                self.symlink(&rel, target, &meta, &name)
            }
            EntryType::Link => {
                let target = entry.link_name_bytes().map(|t| t.into_owned());
                self.hardlink(&rel, target, &name)
            }
            EntryType::Fifo => self.fifo(&rel, &meta, &name),
            EntryType::Char | EntryType::Block => {
                tracing::warn!(blob = %self.blob, entry = %name, "skipping device node in layer");
                Ok(())
            }
            EntryType::XGlobalHeader => Ok(()),
            other => {
                tracing::warn!(blob = %self.blob, entry = %name, kind = ?other,
                    "skipping tar entry of unsupported type");
                Ok(())
            }
        }
    }

    fn meta<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, name: &str) -> Result<Meta> {
        let header = entry.header();
        let old = header.as_old();
        // Like Go's archive/tar (and so Docker), an empty numeric field reads as 0.
        let num = |field: &str, raw: &[u8], parsed: io::Result<u64>| match parsed {
            Ok(v) => Ok(v),
            Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Ok(0),
            Err(e) => Err(self.corrupt(format!("entry {name:?}: {field}: {e}"))),
        };
        let mode = num("mode", &old.mode, header.mode().map(u64::from))? as u32 & 0o7777;
        // The tar crate has already applied PAX uid/gid to the header.
        let uid = num("uid", &old.uid, header.uid())?;
        let gid = num("gid", &old.gid, header.gid())?;
        let mtime = num("mtime", &old.mtime, header.mtime())?;
        let (Ok(uid), Ok(gid)) = (u32::try_from(uid), u32::try_from(gid)) else {
            return Err(self.corrupt(format!("entry {name:?}: uid/gid out of range")));
        };
        let mut meta = Meta {
            mode,
            uid,
            gid,
            mtime: TimeSpec::new(i64::try_from(mtime).unwrap_or(i64::MAX), 0),
            xattrs: Vec::new(),
        };
        let pax = entry
            .pax_extensions()
            .map_err(|e| self.corrupt(format!("entry {name:?}: PAX header: {e}")))?;
        let Some(pax) = pax else {
            return Ok(meta);
        };
        let mut dropped = Vec::new();
        for ext in pax {
            let ext = ext.map_err(|e| self.corrupt(format!("entry {name:?}: PAX header: {e}")))?;
            let key = ext.key_bytes();
            if let Some(xname) = key.strip_prefix(b"SCHILY.xattr.") {
                if xname.starts_with(b"trusted.overlay.") {
                    // Only we decide what overlayfs sees (whiteouts, opaque dirs, redirects).
                    dropped.push(String::from_utf8_lossy(xname).into_owned());
                } else if !xname.is_empty() && !xname.contains(&0) {
                    meta.xattrs.push((
                        OsStr::from_bytes(xname).to_os_string(),
                        ext.value_bytes().to_vec(),
                    ));
                }
            } else if key == b"mtime" {
                if let Some(ts) = parse_pax_time(ext.value_bytes()) {
                    meta.mtime = ts;
                }
            }
        }
        for x in dropped {
            let blob = self.blob.clone();
            self.warn_once(format!("drop:{x}"), || {
                tracing::warn!(blob = %blob, entry = %name, xattr = %x,
                    "dropping overlayfs xattr from layer tar");
            });
        }
        Ok(meta)
    }

    // ---- entry kinds ----

    fn directory(&mut self, rel: &Path, meta: &Meta, name: &str) -> Result<()> {
        let path = self.root.join(rel);
        if !self.known_dirs.contains(rel) {
            self.prepare_parent(rel, name)?;
            match fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let existing =
                        fs::symlink_metadata(&path).ctx(|| format!("lstat {}", path.display()))?;
                    if !existing.is_dir() {
                        self.remove_existing(rel)?;
                        fs::DirBuilder::new()
                            .mode(0o700)
                            .create(&path)
                            .ctx(|| format!("mkdir {}", path.display()))?;
                    }
                }
                Err(e) => return Err(Error::io(format!("mkdir {}", path.display()), e)),
            }
            self.known_dirs.insert(rel.to_path_buf());
        }
        std::os::unix::fs::lchown(&path, Some(meta.uid), Some(meta.gid))
            .ctx(|| format!("chown {}", path.display()))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(meta.mode))
            .ctx(|| format!("chmod {}", path.display()))?;
        self.set_xattrs_path(&path, meta, name, false)?;
        self.dir_times.insert(rel.to_path_buf(), meta.mtime);
        Ok(())
    }

    fn regular<R: Read>(
        &mut self,
        rel: &Path,
        meta: &Meta,
        name: &str,
        entry: &mut tar::Entry<'_, R>,
        sparse: bool,
    ) -> Result<()> {
        if rel.as_os_str().is_empty() {
            return Err(self.refuse(name, "a file entry names the layer root"));
        }
        self.prepare_parent(rel, name)?;
        let path = self.root.join(rel);
        let open = |p: &Path| {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(p)
        };
        let mut file = match open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                self.remove_existing(rel)?;
                open(&path).ctx(|| format!("create {}", path.display()))?
            }
            Err(e) => return Err(Error::io(format!("create {}", path.display()), e)),
        };
        let expected = entry.size();
        let mut written: u64 = 0;
        loop {
            let n = match entry.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.corrupt(format!("entry {name:?}: {e}"))),
            };
            file.write_all(&self.buf[..n])
                .ctx(|| format!("write {}", path.display()))?;
            written += n as u64;
        }
        if !sparse && written != expected {
            return Err(self.corrupt(format!(
                "entry {name:?}: unexpected end of data after {written} of {expected} bytes"
            )));
        }
        std::os::unix::fs::fchown(&file, Some(meta.uid), Some(meta.gid))
            .ctx(|| format!("chown {}", path.display()))?;
        // After chown: chown clears setuid/setgid.
        file.set_permissions(fs::Permissions::from_mode(meta.mode))
            .ctx(|| format!("chmod {}", path.display()))?;
        for (xname, value) in &meta.xattrs {
            if let Err(e) = file.set_xattr(xname, value) {
                self.xattr_error(&path, xname, e, name, false)?;
            }
        }
        nix::sys::stat::futimens(file.as_raw_fd(), &meta.mtime, &meta.mtime)
            .ctx(|| format!("set times on {}", path.display()))?;
        self.size += written;
        Ok(())
    }

    fn symlink(
        &mut self,
        rel: &Path,
        target: Option<Vec<u8>>,
        meta: &Meta,
        name: &str,
    ) -> Result<()> {
        let target = match target {
            Some(t) if !t.is_empty() => t,
            _ => return Err(self.refuse(name, "symlink without a target")),
        };
        if rel.as_os_str().is_empty() {
            return Err(self.refuse(name, "a symlink entry names the layer root"));
        }
        self.prepare_parent(rel, name)?;
        let path = self.root.join(rel);
        let target_os = OsStr::from_bytes(&target);
        match std::os::unix::fs::symlink(target_os, &path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                self.remove_existing(rel)?;
                std::os::unix::fs::symlink(target_os, &path)
                    .ctx(|| format!("symlink {}", path.display()))?;
            }
            Err(e) => return Err(Error::io(format!("symlink {}", path.display()), e)),
        }
        std::os::unix::fs::lchown(&path, Some(meta.uid), Some(meta.gid))
            .ctx(|| format!("chown {}", path.display()))?;
        self.set_xattrs_path(&path, meta, name, true)?;
        set_times_nofollow(&path, meta.mtime)?;
        self.size += target.len() as u64;
        Ok(())
    }

    fn hardlink(&mut self, rel: &Path, target: Option<Vec<u8>>, name: &str) -> Result<()> {
        let target = match target {
            Some(t) if !t.is_empty() => t,
            _ => return Err(self.refuse(name, "hardlink without a target")),
        };
        let target = clean_path(&target)
            .map_err(|_| self.refuse(name, "hardlink target escapes the layer root"))?;
        if target.as_os_str().is_empty() || rel.as_os_str().is_empty() {
            return Err(self.refuse(name, "hardlink to or from the layer root"));
        }
        if target == rel {
            return Ok(());
        }
        if target.starts_with(rel) {
            return Err(self.refuse(name, "hardlink target lies inside the path it replaces"));
        }
        // The target must already be in this layer, reached through real directories only.
        if let Some(parent) = target.parent() {
            self.check_dirs(parent, name, "hardlink target")?;
        }
        let target_path = self.root.join(&target);
        match fs::symlink_metadata(&target_path) {
            Ok(m) if m.is_dir() => return Err(self.refuse(name, "hardlink target is a directory")),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(self.refuse(name, "hardlink target does not exist in this layer"))
            }
            Err(e) => return Err(Error::io(format!("lstat {}", target_path.display()), e)),
        }
        self.prepare_parent(rel, name)?;
        let path = self.root.join(rel);
        // std's hard_link uses linkat(..., 0): a symlink target is linked, not followed.
        match fs::hard_link(&target_path, &path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                self.remove_existing(rel)?;
                fs::hard_link(&target_path, &path).ctx(|| format!("link {}", path.display()))?;
            }
            Err(e) => return Err(Error::io(format!("link {}", path.display()), e)),
        }
        Ok(())
    }

    fn fifo(&mut self, rel: &Path, meta: &Meta, name: &str) -> Result<()> {
        if rel.as_os_str().is_empty() {
            return Err(self.refuse(name, "a fifo entry names the layer root"));
        }
        self.prepare_parent(rel, name)?;
        let path = self.root.join(rel);
        self.mknod(rel, SFlag::S_IFIFO, Mode::from_bits_truncate(0o600))?;
        std::os::unix::fs::lchown(&path, Some(meta.uid), Some(meta.gid))
            .ctx(|| format!("chown {}", path.display()))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(meta.mode))
            .ctx(|| format!("chmod {}", path.display()))?;
        self.set_xattrs_path(&path, meta, name, false)?;
        set_times_nofollow(&path, meta.mtime)
    }

    /// `dir/.wh.name` -> 0:0 char device `dir/name`; `dir/.wh..wh..opq` -> opaque xattr on dir.
    fn whiteout(&mut self, rel: &Path, base: &[u8], meta: &Meta, name: &str) -> Result<()> {
        let parent = rel.parent().unwrap_or(Path::new(""));
        if base == OPAQUE_MARKER {
            self.ensure_dir(parent, name)?;
            let dir = self.root.join(parent);
            return xattr::set(&dir, OPAQUE_XATTR, b"y")
                .ctx(|| format!("set {OPAQUE_XATTR} on {}", dir.display()));
        }
        if base.starts_with(b".wh..wh.") {
            // AUFS metadata (.wh..wh.plnk, .wh..wh.aufs): not content.
            return Ok(());
        }
        let hidden = &base[WHITEOUT_PREFIX.len()..];
        if hidden.is_empty() || hidden == b"." || hidden == b".." || hidden.contains(&b'/') {
            return Err(self.refuse(name, "invalid whiteout name"));
        }
        let target = parent.join(OsStr::from_bytes(hidden));
        self.prepare_parent(&target, name)?;
        self.mknod(&target, SFlag::S_IFCHR, Mode::empty())?;
        let path = self.root.join(&target);
        std::os::unix::fs::lchown(&path, Some(meta.uid), Some(meta.gid))
            .ctx(|| format!("chown {}", path.display()))
    }

    // ---- helpers ----

    /// mknod with dev 0, replacing whatever is at `rel`.
    fn mknod(&mut self, rel: &Path, kind: SFlag, perm: Mode) -> Result<()> {
        let path = self.root.join(rel);
        let dev = nix::sys::stat::makedev(0, 0);
        match nix::sys::stat::mknod(&path, kind, perm, dev) {
            Ok(()) => Ok(()),
            Err(nix::errno::Errno::EEXIST) => {
                self.remove_existing(rel)?;
                nix::sys::stat::mknod(&path, kind, perm, dev)
                    .ctx(|| format!("mknod {}", path.display()))
            }
            Err(e) => Err(Error::io(format!("mknod {}", path.display()), e.into())),
        }
    }

    /// Make sure every parent of `rel` is a real directory, creating missing ones.
    fn prepare_parent(&mut self, rel: &Path, name: &str) -> Result<()> {
        match rel.parent() {
            Some(parent) => self.ensure_dir(parent, name),
            None => Ok(()),
        }
    }

    /// Make `dir` (relative) and its parents real directories: existing components must not be
    /// symlinks or files; missing ones are created 0755 root:root.
    fn ensure_dir(&mut self, dir: &Path, name: &str) -> Result<()> {
        if self.known_dirs.contains(dir) {
            return Ok(());
        }
        let mut cur = PathBuf::new();
        for comp in dir.components() {
            cur.push(comp);
            if self.known_dirs.contains(&cur) {
                continue;
            }
            let path = self.root.join(&cur);
            match fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => {}
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(self.refuse(name, "parent directory is a symlink"))
                }
                Ok(_) => return Err(self.refuse(name, "a parent path is not a directory")),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::DirBuilder::new()
                        .mode(0o755)
                        .create(&path)
                        .ctx(|| format!("mkdir {}", path.display()))?;
                    // Not subject to the umask: Docker's implicit parents are 0755.
                    fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
                        .ctx(|| format!("chmod {}", path.display()))?;
                }
                Err(e) => return Err(Error::io(format!("lstat {}", path.display()), e)),
            }
            self.known_dirs.insert(cur.clone());
        }
        Ok(())
    }

    /// Like `ensure_dir` but creates nothing: a missing component means the target is missing.
    fn check_dirs(&mut self, dir: &Path, name: &str, what: &str) -> Result<()> {
        let mut cur = PathBuf::new();
        for comp in dir.components() {
            cur.push(comp);
            if self.known_dirs.contains(&cur) {
                continue;
            }
            let path = self.root.join(&cur);
            match fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => {}
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(self.refuse(name, &format!("{what} path goes through a symlink")))
                }
                Ok(_) => {
                    return Err(self.refuse(name, &format!("{what} does not exist in this layer")))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(self.refuse(name, &format!("{what} does not exist in this layer")))
                }
                Err(e) => return Err(Error::io(format!("lstat {}", path.display()), e)),
            }
            self.known_dirs.insert(cur.clone());
        }
        Ok(())
    }

    /// Remove whatever is at `rel` (a later entry replaces an earlier one), keeping `size` exact.
    fn remove_existing(&mut self, rel: &Path) -> Result<()> {
        let path = self.root.join(rel);
        let m = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(format!("lstat {}", path.display()), e)),
        };
        if m.is_dir() {
            self.remove_tree(&path)
                .ctx(|| format!("remove {}", path.display()))?;
            self.known_dirs.retain(|d| !d.starts_with(rel));
            self.dir_times.retain(|d, _| !d.starts_with(rel));
        } else {
            self.forget_size(&m);
            fs::remove_file(&path).ctx(|| format!("remove {}", path.display()))?;
        }
        Ok(())
    }

    fn remove_tree(&mut self, dir: &Path) -> io::Result<()> {
        for child in fs::read_dir(dir)? {
            let p = child?.path();
            let m = fs::symlink_metadata(&p)?;
            if m.is_dir() {
                self.remove_tree(&p)?;
            } else {
                // nlink is read just before each unlink, so an inode counts once, at its last link.
                self.forget_size(&m);
                fs::remove_file(&p)?;
            }
        }
        fs::remove_dir(dir)
    }

    fn forget_size(&mut self, m: &fs::Metadata) {
        let ft = m.file_type();
        if (ft.is_file() && m.nlink() == 1) || ft.is_symlink() {
            self.size = self.size.saturating_sub(m.size());
        }
    }

    fn set_xattrs_path(
        &mut self,
        path: &Path,
        meta: &Meta,
        name: &str,
        symlink: bool,
    ) -> Result<()> {
        for (xname, value) in &meta.xattrs {
            if let Err(e) = xattr::set(path, xname, value) {
                self.xattr_error(path, xname, e, name, symlink)?;
            }
        }
        Ok(())
    }

    /// Unsupported xattrs (EOPNOTSUPP; EPERM for user.* on a symlink) are warned about once per
    /// name and layer; any other failure is an error.
    fn xattr_error(
        &mut self,
        path: &Path,
        xname: &OsStr,
        e: io::Error,
        name: &str,
        symlink: bool,
    ) -> Result<()> {
        let unsupported = e.raw_os_error() == Some(libc::EOPNOTSUPP)
            || (symlink && e.raw_os_error() == Some(libc::EPERM));
        if !unsupported {
            return Err(Error::io(
                format!(
                    "set xattr {} on {}",
                    xname.to_string_lossy(),
                    path.display()
                ),
                e,
            ));
        }
        let x = xname.to_string_lossy().into_owned();
        let blob = self.blob.clone();
        self.warn_once(format!("xattr:{x}"), || {
            tracing::warn!(blob = %blob, entry = %name, xattr = %x, error = %e,
                "extended attribute not supported here; skipped");
        });
        Ok(())
    }

    fn apply_dir_times(&mut self) -> Result<()> {
        for (rel, ts) in &self.dir_times {
            let path = self.root.join(rel);
            set_times_nofollow(&path, *ts)?;
        }
        Ok(())
    }
}

fn set_times_nofollow(path: &Path, ts: TimeSpec) -> Result<()> {
    nix::sys::stat::utimensat(None, path, &ts, &ts, UtimensatFlags::NoFollowSymlink)
        .ctx(|| format!("set times on {}", path.display()))
}

/// Entry path -> path relative to the layer root: drop empty and `.` components (so a leading
/// `/` or `./` goes away); refuse `..` anywhere and NUL bytes.
pub fn clean_path(raw: &[u8]) -> std::result::Result<PathBuf, &'static str> {
    if raw.contains(&0) {
        return Err("path contains a NUL byte");
    }
    let mut out = PathBuf::new();
    for comp in raw.split(|b| *b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => return Err("path escapes the layer root"),
            c => out.push(OsStr::from_bytes(c)),
        }
    }
    Ok(out)
}

/// PAX times are decimal seconds with an optional fraction: `1700000000.123456789`, `-1.5`.
fn parse_pax_time(v: &[u8]) -> Option<TimeSpec> {
    let s = std::str::from_utf8(v).ok()?;
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let mut nanos: i64 = 0;
    for (i, b) in frac.bytes().take(9).enumerate() {
        nanos += i64::from(b - b'0') * 10_i64.pow(8 - i as u32);
    }
    Some(if !neg {
        TimeSpec::new(secs, nanos)
    } else if nanos == 0 {
        TimeSpec::new(-secs, 0)
    } else {
        TimeSpec::new(-secs - 1, 1_000_000_000 - nanos)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_by_magic() {
        assert_eq!(Compression::detect(&[0x1f, 0x8b, 8, 0]), Compression::Gzip);
        assert_eq!(
            Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd, 0]),
            Compression::Zstd
        );
        assert_eq!(Compression::detect(b"etc/passwd\0"), Compression::None);
        assert_eq!(Compression::detect(&[0x1f]), Compression::None);
        assert_eq!(Compression::detect(&[]), Compression::None);
        assert!(Compression::Zstd.media_type().ends_with("tar+zstd"));
    }

    #[test]
    fn clean_path_strips_roots_and_refuses_dotdot() {
        assert_eq!(clean_path(b"./a/b").unwrap(), Path::new("a/b"));
        assert_eq!(clean_path(b"/etc/passwd").unwrap(), Path::new("etc/passwd"));
        assert_eq!(clean_path(b"a//./b/").unwrap(), Path::new("a/b"));
        assert_eq!(clean_path(b"./").unwrap(), Path::new(""));
        assert_eq!(clean_path(b"../x"), Err("path escapes the layer root"));
        assert_eq!(clean_path(b"a/../../x"), Err("path escapes the layer root"));
        assert_eq!(clean_path(b"a/.."), Err("path escapes the layer root"));
        assert!(clean_path(b"a\0b").is_err());
        // `..` is only a component when it stands alone.
        assert_eq!(clean_path(b"a/..b/c..").unwrap(), Path::new("a/..b/c.."));
    }

    #[test]
    fn pax_times() {
        let t = parse_pax_time(b"1700000000.5").unwrap();
        assert_eq!((t.tv_sec(), t.tv_nsec()), (1_700_000_000, 500_000_000));
        let t = parse_pax_time(b"12").unwrap();
        assert_eq!((t.tv_sec(), t.tv_nsec()), (12, 0));
        let t = parse_pax_time(b"1.1234567899").unwrap();
        assert_eq!(t.tv_nsec(), 123_456_789);
        let t = parse_pax_time(b"-1.25").unwrap();
        assert_eq!((t.tv_sec(), t.tv_nsec()), (-2, 750_000_000));
        assert!(parse_pax_time(b"x").is_none());
        assert!(parse_pax_time(b"1.x").is_none());
    }
}
