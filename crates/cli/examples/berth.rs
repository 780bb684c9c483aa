//! A stand-alone client binary for trying the CLI before the main `berth` binary wires it in:
//! `cargo run -p berth-cli --example berth -- images`. (`daemon` is not available here.)

fn main() {
    match berth_cli::run(std::env::args_os().collect()) {
        berth_cli::Outcome::Exit(code) => std::process::exit(code),
        berth_cli::Outcome::Daemon(_) => {
            eprintln!("the daemon is only available in the berth binary");
            std::process::exit(1);
        }
    }
}
