//! `berth image prune`: POST /images/prune, after confirmation unless `-f`.

use std::io::Write;

use clap::Args;

use crate::client::Request;
use crate::commands::{confirm, Ctx};
use crate::filters::Filters;
use crate::format::units::human_size;

#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter", value_name = "FILTER")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

pub const DANGLING_WARNING: &str =
    "WARNING! This will remove all dangling images.\nAre you sure you want to continue?";
pub const ALL_WARNING: &str = "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?";

/// Docker's prune report: the deleted list (if any), a blank line, then the reclaimed total.
pub fn render_prune_report(report: &serde_json::Value) -> String {
    let mut out = String::new();
    let deleted = report
        .get("ImagesDeleted")
        .and_then(|d| d.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut space = 0;
    if !deleted.is_empty() {
        out.push_str("Deleted Images:\n");
        for item in deleted {
            let untagged = item.get("Untagged").and_then(|u| u.as_str()).unwrap_or("");
            if untagged.is_empty() {
                let d = item.get("Deleted").and_then(|u| u.as_str()).unwrap_or("");
                out.push_str(&format!("deleted: {d}\n"));
            } else {
                out.push_str(&format!("untagged: {untagged}\n"));
            }
        }
        out.push('\n');
        space = report
            .get("SpaceReclaimed")
            .and_then(|s| s.as_u64())
            .unwrap_or(0);
    }
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        human_size(space as f64)
    ));
    out
}

pub async fn run(ctx: &mut Ctx, args: PruneArgs) -> anyhow::Result<()> {
    let mut filters = Filters::parse(&args.filter)?;
    filters.add("dangling", if args.all { "false" } else { "true" });
    let warning = if args.all {
        ALL_WARNING
    } else {
        DANGLING_WARNING
    };
    if !args.force && !confirm(ctx, warning)? {
        writeln!(ctx.streams.out, "Total reclaimed space: 0B")?;
        return Ok(());
    }
    let report = ctx
        .client
        .json(filters.apply(Request::post("/images/prune")))
        .await?;
    ctx.streams
        .out
        .write_all(render_prune_report(&report).as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_like_docker() {
        let report = serde_json::json!({
            "ImagesDeleted": [{"Untagged": "busybox:latest"}, {"Deleted": "sha256:a416"}],
            "SpaceReclaimed": 1_234_567
        });
        assert_eq!(
            render_prune_report(&report),
            "Deleted Images:\nuntagged: busybox:latest\ndeleted: sha256:a416\n\nTotal reclaimed space: 1.235MB\n"
        );
        let empty = serde_json::json!({"ImagesDeleted": null, "SpaceReclaimed": 0});
        assert_eq!(render_prune_report(&empty), "Total reclaimed space: 0B\n");
    }
}
