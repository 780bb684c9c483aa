//! `berth restart [-t N] CONTAINER...`: POST /containers/{id}/restart, one after another.

use std::io::Write;

use clap::Args;

use super::container_path;
use crate::client::Request;
use crate::commands::{Ctx, StatusError};

#[derive(Debug, Clone, Args)]
pub struct RestartArgs {
    /// Seconds to wait for stop before killing the container (default 10)
    #[arg(
        short = 't',
        long = "time",
        value_name = "int",
        allow_hyphen_values = true
    )]
    pub time: Option<i64>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub async fn run(ctx: &mut Ctx, args: RestartArgs) -> anyhow::Result<()> {
    let mut errors = Vec::new();
    for name in &args.containers {
        let mut req = Request::post(container_path(name, "/restart"));
        if let Some(t) = args.time {
            req = req.query("t", t.to_string());
        }
        match ctx.client.send(req).await {
            Ok(_) => {
                writeln!(ctx.streams.out, "{name}")?;
                ctx.streams.out.flush()?;
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(StatusError::new(1, errors.join("\n")).into())
    }
}
