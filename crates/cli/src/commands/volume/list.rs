//! `berth volume ls`: GET /volumes, sorted by name (naturally, as Docker sorts), as a table or
//! a `--format`.

use std::cmp::Ordering;
use std::io::Write;

use clap::Args;
use serde_json::Value as Json;

use crate::client::Request;
use crate::commands::Ctx;
use crate::filters::Filters;
use crate::format::rows::volume;
use crate::format::{render_list, FormatError, RAW_KEY, TABLE_KEY};

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Provide filter values (e.g. 'dangling=true')
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Pretty-print volumes using a Go template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Only display volume names
    #[arg(short, long)]
    pub quiet: bool,
}

/// Docker's `NewVolumeFormat`.
pub fn volume_format(source: &str, quiet: bool) -> String {
    match source {
        "" | TABLE_KEY if quiet => "{{.Name}}".to_string(),
        "" | TABLE_KEY => volume::DEFAULT_TABLE.to_string(),
        RAW_KEY if quiet => "name: {{.Name}}".to_string(),
        RAW_KEY => "name: {{.Name}}\ndriver: {{.Driver}}\n".to_string(),
        custom => custom.to_string(),
    }
}

/// `sortorder.NaturalLess`: digit runs compare as numbers.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (ca, cb) = (a[i], b[j]);
        if ca.is_ascii_digit() && cb.is_ascii_digit() {
            let si = i;
            while i < a.len() && a[i] == b'0' {
                i += 1;
            }
            let sj = j;
            while j < b.len() && b[j] == b'0' {
                j += 1;
            }
            let (ni, nj) = (i, j);
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let (da, db) = (&a[ni..i], &b[nj..j]);
            let ord = da.len().cmp(&db.len()).then(da.cmp(db));
            if ord != Ordering::Equal {
                return ord;
            }
            let zeros = (ni - si).cmp(&(nj - sj));
            if zeros != Ordering::Equal {
                return zeros;
            }
            continue;
        }
        if ca != cb {
            return ca.cmp(&cb);
        }
        i += 1;
        j += 1;
    }
    (a.len() - i).cmp(&(b.len() - j))
}

/// Renders the `volume ls` output for an API volume list response.
pub fn render_volumes(resp: &Json, format: &str, quiet: bool) -> Result<String, FormatError> {
    let mut vols: Vec<&Json> = resp
        .get("Volumes")
        .and_then(Json::as_array)
        .map(|v| v.iter().collect())
        .unwrap_or_default();
    vols.sort_by(|a, b| {
        natural_cmp(
            a.get("Name").and_then(Json::as_str).unwrap_or(""),
            b.get("Name").and_then(Json::as_str).unwrap_or(""),
        )
    });
    let rows: Vec<_> = vols.into_iter().map(volume::row).collect();
    render_list(&volume_format(format, quiet), &volume::header(), &rows)
}

pub async fn run(ctx: &mut Ctx, args: ListArgs) -> anyhow::Result<()> {
    let filters = Filters::parse(&args.filter)?;
    let resp = ctx
        .client
        .json(filters.apply(Request::get("/volumes")))
        .await?;
    let out = render_volumes(&resp, args.format.as_deref().unwrap_or(""), args.quiet)?;
    ctx.streams.out.write_all(out.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resp() -> Json {
        json!({"Volumes": [
            {"Name": "vol10", "Driver": "local", "Mountpoint": "/v/vol10/_data", "Labels": null, "Scope": "local"},
            {"Name": "capv", "Driver": "local", "Mountpoint": "/v/capv/_data", "Labels": {"a": "b"}, "Scope": "local"},
            {"Name": "vol9", "Driver": "local", "Mountpoint": "/v/vol9/_data", "Labels": {}, "Scope": "local"}
        ], "Warnings": null})
    }

    #[test]
    fn table_sorted_naturally() {
        assert_eq!(
            render_volumes(&resp(), "", false).unwrap_or_default(),
            "DRIVER    VOLUME NAME\nlocal     capv\nlocal     vol9\nlocal     vol10\n"
        );
        assert_eq!(
            render_volumes(&resp(), "", true).unwrap_or_default(),
            "capv\nvol9\nvol10\n"
        );
    }

    #[test]
    fn json_rows_like_docker() {
        let out = render_volumes(&resp(), "{{json .}}", false).unwrap_or_default();
        assert_eq!(
            out.lines().next(),
            Some(
                r#"{"Driver":"local","Labels":"a=b","Links":"N/A","Mountpoint":"/v/capv/_data","Name":"capv","Scope":"local","Size":"N/A"}"#
            )
        );
    }
}
