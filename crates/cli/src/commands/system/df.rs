//! `berth system df`: GET /system/df, summarised per object type (or itemised with `-v`), laid out
//! like `docker system df`.

use std::io::Write;

use clap::Args;
use serde_json::Value as Json;

use crate::client::Request;
use crate::commands::Ctx;
use crate::format::rows::{build_cache, container, image, int_field, volume};
use crate::format::template::Value;
use crate::format::units::human_size;
use crate::format::{parse_format, render_list, FormatError, RAW_KEY, TABLE_KEY};

#[derive(Debug, Clone, Args)]
pub struct DfArgs {
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', or a Go template)
    #[arg(long)]
    pub format: Option<String>,
    /// Show detailed information on space usage
    #[arg(short, long)]
    pub verbose: bool,
}

const SUMMARY_TABLE: &str =
    "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";
const SUMMARY_RAW: &str =
    "type: {{.Type}}\ntotal: {{.TotalCount}}\nactive: {{.Active}}\nsize: {{.Size}}\nreclaimable: {{.Reclaimable}}\n";

fn summary_header() -> Value {
    Value::string_map([
        ("Type", "TYPE"),
        ("TotalCount", "TOTAL"),
        ("Active", "ACTIVE"),
        ("Size", "SIZE"),
        ("Reclaimable", "RECLAIMABLE"),
    ])
}

fn list<'a>(df: &'a Json, key: &str) -> &'a [Json] {
    df.get(key)
        .and_then(Json::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// "1.2GB (100%)", or just the size when the total is zero.
fn reclaimable(reclaimable: i64, total: i64) -> String {
    if total > 0 {
        format!(
            "{} ({}%)",
            human_size(reclaimable as f64),
            reclaimable * 100 / total
        )
    } else {
        human_size(reclaimable as f64)
    }
}

fn summary_row(kind: &str, total: usize, active: usize, size: String, reclaim: String) -> Value {
    Value::string_record(
        &format!("*formatter.diskUsage{kind}Context"),
        [
            ("Type", kind_label(kind).to_string()),
            ("TotalCount", total.to_string()),
            ("Active", active.to_string()),
            ("Size", size),
            ("Reclaimable", reclaim),
        ],
    )
}

fn kind_label(kind: &str) -> &str {
    match kind {
        "Images" => "Images",
        "Containers" => "Containers",
        "Volumes" => "Local Volumes",
        _ => "Build Cache",
    }
}

fn is_active_container(c: &Json) -> bool {
    let state = c.get("State").and_then(Json::as_str).unwrap_or("");
    state.contains("running") || state.contains("paused") || state.contains("restarting")
}

/// Build cache bytes not shared with other records.
fn build_cache_size(df: &Json) -> i64 {
    list(df, "BuildCache")
        .iter()
        .filter(|b| !b.get("Shared").and_then(Json::as_bool).unwrap_or(false))
        .map(|b| int_field(b, "Size", 0))
        .sum()
}

/// The four summary rows (Images, Containers, Local Volumes, Build Cache).
pub fn summary_rows(df: &Json) -> Vec<Value> {
    let images = list(df, "Images");
    let layers_size = int_field(df, "LayersSize", 0);
    let used: i64 = images
        .iter()
        .filter(|i| int_field(i, "Containers", 0) != 0)
        .filter_map(|i| {
            let (size, shared) = (int_field(i, "Size", -1), int_field(i, "SharedSize", -1));
            (size != -1 && shared != -1).then_some(size - shared)
        })
        .sum();
    let images_row = summary_row(
        "Images",
        images.len(),
        images
            .iter()
            .filter(|i| int_field(i, "Containers", 0) > 0)
            .count(),
        human_size(layers_size as f64),
        reclaimable(layers_size - used, layers_size),
    );

    let containers = list(df, "Containers");
    let total_rw: i64 = containers.iter().map(|c| int_field(c, "SizeRw", 0)).sum();
    let idle_rw: i64 = containers
        .iter()
        .filter(|c| !is_active_container(c))
        .map(|c| int_field(c, "SizeRw", 0))
        .sum();
    let containers_row = summary_row(
        "Containers",
        containers.len(),
        containers.iter().filter(|c| is_active_container(c)).count(),
        human_size(total_rw as f64),
        reclaimable(idle_rw, total_rw),
    );

    let volumes = list(df, "Volumes");
    let usage = |v: &Json, k: &str, d: i64| {
        v.get("UsageData")
            .filter(|u| u.is_object())
            .map_or(d, |u| int_field(u, k, d))
    };
    let sized = || volumes.iter().filter(|v| usage(v, "Size", -1) != -1);
    let vol_total: i64 = sized().map(|v| usage(v, "Size", 0)).sum();
    let vol_idle: i64 = sized()
        .filter(|v| usage(v, "RefCount", 0) == 0)
        .map(|v| usage(v, "Size", 0))
        .sum();
    let volumes_row = summary_row(
        "Volumes",
        volumes.len(),
        volumes
            .iter()
            .filter(|v| usage(v, "RefCount", 0) > 0)
            .count(),
        human_size(vol_total as f64),
        reclaimable(vol_idle, vol_total),
    );

    let cache = list(df, "BuildCache");
    let flag = |b: &Json, k: &str| b.get(k).and_then(Json::as_bool).unwrap_or(false);
    let cache_size = build_cache_size(df);
    let in_use: i64 = cache
        .iter()
        .filter(|b| flag(b, "InUse") && !flag(b, "Shared"))
        .map(|b| int_field(b, "Size", 0))
        .sum();
    let cache_row = summary_row(
        "BuildCache",
        cache.len(),
        cache.iter().filter(|b| flag(b, "InUse")).count(),
        human_size(cache_size as f64),
        human_size((cache_size - in_use) as f64),
    );
    vec![images_row, containers_row, volumes_row, cache_row]
}

/// Renders `system df` (summary) with a format ("" for the default table).
pub fn render_df(df: &Json, format: &str) -> Result<String, FormatError> {
    let format = match format {
        "" | TABLE_KEY => SUMMARY_TABLE,
        RAW_KEY => SUMMARY_RAW,
        other => other,
    };
    render_list(format, &summary_header(), &summary_rows(df))
}

struct VerboseRows {
    images: Vec<Value>,
    containers: Vec<Value>,
    volumes: Vec<Value>,
    build_cache: Vec<Value>,
}

fn verbose_rows(df: &Json, trunc: bool, now: i64) -> VerboseRows {
    let mut cache: Vec<Json> = list(df, "BuildCache").to_vec();
    build_cache::sort(&mut cache);
    VerboseRows {
        images: list(df, "Images")
            .iter()
            .filter_map(|i| image::df_row(i, now))
            .collect(),
        containers: list(df, "Containers")
            .iter()
            .map(|c| {
                container::row(
                    c,
                    container::ContainerRowOptions {
                        trunc,
                        virtual_size: false,
                        now,
                    },
                )
            })
            .collect(),
        volumes: list(df, "Volumes").iter().map(volume::row).collect(),
        build_cache: cache
            .iter()
            .map(|b| build_cache::row(b, trunc, now))
            .collect(),
    }
}

const DF_IMAGE_TABLE: &str = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}";

/// Renders `system df -v` ("" or "table" for Docker's sectioned tables, else a template over
/// `.Images`, `.Containers`, `.Volumes`, `.BuildCache`).
pub fn render_df_verbose(df: &Json, format: &str, now: i64) -> Result<String, FormatError> {
    let table = format.is_empty() || format == TABLE_KEY;
    let rows = verbose_rows(df, table, now);
    if !table {
        let tmpl = parse_format(format)?;
        let data = Value::Map(
            [
                ("Images".to_string(), Value::List(rows.images)),
                ("Containers".to_string(), Value::List(rows.containers)),
                ("Volumes".to_string(), Value::List(rows.volumes)),
                ("BuildCache".to_string(), Value::List(rows.build_cache)),
            ]
            .into_iter()
            .collect(),
        );
        return Ok(tmpl.execute(&data)?);
    }
    let mut out = String::from("Images space usage:\n\n");
    out += &render_list(DF_IMAGE_TABLE, &image::header(), &rows.images)?;
    out += "\nContainers space usage:\n\n";
    out += &render_list(container::DF_TABLE, &container::header(), &rows.containers)?;
    out += "\nLocal Volumes space usage:\n\n";
    out += &render_list(volume::DF_TABLE, &volume::header(), &rows.volumes)?;
    out += &format!(
        "\nBuild cache usage: {}\n\n",
        human_size(build_cache_size(df) as f64)
    );
    out += &render_list(
        build_cache::DF_TABLE,
        &build_cache::header(),
        &rows.build_cache,
    )?;
    Ok(out)
}

pub async fn run(ctx: &mut Ctx, args: DfArgs) -> anyhow::Result<()> {
    let df = ctx.client.json(Request::get("/system/df")).await?;
    let format = args.format.unwrap_or_default();
    let out = if args.verbose {
        render_df_verbose(&df, &format, crate::format::time::now_unix())?
    } else {
        render_df(&df, &format)?
    };
    ctx.streams.out.write_all(out.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_795_521_600;

    fn fixture() -> Json {
        json!({
            "LayersSize": 1_200_000_000_i64,
            "Images": [
                {"Id": "sha256:a416a98b71e224a31ee99cff8e16063554498227d2b696152a9c3e0aa65e5824",
                 "RepoTags": ["busybox:latest", "busybox:1.36"], "RepoDigests": [],
                 "Created": NOW - 7200, "Size": 4_261_000, "SharedSize": 0, "Containers": 1},
                {"Id": "sha256:05455a08881ea9cf0e752bc48e61bbd71a34c029bb13df01e40e3e70e0d007bd",
                 "RepoTags": null, "RepoDigests": null,
                 "Created": NOW - 86400 * 3, "Size": 1_195_739_000, "SharedSize": 0, "Containers": 0}
            ],
            "Containers": [
                {"Id": "4f0e5b8e2c1d9a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b",
                 "Names": ["/web"], "Image": "busybox", "ImageID": "sha256:a416a98b71e2",
                 "Command": "sleep 1000", "Created": NOW - 600, "State": "running",
                 "Status": "Up 10 minutes", "SizeRw": 12_000, "Mounts": [{"Driver": "local", "Name": "data"}]}
            ],
            "Volumes": [
                {"Name": "data", "Driver": "local", "UsageData": {"Size": 2_000_000, "RefCount": 1}},
                {"Name": "old", "Driver": "local", "UsageData": {"Size": 1_000_000, "RefCount": 0}}
            ],
            "BuildCache": []
        })
    }

    #[test]
    fn summary_table() {
        let want = "\
TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE
Images          2         1         1.2GB     1.196GB (99%)
Containers      1         1         12kB      0B (0%)
Local Volumes   2         1         3MB       1MB (33%)
Build Cache     0         0         0B        0B
";
        assert_eq!(render_df(&fixture(), "").as_deref(), Ok(want));
    }

    #[test]
    fn summary_custom_format() {
        let out = render_df(&fixture(), "{{.Type}}={{.Reclaimable}}");
        assert_eq!(
            out.as_deref(),
            Ok("Images=1.196GB (99%)\nContainers=0B (0%)\nLocal Volumes=1MB (33%)\nBuild Cache=0B\n")
        );
    }

    #[test]
    fn verbose_tables() {
        let out = render_df_verbose(&fixture(), "", NOW).unwrap_or_else(|e| panic!("{e}"));
        let want = "\
Images space usage:

REPOSITORY   TAG       IMAGE ID       CREATED       SIZE      SHARED SIZE   UNIQUE SIZE   CONTAINERS
busybox      latest    a416a98b71e2   2 hours ago   4.26MB    0B            4.261MB       1
<none>       <none>    05455a08881e   3 days ago    1.2GB     0B            1.196GB       0

Containers space usage:

CONTAINER ID   IMAGE     COMMAND        LOCAL VOLUMES   SIZE      CREATED          STATUS          NAMES
4f0e5b8e2c1d   busybox   \"sleep 1000\"   1               12kB      10 minutes ago   Up 10 minutes   web

Local Volumes space usage:

VOLUME NAME   LINKS     SIZE
data          1         2MB
old           0         1MB

Build cache usage: 0B

CACHE ID   CACHE TYPE   SIZE      CREATED   LAST USED   USAGE     SHARED
";
        assert_eq!(out, want);
    }

    #[test]
    fn verbose_custom_template() {
        let out = render_df_verbose(&fixture(), "{{range .Volumes}}{{.Name}} {{end}}", NOW);
        assert_eq!(out.as_deref(), Ok("data old "));
    }
}
