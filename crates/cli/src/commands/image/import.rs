//! `berth import FILE|URL|- [REPOSITORY[:TAG]]` / `berth image import`: POST /images/create with
//! `fromSrc`, the file streamed as the body; prints the new image id.

use std::path::PathBuf;

use clap::Args;

use crate::client::Request;
use crate::commands::Ctx;
use crate::jsonmessage::{display_stream, DisplayOptions};
use crate::reference::parse_normalized_named;
use crate::streams::terminal_width;

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long, value_name = "CHANGE")]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long)]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    #[arg(value_name = "file|URL|-")]
    pub source: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

/// The query for an import: source, repository and tag split as `docker tag` does, message,
/// changes (repeated) and platform.
pub fn import_request(args: &ImportArgs, from_src: &str) -> anyhow::Result<Request> {
    let mut req = Request::post("/images/create").query("fromSrc", from_src);
    if let Some(r) = args.reference.as_deref().filter(|r| !r.is_empty()) {
        let named = parse_normalized_named(r).map_err(|e| anyhow::anyhow!("{e}"))?;
        if named.digest.is_some() {
            anyhow::bail!("refusing to create a tag with a digest reference");
        }
        let named = named.with_default_tag();
        req = req
            .query("repo", named.familiar_name())
            .query("tag", named.tag.clone().unwrap_or_default());
    }
    req = req.query_nonempty("message", args.message.as_deref().unwrap_or(""));
    for c in &args.change {
        req = req.query("changes", c.clone());
    }
    if let Some(p) = args.platform.as_deref().filter(|p| !p.is_empty()) {
        req = req.query("platform", p.to_lowercase());
    }
    Ok(req)
}

pub async fn run(ctx: &mut Ctx, args: ImportArgs) -> anyhow::Result<()> {
    let req = if args.source == "-" {
        import_request(&args, "-")?.stream_body(tokio::io::stdin(), "application/x-tar", None)
    } else if args.source.starts_with("http://") || args.source.starts_with("https://") {
        import_request(&args, &args.source)?
    } else {
        let path = PathBuf::from(&args.source);
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| anyhow::anyhow!("open {}: {e}", path.display()))?;
        let len = file.metadata().await.ok().map(|m| m.len());
        import_request(&args, "-")?.stream_body(file, "application/x-tar", len)
    };
    let mut stream = ctx.client.json_stream(req).await?;
    let opts = DisplayOptions {
        is_terminal: ctx.streams.stdout_is_terminal,
        width: terminal_width().unwrap_or(80),
    };
    display_stream(&mut stream, &mut ctx.streams.out, opts, &mut |_| {}).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(reference: Option<&str>) -> ImportArgs {
        ImportArgs {
            change: vec!["CMD [\"sh\"]".into(), "ENV A=b".into()],
            message: Some("hi".into()),
            platform: None,
            source: "rootfs.tar".into(),
            reference: reference.map(str::to_string),
        }
    }

    #[test]
    fn query_like_docker() {
        let uri = import_request(&args(Some("myimg:v1")), "-")
            .unwrap_or_else(|e| panic!("{e}"))
            .uri();
        assert_eq!(
            uri,
            "/v1.41/images/create?fromSrc=-&repo=myimg&tag=v1&message=hi&changes=CMD%20%5B%22sh%22%5D&changes=ENV%20A%3Db"
        );
        let uri = import_request(&args(None), "-")
            .unwrap_or_else(|e| panic!("{e}"))
            .uri();
        assert!(uri.starts_with("/v1.41/images/create?fromSrc=-&message=hi"));
        assert!(import_request(&args(Some("Bad")), "-").is_err());
    }
}
