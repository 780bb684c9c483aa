//! `pull` and `push`: images move to and from registries layer by layer. A pull fetches the
//! manifest (an index resolves to the host's platform), then every missing layer streams
//! through digest verification, decompression and unpacking into its snapshot in one pass,
//! several layers at a time; a push skips the blobs the registry has (HEAD, or a mount from
//! another repository of the same registry), uploads the others, then the manifest. Progress
//! goes out as Docker's JSON messages, so the docker CLI renders it.

use std::sync::Arc;

use berth_distribution::{Auth, Client, Repo};
use berth_store::{Digest, LayerRecord, Reference};
use futures_util::StreamExt;
use http_body_util::BodyExt;
use serde_json::{json, Value};

use crate::{Engine, Error, Result};

/// Layers downloaded at the same time (Docker's default is 3).
const PARALLEL: usize = 3;

/// Tries per layer download.
const FETCH_TRIES: u32 = 3;

/// One try at a layer: stream it from the registry through the store's verifying unpacker.
async fn fetch_layer(
    engine: &Arc<Engine>,
    client: &Client,
    repo: &Repo,
    blob: &Digest,
    size: u64,
    short: &str,
    progress: &ProgressFn,
) -> Result<berth_store::PreparedLayer> {
    let name = |e: &dyn std::fmt::Display| {
        Error::Registry(format!(
            "layer {blob} of {}/{}: {e}",
            repo.registry, repo.name
        ))
    };
    let resp = client
        .blob(repo, blob.as_str(), 0)
        .await
        .map_err(|e| name(&e))?;
    let total = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(size);
    let stream = resp
        .into_body()
        .into_data_stream()
        .map(|r| r.map_err(std::io::Error::other));
    let reader = tokio_util::io::StreamReader::new(stream);
    let bridge = tokio_util::io::SyncIoBridge::new(reader);
    let b2 = blob.clone();
    let report = CountingProgress {
        short: short.to_string(),
        total,
        seen: 0,
        last: 0,
        progress: progress.clone(),
    };
    let engine = engine.clone();
    let r = tokio::task::spawn_blocking(move || {
        let mut counted = Counting {
            inner: bridge,
            report,
        };
        engine
            .store
            .prepare_layer_from_stream(&mut counted, Some(&b2))
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))?;
    r.map_err(|e| name(&e))
}

/// Where progress messages go (cloned into the threads that unpack layers).
pub type ProgressFn = Arc<dyn Fn(Value) + Send + Sync>;

fn msg(id: &str, status: &str) -> Value {
    json!({"status": status, "id": id})
}

fn progress_bar(current: u64, total: u64) -> String {
    let width = 50;
    let filled = (current.min(total) * width).checked_div(total).unwrap_or(0) as usize;
    let bar: String = std::iter::repeat_n('=', filled.saturating_sub(1))
        .chain(std::iter::once(if filled > 0 { '>' } else { ' ' }))
        .chain(std::iter::repeat_n(' ', width as usize - filled.max(1)))
        .collect();
    format!("[{bar}] {}/{}", human(current), human(total))
}

fn human(n: u64) -> String {
    let f = n as f64;
    if f >= 1e9 {
        format!("{:.2}GB", f / 1e9)
    } else if f >= 1e6 {
        format!("{:.2}MB", f / 1e6)
    } else if f >= 1e3 {
        format!("{:.2}kB", f / 1e3)
    } else {
        format!("{n}B")
    }
}

fn dist_err(e: berth_distribution::Error) -> Error {
    match e {
        berth_distribution::Error::NotFound(m) => Error::NotFound(m),
        berth_distribution::Error::Unauthorized(m) => Error::Unauthorized(m),
        berth_distribution::Error::Http(m) => Error::Registry(m),
    }
}

fn repo_of(r: &Reference) -> Repo {
    Repo {
        registry: r.domain().to_string(),
        name: r.path(),
    }
}

fn platform_matches(p: &Value) -> bool {
    p["os"].as_str() == Some("linux")
        && p["architecture"].as_str() == Some(crate::archive::host_arch())
}

impl Engine {
    fn registry_client(&self, auth: Option<Auth>) -> Result<Client> {
        Client::new(auth, self.insecure_registries.clone()).map_err(dist_err)
    }

    /// `POST /auth`: checks the credentials against the registry (`GET /v2/`).
    pub async fn registry_login(&self, auth: Auth, server: &str) -> Result<Value> {
        let registry = server
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or("")
            .to_string();
        let registry = match registry.as_str() {
            "" | "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
            _ => registry,
        };
        let client = self.registry_client(Some(auth))?;
        client.check_login(&registry).await.map_err(|e| match e {
            berth_distribution::Error::Unauthorized(m) => {
                Error::Unauthorized(format!("login attempt to {server} failed: {m}"))
            }
            other => dist_err(other),
        })?;
        Ok(json!({"Status": "Login Succeeded", "IdentityToken": ""}))
    }

    /// `POST /images/create?fromImage=NAME` with neither a tag in the name nor a `tag`
    /// parameter: every tag of the repository, one pull after another (`pull --all-tags`).
    pub async fn pull_all_tags(
        self: &Arc<Self>,
        name: &str,
        auth: Option<Auth>,
        progress: ProgressFn,
    ) -> Result<()> {
        let r = Reference::parse(name)?;
        let repo = repo_of(&r);
        let client = self.registry_client(auth.clone())?;
        let not_found = |e: String| {
            Error::NotFound(format!(
                "pull access denied for {}, repository does not exist or may require 'docker login': {e}",
                r.name
            ))
        };
        let mut tags = client.tags(&repo).await.map_err(|e| match e {
            berth_distribution::Error::NotFound(_) | berth_distribution::Error::Unauthorized(_) => {
                not_found(e.to_string())
            }
            other => dist_err(other),
        })?;
        if tags.is_empty() {
            return Err(not_found(format!(
                "{}/{} has no tags",
                repo.registry, repo.name
            )));
        }
        tags.sort();
        tags.dedup();
        for t in tags {
            self.pull_image(&format!("{name}:{t}"), auth.clone(), progress.clone())
                .await?;
        }
        Ok(())
    }

    /// `POST /images/create?fromImage=`: pulls `reference` (a tag or a digest).
    pub async fn pull_image(
        self: &Arc<Self>,
        reference: &str,
        auth: Option<Auth>,
        progress: ProgressFn,
    ) -> Result<Digest> {
        let r = Reference::parse(reference)?;
        let r = if r.digest.is_none() {
            r.with_default_tag()
        } else {
            r
        };
        let repo = repo_of(&r);
        let client = self.registry_client(auth)?;
        let wanted = match &r.digest {
            Some(d) => d.to_string(),
            None => r.tag.clone().unwrap_or_else(|| "latest".into()),
        };
        let shown_tag = r.tag.clone().unwrap_or_else(|| wanted.clone());
        progress(json!({"status": format!("Pulling from {}", r.path()), "id": shown_tag}));
        let (mut bytes, mut media) = client.manifest(&repo, &wanted).await.map_err(|e| match e {
            berth_distribution::Error::NotFound(_) | berth_distribution::Error::Unauthorized(_) => {
                Error::NotFound(format!(
                    "pull access denied for {}, repository does not exist or may require 'docker login': {e}",
                    r.name
                ))
            }
            other => dist_err(other),
        })?;
        let top_digest = Digest::of(&bytes);
        if let Some(d) = &r.digest {
            if *d != top_digest {
                return Err(Error::InvalidParameter(format!(
                    "manifest verification failed for digest {d}: {} sent {top_digest}",
                    repo.registry
                )));
            }
        }
        let mut doc: Value = serde_json::from_slice(&bytes).map_err(|e| {
            Error::InvalidParameter(format!(
                "the manifest of {reference} from {} does not parse: {e}",
                repo.registry
            ))
        })?;
        if media.contains("index") || media.contains("manifest.list") || doc["manifests"].is_array()
        {
            let chosen = doc["manifests"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|m| platform_matches(&m["platform"]))
                .and_then(|m| m["digest"].as_str())
                .ok_or_else(|| {
                    Error::NotFound(format!(
                        "no matching manifest for linux/{} in the manifest list entries",
                        crate::archive::host_arch()
                    ))
                })?
                .to_string();
            let (b, m) = client.manifest(&repo, &chosen).await.map_err(dist_err)?;
            if Digest::of(&b).to_string() != chosen {
                return Err(Error::InvalidParameter(format!(
                    "manifest verification failed for digest {chosen} from {}/{}",
                    repo.registry, repo.name
                )));
            }
            bytes = b;
            media = m;
            doc = serde_json::from_slice(&bytes).map_err(|e| {
                Error::InvalidParameter(format!("manifest {chosen} does not parse: {e}"))
            })?;
        }
        let _ = media;
        let config_digest = doc["config"]["digest"]
            .as_str()
            .and_then(|s| Digest::parse(s).ok())
            .ok_or_else(|| {
                Error::InvalidParameter(format!("manifest of {reference} has no config"))
            })?;
        let layers: Vec<(Digest, u64)> = doc["layers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| {
                Ok((
                    l["digest"]
                        .as_str()
                        .and_then(|s| Digest::parse(s).ok())
                        .ok_or_else(|| Error::InvalidParameter("a layer without digest".into()))?,
                    l["size"].as_u64().unwrap_or(0),
                ))
            })
            .collect::<Result<_>>()?;
        // The config: small, verified, stored.
        let config_bytes = {
            let resp = client
                .blob(&repo, config_digest.as_str(), 0)
                .await
                .map_err(dist_err)?;
            resp.into_body()
                .collect()
                .await
                .map_err(|e| Error::Internal(format!("config {config_digest}: {e}")))?
                .to_bytes()
        };
        let cfg = crate::ImageConfig::parse(&config_bytes, &config_digest)?;
        if cfg.diff_ids.len() != layers.len() {
            return Err(Error::InvalidParameter(format!(
                "the image config of {reference} lists {} layers, its manifest {}",
                cfg.diff_ids.len(),
                layers.len()
            )));
        }
        let chains = crate::archive::chain_ids(&cfg.diff_ids);
        let engine = self.clone();
        let cb = config_bytes.clone();
        let cd = config_digest.clone();
        tokio::task::spawn_blocking(move || engine.store.put_blob(&cb, Some(&cd)))
            .await
            .map_err(|e| Error::Internal(e.to_string()))??;
        // Layers: the ones stored already are skipped; the others stream in, PARALLEL at once.
        let mut records: Vec<Option<LayerRecord>> = vec![None; layers.len()];
        let mut todo = Vec::new();
        for (i, (blob, size)) in layers.iter().enumerate() {
            let short = blob.hex()[..12].to_string();
            if let Some(rec) = self.store.layer(&chains[i])? {
                progress(msg(&short, "Already exists"));
                records[i] = Some(rec);
            } else {
                progress(msg(&short, "Pulling fs layer"));
                todo.push((i, blob.clone(), *size));
            }
        }
        let prepared = futures_util::stream::iter(todo.into_iter().map(|(i, blob, size)| {
            let engine = self.clone();
            let client = &client;
            let repo = repo.clone();
            let expected_diff = cfg.diff_ids[i].clone();
            let progress = progress.clone();
            async move {
                let short = blob.hex()[..12].to_string();
                // A failed transfer (refused, 5xx, cut short, wrong bytes) is tried again from
                // the start, after 0.2 s and 0.8 s; nothing of a failed try is kept.
                let mut attempt = 0u32;
                let prepared = loop {
                    attempt += 1;
                    match fetch_layer(&engine, client, &repo, &blob, size, &short, &progress).await {
                        Ok(p) => break p,
                        Err(e) if attempt < FETCH_TRIES => {
                            tracing::warn!(layer = %blob, attempt, error = %e, "layer download failed; retrying");
                            progress(json!({"status": format!("Retrying in {} ms", 200 * 4u64.pow(attempt - 1)), "id": short}));
                            tokio::time::sleep(std::time::Duration::from_millis(200 * 4u64.pow(attempt - 1))).await;
                        }
                        Err(e) => return Err(e),
                    }
                };
                progress(msg(&short, "Verifying Checksum"));
                progress(msg(&short, "Download complete"));
                prepared.check_diff_id(&expected_diff).map_err(|e| {
                    Error::InvalidParameter(format!(
                        "layer {blob} of {}/{}: {e}",
                        repo.registry, repo.name
                    ))
                })?;
                Ok::<_, Error>((i, prepared))
            }
        }))
        .buffer_unordered(PARALLEL)
        .collect::<Vec<Result<_>>>()
        .await;
        let mut batch = Vec::new();
        for p in prepared {
            let (i, prep) = p?;
            batch.push((i, prep));
        }
        batch.sort_by_key(|(i, _)| *i);
        let engine = self.clone();
        let chains2 = chains.clone();
        let manifest_bytes = bytes.clone();
        let top = top_digest.clone();
        let shown: Vec<(usize, String)> = batch
            .iter()
            .map(|(i, _)| (*i, layers[*i].0.hex()[..12].to_string()))
            .collect();
        let r2 = r.clone();
        let image = tokio::task::spawn_blocking(move || -> Result<Digest> {
            let guard = engine.store.write_guard();
            let with_parents: Vec<_> = batch
                .into_iter()
                .map(|(i, p)| {
                    (
                        p,
                        if i == 0 {
                            None
                        } else {
                            Some(chains2[i - 1].clone())
                        },
                    )
                })
                .collect();
            let committed = engine.store.commit_layers(with_parents)?;
            let mut it = committed.into_iter();
            for rec in records.iter_mut() {
                if rec.is_none() {
                    *rec = it.next();
                }
            }
            let layers: Vec<LayerRecord> = records.into_iter().flatten().collect();
            let manifest = engine.store.put_blob(&manifest_bytes, None)?;
            let rec = engine
                .store
                .create_image(&config_digest, Some(&manifest), &layers)?;
            drop(guard);
            if r2.digest.is_none() {
                engine.store.tag(&rec.id, &r2)?;
            }
            let with_digest = Reference {
                name: r2.name.clone(),
                tag: None,
                digest: Some(top),
            };
            engine.store.add_repo_digest(&rec.id, &with_digest)?;
            Ok(rec.id)
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))??;
        for (_, short) in shown {
            progress(msg(&short, "Pull complete"));
        }
        self.publish("image", "pull", &r.to_string(), &[("name", &r.to_string())]);
        progress(json!({"status": format!("Digest: {top_digest}")}));
        progress(
            json!({"status": format!("Status: Downloaded newer image for {}", crate::images::display_ref(reference))}),
        );
        Ok(image)
    }

    /// `POST /images/{name}/push?tag=`: pushes the image's layers, config and manifest.
    pub async fn push_image(
        self: &Arc<Self>,
        name: &str,
        tag: Option<&str>,
        auth: Option<Auth>,
        progress: ProgressFn,
    ) -> Result<()> {
        let full = match tag.filter(|t| !t.is_empty()) {
            Some(t) => format!("{name}:{t}"),
            None => name.to_string(),
        };
        let r = Reference::parse(&full)?.with_default_tag();
        let rec = self.resolve_image(&r.to_string())?;
        let repo = repo_of(&r);
        let client = self.registry_client(auth)?;
        let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
        progress(json!({"status": format!("The push refers to repository [{}]", r.full_name())}));
        // The stored manifest names the stored blobs (layers as they were received or made).
        let manifest = match &rec.manifest {
            Some(m) => self.store.read_blob(m)?,
            None => {
                let size = self.store.blob_size(&rec.id)?;
                let m = self.write_manifest(&rec.id, size, &rec.layers)?;
                self.store.read_blob(&m)?
            }
        };
        let doc: Value = serde_json::from_slice(&manifest)
            .map_err(|e| Error::Internal(format!("stored manifest: {e}")))?;
        let media = doc["mediaType"]
            .as_str()
            .unwrap_or("application/vnd.oci.image.manifest.v1+json")
            .to_string();
        // Other repositories of the same registry this image (or its layers) came from.
        let mount_from: Vec<String> = self
            .store
            .images()?
            .iter()
            .flat_map(|i| i.repo_digests.iter().chain(i.repo_tags.iter()))
            .filter_map(|s| Reference::parse(s).ok())
            .filter(|o| o.domain() == repo.registry && o.path() != repo.name)
            .map(|o| o.path())
            .collect();
        let mut blobs: Vec<(Digest, u64, bool)> = rec
            .layers
            .iter()
            .rev()
            .map(|l| (l.blob.clone(), l.blob_size, true))
            .collect();
        blobs.push((rec.id.clone(), self.store.blob_size(&rec.id)?, false));
        let results = futures_util::stream::iter(blobs.into_iter().map(|(blob, size, is_layer)| {
            let client = &client;
            let repo = repo.clone();
            let path = self.store.blob_path(&blob);
            let mount_from = &mount_from;
            let progress = progress.clone();
            async move {
                let short = blob.hex()[..12].to_string();
                if is_layer {
                    progress(msg(&short, "Preparing"));
                }
                if client.blob_exists(&repo, blob.as_str()).await.map_err(dist_err)? {
                    if is_layer {
                        progress(msg(&short, "Layer already exists"));
                    }
                    return Ok::<_, Error>(());
                }
                for from in mount_from {
                    if client.mount_blob(&repo, blob.as_str(), from).await.unwrap_or(false) {
                        if is_layer {
                            progress(msg(&short, &format!("Mounted from {from}")));
                        }
                        return Ok(());
                    }
                }
                let file = tokio::fs::File::open(&path)
                    .await
                    .map_err(Error::io(format!("opening {}", path.display())))?;
                let s2 = short.clone();
                let body = Client::body_from_file(file, move |sent| {
                    if is_layer {
                        let _ = (&s2, sent);
                    }
                });
                if is_layer {
                    progress(json!({"status": "Pushing", "id": short, "progressDetail": {"current": 0, "total": size}, "progress": progress_bar(0, size)}));
                }
                client.upload_blob(&repo, blob.as_str(), size, body).await.map_err(dist_err)?;
                if is_layer {
                    progress(msg(&short, "Pushed"));
                }
                Ok(())
            }
        }))
        .buffer_unordered(PARALLEL)
        .collect::<Vec<Result<()>>>()
        .await;
        for r in results {
            r?;
        }
        let digest = client
            .put_manifest(&repo, &tag, &media, bytes::Bytes::from(manifest.clone()))
            .await
            .map_err(dist_err)?;
        let digest = if digest.is_empty() {
            Digest::of(&manifest).to_string()
        } else {
            digest
        };
        let size = manifest.len();
        progress(json!({"status": format!("{tag}: digest: {digest} size: {size}")}));
        progress(
            json!({"progressDetail": {}, "aux": {"Tag": tag, "Digest": digest, "Size": size}}),
        );
        if let Ok(d) = Digest::parse(&digest) {
            let with_digest = Reference {
                name: r.name.clone(),
                tag: None,
                digest: Some(d),
            };
            let _ = self.store.add_repo_digest(&rec.id, &with_digest);
        }
        self.publish("image", "push", &r.to_string(), &[("name", &r.to_string())]);
        Ok(())
    }
}

/// Reports "Downloading" every 512 KiB as the bytes pass.
struct CountingProgress {
    short: String,
    total: u64,
    seen: u64,
    last: u64,
    progress: ProgressFn,
}

struct Counting<R> {
    inner: R,
    report: CountingProgress,
}

impl<R: std::io::Read> std::io::Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let r = &mut self.report;
        r.seen += n as u64;
        if r.seen - r.last >= 512 * 1024 || (n == 0 && r.seen != r.last) {
            r.last = r.seen;
            (r.progress)(json!({
                "status": "Downloading",
                "id": r.short,
                "progressDetail": {"current": r.seen, "total": r.total},
                "progress": progress_bar(r.seen, r.total),
            }));
        }
        Ok(n)
    }
}
