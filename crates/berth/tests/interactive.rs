//! Interactive containers through the CLI and the real docker CLI: exec (output, exit codes,
//! stdin, user/env/workdir, failures), `run -i` with piped stdin, TTYs under a real pty
//! (`run -it`, `exec -it`, resize, detach keys, re-attach), pause/unpause, top and stats.
//! Needs root and the busybox base image; skips otherwise.

mod common;

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn dockers() -> Vec<&'static str> {
    ["/usr/local/bin/docker", "/usr/bin/docker"]
        .into_iter()
        .filter(|p| std::path::Path::new(p).exists())
        .collect()
}

/// Runs `cmd` with `input` on stdin; returns (exit code, stdout, stderr).
fn piped(mut cmd: Command, input: &[u8]) -> (Option<i32>, String, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn berth_cmd(d: &Daemon, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
    c.env("BERTH_HOST", d.host()).args(args);
    c
}

fn docker_cmd(d: &Daemon, docker: &str, args: &[&str]) -> Command {
    let mut c = Command::new(docker);
    c.env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.dir.path())
        .args(args);
    c
}

/// A command running on a real pseudo-terminal of 33 rows x 111 columns.
struct Pty {
    master: std::fs::File,
    child: Child,
    seen: Vec<u8>,
}

impl Pty {
    fn spawn(mut cmd: Command) -> Pty {
        let ws = nix::pty::Winsize {
            ws_row: 33,
            ws_col: 111,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(Some(&ws), None).expect("openpty");
        let slave: OwnedFd = pty.slave;
        let sfd = slave.as_raw_fd();
        cmd.stdin(Stdio::from(slave.try_clone().expect("dup")))
            .stdout(Stdio::from(slave.try_clone().expect("dup")))
            .stderr(Stdio::from(slave));
        // SAFETY: runs in the child before exec; setsid and ioctl are async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                libc::setsid();
                libc::ioctl(sfd, libc::TIOCSCTTY, 0);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn on pty");
        drop(cmd);
        let master = std::fs::File::from(pty.master);
        // SAFETY: fcntl on our own descriptor.
        unsafe {
            let fl = libc::fcntl(master.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(master.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
        }
        Pty {
            master,
            child,
            seen: Vec::new(),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).expect("write to pty");
    }

    /// Reads until `needle` has appeared after what earlier calls consumed.
    fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut buf = [0u8; 4096];
        loop {
            if let Some(pos) = find(&self.seen, needle.as_bytes()) {
                let upto = pos + needle.len();
                let text = String::from_utf8_lossy(&self.seen[..upto]).into_owned();
                self.seen.drain(..upto);
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {needle:?}; saw {:?}",
                String::from_utf8_lossy(&self.seen)
            );
            match self.master.read(&mut buf) {
                Ok(0) => std::thread::sleep(Duration::from_millis(20)),
                Ok(n) => self.seen.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                // EIO: the child closed the terminal.
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    fn wait(mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut buf = [0u8; 4096];
        loop {
            // Keep draining, so the child never blocks on a full terminal.
            let _ = self.master.read(&mut buf);
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                return s.code();
            }
            assert!(Instant::now() < deadline, "pty client did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A named client: a function from arguments to the command that runs them.
type Client<'a> = Box<dyn Fn(&[&str]) -> Command + 'a>;

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn exec_runs_commands_in_a_running_container() {
    let Some(d) = busybox_daemon() else { return };
    d.ok(&[
        "run", "-d", "--name", "ex1", "-e", "BASE=1", "busybox", "sleep", "300",
    ]);
    assert_eq!(d.ok(&["exec", "ex1", "echo", "hi"]), "hi\n");
    // Exit code, and stdout/stderr kept apart.
    let out = d.cli(&["exec", "ex1", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    // The container's environment, plus the exec's; user, working directory.
    let out = d.ok(&[
        "exec",
        "-e",
        "EXTRA=2",
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "ex1",
        "sh",
        "-c",
        "echo $BASE $EXTRA; pwd; id -un; echo $HOME",
    ]);
    // busybox gives nobody the home directory /nonexistent.
    assert_eq!(out, "1 2\n/tmp\nnobody\n/nonexistent\n");
    // Piped stdin reaches the process, and its EOF ends it.
    let (code, out, _) = piped(berth_cmd(&d, &["exec", "-i", "ex1", "wc", "-c"]), b"12345");
    assert_eq!((code, out.trim()), (Some(0), "5"));
    // The exec is confined like the container's own process: the same seccomp filter mode
    // and the same effective capabilities (CAP_SYS_ADMIN, lent to load the filter, is gone).
    let status = |pid: &str| {
        d.ok(&["exec", "ex1", "cat", &format!("/proc/{pid}/status")])
            .lines()
            .filter(|l| {
                l.starts_with("Seccomp:") || l.starts_with("CapEff:") || l.starts_with("CapBnd:")
            })
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let own = status("self");
    assert!(
        own.iter()
            .any(|l| l.ends_with("\t2") && l.starts_with("Seccomp:")),
        "{own:?}"
    );
    assert_eq!(own, status("1"), "exec vs the container's init");
    // The exec runs in the container's namespaces: it sees the container's PID 1.
    assert_eq!(
        d.ok(&["exec", "ex1", "cat", "/proc/1/cmdline"]),
        "sleep\u{0}300\u{0}"
    );
    // Docker's failures: 126 with the runtime's text.
    let out = d.cli(&["exec", "ex1", "nosuchcmd"]);
    assert_eq!(out.status.code(), Some(126));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("exec: \"nosuchcmd\": executable file not found in $PATH"),
        "{:?}",
        out
    );
    let out = d.cli(&["exec", "ex1", "/etc/passwd"]);
    assert_eq!(out.status.code(), Some(126));
    // A detached exec runs on after the client returns.
    d.ok(&[
        "exec",
        "-d",
        "ex1",
        "sh",
        "-c",
        "echo detached > /tmp/marker",
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.cli(&["exec", "ex1", "cat", "/tmp/marker"]).stdout != b"detached\n" {
        assert!(Instant::now() < deadline, "detached exec never ran");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Exec instances through the API: inspect shows the exit code; unknown IDs are 404.
    let (status, v) = d.api_json("GET", "/containers/ex1/json");
    assert_eq!(status, 200);
    assert!(v["ExecIDs"].is_null() || v["ExecIDs"].is_array());
    let (status, _, body) = d.http(
        "POST",
        "/containers/ex1/exec",
        br#"{"Cmd":["sh","-c","exit 6"],"AttachStdout":true}"#,
    );
    assert_eq!(status, 201);
    let id = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _, _) = d.http("POST", &format!("/exec/{id}/start"), br#"{"Detach":true}"#);
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, v) = d.api_json("GET", &format!("/exec/{id}/json"));
        if v["Running"] == false && v["ExitCode"] == 6 {
            assert_eq!(v["ProcessConfig"]["entrypoint"], "sh");
            break;
        }
        assert!(Instant::now() < deadline, "exec never finished: {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, _, _) = d.http("POST", &format!("/exec/{id}/start"), br#"{"Detach":true}"#);
    assert_eq!(status, 409, "an exec runs once");
    let (status, _) = d.api_json("GET", "/exec/0123456789abcdef/json");
    assert_eq!(status, 404);
    // Not running, or paused: Docker's conflicts.
    d.ok(&["pause", "ex1"]);
    let out = d.fails(&["exec", "ex1", "true"]);
    assert!(
        out.contains("Container ex1 is paused, unpause the container before exec"),
        "{out}"
    );
    d.ok(&["unpause", "ex1"]);
    d.ok(&["stop", "-t", "1", "ex1"]);
    let out = d.fails(&["exec", "ex1", "true"]);
    assert!(out.contains("is not running"), "{out}");
}

#[test]
fn run_interactive_feeds_piped_stdin_until_eof() {
    let Some(d) = busybox_daemon() else { return };
    let (code, out, err) = piped(
        berth_cmd(
            &d,
            &["run", "-i", "--rm", "busybox", "sh", "-c", "cat; echo done"],
        ),
        b"line one\nline two\n",
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "line one\nline two\ndone\n");
    // Without -i the container's stdin is empty, whatever the client has.
    let (code, out, _) = piped(
        berth_cmd(&d, &["run", "--rm", "busybox", "wc", "-c"]),
        b"ignored",
    );
    assert_eq!((code, out.trim()), (Some(0), "0"));
    for docker in dockers() {
        let (code, out, err) = piped(
            docker_cmd(&d, docker, &["run", "-i", "--rm", "busybox", "cat"]),
            b"via docker\n",
        );
        assert_eq!(code, Some(0), "{docker}: {err}");
        assert_eq!(out, "via docker\n", "{docker}");
        d.ok(&["run", "-d", "--name", "exd", "busybox", "sleep", "60"]);
        let (code, out, err) = piped(
            docker_cmd(&d, docker, &["exec", "-i", "exd", "cat"]),
            b"exec via docker\n",
        );
        assert_eq!(code, Some(0), "{docker}: {err}");
        assert_eq!(out, "exec via docker\n", "{docker}");
        let out = docker_cmd(&d, docker, &["exec", "exd", "sh", "-c", "exit 9"])
            .output()
            .expect("docker exec");
        assert_eq!(out.status.code(), Some(9), "{docker}");
        d.ok(&["rm", "-f", "exd"]);
    }
}

#[test]
fn terminals_work_under_a_real_pty() {
    let Some(d) = busybox_daemon() else { return };
    let mut clients: Vec<(&str, Client)> = vec![("berth", Box::new(|a: &[&str]| berth_cmd(&d, a)))];
    for docker in dockers() {
        let dd = &d;
        clients.push((
            docker,
            Box::new(move |a: &[&str]| docker_cmd(dd, docker, a)),
        ));
    }
    for (who, cmd) in &clients {
        // run -it: a shell on a terminal of the client's size; the exit code comes back.
        let mut t = Pty::spawn(cmd(&["run", "-it", "--rm", "busybox", "sh"]));
        t.expect("# ");
        t.send(b"stty size; tty; echo $((6*7))\r");
        let out = t.expect("42\r\n");
        assert!(out.contains("33 111"), "{who}: {out}");
        assert!(out.contains("/dev/pts/0"), "{who}: {out}");
        t.send(b"exit 5\r");
        assert_eq!(t.wait(), Some(5), "{who}");

        // exec -it into a detached container.
        d.ok(&["run", "-d", "--name", "tty1", "busybox", "sleep", "60"]);
        let mut t = Pty::spawn(cmd(&["exec", "-it", "tty1", "sh"]));
        t.expect("# ");
        t.send(b"stty size; echo $TERM\r");
        let out = t.expect("xterm\r\n");
        assert!(out.contains("33 111"), "{who}: {out}");
        t.send(b"exit 4\r");
        assert_eq!(t.wait(), Some(4), "{who}");
        d.ok(&["rm", "-f", "tty1"]);

        // Detach keys leave the container running; attach brings the same shell back.
        let mut t = Pty::spawn(cmd(&["run", "-it", "--name", "tty2", "busybox", "sh"]));
        t.expect("# ");
        t.send(b"export MARK=kept; echo mar\"\"ked\r");
        t.expect("marked\r\n");
        t.send(b"\x10\x11");
        assert_eq!(t.wait(), Some(0), "{who}: detaching from run exits 0");
        assert!(
            d.ok(&["ps", "--format", "{{.Names}}"]).contains("tty2"),
            "{who}"
        );
        let mut t = Pty::spawn(cmd(&["attach", "tty2"]));
        t.send(b"echo $MARK-$((1+1))\r");
        t.expect("kept-2");
        t.send(b"\x10\x11");
        t.expect("read escape sequence");
        assert_eq!(t.wait(), Some(1), "{who}: detaching from attach exits 1");
        let mut t = Pty::spawn(cmd(&["attach", "tty2"]));
        t.send(b"exit 3\r");
        assert_eq!(t.wait(), Some(3), "{who}: attach returns the exit code");
        d.ok(&["rm", "-f", "tty2"]);
    }
}

#[test]
fn pause_top_and_stats() {
    let Some(d) = busybox_daemon() else { return };
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ps1",
        "busybox",
        "sh",
        "-c",
        "sleep 300",
    ]);
    // top: the container's processes only, with ps's columns.
    let top = d.ok(&["top", "ps1"]);
    let mut lines = top.lines();
    assert!(lines.next().unwrap().contains("PID"), "{top}");
    let rows: Vec<&str> = lines.collect();
    assert!(rows.iter().any(|r| r.contains("sleep 300")), "{top}");
    assert!(
        !rows.iter().any(|r| r.contains("berth")),
        "only container processes: {top}"
    );
    let top = d.ok(&["top", "ps1", "-o", "pid,comm"]);
    assert!(top.lines().next().unwrap().contains("COMMAND"), "{top}");
    let out = d.fails(&["top", "ps1", "-o", "comm"]);
    assert!(
        out.contains("Couldn't find PID field in ps output"),
        "{out}"
    );

    // pause freezes every process: a counter stops counting until unpause.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "pa1",
        "busybox",
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo $i > /tmp/n; sleep 0.02; done",
    ]);
    let id = d
        .ok(&["inspect", "-f", "{{.Id}}", "pa1"])
        .trim()
        .to_string();
    let counter = d.root.join("containers").join(&id).join("upper/tmp/n");
    let read = || std::fs::read_to_string(&counter).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(10);
    while read().is_empty() {
        assert!(Instant::now() < deadline, "counter never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    d.ok(&["pause", "pa1"]);
    let (_, v) = d.api_json("GET", "/containers/pa1/json");
    assert_eq!(v["State"]["Status"], "paused");
    assert_eq!(v["State"]["Paused"], true);
    assert!(d
        .ok(&["ps", "--format", "{{.Names}} {{.Status}}"])
        .contains("pa1 Up"));
    assert!(d
        .ok(&["ps", "--format", "{{.Status}}"])
        .contains("(Paused)"));
    let frozen = read();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(read(), frozen, "a paused container does not run");
    let out = d.fails(&["pause", "pa1"]);
    assert!(out.contains("is already paused"), "{out}");
    d.ok(&["unpause", "pa1"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while read() == frozen {
        assert!(Instant::now() < deadline, "unpaused container does not run");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = d.fails(&["unpause", "pa1"]);
    assert!(out.contains("is not paused"), "{out}");
    d.ok(&["pause", "pa1"]);
    d.ok(&["rm", "-f", "pa1"]);
    d.ok(&["pause", "ps1"]);
    d.ok(&["unpause", "ps1"]);

    // stats: one sample with memory in use and one process.
    let (status, v) = d.api_json("GET", "/containers/ps1/stats?stream=false");
    assert_eq!(status, 200);
    assert!(v["memory_stats"]["usage"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["pids_stats"]["current"], 1, "sh execs sleep: {v}");
    assert!(v["cpu_stats"]["system_cpu_usage"].as_u64().unwrap() > 0);
    assert_ne!(v["preread"], "0001-01-01T00:00:00Z", "two samples: {v}");
    let out = d.ok(&["stats", "--no-stream", "ps1"]);
    let row = out.lines().nth(1).unwrap_or_default();
    assert!(
        row.contains("ps1") && row.trim_end().ends_with('1'),
        "{out}"
    );
    for docker in dockers() {
        let out = docker_cmd(&d, docker, &["stats", "--no-stream", "ps1"])
            .output()
            .expect("docker stats");
        assert!(out.status.success(), "{docker}: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.lines().nth(1).unwrap_or_default().contains("ps1"),
            "{text}"
        );
        let out = docker_cmd(&d, docker, &["top", "ps1"])
            .output()
            .expect("top");
        assert!(String::from_utf8_lossy(&out.stdout).contains("sleep 300"));
    }

    // Pausing and stopping: stop reaches a paused container.
    d.ok(&["pause", "ps1"]);
    d.ok(&["stop", "-t", "1", "ps1"]);
    let (_, v) = d.api_json("GET", "/containers/ps1/json");
    assert_eq!(v["State"]["Status"], "exited");
    let out = d.fails(&["pause", "ps1"]);
    assert!(out.contains("is not running"), "{out}");
    // A stopped container's stats are Docker's zero sample.
    let (status, v) = d.api_json("GET", "/containers/ps1/stats?stream=false");
    assert_eq!(status, 200);
    assert_eq!(v["read"], "0001-01-01T00:00:00Z");
}

#[test]
fn seccomp_and_capabilities_of_containers_and_execs() {
    let Some(d) = busybox_daemon() else { return };
    // A user namespace needs no capability, only Docker's seccomp profile forbids it.
    let free = d.cli(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        "busybox",
        "unshare",
        "-U",
        "true",
    ]);
    let confined = d.cli(&["run", "--rm", "busybox", "unshare", "-U", "true"]);
    assert!(!confined.status.success(), "seccomp let unshare -U through");
    if !free.status.success() {
        eprintln!("note: this host forbids user namespaces; only the confined half is checked");
    }
    d.ok(&["run", "-d", "--name", "sc1", "busybox", "sleep", "300"]);
    let status = |pid: &str| {
        d.ok(&["exec", "sc1", "cat", &format!("/proc/{pid}/status")])
            .lines()
            .filter(|l| {
                ["Seccomp:", "CapEff:", "CapBnd:", "CapPrm:"]
                    .iter()
                    .any(|k| l.starts_with(k))
            })
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
    };
    // Docker's default set exactly (CAP_SYS_ADMIN was only lent to load the filter).
    let init = status("1");
    assert!(init.contains(&"Seccomp: 2".to_string()), "{init:?}");
    assert!(
        init.contains(&"CapBnd: 00000000a80425fb".to_string()),
        "{init:?}"
    );
    assert!(
        init.contains(&"CapEff: 00000000a80425fb".to_string()),
        "{init:?}"
    );
    assert_eq!(status("self"), init, "an exec is confined like the init");
    let out = d.cli(&["exec", "sc1", "unshare", "-U", "true"]);
    assert!(
        !out.status.success(),
        "seccomp let an exec's unshare -U through"
    );
    // With CAP_SYS_ADMIN added by the user it stays.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "sc2",
        "--cap-add",
        "SYS_ADMIN",
        "busybox",
        "sleep",
        "300",
    ]);
    let caps = d.ok(&["exec", "sc2", "grep", "CapBnd", "/proc/1/status"]);
    assert!(caps.contains("00000000a82425fb"), "{caps}");
    d.ok(&["rm", "-f", "sc1", "sc2"]);
}
