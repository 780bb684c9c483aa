//! `berth tag SOURCE TARGET` / `berth image tag`: POST /images/{source}/tag?repo=&tag=.

use clap::Args;

use crate::client::{escape_path, Request};
use crate::commands::Ctx;
use crate::reference::{parse_any_reference, parse_normalized_named};

#[derive(Debug, Clone, Args)]
pub struct TagArgs {
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    pub source: String,
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    pub target: String,
}

/// Splits a tag target into the API's `repo` and `tag` parameters as Docker's client does:
/// the familiar repository name, and the tag (default `latest`).
pub fn split_target(target: &str) -> anyhow::Result<(String, String)> {
    let named = parse_normalized_named(target).map_err(|e| {
        anyhow::anyhow!("Error parsing reference: {target:?} is not a valid repository/tag: {e}")
    })?;
    if named.digest.is_some() {
        anyhow::bail!("refusing to create a tag with a digest reference");
    }
    let named = named.with_default_tag();
    let tag = named.tag.clone().unwrap_or_else(|| "latest".to_string());
    Ok((named.familiar_name(), tag))
}

pub async fn run(ctx: &mut Ctx, args: TagArgs) -> anyhow::Result<()> {
    parse_any_reference(&args.source).map_err(|e| {
        anyhow::anyhow!(
            "Error parsing reference: {:?} is not a valid repository/tag: {e}",
            args.source
        )
    })?;
    let (repo, tag) = split_target(&args.target)?;
    let req = Request::post(format!("/images/{}/tag", escape_path(&args.source)))
        .query("repo", repo)
        .query("tag", tag);
    ctx.client.bytes(req).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(t: &str) -> (String, String) {
        split_target(t).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn splits_like_docker() {
        assert_eq!(split("myimage"), ("myimage".into(), "latest".into()));
        assert_eq!(split("myimage:v1"), ("myimage".into(), "v1".into()));
        assert_eq!(
            split("docker.io/library/busybox:1.36"),
            ("busybox".into(), "1.36".into())
        );
        assert_eq!(split("user/app:2"), ("user/app".into(), "2".into()));
        assert_eq!(
            split("localhost:5000/team/app"),
            ("localhost:5000/team/app".into(), "latest".into())
        );
        assert_eq!(
            split("registry.example.com:443/x:y"),
            ("registry.example.com:443/x".into(), "y".into())
        );
    }

    #[test]
    fn rejects_bad_targets() {
        let err = |t: &str| {
            split_target(t)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert_eq!(
            err("MyImage"),
            "Error parsing reference: \"MyImage\" is not a valid repository/tag: invalid reference format: repository name must be lowercase"
        );
        assert_eq!(
            err("busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
            "refusing to create a tag with a digest reference"
        );
        assert_eq!(
            err("a:b:c"),
            "Error parsing reference: \"a:b:c\" is not a valid repository/tag: invalid reference format"
        );
    }
}
