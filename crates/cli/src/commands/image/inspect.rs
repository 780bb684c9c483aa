//! `berth image inspect IMAGE...`: GET /images/{name}/json for each image.

use clap::Args;

use crate::commands::inspect::{fetch_image, inspect_each};
use crate::commands::Ctx;

#[derive(Debug, Clone, Args)]
pub struct InspectArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

pub async fn run(ctx: &mut Ctx, args: InspectArgs) -> anyhow::Result<()> {
    inspect_each(ctx, &args.images, args.format.as_deref(), fetch_image).await
}
