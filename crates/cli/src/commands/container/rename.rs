//! `berth rename CONTAINER NEW_NAME`: POST /containers/{id}/rename?name=NEW_NAME.

use std::io::Write;

use clap::Args;

use super::container_path;
use crate::client::Request;
use crate::commands::{Ctx, StatusError};

#[derive(Debug, Clone, Args)]
pub struct RenameArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "NEW_NAME")]
    pub new_name: String,
}

pub async fn run(ctx: &mut Ctx, args: RenameArgs) -> anyhow::Result<()> {
    let old = args.container.trim();
    let new = args.new_name.trim();
    if old.is_empty() || new.is_empty() {
        anyhow::bail!("Error: Neither old nor new names may be empty");
    }
    let req = Request::post(container_path(old, "/rename")).query("name", new);
    if let Err(e) = ctx.client.send(req).await {
        writeln!(ctx.streams.err, "{e}")?;
        return Err(
            StatusError::new(1, format!("Error: failed to rename container named {old}")).into(),
        );
    }
    Ok(())
}
