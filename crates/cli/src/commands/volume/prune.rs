//! `berth volume prune`: POST /volumes/prune, after confirmation unless `-f`.

use std::io::Write;

use clap::Args;

use crate::client::Request;
use crate::commands::container::prune::render_report;
use crate::commands::{confirm, Ctx};
use crate::filters::Filters;

#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones (API 1.42+; on 1.41 every unused
    /// volume is removed anyway)
    #[arg(short, long)]
    pub all: bool,
    /// Provide filter values (e.g. 'label=<label>')
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

/// On API 1.41 the daemon prunes named and anonymous volumes alike, so Docker shows this
/// warning whether or not `--all` is given.
pub const WARNING: &str = "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue?";

pub async fn run(ctx: &mut Ctx, args: PruneArgs) -> anyhow::Result<()> {
    let filters = Filters::parse(&args.filter)?;
    if !args.force && !confirm(ctx, WARNING)? {
        writeln!(ctx.streams.out, "Total reclaimed space: 0B")?;
        return Ok(());
    }
    let report = ctx
        .client
        .json(filters.apply(Request::post("/volumes/prune")))
        .await?;
    ctx.streams
        .out
        .write_all(render_report(&report, "VolumesDeleted", "Deleted Volumes").as_bytes())?;
    Ok(())
}
