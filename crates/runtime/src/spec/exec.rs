//! The OCI `process` of an exec: the container's own process settings with the exec's command,
//! environment, user, working directory, terminal and privileges, as `docker exec` applies them.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxCapabilities, Process, Spec, User};

use super::{apply_env, caps, env_key, resolve_user, SpecError};

/// What an exec asks for (the API's `ExecConfig`).
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub args: Vec<String>,
    /// `KEY=value` entries set on top of the container's environment; `KEY` alone unsets.
    pub env: Vec<String>,
    /// Docker's `user[:group]`; empty keeps the container's user.
    pub user: String,
    /// Absolute path; empty keeps the container's working directory.
    pub working_dir: String,
    pub tty: bool,
    pub privileged: bool,
}

/// Builds the exec's process from the container's `spec` (its `config.json`). `rootfs` is the
/// container's root on the host, where a user name is looked up.
pub fn exec_process(
    spec: &Spec,
    rootfs: &Path,
    opts: &ExecOptions,
    cap_last_cap: u8,
) -> Result<Process, SpecError> {
    if opts.args.is_empty() || opts.args[0].is_empty() {
        return Err(SpecError::NoCommand);
    }
    let mut process = spec.process().clone().unwrap_or_default();
    process.set_args(Some(opts.args.clone()));
    process.set_terminal(Some(opts.tty));
    process.set_console_size(None);

    let mut env: Vec<String> = process.env().clone().unwrap_or_default();
    if opts.tty && !env.iter().any(|e| env_key(e) == "TERM") {
        env.push("TERM=xterm".into());
    }
    if !opts.user.is_empty() {
        let who = resolve_user(rootfs, &opts.user)?;
        let mut user = User::default();
        user.set_uid(who.uid);
        user.set_gid(who.gid);
        if !who.additional_gids.is_empty() {
            user.set_additional_gids(Some(who.additional_gids.clone()));
        }
        process.set_user(user);
        // The container's HOME belongs to its own user; the exec's user gets theirs, unless
        // the exec sets HOME itself (handled below).
        env.retain(|e| env_key(e) != "HOME");
        env.push(format!("HOME={}", who.home));
    }
    apply_env(&mut env, &opts.env);
    process.set_env(Some(env));

    if !opts.working_dir.is_empty() {
        if !opts.working_dir.starts_with('/') {
            return Err(SpecError::RelativeWorkingDir(opts.working_dir.clone()));
        }
        process.set_cwd(PathBuf::from(&opts.working_dir));
    }
    if opts.privileged {
        let all: oci_spec::runtime::Capabilities =
            caps::all_caps(cap_last_cap).into_iter().collect();
        let mut c = LinuxCapabilities::default();
        c.set_bounding(Some(all.clone()));
        c.set_effective(Some(all.clone()));
        c.set_permitted(Some(all));
        c.set_inheritable(None);
        c.set_ambient(None);
        process.set_capabilities(Some(c));
    }
    Ok(process)
}
