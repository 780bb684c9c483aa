//! `berth rmi IMAGE...` / `berth image rm`: DELETE /images/{name} for each image, printing what
//! was untagged and deleted, and carrying on past failures.

use std::io::Write;

use clap::Args;

use crate::client::{escape_path, Request};
use crate::commands::{Ctx, StatusError};

#[derive(Debug, Clone, Args)]
pub struct RemoveArgs {
    /// Force removal of the image
    #[arg(short, long)]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long)]
    pub no_prune: bool,
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

/// The lines Docker prints for a delete response (`Untagged: …` / `Deleted: …`).
pub fn render_delete_response(items: &serde_json::Value) -> String {
    let mut out = String::new();
    for item in items.as_array().map(Vec::as_slice).unwrap_or_default() {
        let deleted = item.get("Deleted").and_then(|d| d.as_str()).unwrap_or("");
        if deleted.is_empty() {
            let untagged = item.get("Untagged").and_then(|d| d.as_str()).unwrap_or("");
            out.push_str(&format!("Untagged: {untagged}\n"));
        } else {
            out.push_str(&format!("Deleted: {deleted}\n"));
        }
    }
    out
}

pub async fn run(ctx: &mut Ctx, args: RemoveArgs) -> anyhow::Result<()> {
    let mut errors = Vec::new();
    let mut fatal = false;
    for image in &args.images {
        let req = Request::delete(format!("/images/{}", escape_path(image)))
            .flag("force", args.force)
            .flag("noprune", args.no_prune);
        match ctx.client.json(req).await {
            Ok(items) => {
                ctx.streams
                    .out
                    .write_all(render_delete_response(&items).as_bytes())?;
                ctx.streams.out.flush()?;
            }
            Err(e) => {
                if !e.is_not_found() {
                    fatal = true;
                }
                errors.push(e.to_string());
            }
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    let msg = errors.join("\n");
    if !args.force || fatal {
        return Err(StatusError::new(1, msg).into());
    }
    // `rmi -f` of images that do not exist only warns, as in Docker.
    writeln!(ctx.streams.err, "{msg}")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_untagged_and_deleted() {
        let resp = serde_json::json!([
            {"Untagged": "busybox:latest"},
            {"Untagged": "busybox@sha256:9ae9"},
            {"Deleted": "sha256:a416a98b71e2"},
            {"Deleted": "sha256:3d2b"}
        ]);
        assert_eq!(
            render_delete_response(&resp),
            "Untagged: busybox:latest\nUntagged: busybox@sha256:9ae9\nDeleted: sha256:a416a98b71e2\nDeleted: sha256:3d2b\n"
        );
    }
}
