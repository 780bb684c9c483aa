//! `berth-shim`: the per-container supervisor (`berth shim …`) as an executable of its own.
//! It links only what supervising needs, so each running container's supervisor carries a
//! fraction of the private (relocated) memory the full `berth` binary would: the daemon starts
//! this one when it sits next to `berth`, and falls back to `berth shim` otherwise.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let code = berth_engine::shim::main(&args);
    ExitCode::from(code.clamp(0, 255) as u8)
}
