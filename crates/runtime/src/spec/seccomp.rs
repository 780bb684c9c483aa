//! berth's default seccomp profile, written here as a Rust table.
//!
//! # Choice
//!
//! The profile is an allowlist with a default action of `ERRNO(EPERM)`, which is how Docker's
//! default profile behaves: every syscall a normal program needs is allowed, everything else fails
//! with "Operation not permitted" instead of killing the process. The table below is berth's own,
//! grouped by purpose; it is not a translation of Docker's JSON file. What it blocks for a
//! container with the default capabilities:
//!
//! - kernel modules (`init_module`, `finit_module`, `delete_module`), `kexec_*`, `reboot`,
//!   `swapon`/`swapoff`, `acct`, `quotactl*`;
//! - mounts and the root switch (`mount`, `umount*`, `pivot_root`, the new mount API
//!   `fsopen`/`fsmount`/`move_mount`/`open_tree`/...), `setns`, `unshare`, and `clone` with any
//!   namespace flag; `clone3` returns `ENOSYS` so libc falls back to `clone`, whose flags seccomp
//!   can inspect (seccomp cannot look into `clone3`'s struct argument);
//! - the kernel keyring (`add_key`, `request_key`, `keyctl`), which is not namespaced;
//! - `bpf`, `perf_event_open`, `userfaultfd`, `io_uring_*`, `lookup_dcookie`,
//!   `name_to_handle_at`/`open_by_handle_at` (the "shocker" escape);
//! - clock and time setting (`settimeofday`, `clock_settime`, `clock_adjtime`, `adjtimex`,
//!   `stime`), `syslog`, `vhangup`, `iopl`/`ioperm`, NUMA policy calls, and obsolete calls
//!   (`uselib`, `ustat`, `sysfs`, `_sysctl`, `nfsservctl`, `vm86*`, `modify_ldt`, ...);
//! - `personality` except the harmless personas (Linux, `UNAME26`, `PER_LINUX32`, their
//!   combination, and the query value);
//! - `socket(AF_VSOCK, ...)`, which would reach the hypervisor;
//! - every syscall of the x32 ABI (the filter lists the native and the
//!   classic 32-bit ABI only; an x32 call kills the thread).
//!
//! Like Docker, a capability added with `--cap-add` also opens the syscalls that need it
//! (`SYS_ADMIN` opens mounts, namespaces and `clone3`; `SYS_TIME` the clock calls; `SYS_MODULE` the
//! module calls; `SYS_BOOT` `reboot`; `BPF` and `PERFMON` their calls; ...). `--privileged` and
//! `--security-opt seccomp=unconfined` use no profile at all.
//!
//! # Portability notes
//!
//! - Masked-equal argument checks (used for `clone`) are written twice, once in runc's reading of
//!   `value`/`valueTwo` (value = mask) and once in youki's (valueTwo = mask): libcontainer 0.7
//!   passes the two fields to libseccomp the other way round from runc. Each runtime gets one rule
//!   that matches and one that can never match, so the same `config.json` is correct under both.
//! - Syscall names libseccomp does not know are skipped by the runtime, so they fall to the default
//!   `EPERM`. runc patches its filter to answer `ENOSYS` for syscalls newer than libseccomp; youki
//!   does not, so a libc that probes a very new syscall (e.g. `fchmodat2` with libseccomp 2.5.4)
//!   sees `EPERM`, not `ENOSYS`.

use oci_spec::runtime::{
    Arch, Capability, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompOperator, LinuxSyscall,
};
use oci_spec::OciSpecError;

/// What every container may call.
const ALLOWED: &[&str] = &[
    // file descriptors and plain I/O
    "read",
    "write",
    "readv",
    "writev",
    "pread64",
    "pwrite64",
    "preadv",
    "pwritev",
    "preadv2",
    "pwritev2",
    "open",
    "openat",
    "openat2",
    "creat",
    "close",
    "close_range",
    "lseek",
    "_llseek",
    "dup",
    "dup2",
    "dup3",
    "fcntl",
    "fcntl64",
    "ioctl",
    "flock",
    "fsync",
    "fdatasync",
    "sync",
    "syncfs",
    "sync_file_range",
    "sync_file_range2",
    "truncate",
    "truncate64",
    "ftruncate",
    "ftruncate64",
    "fallocate",
    "fadvise64",
    "fadvise64_64",
    "arm_fadvise64_64",
    "readahead",
    "sendfile",
    "sendfile64",
    "splice",
    "tee",
    "vmsplice",
    "copy_file_range",
    // file metadata
    "stat",
    "stat64",
    "lstat",
    "lstat64",
    "fstat",
    "fstat64",
    "newfstatat",
    "fstatat64",
    "statx",
    "statfs",
    "statfs64",
    "fstatfs",
    "fstatfs64",
    "access",
    "faccessat",
    "faccessat2",
    "chmod",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "chown",
    "chown32",
    "fchown",
    "fchown32",
    "fchownat",
    "lchown",
    "lchown32",
    "utime",
    "utimes",
    "utimensat",
    "utimensat_time64",
    "futimesat",
    "umask",
    "getxattr",
    "lgetxattr",
    "fgetxattr",
    "setxattr",
    "lsetxattr",
    "fsetxattr",
    "listxattr",
    "llistxattr",
    "flistxattr",
    "removexattr",
    "lremovexattr",
    "fremovexattr",
    // directories and links
    "getdents",
    "getdents64",
    "mkdir",
    "mkdirat",
    "rmdir",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "unlink",
    "unlinkat",
    "readlink",
    "readlinkat",
    "chdir",
    "fchdir",
    "getcwd",
    "mknod",
    "mknodat",
    // memory
    "brk",
    "mmap",
    "mmap2",
    "munmap",
    "mremap",
    "mprotect",
    "msync",
    "mincore",
    "madvise",
    "mlock",
    "mlock2",
    "munlock",
    "mlockall",
    "munlockall",
    "remap_file_pages",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    // processes and threads (clone, clone3 and personality have rules of their own)
    "fork",
    "vfork",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "wait4",
    "waitid",
    "waitpid",
    "set_tid_address",
    "set_robust_list",
    "get_robust_list",
    "futex",
    "futex_time64",
    "futex_waitv",
    "futex_wait",
    "futex_wake",
    "futex_requeue",
    "prctl",
    "arch_prctl",
    "set_thread_area",
    "get_thread_area",
    "set_tls",
    "get_tls",
    "capget",
    "capset",
    "rseq",
    "restart_syscall",
    "seccomp",
    "getpid",
    "getppid",
    "gettid",
    "getpgid",
    "getpgrp",
    "setpgid",
    "getsid",
    "setsid",
    "getpriority",
    "setpriority",
    "sched_yield",
    "sched_getaffinity",
    "sched_setaffinity",
    "sched_getparam",
    "sched_setparam",
    "sched_getscheduler",
    "sched_setscheduler",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_getattr",
    "sched_setattr",
    "ioprio_get",
    "ioprio_set",
    "getrlimit",
    "setrlimit",
    "prlimit64",
    "ugetrlimit",
    "getrusage",
    "times",
    "uname",
    "sysinfo",
    "getrandom",
    "getcpu",
    "pidfd_open",
    "pidfd_send_signal",
    "process_mrelease",
    "cacheflush",
    "breakpoint",
    // debugging other processes of the same container (safe since Linux 4.8)
    "ptrace",
    "kcmp",
    "process_vm_readv",
    "process_vm_writev",
    "process_madvise",
    "pidfd_getfd",
    // signals
    "kill",
    "tkill",
    "tgkill",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sigreturn",
    "rt_sigpending",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_sigqueueinfo",
    "rt_tgsigqueueinfo",
    "rt_sigsuspend",
    "sigaltstack",
    "signal",
    "sigaction",
    "sigprocmask",
    "sigpending",
    "sigsuspend",
    "signalfd",
    "signalfd4",
    "pause",
    // credentials (capabilities decide what actually succeeds)
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getuid32",
    "geteuid32",
    "getgid32",
    "getegid32",
    "setuid",
    "setuid32",
    "setgid",
    "setgid32",
    "setreuid",
    "setreuid32",
    "setregid",
    "setregid32",
    "setresuid",
    "setresuid32",
    "setresgid",
    "setresgid32",
    "getresuid",
    "getresuid32",
    "getresgid",
    "getresgid32",
    "getgroups",
    "getgroups32",
    "setgroups",
    "setgroups32",
    "setfsuid",
    "setfsuid32",
    "setfsgid",
    "setfsgid32",
    // reading clocks, sleeping, timers
    "time",
    "gettimeofday",
    "clock_gettime",
    "clock_gettime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "nanosleep",
    "alarm",
    "getitimer",
    "setitimer",
    "timer_create",
    "timer_delete",
    "timer_settime",
    "timer_settime64",
    "timer_gettime",
    "timer_gettime64",
    "timer_getoverrun",
    "timerfd_create",
    "timerfd_settime",
    "timerfd_settime64",
    "timerfd_gettime",
    "timerfd_gettime64",
    // waiting for events
    "select",
    "_newselect",
    "pselect6",
    "pselect6_time64",
    "poll",
    "ppoll",
    "ppoll_time64",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_wait",
    "epoll_wait_old",
    "epoll_pwait",
    "epoll_pwait2",
    "eventfd",
    "eventfd2",
    "inotify_init",
    "inotify_init1",
    "inotify_add_watch",
    "inotify_rm_watch",
    "fanotify_mark",
    // asynchronous I/O (io_uring stays blocked)
    "io_setup",
    "io_destroy",
    "io_submit",
    "io_cancel",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    // IPC (namespaced)
    "pipe",
    "pipe2",
    "msgget",
    "msgsnd",
    "msgrcv",
    "msgctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "semctl",
    "shmget",
    "shmat",
    "shmdt",
    "shmctl",
    "ipc",
    "mq_open",
    "mq_unlink",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_notify",
    "mq_getsetattr",
    // networking (socket has a rule of its own)
    "socketpair",
    "bind",
    "connect",
    "listen",
    "accept",
    "accept4",
    "getsockname",
    "getpeername",
    "sendto",
    "recvfrom",
    "send",
    "recv",
    "sendmsg",
    "recvmsg",
    "sendmmsg",
    "recvmmsg",
    "recvmmsg_time64",
    "shutdown",
    "setsockopt",
    "getsockopt",
    "socketcall",
    // unprivileged sandboxing
    "landlock_create_ruleset",
    "landlock_add_rule",
    "landlock_restrict_self",
];

/// Syscalls opened by one capability, when the container holds it.
const BY_CAPABILITY: &[(Capability, &[&str])] = &[
    (
        Capability::SysAdmin,
        &[
            "mount",
            "umount",
            "umount2",
            "pivot_root",
            "setns",
            "unshare",
            "sethostname",
            "setdomainname",
            "fsopen",
            "fsconfig",
            "fsmount",
            "fspick",
            "move_mount",
            "open_tree",
            "mount_setattr",
            "quotactl",
            "quotactl_fd",
            "lookup_dcookie",
            "name_to_handle_at",
            "fanotify_init",
            "syslog",
            "bpf",
            "perf_event_open",
        ],
    ),
    (Capability::SysBoot, &["reboot"]),
    (Capability::SysChroot, &["chroot"]),
    (
        Capability::SysModule,
        &["init_module", "finit_module", "delete_module"],
    ),
    (Capability::SysPacct, &["acct"]),
    (Capability::SysRawio, &["iopl", "ioperm"]),
    (
        Capability::SysTime,
        &[
            "settimeofday",
            "stime",
            "clock_settime",
            "clock_settime64",
            "adjtimex",
            "clock_adjtime",
            "clock_adjtime64",
        ],
    ),
    (Capability::SysTtyConfig, &["vhangup"]),
    (
        Capability::SysNice,
        &[
            "get_mempolicy",
            "set_mempolicy",
            "set_mempolicy_home_node",
            "mbind",
            "move_pages",
            "migrate_pages",
        ],
    ),
    (Capability::Syslog, &["syslog"]),
    (Capability::Bpf, &["bpf"]),
    (Capability::Perfmon, &["perf_event_open"]),
    (Capability::DacReadSearch, &["open_by_handle_at"]),
];

/// `personality(2)` values that only change harmless behaviour: PER_LINUX, UNAME26, PER_LINUX32,
/// UNAME26|PER_LINUX32, and 0xffffffff (query the current persona).
const SAFE_PERSONAS: &[u64] = &[0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
/// CLONE_NEWNET.
pub(crate) const CLONE_NAMESPACE_FLAGS: u64 =
    0x0002_0000 | 0x0200_0000 | 0x0400_0000 | 0x0800_0000 | 0x1000_0000 | 0x2000_0000 | 0x4000_0000;

const AF_VSOCK: u64 = 40;
const EPERM: u32 = 1;
const ENOSYS: u32 = 38;

fn allow(names: &[&str]) -> LinuxSyscall {
    let mut s = LinuxSyscall::default();
    s.set_names(names.iter().map(|n| n.to_string()).collect());
    s.set_action(LinuxSeccompAction::ScmpActAllow);
    s
}

fn arg(
    index: usize,
    op: LinuxSeccompOperator,
    value: u64,
    value_two: Option<u64>,
) -> Result<LinuxSeccompArg, OciSpecError> {
    let b = LinuxSeccompArgBuilder::default()
        .index(index)
        .op(op)
        .value(value);
    match value_two {
        Some(v2) => b.value_two(v2).build(),
        None => b.build(),
    }
}

fn allow_if(
    name: &str,
    arg: Result<LinuxSeccompArg, OciSpecError>,
) -> Result<LinuxSyscall, OciSpecError> {
    let mut s = allow(&[name]);
    s.set_args(Some(vec![arg?]));
    Ok(s)
}

/// The seccomp architectures of the build target: the native one plus its classic 32-bit ABI, so
/// i386/armhf binaries keep working. A syscall from an ABI not listed here (x32 on x86-64) kills
/// the calling thread (libseccomp's bad-arch action): denied, never allowed. x32 is left out on
/// purpose: nothing ships x32 binaries, Debian kernels disable it at boot, and each extra ABI
/// makes libseccomp compile the whole allowlist again (measured here: x86-64 alone ~2 ms,
/// +i386 ~6 ms, +x32 ~12 ms of every container start).
fn architectures() -> Vec<Arch> {
    if cfg!(target_arch = "x86_64") {
        vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86]
    } else if cfg!(target_arch = "aarch64") {
        vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm]
    } else {
        Vec::new()
    }
}

/// The default profile for a container that holds `caps`.
pub fn default_profile(caps: &[Capability]) -> Result<LinuxSeccomp, OciSpecError> {
    let has = |c: Capability| caps.contains(&c);
    let mut rules = vec![allow(ALLOWED)];

    // Namespace creation through clone needs CAP_SYS_ADMIN in Docker's model too.
    if has(Capability::SysAdmin) {
        rules.push(allow(&["clone", "clone3"]));
    } else {
        rules.push(allow_if(
            "clone",
            arg(
                0,
                LinuxSeccompOperator::ScmpCmpMaskedEq,
                CLONE_NAMESPACE_FLAGS,
                Some(0),
            ),
        )?);
        rules.push(allow_if(
            "clone",
            arg(
                0,
                LinuxSeccompOperator::ScmpCmpMaskedEq,
                0,
                Some(CLONE_NAMESPACE_FLAGS),
            ),
        )?);
        let mut clone3 = LinuxSyscall::default();
        clone3.set_names(vec!["clone3".into()]);
        clone3.set_action(LinuxSeccompAction::ScmpActErrno);
        clone3.set_errno_ret(Some(ENOSYS));
        rules.push(clone3);
    }

    for persona in SAFE_PERSONAS {
        rules.push(allow_if(
            "personality",
            arg(0, LinuxSeccompOperator::ScmpCmpEq, *persona, None),
        )?);
    }
    rules.push(allow_if(
        "socket",
        arg(0, LinuxSeccompOperator::ScmpCmpNe, AF_VSOCK, None),
    )?);

    let mut gated: Vec<&str> = Vec::new();
    for (cap, names) in BY_CAPABILITY {
        if has(*cap) {
            for n in names.iter() {
                if !gated.contains(n) {
                    gated.push(n);
                }
            }
        }
    }
    if !gated.is_empty() {
        rules.push(allow(&gated));
    }

    let mut profile = LinuxSeccomp::default();
    profile.set_default_action(LinuxSeccompAction::ScmpActErrno);
    profile.set_default_errno_ret(Some(EPERM));
    let arches = architectures();
    if !arches.is_empty() {
        profile.set_architectures(Some(arches));
    }
    profile.set_syscalls(Some(rules));
    Ok(profile)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::caps::DEFAULT_CAPS;

    /// The action the profile gives `name` when called with no interesting arguments, or None
    /// when only conditional rules mention it.
    fn unconditional(p: &LinuxSeccomp, name: &str) -> Option<LinuxSeccompAction> {
        p.syscalls()
            .iter()
            .flatten()
            .filter(|s| s.args().is_none() && s.names().iter().any(|n| n == name))
            .map(|s| s.action())
            .next()
    }

    fn mentioned(p: &LinuxSeccomp, name: &str) -> bool {
        p.syscalls()
            .iter()
            .flatten()
            .any(|s| s.names().iter().any(|n| n == name))
    }

    #[test]
    fn default_action_is_eperm() {
        let p = default_profile(DEFAULT_CAPS).unwrap();
        assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(p.default_errno_ret(), Some(1));
    }

    #[test]
    fn dangerous_syscalls_are_not_allowed_with_default_caps() {
        let p = default_profile(DEFAULT_CAPS).unwrap();
        for name in [
            "init_module",
            "finit_module",
            "delete_module",
            "kexec_load",
            "kexec_file_load",
            "reboot",
            "swapon",
            "swapoff",
            "mount",
            "umount2",
            "pivot_root",
            "add_key",
            "request_key",
            "keyctl",
            "bpf",
            "perf_event_open",
            "userfaultfd",
            "settimeofday",
            "clock_settime",
            "clock_adjtime",
            "adjtimex",
            "acct",
            "quotactl",
            "open_by_handle_at",
            "name_to_handle_at",
            "setns",
            "unshare",
            "io_uring_setup",
            "syslog",
            "iopl",
            "fsopen",
            "move_mount",
            "open_tree",
            "lookup_dcookie",
            "vhangup",
            "mbind",
        ] {
            assert!(
                !mentioned(&p, name),
                "{name} must fall to the default EPERM"
            );
        }
    }

    #[test]
    fn everyday_syscalls_are_allowed() {
        let p = default_profile(DEFAULT_CAPS).unwrap();
        for name in [
            "read", "execve", "openat", "futex", "wait4", "chroot", "capset", "statx",
        ] {
            assert_eq!(
                unconditional(&p, name),
                Some(LinuxSeccompAction::ScmpActAllow),
                "{name}"
            );
        }
    }

    #[test]
    fn clone_is_allowed_only_without_namespace_flags_in_both_encodings() {
        let p = default_profile(DEFAULT_CAPS).unwrap();
        assert_eq!(unconditional(&p, "clone"), None);
        let rules: Vec<_> = p
            .syscalls()
            .iter()
            .flatten()
            .filter(|s| s.names() == &vec!["clone".to_string()])
            .collect();
        assert_eq!(rules.len(), 2);
        let pairs: Vec<(u64, Option<u64>)> = rules
            .iter()
            .map(|r| {
                let a = r.args().as_ref().unwrap()[0];
                assert_eq!(a.op(), LinuxSeccompOperator::ScmpCmpMaskedEq);
                (a.value(), a.value_two())
            })
            .collect();
        assert!(pairs.contains(&(CLONE_NAMESPACE_FLAGS, Some(0))));
        assert!(pairs.contains(&(0, Some(CLONE_NAMESPACE_FLAGS))));
        // clone3 gets ENOSYS so libc falls back to clone.
        let c3 = p
            .syscalls()
            .iter()
            .flatten()
            .find(|s| s.names() == &vec!["clone3".to_string()])
            .unwrap();
        assert_eq!(
            (c3.action(), c3.errno_ret()),
            (LinuxSeccompAction::ScmpActErrno, Some(38))
        );
    }

    #[test]
    fn personality_allows_only_safe_values() {
        let p = default_profile(DEFAULT_CAPS).unwrap();
        assert_eq!(unconditional(&p, "personality"), None);
        let values: Vec<u64> = p
            .syscalls()
            .iter()
            .flatten()
            .filter(|s| s.names() == &vec!["personality".to_string()])
            .map(|s| s.args().as_ref().unwrap()[0].value())
            .collect();
        assert_eq!(values, SAFE_PERSONAS);
    }

    #[test]
    fn added_capabilities_open_their_syscalls() {
        let mut caps = DEFAULT_CAPS.to_vec();
        caps.extend([
            Capability::SysAdmin,
            Capability::SysTime,
            Capability::SysModule,
        ]);
        let p = default_profile(&caps).unwrap();
        for name in [
            "mount",
            "unshare",
            "setns",
            "clock_settime",
            "init_module",
            "clone",
            "clone3",
        ] {
            assert_eq!(
                unconditional(&p, name),
                Some(LinuxSeccompAction::ScmpActAllow),
                "{name}"
            );
        }
        assert!(!mentioned(&p, "reboot"));
    }

    #[test]
    fn dropping_sys_chroot_closes_chroot() {
        let caps: Vec<_> = DEFAULT_CAPS
            .iter()
            .copied()
            .filter(|c| *c != Capability::SysChroot)
            .collect();
        assert!(!mentioned(&default_profile(&caps).unwrap(), "chroot"));
    }

    #[test]
    fn allowlist_has_no_blocked_names_and_no_duplicates() {
        let mut seen = std::collections::HashSet::new();
        for n in ALLOWED {
            assert!(seen.insert(*n), "{n} listed twice");
        }
        for (_, names) in BY_CAPABILITY {
            for n in names.iter() {
                assert!(
                    !seen.contains(n),
                    "{n} is both always-allowed and capability-gated"
                );
            }
        }
    }
}
