//! `berth load` / `berth image load`: POST /images/load with the tar streamed as the body.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use hyper::header::CONTENT_TYPE;

use crate::client::{JsonStream, Request};
use crate::commands::Ctx;
use crate::jsonmessage::{display_stream, DisplayOptions};
use crate::streams::terminal_width;

#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short, long)]
    pub quiet: bool,
}

pub async fn run(ctx: &mut Ctx, args: LoadArgs) -> anyhow::Result<()> {
    let req = Request::post("/images/load");
    let req = match &args.input {
        Some(path) => {
            let file = tokio::fs::File::open(path)
                .await
                .map_err(|e| anyhow::anyhow!("open {}: {e}", path.display()))?;
            let len = file.metadata().await.ok().map(|m| m.len());
            req.stream_body(file, "application/x-tar", len)
        }
        None => {
            if ctx.streams.stdin_is_terminal {
                anyhow::bail!("requested load from stdin, but stdin is empty");
            }
            req.stream_body(tokio::io::stdin(), "application/x-tar", None)
        }
    };
    // Progress bars only make sense on a terminal, so Docker asks for quiet output otherwise.
    let quiet = args.quiet || !ctx.streams.stdout_is_terminal;
    let response = ctx.client.send(req.flag("quiet", quiet)).await?;
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    let body = response.into_body();
    if is_json {
        let mut stream = JsonStream::from_body(body);
        let opts = DisplayOptions {
            is_terminal: ctx.streams.stdout_is_terminal,
            width: terminal_width().unwrap_or(80),
        };
        display_stream(&mut stream, &mut ctx.streams.out, opts, &mut |_| {}).await?;
    } else {
        let mut raw = crate::client::RawStream::from_body(body);
        while let Some(chunk) = raw.chunk().await? {
            ctx.streams.out.write_all(&chunk)?;
        }
    }
    Ok(())
}
