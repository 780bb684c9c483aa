//! `berth attach CONTAINER`: attach the local terminal to a running container's streams.

use clap::{ArgAction, Args};
use serde_json::Value as Json;

use super::signals::{forward_signals, TaskGuard};
use super::stream::{stream, StreamConfig, StreamEnd, ESCAPE_MESSAGE};
use super::tty::{monitor_tty_size, resize_to};
use super::{bool_at, check_tty, container_path, inspect_container, wait_status};
use crate::client::{escape_path, JsonStream, Request};
use crate::commands::{Ctx, StatusError};
use crate::streams::terminal_size;

#[derive(Debug, Clone, Args)]
pub struct AttachArgs {
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true", value_name = "BOOL")]
    pub sig_proxy: bool,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// Docker's `inspectContainerAndCheckState`.
fn check_state(c: &Json) -> anyhow::Result<()> {
    if !bool_at(c, "/State/Running") {
        anyhow::bail!("You cannot attach to a stopped container, start it first");
    }
    if bool_at(c, "/State/Paused") {
        anyhow::bail!("You cannot attach to a paused container, unpause it first");
    }
    if bool_at(c, "/State/Restarting") {
        anyhow::bail!("You cannot attach to a restarting container, wait until it is running");
    }
    Ok(())
}

pub async fn run(ctx: &mut Ctx, args: AttachArgs) -> anyhow::Result<()> {
    let name = args.container.clone();
    // The exit wait goes out first, as in Docker, so the exit code cannot be missed.
    let (tx, rx) = tokio::sync::oneshot::channel();
    {
        let client = ctx.client.clone();
        let req = Request::post(format!("/containers/{}/wait", escape_path(&name)));
        tokio::spawn(async move {
            let result = match client.send(req).await {
                Ok(resp) => match JsonStream::from_body(resp.into_body()).next().await {
                    Ok(Some(body)) => wait_status(&body).map_err(anyhow::Error::msg),
                    Ok(None) => Ok(0),
                    Err(e) => Err(e.into()),
                },
                Err(e) => Err(e.into()),
            };
            let _ = tx.send(result);
        });
    }
    let c = inspect_container(&ctx.client, &name).await?;
    check_state(&c)?;
    let tty = bool_at(&c, "/Config/Tty");
    check_tty(ctx, !args.no_stdin, tty)?;
    let stdin = !args.no_stdin && bool_at(&c, "/Config/OpenStdin");
    let _signals = TaskGuard((args.sig_proxy && !tty).then(|| forward_signals(&ctx.client, &name)));
    let detach_keys = args.detach_keys.clone().unwrap_or_default();
    let req = Request::post(container_path(&name, "/attach"))
        .query_nonempty("detachKeys", &detach_keys)
        .query("stderr", "1")
        .flag("stdin", stdin)
        .query("stdout", "1")
        .query("stream", "1");
    let conn = ctx.client.hijack(req).await?;
    let c = inspect_container(&ctx.client, &name).await?;
    check_state(&c)?;
    let mut _resize = TaskGuard(None);
    if tty && ctx.streams.stdout_is_terminal {
        // One size off first, so the program redraws even when the size did not change.
        let (h, w) = terminal_size().unwrap_or((0, 0));
        resize_to(&ctx.client, &name, false, h + 1, w + 1).await;
        _resize = TaskGuard(Some(monitor_tty_size(&ctx.client, &name, false)));
    }
    let cfg = StreamConfig {
        tty,
        stdin,
        stdout: true,
        stderr: true,
        detach_keys,
    };
    if stream(ctx, conn, &cfg).await? == StreamEnd::Detached {
        return Err(StatusError::new(1, ESCAPE_MESSAGE).into());
    }
    match rx.await {
        Ok(Ok(0)) => Ok(()),
        Ok(Ok(code)) => Err(StatusError::silent(code).into()),
        Ok(Err(e)) => Err(e),
        Err(_) => Ok(()),
    }
}
