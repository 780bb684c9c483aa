//! Volume rows (`volume ls`, `system df -v`).

use serde_json::Value as Json;

use super::str_field;
use crate::format::template::Value;
use crate::format::units::human_size;

pub const TYPE_NAME: &str = "*formatter.volumeContext";

/// `volume ls`'s default table.
pub const DEFAULT_TABLE: &str = "table {{.Driver}}\t{{.Name}}";

pub const DF_TABLE: &str = "table {{.Name}}\t{{.Links}}\t{{.Size}}";

pub fn header() -> Value {
    Value::string_map([
        ("Name", "VOLUME NAME"),
        ("Driver", "DRIVER"),
        ("Scope", "SCOPE"),
        ("Mountpoint", "MOUNTPOINT"),
        ("Labels", "LABELS"),
        ("Links", "LINKS"),
        ("Size", "SIZE"),
    ])
}

pub fn row(v: &Json) -> Value {
    let usage = v.get("UsageData").filter(|u| !u.is_null());
    let mut labels: Vec<String> = v
        .get("Labels")
        .and_then(Json::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, val)| format!("{k}={}", val.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    labels.sort();
    Value::string_record(
        TYPE_NAME,
        [
            ("Name", str_field(v, "Name").to_string()),
            ("Driver", str_field(v, "Driver").to_string()),
            ("Scope", str_field(v, "Scope").to_string()),
            ("Mountpoint", str_field(v, "Mountpoint").to_string()),
            ("Labels", labels.join(",")),
            (
                "Links",
                usage.map_or("N/A".to_string(), |u| {
                    super::int_field(u, "RefCount", 0).to_string()
                }),
            ),
            (
                "Size",
                usage.map_or("N/A".to_string(), |u| {
                    human_size(super::int_field(u, "Size", 0) as f64)
                }),
            ),
        ],
    )
}
