//! Image rows (`docker images`, `system df -v`): one row per repository:tag (and per digest with
//! `--digests`), `<none>` for dangling images.

use serde_json::Value as Json;

use super::{int_field, str_field, str_list};
use crate::format::template::Value;
use crate::format::time::{go_time_string, local_zone};
use crate::format::units::{human_size, human_size_with_precision, since};
use crate::reference::{parse_normalized_named, truncate_id};

pub const TYPE_NAME: &str = "*formatter.imageContext";

pub const DEFAULT_TABLE: &str = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}";
pub const DEFAULT_TABLE_WITH_DIGEST: &str = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}";
pub const RAW: &str = "repository: {{ .Repository }}\ntag: {{.Tag}}\nimage_id: {{.ID}}\ncreated_at: {{.CreatedAt}}\nvirtual_size: {{.Size}}\n";
pub const RAW_WITH_DIGEST: &str = "repository: {{ .Repository }}\ntag: {{.Tag}}\ndigest: {{.Digest}}\nimage_id: {{.ID}}\ncreated_at: {{.CreatedAt}}\nvirtual_size: {{.Size}}\n";

/// Column headers by field.
pub fn header() -> Value {
    Value::string_map([
        ("ID", "IMAGE ID"),
        ("Repository", "REPOSITORY"),
        ("Tag", "TAG"),
        ("Digest", "DIGEST"),
        ("CreatedSince", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("Size", "SIZE"),
        ("Containers", "CONTAINERS"),
        ("VirtualSize", "SIZE"),
        ("SharedSize", "SHARED SIZE"),
        ("UniqueSize", "UNIQUE SIZE"),
    ])
}

/// Docker's dangling test: no tags and no digests, or the legacy `<none>:<none>` placeholders.
pub fn is_dangling(img: &Json) -> bool {
    let tags = str_list(img, "RepoTags");
    let digests = str_list(img, "RepoDigests");
    (tags.is_empty() && digests.is_empty())
        || (tags == ["<none>:<none>"] && digests == ["<none>@<none>"])
}

/// One row for `img` shown as `repo:tag` (`digest` may be "<none>" or "").
pub fn row(img: &Json, repo: &str, tag: &str, digest: &str, trunc: bool, now: i64) -> Value {
    let id = str_field(img, "Id");
    let created = int_field(img, "Created", 0);
    let size = int_field(img, "Size", 0);
    let shared = int_field(img, "SharedSize", -1);
    let containers = int_field(img, "Containers", -1);
    Value::string_record(
        TYPE_NAME,
        [
            (
                "ID",
                if trunc {
                    truncate_id(id)
                } else {
                    id.to_string()
                },
            ),
            ("Repository", repo.to_string()),
            ("Tag", tag.to_string()),
            ("Digest", digest.to_string()),
            ("CreatedSince", since(created, now)),
            ("CreatedAt", go_time_string(created, &local_zone(created))),
            ("Size", human_size_with_precision(size as f64, 3)),
            (
                "Containers",
                if containers == -1 {
                    "N/A".to_string()
                } else {
                    containers.to_string()
                },
            ),
            ("VirtualSize", human_size(size as f64)),
            (
                "SharedSize",
                if shared == -1 {
                    "N/A".to_string()
                } else {
                    human_size(shared as f64)
                },
            ),
            (
                "UniqueSize",
                if size == -1 || shared == -1 {
                    "N/A".to_string()
                } else {
                    human_size((size - shared) as f64)
                },
            ),
        ],
    )
}

/// How image rows are built.
#[derive(Debug, Clone, Copy)]
pub struct ImageRowOptions {
    /// Short ids (no `--no-trunc`).
    pub trunc: bool,
    /// `--digests`: a row per digest, digest-only references shown.
    pub show_digests: bool,
    /// The format shows `.Digest` (then tags are paired with their digests too).
    pub format_uses_digest: bool,
    /// "Now" for CREATED, in unix seconds.
    pub now: i64,
}

/// Rows for an image list, in the API's order; within an image, repositories in the order their
/// first tag appears (Docker iterates a Go map here, so its order is random).
pub fn rows(images: &[Json], opts: ImageRowOptions) -> Vec<Value> {
    let need_digest = opts.show_digests || opts.format_uses_digest;
    let mut out = Vec::new();
    for img in images {
        if is_dangling(img) {
            out.push(row(img, "<none>", "<none>", "<none>", opts.trunc, opts.now));
            continue;
        }
        let mut repo_tags: Vec<(String, Vec<String>)> = Vec::new();
        for r in str_list(img, "RepoTags") {
            let Ok(named) = parse_normalized_named(&r) else {
                continue;
            };
            let Some(tag) = named.tag.clone() else {
                continue;
            };
            push_grouped(&mut repo_tags, named.familiar_name(), tag);
        }
        let mut repo_digests: Vec<(String, Vec<String>)> = Vec::new();
        for r in str_list(img, "RepoDigests") {
            let Ok(named) = parse_normalized_named(&r) else {
                continue;
            };
            let Some(digest) = named.digest.clone() else {
                continue;
            };
            push_grouped(&mut repo_digests, named.familiar_name(), digest);
        }
        for (repo, tags) in &repo_tags {
            let digests = match repo_digests.iter().position(|(r, _)| r == repo) {
                Some(i) => repo_digests.remove(i).1,
                None => Vec::new(),
            };
            for tag in tags {
                if digests.is_empty() || !need_digest {
                    out.push(row(img, repo, tag, "<none>", opts.trunc, opts.now));
                } else {
                    for d in &digests {
                        out.push(row(img, repo, tag, d, opts.trunc, opts.now));
                    }
                }
            }
        }
        for (repo, digests) in &repo_digests {
            if opts.show_digests {
                for d in digests {
                    out.push(row(img, repo, "<none>", d, opts.trunc, opts.now));
                }
            } else {
                out.push(row(img, repo, "<none>", "", opts.trunc, opts.now));
            }
        }
    }
    out
}

fn push_grouped(groups: &mut Vec<(String, Vec<String>)>, key: String, value: String) {
    match groups.iter_mut().find(|(k, _)| *k == key) {
        Some((_, values)) => values.push(value),
        None => groups.push((key, vec![value])),
    }
}

/// The `system df -v` row: only the first tag, `<none>` when dangling.
pub fn df_row(img: &Json, now: i64) -> Option<Value> {
    let tags = str_list(img, "RepoTags");
    let (mut repo, mut tag) = ("<none>".to_string(), "<none>".to_string());
    if !tags.is_empty() && !is_dangling(img) {
        let named = parse_normalized_named(&tags[0]).ok()?;
        if let Some(t) = &named.tag {
            repo = named.familiar_name();
            tag = t.clone();
        }
    }
    Some(row(img, &repo, &tag, "", true, now))
}
