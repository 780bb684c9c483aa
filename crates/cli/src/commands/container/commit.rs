//! `berth commit CONTAINER [REPOSITORY[:TAG]]`: POST /commit, printing the new image ID.

use std::io::Write;

use clap::{ArgAction, Args};
use serde_json::Value as Json;

use crate::client::Request;
use crate::commands::Ctx;
use crate::reference::parse_normalized_named;

#[derive(Debug, Clone, Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long, value_name = "string")]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", value_name = "list")]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long, value_name = "string")]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short = 'p', long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true", value_name = "BOOL")]
    pub pause: bool,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

/// The commit request (query keys in Go's sorted order).
pub fn commit_request(args: &CommitArgs) -> anyhow::Result<Request> {
    let (mut repo, mut tag) = (String::new(), String::new());
    if let Some(r) = args.reference.as_deref().filter(|r| !r.is_empty()) {
        let named = parse_normalized_named(r)?;
        if named.digest.is_some() {
            anyhow::bail!("refusing to create a tag with a digest reference");
        }
        let named = named.with_default_tag();
        tag = named.tag.clone().unwrap_or_default();
        repo = named.familiar_name();
    }
    let mut req = Request::post("/commit").query("author", args.author.clone().unwrap_or_default());
    for c in &args.change {
        req = req.query("changes", c.clone());
    }
    req = req
        .query("comment", args.message.clone().unwrap_or_default())
        .query("container", args.container.clone());
    if !args.pause {
        req = req.query("pause", "0");
    }
    Ok(req
        .query("repo", repo)
        .query("tag", tag)
        .json_body(&Json::Null))
}

pub async fn run(ctx: &mut Ctx, args: CommitArgs) -> anyhow::Result<()> {
    let resp = ctx.client.json(commit_request(&args)?).await?;
    let id = resp.get("Id").and_then(Json::as_str).unwrap_or("");
    writeln!(ctx.streams.out, "{id}")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_like_docker() {
        let args = CommitArgs {
            author: Some("me".into()),
            change: vec!["CMD [\"x\"]".into(), "ENV a=b".into()],
            message: Some("msg".into()),
            pause: false,
            container: "nope".into(),
            reference: Some("repo/x:v1".into()),
        };
        assert_eq!(
            commit_request(&args).map(|r| r.uri()).ok().as_deref(),
            Some("/v1.41/commit?author=me&changes=CMD%20%5B%22x%22%5D&changes=ENV%20a%3Db&comment=msg&container=nope&pause=0&repo=repo%2Fx&tag=v1")
        );
    }
}
