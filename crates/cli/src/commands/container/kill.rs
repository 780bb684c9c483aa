//! `berth kill [-s SIGNAL] CONTAINER...`: POST /containers/{id}/kill, in parallel.

use clap::Args;

use super::{container_path, for_each_container};
use crate::client::Request;
use crate::commands::Ctx;

#[derive(Debug, Clone, Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(
        short = 's',
        long = "signal",
        default_value = "KILL",
        value_name = "string"
    )]
    pub signal: String,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub async fn run(ctx: &mut Ctx, args: KillArgs) -> anyhow::Result<()> {
    let signal = args.signal.clone();
    for_each_container(ctx, &args.containers, |client, name| {
        let signal = signal.clone();
        async move {
            let req = Request::post(container_path(&name, "/kill")).query("signal", signal);
            client
                .send(req)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    })
    .await
}
