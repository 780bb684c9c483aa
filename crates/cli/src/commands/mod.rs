//! The commands, one module per command group (`image`, `system`, …) and one file per command.
//! Docker's top-level shortcuts (`images`, `rmi`, `load`, …) reuse the group commands' flags.

pub mod image;
pub mod inspect;
pub mod system;

use std::io::{BufRead, Write};

use clap::Subcommand;

use crate::client::Client;
use crate::streams::Streams;
use crate::{DaemonArgs, GlobalOptions};

/// Everything a command needs: the API client, the standard streams and the global flags.
pub struct Ctx {
    pub client: Client,
    pub streams: Streams,
    pub global: GlobalOptions,
}

/// An error with a specific exit code (Docker's `cli.StatusError`); its message is printed as is.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StatusError {
    pub code: i32,
    pub message: String,
}

impl StatusError {
    pub fn new(code: i32, message: impl Into<String>) -> StatusError {
        StatusError {
            code,
            message: message.into(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the berth daemon
    Daemon(DaemonArgs),

    /// List images
    Images(image::list::ListArgs),
    /// Return low-level information on berth objects
    Inspect(inspect::InspectArgs),
    /// Show the history of an image
    History(image::history::HistoryArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(image::tag::TagArgs),
    /// Remove one or more images
    Rmi(image::remove::RemoveArgs),
    /// Load an image from a tar archive or STDIN
    Load(image::load::LoadArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(image::save::SaveArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(image::import::ImportArgs),

    /// Show the berth version information
    Version(system::version::VersionArgs),
    /// Display system-wide information
    Info(system::info::InfoArgs),
    /// Get real time events from the server
    Events(system::events::EventsArgs),

    /// Manage images
    Image {
        #[command(subcommand)]
        command: image::ImageCommand,
    },
    /// Manage berth
    System {
        #[command(subcommand)]
        command: system::SystemCommand,
    },
}

/// Runs a parsed command.
pub async fn dispatch(command: Command, ctx: &mut Ctx) -> anyhow::Result<()> {
    match command {
        Command::Daemon(_) => Err(anyhow::anyhow!("the daemon is started by the berth binary")),
        Command::Images(args) => image::list::run(ctx, args).await,
        Command::Inspect(args) => inspect::run(ctx, args).await,
        Command::History(args) => image::history::run(ctx, args).await,
        Command::Tag(args) => image::tag::run(ctx, args).await,
        Command::Rmi(args) => image::remove::run(ctx, args).await,
        Command::Load(args) => image::load::run(ctx, args).await,
        Command::Save(args) => image::save::run(ctx, args).await,
        Command::Import(args) => image::import::run(ctx, args).await,
        Command::Version(args) => system::version::run(ctx, args).await,
        Command::Info(args) => system::info::run(ctx, args).await,
        Command::Events(args) => system::events::run(ctx, args).await,
        Command::Image { command } => image::dispatch(command, ctx).await,
        Command::System { command } => system::dispatch(command, ctx).await,
    }
}

/// Docker's `PromptForConfirmation`: prints `message [y/N] ` and reads one line from stdin.
pub fn confirm(ctx: &mut Ctx, message: &str) -> std::io::Result<bool> {
    write!(ctx.streams.out, "{message} [y/N] ")?;
    ctx.streams.out.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer
        .trim_end_matches(['\r', '\n'])
        .eq_ignore_ascii_case("y"))
}
