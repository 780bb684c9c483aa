//! Container logs in the json-file format: rotation by size (`--log-opt max-size/max-file`),
//! reading and following across rotations, the default limits, and `--log-driver none`.
//! Needs root and the busybox image.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn log_files(d: &Daemon, id: &str) -> Vec<(String, u64)> {
    let dir = d.root.join("containers").join(id);
    let mut v: Vec<(String, u64)> = std::fs::read_dir(&dir)
        .expect("container dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("-json.log"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().map(|m| m.len()).unwrap_or(0),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn logs_rotate_by_size_and_read_across_files() {
    let Some(d) = busybox_daemon() else { return };
    // About 80 bytes per entry: 400 lines are ~32 kB, so a 10 kB cap rotates several times.
    let id = d
        .ok(&[
            "create",
            "--name",
            "rot",
            "--log-opt",
            "max-size=10k",
            "--log-opt",
            "max-file=3",
            "busybox",
            "sh",
            "-c",
            "i=0; while [ $i -lt 400 ]; do i=$((i+1)); echo line-$i; \
             [ $((i % 20)) = 0 ] && sleep 0.05; done",
        ])
        .trim()
        .to_string();
    let mut follower = Command::new(env!("CARGO_BIN_EXE_berth"));
    follower
        .env("BERTH_HOST", d.host())
        .args(["logs", "-f", "rot"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    d.ok(&["start", "rot"]);
    let mut follower = follower.spawn().expect("logs -f");
    // The follower sees every line, in order, although the files rotate under it.
    let mut seen = Vec::new();
    for line in BufReader::new(follower.stdout.take().unwrap()).lines() {
        seen.push(line.expect("line"));
    }
    let _ = follower.wait();
    let want: Vec<String> = (1..=400).map(|i| format!("line-{i}")).collect();
    assert_eq!(seen, want, "follow across rotations");
    // At most three files, none much over the cap.
    let files = log_files(&d, &id);
    assert_eq!(files.len(), 3, "{files:?}");
    assert!(
        files.iter().all(|(_, len)| *len <= 10 * 1024 + 200),
        "{files:?}"
    );
    // `logs` reads the rotated files oldest first: the end of the output is complete and in
    // order; the beginning went with the dropped files.
    let out = d.ok(&["logs", "rot"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.len() < 400 && lines.len() > 150, "{}", lines.len());
    let first: usize = lines[0].trim_start_matches("line-").parse().unwrap();
    let expect: Vec<String> = (first..=400).map(|i| format!("line-{i}")).collect();
    assert_eq!(lines, expect);
    assert_eq!(
        d.ok(&["logs", "--tail", "2", "rot"]),
        "line-399\nline-400\n"
    );
    // Bad options are refused at create, with nothing left behind.
    for (opt, text) in [
        ("max-size=abc", "invalid size: 'abc'"),
        ("max-file=0", "max-file cannot be less than 1"),
        (
            "bogus=1",
            "unknown log opt 'bogus' for json-file log driver",
        ),
    ] {
        let err = d.fails(&["create", "--log-opt", opt, "busybox", "true"]);
        assert!(err.contains(text), "{opt}: {err}");
    }
    assert_eq!(d.ok(&["ps", "-aq"]).lines().count(), 1);
}

#[test]
fn default_limits_and_the_none_driver() {
    let Some(d) = busybox_daemon() else { return };
    d.ok(&["run", "--name", "dflt", "busybox", "echo", "hello"]);
    let (_, v) = d.api_json("GET", "/containers/dflt/json");
    assert_eq!(v["HostConfig"]["LogConfig"]["Type"], "json-file");
    assert_eq!(d.ok(&["logs", "dflt"]), "hello\n");
    d.ok(&[
        "run",
        "--name",
        "quiet",
        "--log-driver",
        "none",
        "busybox",
        "echo",
        "hello",
    ]);
    let err = d.fails(&["logs", "quiet"]);
    assert!(
        err.contains("configured logging driver does not support reading"),
        "{err}"
    );
    // Attached clients still get the output.
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "--log-driver",
            "none",
            "busybox",
            "echo",
            "attached"
        ]),
        "attached\n"
    );
    let err = d.fails(&["create", "--log-driver", "syslog", "busybox", "true"]);
    assert!(err.contains("no log driver named 'syslog'"), "{err}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while d.ok(&["ps", "-q"]).trim() != "" {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
}
