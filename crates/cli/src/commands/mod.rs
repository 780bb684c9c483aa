//! The commands, one module per command group (`image`, `system`, …) and one file per command.
//! Docker's top-level shortcuts (`images`, `rmi`, `load`, …) reuse the group commands' flags.

pub mod container;
pub mod image;
pub mod inspect;
pub mod network;
pub mod system;
pub mod volume;

use std::io::{BufRead, Write};
use std::path::Path;

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

    /// An exit status with nothing (more) to print.
    pub fn silent(code: i32) -> StatusError {
        StatusError::new(code, "")
    }
}

/// Docker's `reportError` for `run`/`create`: `berth: MESSAGE.` and, with `with_help`, the
/// "See 'berth COMMAND --help'." line.
pub fn report_error_text(command: &str, message: &str, with_help: bool) -> String {
    let mut text = format!("berth: {}.", message.strip_suffix('.').unwrap_or(message));
    if with_help {
        text.push_str(&format!("\nSee 'berth {command} --help'."));
    }
    text
}

/// How Go prints an OS error on a path: `open /x: no such file or directory`.
pub fn os_error_text(op: &str, path: &Path, e: &std::io::Error) -> String {
    format!("{op} {}: {}", path.display(), go_errno_text(e))
}

/// Go's wording of an OS error: the C library's text with a lower-case first letter and
/// without Rust's "(os error N)" suffix.
pub fn go_errno_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error ") {
        Some(i) if e.raw_os_error().is_some() => text[..i].to_string(),
        _ => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Start the berth daemon
    Daemon(DaemonArgs),

    /// Build an image from a Dockerfile
    Build(image::build::BuildArgs),
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
    /// Download an image from a registry
    Pull(image::registry::PullArgs),
    /// Upload an image to a registry
    Push(image::registry::PushArgs),
    /// Log in to a registry
    Login(image::registry::LoginArgs),
    /// Log out from a registry
    Logout(image::registry::LogoutArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(image::save::SaveArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(image::import::ImportArgs),

    /// Attach local standard input, output, and error streams to a running container
    Attach(container::attach::AttachArgs),
    /// Create a new image from a container's changes
    Commit(container::commit::CommitArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(container::cp::CpArgs),
    /// Create a new container
    Create(container::create::CreateArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(container::diff::DiffArgs),
    /// Run a command in a running container
    Exec(container::exec::ExecArgs),
    /// Export a container's filesystem as a tar archive
    Export(container::export::ExportArgs),
    /// Kill one or more running containers
    Kill(container::kill::KillArgs),
    /// Fetch the logs of a container
    Logs(container::logs::LogsArgs),
    /// Pause all processes within one or more containers
    Pause(container::pause::PauseArgs),
    /// List port mappings or a specific mapping for the container
    Port(container::port::PortArgs),
    /// List containers
    Ps(container::list::PsArgs),
    /// Rename a container
    Rename(container::rename::RenameArgs),
    /// Restart one or more containers
    Restart(container::restart::RestartArgs),
    /// Remove one or more containers
    Rm(container::rm::RmArgs),
    /// Run a command in a new container
    Run(container::run::RunArgs),
    /// Start one or more stopped containers
    Start(container::start::StartArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(container::stats::StatsArgs),
    /// Stop one or more running containers
    Stop(container::stop::StopArgs),
    /// Display the running processes of a container
    Top(container::top::TopArgs),
    /// Unpause all processes within one or more containers
    Unpause(container::unpause::UnpauseArgs),
    /// Update configuration of one or more containers
    Update(container::update::UpdateArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(container::wait::WaitArgs),

    /// Show the berth version information
    Version(system::version::VersionArgs),
    /// Display system-wide information
    Info(system::info::InfoArgs),
    /// Get real time events from the server
    Events(system::events::EventsArgs),

    /// Manage containers
    Container {
        #[command(subcommand)]
        command: container::ContainerCommand,
    },
    /// Manage builds
    Builder {
        #[command(subcommand)]
        command: image::BuilderCommand,
    },
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
    /// Manage networks
    Network {
        #[command(subcommand)]
        command: network::NetworkCommand,
    },
    /// Manage volumes
    Volume {
        #[command(subcommand)]
        command: volume::VolumeCommand,
    },
}

/// Runs a parsed command.
pub async fn dispatch(command: Command, ctx: &mut Ctx) -> anyhow::Result<()> {
    match command {
        Command::Daemon(_) => Err(anyhow::anyhow!("the daemon is started by the berth binary")),
        Command::Build(args) => image::build::run(ctx, args).await,
        Command::Images(args) => image::list::run(ctx, args).await,
        Command::Inspect(args) => inspect::run(ctx, args).await,
        Command::History(args) => image::history::run(ctx, args).await,
        Command::Tag(args) => image::tag::run(ctx, args).await,
        Command::Rmi(args) => image::remove::run(ctx, args).await,
        Command::Load(args) => image::load::run(ctx, args).await,
        Command::Pull(args) => image::registry::pull(ctx, args).await,
        Command::Push(args) => image::registry::push(ctx, args).await,
        Command::Login(args) => image::registry::login(ctx, args).await,
        Command::Logout(args) => image::registry::logout(ctx, args).await,
        Command::Save(args) => image::save::run(ctx, args).await,
        Command::Import(args) => image::import::run(ctx, args).await,
        Command::Version(args) => system::version::run(ctx, args).await,
        Command::Info(args) => system::info::run(ctx, args).await,
        Command::Events(args) => system::events::run(ctx, args).await,
        Command::Attach(args) => container::attach::run(ctx, args).await,
        Command::Commit(args) => container::commit::run(ctx, args).await,
        Command::Cp(args) => container::cp::run(ctx, args).await,
        Command::Create(args) => container::create::run(ctx, args).await,
        Command::Diff(args) => container::diff::run(ctx, args).await,
        Command::Exec(args) => container::exec::run(ctx, args).await,
        Command::Export(args) => container::export::run(ctx, args).await,
        Command::Kill(args) => container::kill::run(ctx, args).await,
        Command::Logs(args) => container::logs::run(ctx, args).await,
        Command::Pause(args) => container::pause::run(ctx, args).await,
        Command::Port(args) => container::port::run(ctx, args).await,
        Command::Ps(args) => container::list::run(ctx, args).await,
        Command::Rename(args) => container::rename::run(ctx, args).await,
        Command::Restart(args) => container::restart::run(ctx, args).await,
        Command::Rm(args) => container::rm::run(ctx, args).await,
        Command::Run(args) => container::run::run(ctx, args).await,
        Command::Start(args) => container::start::run(ctx, args).await,
        Command::Stats(args) => container::stats::run(ctx, args).await,
        Command::Stop(args) => container::stop::run(ctx, args).await,
        Command::Top(args) => container::top::run(ctx, args).await,
        Command::Unpause(args) => container::unpause::run(ctx, args).await,
        Command::Update(args) => container::update::run(ctx, args).await,
        Command::Wait(args) => container::wait::run(ctx, args).await,
        Command::Container { command } => container::dispatch(command, ctx).await,
        Command::Builder { command } => image::builder::dispatch(command, ctx).await,
        Command::Image { command } => image::dispatch(command, ctx).await,
        Command::System { command } => system::dispatch(command, ctx).await,
        Command::Network { command } => network::dispatch(command, ctx).await,
        Command::Volume { command } => volume::dispatch(command, ctx).await,
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
