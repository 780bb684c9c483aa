//! `berth start [-a] [-i] CONTAINER...`: POST /containers/{id}/start; with `-a`/`-i`, attach
//! first and stream until the container exits, as `docker start -a` does.

use std::io::Write;

use clap::Args;

use super::signals::{forward_signals, TaskGuard};
use super::stream::{stream, StreamConfig, StreamEnd};
use super::tty::monitor_tty_size;
use super::{bool_at, container_path, inspect_container, str_at, wait_exit_or_removed};
use crate::client::Request;
use crate::commands::{Ctx, StatusError};

#[derive(Debug, Clone, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Attach container's STDIN
    #[arg(short = 'i', long)]
    pub interactive: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub async fn run(ctx: &mut Ctx, args: StartArgs) -> anyhow::Result<()> {
    if !(args.attach || args.interactive) {
        return start_without_attach(ctx, &args.containers).await;
    }
    if args.containers.len() > 1 {
        anyhow::bail!("you cannot start and attach multiple containers at once");
    }
    let name = &args.containers[0];
    let c = inspect_container(&ctx.client, name).await?;
    let id = str_at(&c, "/Id").to_string();
    let tty = bool_at(&c, "/Config/Tty");
    let open_stdin = bool_at(&c, "/Config/OpenStdin");
    let auto_remove = bool_at(&c, "/HostConfig/AutoRemove");
    let _signals = TaskGuard((!tty).then(|| forward_signals(&ctx.client, &id)));
    let detach_keys = args.detach_keys.clone().unwrap_or_default();
    let stdin = args.interactive && open_stdin;
    let req = Request::post(container_path(&id, "/attach"))
        .query_nonempty("detachKeys", &detach_keys)
        .query("stderr", "1")
        .flag("stdin", stdin)
        .query("stdout", "1")
        .query("stream", "1");
    let conn = ctx.client.hijack(req).await?;
    let waiter = wait_exit_or_removed(&ctx.client, &id, auto_remove).await;
    ctx.client
        .send(Request::post(container_path(&id, "/start")))
        .await?;
    let _resize = TaskGuard(
        (tty && ctx.streams.stdout_is_terminal).then(|| monitor_tty_size(&ctx.client, &id, false)),
    );
    let cfg = StreamConfig {
        tty,
        stdin,
        stdout: true,
        stderr: true,
        detach_keys,
    };
    if stream(ctx, conn, &cfg).await? == StreamEnd::Detached {
        return Ok(());
    }
    match waiter.status().await {
        0 => Ok(()),
        code => Err(StatusError::silent(code).into()),
    }
}

async fn start_without_attach(ctx: &mut Ctx, containers: &[String]) -> anyhow::Result<()> {
    let mut failed = Vec::new();
    for name in containers {
        match ctx
            .client
            .send(Request::post(container_path(name, "/start")))
            .await
        {
            Ok(_) => {
                writeln!(ctx.streams.out, "{name}")?;
                ctx.streams.out.flush()?;
            }
            Err(e) => {
                writeln!(ctx.streams.err, "{e}")?;
                failed.push(name.clone());
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(StatusError::new(
            1,
            format!("Error: failed to start containers: {}", failed.join(", ")),
        )
        .into())
    }
}
