//! `berth volume rm [-f] VOLUME...`: DELETE /volumes/{name} for each.

use std::io::Write;

use clap::Args;

use crate::client::{escape_path, Request};
use crate::commands::{Ctx, StatusError};

#[derive(Debug, Clone, Args)]
pub struct RemoveArgs {
    /// Force the removal of one or more volumes
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true, value_name = "VOLUME")]
    pub volumes: Vec<String>,
}

pub async fn run(ctx: &mut Ctx, args: RemoveArgs) -> anyhow::Result<()> {
    let mut errors = Vec::new();
    for name in &args.volumes {
        let req =
            Request::delete(format!("/volumes/{}", escape_path(name))).flag("force", args.force);
        match ctx.client.send(req).await {
            Ok(_) => {
                writeln!(ctx.streams.out, "{name}")?;
                ctx.streams.out.flush()?;
            }
            Err(e) if e.is_not_found() => errors.push(format!("Error: No such volume: {name}")),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(StatusError::new(1, errors.join("\n")).into())
    }
}
