//! Image archives: `load` (docker-archive `manifest.json` and OCI image-layout `index.json`
//! tars), `save` (a docker-archive with an OCI layout inside, as Docker 25+ writes) and `import`
//! (a root filesystem tar becomes a one-layer image).
//!
//! Loading streams the archive once: blobs go straight into the store (digest-verified where the
//! archive names the digest), and a blob that looks like a layer (docker-archive `*/layer.tar`,
//! or `blobs/sha256/*` starting with gzip, zstd or tar magic) is unpacked from the same bytes as
//! it streams (`Store::prepare_layer_from_stream`). The small JSON documents are kept in memory.
//! Once the manifests are parsed, each image's prepared layers are committed on their parent
//! chains in one batch, and any other missing layer is unpacked from its stored blob, in
//! parallel. A failed load removes everything it added.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};

use berth_store::{Digest, LayerRecord, PreparedLayer, Reference};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{changes::apply_changes, Engine, Error, ImageConfig, Result};

const MEDIA_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MEDIA_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MEDIA_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// JSON documents read into memory are capped so a hostile archive cannot exhaust memory.
const MAX_JSON: u64 = 32 << 20;

/// One entry of a docker-archive `manifest.json`.
#[derive(Debug, Deserialize)]
struct ArchiveManifest {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

/// An image found in an archive, before its layers are unpacked.
struct PendingImage {
    config: Digest,
    manifest: Option<Digest>,
    layers: Vec<Digest>,
    tags: Vec<String>,
}

/// What a streamed archive left in the store.
#[derive(Default)]
struct Staged {
    /// Archive path → blob digest, for every regular file stored as a blob.
    files: HashMap<String, Digest>,
    /// Archive path → the path it links to (symlinks resolved relative to their directory).
    links: HashMap<String, String>,
    /// Small JSON documents by archive path.
    docs: HashMap<String, Vec<u8>>,
    /// Layers unpacked while their blobs streamed in, by blob digest, not committed yet.
    /// Whatever no image claims is removed when this is dropped.
    prepared: HashMap<Digest, PreparedLayer>,
}

impl Staged {
    fn blob(&self, path: &str) -> Option<&Digest> {
        let mut p = clean(path)?;
        for _ in 0..16 {
            if let Some(d) = self.files.get(&p) {
                return Some(d);
            }
            p = self.links.get(&p)?.clone();
        }
        None
    }
}

/// Normalize an archive path: no leading `./` or `/`, no `..` escaping the archive root.
fn clean(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str()?),
            Component::ParentDir => {
                parts.pop()?;
            }
            _ => {}
        }
    }
    Some(parts.join("/"))
}

/// `blobs/sha256/<hex>` → the digest it names.
fn blob_path_digest(path: &str) -> Option<Digest> {
    let hex = path.strip_prefix("blobs/sha256/")?;
    Digest::parse(&format!("sha256:{hex}")).ok()
}

/// `<hex>.json` at the top of a legacy docker-archive → the config digest it names.
fn legacy_config_digest(path: &str) -> Option<Digest> {
    let hex = path.strip_suffix(".json")?;
    if hex.contains('/') {
        return None;
    }
    Digest::parse(&format!("sha256:{hex}")).ok()
}

pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

impl Engine {
    /// `POST /images/load`. Returns the lines Docker prints (`Loaded image: busybox:latest`).
    pub fn load_images(&self, input: impl Read) -> Result<Vec<String>> {
        let mut input = input;
        let guard = self.store.write_guard();
        let result = self.load_inner(&mut input);
        drop(guard);
        if result.is_err() {
            drain(&mut input);
            // Take back what this load added: nothing it stored is referenced by an image, so
            // the collector removes exactly that (plus any other garbage).
            if let Err(e) = self.store.gc() {
                tracing::warn!(error = %e, "cleanup after failed load");
            }
        }
        result
    }

    fn load_inner(&self, input: impl Read) -> Result<Vec<String>> {
        let started = std::time::Instant::now();
        let staged = self.stage_archive(input)?;
        tracing::debug!(
            ms = started.elapsed().as_millis() as u64,
            layers = staged.prepared.len(),
            "archive read"
        );
        let pending = if let Some(m) = staged.docs.get("manifest.json") {
            self.docker_manifest_images(&staged, m)?
        } else if let Some(idx) = staged.docs.get("index.json") {
            self.oci_index_images(&staged, idx)?
        } else {
            return Err(Error::InvalidArchive(
                "no manifest.json or index.json found: not a docker-archive or OCI layout".into(),
            ));
        };
        if pending.is_empty() {
            return Err(Error::InvalidArchive("the archive holds no image".into()));
        }
        let mut staged = staged;
        let mut lines = Vec::new();
        for p in pending {
            lines.extend(self.commit_pending(p, &mut staged.prepared)?);
        }
        tracing::debug!(ms = started.elapsed().as_millis() as u64, "images loaded");
        Ok(lines)
    }

    /// Stream the archive: blobs into the store, JSON documents into memory.
    fn stage_archive(&self, input: impl Read) -> Result<Staged> {
        let mut archive = tar::Archive::new(BufReader::with_capacity(1 << 20, input));
        let mut staged = Staged::default();
        let entries = archive
            .entries()
            .map_err(|e| Error::InvalidArchive(e.to_string()))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| Error::InvalidArchive(e.to_string()))?;
            let raw = entry
                .path()
                .map_err(|e| Error::InvalidArchive(e.to_string()))?
                .to_string_lossy()
                .into_owned();
            let Some(path) = clean(&raw) else {
                return Err(Error::InvalidArchive(format!(
                    "entry {raw} escapes the archive"
                )));
            };
            let kind = entry.header().entry_type();
            if kind.is_symlink() || kind.is_hard_link() {
                let target = entry
                    .link_name()
                    .map_err(|e| Error::InvalidArchive(e.to_string()))?
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let resolved = if kind.is_symlink() && !target.starts_with('/') {
                    let dir = Path::new(&path).parent().unwrap_or(Path::new(""));
                    clean(&dir.join(&target).to_string_lossy())
                } else {
                    clean(&target)
                };
                if let Some(t) = resolved {
                    staged.links.insert(path, t);
                }
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            let what = format!("archive file {path}");
            if matches!(
                path.as_str(),
                "manifest.json" | "index.json" | "repositories" | "oci-layout"
            ) {
                let mut buf = Vec::new();
                entry
                    .by_ref()
                    .take(MAX_JSON + 1)
                    .read_to_end(&mut buf)
                    .map_err(|e| Error::InvalidArchive(format!("{what}: {e}")))?;
                if buf.len() as u64 > MAX_JSON {
                    return Err(Error::InvalidArchive(format!("{what} is too large")));
                }
                staged.docs.insert(path, buf);
                continue;
            }
            let in_blobs = blob_path_digest(&path);
            let expected = in_blobs.clone().or_else(|| legacy_config_digest(&path));
            // docker-archive `<id>/layer.tar`; podman's writes `<diff-id>.tar` at the top.
            let is_layer = path.ends_with("/layer.tar")
                || path.ends_with("/layer.tar.gz")
                || (path.ends_with(".tar") && !path.contains('/'));
            if expected.is_none() && !is_layer {
                continue; // legacy `<id>/json`, `<id>/VERSION`: not needed
            }
            if let Some(d) = &expected {
                if self.store.has_blob(d) || staged.prepared.contains_key(d) {
                    staged.files.insert(path, d.clone());
                    continue;
                }
            }
            // The first bytes tell a layer from a config or manifest; they are put back in
            // front of the rest of the entry.
            let size = entry.size();
            let mut head = Vec::with_capacity(512);
            (&mut entry)
                .take(512)
                .read_to_end(&mut head)
                .map_err(|e| Error::InvalidArchive(format!("{what}: {e}")))?;
            if is_layer || (in_blobs.is_some() && berth_store::unpack::looks_like_layer(&head)) {
                let mut src = CountingReader {
                    inner: std::io::Cursor::new(head).chain(&mut entry),
                    count: 0,
                    failed: None,
                };
                match self
                    .store
                    .prepare_layer_from_stream(&mut src, expected.as_ref())
                {
                    Ok(layer) => {
                        let digest = layer.blob().clone();
                        staged.files.insert(path, digest.clone());
                        // The same blob twice (two docker-archive dirs): keep the first.
                        staged.prepared.entry(digest).or_insert(layer);
                    }
                    Err(e) => {
                        // Whatever the store left unread: was the archive cut short here?
                        let _ = std::io::copy(&mut src, &mut std::io::sink());
                        if let Some(read_error) = src.failed {
                            return Err(Error::InvalidArchive(format!("{what}: {read_error}")));
                        }
                        if src.count < size {
                            // The archive ends inside this entry: reading on reports it.
                            continue;
                        }
                        match &e {
                            // Not a layer this store accepts, but a sound blob, which the
                            // store kept: the load fails only if an image uses it as a layer
                            // (unpacking it then gives this error again).
                            berth_store::Error::UnsafeLayerEntry { blob, .. }
                            | berth_store::Error::CorruptLayer { blob, .. }
                                if self.store.has_blob(blob) =>
                            {
                                staged.files.insert(path, blob.clone());
                            }
                            _ => return Err(e.into()),
                        }
                    }
                }
                continue;
            }
            let mut w = self.store.blob_writer()?;
            w.write_all(&head)
                .map_err(Error::io(format!("write blob for {what}")))?;
            std::io::copy(&mut entry, &mut w)
                .map_err(|e| Error::InvalidArchive(format!("{what}: {e}")))?;
            let (digest, _) = w.commit(expected.as_ref())?;
            staged.files.insert(path, digest);
        }
        Ok(staged)
    }

    fn docker_manifest_images(&self, staged: &Staged, doc: &[u8]) -> Result<Vec<PendingImage>> {
        let list: Vec<ArchiveManifest> = serde_json::from_slice(doc)
            .map_err(|e| Error::InvalidArchive(format!("manifest.json: {e}")))?;
        list.into_iter()
            .map(|m| {
                let config =
                    staged
                        .blob(&m.config)
                        .cloned()
                        .ok_or_else(|| Error::MissingInArchive {
                            what: "image config".into(),
                            file: m.config.clone(),
                        })?;
                let layers = m
                    .layers
                    .iter()
                    .map(|l| {
                        staged
                            .blob(l)
                            .cloned()
                            .ok_or_else(|| Error::MissingInArchive {
                                what: "layer".into(),
                                file: l.clone(),
                            })
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(PendingImage {
                    config,
                    manifest: None,
                    layers,
                    tags: m.repo_tags.unwrap_or_default(),
                })
            })
            .collect()
    }

    fn oci_index_images(&self, staged: &Staged, doc: &[u8]) -> Result<Vec<PendingImage>> {
        let index: Value = serde_json::from_slice(doc)
            .map_err(|e| Error::InvalidArchive(format!("index.json: {e}")))?;
        let mut out: Vec<PendingImage> = Vec::new();
        self.walk_index(staged, &index, None, &mut out, 0)?;
        // One image may be named by several descriptors: merge their tags.
        let mut merged: Vec<PendingImage> = Vec::new();
        for p in out {
            match merged.iter_mut().find(|m| m.config == p.config) {
                Some(m) => m.tags.extend(p.tags),
                None => merged.push(p),
            }
        }
        Ok(merged)
    }

    fn walk_index(
        &self,
        staged: &Staged,
        index: &Value,
        inherited_name: Option<String>,
        out: &mut Vec<PendingImage>,
        depth: usize,
    ) -> Result<()> {
        if depth > 4 {
            return Err(Error::InvalidArchive(
                "image indexes nested too deep".into(),
            ));
        }
        let manifests = index
            .get("manifests")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::InvalidArchive("index has no manifests".into()))?;
        for desc in manifests {
            let digest = desc
                .get("digest")
                .and_then(Value::as_str)
                .map(Digest::parse)
                .transpose()?
                .ok_or_else(|| Error::InvalidArchive("descriptor without digest".into()))?;
            if let Some(p) = desc.get("platform") {
                let os = p.get("os").and_then(Value::as_str).unwrap_or("linux");
                let arch = p.get("architecture").and_then(Value::as_str).unwrap_or("");
                if os != "linux" || (arch != host_arch() && arch != "unknown") {
                    continue;
                }
            }
            let ann = desc.get("annotations");
            let ann_str = |k: &str| ann.and_then(|a| a.get(k)).and_then(Value::as_str);
            let name = ann_str("io.containerd.image.name")
                .map(str::to_string)
                .or_else(|| {
                    ann_str("org.opencontainers.image.ref.name")
                        .filter(|r| r.contains(':') || r.contains('/'))
                        .map(str::to_string)
                })
                .or_else(|| inherited_name.clone());
            let file = format!("blobs/sha256/{}", digest.hex());
            if staged.blob(&file).is_none() && !self.store.has_blob(&digest) {
                return Err(Error::MissingInArchive {
                    what: format!("manifest {digest}"),
                    file,
                });
            }
            let bytes = self.store.read_blob(&digest)?;
            let doc: Value = serde_json::from_slice(&bytes)
                .map_err(|e| Error::InvalidArchive(format!("manifest {digest}: {e}")))?;
            let media = desc
                .get("mediaType")
                .and_then(Value::as_str)
                .or_else(|| doc.get("mediaType").and_then(Value::as_str))
                .unwrap_or(MEDIA_MANIFEST);
            if media == MEDIA_INDEX || media == DOCKER_LIST {
                self.walk_index(staged, &doc, name, out, depth + 1)?;
                continue;
            }
            let desc_digest = |v: &Value, what: &str| -> Result<Digest> {
                let d = v.get("digest").and_then(Value::as_str).ok_or_else(|| {
                    Error::InvalidArchive(format!("manifest {digest}: {what} without digest"))
                })?;
                let d = Digest::parse(d)?;
                let file = format!("blobs/sha256/{}", d.hex());
                if staged.blob(&file).is_none() && !self.store.has_blob(&d) {
                    return Err(Error::MissingInArchive {
                        what: format!("{what} of manifest {digest}"),
                        file,
                    });
                }
                Ok(d)
            };
            let config = desc_digest(doc.get("config").unwrap_or(&Value::Null), "config")?;
            let layers = doc
                .get("layers")
                .and_then(Value::as_array)
                .map(|ls| {
                    ls.iter()
                        .map(|l| desc_digest(l, "layer"))
                        .collect::<Result<Vec<_>>>()
                })
                .transpose()?
                .unwrap_or_default();
            let is_oci_or_docker = media == MEDIA_MANIFEST || media == DOCKER_MANIFEST;
            out.push(PendingImage {
                config,
                manifest: is_oci_or_docker.then_some(digest),
                layers,
                tags: name.into_iter().collect(),
            });
        }
        Ok(())
    }

    /// Commit one image's layers (those prepared while the archive streamed, in one batch; the
    /// others unpacked from stored blobs, in parallel), record it and apply its tags.
    fn commit_pending(
        &self,
        p: PendingImage,
        prepared: &mut HashMap<Digest, PreparedLayer>,
    ) -> Result<Vec<String>> {
        let config_bytes = self.store.read_blob(&p.config)?;
        let cfg = ImageConfig::parse(&config_bytes, &p.config)?;
        if cfg.diff_ids.len() != p.layers.len() {
            return Err(Error::InvalidConfig {
                digest: p.config.clone(),
                reason: format!(
                    "{} diff_ids for {} layers",
                    cfg.diff_ids.len(),
                    p.layers.len()
                ),
            });
        }
        let chains = chain_ids(&cfg.diff_ids);
        let mut batch = Vec::new();
        for (i, blob) in p.layers.iter().enumerate() {
            let Some(layer) = prepared.remove(blob) else {
                continue;
            };
            if self.store.layer(&chains[i])?.is_some() {
                // The layer is there already: only the blob is kept (as before, when every
                // blob was stored as it streamed), and only if it is this layer.
                if layer.check_diff_id(&cfg.diff_ids[i]).is_err() {
                    continue;
                }
            } else {
                layer.check_diff_id(&cfg.diff_ids[i])?;
            }
            batch.push((layer, i.checked_sub(1).map(|below| chains[below].clone())));
        }
        self.store.commit_layers(batch)?;
        // Finds the layers just committed; unpacks the rest (blobs stored before this load, or a
        // blob used twice) from the store.
        let layers = self.unpack_layers(&p.layers, &cfg.diff_ids)?;
        let manifest = match p.manifest {
            Some(m) => m,
            None => self.write_manifest(&p.config, config_bytes.len() as u64, &layers)?,
        };
        let rec = self
            .store
            .create_image(&p.config, Some(&manifest), &layers)?;
        let mut lines = Vec::new();
        for t in &p.tags {
            let r = Reference::parse(t)?.with_default_tag();
            let shown = r.to_string();
            if let Some(old) = self.store.resolve(&shown)? {
                if old != rec.id {
                    lines.push(format!(
                        "The image {shown} already exists, renaming the old one with ID {old} to empty string"
                    ));
                }
            }
            self.store.tag(&rec.id, &r)?;
            self.publish("image", "tag", rec.id.as_str(), &[("name", &shown)]);
            lines.push(format!("Loaded image: {shown}"));
        }
        if p.tags.is_empty() {
            lines.push(format!("Loaded image ID: {}", rec.id));
        }
        self.publish("image", "load", rec.id.as_str(), &[]);
        Ok(lines)
    }

    /// Unpack `blobs[i]` with diff ID `diff_ids[i]`, all layers at once on a bounded set of
    /// threads: each layer's snapshot holds only its own diff, so they are independent.
    pub fn unpack_layers(&self, blobs: &[Digest], diff_ids: &[Digest]) -> Result<Vec<LayerRecord>> {
        let chains = chain_ids(diff_ids);
        let jobs: Vec<usize> = (0..blobs.len()).collect();
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .min(blobs.len().max(1));
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results: Vec<std::sync::Mutex<Option<Result<LayerRecord>>>> =
            jobs.iter().map(|_| std::sync::Mutex::new(None)).collect();
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if i >= blobs.len() {
                        break;
                    }
                    let parent = if i == 0 { None } else { Some(&chains[i - 1]) };
                    let r = match self.store.layer(&chains[i]) {
                        Ok(Some(existing)) => Ok(existing),
                        Ok(None) => self
                            .store
                            .unpack_layer(parent, &blobs[i], Some(&diff_ids[i]))
                            .map_err(Error::from),
                        Err(e) => Err(e.into()),
                    };
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = Some(r);
                    }
                });
            }
        });
        results
            .into_iter()
            .map(|m| {
                m.into_inner()
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| Err(Error::Internal("layer unpack thread died".into())))
            })
            .collect()
    }

    /// Write the OCI manifest describing an image's stored blobs.
    pub(crate) fn write_manifest(
        &self,
        config: &Digest,
        config_size: u64,
        layers: &[LayerRecord],
    ) -> Result<Digest> {
        let doc = json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": {"mediaType": MEDIA_CONFIG, "digest": config.as_str(), "size": config_size},
            "layers": layers.iter().map(|l| json!({
                "mediaType": l.media_type, "digest": l.blob.as_str(), "size": l.blob_size,
            })).collect::<Vec<_>>(),
        });
        let bytes = serde_json::to_vec(&doc).map_err(|e| Error::Internal(e.to_string()))?;
        Ok(self.store.put_blob(&bytes, None)?)
    }

    /// `GET /images/{name}/get` and `GET /images/get?names=`: write a docker-archive tar with an
    /// OCI image layout inside to `out`.
    pub fn save_images(&self, names: &[String], out: impl Write) -> Result<()> {
        // Image ID → tags to record, in the order first named.
        let mut order: Vec<Digest> = Vec::new();
        let mut tags: BTreeMap<Digest, Vec<String>> = BTreeMap::new();
        for name in names {
            for (id, tag) in self.save_targets(name)? {
                if !tags.contains_key(&id) {
                    order.push(id.clone());
                }
                let t = tags.entry(id).or_default();
                if let Some(tag) = tag {
                    if !t.contains(&tag) {
                        t.push(tag);
                    }
                }
            }
        }
        let mut tar = tar::Builder::new(out);
        let mut written = std::collections::HashSet::new();
        let mut manifest_json = Vec::new();
        let mut index = Vec::new();
        for dir in ["blobs/", "blobs/sha256/"] {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            h.set_mtime(0);
            tar_append(&mut tar, &mut h, dir, &[][..])?;
        }
        for id in &order {
            let rec = self
                .store
                .image(id)?
                .ok_or_else(|| Error::NoSuchImage(id.to_string()))?;
            let config_size = self.blob_size(&rec.id)?;
            let manifest = match &rec.manifest {
                Some(m) if self.store.has_blob(m) => m.clone(),
                _ => self.write_manifest(&rec.id, config_size, &rec.layers)?,
            };
            let mut blobs = vec![rec.id.clone(), manifest.clone()];
            blobs.extend(rec.layers.iter().map(|l| l.blob.clone()));
            for b in blobs {
                if written.insert(b.clone()) {
                    self.append_blob(&mut tar, &b)?;
                }
            }
            let manifest_size = self.blob_size(&manifest)?;
            let image_tags = &tags[id];
            manifest_json.push(json!({
                "Config": format!("blobs/sha256/{}", rec.id.hex()),
                "RepoTags": if image_tags.is_empty() { Value::Null } else { json!(image_tags) },
                "Layers": rec.layers.iter().map(|l| format!("blobs/sha256/{}", l.blob.hex())).collect::<Vec<_>>(),
            }));
            let desc = |ann: Value| {
                let mut d = json!({"mediaType": MEDIA_MANIFEST, "digest": manifest.as_str(), "size": manifest_size});
                if !ann.is_null() {
                    d["annotations"] = ann;
                }
                d
            };
            if image_tags.is_empty() {
                index.push(desc(Value::Null));
            }
            for t in image_tags {
                let r = Reference::parse(t)?;
                let full = format!(
                    "{}/{}:{}",
                    r.domain(),
                    r.path(),
                    r.tag.clone().unwrap_or_default()
                );
                index.push(desc(json!({
                    "io.containerd.image.name": full,
                    "org.opencontainers.image.ref.name": r.tag.clone().unwrap_or_default(),
                })));
            }
        }
        let docs = [
            ("oci-layout", json!({"imageLayoutVersion": "1.0.0"})),
            (
                "index.json",
                json!({"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": index}),
            ),
            ("manifest.json", json!(manifest_json)),
        ];
        for (name, doc) in docs {
            let bytes = serde_json::to_vec(&doc).map_err(|e| Error::Internal(e.to_string()))?;
            let mut h = tar::Header::new_ustar();
            h.set_mode(0o644);
            h.set_size(bytes.len() as u64);
            h.set_mtime(0);
            tar_append(&mut tar, &mut h, name, &bytes[..])?;
        }
        tar.finish().map_err(Error::io("writing archive"))?;
        Ok(())
    }

    /// What one `save` argument names: a tag, every tag of a repository (`docker save busybox`
    /// saves all `busybox:*`), or an image ID (saved without tags).
    pub fn save_targets(&self, name: &str) -> Result<Vec<(Digest, Option<String>)>> {
        if let Ok(r) = Reference::parse(name) {
            if r.tag.is_none() && r.digest.is_none() {
                let prefix = format!("{}:", r.name);
                let mut found = Vec::new();
                for rec in self.store.images()? {
                    for t in &rec.repo_tags {
                        if t.starts_with(&prefix) && !t[prefix.len()..].contains('/') {
                            found.push((rec.id.clone(), Some(t.clone())));
                        }
                    }
                }
                if !found.is_empty() {
                    return Ok(found);
                }
            }
            let shown = r.clone().with_default_tag().to_string();
            let rec = self.resolve_image(name)?;
            if rec.repo_tags.contains(&shown) {
                return Ok(vec![(rec.id, Some(shown))]);
            }
            return Ok(vec![(rec.id, None)]);
        }
        let rec = self.resolve_image(name)?;
        Ok(vec![(rec.id, None)])
    }

    fn blob_size(&self, d: &Digest) -> Result<u64> {
        let p = self.store.blob_path(d);
        Ok(std::fs::metadata(&p)
            .map_err(Error::io(format!("blob {d}")))?
            .len())
    }

    fn append_blob<W: Write>(&self, tar: &mut tar::Builder<W>, d: &Digest) -> Result<()> {
        let path = self.store.blob_path(d);
        let file = std::fs::File::open(&path).map_err(Error::io(format!("blob {d}")))?;
        let len = file
            .metadata()
            .map_err(Error::io(format!("blob {d}")))?
            .len();
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(len);
        h.set_mtime(0);
        tar_append(tar, &mut h, &format!("blobs/sha256/{}", d.hex()), file)
    }

    /// `POST /images/create?fromSrc=-`: the body is a root filesystem tar (plain, gzip or zstd).
    pub fn import_image(
        &self,
        input: impl Read,
        reference: Option<&str>,
        changes: &[String],
        message: &str,
    ) -> Result<Digest> {
        let mut input = input;
        let parsed = reference
            .filter(|r| !r.is_empty())
            .map(|r| Reference::parse(r).map(Reference::with_default_tag))
            .transpose()
            .map_err(Error::from)
            .and_then(|target| {
                let mut container_config = serde_json::Map::new();
                apply_changes(&mut container_config, changes)?;
                Ok((target, container_config))
            });
        let (target, container_config) = match parsed {
            Ok(p) => p,
            Err(e) => {
                drain(&mut input);
                return Err(e);
            }
        };
        let guard = self.store.write_guard();
        let result = self.import_inner(&mut input, container_config, message, target.as_ref());
        drop(guard);
        if result.is_err() {
            drain(&mut input);
            if let Err(e) = self.store.gc() {
                tracing::warn!(error = %e, "cleanup after failed import");
            }
        }
        result
    }

    fn import_inner(
        &self,
        input: impl Read,
        container_config: serde_json::Map<String, Value>,
        message: &str,
        target: Option<&Reference>,
    ) -> Result<Digest> {
        let mut w = self.store.blob_writer()?;
        let mut reader = BufReader::with_capacity(1 << 20, input);
        std::io::copy(&mut reader, &mut w).map_err(Error::io("reading import stream"))?;
        let (blob, _) = w.commit(None)?;
        let layer = self.store.unpack_layer(None, &blob, None)?;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let comment = if message.is_empty() {
            "Imported from -".to_string()
        } else {
            message.to_string()
        };
        let config = json!({
            "architecture": host_arch(),
            "os": "linux",
            "created": now,
            "config": Value::Object(container_config),
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id.as_str()]},
            "history": [{"created": now, "comment": comment}],
        });
        let bytes = serde_json::to_vec(&config).map_err(|e| Error::Internal(e.to_string()))?;
        let id = self.store.put_blob(&bytes, None)?;
        let manifest =
            self.write_manifest(&id, bytes.len() as u64, std::slice::from_ref(&layer))?;
        let rec = self.store.create_image(&id, Some(&manifest), &[layer])?;
        if let Some(r) = target {
            self.store.tag(&rec.id, r)?;
            self.publish("image", "tag", rec.id.as_str(), &[("name", &r.to_string())]);
        }
        self.publish("image", "import", rec.id.as_str(), &[]);
        Ok(rec.id)
    }
}

/// Counts what is read through it and keeps the first read error, to tell an archive that ends
/// (or breaks) inside an entry from a bad entry.
struct CountingReader<R> {
    inner: R,
    count: u64,
    failed: Option<String>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.count += n as u64;
                Ok(n)
            }
            Err(e) => {
                if e.kind() != std::io::ErrorKind::Interrupted && self.failed.is_none() {
                    self.failed = Some(e.to_string());
                }
                Err(e)
            }
        }
    }
}

/// Read what is left of a failed upload, so the client finishes sending and reads the error
/// response instead of seeing a reset connection.
fn drain(input: &mut impl Read) {
    let _ = std::io::copy(input, &mut std::io::sink());
}

fn tar_append<W: Write>(
    tar: &mut tar::Builder<W>,
    header: &mut tar::Header,
    path: &str,
    data: impl Read,
) -> Result<()> {
    tar.append_data(header, PathBuf::from(path), data)
        .map_err(Error::io(format!("writing {path} to archive")))
}

/// ChainIDs for a list of diff IDs (OCI image spec: ChainID(n) = sha256(ChainID(n-1) + " " + DiffID(n))).
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(parent) => Digest::of(format!("{parent} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned() {
        assert_eq!(
            clean("./blobs/sha256/ab").as_deref(),
            Some("blobs/sha256/ab")
        );
        assert_eq!(clean("a/../b").as_deref(), Some("b"));
        assert_eq!(clean("../x"), None);
        assert!(blob_path_digest("blobs/sha256/zz").is_none());
    }

    #[test]
    fn chain_id_formula() {
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        let c = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(c[0], a);
        assert_eq!(c[1], Digest::of(format!("{a} {b}").as_bytes()));
    }
}
