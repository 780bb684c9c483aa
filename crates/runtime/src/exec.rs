//! Confining `exec`'d processes like the container's own. libcontainer joins a process to a
//! running container with only the namespaces and cgroup of the container's spec: it loads no
//! seccomp filter for it. berth therefore runs such a process through [`SeccompExecutor`], which
//! loads the container's filter right before `execve`, as runc does for `exec`.
//!
//! Loading a filter needs `no_new_privs` or `CAP_SYS_ADMIN`. Docker's `exec` does not set
//! `no_new_privs` (a setuid program run by `exec` still gains its privileges), so the process is
//! given `CAP_SYS_ADMIN` until its filter is loaded and then drops it from every set, unless the
//! exec was meant to have it.

use std::io;
use std::path::{Path, PathBuf};

use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use oci_spec::runtime::{Capability, LinuxSeccomp, Process, Spec};

/// A filter to load: a profile libseccomp compiles in the process, or a program compiled
/// before (see `bpf.rs`).
#[derive(Clone)]
pub(crate) enum Filter {
    Profile(LinuxSeccomp),
    Bpf(Vec<u8>),
}

/// The seccomp filter of the container whose bundle is `bundle`, if it has one: its
/// precompiled program, else the profile in its `config.json`.
pub(crate) fn container_seccomp(bundle: &Path) -> Option<Filter> {
    if let Some((_, bpf)) = crate::bpf::read_sidecars(bundle) {
        return Some(Filter::Bpf(bpf));
    }
    let spec = Spec::load(bundle.join("config.json")).ok()?;
    spec.linux()
        .as_ref()?
        .seccomp()
        .clone()
        .map(Filter::Profile)
}

/// Writes `<process>.seccomp.json`: the process with `CAP_SYS_ADMIN` added to its bounding,
/// effective and permitted sets when it lacks it. Returns that path and whether the executor
/// must drop the capability again.
pub(crate) fn prepare_process(path: &Path) -> io::Result<(PathBuf, bool)> {
    let mut process: Process = serde_json::from_slice(&std::fs::read(path)?)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let mut caps = process.capabilities().clone().unwrap_or_default();
    let has = caps
        .bounding()
        .as_ref()
        .is_some_and(|b| b.contains(&Capability::SysAdmin));
    if !has {
        let add = |s: &Option<oci_spec::runtime::Capabilities>| {
            let mut s = s.clone().unwrap_or_default();
            s.insert(Capability::SysAdmin);
            Some(s)
        };
        let (b, e, p) = (
            add(caps.bounding()),
            add(caps.effective()),
            add(caps.permitted()),
        );
        caps.set_bounding(b).set_effective(e).set_permitted(p);
        process.set_capabilities(Some(caps));
    }
    let out = PathBuf::from(format!("{}.seccomp.json", path.display()));
    std::fs::write(
        &out,
        serde_json::to_vec(&process).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?,
    )?;
    Ok((out, !has))
}

/// Gives the process the signal state runc's processes start with, loads a seccomp filter
/// (and drops `CAP_SYS_ADMIN` when it was only lent for that), then runs the process as
/// libcontainer's default executor does.
#[derive(Clone)]
pub(crate) struct SeccompExecutor {
    seccomp: Option<Filter>,
    drop_sys_admin: bool,
}

impl SeccompExecutor {
    pub(crate) fn new(seccomp: Filter, drop_sys_admin: bool) -> SeccompExecutor {
        SeccompExecutor {
            seccomp: Some(seccomp),
            drop_sys_admin,
        }
    }

    /// No filter of its own (libcontainer loads the spec's, if any).
    pub(crate) fn plain() -> SeccompExecutor {
        SeccompExecutor {
            seccomp: None,
            drop_sys_admin: false,
        }
    }
}

/// Dispositions and the mask survive `execve`: the shim and the runtime (Rust programs) ignore
/// SIGPIPE and may block signals, and a container's processes must not inherit that (a `dd |
/// nc` whose reader went away would see EPIPE instead of dying of SIGPIPE, unlike under Docker).
fn reset_signals() {
    // The kernel's `struct sigaction` (x86_64 and aarch64 layout); the raw system call, because
    // glibc's wrapper refuses the real-time signals it reserves (32, 33), which can arrive
    // ignored too.
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    let default = KernelSigaction {
        handler: 0, // SIG_DFL
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        let mut old = KernelSigaction {
            handler: 0,
            flags: 0,
            restorer: 0,
            mask: 0,
        };
        // SAFETY: rt_sigaction reads `old`'s size of 8-byte sigset from valid locals; only
        // ignored signals are reset (handlers cannot survive exec anyway).
        unsafe {
            if libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                std::ptr::null::<KernelSigaction>(),
                &mut old as *mut KernelSigaction,
                8usize,
            ) == 0
                && old.handler == 1
            {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    &default as *const KernelSigaction,
                    std::ptr::null_mut::<KernelSigaction>(),
                    8usize,
                );
            }
        }
    }
    // SAFETY: sigprocmask(2) with an emptied, zero-initialised local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

impl Executor for SeccompExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        reset_signals();
        match &self.seccomp {
            Some(Filter::Profile(p)) => libcontainer::seccomp::initialize_seccomp(p)
                .map(drop)
                .map_err(|e| ExecutorError::Other(format!("loading the seccomp filter: {e}")))?,
            Some(Filter::Bpf(b)) => crate::bpf::load(b)
                .map_err(|e| ExecutorError::Other(format!("loading the seccomp filter: {e}")))?,
            None => {}
        }
        if self.drop_sys_admin {
            use caps::{CapSet, Capability as C};
            for set in [
                CapSet::Effective,
                CapSet::Permitted,
                CapSet::Inheritable,
                CapSet::Bounding,
            ] {
                // The effective set first, then the others (the bounding set needs
                // CAP_SETPCAP, which an exec keeps only when the container has it; without it
                // CAP_SYS_ADMIN is already gone from the permitted set, so it cannot return).
                let _ = caps::drop(None, set, C::CAP_SYS_ADMIN);
            }
            if caps::has_cap(None, CapSet::Permitted, C::CAP_SYS_ADMIN).unwrap_or(true) {
                return Err(ExecutorError::Other(
                    "could not drop CAP_SYS_ADMIN after loading the seccomp filter".into(),
                ));
            }
        }
        DefaultExecutor {}.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        DefaultExecutor {}.validate(spec)
    }
}
