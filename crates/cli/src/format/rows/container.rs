//! Container rows (`system df -v` now; `ps` builds on the same fields).

use serde_json::Value as Json;

use super::{int_field, str_field, str_list};
use crate::format::ellipsis;
use crate::format::template::go_quote;
use crate::format::template::Value;
use crate::format::time::{go_time_string, local_zone};
use crate::format::units::{human_size_with_precision, since};
use crate::reference::{parse_normalized_named, truncate_id};

pub const TYPE_NAME: &str = "*formatter.ContainerContext";

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
    let Some(ports) = c.get("Ports").and_then(Json::as_array) else {
        return String::new();
    };
    let mut out = Vec::new();
    for p in ports {
        let private = int_field(p, "PrivatePort", 0);
        let public = int_field(p, "PublicPort", 0);
        let typ = str_field(p, "Type");
        let ip = str_field(p, "IP");
        if public > 0 {
            out.push(format!("{ip}:{public}->{private}/{typ}"));
        } else {
            out.push(format!("{private}/{typ}"));
        }
    }
    out.join(", ")
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
