//! Mounting a container's overlay root filesystem. The classic `mount(2)` takes the options as
//! one string of at most a page, which caps the number of layers (with 100-byte layer paths, at
//! about 40). When the options do not fit, berth uses the new mount API instead (`fsopen` +
//! one `fsconfig("lowerdir+")` per layer, Linux 6.8+), which has no such limit.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// The longest option string `mount(2)` accepts (one page, with its terminating NUL).
const MAX_MOUNT_DATA: usize = 4095;

const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;

fn cstr(s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("path contains a NUL byte: {s:?}"))
}

fn check(r: libc::c_long, what: &str) -> Result<libc::c_long, String> {
    if r < 0 {
        Err(format!("{what}: {}", std::io::Error::last_os_error()))
    } else {
        Ok(r)
    }
}

/// Mounts an overlay at `target`: `lower` top-most first, then the writable `upper`/`work`.
/// `redirect_dir` stays off whatever the kernel's default: a renamed directory is then copied up
/// whole, so the upper dir alone says what changed (`diff`, `commit`).
///
/// The layer paths are given relative to the parent of `upper` (the container's directory) when
/// they can be: the kernel keeps the option strings as given and prints them in every read of
/// `/proc/*/mountinfo`, which runtimes read a dozen times per container start, so with a
/// hundred containers running, absolute paths (three 64-digit IDs per mount and more per layer)
/// made every start measurably slower. Shorter options also fit more layers into `mount(2)`.
pub fn mount_overlay(
    lower: &[String],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> Result<(), String> {
    if let Some(base) = upper.parent().filter(|b| b.is_absolute()) {
        let lower_rel: Option<Vec<String>> = lower
            .iter()
            .map(|l| relative_to(base, Path::new(l)))
            .collect();
        if let (Some(lower_rel), Some(upper_rel), Some(work_rel)) =
            (lower_rel, relative_to(base, upper), relative_to(base, work))
        {
            let opts = options(&lower_rel, &upper_rel, &work_rel);
            if opts.len() <= MAX_MOUNT_DATA {
                let (base, target) = (base.to_path_buf(), target.to_path_buf());
                // The working directory is process-wide; this thread gets one of its own.
                let r = std::thread::spawn(move || -> Result<(), String> {
                    nix::sched::unshare(nix::sched::CloneFlags::CLONE_FS)
                        .map_err(|e| format!("unshare(CLONE_FS): {e}"))?;
                    std::env::set_current_dir(&base)
                        .map_err(|e| format!("entering {}: {e}", base.display()))?;
                    mount_legacy(&target, &opts)
                })
                .join()
                .map_err(|_| "overlay mount thread panicked".to_string())?;
                if r.is_ok() {
                    return r;
                }
            }
        }
    }
    let opts = options(
        lower,
        &upper.display().to_string(),
        &work.display().to_string(),
    );
    if opts.len() <= MAX_MOUNT_DATA {
        return mount_legacy(target, &opts);
    }
    mount_overlay_fsconfig(lower, upper, work, target).map_err(|e| {
        format!(
            "{} layers make {} bytes of overlay options, more than mount(2) takes, and the \
             new mount API failed: {e}",
            lower.len(),
            opts.len()
        )
    })
}

fn options(lower: &[String], upper: &str, work: &str) -> String {
    format!(
        "lowerdir={},upperdir={upper},workdir={work},redirect_dir=off",
        lower.join(":")
    )
}

fn mount_legacy(target: &Path, opts: &str) -> Result<(), String> {
    nix::mount::mount(
        Some("overlay"),
        target,
        Some("overlay"),
        nix::mount::MsFlags::empty(),
        Some(opts),
    )
    .map_err(|e| e.to_string())
}

/// `path` relative to the directory `base` (`../../image/layers/x/diff`), when both are
/// absolute, free of `.`/`..`, and the result has none of the characters overlay options treat
/// specially (`,` `:` `\\`).
fn relative_to(base: &Path, path: &Path) -> Option<String> {
    use std::path::Component;
    let plain = |p: &Path| {
        p.is_absolute()
            && p.components()
                .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
    };
    if !plain(base) || !plain(path) {
        return None;
    }
    let (b, p): (Vec<_>, Vec<_>) = (base.components().collect(), path.components().collect());
    let common = b.iter().zip(&p).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = vec!["..".to_string(); b.len() - common];
    for c in &p[common..] {
        parts.push(c.as_os_str().to_str()?.to_string());
    }
    let rel = if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    };
    (!rel.contains([',', ':', '\\'])).then_some(rel)
}

fn mount_overlay_fsconfig(
    lower: &[String],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> Result<(), String> {
    let fstype = cstr("overlay")?;
    // SAFETY: fsopen takes a NUL-terminated string that lives through the call, and flags.
    let fd = check(
        unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) },
        "fsopen(overlay)",
    )?;
    // SAFETY: a fresh descriptor returned by fsopen, owned by nothing else.
    let fs = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let set = |key: &str, value: &str| -> Result<(), String> {
        let (k, v) = (cstr(key)?, cstr(value)?);
        // SAFETY: both strings are NUL-terminated and outlive the call; aux is unused (0).
        let r = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fs.as_raw_fd(),
                FSCONFIG_SET_STRING,
                k.as_ptr(),
                v.as_ptr(),
                0,
            )
        };
        check(r, &format!("fsconfig {key}={value}")).map(|_| ())
    };
    for l in lower {
        set("lowerdir+", l)?;
    }
    set("upperdir", &upper.display().to_string())?;
    set("workdir", &work.display().to_string())?;
    set("redirect_dir", "off")?;
    // SAFETY: no pointers; the command creates the superblock from the configuration above.
    check(
        unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fs.as_raw_fd(),
                FSCONFIG_CMD_CREATE,
                std::ptr::null::<libc::c_char>(),
                std::ptr::null::<libc::c_void>(),
                0,
            )
        },
        "fsconfig create",
    )?;
    // SAFETY: no pointers; returns a new detached mount descriptor.
    let m = check(
        unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, 0) },
        "fsmount",
    )?;
    // SAFETY: a fresh descriptor returned by fsmount, owned by nothing else.
    let mnt = unsafe { OwnedFd::from_raw_fd(m as i32) };
    let empty = cstr("")?;
    let to = cstr(&target.display().to_string())?;
    // SAFETY: both paths are NUL-terminated and outlive the call.
    check(
        unsafe {
            libc::syscall(
                libc::SYS_move_mount,
                mnt.as_raw_fd(),
                empty.as_ptr(),
                libc::AT_FDCWD,
                to.as_ptr(),
                MOVE_MOUNT_F_EMPTY_PATH,
            )
        },
        "move_mount",
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::relative_to;
    use std::path::Path;

    #[test]
    fn layer_paths_relative_to_the_container_dir() {
        let base = Path::new("/var/lib/berth/containers/abc");
        let rel = |p: &str| relative_to(base, Path::new(p));
        assert_eq!(
            rel("/var/lib/berth/image/layers/f00/diff").as_deref(),
            Some("../../image/layers/f00/diff")
        );
        assert_eq!(
            rel("/var/lib/berth/containers/abc/upper").as_deref(),
            Some("upper")
        );
        assert_eq!(rel("/var/lib/berth/containers/abc").as_deref(), Some("."));
        assert_eq!(rel("/other/x").as_deref(), Some("../../../../../other/x"));
        // Not representable in overlay options, or not plain absolute paths: absolute is kept.
        assert_eq!(rel("/var/lib/berth/a,b"), None);
        assert_eq!(rel("/var/lib/berth/a:b"), None);
        assert_eq!(rel("relative/path"), None);
        assert_eq!(rel("/var/lib/../berth"), None);
    }
}
