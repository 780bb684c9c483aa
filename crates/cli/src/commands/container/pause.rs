//! `berth pause CONTAINER...`: POST /containers/{id}/pause, in parallel.

use clap::Args;

use super::{container_path, for_each_container};
use crate::client::Request;
use crate::commands::Ctx;

#[derive(Debug, Clone, Args)]
pub struct PauseArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub async fn run(ctx: &mut Ctx, args: PauseArgs) -> anyhow::Result<()> {
    for_each_container(ctx, &args.containers, |client, name| async move {
        let req = Request::post(container_path(&name, "/pause"));
        client
            .send(req)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await
}
