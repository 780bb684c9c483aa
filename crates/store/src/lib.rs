//! berth-store: the image store. It owns everything under `--root` that describes images:
//! content-addressed blobs (`blobs/sha256/<hex>`), unpacked layer snapshots shared by ChainID
//! (`layers/<chain-hex>/diff`, each holding one layer's own changes in overlayfs form, ready to be
//! stacked as a lowerdir), and the metadata database (`berth.db`, SQLite in WAL mode) that records
//! images, tags, layers and their reference counts.
//!
//! Work in progress lives in `tmp/` (blob files being written, layers being unpacked; emptied at
//! open); removed layer dirs are first renamed into `trash/` (so they vanish at once) and then
//! deleted on a few threads (`trash/` is emptied at open too).
//!
//! Data enters as byte streams (blobs) and layer tarballs; it leaves as file paths, records and
//! disk-usage figures. A layer that arrives as a stream is read once: `prepare_layer_from_stream`
//! stores the blob and unpacks it from the same bytes, `commit_layers` makes a batch of such
//! layers durable with one `syncfs` and records them. This crate never speaks HTTP and never interprets image configs beyond
//! what it is told; callers (the engine) parse configs and manifests.
//!
//! It must never write outside its root: layer tarballs are untrusted input (see `unpack`).
//!
//! Concurrency: one `Store` is shared by all threads (`Arc<Store>`). Layers unpack in parallel;
//! an operation that writes blobs/layers and records the image afterwards (pull, load, build)
//! holds `Store::write_guard()` throughout, so `gc` waits and `delete_image` defers its file
//! sweep until it is done. The engine keeps its own tables in the same database through
//! `Store::migrate_extra`, `Store::with_conn` and `Store::with_tx`.

pub mod db;
pub mod digest;
pub mod error;
mod fsutil;
pub mod reference;
pub mod store;
pub mod unpack;

pub use digest::Digest;
pub use error::{Error, Result};
pub use reference::Reference;
pub use store::{
    BlobWriter, CheckProblem, DiskUsage, GcReport, ImageRecord, ImageUsage, LayerRecord,
    PreparedLayer, Store, WriteGuard,
};
