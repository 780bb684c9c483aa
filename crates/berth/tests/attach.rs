//! Foreground `run` through the CLI: attach before start, output and exit code come back, and a
//! `--rm` container that cannot start is removed (the client's `wait?condition=removed` returns).

mod common;

use common::*;

#[test]
fn foreground_run_streams_output_and_exit_code() {
    let Some(d) = busybox_daemon() else { return };
    let out = d.cli(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("err\n"));
    let out = d.cli(&["run", "--rm", "busybox", "nosuchcmd"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&out.stderr).contains("executable file not found"));
    assert_eq!(
        d.ok(&["ps", "-aq"]).trim(),
        "",
        "--rm containers are gone, also after a failed start"
    );
    for docker in ["/usr/local/bin/docker", "/usr/bin/docker"] {
        if !std::path::Path::new(docker).exists() {
            continue;
        }
        let out = std::process::Command::new(docker)
            .env("DOCKER_HOST", d.host())
            .env("DOCKER_CONFIG", d.dir.path())
            .args([
                "run",
                "--rm",
                "busybox",
                "sh",
                "-c",
                "echo via-docker; exit 4",
            ])
            .output()
            .expect("docker");
        assert_eq!(
            out.status.code(),
            Some(4),
            "{docker}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "via-docker\n",
            "{docker}"
        );
    }
}
