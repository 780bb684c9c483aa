//! The container and volume commands against a real Docker daemon at
//! `unix:///var/run/docker.sock` (skipped, with a message, when there is none or it lacks the
//! `busybox:local` image). Every container and volume is named `berthcli-test-<pid>-…` and
//! removed by a guard, also when a test fails; nothing else on the daemon is touched. Where the
//! docker CLI is installed, key outputs are compared with its output byte for byte.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use common::{berth, berth_in, Outcome};

const SOCKET: &str = "/var/run/docker.sock";
const HOST: &str = "unix:///var/run/docker.sock";
const IMAGE: &str = "busybox:local";
const DOCKER: &str = "/usr/bin/docker";

/// One raw HTTP/1.0 request over the daemon socket (for setup checks and cleanup, which must
/// not depend on the code under test). Returns the status code.
fn raw_request(method: &str, path: &str) -> Option<u16> {
    let mut s = UnixStream::connect(SOCKET).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(s, "{method} {path} HTTP/1.0\r\nHost: docker\r\n\r\n").ok()?;
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    resp.split_whitespace().nth(1)?.parse().ok()
}

/// Whether the daemon is there with the test image.
fn available() -> bool {
    if raw_request("GET", &format!("/v1.41/images/{IMAGE}/json")) == Some(200) {
        return true;
    }
    eprintln!("skipping: no Docker daemon with {IMAGE} at {SOCKET}");
    false
}

/// Removes the named containers and volumes when dropped.
struct Cleanup {
    containers: Vec<String>,
    volumes: Vec<String>,
}

impl Cleanup {
    fn new() -> Cleanup {
        Cleanup {
            containers: Vec::new(),
            volumes: Vec::new(),
        }
    }

    fn container(&mut self, tag: &str) -> String {
        let name = format!("berthcli-test-{}-{tag}", std::process::id());
        self.containers.push(name.clone());
        name
    }

    fn volume(&mut self, tag: &str) -> String {
        let name = format!("berthcli-test-{}-{tag}", std::process::id());
        self.volumes.push(name.clone());
        name
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = raw_request("DELETE", &format!("/v1.41/containers/{c}?force=1&v=1"));
        }
        for v in &self.volumes {
            let _ = raw_request("DELETE", &format!("/v1.41/volumes/{v}?force=1"));
        }
    }
}

async fn b(args: &[&str]) -> Outcome {
    berth(HOST, args).await
}

fn ok(o: &Outcome) {
    assert_eq!(o.code, 0, "stdout: {}\nstderr: {}", o.stdout, o.stderr);
}

/// The docker CLI's stdout for the same command, when it is installed.
fn docker(args: &[&str]) -> Option<String> {
    if !std::path::Path::new(DOCKER).exists() {
        return None;
    }
    let out = std::process::Command::new(DOCKER)
        .arg("-H")
        .arg(HOST)
        .args(args)
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test]
async fn run_prints_output_and_exits_with_the_containers_status() {
    if !available() {
        return;
    }
    let mut c = Cleanup::new();
    let n = c.container("echo");
    let o = b(&["run", "--rm", "--name", &n, IMAGE, "echo", "hi"]).await;
    ok(&o);
    assert_eq!(o.stdout, "hi\n");

    let n = c.container("exit3");
    let o = b(&[
        "run",
        "--rm",
        "--name",
        &n,
        IMAGE,
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ])
    .await;
    assert_eq!(
        (o.code, o.stdout.as_str(), o.stderr.as_str()),
        (3, "out\n", "err\n")
    );

    let n = c.container("missing");
    let o = b(&["run", "--rm", "--name", &n, IMAGE, "no-such-command"]).await;
    assert_eq!(o.code, 127, "{}", o.stderr);
    assert!(
        o.stderr.starts_with("berth: Error response from daemon: "),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains("executable file not found"),
        "{}",
        o.stderr
    );

    let n = c.container("noexec");
    let o = b(&["run", "--rm", "--name", &n, IMAGE, "/etc"]).await;
    assert_eq!(o.code, 126, "{}", o.stderr);
}

#[tokio::test]
async fn run_interactive_echoes_stdin() {
    if !available() {
        return;
    }
    let mut c = Cleanup::new();
    let n = c.container("stdin");
    let o = berth_in(
        HOST,
        &["run", "-i", "--rm", "--name", &n, IMAGE, "cat"],
        b"hello\nworld\n",
    )
    .await;
    ok(&o);
    assert_eq!(o.stdout, "hello\nworld\n");
}

#[tokio::test]
async fn detached_logs_follow_stop_and_wait() {
    if !available() {
        return;
    }
    let mut c = Cleanup::new();
    let n = c.container("detached");
    let o = b(&[
        "run",
        "-d",
        "--name",
        &n,
        IMAGE,
        "sh",
        "-c",
        "echo one; echo two >&2; exec sleep 300",
    ])
    .await;
    ok(&o);
    let id = o.stdout.trim().to_string();
    assert_eq!(id.len(), 64, "{}", o.stdout);
    assert!(id.chars().all(|ch| ch.is_ascii_hexdigit()));

    let follow = tokio::spawn({
        let n = n.clone();
        async move { berth(HOST, &["logs", "-f", &n]).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let o = b(&["stop", "-t", "1", &n]).await;
    ok(&o);
    assert_eq!(o.stdout, format!("{n}\n"));
    let logs = tokio::time::timeout(Duration::from_secs(20), follow)
        .await
        .unwrap_or_else(|_| panic!("logs -f did not end when the container stopped"))
        .unwrap_or_else(|e| panic!("{e}"));
    ok(&logs);
    assert_eq!(
        (logs.stdout.as_str(), logs.stderr.as_str()),
        ("one\n", "two\n")
    );

    let o = b(&["wait", &n]).await;
    ok(&o);
    let code = b(&["inspect", "-f", "{{.State.ExitCode}}", &n]).await;
    assert_eq!(o.stdout, code.stdout);
    assert_eq!(o.stdout, "137\n");
}

#[tokio::test]
async fn exec_reports_the_commands_exit_code() {
    if !available() {
        return;
    }
    let mut c = Cleanup::new();
    let n = c.container("exec");
    ok(&b(&["run", "-d", "--name", &n, IMAGE, "sleep", "300"]).await);
    let o = b(&["exec", &n, "sh", "-c", "echo in-exec; exit 7"]).await;
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (7, "in-exec\n"),
        "{}",
        o.stderr
    );
    let o = berth_in(HOST, &["exec", "-i", &n, "cat"], b"piped\n").await;
    ok(&o);
    assert_eq!(o.stdout, "piped\n");
    ok(&b(&["exec", "-d", &n, "touch", "/tmp/detached"]).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let o = b(&[
        "exec",
        "-e",
        "X=1",
        "-w",
        "/tmp",
        &n,
        "sh",
        "-c",
        "echo $X $(pwd); ls",
    ])
    .await;
    assert_eq!(o.stdout, "1 /tmp\ndetached\n");
}

#[tokio::test]
async fn ps_inspect_and_friends_match_the_docker_cli() {
    if !available() {
        return;
    }
    let mut c = Cleanup::new();
    let n = c.container("ps");
    ok(&b(&[
        "run",
        "-d",
        "--name",
        &n,
        "-l",
        "berth.test=1",
        "-p",
        "127.0.0.1::80",
        "--expose",
        "9000-9001",
        IMAGE,
        "sh",
        "-c",
        "mkdir /data; touch /data/x; exec sleep 300",
    ])
    .await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let filter = format!("name={n}");
    let o = b(&[
        "ps",
        "-a",
        "--filter",
        &filter,
        "--format",
        "{{.Names}} {{.Image}} {{.State}}",
    ])
    .await;
    assert_eq!(o.stdout, format!("{n} {IMAGE} running\n"));

    let fmt = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.Ports}}\t{{.Names}}\t{{.Labels}}\t{{.Networks}}";
    let same: &[&[&str]] = &[
        &["ps", "-a", "--filter", &filter, "--format", fmt],
        &[
            "ps",
            "-a",
            "--no-trunc",
            "--filter",
            &filter,
            "--format",
            fmt,
        ],
        &["ps", "-q", "--filter", &filter],
        &["inspect", &n],
        &[
            "container",
            "inspect",
            "-f",
            "{{.Name}} {{.Config.Labels}}",
            &n,
        ],
        &["port", &n],
        &["port", &n, "80"],
        &["diff", &n],
        &["logs", &n],
    ];
    for args in same {
        let ours = b(args).await;
        ok(&ours);
        if let Some(theirs) = docker(args) {
            assert_eq!(ours.stdout, theirs, "berth {args:?}");
        }
    }
    // `top`'s CPU column moves between two calls; the table layout must not.
    let ours = b(&["top", &n]).await;
    ok(&ours);
    if let Some(theirs) = docker(&["top", &n]) {
        assert_eq!(ours.stdout.lines().next(), theirs.lines().next());
        assert_eq!(ours.stdout.lines().count(), theirs.lines().count());
    }
    let o = b(&["port", &n, "443"]).await;
    assert_eq!(
        (o.code, o.stderr.clone()),
        (
            1,
            format!("Error: No public port '443/tcp' published for {n}\n")
        )
    );
    let o = b(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}}",
        &n,
    ])
    .await;
    ok(&o);
    assert_eq!(o.stdout, format!("{n} 1\n"));
}

#[tokio::test]
async fn cp_round_trips_files_both_ways() {
    if !available() {
        return;
    }
    let mut c = Cleanup::new();
    let n = c.container("cp");
    ok(&b(&["run", "-d", "--name", &n, IMAGE, "sleep", "300"]).await);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(src.join("file.txt"), b"payload\n").unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(src.join("sub/deep.txt"), b"deep\n").unwrap_or_else(|e| panic!("{e}"));
    let src_s = src.to_string_lossy().into_owned();

    // A directory into an existing directory, and a file under a new name.
    ok(&b(&["cp", &src_s, &format!("{n}:/tmp/")]).await);
    ok(&b(&[
        "cp",
        &format!("{src_s}/file.txt"),
        &format!("{n}:/tmp/renamed.txt"),
    ])
    .await);
    let o = b(&[
        "exec",
        &n,
        "sh",
        "-c",
        "cat /tmp/src/file.txt /tmp/src/sub/deep.txt /tmp/renamed.txt",
    ])
    .await;
    assert_eq!(o.stdout, "payload\ndeep\npayload\n");

    // And back: the directory, its contents (`/.`), one file to a new name, and `-` as tar.
    let back = dir.path().join("back");
    std::fs::create_dir(&back).unwrap_or_else(|e| panic!("{e}"));
    let back_s = back.to_string_lossy().into_owned();
    ok(&b(&["cp", &format!("{n}:/tmp/src"), &back_s]).await);
    ok(&b(&[
        "cp",
        &format!("{n}:/tmp/src/."),
        &format!("{back_s}/contents"),
    ])
    .await);
    ok(&b(&[
        "cp",
        &format!("{n}:/tmp/renamed.txt"),
        &format!("{back_s}/again.txt"),
    ])
    .await);
    assert_eq!(
        std::fs::read(back.join("src/file.txt")).ok(),
        Some(b"payload\n".to_vec())
    );
    assert_eq!(
        std::fs::read(back.join("src/sub/deep.txt")).ok(),
        Some(b"deep\n".to_vec())
    );
    assert_eq!(
        std::fs::read(back.join("contents/sub/deep.txt")).ok(),
        Some(b"deep\n".to_vec())
    );
    assert_eq!(
        std::fs::read(back.join("again.txt")).ok(),
        Some(b"payload\n".to_vec())
    );
    let o = b(&["cp", &format!("{n}:/tmp/renamed.txt"), "-"]).await;
    ok(&o);
    let mut ar = tar::Archive::new(&o.stdout_bytes[..]);
    let names: Vec<String> = ar
        .entries()
        .map(|es| {
            es.filter_map(Result::ok)
                .map(|e| String::from_utf8_lossy(&e.path_bytes()).into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(names, vec!["renamed.txt".to_string()]);

    let o = b(&["cp", &format!("{n}:/nope"), &back_s]).await;
    assert_eq!(
        (o.code, o.stderr.clone()),
        (1, format!("Error: No such container:path: {n}:/nope\n"))
    );
    let o = b(&["cp", &src_s, &format!("{n}:/etc/hostname")]).await;
    assert_eq!((o.code, o.stderr.as_str()), (1, "cannot copy directory\n"));
}

#[tokio::test]
async fn rm_force_removes_a_running_container() {
    if !available() {
        return;
    }
    let mut c = Cleanup::new();
    let n = c.container("rmf");
    ok(&b(&["run", "-d", "--name", &n, IMAGE, "sleep", "300"]).await);
    let o = b(&["rm", &n]).await;
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("You cannot remove a running container"),
        "{}",
        o.stderr
    );
    let o = b(&["rm", "-f", &n]).await;
    ok(&o);
    assert_eq!(o.stdout, format!("{n}\n"));
    let o = b(&["container", "inspect", &n]).await;
    assert_eq!(
        (o.code, o.stderr.clone()),
        (1, format!("Error: No such container: {n}\n"))
    );
    let o = b(&["rm", "-f", &n]).await;
    assert_eq!(
        (o.code, o.stderr.clone()),
        (0, format!("Error: No such container: {n}\n"))
    );
}

#[tokio::test]
async fn volume_create_ls_inspect_rm() {
    if !available() {
        return;
    }
    let mut c = Cleanup::new();
    let v = c.volume("vol");
    let o = b(&["volume", "create", "--label", "berth.test=1", &v]).await;
    ok(&o);
    assert_eq!(o.stdout, format!("{v}\n"));
    let filter = format!("name={v}");
    let o = b(&["volume", "ls", "-q", "--filter", &filter]).await;
    assert_eq!(o.stdout, format!("{v}\n"));
    for args in [
        vec!["volume", "ls", "--filter", filter.as_str()],
        vec!["volume", "inspect", v.as_str()],
        vec![
            "volume",
            "ls",
            "--format",
            "{{json .}}",
            "--filter",
            filter.as_str(),
        ],
    ] {
        let ours = b(&args).await;
        ok(&ours);
        if let Some(theirs) = docker(&args) {
            assert_eq!(ours.stdout, theirs, "berth {args:?}");
        }
    }
    let n = c.container("volrun");
    let o = b(&[
        "run",
        "--rm",
        "--name",
        &n,
        "-v",
        &format!("{v}:/data"),
        IMAGE,
        "sh",
        "-c",
        "echo kept > /data/f",
    ])
    .await;
    ok(&o);
    let n = c.container("volrun2");
    let o = b(&[
        "run",
        "--rm",
        "--name",
        &n,
        "-v",
        &format!("{v}:/data:ro"),
        IMAGE,
        "cat",
        "/data/f",
    ])
    .await;
    assert_eq!(o.stdout, "kept\n");
    let o = b(&["volume", "rm", &v]).await;
    ok(&o);
    assert_eq!(o.stdout, format!("{v}\n"));
    let o = b(&["volume", "inspect", &v]).await;
    assert_eq!(
        (o.code, o.stderr.clone()),
        (1, format!("Error: No such volume: {v}\n"))
    );
}

/// The example binary `cargo test` builds next to the test executables.
fn berth_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("examples/berth");
    path.exists().then_some(path)
}

#[tokio::test]
async fn run_tty_under_a_pty_uses_raw_mode_and_crlf() {
    if !available() {
        return;
    }
    let Some(bin) = berth_binary() else {
        eprintln!("skipping: the berth example binary is not built");
        return;
    };
    let mut c = Cleanup::new();
    let n = c.container("pty");
    let (mut master, slave) = openpty();
    set_size(&master, 30, 100);
    let child = std::process::Command::new(bin)
        .args([
            "-H", HOST, "run", "--rm", "-it", "--name", &n, IMAGE, "sh", "-c",
        ])
        .arg("read line; echo got:$line; stty size; exit 4")
        .stdin(slave.try_clone().unwrap_or_else(|e| panic!("{e}")))
        .stdout(slave.try_clone().unwrap_or_else(|e| panic!("{e}")))
        .stderr(slave.try_clone().unwrap_or_else(|e| panic!("{e}")))
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let result = tokio::task::spawn_blocking(move || {
        let mut child = child;
        // Wait until the CLI has put the terminal in raw mode, then type a line: in raw mode the
        // Enter key arrives as a bare `\r`.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !is_raw(&slave) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let was_raw = is_raw(&slave);
        std::thread::sleep(Duration::from_millis(500));
        let _ = master.write_all(b"abc\r");
        let status = child.wait().unwrap_or_else(|e| panic!("{e}"));
        let restored = !is_raw(&slave);
        drop(slave);
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match master.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(k) => out.extend_from_slice(&buf[..k]),
            }
        }
        (was_raw, restored, status.code(), out)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let (was_raw, restored, code, out) = result;
    let text = String::from_utf8_lossy(&out).into_owned();
    assert!(
        was_raw,
        "the terminal was never put in raw mode; output: {text:?}"
    );
    assert!(restored, "the terminal mode was not restored");
    assert_eq!(code, Some(4), "{text:?}");
    assert!(text.contains("got:abc\r\n"), "{text:?}");
    // The container's TTY got the local terminal's size.
    assert!(text.contains("30 100\r\n"), "{text:?}");
}

fn openpty() -> (std::fs::File, std::fs::File) {
    let (mut m, mut s) = (0, 0);
    // SAFETY: openpty writes two new descriptors into `m` and `s`; the optional name, termios
    // and window size pointers are null.
    let rc = unsafe {
        libc::openpty(
            &mut m,
            &mut s,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    use std::os::fd::FromRawFd;
    // SAFETY: both descriptors were just created by openpty and are owned by nobody else.
    unsafe { (std::fs::File::from_raw_fd(m), std::fs::File::from_raw_fd(s)) }
}

fn set_size(tty: &std::fs::File, rows: u16, cols: u16) {
    use std::os::fd::AsRawFd;
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ only reads the winsize we pass, on a descriptor we hold open.
    unsafe {
        libc::ioctl(tty.as_raw_fd(), libc::TIOCSWINSZ, &ws);
    }
}

fn is_raw(tty: &std::fs::File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: tcgetattr fills the zeroed termios we own from a descriptor we hold open.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        libc::tcgetattr(tty.as_raw_fd(), &mut t) == 0 && t.c_lflag & libc::ICANON == 0
    }
}

#[tokio::test]
async fn run_proxies_signals_to_the_container() {
    if !available() {
        return;
    }
    let Some(bin) = berth_binary() else {
        eprintln!("skipping: the berth example binary is not built");
        return;
    };
    let mut c = Cleanup::new();
    let n = c.container("sig");
    let child = std::process::Command::new(bin)
        .args(["-H", HOST, "run", "--rm", "--name", &n, IMAGE, "sh", "-c"])
        .arg("trap 'echo got TERM; exit 9' TERM; sleep 300 & wait")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    // Wait until the container runs, then signal the CLI.
    for _ in 0..200 {
        if b(&["inspect", "-f", "{{.State.Running}}", &n]).await.stdout == "true\n" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // SAFETY: sends SIGTERM to the child we spawned and still own.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(9), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "got TERM\n");
}
