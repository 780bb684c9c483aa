//! `POST /build`: a Dockerfile build from a context tar.
//!
//! The context is unpacked into a work directory, the Dockerfile parsed (`berth-dockerfile`),
//! and the stages the target needs are built, each on a thread of its own so independent
//! stages run in parallel (a stage waits only for the stages it names in `FROM` or
//! `COPY --from`). Every step that changes the filesystem (RUN, COPY, ADD, a WORKDIR that has
//! to be created) makes an image that is kept as build cache, keyed by the previous step's key,
//! the instruction after expansion, the build args it sees and the content of the files it
//! copies; a miss invalidates every later step of its stage, and the progress says why it
//! missed. Metadata steps only change the config. RUN steps are real containers of this
//! engine; COPY steps write into an overlay mounted in a private mount namespace, and the
//! overlay's upper directory becomes the layer.

mod cache;

mod sources;
mod step;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use berth_dockerfile::{Command, Dockerfile};
use berth_store::{Digest, LayerRecord, Reference};
use serde_json::{json, Map, Value};

use crate::{Engine, Error, Result};
use berth_dockerfile::ignore::Matcher;

/// The query of `POST /build`, typed.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub tags: Vec<String>,
    /// Path of the Dockerfile inside the context (default `Dockerfile`).
    pub dockerfile: String,
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub labels: BTreeMap<String, String>,
    pub quiet: bool,
    /// `networkmode`: the default network of RUN steps.
    pub network_mode: Option<String>,
    /// Set when the client went away: the build stops at the next step, killing a running
    /// RUN container.
    pub cancel: Arc<AtomicBool>,
}

/// One message of the build's progress stream.
#[derive(Debug, Clone)]
pub enum Progress {
    /// A line of text (`stream`), newline included.
    Line(String),
    /// An `aux` message (the built image's ID).
    Aux(Value),
}

pub type Sink = dyn Fn(Progress) + Send + Sync;

/// Build args every build knows without an ARG in global scope (BuildKit's platform args).
fn platform_args() -> BTreeMap<String, String> {
    let arch = crate::archive::host_arch();
    let mut m = BTreeMap::new();
    for (k, v) in [
        ("TARGETPLATFORM", format!("linux/{arch}")),
        ("TARGETOS", "linux".into()),
        ("TARGETARCH", arch.to_string()),
        ("TARGETVARIANT", String::new()),
        ("BUILDPLATFORM", format!("linux/{arch}")),
        ("BUILDOS", "linux".into()),
        ("BUILDARCH", arch.to_string()),
        ("BUILDVARIANT", String::new()),
    ] {
        m.insert(k.to_string(), v);
    }
    m
}

/// Marks the containers RUN steps start, so a daemon that died mid-build removes them.
pub const BUILD_CONTAINER_LABEL: &str = "io.berth.build.step";

/// Args that may be given without being declared (Docker's predefined proxy args).
const PREDEFINED: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// A work directory removed when the build ends, however it ends; its `mem/` subdirectory is
/// a tmpfs (unmounted first).
struct WorkDir(PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let mem = self.0.join("mem");
        let _ = nix::mount::umount2(&mem, nix::mount::MntFlags::MNT_DETACH);
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(dir = %self.0.display(), error = %e, "removing a build directory");
            }
        }
    }
}

/// What a finished stage hands to the stages that use it.
#[derive(Debug, Clone)]
pub(crate) struct StageOut {
    /// The cache key of the stage's end state.
    pub key: String,
    pub layers: Vec<LayerRecord>,
    /// An image whose layers are exactly `layers` (None only for an empty scratch stage).
    pub layer_image: Option<Digest>,
    pub config: Map<String, Value>,
    pub doc: Map<String, Value>,
    pub history: Vec<Value>,
}

/// State shared by the stage threads of one build.
pub(crate) struct Build<'a> {
    pub engine: &'a Arc<Engine>,
    pub opts: &'a BuildOptions,
    pub dir: PathBuf,
    pub context: PathBuf,
    pub ignore: Matcher,
    pub df: Dockerfile,
    /// Values of the global (meta) args, build args applied.
    pub global_args: BTreeMap<String, String>,
    /// Build args some stage or FROM consumed.
    pub used_args: Mutex<BTreeSet<String>>,
    pub step_no: AtomicUsize,
    pub sink: &'a Sink,
    pub failed: AtomicBool,
    /// The runtime the build was called from (pulls of missing base images run on it).
    pub rt: Option<tokio::runtime::Handle>,
    results: Mutex<HashMap<usize, std::result::Result<Arc<StageOut>, String>>>,
    done: Condvar,
}

impl Build<'_> {
    pub(crate) fn cancelled(&self) -> bool {
        self.opts.cancel.load(Ordering::SeqCst)
    }

    pub(crate) fn say(&self, line: impl Into<String>) {
        if self.opts.quiet {
            return;
        }
        let mut l = line.into();
        if !l.ends_with('\n') {
            l.push('\n');
        }
        (self.sink)(Progress::Line(l));
    }

    pub(crate) fn next_step(&self) -> usize {
        self.step_no.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The output of stage `idx`, waiting for it to finish.
    pub(crate) fn stage_output(&self, idx: usize) -> Result<Arc<StageOut>> {
        let mut g = self.results.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(r) = g.get(&idx) {
                return r.clone().map_err(|e| {
                    Error::Internal(format!("stage {idx} this step needs failed: {e}"))
                });
            }
            g = self.done.wait(g).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn finish_stage(&self, idx: usize, r: std::result::Result<Arc<StageOut>, String>) {
        let mut g = self.results.lock().unwrap_or_else(|p| p.into_inner());
        g.insert(idx, r);
        self.done.notify_all();
    }

    /// The stage a `FROM`/`--from` name refers to: a stage name, or a stage index given as a
    /// number (only for `--from`).
    pub(crate) fn stage_ref(&self, name: &str, before: usize, numeric: bool) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        if let Some(i) = self.df.stages[..before]
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
        {
            return Some(i);
        }
        if numeric {
            if let Ok(i) = name.parse::<usize>() {
                if i < before {
                    return Some(i);
                }
            }
        }
        None
    }

    /// Expand a word with the global args only (FROM lines).
    pub(crate) fn expand_global(&self, word: &str, line: usize) -> Result<String> {
        let lookup = |k: &str| {
            let v = self.global_args.get(k).cloned();
            if v.is_some() {
                self.used_args
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(k.to_string());
            }
            v
        };
        berth_dockerfile::expand(word, &lookup, self.df.escape)
            .map_err(|e| Error::InvalidParameter(format!("Dockerfile line {line}: {e}")))
    }

    /// The stages stage `idx` depends on (by FROM and COPY --from / RUN --mount from=).
    fn deps(&self, idx: usize) -> Result<Vec<usize>> {
        let st = &self.df.stages[idx];
        let mut out = BTreeSet::new();
        let from = self.expand_global(&st.from.image, st.line)?;
        if let Some(i) = self.stage_ref(&from, idx, false) {
            out.insert(i);
        }
        for ins in &st.instructions {
            let mut names = Vec::new();
            match &ins.cmd {
                Command::Copy(c) | Command::Add(c) => names.extend(c.from.clone()),
                Command::Run(r) => names.extend(r.mounts.iter().filter_map(|m| m.from.clone())),
                _ => {}
            }
            for n in names {
                let n = self.expand_global(&n, ins.line).unwrap_or(n);
                if let Some(i) = self.stage_ref(&n, idx, true) {
                    out.insert(i);
                } else if n.parse::<usize>().is_ok() {
                    return Err(Error::InvalidParameter(format!(
                        "Dockerfile line {}: invalid from flag value {n}: refers to a stage that is not defined before it",
                        ins.line
                    )));
                }
            }
        }
        Ok(out.into_iter().collect())
    }
}

impl Engine {
    /// Removes the containers of RUN steps a daemon crash left behind (their builds are gone).
    pub async fn remove_build_leftovers(self: Arc<Self>) {
        let leftovers: Vec<String> = self
            .containers
            .all()
            .into_iter()
            .filter(|c| c.config["Labels"].get(BUILD_CONTAINER_LABEL).is_some())
            .map(|c| c.id)
            .collect();
        for id in leftovers {
            if let Err(e) = self.clone().remove_container_forced(&id, true).await {
                tracing::warn!(id = %id, error = %e, "removing a build step's container");
            }
        }
    }

    /// Runs a build: `context` is the request body (a tar, plain or compressed, or a bare
    /// Dockerfile). Progress goes to `sink`; returns the image ID.
    pub fn build(
        self: &Arc<Self>,
        opts: &BuildOptions,
        context: impl Read + Send,
        sink: &Sink,
    ) -> Result<Digest> {
        let started = Instant::now();
        let tags: Vec<Reference> = opts
            .tags
            .iter()
            .map(|t| {
                let r = Reference::parse(t).map_err(|_| {
                    Error::InvalidParameter(format!(
                        "invalid reference format: repository name must be lowercase: {t}"
                    ))
                })?;
                if r.is_digest() {
                    return Err(Error::InvalidParameter(format!(
                        "invalid tag {t}: a build cannot be tagged with a digest"
                    )));
                }
                Ok(r.with_default_tag())
            })
            .collect::<Result<_>>()?;
        let dir = self
            .root()
            .join("build")
            .join(hex::encode(rand::random::<[u8; 8]>()));
        std::fs::create_dir_all(&dir).map_err(Error::io(format!("creating {}", dir.display())))?;
        let _cleanup = WorkDir(dir.clone());
        let dockerfile_name = if opts.dockerfile.is_empty() {
            "Dockerfile".to_string()
        } else {
            opts.dockerfile.clone()
        };
        let (text, scratch) = receive_context(context, &dir, &dockerfile_name)?;
        let ctx_dir = scratch.join("context");
        let context_ms = started.elapsed().as_millis() as u64;
        let df =
            berth_dockerfile::parse(&text).map_err(|e| Error::InvalidParameter(e.to_string()))?;
        for w in &df.warnings {
            if !opts.quiet {
                sink(Progress::Line(format!("[WARNING]: {w}\n")));
            }
        }
        let ignore = read_ignore(&ctx_dir, &dockerfile_name)?;
        // Global args: platform args, then the meta ARGs before the first FROM.
        let mut global_args = platform_args();
        let mut declared: BTreeSet<String> = BTreeSet::new();
        for a in &df.args {
            declared.insert(a.name.clone());
            let value = match opts.build_args.get(&a.name) {
                Some(v) => Some(v.clone()),
                None => match &a.default {
                    Some(d) => Some(
                        berth_dockerfile::expand(d, &|k| global_args.get(k).cloned(), df.escape)
                            .map_err(Error::InvalidParameter)?,
                    ),
                    None => None,
                },
            };
            match value {
                Some(v) => {
                    global_args.insert(a.name.clone(), v);
                }
                None => {
                    global_args.remove(&a.name);
                }
            }
        }
        let target = match &opts.target {
            Some(t) if !t.is_empty() => {
                let lower = t.to_ascii_lowercase();
                df.stages
                    .iter()
                    .position(|s| s.name.as_deref() == Some(lower.as_str()))
                    .ok_or_else(|| {
                        Error::InvalidParameter(format!(
                            "failed to reach build target {t} in Dockerfile"
                        ))
                    })?
            }
            _ => df.stages.len().checked_sub(1).ok_or_else(|| {
                Error::InvalidParameter("the Dockerfile has no FROM instruction".into())
            })?,
        };
        let build = Build {
            engine: self,
            opts,
            dir: scratch.clone(),
            context: ctx_dir,
            ignore,
            df,
            global_args,
            used_args: Mutex::new(BTreeSet::new()),
            step_no: AtomicUsize::new(0),
            sink,
            failed: AtomicBool::new(false),
            rt: tokio::runtime::Handle::try_current().ok(),
            results: Mutex::new(HashMap::new()),
            done: Condvar::new(),
        };
        // The stages the target needs, found from the target backwards.
        let mut needed = BTreeSet::new();
        let mut todo = vec![target];
        while let Some(i) = todo.pop() {
            if needed.insert(i) {
                todo.extend(build.deps(i)?);
            }
        }
        let stages_started = Instant::now();
        let result = std::thread::scope(|s| {
            let mut handles = Vec::new();
            for &i in &needed {
                let b = &build;
                handles.push((
                    i,
                    std::thread::Builder::new()
                        .name(format!("build-stage-{i}"))
                        .spawn_scoped(s, move || {
                            let r = b.run_stage(i);
                            if r.is_err() {
                                b.failed.store(true, Ordering::SeqCst);
                            }
                            b.finish_stage(
                                i,
                                r.as_ref().map(|o| o.clone()).map_err(|e| e.to_string()),
                            );
                            r
                        })
                        .map_err(Error::io("starting a build thread")),
                ));
            }
            let mut target_out = None;
            let mut first_err = None;
            for (i, h) in handles {
                let r = match h {
                    Ok(h) => h
                        .join()
                        .unwrap_or_else(|_| Err(Error::Internal("a build stage panicked".into()))),
                    Err(e) => Err(e),
                };
                match r {
                    Ok(out) if i == target => target_out = Some(out),
                    Ok(_) => {}
                    // The stage that failed first says why; its dependents only echo it.
                    Err(e) => {
                        let echo = e.to_string().starts_with("stage ");
                        if first_err
                            .as_ref()
                            .is_none_or(|(echoed, _)| *echoed && !echo)
                        {
                            first_err = Some((echo, e));
                        }
                    }
                }
            }
            match (first_err, target_out) {
                (Some((_, e)), _) => Err(e),
                (None, Some(o)) => Ok(o),
                (None, None) => Err(Error::Internal("the target stage did not run".into())),
            }
        })?;
        let unused: Vec<String> = {
            let used = build.used_args.lock().unwrap_or_else(|p| p.into_inner());
            opts.build_args
                .keys()
                .filter(|k| !used.contains(*k) && !declared.contains(*k))
                .filter(|k| !PREDEFINED.contains(&k.as_str()))
                .cloned()
                .collect()
        };
        if !unused.is_empty() {
            build.say(format!(
                "[Warning] One or more build-args [{}] were not consumed",
                unused.join(" ")
            ));
        }
        let n = build.next_step();
        build.say(format!("#{n} exporting to image"));
        let mut config = result.config.clone();
        if !opts.labels.is_empty() {
            let mut labels = config
                .get("Labels")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            for (k, v) in &opts.labels {
                labels.insert(k.clone(), json!(v));
            }
            config.insert("Labels".into(), Value::Object(labels));
        }
        // A build whose every input is cached gives the image it gave before (same ID).
        let export = cache::StepInputs {
            prev: result.key.clone(),
            instruction: "exporting to image".into(),
            expanded: format!(
                "export {}",
                serde_json::to_string(&opts.labels).unwrap_or_default()
            ),
            ..Default::default()
        };
        let cached = if opts.no_cache {
            None
        } else {
            self.cache_lookup(&export.key())?.map(|r| r.id)
        };
        let image = match cached {
            Some(id) => id,
            None => {
                let id =
                    self.write_build_image(&result.doc, &config, &result.history, &result.layers)?;
                self.cache_record(&export, &id)?;
                id
            }
        };
        build.say(format!("#{n} writing image {} done", image.as_str()));
        for t in &tags {
            self.store.tag(&image, t)?;
            self.publish("image", "tag", image.as_str(), &[("name", &t.to_string())]);
            let shown = t.to_string();
            let tag = shown.rsplit_once(':').map_or("latest", |(_, t)| t);
            build.say(format!("#{n} naming to {}:{tag} done", t.full_name()));
        }
        build.say(format!("#{n} DONE {:.1}s", started.elapsed().as_secs_f64()));
        tracing::info!(
            image = %image,
            context_ms,
            stages_ms = stages_started.elapsed().as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "build finished"
        );
        Ok(image)
    }

    /// Stores an image made of `doc` (architecture, os, ...), `config`, `history` and `layers`.
    pub(crate) fn write_build_image(
        &self,
        doc: &Map<String, Value>,
        config: &Map<String, Value>,
        history: &[Value],
        layers: &[LayerRecord],
    ) -> Result<Digest> {
        let mut out = Map::new();
        for key in [
            "architecture",
            "os",
            "variant",
            "os.version",
            "os.features",
            "author",
        ] {
            if let Some(v) = doc.get(key).filter(|v| !v.is_null()) {
                out.insert(key.into(), v.clone());
            }
        }
        out.entry("architecture")
            .or_insert_with(|| json!(crate::archive::host_arch()));
        out.entry("os").or_insert_with(|| json!("linux"));
        out.insert("config".into(), Value::Object(config.clone()));
        out.insert("created".into(), json!(crate::containers::now_rfc3339()));
        out.insert("history".into(), Value::Array(history.to_vec()));
        out.insert(
            "rootfs".into(),
            json!({"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.as_str()).collect::<Vec<_>>()}),
        );
        let bytes =
            serde_json::to_vec(&Value::Object(out)).map_err(|e| Error::Internal(e.to_string()))?;
        let guard = self.store.write_guard();
        let id = self.store.put_blob(&bytes, None)?;
        let manifest = self.write_manifest(&id, bytes.len() as u64, layers)?;
        let rec = self.store.create_image(&id, Some(&manifest), layers)?;
        drop(guard);
        Ok(rec.id)
    }
}

/// Unpacks the request body into `<scratch>/context` and returns the Dockerfile's text and the
/// scratch directory the build works in. A body that is not an archive is the Dockerfile itself
/// (`docker build - < Dockerfile`).
///
/// The scratch directory is a tmpfs under `dir` when the context fits: unpacking many small
/// files is where a build's time goes on most disks (file creation, not bytes). The body is
/// spooled to `dir` meanwhile; a context too large for the tmpfs is unpacked from the spool
/// onto the disk instead.
fn receive_context(
    input: impl Read + Send,
    dir: &Path,
    dockerfile: &str,
) -> Result<(String, PathBuf)> {
    let mut input = input;
    let mut head = Vec::with_capacity(1024);
    (&mut input)
        .take(1024)
        .read_to_end(&mut head)
        .map_err(Error::io("reading the build context"))?;
    let compressed = head.starts_with(&[0x1f, 0x8b]) || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
    let is_tar = compressed || berth_store::unpack::looks_like_layer(&head);
    let mem = dir.join("mem");
    let scratch = match mount_scratch(&mem) {
        Ok(()) => mem,
        Err(e) => {
            tracing::debug!(error = %e, "no tmpfs for the build; working on disk");
            dir.join("disk")
        }
    };
    let ctx = scratch.join("context");
    std::fs::create_dir_all(&ctx).map_err(Error::io(format!("creating {}", ctx.display())))?;
    if !is_tar {
        let mut text = head;
        input
            .read_to_end(&mut text)
            .map_err(Error::io("reading the Dockerfile"))?;
        let text = String::from_utf8(text)
            .map_err(|_| Error::InvalidParameter("the Dockerfile is not UTF-8 text".into()))?;
        return Ok((text, scratch));
    }
    let spool_path = dir.join("context.tar");
    let mut spool = std::fs::File::create(&spool_path)
        .map_err(Error::io(format!("creating {}", spool_path.display())))?;
    let tee = TeeReader {
        inner: std::io::Cursor::new(head).chain(input),
        copy: &mut spool,
    };
    let bad = |e: berth_store::Error| {
        Error::InvalidParameter(format!("failed to read the build context: {e}"))
    };
    let mut tee = tee;
    let (ctx, scratch) = match berth_store::unpack::unpack_tree(&mut tee, "build context", &ctx) {
        Ok(_) => (ctx, scratch),
        Err(e) if e.to_string().contains("No space left on device") && scratch.ends_with("mem") => {
            tracing::info!("the build context does not fit in memory; unpacking it on disk");
            std::io::copy(&mut tee, &mut std::io::sink())
                .map_err(Error::io("reading the build context"))?;
            let disk = dir.join("disk");
            let ctx = disk.join("context");
            std::fs::create_dir_all(&ctx)
                .map_err(Error::io(format!("creating {}", ctx.display())))?;
            let spooled = std::fs::File::open(&spool_path)
                .map_err(Error::io(format!("opening {}", spool_path.display())))?;
            berth_store::unpack::unpack_tree(spooled, "build context", &ctx).map_err(bad)?;
            let _ = nix::mount::umount2(&dir.join("mem"), nix::mount::MntFlags::MNT_DETACH);
            (ctx, disk)
        }
        Err(e) => return Err(bad(e)),
    };
    drop(tee);
    let _ = std::fs::remove_file(&spool_path);
    let root = crate::container_fs::ScopedRoot::open(&ctx)?;
    let path = root.resolve(dockerfile)?.ok_or_else(|| {
        Error::InvalidParameter(format!("Cannot locate specified Dockerfile: {dockerfile}"))
    })?;
    let text = std::fs::read(&path).map_err(Error::io(format!("reading {dockerfile}")))?;
    let text = String::from_utf8(text)
        .map_err(|_| Error::InvalidParameter(format!("{dockerfile} is not UTF-8 text")))?;
    Ok((text, scratch))
}

/// A tmpfs at `at` of half the machine's memory (the kernel's default), root-only.
fn mount_scratch(at: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(at)?;
    nix::mount::mount(
        Some("tmpfs"),
        at,
        Some("tmpfs"),
        nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
        Some("mode=0700,size=50%"),
    )
    .map_err(std::io::Error::from)
}

/// Copies everything read through it to `copy`.
struct TeeReader<'a, R> {
    inner: R,
    copy: &'a mut std::fs::File,
}

impl<R: Read> Read for TeeReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        std::io::Write::write_all(self.copy, &buf[..n])?;
        Ok(n)
    }
}

/// `<Dockerfile>.dockerignore` next to the Dockerfile, else `.dockerignore` at the root.
fn read_ignore(ctx: &Path, dockerfile: &str) -> Result<Matcher> {
    let root = crate::container_fs::ScopedRoot::open(ctx)?;
    for name in [
        format!("{dockerfile}.dockerignore"),
        ".dockerignore".to_string(),
    ] {
        if let Some(p) = root.resolve(&name)? {
            if p.is_file() {
                let text =
                    std::fs::read_to_string(&p).map_err(Error::io(format!("reading {name}")))?;
                return Matcher::parse(&text).map_err(Error::InvalidParameter);
            }
        }
    }
    Ok(Matcher::default())
}
