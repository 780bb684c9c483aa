//! `berth version`: client and server (GET /version) versions, laid out like `docker version`.

use std::io::Write;

use clap::Args;
use serde_json::Value as Json;

use super::go_arch;
use crate::client::{Request, API_VERSION, CLIENT_VERSION};
use crate::commands::{Ctx, StatusError};
use crate::format::tabwriter::TabWriter;
use crate::format::template::{Template, Value};

#[derive(Debug, Clone, Args)]
pub struct VersionArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short, long)]
    pub format: Option<String>,
}

/// The compiler this client was built with (where Docker shows its Go version).
pub const RUST_VERSION: &str = env!("BERTH_RUSTC_VERSION");

/// The client half of the version data, as templates see it under `.Client`.
pub fn client_version() -> Json {
    serde_json::json!({
        "Version": CLIENT_VERSION,
        "ApiVersion": API_VERSION,
        "DefaultAPIVersion": API_VERSION,
        "RustVersion": RUST_VERSION,
        "Os": std::env::consts::OS,
        "Arch": go_arch(),
    })
}

fn s<'a>(v: &'a Json, key: &str) -> &'a str {
    v.get(key).and_then(Json::as_str).unwrap_or("")
}

/// Docker's default version layout (before tab alignment).
fn version_text(client: &Json, server: Option<&Json>) -> String {
    let mut t = String::from("Client:\n");
    t += &format!(" Version:\t{}\n", s(client, "Version"));
    t += &format!(" API version:\t{}\n", s(client, "ApiVersion"));
    t += &format!(" Rust version:\t{}\n", s(client, "RustVersion"));
    t += &format!(" OS/Arch:\t{}/{}\n", s(client, "Os"), s(client, "Arch"));
    let Some(server) = server else {
        return t;
    };
    let platform = server
        .pointer("/Platform/Name")
        .and_then(Json::as_str)
        .unwrap_or("");
    t += "\nServer:";
    if !platform.is_empty() {
        t += &format!(" {platform}");
    }
    t += "\n";
    let mut components: Vec<Json> = server
        .get("Components")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default();
    if !components.iter().any(|c| s(c, "Name") == "Engine") {
        components.push(serde_json::json!({
            "Name": "Engine",
            "Version": s(server, "Version"),
            "Details": {
                "ApiVersion": s(server, "ApiVersion"),
                "MinAPIVersion": s(server, "MinAPIVersion"),
                "GitCommit": s(server, "GitCommit"),
                "GoVersion": s(server, "GoVersion"),
                "Os": s(server, "Os"),
                "Arch": s(server, "Arch"),
                "BuildTime": s(server, "BuildTime"),
                "Experimental": server.get("Experimental").and_then(Json::as_bool).unwrap_or(false).to_string(),
            }
        }));
    }
    for c in &components {
        let name = s(c, "Name");
        let empty = Json::Null;
        let details = c.get("Details").unwrap_or(&empty);
        let detail = |k: &str| match details.get(k) {
            Some(Json::String(v)) => v.clone(),
            Some(Json::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        t += &format!(" {name}:\n");
        t += &format!("  Version:\t{}\n", s(c, "Version"));
        if name == "Engine" {
            t += &format!(
                "  API version:\t{} (minimum version {})\n",
                detail("ApiVersion"),
                detail("MinAPIVersion")
            );
            for (label, key) in [
                ("Go version", "GoVersion"),
                ("Rust version", "RustVersion"),
                ("Git commit", "GitCommit"),
                ("Built", "BuildTime"),
            ] {
                let v = detail(key);
                if !v.is_empty() {
                    t += &format!("  {label}:\t{v}\n");
                }
            }
            t += &format!("  OS/Arch:\t{}/{}\n", detail("Os"), detail("Arch"));
            let kernel = s(server, "KernelVersion");
            if !kernel.is_empty() {
                t += &format!("  Kernel Version:\t{kernel}\n");
            }
            t += &format!("  Experimental:\t{}\n", detail("Experimental"));
        } else if let Some(map) = details.as_object() {
            for (k, _) in map {
                t += &format!("  {k}:\t{}\n", detail(k));
            }
        }
    }
    t
}

/// Renders `docker version`'s default output.
pub fn render_version(client: &Json, server: Option<&Json>) -> String {
    TabWriter {
        min_width: 20,
        padding: 1,
    }
    .format(&version_text(client, server))
}

pub async fn run(ctx: &mut Ctx, args: VersionArgs) -> anyhow::Result<()> {
    let template = match args.format.as_deref() {
        None | Some("") => None,
        Some(f) => {
            let src = if f == "json" { "{{json .}}" } else { f };
            Some(
                Template::parse(src)
                    .map_err(|e| StatusError::new(64, format!("template parsing error: {e}")))?,
            )
        }
    };
    let client = client_version();
    let server = ctx.client.json(Request::get("/version")).await;
    let server_ref = server.as_ref().ok();
    match template {
        None => {
            let out = render_version(&client, server_ref);
            ctx.streams.out.write_all(out.as_bytes())?;
        }
        Some(t) => {
            let data = serde_json::json!({
                "Client": client,
                "Server": server_ref.cloned().unwrap_or(Json::Null),
            });
            let out = t.execute(&Value::from(&data));
            match out {
                Ok(o) => writeln!(ctx.streams.out, "{o}")?,
                Err(e) if server.is_ok() => {
                    return Err(anyhow::anyhow!("template parsing error: {e}"));
                }
                Err(_) => {}
            }
        }
    }
    server?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn client() -> Json {
        json!({"Version": "0.1.0", "ApiVersion": "1.41", "RustVersion": "rustc1.95.0", "Os": "linux", "Arch": "amd64"})
    }

    #[test]
    fn client_and_server_sections() {
        let server = json!({
            "Platform": {"Name": ""},
            "Components": [{
                "Name": "Engine", "Version": "0.1.0",
                "Details": {"ApiVersion": "1.41", "MinAPIVersion": "1.24", "Os": "linux", "Arch": "amd64", "Experimental": "false"}
            }],
            "Version": "0.1.0", "ApiVersion": "1.41", "MinAPIVersion": "1.24",
            "Os": "linux", "Arch": "amd64", "KernelVersion": "6.1.0"
        });
        let want = "\
Client:
 Version:           0.1.0
 API version:       1.41
 Rust version:      rustc1.95.0
 OS/Arch:           linux/amd64

Server:
 Engine:
  Version:          0.1.0
  API version:      1.41 (minimum version 1.24)
  OS/Arch:          linux/amd64
  Kernel Version:   6.1.0
  Experimental:     false
";
        assert_eq!(render_version(&client(), Some(&server)), want);
    }

    #[test]
    fn engine_synthesised_without_components() {
        let server = json!({"Version": "1.0", "ApiVersion": "1.41", "MinAPIVersion": "1.12", "Os": "linux", "Arch": "arm64", "Experimental": true});
        let out = render_version(&client(), Some(&server));
        assert!(out.contains("\n Engine:\n  Version:          1.0\n  API version:      1.41 (minimum version 1.12)\n"));
        assert!(out.contains("  OS/Arch:          linux/arm64\n  Experimental:     true\n"));
    }

    #[test]
    fn client_only_when_daemon_is_down() {
        assert_eq!(
            render_version(&client(), None),
            "Client:\n Version:           0.1.0\n API version:       1.41\n Rust version:      rustc1.95.0\n OS/Arch:           linux/amd64\n"
        );
    }
}
