//! Capabilities: Docker's default set, `--cap-add`/`--cap-drop` and `--privileged`.

use std::collections::HashSet;

use oci_spec::runtime::Capability;

use super::SpecError;

/// Every capability berth knows, with its kernel number (for `cap_last_cap` filtering) and name.
pub(crate) const ALL_CAPS: &[(Capability, u8, &str)] = &[
    (Capability::Chown, 0, "CAP_CHOWN"),
    (Capability::DacOverride, 1, "CAP_DAC_OVERRIDE"),
    (Capability::DacReadSearch, 2, "CAP_DAC_READ_SEARCH"),
    (Capability::Fowner, 3, "CAP_FOWNER"),
    (Capability::Fsetid, 4, "CAP_FSETID"),
    (Capability::Kill, 5, "CAP_KILL"),
    (Capability::Setgid, 6, "CAP_SETGID"),
    (Capability::Setuid, 7, "CAP_SETUID"),
    (Capability::Setpcap, 8, "CAP_SETPCAP"),
    (Capability::LinuxImmutable, 9, "CAP_LINUX_IMMUTABLE"),
    (Capability::NetBindService, 10, "CAP_NET_BIND_SERVICE"),
    (Capability::NetBroadcast, 11, "CAP_NET_BROADCAST"),
    (Capability::NetAdmin, 12, "CAP_NET_ADMIN"),
    (Capability::NetRaw, 13, "CAP_NET_RAW"),
    (Capability::IpcLock, 14, "CAP_IPC_LOCK"),
    (Capability::IpcOwner, 15, "CAP_IPC_OWNER"),
    (Capability::SysModule, 16, "CAP_SYS_MODULE"),
    (Capability::SysRawio, 17, "CAP_SYS_RAWIO"),
    (Capability::SysChroot, 18, "CAP_SYS_CHROOT"),
    (Capability::SysPtrace, 19, "CAP_SYS_PTRACE"),
    (Capability::SysPacct, 20, "CAP_SYS_PACCT"),
    (Capability::SysAdmin, 21, "CAP_SYS_ADMIN"),
    (Capability::SysBoot, 22, "CAP_SYS_BOOT"),
    (Capability::SysNice, 23, "CAP_SYS_NICE"),
    (Capability::SysResource, 24, "CAP_SYS_RESOURCE"),
    (Capability::SysTime, 25, "CAP_SYS_TIME"),
    (Capability::SysTtyConfig, 26, "CAP_SYS_TTY_CONFIG"),
    (Capability::Mknod, 27, "CAP_MKNOD"),
    (Capability::Lease, 28, "CAP_LEASE"),
    (Capability::AuditWrite, 29, "CAP_AUDIT_WRITE"),
    (Capability::AuditControl, 30, "CAP_AUDIT_CONTROL"),
    (Capability::Setfcap, 31, "CAP_SETFCAP"),
    (Capability::MacOverride, 32, "CAP_MAC_OVERRIDE"),
    (Capability::MacAdmin, 33, "CAP_MAC_ADMIN"),
    (Capability::Syslog, 34, "CAP_SYSLOG"),
    (Capability::WakeAlarm, 35, "CAP_WAKE_ALARM"),
    (Capability::BlockSuspend, 36, "CAP_BLOCK_SUSPEND"),
    (Capability::AuditRead, 37, "CAP_AUDIT_READ"),
    (Capability::Perfmon, 38, "CAP_PERFMON"),
    (Capability::Bpf, 39, "CAP_BPF"),
    (Capability::CheckpointRestore, 40, "CAP_CHECKPOINT_RESTORE"),
];

/// Docker's default capability set for a non-privileged container.
pub const DEFAULT_CAPS: &[Capability] = &[
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

/// The capabilities the running kernel supports (numbers up to `cap_last_cap`).
pub(crate) fn all_caps(cap_last_cap: u8) -> Vec<Capability> {
    ALL_CAPS
        .iter()
        .filter(|(_, n, _)| *n <= cap_last_cap)
        .map(|(c, _, _)| *c)
        .collect()
}

enum CapName {
    All,
    One(Capability),
}

/// `sys_admin`, `SYS_ADMIN` and `CAP_SYS_ADMIN` all name the same capability; `ALL` is every one.
fn parse_cap(name: &str) -> Result<CapName, SpecError> {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(CapName::All);
    }
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    ALL_CAPS
        .iter()
        .find(|(_, _, n)| *n == full)
        .map(|(c, _, _)| CapName::One(*c))
        .ok_or_else(|| SpecError::UnknownCapability {
            name: name.to_string(),
        })
}

/// The container's capability set after Docker's rules: privileged gets every capability; `ALL`
/// in cap-add means every capability except the dropped ones; `ALL` in cap-drop means only the
/// added ones; otherwise the default set minus drops plus adds. Order is kernel-number order.
pub(crate) fn effective_caps(
    cap_add: &[String],
    cap_drop: &[String],
    privileged: bool,
    cap_last_cap: u8,
) -> Result<Vec<Capability>, SpecError> {
    let all = all_caps(cap_last_cap);
    let mut add_all = false;
    let mut drop_all = false;
    let mut adds = HashSet::new();
    let mut drops = HashSet::new();
    for n in cap_add {
        match parse_cap(n)? {
            CapName::All => add_all = true,
            CapName::One(c) => {
                adds.insert(c);
            }
        }
    }
    for n in cap_drop {
        match parse_cap(n)? {
            CapName::All => drop_all = true,
            CapName::One(c) => {
                drops.insert(c);
            }
        }
    }
    let set: HashSet<Capability> = if privileged {
        all.iter().copied().collect()
    } else if add_all {
        all.iter().copied().filter(|c| !drops.contains(c)).collect()
    } else if drop_all {
        adds
    } else {
        DEFAULT_CAPS
            .iter()
            .copied()
            .filter(|c| !drops.contains(c))
            .chain(adds)
            .collect()
    };
    Ok(ALL_CAPS
        .iter()
        .map(|(c, _, _)| *c)
        .filter(|c| set.contains(c))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn default_set_is_dockers_fourteen() {
        let caps = effective_caps(&[], &[], false, 40).unwrap();
        assert_eq!(caps.len(), 14);
        for c in DEFAULT_CAPS {
            assert!(caps.contains(c));
        }
        assert!(!caps.contains(&Capability::SysAdmin));
        assert!(!caps.contains(&Capability::NetAdmin));
    }

    #[test]
    fn add_and_drop_accept_names_with_or_without_prefix_in_any_case() {
        let caps = effective_caps(
            &s(&["sys_admin", "CAP_NET_ADMIN"]),
            &s(&["CHOWN", "cap_kill"]),
            false,
            40,
        )
        .unwrap();
        assert!(caps.contains(&Capability::SysAdmin));
        assert!(caps.contains(&Capability::NetAdmin));
        assert!(!caps.contains(&Capability::Chown));
        assert!(!caps.contains(&Capability::Kill));
        assert_eq!(caps.len(), 14);
    }

    #[test]
    fn add_all_minus_drops() {
        let caps = effective_caps(&s(&["ALL"]), &s(&["SYS_ADMIN"]), false, 40).unwrap();
        assert_eq!(caps.len(), 40);
        assert!(!caps.contains(&Capability::SysAdmin));
    }

    #[test]
    fn drop_all_keeps_only_adds() {
        let caps = effective_caps(&s(&["NET_BIND_SERVICE"]), &s(&["all"]), false, 40).unwrap();
        assert_eq!(caps, vec![Capability::NetBindService]);
    }

    #[test]
    fn privileged_gets_every_capability_the_kernel_knows() {
        assert_eq!(
            effective_caps(&[], &s(&["ALL"]), true, 40).unwrap().len(),
            41
        );
        // An older kernel (cap_last_cap 37) does not get PERFMON/BPF/CHECKPOINT_RESTORE.
        let caps = effective_caps(&[], &[], true, 37).unwrap();
        assert_eq!(caps.len(), 38);
        assert!(!caps.contains(&Capability::Bpf));
    }

    #[test]
    fn unknown_capability_is_an_error() {
        let err = effective_caps(&s(&["FLY"]), &[], false, 40).unwrap_err();
        assert!(err.to_string().contains("FLY"), "{err}");
    }
}
