//! `berth save IMAGE...` / `berth image save`: GET /images/get, the tar streamed to `-o FILE`
//! (via a temp file renamed on success, so a failed save leaves nothing behind) or to stdout.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::client::{RawStream, Request};
use crate::commands::Ctx;

#[derive(Debug, Clone, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

/// Docker's `ValidateOutputPath`: the directory must exist; an existing path must be a
/// directory or a regular file.
pub fn validate_output_path(path: &Path) -> anyhow::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        if !dir.exists() {
            anyhow::bail!(
                "failed to save image: invalid output path: directory {:?} does not exist",
                dir.display().to_string()
            );
        }
    }
    if let Ok(meta) = std::fs::metadata(path) {
        if !meta.is_dir() && !meta.is_file() {
            anyhow::bail!(
                "failed to save image: invalid output path: {:?} must be a directory or a regular file",
                path.display().to_string()
            );
        }
    }
    Ok(())
}

fn save_request(images: &[String]) -> Request {
    images
        .iter()
        .fold(Request::get("/images/get"), |req, name| {
            req.query("names", name.clone())
        })
}

/// Copies the stream into a temp file beside `path` and renames it into place.
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

pub async fn run(ctx: &mut Ctx, args: SaveArgs) -> anyhow::Result<()> {
    if args.output.is_none() && ctx.streams.stdout_is_terminal {
        anyhow::bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    if let Some(path) = &args.output {
        validate_output_path(path)?;
    }
    let stream = ctx.client.raw_stream(save_request(&args.images)).await?;
    write_output(ctx, stream, args.output.as_deref()).await
}

/// Writes an archive stream to `-o FILE` (temp file + rename) or to standard output; shared by
/// `save` and `export`.
pub(crate) async fn write_output(
    ctx: &mut Ctx,
    mut stream: RawStream,
    output: Option<&Path>,
) -> anyhow::Result<()> {
    match output {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_all_names() {
        let uri = save_request(&["busybox:latest".into(), "alpine".into()]).uri();
        assert_eq!(uri, "/v1.41/images/get?names=busybox%3Alatest&names=alpine");
    }

    #[test]
    fn output_path_checks() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        assert!(validate_output_path(&dir.path().join("x.tar")).is_ok());
        assert!(validate_output_path(Path::new("x.tar")).is_ok());
        let missing = dir.path().join("nope/x.tar");
        let err = validate_output_path(&missing).err().map(|e| e.to_string());
        assert_eq!(
            err,
            Some(format!(
                "failed to save image: invalid output path: directory \"{}\" does not exist",
                dir.path().join("nope").display()
            ))
        );
    }
}
