//! The flags shared by `create` and `run`, and their translation into the `/containers/create`
//! body exactly as the docker CLI builds it (its `containerOptions` and `parse`): Config,
//! HostConfig and NetworkingConfig, with Docker's validation messages.
//!
//! Flag values are taken as strings by clap and checked here, so a bad value reads like
//! Docker's (`invalid argument "x" for "-m, --memory" flag: invalid size: 'x'`) and exits 125.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use clap::{ArgAction, Args};
use serde_json::{json, Map, Value as Json};

use crate::commands::os_error_text;
pub use crate::format::time::parse_go_duration;

// Every container flag `create` and `run` accept. (Not a doc comment: clap would make it the
// help text of `create` and `run`.)
#[derive(Debug, Clone, Default, Args)]
pub struct ContainerOptions {
    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short = 'a', long = "attach", value_name = "list")]
    pub attach: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host", value_name = "list")]
    pub add_host: Vec<String>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)
    #[arg(long = "blkio-weight", value_name = "uint16")]
    pub blkio_weight: Option<String>,
    /// Add Linux capabilities
    #[arg(long = "cap-add", value_name = "list")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop", value_name = "list")]
    pub cap_drop: Vec<String>,
    /// Optional parent cgroup for the container
    #[arg(long = "cgroup-parent", value_name = "string")]
    pub cgroup_parent: Option<String>,
    /// Cgroup namespace to use (host|private)
    #[arg(long = "cgroupns", value_name = "string")]
    pub cgroupns: Option<String>,
    /// Write the container ID to the file
    #[arg(long = "cidfile", value_name = "string")]
    pub cidfile: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", value_name = "int")]
    pub cpu_period: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", value_name = "int")]
    pub cpu_quota: Option<String>,
    /// Limit CPU real-time period in microseconds
    #[arg(long = "cpu-rt-period", value_name = "int")]
    pub cpu_rt_period: Option<String>,
    /// Limit CPU real-time runtime in microseconds
    #[arg(long = "cpu-rt-runtime", value_name = "int")]
    pub cpu_rt_runtime: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", value_name = "int")]
    pub cpu_shares: Option<String>,
    /// Number of CPUs
    #[arg(long = "cpus", value_name = "decimal")]
    pub cpus: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "string")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems", value_name = "string")]
    pub cpuset_mems: Option<String>,
    /// Add a host device to the container
    #[arg(long = "device", value_name = "list")]
    pub device: Vec<String>,
    /// Add a rule to the cgroup allowed devices list
    #[arg(long = "device-cgroup-rule", value_name = "list")]
    pub device_cgroup_rule: Vec<String>,
    /// Set custom DNS servers
    #[arg(long = "dns", value_name = "list")]
    pub dns: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", visible_alias = "dns-opt", value_name = "list")]
    pub dns_option: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search", value_name = "list")]
    pub dns_search: Vec<String>,
    /// Container NIS domain name
    #[arg(long = "domainname", value_name = "string")]
    pub domainname: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long = "entrypoint", value_name = "string")]
    pub entrypoint: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "list")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "list")]
    pub env_file: Vec<String>,
    /// Expose a port or a range of ports
    #[arg(long = "expose", value_name = "list")]
    pub expose: Vec<String>,
    /// Add additional groups to join
    #[arg(long = "group-add", value_name = "list")]
    pub group_add: Vec<String>,
    /// Command to run to check health
    #[arg(long = "health-cmd", value_name = "string")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 0s)
    #[arg(long = "health-interval", value_name = "duration")]
    pub health_interval: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries", value_name = "int")]
    pub health_retries: Option<String>,
    /// Start period for the container to initialize before starting health-retries countdown
    #[arg(long = "health-start-period", value_name = "duration")]
    pub health_start_period: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s)
    #[arg(long = "health-timeout", value_name = "duration")]
    pub health_timeout: Option<String>,
    /// Container host name
    #[arg(short = 'h', long = "hostname", value_name = "string")]
    pub hostname: Option<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long = "init", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_name = "BOOL")]
    pub init: Option<bool>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long = "interactive", action = ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_value = "false", default_missing_value = "true",
          value_name = "BOOL")]
    pub interactive: bool,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long = "ip", value_name = "string")]
    pub ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long = "ip6", value_name = "string")]
    pub ip6: Option<String>,
    /// IPC mode to use
    #[arg(long = "ipc", value_name = "string")]
    pub ipc: Option<String>,
    /// Container isolation technology
    #[arg(long = "isolation", value_name = "string")]
    pub isolation: Option<String>,
    /// Kernel memory limit
    #[arg(long = "kernel-memory", value_name = "bytes")]
    pub kernel_memory: Option<String>,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label", value_name = "list")]
    pub label: Vec<String>,
    /// Read in a line delimited file of labels
    #[arg(long = "label-file", value_name = "list")]
    pub label_file: Vec<String>,
    /// Add link to another container
    #[arg(long = "link", value_name = "list")]
    pub link: Vec<String>,
    /// Logging driver for the container
    #[arg(long = "log-driver", value_name = "string")]
    pub log_driver: Option<String>,
    /// Log driver options
    #[arg(long = "log-opt", value_name = "list")]
    pub log_opt: Vec<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address", value_name = "string")]
    pub mac_address: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long = "memory", value_name = "bytes")]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_name = "bytes")]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "bytes", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Tune container memory swappiness (0 to 100) (default -1)
    #[arg(
        long = "memory-swappiness",
        value_name = "int",
        allow_hyphen_values = true
    )]
    pub memory_swappiness: Option<String>,
    /// Attach a filesystem mount to the container
    #[arg(long = "mount", value_name = "mount")]
    pub mount: Vec<String>,
    /// Connect a container to a network
    #[arg(long = "network", visible_alias = "net", value_name = "network")]
    pub network: Vec<String>,
    /// Add network-scoped alias for the container
    #[arg(
        long = "network-alias",
        visible_alias = "net-alias",
        value_name = "list"
    )]
    pub network_alias: Vec<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck", action = ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_value = "false", default_missing_value = "true",
          value_name = "BOOL")]
    pub no_healthcheck: bool,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable", action = ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_value = "false", default_missing_value = "true",
          value_name = "BOOL")]
    pub oom_kill_disable: bool,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(long = "oom-score-adj", value_name = "int", allow_hyphen_values = true)]
    pub oom_score_adj: Option<String>,
    /// PID namespace to use
    #[arg(long = "pid", value_name = "string")]
    pub pid: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "int", allow_hyphen_values = true)]
    pub pids_limit: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform", value_name = "string")]
    pub platform: Option<String>,
    /// Give extended privileges to this container
    #[arg(long = "privileged", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_name = "BOOL")]
    pub privileged: bool,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish", value_name = "list")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all", action = ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_value = "false", default_missing_value = "true",
          value_name = "BOOL")]
    pub publish_all: bool,
    /// Pull image before creating ("always"|"missing"|"never")
    #[arg(long = "pull", default_value = "missing", value_name = "string")]
    pub pull: String,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_name = "BOOL")]
    pub read_only: bool,
    /// Restart policy to apply when a container exits (default "no")
    #[arg(long = "restart", value_name = "string")]
    pub restart: Option<String>,
    /// Automatically remove the container when it exits
    #[arg(long = "rm", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_name = "BOOL")]
    pub rm: bool,
    /// Runtime to use for this container
    #[arg(long = "runtime", value_name = "string")]
    pub runtime: Option<String>,
    /// Security Options
    #[arg(long = "security-opt", value_name = "list")]
    pub security_opt: Vec<String>,
    /// Size of /dev/shm
    #[arg(long = "shm-size", value_name = "bytes")]
    pub shm_size: Option<String>,
    /// Signal to stop a container (default "SIGTERM")
    #[arg(long = "stop-signal", value_name = "string")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout", value_name = "int", allow_hyphen_values = true)]
    pub stop_timeout: Option<String>,
    /// Storage driver options for the container
    #[arg(long = "storage-opt", value_name = "list")]
    pub storage_opt: Vec<String>,
    /// Sysctl options
    #[arg(long = "sysctl", value_name = "map")]
    pub sysctl: Vec<String>,
    /// Mount a tmpfs directory
    #[arg(long = "tmpfs", value_name = "list")]
    pub tmpfs: Vec<String>,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long = "tty", action = ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_value = "false", default_missing_value = "true",
          value_name = "BOOL")]
    pub tty: bool,
    /// Ulimit options
    #[arg(long = "ulimit", value_name = "ulimit")]
    pub ulimit: Vec<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long = "user", value_name = "string")]
    pub user: Option<String>,
    /// User namespace to use
    #[arg(long = "userns", value_name = "string")]
    pub userns: Option<String>,
    /// UTS namespace to use
    #[arg(long = "uts", value_name = "string")]
    pub uts: Option<String>,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume", value_name = "list")]
    pub volume: Vec<String>,
    /// Optional volume driver for the container
    #[arg(long = "volume-driver", value_name = "string")]
    pub volume_driver: Option<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from", value_name = "list")]
    pub volumes_from: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "string")]
    pub workdir: Option<String>,
}

/// A bad flag value or combination, in Docker's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptsError {
    /// A value a flag rejects while parsing (`invalid argument "x" for "-m, --memory" flag: …`).
    #[error("invalid argument \"{value}\" for \"{flag}\" flag: {reason}")]
    Flag {
        value: String,
        flag: &'static str,
        reason: String,
    },
    /// A problem found while building the configuration.
    #[error("{0}")]
    Invalid(String),
}

fn flag_err(flag: &'static str, value: &str, reason: impl Into<String>) -> OptsError {
    OptsError::Flag {
        value: value.to_string(),
        flag,
        reason: reason.into(),
    }
}

fn invalid(msg: impl Into<String>) -> OptsError {
    OptsError::Invalid(msg.into())
}

/// The parsed configuration: the few fields `run` adjusts, and the rest of the body.
#[derive(Debug, Clone)]
pub struct ContainerConfig {
    pub image: String,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub auto_remove: bool,
    /// `-a` was given.
    pub attach_given: bool,
    /// DNS servers (for the localhost warning).
    pub dns: Vec<String>,
    pub oom_kill_disable: bool,
    pub memory: i64,
    pub cidfile: String,
    config: Map<String, Json>,
    host_config: Map<String, Json>,
    networking_config: Json,
}

impl ContainerConfig {
    /// The `/containers/create` body (Config with HostConfig and NetworkingConfig inside).
    pub fn body(&self) -> Json {
        let mut config = self.config.clone();
        config.insert("Image".into(), json!(self.image));
        config.insert("Tty".into(), json!(self.tty));
        config.insert("OpenStdin".into(), json!(self.open_stdin));
        config.insert("StdinOnce".into(), json!(self.stdin_once));
        config.insert("AttachStdin".into(), json!(self.attach_stdin));
        config.insert("AttachStdout".into(), json!(self.attach_stdout));
        config.insert("AttachStderr".into(), json!(self.attach_stderr));
        let mut host = self.host_config.clone();
        host.insert("AutoRemove".into(), json!(self.auto_remove));
        config.insert("HostConfig".into(), Json::Object(host));
        config.insert("NetworkingConfig".into(), self.networking_config.clone());
        Json::Object(config)
    }
}

// ---- value parsers (Docker's opts package and go-units) ----

/// go-units `RAMInBytes`: `64m`, `1.5g`, `100` (bytes), binary multiples.
pub fn ram_in_bytes(s: &str) -> Result<i64, String> {
    let bad = || format!("invalid size: '{s}'");
    let bytes = s.as_bytes();
    // ^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$
    let mut i = 0;
    let num_start = i;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < bytes.len() && bytes[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    if !digits(&mut i) {
        return Err(bad());
    }
    while i < bytes.len() && bytes[i] == b'.' {
        let save = i;
        i += 1;
        if !digits(&mut i) {
            i = save;
            break;
        }
    }
    let num = &s[num_start..i];
    if i < bytes.len() && bytes[i] == b' ' {
        i += 1;
    }
    let mut mul: i64 = 1;
    if i < bytes.len() {
        let m = match bytes[i].to_ascii_lowercase() {
            b'k' => Some(1i64 << 10),
            b'm' => Some(1 << 20),
            b'g' => Some(1 << 30),
            b't' => Some(1 << 40),
            b'p' => Some(1 << 50),
            _ => None,
        };
        if let Some(m) = m {
            mul = m;
            i += 1;
        }
    }
    if i < bytes.len() && bytes[i].eq_ignore_ascii_case(&b'i') {
        i += 1;
    }
    if i < bytes.len() && bytes[i].eq_ignore_ascii_case(&b'b') {
        i += 1;
    }
    if i != bytes.len() {
        return Err(bad());
    }
    // Go's ParseFloat rejects "1.2.3" (the regex allows it).
    let value: f64 = num.parse().map_err(|_| {
        format!(
            "strconv.ParseFloat: parsing {}: invalid syntax",
            go_quote(num)
        )
    })?;
    Ok((value * mul as f64) as i64)
}

fn go_quote(s: &str) -> String {
    crate::format::template::go_quote(s)
}

/// Go's `strconv.ParseInt(s, 0, bits)` error text.
fn parse_int(s: &str, bits: u32) -> Result<i64, String> {
    let syntax = || format!("strconv.ParseInt: parsing {}: invalid syntax", go_quote(s));
    let range = || {
        format!(
            "strconv.ParseInt: parsing {}: value out of range",
            go_quote(s)
        )
    };
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, body) = if let Some(h) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (16, h)
    } else if let Some(b) = digits
        .strip_prefix("0b")
        .or_else(|| digits.strip_prefix("0B"))
    {
        (2, b)
    } else if let Some(o) = digits
        .strip_prefix("0o")
        .or_else(|| digits.strip_prefix("0O"))
    {
        (8, o)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    let body = body.replace('_', "");
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return Err(syntax());
    }
    let magnitude = i128::from_str_radix(&body, radix).map_err(|_| range())?;
    let value = if neg { -magnitude } else { magnitude };
    let max = (1i128 << (bits - 1)) - 1;
    let min = -(1i128 << (bits - 1));
    if value > max || value < min {
        return Err(range());
    }
    Ok(value as i64)
}

fn parse_uint(s: &str, bits: u32) -> Result<u64, String> {
    let syntax = || format!("strconv.ParseUint: parsing {}: invalid syntax", go_quote(s));
    let range = || {
        format!(
            "strconv.ParseUint: parsing {}: value out of range",
            go_quote(s)
        )
    };
    if s.is_empty() || !s.chars().all(|c| c.is_ascii_digit()) {
        return Err(syntax());
    }
    let v: u128 = s.parse().map_err(|_| range())?;
    if v >= (1u128 << bits) {
        return Err(range());
    }
    Ok(v as u64)
}

/// Docker's `ParseCPUs`: a rational number of CPUs to nano-CPUs (`1.5` → 1500000000).
pub fn parse_cpus(value: &str) -> Result<i64, String> {
    let not_rational = || format!("failed to parse {value} as a rational number");
    let (num, den) = parse_rational(value).ok_or_else(not_rational)?;
    let scaled = num
        .checked_mul(1_000_000_000)
        .ok_or_else(|| "value is too precise".to_string())?;
    if den == 0 || scaled % den != 0 {
        return Err("value is too precise".to_string());
    }
    Ok((scaled / den) as i64)
}

/// `big.Rat.SetString` for the forms people use: `a/b`, decimals, exponents.
fn parse_rational(s: &str) -> Option<(i128, i128)> {
    if let Some((a, b)) = s.split_once('/') {
        let a: i128 = a.parse().ok()?;
        let b: i128 = b.parse().ok()?;
        if b == 0 {
            return None;
        }
        return Some((a, b));
    }
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (neg, m) = match mantissa.as_bytes().first() {
        Some(b'-') => (true, &mantissa[1..]),
        Some(b'+') => (false, &mantissa[1..]),
        _ => (false, mantissa),
    };
    let (int, frac) = m.split_once('.').unwrap_or((m, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit()) {
        return None;
    }
    let digits = format!("{int}{frac}");
    let mut num: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    let scale = exp - frac.len() as i32;
    let mut den: i128 = 1;
    if scale >= 0 {
        num = num.checked_mul(10i128.checked_pow(scale as u32)?)?;
    } else {
        den = 10i128.checked_pow((-scale) as u32)?;
    }
    Some((if neg { -num } else { num }, den))
}

/// Reads an env file (`--env-file`), filling bare `KEY` lines from this process's environment.
pub fn read_env_file(path: &str) -> Result<Vec<String>, String> {
    read_kv_file(path, true)
}

/// Docker's `ValidateEnv` (exported for `exec`).
pub fn validate_env_value(val: &str) -> Result<String, String> {
    validate_env(val)
}

/// Docker's `ValidateEnv`: `KEY` alone takes its value from this process's environment.
fn validate_env(val: &str) -> Result<String, String> {
    let (key, value) = match val.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (val, None),
    };
    if key.is_empty() {
        return Err(format!("invalid environment variable: {val}"));
    }
    if value.is_some() {
        return Ok(val.to_string());
    }
    match std::env::var(key) {
        Ok(v) => Ok(format!("{key}={v}")),
        Err(_) => Ok(val.to_string()),
    }
}

const WHITESPACE: &[char] = &[' ', '\t'];

fn validate_label(val: &str) -> Result<String, String> {
    let key = val.split('=').next().unwrap_or("");
    let key = key.trim_start_matches(WHITESPACE);
    if key.is_empty() {
        return Err(format!("invalid label '{val}': empty name"));
    }
    if key.contains(WHITESPACE) {
        return Err(format!("label '{key}' contains whitespaces"));
    }
    Ok(val.to_string())
}

fn validate_ip(val: &str) -> Result<String, String> {
    val.trim()
        .parse::<IpAddr>()
        .map(|ip| ip.to_string())
        .map_err(|_| format!("{val} is not an ip address"))
}

fn validate_extra_host(val: &str) -> Result<String, String> {
    match val.split_once(':') {
        Some((host, ip)) if !host.is_empty() => {
            if ip != "host-gateway" && validate_ip(ip).is_err() {
                return Err(format!("invalid IP address in add-host: {}", go_quote(ip)));
            }
            Ok(val.to_string())
        }
        _ => Err(format!("bad format for add-host: {}", go_quote(val))),
    }
}

fn validate_dns_search(val: &str) -> Result<String, String> {
    let v = val.trim_matches(' ');
    if v == "." {
        return Ok(v.to_string());
    }
    let bad = || format!("{v} is not a valid domain");
    if !v.chars().any(|c| c.is_ascii_alphabetic()) {
        return Err(bad());
    }
    let d = v.trim_end();
    let d = d.strip_suffix('.').unwrap_or(d);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if d.len() < 255 && d.split('.').all(label_ok) {
        Ok(d.to_string())
    } else {
        Err(bad())
    }
}

fn validate_sysctl(val: &str) -> Result<String, String> {
    const NAMES: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let not_allowed = || format!("sysctl '{val}' is not whitelisted");
    let parts: Vec<&str> = val.split('=').collect();
    if parts.len() < 2 {
        return Err(not_allowed());
    }
    if NAMES.contains(&parts[0])
        || parts[0].starts_with("net.")
        || parts[0].starts_with("fs.mqueue.")
    {
        Ok(val.to_string())
    } else {
        Err(not_allowed())
    }
}

fn validate_link(val: &str) -> Result<String, String> {
    if val.is_empty() {
        return Err("empty string specified for links".to_string());
    }
    if val.split(':').count() > 2 {
        return Err(format!("bad format for links: {val}"));
    }
    Ok(val.to_string())
}

fn validate_attach(val: &str) -> Result<String, String> {
    let s = val.to_lowercase();
    if ["stdin", "stdout", "stderr"].contains(&s.as_str()) {
        Ok(s)
    } else {
        Err("valid streams are STDIN, STDOUT and STDERR".to_string())
    }
}

fn validate_device_cgroup_rule(val: &str) -> Result<String, String> {
    let bad = || format!("invalid device cgroup format '{val}'");
    // ^[acb] ([0-9]+|\*):([0-9]+|\*) [rwm]{1,3}$
    let parts: Vec<&str> = val.split(' ').collect();
    if parts.len() != 3 || !["a", "b", "c"].contains(&parts[0]) {
        return Err(bad());
    }
    let num = |s: &str| s == "*" || (!s.is_empty() && s.chars().all(|c| c.is_ascii_digit()));
    match parts[1].split_once(':') {
        Some((a, b)) if num(a) && num(b) => {}
        _ => return Err(bad()),
    }
    let mode = parts[2];
    if mode.is_empty() || mode.len() > 3 || !mode.chars().all(|c| "rwm".contains(c)) {
        return Err(bad());
    }
    Ok(val.to_string())
}

/// go-units `ParseUlimit`.
fn parse_ulimit(val: &str) -> Result<(String, i64, i64), String> {
    const NAMES: &[&str] = &[
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
    ];
    let Some((name, limits)) = val.split_once('=') else {
        return Err(format!("invalid ulimit argument: {val}"));
    };
    if !NAMES.contains(&name) {
        return Err(format!("invalid ulimit type: {name}"));
    }
    let parts: Vec<&str> = limits.split(':').collect();
    let parse = |s: &str| {
        s.parse::<i64>().map_err(|_| {
            if !s.is_empty()
                && s.trim_start_matches(['-', '+'])
                    .chars()
                    .all(|c| c.is_ascii_digit())
            {
                format!(
                    "strconv.ParseInt: parsing {}: value out of range",
                    go_quote(s)
                )
            } else {
                format!("strconv.ParseInt: parsing {}: invalid syntax", go_quote(s))
            }
        })
    };
    let (soft, hard) = match parts.len() {
        1 => {
            let s = parse(parts[0])?;
            (s, s)
        }
        2 => {
            let h = parse(parts[1])?;
            (parse(parts[0])?, h)
        }
        _ => {
            return Err(format!(
                "too many limit value arguments - {limits}, can only have up to two, `soft[:hard]`"
            ))
        }
    };
    if hard != -1 {
        if soft == -1 {
            return Err(format!("ulimit soft limit must be less than or equal to hard limit: soft: -1 (unlimited), hard: {hard}"));
        }
        if soft > hard {
            return Err(format!(
                "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
            ));
        }
    }
    Ok((name.to_string(), soft, hard))
}

/// Go's `encoding/csv` reading of one record (the `--mount` and `--network` long syntax).
fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    let mut at_start = true;
    while let Some(c) = chars.next() {
        if at_start && c == '"' {
            at_start = false;
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        cur.push('"');
                    }
                    Some('"') => break,
                    Some(ch) => cur.push(ch),
                    None => return Err("extraneous or missing \" in quoted-field".to_string()),
                }
            }
            continue;
        }
        at_start = false;
        if c == ',' {
            fields.push(std::mem::take(&mut cur));
            at_start = true;
        } else if c == '"' {
            return Err("bare \" in non-quoted-field".to_string());
        } else {
            cur.push(c);
        }
    }
    fields.push(cur);
    Ok(fields)
}

fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Docker's `MountOpt.Set`: `type=…,source=…,target=…,…` into an API `Mount`.
pub fn parse_mount(value: &str) -> Result<Json, String> {
    let fields = csv_fields(value)?;
    let mut mount = Map::new();
    let mut typ = "volume".to_string();
    let mut source: Option<String> = None;
    let mut target = String::new();
    let mut read_only = false;
    let mut consistency: Option<String> = None;
    let mut bind: Option<Map<String, Json>> = None;
    let mut volume: Option<(Map<String, Json>, Map<String, Json>)> = None;
    let mut tmpfs: Option<Map<String, Json>> = None;
    for field in &fields {
        let (key, val) = match field.split_once('=') {
            Some((k, v)) => (k.to_lowercase(), Some(v.to_string())),
            None => (field.to_lowercase(), None),
        };
        let Some(val) = val else {
            match key.as_str() {
                "readonly" | "ro" => {
                    read_only = true;
                    continue;
                }
                "volume-nocopy" => {
                    volume
                        .get_or_insert_with(|| (Map::new(), Map::new()))
                        .0
                        .insert("NoCopy".into(), json!(true));
                    continue;
                }
                "bind-nonrecursive" => {
                    bind.get_or_insert_with(Map::new)
                        .insert("NonRecursive".into(), json!(true));
                    continue;
                }
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
        };
        let bad = || format!("invalid value for {key}: {val}");
        match key.as_str() {
            "type" => typ = val.to_lowercase(),
            "source" | "src" => source = Some(val.clone()),
            "target" | "dst" | "destination" => target = val.clone(),
            "readonly" | "ro" => read_only = parse_bool(&val).ok_or_else(bad)?,
            "consistency" => consistency = Some(val.to_lowercase()),
            "bind-propagation" => {
                bind.get_or_insert_with(Map::new)
                    .insert("Propagation".into(), json!(val.to_lowercase()));
            }
            "bind-nonrecursive" => {
                let b = parse_bool(&val).ok_or_else(bad)?;
                let m = bind.get_or_insert_with(Map::new);
                if b {
                    m.insert("NonRecursive".into(), json!(true));
                } else {
                    m.remove("NonRecursive");
                }
            }
            "volume-nocopy" => {
                let b = parse_bool(&val)
                    .ok_or_else(|| format!("invalid value for volume-nocopy: {val}"))?;
                let m = &mut volume.get_or_insert_with(|| (Map::new(), Map::new())).0;
                if b {
                    m.insert("NoCopy".into(), json!(true));
                } else {
                    m.remove("NoCopy");
                }
            }
            "volume-label" => {
                let v = volume.get_or_insert_with(|| (Map::new(), Map::new()));
                let labels =
                    v.0.entry("Labels")
                        .or_insert_with(|| Json::Object(Map::new()));
                let (k, lv) = val.split_once('=').unwrap_or((val.as_str(), ""));
                if let Some(l) = labels.as_object_mut() {
                    l.insert(k.to_string(), json!(lv));
                }
            }
            "volume-driver" => {
                volume
                    .get_or_insert_with(|| (Map::new(), Map::new()))
                    .1
                    .insert("Name".into(), json!(val));
            }
            "volume-opt" => {
                let v = volume.get_or_insert_with(|| (Map::new(), Map::new()));
                let opts =
                    v.1.entry("Options")
                        .or_insert_with(|| Json::Object(Map::new()));
                let (k, ov) = val.split_once('=').unwrap_or((val.as_str(), ""));
                if let Some(o) = opts.as_object_mut() {
                    o.insert(k.to_string(), json!(ov));
                }
            }
            "tmpfs-size" => {
                let size = ram_in_bytes(&val).map_err(|_| bad())?;
                let m = tmpfs.get_or_insert_with(Map::new);
                if size != 0 {
                    m.insert("SizeBytes".into(), json!(size));
                } else {
                    m.remove("SizeBytes");
                }
            }
            "tmpfs-mode" => {
                let mode = u32::from_str_radix(&val, 8).map_err(|_| bad())?;
                let m = tmpfs.get_or_insert_with(Map::new);
                if mode != 0 {
                    m.insert("Mode".into(), json!(mode));
                } else {
                    m.remove("Mode");
                }
            }
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    if typ.is_empty() {
        return Err("type is required".to_string());
    }
    if target.is_empty() {
        return Err("target is required".to_string());
    }
    if volume.is_some() && typ != "volume" {
        return Err(format!(
            "cannot mix 'volume-*' options with mount type '{typ}'"
        ));
    }
    if bind.is_some() && typ != "bind" {
        return Err(format!(
            "cannot mix 'bind-*' options with mount type '{typ}'"
        ));
    }
    if tmpfs.is_some() && typ != "tmpfs" {
        return Err(format!(
            "cannot mix 'tmpfs-*' options with mount type '{typ}'"
        ));
    }
    mount.insert("Type".into(), json!(typ));
    if let Some(s) = source.filter(|s| !s.is_empty()) {
        mount.insert("Source".into(), json!(s));
    }
    mount.insert("Target".into(), json!(target));
    if read_only {
        mount.insert("ReadOnly".into(), json!(true));
    }
    if let Some(c) = consistency.filter(|c| !c.is_empty()) {
        mount.insert("Consistency".into(), json!(c));
    }
    if let Some(b) = bind {
        mount.insert("BindOptions".into(), Json::Object(b));
    }
    if let Some((mut v, driver)) = volume {
        v.insert("DriverConfig".into(), Json::Object(driver));
        mount.insert("VolumeOptions".into(), Json::Object(v));
    }
    if let Some(t) = tmpfs {
        mount.insert("TmpfsOptions".into(), Json::Object(t));
    }
    Ok(Json::Object(mount))
}

/// One `--network` value (`name` or `name=…,alias=…,ip=…,driver-opt=…`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct NetworkAttachment {
    target: String,
    aliases: Vec<String>,
    driver_opts: BTreeMap<String, String>,
    links: Vec<String>,
    ipv4: String,
    ipv6: String,
}

fn parse_network(value: &str) -> Result<NetworkAttachment, String> {
    // Docker's test: `\w+=\w+(,\w+=\w+)*` anywhere in the value.
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let long = value.char_indices().any(|(i, c)| {
        c == '='
            && value[..i].chars().next_back().is_some_and(word)
            && value[i + 1..].chars().next().is_some_and(word)
    });
    if !long {
        return Ok(NetworkAttachment {
            target: value.to_string(),
            ..Default::default()
        });
    }
    let mut n = NetworkAttachment::default();
    for field in csv_fields(value)? {
        let Some((k, v)) = field.split_once('=') else {
            return Err(format!("invalid field {field}"));
        };
        let key = k.trim().to_lowercase();
        let val = v.trim().to_lowercase();
        match key.as_str() {
            "name" => n.target = val,
            "alias" => n.aliases.push(val),
            "ip" => n.ipv4 = val,
            "ip6" => n.ipv6 = val,
            "driver-opt" => {
                let Some((dk, dv)) = val.split_once('=') else {
                    return Err("invalid key value pair format in driver options".to_string());
                };
                n.driver_opts
                    .insert(dk.trim().to_lowercase(), dv.trim().to_lowercase());
            }
            _ => return Err(format!("invalid field key {key}")),
        }
    }
    if n.target.is_empty() {
        return Err("network name/id is not specified".to_string());
    }
    Ok(n)
}

fn is_user_defined_network(mode: &str) -> bool {
    !matches!(mode, "default" | "bridge" | "host" | "none") && !mode.starts_with("container:")
}

/// Docker's `convertToStandardNotation` of `--publish` long syntax.
fn standard_port_notation(publish: &str) -> Result<String, String> {
    if !publish.contains('=') {
        return Ok(publish.to_string());
    }
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    params.insert("protocol".into(), "tcp".into());
    for param in publish.split(',') {
        let opt: Vec<&str> = param.split('=').collect();
        if opt.len() < 2 {
            return Err(format!(
                "invalid publish opts format (should be name=value but got '{param}')"
            ));
        }
        params.insert(opt[0].to_string(), opt[1].to_string());
    }
    let get = |k: &str| params.get(k).cloned().unwrap_or_default();
    Ok(format!(
        "{}:{}/{}",
        get("published"),
        get("target"),
        get("protocol")
    ))
}

/// go-connections `ParsePortRange`.
fn parse_port_range(ports: &str) -> Result<(u64, u64), String> {
    if ports.is_empty() {
        return Err("Empty string specified for ports.".to_string());
    }
    let parse = |s: &str| parse_uint(s, 16);
    if !ports.contains('-') {
        let p = parse(ports)?;
        return Ok((p, p));
    }
    let parts: Vec<&str> = ports.split('-').collect();
    let start = parse(parts[0])?;
    let end = parse(parts.get(1).copied().unwrap_or(""))?;
    if end < start {
        return Err(format!("Invalid range specified for the Port: {ports}"));
    }
    Ok((start, end))
}

/// go-connections `SplitProtoPort`.
fn split_proto_port(raw: &str) -> (String, String) {
    let parts: Vec<&str> = raw.split('/').collect();
    if raw.is_empty() || parts[0].is_empty() {
        return (String::new(), String::new());
    }
    if parts.len() == 1 || parts[1].is_empty() {
        return ("tcp".to_string(), parts[0].to_string());
    }
    (parts[1].to_string(), parts[0].to_string())
}

fn port_key(proto: &str, start: u64, end: u64) -> String {
    if start == end {
        format!("{start}/{proto}")
    } else {
        format!("{start}-{end}/{proto}")
    }
}

type PortBindings = Vec<(String, Vec<(String, String)>)>;

/// go-connections `ParsePortSpec` for one `-p` value: (port key, host ip, host port) triples.
fn parse_port_spec(raw: &str) -> Result<Vec<(String, String, String)>, String> {
    let parts: Vec<&str> = raw.split(':').collect();
    let n = parts.len();
    let container_port = parts[n - 1];
    let (raw_ip, mut host_port) = match n {
        1 => (String::new(), String::new()),
        2 => (String::new(), parts[0].to_string()),
        3 => (parts[0].to_string(), parts[1].to_string()),
        _ => (parts[..n - 2].join(":"), parts[n - 2].to_string()),
    };
    let (proto, container_port) = split_proto_port(container_port);
    let ip = raw_ip
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(&raw_ip)
        .to_string();
    if raw_ip.contains(':') && !(raw_ip.starts_with('[') && raw_ip.ends_with(']')) {
        return Err(format!(
            "Invalid ip address {raw_ip}: address {raw_ip}:: too many colons in address"
        ));
    }
    if !ip.is_empty() && ip.parse::<IpAddr>().is_err() {
        return Err(format!("Invalid ip address: {ip}"));
    }
    if container_port.is_empty() {
        return Err(format!("No port specified: {raw}<empty>"));
    }
    let (start, end) = parse_port_range(&container_port)
        .map_err(|_| format!("Invalid containerPort: {container_port}"))?;
    let (mut hstart, mut hend) = (0, 0);
    if !host_port.is_empty() {
        (hstart, hend) =
            parse_port_range(&host_port).map_err(|_| format!("Invalid hostPort: {host_port}"))?;
    }
    if !host_port.is_empty() && (end - start) != (hend - hstart) && end != start {
        return Err(format!(
            "Invalid ranges specified for container and host Ports: {container_port} and {host_port}"
        ));
    }
    let proto_l = proto.to_lowercase();
    if !["tcp", "udp", "sctp"].contains(&proto_l.as_str()) {
        return Err(format!("Invalid proto: {proto}"));
    }
    let mut out = Vec::new();
    for i in 0..=(end - start) {
        let cport = start + i;
        if !host_port.is_empty() {
            host_port = (hstart + i).to_string();
        }
        if start == end && hstart != hend {
            host_port = format!("{host_port}-{hend}");
        }
        out.push((
            port_key(&proto_l, cport, cport),
            ip.clone(),
            host_port.clone(),
        ));
    }
    Ok(out)
}

/// go-connections `ParsePortSpecs`: exposed ports and bindings, in first-seen order.
fn parse_port_specs(specs: &[String]) -> Result<(Vec<String>, PortBindings), String> {
    let mut exposed: Vec<String> = Vec::new();
    let mut bindings: PortBindings = Vec::new();
    for raw in specs {
        for (port, ip, host_port) in parse_port_spec(raw)? {
            if !exposed.contains(&port) {
                exposed.push(port.clone());
            }
            match bindings.iter_mut().find(|(p, _)| *p == port) {
                Some((_, list)) => list.push((ip, host_port)),
                None => bindings.push((port, vec![(ip, host_port)])),
            }
        }
    }
    Ok((exposed, bindings))
}

/// Docker's `parseKeyValueFile` (env files and label files); `lookup` fills `KEY` lines from
/// the environment (env files only).
fn read_kv_file(path: &str, lookup: bool) -> Result<Vec<String>, String> {
    let data = std::fs::read(path).map_err(|e| os_error_text("open", Path::new(path), &e))?;
    let mut out = Vec::new();
    for (n, raw) in data.split(|b| *b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let Ok(line) = std::str::from_utf8(raw) else {
            return Err(format!(
                "env file {path} contains invalid utf8 bytes at line {}: {raw:?}",
                n + 1
            ));
        };
        let line = if n == 0 {
            line.strip_prefix('\u{feff}').unwrap_or(line)
        } else {
            line
        };
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (var, value) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (line, None),
        };
        let var = var.trim_start_matches(WHITESPACE);
        if var.contains(WHITESPACE) {
            return Err(format!(
                "poorly formatted environment: variable '{var}' contains whitespaces"
            ));
        }
        if var.is_empty() {
            return Err(format!(
                "poorly formatted environment: no variable name on line '{line}'"
            ));
        }
        match value {
            Some(v) => out.push(format!("{var}={v}")),
            None if lookup => {
                if let Ok(v) = std::env::var(line.trim()) {
                    out.push(format!("{}={v}", line.trim()));
                }
            }
            None => {}
        }
    }
    Ok(out)
}

fn kv_map(values: &[String]) -> Map<String, Json> {
    values
        .iter()
        .map(|v| match v.split_once('=') {
            Some((k, val)) => (k.to_string(), json!(val)),
            None => (v.clone(), json!("")),
        })
        .collect()
}

/// Docker's handling of the env list: values keyed by name (a later `-e` for the same name
/// wins), then the list rebuilt.
fn dedupe_env(values: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in values {
        let key = v.split('=').next().unwrap_or("").to_string();
        match out
            .iter_mut()
            .find(|o| o.split('=').next().unwrap_or("") == key)
        {
            Some(existing) => *existing = v,
            None => out.push(v),
        }
    }
    out
}

/// The `--security-opt` values as Docker sends them (a seccomp profile file is read and
/// compacted).
fn parse_security_opts(opts: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for opt in opts {
        let (key, value) = match opt.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None if opt == "no-new-privileges" => (opt.clone(), None),
            None => match opt.split_once(':') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => return Err(format!("Invalid --security-opt: {}", go_quote(opt))),
            },
        };
        if key == "seccomp" {
            if let Some(path) = value.filter(|v| v != "unconfined") {
                let data = std::fs::read(&path).map_err(|e| {
                    format!(
                        "opening seccomp profile ({path}) failed: {}",
                        os_error_text("open", Path::new(&path), &e)
                    )
                })?;
                let v: Json = serde_json::from_slice(&data).map_err(|e| {
                    format!("compacting json for seccomp profile ({path}) failed: {e}")
                })?;
                out.push(format!("seccomp={v}"));
                continue;
            }
        }
        out.push(opt.clone());
    }
    Ok(out)
}

fn flag_int(flag: &'static str, v: &Option<String>, bits: u32) -> Result<i64, OptsError> {
    match v {
        Some(s) => parse_int(s, bits).map_err(|e| flag_err(flag, s, e)),
        None => Ok(0),
    }
}

fn flag_bytes(flag: &'static str, v: &Option<String>) -> Result<i64, OptsError> {
    match v {
        Some(s) => ram_in_bytes(s).map_err(|e| flag_err(flag, s, e)),
        None => Ok(0),
    }
}

fn flag_duration(flag: &'static str, v: &Option<String>) -> Result<i64, OptsError> {
    match v {
        Some(s) => parse_go_duration(s).map_err(|e| flag_err(flag, s, e)),
        None => Ok(0),
    }
}

fn flag_list(
    flag: &'static str,
    values: &[String],
    validate: fn(&str) -> Result<String, String>,
) -> Result<Vec<String>, OptsError> {
    values
        .iter()
        .map(|v| validate(v).map_err(|e| flag_err(flag, v, e)))
        .collect()
}

fn null_or_list(v: &[String]) -> Json {
    if v.is_empty() {
        Json::Null
    } else {
        json!(v)
    }
}

impl ContainerOptions {
    /// Builds the create body from the flags, `image` and its command `args` (Docker's
    /// `parse`).
    pub fn parse(&self, image: &str, args: &[String]) -> Result<ContainerConfig, OptsError> {
        // Flag-level checks first (pflag runs these while parsing the command line).
        let attach = flag_list("-a, --attach", &self.attach, validate_attach)?;
        let env = flag_list("-e, --env", &self.env, validate_env)?;
        let labels = flag_list("-l, --label", &self.label, validate_label)?;
        let extra_hosts = flag_list("--add-host", &self.add_host, validate_extra_host)?;
        let dns = flag_list("--dns", &self.dns, validate_ip)?;
        let dns_search = flag_list("--dns-search", &self.dns_search, validate_dns_search)?;
        let sysctls = flag_list("--sysctl", &self.sysctl, validate_sysctl)?;
        let links = flag_list("--link", &self.link, validate_link)?;
        let cgroup_rules = flag_list(
            "--device-cgroup-rule",
            &self.device_cgroup_rule,
            validate_device_cgroup_rule,
        )?;
        let mut ulimits: Vec<(String, i64, i64)> = Vec::new();
        for u in &self.ulimit {
            let parsed = parse_ulimit(u).map_err(|e| flag_err("--ulimit", u, e))?;
            ulimits.retain(|x| x.0 != parsed.0);
            ulimits.push(parsed);
        }
        ulimits.sort_by(|a, b| a.0.cmp(&b.0));
        let mut mounts = Vec::new();
        for m in &self.mount {
            mounts.push(parse_mount(m).map_err(|e| flag_err("--mount", m, e))?);
        }
        let mut networks = Vec::new();
        for n in &self.network {
            networks.push(parse_network(n).map_err(|e| flag_err("--network", n, e))?);
        }
        let memory = flag_bytes("-m, --memory", &self.memory)?;
        let memory_reservation = flag_bytes("--memory-reservation", &self.memory_reservation)?;
        let kernel_memory = flag_bytes("--kernel-memory", &self.kernel_memory)?;
        let shm_size = flag_bytes("--shm-size", &self.shm_size)?;
        let memory_swap = match &self.memory_swap {
            Some(s) if s == "-1" => -1,
            other => flag_bytes("--memory-swap", other)?,
        };
        let nano_cpus = match &self.cpus {
            Some(s) => parse_cpus(s).map_err(|e| flag_err("--cpus", s, e))?,
            None => 0,
        };
        let cpu_shares = flag_int("-c, --cpu-shares", &self.cpu_shares, 64)?;
        let cpu_period = flag_int("--cpu-period", &self.cpu_period, 64)?;
        let cpu_quota = flag_int("--cpu-quota", &self.cpu_quota, 64)?;
        let cpu_rt_period = flag_int("--cpu-rt-period", &self.cpu_rt_period, 64)?;
        let cpu_rt_runtime = flag_int("--cpu-rt-runtime", &self.cpu_rt_runtime, 64)?;
        let pids_limit = flag_int("--pids-limit", &self.pids_limit, 64)?;
        let oom_score_adj = flag_int("--oom-score-adj", &self.oom_score_adj, 64)?;
        let stop_timeout = flag_int("--stop-timeout", &self.stop_timeout, 64)?;
        let health_retries = flag_int("--health-retries", &self.health_retries, 64)?;
        let swappiness = match &self.memory_swappiness {
            Some(s) => parse_int(s, 64).map_err(|e| flag_err("--memory-swappiness", s, e))?,
            None => -1,
        };
        let blkio_weight = match &self.blkio_weight {
            Some(s) => parse_uint(s, 16).map_err(|e| flag_err("--blkio-weight", s, e))?,
            None => 0,
        };
        let health_interval = flag_duration("--health-interval", &self.health_interval)?;
        let health_timeout = flag_duration("--health-timeout", &self.health_timeout)?;
        let health_start = flag_duration("--health-start-period", &self.health_start_period)?;

        // Docker's `parse`.
        let mut attach_stdin = attach.iter().any(|a| a == "stdin");
        let mut attach_stdout = attach.iter().any(|a| a == "stdout");
        let mut attach_stderr = attach.iter().any(|a| a == "stderr");
        if let Some(mac) = self.mac_address.as_deref().filter(|m| !m.is_empty()) {
            if !valid_mac(mac) {
                return Err(invalid(format!("{mac} is not a valid mac address")));
            }
        }
        if self.interactive {
            attach_stdin = true;
        }
        if attach.is_empty() {
            attach_stdout = true;
            attach_stderr = true;
        }
        if swappiness != -1 && !(0..=100).contains(&swappiness) {
            return Err(invalid(format!(
                "invalid value: {swappiness}. Valid memory swappiness range is 0-100"
            )));
        }
        // Volumes with a source are binds; the others are anonymous volumes.
        let mut binds = Vec::new();
        let mut volumes = Map::new();
        for v in &self.volume {
            if volume_has_source(v) {
                if !binds.contains(v) {
                    binds.push(v.clone());
                }
            } else {
                volumes.insert(v.clone(), json!({}));
            }
        }
        let mut tmpfs = Map::new();
        for t in &self.tmpfs {
            match t.split_once(':') {
                Some((p, o)) => tmpfs.insert(p.to_string(), json!(o)),
                None => tmpfs.insert(t.clone(), json!("")),
            };
        }
        let cmd = if args.is_empty() {
            Json::Null
        } else {
            json!(args)
        };
        let entrypoint = match &self.entrypoint {
            Some(e) if !e.is_empty() => json!([e]),
            Some(_) => json!([""]),
            None => Json::Null,
        };
        let publish = self
            .publish
            .iter()
            .map(|p| standard_port_notation(p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        let (mut exposed, bindings) = parse_port_specs(&publish).map_err(invalid)?;
        for e in &self.expose {
            if e.contains(':') {
                return Err(invalid(format!("invalid port format for --expose: {e}")));
            }
            let (proto, port) = split_proto_port(e);
            let (start, end) = parse_port_range(&port).map_err(|err| {
                invalid(format!(
                    "invalid range format for --expose: {e}, error: {err}"
                ))
            })?;
            for p in start..=end {
                let key = port_key(&proto, p, p);
                if !exposed.contains(&key) {
                    exposed.push(key);
                }
            }
        }
        let mut devices = Vec::new();
        for d in &self.device {
            devices.push(parse_device(d).map_err(invalid)?);
        }
        let mut env_all = Vec::new();
        for f in &self.env_file {
            env_all.extend(read_kv_file(f, true).map_err(invalid)?);
        }
        env_all.extend(dedupe_env(env));
        let mut label_all = Vec::new();
        for f in &self.label_file {
            label_all.extend(read_kv_file(f, false).map_err(invalid)?);
        }
        label_all.extend(labels);
        let pid = self.pid.clone().unwrap_or_default();
        if !valid_pid_mode(&pid) {
            return Err(invalid("--pid: invalid PID mode"));
        }
        let uts = self.uts.clone().unwrap_or_default();
        if !matches!(uts.split(':').next(), Some("" | "host")) {
            return Err(invalid("--uts: invalid UTS mode"));
        }
        let userns = self.userns.clone().unwrap_or_default();
        if !matches!(userns.split(':').next(), Some("" | "host")) {
            return Err(invalid("--userns: invalid USER mode"));
        }
        let cgroupns = self.cgroupns.clone().unwrap_or_default();
        if !matches!(cgroupns.as_str(), "" | "host" | "private") {
            return Err(invalid("--cgroupns: invalid CGROUP mode"));
        }
        let restart = self.restart.clone().unwrap_or_else(|| "no".to_string());
        let restart_policy = parse_restart_policy(&restart).map_err(invalid)?;
        let log_driver = self.log_driver.clone().unwrap_or_default();
        if log_driver == "none" && !self.log_opt.is_empty() {
            return Err(invalid(format!(
                "invalid logging opts for driver {log_driver}"
            )));
        }
        let security = parse_security_opts(&self.security_opt).map_err(invalid)?;
        let (security, system_paths_unconfined) = {
            let unconfined = security.iter().any(|o| o == "systempaths=unconfined");
            (
                security
                    .into_iter()
                    .filter(|o| o != "systempaths=unconfined")
                    .collect::<Vec<_>>(),
                unconfined,
            )
        };
        let mut storage = Map::new();
        for o in &self.storage_opt {
            match o.split_once('=') {
                Some((k, v)) => storage.insert(k.to_string(), json!(v)),
                None => return Err(invalid("invalid storage option")),
            };
        }
        let health = self.healthcheck(
            health_interval,
            health_timeout,
            health_start,
            health_retries,
        )?;

        let mut config = Map::new();
        config.insert(
            "Hostname".into(),
            json!(self.hostname.clone().unwrap_or_default()),
        );
        config.insert(
            "Domainname".into(),
            json!(self.domainname.clone().unwrap_or_default()),
        );
        config.insert("User".into(), json!(self.user.clone().unwrap_or_default()));
        if !exposed.is_empty() {
            let ports: Map<String, Json> = exposed.iter().map(|p| (p.clone(), json!({}))).collect();
            config.insert("ExposedPorts".into(), Json::Object(ports));
        }
        config.insert("Env".into(), null_or_list(&env_all));
        config.insert("Cmd".into(), cmd);
        if let Some(h) = health {
            config.insert("Healthcheck".into(), h);
        }
        config.insert("Volumes".into(), Json::Object(volumes));
        config.insert(
            "WorkingDir".into(),
            json!(self.workdir.clone().unwrap_or_default()),
        );
        config.insert("Entrypoint".into(), entrypoint);
        if let Some(mac) = self.mac_address.as_deref().filter(|m| !m.is_empty()) {
            config.insert("MacAddress".into(), json!(mac));
        }
        config.insert("OnBuild".into(), Json::Null);
        config.insert("Labels".into(), Json::Object(kv_map(&label_all)));
        if let Some(s) = &self.stop_signal {
            if !s.is_empty() {
                config.insert("StopSignal".into(), json!(s));
            }
        }
        if self.stop_timeout.is_some() {
            config.insert("StopTimeout".into(), json!(stop_timeout));
        }

        let port_bindings: Map<String, Json> = bindings
            .iter()
            .map(|(p, list)| {
                let l: Vec<Json> = list
                    .iter()
                    .map(|(ip, hp)| json!({"HostIp": ip, "HostPort": hp}))
                    .collect();
                (p.clone(), Json::Array(l))
            })
            .collect();
        let network_mode = networks
            .first()
            .map(|n| n.target.clone())
            .unwrap_or_else(|| "default".to_string());
        let mut host = Map::new();
        host.insert("Binds".into(), null_or_list(&binds));
        host.insert(
            "ContainerIDFile".into(),
            json!(self.cidfile.clone().unwrap_or_default()),
        );
        host.insert(
            "LogConfig".into(),
            json!({"Type": log_driver, "Config": Json::Object(kv_map(&self.log_opt))}),
        );
        host.insert("NetworkMode".into(), json!(network_mode));
        host.insert("PortBindings".into(), Json::Object(port_bindings));
        host.insert(
            "RestartPolicy".into(),
            json!({"Name": restart_policy.0, "MaximumRetryCount": restart_policy.1}),
        );
        host.insert(
            "VolumeDriver".into(),
            json!(self.volume_driver.clone().unwrap_or_default()),
        );
        host.insert("VolumesFrom".into(), null_or_list(&self.volumes_from));
        host.insert("CapAdd".into(), null_or_list(&self.cap_add));
        host.insert("CapDrop".into(), null_or_list(&self.cap_drop));
        host.insert("CgroupnsMode".into(), json!(cgroupns));
        host.insert("Dns".into(), json!(dns));
        host.insert("DnsOptions".into(), json!(self.dns_option));
        host.insert("DnsSearch".into(), json!(dns_search));
        host.insert("ExtraHosts".into(), null_or_list(&extra_hosts));
        host.insert("GroupAdd".into(), null_or_list(&self.group_add));
        host.insert(
            "IpcMode".into(),
            json!(self.ipc.clone().unwrap_or_default()),
        );
        host.insert("Cgroup".into(), json!(""));
        host.insert("Links".into(), null_or_list(&links));
        host.insert("OomScoreAdj".into(), json!(oom_score_adj));
        host.insert("PidMode".into(), json!(pid));
        host.insert("Privileged".into(), json!(self.privileged));
        host.insert("PublishAllPorts".into(), json!(self.publish_all));
        host.insert("ReadonlyRootfs".into(), json!(self.read_only));
        // Docker filters the list in place, so any --security-opt leaves at least `[]`.
        host.insert(
            "SecurityOpt".into(),
            if self.security_opt.is_empty() {
                Json::Null
            } else {
                json!(security)
            },
        );
        if !storage.is_empty() {
            host.insert("StorageOpt".into(), Json::Object(storage));
        }
        if !tmpfs.is_empty() {
            host.insert("Tmpfs".into(), Json::Object(tmpfs));
        }
        host.insert("UTSMode".into(), json!(uts));
        host.insert("UsernsMode".into(), json!(userns));
        host.insert("ShmSize".into(), json!(shm_size));
        if !sysctls.is_empty() {
            host.insert("Sysctls".into(), Json::Object(kv_map(&sysctls)));
        }
        if let Some(r) = self.runtime.as_deref().filter(|r| !r.is_empty()) {
            host.insert("Runtime".into(), json!(r));
        }
        host.insert("ConsoleSize".into(), json!([0, 0]));
        host.insert(
            "Isolation".into(),
            json!(self.isolation.clone().unwrap_or_default()),
        );
        host.insert("CpuShares".into(), json!(cpu_shares));
        host.insert("Memory".into(), json!(memory));
        host.insert("NanoCpus".into(), json!(nano_cpus));
        host.insert(
            "CgroupParent".into(),
            json!(self.cgroup_parent.clone().unwrap_or_default()),
        );
        host.insert("BlkioWeight".into(), json!(blkio_weight));
        host.insert("BlkioWeightDevice".into(), json!([]));
        host.insert("BlkioDeviceReadBps".into(), Json::Null);
        host.insert("BlkioDeviceWriteBps".into(), Json::Null);
        host.insert("BlkioDeviceReadIOps".into(), Json::Null);
        host.insert("BlkioDeviceWriteIOps".into(), Json::Null);
        host.insert("CpuPeriod".into(), json!(cpu_period));
        host.insert("CpuQuota".into(), json!(cpu_quota));
        host.insert("CpuRealtimePeriod".into(), json!(cpu_rt_period));
        host.insert("CpuRealtimeRuntime".into(), json!(cpu_rt_runtime));
        host.insert(
            "CpusetCpus".into(),
            json!(self.cpuset_cpus.clone().unwrap_or_default()),
        );
        host.insert(
            "CpusetMems".into(),
            json!(self.cpuset_mems.clone().unwrap_or_default()),
        );
        host.insert("Devices".into(), Json::Array(devices));
        host.insert("DeviceCgroupRules".into(), null_or_list(&cgroup_rules));
        host.insert("DeviceRequests".into(), Json::Null);
        host.insert("KernelMemory".into(), json!(kernel_memory));
        host.insert("KernelMemoryTCP".into(), json!(0));
        host.insert("MemoryReservation".into(), json!(memory_reservation));
        host.insert("MemorySwap".into(), json!(memory_swap));
        host.insert("MemorySwappiness".into(), json!(swappiness));
        host.insert("OomKillDisable".into(), json!(self.oom_kill_disable));
        host.insert("PidsLimit".into(), json!(pids_limit));
        let ulimits_json: Vec<Json> = ulimits
            .iter()
            .map(|(n, s, h)| json!({"Name": n, "Hard": h, "Soft": s}))
            .collect();
        host.insert(
            "Ulimits".into(),
            if ulimits_json.is_empty() {
                Json::Null
            } else {
                Json::Array(ulimits_json)
            },
        );
        host.insert("CpuCount".into(), json!(0));
        host.insert("CpuPercent".into(), json!(0));
        host.insert("IOMaximumIOps".into(), json!(0));
        host.insert("IOMaximumBandwidth".into(), json!(0));
        if !mounts.is_empty() {
            host.insert("Mounts".into(), Json::Array(mounts));
        }
        if system_paths_unconfined {
            host.insert("MaskedPaths".into(), json!([]));
            host.insert("ReadonlyPaths".into(), json!([]));
        } else {
            host.insert("MaskedPaths".into(), Json::Null);
            host.insert("ReadonlyPaths".into(), Json::Null);
        }
        if self.rm && restart_policy.0 != "no" && !restart_policy.0.is_empty() {
            return Err(invalid("Conflicting options: --restart and --rm"));
        }
        if let Some(init) = self.init {
            host.insert("Init".into(), json!(init));
        }
        let stdin_once = self.interactive && attach_stdin;
        let endpoints = self.endpoints(&networks)?;

        Ok(ContainerConfig {
            image: image.to_string(),
            tty: self.tty,
            open_stdin: self.interactive,
            stdin_once,
            attach_stdin,
            attach_stdout,
            attach_stderr,
            auto_remove: self.rm,
            attach_given: !attach.is_empty(),
            dns,
            oom_kill_disable: self.oom_kill_disable,
            memory,
            cidfile: self.cidfile.clone().unwrap_or_default(),
            config,
            host_config: host,
            networking_config: json!({ "EndpointsConfig": Json::Object(endpoints) }),
        })
    }

    fn healthcheck(
        &self,
        interval: i64,
        timeout: i64,
        start: i64,
        retries: i64,
    ) -> Result<Option<Json>, OptsError> {
        let cmd = self.health_cmd.clone().unwrap_or_default();
        let have = !cmd.is_empty() || interval != 0 || timeout != 0 || start != 0 || retries != 0;
        if self.no_healthcheck {
            if have {
                return Err(invalid(
                    "--no-healthcheck conflicts with --health-* options",
                ));
            }
            return Ok(Some(json!({"Test": ["NONE"]})));
        }
        if !have {
            return Ok(None);
        }
        if interval < 0 {
            return Err(invalid("--health-interval cannot be negative"));
        }
        if timeout < 0 {
            return Err(invalid("--health-timeout cannot be negative"));
        }
        if retries < 0 {
            return Err(invalid("--health-retries cannot be negative"));
        }
        if start < 0 {
            return Err(invalid("--health-start-period cannot be negative"));
        }
        let mut h = Map::new();
        if !cmd.is_empty() {
            h.insert("Test".into(), json!(["CMD-SHELL", cmd]));
        }
        for (k, v) in [
            ("Interval", interval),
            ("Timeout", timeout),
            ("StartPeriod", start),
            ("Retries", retries),
        ] {
            if v != 0 {
                h.insert(k.into(), json!(v));
            }
        }
        Ok(Some(Json::Object(h)))
    }

    /// Docker's `parseNetworkOpts`.
    fn endpoints(&self, networks: &[NetworkAttachment]) -> Result<Map<String, Json>, OptsError> {
        let mut out = Map::new();
        let (mut user_defined, mut builtin) = (false, false);
        for (i, n) in networks.iter().enumerate() {
            let mut n = n.clone();
            if is_user_defined_network(&n.target) {
                user_defined = true;
            } else {
                builtin = true;
            }
            if i == 0 {
                if !n.aliases.is_empty() && !self.network_alias.is_empty() {
                    return Err(invalid("conflicting options: cannot specify both --network-alias and per-network alias"));
                }
                if !n.links.is_empty() && !self.link.is_empty() {
                    return Err(invalid(
                        "conflicting options: cannot specify both --link and per-network links",
                    ));
                }
                let ip = self.ip.clone().unwrap_or_default();
                let ip6 = self.ip6.clone().unwrap_or_default();
                if !n.ipv4.is_empty() && !ip.is_empty() {
                    return Err(invalid("conflicting options: cannot specify both --ip and per-network IPv4 address"));
                }
                if !n.ipv6.is_empty() && !ip6.is_empty() {
                    return Err(invalid("conflicting options: cannot specify both --ip6 and per-network IPv6 address"));
                }
                if !self.network_alias.is_empty() {
                    n.aliases = self.network_alias.clone();
                }
                if !self.link.is_empty() {
                    n.links = self.link.clone();
                }
                if !ip.is_empty() {
                    n.ipv4 = ip;
                }
                if !ip6.is_empty() {
                    n.ipv6 = ip6;
                }
            }
            if n.target.trim().is_empty() {
                return Err(invalid("no name set for network"));
            }
            if !is_user_defined_network(&n.target) {
                if !n.aliases.is_empty() {
                    return Err(invalid(
                        "network-scoped aliases are only supported for user-defined networks",
                    ));
                }
                if !n.links.is_empty() {
                    return Err(invalid(
                        "links are only supported for user-defined networks",
                    ));
                }
            }
            if out.contains_key(&n.target) {
                return Err(invalid(format!(
                    "network {} is specified multiple times",
                    go_quote(&n.target)
                )));
            }
            let empty = n.aliases.is_empty()
                && n.links.is_empty()
                && n.driver_opts.is_empty()
                && n.ipv4.is_empty()
                && n.ipv6.is_empty();
            if i == 0 && networks.len() == 1 && empty {
                continue;
            }
            let ipam = if n.ipv4.is_empty() && n.ipv6.is_empty() {
                Json::Null
            } else {
                let mut m = Map::new();
                if !n.ipv4.is_empty() {
                    m.insert("IPv4Address".into(), json!(n.ipv4));
                }
                if !n.ipv6.is_empty() {
                    m.insert("IPv6Address".into(), json!(n.ipv6));
                }
                Json::Object(m)
            };
            let driver_opts = if n.driver_opts.is_empty() {
                Json::Null
            } else {
                json!(n.driver_opts)
            };
            out.insert(
                n.target.clone(),
                json!({
                    "IPAMConfig": ipam,
                    "Links": null_or_list(&n.links),
                    "Aliases": null_or_list(&n.aliases),
                    "NetworkID": "",
                    "EndpointID": "",
                    "Gateway": "",
                    "IPAddress": "",
                    "IPPrefixLen": 0,
                    "IPv6Gateway": "",
                    "GlobalIPv6Address": "",
                    "GlobalIPv6PrefixLen": 0,
                    "MacAddress": "",
                    "DriverOpts": driver_opts,
                }),
            );
        }
        if user_defined && builtin {
            return Err(invalid("conflicting options: cannot attach both user-defined and non-user-defined network-modes"));
        }
        Ok(out)
    }
}

fn valid_mac(mac: &str) -> bool {
    let parts: Vec<&str> = mac.trim().split([':', '-']).collect();
    matches!(parts.len(), 6 | 8 | 20)
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn valid_pid_mode(mode: &str) -> bool {
    let parts: Vec<&str> = mode.split(':').collect();
    match parts[0] {
        "" | "host" => true,
        "container" => parts.len() == 2 && !parts[1].is_empty(),
        _ => true,
    }
}

/// Docker's `ParseRestartPolicy`.
pub fn parse_restart_policy(policy: &str) -> Result<(String, i64), String> {
    if policy.is_empty() {
        return Ok((String::new(), 0));
    }
    let parts: Vec<&str> = policy.split(':').collect();
    if parts.len() > 2 {
        return Err("invalid restart policy format".to_string());
    }
    let count = if parts.len() == 2 {
        parts[1]
            .parse::<i64>()
            .map_err(|_| "maximum retry count must be an integer".to_string())?
    } else {
        0
    };
    Ok((parts[0].to_string(), count))
}

/// Whether a `-v` value names a source (a bind or a named volume) — the compose loader's
/// `ParseVolume` as Docker uses it here.
fn volume_has_source(spec: &str) -> bool {
    if spec.chars().count() <= 2 {
        return false;
    }
    let chars: Vec<char> = spec.chars().collect();
    let mut buffer: Vec<char> = Vec::new();
    let mut source: Option<String> = None;
    for &c in &chars {
        let windows_drive = c == ':' && buffer.len() == 1 && buffer[0].is_alphabetic();
        if windows_drive {
            buffer.push(c);
        } else if c == ':' {
            if buffer.is_empty() {
                return source.is_some();
            }
            if source.is_none() {
                source = Some(buffer.iter().collect());
            }
            buffer.clear();
        } else {
            buffer.push(c);
        }
    }
    source.is_some_and(|s| !s.is_empty())
}

/// Docker's `validateLinuxPath` + `parseLinuxDevice` for `--device`.
fn parse_device(device: &str) -> Result<Json, String> {
    let valid_mode = |m: &str| {
        !m.is_empty()
            && m.chars().all(|c| "rwm".contains(c))
            && m.chars().collect::<std::collections::BTreeSet<_>>().len() == m.len()
    };
    if device.matches(':').count() > 2 {
        return Err(format!("bad format for path: {device}"));
    }
    let split: Vec<&str> = device.splitn(3, ':').collect();
    if split[0].is_empty() {
        return Err(format!("bad format for path: {device}"));
    }
    let container_path = match split.len() {
        1 => split[0],
        2 if valid_mode(split[1]) => split[0],
        2 => split[1],
        _ => {
            if !valid_mode(split[2]) {
                return Err(format!("bad mode specified: {}", split[2]));
            }
            split[1]
        }
    };
    if !container_path.starts_with('/') {
        return Err(format!("{container_path} is not an absolute path"));
    }
    let (src, mut dst, mut perms) = (split[0], "", "rwm");
    if split.len() >= 2 {
        if valid_mode(split[1]) {
            perms = split[1];
        } else {
            dst = split[1];
        }
    }
    if split.len() == 3 {
        perms = split[2];
    }
    if dst.is_empty() {
        dst = src;
    }
    Ok(json!({"PathOnHost": src, "PathInContainer": dst, "CgroupPermissions": perms}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_go_units() {
        assert_eq!(ram_in_bytes("64m"), Ok(67_108_864));
        assert_eq!(ram_in_bytes("1.5g"), Ok(1_610_612_736));
        assert_eq!(ram_in_bytes("100"), Ok(100));
        assert_eq!(ram_in_bytes("1kb"), Ok(1024));
        assert_eq!(ram_in_bytes("2 MiB"), Ok(2 * 1024 * 1024));
        assert_eq!(ram_in_bytes("x"), Err("invalid size: 'x'".to_string()));
        assert_eq!(ram_in_bytes("-1"), Err("invalid size: '-1'".to_string()));
        assert_eq!(ram_in_bytes("1q"), Err("invalid size: '1q'".to_string()));
    }

    #[test]
    fn cpus_are_rationals() {
        assert_eq!(parse_cpus("1.5"), Ok(1_500_000_000));
        assert_eq!(parse_cpus("0.000000001"), Ok(1));
        assert_eq!(parse_cpus("3/2"), Ok(1_500_000_000));
        assert_eq!(parse_cpus("2"), Ok(2_000_000_000));
        assert_eq!(
            parse_cpus("0.0000000001"),
            Err("value is too precise".to_string())
        );
        assert_eq!(
            parse_cpus("abc"),
            Err("failed to parse abc as a rational number".to_string())
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse_go_duration("500ms"), Ok(500_000_000));
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(
            parse_go_duration("5"),
            Err("time: missing unit in duration \"5\"".to_string())
        );
        assert_eq!(
            parse_go_duration("x"),
            Err("time: invalid duration \"x\"".to_string())
        );
    }

    #[test]
    fn ints_like_strconv() {
        assert_eq!(parse_int("100", 64), Ok(100));
        assert_eq!(parse_int("-1", 64), Ok(-1));
        assert_eq!(parse_int("0x10", 64), Ok(16));
        assert_eq!(
            parse_int("x", 64),
            Err("strconv.ParseInt: parsing \"x\": invalid syntax".to_string())
        );
        assert_eq!(
            parse_int("99999999999999999999", 64),
            Err(
                "strconv.ParseInt: parsing \"99999999999999999999\": value out of range"
                    .to_string()
            )
        );
    }

    #[test]
    fn ulimits() {
        assert_eq!(
            parse_ulimit("nofile=1024:2048"),
            Ok(("nofile".into(), 1024, 2048))
        );
        assert_eq!(parse_ulimit("nproc=10"), Ok(("nproc".into(), 10, 10)));
        assert_eq!(
            parse_ulimit("nofile=2:1"),
            Err("ulimit soft limit must be less than or equal to hard limit: 2 > 1".into())
        );
        assert_eq!(
            parse_ulimit("nofile=a"),
            Err("strconv.ParseInt: parsing \"a\": invalid syntax".into())
        );
        assert_eq!(
            parse_ulimit("bogus=1"),
            Err("invalid ulimit type: bogus".into())
        );
    }

    #[test]
    fn port_specs() {
        let (exposed, bindings) = parse_port_specs(&[
            "8080:80/tcp".to_string(),
            "127.0.0.1::53/udp".to_string(),
            "9000-9001:9000-9001".to_string(),
            "[::1]:7000:7000".to_string(),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            exposed,
            vec!["80/tcp", "53/udp", "9000/tcp", "9001/tcp", "7000/tcp"]
        );
        assert_eq!(
            bindings[0],
            ("80/tcp".into(), vec![("".into(), "8080".into())])
        );
        assert_eq!(
            bindings[1],
            ("53/udp".into(), vec![("127.0.0.1".into(), "".into())])
        );
        assert_eq!(
            bindings[4],
            ("7000/tcp".into(), vec![("::1".into(), "7000".into())])
        );
        assert_eq!(
            parse_port_spec("99999:80").err(),
            Some("Invalid hostPort: 99999".to_string())
        );
        assert_eq!(
            parse_port_spec("80/xyz").err(),
            Some("Invalid proto: xyz".to_string())
        );
        assert_eq!(
            parse_port_spec("8080-8081:80").map(|v| v[0].2.clone()),
            Ok("8080-8081".to_string())
        );
    }

    #[test]
    fn volume_sources() {
        assert!(volume_has_source("vol1:/data"));
        assert!(volume_has_source("/tmp:/host:ro"));
        assert!(!volume_has_source("/anon"));
        assert!(!volume_has_source("/a"));
    }

    #[test]
    fn mounts() {
        assert_eq!(
            parse_mount("type=bind,src=/tmp,dst=/b,readonly"),
            Ok(json!({"Type": "bind", "Source": "/tmp", "Target": "/b", "ReadOnly": true}))
        );
        assert_eq!(
            parse_mount("type=tmpfs,target=/t,tmpfs-size=1m"),
            Ok(json!({"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1_048_576}}))
        );
        assert_eq!(
            parse_mount("type=bind,target=/x,volume-nocopy"),
            Err("cannot mix 'volume-*' options with mount type 'bind'".to_string())
        );
        assert_eq!(
            parse_mount("source=x"),
            Err("target is required".to_string())
        );
    }

    #[test]
    fn restart_policies() {
        assert_eq!(
            parse_restart_policy("on-failure:3"),
            Ok(("on-failure".into(), 3))
        );
        assert_eq!(parse_restart_policy("always"), Ok(("always".into(), 0)));
        assert_eq!(
            parse_restart_policy("on-failure:x"),
            Err("maximum retry count must be an integer".into())
        );
    }

    #[test]
    fn flag_errors_read_like_docker() {
        let o = ContainerOptions {
            memory: Some("x".into()),
            ..Default::default()
        };
        assert_eq!(
            o.parse("busybox", &[]).err().map(|e| e.to_string()),
            Some("invalid argument \"x\" for \"-m, --memory\" flag: invalid size: 'x'".into())
        );
        let o = ContainerOptions {
            rm: true,
            restart: Some("always".into()),
            ..Default::default()
        };
        assert_eq!(
            o.parse("busybox", &[]).err(),
            Some(OptsError::Invalid(
                "Conflicting options: --restart and --rm".into()
            ))
        );
    }
}
