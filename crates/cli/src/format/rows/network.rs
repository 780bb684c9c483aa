//! Network rows (`network ls`).

use serde_json::Value as Json;

use super::str_field;
use crate::format::template::Value;

pub const TYPE_NAME: &str = "*formatter.networkContext";

/// `network ls`'s default table.
pub const DEFAULT_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";

pub fn header() -> Value {
    Value::string_map([
        ("ID", "NETWORK ID"),
        ("Name", "NAME"),
        ("Driver", "DRIVER"),
        ("Scope", "SCOPE"),
        ("IPv6", "IPV6"),
        ("Internal", "INTERNAL"),
        ("Labels", "LABELS"),
        ("CreatedAt", "CREATED AT"),
    ])
}

pub fn row(v: &Json, trunc: bool) -> Value {
    let id = str_field(v, "Id");
    let id = if trunc { &id[..id.len().min(12)] } else { id };
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
    let flag = |k: &str| {
        v.get(k)
            .and_then(Json::as_bool)
            .unwrap_or(false)
            .to_string()
    };
    Value::string_record(
        TYPE_NAME,
        [
            ("ID", id.to_string()),
            ("Name", str_field(v, "Name").to_string()),
            ("Driver", str_field(v, "Driver").to_string()),
            ("Scope", str_field(v, "Scope").to_string()),
            ("IPv6", flag("EnableIPv6")),
            ("Internal", flag("Internal")),
            ("Labels", labels.join(",")),
            ("CreatedAt", str_field(v, "Created").to_string()),
        ],
    )
}
