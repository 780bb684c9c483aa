//! `berth container …` commands and their top-level shortcuts (`run`, `ps`, `logs`, …), plus
//! what several of them share: creating a container (with the pull fallback), waiting for its
//! exit, and the exit-status rules of `run`.

pub mod attach;
pub mod commit;
pub mod cp;
pub mod create;
pub mod diff;
pub mod exec;
pub mod export;
pub mod inspect;
pub mod kill;
pub mod list;
pub mod logs;
pub mod opts;
pub mod pause;
pub mod port;
pub mod prune;
pub mod rename;
pub mod restart;
pub mod rm;
pub mod run;
pub mod signals;
pub mod start;
pub mod stats;
pub mod stop;
pub mod stream;
pub mod top;
pub mod tty;
pub mod unpause;
pub mod update;
pub mod wait;

use std::future::Future;
use std::io::Write;
use std::time::Duration;

use clap::Subcommand;
use serde_json::Value as Json;
use tokio::sync::oneshot;

use super::{Ctx, StatusError};
use crate::client::{escape_path, Client, ClientError, JsonStream, Request};
use crate::jsonmessage::{display_stream, DisplayOptions};
use crate::reference::parse_normalized_named;
use crate::streams::terminal_width;

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum ContainerCommand {
    /// Attach local standard input, output, and error streams to a running container
    Attach(attach::AttachArgs),
    /// Create a new image from a container's changes
    Commit(commit::CommitArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(cp::CpArgs),
    /// Create a new container
    Create(create::CreateArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(diff::DiffArgs),
    /// Run a command in a running container
    Exec(exec::ExecArgs),
    /// Export a container's filesystem as a tar archive
    Export(export::ExportArgs),
    /// Display detailed information on one or more containers
    Inspect(inspect::InspectArgs),
    /// Kill one or more running containers
    Kill(kill::KillArgs),
    /// Fetch the logs of a container
    Logs(logs::LogsArgs),
    /// List containers
    #[command(visible_aliases = ["list", "ps"])]
    Ls(list::PsArgs),
    /// Pause all processes within one or more containers
    Pause(pause::PauseArgs),
    /// List port mappings or a specific mapping for the container
    Port(port::PortArgs),
    /// Remove all stopped containers
    Prune(prune::PruneArgs),
    /// Rename a container
    Rename(rename::RenameArgs),
    /// Restart one or more containers
    Restart(restart::RestartArgs),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(rm::RmArgs),
    /// Run a command in a new container
    Run(run::RunArgs),
    /// Start one or more stopped containers
    Start(start::StartArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(stats::StatsArgs),
    /// Stop one or more running containers
    Stop(stop::StopArgs),
    /// Display the running processes of a container
    Top(top::TopArgs),
    /// Unpause all processes within one or more containers
    Unpause(unpause::UnpauseArgs),
    /// Update configuration of one or more containers
    Update(update::UpdateArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(wait::WaitArgs),
}

pub async fn dispatch(command: ContainerCommand, ctx: &mut Ctx) -> anyhow::Result<()> {
    match command {
        ContainerCommand::Attach(args) => attach::run(ctx, args).await,
        ContainerCommand::Commit(args) => commit::run(ctx, args).await,
        ContainerCommand::Cp(args) => cp::run(ctx, args).await,
        ContainerCommand::Create(args) => create::run(ctx, args).await,
        ContainerCommand::Diff(args) => diff::run(ctx, args).await,
        ContainerCommand::Exec(args) => exec::run(ctx, args).await,
        ContainerCommand::Export(args) => export::run(ctx, args).await,
        ContainerCommand::Inspect(args) => inspect::run(ctx, args).await,
        ContainerCommand::Kill(args) => kill::run(ctx, args).await,
        ContainerCommand::Logs(args) => logs::run(ctx, args).await,
        ContainerCommand::Ls(args) => list::run(ctx, args).await,
        ContainerCommand::Pause(args) => pause::run(ctx, args).await,
        ContainerCommand::Port(args) => port::run(ctx, args).await,
        ContainerCommand::Prune(args) => prune::run(ctx, args).await,
        ContainerCommand::Rename(args) => rename::run(ctx, args).await,
        ContainerCommand::Restart(args) => restart::run(ctx, args).await,
        ContainerCommand::Rm(args) => rm::run(ctx, args).await,
        ContainerCommand::Run(args) => run::run(ctx, args).await,
        ContainerCommand::Start(args) => start::run(ctx, args).await,
        ContainerCommand::Stats(args) => stats::run(ctx, args).await,
        ContainerCommand::Stop(args) => stop::run(ctx, args).await,
        ContainerCommand::Top(args) => top::run(ctx, args).await,
        ContainerCommand::Unpause(args) => unpause::run(ctx, args).await,
        ContainerCommand::Update(args) => update::run(ctx, args).await,
        ContainerCommand::Wait(args) => wait::run(ctx, args).await,
    }
}

/// `/containers/{id}{rest}` with the id escaped.
pub fn container_path(id: &str, rest: &str) -> String {
    format!("/containers/{}{rest}", escape_path(id))
}

/// GET /containers/{id}/json; a 404 reads "Error: No such container: ID".
pub async fn inspect_container(client: &Client, id: &str) -> anyhow::Result<Json> {
    client
        .json(Request::get(container_path(id, "/json")))
        .await
        .map_err(|e| e.not_found_as("container", id))
}

/// A string field inside a JSON object, by JSON pointer ("" when absent).
pub fn str_at<'a>(v: &'a Json, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Json::as_str).unwrap_or("")
}

/// A boolean field by JSON pointer (false when absent).
pub fn bool_at(v: &Json, pointer: &str) -> bool {
    v.pointer(pointer).and_then(Json::as_bool).unwrap_or(false)
}

/// Runs `op` on every name concurrently and reports in the order given, as Docker's
/// `parallelOperation` does: a line with the name for each success, the errors joined at the
/// end (exit status 1).
pub async fn for_each_container<F, Fut>(
    ctx: &mut Ctx,
    names: &[String],
    op: F,
) -> anyhow::Result<()>
where
    F: Fn(Client, String) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let results =
        futures_util::future::join_all(names.iter().map(|n| op(ctx.client.clone(), n.clone())))
            .await;
    let mut errors = Vec::new();
    for (name, result) in names.iter().zip(results) {
        match result {
            Ok(()) => {
                writeln!(ctx.streams.out, "{name}")?;
                ctx.streams.out.flush()?;
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(StatusError::new(1, errors.join("\n")).into())
    }
}

/// The exit status `run` gives a failed create or start (Docker's `runStartContainerErr`):
/// 127 when the command was not found, 126 when it could not be executed, else 125.
pub fn start_error_status(message: &str) -> i32 {
    let m = message
        .strip_prefix("Error response from daemon: ")
        .unwrap_or(message);
    if m.contains("executable file not found")
        || m.contains("no such file or directory")
        || m.contains("system cannot find the file specified")
    {
        127
    } else if m.contains("permission denied") {
        126
    } else {
        125
    }
}

/// How long to wait for the daemon to acknowledge a wait request (it sends the response
/// headers as soon as the waiter is registered) before starting the container anyway.
const WAIT_REGISTER_TIMEOUT: Duration = Duration::from_secs(1);

/// A pending `POST /containers/{id}/wait`; resolves to the exit status (125 on errors).
pub struct ExitWaiter {
    rx: oneshot::Receiver<i32>,
}

impl ExitWaiter {
    pub async fn status(self) -> i32 {
        self.rx.await.unwrap_or(125)
    }
}

/// Docker's `waitExitOrRemoved`: registers `wait?condition=next-exit` (or `removed`) and returns
/// once the daemon has acknowledged it, so a container started afterwards cannot be missed.
pub async fn wait_exit_or_removed(client: &Client, id: &str, removed: bool) -> ExitWaiter {
    let condition = if removed { "removed" } else { "next-exit" };
    let req = Request::post(container_path(id, "/wait")).query("condition", condition);
    let (ready_tx, ready_rx) = oneshot::channel::<()>();
    let (tx, rx) = oneshot::channel();
    let client = client.clone();
    tokio::spawn(async move {
        let response = client.send(req).await;
        let _ = ready_tx.send(());
        let status = match response {
            Ok(resp) => {
                let mut stream = JsonStream::from_body(resp.into_body());
                match stream.next().await {
                    Ok(Some(body)) => wait_status(&body).unwrap_or_else(|msg| {
                        eprintln!("Error waiting for container: {msg}");
                        125
                    }),
                    Ok(None) => 125,
                    Err(e) => {
                        eprintln!("error waiting for container: {e}");
                        125
                    }
                }
            }
            Err(e) => {
                eprintln!("error waiting for container: {e}");
                125
            }
        };
        let _ = tx.send(status);
    });
    let _ = tokio::time::timeout(WAIT_REGISTER_TIMEOUT, ready_rx).await;
    ExitWaiter { rx }
}

/// The exit status in a wait response, or the error it reports.
pub fn wait_status(body: &Json) -> Result<i32, String> {
    if let Some(msg) = body
        .pointer("/Error/Message")
        .and_then(Json::as_str)
        .filter(|m| !m.is_empty())
    {
        return Err(msg.to_string());
    }
    Ok(body.get("StatusCode").and_then(Json::as_i64).unwrap_or(0) as i32)
}

/// Pulls `image` (POST /images/create), showing progress on stderr as `docker run` does.
pub async fn pull_image(ctx: &mut Ctx, image: &str, platform: Option<&str>) -> anyhow::Result<()> {
    let named = parse_normalized_named(image)?;
    let tag = match (&named.digest, &named.tag) {
        (Some(d), _) => d.clone(),
        (None, Some(t)) => t.clone(),
        (None, None) => "latest".to_string(),
    };
    let mut req = Request::post("/images/create")
        .query("fromImage", named.familiar_name())
        .header(
            "X-Registry-Auth",
            crate::commands::image::registry::auth_header(
                &crate::commands::image::registry::registry_of(&named.familiar_name()),
            ),
        );
    if let Some(p) = platform.filter(|p| !p.is_empty()) {
        req = req.query("platform", p);
    }
    req = req.query("tag", tag);
    let mut stream = ctx.client.json_stream(req).await?;
    let opts = DisplayOptions {
        is_terminal: ctx.streams.stdout_is_terminal,
        width: terminal_width().unwrap_or(80),
    };
    display_stream(&mut stream, &mut ctx.streams.err, opts, &mut |_| {}).await?;
    Ok(())
}

/// A container ID file (`--cidfile`): refused if it exists, removed again unless written.
struct CidFile {
    path: Option<std::path::PathBuf>,
    written: bool,
}

impl CidFile {
    fn new(path: &str) -> anyhow::Result<CidFile> {
        if path.is_empty() {
            return Ok(CidFile {
                path: None,
                written: false,
            });
        }
        let p = std::path::PathBuf::from(path);
        if p.exists() {
            anyhow::bail!("container ID file found, make sure the other container isn't running or delete {path}");
        }
        std::fs::File::create(&p)
            .map_err(|e| anyhow::anyhow!("failed to create the container ID file: {e}"))?;
        Ok(CidFile {
            path: Some(p),
            written: false,
        })
    }

    fn write(&mut self, id: &str) -> anyhow::Result<()> {
        if let Some(p) = &self.path {
            std::fs::write(p, id).map_err(|e| {
                anyhow::anyhow!("failed to write the container ID to the file: {e}")
            })?;
            self.written = true;
        }
        Ok(())
    }
}

impl Drop for CidFile {
    fn drop(&mut self) {
        if let (Some(p), false) = (&self.path, self.written) {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Where a `create` error came from, for `run`'s exit status.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Docker's `createContainer`: POST /containers/create; when the image is missing (and `--pull`
/// allows it), "Unable to find image … locally", pull, and try again. Prints the daemon's
/// warnings and returns the new container's ID.
pub async fn create_container(
    ctx: &mut Ctx,
    config: &opts::ContainerConfig,
    name: Option<&str>,
    pull: &str,
    platform: Option<&str>,
) -> Result<String, CreateError> {
    if config.oom_kill_disable && config.memory == 0 {
        let _ = writeln!(ctx.streams.err, "WARNING: Disabling the OOM killer on containers without setting a '-m/--memory' limit may be dangerous.");
    }
    if let Some(dns) = config.dns.iter().find(|d| is_localhost(d)) {
        let _ = writeln!(
            ctx.streams.err,
            "WARNING: Localhost DNS setting (--dns={dns}) may fail in containers."
        );
    }
    let mut cid = CidFile::new(&config.cidfile)?;
    crate::reference::parse_any_reference(&config.image).map_err(anyhow::Error::from)?;
    let named = parse_normalized_named(&config.image)
        .ok()
        .map(|n| n.with_default_tag());
    if pull == "always" {
        pull_image(ctx, &config.image, platform).await?;
    }
    let body = config.body();
    let request = || {
        let mut req = Request::post("/containers/create");
        if let Some(n) = name.filter(|n| !n.is_empty()) {
            req = req.query("name", n);
        }
        if let Some(p) = platform.filter(|p| !p.is_empty()) {
            req = req.query("platform", p);
        }
        req.json_body(&body)
    };
    let response = match ctx.client.json(request()).await {
        Ok(r) => r,
        Err(e) if e.is_not_found() && named.is_some() && pull == "missing" => {
            let familiar = named
                .as_ref()
                .map(|n| n.familiar_string())
                .unwrap_or_default();
            let _ = writeln!(ctx.streams.err, "Unable to find image '{familiar}' locally");
            pull_image(ctx, &config.image, platform).await?;
            ctx.client.json(request()).await?
        }
        Err(e) => return Err(e.into()),
    };
    for w in response
        .get("Warnings")
        .and_then(Json::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        if let Some(w) = w.as_str() {
            let _ = writeln!(ctx.streams.err, "WARNING: {w}");
        }
    }
    let id = response
        .get("Id")
        .and_then(Json::as_str)
        .unwrap_or("")
        .to_string();
    cid.write(&id)?;
    Ok(id)
}

/// Docker's localhost test for `--dns` values.
fn is_localhost(ip: &str) -> bool {
    let v4 = ip.strip_prefix("127.").is_some_and(|rest| {
        let parts: Vec<&str> = rest.split('.').collect();
        parts.len() >= 3
            && parts[..3]
                .iter()
                .all(|p| (1..=3).contains(&p.len()) && p.chars().all(|c| c.is_ascii_digit()))
    });
    v4 || ip.ends_with("::1")
}

/// Docker's `CheckTty`: a TTY with stdin attached needs a terminal on stdin.
pub fn check_tty(ctx: &Ctx, attach_stdin: bool, tty: bool) -> anyhow::Result<()> {
    if tty && attach_stdin && !ctx.streams.stdin_is_terminal {
        return Err(StatusError::new(1, "the input device is not a TTY").into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_errors_map_to_exit_statuses() {
        assert_eq!(start_error_status("Error response from daemon: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: \"nope\": executable file not found in $PATH: unknown"), 127);
        assert_eq!(
            start_error_status("exec: \"/etc\": permission denied: unknown"),
            126
        );
        assert_eq!(
            start_error_status("Error response from daemon: No such image: x:latest"),
            125
        );
    }

    #[test]
    fn wait_bodies() {
        assert_eq!(
            wait_status(&serde_json::json!({"StatusCode": 3, "Error": null})),
            Ok(3)
        );
        assert_eq!(
            wait_status(&serde_json::json!({"StatusCode": 0, "Error": {"Message": "boom"}})),
            Err("boom".to_string())
        );
    }

    #[test]
    fn localhost_dns() {
        assert!(is_localhost("127.0.0.1"));
        assert!(is_localhost("::1"));
        assert!(!is_localhost("8.8.8.8"));
    }
}
