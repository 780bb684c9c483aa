//! Image operations behind `/images/*` and `/system/df`: list, inspect, history, tag, remove,
//! prune and disk usage, with Docker's semantics and response shapes.

use std::collections::{BTreeMap, BTreeSet};

use berth_store::{Digest, ImageRecord, Reference};
use serde_json::{json, Value};

use crate::filters::{glob_match, label_matches};
use crate::{config::docker_config_shape, Engine, Error, Filters, Result};

/// Options of `GET /images/json`.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub all: bool,
    pub filters: Filters,
    pub shared_size: bool,
}

impl Engine {
    /// Resolve user input to a stored image, or Docker's `No such image` error.
    pub fn resolve_image(&self, input: &str) -> Result<ImageRecord> {
        let not_found = || Error::NoSuchImage(display_ref(input));
        let id = self.store.resolve(input)?.ok_or_else(not_found)?;
        self.store.image(&id)?.ok_or_else(not_found)
    }

    pub fn list_images(&self, opts: &ListOptions) -> Result<Vec<Value>> {
        let f = &opts.filters;
        f.validate(&["before", "dangling", "label", "reference", "since"])?;
        let dangling = f.bool("dangling")?;
        let before = self.bound_filter(f, "before")?;
        let since = self.bound_filter(f, "since")?;
        let images = self.store.images()?;
        let usage = if opts.shared_size {
            Some(shared_sizes(&images))
        } else {
            None
        };
        let cache = if opts.all {
            Default::default()
        } else {
            self.build_cache_images()?
        };
        let mut out = Vec::new();
        for rec in &images {
            // Images a build keeps as its cache are shown with `-a` only (as Docker's
            // intermediate images).
            if rec.repo_tags.is_empty() && rec.repo_digests.is_empty() && cache.contains(&rec.id) {
                continue;
            }
            let cfg = self.image_config(&rec.id)?;
            let created = cfg.created_unix();
            if before.is_some_and(|b| created >= b) || since.is_some_and(|s| created <= s) {
                continue;
            }
            let is_dangling = rec.repo_tags.is_empty();
            if dangling.is_some_and(|d| d != is_dangling) {
                continue;
            }
            if !f.match_labels("label", &cfg.labels()) {
                continue;
            }
            let mut tags = rec.repo_tags.clone();
            let mut digests = rec.repo_digests.clone();
            if f.contains("reference") {
                let patterns = f.get("reference");
                let matches = |r: &String| {
                    let name = r.split(['@', ':']).next().unwrap_or(r);
                    let name = match r.rsplit_once(':') {
                        Some((n, t)) if !t.contains('/') && !r.contains('@') => n,
                        _ => name,
                    };
                    patterns
                        .iter()
                        .any(|p| glob_match(p, r) || glob_match(p, name))
                };
                tags.retain(matches);
                digests.retain(matches);
                if tags.is_empty() && digests.is_empty() {
                    continue;
                }
            }
            let mut v = self.summary(rec, &cfg, tags, digests);
            if let Some(u) = &usage {
                v["SharedSize"] = json!(u.get(&rec.id).copied().unwrap_or(0));
            }
            out.push(v);
        }
        // Newest first, as Docker lists them.
        out.sort_by(|a, b| {
            b["Created"]
                .as_i64()
                .cmp(&a["Created"].as_i64())
                .then_with(|| a["Id"].as_str().cmp(&b["Id"].as_str()))
        });
        Ok(out)
    }

    fn bound_filter(&self, f: &Filters, key: &str) -> Result<Option<i64>> {
        match f.get(key).first() {
            None => Ok(None),
            Some(name) => {
                let rec = self.resolve_image(name)?;
                Ok(Some(self.image_config(&rec.id)?.created_unix()))
            }
        }
    }

    /// One entry of `GET /images/json` (API 1.41 shape).
    fn summary(
        &self,
        rec: &ImageRecord,
        cfg: &crate::ImageConfig,
        tags: Vec<String>,
        digests: Vec<String>,
    ) -> Value {
        let labels = cfg.labels();
        let (tags, digests) = if rec.repo_tags.is_empty() && rec.repo_digests.is_empty() {
            (
                vec!["<none>:<none>".to_string()],
                vec!["<none>@<none>".to_string()],
            )
        } else {
            (tags, digests)
        };
        json!({
            "Id": rec.id.as_str(),
            "ParentId": "",
            "RepoTags": if tags.is_empty() { Value::Null } else { json!(tags) },
            "RepoDigests": if digests.is_empty() { Value::Null } else { json!(digests) },
            "Created": cfg.created_unix(),
            "Size": rec.size,
            "VirtualSize": rec.size,
            "SharedSize": -1,
            "Labels": if labels.is_empty() { Value::Null } else { json!(labels) },
            "Containers": -1,
        })
    }

    /// `GET /images/{name}/json`.
    pub fn inspect_image(&self, name: &str) -> Result<Value> {
        let rec = self.resolve_image(name)?;
        let cfg = self.image_config(&rec.id)?;
        let layers: Vec<&str> = rec.layers.iter().map(|l| l.diff_id.as_str()).collect();
        let dirs: Vec<String> = rec
            .layers
            .iter()
            .rev()
            .map(|l| self.store.layer_diff_dir(&l.chain_id).display().to_string())
            .collect();
        let graph = if dirs.is_empty() {
            json!({"Name": "overlay2", "Data": null})
        } else {
            json!({"Name": "overlay2", "Data": {"LowerDir": dirs.join(":")}})
        };
        let raw = &cfg.raw;
        let mut v = json!({
            "Id": rec.id.as_str(),
            "RepoTags": rec.repo_tags,
            "RepoDigests": rec.repo_digests,
            "Parent": raw.get("parent").cloned().unwrap_or(json!("")),
            "Comment": raw.get("comment").cloned().unwrap_or(json!("")),
            "Created": cfg.created_rfc3339(),
            "Container": raw.get("container").cloned().unwrap_or(json!("")),
            "ContainerConfig": docker_config_shape(raw.get("container_config")),
            "DockerVersion": cfg.str_field("docker_version"),
            "Author": cfg.str_field("author"),
            "Config": docker_config_shape(cfg.container_config()),
            "Architecture": cfg.str_field("architecture"),
            "Os": cfg.str_field("os"),
            "Size": rec.size,
            "VirtualSize": rec.size,
            "GraphDriver": graph,
            "RootFS": {"Type": "layers", "Layers": layers},
            "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
        });
        if let Some(variant) = raw.get("variant") {
            v["Variant"] = variant.clone();
        }
        Ok(v)
    }

    /// `GET /images/{name}/history`: newest step first; only the top row carries the image ID.
    pub fn image_history(&self, name: &str) -> Result<Vec<Value>> {
        let rec = self.resolve_image(name)?;
        let cfg = self.image_config(&rec.id)?;
        let mut rows = Vec::new();
        let mut layers = rec.layers.iter();
        let parse_time = |s: &Option<String>| {
            s.as_deref()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.timestamp())
                .unwrap_or(0)
        };
        if cfg.history.is_empty() {
            for l in rec.layers.iter() {
                rows.push(
                    json!({"Id": "<missing>", "Created": cfg.created_unix(), "CreatedBy": "",
                    "Tags": null, "Size": l.size, "Comment": ""}),
                );
            }
        } else {
            for h in &cfg.history {
                let size = if h.empty_layer {
                    0
                } else {
                    layers.next().map(|l| l.size).unwrap_or(0)
                };
                rows.push(json!({
                    "Id": "<missing>",
                    "Created": parse_time(&h.created),
                    "CreatedBy": h.created_by.clone().unwrap_or_default(),
                    "Tags": null,
                    "Size": size,
                    "Comment": h.comment.clone().unwrap_or_default(),
                }));
            }
        }
        rows.reverse();
        if let Some(top) = rows.first_mut() {
            top["Id"] = json!(rec.id.as_str());
            if !rec.repo_tags.is_empty() {
                top["Tags"] = json!(rec.repo_tags);
            }
        }
        Ok(rows)
    }

    /// `POST /images/{name}/tag?repo=&tag=`.
    pub fn tag_image(&self, name: &str, repo: &str, tag: &str) -> Result<String> {
        let rec = self.resolve_image(name)?;
        if repo.is_empty() {
            return Err(Error::InvalidParameter(
                "repository name must have at least one component".into(),
            ));
        }
        let full = if tag.is_empty() {
            repo.to_string()
        } else {
            format!("{repo}:{tag}")
        };
        let reference = Reference::parse(&full)?;
        if reference.is_digest() {
            return Err(Error::InvalidParameter(
                "refusing to create a tag with a digest reference".into(),
            ));
        }
        let reference = reference.with_default_tag();
        self.store.tag(&rec.id, &reference)?;
        let shown = reference.to_string();
        self.publish("image", "tag", rec.id.as_str(), &[("name", &shown)]);
        Ok(shown)
    }

    /// `DELETE /images/{name}`: untag when other references remain, else delete the image and
    /// the layers no other image uses. Returns Docker's `[{"Untagged":..},{"Deleted":..}]`.
    pub fn remove_image(&self, name: &str, force: bool) -> Result<Vec<Value>> {
        let rec = self.resolve_image(name)?;
        let mut report = Vec::new();
        let by_reference = Reference::parse(name)
            .ok()
            .map(|r| r.with_default_tag().to_string())
            .filter(|r| rec.repo_tags.contains(r) || rec.repo_digests.contains(r));
        let refs: Vec<String> = rec
            .repo_tags
            .iter()
            .chain(rec.repo_digests.iter())
            .cloned()
            .collect();
        let users = self.containers.using_image(&rec.id);
        if let Some(r) = by_reference {
            if refs.len() <= 1 && !force {
                if let Some(c) = users.first() {
                    return Err(Error::Conflict(format!(
                        "conflict: unable to remove repository reference \"{name}\" (must force) - container {} is using its referenced image {}",
                        c.short_id(),
                        rec.id.short()
                    )));
                }
            }
            self.untag(&rec.id, &r, &mut report)?;
            // Digest references alone do not keep an image (Docker untags them with the last
            // tag: `Untagged: name@sha256:…`).
            let rest: Vec<&String> = refs.iter().filter(|x| **x != r).collect();
            if !users.is_empty() || rest.iter().any(|x| !x.contains('@')) {
                return Ok(report);
            }
            for d in rest {
                self.untag(&rec.id, d, &mut report)?;
            }
        } else {
            if let Some(c) = users.iter().find(|c| c.is_running()) {
                return Err(Error::Conflict(format!(
                    "conflict: unable to delete {} (cannot be forced) - image is being used by running container {}",
                    rec.id.short(),
                    c.short_id()
                )));
            }
            if let (Some(c), false) = (users.first(), force) {
                return Err(Error::Conflict(format!(
                    "conflict: unable to delete {} (must be forced) - image is being used by stopped container {}",
                    rec.id.short(),
                    c.short_id()
                )));
            }
            let repos: BTreeSet<&str> = refs.iter().map(|r| repo_of(r)).collect();
            if repos.len() > 1 && !force {
                return Err(Error::Conflict(format!(
                    "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                    rec.id.short()
                )));
            }
            for r in &refs {
                self.untag(&rec.id, r, &mut report)?;
            }
            // Containers keep their image's layers: a forced removal only untags it.
            if !users.is_empty() {
                return Ok(report);
            }
        }
        self.delete_record(&rec, &mut report)?;
        Ok(report)
    }

    fn untag(&self, id: &Digest, r: &str, report: &mut Vec<Value>) -> Result<()> {
        self.store.untag(&Reference::parse(r)?)?;
        self.publish("image", "untag", id.as_str(), &[("name", r)]);
        report.push(json!({ "Untagged": r }));
        Ok(())
    }

    /// Delete an (already untagged) image; returns the bytes of layer data freed.
    pub(crate) fn delete_record(&self, rec: &ImageRecord, report: &mut Vec<Value>) -> Result<u64> {
        let removed = self.store.delete_image(&rec.id)?;
        self.cache_forget_image(&rec.id)?;
        self.forget_config(&rec.id);
        self.publish("image", "delete", rec.id.as_str(), &[]);
        report.push(json!({ "Deleted": rec.id.as_str() }));
        let mut freed = 0;
        for chain in &removed {
            freed += rec
                .layers
                .iter()
                .find(|l| &l.chain_id == chain)
                .map(|l| l.size)
                .unwrap_or(0);
            report.push(json!({ "Deleted": chain.as_str() }));
        }
        Ok(freed)
    }

    /// `POST /images/prune`: dangling images by default, every unused image with
    /// `dangling=false`; `until` and `label`/`label!` narrow it.
    pub fn prune_images(&self, filters: &Filters) -> Result<Value> {
        filters.validate(&["dangling", "until", "label", "label!"])?;
        let dangling_only = filters.bool("dangling")?.unwrap_or(true);
        let until = match filters.get("until").first() {
            Some(u) => Some(parse_until(u)?),
            None => None,
        };
        let mut deleted = Vec::new();
        let mut reclaimed = 0u64;
        // The build cache goes with `builder prune`, not here.
        let cache = self.build_cache_images()?;
        for rec in self.store.images()? {
            if dangling_only && !rec.repo_tags.is_empty() {
                continue;
            }
            if rec.repo_tags.is_empty() && rec.repo_digests.is_empty() && cache.contains(&rec.id) {
                continue;
            }
            if !self.containers.using_image(&rec.id).is_empty() {
                continue;
            }
            let cfg = self.image_config(&rec.id)?;
            if until.is_some_and(|u| cfg.created_unix() >= u) {
                continue;
            }
            let labels = cfg.labels();
            if !filters.match_labels("label", &labels) {
                continue;
            }
            if filters
                .get("label!")
                .iter()
                .any(|l| label_matches(l, &labels))
            {
                continue;
            }
            for r in rec.repo_tags.iter().chain(rec.repo_digests.iter()) {
                self.untag(&rec.id, r, &mut deleted)?;
            }
            reclaimed += self.delete_record(&rec, &mut deleted)?;
        }
        self.publish(
            "image",
            "prune",
            "",
            &[("reclaimed", &reclaimed.to_string())],
        );
        Ok(json!({
            "ImagesDeleted": if deleted.is_empty() { Value::Null } else { json!(deleted) },
            "SpaceReclaimed": reclaimed,
        }))
    }

    /// `GET /system/df`: physical layer size with shared layers counted once, and per image its
    /// logical size and exact shared/unique split.
    pub fn disk_usage(&self) -> Result<Value> {
        let du = self.store.disk_usage()?;
        let shared: BTreeMap<&Digest, u64> =
            du.images.iter().map(|u| (&u.id, u.shared_size)).collect();
        let mut images = Vec::new();
        let cache = self.build_cache_images()?;
        let all = self.store.images()?;
        for rec in &all {
            if rec.repo_tags.is_empty() && rec.repo_digests.is_empty() && cache.contains(&rec.id) {
                continue;
            }
            let rec = rec.clone();
            let cfg = self.image_config(&rec.id)?;
            let mut v = self.summary(&rec, &cfg, rec.repo_tags.clone(), rec.repo_digests.clone());
            v["SharedSize"] = json!(shared.get(&rec.id).copied().unwrap_or(0));
            v["Containers"] = json!(self.containers.using_image(&rec.id).len());
            images.push(v);
        }
        images.sort_by(|a, b| b["Created"].as_i64().cmp(&a["Created"].as_i64()));
        let mut containers = self.list_containers(true, None, &Filters::default())?;
        for c in &mut containers {
            // No writable layer is mounted until containers run: nothing written yet.
            c["SizeRw"] = json!(0);
            c["SizeRootFs"] = self
                .store
                .resolve(c["ImageID"].as_str().unwrap_or(""))
                .ok()
                .flatten()
                .and_then(|id| self.store.image(&id).ok().flatten())
                .map(|i| json!(i.size))
                .unwrap_or(json!(0));
        }
        Ok(json!({
            "LayersSize": du.layers_size,
            "Images": images,
            "Containers": containers,
            "Volumes": self.volumes_disk_usage()?,
            "BuildCache": self.build_cache_usage(&all, &cache)?,
        }))
    }
}

/// Sizes of each image's layers that some other image also uses.
fn shared_sizes(images: &[ImageRecord]) -> BTreeMap<Digest, u64> {
    let mut users: BTreeMap<&Digest, usize> = BTreeMap::new();
    for rec in images {
        for l in &rec.layers {
            *users.entry(&l.chain_id).or_default() += 1;
        }
    }
    images
        .iter()
        .map(|rec| {
            let s = rec
                .layers
                .iter()
                .filter(|l| users[&l.chain_id] > 1)
                .map(|l| l.size)
                .sum();
            (rec.id.clone(), s)
        })
        .collect()
}

/// The repository part of `name:tag` or `name@digest`.
fn repo_of(r: &str) -> &str {
    if let Some((name, _)) = r.split_once('@') {
        return name;
    }
    match r.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => name,
        _ => r,
    }
}

/// How Docker names a missing image: references get their default tag.
pub fn display_ref(input: &str) -> String {
    let hexish = input.trim_start_matches("sha256:");
    if !hexish.is_empty() && hexish.len() <= 64 && hexish.chars().all(|c| c.is_ascii_hexdigit()) {
        return input.to_string();
    }
    Reference::parse(input)
        .map(|r| r.with_default_tag().to_string())
        .unwrap_or_else(|_| input.to_string())
}

/// Docker's `until` filter: a Unix timestamp, an RFC 3339 time, or a duration like `24h`.
pub fn parse_until(s: &str) -> Result<i64> {
    let now = chrono::Utc::now().timestamp();
    if let Ok(secs) = s.parse::<f64>() {
        return Ok(secs as i64);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp());
    }
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len()));
    let n: f64 = num
        .parse()
        .map_err(|_| Error::InvalidParameter(format!("invalid filter 'until={s}'")))?;
    let mult = match unit {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => {
            return Err(Error::InvalidParameter(format!(
                "invalid filter 'until={s}'"
            )))
        }
    };
    Ok(now - (n * mult) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_names() {
        assert_eq!(repo_of("busybox:latest"), "busybox");
        assert_eq!(repo_of("127.0.0.1:5000/a:v1"), "127.0.0.1:5000/a");
        assert_eq!(repo_of("127.0.0.1:5000/a"), "127.0.0.1:5000/a");
        assert_eq!(repo_of("a@sha256:00"), "a");
    }

    #[test]
    fn until_forms() {
        assert_eq!(parse_until("100").unwrap(), 100);
        assert_eq!(parse_until("1970-01-01T00:01:40Z").unwrap(), 100);
        let h = parse_until("1h").unwrap();
        assert!((chrono::Utc::now().timestamp() - 3600 - h).abs() <= 1);
        assert!(parse_until("1y").is_err());
    }
}
