//! `berth top CONTAINER [ps OPTIONS]`: GET /containers/{id}/top, as a table.

use std::io::Write;

use clap::Args;
use serde_json::Value as Json;

use super::container_path;
use crate::client::Request;
use crate::commands::Ctx;
use crate::format::tabwriter::TabWriter;

#[derive(Debug, Clone, Args)]
pub struct TopArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// Options passed to ps
    #[arg(
        value_name = "ps OPTIONS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub ps_args: Vec<String>,
}

/// Docker's table: `tabwriter.NewWriter(out, 20, 1, 3, ' ', 0)`.
pub fn render_top(top: &Json) -> String {
    let strs = |v: &Json| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|s| s.as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut text = strs(&top["Titles"]).join("\t");
    text.push('\n');
    for p in top["Processes"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        text.push_str(&strs(p).join("\t"));
        text.push('\n');
    }
    TabWriter {
        min_width: 20,
        padding: 3,
    }
    .format(&text)
}

pub async fn run(ctx: &mut Ctx, args: TopArgs) -> anyhow::Result<()> {
    let mut req = Request::get(container_path(&args.container, "/top"));
    if !args.ps_args.is_empty() {
        req = req.query("ps_args", args.ps_args.join(" "));
    }
    let top = ctx.client.json(req).await?;
    ctx.streams.out.write_all(render_top(&top).as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_like_docker() {
        let top = serde_json::json!({
            "Titles": ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
            "Processes": [["root", "4242", "4221", "0", "14:02", "?", "00:00:00", "sleep 100"]]
        });
        assert_eq!(
            render_top(&top),
            "UID                 PID                 PPID                C                   STIME               TTY                 TIME                CMD\nroot                4242                4221                0                   14:02               ?                   00:00:00            sleep 100\n"
        );
    }
}
