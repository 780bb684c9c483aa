//! `berth ps` / `berth container ls`: GET /containers/json, as Docker's table or a `--format`.

use std::io::Write;

use clap::Args;
use serde_json::Value as Json;

use crate::client::Request;
use crate::commands::Ctx;
use crate::filters::Filters;
use crate::format::rows::container::{self, ContainerRowOptions};
use crate::format::{render_list, FormatError, QUIET_FORMAT, RAW_KEY, TABLE_KEY};

#[derive(Debug, Clone, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Pretty-print containers using a Go template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Show n last created containers (includes all states)
    #[arg(
        short = 'n',
        long = "last",
        default_value = "-1",
        allow_hyphen_values = true,
        value_name = "int"
    )]
    pub last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only display container IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Display total file sizes
    #[arg(short, long)]
    pub size: bool,
}

/// Docker's `NewContainerFormat`.
pub fn container_format(source: &str, quiet: bool, size: bool) -> String {
    match source {
        "" | TABLE_KEY => {
            if quiet {
                QUIET_FORMAT.to_string()
            } else if size {
                format!("{}\t{{{{.Size}}}}", container::DEFAULT_TABLE)
            } else {
                container::DEFAULT_TABLE.to_string()
            }
        }
        RAW_KEY => {
            if quiet {
                "container_id: {{.ID}}".to_string()
            } else if size {
                format!("{}size: {{{{.Size}}}}\n", container::RAW)
            } else {
                container::RAW.to_string()
            }
        }
        custom => custom.to_string(),
    }
}

/// The list request; a format that shows `.Size` asks for sizes too, as Docker does.
pub fn list_request(args: &PsArgs) -> Result<Request, crate::filters::FilterFormatError> {
    let filters = Filters::parse(&args.filter)?;
    let limit = if args.latest && args.last == -1 {
        1
    } else {
        args.last
    };
    // Docker runs the template once to see whether it calls `.Size` (marshalling the whole
    // row with `json .` does too).
    let size = args.size
        || args.format.as_deref().is_some_and(|f| {
            let src = crate::format::template_source(f);
            src.contains(".Size") || src.contains("json .")
        });
    let mut req = Request::get("/containers/json").flag("all", args.all);
    req = filters.apply(req);
    if limit != -1 {
        req = req.query("limit", limit.to_string());
    }
    Ok(req.flag("size", size))
}

/// Renders the `ps` output for an API container list.
pub fn render_ps(
    list: &[Json],
    format: &str,
    quiet: bool,
    size: bool,
    no_trunc: bool,
    now: i64,
) -> Result<String, FormatError> {
    let format = container_format(format, quiet, size);
    let rows: Vec<_> = list
        .iter()
        .map(|c| {
            container::row(
                c,
                ContainerRowOptions {
                    trunc: !no_trunc,
                    virtual_size: true,
                    now,
                },
            )
        })
        .collect();
    render_list(&format, &container::header(), &rows)
}

pub async fn run(ctx: &mut Ctx, args: PsArgs) -> anyhow::Result<()> {
    let req = list_request(&args)?;
    let list = ctx.client.json(req).await?;
    let list = list.as_array().cloned().unwrap_or_default();
    let out = render_ps(
        &list,
        args.format.as_deref().unwrap_or(""),
        args.quiet,
        args.size,
        args.no_trunc,
        crate::format::time::now_unix(),
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
                "Id": "3f4e8e1a9b2c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1",
                "Names": ["/berth-web"],
                "Image": "busybox:local",
                "ImageID": "sha256:6fbc7dc50385aa000000000000000000000000000000000000000000000000",
                "Command": "sh -c 'while true; do sleep 1; done'",
                "Created": NOW - 125,
                "Ports": [
                    {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                    {"PrivatePort": 53, "Type": "udp"}
                ],
                "Labels": {"b": "2", "a": "1"},
                "State": "running",
                "Status": "Up 2 minutes",
                "SizeRw": 12,
                "SizeRootFs": 1_980_000,
                "Mounts": []
            }),
            json!({
                "Id": "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2",
                "Names": ["/berth-old"],
                "Image": "sha256:6fbc7dc50385aa000000000000000000000000000000000000000000000000",
                "ImageID": "sha256:6fbc7dc50385aa000000000000000000000000000000000000000000000000",
                "Command": "echo hi",
                "Created": NOW - 3 * 86400,
                "Ports": [],
                "Labels": {},
                "State": "exited",
                "Status": "Exited (0) 3 days ago"
            }),
        ]
    }

    #[test]
    fn default_table() {
        let out = render_ps(&fixture(), "", false, false, false, NOW).unwrap_or_default();
        assert_eq!(
            out,
            "CONTAINER ID   IMAGE           COMMAND                  CREATED         STATUS                  PORTS                          NAMES
3f4e8e1a9b2c   busybox:local   \"sh -c 'while true; …\"   2 minutes ago   Up 2 minutes            53/udp, 0.0.0.0:8080->80/tcp   berth-web
a1b2c3d4e5f6   6fbc7dc50385    \"echo hi\"                3 days ago      Exited (0) 3 days ago                                  berth-old
"
        );
    }

    #[test]
    fn quiet_size_and_formats() {
        assert_eq!(
            render_ps(&fixture(), "", true, false, false, NOW).unwrap_or_default(),
            "3f4e8e1a9b2c\na1b2c3d4e5f6\n"
        );
        let out = render_ps(&fixture(), "", false, true, false, NOW).unwrap_or_default();
        assert!(
            out.lines()
                .next()
                .unwrap_or("")
                .ends_with("NAMES       SIZE"),
            "{out}"
        );
        assert!(out.contains("12B (virtual 1.98MB)"), "{out}");
        assert_eq!(
            render_ps(
                &fixture(),
                "{{.Names}} {{.State}} {{.Labels}}",
                false,
                false,
                false,
                NOW
            )
            .unwrap_or_default(),
            "berth-web running a=1,b=2\nberth-old exited \n"
        );
        let out = render_ps(&fixture(), "{{.ID}}", false, false, true, NOW).unwrap_or_default();
        assert!(
            out.starts_with("3f4e8e1a9b2c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1\n")
        );
    }

    #[test]
    fn list_queries() {
        let args = PsArgs {
            all: true,
            filter: vec!["name=x".into()],
            format: Some("{{.Size}}".into()),
            last: -1,
            latest: true,
            no_trunc: false,
            quiet: false,
            size: false,
        };
        assert_eq!(
            list_request(&args).map(|r| r.uri()).ok().as_deref(),
            Some("/v1.41/containers/json?all=1&filters=%7B%22name%22%3A%5B%22x%22%5D%7D&limit=1&size=1")
        );
    }
}
