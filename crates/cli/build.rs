//! Records the compiler version so `berth version` can print it where Docker prints "Go version".

use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.split_whitespace().nth(1).map(|v| format!("rustc{v}")))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=BERTH_RUSTC_VERSION={version}");
    println!("cargo:rerun-if-changed=build.rs");
}
