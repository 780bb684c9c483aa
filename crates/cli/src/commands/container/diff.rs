//! `berth diff CONTAINER`: GET /containers/{id}/changes as `A`/`C`/`D` lines.

use std::io::Write;

use clap::Args;
use serde_json::Value as Json;

use super::container_path;
use crate::client::Request;
use crate::commands::Ctx;

#[derive(Debug, Clone, Args)]
pub struct DiffArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// Docker's `{{.Type}} {{.Path}}` lines (Kind 0 = C, 1 = A, 2 = D).
pub fn render_changes(changes: &Json) -> String {
    let mut out = String::new();
    for c in changes.as_array().map(Vec::as_slice).unwrap_or_default() {
        let kind = match c.get("Kind").and_then(Json::as_i64) {
            Some(0) => "C",
            Some(1) => "A",
            Some(2) => "D",
            _ => "",
        };
        let path = c.get("Path").and_then(Json::as_str).unwrap_or("");
        out.push_str(&format!("{kind} {path}\n"));
    }
    out
}

pub async fn run(ctx: &mut Ctx, args: DiffArgs) -> anyhow::Result<()> {
    if args.container.is_empty() {
        anyhow::bail!("Container name cannot be empty");
    }
    let changes = ctx
        .client
        .json(Request::get(container_path(&args.container, "/changes")))
        .await?;
    ctx.streams
        .out
        .write_all(render_changes(&changes).as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn lines() {
        let changes = serde_json::json!([
            {"Path": "/tmp", "Kind": 0}, {"Path": "/tmp/x", "Kind": 1}, {"Path": "/etc/motd", "Kind": 2}
        ]);
        assert_eq!(
            super::render_changes(&changes),
            "C /tmp\nA /tmp/x\nD /etc/motd\n"
        );
    }
}
