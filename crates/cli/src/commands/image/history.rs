//! `berth history IMAGE` / `berth image history`: GET /images/{name}/history.

use std::io::Write;

use clap::{ArgAction, Args};
use serde_json::Value as Json;

use crate::client::{escape_path, Request};
use crate::commands::Ctx;
use crate::format::rows::history::{self, HistoryRowOptions};
use crate::format::{render_list, FormatError, QUIET_FORMAT, TABLE_KEY};

#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format (--human=false for raw values)
    #[arg(
        short = 'H',
        long,
        action = ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_value = "true",
        default_missing_value = "true",
        value_name = "BOOL"
    )]
    pub human: bool,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', or a Go template)
    #[arg(long)]
    pub format: Option<String>,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    #[arg(value_name = "IMAGE")]
    pub image: String,
}

#[derive(Debug, Clone, Default)]
pub struct HistoryRenderOptions {
    pub format: String,
    pub human: bool,
    pub quiet: bool,
    pub no_trunc: bool,
    pub now: i64,
}

/// Docker's `NewHistoryFormat`.
pub fn history_format(source: &str, quiet: bool, human: bool) -> String {
    match source {
        "" | TABLE_KEY if quiet => QUIET_FORMAT.to_string(),
        "" | TABLE_KEY if !human => history::NON_HUMAN_TABLE.to_string(),
        "" | TABLE_KEY => history::DEFAULT_TABLE.to_string(),
        custom => custom.to_string(),
    }
}

/// Renders `history` output for an API history list.
pub fn render_history(items: &[Json], opts: &HistoryRenderOptions) -> Result<String, FormatError> {
    let format = history_format(&opts.format, opts.quiet, opts.human);
    let rows = history::rows(
        items,
        HistoryRowOptions {
            trunc: !opts.no_trunc,
            human: opts.human,
            now: opts.now,
        },
    );
    render_list(&format, &history::header(), &rows)
}

pub async fn run(ctx: &mut Ctx, args: HistoryArgs) -> anyhow::Result<()> {
    let req = Request::get(format!("/images/{}/history", escape_path(&args.image)));
    let items = ctx.client.json(req).await?;
    let items = items.as_array().cloned().unwrap_or_default();
    let out = render_history(
        &items,
        &HistoryRenderOptions {
            format: args.format.unwrap_or_default(),
            human: args.human,
            quiet: args.quiet,
            no_trunc: args.no_trunc,
            now: crate::format::time::now_unix(),
        },
    )?;
    ctx.streams.out.write_all(out.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_795_521_600;

    fn fixture() -> Vec<Json> {
        vec![
            json!({
                "Id": "sha256:a416a98b71e224a31ee99cff8e16063554498227d2b696152a9c3e0aa65e5824",
                "Created": NOW - 3 * 86400,
                "CreatedBy": "/bin/sh -c #(nop)  CMD [\"sh\"]",
                "Tags": ["busybox:latest"], "Size": 0, "Comment": ""
            }),
            json!({
                "Id": "<missing>",
                "Created": NOW - 3 * 86400 - 1,
                "CreatedBy": "/bin/sh -c #(nop) ADD file:7e9002edaafd4e4579b65c8f0aaabde1aeb7fd3f8d95579f7fd3443cef785fd1 in / ",
                "Tags": null, "Size": 4_261_000, "Comment": "imported"
            }),
        ]
    }

    #[test]
    fn default_table() {
        let out = render_history(
            &fixture(),
            &HistoryRenderOptions {
                human: true,
                now: NOW,
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let want = "\
IMAGE          CREATED      CREATED BY                                      SIZE      COMMENT
a416a98b71e2   3 days ago   /bin/sh -c #(nop)  CMD [\"sh\"]                   0B        
<missing>      3 days ago   /bin/sh -c #(nop) ADD file:7e9002edaafd4e457…   4.26MB    imported
";
        assert_eq!(out, want);
    }

    #[test]
    fn no_trunc_keeps_full_ids_and_commands() {
        let out = render_history(
            &fixture(),
            &HistoryRenderOptions {
                human: true,
                no_trunc: true,
                now: NOW,
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            out.contains("sha256:a416a98b71e224a31ee99cff8e16063554498227d2b696152a9c3e0aa65e5824")
        );
        assert!(out.contains("fd1 in / "));
    }

    #[test]
    fn quiet_and_non_human() {
        let out = render_history(
            &fixture(),
            &HistoryRenderOptions {
                human: true,
                quiet: true,
                now: NOW,
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out, "a416a98b71e2\n<missing>\n");
        let out = render_history(
            &fixture(),
            &HistoryRenderOptions {
                human: false,
                now: NOW,
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let header = out.lines().next().unwrap_or_default();
        assert!(header.starts_with("IMAGE          CREATED AT "), "{header}");
        assert!(out.contains("   4261000   imported"));
    }
}
