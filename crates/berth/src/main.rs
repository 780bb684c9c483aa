//! The `berth` binary: the CLI, and `berth daemon`. Argument parsing lives in `berth-cli`; this
//! file only dispatches.

mod daemon;

use std::process::ExitCode;

fn main() -> ExitCode {
    match berth_cli::run(std::env::args_os().collect()) {
        berth_cli::Outcome::Exit(code) => ExitCode::from(code.clamp(0, 255) as u8),
        berth_cli::Outcome::Daemon(args) => match daemon::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("berth daemon: {e:#}");
                ExitCode::from(1)
            }
        },
    }
}
