//! `berth volume create [VOLUME]`: POST /volumes/create, printing the volume's name.

use std::io::Write;

use clap::Args;
use serde_json::{json, Map, Value as Json};

use crate::client::Request;
use crate::commands::{Ctx, StatusError};

#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    /// Specify volume driver name
    #[arg(short = 'd', long, default_value = "local", value_name = "string")]
    pub driver: String,
    /// Set metadata for a volume
    #[arg(long = "label", value_name = "list")]
    pub label: Vec<String>,
    /// Specify volume name
    #[arg(long, hide = true, value_name = "string")]
    pub name: Option<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt", value_name = "map")]
    pub opt: Vec<String>,
    #[arg(value_name = "VOLUME")]
    pub volume: Option<String>,
}

fn kv(values: &[String]) -> Map<String, Json> {
    values
        .iter()
        .map(|v| match v.split_once('=') {
            Some((k, val)) => (k.to_string(), json!(val)),
            None => (v.clone(), json!("")),
        })
        .collect()
}

/// The create body: `{"Driver","DriverOpts","Labels","Name"}`.
pub fn create_body(args: &CreateArgs) -> anyhow::Result<Json> {
    let mut name = args.name.clone().unwrap_or_default();
    if let Some(v) = &args.volume {
        if !name.is_empty() {
            anyhow::bail!(
                "conflicting options: either specify --name or provide positional arg, not both"
            );
        }
        name = v.clone();
    }
    for l in &args.label {
        let key = l
            .split('=')
            .next()
            .unwrap_or("")
            .trim_start_matches([' ', '\t']);
        if key.is_empty() {
            return Err(StatusError::new(
                125,
                format!("invalid argument \"{l}\" for \"--label\" flag: invalid label '{l}': empty name\nSee 'berth volume create --help'."),
            )
            .into());
        }
    }
    Ok(json!({
        "Driver": args.driver,
        "DriverOpts": kv(&args.opt),
        "Labels": kv(&args.label),
        "Name": name,
    }))
}

pub async fn run(ctx: &mut Ctx, args: CreateArgs) -> anyhow::Result<()> {
    let body = create_body(&args)?;
    let vol = ctx
        .client
        .json(Request::post("/volumes/create").json_body(&body))
        .await?;
    writeln!(
        ctx.streams.out,
        "{}",
        vol.get("Name").and_then(Json::as_str).unwrap_or("")
    )?;
    Ok(())
}
