//! Named volumes with the `local` driver: metadata in the database (table `volumes`), data in
//! `<root>/volumes/<name>/_data`, and the volumes each container uses (table `volume_mounts`,
//! one row per container and destination, so a volume's references survive daemon restarts).
//!
//! Containers meet volumes at three points: at create, `-v NAME:/path`, `--mount type=volume`
//! and `Config.Volumes` become mount rows (creating missing named volumes and anonymous ones);
//! at start, [`Engine::volume_host_config`] rewrites the container's HostConfig so every volume
//! is a mount of an absolute host path (the runtime never sees a volume name), mounting
//! `-o type=… -o device=…` volumes and copying the image's content into a new, empty volume
//! once; at exit and removal the rows and mounts are released. A volume is in use while any
//! container (running or not) references it, as in Docker.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::containers::ContainerRecord;
use crate::{Engine, Error, Filters, Result};

const MIGRATION: &str = "engine-volumes-0001";
const SCHEMA: &str = "CREATE TABLE volumes (
    name TEXT PRIMARY KEY,
    driver TEXT NOT NULL,
    created TEXT NOT NULL,
    labels TEXT NOT NULL,
    options TEXT NOT NULL
);
CREATE TABLE volume_mounts (
    container_id TEXT NOT NULL,
    destination TEXT NOT NULL,
    volume TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (container_id, destination)
);
CREATE INDEX volume_mounts_by_volume ON volume_mounts (volume);";

/// The only volume driver berth has.
pub const LOCAL_DRIVER: &str = "local";
const DATA_DIR: &str = "_data";
/// Docker's `RestrictedNameChars`, quoted in its error text.
const NAME_CHARS: &str = "[a-zA-Z0-9][a-zA-Z0-9_.-]";

/// A volume as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeRecord {
    pub name: String,
    pub driver: String,
    /// RFC 3339, UTC.
    pub created: String,
    /// As the creator gave them: `None` is reported as `null`, an empty map as `{}`.
    pub labels: Option<BTreeMap<String, String>>,
    pub options: Option<BTreeMap<String, String>>,
}

impl VolumeRecord {
    /// A volume whose options name something to mount (`type`/`device`, e.g. tmpfs or nfs).
    fn needs_mount(&self) -> bool {
        self.options.as_ref().is_some_and(|o| {
            o.get("type").is_some_and(|t| !t.is_empty())
                || o.get("device").is_some_and(|d| !d.is_empty())
        })
    }

    fn has_options(&self) -> bool {
        self.options.as_ref().is_some_and(|o| !o.is_empty())
    }

    fn label_map(&self) -> BTreeMap<String, String> {
        self.labels.clone().unwrap_or_default()
    }
}

/// One volume a container uses, as recorded at create.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct VolumeMount {
    name: String,
    destination: String,
    rw: bool,
    /// The mode as inspect shows it (`z` for named local volumes without one, `ro`, …).
    mode: String,
    /// Named by no source in the request (`-v /data`, an image `VOLUME`, `--mount` without
    /// `source`): `rm -v` and `--rm` remove these, never named ones.
    anonymous: bool,
    /// Copy the image's content at the destination into the volume at the next start (once,
    /// and only into an empty volume).
    copy_pending: bool,
}

/// Serialises volume creation, removal and reference changes in this process.
fn volume_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// `CreatedAt` as Docker prints it: seconds, daemon-local time, `Z` for UTC.
fn created_at(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
        .unwrap_or_default()
}

fn random_hex_name() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn string_map(v: &Value) -> Option<BTreeMap<String, String>> {
    v.as_object().map(|m| {
        m.iter()
            .map(|(k, v)| {
                let s = match v {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                (k.clone(), s)
            })
            .collect()
    })
}

fn to_json_text<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Internal(e.to_string()))
}

fn no_such_volume(name: &str) -> Error {
    Error::NotFound(format!("get {name}: no such volume"))
}

/// The `local` driver's name rule (Docker's text, wrapped as `create NAME: …`).
fn validate_name(name: &str) -> Result<()> {
    let bad = |reason: String| Error::InvalidParameter(format!("create {name}: {reason}"));
    if name.chars().count() == 1 {
        return Err(bad(
            "volume name is too short, names should be at least two alphanumeric characters".into(),
        ));
    }
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !(first_ok && rest_ok) || name.len() < 2 {
        return Err(bad(format!(
            "{name:?} includes invalid characters for a local volume name, only {NAME_CHARS:?} are allowed. If you intended to pass a host directory, use absolute path"
        )));
    }
    Ok(())
}

/// go-units `RAMInBytes`.
fn ram_in_bytes(s: &str) -> Option<i64> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(digits_end);
    let n: f64 = num.parse().ok()?;
    let mult: f64 = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0_f64.powi(4),
        "p" => 1024.0_f64.powi(5),
        _ => return None,
    };
    Some((n * mult) as i64)
}

/// The `local` driver's options: `type`, `device`, `o` (mounted at first use) and `size`
/// (a quota, which berth has no support for).
fn validate_options(name: &str, opts: &BTreeMap<String, String>) -> Result<()> {
    let bad = |reason: String| Error::InvalidParameter(format!("create {name}: {reason}"));
    for k in opts.keys() {
        if !matches!(k.as_str(), "type" | "o" | "device" | "size") {
            return Err(bad(format!("invalid option: {k:?}")));
        }
    }
    if let Some(size) = opts.get("size") {
        match ram_in_bytes(size) {
            None => return Err(bad(format!("invalid size: '{size}'"))),
            Some(n) if n > 0 => {
                return Err(bad("quota size requested but no quota support".into()))
            }
            Some(_) => {}
        }
    }
    for (opt, required) in [
        ("device", &["type"][..]),
        ("type", &["device"][..]),
        ("o", &["device", "type"][..]),
    ] {
        if opts.contains_key(opt) {
            if let Some(missing) = required.iter().find(|r| !opts.contains_key(**r)) {
                return Err(bad(format!("missing required option: {missing:?}")));
            }
        }
    }
    Ok(())
}

fn check_driver(name: &str, driver: &str) -> Result<()> {
    if driver.is_empty() || driver == LOCAL_DRIVER {
        return Ok(());
    }
    Err(Error::NotFound(format!(
        "create {name}: error looking up volume plugin {driver}: plugin {driver:?} not found"
    )))
}

// ---- mount specifications (Docker's Linux parser) ----

/// Go's `path.Clean` for a container path.
fn clean_path(p: &str) -> String {
    let abs = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !abs {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (abs, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

const PROPAGATIONS: &[&str] = &[
    "private", "rprivate", "slave", "rslave", "shared", "rshared",
];

/// Docker's `linuxValidMountMode`: each kind of option at most once.
fn valid_mode(mode: &str) -> bool {
    if mode.is_empty() {
        return true;
    }
    let mut counts = [0u8; 5];
    for o in mode.split(',') {
        let kind = match o {
            "rw" | "ro" => 0,
            "z" | "Z" => 1,
            p if PROPAGATIONS.contains(&p) => 2,
            "nocopy" => 3,
            "consistent" | "cached" | "delegated" => 4,
            _ => return false,
        };
        counts[kind] += 1;
    }
    counts.iter().all(|c| *c <= 1)
}

/// A target's checks, in Docker's order, as the reason inside "invalid mount config".
fn target_problem(target: &str) -> Option<String> {
    if target.is_empty() {
        return Some("field Target must not be empty".into());
    }
    if clean_path(&target.replace('\\', "/")) == "/" {
        return Some("invalid specification: destination can't be '/'".into());
    }
    if !target.starts_with('/') {
        return Some(format!(
            "invalid mount path: '{target}' mount path must be absolute"
        ));
    }
    None
}

/// One `HostConfig.Binds` entry, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BindSpec {
    /// Empty for an anonymous volume (`Binds: ["/data"]`).
    source: String,
    destination: String,
    mode: String,
    is_volume: bool,
    read_only: bool,
    nocopy: bool,
}

/// Docker's `ParseMountRaw` on Linux.
fn parse_bind(raw: &str) -> Result<BindSpec> {
    let invalid = || Error::InvalidParameter(format!("invalid volume specification: '{raw}'"));
    let arr: Vec<&str> = raw.splitn(4, ':').collect();
    if arr[0].is_empty() {
        return Err(invalid());
    }
    let (source, target, mode) = match arr.as_slice() {
        [t] => ("", *t, ""),
        [s, t] => {
            if valid_mode(t) {
                return Err(invalid());
            }
            (*s, *t, "")
        }
        [s, t, m] => (*s, *t, *m),
        _ => return Err(invalid()),
    };
    if !valid_mode(mode) {
        return Err(Error::InvalidParameter(format!("invalid mode: {mode}")));
    }
    let is_volume = !source.starts_with('/');
    let typ = if is_volume { "volume" } else { "bind" };
    let config_error = |reason: String| {
        Error::InvalidParameter(format!(
            "invalid volume specification: '{raw}': invalid mount config for type \"{typ}\": {reason}"
        ))
    };
    let opts: Vec<&str> = mode.split(',').collect();
    if is_volume && opts.iter().any(|o| PROPAGATIONS.contains(o)) {
        return Err(config_error(
            "field BindOptions must not be specified".into(),
        ));
    }
    if let Some(reason) = target_problem(target) {
        return Err(config_error(reason));
    }
    Ok(BindSpec {
        source: source.to_string(),
        destination: clean_path(target),
        mode: mode.to_string(),
        is_volume,
        read_only: opts.contains(&"ro"),
        nocopy: opts.contains(&"nocopy"),
    })
}

/// One `HostConfig.Mounts` entry, checked as Docker's `ParseMountSpec` does.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MountSpec {
    typ: String,
    source: String,
    target: String,
    destination: String,
    read_only: bool,
    nocopy: bool,
    driver: String,
    driver_opts: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
}

fn parse_mount(m: &Value) -> Result<MountSpec> {
    let s = |k: &str| m[k].as_str().unwrap_or_default().to_string();
    let typ = s("Type");
    let source = s("Source");
    let target = s("Target");
    let read_only = m["ReadOnly"].as_bool().unwrap_or(false);
    let present = |k: &str| !m[k].is_null();
    let problem = |reason: String| {
        Error::InvalidParameter(format!("invalid mount config for type \"{typ}\": {reason}"))
    };
    if let Some(reason) = target_problem(&target) {
        return Err(problem(reason));
    }
    match typ.as_str() {
        "bind" => {
            if source.is_empty() {
                return Err(problem("field Source must not be empty".into()));
            }
            if let Some(p) = m["BindOptions"]["Propagation"]
                .as_str()
                .filter(|p| !p.is_empty())
            {
                if !PROPAGATIONS.contains(&p) {
                    return Err(problem(format!("invalid propagation mode: {p}")));
                }
            }
            if present("VolumeOptions") {
                return Err(problem("field VolumeOptions must not be specified".into()));
            }
            if !source.starts_with('/') {
                return Err(problem(format!(
                    "invalid mount path: '{source}' mount path must be absolute"
                )));
            }
            if std::fs::symlink_metadata(&source).is_err() {
                return Err(problem(format!(
                    "bind source path does not exist: {source}"
                )));
            }
        }
        "volume" => {
            if present("BindOptions") {
                return Err(problem("field BindOptions must not be specified".into()));
            }
            if source.is_empty() && read_only {
                return Err(problem(
                    "must not set ReadOnly mode when using anonymous volumes".into(),
                ));
            }
        }
        "tmpfs" => {
            if present("BindOptions") {
                return Err(problem("field BindOptions must not be specified".into()));
            }
            if !source.is_empty() {
                return Err(problem("field Source must not be specified".into()));
            }
        }
        _ => return Err(problem("mount type unknown".into())),
    }
    let vo = &m["VolumeOptions"];
    Ok(MountSpec {
        destination: clean_path(&target),
        typ,
        source,
        target,
        read_only,
        nocopy: vo["NoCopy"].as_bool().unwrap_or(false),
        driver: vo["DriverConfig"]["Name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        driver_opts: string_map(&vo["DriverConfig"]["Options"]),
        labels: string_map(&vo["Labels"]),
    })
}

/// A volume the create request asks for, before it is resolved to a name.
#[derive(Debug)]
struct Wanted {
    /// Empty: anonymous.
    name: String,
    driver: String,
    options: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
    mount: VolumeMount,
}

/// Every volume a create request uses, in Docker's order (Binds, then Mounts, then the
/// `Config.Volumes` nothing else covers), with its duplicate-destination checks.
fn wanted_volumes(config: &Value, hc: &Value) -> Result<Vec<Wanted>> {
    let tmpfs: HashSet<String> = hc["Tmpfs"]
        .as_object()
        .map(|m| m.keys().map(|k| clean_path(k)).collect())
        .unwrap_or_default();
    let volume_driver = hc["VolumeDriver"].as_str().unwrap_or_default().to_string();
    if hc["VolumesFrom"].as_array().is_some_and(|a| !a.is_empty()) {
        return Err(Error::NotImplemented(
            "--volumes-from is not supported by berth".into(),
        ));
    }
    let mut taken: HashSet<String> = HashSet::new();
    let mut out = Vec::new();
    let duplicate = |d: &str| Error::InvalidParameter(format!("Duplicate mount point: {d}"));
    for raw in hc["Binds"].as_array().into_iter().flatten() {
        let raw = raw.as_str().unwrap_or_default();
        let b = parse_bind(raw)?;
        if taken.contains(&b.destination) || tmpfs.contains(&b.destination) {
            return Err(duplicate(&b.destination));
        }
        taken.insert(b.destination.clone());
        if !b.is_volume {
            continue;
        }
        let mode = if b.mode.is_empty() {
            "z".to_string()
        } else {
            b.mode.clone()
        };
        out.push(Wanted {
            name: b.source.clone(),
            driver: volume_driver.clone(),
            options: None,
            labels: None,
            mount: VolumeMount {
                name: String::new(),
                destination: b.destination,
                rw: !b.read_only,
                mode,
                anonymous: b.source.is_empty(),
                copy_pending: !b.nocopy,
            },
        });
    }
    for m in hc["Mounts"].as_array().into_iter().flatten() {
        let spec = parse_mount(m)?;
        if taken.contains(&spec.destination) {
            return Err(duplicate(&spec.target));
        }
        taken.insert(spec.destination.clone());
        if spec.typ != "volume" {
            continue;
        }
        out.push(Wanted {
            name: spec.source.clone(),
            driver: spec.driver,
            options: spec.driver_opts,
            labels: spec.labels,
            mount: VolumeMount {
                name: String::new(),
                destination: spec.destination,
                rw: !spec.read_only,
                mode: "z".into(),
                anonymous: spec.source.is_empty(),
                copy_pending: !spec.nocopy,
            },
        });
    }
    for dest in config["Volumes"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.keys())
    {
        if let Some(reason) = target_problem(dest) {
            return Err(Error::InvalidParameter(format!(
                "invalid volume specification: '{dest}': {reason}"
            )));
        }
        let d = clean_path(dest);
        if taken.contains(&d) || tmpfs.contains(&d) {
            continue;
        }
        taken.insert(d.clone());
        out.push(Wanted {
            name: String::new(),
            driver: volume_driver.clone(),
            options: None,
            labels: None,
            mount: VolumeMount {
                name: String::new(),
                destination: d,
                rw: true,
                mode: String::new(),
                anonymous: true,
                copy_pending: true,
            },
        });
    }
    Ok(out)
}

// ---- Go regexp subset for the `name` filter ----

#[derive(Debug, Clone)]
enum Atom {
    Char(char),
    Any,
    Class(Vec<(char, char)>, bool),
}

impl Atom {
    fn matches(&self, c: char) -> bool {
        match self {
            Atom::Char(x) => *x == c,
            Atom::Any => c != '\n',
            Atom::Class(ranges, negated) => {
                ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != *negated
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rep {
    One,
    Star,
    Plus,
    Opt,
}

/// Parses the regexp forms `name` filters use in practice (literals, `.`, classes, `* + ?`,
/// `^ $`, `\` escapes); None for anything else (groups, alternation, counted repeats).
/// A parsed pattern: anchored at the start, the atoms, anchored at the end.
struct Pattern {
    start: bool,
    atoms: Vec<(Atom, Rep)>,
    end: bool,
}

fn parse_pattern(p: &str) -> Option<Pattern> {
    let mut chars: Vec<char> = p.chars().collect();
    let start = chars.first() == Some(&'^');
    if start {
        chars.remove(0);
    }
    let end = chars.last() == Some(&'$') && !(chars.len() >= 2 && chars[chars.len() - 2] == '\\');
    if end {
        chars.pop();
    }
    let mut atoms: Vec<(Atom, Rep)> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let atom = match c {
            '.' => Atom::Any,
            '\\' => {
                i += 1;
                match chars.get(i)? {
                    'd' => Atom::Class(vec![('0', '9')], false),
                    'w' => Atom::Class(vec![('a', 'z'), ('A', 'Z'), ('0', '9'), ('_', '_')], false),
                    x if x.is_ascii_alphanumeric() => return None,
                    x => Atom::Char(*x),
                }
            }
            '[' => {
                let mut j = i + 1;
                let negated = chars.get(j) == Some(&'^');
                if negated {
                    j += 1;
                }
                let mut ranges = Vec::new();
                let mut first = true;
                loop {
                    let c = *chars.get(j)?;
                    if c == ']' && !first {
                        break;
                    }
                    first = false;
                    let lo = if c == '\\' {
                        j += 1;
                        *chars.get(j)?
                    } else {
                        c
                    };
                    if chars.get(j + 1) == Some(&'-') && chars.get(j + 2).is_some_and(|x| *x != ']')
                    {
                        ranges.push((lo, chars[j + 2]));
                        j += 3;
                    } else {
                        ranges.push((lo, lo));
                        j += 1;
                    }
                }
                i = j;
                Atom::Class(ranges, negated)
            }
            '*' | '+' | '?' | '(' | ')' | '|' | '{' | '}' | '^' | '$' => return None,
            other => Atom::Char(other),
        };
        i += 1;
        let rep = match chars.get(i) {
            Some('*') => Rep::Star,
            Some('+') => Rep::Plus,
            Some('?') => Rep::Opt,
            _ => Rep::One,
        };
        if rep != Rep::One {
            i += 1;
        }
        atoms.push((atom, rep));
    }
    Some(Pattern { start, atoms, end })
}

fn match_here(atoms: &[(Atom, Rep)], s: &[char], end: bool) -> bool {
    let Some(((atom, rep), rest)) = atoms.split_first() else {
        return !end || s.is_empty();
    };
    match rep {
        Rep::One => !s.is_empty() && atom.matches(s[0]) && match_here(rest, &s[1..], end),
        Rep::Opt => {
            (!s.is_empty() && atom.matches(s[0]) && match_here(rest, &s[1..], end))
                || match_here(rest, s, end)
        }
        Rep::Star | Rep::Plus => {
            let min = usize::from(*rep == Rep::Plus);
            let mut n = 0;
            while n < s.len() && atom.matches(s[n]) {
                n += 1;
            }
            (min..=n).rev().any(|k| match_here(rest, &s[k..], end))
        }
    }
}

/// Docker's `filters.Match`: an exact name, or an (unanchored) regular expression.
fn name_matches(pattern: &str, name: &str) -> bool {
    if pattern == name {
        return true;
    }
    let Some(Pattern { start, atoms, end }) = parse_pattern(pattern) else {
        return name.contains(pattern);
    };
    let s: Vec<char> = name.chars().collect();
    if start {
        return match_here(&atoms, &s, end);
    }
    (0..=s.len()).any(|i| match_here(&atoms, &s[i..], end))
}

// ---- host filesystem helpers ----

/// Mount points at or below `path`, from `/proc/self/mountinfo` (octal escapes decoded).
fn mounts_under(path: &Path) -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .map(|m| PathBuf::from(unescape_mountinfo(m)))
        .filter(|m| m.starts_with(path))
        .collect()
}

fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            let octal = std::str::from_utf8(&b[i + 1..i + 4]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(octal, 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_mount_point(path: &Path) -> bool {
    mounts_under(path).iter().any(|m| m == path)
}

/// moby/sys/mount's option table: flags for the names it knows, the rest is data.
fn mount_flags(o: &str) -> (nix::mount::MsFlags, String) {
    use nix::mount::MsFlags as F;
    let mut flags = F::empty();
    let mut data = Vec::new();
    for opt in o.split(',').filter(|s| !s.is_empty()) {
        let (set, clear) = match opt {
            "defaults" => (F::empty(), F::empty()),
            "ro" => (F::MS_RDONLY, F::empty()),
            "rw" => (F::empty(), F::MS_RDONLY),
            "suid" => (F::empty(), F::MS_NOSUID),
            "nosuid" => (F::MS_NOSUID, F::empty()),
            "dev" => (F::empty(), F::MS_NODEV),
            "nodev" => (F::MS_NODEV, F::empty()),
            "exec" => (F::empty(), F::MS_NOEXEC),
            "noexec" => (F::MS_NOEXEC, F::empty()),
            "sync" => (F::MS_SYNCHRONOUS, F::empty()),
            "async" => (F::empty(), F::MS_SYNCHRONOUS),
            "dirsync" => (F::MS_DIRSYNC, F::empty()),
            "mand" => (F::MS_MANDLOCK, F::empty()),
            "nomand" => (F::empty(), F::MS_MANDLOCK),
            "atime" => (F::empty(), F::MS_NOATIME),
            "noatime" => (F::MS_NOATIME, F::empty()),
            "diratime" => (F::empty(), F::MS_NODIRATIME),
            "nodiratime" => (F::MS_NODIRATIME, F::empty()),
            "bind" => (F::MS_BIND, F::empty()),
            "rbind" => (F::MS_BIND | F::MS_REC, F::empty()),
            "relatime" => (F::MS_RELATIME, F::empty()),
            "norelatime" => (F::empty(), F::MS_RELATIME),
            "strictatime" => (F::MS_STRICTATIME, F::empty()),
            "nostrictatime" => (F::empty(), F::MS_STRICTATIME),
            other => {
                data.push(other.to_string());
                continue;
            }
        };
        flags.insert(set);
        flags.remove(clear);
    }
    (flags, data.join(","))
}

/// Mounts a volume's `device` on its data directory, as the `local` driver does at first use.
fn mount_volume(v: &VolumeRecord, target: &Path) -> Result<()> {
    use nix::mount::MsFlags as F;
    let opts = v.options.clone().unwrap_or_default();
    let device = opts.get("device").cloned().unwrap_or_default();
    let typ = opts.get("type").cloned().unwrap_or_default();
    let o = opts.get("o").cloned().unwrap_or_default();
    let fail = |e: String| {
        Error::Internal(format!(
            "error while mounting volume '{}': failed to mount local volume: {e}",
            target.display()
        ))
    };
    if device.is_empty() {
        return Err(fail("missing device in volume options".into()));
    }
    let (flags, data) = mount_flags(&o);
    let data_opt = (!data.is_empty()).then_some(data.as_str());
    let typ_opt = (!typ.is_empty()).then_some(typ.as_str());
    nix::mount::mount(Some(device.as_str()), target, typ_opt, flags, data_opt).map_err(|e| {
        fail(format!(
            "mount {device}:{}, flags: {:#x}, data: {data}: {}",
            target.display(),
            flags.bits(),
            e.desc()
        ))
    })?;
    // A bind mount ignores most flags until it is remounted.
    if flags.contains(F::MS_BIND)
        && flags.intersects(F::MS_RDONLY | F::MS_NOSUID | F::MS_NODEV | F::MS_NOEXEC)
    {
        let remount = F::MS_REMOUNT
            | F::MS_BIND
            | (flags & (F::MS_RDONLY | F::MS_NOSUID | F::MS_NODEV | F::MS_NOEXEC));
        if let Err(e) = nix::mount::mount(None::<&str>, target, None::<&str>, remount, None::<&str>)
        {
            let _ = nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH);
            return Err(fail(format!("remount {}: {}", target.display(), e.desc())));
        }
    }
    Ok(())
}

fn unmount_volume(target: &Path) -> Result<()> {
    while is_mount_point(target) {
        if let Err(e) = nix::mount::umount2(target, nix::mount::MntFlags::empty()) {
            if e == nix::errno::Errno::EBUSY {
                nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH).map_err(|e| {
                    Error::Internal(format!("unmounting {}: {}", target.display(), e.desc()))
                })?;
            } else {
                return Err(Error::Internal(format!(
                    "unmounting {}: {}",
                    target.display(),
                    e.desc()
                )));
            }
        }
    }
    Ok(())
}

/// `path` (absolute, inside the container) resolved under `root` the way the container would
/// see it: symlinks are followed but never leave `root`.
fn resolve_in_root(root: &Path, path: &str) -> Option<PathBuf> {
    let mut todo: Vec<String> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_string)
        .rev()
        .collect();
    let mut cur: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(c) = todo.pop() {
        if c == ".." {
            cur.pop();
            continue;
        }
        cur.push(c);
        let full = cur.iter().fold(root.to_path_buf(), |p, c| p.join(c));
        let Ok(md) = std::fs::symlink_metadata(&full) else {
            return None;
        };
        if !md.file_type().is_symlink() {
            continue;
        }
        links += 1;
        if links > 40 {
            return None;
        }
        let target = std::fs::read_link(&full).ok()?;
        cur.pop();
        let t = target.to_string_lossy().into_owned();
        if t.starts_with('/') {
            cur.clear();
        }
        todo.extend(
            t.split('/')
                .filter(|c| !c.is_empty() && *c != ".")
                .map(str::to_string)
                .rev(),
        );
    }
    Some(cur.iter().fold(root.to_path_buf(), |p, c| p.join(c)))
}

fn cstring(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// Copies extended attributes (file capabilities, ACLs, …) without following symlinks; an
/// attribute the target filesystem refuses is skipped.
fn copy_xattrs(src: &Path, dst: &Path) -> io::Result<()> {
    let (s, d) = (cstring(src)?, cstring(dst)?);
    // SAFETY: a null buffer with size 0 asks only for the needed length.
    let len = unsafe { libc::llistxattr(s.as_ptr(), std::ptr::null_mut(), 0) };
    if len <= 0 {
        return Ok(());
    }
    let mut names = vec![0u8; len as usize];
    // SAFETY: `names` is a writable buffer of exactly the length passed.
    let len = unsafe { libc::llistxattr(s.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    if len <= 0 {
        return Ok(());
    }
    names.truncate(len as usize);
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        if name.starts_with(b"trusted.overlay.") {
            continue;
        }
        let Ok(cname) = CString::new(name) else {
            continue;
        };
        // SAFETY: null buffer, size 0: a length query.
        let vlen = unsafe { libc::lgetxattr(s.as_ptr(), cname.as_ptr(), std::ptr::null_mut(), 0) };
        if vlen < 0 {
            continue;
        }
        let mut value = vec![0u8; vlen as usize];
        // SAFETY: `value` is writable for exactly the length passed.
        let vlen = unsafe {
            libc::lgetxattr(
                s.as_ptr(),
                cname.as_ptr(),
                value.as_mut_ptr().cast(),
                value.len(),
            )
        };
        if vlen < 0 {
            continue;
        }
        // SAFETY: all pointers are valid C strings / a readable buffer of the given length.
        unsafe {
            libc::lsetxattr(
                d.as_ptr(),
                cname.as_ptr(),
                value.as_ptr().cast(),
                vlen as usize,
                0,
            )
        };
    }
    Ok(())
}

fn copy_times(md: &std::fs::Metadata, dst: &Path) -> io::Result<()> {
    use nix::sys::stat::{utimensat, UtimensatFlags};
    use nix::sys::time::TimeSpec;
    let at = TimeSpec::new(md.atime(), md.atime_nsec());
    let mt = TimeSpec::new(md.mtime(), md.mtime_nsec());
    utimensat(None, dst, &at, &mt, UtimensatFlags::NoFollowSymlink).map_err(io::Error::from)
}

/// Owner, xattrs, mode (after chown, which clears set-id bits) and times of `src` onto `dst`.
fn copy_metadata(md: &std::fs::Metadata, src: &Path, dst: &Path) -> io::Result<()> {
    std::os::unix::fs::lchown(dst, Some(md.uid()), Some(md.gid()))?;
    copy_xattrs(src, dst)?;
    if !md.file_type().is_symlink() {
        std::fs::set_permissions(dst, std::fs::Permissions::from_mode(md.mode() & 0o7777))?;
    }
    copy_times(md, dst)
}

/// Copies the tree under `src` into the existing directory `dst`, keeping owners, modes,
/// times, xattrs, symlinks, hard links and device nodes; never follows a symlink.
fn copy_tree(src: &Path, dst: &Path) -> io::Result<()> {
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    copy_dir_contents(src, dst, &mut links)?;
    let md = std::fs::symlink_metadata(src)?;
    copy_metadata(&md, src, dst)
}

fn copy_dir_contents(
    src: &Path,
    dst: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> io::Result<()> {
    use nix::sys::stat::{Mode, SFlag};
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let (s, d) = (entry.path(), dst.join(entry.file_name()));
        let md = std::fs::symlink_metadata(&s)?;
        let ft = md.file_type();
        if !ft.is_dir() && md.nlink() > 1 {
            if let Some(first) = links.get(&(md.dev(), md.ino())) {
                std::fs::hard_link(first, &d)?;
                continue;
            }
            links.insert((md.dev(), md.ino()), d.clone());
        }
        if ft.is_dir() {
            std::fs::create_dir(&d)?;
            copy_dir_contents(&s, &d, links)?;
        } else if ft.is_file() {
            let mut from = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&s)?;
            let mut to = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&d)?;
            io::copy(&mut from, &mut to)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&s)?, &d)?;
        } else {
            use std::os::unix::fs::FileTypeExt;
            let kind = if ft.is_char_device() {
                SFlag::S_IFCHR
            } else if ft.is_block_device() {
                SFlag::S_IFBLK
            } else if ft.is_fifo() {
                SFlag::S_IFIFO
            } else {
                // Sockets belong to the process that made them; nothing to copy.
                continue;
            };
            nix::sys::stat::mknod(
                &d,
                kind,
                Mode::from_bits_truncate(md.mode() & 0o7777),
                md.rdev(),
            )
            .map_err(io::Error::from)?;
        }
        copy_metadata(&md, &s, &d)?;
    }
    Ok(())
}

/// Bytes used under `path`: sizes of everything but directories, each inode once.
fn tree_size(path: &Path) -> u64 {
    fn walk(p: &Path, seen: &mut HashSet<(u64, u64)>) -> u64 {
        let Ok(rd) = std::fs::read_dir(p) else {
            return 0;
        };
        let mut total = 0;
        for e in rd.flatten() {
            let Ok(md) = e.path().symlink_metadata() else {
                continue;
            };
            if md.is_dir() {
                total += walk(&e.path(), seen);
            } else if md.nlink() <= 1 || seen.insert((md.dev(), md.ino())) {
                total += md.len();
            }
        }
        total
    }
    walk(path, &mut HashSet::new())
}

fn dir_is_empty(p: &Path) -> bool {
    std::fs::read_dir(p).is_ok_and(|mut rd| rd.next().is_none())
}

fn mkdir_mode(p: &Path, mode: u32) -> Result<()> {
    match std::fs::create_dir(p) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(Error::io(format!("creating {}", p.display()))(e)),
    }
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .map_err(Error::io(format!("chmod {}", p.display())))
}

fn row_to_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<VolumeRecord> {
    let labels: String = r.get(3)?;
    let options: String = r.get(4)?;
    Ok(VolumeRecord {
        name: r.get(0)?,
        driver: r.get(1)?,
        created: r.get(2)?,
        labels: serde_json::from_str(&labels).unwrap_or(None),
        options: serde_json::from_str(&options).unwrap_or(None),
    })
}

impl Engine {
    /// Creates the tables once per database (the first volume call after the daemon opens).
    fn volume_db(&self) -> Result<()> {
        static DONE: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
        let done = DONE.get_or_init(|| Mutex::new(HashSet::new()));
        let mut done = done.lock().unwrap_or_else(|p| p.into_inner());
        if done.contains(self.root()) {
            return Ok(());
        }
        self.store.migrate_extra(MIGRATION, SCHEMA)?;
        done.insert(self.root().to_path_buf());
        Ok(())
    }

    fn volumes_dir(&self) -> PathBuf {
        self.root().join("volumes")
    }

    /// `<root>/volumes/<name>/_data`, the volume's `Mountpoint`.
    pub fn volume_data_path(&self, name: &str) -> PathBuf {
        self.volumes_dir().join(name).join(DATA_DIR)
    }

    fn load_volume(&self, name: &str) -> Result<Option<VolumeRecord>> {
        self.volume_db()?;
        Ok(self.store.with_conn(|c| {
            use rusqlite::OptionalExtension;
            c.query_row(
                "SELECT name, driver, created, labels, options FROM volumes WHERE name = ?1",
                [name],
                row_to_record,
            )
            .optional()
        })?)
    }

    fn all_volumes(&self) -> Result<Vec<VolumeRecord>> {
        self.volume_db()?;
        Ok(self.store.with_conn(|c| {
            let mut st = c.prepare(
                "SELECT name, driver, created, labels, options FROM volumes ORDER BY name",
            )?;
            let rows = st.query_map([], row_to_record)?;
            rows.collect()
        })?)
    }

    /// Volume name → IDs of the existing containers that reference it.
    fn volume_refs(&self) -> Result<BTreeMap<String, BTreeSet<String>>> {
        self.volume_db()?;
        let rows: Vec<(String, String)> = self.store.with_conn(|c| {
            let mut st = c.prepare("SELECT volume, container_id FROM volume_mounts")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })?;
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (vol, id) in rows {
            if self.containers.find(&id).is_ok_and(|c| c.id == id) {
                out.entry(vol).or_default().insert(id);
            }
        }
        Ok(out)
    }

    fn container_volume_mounts(&self, id: &str) -> Result<Vec<VolumeMount>> {
        self.volume_db()?;
        let docs: Vec<String> = self.store.with_conn(|c| {
            let mut st = c.prepare(
                "SELECT doc FROM volume_mounts WHERE container_id = ?1 ORDER BY destination",
            )?;
            let rows = st.query_map([id], |r| r.get::<_, String>(0))?;
            rows.collect()
        })?;
        Ok(docs
            .iter()
            .filter_map(|d| serde_json::from_str(d).ok())
            .collect())
    }

    fn volume_json(&self, v: &VolumeRecord) -> Value {
        json!({
            "CreatedAt": created_at(&v.created),
            "Driver": v.driver,
            "Labels": v.labels,
            "Mountpoint": self.volume_data_path(&v.name).display().to_string(),
            "Name": v.name,
            "Options": v.options,
            "Scope": "local",
        })
    }

    /// Creates a volume (or returns the existing one of that name, unchanged). The caller
    /// holds the volume lock. Returns the record and whether it is new.
    fn create_volume_locked(
        &self,
        name: &str,
        driver: &str,
        options: Option<BTreeMap<String, String>>,
        labels: Option<BTreeMap<String, String>>,
    ) -> Result<(VolumeRecord, bool)> {
        let name = if name.is_empty() {
            random_hex_name()
        } else {
            name.to_string()
        };
        check_driver(&name, driver)?;
        if let Some(existing) = self.load_volume(&name)? {
            return Ok((existing, false));
        }
        validate_name(&name)?;
        if let Some(o) = &options {
            validate_options(&name, o)?;
        }
        let rec = VolumeRecord {
            name: name.clone(),
            driver: LOCAL_DRIVER.into(),
            created: now_rfc3339(),
            labels,
            options,
        };
        let base = self.volumes_dir();
        let dir = base.join(&name);
        mkdir_mode(&base, 0o701)?;
        mkdir_mode(&dir, 0o701)?;
        mkdir_mode(&dir.join(DATA_DIR), 0o755)?;
        let (labels, options) = (to_json_text(&rec.labels)?, to_json_text(&rec.options)?);
        let saved = self.store.with_tx(|tx| {
            tx.execute(
                "INSERT INTO volumes (name, driver, created, labels, options)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![rec.name, rec.driver, rec.created, labels, options],
            )?;
            Ok(())
        });
        if let Err(e) = saved {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e.into());
        }
        self.publish("volume", "create", &name, &[("driver", LOCAL_DRIVER)]);
        Ok((rec, true))
    }

    /// `POST /volumes/create`: `{"Name", "Driver", "DriverOpts", "Labels"}`; an empty name
    /// makes an anonymous volume with a random 64-hex name.
    pub fn create_volume(&self, body: &Value) -> Result<Value> {
        let name = body["Name"].as_str().unwrap_or_default();
        let driver = body["Driver"].as_str().unwrap_or_default();
        let _g = volume_lock();
        let (rec, _) = self.create_volume_locked(
            name,
            driver,
            string_map(&body["DriverOpts"]),
            string_map(&body["Labels"]),
        )?;
        Ok(self.volume_json(&rec))
    }

    /// `GET /volumes/{name}`.
    pub fn inspect_volume(&self, name: &str) -> Result<Value> {
        let v = self
            .load_volume(name)?
            .ok_or_else(|| no_such_volume(name))?;
        Ok(self.volume_json(&v))
    }

    /// `GET /volumes?filters=`: `dangling`, `name` (a regular expression, as in Docker),
    /// `driver`, `label`.
    pub fn list_volumes(&self, filters: &Filters) -> Result<Value> {
        filters.validate(&["dangling", "name", "driver", "label"])?;
        let dangling = filters.bool("dangling")?;
        let refs = self.volume_refs()?;
        let mut out = Vec::new();
        for v in self.all_volumes()? {
            let name_ok = filters.get("name").is_empty()
                || filters.get("name").iter().any(|p| name_matches(p, &v.name));
            let driver_ok = filters.get("driver").is_empty()
                || filters.get("driver").iter().any(|d| d == &v.driver);
            let dangling_ok = dangling.is_none_or(|d| d != refs.contains_key(&v.name));
            if name_ok && driver_ok && dangling_ok && filters.match_labels("label", &v.label_map())
            {
                out.push(self.volume_json(&v));
            }
        }
        Ok(json!({"Volumes": out, "Warnings": null}))
    }

    /// Unmounts and deletes a volume that nothing references. The caller holds the lock.
    fn remove_volume_locked(&self, v: &VolumeRecord, force: bool) -> Result<()> {
        let dir = self.volumes_dir().join(&v.name);
        let data = dir.join(DATA_DIR);
        let removed = (|| {
            if v.needs_mount() {
                unmount_volume(&data)?;
            }
            // Deleting through a mount would delete someone else's files.
            if let Some(m) = mounts_under(&dir).first() {
                return Err(Error::Conflict(format!(
                    "remove {}: {} is still mounted",
                    v.name,
                    m.display()
                )));
            }
            match std::fs::remove_dir_all(&dir) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::Internal(format!(
                    "remove {}: error removing volume path '{}': {e}",
                    v.name,
                    dir.display()
                ))),
                _ => Ok(()),
            }
        })();
        if removed.is_err() && !force {
            return removed;
        }
        self.store.with_tx(|tx| {
            tx.execute("DELETE FROM volumes WHERE name = ?1", [&v.name])?;
            Ok(())
        })?;
        if removed.is_ok() {
            self.publish("volume", "destroy", &v.name, &[("driver", &v.driver)]);
        }
        Ok(())
    }

    /// `DELETE /volumes/{name}?force=`: refused while any container references the volume;
    /// `force` makes a missing volume a success and drops the record even when its data cannot
    /// be deleted.
    pub fn remove_volume(&self, name: &str, force: bool) -> Result<()> {
        let _g = volume_lock();
        let Some(v) = self.load_volume(name)? else {
            return if force {
                Ok(())
            } else {
                Err(no_such_volume(name))
            };
        };
        if let Some(ids) = self.volume_refs()?.get(name) {
            return Err(Error::Conflict(format!(
                "remove {name}: volume is in use - [{}]",
                ids.iter().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        self.remove_volume_locked(&v, force)
    }

    /// `POST /volumes/prune`: every `local` volume no container references (named and
    /// anonymous alike: API 1.41), except volumes with mount options, whose data lives
    /// elsewhere. Filters: `label`, `label!`, and `all` (accepted; always true on 1.41).
    pub fn prune_volumes(&self, filters: &Filters) -> Result<Value> {
        filters.validate(&["label", "label!", "all"])?;
        if let [one] = filters.get("all") {
            if !matches!(
                one.to_ascii_lowercase().as_str(),
                "1" | "t" | "true" | "0" | "f" | "false"
            ) {
                return Err(Error::InvalidParameter(format!(
                    "invalid filter 'all': strconv.ParseBool: parsing \"{one}\": invalid syntax"
                )));
            }
        } else if filters.get("all").len() > 1 {
            return Err(Error::InvalidParameter(format!(
                "invalid filter 'all=[{}]': only one value is expected",
                filters.get("all").join(" ")
            )));
        }
        let _g = volume_lock();
        let refs = self.volume_refs()?;
        let mut deleted = Vec::new();
        let mut reclaimed = 0u64;
        for v in self.all_volumes()? {
            let labels = v.label_map();
            if v.driver != LOCAL_DRIVER
                || v.has_options()
                || refs.contains_key(&v.name)
                || !filters.match_labels("label", &labels)
                || filters
                    .get("label!")
                    .iter()
                    .any(|l| crate::filters::label_matches(l, &labels))
            {
                continue;
            }
            let size = tree_size(&self.volume_data_path(&v.name));
            match self.remove_volume_locked(&v, false) {
                Ok(()) => {
                    reclaimed += size;
                    deleted.push(v.name.clone());
                }
                Err(e) => tracing::warn!(volume = %v.name, error = %e, "pruning volume"),
            }
        }
        self.publish(
            "volume",
            "prune",
            "",
            &[("reclaimed", &reclaimed.to_string())],
        );
        Ok(json!({"VolumesDeleted": deleted, "SpaceReclaimed": reclaimed}))
    }

    /// The `Volumes` of `GET /system/df`: `local` volumes without mount options, with their
    /// exact size and how many containers reference them.
    pub fn volumes_disk_usage(&self) -> Result<Vec<Value>> {
        let refs = self.volume_refs()?;
        Ok(self
            .all_volumes()?
            .iter()
            .filter(|v| v.driver == LOCAL_DRIVER && !v.has_options())
            .map(|v| {
                let mut j = self.volume_json(v);
                j["UsageData"] = json!({
                    "Size": tree_size(&self.volume_data_path(&v.name)),
                    "RefCount": refs.get(&v.name).map_or(0, BTreeSet::len),
                });
                j
            })
            .collect())
    }

    // ---- containers ----

    /// At container create: the volumes the request uses (creating missing named volumes and
    /// new anonymous ones) recorded as references of container `id`. The caller keeps the
    /// returned guard until the container record is saved, so no volume removal can slip in
    /// between (references of a container that was never saved are ignored).
    pub(crate) fn create_container_volumes(
        &self,
        id: &str,
        config: &Value,
        host_config: &Value,
    ) -> Result<MutexGuard<'static, ()>> {
        let wanted = wanted_volumes(config, host_config)?;
        self.volume_db()?;
        let guard = volume_lock();
        if wanted.is_empty() {
            return Ok(guard);
        }
        let mut mounts = Vec::new();
        let mut created_anonymous = Vec::new();
        let mut failure = None;
        for w in wanted {
            match self.create_volume_locked(&w.name, &w.driver, w.options, w.labels) {
                Ok((rec, new)) => {
                    if new && w.mount.anonymous {
                        created_anonymous.push(rec.clone());
                    }
                    mounts.push(VolumeMount {
                        name: rec.name,
                        ..w.mount
                    });
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let saved = match failure {
            Some(e) => Err(e),
            None => {
                let docs = mounts
                    .iter()
                    .map(|m| Ok((m, to_json_text(m)?)))
                    .collect::<Result<Vec<_>>>()?;
                self.store
                    .with_tx(|tx| {
                        for (m, doc) in &docs {
                            tx.execute(
                                "INSERT OR REPLACE INTO volume_mounts (container_id, destination, volume, doc)
                                 VALUES (?1, ?2, ?3, ?4)",
                                rusqlite::params![id, m.destination, m.name, doc],
                            )?;
                        }
                        Ok(())
                    })
                    .map_err(Error::from)
            }
        };
        if saved.is_err() {
            for v in &created_anonymous {
                let _ = self.remove_volume_locked(v, true);
            }
        }
        saved.map(|()| guard)
    }

    /// At container removal: drops its references; a `--rm` container's anonymous volumes go
    /// with it, as in Docker.
    pub(crate) fn drop_container_volumes(&self, c: &ContainerRecord) {
        let mounts = match self.container_volume_mounts(&c.id) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(id = %c.id, error = %e, "reading container volumes");
                return;
            }
        };
        if mounts.is_empty() {
            return;
        }
        let _g = volume_lock();
        if let Err(e) = self.store.with_tx(|tx| {
            tx.execute("DELETE FROM volume_mounts WHERE container_id = ?1", [&c.id])?;
            Ok(())
        }) {
            tracing::warn!(id = %c.id, error = %e, "releasing container volumes");
            return;
        }
        if c.host_config["AutoRemove"].as_bool().unwrap_or(false) {
            let names: Vec<String> = mounts
                .into_iter()
                .filter(|m| m.anonymous)
                .map(|m| m.name)
                .collect();
            self.remove_unused_volumes_locked(&names);
        }
    }

    /// Removes those of `names` that nothing references any more (anonymous volumes another
    /// container still uses stay, without an error).
    fn remove_unused_volumes_locked(&self, names: &[String]) {
        let Ok(refs) = self.volume_refs() else { return };
        for name in names {
            if refs.contains_key(name) {
                continue;
            }
            if let Ok(Some(v)) = self.load_volume(name) {
                if let Err(e) = self.remove_volume_locked(&v, false) {
                    tracing::warn!(volume = %name, error = %e, "removing anonymous volume");
                }
            }
        }
    }

    /// `DELETE /containers/{id}?force=&v=`: the removal, then (with `v`) the container's
    /// anonymous volumes that no other container uses.
    pub async fn remove_container_and_volumes(
        self: Arc<Self>,
        key: &str,
        force: bool,
        volumes: bool,
    ) -> Result<()> {
        let anonymous: Vec<String> = match self.containers.find(key) {
            Ok(c) if volumes => {
                let e = self.clone();
                tokio::task::spawn_blocking(move || e.container_volume_mounts(&c.id))
                    .await
                    .map_err(|e| Error::Internal(e.to_string()))??
                    .into_iter()
                    .filter(|m| m.anonymous)
                    .map(|m| m.name)
                    .collect()
            }
            _ => Vec::new(),
        };
        self.clone().remove_container_forced(key, force).await?;
        if !anonymous.is_empty() {
            let e = self.clone();
            let _ = tokio::task::spawn_blocking(move || {
                let _g = volume_lock();
                e.remove_unused_volumes_locked(&anonymous);
            })
            .await;
        }
        Ok(())
    }

    /// The container's HostConfig with every volume turned into a mount of its data
    /// directory, for the spec builder. Mounts volumes that have mount options, and copies the
    /// image's content into a new, empty volume the first time the container starts.
    pub(crate) fn volume_host_config(&self, c: &ContainerRecord, rootfs: &Path) -> Result<Value> {
        let mounts = self.container_volume_mounts(&c.id)?;
        if mounts.is_empty() {
            return Ok(c.host_config.clone());
        }
        let _g = volume_lock();
        let mut hc = c.host_config.clone();
        let binds: Vec<Value> = hc["Binds"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|b| {
                b.as_str()
                    .and_then(|s| parse_bind(s).ok())
                    .is_none_or(|b| !b.is_volume)
            })
            .cloned()
            .collect();
        let mut api_mounts: Vec<Value> = hc["Mounts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["Type"].as_str() != Some("volume"))
            .cloned()
            .collect();
        for m in &mounts {
            let v = self
                .load_volume(&m.name)?
                .ok_or_else(|| no_such_volume(&m.name))?;
            let data = self.volume_data_path(&v.name);
            if !data.is_dir() {
                mkdir_mode(&self.volumes_dir(), 0o701)?;
                mkdir_mode(&self.volumes_dir().join(&v.name), 0o701)?;
                mkdir_mode(&data, 0o755)?;
            }
            if v.needs_mount() && !is_mount_point(&data) {
                mount_volume(&v, &data)?;
            }
            if m.copy_pending {
                self.copy_up(c, m, rootfs, &data)?;
            }
            api_mounts.push(json!({
                "Type": "volume",
                "Source": data.display().to_string(),
                "Target": m.destination,
                "ReadOnly": !m.rw,
            }));
            self.publish(
                "volume",
                "mount",
                &v.name,
                &[
                    ("container", &c.id),
                    ("destination", &m.destination),
                    ("driver", &v.driver),
                    ("propagation", ""),
                    ("read/write", if m.rw { "true" } else { "false" }),
                ],
            );
        }
        hc["Binds"] = if binds.is_empty() {
            Value::Null
        } else {
            Value::Array(binds)
        };
        hc["Mounts"] = Value::Array(api_mounts);
        Ok(hc)
    }

    /// Docker's copy-up: the image's directory at the destination fills an empty volume.
    /// Tried once per container mount; a volume that already holds data is left alone.
    fn copy_up(
        &self,
        c: &ContainerRecord,
        m: &VolumeMount,
        rootfs: &Path,
        data: &Path,
    ) -> Result<()> {
        if let Some(src) = resolve_in_root(rootfs, &m.destination) {
            if src.is_dir() && !dir_is_empty(&src) && dir_is_empty(data) {
                copy_tree(&src, data).map_err(|e| {
                    Error::Internal(format!(
                        "copying image content at {} into volume {}: {e}",
                        m.destination, m.name
                    ))
                })?;
            }
        }
        let done = VolumeMount {
            copy_pending: false,
            ..m.clone()
        };
        let doc = to_json_text(&done)?;
        self.store.with_tx(|tx| {
            tx.execute(
                "UPDATE volume_mounts SET doc = ?3 WHERE container_id = ?1 AND destination = ?2",
                rusqlite::params![c.id, m.destination, doc],
            )?;
            Ok(())
        })?;
        Ok(())
    }

    /// When container `id` stops: unmounts its volumes with mount options that no other
    /// running container uses.
    pub(crate) fn release_volume_mounts(&self, id: &str) {
        let Ok(mounts) = self.container_volume_mounts(id) else {
            return;
        };
        if mounts.is_empty() {
            return;
        }
        let _g = volume_lock();
        let refs = self.volume_refs().unwrap_or_default();
        for m in &mounts {
            let Ok(Some(v)) = self.load_volume(&m.name) else {
                continue;
            };
            self.publish(
                "volume",
                "unmount",
                &v.name,
                &[("container", id), ("driver", &v.driver)],
            );
            if !v.needs_mount() {
                continue;
            }
            let still_used = refs.get(&v.name).is_some_and(|ids| {
                ids.iter().any(|other| {
                    other != id && self.containers.find(other).is_ok_and(|c| c.is_running())
                })
            });
            if !still_used {
                if let Err(e) = unmount_volume(&self.volume_data_path(&v.name)) {
                    tracing::warn!(volume = %v.name, error = %e, "unmounting volume");
                }
            }
        }
    }

    /// The `Mounts` of inspect and `ps`: binds, tmpfs mounts and volumes, by destination.
    pub(crate) fn container_mounts(&self, c: &ContainerRecord) -> Value {
        let mut out: BTreeMap<String, Value> = BTreeMap::new();
        let hc = &c.host_config;
        for raw in hc["Binds"].as_array().into_iter().flatten() {
            let Some(b) = raw.as_str().and_then(|s| parse_bind(s).ok()) else {
                continue;
            };
            if b.is_volume {
                continue;
            }
            let propagation = b
                .mode
                .split(',')
                .find(|o| PROPAGATIONS.contains(o))
                .unwrap_or("rprivate");
            out.insert(
                b.destination.clone(),
                json!({
                    "Type": "bind", "Source": clean_path(&b.source),
                    "Destination": b.destination, "Mode": b.mode, "RW": !b.read_only,
                    "Propagation": propagation,
                }),
            );
        }
        for m in hc["Mounts"].as_array().into_iter().flatten() {
            let typ = m["Type"].as_str().unwrap_or_default();
            let dest = clean_path(m["Target"].as_str().unwrap_or_default());
            let rw = !m["ReadOnly"].as_bool().unwrap_or(false);
            let entry = match typ {
                "bind" => json!({
                    "Type": "bind", "Source": clean_path(m["Source"].as_str().unwrap_or_default()),
                    "Destination": dest, "Mode": "", "RW": rw,
                    "Propagation": m["BindOptions"]["Propagation"].as_str()
                        .filter(|p| !p.is_empty()).unwrap_or("rprivate"),
                }),
                "tmpfs" => json!({
                    "Type": "tmpfs", "Source": "", "Destination": dest, "Mode": "", "RW": rw,
                    "Propagation": "",
                }),
                _ => continue,
            };
            out.insert(dest, entry);
        }
        for m in self.container_volume_mounts(&c.id).unwrap_or_default() {
            out.insert(
                m.destination.clone(),
                json!({
                    "Type": "volume", "Name": m.name,
                    "Source": self.volume_data_path(&m.name).display().to_string(),
                    "Destination": m.destination, "Driver": LOCAL_DRIVER, "Mode": m.mode,
                    "RW": m.rw, "Propagation": "",
                }),
            );
        }
        Value::Array(out.into_values().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_local_driver_rule() {
        assert!(validate_name("data").is_ok());
        assert!(validate_name("a.b-c_d9").is_ok());
        assert_eq!(
            validate_name("a").unwrap_err().to_string(),
            "create a: volume name is too short, names should be at least two alphanumeric characters"
        );
        assert_eq!(
            validate_name("a/b").unwrap_err().to_string(),
            "create a/b: \"a/b\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        );
        assert!(validate_name("-ab").is_err());
        assert!(validate_name("..").is_err());
    }

    #[test]
    fn options_are_checked_like_the_local_driver() {
        let m = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(validate_options("v", &m(&[])).is_ok());
        assert!(validate_options(
            "v",
            &m(&[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=1m")])
        )
        .is_ok());
        assert_eq!(
            validate_options("v", &m(&[("foo", "bar")]))
                .unwrap_err()
                .to_string(),
            "create v: invalid option: \"foo\""
        );
        assert_eq!(
            validate_options("v", &m(&[("type", "tmpfs")]))
                .unwrap_err()
                .to_string(),
            "create v: missing required option: \"device\""
        );
        assert_eq!(
            validate_options("v", &m(&[("size", "10m")]))
                .unwrap_err()
                .to_string(),
            "create v: quota size requested but no quota support"
        );
        assert!(validate_options("v", &m(&[("size", "0")])).is_ok());
    }

    #[test]
    fn binds_parse_like_docker() {
        let b = parse_bind("data:/srv/").unwrap();
        assert!(b.is_volume && !b.read_only && b.destination == "/srv" && b.mode.is_empty());
        let b = parse_bind("data:/srv:ro,nocopy").unwrap();
        assert!(b.read_only && b.nocopy);
        let b = parse_bind("/anon").unwrap();
        assert!(b.is_volume && b.source.is_empty());
        assert!(!parse_bind("/host:/x").unwrap().is_volume);
        assert_eq!(
            parse_bind("v:/x:bogus").unwrap_err().to_string(),
            "invalid mode: bogus"
        );
        assert_eq!(
            parse_bind("v:/x:rshared").unwrap_err().to_string(),
            "invalid volume specification: 'v:/x:rshared': invalid mount config for type \"volume\": field BindOptions must not be specified"
        );
        assert_eq!(
            parse_bind("v:rel").unwrap_err().to_string(),
            "invalid volume specification: 'v:rel': invalid mount config for type \"volume\": invalid mount path: 'rel' mount path must be absolute"
        );
        assert_eq!(
            parse_bind("v:/").unwrap_err().to_string(),
            "invalid volume specification: 'v:/': invalid mount config for type \"volume\": invalid specification: destination can't be '/'"
        );
        assert!(parse_bind("/x:ro").is_err());
        assert!(parse_bind(":/x").is_err());
        assert!(parse_bind("a:/b:ro:x").is_err());
    }

    #[test]
    fn wanted_volumes_order_dedup_and_modes() {
        let hc = json!({
            "Binds": ["named:/data", "/host:/h:ro", "/anon1"],
            "Mounts": [{"Type": "volume", "Source": "m", "Target": "/m", "VolumeOptions": {"NoCopy": true}},
                       {"Type": "tmpfs", "Target": "/t"}],
            "Tmpfs": {"/run": ""},
        });
        let cfg = json!({"Volumes": {"/data": {}, "/run": {}, "/img/": {}}});
        let w = wanted_volumes(&cfg, &hc).unwrap();
        let got: Vec<(&str, &str, &str, bool, bool)> = w
            .iter()
            .map(|w| {
                (
                    w.name.as_str(),
                    w.mount.destination.as_str(),
                    w.mount.mode.as_str(),
                    w.mount.anonymous,
                    w.mount.copy_pending,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("named", "/data", "z", false, true),
                ("", "/anon1", "z", true, true),
                ("m", "/m", "z", false, false),
                ("", "/img", "", true, true),
            ]
        );
        let dup = json!({"Binds": ["a1:/x", "b1:/x/"]});
        assert_eq!(
            wanted_volumes(&json!({}), &dup).unwrap_err().to_string(),
            "Duplicate mount point: /x"
        );
        let ro_anon = json!({"Mounts": [{"Type": "volume", "Target": "/x", "ReadOnly": true}]});
        assert_eq!(
            wanted_volumes(&json!({}), &ro_anon).unwrap_err().to_string(),
            "invalid mount config for type \"volume\": must not set ReadOnly mode when using anonymous volumes"
        );
    }

    #[test]
    fn name_filter_is_a_regexp() {
        assert!(name_matches("data", "mydata1"));
        assert!(name_matches("^data$", "data"));
        assert!(!name_matches("^data$", "data1"));
        assert!(name_matches("^d.t[a-c]+", "dataaa"));
        assert!(!name_matches("^d.t[a-c]+$", "datx"));
        assert!(name_matches("l[0-9]?$", "vol"));
        assert!(!name_matches("v[0-9]?$", "vol"));
        assert!(name_matches("x|y", "x|y"));
    }

    #[test]
    fn paths_clean_like_go() {
        assert_eq!(clean_path("/a/./b/../c/"), "/a/c");
        assert_eq!(clean_path("//"), "/");
        assert_eq!(clean_path("/.."), "/");
        assert_eq!(clean_path("rel/x"), "rel/x");
    }

    #[test]
    fn mount_options_split_into_flags_and_data() {
        let (f, d) = mount_flags("size=64m,noexec,uid=1000,ro");
        assert!(f.contains(nix::mount::MsFlags::MS_NOEXEC | nix::mount::MsFlags::MS_RDONLY));
        assert_eq!(d, "size=64m,uid=1000");
    }

    #[test]
    fn copy_tree_keeps_links_modes_and_stays_in_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("etc/sub")).unwrap();
        std::fs::write(root.join("etc/passwd"), b"root:x:0:0\n").unwrap();
        std::fs::set_permissions(
            root.join("etc/passwd"),
            std::fs::Permissions::from_mode(0o640),
        )
        .unwrap();
        std::fs::hard_link(root.join("etc/passwd"), root.join("etc/sub/hl")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("etc/link")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("alias")).unwrap();
        std::os::unix::fs::symlink("../../../../..", root.join("escape")).unwrap();
        assert_eq!(resolve_in_root(&root, "/alias"), Some(root.join("etc")));
        assert_eq!(
            resolve_in_root(&root, "/escape/etc"),
            Some(root.join("etc"))
        );
        let dst = t.path().join("dst");
        std::fs::create_dir(&dst).unwrap();
        copy_tree(&root.join("etc"), &dst).unwrap();
        assert_eq!(std::fs::read(dst.join("passwd")).unwrap(), b"root:x:0:0\n");
        let md = std::fs::metadata(dst.join("passwd")).unwrap();
        assert_eq!(md.mode() & 0o777, 0o640);
        assert_eq!(
            md.ino(),
            std::fs::metadata(dst.join("sub/hl")).unwrap().ino()
        );
        assert_eq!(
            std::fs::read_link(dst.join("link")).unwrap(),
            PathBuf::from("/etc/passwd")
        );
        assert_eq!(tree_size(&dst), 11 + "/etc/passwd".len() as u64);
    }
}
