//! `berth volume …` commands.

pub mod create;
pub mod inspect;
pub mod list;
pub mod prune;
pub mod remove;

use clap::Subcommand;

use super::Ctx;

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum VolumeCommand {
    /// Create a volume
    Create(create::CreateArgs),
    /// Display detailed information on one or more volumes
    Inspect(inspect::InspectArgs),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(list::ListArgs),
    /// Remove all unused local volumes
    Prune(prune::PruneArgs),
    /// Remove one or more volumes
    #[command(visible_alias = "remove")]
    Rm(remove::RemoveArgs),
}

pub async fn dispatch(command: VolumeCommand, ctx: &mut Ctx) -> anyhow::Result<()> {
    match command {
        VolumeCommand::Create(args) => create::run(ctx, args).await,
        VolumeCommand::Inspect(args) => inspect::run(ctx, args).await,
        VolumeCommand::Ls(args) => list::run(ctx, args).await,
        VolumeCommand::Prune(args) => prune::run(ctx, args).await,
        VolumeCommand::Rm(args) => remove::run(ctx, args).await,
    }
}
