//! `berth create` / `berth container create`: POST /containers/create (pulling a missing image
//! first, as Docker does) and print the new container's ID.

use std::io::Write;

use clap::{ArgAction, Args};

use super::opts::{ContainerOptions, OptsError};
use super::{create_container, CreateError};
use crate::commands::{report_error_text, Ctx, StatusError};

#[derive(Debug, Clone, Args)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    /// Print usage
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
    /// Assign a name to the container
    #[arg(long, value_name = "string")]
    pub name: Option<String>,
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

/// How `create`/`run` report a bad flag: Docker's text, "See 'berth CMD --help'.", status 125.
pub fn opts_error(command: &str, e: OptsError) -> anyhow::Error {
    let text = match e {
        OptsError::Flag { .. } => format!("{e}\nSee 'berth {command} --help'."),
        OptsError::Invalid(msg) => report_error_text(command, &msg, true),
    };
    StatusError::new(125, text).into()
}

pub async fn run(ctx: &mut Ctx, args: CreateArgs) -> anyhow::Result<()> {
    let (image, cmd) = match args.command.split_first() {
        Some((i, rest)) => (i.clone(), rest.to_vec()),
        None => anyhow::bail!("\"berth create\" requires at least 1 argument."),
    };
    let config = args
        .options
        .parse(&image, &cmd)
        .map_err(|e| opts_error("create", e))?;
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
        Err(CreateError::Client(e)) => return Err(e.into()),
        Err(CreateError::Other(e)) => return Err(e),
    };
    writeln!(ctx.streams.out, "{id}")?;
    Ok(())
}
