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
pub fn mount_overlay(
    lower: &[String],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> Result<(), String> {
    let opts = format!(
        "lowerdir={},upperdir={},workdir={},redirect_dir=off",
        lower.join(":"),
        upper.display(),
        work.display()
    );
    if opts.len() <= MAX_MOUNT_DATA {
        return nix::mount::mount(
            Some("overlay"),
            target,
            Some("overlay"),
            nix::mount::MsFlags::empty(),
            Some(opts.as_str()),
        )
        .map_err(|e| e.to_string());
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
