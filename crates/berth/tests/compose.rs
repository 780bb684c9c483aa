//! The two-tier example (examples/twotier): MariaDB and a Python web app, both built by berth on
//! the Debian base with apt inside RUN steps, run by Debian's docker-compose (1.29) against
//! berth's socket. The daemon runs in the host's network namespace: the builds need the way out
//! to the Debian mirror through berth's NAT. Skips (with a message) without docker-compose or
//! the Debian base image.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/twotier")
}

fn compose(d: &Daemon, project: &str, port: u16, args: &[&str]) -> Output {
    Command::new("docker-compose")
        .current_dir(example())
        .env("DOCKER_HOST", d.host())
        .env("WEB_PORT", port.to_string())
        .env("COMPOSE_INTERACTIVE_NO_CLI", "1")
        .args(["-p", project])
        .args(args)
        .output()
        .expect("run docker-compose")
}

fn compose_ok(d: &Daemon, project: &str, port: u16, args: &[&str]) -> String {
    let out = compose(d, project, port, args);
    assert!(
        out.status.success(),
        "docker-compose {args:?}: {}\n{}\ndaemon: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        d.log()
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn two_tier_app_with_docker_compose() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root");
        return;
    }
    if Command::new("docker-compose")
        .arg("version")
        .output()
        .is_err()
    {
        eprintln!("skipped: docker-compose not installed");
        return;
    }
    let Some(debian) = base_image("debian") else {
        eprintln!("skipped: no Debian base image (scripts/make-base-images.sh)");
        return;
    };
    let d = Daemon::start_host_netns(&[]);
    d.ok(&["load", "-i", debian.to_str().expect("utf8")]);
    let dir = example();
    d.ok(&[
        "build",
        "-q",
        "-t",
        "twotier-db",
        dir.join("db").to_str().expect("utf8"),
    ]);
    d.ok(&[
        "build",
        "-q",
        "-t",
        "twotier-web",
        dir.join("web").to_str().expect("utf8"),
    ]);

    let project = format!("tt{}", std::process::id());
    let port = 20000 + (std::process::id() % 20000) as u16;
    compose_ok(&d, &project, port, &["up", "-d"]);
    let ps = compose_ok(&d, &project, port, &["ps"]);
    assert_eq!(ps.matches(" Up ").count(), 2, "{ps}");
    assert!(ps.contains(&format!("0.0.0.0:{port}->8000/tcp")), "{ps}");

    // The host reaches the web tier through the published port; the web tier reaches the
    // database by its service name on the project's network.
    let deadline = Instant::now() + Duration::from_secs(90);
    let page = loop {
        let out = Command::new("curl")
            .args(["-sf", "--max-time", "5"])
            .arg(format!("http://127.0.0.1:{port}/"))
            .output()
            .expect("curl");
        if out.status.success() {
            break String::from_utf8_lossy(&out.stdout).into_owned();
        }
        assert!(
            Instant::now() < deadline,
            "the web tier never served the items; logs:\n{}",
            compose_ok(&d, &project, port, &["logs"])
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(page, "anchor\nrope\nlantern\n");

    let logs = compose_ok(&d, &project, port, &["logs", "db"]);
    assert!(logs.contains("ready for connections"), "{logs}");
    let labelled = d.ok(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
    ]);
    assert_eq!(labelled.lines().count(), 2, "{labelled}");
    let nets = d.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(
        nets.lines().any(|n| n == format!("{project}_backend")),
        "{nets}"
    );

    let down = compose_ok(&d, &project, port, &["down", "-v"]);
    assert!(
        down.contains(&format!("Removing network {project}_backend")),
        "{down}"
    );
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "");
    let nets = d.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!nets.contains(&project), "{nets}");
    let rules = Command::new("iptables-save")
        .output()
        .expect("iptables-save");
    let rules = String::from_utf8_lossy(&rules.stdout);
    assert!(
        !rules.contains(&format!(":{port} ")) && !rules.contains(&format!("--dport {port} ")),
        "the published port's rules are gone"
    );
}
