//! Build cache rows (`system df -v` now; `builder du` builds on the same fields).

use serde_json::Value as Json;

use super::{int_field, str_field, str_list};
use crate::format::template::Value;
use crate::format::time::{go_time_string, local_zone, parse_rfc3339};
use crate::format::units::{human_size_with_precision, since};
use crate::reference::truncate_id;

pub const TYPE_NAME: &str = "*formatter.buildCacheContext";

pub const DF_TABLE: &str = "table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}";

pub fn header() -> Value {
    Value::string_map([
        ("ID", "CACHE ID"),
        ("Parent", "PARENT"),
        ("CacheType", "CACHE TYPE"),
        ("Size", "SIZE"),
        ("CreatedSince", "CREATED"),
        ("LastUsedSince", "LAST USED"),
        ("UsageCount", "USAGE"),
        ("InUse", "IN USE"),
        ("Shared", "SHARED"),
        ("Description", "DESCRIPTION"),
    ])
}

fn bool_field(v: &Json, key: &str) -> bool {
    v.get(key).and_then(Json::as_bool).unwrap_or(false)
}

fn time_field(v: &Json, key: &str) -> Option<i64> {
    v.get(key).and_then(Json::as_str).and_then(parse_rfc3339)
}

pub fn row(b: &Json, trunc: bool, now: i64) -> Value {
    let id = str_field(b, "ID");
    let in_use = bool_field(b, "InUse");
    let mut shown_id = if trunc {
        truncate_id(id)
    } else {
        id.to_string()
    };
    if in_use {
        shown_id.push('*');
    }
    let parents = str_list(b, "Parents");
    let parent = if parents.is_empty() {
        str_field(b, "Parent").to_string()
    } else {
        parents.join(", ")
    };
    let created = time_field(b, "CreatedAt").unwrap_or(0);
    let last_used = time_field(b, "LastUsedAt");
    Value::string_record(
        TYPE_NAME,
        [
            ("ID", shown_id),
            ("Parent", if trunc { truncate_id(&parent) } else { parent }),
            ("CacheType", str_field(b, "Type").to_string()),
            ("Description", str_field(b, "Description").to_string()),
            (
                "Size",
                human_size_with_precision(int_field(b, "Size", 0) as f64, 3),
            ),
            ("CreatedAt", go_time_string(created, &local_zone(created))),
            ("CreatedSince", since(created, now)),
            (
                "LastUsedAt",
                last_used.map_or(String::new(), |t| go_time_string(t, &local_zone(t))),
            ),
            (
                "LastUsedSince",
                last_used.map_or(String::new(), |t| since(t, now)),
            ),
            ("UsageCount", int_field(b, "UsageCount", 0).to_string()),
            ("InUse", in_use.to_string()),
            ("Shared", bool_field(b, "Shared").to_string()),
        ],
    )
}

/// Docker's build cache order: never-used first, then by last use, ties by id.
pub fn sort(items: &mut [Json]) {
    items.sort_by(|a, b| {
        let (la, lb) = (time_field(a, "LastUsedAt"), time_field(b, "LastUsedAt"));
        match (la, lb) {
            (None, None) => str_field(a, "ID").cmp(str_field(b, "ID")),
            (None, Some(_)) => std::cmp::Ordering::Less,
            (Some(_), None) => std::cmp::Ordering::Greater,
            (Some(x), Some(y)) if x == y => str_field(a, "ID").cmp(str_field(b, "ID")),
            (Some(x), Some(y)) => x.cmp(&y),
        }
    });
}
