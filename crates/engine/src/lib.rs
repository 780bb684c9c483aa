#![recursion_limit = "256"]
//! berth-engine: the daemon's state and every operation the API can ask for. It owns the image
//! store handle, the event bus and (in later work) containers, networks and volumes.
//!
//! Requests enter as typed calls (no HTTP types here: the `api` crate translates), data leaves as
//! serde values shaped like the Docker Engine API's responses, byte streams (archives), and
//! `Error`s whose `kind()` tells the API which status to use. Engine calls do blocking I/O; the API
//! runs them on tokio's blocking pool.

pub mod archive;
mod attach_lock;
pub mod build;
pub mod changes;
pub mod config;
pub mod container_fs;
pub mod containers;
pub mod distribution;
pub mod error;
pub mod events;
pub mod exec;
pub mod filters;
pub mod images;
pub mod lifecycle;
pub mod logs;
pub mod names;
pub mod network;
pub mod ops;
pub mod overlay;
pub mod restart;
pub mod shim;
pub mod stats;
pub mod system;
pub mod volumes;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use berth_store::{Digest, Store};

pub use config::ImageConfig;
pub use error::{Error, ErrorKind, Result};
pub use events::{Event, EventBus};
pub use filters::Filters;
pub use lifecycle::WaitCondition;

/// Settings the daemon was started with.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub root: PathBuf,
    pub exec_root: PathBuf,
    /// Registries spoken to over plain HTTP besides loopback (`--insecure-registry`).
    pub insecure_registries: Vec<String>,
    /// The network namespace containers see as the host (`--network-namespace`); `None` is
    /// the daemon's own.
    pub network_namespace: Option<PathBuf>,
}

pub struct Engine {
    pub config: EngineConfig,
    pub(crate) insecure_registries: Vec<String>,
    pub store: Store,
    pub events: EventBus,
    pub containers: containers::Containers,
    started: chrono::DateTime<chrono::Utc>,
    /// Parsed image configs by image ID; configs are immutable, so entries never go stale.
    configs: Mutex<HashMap<Digest, Arc<ImageConfig>>>,
    /// Bumped on every container state change; `wait` and `logs --follow` watch it.
    pub(crate) changes: tokio::sync::watch::Sender<u64>,
    /// Serialises start and exit handling per container.
    pub(crate) op_locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// Exec instances by ID (in memory, as Docker keeps them).
    pub(crate) execs: Mutex<HashMap<String, exec::ExecInstance>>,
    pub(crate) networks: network::Networks,
}

impl Engine {
    /// Open (or create) the engine state under `config.root`.
    pub fn open(config: EngineConfig) -> Result<Engine> {
        for dir in [&config.root, &config.exec_root] {
            std::fs::create_dir_all(dir)
                .map_err(Error::io(format!("creating {}", dir.display())))?;
        }
        let store = Store::open(&config.root.join("image"))?;
        // Blobs and layers of an operation cut short by a crash are referenced by no image:
        // collect them before serving.
        let report = store.gc()?;
        if !report.blobs_removed.is_empty() || !report.layers_removed.is_empty() {
            tracing::info!(
                blobs = report.blobs_removed.len(),
                layers = report.layers_removed.len(),
                bytes = report.bytes_freed,
                "removed leftovers of interrupted operations"
            );
        }
        let containers = containers::Containers::load(&store)?;
        // Work directories of builds a crash cut short, and directories of deleted containers
        // whose background removal a crash cut short.
        let _ = std::fs::remove_dir_all(config.root.join("build"));
        let _ = std::fs::remove_dir_all(config.root.join(containers::TRASH_DIR));
        let engine = Engine {
            insecure_registries: config.insecure_registries.clone(),
            config,
            containers,
            store,
            events: EventBus::default(),
            started: chrono::Utc::now(),
            configs: Mutex::new(HashMap::new()),
            changes: tokio::sync::watch::channel(0).0,
            op_locks: Mutex::new(HashMap::new()),
            execs: Mutex::new(HashMap::new()),
            networks: network::Networks::default(),
        };
        engine.init_build_cache()?;
        engine.init_networks()?;
        Ok(engine)
    }

    pub fn root(&self) -> &Path {
        &self.config.root
    }

    pub fn started(&self) -> chrono::DateTime<chrono::Utc> {
        self.started
    }

    /// The parsed config of a stored image.
    pub fn image_config(&self, id: &Digest) -> Result<Arc<ImageConfig>> {
        if let Some(c) = self
            .configs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
        {
            return Ok(c.clone());
        }
        let bytes = self.store.read_blob(id)?;
        let parsed = Arc::new(ImageConfig::parse(&bytes, id)?);
        self.configs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), parsed.clone());
        Ok(parsed)
    }

    pub(crate) fn forget_config(&self, id: &Digest) {
        self.configs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    pub fn publish(&self, typ: &str, action: &str, id: &str, attrs: &[(&str, &str)]) {
        self.events.publish(Event::new(typ, action, id, attrs));
    }
}
