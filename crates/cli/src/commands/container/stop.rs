//! `berth stop [-t N] CONTAINER...`: POST /containers/{id}/stop, in parallel.

use clap::Args;

use super::{container_path, for_each_container};
use crate::client::Request;
use crate::commands::Ctx;

#[derive(Debug, Clone, Args)]
pub struct StopArgs {
    /// Seconds to wait for stop before killing it (default 10)
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

pub async fn run(ctx: &mut Ctx, args: StopArgs) -> anyhow::Result<()> {
    let time = args.time;
    for_each_container(ctx, &args.containers, |client, name| async move {
        let mut req = Request::post(container_path(&name, "/stop"));
        if let Some(t) = time {
            req = req.query("t", t.to_string());
        }
        client
            .send(req)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await
}
