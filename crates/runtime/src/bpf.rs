//! Seccomp filters compiled once, loaded many times. libcontainer compiles a container's
//! seccomp profile with libseccomp inside every container's init, which costs 7–14 ms per start
//! here. [`prepare_bundle`] compiles the profile once per distinct profile (cached for the life
//! of the process) into a BPF program stored next to the bundle's `config.json`, and takes the
//! profile out of `config.json` so libcontainer does not compile it again; the container's
//! executor then loads the program (see `exec.rs`). The translation follows libcontainer's
//! (`libcontainer::seccomp::initialize_seccomp`), so the filter is the same.

use std::collections::HashMap;
use std::io::{self, Read, Seek};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator, Spec};
use serde::{Deserialize, Serialize};

/// The compiled program of a bundle (raw `struct sock_filter` array).
pub const BPF_FILE: &str = "seccomp.bpf";
/// The profile the program was compiled from, and whether `CAP_SYS_ADMIN` was lent to the
/// process only to load it.
pub const SIDECAR_FILE: &str = "seccomp.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sidecar {
    pub profile: LinuxSeccomp,
    pub drop_sys_admin: bool,
}

fn arch(a: Arch) -> Option<ScmpArch> {
    Some(match a {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        _ => return None,
    })
}

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> Option<ScmpAction> {
    let errno = errno.map(|e| e as i32).unwrap_or(libc::EPERM);
    Some(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(errno.try_into().ok()?),
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        // A notify filter needs its listener fd handed over at load time: not precompiled.
        LinuxSeccompAction::ScmpActNotify => return None,
    })
}

fn op(o: LinuxSeccompOperator, datum_b: Option<u64>) -> ScmpCompareOp {
    match o {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(datum_b.unwrap_or(0)),
    }
}

/// Compiles `profile` to a BPF program; `None` for what only libcontainer's own path handles
/// (filter flags, notify actions, unknown architectures).
pub fn compile(profile: &LinuxSeccomp) -> io::Result<Option<Vec<u8>>> {
    let err = |e: libseccomp::error::SeccompError| io::Error::other(e.to_string());
    if profile.flags().as_ref().is_some_and(|f| !f.is_empty()) {
        return Ok(None);
    }
    let Some(default) = action(profile.default_action(), profile.default_errno_ret()) else {
        return Ok(None);
    };
    let mut ctx = ScmpFilterContext::new(default).map_err(err)?;
    for &a in profile.architectures().iter().flatten() {
        let Some(a) = arch(a) else { return Ok(None) };
        ctx.add_arch(a).map_err(err)?;
    }
    ctx.set_ctl_nnp(false).map_err(err)?;
    for rule in profile.syscalls().iter().flatten() {
        let Some(act) = action(rule.action(), rule.errno_ret()) else {
            return Ok(None);
        };
        if act == default {
            continue;
        }
        for name in rule.names() {
            // A name this libseccomp does not know is a syscall the kernel lacks: skipped,
            // as libcontainer does.
            let Ok(sc) = ScmpSyscall::from_name(name) else {
                continue;
            };
            match rule.args() {
                Some(args) => {
                    let cmps: Vec<ScmpArgCompare> = args
                        .iter()
                        .map(|a| {
                            ScmpArgCompare::new(
                                a.index() as u32,
                                op(a.op(), a.value_two()),
                                a.value(),
                            )
                        })
                        .collect();
                    let mut seen = std::collections::HashSet::new();
                    if args.iter().all(|a| seen.insert(a.index())) {
                        ctx.add_rule_conditional(act, sc, &cmps).map_err(err)?;
                    } else {
                        // Several comparisons of one argument: one rule each, as runc does.
                        for c in &cmps {
                            ctx.add_rule_conditional(act, sc, std::slice::from_ref(c))
                                .map_err(err)?;
                        }
                    }
                }
                None => {
                    ctx.add_rule(act, sc).map_err(err)?;
                }
            }
        }
    }
    // SAFETY: memfd_create takes a NUL-terminated name and flags; the result is a new fd.
    let fd = unsafe { libc::memfd_create(c"berth-seccomp".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor that nothing else owns.
    let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    ctx.export_bpf(&file).map_err(err)?;
    file.rewind()?;
    let mut bpf = Vec::new();
    file.read_to_end(&mut bpf)?;
    if bpf.is_empty() || bpf.len() % 8 != 0 {
        return Err(io::Error::other(format!(
            "seccomp export gave {} bytes",
            bpf.len()
        )));
    }
    Ok(Some(bpf))
}

type Cache = Mutex<HashMap<String, Option<Arc<Vec<u8>>>>>;

/// [`compile`], once per distinct profile for the life of the process.
pub fn compile_cached(profile: &LinuxSeccomp) -> io::Result<Option<Arc<Vec<u8>>>> {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let key = serde_json::to_string(profile).map_err(io::Error::other)?;
    let cache = CACHE.get_or_init(Default::default);
    if let Some(v) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(v.clone());
    }
    let compiled = compile(profile)?.map(Arc::new);
    // Two threads may compile the same profile at once: the first stored program wins, so
    // every caller shares one copy.
    Ok(cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(key)
        .or_insert(compiled)
        .clone())
}

/// Before the bundle is written: when `spec` has a seccomp profile that can be precompiled,
/// moves it out of the spec (into the returned sidecar), lends the process `CAP_SYS_ADMIN`
/// when it lacks it (needed to load a filter without `no_new_privs`), and returns the program.
/// Write both with [`write_sidecars`] next to `config.json`.
pub fn take_profile(spec: &mut Spec) -> io::Result<Option<(Sidecar, Arc<Vec<u8>>)>> {
    let Some(profile) = spec.linux().as_ref().and_then(|l| l.seccomp().clone()) else {
        return Ok(None);
    };
    let Some(bpf) = compile_cached(&profile)? else {
        return Ok(None);
    };
    let mut process = spec.process().clone().unwrap_or_default();
    let mut caps = process.capabilities().clone().unwrap_or_default();
    let has = caps
        .bounding()
        .as_ref()
        .is_some_and(|b| b.contains(&oci_spec::runtime::Capability::SysAdmin));
    if !has {
        let add = |s: &Option<oci_spec::runtime::Capabilities>| {
            let mut s = s.clone().unwrap_or_default();
            s.insert(oci_spec::runtime::Capability::SysAdmin);
            Some(s)
        };
        let (b, e, p) = (
            add(caps.bounding()),
            add(caps.effective()),
            add(caps.permitted()),
        );
        caps.set_bounding(b).set_effective(e).set_permitted(p);
        process.set_capabilities(Some(caps));
        spec.set_process(Some(process));
    }
    if let Some(mut linux) = spec.linux().clone() {
        linux.set_seccomp(None);
        spec.set_linux(Some(linux));
    }
    Ok(Some((
        Sidecar {
            profile,
            drop_sys_admin: !has,
        },
        bpf,
    )))
}

pub fn write_sidecars(bundle: &Path, sidecar: &Sidecar, bpf: &[u8]) -> io::Result<()> {
    std::fs::write(bundle.join(BPF_FILE), bpf)?;
    std::fs::write(
        bundle.join(SIDECAR_FILE),
        serde_json::to_vec(sidecar).map_err(io::Error::other)?,
    )
}

/// The precompiled filter of a bundle, if it has one.
pub fn read_sidecars(bundle: &Path) -> Option<(Sidecar, Vec<u8>)> {
    let sidecar: Sidecar =
        serde_json::from_slice(&std::fs::read(bundle.join(SIDECAR_FILE)).ok()?).ok()?;
    let bpf = std::fs::read(bundle.join(BPF_FILE)).ok()?;
    Some((sidecar, bpf))
}

/// Loads a program made by [`compile`] into the calling thread (`SECCOMP_SET_MODE_FILTER`).
pub fn load(bpf: &[u8]) -> io::Result<()> {
    #[repr(C)]
    struct SockFprog {
        len: libc::c_ushort,
        filter: *const u8,
    }
    let len = bpf.len() / 8;
    if len == 0 || len > u16::MAX as usize || bpf.len() % 8 != 0 {
        return Err(io::Error::other("not a seccomp program"));
    }
    let prog = SockFprog {
        len: len as libc::c_ushort,
        filter: bpf.as_ptr(),
    };
    // SAFETY: `prog` points at `len` 8-byte `struct sock_filter`s in `bpf`, alive for the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            1, /* SECCOMP_SET_MODE_FILTER */
            0,
            &prog as *const SockFprog,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The container's own process settings, as they were before [`take_profile`] lent
/// `CAP_SYS_ADMIN` (for building an exec's process from the bundle's `config.json`).
pub fn unlend(spec: &mut Spec, bundle: &Path) {
    let Some((sidecar, _)) = read_sidecars(bundle) else {
        return;
    };
    if !sidecar.drop_sys_admin {
        return;
    }
    let Some(mut process) = spec.process().clone() else {
        return;
    };
    if let Some(mut caps) = process.capabilities().clone() {
        let strip = |s: &Option<oci_spec::runtime::Capabilities>| {
            s.clone().map(|mut s| {
                s.remove(&oci_spec::runtime::Capability::SysAdmin);
                s
            })
        };
        let (b, e, p) = (
            strip(caps.bounding()),
            strip(caps.effective()),
            strip(caps.permitted()),
        );
        caps.set_bounding(b).set_effective(e).set_permitted(p);
        process.set_capabilities(Some(caps));
        spec.set_process(Some(process));
    }
}

/// Where a bundle's sidecars live.
pub fn sidecar_paths(bundle: &Path) -> [PathBuf; 2] {
    [bundle.join(BPF_FILE), bundle.join(SIDECAR_FILE)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_profile_compiles_to_a_program_once() {
        let profile = crate::spec::seccomp::default_profile(crate::spec::caps::DEFAULT_CAPS)
            .expect("profile");
        let bpf = compile(&profile).expect("compile").expect("precompilable");
        assert!(
            bpf.len() > 8 * 100 && bpf.len() % 8 == 0,
            "{} bytes",
            bpf.len()
        );
        let a = compile_cached(&profile).unwrap().unwrap();
        let b = compile_cached(&profile).unwrap().unwrap();
        assert!(
            Arc::ptr_eq(&a, &b),
            "the second compile comes from the cache"
        );
        assert_eq!(*a, bpf, "the same program every time");
    }

    #[test]
    fn the_profile_moves_out_of_the_spec_and_sys_admin_is_lent() {
        let mut profile = crate::spec::seccomp::default_profile(crate::spec::caps::DEFAULT_CAPS)
            .expect("profile");
        let mut spec = Spec::default();
        let mut linux = spec.linux().clone().unwrap_or_default();
        linux.set_seccomp(Some(profile.clone()));
        spec.set_linux(Some(linux));
        let (sidecar, _) = take_profile(&mut spec).unwrap().expect("taken");
        assert!(spec.linux().as_ref().unwrap().seccomp().is_none());
        let caps = spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .clone()
            .unwrap();
        assert!(caps
            .effective()
            .as_ref()
            .unwrap()
            .contains(&oci_spec::runtime::Capability::SysAdmin));
        assert!(sidecar.drop_sys_admin);
        // A notify action is left to libcontainer.
        let mut rules = profile.syscalls().clone().unwrap();
        rules[0].set_action(LinuxSeccompAction::ScmpActNotify);
        profile.set_syscalls(Some(rules));
        assert!(compile(&profile).unwrap().is_none());
    }
}
