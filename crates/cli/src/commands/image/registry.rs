//! `berth pull`, `berth push`, `berth login`, `berth logout`. Credentials live where the docker
//! CLI keeps them (`~/.docker/config.json`, `auths.<registry>.auth` = base64 `user:password`), and
//! reach the daemon in the `X-Registry-Auth` header.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use base64::Engine as _;
use clap::Args;
use serde_json::{json, Value};

use crate::client::{JsonStream, Request};
use crate::commands::{Ctx, StatusError};
use crate::jsonmessage::{display_stream, DisplayOptions};
use crate::streams::terminal_width;

#[derive(Debug, Clone, Args)]
pub struct PullArgs {
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
    /// Download all tagged images in the repository
    #[arg(short = 'a', long)]
    pub all_tags: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    pub name: String,
}

#[derive(Debug, Clone, Args)]
pub struct PushArgs {
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
    pub name: String,
}

#[derive(Debug, Clone, Args)]
pub struct LoginArgs {
    /// Username
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password
    #[arg(short, long)]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    pub password_stdin: bool,
    pub server: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct LogoutArgs {
    pub server: Option<String>,
}

const DEFAULT_REGISTRY: &str = "https://index.docker.io/v1/";

fn config_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return PathBuf::from(dir).join("config.json");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/root".into());
    home.join(".docker").join("config.json")
}

fn read_config() -> Value {
    std::fs::read(config_path())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| json!({}))
}

/// The registry part of an image name, as the config file keys it.
pub(crate) fn registry_of(name: &str) -> String {
    let first = name.split('/').next().unwrap_or("");
    if name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost") {
        first.to_string()
    } else {
        DEFAULT_REGISTRY.to_string()
    }
}

/// The `X-Registry-Auth` value for `registry`, from the config file (empty JSON when none).
pub(crate) fn auth_header(registry: &str) -> String {
    let cfg = read_config();
    let entry = &cfg["auths"][registry];
    let mut auth = json!({"serveraddress": registry});
    if let Some(b64) = entry["auth"].as_str() {
        if let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64) {
            let raw = String::from_utf8_lossy(&raw).into_owned();
            if let Some((u, p)) = raw.split_once(':') {
                auth["username"] = json!(u);
                auth["password"] = json!(p);
            }
        }
    }
    if let Some(t) = entry["identitytoken"].as_str() {
        auth["identitytoken"] = json!(t);
    }
    base64::engine::general_purpose::URL_SAFE.encode(auth.to_string())
}

fn split_tag(name: &str) -> (String, Option<String>) {
    if let Some((n, d)) = name.split_once('@') {
        return (n.to_string(), Some(d.to_string()));
    }
    match name.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n.to_string(), Some(t.to_string())),
        _ => (name.to_string(), None),
    }
}

async fn show(ctx: &mut Ctx, req: Request, quiet: bool) -> anyhow::Result<()> {
    let response = ctx.client.send(req).await?;
    let mut stream = JsonStream::from_body(response.into_body());
    let opts = DisplayOptions {
        is_terminal: ctx.streams.stdout_is_terminal,
        width: terminal_width().unwrap_or(80),
    };
    let mut sink = Vec::new();
    let out: &mut (dyn Write + Send) = if quiet {
        &mut sink
    } else {
        &mut ctx.streams.out
    };
    display_stream(&mut stream, out, opts, &mut |_| {})
        .await
        .map_err(|e| StatusError::new(1, e.to_string()))?;
    Ok(())
}

pub async fn pull(ctx: &mut Ctx, args: PullArgs) -> anyhow::Result<()> {
    let (name, tag) = split_tag(&args.name);
    let tag = match (tag, args.all_tags) {
        (Some(_), true) if !args.name.contains('@') => {
            return Err(StatusError::new(1, "tag can't be used with --all-tags/-a").into())
        }
        (Some(t), _) => t,
        (None, true) => String::new(),
        (None, false) => {
            if !args.quiet {
                writeln!(ctx.streams.out, "Using default tag: latest")?;
            }
            "latest".into()
        }
    };
    let mut req = Request::post("/images/create")
        .query("fromImage", name.clone())
        .header("X-Registry-Auth", auth_header(&registry_of(&name)));
    if !tag.is_empty() {
        req = req.query("tag", tag.clone());
    }
    if let Some(p) = &args.platform {
        req = req.query("platform", p.clone());
    }
    show(ctx, req, args.quiet).await?;
    let full = if tag.starts_with("sha256:") {
        format!("{name}@{tag}")
    } else if tag.is_empty() {
        name.clone()
    } else {
        format!("{name}:{tag}")
    };
    let qualified = if registry_of(&name) == DEFAULT_REGISTRY {
        if name.contains('/') {
            format!("docker.io/{full}")
        } else {
            format!("docker.io/library/{full}")
        }
    } else {
        full
    };
    writeln!(ctx.streams.out, "{qualified}")?;
    Ok(())
}

pub async fn push(ctx: &mut Ctx, args: PushArgs) -> anyhow::Result<()> {
    let (name, tag) = split_tag(&args.name);
    let mut req = Request::post(format!("/images/{name}/push"))
        .header("X-Registry-Auth", auth_header(&registry_of(&name)));
    if let Some(t) = tag {
        req = req.query("tag", t);
    }
    show(ctx, req, args.quiet).await
}

pub async fn login(ctx: &mut Ctx, args: LoginArgs) -> anyhow::Result<()> {
    let server = args
        .server
        .clone()
        .unwrap_or_else(|| DEFAULT_REGISTRY.to_string());
    let username = match args.username {
        Some(u) => u,
        None => {
            write!(ctx.streams.out, "Username: ")?;
            ctx.streams.out.flush()?;
            let mut l = String::new();
            std::io::stdin().lock().read_line(&mut l)?;
            l.trim().to_string()
        }
    };
    let password = if args.password_stdin {
        let mut l = String::new();
        std::io::stdin().lock().read_line(&mut l)?;
        l.trim_end_matches(['\n', '\r']).to_string()
    } else if let Some(p) = args.password {
        p
    } else {
        write!(ctx.streams.out, "Password: ")?;
        ctx.streams.out.flush()?;
        let mut l = String::new();
        std::io::stdin().lock().read_line(&mut l)?;
        l.trim_end_matches(['\n', '\r']).to_string()
    };
    let body = json!({"username": username, "password": password, "serveraddress": server});
    let v = ctx
        .client
        .json(Request::post("/auth").json_body(&body))
        .await
        .map_err(|e| StatusError::new(1, format!("Error response from daemon: {e}")))?;
    let mut cfg = read_config();
    if !cfg["auths"].is_object() {
        cfg["auths"] = json!({});
    }
    let mut entry = json!({"auth": base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))});
    if let Some(t) = v["IdentityToken"].as_str().filter(|t| !t.is_empty()) {
        entry = json!({"identitytoken": t});
    }
    cfg["auths"][&server] = entry;
    let path = config_path();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&cfg)?)?;
    std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    std::fs::rename(&tmp, &path)?;
    writeln!(
        ctx.streams.out,
        "WARNING! Your password will be stored unencrypted in {}.",
        path.display()
    )?;
    writeln!(
        ctx.streams.out,
        "{}",
        v["Status"].as_str().unwrap_or("Login Succeeded")
    )?;
    Ok(())
}

pub async fn logout(ctx: &mut Ctx, args: LogoutArgs) -> anyhow::Result<()> {
    let server = args.server.unwrap_or_else(|| DEFAULT_REGISTRY.to_string());
    let mut cfg = read_config();
    let had = cfg["auths"]
        .as_object_mut()
        .map(|m| m.remove(&server).is_some())
        .unwrap_or(false);
    if had {
        let path = config_path();
        std::fs::write(&path, serde_json::to_vec_pretty(&cfg)?)?;
        writeln!(ctx.streams.out, "Removing login credentials for {server}")?;
    } else {
        writeln!(ctx.streams.out, "Not logged in to {server}")?;
    }
    Ok(())
}
