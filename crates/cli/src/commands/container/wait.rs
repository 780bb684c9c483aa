//! `berth wait CONTAINER...`: POST /containers/{id}/wait for each, printing the exit codes.

use std::io::Write;

use clap::Args;

use super::container_path;
use crate::client::{JsonStream, Request};
use crate::commands::{Ctx, StatusError};

#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub async fn run(ctx: &mut Ctx, args: WaitArgs) -> anyhow::Result<()> {
    let mut errors = Vec::new();
    for name in &args.containers {
        let result = match ctx
            .client
            .send(Request::post(container_path(name, "/wait")))
            .await
        {
            Ok(resp) => JsonStream::from_body(resp.into_body())
                .next()
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(body) => {
                let code = body
                    .as_ref()
                    .and_then(|b| b.get("StatusCode"))
                    .and_then(serde_json::Value::as_i64)
                    .unwrap_or(0);
                writeln!(ctx.streams.out, "{code}")?;
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
