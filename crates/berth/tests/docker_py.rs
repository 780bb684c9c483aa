//! docker-py (Debian's python3-docker or PyPI's docker) against a real berth daemon: the
//! script in tests/py/containers.py runs containers, execs, waits, reads logs and removes.
//! Skips without root, the busybox image, or the docker Python module.

mod common;

use std::process::Command;

use common::*;

#[test]
fn docker_py_runs_containers() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root");
        return;
    }
    let Some(bb) = base_image("busybox") else {
        eprintln!("skipped: no busybox base image (scripts/make-base-images.sh)");
        return;
    };
    // Debian's interpreter first: python3-docker (what CI installs) lives in its dist-packages,
    // which another python3 on PATH (pyenv) does not see.
    let Some(python) = ["/usr/bin/python3", "python3"].into_iter().find(|p| {
        Command::new(p)
            .args(["-c", "import docker"])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }) else {
        eprintln!("skipped: no docker Python module (apt-get install python3-docker)");
        return;
    };
    let d = Daemon::start();
    d.ok(&["load", "-i", bb.to_str().expect("utf8")]);
    eprintln!("docker-py through {python}");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/containers.py");
    let out = Command::new(python)
        .arg(script)
        .env("DOCKER_HOST", d.host())
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "docker-py script failed:\n{}\n{}\ndaemon log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        d.log()
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().last(),
        Some("ok")
    );
}
