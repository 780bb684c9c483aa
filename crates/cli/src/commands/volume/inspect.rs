//! `berth volume inspect VOLUME...`: GET /volumes/{name} for each, through the shared
//! inspector.

use clap::Args;

use crate::client::{escape_path, Client, Request};
use crate::commands::inspect::inspect_each;
use crate::commands::Ctx;

#[derive(Debug, Clone, Args)]
pub struct InspectArgs {
    /// Format the output using the given Go template
    #[arg(short, long, value_name = "string")]
    pub format: Option<String>,
    #[arg(required = true, value_name = "VOLUME")]
    pub volumes: Vec<String>,
}

/// GET /volumes/{name} as raw text; a 404 reads "Error: No such volume: NAME".
pub async fn fetch_volume(client: Client, name: String) -> Result<String, String> {
    match client
        .bytes(Request::get(format!("/volumes/{}", escape_path(&name))))
        .await
    {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) if e.is_not_found() => Err(format!("Error: No such volume: {name}")),
        Err(e) => Err(e.to_string()),
    }
}

pub async fn run(ctx: &mut Ctx, args: InspectArgs) -> anyhow::Result<()> {
    inspect_each(ctx, &args.volumes, args.format.as_deref(), fetch_volume).await
}
