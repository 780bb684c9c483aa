//! `berth export CONTAINER`: GET /containers/{id}/export, the tar streamed to `-o FILE` (a temp
//! file renamed on success) or to stdout (never to a terminal).

use std::path::{Path, PathBuf};

use clap::Args;

use super::container_path;
use crate::client::Request;
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

pub async fn run(ctx: &mut Ctx, args: ExportArgs) -> anyhow::Result<()> {
    if args.output.is_none() && ctx.streams.stdout_is_terminal {
        anyhow::bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    if let Some(path) = &args.output {
        validate_output_path(path)?;
    }
    let stream = ctx
        .client
        .raw_stream(Request::get(container_path(&args.container, "/export")))
        .await?;
    crate::commands::image::save::write_output(ctx, stream, args.output.as_deref()).await
}
