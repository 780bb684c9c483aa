//! The `berth` command-line client.
//!
//! This crate owns the user-facing CLI: argument parsing (clap), the commands, their output —
//! tables, Go `--format` templates, human sizes and durations, exactly as the `docker` CLI prints
//! them — and the HTTP client that speaks the Docker Engine API v1.41 to a berth (or Docker)
//! daemon over a unix socket or TCP (optionally TLS).
//!
//! It must never touch the image store, the metadata database or any daemon state directly:
//! everything goes through the API, so the same CLI works against any compatible daemon. It
//! does not start the daemon either: `berth daemon …` only parses its flags and hands them back
//! to the binary as [`Outcome::Daemon`].
//!
//! Data flow: argv → [`run`] → clap → a command in [`commands`] → [`client::Client`] requests →
//! JSON/tar/streams back → rows in [`format::rows`] → [`format`] (templates, tabwriter) → stdout.
//! `run`, `start -a`, `attach` and `exec` hijack their connection ([`client::Client::hijack`]) and
//! move the container's streams both ways (`commands::container::stream`), with the local
//! terminal in raw mode ([`term`]) when a TTY session reads from it.
//! Errors print to stderr the way `docker` prints them, with Docker's exit codes.
//!
//! Adding a command: add a file under `commands/<group>/` with a clap `Args` struct and an
//! `async fn run(ctx, args)`, then one variant in that group's enum (and, for a top-level
//! shortcut like `docker images`, one in [`commands::Command`]).

pub mod client;
pub mod commands;
pub mod filters;
pub mod format;
pub mod gopath;
pub mod jsonmessage;
pub mod reference;
pub mod streams;
pub mod term;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::{CommandFactory, Parser};

use crate::client::{Client, TlsOptions, DEFAULT_HOST};
use crate::commands::{Command, Ctx, StatusError};
use crate::streams::Streams;

/// What the binary should do after [`run`].
#[derive(Debug)]
pub enum Outcome {
    /// Exit with this code.
    Exit(i32),
    /// Start the daemon with these settings (`berth daemon …`).
    Daemon(Box<DaemonArgs>),
}

// `berth daemon` flags. (Not a doc comment: clap would make it the subcommand's help text.)
#[derive(Debug, Clone, clap::Args)]
pub struct DaemonArgs {
    /// Root directory of persistent state
    #[arg(long, default_value = "/var/lib/berth")]
    pub root: PathBuf,
    /// Root directory for execution state files
    #[arg(long, default_value = "/run/berth")]
    pub exec_root: PathBuf,
    /// unix:///path or tcp://host:port; repeatable; default unix:///run/berth/berth.sock
    #[arg(short = 'H', long = "host")]
    pub hosts: Vec<String>,
    /// Use TLS and verify the remote
    #[arg(long)]
    pub tlsverify: bool,
    /// Trust certs signed only by this CA
    #[arg(long)]
    pub tlscacert: Option<PathBuf>,
    /// Path to TLS certificate file
    #[arg(long)]
    pub tlscert: Option<PathBuf>,
    /// Path to TLS key file
    #[arg(long)]
    pub tlskey: Option<PathBuf>,
    /// Set the logging level ("debug"|"info"|"warn"|"error"|"fatal")
    #[arg(long, default_value = "info")]
    pub log_level: String,
    /// Registry (host[:port]) to reach over plain HTTP besides loopback
    #[arg(long = "insecure-registry", value_name = "REGISTRY")]
    pub insecure_registries: Vec<String>,
    /// Network namespace (a pinned file, as `ip netns` makes) that plays the host for
    /// containers: bridges, NAT, published ports and `--network host` live there instead of in
    /// the daemon's own namespace (default: the daemon's)
    #[arg(long = "network-namespace", value_name = "PATH")]
    pub network_namespace: Option<PathBuf>,
    /// Set the logging format ("text"|"json")
    #[arg(long, default_value = "text")]
    pub log_format: String,
}

/// Flags that come before the command.
#[derive(Debug, Clone, clap::Args)]
pub struct GlobalOptions {
    /// Daemon socket to connect to
    #[arg(short = 'H', long = "host", env = "BERTH_HOST", default_value = DEFAULT_HOST, value_name = "URL")]
    pub host: String,
    /// Use TLS; implied by --tlsverify
    #[arg(long)]
    pub tls: bool,
    /// Use TLS and verify the remote
    #[arg(long)]
    pub tlsverify: bool,
    /// Trust certs signed only by this CA (default ~/.berth/ca.pem)
    #[arg(long, value_name = "FILE")]
    pub tlscacert: Option<PathBuf>,
    /// Path to TLS certificate file (default ~/.berth/cert.pem)
    #[arg(long, value_name = "FILE")]
    pub tlscert: Option<PathBuf>,
    /// Path to TLS key file (default ~/.berth/key.pem)
    #[arg(long, value_name = "FILE")]
    pub tlskey: Option<PathBuf>,
    /// Set the logging level
    #[arg(short = 'l', long, default_value = "info", value_parser = ["debug", "info", "warn", "error", "fatal"])]
    pub log_level: String,
    /// Print version information and quit
    #[arg(short = 'v', long = "version")]
    pub version: bool,
}

impl GlobalOptions {
    /// TLS settings, if TLS is on; default certificate files come from `$BERTH_CERT_PATH` or
    /// `~/.berth` when they exist, as Docker does with `~/.docker`.
    pub fn tls_options(&self) -> Option<TlsOptions> {
        if !self.tls && !self.tlsverify {
            return None;
        }
        let cert_dir = std::env::var_os("BERTH_CERT_PATH")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".berth")));
        let default = |name: &str| {
            cert_dir
                .as_ref()
                .map(|d| d.join(name))
                .filter(|p| p.exists())
        };
        let (cert, key) = match (&self.tlscert, &self.tlskey) {
            (None, None) => match (default("cert.pem"), default("key.pem")) {
                (Some(c), Some(k)) => (Some(c), Some(k)),
                _ => (None, None),
            },
            (c, k) => (c.clone(), k.clone()),
        };
        Some(TlsOptions {
            verify: self.tlsverify,
            ca_cert: self.tlscacert.clone().or_else(|| default("ca.pem")),
            cert,
            key,
        })
    }
}

/// The whole command line: global flags and the command.
#[derive(Debug, Parser)]
#[command(
    name = "berth",
    about = "A self-sufficient runtime for containers",
    disable_version_flag = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOptions,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Parses `argv` (including the program name) and runs the command.
pub fn run(argv: Vec<OsString>) -> Outcome {
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return Outcome::Exit(e.exit_code());
        }
    };
    if cli.global.version {
        println!("berth version {}", client::CLIENT_VERSION);
        return Outcome::Exit(0);
    }
    let Some(command) = cli.command else {
        let _ = Cli::command().print_help();
        return Outcome::Exit(0);
    };
    if let Command::Daemon(args) = command {
        return Outcome::Daemon(Box::new(args));
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("failed to start the async runtime: {e}");
            return Outcome::Exit(1);
        }
    };
    let (code, _) = runtime.block_on(run_command(cli.global, command, Streams::std()));
    Outcome::Exit(code)
}

/// Runs one (non-daemon) command with the given streams and returns its exit code, printing
/// errors to `streams.err` as `docker` does. Must be called inside a tokio runtime.
pub async fn run_command(
    global: GlobalOptions,
    command: Command,
    mut streams: Streams,
) -> (i32, Streams) {
    let client = match Client::new(&global.host, global.tls_options().as_ref()) {
        Ok(c) => c,
        Err(e) => {
            let code = report(&e.into(), &mut streams);
            return (code, streams);
        }
    };
    let mut ctx = Ctx {
        client,
        streams,
        global,
    };
    let result = commands::dispatch(command, &mut ctx).await;
    let result = result.and_then(|()| ctx.streams.out.flush().map_err(anyhow::Error::from));
    let code = match result {
        Ok(()) => 0,
        Err(err) => report(&err, &mut ctx.streams),
    };
    let _ = ctx.streams.out.flush();
    (code, ctx.streams)
}

/// Prints an error as `docker` does and returns the exit code.
fn report(err: &anyhow::Error, streams: &mut Streams) -> i32 {
    if streams::is_stdout_closed(err) {
        // What a Go program killed by SIGPIPE exits with.
        return 141;
    }
    let _ = streams.out.flush();
    if let Some(status) = err.downcast_ref::<StatusError>() {
        if !status.message.is_empty() {
            let _ = writeln!(streams.err, "{}", status.message);
        }
        return status.code;
    }
    let _ = writeln!(streams.err, "{err}");
    1
}
