//! Mounts: Docker's default filesystem set, `/etc/hosts`-style bind files, `Binds`, `Mounts` and
//! `Tmpfs`, plus the masked and read-only paths.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::Mount;

use super::{ApiMount, EtcFiles, SpecError};

/// Paths Docker hides from an unprivileged container (a bind of `/dev/null`, or an empty read-only
/// tmpfs for directories).
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths Docker remounts read-only in an unprivileged container.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Docker's `/dev/shm` size when `ShmSize` is 0.
pub const DEFAULT_SHM_SIZE: i64 = 64 * 1024 * 1024;

pub(crate) fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(dest));
    m.set_typ(Some(typ.to_string()));
    m.set_source(Some(PathBuf::from(source)));
    m.set_options(Some(options.iter().map(|o| o.to_string()).collect()));
    m
}

fn bind(dest: &Path, source: &Path, options: Vec<String>) -> Mount {
    let mut m = Mount::default();
    m.set_destination(dest.to_path_buf());
    m.set_typ(Some("bind".to_string()));
    m.set_source(Some(source.to_path_buf()));
    m.set_options(Some(options));
    m
}

/// The filesystems every container gets. `privileged` leaves `/sys` and the cgroup tree writable.
pub(crate) fn default_mounts(shm_size: i64, privileged: bool) -> Vec<Mount> {
    let shm_size = if shm_size > 0 {
        shm_size
    } else {
        DEFAULT_SHM_SIZE
    };
    let ro_or_rw = if privileged { "rw" } else { "ro" };
    let shm_opt = format!("size={shm_size}");
    vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", ro_or_rw],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", ro_or_rw],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", &shm_opt],
        ),
    ]
}

/// Options a `Binds` entry may carry after the destination.
struct BindOpts {
    read_only: bool,
    propagation: Option<String>,
}

fn parse_bind_opts(spec: &str, opts: &str) -> Result<BindOpts, SpecError> {
    let mut out = BindOpts {
        read_only: false,
        propagation: None,
    };
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => out.read_only = true,
            "rw" => out.read_only = false,
            // SELinux relabel and volume-copy hints do not change the mount itself.
            "z" | "Z" | "nocopy" | "consistent" | "cached" | "delegated" => {}
            "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => {
                out.propagation = Some(o.to_string())
            }
            _ => {
                return Err(SpecError::InvalidBind {
                    bind: spec.to_string(),
                    reason: format!("unknown option {o:?}"),
                })
            }
        }
    }
    Ok(out)
}

fn check_destination(what: &str, dest: &str) -> Result<PathBuf, SpecError> {
    let p = Path::new(dest);
    if !p.is_absolute() {
        return Err(SpecError::InvalidBind {
            bind: what.to_string(),
            reason: format!("destination {dest:?} is not an absolute path"),
        });
    }
    if p.components().any(|c| c == Component::ParentDir) {
        return Err(SpecError::InvalidBind {
            bind: what.to_string(),
            reason: format!("destination {dest:?} contains '..'"),
        });
    }
    if clean(p) == Path::new("/") {
        return Err(SpecError::InvalidBind {
            bind: what.to_string(),
            reason: "destination can't be '/'".to_string(),
        });
    }
    Ok(clean(p))
}

/// Lexically cleans an absolute path (`//a/./b/` → `/a/b`).
fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        if let Component::Normal(n) = c {
            out.push(n);
        }
    }
    out
}

fn bind_options(read_only: bool, propagation: Option<&str>) -> Vec<String> {
    let mut o = vec![
        "rbind".to_string(),
        propagation.unwrap_or("rprivate").to_string(),
    ];
    o.push(if read_only { "ro" } else { "rw" }.to_string());
    o
}

/// Docker's tmpfs defaults (`noexec,nosuid,nodev`) merged with the user's options: a later
/// option of a pair (`exec`/`noexec`, `ro`/`rw`, ...) replaces the earlier one, and a later
/// `size=`/`mode=` replaces an earlier one.
pub(crate) fn tmpfs_options(user: &str) -> Vec<String> {
    const PAIRS: &[(&str, &str)] = &[
        ("exec", "noexec"),
        ("suid", "nosuid"),
        ("dev", "nodev"),
        ("rw", "ro"),
        ("atime", "noatime"),
        ("diratime", "nodiratime"),
    ];
    let mut out: Vec<String> = vec!["noexec".into(), "nosuid".into(), "nodev".into()];
    for opt in user.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let key = opt.split('=').next().unwrap_or(opt);
        out.retain(|existing| {
            let ekey = existing.split('=').next().unwrap_or(existing);
            if opt.contains('=') {
                return ekey != key;
            }
            let conflicts = PAIRS
                .iter()
                .any(|(a, b)| (opt == *a && existing == b) || (opt == *b && existing == a));
            !conflicts && existing != opt
        });
        out.push(opt.to_string());
    }
    out
}

/// Every user-requested mount, keyed by cleaned destination (a later one for the same destination
/// replaces an earlier one, as `Mounts` do over `Binds` in Docker).
pub(crate) fn user_mounts(
    binds: &[String],
    mounts: &[ApiMount],
    tmpfs: &BTreeMap<String, String>,
) -> Result<BTreeMap<PathBuf, Mount>, SpecError> {
    let mut out = BTreeMap::new();
    for b in binds {
        // host:container[:options]; named volumes must already be host paths here.
        let parts: Vec<&str> = b.splitn(3, ':').collect();
        if parts.len() < 2 {
            return Err(SpecError::InvalidBind {
                bind: b.clone(),
                reason: "expected host-path:container-path[:options]".into(),
            });
        }
        let source = Path::new(parts[0]);
        if !source.is_absolute() {
            return Err(SpecError::InvalidBind {
                bind: b.clone(),
                reason: format!(
                    "source {:?} is not an absolute path (named volumes must be resolved to their host path first)",
                    parts[0]
                ),
            });
        }
        let dest = check_destination(b, parts[1])?;
        let opts = parse_bind_opts(b, parts.get(2).copied().unwrap_or(""))?;
        out.insert(
            dest.clone(),
            bind(
                &dest,
                source,
                bind_options(opts.read_only, opts.propagation.as_deref()),
            ),
        );
    }
    for (dest, opts) in tmpfs {
        let d = check_destination(dest, dest)?;
        let mut m = mount("/", "tmpfs", "tmpfs", &[]);
        m.set_destination(d.clone());
        m.set_options(Some(tmpfs_options(opts)));
        out.insert(d, m);
    }
    for m in mounts {
        let what = format!("{}:{}", m.source.as_deref().unwrap_or(""), m.target);
        let dest = check_destination(&what, &m.target)?;
        let ro = m.read_only.unwrap_or(false);
        let typ = m.typ.as_deref().unwrap_or("volume");
        let spec_mount = match typ {
            "bind" | "volume" => {
                let src = m.source.as_deref().unwrap_or("");
                if !Path::new(src).is_absolute() {
                    return Err(SpecError::InvalidBind {
                        bind: what,
                        reason: format!(
                            "{typ} source {src:?} must be resolved to an absolute host path"
                        ),
                    });
                }
                let prop = m
                    .bind_options
                    .as_ref()
                    .and_then(|b| b.propagation.as_deref());
                if let Some(p) = prop {
                    parse_bind_opts(&what, p)?;
                }
                bind(&dest, Path::new(src), bind_options(ro, prop))
            }
            "tmpfs" => {
                let mut user = Vec::new();
                if let Some(t) = &m.tmpfs_options {
                    if let Some(size) = t.size_bytes.filter(|s| *s > 0) {
                        user.push(format!("size={size}"));
                    }
                    if let Some(mode) = t.mode {
                        user.push(format!("mode={mode:o}"));
                    }
                }
                if ro {
                    user.push("ro".into());
                }
                let mut tm = mount("/", "tmpfs", "tmpfs", &[]);
                tm.set_destination(dest.clone());
                tm.set_options(Some(tmpfs_options(&user.join(","))));
                tm
            }
            other => {
                return Err(SpecError::InvalidBind {
                    bind: what,
                    reason: format!("mount type {other:?} is not supported"),
                })
            }
        };
        out.insert(dest, spec_mount);
    }
    Ok(out)
}

/// Puts together the final mount list: defaults that the user did not replace (a user mount on
/// `/dev` replaces every default under `/dev`), the hosts/hostname/resolv.conf binds unless the
/// user mounted those files, then the user mounts, parents before children.
pub(crate) fn assemble(
    defaults: Vec<Mount>,
    etc: &EtcFiles,
    user: BTreeMap<PathBuf, Mount>,
) -> Vec<Mount> {
    let user_dev = user.contains_key(Path::new("/dev"));
    let mut out: Vec<Mount> = defaults
        .into_iter()
        .filter(|m| {
            let d = m.destination();
            let under_user_dev = user_dev && d.starts_with("/dev") && d != Path::new("/dev");
            !(user.contains_key(d) || under_user_dev)
        })
        .collect();
    let mut binds: Vec<Mount> = Vec::new();
    for (dest, src) in [
        ("/etc/resolv.conf", &etc.resolv_conf),
        ("/etc/hostname", &etc.hostname),
        ("/etc/hosts", &etc.hosts),
    ] {
        if let Some(src) = src {
            if !user.contains_key(Path::new(dest)) {
                binds.push(bind(Path::new(dest), src, bind_options(false, None)));
            }
        }
    }
    binds.extend(user.into_values());
    // Parents before children so a bind at /a/b is not hidden by a later mount at /a (the
    // /etc files included: a volume on /etc must not cover /etc/hosts).
    binds.sort_by_key(|m| m.destination().components().count());
    out.extend(binds);
    out
}

/// The root propagation a bind with shared/slave propagation needs (Docker's rule).
pub(crate) fn rootfs_propagation(mounts: &[Mount]) -> Option<String> {
    let mut wanted: Option<&str> = None;
    for m in mounts {
        for o in m.options().iter().flatten() {
            match o.as_str() {
                "shared" | "rshared" => wanted = Some("rshared"),
                "slave" | "rslave" if wanted.is_none() => wanted = Some("rslave"),
                _ => {}
            }
        }
    }
    wanted.map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmpfs_defaults_and_overrides() {
        assert_eq!(tmpfs_options(""), vec!["noexec", "nosuid", "nodev"]);
        assert_eq!(
            tmpfs_options("exec,size=64m,mode=1770"),
            vec!["nosuid", "nodev", "exec", "size=64m", "mode=1770"]
        );
        assert_eq!(
            tmpfs_options("size=1m,size=2m"),
            vec!["noexec", "nosuid", "nodev", "size=2m"]
        );
    }

    #[test]
    fn binds_parse_options_and_reject_relative_sources() {
        let binds = vec![
            "/host/a:/data:ro".to_string(),
            "/host/b:/x/y:rshared,z".to_string(),
        ];
        let m = user_mounts(&binds, &[], &BTreeMap::new()).unwrap();
        let a = &m[Path::new("/data")];
        assert_eq!(a.source().as_deref(), Some(Path::new("/host/a")));
        assert_eq!(
            a.options().as_ref().unwrap(),
            &vec!["rbind", "rprivate", "ro"]
        );
        let b = &m[Path::new("/x/y")];
        assert_eq!(
            b.options().as_ref().unwrap(),
            &vec!["rbind", "rshared", "rw"]
        );
        assert!(user_mounts(&["vol:/data".into()], &[], &BTreeMap::new()).is_err());
        assert!(user_mounts(&["/a:rel".into()], &[], &BTreeMap::new()).is_err());
        assert!(user_mounts(&["/a:/".into()], &[], &BTreeMap::new()).is_err());
        assert!(user_mounts(&["/a:/b:bogus".into()], &[], &BTreeMap::new()).is_err());
    }

    #[test]
    fn user_dev_mount_replaces_default_dev_children() {
        let mut user = BTreeMap::new();
        let mut dev = mount("/dev", "tmpfs", "tmpfs", &[]);
        dev.set_destination("/dev".into());
        user.insert(PathBuf::from("/dev"), dev);
        let all = assemble(default_mounts(0, false), &EtcFiles::default(), user);
        let devs: Vec<_> = all
            .iter()
            .filter(|m| m.destination().starts_with("/dev"))
            .collect();
        assert_eq!(devs.len(), 1);
    }

    #[test]
    fn propagation_follows_the_strongest_bind() {
        let mut m = mount("/x", "bind", "/y", &["rbind", "rslave"]);
        assert_eq!(
            rootfs_propagation(std::slice::from_ref(&m)).as_deref(),
            Some("rslave")
        );
        m.set_options(Some(vec!["rbind".into(), "shared".into()]));
        assert_eq!(rootfs_propagation(&[m]).as_deref(), Some("rshared"));
    }
}
