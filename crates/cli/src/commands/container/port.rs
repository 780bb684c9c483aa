//! `berth port CONTAINER [PRIVATE_PORT[/PROTO]]`: the port mappings from the container's
//! `NetworkSettings.Ports`.

use std::io::Write;

use clap::Args;
use serde_json::Value as Json;

use super::inspect_container;
use crate::commands::{Ctx, StatusError};

#[derive(Debug, Clone, Args)]
pub struct PortArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "PRIVATE_PORT[/PROTO]")]
    pub port: Option<String>,
}

fn frontends(v: &Json) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|f| {
                    format!(
                        "{}:{}",
                        f.get("HostIp").and_then(Json::as_str).unwrap_or(""),
                        f.get("HostPort").and_then(Json::as_str).unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The lines `port` prints: all mappings (`80/tcp -> 0.0.0.0:8080`), or the host addresses
/// of one port; `Err` when that port is not published.
pub fn render_ports(c: &Json, container: &str, port: Option<&str>) -> Result<String, String> {
    let ports = c
        .pointer("/NetworkSettings/Ports")
        .and_then(Json::as_object);
    let mut out = String::new();
    match port {
        Some(p) => {
            let (num, proto) = match p.split_once('/') {
                Some((n, pr)) if !pr.is_empty() => (n, pr),
                Some((n, _)) => (n, "tcp"),
                None => (p, "tcp"),
            };
            let range = |s: &str| -> Result<(u64, u64), String> {
                let parse = |x: &str| {
                    x.parse::<u16>()
                        .map(u64::from)
                        .map_err(|_| format!("strconv.ParseUint: parsing \"{x}\": invalid syntax"))
                };
                match s.split_once('-') {
                    Some((a, b)) => Ok((parse(a)?, parse(b)?)),
                    None => parse(s).map(|v| (v, v)),
                }
            };
            let (start, end) = range(num)?;
            let key = if start == end {
                format!("{start}/{proto}")
            } else {
                format!("{start}-{end}/{proto}")
            };
            match ports.and_then(|m| m.get(&key)).filter(|f| !f.is_null()) {
                Some(f) => {
                    for line in frontends(f) {
                        out.push_str(&line);
                        out.push('\n');
                    }
                }
                None => {
                    return Err(format!(
                        "Error: No public port '{num}/{proto}' published for {container}"
                    ))
                }
            }
        }
        None => {
            let mut keys: Vec<&String> = ports.map(|m| m.keys().collect()).unwrap_or_default();
            keys.sort_by_key(|k| {
                let n: u32 = k
                    .split(['/', '-'])
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                (n, (*k).clone())
            });
            for k in keys {
                for f in frontends(&ports.map_or(Json::Null, |m| m[k].clone())) {
                    out.push_str(&format!("{k} -> {f}\n"));
                }
            }
        }
    }
    Ok(out)
}

pub async fn run(ctx: &mut Ctx, args: PortArgs) -> anyhow::Result<()> {
    let c = inspect_container(&ctx.client, &args.container).await?;
    match render_ports(&c, &args.container, args.port.as_deref()) {
        Ok(out) => {
            ctx.streams.out.write_all(out.as_bytes())?;
            Ok(())
        }
        Err(e) => Err(StatusError::new(1, e).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings() {
        let c = serde_json::json!({"NetworkSettings": {"Ports": {
            "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}],
            "53/udp": null,
            "443/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8443"}]
        }}});
        assert_eq!(
            render_ports(&c, "web", None).as_deref(),
            Ok("80/tcp -> 0.0.0.0:8080\n80/tcp -> :::8080\n443/tcp -> 127.0.0.1:8443\n")
        );
        assert_eq!(
            render_ports(&c, "web", Some("80")).as_deref(),
            Ok("0.0.0.0:8080\n:::8080\n")
        );
        assert_eq!(
            render_ports(&c, "web", Some("53/udp")),
            Err("Error: No public port '53/udp' published for web".to_string())
        );
    }
}
