//! `berth exec CONTAINER COMMAND...`: POST /containers/{id}/exec, then POST /exec/{id}/start
//! hijacked (or detached with `-d`), then GET /exec/{id}/json for the exit code.

use clap::{ArgAction, Args};
use serde_json::{json, Value as Json};

use super::signals::TaskGuard;
use super::stream::{stream, StreamConfig, StreamEnd, ESCAPE_MESSAGE};
use super::tty::monitor_tty_size;
use super::{check_tty, container_path, inspect_container};
use crate::client::{escape_path, Request};
use crate::commands::{Ctx, StatusError};

#[derive(Debug, Clone, Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long = "detach", action = ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_value = "false", default_missing_value = "true",
          value_name = "BOOL")]
    pub detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "list")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "list")]
    pub env_file: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long = "interactive", action = ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_value = "false", default_missing_value = "true",
          value_name = "BOOL")]
    pub interactive: bool,
    /// Give extended privileges to the command
    #[arg(long = "privileged", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_name = "BOOL")]
    pub privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long = "tty", action = ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_value = "false", default_missing_value = "true",
          value_name = "BOOL")]
    pub tty: bool,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long = "user", value_name = "string")]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "string")]
    pub workdir: Option<String>,
    /// The container, then the command and its arguments
    #[arg(
        value_name = "CONTAINER COMMAND [ARG...]",
        required = true,
        num_args = 2..,
        trailing_var_arg = true
    )]
    pub command: Vec<String>,
}

/// Docker's `parseExec`: the exec-create body.
pub fn exec_config(args: &ExecArgs) -> anyhow::Result<Json> {
    let mut env = Vec::new();
    for f in &args.env_file {
        env.extend(super::opts::read_env_file(f).map_err(anyhow::Error::msg)?);
    }
    for e in &args.env {
        env.push(super::opts::validate_env_value(e).map_err(|reason| {
            StatusError::new(
                125,
                format!("invalid argument \"{e}\" for \"-e, --env\" flag: {reason}\nSee 'berth exec --help'."),
            )
        })?);
    }
    let attach = !args.detach;
    Ok(json!({
        "User": args.user.clone().unwrap_or_default(),
        "Privileged": args.privileged,
        "Tty": args.tty,
        "AttachStdin": attach && args.interactive,
        "AttachStderr": attach,
        "AttachStdout": attach,
        "Detach": args.detach,
        "DetachKeys": args.detach_keys.clone().unwrap_or_default(),
        "Env": if env.is_empty() { Json::Null } else { json!(env) },
        "WorkingDir": args.workdir.clone().unwrap_or_default(),
        "Cmd": args.command.get(1..).unwrap_or_default(),
    }))
}

pub async fn run(ctx: &mut Ctx, args: ExecArgs) -> anyhow::Result<()> {
    let config = exec_config(&args)?;
    let container = args.command.first().cloned().unwrap_or_default();
    inspect_container(&ctx.client, &container).await?;
    let attach_stdin = config["AttachStdin"].as_bool().unwrap_or(false);
    if !args.detach {
        check_tty(ctx, attach_stdin, args.tty)?;
    }
    let created = ctx
        .client
        .json(Request::post(container_path(&container, "/exec")).json_body(&config))
        .await?;
    let exec_id = created
        .get("Id")
        .and_then(Json::as_str)
        .unwrap_or("")
        .to_string();
    if exec_id.is_empty() {
        anyhow::bail!("exec ID empty");
    }
    let start_path = format!("/exec/{}/start", escape_path(&exec_id));
    if args.detach {
        ctx.client
            .send(Request::post(start_path).json_body(&json!({"Detach": true, "Tty": args.tty})))
            .await?;
        return Ok(());
    }
    let conn = ctx
        .client
        .hijack(Request::post(start_path).json_body(&json!({"Detach": false, "Tty": args.tty})))
        .await?;
    let _resize = TaskGuard(
        (args.tty && ctx.streams.stdin_is_terminal)
            .then(|| monitor_tty_size(&ctx.client, &exec_id, true)),
    );
    let cfg = StreamConfig {
        tty: args.tty,
        stdin: attach_stdin,
        stdout: true,
        stderr: true,
        detach_keys: args.detach_keys.clone().unwrap_or_default(),
    };
    if stream(ctx, conn, &cfg).await? == StreamEnd::Detached {
        return Err(StatusError::new(1, ESCAPE_MESSAGE).into());
    }
    let inspect = match ctx
        .client
        .json(Request::get(format!(
            "/exec/{}/json",
            escape_path(&exec_id)
        )))
        .await
    {
        Ok(v) => v,
        Err(e) if e.is_connection_failed() => return Err(StatusError::silent(-1).into()),
        Err(e) => return Err(e.into()),
    };
    match inspect.get("ExitCode").and_then(Json::as_i64).unwrap_or(0) {
        0 => Ok(()),
        code => Err(StatusError::silent(code as i32).into()),
    }
}
