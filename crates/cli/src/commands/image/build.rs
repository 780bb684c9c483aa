//! `berth build` / `berth image build`: sends the context (a tar of the directory, filtered
//! by `.dockerignore`) to `POST /build` and shows the progress the daemon streams back.

use std::collections::BTreeMap;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use berth_dockerfile::ignore::Matcher;
use clap::Args;

use crate::client::{JsonStream, Request};
use crate::commands::{Ctx, StatusError};
use crate::jsonmessage::{display_stream, DisplayOptions};
use crate::streams::terminal_width;

#[derive(Debug, Clone, Args)]
pub struct BuildArgs {
    /// Name and optionally a tag in the 'name:tag' format
    #[arg(short = 't', long = "tag", value_name = "NAME")]
    pub tags: Vec<String>,
    /// Name of the Dockerfile (Default is 'PATH/Dockerfile')
    #[arg(short = 'f', long = "file", value_name = "NAME")]
    pub file: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    pub target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    pub no_cache: bool,
    /// Set metadata for an image
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Suppress the build output and print image ID on success
    #[arg(short, long)]
    pub quiet: bool,
    /// Write the image ID to the file
    #[arg(long, value_name = "FILE")]
    pub iidfile: Option<PathBuf>,
    /// Set type of progress output (auto, plain, tty)
    #[arg(long, default_value = "auto")]
    pub progress: String,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long, value_name = "MODE")]
    pub network: Option<String>,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pub pull: bool,
    /// Remove intermediate containers after a successful build
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub rm: bool,
    /// Always remove intermediate containers
    #[arg(long)]
    pub force_rm: bool,
    /// Build context: a directory, or '-' to read a Dockerfile or a context tar from STDIN
    pub context: String,
}

/// `KEY=VALUE` pairs; a bare `KEY` takes its value from the environment (and is dropped when
/// the environment has none), as the docker CLI does.
fn key_values(items: &[String], from_env: bool) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for i in items {
        match i.split_once('=') {
            Some((k, v)) => {
                m.insert(k.to_string(), v.to_string());
            }
            None if from_env => {
                if let Ok(v) = std::env::var(i) {
                    m.insert(i.clone(), v);
                }
            }
            None => {
                m.insert(i.clone(), String::new());
            }
        }
    }
    m
}

/// Appends the context below `dir` to `tar`, skipping what `.dockerignore` excludes (the
/// Dockerfile and `.dockerignore` themselves are always sent, as the docker CLI does).
fn walk<W: Write>(
    dir: &Path,
    rel: &str,
    ignore: &Matcher,
    keep: &[String],
    tar: &mut tar::Builder<W>,
) -> anyhow::Result<()> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("error checking context: {}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let r = if rel.is_empty() {
            name.to_string_lossy().into_owned()
        } else {
            format!("{rel}/{}", name.to_string_lossy())
        };
        let meta = std::fs::symlink_metadata(&path)?;
        let excluded = ignore.excluded(&r) && !keep.contains(&r);
        if meta.is_dir() {
            if !excluded {
                tar.append_path_with_name(&path, &r)?;
            }
            if !excluded
                || ignore.may_reinclude_below(&r)
                || keep.iter().any(|k| k.starts_with(&format!("{r}/")))
            {
                walk(&path, &r, ignore, keep, tar)?;
            }
        } else if !excluded && (meta.file_type().is_file() || meta.file_type().is_symlink()) {
            tar.append_path_with_name(&path, &r)?;
        }
    }
    Ok(())
}

pub async fn run(ctx: &mut Ctx, args: BuildArgs) -> anyhow::Result<()> {
    let mut req = Request::post("/build");
    for t in &args.tags {
        req = req.query("t", t.clone());
    }
    let build_args = key_values(&args.build_args, true);
    if !build_args.is_empty() {
        req = req.query("buildargs", serde_json::to_string(&build_args)?);
    }
    let labels = key_values(&args.labels, false);
    if !labels.is_empty() {
        req = req.query("labels", serde_json::to_string(&labels)?);
    }
    if let Some(t) = &args.target {
        req = req.query("target", t.clone());
    }
    if let Some(n) = &args.network {
        req = req.query("networkmode", n.clone());
    }
    req = req
        .flag("nocache", args.no_cache)
        .flag("q", args.quiet)
        .flag("pull", args.pull)
        .flag("rm", args.rm)
        .flag("forcerm", args.force_rm);
    let mut body = tempfile::tempfile()?;
    let mut piped: Option<std::io::PipeReader> = None;
    let mut writer_thread: Option<std::thread::JoinHandle<anyhow::Result<()>>> = None;
    if args.context == "-" {
        let mut stdin = std::io::stdin().lock();
        std::io::copy(&mut stdin, &mut body)?;
        if let Some(f) = &args.file {
            req = req.query("dockerfile", f.clone());
        }
    } else {
        let dir = PathBuf::from(&args.context);
        let meta = std::fs::metadata(&dir).map_err(|e| {
            StatusError::new(
                1,
                format!(
                    "unable to prepare context: path {:?} not found: {e}",
                    args.context
                ),
            )
        })?;
        if !meta.is_dir() {
            return Err(StatusError::new(
                1,
                format!(
                    "unable to prepare context: context must be a directory: {}",
                    args.context
                ),
            )
            .into());
        }
        // The Dockerfile: inside the context it is named by its path there; outside it, it is
        // added to the context under a name of its own.
        let (df_name, outside) = match &args.file {
            None => ("Dockerfile".to_string(), None),
            Some(f) if f == "-" => {
                let mut text = Vec::new();
                std::io::stdin().lock().read_to_end(&mut text)?;
                (format!(".dockerfile.{:x}", rand_u64()), Some(text))
            }
            Some(f) => {
                let p = Path::new(f);
                let abs = if p.is_absolute() {
                    p.to_path_buf()
                } else {
                    std::env::current_dir()?.join(p)
                };
                let ctx_abs = std::fs::canonicalize(&dir)?;
                let abs_c = std::fs::canonicalize(&abs).map_err(|e| {
                    StatusError::new(1, format!("unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}: {e}", abs.display()))
                })?;
                match abs_c.strip_prefix(&ctx_abs) {
                    Ok(rel) => (rel.to_string_lossy().into_owned(), None),
                    Err(_) => (
                        format!(".dockerfile.{:x}", rand_u64()),
                        Some(std::fs::read(&abs_c)?),
                    ),
                }
            }
        };
        if outside.is_none() && !dir.join(&df_name).is_file() {
            return Err(StatusError::new(1, format!(
                "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}: no such file or directory",
                std::fs::canonicalize(&dir).unwrap_or(dir.clone()).join(&df_name).display()
            )).into());
        }
        let ignore_text = std::fs::read_to_string(dir.join(format!("{df_name}.dockerignore")))
            .or_else(|_| std::fs::read_to_string(dir.join(".dockerignore")))
            .unwrap_or_default();
        let ignore = Matcher::parse(&ignore_text).map_err(|e| anyhow::anyhow!(e))?;
        let keep = vec![df_name.clone(), ".dockerignore".to_string()];
        // The tar streams straight into the request while the walk goes on (no temp copy).
        let (reader, writer) = std::io::pipe()?;
        let walk_dir = dir.clone();
        let name = df_name.clone();
        writer_thread = Some(std::thread::spawn(move || -> anyhow::Result<()> {
            let mut w = std::io::BufWriter::with_capacity(256 * 1024, writer);
            let mut tar = tar::Builder::new(&mut w);
            tar.follow_symlinks(false);
            tar.mode(tar::HeaderMode::Complete);
            walk(&walk_dir, "", &ignore, &keep, &mut tar)?;
            if let Some(text) = &outside {
                let mut h = tar::Header::new_gnu();
                h.set_size(text.len() as u64);
                h.set_mode(0o644);
                h.set_mtime(0);
                h.set_entry_type(tar::EntryType::Regular);
                tar.append_data(&mut h, &name, text.as_slice())?;
            }
            tar.finish()?;
            drop(tar);
            w.flush()?;
            Ok(())
        }));
        piped = Some(reader);
        req = req.query("dockerfile", df_name);
    }
    let req = match piped {
        Some(reader) => {
            let file =
                tokio::fs::File::from_std(std::fs::File::from(std::os::fd::OwnedFd::from(reader)));
            req.stream_body(file, "application/x-tar", None)
        }
        None => {
            let len = body.stream_position()?;
            body.rewind()?;
            req.stream_body(
                tokio::fs::File::from_std(body),
                "application/x-tar",
                Some(len),
            )
        }
    };
    let sent = ctx.client.send(req).await;
    // A context that could not be read says so, rather than the daemon's "truncated tar".
    if let Some(t) = writer_thread {
        // Joined off the runtime: the connection still has to drain the pipe meanwhile.
        match tokio::task::spawn_blocking(move || t.join()).await {
            Ok(Ok(Err(e))) => {
                return Err(StatusError::new(1, format!("error checking context: {e}")).into())
            }
            Ok(Err(_)) | Err(_) => return Err(anyhow::anyhow!("the context writer panicked")),
            Ok(Ok(Ok(()))) => {}
        }
    }
    let response = sent?;
    let mut stream = JsonStream::from_body(response.into_body());
    let opts = DisplayOptions {
        is_terminal: ctx.streams.stdout_is_terminal && args.progress != "plain",
        width: terminal_width().unwrap_or(80),
    };
    let mut image_id = String::new();
    let mut quiet_out = Vec::new();
    let out: &mut (dyn Write + Send) = if args.quiet {
        &mut quiet_out
    } else {
        &mut ctx.streams.out
    };
    let r = display_stream(&mut stream, out, opts, &mut |aux| {
        if let Some(id) = aux.get("ID").and_then(|v| v.as_str()) {
            image_id = id.to_string();
        }
    })
    .await;
    if let Err(e) = r {
        return Err(StatusError::new(1, e.to_string()).into());
    }
    if args.quiet {
        writeln!(ctx.streams.out, "{image_id}")?;
    }
    if let Some(path) = &args.iidfile {
        std::fs::write(path, &image_id)
            .map_err(|e| anyhow::anyhow!("Failed to write image ID to file: {e}"))?;
    }
    Ok(())
}

fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut b);
    }
    u64::from_le_bytes(b)
}
