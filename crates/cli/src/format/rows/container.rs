//! Container rows (`ps`, `system df -v`).

use serde_json::Value as Json;

use super::{int_field, str_field, str_list};
use crate::format::ellipsis;
use crate::format::template::go_quote;
use crate::format::template::Value;
use crate::format::time::{go_time_string, local_zone};
use crate::format::units::{human_size_with_precision, since};
use crate::reference::{parse_normalized_named, truncate_id};

pub const TYPE_NAME: &str = "*formatter.ContainerContext";

/// `docker ps`'s default table.
pub const DEFAULT_TABLE: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";
/// `--format raw`.
pub const RAW: &str = "container_id: {{.ID}}\nimage: {{.Image}}\ncommand: {{.Command}}\ncreated_at: {{.CreatedAt}}\nstate: {{- pad .State 1 0}}\nstatus: {{- pad .Status 1 0}}\nnames: {{.Names}}\nlabels: {{- pad .Labels 1 0}}\nports: {{- pad .Ports 1 0}}\n";

pub const DF_TABLE: &str = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}";

pub fn header() -> Value {
    Value::string_map([
        ("ID", "CONTAINER ID"),
        ("Names", "NAMES"),
        ("Image", "IMAGE"),
        ("Command", "COMMAND"),
        ("CreatedAt", "CREATED AT"),
        ("RunningFor", "CREATED"),
        ("Ports", "PORTS"),
        ("State", "STATE"),
        ("Status", "STATUS"),
        ("Size", "SIZE"),
        ("Labels", "LABELS"),
        ("Mounts", "MOUNTS"),
        ("LocalVolumes", "LOCAL VOLUMES"),
        ("Networks", "NETWORKS"),
    ])
}

#[derive(Debug, Clone, Copy)]
pub struct ContainerRowOptions {
    pub trunc: bool,
    /// Show the virtual size too (`ps -s`); `system df` does not.
    pub virtual_size: bool,
    pub now: i64,
}

/// Docker's IMAGE column: the image as the user named it, without digest when truncating.
fn image_column(c: &Json, trunc: bool) -> String {
    let image = str_field(c, "Image");
    if image.is_empty() {
        return "<no image>".to_string();
    }
    if trunc {
        let short = truncate_id(str_field(c, "ImageID"));
        if short == truncate_id(image) {
            return short;
        }
        if let Ok(named) = parse_normalized_named(image) {
            let mut n = named;
            n.digest = None;
            return n.familiar_string();
        }
    }
    image.to_string()
}

fn names_column(c: &Json, trunc: bool) -> String {
    let names: Vec<String> = str_list(c, "Names")
        .into_iter()
        .map(|n| n.strip_prefix('/').map(str::to_string).unwrap_or(n))
        .collect();
    if trunc {
        if let Some(n) = names.iter().find(|n| !n.contains('/')) {
            return n.clone();
        }
    }
    names.join(",")
}

fn ports_column(c: &Json) -> String {
    let ports: Vec<Port> = c
        .get("Ports")
        .and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .map(|p| Port {
                    ip: str_field(p, "IP").to_string(),
                    private: int_field(p, "PrivatePort", 0) as u16,
                    public: int_field(p, "PublicPort", 0) as u16,
                    typ: str_field(p, "Type").to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    displayable_ports(ports)
}

/// One entry of a container's `Ports` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub ip: String,
    pub private: u16,
    pub public: u16,
    pub typ: String,
}

/// Docker's `DisplayablePorts`: sorted, consecutive unpublished (or same-number) ports grouped
/// into ranges (`8000-8002/tcp`), then `IP:PUBLIC->PRIVATE/PROTO` mappings.
pub fn displayable_ports(mut ports: Vec<Port>) -> String {
    ports.sort_by(|a, b| {
        (a.private, &a.ip, a.public, &a.typ).cmp(&(b.private, &b.ip, b.public, &b.typ))
    });
    let mut groups: Vec<(String, u16, u16)> = Vec::new();
    let mut result = Vec::new();
    let mut host_mappings = Vec::new();
    for p in &ports {
        let current = p.private;
        let mut key = p.typ.clone();
        if !p.ip.is_empty() {
            if p.public != current {
                host_mappings.push(format!("{}:{}->{}/{}", p.ip, p.public, p.private, p.typ));
                continue;
            }
            key = format!("{}/{}", p.ip, p.typ);
        }
        match groups.iter_mut().find(|(k, _, _)| *k == key) {
            None => groups.push((key, current, current)),
            Some(g) => {
                if u32::from(current) == u32::from(g.2) + 1 {
                    g.2 = current;
                } else {
                    result.push(form_group(&g.0, g.1, g.2));
                    g.1 = current;
                    g.2 = current;
                }
            }
        }
    }
    for (key, first, last) in &groups {
        result.push(form_group(key, *first, *last));
    }
    result.extend(host_mappings);
    result.join(", ")
}

fn form_group(key: &str, start: u16, last: u16) -> String {
    let parts: Vec<&str> = key.split('/').collect();
    let (ip, typ) = if parts.len() > 1 {
        (parts[0], parts[1])
    } else {
        ("", parts[0])
    };
    let mut group = start.to_string();
    if start != last {
        group = format!("{group}-{last}");
    }
    if !ip.is_empty() {
        group = format!("{ip}:{group}->{group}");
    }
    format!("{group}/{typ}")
}

pub fn row(c: &Json, opts: ContainerRowOptions) -> Value {
    let id = str_field(c, "Id");
    let created = int_field(c, "Created", 0);
    let size_rw = int_field(c, "SizeRw", 0);
    let size_root = int_field(c, "SizeRootFs", 0);
    let mut size = human_size_with_precision(size_rw as f64, 3);
    if opts.virtual_size && size_root > 0 {
        size = format!(
            "{size} (virtual {})",
            human_size_with_precision(size_root as f64, 3)
        );
    }
    let command = str_field(c, "Command");
    let command = if opts.trunc {
        ellipsis(command, 20)
    } else {
        command.to_string()
    };
    let mounts = c.get("Mounts").and_then(Json::as_array);
    let local_volumes = mounts.map_or(0, |m| {
        m.iter()
            .filter(|m| str_field(m, "Driver") == "local")
            .count()
    });
    let mount_names: Vec<String> = mounts
        .map(|m| {
            m.iter()
                .map(|m| {
                    let name = match str_field(m, "Name") {
                        "" => str_field(m, "Source"),
                        n => n,
                    };
                    if opts.trunc {
                        ellipsis(name, 15)
                    } else {
                        name.to_string()
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let mut labels: Vec<String> = c
        .get("Labels")
        .and_then(Json::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    labels.sort();
    let mut networks: Vec<String> = c
        .pointer("/NetworkSettings/Networks")
        .and_then(Json::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    networks.sort();
    Value::string_record(
        TYPE_NAME,
        [
            (
                "ID",
                if opts.trunc {
                    truncate_id(id)
                } else {
                    id.to_string()
                },
            ),
            ("Names", names_column(c, opts.trunc)),
            ("Image", image_column(c, opts.trunc)),
            ("Command", go_quote(&command)),
            ("CreatedAt", go_time_string(created, &local_zone(created))),
            ("RunningFor", since(created, opts.now)),
            ("Ports", ports_column(c)),
            ("State", str_field(c, "State").to_string()),
            ("Status", str_field(c, "Status").to_string()),
            ("Size", size),
            ("Labels", labels.join(",")),
            ("Mounts", mount_names.join(",")),
            ("LocalVolumes", local_volumes.to_string()),
            ("Networks", networks.join(",")),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(ip: &str, private: u16, public: u16, typ: &str) -> Port {
        Port {
            ip: ip.into(),
            private,
            public,
            typ: typ.into(),
        }
    }

    #[test]
    fn ports_like_docker() {
        assert_eq!(
            displayable_ports(vec![
                p("0.0.0.0", 80, 8080, "tcp"),
                p("::", 80, 8080, "tcp")
            ]),
            "0.0.0.0:8080->80/tcp, :::8080->80/tcp"
        );
        assert_eq!(
            displayable_ports(vec![
                p("", 9001, 0, "tcp"),
                p("", 9000, 0, "tcp"),
                p("", 53, 0, "udp")
            ]),
            "53/udp, 9000-9001/tcp"
        );
        assert_eq!(
            displayable_ports(vec![
                p("0.0.0.0", 9000, 9000, "tcp"),
                p("0.0.0.0", 9001, 9001, "tcp"),
                p("", 7000, 0, "tcp")
            ]),
            "7000/tcp, 0.0.0.0:9000-9001->9000-9001/tcp"
        );
        assert_eq!(displayable_ports(vec![]), "");
    }
}
