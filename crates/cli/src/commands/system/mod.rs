//! `berth system …` commands and the top-level `version`, `info`, `events`.

pub mod check;
pub mod df;
pub mod events;
pub mod info;
pub mod version;

use clap::Subcommand;

use super::Ctx;

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum SystemCommand {
    /// Show berth disk usage
    Df(df::DfArgs),
    /// Check the daemon's storage for problems
    Check(check::CheckArgs),
    /// Display system-wide information
    Info(info::InfoArgs),
    /// Get real time events from the server
    Events(events::EventsArgs),
}

pub async fn dispatch(command: SystemCommand, ctx: &mut Ctx) -> anyhow::Result<()> {
    match command {
        SystemCommand::Df(args) => df::run(ctx, args).await,
        SystemCommand::Check(args) => check::run(ctx, args).await,
        SystemCommand::Info(args) => info::run(ctx, args).await,
        SystemCommand::Events(args) => events::run(ctx, args).await,
    }
}

/// Go's GOARCH name for the architecture this binary was built for.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}
