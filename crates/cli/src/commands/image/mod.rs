//! `berth image …` commands (and their top-level shortcuts `images`, `rmi`, `tag`, …).

pub mod build;
pub mod builder;
pub mod history;
pub mod import;
pub mod inspect;
pub mod list;
pub mod load;
pub mod prune;
pub mod registry;
pub mod remove;
pub mod save;
pub mod tag;

use clap::Subcommand;

pub use builder::BuilderCommand;

use super::Ctx;

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum ImageCommand {
    /// Build an image from a Dockerfile
    Build(build::BuildArgs),
    /// List images
    #[command(visible_alias = "list")]
    Ls(list::ListArgs),
    /// Display detailed information on one or more images
    Inspect(inspect::InspectArgs),
    /// Show the history of an image
    History(history::HistoryArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(tag::TagArgs),
    /// Remove one or more images
    #[command(visible_aliases = ["rmi", "remove"])]
    Rm(remove::RemoveArgs),
    /// Remove unused images
    Prune(prune::PruneArgs),
    /// Download an image from a registry
    Pull(registry::PullArgs),
    /// Upload an image to a registry
    Push(registry::PushArgs),
    /// Load an image from a tar archive or STDIN
    Load(load::LoadArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(save::SaveArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(import::ImportArgs),
}

pub async fn dispatch(command: ImageCommand, ctx: &mut Ctx) -> anyhow::Result<()> {
    match command {
        ImageCommand::Build(args) => build::run(ctx, args).await,
        ImageCommand::Ls(args) => list::run(ctx, args).await,
        ImageCommand::Inspect(args) => inspect::run(ctx, args).await,
        ImageCommand::History(args) => history::run(ctx, args).await,
        ImageCommand::Tag(args) => tag::run(ctx, args).await,
        ImageCommand::Rm(args) => remove::run(ctx, args).await,
        ImageCommand::Prune(args) => prune::run(ctx, args).await,
        ImageCommand::Pull(args) => registry::pull(ctx, args).await,
        ImageCommand::Push(args) => registry::push(ctx, args).await,
        ImageCommand::Load(args) => load::run(ctx, args).await,
        ImageCommand::Save(args) => save::run(ctx, args).await,
        ImageCommand::Import(args) => import::run(ctx, args).await,
    }
}
