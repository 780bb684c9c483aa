//! `berth images` / `berth image ls`: GET /images/json, one row per repository:tag.

use std::io::Write;

use clap::Args;
use serde_json::Value as Json;

use crate::client::Request;
use crate::commands::Ctx;
use crate::filters::Filters;
use crate::format::rows::image::{self, ImageRowOptions};
use crate::format::{is_table, render_list, FormatError, QUIET_FORMAT, RAW_KEY, TABLE_KEY};

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short, long)]
    pub all: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "FILTER")]
    pub filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', or a Go template)
    #[arg(long)]
    pub format: Option<String>,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Show images matching [REPOSITORY[:TAG]]
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

/// How to render an image list.
#[derive(Debug, Clone, Default)]
pub struct ImagesRenderOptions {
    /// The `--format` value ("" for the default table).
    pub format: String,
    pub quiet: bool,
    pub no_trunc: bool,
    pub digests: bool,
    /// "Now" in unix seconds, for the CREATED column.
    pub now: i64,
}

/// Docker's `NewImageFormat`: picks the template for a format key.
pub fn image_format(source: &str, quiet: bool, digests: bool) -> String {
    match source {
        "" | TABLE_KEY => {
            if quiet {
                QUIET_FORMAT.to_string()
            } else if digests {
                image::DEFAULT_TABLE_WITH_DIGEST.to_string()
            } else {
                image::DEFAULT_TABLE.to_string()
            }
        }
        RAW_KEY => {
            if quiet {
                "image_id: {{.ID}}".to_string()
            } else if digests {
                image::RAW_WITH_DIGEST.to_string()
            } else {
                image::RAW.to_string()
            }
        }
        custom => {
            let mut f = custom.to_string();
            if is_table(&f) && digests && !f.contains("{{.Digest}}") {
                f.push_str("\t{{.Digest}}");
            }
            f
        }
    }
}

/// Renders the `images` output for an API image list.
pub fn render_images(list: &[Json], opts: &ImagesRenderOptions) -> Result<String, FormatError> {
    let format = image_format(&opts.format, opts.quiet, opts.digests);
    let rows = image::rows(
        list,
        ImageRowOptions {
            trunc: !opts.no_trunc,
            show_digests: opts.digests,
            format_uses_digest: format.contains("{{.Digest}}"),
            now: opts.now,
        },
    );
    render_list(&format, &image::header(), &rows)
}

pub async fn run(ctx: &mut Ctx, args: ListArgs) -> anyhow::Result<()> {
    let mut filters = Filters::parse(&args.filter)?;
    if let Some(r) = &args.reference {
        filters.add("reference", r);
    }
    let req = filters.apply(Request::get("/images/json").flag("all", args.all));
    let list = ctx.client.json(req).await?;
    let list = list.as_array().cloned().unwrap_or_default();
    let out = render_images(
        &list,
        &ImagesRenderOptions {
            format: args.format.unwrap_or_default(),
            quiet: args.quiet,
            no_trunc: args.no_trunc,
            digests: args.digests,
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

    const NOW: i64 = 1_795_521_600; // 2026-11-24T12:00:00Z
    const BUSYBOX: &str = "sha256:a416a98b71e224a31ee99cff8e16063554498227d2b696152a9c3e0aa65e5824";
    const DANGLING: &str =
        "sha256:0f5f445df8ccbd8a062ad3d02d459e8124bc0b11aa1bfef6bd14e0b0b5c9ea24";
    const ALPINE: &str = "sha256:05455a08881ea9cf0e752bc48e61bbd71a34c029bb13df01e40e3e70e0d007bd";
    const DIGEST: &str = "sha256:9ae97d36d26566ff84e8893c64a6dc4fe8ca6d1144bf5b87b2b85a32def253c7";

    fn fixture() -> Vec<Json> {
        vec![
            json!({
                "Id": BUSYBOX, "ParentId": "", "RepoTags": ["busybox:latest"],
                "RepoDigests": [format!("busybox@{DIGEST}")],
                "Created": NOW - 2 * 3600, "Size": 4_261_000, "SharedSize": -1,
                "VirtualSize": 4_261_000, "Labels": null, "Containers": -1
            }),
            json!({
                "Id": DANGLING, "ParentId": "", "RepoTags": null, "RepoDigests": null,
                "Created": NOW - 21 * 86400, "Size": 77_812_345, "SharedSize": -1,
                "Labels": {}, "Containers": -1
            }),
            json!({
                "Id": ALPINE, "ParentId": "",
                "RepoTags": ["alpine:3.19", "alpine:latest", "localhost:5000/alpine:mine"],
                "RepoDigests": [],
                "Created": NOW - 90, "Size": 1_200_000_000, "SharedSize": -1, "Containers": -1
            }),
        ]
    }

    fn render(opts: ImagesRenderOptions) -> String {
        render_images(&fixture(), &ImagesRenderOptions { now: NOW, ..opts })
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn default_table() {
        let want = "\
REPOSITORY              TAG       IMAGE ID       CREATED              SIZE
busybox                 latest    a416a98b71e2   2 hours ago          4.26MB
<none>                  <none>    0f5f445df8cc   3 weeks ago          77.8MB
alpine                  3.19      05455a08881e   About a minute ago   1.2GB
alpine                  latest    05455a08881e   About a minute ago   1.2GB
localhost:5000/alpine   mine      05455a08881e   About a minute ago   1.2GB
";
        assert_eq!(render(ImagesRenderOptions::default()), want);
    }

    #[test]
    fn quiet_prints_one_id_per_row() {
        let out = render(ImagesRenderOptions {
            quiet: true,
            ..Default::default()
        });
        assert_eq!(
            out,
            "a416a98b71e2\n0f5f445df8cc\n05455a08881e\n05455a08881e\n05455a08881e\n"
        );
    }

    #[test]
    fn no_trunc_and_digests() {
        let out = render(ImagesRenderOptions {
            no_trunc: true,
            digests: true,
            ..Default::default()
        });
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("REPOSITORY "));
        assert!(lines[0].contains("   DIGEST   "));
        assert!(
            lines[1].contains(DIGEST) && lines[1].contains(BUSYBOX),
            "{}",
            lines[1]
        );
        assert!(lines[2].starts_with("<none> ") && lines[2].contains(DANGLING));
        assert!(lines[3].contains("<none>   ") && lines[3].contains(ALPINE));
    }

    #[test]
    fn custom_table_format() {
        let out = render(ImagesRenderOptions {
            format: "table {{.Repository}}:{{.Tag}}\\t{{.Size}}".into(),
            ..Default::default()
        });
        assert_eq!(
            out.lines().take(3).collect::<Vec<_>>(),
            vec![
                "REPOSITORY:TAG               SIZE",
                "busybox:latest               4.26MB",
                "<none>:<none>                77.8MB"
            ]
        );
    }

    #[test]
    fn json_of_a_row_uses_formatter_fields() {
        let out = render(ImagesRenderOptions {
            format: "{{json .}}".into(),
            ..Default::default()
        });
        let first = out.lines().next().unwrap_or_default();
        let created_at = crate::format::time::go_time_string(
            NOW - 7200,
            &crate::format::time::local_zone(NOW - 7200),
        );
        assert_eq!(
            first,
            format!(
                "{{\"Containers\":\"N/A\",\"CreatedAt\":\"{created_at}\",\"CreatedSince\":\"2 hours ago\",\
\"Digest\":\"\\u003cnone\\u003e\",\"ID\":\"a416a98b71e2\",\"Repository\":\"busybox\",\"SharedSize\":\"N/A\",\
\"Size\":\"4.26MB\",\"Tag\":\"latest\",\"UniqueSize\":\"N/A\",\"VirtualSize\":\"4.261MB\"}}"
            )
        );
        assert_eq!(
            render(ImagesRenderOptions {
                format: "json".into(),
                ..Default::default()
            }),
            out
        );
    }

    #[test]
    fn digest_column_in_custom_format_pairs_tags_with_digests() {
        let out = render(ImagesRenderOptions {
            format: "{{.Repository}} {{.Digest}}".into(),
            ..Default::default()
        });
        assert_eq!(
            out.lines().next(),
            Some(format!("busybox {DIGEST}").as_str())
        );
    }

    #[test]
    fn unknown_field_is_an_error() {
        let err = render_images(
            &fixture(),
            &ImagesRenderOptions {
                format: "{{.Nope}}".into(),
                now: NOW,
                ..Default::default()
            },
        )
        .err()
        .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("template parsing error: template: :1:2: executing \"\" at <.Nope>: can't evaluate field Nope in type *formatter.imageContext")
        );
    }

    #[test]
    fn empty_list_prints_header_only() {
        let out = render_images(&[], &ImagesRenderOptions::default());
        assert_eq!(
            out.as_deref(),
            Ok("REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n")
        );
    }
}
