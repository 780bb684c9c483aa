//! The build cache: one row per executed step that made an image, keyed by a hash that chains
//! the previous step's key, the instruction after expansion, the build args it sees and the
//! content of the files it copies. A row keeps what the step saw, so a miss can say what
//! changed.

use std::collections::BTreeMap;

use berth_store::Digest;
use rusqlite::OptionalExtension;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::{Engine, Result};

const MIGRATION: &str = "engine-0003-build-cache";
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS build_cache (
    key         TEXT PRIMARY KEY,
    prev        TEXT NOT NULL,
    image_id    TEXT NOT NULL,
    instruction TEXT NOT NULL,
    expanded    TEXT NOT NULL,
    meta        TEXT NOT NULL,
    args        TEXT NOT NULL,
    files       TEXT NOT NULL,
    created     TEXT NOT NULL,
    last_used   TEXT NOT NULL,
    uses        INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS build_cache_prev ON build_cache(prev);
CREATE INDEX IF NOT EXISTS build_cache_image ON build_cache(image_id);
";

/// What one step saw; the parts of its key that can be told apart afterwards.
#[derive(Debug, Clone, Default)]
pub(crate) struct StepInputs {
    /// The key of the step before (or of the base image).
    pub prev: String,
    /// The instruction as written.
    pub instruction: String,
    /// The instruction after expansion (what it does).
    pub expanded: String,
    /// Metadata instructions (ENV, LABEL, USER, ...) between the previous step and this one.
    pub meta: Vec<String>,
    /// Build args the step sees, by name.
    pub args: BTreeMap<String, String>,
    /// Copied files: path → content/mode/owner hash.
    pub files: BTreeMap<String, String>,
}

impl StepInputs {
    pub(crate) fn key(&self) -> String {
        let mut h = Sha256::new();
        for part in [&self.prev, &self.expanded] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        for m in &self.meta {
            h.update(b"m");
            h.update((m.len() as u64).to_le_bytes());
            h.update(m.as_bytes());
        }
        for (k, v) in &self.args {
            h.update(b"a");
            h.update((k.len() as u64).to_le_bytes());
            h.update(k.as_bytes());
            h.update((v.len() as u64).to_le_bytes());
            h.update(v.as_bytes());
        }
        for (k, v) in &self.files {
            h.update(b"f");
            h.update((k.len() as u64).to_le_bytes());
            h.update(k.as_bytes());
            h.update(v.as_bytes());
        }
        hex::encode(h.finalize())
    }
}

/// The key a stage starts from: its base image (or scratch) and the platform.
pub(crate) fn base_key(image: Option<&Digest>) -> String {
    let mut h = Sha256::new();
    h.update(b"from ");
    h.update(image.map_or("scratch", |d| d.as_str()).as_bytes());
    hex::encode(h.finalize())
}

/// (image, instruction, created, last used, uses).
pub(crate) type CacheRow = (Digest, String, String, String, i64);

impl Engine {
    pub(crate) fn init_build_cache(&self) -> Result<()> {
        self.store.migrate_extra(MIGRATION, SCHEMA)?;
        Ok(())
    }

    /// The image a step with this key made, if it is still stored.
    pub(crate) fn cache_lookup(&self, key: &str) -> Result<Option<berth_store::ImageRecord>> {
        let row: Option<String> = self.store.with_conn(|c| {
            c.query_row(
                "SELECT image_id FROM build_cache WHERE key = ?1",
                [key],
                |r| r.get(0),
            )
            .optional()
        })?;
        let Some(id) = row.and_then(|s| Digest::parse(&s).ok()) else {
            return Ok(None);
        };
        let Some(rec) = self.store.image(&id)? else {
            self.store.with_tx(|tx| {
                tx.execute("DELETE FROM build_cache WHERE key = ?1", [key])?;
                Ok(())
            })?;
            return Ok(None);
        };
        let now = crate::containers::now_rfc3339();
        self.store.with_tx(|tx| {
            tx.execute(
                "UPDATE build_cache SET last_used = ?2, uses = uses + 1 WHERE key = ?1",
                rusqlite::params![key, now],
            )?;
            Ok(())
        })?;
        Ok(Some(rec))
    }

    pub(crate) fn cache_record(&self, inputs: &StepInputs, image: &Digest) -> Result<()> {
        let now = crate::containers::now_rfc3339();
        let args = serde_json::to_string(&inputs.args).unwrap_or_default();
        let files = serde_json::to_string(&inputs.files).unwrap_or_default();
        self.store.with_tx(|tx| {
            tx.execute(
                "INSERT INTO build_cache
                   (key, prev, image_id, instruction, expanded, meta, args, files, created,
                    last_used)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?9, ?6, ?7, ?8, ?8)
                 ON CONFLICT(key) DO UPDATE SET image_id = excluded.image_id,
                   last_used = excluded.last_used",
                rusqlite::params![
                    inputs.key(),
                    inputs.prev,
                    image.as_str(),
                    inputs.instruction,
                    inputs.expanded,
                    args,
                    files,
                    now,
                    serde_json::to_string(&inputs.meta).unwrap_or_default()
                ],
            )?;
            Ok(())
        })?;
        Ok(())
    }

    /// Why a step with these inputs has no cached result, in a few words.
    pub(crate) fn explain_miss(&self, inputs: &StepInputs) -> Result<String> {
        type Row = (String, String, String, String, String);
        let rows: Vec<Row> = self.store.with_conn(|c| {
            let mut st = c.prepare(
                "SELECT instruction, expanded, args, files, meta FROM build_cache
                 WHERE prev = ?1 ORDER BY last_used DESC LIMIT 50",
            )?;
            let rows = st
                .query_map([&inputs.prev], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })?
                .collect::<rusqlite::Result<Vec<Row>>>()?;
            Ok(rows)
        })?;
        if rows.is_empty() {
            return Ok(
                "nothing was built on this parent before (a new base image or a new first step)"
                    .into(),
            );
        }
        let Some((_, expanded, args, files, meta)) = rows
            .iter()
            .find(|(i, ..)| *i == inputs.instruction)
            .or_else(|| rows.iter().find(|(_, e, ..)| *e == inputs.expanded))
        else {
            return Ok(format!(
                "this instruction never ran on this parent (the last step built on it was `{}`)",
                rows[0].0
            ));
        };
        let mut why = Vec::new();
        let old_meta: Vec<String> = serde_json::from_str(meta).unwrap_or_default();
        if old_meta != inputs.meta {
            let added: Vec<&String> = inputs
                .meta
                .iter()
                .filter(|m| !old_meta.contains(m))
                .collect();
            let removed: Vec<&String> = old_meta
                .iter()
                .filter(|m| !inputs.meta.contains(m))
                .collect();
            for m in added {
                why.push(format!("`{m}` before it is new or changed"));
            }
            for m in removed {
                why.push(format!("`{m}` before it is gone"));
            }
        }
        let old_args: BTreeMap<String, String> = serde_json::from_str(args).unwrap_or_default();
        for (k, v) in &inputs.args {
            match old_args.get(k) {
                Some(o) if o != v => why.push(format!("build-arg {k} changed ({o:?} → {v:?})")),
                None => why.push(format!("build-arg {k} is new ({v:?})")),
                _ => {}
            }
        }
        for k in old_args.keys().filter(|k| !inputs.args.contains_key(*k)) {
            why.push(format!("build-arg {k} is no longer set"));
        }
        if *expanded != inputs.expanded && why.is_empty() {
            why.push(format!("instruction expands differently (was: {expanded})"));
        }
        let old_files: BTreeMap<String, String> = match serde_json::from_str::<Value>(files) {
            Ok(v) => serde_json::from_value(v).unwrap_or_default(),
            Err(_) => BTreeMap::new(),
        };
        let mut changed = Vec::new();
        for (k, v) in &inputs.files {
            match old_files.get(k) {
                Some(o) if o != v => changed.push(format!("file changed: {k}")),
                None => changed.push(format!("file added: {k}")),
                _ => {}
            }
        }
        for k in old_files.keys().filter(|k| !inputs.files.contains_key(*k)) {
            changed.push(format!("file removed: {k}"));
        }
        let more = changed.len().saturating_sub(5);
        changed.truncate(5);
        if more > 0 {
            changed.push(format!("and {more} more"));
        }
        why.extend(changed);
        if why.is_empty() {
            why.push("the cached result is gone".into());
        }
        Ok(why.join(", "))
    }

    /// Image IDs the build cache holds (hidden from `images` unless tagged or `-a`).
    pub fn build_cache_images(&self) -> Result<std::collections::HashSet<Digest>> {
        let ids: Vec<String> = self.store.with_conn(|c| {
            let mut st = c.prepare("SELECT DISTINCT image_id FROM build_cache")?;
            let rows = st
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(rows)
        })?;
        Ok(ids.iter().filter_map(|s| Digest::parse(s).ok()).collect())
    }

    /// Rows of the build cache for `system df`: (image, instruction, created, last used, uses).
    pub(crate) fn build_cache_rows(&self) -> Result<Vec<CacheRow>> {
        let rows: Vec<(String, String, String, String, i64)> = self.store.with_conn(|c| {
            let mut st = c.prepare(
                "SELECT image_id, instruction, created, last_used, uses FROM build_cache
                 ORDER BY created",
            )?;
            let rows = st
                .query_map([], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })?;
        Ok(rows
            .into_iter()
            .filter_map(|(i, a, b, c, d)| Some((Digest::parse(&i).ok()?, a, b, c, d)))
            .collect())
    }

    /// Forget every cache row of `image` (it is being deleted).
    pub(crate) fn cache_forget_image(&self, image: &Digest) -> Result<()> {
        self.store.with_tx(|tx| {
            tx.execute(
                "DELETE FROM build_cache WHERE image_id = ?1",
                [image.as_str()],
            )?;
            Ok(())
        })?;
        Ok(())
    }
}

impl Engine {
    /// `BuildCache` of `GET /system/df`: one record per cached step; its size is the layer the
    /// step added when no image outside the cache holds it.
    pub(crate) fn build_cache_usage(
        &self,
        images: &[berth_store::ImageRecord],
        cache: &std::collections::HashSet<Digest>,
    ) -> Result<Vec<Value>> {
        let outside: std::collections::HashSet<&Digest> = images
            .iter()
            .filter(|i| !cache.contains(&i.id) || !i.repo_tags.is_empty())
            .flat_map(|i| i.layers.iter().map(|l| &l.chain_id))
            .collect();
        let by_id: std::collections::HashMap<&Digest, &berth_store::ImageRecord> =
            images.iter().map(|i| (&i.id, i)).collect();
        let mut out = Vec::new();
        let mut counted = std::collections::HashSet::new();
        for (id, instruction, created, last_used, uses) in self.build_cache_rows()? {
            let Some(rec) = by_id.get(&id) else {
                continue;
            };
            let top = rec.layers.last();
            let shared = top.is_some_and(|l| outside.contains(&l.chain_id));
            let size = match top {
                Some(l) if !shared && counted.insert(l.chain_id.clone()) => l.size,
                _ => 0,
            };
            out.push(serde_json::json!({
                "ID": id.hex()[..25].to_string(),
                "Parent": "",
                "Type": "regular",
                "Description": instruction,
                "InUse": !self.containers.using_image(&id).is_empty(),
                "Shared": shared,
                "Size": size,
                "CreatedAt": created,
                "LastUsedAt": last_used,
                "UsageCount": uses,
            }));
        }
        Ok(out)
    }

    /// `POST /build/prune`: removes the build cache's images (those no container uses and no
    /// tag names); `until` keeps records used more recently than that.
    pub fn prune_build_cache(&self, _all: bool, filters: &crate::Filters) -> Result<Value> {
        filters.validate(&["until", "unused-for"])?;
        let until = match filters
            .get("until")
            .first()
            .or(filters.get("unused-for").first())
        {
            Some(u) => Some(crate::images::parse_until(u)?),
            None => None,
        };
        let cache = self.build_cache_images()?;
        let rows = self.build_cache_rows()?;
        let mut deleted = Vec::new();
        let mut reclaimed = 0u64;
        for id in cache {
            let Some(rec) = self.store.image(&id)? else {
                self.cache_forget_image(&id)?;
                continue;
            };
            if !rec.repo_tags.is_empty() || !rec.repo_digests.is_empty() {
                self.cache_forget_image(&id)?;
                continue;
            }
            if !self.containers.using_image(&id).is_empty() {
                continue;
            }
            if let Some(u) = until {
                let recent = rows.iter().filter(|r| r.0 == id).any(|r| {
                    chrono::DateTime::parse_from_rfc3339(&r.3)
                        .map(|t| t.timestamp() >= u)
                        .unwrap_or(true)
                });
                if recent {
                    continue;
                }
            }
            let mut report = Vec::new();
            reclaimed += self.delete_record(&rec, &mut report)?;
            deleted.push(id.hex()[..25].to_string());
        }
        Ok(serde_json::json!({
            "CachesDeleted": if deleted.is_empty() { Value::Null } else { serde_json::json!(deleted) },
            "SpaceReclaimed": reclaimed,
        }))
    }
}
