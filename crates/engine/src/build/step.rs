//! One stage of a build, instruction by instruction.

use std::collections::BTreeMap;
use std::io::{Seek, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_dockerfile::{Command, Healthcheck, Heredoc, Instruction, MountType, ShellOrExec};
use berth_store::{Digest, LayerRecord};
use serde_json::{json, Map, Value};

use super::cache::{base_key, StepInputs};
use super::sources::{self, Perms, SourceRoot};
use super::{Build, StageOut};
use crate::container_fs::{with_private_mounts, ScopedRoot};
use crate::{Error, Result};
use berth_dockerfile::ignore::Matcher;

/// The stage being built.
struct State {
    layers: Vec<LayerRecord>,
    layer_image: Option<Digest>,
    config: Map<String, Value>,
    doc: Map<String, Value>,
    history: Vec<Value>,
    /// ARGs declared in this stage that have a value.
    args: BTreeMap<String, String>,
    key: String,
    /// The step number of this stage's first cache miss.
    first_miss: Option<usize>,
    /// Whether CMD was set in this stage (ENTRYPOINT resets an inherited CMD only).
    cmd_set: bool,
    /// Metadata instructions since the last layer step.
    meta: Vec<String>,
    /// Index of the stage being built.
    stage: usize,
}

impl State {
    fn from_stage(out: &StageOut, key: String) -> State {
        State {
            layers: out.layers.clone(),
            layer_image: out.layer_image.clone(),
            config: out.config.clone(),
            doc: out.doc.clone(),
            history: out.history.clone(),
            args: BTreeMap::new(),
            key,
            first_miss: None,
            cmd_set: false,
            meta: Vec::new(),
            stage: 0,
        }
    }

    fn env(&self) -> Vec<String> {
        string_list(self.config.get("Env"))
    }

    fn env_get(&self, k: &str) -> Option<String> {
        self.env().iter().rev().find_map(|e| {
            let (a, b) = e.split_once('=').unwrap_or((e, ""));
            (a == k).then(|| b.to_string())
        })
    }

    fn set_env(&mut self, k: &str, v: &str) {
        let mut env = self.env();
        env.retain(|e| e.split('=').next() != Some(k));
        env.push(format!("{k}={v}"));
        self.config.insert("Env".into(), json!(env));
    }

    fn shell(&self) -> Vec<String> {
        let s = string_list(self.config.get("Shell"));
        if s.is_empty() {
            vec!["/bin/sh".into(), "-c".into()]
        } else {
            s
        }
    }

    fn workdir(&self) -> String {
        self.config
            .get("WorkingDir")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or("/")
            .to_string()
    }

    fn map_mut(&mut self, key: &str) -> &mut Map<String, Value> {
        if !self.config.get(key).is_some_and(Value::is_object) {
            self.config.insert(key.into(), json!({}));
        }
        match self.config.get_mut(key) {
            Some(Value::Object(m)) => m,
            _ => unreachable!("just inserted an object"),
        }
    }

    fn push_history(&mut self, created_by: String, empty: bool) {
        let mut e = Map::new();
        e.insert("created".into(), json!(crate::containers::now_rfc3339()));
        e.insert("created_by".into(), json!(created_by));
        e.insert("comment".into(), json!("buildkit.dockerfile.v0"));
        if empty {
            e.insert("empty_layer".into(), json!(true));
        }
        self.history.push(Value::Object(e));
    }

    /// A metadata instruction: part of the next layer step's key, and an empty-layer history
    /// entry.
    fn metadata_step(&mut self, text: String) {
        self.meta.push(text.clone());
        self.push_history(text, true);
    }

    /// The key of the stage as it stands (its last step and the metadata after it).
    fn current_key(&self) -> String {
        StepInputs {
            prev: self.key.clone(),
            meta: self.meta.clone(),
            expanded: "stage".into(),
            ..Default::default()
        }
        .key()
    }
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `ENV a=1 b=2` as history shows it.
fn pairs_text(keyword: &str, pairs: &[(String, String)]) -> String {
    let joined: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{keyword} {}", joined.join(" "))
}

fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Go's duration syntax (`30s`, `1m30s`, `500ms`) in nanoseconds.
fn parse_duration(s: &str) -> Result<i64> {
    let bad = || Error::InvalidParameter(format!("time: invalid duration \"{s}\""));
    let mut total: f64 = 0.0;
    let mut rest = s.trim();
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let value: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += value * unit;
        rest = &rest[u..];
    }
    Ok(total as i64)
}

/// `a/b` against the working directory `wd`, cleaned; a trailing `/` is kept.
fn abs_path(wd: &str, p: &str) -> String {
    let joined = if p.starts_with('/') {
        p.to_string()
    } else {
        format!("{}/{p}", wd.trim_end_matches('/'))
    };
    let trailing = joined.ends_with('/') && joined.len() > 1;
    let mut out: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            x => out.push(x),
        }
    }
    let mut s = format!("/{}", out.join("/"));
    if trailing && s != "/" {
        s.push('/');
    }
    s
}

/// Where COPY sources are read from.
#[derive(Clone)]
enum RootSpec {
    Context,
    /// Layers of a stage or image, mounted read-only for the copy.
    Layers(Vec<LayerRecord>, String),
    /// A directory the build wrote (heredoc files).
    Dir(PathBuf),
    /// Files ADD downloaded (copied as they are, never unpacked).
    Remote(PathBuf),
}

impl Build<'_> {
    pub(crate) fn run_stage(&self, idx: usize) -> Result<Arc<StageOut>> {
        let st = &self.df.stages[idx];
        let n_steps = st.instructions.len() + 1;
        let label = |i: usize| match &st.name {
            Some(n) => format!("[{n} {i}/{n_steps}]"),
            None => format!("[{i}/{n_steps}]"),
        };
        let from = self.expand_global(&st.from.image, st.line)?;
        let step = self.next_step();
        self.say(format!("#{step} {} FROM {from}", label(1)));
        let t0 = Instant::now();
        let mut state = if let Some(dep) = self.stage_ref(&from, idx, false) {
            let out = self.stage_output(dep)?;
            // The parent stage's key is the one to chain: same inputs, same key.
            State::from_stage(&out, out.key.clone())
        } else if from.eq_ignore_ascii_case("scratch") {
            State {
                layers: Vec::new(),
                layer_image: None,
                config: Map::new(),
                doc: Map::new(),
                history: Vec::new(),
                args: BTreeMap::new(),
                key: base_key(None),
                first_miss: None,
                cmd_set: false,
                meta: Vec::new(),
                stage: 0,
            }
        } else {
            let rec = match self.engine.resolve_image(&from) {
                Ok(r) => Ok(r),
                Err(Error::NoSuchImage(_)) if self.rt.is_some() => self.pull_base(&from, step)?,
                Err(e) => Err(e),
            }
            .map_err(|e| {
                Error::InvalidParameter(format!(
                    "failed to resolve FROM {from} (line {}): {e}",
                    st.line
                ))
            })?;
            let cfg = self.engine.image_config(&rec.id)?;
            let mut doc = cfg.raw.as_object().cloned().unwrap_or_default();
            let config = doc
                .remove("config")
                .and_then(|v| v.as_object().cloned())
                .unwrap_or_default();
            let history = doc
                .get("history")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            State {
                layers: rec.layers.clone(),
                layer_image: Some(rec.id.clone()),
                config,
                doc,
                history,
                args: BTreeMap::new(),
                key: base_key(Some(&rec.id)),
                first_miss: None,
                cmd_set: false,
                meta: Vec::new(),
                stage: 0,
            }
        };
        self.say(format!("#{step} DONE {:.1}s", t0.elapsed().as_secs_f64()));
        state.stage = idx;
        // Triggers of the base image run first, once.
        let triggers = string_list(state.config.get("OnBuild"));
        state.config.remove("OnBuild");
        for (i, t) in triggers.iter().enumerate() {
            let parsed = berth_dockerfile::parse(&format!("FROM scratch\n{t}\n"))
                .map_err(|e| Error::InvalidParameter(format!("ONBUILD trigger {t:?}: {e}")))?;
            let Some(ins) = parsed.stages.first().and_then(|s| s.instructions.first()) else {
                continue;
            };
            self.exec(
                &mut state,
                ins,
                &format!("{} ONBUILD {}/{}", label(1), i + 1, triggers.len()),
            )?;
        }
        for (i, ins) in st.instructions.iter().enumerate() {
            if self.cancelled() {
                return Err(Error::Internal("the build was cancelled".into()));
            }
            if self.failed.load(Ordering::SeqCst) {
                return Err(Error::Internal(format!(
                    "stage {idx}: cancelled, another stage failed"
                )));
            }
            self.exec(&mut state, ins, &label(i + 2))?;
        }
        Ok(Arc::new(StageOut {
            key: state.current_key(),
            layers: state.layers,
            layer_image: state.layer_image,
            config: state.config,
            doc: state.doc,
            history: state.history,
        }))
    }

    /// Pulls a base image the store does not have, its progress as lines of step `step`.
    fn pull_base(&self, from: &str, step: usize) -> Result<Result<berth_store::ImageRecord>> {
        let Some(rt) = &self.rt else {
            return Ok(Err(Error::NoSuchImage(from.to_string())));
        };
        let (tx, rx) = std::sync::mpsc::channel::<Value>();
        let progress: crate::distribution::ProgressFn = std::sync::Arc::new(move |v: Value| {
            let _ = tx.send(v);
        });
        let engine = self.engine.clone();
        let name = from.to_string();
        let job = rt.spawn(async move { engine.pull_image(&name, None, progress).await });
        // Progress is shown as it comes; the pull's sender goes away when it ends.
        for v in rx {
            let status = v["status"].as_str().unwrap_or("");
            if status.is_empty() || status == "Downloading" {
                continue;
            }
            let id = v["id"]
                .as_str()
                .map(|i| format!("{i}: "))
                .unwrap_or_default();
            self.say(format!("#{step} {id}{status}"));
        }
        let pulled = rt
            .block_on(job)
            .map_err(|e| Error::Internal(format!("pulling {from}: {e}")))?;
        match pulled {
            Ok(id) => Ok(self
                .engine
                .store
                .image(&id)?
                .ok_or_else(|| Error::NoSuchImage(from.to_string()))),
            Err(e) => Ok(Err(e)),
        }
    }

    /// Downloads `url` into `dir` for ADD: named by the URL's last path segment, mode 0600,
    /// mtime from `Last-Modified`; checked against `--checksum=sha256:...` when given.
    fn download(&self, url: &str, dir: &std::path::Path, checksum: Option<&str>) -> Result<String> {
        let rt = self.rt.as_ref().ok_or_else(|| {
            Error::Internal("no runtime to download remote ADD sources on".into())
        })?;
        let path_part = url
            .split(['?', '#'])
            .next()
            .unwrap_or(url)
            .splitn(4, '/')
            .nth(3)
            .unwrap_or("");
        let name = path_part.rsplit('/').next().unwrap_or("").to_string();
        let name = percent_encoding::percent_decode_str(&name)
            .decode_utf8_lossy()
            .into_owned();
        if name.is_empty() || name == "." || name == ".." || name.contains('/') {
            return Err(Error::InvalidParameter(format!(
                "cannot determine filename from url: {url}"
            )));
        }
        let path = dir.join(&name);
        let client = berth_distribution::Client::new(None, Vec::new())
            .map_err(|e| Error::Registry(e.to_string()))?;
        let modified = rt.block_on(async {
            use http_body_util::BodyExt;
            use tokio::io::AsyncWriteExt;
            let resp = client
                .get_url(url)
                .await
                .map_err(|e| Error::InvalidParameter(format!("ADD {url}: {e}")))?;
            let modified = resp
                .headers()
                .get("last-modified")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
                .map(|t| t.timestamp());
            let mut file = tokio::fs::File::create(&path)
                .await
                .map_err(Error::io(format!("creating {}", path.display())))?;
            let mut body = resp.into_body();
            while let Some(frame) = body.frame().await {
                let frame =
                    frame.map_err(|e| Error::InvalidParameter(format!("ADD {url}: {e}")))?;
                if let Ok(data) = frame.into_data() {
                    file.write_all(&data)
                        .await
                        .map_err(Error::io(format!("writing {}", path.display())))?;
                }
            }
            file.flush()
                .await
                .map_err(Error::io("writing a download"))?;
            Ok::<_, Error>(modified)
        })?;
        if let Some(want) = checksum {
            let bytes = std::fs::read(&path).map_err(Error::io("reading a download"))?;
            let got = Digest::of(&bytes);
            if got.as_str() != want {
                return Err(Error::InvalidParameter(format!(
                    "ADD {url}: digest mismatch: expected {want}, got {got}"
                )));
            }
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(Error::io("setting a download's mode"))?;
        if let Some(t) = modified {
            let tv = nix::sys::time::TimeVal::new(t, 0);
            let _ = nix::sys::stat::utimes(&path, &tv, &tv);
        }
        Ok(name)
    }

    fn lookup_in<'s>(&'s self, state: &'s State) -> impl Fn(&str) -> Option<String> + 's {
        move |k: &str| state.env_get(k).or_else(|| state.args.get(k).cloned())
    }

    fn exec(&self, state: &mut State, ins: &Instruction, label: &str) -> Result<()> {
        let line_err = |e: berth_dockerfile::Error| Error::InvalidParameter(e.to_string());
        let ins = {
            let lookup = self.lookup_in(state);
            ins.expanded(&lookup, self.df.escape).map_err(line_err)?
        };
        let src = ins.source.trim().to_string();
        match &ins.cmd {
            Command::Env(pairs) => {
                for (k, v) in pairs {
                    state.set_env(k, v);
                }
                let text = pairs_text("ENV", pairs);
                state.metadata_step(text);
            }
            Command::Arg(args) => {
                for a in args {
                    let value = match self.opts.build_args.get(&a.name) {
                        Some(v) => {
                            self.used_args
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .insert(a.name.clone());
                            Some(v.clone())
                        }
                        None => a
                            .default
                            .clone()
                            .or_else(|| self.global_args.get(&a.name).cloned()),
                    };
                    match value {
                        Some(v) => {
                            state.args.insert(a.name.clone(), v);
                        }
                        None => {
                            state.args.remove(&a.name);
                        }
                    }
                }
                // An ARG changes the key only where its value is used: in expansions (part of
                // the expanded instructions) and in RUN's environment (part of its args).
            }
            Command::Label(pairs) => {
                let m = state.map_mut("Labels");
                for (k, v) in pairs {
                    m.insert(k.clone(), json!(v));
                }
                let text = pairs_text("LABEL", pairs);
                state.metadata_step(text);
            }
            Command::Expose(ports) => {
                let mut added = Vec::new();
                for p in ports {
                    for port in expand_ports(p)? {
                        added.push(port.clone());
                        state.map_mut("ExposedPorts").insert(port, json!({}));
                    }
                }
                let text = format!(
                    "EXPOSE map[{}]",
                    added
                        .iter()
                        .map(|p| format!("{p}:{{}}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                );
                state.metadata_step(text);
            }
            Command::Volume(vols) => {
                for v in vols.iter().filter(|v| !v.is_empty()) {
                    state.map_mut("Volumes").insert(v.clone(), json!({}));
                }
                let text = format!("VOLUME [{}]", vols.join(" "));
                state.metadata_step(text);
            }
            Command::User(u) => {
                state.config.insert("User".into(), json!(u));
                let text = format!("USER {u}");
                state.metadata_step(text);
            }
            Command::Shell(sh) => {
                state.config.insert("Shell".into(), json!(sh));
                let text = format!("SHELL {}", json_list(sh));
                state.metadata_step(text);
            }
            Command::StopSignal(s) => {
                state.config.insert("StopSignal".into(), json!(s));
                let text = format!("STOPSIGNAL {s}");
                state.metadata_step(text);
            }
            Command::Maintainer(m) => {
                state.doc.insert("author".into(), json!(m));
                let text = format!("MAINTAINER {m}");
                state.metadata_step(text);
            }
            Command::Onbuild(inner) => {
                let text = inner.source.trim().to_string();
                let mut list = string_list(state.config.get("OnBuild"));
                list.push(text.clone());
                state.config.insert("OnBuild".into(), json!(list));
                let text = format!("ONBUILD {text}");
                state.metadata_step(text);
            }
            Command::Healthcheck(h) => {
                let v = match h {
                    Healthcheck::None => json!({"Test": ["NONE"]}),
                    Healthcheck::Check {
                        test,
                        interval,
                        timeout,
                        start_period,
                        start_interval,
                        retries,
                    } => {
                        let mut m = Map::new();
                        m.insert("Test".into(), json!(test));
                        for (k, v) in [
                            ("Interval", interval),
                            ("Timeout", timeout),
                            ("StartPeriod", start_period),
                            ("StartInterval", start_interval),
                        ] {
                            if let Some(d) = v {
                                m.insert(k.into(), json!(parse_duration(d)?));
                            }
                        }
                        if let Some(r) = retries {
                            m.insert("Retries".into(), json!(r));
                        }
                        Value::Object(m)
                    }
                };
                state.config.insert("Healthcheck".into(), v);
                state.metadata_step(src.clone());
            }
            Command::Cmd(c) => {
                let argv = self.argv(state, c);
                state.config.insert("Cmd".into(), json!(argv));
                state.cmd_set = true;
                let text = format!("CMD {}", json_list(&argv));
                state.metadata_step(text);
            }
            Command::Entrypoint(c) => {
                let argv = self.argv(state, c);
                state.config.insert(
                    "Entrypoint".into(),
                    if argv.is_empty() {
                        Value::Null
                    } else {
                        json!(argv)
                    },
                );
                if !state.cmd_set {
                    state.config.insert("Cmd".into(), Value::Null);
                }
                let text = format!("ENTRYPOINT {}", json_list(&argv));
                state.metadata_step(text);
            }
            Command::Workdir(w) => {
                let wd = abs_path(&state.workdir(), w);
                let wd = if wd.len() > 1 {
                    wd.trim_end_matches('/').to_string()
                } else {
                    wd
                };
                state.config.insert("WorkingDir".into(), json!(wd));
                let text = format!("WORKDIR {wd}");
                let inputs = StepInputs {
                    prev: state.key.clone(),
                    instruction: src.clone(),
                    expanded: text.clone(),
                    ..Default::default()
                };
                self.layer_step(state, label, &src, inputs, text, |b, st, upper, work| {
                    b.mount_and(st, upper, work, |root| root.mkdir_all(&wd))?;
                    b.engine
                        .layer_from_upper(upper, &st.layers, "a WORKDIR step")
                })?;
            }
            Command::Run(r) => self.run_step(state, label, &src, r)?,
            Command::Copy(c) => self.copy_step(state, label, &src, c, false, ins.line)?,
            Command::Add(c) => self.copy_step(state, label, &src, c, true, ins.line)?,
        }
        Ok(())
    }

    fn argv(&self, state: &State, c: &ShellOrExec) -> Vec<String> {
        match c {
            ShellOrExec::Exec(v) => v.clone(),
            ShellOrExec::Shell(s) => {
                let mut v = state.shell();
                v.push(s.clone());
                v
            }
        }
    }

    /// A step that may change the filesystem: a cache hit reuses the image it made before;
    /// a miss runs `work` on a fresh upper directory over the current layers and stores the
    /// result as an image kept in the build cache.
    fn layer_step(
        &self,
        state: &mut State,
        label: &str,
        title: &str,
        inputs: StepInputs,
        history: String,
        work: impl FnOnce(
            &Self,
            &State,
            &std::path::Path,
            &std::path::Path,
        ) -> Result<Option<LayerRecord>>,
    ) -> Result<()> {
        let step = self.next_step();
        self.say(format!("#{step} {label} {title}"));
        let mut inputs = inputs;
        inputs.meta = std::mem::take(&mut state.meta);
        let key = inputs.key();
        if !self.opts.no_cache {
            if let Some(rec) = self.engine.cache_lookup(&key)? {
                let cfg = self.engine.image_config(&rec.id)?;
                if let Some(h) = cfg.raw["history"].as_array().and_then(|h| h.last()) {
                    state.history.push(h.clone());
                }
                state.layers = rec.layers;
                state.layer_image = Some(rec.id);
                state.key = key;
                self.say(format!("#{step} CACHED"));
                return Ok(());
            }
            let why = match state.first_miss {
                Some(m) => format!("an earlier step (#{m}) was rebuilt"),
                None => self.engine.explain_miss(&inputs)?,
            };
            self.say(format!("#{step} cache miss: {why}"));
        }
        state.first_miss.get_or_insert(step);
        let t0 = Instant::now();
        let dir = self.dir.join(format!("step-{step}"));
        let (upper, workdir) = (dir.join("upper"), dir.join("work"));
        for d in [&upper, &workdir] {
            std::fs::create_dir_all(d).map_err(Error::io(format!("creating {}", d.display())))?;
        }
        let layer = work(self, state, &upper, &workdir);
        let _ = std::fs::remove_dir_all(&dir);
        let layer = layer?;
        state.push_history(history, layer.is_none());
        if let Some(l) = layer {
            state.layers.push(l);
        }
        let image = self.engine.write_build_image(
            &state.doc,
            &state.config,
            &state.history,
            &state.layers,
        )?;
        self.engine.cache_record(&inputs, &image)?;
        state.layer_image = Some(image);
        state.key = key;
        self.say(format!("#{step} DONE {:.1}s", t0.elapsed().as_secs_f64()));
        Ok(())
    }

    /// Mounts the current layers over `upper` and runs `f` on the merged root.
    fn mount_and(
        &self,
        state: &State,
        upper: &std::path::Path,
        work: &std::path::Path,
        f: impl FnOnce(&ScopedRoot) -> Result<()> + Send,
    ) -> Result<()> {
        let merged = upper.with_file_name("merged");
        let layers = state.layers.clone();
        with_private_mounts(|| {
            self.engine.mount_layers(&layers, upper, work, &merged)?;
            let root = ScopedRoot::open(&merged)?;
            f(&root)
        })
    }

    // ---- RUN ----

    fn run_step(
        &self,
        state: &mut State,
        label: &str,
        src: &str,
        r: &berth_dockerfile::Run,
    ) -> Result<()> {
        let argv = match &r.cmd {
            ShellOrExec::Exec(v) => v.clone(),
            ShellOrExec::Shell(s) => {
                let mut v = state.shell();
                v.push(with_heredocs(s, &r.heredocs));
                v
            }
        };
        if argv.is_empty() {
            return Err(Error::InvalidParameter(format!("{src}: no command given")));
        }
        let network = r
            .network
            .clone()
            .or_else(|| self.opts.network_mode.clone())
            .unwrap_or_else(|| "default".into());
        if !matches!(network.as_str(), "default" | "none" | "host" | "bridge") {
            return Err(Error::InvalidParameter(format!(
                "{src}: unsupported network mode {network:?} (default, none or host)"
            )));
        }
        let mut mounts = Vec::new();
        let mut mount_desc = Vec::new();
        for m in &r.mounts {
            let target = m.target.clone().ok_or_else(|| {
                Error::InvalidParameter(format!("{src}: a --mount needs a target"))
            })?;
            let target = abs_path(&state.workdir(), &target);
            match m.typ {
                MountType::Cache => {
                    let id = m.id.clone().unwrap_or_else(|| target.clone());
                    let dir = self
                        .engine
                        .root()
                        .join("build-cache-mounts")
                        .join(hex::encode(&Digest::of(id.as_bytes()).hex()[..16]));
                    if !dir.exists() {
                        std::fs::create_dir_all(&dir)
                            .map_err(Error::io(format!("creating {}", dir.display())))?;
                        let (uid, gid) = (m.uid.unwrap_or(0), m.gid.unwrap_or(0));
                        let _ = std::os::unix::fs::chown(&dir, Some(uid), Some(gid));
                        use std::os::unix::fs::PermissionsExt;
                        let _ = std::fs::set_permissions(
                            &dir,
                            std::fs::Permissions::from_mode(m.mode.unwrap_or(0o755)),
                        );
                    }
                    mounts.push(json!({"Type": "bind", "Source": dir, "Target": target, "ReadOnly": m.readonly}));
                    mount_desc.push(format!("cache:{id}:{target}"));
                }
                MountType::Tmpfs => {
                    let mut t = json!({"Type": "tmpfs", "Target": target});
                    if let Some(s) = m.size {
                        t["TmpfsOptions"] = json!({"SizeBytes": s});
                    }
                    mounts.push(t);
                    mount_desc.push(format!("tmpfs:{target}"));
                }
                MountType::Bind => {
                    if m.from.is_some() {
                        return Err(Error::InvalidParameter(format!(
                            "{src}: --mount=type=bind,from= is not supported; COPY --from the files instead"
                        )));
                    }
                    let source = m.source.clone().unwrap_or_default();
                    let ctx = ScopedRoot::open(&self.context)?;
                    let host = ctx.resolve(&source)?.ok_or_else(|| {
                        Error::InvalidParameter(format!(
                            "{src}: bind source {source:?} not found in the build context"
                        ))
                    })?;
                    // Bind mounts of the context are read-only, as BuildKit's default.
                    mounts.push(
                        json!({"Type": "bind", "Source": host, "Target": target, "ReadOnly": true}),
                    );
                    // The content of the bound files is part of the key.
                    let root = SourceRoot {
                        root: &ctx,
                        dir: self.context.clone(),
                        ignore: Some(&self.ignore),
                        owner: Some((0, 0)),
                        what: "build context".into(),
                    };
                    let found = root.collect(std::slice::from_ref(&source), &Matcher::default())?;
                    let fp = sources::fingerprint(&found, None)?;
                    mount_desc.push(format!(
                        "bind:{source}:{target}:{}",
                        Digest::of(serde_json::to_string(&fp).unwrap_or_default().as_bytes())
                    ));
                }
                MountType::Secret | MountType::Ssh => {
                    return Err(Error::InvalidParameter(format!(
                        "{src}: secret and ssh mounts need BuildKit's session, which the classic build API (POST /build) does not carry"
                    )));
                }
            }
        }
        // Build args reach RUN as environment, below ENV of the same name.
        let mut env = state.env();
        for (k, v) in &state.args {
            if state.env_get(k).is_none() {
                env.push(format!("{k}={v}"));
            }
        }
        let args: BTreeMap<String, String> = state.args.clone();
        let expanded = format!(
            "RUN {}{}{}",
            json_list(&argv),
            if network == "default" {
                String::new()
            } else {
                format!(" network={network}")
            },
            if mount_desc.is_empty() {
                String::new()
            } else {
                format!(" mounts={}", mount_desc.join(","))
            }
        );
        let inputs = StepInputs {
            prev: state.key.clone(),
            instruction: src.to_string(),
            expanded,
            args: args.clone(),
            files: BTreeMap::new(),
            meta: Vec::new(),
        };
        let shown_args = if args.is_empty() {
            String::new()
        } else {
            format!(
                "|{} {} ",
                args.len(),
                args.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        };
        let history = format!("RUN {shown_args}{} # buildkit", argv.join(" "));
        if state.layer_image.is_none() {
            // A scratch stage: RUN needs an image to start from.
            let id = self
                .engine
                .write_build_image(&state.doc, &state.config, &[], &[])?;
            state.layer_image = Some(id);
        }
        let user = state
            .config
            .get("User")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let body = json!({
            "Image": state.layer_image.as_ref().map(|d| d.as_str().to_string()).unwrap_or_default(),
            "Cmd": argv,
            "Entrypoint": [""],
            "Env": env,
            "WorkingDir": state.workdir(),
            "User": user,
            "Labels": {super::BUILD_CONTAINER_LABEL: "1"},
            "AttachStdout": true,
            "AttachStderr": true,
            "HostConfig": {
                "NetworkMode": if network == "default" { "bridge".to_string() } else { network.clone() },
                "Mounts": mounts,
                "LogConfig": {"Type": "json-file", "Config": {}},
            },
        });
        let shown = argv.join(" ");
        self.layer_step(
            state,
            label,
            src,
            inputs,
            history,
            move |b, st, _upper, _work| b.run_container(&body, &shown, &st.layers),
        )
    }

    /// Runs one RUN container to its end, streaming its output; its writable layer over
    /// `layers` becomes the step's layer.
    fn run_container(
        &self,
        body: &Value,
        shown: &str,
        layers: &[LayerRecord],
    ) -> Result<Option<LayerRecord>> {
        let engine = self.engine;
        let created = engine.create_container(None, body)?;
        let id = created["Id"].as_str().unwrap_or_default().to_string();
        let result = (|| -> Result<Option<LayerRecord>> {
            let step = self.step_no.load(Ordering::SeqCst);
            let mut cursor = engine.log_cursor(&id, true)?;
            let t0 = Instant::now();
            engine.start_container(&id)?;
            let mut killed = false;
            let mut last_beat = Instant::now();
            loop {
                if !killed && (self.cancelled() || self.failed.load(Ordering::SeqCst)) {
                    // The client went away (or another stage failed): stop the step now.
                    let _ = engine.kill_container(&id, Some("KILL"));
                    killed = true;
                }
                let running = engine.is_running(&id);
                let entries = cursor
                    .read()
                    .map_err(Error::io("reading the output of a RUN step"))?;
                for e in entries {
                    let text = String::from_utf8_lossy(&e.log);
                    self.say(format!(
                        "#{step} {:.3} {}",
                        t0.elapsed().as_secs_f64(),
                        text.trim_end_matches('\n')
                    ));
                }
                if !running {
                    break;
                }
                // A quiet step still writes now and then: only a write tells a server that its
                // client went away.
                if last_beat.elapsed() >= Duration::from_secs(1) {
                    (self.sink)(super::Progress::Aux(json!({})));
                    last_beat = Instant::now();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if killed {
                return Err(Error::Internal("the build was cancelled".into()));
            }
            let c = engine.container(&id)?;
            let code = c.state.exit_code;
            if code != 0 {
                return Err(Error::InvalidParameter(format!(
                    "The command '{shown}' returned a non-zero code: {code}"
                )));
            }
            // The container's writable layer becomes the step's upper dir.
            engine.release_container(&id);
            let theirs = engine.container_dir(&id).join("upper");
            engine.layer_from_upper(&theirs, layers, &format!("RUN {shown}"))
        })();
        if let Err(e) = engine.remove_container(&id, true) {
            tracing::warn!(id = %id, error = %e, "removing a build container");
        }
        result
    }

    // ---- COPY / ADD ----

    fn root_spec(&self, from: Option<&str>, stage: usize, line: usize) -> Result<RootSpec> {
        let Some(name) = from.filter(|f| !f.is_empty()) else {
            return Ok(RootSpec::Context);
        };
        if let Some(i) = self.stage_ref(name, stage, true) {
            let out = self.stage_output(i)?;
            return Ok(RootSpec::Layers(
                out.layers.clone(),
                format!("stage {name}"),
            ));
        }
        let rec = self.engine.resolve_image(name).map_err(|e| {
            Error::InvalidParameter(format!("COPY --from={name} (line {line}): {e}"))
        })?;
        Ok(RootSpec::Layers(rec.layers, format!("image {name}")))
    }

    /// Runs `f` with the source root of `spec` (mounted when it is made of layers).
    fn with_source<T: Send>(
        &self,
        spec: &RootSpec,
        scratch: &std::path::Path,
        f: impl FnOnce(&SourceRoot) -> Result<T> + Send,
    ) -> Result<T> {
        match spec {
            RootSpec::Context => {
                let root = ScopedRoot::open(&self.context)?;
                f(&SourceRoot {
                    root: &root,
                    dir: self.context.clone(),
                    ignore: Some(&self.ignore),
                    owner: Some((0, 0)),
                    what: "build context".into(),
                })
            }
            RootSpec::Dir(d) | RootSpec::Remote(d) => {
                let root = ScopedRoot::open(d)?;
                f(&SourceRoot {
                    root: &root,
                    dir: d.clone(),
                    ignore: None,
                    owner: Some((0, 0)),
                    what: "heredoc".into(),
                })
            }
            RootSpec::Layers(layers, what) => {
                let (u, w, m) = (scratch.join("u"), scratch.join("w"), scratch.join("m"));
                self.engine.mount_layers(layers, &u, &w, &m)?;
                let real = std::fs::canonicalize(&m).map_err(Error::io("resolving a mount"))?;
                let root = ScopedRoot::open(&real)?;
                f(&SourceRoot {
                    root: &root,
                    dir: real.clone(),
                    ignore: None,
                    owner: None,
                    what: what.clone(),
                })
            }
        }
    }

    fn copy_step(
        &self,
        state: &mut State,
        label: &str,
        src: &str,
        c: &berth_dockerfile::Copy,
        add: bool,
        line: usize,
    ) -> Result<()> {
        let keyword = if add { "ADD" } else { "COPY" };
        if c.parents {
            return Err(Error::InvalidParameter(format!(
                "{keyword} --parents is not supported"
            )));
        }
        let is_url = |s: &str| s.starts_with("http://") || s.starts_with("https://");
        if let Some(u) = c.sources.iter().find(|s| {
            s.starts_with("git@") || (is_url(s) && (s.ends_with(".git") || s.contains(".git#")))
        }) {
            return Err(Error::InvalidParameter(format!(
                "{keyword} {u}: git sources are not supported by this builder; clone in a RUN step"
            )));
        }
        let (urls, locals): (Vec<String>, Vec<String>) =
            c.sources.iter().cloned().partition(|s| is_url(s));
        if !add && !urls.is_empty() {
            return Err(Error::InvalidParameter(format!(
                "source can't be a URL for COPY: {}",
                urls[0]
            )));
        }
        let chmod = match &c.chmod {
            Some(m) => Some(
                u32::from_str_radix(m, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or_else(|| {
                        Error::InvalidParameter(format!("invalid chmod parameter: {m:?}"))
                    })?,
            ),
            None => None,
        };
        let exclude = Matcher::parse(&c.exclude.join("\n")).map_err(Error::InvalidParameter)?;
        let spec = self.root_spec(c.from.as_deref(), state.stage, line)?;
        // Heredoc sources are files the build writes.
        let mut specs: Vec<(RootSpec, Vec<String>)> = Vec::new();
        if !locals.is_empty() {
            specs.push((spec.clone(), locals));
        }
        if !urls.is_empty() {
            // Remote files are fetched on every build (their content is part of the key), as
            // Docker does; they are copied as files, never unpacked.
            let dir = self
                .dir
                .join(format!("remote-{}", hex::encode(rand::random::<[u8; 4]>())));
            std::fs::create_dir_all(&dir).map_err(Error::io("creating a download directory"))?;
            let mut names = Vec::new();
            for u in &urls {
                names.push(self.download(u, &dir, c.checksum.as_deref())?);
            }
            specs.push((RootSpec::Remote(dir), names));
        }
        if !c.heredocs.is_empty() {
            let step_hint = self.step_no.load(Ordering::SeqCst) + 1;
            let hd = self.dir.join(format!(
                "heredoc-{step_hint}-{}",
                hex::encode(rand::random::<[u8; 4]>())
            ));
            std::fs::create_dir_all(&hd).map_err(Error::io("writing heredoc files"))?;
            let lookup = self.lookup_in(state);
            let mut names = Vec::new();
            for h in &c.heredocs {
                let content = heredoc_content(h, &lookup, self.df.escape)?;
                let p = hd.join(&h.name);
                std::fs::write(&p, content).map_err(Error::io("writing heredoc files"))?;
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644));
                names.push(h.name.clone());
            }
            specs.push((RootSpec::Dir(hd), names));
        }
        // Phase one: what the step would copy, for its key.
        let scratch = self
            .dir
            .join(format!("src-{}", hex::encode(rand::random::<[u8; 4]>())));
        let mut files = BTreeMap::new();
        for (i, (spec, pats)) in specs.iter().enumerate() {
            let fp = with_private_mounts(|| {
                self.with_source(spec, &scratch.join(i.to_string()), |root| {
                    let found = root.collect(pats, &exclude)?;
                    sources::fingerprint(&found, root.owner)
                })
            })?;
            let prefix = match spec {
                RootSpec::Context => String::new(),
                RootSpec::Dir(_) => "<<".into(),
                RootSpec::Remote(_) => "url:".into(),
                RootSpec::Layers(_, what) => format!("{what}:"),
            };
            files.extend(fp.into_iter().map(|(k, v)| (format!("{prefix}{k}"), v)));
        }
        let dest = abs_path(&state.workdir(), &c.dest);
        let expanded = format!(
            "{keyword} from={:?} chown={:?} chmod={:?} exclude={:?} {} {dest}",
            c.from,
            c.chown,
            chmod,
            c.exclude,
            c.sources
                .iter()
                .chain(c.heredocs.iter().map(|h| &h.name))
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")
        );
        let inputs = StepInputs {
            prev: state.key.clone(),
            instruction: src.to_string(),
            expanded,
            args: BTreeMap::new(),
            files,
            meta: Vec::new(),
        };
        let history = format!("{src} # buildkit");
        let chown = c.chown.clone();
        let single = specs.iter().map(|(_, p)| p.len()).sum::<usize>() <= 1;
        self.layer_step(state, label, src, inputs, history, move |b, st, upper, work| {
            let merged = upper.with_file_name("merged");
            let layers = st.layers.clone();
            let tar_path = upper.with_file_name("copy.tar");
            with_private_mounts(|| {
                b.engine.mount_layers(&layers, upper, work, &merged)?;
                let dst = ScopedRoot::open(&merged)?;
                let owner = match &chown {
                    Some(u) => Some(dst.owner_of(u)?),
                    None => None,
                };
                let perms = Perms { owner, chmod };
                let dest_exists_dir = dst.is_dir(&dest)?;
                let mut tar_file = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&tar_path)
                    .map_err(Error::io("writing a copy archive"))?;
                let mut archives: Vec<PathBuf> = Vec::new();
                {
                    let mut tar = tar::Builder::new(std::io::BufWriter::new(&mut tar_file));
                    let mut count = 0usize;
                    let mut wrote_dest_dir = false;
                    for (i, (spec, pats)) in specs.iter().enumerate() {
                        b.with_source(spec, &scratch.join(format!("w{i}")), |root| {
                            let found = root.collect(pats, &exclude)?;
                            count += found.len();
                            let several = !single || found.len() > 1;
                            if several && !dest.ends_with('/') && dest_exists_dir != Some(true) {
                                return Err(Error::InvalidParameter(format!(
                                    "When using {keyword} with more than one source file, the destination must be a directory and end with a /"
                                )));
                            }
                            let dest_is_dir = dest.ends_with('/')
                                || dest_exists_dir == Some(true)
                                || several
                                || found.iter().any(|s| s.is_dir);
                            let base = dest.trim_end_matches('/').trim_start_matches('/').to_string();
                            if dest_is_dir && dest_exists_dir.is_none() && !wrote_dest_dir && !base.is_empty() {
                                sources::append_dir(&mut tar, &base, perms.owner.unwrap_or((0, 0)), 0o755).map_err(Error::io("writing a copy archive"))?;
                                wrote_dest_dir = true;
                            }
                            for s in &found {
                                if s.is_dir {
                                    for e in s.entries.iter().filter(|e| !e.rel.is_empty()) {
                                        let p = if base.is_empty() { e.rel.clone() } else { format!("{base}/{}", e.rel) };
                                        sources::append_entry(&mut tar, &p, e, perms, root.owner).map_err(Error::io("writing a copy archive"))?;
                                    }
                                    continue;
                                }
                                let e = &s.entries[0];
                                let remote = matches!(spec, RootSpec::Remote(_));
                                if add && !remote && e.meta.is_file() && sources::is_tar_archive(&e.host) {
                                    archives.push(e.host.clone());
                                    continue;
                                }
                                let name = s.rel.rsplit('/').next().unwrap_or(&s.rel);
                                let p = if dest_is_dir {
                                    if base.is_empty() { name.to_string() } else { format!("{base}/{name}") }
                                } else {
                                    base.clone()
                                };
                                sources::append_entry(&mut tar, &p, e, perms, root.owner).map_err(Error::io("writing a copy archive"))?;
                            }
                            // ADD's archives are read from the mounted root: unpack them now.
                            for a in archives.drain(..) {
                                let mut f = std::fs::File::open(&a).map_err(Error::io("opening an archive"))?;
                                dst.extract(&dest, &mut f)?;
                            }
                            Ok(())
                        })?;
                    }
                    let _ = count;
                    tar.finish().map_err(Error::io("writing a copy archive"))?;
                }
                tar_file.flush().map_err(Error::io("writing a copy archive"))?;
                tar_file.rewind().map_err(Error::io("writing a copy archive"))?;
                dst.extract("/", &mut tar_file)?;
                Ok(())
            })?;
            let _ = std::fs::remove_file(&tar_path);
            b.engine.layer_from_upper(upper, &st.layers, "a COPY step")
        })
    }
}

/// A shell command with its heredocs appended as the shell reads them; a command that is only
/// a heredoc runs the heredoc's text as the script.
fn with_heredocs(cmd: &str, heredocs: &[Heredoc]) -> String {
    if heredocs.is_empty() {
        return cmd.to_string();
    }
    let trimmed = cmd.trim();
    if heredocs.len() == 1 && trimmed.starts_with("<<") && !trimmed.contains(' ') {
        return heredocs[0].content.clone();
    }
    let mut s = cmd.to_string();
    for h in heredocs {
        s.push('\n');
        s.push_str(&h.content);
        if !h.content.ends_with('\n') {
            s.push('\n');
        }
        s.push_str(&h.name);
    }
    s
}

fn heredoc_content(
    h: &Heredoc,
    lookup: &dyn Fn(&str) -> Option<String>,
    escape: char,
) -> Result<String> {
    let mut text = if h.chomp {
        h.content
            .lines()
            .map(|l| l.trim_start_matches('\t'))
            .collect::<Vec<_>>()
            .join("\n")
            + if h.content.ends_with('\n') { "\n" } else { "" }
    } else {
        h.content.clone()
    };
    if h.expand {
        // Expand variables line by line, keeping quotes as written.
        let mut out = String::new();
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 {
                out.push('\n');
            }
            let quoted = line
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\'', "\\'");
            out.push_str(
                &berth_dockerfile::expand(&format!("\"{quoted}\""), lookup, escape)
                    .unwrap_or_else(|_| line.to_string()),
            );
        }
        text = out;
    }
    Ok(text)
}

/// `80`, `80/udp`, `8000-8002/tcp` → `80/tcp`, ...
fn expand_ports(p: &str) -> Result<Vec<String>> {
    let (ports, proto) = p.split_once('/').unwrap_or((p, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(Error::InvalidParameter(format!("invalid proto: {proto}")));
    }
    let bad = || Error::InvalidParameter(format!("invalid containerPort: {ports}"));
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (
            a.parse::<u16>().map_err(|_| bad())?,
            b.parse::<u16>().map_err(|_| bad())?,
        ),
        None => {
            let n = ports.parse::<u16>().map_err(|_| bad())?;
            (n, n)
        }
    };
    if hi < lo {
        return Err(bad());
    }
    Ok((lo..=hi).map(|n| format!("{n}/{proto}")).collect())
}
