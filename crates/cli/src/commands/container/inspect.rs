//! `berth container inspect`: GET /containers/{id}/json for each, through the shared inspector.

use clap::Args;

use super::container_path;
use crate::client::{Client, Request};
use crate::commands::inspect::inspect_each;
use crate::commands::Ctx;

#[derive(Debug, Clone, Args)]
pub struct InspectArgs {
    /// Format the output using the given Go template
    #[arg(short, long, value_name = "string")]
    pub format: Option<String>,
    /// Display total file sizes
    #[arg(short, long)]
    pub size: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// GET /containers/{id}/json as raw text; a 404 reads "Error: No such container: NAME".
pub async fn fetch_container(client: Client, name: String, size: bool) -> Result<String, String> {
    let req = Request::get(container_path(&name, "/json")).flag("size", size);
    match client.bytes(req).await {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) if e.is_not_found() => Err(format!("Error: No such container: {name}")),
        Err(e) => Err(e.to_string()),
    }
}

pub async fn run(ctx: &mut Ctx, args: InspectArgs) -> anyhow::Result<()> {
    let size = args.size;
    inspect_each(
        ctx,
        &args.containers,
        args.format.as_deref(),
        |client, name| fetch_container(client, name, size),
    )
    .await
}
