//! Docker's formatter "contexts": API objects turned into rows whose fields carry the names
//! `--format` templates use (`.ID`, `.Repository`, `.CreatedSince`, …), with the column header
//! for each field. One module per object kind.

pub mod build_cache;
pub mod container;
pub mod history;
pub mod image;
pub mod network;
pub mod stats;
pub mod volume;

use serde_json::Value as Json;

/// A string field of an API object ("" when absent or not a string).
pub(crate) fn str_field<'a>(v: &'a Json, key: &str) -> &'a str {
    v.get(key).and_then(Json::as_str).unwrap_or("")
}

/// An integer field of an API object (`default` when absent).
pub(crate) fn int_field(v: &Json, key: &str, default: i64) -> i64 {
    v.get(key)
        .and_then(|x| x.as_i64().or_else(|| x.as_f64().map(|f| f as i64)))
        .unwrap_or(default)
}

/// A list-of-strings field of an API object (empty when absent or null).
pub(crate) fn str_list(v: &Json, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
