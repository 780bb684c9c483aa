use std::path::Path;

use oci_spec::runtime::{LinuxDeviceType, LinuxNamespaceType, Mount, PosixRlimitType, Spec};

use super::*;

const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A rootfs with passwd/group files, kept alive by the returned guard.
fn rootfs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("etc")).unwrap();
    std::fs::write(
        dir.path().join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("etc/group"),
        "root:x:0:\nwheel:x:10:app\napp:x:1000:\n",
    )
    .unwrap();
    dir
}

fn input(dir: &tempfile::TempDir) -> SpecInput {
    SpecInput {
        id: ID.to_string(),
        rootfs: dir.path().to_path_buf(),
        image: ImageConfig {
            cmd: Some(vec!["sh".into()]),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn build(f: impl FnOnce(&mut SpecInput)) -> Result<Spec, SpecError> {
    let dir = rootfs();
    let mut i = input(&dir);
    f(&mut i);
    build_spec(&i)
}

fn spec(f: impl FnOnce(&mut SpecInput)) -> Spec {
    build(f).unwrap()
}

fn args(s: &Spec) -> Vec<String> {
    s.process().as_ref().unwrap().args().clone().unwrap()
}

fn env(s: &Spec) -> Vec<String> {
    s.process().as_ref().unwrap().env().clone().unwrap()
}

fn mount_at<'a>(s: &'a Spec, dest: &str) -> Option<&'a Mount> {
    s.mounts()
        .as_ref()
        .unwrap()
        .iter()
        .find(|m| m.destination() == Path::new(dest))
}

fn opts(m: &Mount) -> Vec<String> {
    m.options().clone().unwrap_or_default()
}

fn v(x: &[&str]) -> Option<Vec<String>> {
    Some(x.iter().map(|s| s.to_string()).collect())
}

fn linux(s: &Spec) -> &oci_spec::runtime::Linux {
    s.linux().as_ref().unwrap()
}

// ---- command -------------------------------------------------------------------------------

#[test]
fn image_entrypoint_and_cmd_combine() {
    let s = spec(|i| {
        i.image.entrypoint = v(&["/entry.sh"]);
        i.image.cmd = v(&["serve", "--port", "80"]);
    });
    assert_eq!(args(&s), ["/entry.sh", "serve", "--port", "80"]);
}

#[test]
fn request_cmd_replaces_image_cmd_but_keeps_image_entrypoint() {
    let s = spec(|i| {
        i.image.entrypoint = v(&["/entry.sh"]);
        i.image.cmd = v(&["serve"]);
        i.config.cmd = v(&["debug"]);
    });
    assert_eq!(args(&s), ["/entry.sh", "debug"]);
}

#[test]
fn request_entrypoint_resets_image_cmd() {
    let s = spec(|i| {
        i.image.entrypoint = v(&["/entry.sh"]);
        i.image.cmd = v(&["serve"]);
        i.config.entrypoint = v(&["echo"]);
    });
    assert_eq!(args(&s), ["echo"]);
    let s = spec(|i| {
        i.image.cmd = v(&["serve"]);
        i.config.entrypoint = v(&["echo"]);
        i.config.cmd = v(&["hi"]);
    });
    assert_eq!(args(&s), ["echo", "hi"]);
}

#[test]
fn empty_string_entrypoint_clears_entrypoint_and_image_cmd() {
    let s = spec(|i| {
        i.image.entrypoint = v(&["/entry.sh"]);
        i.image.cmd = v(&["serve"]);
        i.config.entrypoint = v(&[""]);
        i.config.cmd = v(&["ls"]);
    });
    assert_eq!(args(&s), ["ls"]);
    let err = build(|i| {
        i.image.cmd = v(&["serve"]);
        i.config.entrypoint = v(&[""]);
    })
    .unwrap_err();
    assert!(matches!(err, SpecError::NoCommand));
}

#[test]
fn empty_array_entrypoint_clears_entrypoint_but_keeps_image_cmd() {
    let s = spec(|i| {
        i.image.entrypoint = v(&["/entry.sh"]);
        i.image.cmd = v(&["serve"]);
        i.config.entrypoint = Some(vec![]);
    });
    assert_eq!(args(&s), ["serve"]);
}

#[test]
fn no_command_is_dockers_error() {
    let err = build(|i| i.image.cmd = None).unwrap_err();
    assert_eq!(err.to_string(), "No command specified");
}

#[test]
fn init_prepends_docker_init_and_binds_it_read_only() {
    let s = spec(|i| {
        i.host_config.init = Some(true);
        i.init_binary = Some("/usr/libexec/berth-init".into());
    });
    assert_eq!(args(&s), ["/sbin/docker-init", "--", "sh"]);
    let m = mount_at(&s, INIT_PATH).unwrap();
    assert_eq!(
        m.source().as_deref(),
        Some(Path::new("/usr/libexec/berth-init"))
    );
    assert!(opts(m).contains(&"ro".to_string()));
    assert!(matches!(
        build(|i| i.host_config.init = Some(true)).unwrap_err(),
        SpecError::NoInitBinary
    ));
}

// ---- env, hostname, working dir --------------------------------------------------------------

#[test]
fn env_defaults_path_hostname_and_home() {
    let e = env(&spec(|_| {}));
    assert_eq!(e[0], format!("PATH={DEFAULT_PATH}"));
    assert_eq!(e[1], "HOSTNAME=0123456789ab");
    assert!(e.contains(&"HOME=/root".to_string()));
    assert!(!e.iter().any(|x| x.starts_with("TERM=")));
}

#[test]
fn env_image_then_request_later_wins_in_place() {
    let e = env(&spec(|i| {
        i.image.env = v(&["PATH=/opt/bin:/bin", "A=image", "B=image"]);
        i.config.env = v(&["B=request", "C=request", "A"]);
        i.config.tty = Some(true);
    }));
    assert_eq!(
        e,
        [
            "PATH=/opt/bin:/bin",
            "HOSTNAME=0123456789ab",
            "TERM=xterm",
            "B=request",
            "C=request",
            "HOME=/root"
        ]
    );
}

#[test]
fn home_comes_from_passwd_of_the_user_unless_set() {
    let e = env(&spec(|i| i.config.user = Some("app".into())));
    assert!(e.contains(&"HOME=/home/app".to_string()));
    let e = env(&spec(|i| i.config.user = Some("4242".into())));
    assert!(e.contains(&"HOME=/".to_string()));
    let e = env(&spec(|i| {
        i.config.user = Some("app".into());
        i.config.env = v(&["HOME=/custom"]);
    }));
    assert!(e.contains(&"HOME=/custom".to_string()));
    assert!(!e.contains(&"HOME=/home/app".to_string()));
}

#[test]
fn hostname_is_short_id_unless_given() {
    assert_eq!(spec(|_| {}).hostname().as_deref(), Some("0123456789ab"));
    let s = spec(|i| i.config.hostname = Some("web".into()));
    assert_eq!(s.hostname().as_deref(), Some("web"));
    assert!(env(&s).contains(&"HOSTNAME=web".to_string()));
}

#[test]
fn working_dir_request_over_image_over_root() {
    let cwd = |s: &Spec| s.process().as_ref().unwrap().cwd().clone();
    assert_eq!(cwd(&spec(|_| {})), Path::new("/"));
    assert_eq!(
        cwd(&spec(|i| i.image.working_dir = Some("/app".into()))),
        Path::new("/app")
    );
    assert_eq!(
        cwd(&spec(|i| {
            i.image.working_dir = Some("/app".into());
            i.config.working_dir = Some("/srv".into());
        })),
        Path::new("/srv")
    );
    assert!(matches!(
        build(|i| i.config.working_dir = Some("rel".into())).unwrap_err(),
        SpecError::RelativeWorkingDir(_)
    ));
}

// ---- user ------------------------------------------------------------------------------------

#[test]
fn user_forms_resolve_through_the_rootfs() {
    let user = |u: &str| {
        let s = spec(|i| i.config.user = Some(u.into()));
        let p = s.process().as_ref().unwrap().user().clone();
        (
            p.uid(),
            p.gid(),
            p.additional_gids().clone().unwrap_or_default(),
        )
    };
    assert_eq!(user("app"), (1000, 1000, vec![10]));
    assert_eq!(user("1000"), (1000, 1000, vec![10]));
    assert_eq!(user("1000:10"), (1000, 10, vec![]));
    assert_eq!(user("app:wheel"), (1000, 10, vec![]));
    assert_eq!(user("77:88"), (77, 88, vec![]));
    // The image's User applies when the request has none.
    let s = spec(|i| i.image.user = Some("app".into()));
    assert_eq!(s.process().as_ref().unwrap().user().uid(), 1000);
    assert!(matches!(
        build(|i| i.config.user = Some("ghost".into())).unwrap_err(),
        SpecError::UserNotFound { .. }
    ));
}

// ---- capabilities, privileged, security options ---------------------------------------------

#[test]
fn default_capabilities_in_bounding_effective_permitted_only() {
    let s = spec(|_| {});
    let c = s
        .process()
        .as_ref()
        .unwrap()
        .capabilities()
        .clone()
        .unwrap();
    assert_eq!(c.bounding().as_ref().unwrap().len(), 14);
    assert_eq!(c.effective(), c.bounding());
    assert_eq!(c.permitted(), c.bounding());
    assert!(c.inheritable().is_none() && c.ambient().is_none());
}

#[test]
fn cap_add_drop_reach_the_spec() {
    let s = spec(|i| {
        i.host_config.cap_add = v(&["NET_ADMIN"]);
        i.host_config.cap_drop = v(&["CAP_NET_RAW"]);
    });
    let caps = spec_capabilities(&s);
    assert!(caps.contains(&Capability::NetAdmin));
    assert!(!caps.contains(&Capability::NetRaw));
    assert!(matches!(
        build(|i| i.host_config.cap_add = v(&["NOPE"])).unwrap_err(),
        SpecError::UnknownCapability { .. }
    ));
}

#[test]
fn unprivileged_gets_masks_readonly_paths_seccomp_and_ro_sys() {
    let s = spec(|_| {});
    let l = linux(&s);
    let masked = l.masked_paths().clone().unwrap();
    for p in [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/sys/firmware",
        "/proc/scsi",
    ] {
        assert!(masked.contains(&p.to_string()), "{p}");
    }
    let ro = l.readonly_paths().clone().unwrap();
    for p in [
        "/proc/sys",
        "/proc/sysrq-trigger",
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
    ] {
        assert!(ro.contains(&p.to_string()), "{p}");
    }
    assert!(l.seccomp().is_some());
    assert!(opts(mount_at(&s, "/sys").unwrap()).contains(&"ro".to_string()));
    assert!(opts(mount_at(&s, "/sys/fs/cgroup").unwrap()).contains(&"ro".to_string()));
    assert!(l.devices().is_none());
}

#[test]
fn privileged_gets_everything() {
    let mut null = LinuxDevice::default();
    null.set_path("/dev/sda".into());
    null.set_typ(LinuxDeviceType::B);
    let s = spec(|i| {
        i.host_config.privileged = Some(true);
        i.host_devices = vec![null.clone()];
    });
    let l = linux(&s);
    assert_eq!(spec_capabilities(&s).len(), 41);
    assert!(l.masked_paths().is_none() && l.readonly_paths().is_none());
    assert!(l.seccomp().is_none());
    assert_eq!(l.devices().clone().unwrap(), vec![null]);
    let rules = l.resources().as_ref().unwrap().devices().clone().unwrap();
    assert_eq!(rules.len(), 1);
    assert!(rules[0].allow() && rules[0].typ() == Some(LinuxDeviceType::A));
    assert!(opts(mount_at(&s, "/sys").unwrap()).contains(&"rw".to_string()));
}

#[test]
fn security_opts() {
    let nnp = |s: &Spec| s.process().as_ref().unwrap().no_new_privileges();
    assert_eq!(nnp(&spec(|_| {})), None);
    assert_eq!(
        nnp(&spec(
            |i| i.host_config.security_opt = v(&["no-new-privileges"])
        )),
        Some(true)
    );
    assert_eq!(
        nnp(&spec(
            |i| i.host_config.security_opt = v(&["no-new-privileges:true"])
        )),
        Some(true)
    );
    assert_eq!(
        nnp(&spec(
            |i| i.host_config.security_opt = v(&["no-new-privileges=false"])
        )),
        None
    );
    let s = spec(|i| i.host_config.security_opt = v(&["seccomp=unconfined"]));
    assert!(linux(&s).seccomp().is_none());
    assert!(matches!(
        build(|i| i.host_config.security_opt = v(&["bogus"])).unwrap_err(),
        SpecError::InvalidSecurityOpt(_)
    ));
}

#[test]
fn seccomp_follows_added_capabilities() {
    let s = spec(|i| i.host_config.cap_add = v(&["SYS_ADMIN"]));
    let p = linux(&s).seccomp().clone().unwrap();
    assert!(p
        .syscalls()
        .iter()
        .flatten()
        .any(|r| r.args().is_none() && r.names().contains(&"mount".to_string())));
}

// ---- mounts ----------------------------------------------------------------------------------

#[test]
fn default_mounts_are_dockers() {
    let s = spec(|_| {});
    let typ = |d: &str| mount_at(&s, d).unwrap().typ().clone().unwrap();
    assert_eq!(typ("/proc"), "proc");
    assert_eq!(typ("/dev"), "tmpfs");
    assert_eq!(typ("/dev/pts"), "devpts");
    assert_eq!(typ("/dev/shm"), "tmpfs");
    assert_eq!(typ("/dev/mqueue"), "mqueue");
    assert_eq!(typ("/sys"), "sysfs");
    assert_eq!(typ("/sys/fs/cgroup"), "cgroup");
    assert!(opts(mount_at(&s, "/dev/shm").unwrap()).contains(&"size=67108864".to_string()));
    let s = spec(|i| i.host_config.shm_size = Some(1 << 20));
    assert!(opts(mount_at(&s, "/dev/shm").unwrap()).contains(&"size=1048576".to_string()));
}

#[test]
fn etc_files_are_bound_unless_the_user_mounts_them() {
    let s = spec(|i| {
        i.etc_files = EtcFiles {
            hosts: Some("/run/c/hosts".into()),
            hostname: Some("/run/c/hostname".into()),
            resolv_conf: Some("/run/c/resolv.conf".into()),
        };
        i.host_config.binds = v(&["/mine:/etc/hosts:ro"]);
    });
    assert_eq!(
        mount_at(&s, "/etc/hostname").unwrap().source().as_deref(),
        Some(Path::new("/run/c/hostname"))
    );
    assert_eq!(
        mount_at(&s, "/etc/resolv.conf")
            .unwrap()
            .source()
            .as_deref(),
        Some(Path::new("/run/c/resolv.conf"))
    );
    assert_eq!(
        mount_at(&s, "/etc/hosts").unwrap().source().as_deref(),
        Some(Path::new("/mine"))
    );
}

#[test]
fn binds_mounts_and_tmpfs_land_in_order() {
    let s = spec(|i| {
        i.host_config.binds = v(&["/h/data:/data/sub", "/h/cfg:/cfg:ro"]);
        i.host_config.tmpfs = Some(BTreeMap::from([(
            "/run".to_string(),
            "size=1m".to_string(),
        )]));
        i.host_config.mounts = Some(vec![
            ApiMount {
                typ: Some("volume".into()),
                source: Some("/var/lib/berth/volumes/v/_data".into()),
                target: "/data".into(),
                ..Default::default()
            },
            ApiMount {
                typ: Some("tmpfs".into()),
                target: "/scratch".into(),
                tmpfs_options: Some(TmpfsOptions {
                    size_bytes: Some(4096),
                    mode: Some(0o700),
                }),
                ..Default::default()
            },
        ]);
    });
    let dests: Vec<String> = s
        .mounts()
        .as_ref()
        .unwrap()
        .iter()
        .map(|m| m.destination().display().to_string())
        .collect();
    let pos = |d: &str| dests.iter().position(|x| x == d).unwrap();
    assert!(
        pos("/data") < pos("/data/sub"),
        "parents mount before children: {dests:?}"
    );
    assert!(opts(mount_at(&s, "/cfg").unwrap()).contains(&"ro".to_string()));
    assert_eq!(
        opts(mount_at(&s, "/run").unwrap()),
        ["noexec", "nosuid", "nodev", "size=1m"]
    );
    assert_eq!(
        opts(mount_at(&s, "/scratch").unwrap()),
        ["noexec", "nosuid", "nodev", "size=4096", "mode=700"]
    );
    assert_eq!(
        mount_at(&s, "/data").unwrap().typ().as_deref(),
        Some("bind")
    );
}

#[test]
fn user_shm_mount_replaces_default() {
    let s = spec(|i| i.host_config.binds = v(&["/h/shm:/dev/shm"]));
    assert_eq!(
        mount_at(&s, "/dev/shm").unwrap().typ().as_deref(),
        Some("bind")
    );
    assert_eq!(
        s.mounts()
            .as_ref()
            .unwrap()
            .iter()
            .filter(|m| m.destination() == Path::new("/dev/shm"))
            .count(),
        1
    );
}

#[test]
fn readonly_rootfs() {
    let ro = |s: &Spec| s.root().as_ref().unwrap().readonly();
    assert_eq!(ro(&spec(|_| {})), Some(false));
    assert_eq!(
        ro(&spec(|i| i.host_config.readonly_rootfs = Some(true))),
        Some(true)
    );
}

#[test]
fn image_volumes_without_a_mount_are_reported() {
    let image = ImageConfig {
        volumes: Some(BTreeMap::from([
            ("/data".to_string(), serde_json::json!({})),
            ("/logs/".to_string(), serde_json::json!({})),
        ])),
        ..Default::default()
    };
    let hc = HostConfig {
        binds: v(&["/h:/logs"]),
        ..Default::default()
    };
    assert_eq!(unmounted_image_volumes(&image, &hc), ["/data"]);
}

// ---- devices, rlimits, sysctls, namespaces ---------------------------------------------------

#[test]
fn device_cgroup_denies_all_then_allows_defaults() {
    let s = spec(|_| {});
    let rules = linux(&s)
        .resources()
        .as_ref()
        .unwrap()
        .devices()
        .clone()
        .unwrap();
    assert!(!rules[0].allow() && rules[0].typ() == Some(LinuxDeviceType::A));
    let allowed = |maj: i64, min: Option<i64>| {
        rules.iter().any(|r| {
            r.allow()
                && r.typ() == Some(LinuxDeviceType::C)
                && r.major() == Some(maj)
                && r.minor() == min
                && r.access().as_deref() == Some("rwm")
        })
    };
    for (maj, min) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
    ] {
        assert!(allowed(maj, Some(min)), "{maj}:{min}");
    }
    assert!(allowed(136, None));
    assert!(rules
        .iter()
        .any(|r| r.allow() && r.access().as_deref() == Some("m") && r.major().is_none()));
}

#[test]
fn rlimits_inherit_by_default_and_follow_ulimits() {
    assert!(spec(|_| {}).process().as_ref().unwrap().rlimits().is_none());
    let rl = |s: &Spec| s.process().as_ref().unwrap().rlimits().clone().unwrap();
    let r = rl(&spec(|i| {
        i.host_config.ulimits = Some(vec![
            Ulimit {
                name: "nofile".into(),
                soft: 1024,
                hard: 2048,
            },
            Ulimit {
                name: "nproc".into(),
                soft: -1,
                hard: -1,
            },
            Ulimit {
                name: "nofile".into(),
                soft: 4096,
                hard: 8192,
            },
        ])
    }));
    // One entry per type; a later entry for the same type wins.
    assert_eq!(r.len(), 2);
    assert_eq!(
        (r[0].typ(), r[0].soft()),
        (PosixRlimitType::RlimitNproc, u64::MAX)
    );
    assert_eq!(
        (r[1].typ(), r[1].soft(), r[1].hard()),
        (PosixRlimitType::RlimitNofile, 4096, 8192)
    );
    assert!(matches!(
        build(|i| i.host_config.ulimits = Some(vec![Ulimit {
            name: "bogus".into(),
            soft: 1,
            hard: 1
        }]))
        .unwrap_err(),
        SpecError::UnknownUlimit(_)
    ));
    assert!(matches!(
        build(|i| i.host_config.ulimits = Some(vec![Ulimit {
            name: "core".into(),
            soft: 2,
            hard: 1
        }]))
        .unwrap_err(),
        SpecError::UlimitSoftAboveHard { .. }
    ));
}

#[test]
fn sysctls_only_namespaced_ones() {
    let s = spec(|i| {
        i.host_config.sysctls = Some(BTreeMap::from([
            ("net.ipv4.ip_forward".to_string(), "1".to_string()),
            ("kernel.shmmax".to_string(), "1000".to_string()),
            ("fs.mqueue.msg_max".to_string(), "20".to_string()),
        ]))
    });
    assert_eq!(linux(&s).sysctl().as_ref().unwrap().len(), 3);
    let err = build(|i| {
        i.host_config.sysctls = Some(BTreeMap::from([(
            "kernel.hostname".to_string(),
            "x".to_string(),
        )]))
    })
    .unwrap_err();
    assert!(matches!(err, SpecError::SysctlNotAllowed(_)));
    let err = build(|i| {
        i.network = NetworkNamespace::Host;
        i.host_config.sysctls = Some(BTreeMap::from([(
            "net.core.somaxconn".to_string(),
            "1".to_string(),
        )]))
    })
    .unwrap_err();
    assert!(matches!(err, SpecError::SysctlNeedsNetns(_)));
}

#[test]
fn namespaces_default_netns_path_host_and_cgroupns_only_on_v2() {
    let ns = |s: &Spec| -> Vec<(LinuxNamespaceType, Option<std::path::PathBuf>)> {
        linux(s)
            .namespaces()
            .clone()
            .unwrap()
            .iter()
            .map(|n| (n.typ(), n.path().clone()))
            .collect()
    };
    let d = ns(&spec(|_| {}));
    assert_eq!(d.len(), 5);
    for t in [
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Network,
    ] {
        assert!(d.iter().any(|(x, p)| *x == t && p.is_none()), "{t:?}");
    }
    let p = ns(&spec(|i| {
        i.network = NetworkNamespace::Path("/run/netns/n1".into())
    }));
    assert!(p.contains(&(LinuxNamespaceType::Network, Some("/run/netns/n1".into()))));
    let h = ns(&spec(|i| i.network = NetworkNamespace::Host));
    assert!(!h.iter().any(|(t, _)| *t == LinuxNamespaceType::Network));
    let hybrid = ns(&spec(|i| i.host.cgroup = CgroupMode::Hybrid));
    assert!(!hybrid.iter().any(|(t, _)| *t == LinuxNamespaceType::Cgroup));
    let v2 = ns(&spec(|i| i.host.cgroup = CgroupMode::Unified));
    assert!(v2.iter().any(|(t, _)| *t == LinuxNamespaceType::Cgroup));
}

#[test]
fn cgroups_path_under_parent() {
    assert_eq!(
        linux(&spec(|_| {})).cgroups_path().clone().unwrap(),
        Path::new("/berth").join(ID)
    );
    let s = spec(|i| i.host_config.cgroup_parent = Some("custom".into()));
    assert_eq!(
        linux(&s).cgroups_path().clone().unwrap(),
        Path::new("/custom").join(ID)
    );
}

// ---- resources -------------------------------------------------------------------------------

fn res(s: &Spec) -> LinuxResources {
    linux(s).resources().clone().unwrap()
}

#[test]
fn memory_and_swap_rules() {
    let mem = |f: &dyn Fn(&mut SpecInput)| res(&spec(f)).memory().unwrap();
    let m = mem(&|i| i.host_config.memory = Some(64 << 20));
    assert_eq!((m.limit(), m.swap()), (Some(64 << 20), Some(128 << 20)));
    let m = mem(&|i| {
        i.host_config.memory = Some(64 << 20);
        i.host_config.memory_swap = Some(-1);
    });
    assert_eq!(m.swap(), Some(-1));
    let m = mem(&|i| {
        i.host_config.memory = Some(64 << 20);
        i.host_config.memory_swap = Some(100 << 20);
    });
    assert_eq!(m.swap(), Some(100 << 20));
    let m = mem(&|i| {
        i.host_config.memory = Some(64 << 20);
        i.host.swap_limit = false;
    });
    assert_eq!(m.swap(), None);
    assert!(res(&spec(|_| {})).memory().is_none());
    for (memory, swap, want) in [
        (1 << 20, 0, "Minimum memory limit"),
        (64 << 20, 32 << 20, "Minimum memoryswap"),
        (0, 64 << 20, "always set the Memory"),
    ] {
        let err = build(|i| {
            i.host_config.memory = Some(memory);
            i.host_config.memory_swap = Some(swap);
        })
        .unwrap_err();
        assert!(err.to_string().contains(want), "{err}");
    }
}

#[test]
fn cpu_rules() {
    let cpu = |f: &dyn Fn(&mut SpecInput)| res(&spec(f)).cpu().clone().unwrap();
    let c = cpu(&|i| i.host_config.nano_cpus = Some(1_500_000_000));
    assert_eq!((c.quota(), c.period()), (Some(150_000), Some(100_000)));
    let c = cpu(&|i| i.host_config.cpu_shares = Some(512));
    assert_eq!(c.shares(), Some(512));
    let c = cpu(&|i| {
        i.host_config.cpu_quota = Some(50_000);
        i.host_config.cpu_period = Some(200_000);
    });
    assert_eq!((c.quota(), c.period()), (Some(50_000), Some(200_000)));
    assert!(matches!(
        build(|i| {
            i.host_config.nano_cpus = Some(1_000_000_000);
            i.host_config.cpu_period = Some(100_000);
        })
        .unwrap_err(),
        SpecError::NanoCpusConflict
    ));
    assert!(matches!(
        build(|i| {
            i.host.cpus = 2;
            i.host_config.nano_cpus = Some(3_000_000_000);
        })
        .unwrap_err(),
        SpecError::TooManyCpus { max: 2 }
    ));
    assert!(res(&spec(|_| {})).cpu().is_none());
}

#[test]
fn pids_limit_positive_only() {
    assert_eq!(
        res(&spec(|i| i.host_config.pids_limit = Some(20)))
            .pids()
            .unwrap()
            .limit(),
        20
    );
    assert!(res(&spec(|i| i.host_config.pids_limit = Some(0)))
        .pids()
        .is_none());
    assert!(res(&spec(|i| i.host_config.pids_limit = Some(-1)))
        .pids()
        .is_none());
}

// ---- misc ------------------------------------------------------------------------------------

#[test]
fn stop_signal_annotation_request_over_image() {
    let s = spec(|i| i.image.stop_signal = Some("SIGQUIT".into()));
    assert_eq!(
        s.annotations().as_ref().unwrap()[STOP_SIGNAL_ANNOTATION],
        "SIGQUIT"
    );
    let s = spec(|i| {
        i.image.stop_signal = Some("SIGQUIT".into());
        i.config.stop_signal = Some("SIGUSR1".into());
    });
    assert_eq!(
        s.annotations().as_ref().unwrap()[STOP_SIGNAL_ANNOTATION],
        "SIGUSR1"
    );
    assert!(spec(|_| {}).annotations().is_none());
}

#[test]
fn terminal_follows_tty() {
    assert_eq!(
        spec(|_| {}).process().as_ref().unwrap().terminal(),
        Some(false)
    );
    assert_eq!(
        spec(|i| i.config.tty = Some(true))
            .process()
            .as_ref()
            .unwrap()
            .terminal(),
        Some(true)
    );
}

#[test]
fn inputs_deserialize_from_docker_json() {
    let image: ImageConfig = serde_json::from_str(
        r#"{"Env":["PATH=/usr/bin"],"Cmd":"sh","Entrypoint":null,"WorkingDir":"",
            "User":"","StopSignal":"SIGTERM","Volumes":{"/data":{}},"Labels":{"a":"b"}}"#,
    )
    .unwrap();
    assert_eq!(image.cmd, v(&["sh"]));
    assert_eq!(image.entrypoint, None);
    let body: serde_json::Value = serde_json::from_str(
        r#"{"Hostname":"","User":"app","Tty":true,"OpenStdin":true,"Env":null,
            "Cmd":["echo","hi"],"Entrypoint":null,"Image":"busybox",
            "HostConfig":{"Privileged":false,"CapAdd":["NET_ADMIN"],"CapDrop":null,
              "Memory":67108864,"MemorySwap":0,"NanoCpus":0,"PidsLimit":null,
              "Ulimits":[{"Name":"nofile","Soft":10,"Hard":20}],
              "Tmpfs":{"/run":"size=1m"},"Binds":["/a:/b:ro"],
              "Mounts":[{"Type":"bind","Source":"/x","Target":"/y","ReadOnly":true,
                         "BindOptions":{"Propagation":"rslave"}}],
              "SecurityOpt":["no-new-privileges"],"Init":null,"Sysctls":{},"ShmSize":0}}"#,
    )
    .unwrap();
    let config: ContainerConfig = serde_json::from_value(body.clone()).unwrap();
    let hc: HostConfig = serde_json::from_value(body["HostConfig"].clone()).unwrap();
    assert_eq!(config.cmd, v(&["echo", "hi"]));
    assert_eq!(config.tty, Some(true));
    assert_eq!(hc.memory, Some(64 << 20));
    assert_eq!(hc.mounts.as_ref().unwrap()[0].read_only, Some(true));
    assert_eq!(hc.ulimits.as_ref().unwrap()[0].hard, 20);
    let dir = rootfs();
    let s = build_spec(&SpecInput {
        image,
        config,
        host_config: hc,
        ..input(&dir)
    })
    .unwrap();
    assert_eq!(args(&s), ["echo", "hi"]);
    assert_eq!(linux(&s).rootfs_propagation().as_deref(), Some("rslave"));
}

#[test]
fn spec_serializes_to_valid_config_json() {
    let s = spec(|i| i.host_config.memory = Some(64 << 20));
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["ociVersion"], "1.0.2");
    assert_eq!(json["linux"]["resources"]["memory"]["limit"], 64 << 20);
    assert_eq!(json["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
    let back: Spec = serde_json::from_value(json).unwrap();
    assert_eq!(back, s);
}
