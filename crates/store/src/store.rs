//! The `Store` facade: blobs, layers, images, tags, garbage collection, disk usage and checks.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::db::{now_rfc3339, Db};
use crate::digest::{is_lower_hex, is_sha256_hex};
use crate::error::IoContext;
use crate::unpack::{self, Compression, UnpackOptions};
use crate::{fsutil, Digest, Error, Reference, Result};

/// One committed layer snapshot, identified by its ChainID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LayerRecord {
    /// ChainID: `diff_id` for a base layer, else sha256("<parent chain> <diff_id>").
    pub chain_id: Digest,
    /// Digest of the uncompressed layer tar.
    pub diff_id: Digest,
    /// ChainID of the layer below, if any.
    pub parent: Option<Digest>,
    /// The stored blob this layer was unpacked from (as received: plain, gzip or zstd).
    pub blob: Digest,
    /// Size of the stored blob in bytes.
    pub blob_size: u64,
    /// OCI media type of the stored blob (`application/vnd.oci.image.layer.v1.tar`, `+gzip`, `+zstd`).
    pub media_type: String,
    /// Unpacked content size in bytes: st_size of regular files (each inode once) plus symlink
    /// target lengths. This is what `images` and `system df` add up.
    pub size: u64,
}

/// An image as the store knows it. The config itself is the blob `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageRecord {
    /// Image ID = digest of the config blob.
    pub id: Digest,
    /// Digest of the OCI manifest blob written for this image, if any.
    pub manifest: Option<Digest>,
    /// Layers bottom-first (empty for an image without layers).
    pub layers: Vec<LayerRecord>,
    /// Logical size: the sum of `layers[i].size`.
    pub size: u64,
    /// Tags, normalized familiar form (`busybox:latest`, `127.0.0.1:5000/a/b:v1`), sorted.
    pub repo_tags: Vec<String>,
    /// `name@sha256:...` digests recorded for this image, sorted.
    pub repo_digests: Vec<String>,
    /// RFC 3339 time the image entered this store.
    pub added: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImageUsage {
    pub id: Digest,
    pub size: u64,
    /// Sum of sizes of this image's layers that at least one other image also uses.
    pub shared_size: u64,
    /// `size - shared_size`.
    pub unique_size: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DiskUsage {
    /// Physical size: each distinct layer counted once.
    pub layers_size: u64,
    pub images: Vec<ImageUsage>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GcReport {
    pub blobs_removed: Vec<Digest>,
    pub layers_removed: Vec<Digest>,
    pub bytes_freed: u64,
}

/// One problem found by `Store::check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckProblem {
    /// What is wrong, e.g. "blob sha256:ab.. has digest sha256:cd..".
    pub message: String,
}

/// A blob's writeback is started every this many bytes, so that `commit` has little left to
/// wait for.
const WRITEBACK_STEP: u64 = 8 << 20;

/// Streams bytes into a temp file under `<root>/tmp`, hashing as it goes; `commit` verifies,
/// fsyncs and renames into `blobs/sha256/`. Dropping without commit removes the temp file.
pub struct BlobWriter {
    /// None once committed.
    file: Option<BufWriter<File>>,
    hasher: Sha256,
    len: u64,
    /// Bytes whose writeback has been started (`WRITEBACK_STEP`).
    kicked: u64,
    tmp_path: PathBuf,
    blobs_dir: PathBuf,
    gc_lock: Arc<GcLock>,
    /// The temp file has been renamed into place: nothing to clean up.
    renamed: bool,
}

impl std::io::Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("blob writer already committed"))?;
        let n = file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        // What the buffer has passed to the file is in the page cache: start writing it out.
        let in_file = self.len - file.buffer().len() as u64;
        if in_file - self.kicked >= WRITEBACK_STEP {
            fsutil::start_writeback(file.get_ref(), self.kicked, in_file - self.kicked);
            self.kicked = in_file;
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Verify against `expected` (if given; mismatch => `Error::DigestMismatch`, temp removed),
    /// fsync, rename into place (no-op if the blob already exists). Returns (digest, size).
    pub fn commit(self, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        let gc_lock = self.gc_lock.clone();
        let sealed = self.seal(expected)?;
        sealed.sync()?;
        let done = (sealed.digest.clone(), sealed.len);
        // Between the rename and the caller recording the blob, gc must not run. Callers that
        // record it later hold `Store::write_guard` themselves.
        let _guard = WriteGuard::new(&gc_lock);
        let blobs_dir = sealed.blobs_dir.clone();
        if sealed.publish()? {
            fsync_dir(&blobs_dir)?;
        }
        Ok(done)
    }

    /// Flush and verify against `expected` (mismatch => `Error::DigestMismatch`, temp removed).
    /// The temp file stays in `tmp/`, neither fsynced nor renamed, owned by the result.
    pub(crate) fn seal(mut self, expected: Option<&Digest>) -> Result<SealedBlob> {
        let tmp = self.tmp_path.clone();
        let file = self.file.take().ok_or_else(|| {
            Error::io(
                format!("commit {}", tmp.display()),
                io::Error::other("blob writer already committed"),
            )
        })?;
        let file = file
            .into_inner()
            .map_err(|e| Error::io(format!("write {}", tmp.display()), e.into_error()))?;
        let digest = Digest::from_sha256(std::mem::take(&mut self.hasher));
        if let Some(expected) = expected {
            if *expected != digest {
                // Drop removes the temp file.
                return Err(Error::DigestMismatch {
                    what: format!("blob {expected}"),
                    expected: expected.clone(),
                    actual: digest,
                });
            }
        }
        // From here the sealed blob owns the temp file.
        self.renamed = true;
        Ok(SealedBlob {
            file: Some(file),
            tmp_path: tmp,
            digest,
            len: self.len,
            blobs_dir: self.blobs_dir.clone(),
            published: false,
        })
    }
}

/// A complete, verified blob still in `tmp/`. `publish` renames it into `blobs/sha256/`;
/// dropping it unpublished removes the temp file.
pub(crate) struct SealedBlob {
    file: Option<File>,
    tmp_path: PathBuf,
    digest: Digest,
    len: u64,
    blobs_dir: PathBuf,
    published: bool,
}

impl SealedBlob {
    fn sync(&self) -> Result<()> {
        match &self.file {
            Some(f) => f
                .sync_all()
                .ctx(|| format!("fsync {}", self.tmp_path.display())),
            None => Ok(()),
        }
    }

    /// Rename into place unless the blob is there already; true if renamed. The caller holds a
    /// `WriteGuard`, has the data on disk (fsync or syncfs) and fsyncs `blobs/sha256` after.
    fn publish(mut self) -> Result<bool> {
        self.file = None;
        let dest = self.blobs_dir.join(self.digest.hex());
        if dest.exists() {
            return Ok(false); // drop removes the temp file
        }
        fs::rename(&self.tmp_path, &dest)
            .ctx(|| format!("rename {} to {}", self.tmp_path.display(), dest.display()))?;
        self.published = true;
        Ok(true)
    }
}

impl Drop for SealedBlob {
    fn drop(&mut self) {
        if !self.published {
            self.file = None;
            if let Err(e) = fs::remove_file(&self.tmp_path) {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(path = %self.tmp_path.display(), error = %e,
                        "could not remove temporary blob file");
                }
            }
        }
    }
}

/// A layer unpacked into the store's `tmp/` but not committed yet: what
/// `Store::prepare_layer_from_stream` gives and `Store::commit_layers` takes. Dropping it
/// removes its directory, and its blob when that came with the stream and is not stored yet.
pub struct PreparedLayer {
    work: TmpDir,
    blob: Digest,
    blob_size: u64,
    diff_id: Digest,
    size: u64,
    compression: Compression,
    /// The blob, verified, when it came with the stream and is not in `blobs/` yet.
    new_blob: Option<SealedBlob>,
}

impl PreparedLayer {
    /// Digest of the blob as received (plain, gzip or zstd).
    pub fn blob(&self) -> &Digest {
        &self.blob
    }
    pub fn blob_size(&self) -> u64 {
        self.blob_size
    }
    /// Digest of the uncompressed tar.
    pub fn diff_id(&self) -> &Digest {
        &self.diff_id
    }
    /// See `LayerRecord::size`.
    pub fn size(&self) -> u64 {
        self.size
    }
    pub fn media_type(&self) -> &'static str {
        self.compression.media_type()
    }
    /// `Error::DigestMismatch` unless the uncompressed content hashes to `expected` (the diff_id
    /// an image config names for this layer).
    pub fn check_diff_id(&self, expected: &Digest) -> Result<()> {
        if *expected == self.diff_id {
            return Ok(());
        }
        Err(Error::DigestMismatch {
            what: format!("layer blob {}: uncompressed content (diff_id)", self.blob),
            expected: expected.clone(),
            actual: self.diff_id.clone(),
        })
    }
}

impl std::fmt::Debug for PreparedLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedLayer")
            .field("blob", &self.blob)
            .field("diff_id", &self.diff_id)
            .field("size", &self.size)
            .field("dir", &self.work.path)
            .finish()
    }
}

/// Reads through to `src`, copying every byte read into the blob on the way.
struct Tee<'w, R> {
    src: R,
    blob: &'w mut BlobWriter,
    /// What went wrong reading `src` or writing the blob: that, not what the reader of the tee
    /// makes of the error, is what the caller reports.
    failure: Option<Error>,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.src.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            Err(e) => {
                let copy = io::Error::new(e.kind(), e.to_string());
                self.failure
                    .get_or_insert_with(|| Error::io("read the layer stream", e));
                return Err(copy);
            }
        };
        if let Err(e) = self.blob.write_all(&buf[..n]) {
            let copy = io::Error::new(e.kind(), e.to_string());
            let tmp = self.blob.tmp_path.display().to_string();
            self.failure
                .get_or_insert_with(|| Error::io(format!("write {tmp}"), e));
            return Err(copy);
        }
        Ok(n)
    }
}

/// The same layer error, naming `blob` (errors found before the blob's digest was known name a
/// placeholder).
fn naming_blob(e: Error, blob: &Digest) -> Error {
    match e {
        Error::UnsafeLayerEntry { entry, reason, .. } => Error::UnsafeLayerEntry {
            blob: blob.clone(),
            entry,
            reason,
        },
        Error::CorruptLayer { reason, .. } => Error::CorruptLayer {
            blob: blob.clone(),
            reason,
        },
        other => other,
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if !self.renamed {
            self.file = None;
            if let Err(e) = fs::remove_file(&self.tmp_path) {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(path = %self.tmp_path.display(), error = %e,
                        "could not remove temporary blob file");
                }
            }
        }
    }
}

/// Coordinates garbage collection with writers. Writers (a pull, a load, a build: anything that
/// writes blobs or layers and records an image later) hold a `WriteGuard`; gc and the sweep of
/// `delete_image` run only when no writer holds one. Writer guards never wait for each other
/// and may be taken again by the same thread (unlike `std::sync::RwLock` read guards).
#[derive(Default)]
struct GcLock {
    state: Mutex<GcState>,
    changed: Condvar,
}

#[derive(Default)]
struct GcState {
    writers: usize,
    sweeping: bool,
}

impl GcLock {
    fn state(&self) -> MutexGuard<'_, GcState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sweep(&self) -> SweepGuard<'_> {
        let mut s = self.state();
        while s.sweeping || s.writers > 0 {
            s = self.changed.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        s.sweeping = true;
        SweepGuard { lock: self }
    }

    fn try_sweep(&self) -> Option<SweepGuard<'_>> {
        let mut s = self.state();
        if s.sweeping || s.writers > 0 {
            return None;
        }
        s.sweeping = true;
        Some(SweepGuard { lock: self })
    }
}

struct SweepGuard<'a> {
    lock: &'a GcLock,
}

impl Drop for SweepGuard<'_> {
    fn drop(&mut self) {
        self.lock.state().sweeping = false;
        self.lock.changed.notify_all();
    }
}

/// Held by an operation that writes blobs or layers and records them later (pull, load,
/// build). While any `WriteGuard` is alive, `gc` waits and `delete_image` leaves unreferenced
/// files for a later gc, so nothing such an operation has written disappears under it. Owns its
/// lock, so it can move into another thread or task.
///
/// Do not call `gc` while holding one on the same thread: it would wait for itself.
#[must_use = "the guard protects writes only while it is alive"]
pub struct WriteGuard {
    lock: Arc<GcLock>,
}

impl WriteGuard {
    fn new(lock: &Arc<GcLock>) -> WriteGuard {
        let mut s = lock.state();
        while s.sweeping {
            s = lock.changed.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        s.writers += 1;
        drop(s);
        WriteGuard { lock: lock.clone() }
    }
}

impl Drop for WriteGuard {
    fn drop(&mut self) {
        let mut s = self.lock.state();
        s.writers = s.writers.saturating_sub(1);
        drop(s);
        self.lock.changed.notify_all();
    }
}

impl std::fmt::Debug for WriteGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteGuard")
    }
}

pub struct Store {
    root: PathBuf,
    db: Db,
    gc_lock: Arc<GcLock>,
    /// Serializes "is this ChainID recorded? rename into layers/, record it".
    layer_commit: Mutex<()>,
}

const LAYER_COLS: &str = "chain_id, diff_id, parent, blob, blob_size, media_type, size";

fn layer_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LayerRecord> {
    Ok(LayerRecord {
        chain_id: r.get(0)?,
        diff_id: r.get(1)?,
        parent: r.get(2)?,
        blob: r.get(3)?,
        blob_size: r.get(4)?,
        media_type: r.get(5)?,
        size: r.get(6)?,
    })
}

fn layer_row(c: &Connection, chain_id: &Digest) -> rusqlite::Result<Option<LayerRecord>> {
    c.query_row(
        &format!("SELECT {LAYER_COLS} FROM layers WHERE chain_id = ?1"),
        [chain_id],
        layer_from_row,
    )
    .optional()
}

fn all_layers(c: &Connection) -> rusqlite::Result<Vec<LayerRecord>> {
    let mut st = c.prepare(&format!("SELECT {LAYER_COLS} FROM layers ORDER BY rowid"))?;
    let rows = st.query_map([], layer_from_row)?;
    rows.collect()
}

/// One row of `images`.
struct ImageRow {
    id: Digest,
    manifest: Option<Digest>,
    top_layer: Option<Digest>,
    size: u64,
    added: String,
}

const IMAGE_COLS: &str = "id, manifest, top_layer, size, added";

fn image_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ImageRow> {
    Ok(ImageRow {
        id: r.get(0)?,
        manifest: r.get(1)?,
        top_layer: r.get(2)?,
        size: r.get(3)?,
        added: r.get(4)?,
    })
}

fn image_row(c: &Connection, id: &Digest) -> rusqlite::Result<Option<ImageRow>> {
    c.query_row(
        &format!("SELECT {IMAGE_COLS} FROM images WHERE id = ?1"),
        [id],
        image_from_row,
    )
    .optional()
}

/// The layer chain below `top`, bottom-first, resolved through `lookup`.
fn walk_chain(
    top: Option<&Digest>,
    mut lookup: impl FnMut(&Digest) -> Result<Option<LayerRecord>>,
) -> Result<Vec<LayerRecord>> {
    let mut chain = Vec::new();
    let mut next = top.cloned();
    while let Some(id) = next {
        let layer = lookup(&id)?.ok_or_else(|| Error::LayerNotFound(id.clone()))?;
        if chain.len() > 10_000 {
            return Err(Error::BrokenChain {
                reason: format!("layer {id}: parent links form a loop"),
            });
        }
        next = layer.parent.clone();
        chain.push(layer);
    }
    chain.reverse();
    Ok(chain)
}

/// ChainID = diff_id for a base layer, else sha256("<parent chain> <diff_id>") (OCI image spec).
pub fn chain_id(parent: Option<&Digest>, diff_id: &Digest) -> Digest {
    match parent {
        None => diff_id.clone(),
        Some(p) => Digest::of(format!("{p} {diff_id}").as_bytes()),
    }
}

fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .ctx(|| format!("fsync {}", dir.display()))
}

/// Names in `dir`, sorted.
fn dir_entries(dir: &Path) -> Result<Vec<OsString>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).ctx(|| format!("read {}", dir.display()))? {
        let entry = entry.ctx(|| format!("read {}", dir.display()))?;
        names.push(entry.file_name());
    }
    names.sort();
    Ok(names)
}

/// Names in `dir` as strings (a non-UTF-8 name, which the store never creates, reads lossily).
fn dir_names(dir: &Path) -> Result<Vec<String>> {
    Ok(dir_entries(dir)?
        .into_iter()
        .map(|n| n.to_string_lossy().into_owned())
        .collect())
}

/// Keeps the first error of a teardown, logs every one.
#[derive(Default)]
struct Errors {
    first: Option<Error>,
}

impl Errors {
    fn push(&mut self, e: Error) {
        tracing::warn!(error = %e, "image store cleanup step failed");
        if self.first.is_none() {
            self.first = Some(e);
        }
    }
    fn into_result(self) -> Result<()> {
        match self.first {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Removes a temp dir unless disarmed.
struct TmpDir {
    path: PathBuf,
    armed: bool,
}

impl TmpDir {
    /// Where the layer's files go.
    fn diff(&self) -> PathBuf {
        self.path.join("diff")
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        if self.armed {
            if let Err(e) = fsutil::remove_trees(std::slice::from_ref(&self.path)) {
                tracing::warn!(path = %self.path.display(), error = %e,
                    "could not remove temporary layer dir");
            }
        }
    }
}

fn random_name(prefix: &str) -> String {
    format!("{prefix}-{:016x}", rand::random::<u64>())
}

impl Store {
    /// Open or create a store at `root`: creates `blobs/sha256`, `layers`, `tmp`, `trash`, opens
    /// `berth.db` (WAL, schema migrations), empties `tmp/` and `trash/`, and removes layer dirs
    /// the database does not know (left by a crash mid-unpack).
    pub fn open(root: &Path) -> Result<Store> {
        for dir in [
            root.to_path_buf(),
            root.join("blobs/sha256"),
            root.join("layers"),
            root.join("tmp"),
            root.join("trash"),
        ] {
            fs::create_dir_all(&dir).ctx(|| format!("create {}", dir.display()))?;
        }
        // Layers are unpacked in directories under tmp/: unrelated trees (see `hint_topdir`).
        fsutil::hint_topdir(&root.join("tmp"));
        let db = Db::open(&root.join("berth.db"))?;
        let store = Store {
            root: root.to_path_buf(),
            db,
            gc_lock: Arc::new(GcLock::default()),
            layer_commit: Mutex::new(()),
        };
        store.clean_tmp()?;
        store.empty_trash()?;
        store.remove_stray_layer_dirs()?;
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn layers_dir(&self) -> PathBuf {
        self.root.join("layers")
    }

    fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs/sha256")
    }

    fn layer_dir(&self, chain_id: &Digest) -> PathBuf {
        self.layers_dir().join(chain_id.hex())
    }

    /// Where layer dirs go to be deleted: a rename there takes a layer away at once, the
    /// deletion follows (and, after a crash, `open` finishes it).
    fn trash_dir(&self) -> PathBuf {
        self.root.join("trash")
    }

    fn clean_tmp(&self) -> Result<()> {
        let tmp = self.tmp_dir();
        let leftovers: Vec<PathBuf> = dir_entries(&tmp)?
            .into_iter()
            .map(|n| tmp.join(n))
            .collect();
        fsutil::remove_trees(&leftovers).ctx(|| format!("remove leftovers in {}", tmp.display()))
    }

    fn empty_trash(&self) -> Result<()> {
        let trash = self.trash_dir();
        let doomed: Vec<PathBuf> = dir_entries(&trash)?
            .into_iter()
            .map(|n| trash.join(n))
            .collect();
        self.delete_trashed(&doomed)
    }

    /// Move `dir` into `trash/`. Ok(None) if it is not there; Ok(Some(path in trash)) if moved.
    /// A dir that cannot be moved (another filesystem mounted there) is returned as it is, to be
    /// deleted in place.
    fn move_to_trash(&self, dir: &Path) -> Result<Option<PathBuf>> {
        let to = self.trash_dir().join(random_name("layer"));
        match fs::rename(dir, &to) {
            Ok(()) => Ok(Some(to)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => Ok(Some(dir.to_path_buf())),
            Err(e) => Err(Error::io(
                format!("move {} to {}", dir.display(), to.display()),
                e,
            )),
        }
    }

    /// Delete what `move_to_trash` moved, all trees at once on a few threads.
    fn delete_trashed(&self, doomed: &[PathBuf]) -> Result<()> {
        if doomed.is_empty() {
            return Ok(());
        }
        fsutil::remove_trees(doomed)
            .ctx(|| format!("remove layer dirs in {}", self.trash_dir().display()))
    }

    /// A new, empty `tmp/layer-*/diff` to unpack a layer into.
    fn layer_work_dir(&self) -> Result<TmpDir> {
        let work = TmpDir {
            path: self.tmp_dir().join(random_name("layer")),
            armed: true,
        };
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&work.path)
            .ctx(|| format!("create {}", work.path.display()))?;
        let diff = work.diff();
        fs::DirBuilder::new()
            .mode(0o755)
            .create(&diff)
            .ctx(|| format!("create {}", diff.display()))?;
        Ok(work)
    }

    /// Remove `layers/*` entries the database does not record. Only safe while no unpack is
    /// between its rename and its insert: at open, or under the sweep lock.
    fn remove_stray_layer_dirs(&self) -> Result<Vec<PathBuf>> {
        let known: HashSet<String> = self
            .layers()?
            .into_iter()
            .map(|l| l.chain_id.hex().to_string())
            .collect();
        let dir = self.layers_dir();
        let mut removed = Vec::new();
        let mut doomed = Vec::new();
        let mut errors = Errors::default();
        for name in dir_entries(&dir)? {
            if name.to_str().is_some_and(|n| known.contains(n)) {
                continue;
            }
            let p = dir.join(&name);
            tracing::info!(path = %p.display(), "removing layer dir unknown to the database");
            match self.move_to_trash(&p) {
                Ok(moved) => {
                    doomed.extend(moved);
                    removed.push(p);
                }
                Err(e) => errors.push(e),
            }
        }
        if let Err(e) = self.delete_trashed(&doomed) {
            errors.push(e);
        }
        errors.into_result()?;
        Ok(removed)
    }

    // ---- database access for the engine ----

    /// Run statements of the caller's own (e.g. the engine's tables) on the store's connection.
    pub fn with_conn<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        self.db.with_conn(f)
    }

    /// Run `f` in one transaction (BEGIN IMMEDIATE); committed when it returns Ok.
    pub fn with_tx<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T> {
        self.db.with_tx(f)
    }

    /// Apply a named schema migration once (recorded in `schema_migrations`).
    pub fn migrate_extra(&self, name: &str, sql: &str) -> Result<()> {
        self.db.migrate_extra(name, sql)
    }

    /// Take a writer's guard; see `WriteGuard`. Hold it from the first blob written until the
    /// image that references everything is recorded.
    pub fn write_guard(&self) -> WriteGuard {
        WriteGuard::new(&self.gc_lock)
    }

    // ---- blobs ----
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.blobs_dir().join(d.hex())
    }
    pub fn has_blob(&self, d: &Digest) -> bool {
        fs::symlink_metadata(self.blob_path(d)).is_ok_and(|m| m.is_file())
    }
    pub fn blob_writer(&self) -> Result<BlobWriter> {
        let tmp_path = self.tmp_dir().join(random_name("blob"));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp_path)
            .ctx(|| format!("create {}", tmp_path.display()))?;
        Ok(BlobWriter {
            file: Some(BufWriter::with_capacity(256 << 10, file)),
            hasher: Sha256::new(),
            len: 0,
            kicked: 0,
            tmp_path,
            blobs_dir: self.blobs_dir(),
            gc_lock: self.gc_lock.clone(),
            renamed: false,
        })
    }
    /// Convenience: write a whole in-memory blob, verified against `expected` if given.
    pub fn put_blob(&self, bytes: &[u8], expected: Option<&Digest>) -> Result<Digest> {
        let mut w = self.blob_writer()?;
        w.write_all(bytes)
            .ctx(|| format!("write {}", w.tmp_path.display()))?;
        Ok(w.commit(expected)?.0)
    }
    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>> {
        let path = self.blob_path(d);
        fs::read(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::BlobNotFound(d.clone()),
            _ => Error::io(format!("read {}", path.display()), e),
        })
    }
    /// Open a blob for streaming (push, save).
    pub fn open_blob(&self, d: &Digest) -> Result<File> {
        let path = self.blob_path(d);
        File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::BlobNotFound(d.clone()),
            _ => Error::io(format!("open {}", path.display()), e),
        })
    }
    /// Size of a stored blob in bytes.
    pub fn blob_size(&self, d: &Digest) -> Result<u64> {
        let path = self.blob_path(d);
        fs::metadata(&path)
            .map(|m| m.len())
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => Error::BlobNotFound(d.clone()),
                _ => Error::io(format!("stat {}", path.display()), e),
            })
    }
    /// Keep `blob` alive for `owner` (a name of the caller's choosing, e.g. an index or a build
    /// cache entry) even when no image or layer refers to it.
    pub fn add_blob_ref(&self, blob: &Digest, owner: &str) -> Result<()> {
        self.db.with_tx(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO blob_refs (blob, owner) VALUES (?1, ?2)",
                params![blob, owner],
            )
            .map(drop)
        })
    }
    /// Drop a reference taken with `add_blob_ref`; the blob goes at the next gc if unused.
    pub fn remove_blob_ref(&self, blob: &Digest, owner: &str) -> Result<()> {
        self.db.with_tx(|tx| {
            tx.execute(
                "DELETE FROM blob_refs WHERE blob = ?1 AND owner = ?2",
                params![blob, owner],
            )
            .map(drop)
        })
    }

    // ---- layers ----
    /// Unpack the stored blob `blob` (plain/gzip/zstd tar, detected by magic bytes) as a layer on
    /// top of `parent`. Verifies the uncompressed digest against `expected_diff_id` when given.
    /// Unpacks into `tmp/`, converts OCI whiteouts to overlayfs form, then renames to
    /// `layers/<chain-hex>` and records it (`commit_layers`). If that ChainID already exists the
    /// work is discarded and the existing record returned. Safe to call from several threads at
    /// once. A new layer starts with refcount 0; `create_image` takes the references.
    ///
    /// `parent` need not be recorded yet (the layers of one image may be unpacked in parallel):
    /// each layer dir holds only its own diff. `create_image` checks the chain.
    pub fn unpack_layer(
        &self,
        parent: Option<&Digest>,
        blob: &Digest,
        expected_diff_id: Option<&Digest>,
    ) -> Result<LayerRecord> {
        let _guard = self.write_guard();
        let blob_path = self.blob_path(blob);
        let blob_size = self.blob_size(blob)?;
        if let Some(diff_id) = expected_diff_id {
            // Already unpacked (from this blob or another compression of the same tar).
            if let Some(existing) = self.layer(&chain_id(parent, diff_id))? {
                return Ok(existing);
            }
        }
        let work = self.layer_work_dir()?;
        let unpacked = unpack::unpack_file(
            &blob_path,
            blob,
            &work.diff(),
            false,
            UnpackOptions::default(),
        )?;
        let prepared = PreparedLayer {
            work,
            blob: blob.clone(),
            blob_size,
            diff_id: unpacked.diff_id,
            size: unpacked.size,
            compression: unpacked.compression,
            new_blob: None,
        };
        if let Some(expected) = expected_diff_id {
            prepared.check_diff_id(expected)?;
        }
        let chain = chain_id(parent, &prepared.diff_id);
        self.commit_layers(vec![(prepared, parent.cloned())])?
            .pop()
            .ok_or(Error::LayerNotFound(chain))
    }

    /// Read a layer blob from `reader` once: store it as a blob (verified against
    /// `expected_blob` when given) and, from the same bytes, decompress, hash (diff_id) and unpack
    /// it into a directory under `tmp/`. Nothing is visible in the store until `commit_layers`;
    /// dropping the result removes the directory and the blob file.
    ///
    /// Errors: `DigestMismatch` when the blob is not `expected_blob` (whatever else is wrong with
    /// it); `UnsafeLayerEntry` / `CorruptLayer` naming the blob's digest when its content is not
    /// a layer this store accepts: the blob itself is then kept as an ordinary blob (fsynced and
    /// stored, as `BlobWriter::commit` does), so a caller that did not know it was a layer loses
    /// nothing, and unpacking it later gives the same error. Read errors of `reader` are
    /// `Error::Io`. The stream is read to its end, also after an error in its content.
    pub fn prepare_layer_from_stream(
        &self,
        reader: impl Read,
        expected_blob: Option<&Digest>,
    ) -> Result<PreparedLayer> {
        let started = std::time::Instant::now();
        let work = self.layer_work_dir()?;
        let mut writer = self.blob_writer()?;
        // Until the stream is read, errors name the expected blob or, without one, a
        // placeholder that is replaced by the blob's digest below.
        let naming = expected_blob.cloned().unwrap_or_else(|| Digest::of(b""));
        let mut tee = Tee {
            src: reader,
            blob: &mut writer,
            failure: None,
        };
        let unpacked = unpack::unpack_stream(
            &mut tee,
            &naming,
            &work.diff(),
            false,
            UnpackOptions::default(),
            "the layer stream",
        );
        // The rest of the blob: padding after the tar, or everything after a failure (so that
        // the error names the blob and a mismatch with `expected_blob` is reported as one).
        let drained = match tee.failure {
            None => io::copy(&mut tee, &mut io::sink()).map(drop),
            Some(_) => Ok(()),
        };
        if let Some(e) = tee.failure.take() {
            return Err(e);
        }
        drained.ctx(|| "read the layer stream")?;
        let sealed = writer.seal(expected_blob)?;
        let blob = sealed.digest.clone();
        let unpacked = match unpacked {
            Ok(u) => u,
            Err(e) => {
                let e = naming_blob(e, &blob);
                if matches!(
                    e,
                    Error::UnsafeLayerEntry { .. } | Error::CorruptLayer { .. }
                ) {
                    self.store_sealed(sealed)?;
                }
                return Err(e);
            }
        };
        let blob_size = sealed.len;
        let new_blob = (!self.has_blob(&blob)).then_some(sealed);
        tracing::debug!(blob = %blob, bytes = blob_size, ms = started.elapsed().as_millis() as u64,
            "layer unpacked from its stream");
        Ok(PreparedLayer {
            work,
            diff_id: unpacked.diff_id.unwrap_or_else(|| blob.clone()),
            blob,
            blob_size,
            size: unpacked.size,
            compression: unpacked.compression,
            new_blob,
        })
    }

    /// fsync, rename into place, fsync the directory: what `BlobWriter::commit` does.
    fn store_sealed(&self, sealed: SealedBlob) -> Result<()> {
        sealed.sync()?;
        let _guard = self.write_guard();
        if sealed.publish()? {
            fsync_dir(&self.blobs_dir())?;
        }
        Ok(())
    }

    /// Commit prepared layers, each on top of the given parent ChainID: one `syncfs` for the
    /// whole batch (every blob and tree on disk before anything becomes visible), then each
    /// blob that came with its stream is renamed into `blobs/`, each layer renamed to
    /// `layers/<chain-hex>` (or discarded when that ChainID is recorded already: the existing
    /// record is returned) and recorded, all in one transaction. Records in the order given.
    /// A new layer starts with refcount 0; `create_image` takes the references.
    pub fn commit_layers(
        &self,
        layers: Vec<(PreparedLayer, Option<Digest>)>,
    ) -> Result<Vec<LayerRecord>> {
        let _guard = self.write_guard();
        if layers.is_empty() {
            return Ok(Vec::new());
        }
        let mut layers = layers;
        // Data and metadata on disk before a layer becomes visible: a crash never leaves a
        // committed but empty layer (or blob).
        let started = std::time::Instant::now();
        let tmp = self.tmp_dir();
        let dir = File::open(&tmp).ctx(|| format!("open {}", tmp.display()))?;
        nix::unistd::syncfs(dir.as_raw_fd()).ctx(|| format!("syncfs {}", tmp.display()))?;
        drop(dir);
        tracing::debug!(
            layers = layers.len(),
            ms = started.elapsed().as_millis() as u64,
            "syncfs before committing layers"
        );
        let mut published = false;
        for (prepared, _) in &mut layers {
            if let Some(blob) = prepared.new_blob.take() {
                published |= blob.publish()?;
            }
        }
        if published {
            fsync_dir(&self.blobs_dir())?;
        }

        // Layers found to exist already are removed after the lock is released.
        let mut discard = Vec::new();
        let result = {
            let _commit = self.layer_commit.lock().unwrap_or_else(|p| p.into_inner());
            self.commit_locked(layers, &mut discard)
        };
        drop(discard);
        tracing::debug!(
            ms = started.elapsed().as_millis() as u64,
            "layers committed"
        );
        result
    }

    /// `commit_layers` under `layer_commit`.
    fn commit_locked(
        &self,
        layers: Vec<(PreparedLayer, Option<Digest>)>,
        discard: &mut Vec<PreparedLayer>,
    ) -> Result<Vec<LayerRecord>> {
        let mut out = Vec::with_capacity(layers.len());
        let mut new: Vec<LayerRecord> = Vec::new();
        let mut renamed: Vec<PathBuf> = Vec::new();
        let attempt = || -> Result<()> {
            for (mut prepared, parent) in layers {
                let chain = chain_id(parent.as_ref(), &prepared.diff_id);
                let existing = match new.iter().find(|r| r.chain_id == chain) {
                    Some(r) => Some(r.clone()),
                    None => self.layer(&chain)?,
                };
                if let Some(existing) = existing {
                    out.push(existing);
                    discard.push(prepared);
                    continue;
                }
                let record = LayerRecord {
                    chain_id: chain.clone(),
                    diff_id: prepared.diff_id.clone(),
                    parent,
                    blob: prepared.blob.clone(),
                    blob_size: prepared.blob_size,
                    media_type: prepared.media_type().to_string(),
                    size: prepared.size,
                };
                let dest = self.layer_dir(&chain);
                self.rename_into_layers(&prepared.work.path, &dest)?;
                prepared.work.armed = false;
                renamed.push(dest);
                new.push(record.clone());
                out.push(record);
            }
            if renamed.is_empty() {
                return Ok(());
            }
            fsync_dir(&self.layers_dir())?;
            let added = now_rfc3339();
            self.db.with_tx(|tx| {
                for record in &new {
                    tx.execute(
                        "INSERT INTO layers (chain_id, diff_id, parent, blob, blob_size,
                                             media_type, size, refcount, added)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8)",
                        params![
                            record.chain_id,
                            record.diff_id,
                            record.parent,
                            record.blob,
                            record.blob_size,
                            record.media_type,
                            record.size,
                            added,
                        ],
                    )?;
                }
                Ok(())
            })
        };
        if let Err(e) = attempt() {
            // Renamed but not recorded: take them back out (gc would remove them otherwise).
            let mut doomed = Vec::new();
            for dest in &renamed {
                match self.move_to_trash(dest) {
                    Ok(moved) => doomed.extend(moved),
                    Err(rm) => tracing::warn!(path = %dest.display(), error = %rm,
                        "could not remove layer dir"),
                }
            }
            if let Err(rm) = self.delete_trashed(&doomed) {
                tracing::warn!(error = %rm, "could not remove layer dirs");
            }
            return Err(e);
        }
        Ok(out)
    }

    /// Rename a finished tmp layer dir to `dest`, replacing a stray dir a crash left there. The
    /// caller fsyncs `layers/`.
    fn rename_into_layers(&self, from: &Path, dest: &Path) -> Result<()> {
        let ctx = || format!("rename {} to {}", from.display(), dest.display());
        match fs::rename(from, dest) {
            Ok(()) => Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY) | Some(libc::EEXIST)) => {
                // Not in the database (checked under layer_commit), so it is debris.
                if let Some(moved) = self.move_to_trash(dest)? {
                    self.delete_trashed(&[moved])?;
                }
                fs::rename(from, dest).ctx(ctx)
            }
            Err(e) => Err(Error::io(ctx(), e)),
        }
    }

    pub fn layer(&self, chain_id: &Digest) -> Result<Option<LayerRecord>> {
        self.db.with_conn(|c| layer_row(c, chain_id))
    }
    /// The directory to use as an overlay lowerdir for this layer.
    pub fn layer_diff_dir(&self, chain_id: &Digest) -> PathBuf {
        self.layer_dir(chain_id).join("diff")
    }
    pub fn layers(&self) -> Result<Vec<LayerRecord>> {
        self.db.with_conn(all_layers)
    }

    // ---- images and tags ----
    /// Record an image in one transaction: config blob `id` must exist, every layer must be
    /// committed and form a chain (layers[i].parent == layers[i-1].chain_id). Takes one reference
    /// on every layer of the chain. Idempotent: an existing image is returned unchanged.
    pub fn create_image(
        &self,
        id: &Digest,
        manifest: Option<&Digest>,
        layers: &[LayerRecord],
    ) -> Result<ImageRecord> {
        let _guard = self.write_guard();
        if !self.has_blob(id) {
            return Err(Error::BlobNotFound(id.clone()));
        }
        if let Some(m) = manifest {
            if !self.has_blob(m) {
                return Err(Error::BlobNotFound(m.clone()));
            }
        }
        self.db.tx(|tx| {
            if image_row(tx, id)?.is_some() {
                return Ok(());
            }
            let mut size: u64 = 0;
            let mut below: Option<&Digest> = None;
            for (i, given) in layers.iter().enumerate() {
                let stored = layer_row(tx, &given.chain_id)?
                    .ok_or_else(|| Error::LayerNotFound(given.chain_id.clone()))?;
                if stored.parent.as_ref() != below || given.parent.as_ref() != below {
                    return Err(Error::BrokenChain {
                        reason: format!(
                            "layer {i} ({}) sits on {}, but the layer below it is {}",
                            given.chain_id,
                            stored
                                .parent
                                .as_ref()
                                .map_or("nothing".into(), Digest::to_string),
                            below.map_or("nothing".into(), Digest::to_string),
                        ),
                    });
                }
                size += stored.size;
                below = Some(&given.chain_id);
            }
            tx.execute(
                "INSERT INTO images (id, manifest, top_layer, size, added)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, manifest, below, size, now_rfc3339()],
            )?;
            for layer in layers {
                tx.execute(
                    "UPDATE layers SET refcount = refcount + 1 WHERE chain_id = ?1",
                    [&layer.chain_id],
                )?;
            }
            Ok(())
        })?;
        self.image(id)?
            .ok_or_else(|| Error::ImageNotFound(id.clone()))
    }

    pub fn image(&self, id: &Digest) -> Result<Option<ImageRecord>> {
        let conn_result = self.db.with_conn(|c| {
            let Some(row) = image_row(c, id)? else {
                return Ok(None);
            };
            let layers = walk_chain(row.top_layer.as_ref(), |d| Ok(layer_row(c, d)?));
            let tags = strings(
                c,
                "SELECT reference FROM tags WHERE image_id = ?1 ORDER BY reference",
                id,
            )?;
            let digests = strings(
                c,
                "SELECT reference FROM repo_digests WHERE image_id = ?1 ORDER BY reference",
                id,
            )?;
            Ok(Some((row, layers, tags, digests)))
        })?;
        let Some((row, layers, repo_tags, repo_digests)) = conn_result else {
            return Ok(None);
        };
        Ok(Some(image_record(row, layers?, repo_tags, repo_digests)))
    }

    pub fn images(&self) -> Result<Vec<ImageRecord>> {
        let (rows, layers, tags, digests) = self.db.with_conn(|c| {
            let mut st = c.prepare(&format!("SELECT {IMAGE_COLS} FROM images"))?;
            let rows = st
                .query_map([], image_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let layers: HashMap<Digest, LayerRecord> = all_layers(c)?
                .into_iter()
                .map(|l| (l.chain_id.clone(), l))
                .collect();
            let tags = grouped(c, "SELECT image_id, reference FROM tags ORDER BY reference")?;
            let digests = grouped(
                c,
                "SELECT image_id, reference FROM repo_digests ORDER BY reference",
            )?;
            Ok((rows, layers, tags, digests))
        })?;
        let mut tags = tags;
        let mut digests = digests;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let chain = walk_chain(row.top_layer.as_ref(), |d| Ok(layers.get(d).cloned()))?;
            let t = tags.remove(&row.id).unwrap_or_default();
            let d = digests.remove(&row.id).unwrap_or_default();
            out.push(image_record(row, chain, t, d));
        }
        // Newest first, as `docker images` lists them.
        out.sort_by(|a, b| b.added.cmp(&a.added).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Resolve user input to an image ID: a full ID (`sha256:<hex>` or `<hex>`), a unique ID
    /// prefix of at least 1 hex char (Docker accepts short IDs), `name[:tag]`, or `name@digest`.
    /// Returns Ok(None) when nothing matches; `Error::AmbiguousId` when a prefix matches several.
    ///
    /// Order, as Docker: full ID, then reference (default tag `latest`), then ID prefix. Input
    /// that is neither a valid reference nor a hex prefix gives the reference's parse error.
    pub fn resolve(&self, input: &str) -> Result<Option<Digest>> {
        let hex_part = input.strip_prefix("sha256:").unwrap_or(input);
        if is_sha256_hex(hex_part) {
            let id = Digest::from_hex(hex_part)?;
            let found = self.db.with_conn(|c| image_row(c, &id))?.is_some();
            return Ok(found.then_some(id));
        }
        match Reference::parse(input) {
            Ok(r) => {
                if let Some(id) = self.lookup_reference(&r.with_default_tag())? {
                    return Ok(Some(id));
                }
            }
            Err(e) if !is_lower_hex(hex_part) => return Err(e),
            Err(_) => {}
        }
        if !is_lower_hex(hex_part) {
            return Ok(None);
        }
        let pattern = format!("sha256:{hex_part}%");
        let ids: Vec<Digest> = self.db.with_conn(|c| {
            let mut st = c.prepare("SELECT id FROM images WHERE id LIKE ?1 LIMIT 2")?;
            let rows = st.query_map([&pattern], |r| r.get(0))?;
            rows.collect()
        })?;
        match ids.len() {
            0 => Ok(None),
            1 => Ok(ids.into_iter().next()),
            _ => Err(Error::AmbiguousId(input.to_string())),
        }
    }

    fn lookup_reference(&self, r: &Reference) -> Result<Option<Digest>> {
        let (sql, key) = match &r.digest {
            Some(d) => (
                "SELECT image_id FROM repo_digests WHERE reference = ?1",
                format!("{}@{d}", r.name),
            ),
            None => (
                "SELECT image_id FROM tags WHERE reference = ?1",
                r.to_string(),
            ),
        };
        self.db
            .with_conn(|c| c.query_row(sql, [&key], |row| row.get(0)).optional())
    }

    /// Point `reference` (a tag) at `id`, moving it from any other image.
    pub fn tag(&self, id: &Digest, reference: &Reference) -> Result<()> {
        if reference.digest.is_some() {
            return Err(Error::TagWithDigest(reference.to_string()));
        }
        let key = reference.clone().with_default_tag().to_string();
        self.db.tx(|tx| {
            if image_row(tx, id)?.is_none() {
                return Err(Error::ImageNotFound(id.clone()));
            }
            tx.execute(
                "INSERT INTO tags (reference, image_id) VALUES (?1, ?2)
                 ON CONFLICT (reference) DO UPDATE SET image_id = excluded.image_id",
                params![key, id],
            )?;
            Ok(())
        })
    }

    /// Remove a tag or digest reference; returns the image it pointed at.
    pub fn untag(&self, reference: &Reference) -> Result<Option<Digest>> {
        let (table, key) = match &reference.digest {
            Some(d) => ("repo_digests", format!("{}@{d}", reference.name)),
            None => ("tags", reference.clone().with_default_tag().to_string()),
        };
        self.db.tx(|tx| {
            let id: Option<Digest> = tx
                .query_row(
                    &format!("SELECT image_id FROM {table} WHERE reference = ?1"),
                    [&key],
                    |r| r.get(0),
                )
                .optional()?;
            tx.execute(&format!("DELETE FROM {table} WHERE reference = ?1"), [&key])?;
            Ok(id)
        })
    }

    /// Record `name@sha256:...` for image `id` (the reference must carry a digest).
    pub fn add_repo_digest(&self, id: &Digest, reference: &Reference) -> Result<()> {
        let Some(d) = &reference.digest else {
            return Err(Error::InvalidReference {
                input: reference.to_string(),
                reason: "a repository digest needs @sha256:<digest>",
            });
        };
        let key = format!("{}@{d}", reference.name);
        self.db.tx(|tx| {
            if image_row(tx, id)?.is_none() {
                return Err(Error::ImageNotFound(id.clone()));
            }
            tx.execute(
                "INSERT INTO repo_digests (reference, image_id) VALUES (?1, ?2)
                 ON CONFLICT (reference) DO UPDATE SET image_id = excluded.image_id",
                params![key, id],
            )?;
            Ok(())
        })
    }

    /// Delete an image record and its tags/digests in one transaction, drop its layer references,
    /// then remove layers whose count reached zero and blobs nothing references any more.
    /// Returns the layer ChainIDs removed.
    ///
    /// While a `WriteGuard` is held elsewhere (a pull or load in progress) the layers whose count
    /// reached zero stay recorded and nothing is removed from disk: the running operation may be
    /// about to reuse them. The next `gc` (or `delete_image`) reclaims them.
    pub fn delete_image(&self, id: &Digest) -> Result<Vec<Digest>> {
        let sweep = self.gc_lock.try_sweep();
        let (row, removed) = self.db.tx(|tx| {
            let row = image_row(tx, id)?.ok_or_else(|| Error::ImageNotFound(id.clone()))?;
            let chain = walk_chain(row.top_layer.as_ref(), |d| Ok(layer_row(tx, d)?))?;
            tx.execute("DELETE FROM tags WHERE image_id = ?1", [id])?;
            tx.execute("DELETE FROM repo_digests WHERE image_id = ?1", [id])?;
            tx.execute("DELETE FROM images WHERE id = ?1", [id])?;
            let mut removed = Vec::new();
            for layer in &chain {
                tx.execute(
                    "UPDATE layers SET refcount = refcount - 1
                     WHERE chain_id = ?1 AND refcount > 0",
                    [&layer.chain_id],
                )?;
            }
            if sweep.is_some() {
                for layer in chain.iter().rev() {
                    let n = tx.execute(
                        "DELETE FROM layers WHERE chain_id = ?1 AND refcount = 0",
                        [&layer.chain_id],
                    )?;
                    if n == 1 {
                        removed.push(layer.clone());
                    }
                }
            }
            Ok((row, removed))
        })?;
        let Some(_sweep) = sweep else {
            tracing::debug!(image = %id, "writer active: leaving unreferenced files for gc");
            return Ok(Vec::new());
        };
        let mut errors = Errors::default();
        // Every dir out of layers/ at once (a rename each), then all deleted together.
        let mut doomed = Vec::new();
        for layer in &removed {
            match self.move_to_trash(&self.layer_dir(&layer.chain_id)) {
                Ok(moved) => doomed.extend(moved),
                Err(e) => errors.push(e),
            }
        }
        if let Err(e) = self.delete_trashed(&doomed) {
            errors.push(e);
        }
        let mut candidates = vec![row.id.clone()];
        candidates.extend(row.manifest.clone());
        candidates.extend(removed.iter().map(|l| l.blob.clone()));
        if let Err(e) = self.sweep_blobs(&candidates, &mut errors) {
            errors.push(e);
        }
        errors.into_result()?;
        Ok(removed.into_iter().map(|l| l.chain_id).collect())
    }

    /// Remove each candidate blob nothing refers to. Caller holds the sweep lock.
    fn sweep_blobs(
        &self,
        candidates: &[Digest],
        errors: &mut Errors,
    ) -> Result<(Vec<Digest>, u64)> {
        let referenced = self.referenced_blobs()?;
        let mut removed = Vec::new();
        let mut freed = 0;
        let mut seen = HashSet::new();
        for d in candidates {
            if referenced.contains(d) || !seen.insert(d.clone()) {
                continue;
            }
            let path = self.blob_path(d);
            let size = match fs::symlink_metadata(&path) {
                Ok(m) => m.len(),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    errors.push(Error::io(format!("stat {}", path.display()), e));
                    continue;
                }
            };
            match fs::remove_file(&path) {
                Ok(()) => {
                    removed.push(d.clone());
                    freed += size;
                }
                Err(e) => errors.push(Error::io(format!("remove {}", path.display()), e)),
            }
        }
        Ok((removed, freed))
    }

    /// Every blob an image (config, manifest), a layer or a `blob_refs` owner refers to.
    fn referenced_blobs(&self) -> Result<HashSet<Digest>> {
        self.db.with_conn(|c| {
            let mut st = c.prepare(
                "SELECT id FROM images
                 UNION SELECT manifest FROM images WHERE manifest IS NOT NULL
                 UNION SELECT blob FROM layers
                 UNION SELECT blob FROM blob_refs",
            )?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            let mut set = HashSet::new();
            for s in rows {
                // A malformed row refers to no file we could name; skip it.
                if let Ok(d) = Digest::parse(&s?) {
                    set.insert(d);
                }
            }
            Ok(set)
        })
    }

    // ---- maintenance ----
    /// Remove every layer with no references and every blob that no image (config, manifest) or
    /// layer refers to, except blobs/layers held by an operation in progress.
    ///
    /// Waits until no `WriteGuard` is held.
    pub fn gc(&self) -> Result<GcReport> {
        let _sweep = self.gc_lock.sweep();
        let unused: Vec<LayerRecord> = self.db.tx(|tx| {
            let mut st = tx.prepare(&format!(
                "SELECT {LAYER_COLS} FROM layers WHERE refcount <= 0"
            ))?;
            let rows = st
                .query_map([], layer_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            tx.execute("DELETE FROM layers WHERE refcount <= 0", [])?;
            Ok(rows)
        })?;
        let mut errors = Errors::default();
        let mut report = GcReport::default();
        let mut doomed = Vec::new();
        for layer in unused {
            match self.move_to_trash(&self.layer_dir(&layer.chain_id)) {
                Ok(moved) => {
                    doomed.extend(moved);
                    report.bytes_freed += layer.size;
                    report.layers_removed.push(layer.chain_id);
                }
                Err(e) => errors.push(e),
            }
        }
        if let Err(e) = self.delete_trashed(&doomed) {
            errors.push(e);
        }
        // Dirs a failed removal or a crash left behind.
        match self.remove_stray_layer_dirs() {
            Ok(paths) => {
                for p in paths {
                    tracing::info!(path = %p.display(), "gc removed unrecorded layer dir");
                }
            }
            Err(e) => errors.push(e),
        }
        let mut candidates = Vec::new();
        for name in dir_names(&self.blobs_dir())? {
            match Digest::from_hex(&name) {
                Ok(d) => candidates.push(d),
                Err(_) => tracing::warn!(name, "gc: leaving unexpected file in blobs/sha256"),
            }
        }
        let (blobs, freed) = self.sweep_blobs(&candidates, &mut errors)?;
        report.blobs_removed = blobs;
        report.bytes_freed += freed;
        errors.into_result()?;
        Ok(report)
    }

    pub fn disk_usage(&self) -> Result<DiskUsage> {
        let layers_size = self.db.with_conn(|c| {
            c.query_row("SELECT COALESCE(SUM(size), 0) FROM layers", [], |r| {
                r.get(0)
            })
        })?;
        let images = self.images()?;
        let mut users: HashMap<&Digest, usize> = HashMap::new();
        for image in &images {
            for layer in &image.layers {
                *users.entry(&layer.chain_id).or_default() += 1;
            }
        }
        let usage = images
            .iter()
            .map(|image| {
                let shared_size = image
                    .layers
                    .iter()
                    .filter(|l| users.get(&l.chain_id).copied().unwrap_or(0) > 1)
                    .map(|l| l.size)
                    .sum();
                ImageUsage {
                    id: image.id.clone(),
                    size: image.size,
                    shared_size,
                    unique_size: image.size - shared_size,
                }
            })
            .collect();
        Ok(DiskUsage {
            layers_size,
            images: usage,
        })
    }

    /// Re-hash every blob, check every recorded layer dir exists and is complete, every image's
    /// config/manifest/layers exist, and report dirs/rows that do not belong. Read-only.
    pub fn check(&self) -> Result<Vec<CheckProblem>> {
        let mut problems = Vec::new();
        let mut report = |message: String| problems.push(CheckProblem { message });

        let blobs_dir = self.blobs_dir();
        for name in dir_names(&blobs_dir)? {
            let Ok(expected) = Digest::from_hex(&name) else {
                report(format!(
                    "unexpected file {} in the blob store",
                    blobs_dir.join(&name).display()
                ));
                continue;
            };
            match hash_file(&blobs_dir.join(&name)) {
                Ok(actual) if actual == expected => {}
                Ok(actual) => report(format!("blob {expected} has digest {actual}")),
                Err(e) => report(format!("blob {expected} cannot be read: {e}")),
            }
        }

        let layers = self.layers()?;
        let by_id: HashMap<&Digest, &LayerRecord> =
            layers.iter().map(|l| (&l.chain_id, l)).collect();
        for layer in &layers {
            let diff = self.layer_diff_dir(&layer.chain_id);
            if !diff.is_dir() {
                report(format!(
                    "layer {}: directory {} is missing",
                    layer.chain_id,
                    diff.display()
                ));
            }
            if !self.has_blob(&layer.blob) {
                report(format!(
                    "layer {}: blob {} is missing",
                    layer.chain_id, layer.blob
                ));
            }
        }
        let layers_dir = self.layers_dir();
        for name in dir_names(&layers_dir)? {
            let known = Digest::from_hex(&name).is_ok_and(|d| by_id.contains_key(&d));
            if !known {
                report(format!(
                    "layer directory {} is not recorded in the database",
                    layers_dir.join(&name).display()
                ));
            }
        }

        let (rows, refcounts) = self.db.with_conn(|c| {
            let mut st = c.prepare(&format!("SELECT {IMAGE_COLS} FROM images ORDER BY id"))?;
            let rows = st
                .query_map([], image_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut st = c.prepare("SELECT chain_id, refcount FROM layers")?;
            let counts = st
                .query_map([], |r| Ok((r.get::<_, Digest>(0)?, r.get::<_, i64>(1)?)))?
                .collect::<rusqlite::Result<HashMap<_, _>>>()?;
            Ok((rows, counts))
        })?;
        let mut users: HashMap<Digest, i64> = HashMap::new();
        for row in &rows {
            if !self.has_blob(&row.id) {
                report(format!("image {}: config blob is missing", row.id));
            }
            if let Some(m) = &row.manifest {
                if !self.has_blob(m) {
                    report(format!("image {}: manifest blob {m} is missing", row.id));
                }
            }
            match walk_chain(row.top_layer.as_ref(), |d| {
                Ok(by_id.get(d).map(|l| (*l).clone()))
            }) {
                Ok(chain) => {
                    let sum: u64 = chain.iter().map(|l| l.size).sum();
                    if sum != row.size {
                        report(format!(
                            "image {}: recorded size {} differs from its layers' {sum}",
                            row.id, row.size
                        ));
                    }
                    for l in chain {
                        *users.entry(l.chain_id).or_default() += 1;
                    }
                }
                Err(e) => report(format!("image {}: {e}", row.id)),
            }
        }
        for (chain, count) in &refcounts {
            let used = users.get(chain).copied().unwrap_or(0);
            if used != *count {
                report(format!(
                    "layer {chain}: refcount is {count} but {used} image(s) use it"
                ));
            }
        }

        let tmp = self.tmp_dir();
        for name in dir_names(&tmp)? {
            report(format!(
                "leftover {} in the temp dir",
                tmp.join(name).display()
            ));
        }
        Ok(problems)
    }
}

fn image_record(
    row: ImageRow,
    layers: Vec<LayerRecord>,
    repo_tags: Vec<String>,
    repo_digests: Vec<String>,
) -> ImageRecord {
    ImageRecord {
        id: row.id,
        manifest: row.manifest,
        size: layers.iter().map(|l| l.size).sum(),
        layers,
        repo_tags,
        repo_digests,
        added: row.added,
    }
}

fn strings(c: &Connection, sql: &str, id: &Digest) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare(sql)?;
    let rows = st.query_map([id], |r| r.get(0))?;
    rows.collect()
}

fn grouped(c: &Connection, sql: &str) -> rusqlite::Result<HashMap<Digest, Vec<String>>> {
    let mut st = c.prepare(sql)?;
    let mut map: HashMap<Digest, Vec<String>> = HashMap::new();
    let rows = st.query_map([], |r| Ok((r.get::<_, Digest>(0)?, r.get::<_, String>(1)?)))?;
    for row in rows {
        let (id, reference) = row?;
        map.entry(id).or_default().push(reference);
    }
    Ok(map)
}

fn hash_file(path: &Path) -> io::Result<Digest> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(Digest::from_sha256(hasher))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    #[test]
    fn writer_guards_nest_while_a_sweep_waits() {
        let lock = Arc::new(GcLock::default());
        let outer = WriteGuard::new(&lock);
        let swept = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let sweeper = scope.spawn(|| {
                let _s = lock.sweep();
                swept.store(true, Ordering::SeqCst);
            });
            std::thread::sleep(Duration::from_millis(100));
            // A std RwLock would deadlock here: a writer is queued behind our read guard.
            let inner = WriteGuard::new(&lock);
            assert!(lock.try_sweep().is_none());
            drop(inner);
            assert!(
                !swept.load(Ordering::SeqCst),
                "sweep ran while a writer was active"
            );
            drop(outer);
            sweeper.join().unwrap();
        });
        assert!(swept.load(Ordering::SeqCst));
        assert!(lock.try_sweep().is_some());
    }

    #[test]
    fn handles_can_be_shared_across_threads() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<Store>();
        send::<BlobWriter>();
        send_sync::<WriteGuard>();
    }

    #[test]
    fn chain_id_formula() {
        let diff = Digest::of(b"layer");
        assert_eq!(chain_id(None, &diff), diff);
        let parent = Digest::of(b"parent");
        assert_eq!(
            chain_id(Some(&parent), &diff),
            Digest::of(format!("{} {}", parent.as_str(), diff.as_str()).as_bytes())
        );
    }
}
