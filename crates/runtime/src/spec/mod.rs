//! From a container description to an OCI runtime spec with Docker's defaults.
//!
//! [`build_spec`] is pure: it reads nothing but the rootfs's `/etc/passwd` and `/etc/group` (to
//! resolve `User`), and everything it needs to know about the host comes in through [`HostInfo`]
//! (see [`crate::host`] for detecting it). The inputs use Docker's JSON names, so the engine can
//! deserialize an image config and a `POST /containers/create` body straight into them.
//!
//! Rules implemented here, each with Docker's behaviour:
//! - command: an `Entrypoint` in the request replaces the image's and drops the image's `Cmd`;
//!   `Entrypoint: [""]` clears the entrypoint; `Entrypoint: []` (or none) keeps the image `Cmd`
//!   when the request has none; the process runs `entrypoint ++ cmd`;
//! - env: `PATH` (default when neither image nor request sets it), `HOSTNAME`, `TERM=xterm` with
//!   a TTY, then image env, then request env, a later value replacing an earlier one in place; a
//!   request entry without `=` removes the variable; `HOME` from passwd when unset;
//! - user: see [`user`]; capabilities: see [`caps`]; seccomp: see [`seccomp`];
//! - mounts, masked and read-only paths: see [`mounts`];
//! - resources, devices, rlimits, sysctls, namespaces and security options below.

pub mod caps;
pub mod exec;
pub mod mounts;
pub mod seccomp;
pub mod user;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Capability, LinuxCapabilities, LinuxCpu, LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType,
    LinuxMemory, LinuxNamespace, LinuxNamespaceType, LinuxPids, LinuxResources, PosixRlimit,
    PosixRlimitBuilder, PosixRlimitType, Process, Root, Spec, User,
};
use serde::{Deserialize, Deserializer};

pub use exec::{exec_process, ExecOptions};
pub use user::{resolve_user, ResolvedUser};

/// Docker's default `PATH` for Linux containers.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Where `--init`'s binary appears in the container, as in Docker.
pub const INIT_PATH: &str = "/sbin/docker-init";
/// The annotation that carries the image's / request's stop signal (containerd uses the same).
pub const STOP_SIGNAL_ANNOTATION: &str = "org.opencontainers.image.stopSignal";
/// CFS period used to express `NanoCpus` (`--cpus`) as a quota, as Docker does.
pub const CPU_PERIOD_US: u64 = 100_000;
/// Smallest memory limit Docker accepts (6 MiB).
pub const MIN_MEMORY: i64 = 6 * 1024 * 1024;

/// Why a container description cannot become a spec. Messages follow Docker's where it has one.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("No command specified")]
    NoCommand,
    #[error("the working directory '{0}' is invalid, it needs to be an absolute path")]
    RelativeWorkingDir(String),
    #[error("unable to find user {user}: no matching entries in passwd file")]
    UserNotFound { user: String },
    #[error("unable to find group {group}: no matching entries in group file")]
    GroupNotFound { group: String },
    #[error("reading {path}: {source}")]
    ReadRootfsFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("unknown capability: \"{name}\"")]
    UnknownCapability { name: String },
    #[error("invalid mount config for {bind:?}: {reason}")]
    InvalidBind { bind: String, reason: String },
    #[error("Minimum memory limit allowed is 6MB")]
    MemoryTooLow,
    #[error("Minimum memoryswap limit should be larger than memory limit, see usage")]
    SwapBelowMemory,
    #[error("You should always set the Memory limit when using Memoryswap limit, see usage")]
    SwapWithoutMemory,
    #[error("Conflicting options: Nano CPUs and CPU Period/Quota cannot both be set")]
    NanoCpusConflict,
    #[error("Range of CPUs is from 0.01 to {max}.00, as there are only {max} CPUs available")]
    TooManyCpus { max: u32 },
    #[error("invalid ulimit type: {0}")]
    UnknownUlimit(String),
    #[error("invalid ulimit {name}: soft limit {soft} is greater than hard limit {hard}")]
    UlimitSoftAboveHard { name: String, soft: i64, hard: i64 },
    #[error("sysctl '{0}' is not allowed")]
    SysctlNotAllowed(String),
    #[error("sysctl '{0}' is not allowed in the host network namespace")]
    SysctlNeedsNetns(String),
    #[error("invalid --security-opt: {0:?}")]
    InvalidSecurityOpt(String),
    #[error("--init was requested but no init binary is configured")]
    NoInitBinary,
    #[error("building the OCI spec: {0}")]
    Oci(#[from] oci_spec::OciSpecError),
}

/// Accepts Docker's "string or array of strings" (`strslice`), and null.
fn str_slice<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => None,
        Some(OneOrMany::One(s)) => Some(vec![s]),
        Some(OneOrMany::Many(v)) => Some(v),
    })
}

/// The parts of an image's `config` that decide how its containers run.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageConfig {
    pub env: Option<Vec<String>>,
    #[serde(deserialize_with = "str_slice")]
    pub cmd: Option<Vec<String>>,
    #[serde(deserialize_with = "str_slice")]
    pub entrypoint: Option<Vec<String>>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub stop_signal: Option<String>,
    /// `{"/data": {}}`: paths the image declares as volumes (see [`unmounted_image_volumes`]).
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
}

/// The container part of a `POST /containers/create` body (what the request overrides).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerConfig {
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub user: Option<String>,
    pub tty: Option<bool>,
    /// Not part of the OCI spec: whether stdin is kept open is the caller's choice of stdio.
    pub open_stdin: Option<bool>,
    pub env: Option<Vec<String>>,
    #[serde(deserialize_with = "str_slice")]
    pub cmd: Option<Vec<String>>,
    #[serde(deserialize_with = "str_slice")]
    pub entrypoint: Option<Vec<String>>,
    pub working_dir: Option<String>,
    pub stop_signal: Option<String>,
}

/// One `Ulimits` entry (`{"Name": "nofile", "Soft": 1024, "Hard": 2048}`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BindOptions {
    pub propagation: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TmpfsOptions {
    pub size_bytes: Option<i64>,
    pub mode: Option<u32>,
}

/// One `HostConfig.Mounts` entry. `bind` and `volume` sources must already be absolute host paths
/// (the engine resolves a named volume to its data directory).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ApiMount {
    #[serde(rename = "Type")]
    pub typ: Option<String>,
    pub source: Option<String>,
    pub target: String,
    pub read_only: Option<bool>,
    pub bind_options: Option<BindOptions>,
    pub tmpfs_options: Option<TmpfsOptions>,
}

/// The `HostConfig` fields that shape the spec.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    pub privileged: Option<bool>,
    pub cap_add: Option<Vec<String>>,
    pub cap_drop: Option<Vec<String>>,
    pub readonly_rootfs: Option<bool>,
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<i64>,
    pub pids_limit: Option<i64>,
    pub ulimits: Option<Vec<Ulimit>>,
    pub tmpfs: Option<BTreeMap<String, String>>,
    pub binds: Option<Vec<String>>,
    pub mounts: Option<Vec<ApiMount>>,
    pub security_opt: Option<Vec<String>>,
    pub init: Option<bool>,
    pub sysctls: Option<BTreeMap<String, String>>,
    pub shm_size: Option<i64>,
    pub cgroup_parent: Option<String>,
}

/// How the host's cgroups are mounted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CgroupMode {
    /// Only v1 hierarchies.
    #[default]
    Legacy,
    /// v1 hierarchies plus an (often empty) v2 tree at `/sys/fs/cgroup/unified`.
    Hybrid,
    /// Pure v2.
    Unified,
}

/// Facts about the host that change the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInfo {
    pub cgroup: CgroupMode,
    /// Whether the memory controller can limit swap (`memory.memsw.*` on v1).
    pub swap_limit: bool,
    /// `/proc/sys/kernel/cap_last_cap`.
    pub cap_last_cap: u8,
    /// Online CPUs, for `--cpus` validation; 0 skips the check.
    pub cpus: u32,
}

impl Default for HostInfo {
    fn default() -> Self {
        Self {
            cgroup: CgroupMode::Hybrid,
            swap_limit: true,
            cap_last_cap: 40,
            cpus: 0,
        }
    }
}

/// Host files bind-mounted over the container's `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EtcFiles {
    pub hosts: Option<PathBuf>,
    pub hostname: Option<PathBuf>,
    pub resolv_conf: Option<PathBuf>,
}

/// Which network namespace the container gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NetworkNamespace {
    /// A fresh, empty one (loopback only until the network layer attaches a veth).
    #[default]
    New,
    /// Join an existing one, e.g. `/run/netns/<name>` prepared by the network layer.
    Path(PathBuf),
    /// Share the host's (`--network host`).
    Host,
}

/// Everything [`build_spec`] needs.
#[derive(Debug, Clone, Default)]
pub struct SpecInput {
    /// Full container id; the hostname defaults to its first 12 characters.
    pub id: String,
    /// The container's root filesystem (e.g. its overlay mount point).
    pub rootfs: PathBuf,
    pub image: ImageConfig,
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    pub etc_files: EtcFiles,
    pub network: NetworkNamespace,
    pub host: HostInfo,
    /// Host path of the `--init` binary (bind-mounted read-only at [`INIT_PATH`]).
    pub init_binary: Option<PathBuf>,
    /// Devices a privileged container gets (the host's `/dev`, see [`crate::host::list_devices`]).
    pub host_devices: Vec<LinuxDevice>,
    /// Parent of the container's cgroup, absolute in each hierarchy; default `/berth`.
    pub cgroup_parent: Option<String>,
}

/// The container's command line: Docker's entrypoint/cmd combination rules.
pub fn command(image: &ImageConfig, config: &ContainerConfig) -> Result<Vec<String>, SpecError> {
    let (entrypoint, cmd): (Vec<String>, Vec<String>) = match &config.entrypoint {
        // `--entrypoint ""` arrives as [""]: no entrypoint, and the image Cmd is not used.
        Some(ep) if ep.len() == 1 && ep[0].is_empty() => {
            (Vec::new(), config.cmd.clone().unwrap_or_default())
        }
        Some(ep) if !ep.is_empty() => (ep.clone(), config.cmd.clone().unwrap_or_default()),
        // No entrypoint in the request (absent or []): image Cmd unless the request has one.
        other => {
            let cmd = match &config.cmd {
                Some(c) if !c.is_empty() => c.clone(),
                _ => image.cmd.clone().unwrap_or_default(),
            };
            let ep = if other.is_none() {
                image.entrypoint.clone().unwrap_or_default()
            } else {
                Vec::new()
            };
            (ep, cmd)
        }
    };
    let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if args.is_empty() || args[0].is_empty() {
        return Err(SpecError::NoCommand);
    }
    Ok(args)
}

fn env_key(e: &str) -> &str {
    e.split_once('=').map(|(k, _)| k).unwrap_or(e)
}

/// Sets each `KEY=value` entry over `env` (replacing the same key in place, else appending);
/// a bare `KEY` removes it.
pub(crate) fn apply_env<'a>(env: &mut Vec<String>, entries: impl IntoIterator<Item = &'a String>) {
    for entry in entries {
        let key = env_key(entry);
        if key.is_empty() {
            continue;
        }
        let pos = env.iter().position(|e| env_key(e) == key);
        match (entry.contains('='), pos) {
            (true, Some(i)) => env[i] = entry.clone(),
            (true, None) => env.push(entry.clone()),
            (false, Some(i)) => {
                env.remove(i);
            }
            (false, None) => {}
        }
    }
}

/// Docker's env merge; `home` is added as `HOME` when nothing set it.
pub fn merge_env(
    image: &ImageConfig,
    config: &ContainerConfig,
    hostname: &str,
    home: &str,
) -> Vec<String> {
    let mut env: Vec<String> = vec![
        format!("PATH={DEFAULT_PATH}"),
        format!("HOSTNAME={hostname}"),
    ];
    if config.tty.unwrap_or(false) {
        env.push("TERM=xterm".into());
    }
    let layers = image
        .env
        .iter()
        .flatten()
        .chain(config.env.iter().flatten());
    apply_env(&mut env, layers);
    if !env.iter().any(|e| env_key(e) == "HOME") {
        env.push(format!("HOME={home}"));
    }
    env
}

/// Image volumes that no bind, mount or tmpfs covers: the engine must create an anonymous volume
/// for each and pass it in `HostConfig.Mounts` (the spec builder never creates storage).
pub fn unmounted_image_volumes(image: &ImageConfig, hc: &HostConfig) -> Vec<String> {
    let mut covered: Vec<PathBuf> = Vec::new();
    for b in hc.binds.iter().flatten() {
        if let Some(d) = b.split(':').nth(1) {
            covered.push(clean_abs(d));
        }
    }
    for m in hc.mounts.iter().flatten() {
        covered.push(clean_abs(&m.target));
    }
    for d in hc.tmpfs.iter().flat_map(|t| t.keys()) {
        covered.push(clean_abs(d));
    }
    image
        .volumes
        .iter()
        .flat_map(|v| v.keys())
        .filter(|v| !covered.contains(&clean_abs(v)))
        .cloned()
        .collect()
}

fn clean_abs(p: &str) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in Path::new(p).components() {
        if let std::path::Component::Normal(n) = c {
            out.push(n);
        }
    }
    out
}

fn rlimit_type(name: &str) -> Option<PosixRlimitType> {
    Some(match name {
        "core" => PosixRlimitType::RlimitCore,
        "cpu" => PosixRlimitType::RlimitCpu,
        "data" => PosixRlimitType::RlimitData,
        "fsize" => PosixRlimitType::RlimitFsize,
        "locks" => PosixRlimitType::RlimitLocks,
        "memlock" => PosixRlimitType::RlimitMemlock,
        "msgqueue" => PosixRlimitType::RlimitMsgqueue,
        "nice" => PosixRlimitType::RlimitNice,
        "nofile" => PosixRlimitType::RlimitNofile,
        "nproc" => PosixRlimitType::RlimitNproc,
        "rss" => PosixRlimitType::RlimitRss,
        "rtprio" => PosixRlimitType::RlimitRtprio,
        "rttime" => PosixRlimitType::RlimitRttime,
        "sigpending" => PosixRlimitType::RlimitSigpending,
        "stack" => PosixRlimitType::RlimitStack,
        "as" => PosixRlimitType::RlimitAs,
        _ => return None,
    })
}

/// `-1` (unlimited) and other negatives become RLIM_INFINITY.
fn rlim(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

fn rlimit(typ: PosixRlimitType, soft: u64, hard: u64) -> Result<PosixRlimit, SpecError> {
    Ok(PosixRlimitBuilder::default()
        .typ(typ)
        .soft(soft)
        .hard(hard)
        .build()?)
}

/// Only the requested ulimits: like Docker, a container without `--ulimit` inherits the limits
/// of the process that creates it (dockerd's containerd-shim; here the engine or its supervisor,
/// which can pass its own defaults as `Ulimits`). Setting a fixed default would fail on hosts where
/// the creator lacks `CAP_SYS_RESOURCE` and has a lower hard limit.
fn rlimits(ulimits: &[Ulimit]) -> Result<Vec<PosixRlimit>, SpecError> {
    let mut out: Vec<PosixRlimit> = Vec::new();
    for u in ulimits {
        let typ = rlimit_type(&u.name).ok_or_else(|| SpecError::UnknownUlimit(u.name.clone()))?;
        if rlim(u.soft) > rlim(u.hard) {
            return Err(SpecError::UlimitSoftAboveHard {
                name: u.name.clone(),
                soft: u.soft,
                hard: u.hard,
            });
        }
        let r = rlimit(typ, rlim(u.soft), rlim(u.hard))?;
        out.retain(|x| x.typ() != typ);
        out.push(r);
    }
    Ok(out)
}

fn device_rule(
    allow: bool,
    typ: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut d = LinuxDeviceCgroup::default();
    d.set_allow(allow);
    d.set_typ(Some(typ));
    d.set_major(major);
    d.set_minor(minor);
    d.set_access(Some(access.to_string()));
    d
}

/// The device cgroup: deny everything, then allow mknod of any node and use of the default
/// devices (null, zero, full, random, urandom, tty, console, ptmx, pts). Privileged: allow all.
pub(crate) fn device_rules(privileged: bool) -> Vec<LinuxDeviceCgroup> {
    use LinuxDeviceType::{A, B, C};
    if privileged {
        return vec![device_rule(true, A, None, None, "rwm")];
    }
    let mut rules = vec![
        device_rule(false, A, None, None, "rwm"),
        device_rule(true, C, None, None, "m"),
        device_rule(true, B, None, None, "m"),
    ];
    for (major, minor) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
    ] {
        rules.push(device_rule(true, C, Some(major), Some(minor), "rwm"));
    }
    rules.push(device_rule(true, C, Some(136), None, "rwm"));
    rules
}

fn resources(
    hc: &HostConfig,
    host: &HostInfo,
    privileged: bool,
) -> Result<LinuxResources, SpecError> {
    let mut res = LinuxResources::default();
    res.set_devices(Some(device_rules(privileged)));

    let memory = hc.memory.unwrap_or(0);
    let swap = hc.memory_swap.unwrap_or(0);
    if memory > 0 && memory < MIN_MEMORY {
        return Err(SpecError::MemoryTooLow);
    }
    if memory == 0 && swap > 0 {
        return Err(SpecError::SwapWithoutMemory);
    }
    if memory > 0 {
        let mut mem = LinuxMemory::default();
        mem.set_limit(Some(memory));
        if host.swap_limit {
            // Memory+swap: unset means twice the memory, -1 unlimited (Docker's rules).
            let total = match swap {
                0 => memory.saturating_mul(2),
                s if s < 0 => -1,
                s if s < memory => return Err(SpecError::SwapBelowMemory),
                s => s,
            };
            mem.set_swap(Some(total));
        }
        res.set_memory(Some(mem));
    }

    let nano = hc.nano_cpus.unwrap_or(0);
    let quota = hc.cpu_quota.unwrap_or(0);
    let period = hc.cpu_period.unwrap_or(0);
    let shares = hc.cpu_shares.unwrap_or(0);
    if nano > 0 && (quota > 0 || period > 0) {
        return Err(SpecError::NanoCpusConflict);
    }
    if nano > 0 && host.cpus > 0 && nano > i64::from(host.cpus) * 1_000_000_000 {
        return Err(SpecError::TooManyCpus { max: host.cpus });
    }
    if nano > 0 || quota > 0 || period > 0 || shares > 0 {
        let mut cpu = LinuxCpu::default();
        if shares > 0 {
            cpu.set_shares(Some(shares as u64));
        }
        if nano > 0 {
            cpu.set_period(Some(CPU_PERIOD_US));
            cpu.set_quota(Some(nano * CPU_PERIOD_US as i64 / 1_000_000_000));
        } else {
            if quota > 0 {
                cpu.set_quota(Some(quota));
            }
            if period > 0 {
                cpu.set_period(Some(period as u64));
            }
        }
        res.set_cpu(Some(cpu));
    }

    // 0 and -1 both mean unlimited in API 1.41+.
    if let Some(limit) = hc.pids_limit.filter(|l| *l > 0) {
        let mut pids = LinuxPids::default();
        pids.set_limit(limit);
        res.set_pids(Some(pids));
    }
    Ok(res)
}

fn check_sysctls(
    sysctls: &BTreeMap<String, String>,
    network: &NetworkNamespace,
) -> Result<HashMap<String, String>, SpecError> {
    const IPC_EXACT: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let mut out = HashMap::new();
    for (k, v) in sysctls {
        if k.starts_with("net.") {
            if *network == NetworkNamespace::Host {
                return Err(SpecError::SysctlNeedsNetns(k.clone()));
            }
        } else if !(IPC_EXACT.contains(&k.as_str()) || k.starts_with("fs.mqueue.")) {
            return Err(SpecError::SysctlNotAllowed(k.clone()));
        }
        out.insert(k.clone(), v.clone());
    }
    Ok(out)
}

#[derive(Debug, Default)]
struct SecurityOpts {
    no_new_privileges: bool,
    seccomp_unconfined: bool,
}

/// `no-new-privileges` (also `no-new-privileges:true|false`, `=true|false`) and
/// `seccomp=unconfined`; `label=…` and `apparmor=…` are accepted and ignored (this host runs
/// neither SELinux nor AppArmor profiles for berth).
fn security_opts(opts: &[String]) -> Result<SecurityOpts, SpecError> {
    let mut out = SecurityOpts::default();
    for o in opts {
        let (k, v) = match o.split_once(['=', ':']) {
            Some((k, v)) => (k, Some(v)),
            None => (o.as_str(), None),
        };
        match (k, v) {
            ("no-new-privileges", None | Some("true")) => out.no_new_privileges = true,
            ("no-new-privileges", Some("false")) => out.no_new_privileges = false,
            ("seccomp", Some("unconfined")) => out.seccomp_unconfined = true,
            ("label" | "apparmor", Some(_)) => {}
            _ => return Err(SpecError::InvalidSecurityOpt(o.clone())),
        }
    }
    Ok(out)
}

fn namespace(typ: LinuxNamespaceType, path: Option<PathBuf>) -> LinuxNamespace {
    let mut ns = LinuxNamespace::default();
    ns.set_typ(typ);
    ns.set_path(path);
    ns
}

/// Builds the OCI runtime spec for `input` with Docker's defaults.
pub fn build_spec(input: &SpecInput) -> Result<Spec, SpecError> {
    let img = &input.image;
    let cfg = &input.config;
    let hc = &input.host_config;
    let privileged = hc.privileged.unwrap_or(false);

    let mut args = command(img, cfg)?;
    let cwd = cfg
        .working_dir
        .clone()
        .filter(|w| !w.is_empty())
        .or_else(|| img.working_dir.clone().filter(|w| !w.is_empty()))
        .unwrap_or_else(|| "/".to_string());
    if !cwd.starts_with('/') {
        return Err(SpecError::RelativeWorkingDir(cwd));
    }
    let hostname = cfg
        .hostname
        .clone()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| input.id.chars().take(12).collect());
    let user_spec = cfg
        .user
        .clone()
        .filter(|u| !u.is_empty())
        .or_else(|| img.user.clone())
        .unwrap_or_default();
    let who = resolve_user(&input.rootfs, &user_spec)?;
    let env = merge_env(img, cfg, &hostname, &who.home);

    let sec = security_opts(hc.security_opt.as_deref().unwrap_or(&[]))?;
    let caps = caps::effective_caps(
        hc.cap_add.as_deref().unwrap_or(&[]),
        hc.cap_drop.as_deref().unwrap_or(&[]),
        privileged,
        input.host.cap_last_cap,
    )?;
    let cap_set: oci_spec::runtime::Capabilities = caps.iter().copied().collect();
    let mut capabilities = LinuxCapabilities::default();
    capabilities.set_bounding(Some(cap_set.clone()));
    capabilities.set_effective(Some(cap_set.clone()));
    capabilities.set_permitted(Some(cap_set));
    capabilities.set_inheritable(None);
    capabilities.set_ambient(None);

    // Mounts.
    let mut user_mounts = mounts::user_mounts(
        hc.binds.as_deref().unwrap_or(&[]),
        hc.mounts.as_deref().unwrap_or(&[]),
        hc.tmpfs.as_ref().unwrap_or(&BTreeMap::new()),
    )?;
    if hc.init.unwrap_or(false) {
        let bin = input.init_binary.as_ref().ok_or(SpecError::NoInitBinary)?;
        let mut m = mounts::mount(INIT_PATH, "bind", "/", &["rbind", "rprivate", "ro"]);
        m.set_source(Some(bin.clone()));
        user_mounts.insert(PathBuf::from(INIT_PATH), m);
        args.splice(0..0, [INIT_PATH.to_string(), "--".to_string()]);
    }
    let all_mounts = mounts::assemble(
        mounts::default_mounts(hc.shm_size.unwrap_or(0), privileged),
        &input.etc_files,
        user_mounts,
    );
    let propagation = mounts::rootfs_propagation(&all_mounts);

    let rl = rlimits(hc.ulimits.as_deref().unwrap_or(&[]))?;

    let mut user = User::default();
    user.set_uid(who.uid);
    user.set_gid(who.gid);
    if !who.additional_gids.is_empty() {
        user.set_additional_gids(Some(who.additional_gids.clone()));
    }

    let mut process = Process::default();
    process.set_terminal(Some(cfg.tty.unwrap_or(false)));
    process.set_user(user);
    process.set_args(Some(args));
    process.set_env(Some(env));
    process.set_cwd(PathBuf::from(cwd));
    process.set_capabilities(Some(capabilities));
    process.set_rlimits((!rl.is_empty()).then_some(rl));
    process.set_no_new_privileges(sec.no_new_privileges.then_some(true));
    process.set_oom_score_adj(None);

    let mut root = Root::default();
    root.set_path(input.rootfs.clone());
    root.set_readonly(Some(hc.readonly_rootfs.unwrap_or(false)));

    let mut namespaces = vec![
        namespace(LinuxNamespaceType::Pid, None),
        namespace(LinuxNamespaceType::Ipc, None),
        namespace(LinuxNamespaceType::Uts, None),
        namespace(LinuxNamespaceType::Mount, None),
    ];
    match &input.network {
        NetworkNamespace::New => namespaces.push(namespace(LinuxNamespaceType::Network, None)),
        NetworkNamespace::Path(p) => {
            namespaces.push(namespace(LinuxNamespaceType::Network, Some(p.clone())))
        }
        NetworkNamespace::Host => {}
    }
    if input.host.cgroup == CgroupMode::Unified {
        namespaces.push(namespace(LinuxNamespaceType::Cgroup, None));
    }

    let mut linux = oci_spec::runtime::Linux::default();
    linux.set_namespaces(Some(namespaces));
    linux.set_resources(Some(resources(hc, &input.host, privileged)?));
    let parent = input
        .cgroup_parent
        .clone()
        .or_else(|| hc.cgroup_parent.clone())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/berth".to_string());
    let parent = if parent.starts_with('/') {
        parent
    } else {
        format!("/{parent}")
    };
    linux.set_cgroups_path(Some(Path::new(&parent).join(&input.id)));
    linux.set_devices(if privileged && !input.host_devices.is_empty() {
        Some(input.host_devices.clone())
    } else {
        None
    });
    if privileged {
        linux.set_masked_paths(None);
        linux.set_readonly_paths(None);
        linux.set_seccomp(None);
    } else {
        linux.set_masked_paths(Some(
            mounts::MASKED_PATHS.iter().map(|s| s.to_string()).collect(),
        ));
        linux.set_readonly_paths(Some(
            mounts::READONLY_PATHS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        ));
        linux.set_seccomp(if sec.seccomp_unconfined {
            None
        } else {
            Some(seccomp::default_profile(&caps)?)
        });
    }
    let sysctls = check_sysctls(
        hc.sysctls.as_ref().unwrap_or(&BTreeMap::new()),
        &input.network,
    )?;
    linux.set_sysctl((!sysctls.is_empty()).then_some(sysctls));
    linux.set_rootfs_propagation(propagation);

    let mut spec = Spec::default();
    spec.set_version("1.0.2".to_string());
    spec.set_root(Some(root));
    spec.set_hostname(Some(hostname));
    spec.set_domainname(cfg.domainname.clone().filter(|d| !d.is_empty()));
    spec.set_mounts(Some(all_mounts));
    spec.set_process(Some(process));
    spec.set_linux(Some(linux));
    spec.set_hooks(None);
    let stop = cfg
        .stop_signal
        .clone()
        .or_else(|| img.stop_signal.clone())
        .filter(|s| !s.is_empty());
    spec.set_annotations(stop.map(|s| HashMap::from([(STOP_SIGNAL_ANNOTATION.to_string(), s)])));
    Ok(spec)
}

/// Capabilities of a built spec's process (bounding set), for callers and tests.
pub fn spec_capabilities(spec: &Spec) -> Vec<Capability> {
    let mut caps: Vec<Capability> = spec
        .process()
        .as_ref()
        .and_then(|p| p.capabilities().as_ref())
        .and_then(|c| c.bounding().as_ref())
        .map(|b| b.iter().copied().collect())
        .unwrap_or_default();
    caps.sort_by_key(|c| caps::ALL_CAPS.iter().position(|(x, _, _)| x == c));
    caps
}

#[cfg(test)]
mod tests;
