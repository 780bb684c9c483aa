//! `berth export CONTAINER`: GET /containers/{id}/export, the tar streamed to `-o FILE` (a temp
//! file renamed on success) or to stdout (never to a terminal).

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;

use super::container_path;
use crate::client::{RawStream, Request};
use crate::commands::Ctx;

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long, value_name = "string")]
    pub output: Option<PathBuf>,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// Docker's `ValidateOutputPath`, worded for export.
fn validate_output_path(path: &Path) -> anyhow::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        if !dir.exists() {
            anyhow::bail!(
                "failed to export container: invalid output path: directory {:?} does not exist",
                dir.display().to_string()
            );
        }
    }
    if let Ok(meta) = std::fs::metadata(path) {
        if !meta.is_dir() && !meta.is_file() {
            anyhow::bail!(
                "failed to export container: invalid output path: {:?} must be a directory or a regular file",
                path.display().to_string()
            );
        }
    }
    Ok(())
}

async fn write_file(mut stream: RawStream, path: &Path) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".berth_temp_")
        .tempfile_in(&dir)?;
    while let Some(chunk) = stream.chunk().await? {
        tmp.write_all(&chunk)?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

pub async fn run(ctx: &mut Ctx, args: ExportArgs) -> anyhow::Result<()> {
    if args.output.is_none() && ctx.streams.stdout_is_terminal {
        anyhow::bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    if let Some(path) = &args.output {
        validate_output_path(path)?;
    }
    let mut stream = ctx
        .client
        .raw_stream(Request::get(container_path(&args.container, "/export")))
        .await?;
    match &args.output {
        Some(path) => write_file(stream, path).await,
        None => {
            while let Some(chunk) = stream.chunk().await? {
                ctx.streams.out.write_all(&chunk)?;
            }
            ctx.streams.out.flush()?;
            Ok(())
        }
    }
}
