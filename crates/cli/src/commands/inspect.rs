//! `berth inspect` (containers, images, networks, volumes) and the inspector shared by every
//! `… inspect` command: a 4-space indented JSON array of the daemon's raw objects, or one template
//! result per object with `-f`.

use std::io::Write;

use clap::Args;

use crate::client::{escape_path, Client, Request};
use crate::commands::{Ctx, StatusError};
use crate::format::json_indent::{compact, indent};
use crate::format::template::{Template, Value};

/// Collects inspected objects and renders them as Docker does.
pub enum Inspector {
    /// No `--format`: the raw objects as an indented JSON array.
    Indented(Vec<String>),
    /// `--format json`: a compact JSON array.
    Json(Vec<String>),
    /// A template: one result line per object.
    Template(Box<Template>, String),
}

impl Inspector {
    /// An inspector for a `--format` value; a bad template is exit status 64, as in Docker.
    pub fn new(format: Option<&str>) -> Result<Inspector, StatusError> {
        Ok(match format {
            None | Some("") => Inspector::Indented(Vec::new()),
            Some("json") => Inspector::Json(Vec::new()),
            Some(f) => {
                Inspector::Template(
                    Box::new(Template::parse(f).map_err(|e| {
                        StatusError::new(64, format!("template parsing error: {e}"))
                    })?),
                    String::new(),
                )
            }
        })
    }

    /// Adds one object (the daemon's raw JSON text).
    pub fn add(&mut self, raw: &str) -> Result<(), String> {
        match self {
            Inspector::Indented(items) | Inspector::Json(items) => {
                items.push(raw.trim().to_string());
                Ok(())
            }
            Inspector::Template(tmpl, out) => {
                let json: serde_json::Value = serde_json::from_str(raw)
                    .map_err(|e| format!("unable to read inspect data: {e}"))?;
                let result = tmpl
                    .execute(&Value::from(&json))
                    .map_err(|e| format!("template parsing error: {e}"))?;
                out.push_str(&result);
                out.push('\n');
                Ok(())
            }
        }
    }

    /// The final output.
    pub fn finish(&self) -> String {
        match self {
            Inspector::Indented(items) if items.is_empty() => "[]\n".to_string(),
            Inspector::Indented(items) => {
                format!("{}\n", indent(&format!("[{}]", items.join(",")), "    "))
            }
            Inspector::Json(items) => format!("{}\n", compact(&format!("[{}]", items.join(",")))),
            Inspector::Template(_, out) if out.is_empty() => "\n".to_string(),
            Inspector::Template(_, out) => out.clone(),
        }
    }
}

/// Inspects each name with `fetch`, prints the result, then the errors (exit status 1).
pub async fn inspect_each<F, Fut>(
    ctx: &mut Ctx,
    names: &[String],
    format: Option<&str>,
    fetch: F,
) -> anyhow::Result<()>
where
    F: Fn(Client, String) -> Fut,
    Fut: std::future::Future<Output = Result<String, String>>,
{
    let mut inspector = Inspector::new(format)?;
    let mut errors = Vec::new();
    for name in names {
        match fetch(ctx.client.clone(), name.clone()).await {
            Ok(raw) => {
                if let Err(e) = inspector.add(&raw) {
                    errors.push(e);
                }
            }
            Err(e) => errors.push(e),
        }
    }
    ctx.streams.out.write_all(inspector.finish().as_bytes())?;
    if errors.is_empty() {
        Ok(())
    } else {
        Err(StatusError::new(1, errors.join("\n")).into())
    }
}

/// GET /images/{name}/json as raw text; a 404 reads "Error: No such image: NAME".
pub async fn fetch_image(client: Client, name: String) -> Result<String, String> {
    let req = Request::get(format!("/images/{}/json", escape_path(&name)));
    match client.bytes(req).await {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) if e.is_not_found() => Err(format!("Error: No such image: {name}")),
        Err(e) => Err(e.to_string()),
    }
}

#[derive(Debug, Clone, Args)]
pub struct InspectArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short, long)]
    pub format: Option<String>,
    /// Return JSON for specified type
    #[arg(long = "type", value_name = "TYPE")]
    pub object_type: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short, long)]
    pub size: bool,
    #[arg(required = true, value_name = "NAME|ID")]
    pub names: Vec<String>,
}

/// Object kinds `inspect` can look up, tried in this order when `--type` is not given (Docker's
/// order: a container wins over an image of the same name).
const KINDS: &[&str] = &["container", "image", "network", "volume"];
const DOCKER_KINDS: &[&str] = &[
    "container",
    "image",
    "node",
    "network",
    "service",
    "volume",
    "task",
    "plugin",
    "secret",
];

/// GET /networks/{name} as raw text; a 404 reads "Error: No such network: NAME".
pub async fn fetch_network(client: Client, name: String) -> Result<String, String> {
    let req = Request::get(format!("/networks/{}", escape_path(&name)));
    match client.bytes(req).await {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) if e.is_not_found() => Err(format!("Error: No such network: {name}")),
        Err(e) => Err(e.to_string()),
    }
}

async fn fetch_kind(
    client: Client,
    name: String,
    kind: &str,
    size: bool,
) -> Result<String, String> {
    match kind {
        "container" => {
            crate::commands::container::inspect::fetch_container(client, name, size).await
        }
        "image" => fetch_image(client, name).await,
        "network" => fetch_network(client, name).await,
        "volume" => crate::commands::volume::inspect::fetch_volume(client, name).await,
        other => Err(format!(
            "Error: inspecting objects of type {other:?} is not supported"
        )),
    }
}

async fn fetch_object(
    client: Client,
    name: String,
    kind: Option<String>,
    size: bool,
) -> Result<String, String> {
    match kind.as_deref() {
        Some(k) => fetch_kind(client, name, k, size).await,
        None => {
            for kind in KINDS {
                let result = fetch_kind(client.clone(), name.clone(), kind, size).await;
                match result {
                    Err(e) if e.starts_with("Error: No such ") => continue,
                    other => return other,
                }
            }
            Err(format!("Error: No such object: {name}"))
        }
    }
}

pub async fn run(ctx: &mut Ctx, args: InspectArgs) -> anyhow::Result<()> {
    let kind = args.object_type.filter(|t| !t.is_empty());
    if let Some(k) = &kind {
        if !DOCKER_KINDS.contains(&k.as_str()) {
            return Err(anyhow::anyhow!("{k:?} is not a valid value for --type"));
        }
    }
    let size = args.size;
    inspect_each(ctx, &args.names, args.format.as_deref(), |client, name| {
        fetch_object(client, name, kind.clone(), size)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW1: &str = r#"{"Id":"sha256:aaa","RepoTags":["busybox:latest"],"Config":{"Env":["PATH=/bin"],"Labels":null}}"#;
    const RAW2: &str =
        r#"{"Id":"sha256:bbb","RepoTags":[],"Config":{"Env":[],"Labels":{"a":"b"}}}"#;

    #[test]
    fn indented_array_like_docker() {
        let mut i = Inspector::new(None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(i.finish(), "[]\n");
        assert!(i.add(RAW1).is_ok());
        assert_eq!(
            i.finish(),
            r#"[
    {
        "Id": "sha256:aaa",
        "RepoTags": [
            "busybox:latest"
        ],
        "Config": {
            "Env": [
                "PATH=/bin"
            ],
            "Labels": null
        }
    }
]
"#
        );
    }

    #[test]
    fn template_per_object() {
        let mut i = Inspector::new(Some("{{.Id}} {{index .Config.Labels \"a\"}}"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(i.add(RAW2).is_ok());
        assert!(i.add(RAW2).is_ok());
        assert_eq!(i.finish(), "sha256:bbb b\nsha256:bbb b\n");
    }

    #[test]
    fn json_format_is_compact() {
        let mut i = Inspector::new(Some("json")).unwrap_or_else(|e| panic!("{e}"));
        assert!(i.add(RAW2).is_ok());
        assert_eq!(i.finish(), format!("[{RAW2}]\n"));
    }

    #[test]
    fn bad_template_is_status_64() {
        let err = Inspector::new(Some("{{.Id")).err();
        assert_eq!(err.as_ref().map(|e| e.code), Some(64));
        assert_eq!(
            err.map(|e| e.message),
            Some("template parsing error: template: :1: unclosed action".to_string())
        );
    }
}
