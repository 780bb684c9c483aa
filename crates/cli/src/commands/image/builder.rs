//! `berth builder prune`: POST /build/prune, after confirmation unless `-f`.

use std::io::Write;

use clap::{Args, Subcommand};

use crate::client::Request;
use crate::commands::{confirm, Ctx};
use crate::filters::Filters;
use crate::format::units::human_size;

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum BuilderCommand {
    /// Remove build cache
    Prune(BuilderPruneArgs),
}

#[derive(Debug, Clone, Args)]
pub struct BuilderPruneArgs {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Provide filter values (e.g. "until=24h")
    #[arg(long = "filter", value_name = "FILTER")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

const WARNING: &str =
    "WARNING! This will remove all dangling build cache. Are you sure you want to continue?";

pub async fn dispatch(command: BuilderCommand, ctx: &mut Ctx) -> anyhow::Result<()> {
    match command {
        BuilderCommand::Prune(args) => prune(ctx, args).await,
    }
}

async fn prune(ctx: &mut Ctx, args: BuilderPruneArgs) -> anyhow::Result<()> {
    let filters = Filters::parse(&args.filter)?;
    if !args.force && !confirm(ctx, WARNING)? {
        return Ok(());
    }
    let report = ctx
        .client
        .json(filters.apply(Request::post("/build/prune").flag("all", args.all)))
        .await?;
    let deleted = report["CachesDeleted"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if !deleted.is_empty() {
        writeln!(ctx.streams.out, "Deleted build cache objects:")?;
        for d in deleted {
            writeln!(ctx.streams.out, "{}", d.as_str().unwrap_or_default())?;
        }
        writeln!(ctx.streams.out)?;
    }
    let space = report["SpaceReclaimed"].as_u64().unwrap_or(0);
    writeln!(
        ctx.streams.out,
        "Total reclaimed space: {}",
        human_size(space as f64)
    )?;
    Ok(())
}
