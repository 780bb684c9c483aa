//! `berth info` / `berth system info`: GET /info, printed like `docker info`.

use std::io::Write;

use clap::Args;
use serde_json::Value as Json;

use crate::client::{Request, CLIENT_VERSION};
use crate::commands::{Ctx, StatusError};
use crate::format::template::{Template, Value};
use crate::format::units::bytes_size;

#[derive(Debug, Clone, Args)]
pub struct InfoArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short, long)]
    pub format: Option<String>,
}

fn s<'a>(v: &'a Json, key: &str) -> &'a str {
    v.get(key).and_then(Json::as_str).unwrap_or("")
}

/// A scalar as Go's `fmt.Println` prints it ("" for absent).
fn scalar(v: &Json, key: &str) -> String {
    match v.get(key) {
        Some(Json::String(x)) => x.clone(),
        Some(Json::Number(n)) => n.to_string(),
        Some(Json::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

fn strings(v: &Json, pointer: &str) -> Vec<String> {
    v.pointer(pointer)
        .and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The client section of `docker info`.
pub fn render_client_info(debug: bool) -> String {
    format!("Client:\n Version:    {CLIENT_VERSION}\n Debug Mode: {debug}\n")
}

/// Go's `fprintlnNonEmpty`: "label value" only when the value is set.
fn nonempty(out: &mut String, label: &str, value: &str) {
    if !value.is_empty() {
        out.push_str(&format!("{label} {value}\n"));
    }
}

/// The server section of `docker info` (after the "Server:" line), and the daemon's warnings.
pub fn render_server_info(info: &Json) -> (String, Vec<String>) {
    let mut out = String::new();
    let num = |key: &str| {
        info.get(key)
            .and_then(Json::as_i64)
            .unwrap_or(0)
            .to_string()
    };
    out.push_str(&format!(" Containers: {}\n", num("Containers")));
    out.push_str(&format!("  Running: {}\n", num("ContainersRunning")));
    out.push_str(&format!("  Paused: {}\n", num("ContainersPaused")));
    out.push_str(&format!("  Stopped: {}\n", num("ContainersStopped")));
    out.push_str(&format!(" Images: {}\n", num("Images")));
    nonempty(&mut out, " Server Version:", s(info, "ServerVersion"));
    nonempty(&mut out, " Storage Driver:", s(info, "Driver"));
    for (pointer, indent) in [("/DriverStatus", "  "), ("/SystemStatus", " ")] {
        if let Some(pairs) = info.pointer(pointer).and_then(Json::as_array) {
            for pair in pairs {
                let k = pair.get(0).and_then(Json::as_str).unwrap_or("");
                let v = pair.get(1).and_then(Json::as_str).unwrap_or("");
                out.push_str(&format!("{indent}{k}: {v}\n"));
            }
        }
    }
    nonempty(&mut out, " Logging Driver:", s(info, "LoggingDriver"));
    nonempty(&mut out, " Cgroup Driver:", s(info, "CgroupDriver"));
    nonempty(&mut out, " Cgroup Version:", s(info, "CgroupVersion"));
    if info.get("Plugins").is_some_and(Json::is_object) {
        out.push_str(" Plugins:\n");
        out.push_str(&format!(
            "  Volume: {}\n",
            strings(info, "/Plugins/Volume").join(" ")
        ));
        out.push_str(&format!(
            "  Network: {}\n",
            strings(info, "/Plugins/Network").join(" ")
        ));
        let authz = strings(info, "/Plugins/Authorization");
        if !authz.is_empty() {
            out.push_str(&format!("  Authorization: {}\n", authz.join(" ")));
        }
        out.push_str(&format!(
            "  Log: {}\n",
            strings(info, "/Plugins/Log").join(" ")
        ));
    }
    let swarm = info
        .pointer("/Swarm/LocalNodeState")
        .and_then(Json::as_str)
        .unwrap_or("");
    nonempty(&mut out, " Swarm:", swarm);
    if let Some(runtimes) = info.get("Runtimes").and_then(Json::as_object) {
        if !runtimes.is_empty() {
            let names: Vec<&str> = runtimes.keys().map(String::as_str).collect();
            out.push_str(&format!(" Runtimes: {}\n", names.join(" ")));
            out.push_str(&format!(
                " Default Runtime: {}\n",
                s(info, "DefaultRuntime")
            ));
        }
    }
    if s(info, "OSType") == "linux" {
        nonempty(&mut out, " Init Binary:", s(info, "InitBinary"));
        for (label, key) in [
            (" containerd version:", "/ContainerdCommit/ID"),
            (" runc version:", "/RuncCommit/ID"),
            (" init version:", "/InitCommit/ID"),
        ] {
            nonempty(
                &mut out,
                label,
                info.pointer(key).and_then(Json::as_str).unwrap_or(""),
            );
        }
        let opts = strings(info, "/SecurityOptions");
        if !opts.is_empty() {
            out.push_str(" Security Options:\n");
            for opt in opts {
                let mut name = opt.as_str();
                let mut profile = None;
                if opt.contains('=') {
                    for kv in opt.split(',') {
                        match kv.split_once('=') {
                            Some(("name", v)) => name = v,
                            Some(("profile", v)) => profile = Some(v),
                            _ => {}
                        }
                    }
                }
                out.push_str(&format!("  {name}\n"));
                if let Some(p) = profile {
                    out.push_str(&format!("   Profile: {p}\n"));
                }
            }
        }
    }
    nonempty(&mut out, " Kernel Version:", s(info, "KernelVersion"));
    nonempty(&mut out, " Operating System:", s(info, "OperatingSystem"));
    nonempty(&mut out, " OSType:", s(info, "OSType"));
    nonempty(&mut out, " Architecture:", s(info, "Architecture"));
    out.push_str(&format!(" CPUs: {}\n", num("NCPU")));
    let mem = info.get("MemTotal").and_then(Json::as_f64).unwrap_or(0.0);
    out.push_str(&format!(" Total Memory: {}\n", bytes_size(mem)));
    nonempty(&mut out, " Name:", s(info, "Name"));
    nonempty(&mut out, " ID:", s(info, "ID"));
    out.push_str(&format!(" Docker Root Dir: {}\n", s(info, "DockerRootDir")));
    let debug = info.get("Debug").and_then(Json::as_bool).unwrap_or(false);
    out.push_str(&format!(" Debug Mode: {debug}\n"));
    if debug {
        out.push_str(&format!("  File Descriptors: {}\n", num("NFd")));
        out.push_str(&format!("  Goroutines: {}\n", num("NGoroutines")));
        out.push_str(&format!("  System Time: {}\n", scalar(info, "SystemTime")));
        out.push_str(&format!("  EventsListeners: {}\n", num("NEventsListener")));
    }
    nonempty(&mut out, " HTTP Proxy:", s(info, "HttpProxy"));
    nonempty(&mut out, " HTTPS Proxy:", s(info, "HttpsProxy"));
    nonempty(&mut out, " No Proxy:", s(info, "NoProxy"));
    let labels = strings(info, "/Labels");
    if !labels.is_empty() {
        out.push_str(" Labels:\n");
        for l in labels {
            out.push_str(&format!("  {l}\n"));
        }
    }
    out.push_str(&format!(
        " Experimental: {}\n",
        info.get("ExperimentalBuild")
            .and_then(Json::as_bool)
            .unwrap_or(false)
    ));
    if let Some(reg) = info.get("RegistryConfig").filter(|r| r.is_object()) {
        let cidrs = strings(reg, "/InsecureRegistryCIDRs");
        let insecure: Vec<&String> = reg
            .get("IndexConfigs")
            .and_then(Json::as_object)
            .map(|m| {
                m.iter()
                    .filter(|(_, c)| !c.get("Secure").and_then(Json::as_bool).unwrap_or(true))
                    .map(|(name, _)| name)
                    .collect()
            })
            .unwrap_or_default();
        if !cidrs.is_empty() || !insecure.is_empty() {
            out.push_str(" Insecure Registries:\n");
            for name in insecure {
                out.push_str(&format!("  {name}\n"));
            }
            for cidr in cidrs {
                out.push_str(&format!("  {cidr}\n"));
            }
        }
        let mirrors = strings(reg, "/Mirrors");
        if !mirrors.is_empty() {
            out.push_str(" Registry Mirrors:\n");
            for m in mirrors {
                out.push_str(&format!("  {m}\n"));
            }
        }
    }
    out.push_str(&format!(
        " Live Restore Enabled: {}\n",
        info.get("LiveRestoreEnabled")
            .and_then(Json::as_bool)
            .unwrap_or(false)
    ));
    nonempty(&mut out, " Product License:", s(info, "ProductLicense"));
    if let Some(pools) = info.get("DefaultAddressPools").and_then(Json::as_array) {
        if !pools.is_empty() {
            out.push_str(" Default Address Pools:\n");
            for p in pools {
                out.push_str(&format!(
                    "   Base: {}, Size: {}\n",
                    s(p, "Base"),
                    p.get("Size").and_then(Json::as_i64).unwrap_or(0)
                ));
            }
        }
    }
    out.push('\n');
    (out, strings(info, "/Warnings"))
}

pub async fn run(ctx: &mut Ctx, args: InfoArgs) -> anyhow::Result<()> {
    let debug = ctx.global.log_level == "debug";
    if let Some(format) = args.format.as_deref().filter(|f| !f.is_empty()) {
        let src = if format == "json" {
            "{{json .}}"
        } else {
            format
        };
        let tmpl = Template::parse(src)
            .map_err(|e| StatusError::new(64, format!("template parsing error: {e}")))?;
        let info = ctx.client.json(Request::get("/info")).await;
        let mut data = match &info {
            Ok(Json::Object(m)) => m.clone(),
            _ => serde_json::Map::new(),
        };
        data.insert(
            "ClientInfo".into(),
            serde_json::json!({"Debug": debug, "Version": CLIENT_VERSION}),
        );
        if let Err(e) = &info {
            writeln!(ctx.streams.err, "{e}")?;
            data.insert("ServerErrors".into(), serde_json::json!([e.to_string()]));
        }
        let out = tmpl
            .execute(&Value::from(Json::Object(data)))
            .map_err(|e| anyhow::anyhow!("template parsing error: {e}"))?;
        writeln!(ctx.streams.out, "{out}")?;
        return Ok(());
    }
    write!(ctx.streams.out, "{}\nServer:\n", render_client_info(debug))?;
    match ctx.client.json(Request::get("/info")).await {
        Ok(info) => {
            let (text, warnings) = render_server_info(&info);
            ctx.streams.out.write_all(text.as_bytes())?;
            ctx.streams.out.flush()?;
            for w in warnings {
                writeln!(ctx.streams.err, "{w}")?;
            }
            Ok(())
        }
        Err(e) => {
            ctx.streams.out.flush()?;
            writeln!(ctx.streams.err, "ERROR: {e}")?;
            Err(StatusError::new(1, "errors pretty printing info").into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn server_info_like_docker() {
        let info = json!({
            "ID": "7TRN:IPZB:QYBB:VPBQ:UWYJ:KXBM:NZHK:2GZ4:YFPA:UJMP:LKWX:E3S4",
            "Containers": 3, "ContainersRunning": 1, "ContainersPaused": 0, "ContainersStopped": 2,
            "Images": 5, "Driver": "overlay", "DriverStatus": [["Backing Filesystem", "extfs"]],
            "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"], "Log": ["json-file"]},
            "LoggingDriver": "json-file", "CgroupDriver": "systemd", "CgroupVersion": "2",
            "Swarm": {"LocalNodeState": "inactive"},
            "Runtimes": {"berth": {"path": "berth"}}, "DefaultRuntime": "berth",
            "SecurityOptions": ["name=seccomp,profile=builtin", "name=cgroupns"],
            "KernelVersion": "6.1.0-18-amd64", "OperatingSystem": "Debian GNU/Linux 12 (bookworm)",
            "OSType": "linux", "Architecture": "x86_64", "NCPU": 2, "MemTotal": 25_769_803_776_i64,
            "Name": "host1", "DockerRootDir": "/var/lib/berth", "Debug": false,
            "ServerVersion": "0.1.0", "ExperimentalBuild": false, "LiveRestoreEnabled": true,
            "RegistryConfig": {"InsecureRegistryCIDRs": ["127.0.0.0/8"], "IndexConfigs": {"docker.io": {"Secure": true}}, "Mirrors": []},
            "Warnings": ["WARNING: No swap limit support"]
        });
        let (text, warnings) = render_server_info(&info);
        let want = "\
\x20Containers: 3
  Running: 1
  Paused: 0
  Stopped: 2
 Images: 5
 Server Version: 0.1.0
 Storage Driver: overlay
  Backing Filesystem: extfs
 Logging Driver: json-file
 Cgroup Driver: systemd
 Cgroup Version: 2
 Plugins:
  Volume: local
  Network: bridge host null
  Log: json-file
 Swarm: inactive
 Runtimes: berth
 Default Runtime: berth
 Security Options:
  seccomp
   Profile: builtin
  cgroupns
 Kernel Version: 6.1.0-18-amd64
 Operating System: Debian GNU/Linux 12 (bookworm)
 OSType: linux
 Architecture: x86_64
 CPUs: 2
 Total Memory: 24GiB
 Name: host1
 ID: 7TRN:IPZB:QYBB:VPBQ:UWYJ:KXBM:NZHK:2GZ4:YFPA:UJMP:LKWX:E3S4
 Docker Root Dir: /var/lib/berth
 Debug Mode: false
 Experimental: false
 Insecure Registries:
  127.0.0.0/8
 Live Restore Enabled: true

";
        assert_eq!(text, want);
        assert_eq!(warnings, vec!["WARNING: No swap limit support".to_string()]);
    }

    #[test]
    fn client_section() {
        assert!(render_client_info(false).ends_with(" Debug Mode: false\n"));
    }
}
