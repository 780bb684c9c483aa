//! Image history rows (`docker history`).

use serde_json::Value as Json;

use super::{int_field, str_field};
use crate::format::ellipsis;
use crate::format::template::Value;
use crate::format::time::{local_zone, rfc3339};
use crate::format::units::{human_size_with_precision, since};
use crate::reference::truncate_id;

pub const TYPE_NAME: &str = "*image.historyContext";

pub const DEFAULT_TABLE: &str =
    "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
pub const NON_HUMAN_TABLE: &str =
    "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";

/// Before this (2000-01-01) a creation time is shown as N/A rather than "25 years ago".
const EPOCH: i64 = 946_684_800;

pub fn header() -> Value {
    Value::string_map([
        ("ID", "IMAGE"),
        ("CreatedSince", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("CreatedBy", "CREATED BY"),
        ("Size", "SIZE"),
        ("Comment", "COMMENT"),
    ])
}

#[derive(Debug, Clone, Copy)]
pub struct HistoryRowOptions {
    pub trunc: bool,
    pub human: bool,
    pub now: i64,
}

pub fn row(item: &Json, opts: HistoryRowOptions) -> Value {
    let id = str_field(item, "Id");
    let created = int_field(item, "Created", 0);
    let size = int_field(item, "Size", 0);
    let created_at = rfc3339(created, &local_zone(created));
    let created_since = if !opts.human {
        created_at.clone()
    } else if created <= EPOCH {
        "N/A".to_string()
    } else {
        since(created, opts.now)
    };
    let created_by = str_field(item, "CreatedBy").replace('\t', " ");
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
            ("CreatedSince", created_since),
            ("CreatedAt", created_at),
            (
                "CreatedBy",
                if opts.trunc {
                    ellipsis(&created_by, 45)
                } else {
                    created_by
                },
            ),
            (
                "Size",
                if opts.human {
                    human_size_with_precision(size as f64, 3)
                } else {
                    size.to_string()
                },
            ),
            ("Comment", str_field(item, "Comment").to_string()),
        ],
    )
}

pub fn rows(items: &[Json], opts: HistoryRowOptions) -> Vec<Value> {
    items.iter().map(|i| row(i, opts)).collect()
}
