//! `berth unpause CONTAINER...`: POST /containers/{id}/unpause, in parallel.

use clap::Args;

use super::{container_path, for_each_container};
use crate::client::Request;
use crate::commands::Ctx;

#[derive(Debug, Clone, Args)]
pub struct UnpauseArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub async fn run(ctx: &mut Ctx, args: UnpauseArgs) -> anyhow::Result<()> {
    for_each_container(ctx, &args.containers, |client, name| async move {
        let req = Request::post(container_path(&name, "/unpause"));
        client
            .send(req)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await
}
