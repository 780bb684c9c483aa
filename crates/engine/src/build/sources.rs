//! The files a COPY or ADD takes: resolved inside their root (the build context, another
//! stage, an image), filtered by `.dockerignore` and `--exclude`, hashed for the cache key
//! (content, mode, owner; never mtime), and written as the tar that goes into the image.

use std::collections::BTreeMap;
use std::fs::Metadata;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::container_fs::ScopedRoot;
use crate::{Error, Result};
use berth_dockerfile::ignore::{glob_match, has_wildcard, Matcher};

/// Where sources come from.
pub(crate) struct SourceRoot<'a> {
    pub root: &'a ScopedRoot,
    /// The host path of the root directory (for context-relative names).
    pub dir: PathBuf,
    /// `.dockerignore` of the build context (None for stages and images).
    pub ignore: Option<&'a Matcher>,
    /// Owner every file gets when no `--chown` is given (`Some((0, 0))` for the context,
    /// `None`: keep the source's owner).
    pub owner: Option<(u32, u32)>,
    /// How errors name the root ("build context", "stage build", ...).
    pub what: String,
}

/// One source argument after wildcard expansion.
pub(crate) struct Source {
    /// Its path inside the root, as matched.
    pub rel: String,
    pub is_dir: bool,
    /// The source itself (rel "") and, for a directory, everything below it.
    pub entries: Vec<Entry>,
}

pub(crate) struct Entry {
    /// Path below the source (`""` for the source itself).
    pub rel: String,
    pub host: PathBuf,
    pub meta: Metadata,
}

impl SourceRoot<'_> {
    fn excluded(&self, host: &Path, extra: &Matcher) -> bool {
        let Ok(rel) = host.strip_prefix(&self.dir) else {
            return false;
        };
        let rel = rel.to_string_lossy();
        self.ignore.is_some_and(|m| m.excluded(&rel)) || extra.excluded(&rel)
    }

    /// Every source named by `patterns` (wildcards expanded in sorted order).
    pub(crate) fn collect(&self, patterns: &[String], exclude: &Matcher) -> Result<Vec<Source>> {
        let mut out = Vec::new();
        for p in patterns {
            let clean = clean_rel(p);
            let mut matched = Vec::new();
            if has_wildcard(&clean) {
                self.expand_glob(&clean, &mut matched)?;
            } else {
                matched.push(clean.clone());
            }
            let mut found = false;
            for rel in matched {
                let Some(host) = self.root.resolve(&rel)? else {
                    continue;
                };
                if self.excluded(&host, exclude) && !rel.is_empty() {
                    continue;
                }
                let meta = std::fs::symlink_metadata(&host)
                    .map_err(Error::io(format!("stat of {rel} in the {}", self.what)))?;
                let is_dir = meta.is_dir();
                let mut entries = vec![Entry {
                    rel: String::new(),
                    host: host.clone(),
                    meta,
                }];
                if is_dir {
                    self.walk(&host, "", exclude, &mut entries)?;
                }
                found = true;
                out.push(Source {
                    rel: rel.clone(),
                    is_dir,
                    entries,
                });
            }
            if !found {
                return Err(Error::InvalidParameter(format!(
                    "failed to compute cache key: \"/{clean}\" not found in the {} (or excluded by .dockerignore)",
                    self.what
                )));
            }
        }
        Ok(out)
    }

    fn expand_glob(&self, pattern: &str, out: &mut Vec<String>) -> Result<()> {
        let mut current = vec![String::new()];
        for seg in pattern.split('/').filter(|s| !s.is_empty()) {
            let mut next = Vec::new();
            for base in &current {
                if !has_wildcard(seg) {
                    next.push(join(base, seg));
                    continue;
                }
                let Some(dir) = self
                    .root
                    .resolve(if base.is_empty() { "/" } else { base })?
                else {
                    continue;
                };
                let Ok(rd) = std::fs::read_dir(&dir) else {
                    continue;
                };
                let mut names: Vec<String> = rd
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| glob_match(seg, n))
                    .collect();
                names.sort();
                next.extend(names.iter().map(|n| join(base, n)));
            }
            current = next;
        }
        out.extend(current.into_iter().filter(|c| !c.is_empty()));
        Ok(())
    }

    fn walk(&self, dir: &Path, rel: &str, exclude: &Matcher, out: &mut Vec<Entry>) -> Result<()> {
        let rd = std::fs::read_dir(dir).map_err(Error::io(format!("reading {}", dir.display())))?;
        let mut names: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
        names.sort();
        for name in names {
            let host = dir.join(&name);
            let r = join(rel, &name.to_string_lossy());
            let meta = std::fs::symlink_metadata(&host)
                .map_err(Error::io(format!("stat of {}", host.display())))?;
            let excluded = self.excluded(&host, exclude);
            if meta.is_dir() {
                let ctx_rel = host
                    .strip_prefix(&self.dir)
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if excluded
                    && !self.ignore.is_some_and(|m| m.may_reinclude_below(&ctx_rel))
                    && !exclude.may_reinclude_below(&ctx_rel)
                {
                    continue;
                }
                if !excluded {
                    out.push(Entry {
                        rel: r.clone(),
                        host: host.clone(),
                        meta,
                    });
                }
                self.walk(&host, &r, exclude, out)?;
            } else if !excluded {
                out.push(Entry { rel: r, host, meta });
            }
        }
        Ok(())
    }
}

fn join(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}/{name}")
    }
}

/// A source path relative to its root: leading `/` and `./` dropped, `.` and `..` resolved.
pub(crate) fn clean_rel(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            x => out.push(x),
        }
    }
    out.join("/")
}

/// Owner and mode a copied entry gets.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Perms {
    pub owner: Option<(u32, u32)>,
    pub chmod: Option<u32>,
}

fn kind_of(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        "d"
    } else if t.is_symlink() {
        "l"
    } else if t.is_file() {
        "f"
    } else if t.is_fifo() {
        "p"
    } else if t.is_char_device() {
        "c"
    } else if t.is_block_device() {
        "b"
    } else {
        "?"
    }
}

/// The cache-relevant fingerprint of every entry, by its path in the root.
pub(crate) fn fingerprint(
    sources: &[Source],
    root_owner: Option<(u32, u32)>,
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for s in sources {
        for e in &s.entries {
            let name = if e.rel.is_empty() {
                s.rel.clone()
            } else {
                join(&s.rel, &e.rel)
            };
            let (uid, gid) = root_owner.unwrap_or((e.meta.uid(), e.meta.gid()));
            let mut h = blake3::Hasher::new();
            h.update(
                format!(
                    "{}:{:o}:{uid}:{gid}:",
                    kind_of(&e.meta),
                    e.meta.mode() & 0o7777
                )
                .as_bytes(),
            );
            match kind_of(&e.meta) {
                "f" => {
                    let mut f = std::fs::File::open(&e.host)
                        .map_err(Error::io(format!("reading {name}")))?;
                    let mut buf = vec![0u8; 1 << 18];
                    loop {
                        let n = f
                            .read(&mut buf)
                            .map_err(Error::io(format!("reading {name}")))?;
                        if n == 0 {
                            break;
                        }
                        h.update(&buf[..n]);
                    }
                }
                "l" => {
                    let t = std::fs::read_link(&e.host)
                        .map_err(Error::io(format!("reading link {name}")))?;
                    h.update(t.to_string_lossy().as_bytes());
                }
                "c" | "b" => {
                    h.update(&e.meta.rdev().to_le_bytes());
                }
                _ => {}
            }
            out.insert(name, hex::encode(&h.finalize().as_bytes()[..16]));
        }
    }
    Ok(out)
}

/// Appends one entry to `tar` at `path` (relative to the extraction point).
pub(crate) fn append_entry<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    e: &Entry,
    perms: Perms,
    default_owner: Option<(u32, u32)>,
) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    let meta = &e.meta;
    let (uid, gid) = perms
        .owner
        .or(default_owner)
        .unwrap_or((meta.uid(), meta.gid()));
    h.set_uid(uid as u64);
    h.set_gid(gid as u64);
    h.set_mtime(meta.mtime().max(0) as u64);
    let mode = match (perms.chmod, meta.file_type().is_symlink()) {
        (Some(m), false) => m,
        _ => meta.mode() & 0o7777,
    };
    h.set_mode(mode);
    let t = meta.file_type();
    if t.is_dir() {
        h.set_entry_type(tar::EntryType::Directory);
        h.set_size(0);
        tar.append_data(&mut h, format!("{path}/"), io::empty())
    } else if t.is_symlink() {
        let target = std::fs::read_link(&e.host)?;
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        tar.append_link(&mut h, path, target)
    } else if t.is_file() {
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(meta.len());
        let f = std::fs::File::open(&e.host)?;
        tar.append_data(&mut h, path, f.take(meta.len()))
    } else if t.is_fifo() {
        h.set_entry_type(tar::EntryType::Fifo);
        h.set_size(0);
        tar.append_data(&mut h, path, io::empty())
    } else {
        // Devices and sockets are not copied (as Docker).
        Ok(())
    }
}

/// Appends a directory entry (for a destination directory the copy creates).
pub(crate) fn append_dir<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    owner: (u32, u32),
    mode: u32,
) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_uid(owner.0 as u64);
    h.set_gid(owner.1 as u64);
    h.set_mode(mode);
    h.set_size(0);
    h.set_mtime(chrono::Utc::now().timestamp().max(0) as u64);
    tar.append_data(&mut h, format!("{path}/"), io::empty())
}

/// What kind of archive a file is, for ADD's auto-extraction: only tar streams (plain, gzip or
/// zstd) are unpacked; anything else is copied as a file.
pub(crate) fn is_tar_archive(path: &Path) -> bool {
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let mut head = vec![0u8; 512];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return false,
        }
    }
    head.truncate(n);
    let ustar = |b: &[u8]| b.get(257..262) == Some(b"ustar");
    if head.starts_with(&[0x1f, 0x8b]) {
        let Ok(f) = std::fs::File::open(path) else {
            return false;
        };
        let mut d = flate2::read::GzDecoder::new(f);
        let mut inner = vec![0u8; 512];
        return d.read_exact(&mut inner).is_ok() && ustar(&inner);
    }
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let Ok(f) = std::fs::File::open(path) else {
            return false;
        };
        let Ok(mut d) = zstd::stream::read::Decoder::new(f) else {
            return false;
        };
        let mut inner = vec![0u8; 512];
        return d.read_exact(&mut inner).is_ok() && ustar(&inner);
    }
    ustar(&head)
}
