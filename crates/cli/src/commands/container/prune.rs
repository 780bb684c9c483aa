//! `berth container prune`: POST /containers/prune, after confirmation unless `-f`.

use std::io::Write;

use clap::Args;
use serde_json::Value as Json;

use crate::client::Request;
use crate::commands::{confirm, Ctx};
use crate::filters::Filters;
use crate::format::units::human_size;

#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// Provide filter values (e.g. 'until=<timestamp>')
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

pub const WARNING: &str =
    "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?";

/// "Deleted Containers:" and the IDs (if any), a blank line, then the reclaimed total.
pub fn render_report(report: &Json, list_key: &str, title: &str) -> String {
    let mut out = String::new();
    let deleted = report
        .get(list_key)
        .and_then(Json::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut space = 0;
    if !deleted.is_empty() {
        out.push_str(&format!("{title}:\n"));
        for id in deleted {
            out.push_str(id.as_str().unwrap_or(""));
            out.push('\n');
        }
        out.push('\n');
        space = report
            .get("SpaceReclaimed")
            .and_then(Json::as_u64)
            .unwrap_or(0);
    }
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        human_size(space as f64)
    ));
    out
}

pub async fn run(ctx: &mut Ctx, args: PruneArgs) -> anyhow::Result<()> {
    let filters = Filters::parse(&args.filter)?;
    if !args.force && !confirm(ctx, WARNING)? {
        writeln!(ctx.streams.out, "Total reclaimed space: 0B")?;
        return Ok(());
    }
    let report = ctx
        .client
        .json(filters.apply(Request::post("/containers/prune")))
        .await?;
    ctx.streams
        .out
        .write_all(render_report(&report, "ContainersDeleted", "Deleted Containers").as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_like_docker() {
        let r = serde_json::json!({"ContainersDeleted": ["abc", "def"], "SpaceReclaimed": 1234});
        assert_eq!(
            render_report(&r, "ContainersDeleted", "Deleted Containers"),
            "Deleted Containers:\nabc\ndef\n\nTotal reclaimed space: 1.234kB\n"
        );
        let r = serde_json::json!({"ContainersDeleted": null, "SpaceReclaimed": 0});
        assert_eq!(
            render_report(&r, "ContainersDeleted", "Deleted Containers"),
            "Total reclaimed space: 0B\n"
        );
    }
}
