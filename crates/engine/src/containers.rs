//! Containers as the engine records them, and the operations that need no running process:
//! create, inspect, list, rename, remove and prune. Records live in the metadata database (one
//! JSON document per container, written in one transaction per change) and in memory.

use std::collections::BTreeMap;
use std::sync::Mutex;

use berth_store::{Digest, Store};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::names::{random_name, valid_name};
use crate::{Engine, Error, Filters, Result};

const SCHEMA: &str = "CREATE TABLE containers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    image_id TEXT NOT NULL,
    doc TEXT NOT NULL
);";

/// Docker's `State` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerState {
    pub status: String,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: i64,
    pub exit_code: i64,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
}

/// Everything the engine keeps about one container.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ContainerRecord {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    pub created: String,
    /// The image as the user named it (`Config.Image`).
    pub image: String,
    pub image_id: Digest,
    pub path: String,
    pub args: Vec<String>,
    /// Docker's `Config`, merged from the image config and the create request.
    pub config: Value,
    pub host_config: Value,
    pub networking_config: Value,
    pub state: ContainerState,
    pub restart_count: u64,
    /// Stopped or killed by the user: the restart policy is off until a manual start.
    #[serde(default)]
    pub manually_stopped: bool,
    /// While running: its endpoint on each network, by network name.
    #[serde(default)]
    pub endpoints: BTreeMap<String, crate::network::Endpoint>,
    /// While running: its published ports.
    #[serde(default)]
    pub published: Vec<crate::network::Published>,
}

impl ContainerRecord {
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }
    pub fn is_running(&self) -> bool {
        self.state.running || self.state.paused || self.state.restarting
    }
}

/// The in-memory table of containers, mirrored in the database.
pub struct Containers {
    map: Mutex<BTreeMap<String, ContainerRecord>>,
    /// Exit codes of removed containers, for waiters that wake only after the removal
    /// (`wait?condition=removed` on a `--rm` container).
    gone: Mutex<BTreeMap<String, i64>>,
}

const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

impl Containers {
    pub fn load(store: &Store) -> Result<Containers> {
        store.migrate_extra("engine-0001-containers", SCHEMA)?;
        let docs: Vec<String> = store.with_conn(|c| {
            let mut st = c.prepare("SELECT doc FROM containers")?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect()
        })?;
        let mut map = BTreeMap::new();
        for doc in docs {
            match serde_json::from_str::<ContainerRecord>(&doc) {
                Ok(rec) => {
                    map.insert(rec.id.clone(), rec);
                }
                Err(e) => tracing::error!(error = %e, "unreadable container record skipped"),
            }
        }
        Ok(Containers {
            map: Mutex::new(map),
            gone: Mutex::new(BTreeMap::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ContainerRecord>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn all(&self) -> Vec<ContainerRecord> {
        self.lock().values().cloned().collect()
    }

    /// Find by full ID, name (with or without `/`), or unique ID prefix.
    pub fn find(&self, key: &str) -> Result<ContainerRecord> {
        let map = self.lock();
        if let Some(c) = map.get(key) {
            return Ok(c.clone());
        }
        let name = key.strip_prefix('/').unwrap_or(key);
        if let Some(c) = map.values().find(|c| c.name == name) {
            return Ok(c.clone());
        }
        let matches: Vec<&ContainerRecord> = if key.is_empty() {
            Vec::new()
        } else {
            map.values().filter(|c| c.id.starts_with(key)).collect()
        };
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Error::NoSuchContainer(key.to_string())),
            _ => Err(Error::InvalidParameter(format!(
                "multiple IDs found with provided prefix: {key}"
            ))),
        }
    }

    /// The exit code a removed container had.
    pub fn removed_exit_code(&self, id: &str) -> Option<i64> {
        self.gone
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .copied()
    }

    pub fn using_image(&self, image: &Digest) -> Vec<ContainerRecord> {
        self.lock()
            .values()
            .filter(|c| &c.image_id == image)
            .cloned()
            .collect()
    }
}

/// Merge the image's container config with the create request, as Docker does.
fn merge_config(image: &Value, req: &Value, id: &str) -> Value {
    let img = image.as_object().cloned().unwrap_or_default();
    let get = |k: &str| req.get(k).filter(|v| !v.is_null());
    let nonempty = |v: Option<&Value>| {
        v.filter(|x| match x {
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
            _ => true,
        })
        .cloned()
    };
    let mut out = crate::config::docker_config_shape(Some(&Value::Object(img.clone())));
    // Env: image first, request overrides per key.
    let mut env: Vec<String> = Vec::new();
    for v in img
        .get("Env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .chain(get("Env").and_then(Value::as_array).into_iter().flatten())
    {
        if let Some(s) = v.as_str() {
            let key = s.split('=').next().unwrap_or(s);
            env.retain(|e| e.split('=').next() != Some(key));
            env.push(s.to_string());
        }
    }
    out["Env"] = if env.is_empty() {
        Value::Null
    } else {
        json!(env)
    };
    // An explicit entrypoint (even `[""]`) replaces the image's and drops the image's Cmd.
    let entrypoint_given = get("Entrypoint").is_some();
    if entrypoint_given {
        let ep: Vec<Value> = get("Entrypoint")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter(|s| s.as_str() != Some(""))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        out["Entrypoint"] = if ep.is_empty() {
            Value::Null
        } else {
            json!(ep)
        };
    }
    match nonempty(get("Cmd")) {
        Some(cmd) => out["Cmd"] = cmd,
        None if entrypoint_given => out["Cmd"] = Value::Null,
        None => {}
    }
    for key in [
        "WorkingDir",
        "User",
        "StopSignal",
        "Domainname",
        "MacAddress",
    ] {
        if let Some(v) = nonempty(get(key)) {
            out[key] = v;
        }
    }
    if let Some(h) = get("Healthcheck") {
        out["Healthcheck"] = h.clone();
    }
    for key in ["Labels", "ExposedPorts", "Volumes"] {
        let mut merged: Map<String, Value> = img
            .get(key)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if let Some(m) = get(key).and_then(Value::as_object) {
            for (k, v) in m {
                merged.insert(k.clone(), v.clone());
            }
        }
        out[key] = if merged.is_empty() {
            Value::Null
        } else {
            Value::Object(merged)
        };
    }
    for key in [
        "Tty",
        "OpenStdin",
        "StdinOnce",
        "AttachStdin",
        "AttachStdout",
        "AttachStderr",
        "StopTimeout",
    ] {
        if let Some(v) = get(key) {
            out[key] = v.clone();
        }
    }
    out["Hostname"] = nonempty(get("Hostname")).unwrap_or_else(|| json!(&id[..12]));
    out["Image"] = req.get("Image").cloned().unwrap_or(Value::Null);
    out["OnBuild"] = Value::Null;
    out
}

pub(crate) fn string_list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// HostConfig with Docker's defaults for what the request left out.
fn host_config_with_defaults(req: Option<&Value>) -> Value {
    let mut hc = json!({
        "Binds": null,
        "ContainerIDFile": "",
        "LogConfig": {"Type": "json-file", "Config": {}},
        "NetworkMode": "default",
        "PortBindings": {},
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
        "AutoRemove": false,
        "VolumeDriver": "",
        "VolumesFrom": null,
        "CapAdd": null,
        "CapDrop": null,
        "CgroupnsMode": "host",
        "Dns": [],
        "DnsOptions": [],
        "DnsSearch": [],
        "ExtraHosts": null,
        "GroupAdd": null,
        "IpcMode": "private",
        "Cgroup": "",
        "Links": null,
        "OomScoreAdj": 0,
        "PidMode": "",
        "Privileged": false,
        "PublishAllPorts": false,
        "ReadonlyRootfs": false,
        "SecurityOpt": null,
        "UTSMode": "",
        "UsernsMode": "",
        "ShmSize": 67108864,
        "Runtime": "berth",
        "Isolation": "",
        "CpuShares": 0,
        "Memory": 0,
        "NanoCpus": 0,
        "CgroupParent": "",
        "BlkioWeight": 0,
        "CpuPeriod": 0,
        "CpuQuota": 0,
        "CpusetCpus": "",
        "CpusetMems": "",
        "Devices": [],
        "MemoryReservation": 0,
        "MemorySwap": 0,
        "MemorySwappiness": null,
        "OomKillDisable": false,
        "PidsLimit": null,
        "Ulimits": null,
        "MaskedPaths": null,
        "ReadonlyPaths": null,
        "Init": null,
    });
    if let (Some(Value::Object(src)), Value::Object(dst)) = (req, &mut hc) {
        for (k, v) in src {
            if !v.is_null() || !dst.contains_key(k) {
                dst.insert(k.clone(), v.clone());
            }
        }
    }
    // The daemon's default driver, as Docker fills it in.
    if hc["LogConfig"]["Type"].as_str().is_none_or(str::is_empty) {
        hc["LogConfig"]["Type"] = json!("json-file");
    }
    if !hc["LogConfig"]["Config"].is_object() {
        hc["LogConfig"]["Config"] = json!({});
    }
    hc
}

/// Docker's checks on a create request's HostConfig.
/// Log rotation when the user sets none: the json-file log is capped at 5 files of 20 MB (the
/// limits of Docker's `local` driver), so a chatty container cannot fill the disk.
pub const DEFAULT_LOG_MAX_SIZE: u64 = 20 * 1024 * 1024;
pub const DEFAULT_LOG_MAX_FILE: u32 = 5;

/// Docker's size strings (`10k`, `20m`, `1g`, `512`; binary units, optional `b`/`ib`).
fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t
        .strip_suffix("ib")
        .or_else(|| t.strip_suffix('b'))
        .unwrap_or(&t);
    let (num, mult) = match t.chars().last()? {
        'k' => (&t[..t.len() - 1], 1u64 << 10),
        'm' => (&t[..t.len() - 1], 1 << 20),
        'g' => (&t[..t.len() - 1], 1 << 30),
        't' => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num.trim().parse().ok()?;
    (n >= 0.0).then_some((n * mult as f64) as u64)
}

/// The log settings of a container's `HostConfig.LogConfig` (`json-file`, the default, or
/// `none`: `logs` refuses to read), with Docker's errors for what berth does not do.
pub fn log_limits(hc: &Value) -> std::result::Result<crate::shim::LogLimits, String> {
    let lc = &hc["LogConfig"];
    let driver = lc["Type"].as_str().unwrap_or("");
    let opts = lc["Config"].as_object().cloned().unwrap_or_default();
    match driver {
        "" | "json-file" | "local" => {}
        "none" => {
            if let Some(k) = opts.keys().next() {
                return Err(format!("unknown log opt '{k}' for none log driver"));
            }
            // Nothing is kept for `logs`; attach still reads the output through a small
            // buffer file that is truncated at 1 MiB.
            return Ok(crate::shim::LogLimits {
                enabled: true,
                max_size: 1 << 20,
                max_file: 1,
            });
        }
        other => {
            return Err(format!(
                "logger: no log driver named '{other}' is registered"
            ))
        }
    }
    let text = |k: &str| opts.get(k).and_then(Value::as_str).map(str::to_string);
    for k in opts.keys() {
        if !matches!(
            k.as_str(),
            "max-size"
                | "max-file"
                | "compress"
                | "labels"
                | "labels-regex"
                | "env"
                | "env-regex"
                | "tag"
        ) {
            return Err(format!("unknown log opt '{k}' for json-file log driver"));
        }
    }
    if text("compress").is_some_and(|c| c == "true") {
        return Err("compress: compressed rotated logs are not supported by berth".into());
    }
    let (max_size, max_file) = match (text("max-size"), text("max-file")) {
        (None, None) => (DEFAULT_LOG_MAX_SIZE, DEFAULT_LOG_MAX_FILE),
        (size, file) => {
            let max_size = match size {
                Some(s) if s == "-1" => 0,
                Some(s) => parse_size(&s).ok_or_else(|| format!("invalid size: '{s}'"))?,
                None => 0,
            };
            let max_file = match file {
                Some(f) => f
                    .parse::<i64>()
                    .map_err(|_| format!("strconv.Atoi: parsing \"{f}\": invalid syntax"))?,
                None => 1,
            };
            if max_file < 1 {
                return Err("max-file cannot be less than 1".into());
            }
            if max_file > 1 && max_size == 0 {
                return Err("max-file cannot be greater than 1 when max-size is not set".into());
            }
            (max_size, max_file.min(u32::MAX as i64) as u32)
        }
    };
    Ok(crate::shim::LogLimits {
        enabled: true,
        max_size,
        max_file,
    })
}

fn validate_host_config(hc: &Value) -> Result<()> {
    log_limits(hc).map_err(Error::InvalidParameter)?;
    let policy = hc["RestartPolicy"]["Name"].as_str().unwrap_or("");
    if !matches!(
        policy,
        "" | "no" | "always" | "on-failure" | "unless-stopped"
    ) {
        return Err(Error::InvalidParameter(format!(
            "invalid restart policy '{policy}'"
        )));
    }
    if hc["RestartPolicy"]["MaximumRetryCount"]
        .as_i64()
        .unwrap_or(0)
        < 0
    {
        return Err(Error::InvalidParameter(
            "invalid value for restart policy: maximum retry count cannot be negative".into(),
        ));
    }
    if hc["AutoRemove"].as_bool().unwrap_or(false) && !matches!(policy, "" | "no") {
        return Err(Error::InvalidParameter(
            "can't create 'AutoRemove' container with restart policy".into(),
        ));
    }
    let memory = hc["Memory"].as_i64().unwrap_or(0);
    if memory != 0 && memory < 6 * 1024 * 1024 {
        return Err(Error::InvalidParameter(
            "Minimum memory limit allowed is 6MB".into(),
        ));
    }
    let swap = hc["MemorySwap"].as_i64().unwrap_or(0);
    if memory > 0 && swap > 0 && swap < memory {
        return Err(Error::InvalidParameter(
            "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
        ));
    }
    if swap > 0 && memory == 0 {
        return Err(Error::InvalidParameter(
            "You should always set the Memory limit when using Memoryswap limit, see usage".into(),
        ));
    }
    if hc["CpuShares"].as_i64().unwrap_or(0) < 0 {
        return Err(Error::InvalidParameter(
            "invalid CPU shares: must not be negative".into(),
        ));
    }
    if hc["NanoCpus"].as_i64().unwrap_or(0) != 0
        && (hc["CpuQuota"].as_i64().unwrap_or(0) != 0 || hc["CpuPeriod"].as_i64().unwrap_or(0) != 0)
    {
        return Err(Error::Conflict(
            "Conflicting options: Nano CPUs and CPU Period cannot both be set".into(),
        ));
    }
    Ok(())
}

/// go-units `HumanDuration`, used in `Status` strings ("Up 5 seconds").
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let mins = s / 60;
    let hours = s / 3600;
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        _ if mins == 1 => "About a minute".into(),
        _ if mins < 60 => format!("{mins} minutes"),
        _ if (s as f64 / 3600.0).round() as i64 == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", hours / 24 / 365),
    }
}

fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    chrono::DateTime::parse_from_rfc3339(s).ok()
}

/// Directory under the root where deleted containers' directories wait for removal.
pub(crate) const TRASH_DIR: &str = "trash";

impl Engine {
    pub(crate) fn save_container(&self, rec: &ContainerRecord) -> Result<()> {
        let doc = serde_json::to_string(rec).map_err(|e| Error::Internal(e.to_string()))?;
        self.store.with_tx(|tx| {
            tx.execute(
                "INSERT INTO containers (id, name, image_id, doc) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(id) DO UPDATE SET name = excluded.name, doc = excluded.doc",
                rusqlite::params![rec.id, rec.name, rec.image_id.as_str(), doc],
            )?;
            Ok(())
        })?;
        self.containers.insert(rec.clone());
        Ok(())
    }

    pub fn container(&self, key: &str) -> Result<ContainerRecord> {
        self.containers.find(key)
    }

    /// `POST /containers/create?name=`: body is Docker's create request (Config fields plus
    /// `HostConfig` and `NetworkingConfig`). Returns `{"Id", "Warnings"}`.
    pub fn create_container(&self, name: Option<&str>, body: &Value) -> Result<Value> {
        // A start usually follows within milliseconds; its cgroup join then finds the lock warm.
        crate::attach_lock::prime();
        let image = body
            .get("Image")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                Error::InvalidParameter(
                    "config cannot be empty in order to create a container".into(),
                )
            })?;
        let rec_image = self.resolve_image(image)?;
        let cfg = self.image_config(&rec_image.id)?;
        let host_config = host_config_with_defaults(body.get("HostConfig"));
        validate_host_config(&host_config)?;
        let networking_config = body.get("NetworkingConfig").cloned().unwrap_or(Value::Null);
        self.check_container_networks(&host_config, &networking_config)?;
        let id = loop {
            let bytes: [u8; 32] = rand::random();
            let id = hex::encode(bytes);
            // Docker avoids all-digit short IDs: they read as numbers in scripts.
            if !id[..12].chars().all(|c| c.is_ascii_digit()) {
                break id;
            }
        };
        let config = merge_config(cfg.container_config().unwrap_or(&Value::Null), body, &id);
        let mut argv = string_list(&config["Entrypoint"]);
        argv.extend(string_list(&config["Cmd"]));
        if argv.is_empty() {
            return Err(Error::InvalidParameter("No command specified".into()));
        }
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                if !valid_name(n) {
                    return Err(Error::InvalidParameter(format!(
                        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                let n = n.trim_start_matches('/').to_string();
                if let Ok(other) = self.containers.find(&format!("/{n}")) {
                    if other.name == n {
                        return Err(Error::Conflict(format!(
                            "Conflict. The container name \"/{n}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                            other.id
                        )));
                    }
                }
                n
            }
            None => self.unused_name(),
        };
        let rec = ContainerRecord {
            id: id.clone(),
            name,
            created: now_rfc3339(),
            image: image.to_string(),
            image_id: rec_image.id.clone(),
            path: argv[0].clone(),
            args: argv[1..].to_vec(),
            config,
            host_config,
            networking_config,
            state: ContainerState {
                status: "created".into(),
                started_at: ZERO_TIME.into(),
                finished_at: ZERO_TIME.into(),
                ..Default::default()
            },
            restart_count: 0,
            manually_stopped: false,
            endpoints: BTreeMap::new(),
            published: Vec::new(),
        };
        let _volumes = self.create_container_volumes(&id, &rec.config, &rec.host_config)?;
        let dir = self.container_dir(&id);
        std::fs::create_dir_all(&dir).map_err(Error::io(format!("creating {}", dir.display())))?;
        if let Err(e) = self.save_container(&rec) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        self.publish(
            "container",
            "create",
            &id,
            &[("image", image), ("name", &rec.name)],
        );
        Ok(json!({"Id": id, "Warnings": []}))
    }

    fn unused_name(&self) -> String {
        for attempt in 0..20 {
            let n = random_name(attempt);
            // Checked in place: cloning every record per create made it O(containers) in copies.
            if self.containers.lock().values().all(|c| c.name != n) {
                return n;
            }
        }
        format!("berth_{}", hex::encode(rand::random::<[u8; 4]>()))
    }

    pub fn container_dir(&self, id: &str) -> std::path::PathBuf {
        self.root().join("containers").join(id)
    }

    /// `GET /containers/{id}/json`.
    pub fn inspect_container(&self, key: &str) -> Result<Value> {
        let c = self.containers.find(key)?;
        let dir = self.container_dir(&c.id);
        let file = |n: &str| dir.join(n).display().to_string();
        Ok(json!({
            "Id": c.id,
            "Created": c.created,
            "Path": c.path,
            "Args": c.args,
            "State": c.state,
            "Image": c.image_id.as_str(),
            "ResolvConfPath": file("resolv.conf"),
            "HostnamePath": file("hostname"),
            "HostsPath": file("hosts"),
            "LogPath": file(&format!("{}-json.log", c.id)),
            "Name": format!("/{}", c.name),
            "RestartCount": c.restart_count,
            "Driver": "overlay2",
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "ExecIDs": self.container_exec_ids(&c.id),
            "HostConfig": c.host_config,
            "GraphDriver": {"Name": "overlay2", "Data": {
                "UpperDir": file("upper"), "WorkDir": file("work"), "MergedDir": file("merged"),
            }},
            "Mounts": self.container_mounts(&c),
            "Config": c.config,
            "NetworkSettings": self.container_network_settings(&c),
        }))
    }

    /// The `Status` column of `ps`.
    fn status_text(c: &ContainerRecord) -> String {
        let now = chrono::Utc::now();
        let since = |t: &str| {
            parse_time(t)
                .map(|t| human_duration((now - t.with_timezone(&chrono::Utc)).num_seconds()))
                .unwrap_or_default()
        };
        match c.state.status.as_str() {
            "running" | "paused" if c.state.paused => {
                format!("Up {} (Paused)", since(&c.state.started_at))
            }
            "running" | "paused" => format!("Up {}", since(&c.state.started_at)),
            "restarting" => format!(
                "Restarting ({}) {} ago",
                c.state.exit_code,
                since(&c.state.finished_at)
            ),
            "exited" => format!(
                "Exited ({}) {} ago",
                c.state.exit_code,
                since(&c.state.finished_at)
            ),
            "dead" => "Dead".into(),
            "removing" => "Removal In Progress".into(),
            _ => "Created".into(),
        }
    }

    /// `GET /containers/json`.
    pub fn list_containers(
        &self,
        all: bool,
        limit: Option<usize>,
        filters: &Filters,
    ) -> Result<Vec<Value>> {
        filters.validate(&[
            "id",
            "name",
            "label",
            "status",
            "ancestor",
            "exited",
            "before",
            "since",
            "health",
            "isolation",
            "network",
            "volume",
            "expose",
            "publish",
            "is-task",
        ])?;
        let mut list = self.containers.all();
        list.sort_by(|a, b| b.created.cmp(&a.created));
        let statuses = filters.get("status");
        for s in statuses {
            if !matches!(
                s.as_str(),
                "created" | "restarting" | "running" | "removing" | "paused" | "exited" | "dead"
            ) {
                return Err(Error::InvalidParameter(format!(
                    "invalid filter 'status={s}'"
                )));
            }
        }
        let all = all || limit.is_some() || !statuses.is_empty() || filters.contains("exited");
        let ancestors: Vec<Digest> = filters
            .get("ancestor")
            .iter()
            .filter_map(|a| self.store.resolve(a).ok().flatten())
            .collect();
        let created_of = |key: &str| self.containers.find(key).map(|c| c.created);
        let before = filters
            .get("before")
            .first()
            .map(|k| created_of(k))
            .transpose()?;
        let since = filters
            .get("since")
            .first()
            .map(|k| created_of(k))
            .transpose()?;
        let mut out = Vec::new();
        for c in list {
            if !all && !c.is_running() {
                continue;
            }
            let labels: BTreeMap<String, String> = c.config["Labels"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            let id_ok = filters
                .get("id")
                .iter()
                .all(|p| c.id.starts_with(p.as_str()));
            let name_ok = filters
                .get("name")
                .iter()
                .all(|p| c.name.contains(p.as_str()));
            let status_ok = statuses.is_empty() || statuses.iter().any(|s| s == &c.state.status);
            let exited_ok = filters.get("exited").iter().all(|e| {
                c.state.status == "exited" && e.parse::<i64>().ok() == Some(c.state.exit_code)
            });
            let ancestor_ok = filters.get("ancestor").is_empty() || ancestors.contains(&c.image_id);
            let before_ok = before.as_ref().is_none_or(|b| &c.created < b);
            let since_ok = since.as_ref().is_none_or(|s| &c.created > s);
            // Docker's `volume=`: a volume name, or a mount's source or destination path.
            let mounts = self.container_mounts(&c);
            let wanted = filters.get("volume");
            let volume_ok = wanted.is_empty()
                || wanted.iter().any(|v| {
                    mounts.as_array().into_iter().flatten().any(|m| {
                        ["Name", "Source", "Destination"]
                            .iter()
                            .any(|k| m[*k].as_str() == Some(v.as_str()))
                    })
                });
            if !(id_ok
                && volume_ok
                && name_ok
                && status_ok
                && exited_ok
                && ancestor_ok
                && before_ok
                && since_ok
                && filters.match_labels("label", &labels))
            {
                continue;
            }
            let command = std::iter::once(c.path.clone())
                .chain(c.args.iter().cloned())
                .collect::<Vec<_>>()
                .join(" ");
            out.push(json!({
                "Id": c.id,
                "Names": [format!("/{}", c.name)],
                "Image": c.image,
                "ImageID": c.image_id.as_str(),
                "Command": command,
                "Created": parse_time(&c.created).map(|t| t.timestamp()).unwrap_or(0),
                "Ports": self.container_ports_list(&c),
                "Labels": labels,
                "State": c.state.status,
                "Status": Self::status_text(&c),
                "HostConfig": {"NetworkMode": c.host_config["NetworkMode"]},
                "NetworkSettings": {"Networks": self.container_network_settings(&c)["Networks"]},
                "Mounts": mounts,
            }));
            if limit.is_some_and(|l| out.len() >= l) {
                break;
            }
        }
        Ok(out)
    }

    /// `POST /containers/{id}/rename?name=`.
    pub fn rename_container(&self, key: &str, new_name: &str) -> Result<()> {
        let mut c = self.containers.find(key)?;
        if !valid_name(new_name) {
            return Err(Error::InvalidParameter(format!(
                "Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let new_name = new_name.trim_start_matches('/').to_string();
        if new_name == c.name {
            return Err(Error::InvalidParameter(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        if let Some(other) = self
            .containers
            .all()
            .into_iter()
            .find(|o| o.name == new_name)
        {
            return Err(Error::Conflict(format!(
                "Conflict. The container name \"/{new_name}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                other.id
            )));
        }
        let old = std::mem::replace(&mut c.name, new_name.clone());
        self.save_container(&c)?;
        self.publish(
            "container",
            "rename",
            &c.id,
            &[("name", &new_name), ("oldName", &format!("/{old}"))],
        );
        Ok(())
    }

    /// `DELETE /containers/{id}`. A running container needs `force` (and a runtime to stop it).
    pub fn remove_container(&self, key: &str, force: bool) -> Result<()> {
        let c = self.containers.find(key)?;
        if c.is_running() {
            if !force {
                return Err(Error::Conflict(format!(
                    "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
                    c.id
                )));
            }
            return Err(Error::Conflict(format!(
                "You cannot remove a running container {}. It is still running after the kill",
                c.id
            )));
        }
        self.delete_container_record(&c)
    }

    pub(crate) fn delete_container_record(&self, c: &ContainerRecord) -> Result<()> {
        // Never recurse into a still-mounted rootfs: that would delete through the overlay.
        self.release_container(&c.id);
        self.drop_container_volumes(c);
        self.forget_execs(&c.id);
        self.op_locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&c.id);
        self.store.with_tx(|tx| {
            tx.execute("DELETE FROM containers WHERE id = ?1", [&c.id])?;
            Ok(())
        })?;
        {
            let mut gone = self
                .containers
                .gone
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if gone.len() > 1024 {
                gone.clear();
            }
            gone.insert(c.id.clone(), c.state.exit_code);
        }
        self.containers.lock().remove(&c.id);
        self.discard_container_dir(&c.id);
        self.publish(
            "container",
            "destroy",
            &c.id,
            &[("image", &c.image), ("name", &c.name)],
        );
        Ok(())
    }

    /// Removes a deleted container's directory. Once nothing is mounted in it, the directory is
    /// renamed into `<root>/trash` (one rename) and removed by a background thread, so a client
    /// waiting for the removal (`run --rm`) does not wait for the writable layer to be deleted;
    /// what a crash leaves in the trash is removed at the next start ([`Engine::open`]).
    fn discard_container_dir(&self, id: &str) {
        let dir = self.container_dir(id);
        let trash = self.root().join(TRASH_DIR);
        let target = trash.join(id);
        let renamed = !crate::lifecycle::container_dir_mounted(&dir)
            && std::fs::create_dir_all(&trash).is_ok()
            && std::fs::rename(&dir, &target).is_ok();
        let remove = move |d: &std::path::Path| {
            if let Err(e) = std::fs::remove_dir_all(d) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(error = %e, dir = %d.display(), "removing container dir");
                }
            }
        };
        if !renamed {
            remove(&dir);
            return;
        }
        let spawned = std::thread::Builder::new()
            .name("rm-container".into())
            .spawn(move || remove(&target));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "removing container dir in the background");
        }
    }

    /// `POST /containers/prune`: every container that is not running.
    pub fn prune_containers(&self, filters: &Filters) -> Result<Value> {
        filters.validate(&["until", "label", "label!"])?;
        let until = filters
            .get("until")
            .first()
            .map(|u| crate::images::parse_until(u))
            .transpose()?;
        let mut deleted = Vec::new();
        for c in self.containers.all() {
            if c.is_running() {
                continue;
            }
            let created = parse_time(&c.created).map(|t| t.timestamp()).unwrap_or(0);
            if until.is_some_and(|u| created >= u) {
                continue;
            }
            let labels: BTreeMap<String, String> = c.config["Labels"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            if !filters.match_labels("label", &labels)
                || filters
                    .get("label!")
                    .iter()
                    .any(|l| crate::filters::label_matches(l, &labels))
            {
                continue;
            }
            self.delete_container_record(&c)?;
            deleted.push(c.id.clone());
        }
        Ok(json!({
            "ContainersDeleted": if deleted.is_empty() { Value::Null } else { json!(deleted) },
            "SpaceReclaimed": 0,
        }))
    }
}

impl Containers {
    fn insert(&self, rec: ContainerRecord) {
        self.lock().insert(rec.id.clone(), rec);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_follows_docker_rules() {
        let image = json!({"Env": ["PATH=/bin", "A=1"], "Cmd": ["sh"], "Entrypoint": null,
            "WorkingDir": "/w", "Labels": {"a": "1"}});
        let id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let c = merge_config(
            &image,
            &json!({"Image": "x", "Env": ["A=2", "B=3"], "Labels": {"b": "2"}}),
            id,
        );
        assert_eq!(c["Env"], json!(["PATH=/bin", "A=2", "B=3"]));
        assert_eq!(c["Cmd"], json!(["sh"]));
        assert_eq!(c["WorkingDir"], "/w");
        assert_eq!(c["Labels"], json!({"a": "1", "b": "2"}));
        assert_eq!(c["Hostname"], "0123456789ab");
        let c = merge_config(
            &image,
            &json!({"Image": "x", "Entrypoint": ["/bin/echo"]}),
            id,
        );
        assert_eq!(c["Entrypoint"], json!(["/bin/echo"]));
        assert_eq!(
            c["Cmd"],
            Value::Null,
            "an explicit entrypoint drops the image's cmd"
        );
        let c = merge_config(
            &image,
            &json!({"Image": "x", "Cmd": ["ls"], "Hostname": "web"}),
            id,
        );
        assert_eq!(c["Cmd"], json!(["ls"]));
        assert_eq!(c["Hostname"], "web");
    }

    #[test]
    fn host_config_checks() {
        let ok = host_config_with_defaults(Some(&json!({"Memory": 64 << 20})));
        assert!(validate_host_config(&ok).is_ok());
        let small = host_config_with_defaults(Some(&json!({"Memory": 1024})));
        assert_eq!(
            validate_host_config(&small).unwrap_err().to_string(),
            "Minimum memory limit allowed is 6MB"
        );
        let bad = host_config_with_defaults(Some(&json!({"RestartPolicy": {"Name": "sometimes"}})));
        assert_eq!(
            validate_host_config(&bad).unwrap_err().to_string(),
            "invalid restart policy 'sometimes'"
        );
        let rm = host_config_with_defaults(Some(
            &json!({"AutoRemove": true, "RestartPolicy": {"Name": "always"}}),
        ));
        assert!(validate_host_config(&rm).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(5), "5 seconds");
        assert_eq!(human_duration(70), "About a minute");
        assert_eq!(human_duration(300), "5 minutes");
        assert_eq!(human_duration(3700), "About an hour");
        assert_eq!(human_duration(3 * 3600), "3 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
    }
}
