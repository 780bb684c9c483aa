//! Unpacking one layer tarball (plain, gzip or zstd) into a directory in overlayfs form.
//!
//! Layer tarballs are untrusted. This module parses them with the `tar` crate but creates every
//! file itself, and it never writes outside the destination directory:
//!
//! - entry paths lose a leading `/` or `./` (absolute paths are relative to the layer root, as in
//!   Docker); a `..` component anywhere is refused;
//! - every existing parent of a target is checked (against what this unpack created, and with
//!   lstat for anything else): a symlink there is refused, so a symlink entry can never redirect
//!   a later entry; missing parents are created (0755, root);
//! - files are created with `O_NOFOLLOW | O_EXCL`; symlink targets are stored verbatim and never
//!   followed; hardlinks must point at something this layer already holds, not through a symlink;
//! - device nodes are not created (warned and skipped), except the 0:0 character devices that
//!   stand for OCI whiteouts (`.wh.name`); opaque markers (`.wh..wh..opq`) become the
//!   `trusted.overlay.opaque=y` xattr. `trusted.overlay.*` xattrs from the tar are dropped.
//!
//! The uncompressed stream is hashed to EOF (trailing padding included): that is the diff_id.
//!
//! ## Parallel creation
//!
//! The stream is read and parsed on the caller's thread (the parsing thread), in order. Creating
//! what an entry describes (regular files with their content, symlinks, directories, fifos,
//! whiteouts) is a job for a bounded pool of worker threads, so that the kernel's work per create
//! overlaps with parsing and with other creates. The parsing thread alone decides what may be
//! created, from a model of the tree it is building: every directory and every other path it has
//! created or handed out (the destination starts empty and nothing else writes there).
//!
//! - Before a job is handed out, every parent of its path is checked as in the serial order: a
//!   parent this unpack made a directory is one; any other existing component is looked at with
//!   lstat, after waiting for the job that creates it, and a symlink or file there is refused.
//! - A job runs only after the job creating its parent directory (the nearest ancestor still in
//!   flight) has finished, so parents always exist before children.
//! - An entry for a path that exists already waits for that path's job (for all jobs, a barrier,
//!   when the path is a directory that may have children in flight) before the parsing thread
//!   removes what is there.
//! - Hardlinks wait for their target's job (the link sees the full content) and are made by the
//!   parsing thread, as are opaque markers and metadata changes on existing directories.
//! - The first failure stops the unpack: jobs for later entries are skipped, and the error of the
//!   earliest failing entry is reported, the same error the serial order gives.
//!
//! `UnpackOptions::serial()` does everything on the parsing thread: the reference the parallel
//! path is tested against.

use std::collections::{HashMap, HashSet, VecDeque};
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use nix::sys::stat::{Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use sha2::{Digest as _, Sha256};
use tar::EntryType;
use xattr::FileExt as _;

use crate::error::IoContext;
use crate::{Digest, Error, Result};

/// Read buffer for the blob and for the decompressed stream.
const BUF_SIZE: usize = 1 << 20;
const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Worker threads per unpack. A create (`openat(O_CREAT)`, `mkdir`, `symlink`, then chown,
/// chmod, times) costs far more in the kernel than parsing its tar entry costs this thread:
/// allocating the inode and the directory entry (measured up to ~1 ms per create on ext4 after
/// many deletions, in kernel CPU) and, on slower storage, waiting for the disk. A pool overlaps
/// creates with parsing and with each other, on every core; 16 keeps enough creates in flight
/// where they wait on the disk, without a thread per file. Where creates are CPU-bound the
/// extra threads just queue. Workers start as jobs arrive, so a small layer starts only a few.
pub const WORKERS: usize = 16;
/// Files up to this size are read into memory by the parsing thread and handed to a worker;
/// larger (and sparse) files are streamed to disk by the parsing thread itself.
const HANDOFF_MAX: u64 = 4 << 20;
/// File content read but not yet written, across every unpack in the process.
const IN_FLIGHT_MAX: usize = 64 << 20;
/// Jobs handed out but not finished, per unpack (empty files and symlinks cost no budget).
const JOBS_MAX: usize = 4096;

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

/// Whether a blob starting with `prefix` (its first 512 bytes, or all of it if shorter) looks
/// like a layer: gzip or zstd data, or a tar whose first header carries the `ustar` magic.
pub fn looks_like_layer(prefix: &[u8]) -> bool {
    Compression::detect(prefix) != Compression::None
        || prefix.get(257..262).is_some_and(|m| m == b"ustar")
}

/// How an unpack runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnpackOptions {
    /// Most worker threads creating files while the parsing thread reads on. 0: the parsing
    /// thread does everything itself (the serial order).
    pub workers: usize,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions { workers: WORKERS }
    }
}

impl UnpackOptions {
    /// Everything on the calling thread, entry after entry.
    pub fn serial() -> Self {
        UnpackOptions { workers: 0 }
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
    unpack_blob_with(blob_path, blob, dest, UnpackOptions::default())
}

/// As `unpack_blob`, with explicit options.
pub fn unpack_blob_with(
    blob_path: &Path,
    blob: &Digest,
    dest: &Path,
    opts: UnpackOptions,
) -> Result<Unpacked> {
    unpack_file(blob_path, blob, dest, true, opts)
}

/// As `unpack_blob_with`; with `hash_plain == false` an uncompressed blob is not re-hashed and
/// its diff_id is taken to be `blob` itself. Only for blobs whose content is known to hash to
/// `blob` (the store verifies every blob when it is written).
pub(crate) fn unpack_file(
    blob_path: &Path,
    blob: &Digest,
    dest: &Path,
    hash_plain: bool,
    opts: UnpackOptions,
) -> Result<Unpacked> {
    let file = match File::open(blob_path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::BlobNotFound(blob.clone()))
        }
        Err(e) => return Err(Error::io(format!("open {}", blob_path.display()), e)),
    };
    let source = blob_path.display().to_string();
    let r = unpack_stream(file, blob, dest, hash_plain, opts, &source)?;
    Ok(Unpacked {
        diff_id: r.diff_id.unwrap_or_else(|| blob.clone()),
        size: r.size,
        compression: r.compression,
    })
}

/// Unpack a tar stream (plain, gzip or zstd) that is not a stored layer — a build context, say —
/// into the existing, empty directory `dest`, with the same hardening as layers: nothing is ever
/// written outside `dest`. `what` names the stream in errors.
pub fn unpack_tree<R: Read>(reader: R, what: &str, dest: &Path) -> Result<u64> {
    let name = Digest::of(what.as_bytes());
    let r = unpack_stream(reader, &name, dest, false, UnpackOptions::default(), what)?;
    Ok(r.size)
}

/// What `unpack_stream` produced.
pub(crate) struct StreamUnpacked {
    /// None for an uncompressed stream read with `hash_plain == false`: its diff_id is the
    /// digest of the stream itself, which the caller computes.
    pub diff_id: Option<Digest>,
    pub size: u64,
    pub compression: Compression,
}

/// Unpack the layer blob read from `reader` into the existing, empty directory `dest`. `blob`
/// names the layer in errors; `source` names the reader in I/O errors. Reads the decompressed
/// stream to its end (for the diff_id), not necessarily the compressed one: a caller that needs
/// every byte read (to store or hash the blob) reads the rest itself.
pub(crate) fn unpack_stream<R: Read>(
    mut reader: R,
    blob: &Digest,
    dest: &Path,
    hash_plain: bool,
    opts: UnpackOptions,
    source: &str,
) -> Result<StreamUnpacked> {
    // The magic bytes decide the decoder; a stream may deliver fewer than 4 bytes per read.
    let mut head = Vec::with_capacity(512);
    (&mut reader)
        .take(512)
        .read_to_end(&mut head)
        .ctx(|| format!("read {source}"))?;
    let compression = Compression::detect(&head);
    let input = BufReader::with_capacity(BUF_SIZE, io::Cursor::new(head).chain(reader));
    let ctx = Ctx::new(dest, blob);
    let diff_id = match compression {
        Compression::None => {
            let mut r = HashingReader::new(input, hash_plain);
            run(&ctx, opts, &mut r, hash_plain)?;
            r.finish()
        }
        Compression::Gzip => {
            let decoder = flate2::bufread::MultiGzDecoder::new(input);
            let mut r = BufReader::with_capacity(BUF_SIZE, HashingReader::new(decoder, true));
            run(&ctx, opts, &mut r, true)?;
            // Everything buffered has already been hashed (the hasher sits below the buffer).
            r.into_inner().finish()
        }
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(input)
                .map_err(|e| ctx.corrupt(format!("zstd: {e}")))?;
            let mut r = BufReader::with_capacity(BUF_SIZE, HashingReader::new(decoder, true));
            run(&ctx, opts, &mut r, true)?;
            r.into_inner().finish()
        }
    };
    Ok(StreamUnpacked {
        diff_id,
        size: ctx.size.load(Ordering::Relaxed),
        compression,
    })
}

/// Unpack every entry, then (when hashing) read the stream to EOF, then set directory times.
fn run<R: Read>(ctx: &Ctx<'_>, opts: UnpackOptions, reader: &mut R, drain: bool) -> Result<()> {
    if opts.workers == 0 {
        let mut u = Unpacker::new(ctx, None);
        u.entries(reader)?;
        return u.finish(reader, drain);
    }
    let pool = Pool::new(ctx, opts.workers);
    std::thread::scope(|scope| {
        // Whatever happens below, idle workers are told to leave, so the scope can end.
        let _stop = StopOnDrop(&pool);
        let spawn = || -> io::Result<()> {
            std::thread::Builder::new()
                .name("berth-unpack".into())
                .spawn_scoped(scope, || pool.work())
                .map(drop)
        };
        let mut u = Unpacker::new(
            ctx,
            Some(Workers {
                pool: &pool,
                spawn: &spawn,
            }),
        );
        let parsed = u.entries(reader);
        let closing = std::time::Instant::now();
        pool.close(parsed, u.seq)?;
        u.waited += closing.elapsed();
        tracing::debug!(blob = %ctx.blob, entries = u.seq, workers = pool.lock().workers,
            waited_ms = u.waited.as_millis() as u64, "layer entries unpacked");
        u.finish(reader, drain)
    })
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

    fn finish(self) -> Option<Digest> {
        self.hasher.map(Digest::from_sha256)
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

/// Ownership, mode, times and xattrs of one entry, read from its header and PAX records.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: TimeSpec,
    xattrs: Vec<(OsString, Vec<u8>)>,
}

/// What the parsing thread and the workers share.
struct Ctx<'a> {
    root: &'a Path,
    blob: &'a Digest,
    /// See `Unpacked::size`.
    size: AtomicU64,
    /// Warnings already given for this layer.
    warned: Mutex<HashSet<String>>,
}

impl<'a> Ctx<'a> {
    fn new(root: &'a Path, blob: &'a Digest) -> Self {
        Ctx {
            root,
            blob,
            size: AtomicU64::new(0),
            warned: Mutex::new(HashSet::new()),
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

    fn warn_once(&self, key: String, what: impl FnOnce()) {
        let first = self
            .warned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key);
        if first {
            what();
        }
    }

    fn add_size(&self, n: u64) {
        self.size.fetch_add(n, Ordering::Relaxed);
    }

    /// Take a path that is about to be removed out of the size. nlink is read just before each
    /// unlink, so an inode counts once, at its last link.
    fn forget_size(&self, m: &fs::Metadata) {
        let ft = m.file_type();
        if (ft.is_file() && m.nlink() == 1) || ft.is_symlink() {
            let n = m.size();
            // Never fails: the closure always returns Some.
            let _ = self
                .size
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| {
                    Some(s.saturating_sub(n))
                });
        }
    }

    fn set_xattrs_path(&self, path: &Path, meta: &Meta, name: &str, symlink: bool) -> Result<()> {
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
        &self,
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
}

// ---- jobs ----

/// One thing to create, handed from the parsing thread to a worker.
struct Job {
    /// Number of the tar entry this job belongs to: failures are reported for the earliest.
    seq: u64,
    /// Path relative to the root. Nothing else exists there (the parsing thread made sure).
    rel: PathBuf,
    /// The entry's name, for messages.
    name: String,
    kind: JobKind,
}

enum JobKind {
    File {
        data: Budgeted,
        meta: Meta,
    },
    Symlink {
        target: Vec<u8>,
        meta: Meta,
    },
    /// `None`: a parent no entry named (0755, root); `Some`: a directory entry.
    Dir(Option<Meta>),
    Fifo(Meta),
    /// An OCI whiteout as overlayfs wants it: a 0:0 character device.
    Whiteout {
        uid: u32,
        gid: u32,
    },
}

/// Create what `job` describes. Runs on a worker (or, serially, on the parsing thread).
fn execute(ctx: &Ctx<'_>, job: &Job) -> Result<()> {
    let path = ctx.root.join(&job.rel);
    match &job.kind {
        JobKind::File { data, meta } => {
            let file = create_file(&path)?;
            (&file)
                .write_all(&data.bytes)
                .ctx(|| format!("write {}", path.display()))?;
            finish_file(ctx, &file, &path, meta, &job.name)?;
            ctx.add_size(data.bytes.len() as u64);
        }
        JobKind::Symlink { target, meta } => {
            std::os::unix::fs::symlink(OsStr::from_bytes(target), &path)
                .ctx(|| format!("symlink {}", path.display()))?;
            std::os::unix::fs::lchown(&path, Some(meta.uid), Some(meta.gid))
                .ctx(|| format!("chown {}", path.display()))?;
            ctx.set_xattrs_path(&path, meta, &job.name, true)?;
            set_times_nofollow(&path, meta.mtime)?;
            ctx.add_size(target.len() as u64);
        }
        JobKind::Dir(None) => {
            fs::DirBuilder::new()
                .mode(0o755)
                .create(&path)
                .ctx(|| format!("mkdir {}", path.display()))?;
            // Not subject to the umask: Docker's implicit parents are 0755.
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
                .ctx(|| format!("chmod {}", path.display()))?;
        }
        JobKind::Dir(Some(meta)) => {
            fs::DirBuilder::new()
                .mode(0o700)
                .create(&path)
                .ctx(|| format!("mkdir {}", path.display()))?;
            set_dir_meta(ctx, &path, meta, &job.name)?;
        }
        JobKind::Fifo(meta) => {
            mknod(&path, SFlag::S_IFIFO, Mode::from_bits_truncate(0o600))?;
            std::os::unix::fs::lchown(&path, Some(meta.uid), Some(meta.gid))
                .ctx(|| format!("chown {}", path.display()))?;
            fs::set_permissions(&path, fs::Permissions::from_mode(meta.mode))
                .ctx(|| format!("chmod {}", path.display()))?;
            ctx.set_xattrs_path(&path, meta, &job.name, false)?;
            set_times_nofollow(&path, meta.mtime)?;
        }
        JobKind::Whiteout { uid, gid } => {
            mknod(&path, SFlag::S_IFCHR, Mode::empty())?;
            std::os::unix::fs::lchown(&path, Some(*uid), Some(*gid))
                .ctx(|| format!("chown {}", path.display()))?;
        }
    }
    Ok(())
}

/// A new regular file, refusing to follow a symlink or to reuse anything at `path`.
fn create_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .ctx(|| format!("create {}", path.display()))
}

/// Owner, mode, xattrs and times of a regular file whose content is written.
fn finish_file(ctx: &Ctx<'_>, file: &File, path: &Path, meta: &Meta, name: &str) -> Result<()> {
    std::os::unix::fs::fchown(file, Some(meta.uid), Some(meta.gid))
        .ctx(|| format!("chown {}", path.display()))?;
    // After chown: chown clears setuid/setgid.
    file.set_permissions(fs::Permissions::from_mode(meta.mode))
        .ctx(|| format!("chmod {}", path.display()))?;
    for (xname, value) in &meta.xattrs {
        if let Err(e) = file.set_xattr(xname, value) {
            ctx.xattr_error(path, xname, e, name, false)?;
        }
    }
    nix::sys::stat::futimens(file.as_raw_fd(), &meta.mtime, &meta.mtime)
        .ctx(|| format!("set times on {}", path.display()))
}

/// Owner, mode and xattrs of a directory (its times are set after the last entry).
fn set_dir_meta(ctx: &Ctx<'_>, path: &Path, meta: &Meta, name: &str) -> Result<()> {
    std::os::unix::fs::lchown(path, Some(meta.uid), Some(meta.gid))
        .ctx(|| format!("chown {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(meta.mode))
        .ctx(|| format!("chmod {}", path.display()))?;
    ctx.set_xattrs_path(path, meta, name, false)
}

/// mknod with dev 0 at a path where nothing is.
fn mknod(path: &Path, kind: SFlag, perm: Mode) -> Result<()> {
    nix::sys::stat::mknod(path, kind, perm, nix::sys::stat::makedev(0, 0))
        .ctx(|| format!("mknod {}", path.display()))
}

/// File content read ahead of the workers, counted against `IN_FLIGHT_MAX` until dropped.
struct Budgeted {
    bytes: Vec<u8>,
    held: usize,
}

static BUDGET_USED: Mutex<usize> = Mutex::new(0);
static BUDGET_FREED: Condvar = Condvar::new();

impl Budgeted {
    /// Room for `n` bytes, waiting while other content in flight fills the budget. The wait
    /// always ends: what holds the budget is queued work that workers finish or skip.
    fn acquire(n: usize, waited: &mut std::time::Duration) -> Budgeted {
        let mut used = BUDGET_USED.lock().unwrap_or_else(|p| p.into_inner());
        if *used > 0 && *used + n > IN_FLIGHT_MAX {
            let since = std::time::Instant::now();
            while *used > 0 && *used + n > IN_FLIGHT_MAX {
                used = BUDGET_FREED.wait(used).unwrap_or_else(|p| p.into_inner());
            }
            *waited += since.elapsed();
        }
        *used += n;
        Budgeted {
            bytes: Vec::with_capacity(n),
            held: n,
        }
    }
}

impl Drop for Budgeted {
    fn drop(&mut self) {
        if self.held > 0 {
            let mut used = BUDGET_USED.lock().unwrap_or_else(|p| p.into_inner());
            *used = used.saturating_sub(self.held);
            drop(used);
            BUDGET_FREED.notify_all();
        }
    }
}

/// The workers of one unpack and the jobs between them and the parsing thread.
struct Pool<'a> {
    ctx: &'a Ctx<'a>,
    max_workers: usize,
    state: Mutex<PoolState>,
    /// Signalled when a job becomes ready or the pool closes (workers wait on it).
    work: Condvar,
    /// Signalled when a job finishes (the parsing thread waits on it).
    progress: Condvar,
}

/// Orders failures: (entry number, 0 for a job / 1 for the parsing thread). A job belongs to
/// an entry the parsing thread had finished with when it failed, so it comes first.
type FailureKey = (u64, u8);

#[derive(Default)]
struct PoolState {
    ready: VecDeque<Job>,
    /// Jobs waiting for the job that creates the directory they go in.
    blocked: HashMap<PathBuf, Vec<Job>>,
    /// Paths whose job has not finished (queued, blocked or running).
    in_flight: HashSet<PathBuf>,
    workers: usize,
    idle: usize,
    /// The parsing thread is waiting on `progress` (only then is it signalled).
    parser_waiting: bool,
    /// The earliest failure.
    error: Option<(FailureKey, Error)>,
    closing: bool,
}

impl PoolState {
    fn fail(&mut self, key: FailureKey, e: Error) {
        let earlier = match &self.error {
            Some((k, _)) => key < *k,
            None => true,
        };
        if earlier {
            self.error = Some((key, e));
        }
    }
}

/// Returned by the parsing thread's waits once a job has failed; `Pool::close` then reports
/// that job's error instead.
fn aborted() -> Error {
    Error::io(
        "layer unpack stopped",
        io::Error::other("a file could not be created"),
    )
}

impl<'a> Pool<'a> {
    fn new(ctx: &'a Ctx<'a>, max_workers: usize) -> Self {
        Pool {
            ctx,
            max_workers,
            state: Mutex::new(PoolState::default()),
            work: Condvar::new(),
            progress: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queue `job` behind the job creating its parent directory, if that is still in flight.
    fn submit(&self, job: Job, spawn: &dyn Fn() -> io::Result<()>) -> Result<()> {
        let mut st = self.lock();
        if st.error.is_some() {
            return Err(aborted());
        }
        if st.idle == 0 && st.workers < self.max_workers {
            st.workers += 1;
            drop(st);
            let spawned = spawn();
            st = self.lock();
            if let Err(e) = spawned {
                st.workers -= 1;
                if st.workers == 0 {
                    return Err(Error::io("start a layer unpack thread", e));
                }
            }
        }
        while st.in_flight.len() >= JOBS_MAX {
            st = self.wait_progress(st);
            if st.error.is_some() {
                return Err(aborted());
            }
        }
        let dep = job
            .rel
            .ancestors()
            .skip(1)
            .find(|a| st.in_flight.contains(*a))
            .map(Path::to_path_buf);
        st.in_flight.insert(job.rel.clone());
        match dep {
            Some(dir) => st.blocked.entry(dir).or_default().push(job),
            None => {
                st.ready.push_back(job);
                if st.idle > 0 {
                    self.work.notify_one();
                }
            }
        }
        Ok(())
    }

    /// A worker: run ready jobs until the pool closes.
    fn work(&self) {
        let mut st = self.lock();
        loop {
            if let Some(job) = st.ready.pop_front() {
                // After a failure only jobs of earlier entries still run.
                let skip = st.error.as_ref().is_some_and(|(k, _)| (job.seq, 0) > *k);
                drop(st);
                let result = if skip {
                    Ok(())
                } else {
                    execute(self.ctx, &job)
                };
                let Job { seq, rel, kind, .. } = job;
                drop(kind); // gives back the content's budget
                st = self.lock();
                st.in_flight.remove(&rel);
                if let Some(next) = st.blocked.remove(&rel) {
                    st.ready.extend(next);
                    if st.idle > 0 {
                        self.work.notify_all();
                    }
                }
                if let Err(e) = result {
                    st.fail((seq, 0), e);
                }
                if st.parser_waiting {
                    self.progress.notify_all();
                }
                continue;
            }
            if st.closing {
                return;
            }
            st.idle += 1;
            st = self.work.wait(st).unwrap_or_else(|p| p.into_inner());
            st.idle -= 1;
        }
    }

    /// Wait until `done` holds; fails at once if a job has failed.
    fn wait_until(&self, done: impl Fn(&PoolState) -> bool) -> Result<()> {
        let mut st = self.lock();
        loop {
            if st.error.is_some() {
                return Err(aborted());
            }
            if done(&st) {
                return Ok(());
            }
            st = self.wait_progress(st);
        }
    }

    fn wait_progress<'g>(&self, mut st: MutexGuard<'g, PoolState>) -> MutexGuard<'g, PoolState> {
        st.parser_waiting = true;
        let mut st = self.progress.wait(st).unwrap_or_else(|p| p.into_inner());
        st.parser_waiting = false;
        st
    }

    /// End of the parsing thread's work (`parsed` is how it went, at entry `seq`): wait for
    /// every job to finish or be skipped, stop the workers, report the earliest failure.
    fn close(&self, parsed: Result<()>, seq: u64) -> Result<()> {
        let mut st = self.lock();
        if let Err(e) = parsed {
            st.fail((seq, 1), e);
        }
        while !st.in_flight.is_empty() {
            st = self.wait_progress(st);
        }
        st.closing = true;
        self.work.notify_all();
        match st.error.take() {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    }

    fn stop(&self) {
        self.lock().closing = true;
        self.work.notify_all();
    }
}

struct StopOnDrop<'p, 'a>(&'p Pool<'a>);

impl Drop for StopOnDrop<'_, '_> {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// The parsing thread's handle on the pool.
#[derive(Clone, Copy)]
struct Workers<'a> {
    pool: &'a Pool<'a>,
    spawn: &'a (dyn Fn() -> io::Result<()> + 'a),
}

// ---- the parsing thread ----

struct Unpacker<'a> {
    ctx: &'a Ctx<'a>,
    /// None: serial, every job runs here.
    workers: Option<Workers<'a>>,
    /// Paths (relative to root) that are real directories or being made ones, never symlinks.
    known_dirs: HashSet<PathBuf>,
    /// Every other path this unpack created or handed to a worker.
    others: HashSet<PathBuf>,
    /// Directory mtimes, applied after the last entry (creating children changes them).
    dir_times: HashMap<PathBuf, TimeSpec>,
    buf: Vec<u8>,
    /// Number of the current entry.
    seq: u64,
    /// Time spent waiting for workers or for the in-flight budget.
    waited: std::time::Duration,
}

impl<'a> Unpacker<'a> {
    fn new(ctx: &'a Ctx<'a>, workers: Option<Workers<'a>>) -> Self {
        let mut known_dirs = HashSet::new();
        known_dirs.insert(PathBuf::new());
        Unpacker {
            ctx,
            workers,
            known_dirs,
            others: HashSet::new(),
            dir_times: HashMap::new(),
            buf: Vec::new(),
            seq: 0,
            waited: std::time::Duration::ZERO,
        }
    }

    fn entries<R: Read>(&mut self, reader: &mut R) -> Result<()> {
        let mut archive = tar::Archive::new(reader);
        let entries = archive
            .entries()
            .map_err(|e| self.ctx.corrupt(format!("tar: {e}")))?;
        for entry in entries {
            self.seq += 1;
            let entry = entry.map_err(|e| self.ctx.corrupt(format!("tar: {e}")))?;
            self.entry(entry)?;
        }
        Ok(())
    }

    /// After the last entry (and the last job): read to EOF when hashing, set directory times.
    fn finish<R: Read>(&mut self, reader: &mut R, drain: bool) -> Result<()> {
        if drain {
            // The end-of-archive blocks and any padding after them are part of the diff_id.
            io::copy(reader, &mut io::sink()).map_err(|e| {
                self.ctx
                    .corrupt(format!("reading past the end of the tar: {e}"))
            })?;
        }
        for (rel, ts) in &self.dir_times {
            set_times_nofollow(&self.ctx.root.join(rel), *ts)?;
        }
        Ok(())
    }

    fn entry<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<()> {
        let raw_path = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw_path).into_owned();
        let mut kind = entry.header().entry_type();
        if kind == EntryType::Regular && raw_path.ends_with(b"/") {
            // Pre-POSIX tars mark directories with a trailing slash only (Go's reader agrees).
            kind = EntryType::Directory;
        }
        let rel = clean_path(&raw_path).map_err(|r| self.ctx.refuse(&name, r))?;
        let meta = self.meta(&mut entry, &name)?;

        if let Some(base) = rel.file_name().map(OsStr::as_bytes) {
            if base.starts_with(WHITEOUT_PREFIX) {
                let base = base.to_vec();
                return self.whiteout(&rel, &base, &meta, &name);
            }
        }
        match kind {
            EntryType::Directory => self.directory(&rel, meta, &name),
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.regular(&rel, meta, &name, &mut entry, kind.is_gnu_sparse())
            }
            EntryType::Symlink => {
                let target = entry.link_name_bytes().map(|t| t.into_owned());
                self.symlink(&rel, target, meta, &name)
            }
            EntryType::Link => {
                let target = entry.link_name_bytes().map(|t| t.into_owned());
                self.hardlink(&rel, target, &name)
            }
            EntryType::Fifo => self.fifo(&rel, meta, &name),
            EntryType::Char | EntryType::Block => {
                tracing::warn!(blob = %self.ctx.blob, entry = %name, "skipping device node in layer");
                Ok(())
            }
            EntryType::XGlobalHeader => Ok(()),
            other => {
                tracing::warn!(blob = %self.ctx.blob, entry = %name, kind = ?other,
                    "skipping tar entry of unsupported type");
                Ok(())
            }
        }
    }

    fn meta<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, name: &str) -> Result<Meta> {
        let ctx = self.ctx;
        let header = entry.header();
        let old = header.as_old();
        // Like Go's archive/tar (and so Docker), an empty numeric field reads as 0.
        let num = |field: &str, raw: &[u8], parsed: io::Result<u64>| match parsed {
            Ok(v) => Ok(v),
            Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Ok(0),
            Err(e) => Err(ctx.corrupt(format!("entry {name:?}: {field}: {e}"))),
        };
        let mode = num("mode", &old.mode, header.mode().map(u64::from))? as u32 & 0o7777;
        // The tar crate has already applied PAX uid/gid to the header.
        let uid = num("uid", &old.uid, header.uid())?;
        let gid = num("gid", &old.gid, header.gid())?;
        let mtime = num("mtime", &old.mtime, header.mtime())?;
        let (Ok(uid), Ok(gid)) = (u32::try_from(uid), u32::try_from(gid)) else {
            return Err(ctx.corrupt(format!("entry {name:?}: uid/gid out of range")));
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
            .map_err(|e| ctx.corrupt(format!("entry {name:?}: PAX header: {e}")))?;
        let Some(pax) = pax else {
            return Ok(meta);
        };
        let mut dropped = Vec::new();
        for ext in pax {
            let ext = ext.map_err(|e| ctx.corrupt(format!("entry {name:?}: PAX header: {e}")))?;
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
            let blob = ctx.blob.clone();
            ctx.warn_once(format!("drop:{x}"), || {
                tracing::warn!(blob = %blob, entry = %name, xattr = %x,
                    "dropping overlayfs xattr from layer tar");
            });
        }
        Ok(meta)
    }

    // ---- entry kinds ----

    fn directory(&mut self, rel: &Path, meta: Meta, name: &str) -> Result<()> {
        if self.known_dirs.contains(rel) {
            // It exists (or is being made): new metadata, once its mkdir is done.
            self.wait_path(rel)?;
            let path = self.ctx.root.join(rel);
            set_dir_meta(self.ctx, &path, &meta, name)?;
            self.dir_times.insert(rel.to_path_buf(), meta.mtime);
            return Ok(());
        }
        self.prepare_parent(rel, name)?;
        if self.others.contains(rel) {
            self.replace(rel)?;
        }
        self.known_dirs.insert(rel.to_path_buf());
        self.dir_times.insert(rel.to_path_buf(), meta.mtime);
        self.submit(rel, name, JobKind::Dir(Some(meta)))
    }

    fn regular<R: Read>(
        &mut self,
        rel: &Path,
        meta: Meta,
        name: &str,
        entry: &mut tar::Entry<'_, R>,
        sparse: bool,
    ) -> Result<()> {
        if rel.as_os_str().is_empty() {
            return Err(self.ctx.refuse(name, "a file entry names the layer root"));
        }
        self.prepare_parent(rel, name)?;
        if self.exists(rel) {
            self.replace(rel)?;
        }
        let expected = entry.size();
        if self.workers.is_some() && !sparse && expected <= HANDOFF_MAX {
            // Small enough to hand over: read it now, a worker writes it.
            let mut data = Budgeted::acquire(expected as usize, &mut self.waited);
            entry
                .read_to_end(&mut data.bytes)
                .map_err(|e| self.ctx.corrupt(format!("entry {name:?}: {e}")))?;
            let written = data.bytes.len() as u64;
            if written != expected {
                return Err(self.ctx.corrupt(format!(
                    "entry {name:?}: unexpected end of data after {written} of {expected} bytes"
                )));
            }
            self.others.insert(rel.to_path_buf());
            return self.submit(rel, name, JobKind::File { data, meta });
        }

        // Streamed here, in pieces, once the directory it goes in exists.
        self.wait_parent(rel)?;
        let path = self.ctx.root.join(rel);
        let mut file = create_file(&path)?;
        self.others.insert(rel.to_path_buf());
        if self.buf.is_empty() {
            self.buf = vec![0; BUF_SIZE];
        }
        let mut written: u64 = 0;
        loop {
            let n = match entry.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.ctx.corrupt(format!("entry {name:?}: {e}"))),
            };
            file.write_all(&self.buf[..n])
                .ctx(|| format!("write {}", path.display()))?;
            written += n as u64;
        }
        if !sparse && written != expected {
            return Err(self.ctx.corrupt(format!(
                "entry {name:?}: unexpected end of data after {written} of {expected} bytes"
            )));
        }
        finish_file(self.ctx, &file, &path, &meta, name)?;
        self.ctx.add_size(written);
        Ok(())
    }

    fn symlink(
        &mut self,
        rel: &Path,
        target: Option<Vec<u8>>,
        meta: Meta,
        name: &str,
    ) -> Result<()> {
        let target = match target {
            Some(t) if !t.is_empty() => t,
            _ => return Err(self.ctx.refuse(name, "symlink without a target")),
        };
        if rel.as_os_str().is_empty() {
            return Err(self
                .ctx
                .refuse(name, "a symlink entry names the layer root"));
        }
        self.prepare_parent(rel, name)?;
        if self.exists(rel) {
            self.replace(rel)?;
        }
        self.others.insert(rel.to_path_buf());
        self.submit(rel, name, JobKind::Symlink { target, meta })
    }

    fn hardlink(&mut self, rel: &Path, target: Option<Vec<u8>>, name: &str) -> Result<()> {
        let target = match target {
            Some(t) if !t.is_empty() => t,
            _ => return Err(self.ctx.refuse(name, "hardlink without a target")),
        };
        let target = clean_path(&target).map_err(|_| {
            self.ctx
                .refuse(name, "hardlink target escapes the layer root")
        })?;
        if target.as_os_str().is_empty() || rel.as_os_str().is_empty() {
            return Err(self.ctx.refuse(name, "hardlink to or from the layer root"));
        }
        if target == rel {
            return Ok(());
        }
        if target.starts_with(rel) {
            return Err(self
                .ctx
                .refuse(name, "hardlink target lies inside the path it replaces"));
        }
        // The target must already be in this layer, reached through real directories only.
        if let Some(parent) = target.parent() {
            self.check_dirs(parent, name, "hardlink target")?;
        }
        // Its content may still be in flight: the link must see all of it.
        self.wait_path(&target)?;
        let target_path = self.ctx.root.join(&target);
        match fs::symlink_metadata(&target_path) {
            Ok(m) if m.is_dir() => {
                return Err(self.ctx.refuse(name, "hardlink target is a directory"))
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(self
                    .ctx
                    .refuse(name, "hardlink target does not exist in this layer"))
            }
            Err(e) => return Err(Error::io(format!("lstat {}", target_path.display()), e)),
        }
        self.prepare_parent(rel, name)?;
        if self.exists(rel) {
            self.replace(rel)?;
        }
        self.wait_parent(rel)?;
        let path = self.ctx.root.join(rel);
        // std's hard_link uses linkat(..., 0): a symlink target is linked, not followed.
        fs::hard_link(&target_path, &path).ctx(|| format!("link {}", path.display()))?;
        self.others.insert(rel.to_path_buf());
        Ok(())
    }

    fn fifo(&mut self, rel: &Path, meta: Meta, name: &str) -> Result<()> {
        if rel.as_os_str().is_empty() {
            return Err(self.ctx.refuse(name, "a fifo entry names the layer root"));
        }
        self.prepare_parent(rel, name)?;
        if self.exists(rel) {
            self.replace(rel)?;
        }
        self.others.insert(rel.to_path_buf());
        self.submit(rel, name, JobKind::Fifo(meta))
    }

    /// `dir/.wh.name` -> 0:0 char device `dir/name`; `dir/.wh..wh..opq` -> opaque xattr on dir.
    fn whiteout(&mut self, rel: &Path, base: &[u8], meta: &Meta, name: &str) -> Result<()> {
        let parent = rel.parent().unwrap_or(Path::new(""));
        if base == OPAQUE_MARKER {
            self.ensure_dir(parent, name)?;
            self.wait_path(parent)?;
            let dir = self.ctx.root.join(parent);
            return xattr::set(&dir, OPAQUE_XATTR, b"y")
                .ctx(|| format!("set {OPAQUE_XATTR} on {}", dir.display()));
        }
        if base.starts_with(b".wh..wh.") {
            // AUFS metadata (.wh..wh.plnk, .wh..wh.aufs): not content.
            return Ok(());
        }
        let hidden = &base[WHITEOUT_PREFIX.len()..];
        if hidden.is_empty() || hidden == b"." || hidden == b".." || hidden.contains(&b'/') {
            return Err(self.ctx.refuse(name, "invalid whiteout name"));
        }
        let target = parent.join(OsStr::from_bytes(hidden));
        self.prepare_parent(&target, name)?;
        if self.exists(&target) {
            self.replace(&target)?;
        }
        self.others.insert(target.clone());
        self.submit(
            &target,
            name,
            JobKind::Whiteout {
                uid: meta.uid,
                gid: meta.gid,
            },
        )
    }

    // ---- jobs and waits ----

    fn submit(&mut self, rel: &Path, name: &str, kind: JobKind) -> Result<()> {
        let job = Job {
            seq: self.seq,
            rel: rel.to_path_buf(),
            name: name.to_string(),
            kind,
        };
        match self.workers {
            None => execute(self.ctx, &job),
            Some(w) => w.pool.submit(job, w.spawn),
        }
    }

    /// Wait until no job for `p` is in flight.
    fn wait_path(&mut self, p: &Path) -> Result<()> {
        self.wait_until(|st| !st.in_flight.contains(p))
    }

    /// Wait until every directory above `rel` exists.
    fn wait_parent(&mut self, rel: &Path) -> Result<()> {
        self.wait_until(|st| !rel.ancestors().skip(1).any(|a| st.in_flight.contains(a)))
    }

    /// Wait until no job is in flight.
    fn barrier(&mut self) -> Result<()> {
        self.wait_until(|st| st.in_flight.is_empty())
    }

    fn wait_until(&mut self, done: impl Fn(&PoolState) -> bool) -> Result<()> {
        let Some(w) = self.workers else {
            return Ok(());
        };
        let since = std::time::Instant::now();
        let r = w.pool.wait_until(done);
        self.waited += since.elapsed();
        r
    }

    // ---- the tree so far ----

    fn exists(&self, rel: &Path) -> bool {
        self.known_dirs.contains(rel) || self.others.contains(rel)
    }

    /// Make room for a new entry at `rel`, where this unpack already put something: once
    /// nothing is in flight there (or, for a directory, anywhere), remove it.
    fn replace(&mut self, rel: &Path) -> Result<()> {
        if self.known_dirs.contains(rel) {
            self.barrier()?;
        } else {
            self.wait_path(rel)?;
        }
        self.remove_existing(rel)
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
            if self.others.contains(&cur) {
                // Let it land, then look at what it is.
                self.wait_path(&cur)?;
            }
            let path = self.ctx.root.join(&cur);
            match fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => {}
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(self.ctx.refuse(name, "parent directory is a symlink"))
                }
                Ok(_) => return Err(self.ctx.refuse(name, "a parent path is not a directory")),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    self.known_dirs.insert(cur.clone());
                    self.submit(&cur, name, JobKind::Dir(None))?;
                    continue;
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
            if self.others.contains(&cur) {
                self.wait_path(&cur)?;
            }
            let path = self.ctx.root.join(&cur);
            match fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => {}
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(self
                        .ctx
                        .refuse(name, &format!("{what} path goes through a symlink")))
                }
                Ok(_) => {
                    return Err(self
                        .ctx
                        .refuse(name, &format!("{what} does not exist in this layer")))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(self
                        .ctx
                        .refuse(name, &format!("{what} does not exist in this layer")))
                }
                Err(e) => return Err(Error::io(format!("lstat {}", path.display()), e)),
            }
            self.known_dirs.insert(cur.clone());
        }
        Ok(())
    }

    /// Remove whatever is at `rel` (a later entry replaces an earlier one), keeping `size` exact.
    /// Nothing may be in flight there.
    fn remove_existing(&mut self, rel: &Path) -> Result<()> {
        let path = self.ctx.root.join(rel);
        let m = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.others.remove(rel);
                return Ok(());
            }
            Err(e) => return Err(Error::io(format!("lstat {}", path.display()), e)),
        };
        if m.is_dir() {
            self.remove_tree(&path)
                .ctx(|| format!("remove {}", path.display()))?;
            self.known_dirs.retain(|d| !d.starts_with(rel));
            self.others.retain(|d| !d.starts_with(rel));
            self.dir_times.retain(|d, _| !d.starts_with(rel));
        } else {
            self.ctx.forget_size(&m);
            fs::remove_file(&path).ctx(|| format!("remove {}", path.display()))?;
            self.others.remove(rel);
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
                self.ctx.forget_size(&m);
                fs::remove_file(&p)?;
            }
        }
        fs::remove_dir(dir)
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
