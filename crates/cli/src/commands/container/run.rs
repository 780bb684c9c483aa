//! `berth run` / `berth container run`: create (pulling a missing image), attach, register the
//! exit wait, start, stream, and exit with the container's status — the docker CLI's
//! `runContainer`, step for step.

use std::io::Write;

use clap::{ArgAction, Args};

use super::create::opts_error;
use super::opts::ContainerOptions;
use super::signals::{forward_signals, TaskGuard};
use super::stream::{stream, StreamConfig, StreamEnd};
use super::tty::monitor_tty_size;
use super::{
    check_tty, container_path, create_container, start_error_status, wait_exit_or_removed,
    CreateError,
};
use crate::client::Request;
use crate::commands::{report_error_text, Ctx, StatusError};

#[derive(Debug, Clone, Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Print usage
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
    /// Run container in background and print container ID
    #[arg(short = 'd', long = "detach", action = ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_value = "false", default_missing_value = "true",
          value_name = "BOOL")]
    pub detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Assign a name to the container
    #[arg(long, value_name = "string")]
    pub name: Option<String>,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true", value_name = "BOOL")]
    pub sig_proxy: bool,
    #[command(flatten)]
    pub options: ContainerOptions,
    /// The image, then the command and its arguments
    #[arg(
        value_name = "IMAGE [COMMAND] [ARG...]",
        required = true,
        num_args = 1..,
        trailing_var_arg = true
    )]
    pub command: Vec<String>,
}

pub async fn run(ctx: &mut Ctx, args: RunArgs) -> anyhow::Result<()> {
    let (image, cmd) = match args.command.split_first() {
        Some((i, rest)) => (i.clone(), rest.to_vec()),
        None => anyhow::bail!("\"berth run\" requires at least 1 argument."),
    };
    let mut config = args
        .options
        .parse(&image, &cmd)
        .map_err(|e| opts_error("run", e))?;
    if !args.detach {
        check_tty(ctx, config.attach_stdin, config.tty)?;
    } else {
        if config.attach_given {
            anyhow::bail!("Conflicting options: -a and -d");
        }
        config.attach_stdin = false;
        config.attach_stdout = false;
        config.attach_stderr = false;
        config.stdin_once = false;
    }

    let id = match create_container(
        ctx,
        &config,
        args.name.as_deref(),
        &args.options.pull,
        args.options.platform.as_deref(),
    )
    .await
    {
        Ok(id) => id,
        Err(e) => {
            let msg = e.to_string();
            let code = match &e {
                CreateError::Client(_) => start_error_status(&msg),
                CreateError::Other(_) => 125,
            };
            return Err(StatusError::new(code, report_error_text("run", &msg, true)).into());
        }
    };
    let _signals = TaskGuard(args.sig_proxy.then(|| forward_signals(&ctx.client, &id)));
    if !config.attach_stdout && !config.attach_stderr {
        writeln!(ctx.streams.out, "{id}")?;
        ctx.streams.out.flush()?;
    }

    let attach = config.attach_stdin || config.attach_stdout || config.attach_stderr;
    let detach_keys = args.detach_keys.clone().unwrap_or_default();
    let hijacked = if attach {
        let req = Request::post(container_path(&id, "/attach"))
            .query_nonempty("detachKeys", &detach_keys)
            .flag("stderr", config.attach_stderr)
            .flag("stdin", config.attach_stdin)
            .flag("stdout", config.attach_stdout)
            .query("stream", "1");
        Some(ctx.client.hijack(req).await?)
    } else {
        None
    };

    let waiter = wait_exit_or_removed(&ctx.client, &id, config.auto_remove).await;

    if let Err(e) = ctx
        .client
        .send(Request::post(container_path(&id, "/start")))
        .await
    {
        let msg = e.to_string();
        let _ = writeln!(ctx.streams.err, "{}", report_error_text("run", &msg, false));
        if config.auto_remove {
            waiter.status().await;
        }
        return Err(StatusError::silent(start_error_status(&msg)).into());
    }

    let _resize = TaskGuard(
        (attach && config.tty && ctx.streams.stdout_is_terminal)
            .then(|| monitor_tty_size(&ctx.client, &id, false)),
    );

    if let Some(conn) = hijacked {
        let cfg = StreamConfig {
            tty: config.tty,
            stdin: config.attach_stdin,
            stdout: config.attach_stdout,
            stderr: config.attach_stderr,
            detach_keys,
        };
        if stream(ctx, conn, &cfg).await? == StreamEnd::Detached {
            return Ok(());
        }
    }

    if !config.attach_stdout && !config.attach_stderr {
        return Ok(());
    }
    match waiter.status().await {
        0 => Ok(()),
        code => Err(StatusError::silent(code).into()),
    }
}
