//! The `berth` binary: the CLI, and `berth daemon`. Argument parsing lives in `berth-cli`; this
//! file only dispatches.

mod daemon;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // `berth shim …`: the per-container supervisor the daemon spawns (internal, single-threaded).
    if args.get(1).is_some_and(|a| a == "shim") {
        let code = berth_engine::shim::main(&args[2..]);
        return ExitCode::from(code.clamp(0, 255) as u8);
    }
    // `berth runtime …`, or this binary called as `berth-runtime` (a symlink handed to containerd):
    // the runc-compatible OCI runtime (single-threaded, like the shim).
    let as_runtime = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .is_some_and(|n| n == "berth-runtime");
    if as_runtime || args.get(1).is_some_and(|a| a == "runtime") {
        let (prog, rest) = match as_runtime {
            true => ("berth-runtime", &args[1..]),
            false => ("berth runtime", &args[2..]),
        };
        let code = berth_runtime::cli::main(prog, rest);
        return ExitCode::from(code.clamp(0, 255) as u8);
    }
    // `berth registry serve …`: an OCI distribution registry (no daemon needed).
    if args.get(1).is_some_and(|a| a == "registry") {
        let code = berth_registry::main(&args[2..]);
        return ExitCode::from(code.clamp(0, 255) as u8);
    }
    match berth_cli::run(args) {
        berth_cli::Outcome::Exit(code) => ExitCode::from(code.clamp(0, 255) as u8),
        berth_cli::Outcome::Daemon(args) => match daemon::run(*args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("berth daemon: {e:#}");
                ExitCode::from(1)
            }
        },
    }
}
