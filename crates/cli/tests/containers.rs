//! Container and volume commands against a mock daemon: the requests berth sends (compared with
//! what the docker 20.10 CLI sent for the same command line, captured in `tests/fixtures/`), the
//! order of the attach/wait/start dance, hijacked streams, and what the user sees.

mod common;

use berth_cli::client::frames::StreamKind;
use common::{berth, berth_in, json, not_found, start, stdout_frames, Echo, Reply, Seen};
use serde_json::json as j;

const ID: &str = "4f1c0ffee0000000000000000000000000000000000000000000000000000abc";

fn fixture(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fixture_path(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A daemon where everything about container `ID` works; `wait` reports `exit`.
fn happy(exit: i64) -> impl Fn(&Seen) -> Reply + Send + Sync + 'static {
    move |s: &Seen| match (s.method.as_str(), s.path()) {
        ("POST", "/v1.41/containers/create") => json(201, j!({"Id": ID, "Warnings": []})),
        ("POST", p) if p.ends_with("/attach") => Reply::Upgrade {
            output: stdout_frames(&[
                (StreamKind::Stdout, b"hello out\n"),
                (StreamKind::Stderr, b"hello err\n"),
            ]),
            echo: Echo::None,
        },
        ("POST", p) if p.ends_with("/wait") => json(200, j!({"StatusCode": exit, "Error": null})),
        ("POST", p) if p.ends_with("/start") => Reply::Raw {
            status: 204,
            content_type: "text/plain",
            body: Vec::new(),
            headers: Vec::new(),
        },
        _ => not_found(&format!("unexpected {} {}", s.method, s.uri)),
    }
}

async fn create_body(args: &[&str]) -> serde_json::Value {
    let d = start(happy(0));
    let mut argv = vec!["create", "--name", "berthcli-fx"];
    argv.extend_from_slice(args);
    let o = berth(&d.host, &argv).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout, format!("{ID}\n"));
    let create = d
        .find("POST", "/containers/create")
        .unwrap_or_else(|| panic!("no create request"));
    assert_eq!(create.uri, "/v1.41/containers/create?name=berthcli-fx");
    create.json()
}

#[tokio::test]
async fn create_bodies_match_the_docker_cli() {
    assert_eq!(create_body(&["busybox:local"]).await, fixture("minimal"));

    let env = fixture_path("env.list");
    let labels = fixture_path("labels.list");
    let complex: Vec<&str> = vec![
        "-i",
        "-t",
        "-e",
        "A=1",
        "--env-file",
        &env,
        "-w",
        "/w",
        "-u",
        "1:2",
        "--entrypoint",
        "/bin/sh",
        "-h",
        "myhost",
        "-v",
        "vol1:/data",
        "-v",
        "/tmp:/host:ro",
        "-v",
        "/anon",
        "--mount",
        "type=volume,source=v2,target=/v2,volume-label=a=b",
        "--mount",
        "type=tmpfs,target=/t,tmpfs-size=1m",
        "--mount",
        "type=bind,src=/tmp,dst=/b,readonly",
        "--tmpfs",
        "/run:rw,size=64k",
        "--tmpfs",
        "/x",
        "--read-only",
        "-m",
        "64m",
        "--memory-swap",
        "128m",
        "--cpus",
        "1.5",
        "--cpu-shares",
        "512",
        "--pids-limit",
        "100",
        "--ulimit",
        "nofile=1024:2048",
        "--ulimit",
        "nproc=10",
        "--cap-add",
        "NET_ADMIN",
        "--cap-drop",
        "MKNOD",
        "--init",
        "--restart",
        "on-failure:3",
        "--stop-signal",
        "SIGINT",
        "--stop-timeout",
        "5",
        "-l",
        "a=b",
        "-l",
        "c",
        "--label-file",
        &labels,
        "--security-opt",
        "no-new-privileges",
        "-p",
        "8080:80/tcp",
        "-p",
        "127.0.0.1::53/udp",
        "-p",
        "9000-9001:9000-9001",
        "--expose",
        "7000-7001",
        "--add-host",
        "h1:1.2.3.4",
        "--dns",
        "8.8.8.8",
        "--shm-size",
        "128m",
        "--sysctl",
        "net.ipv4.ip_forward=1",
        "--log-opt",
        "max-size=1m",
        "--log-driver",
        "json-file",
        "--privileged",
        "busybox:local",
        "-c",
        "echo hi",
    ];
    assert_eq!(create_body(&complex).await, fixture("complex"));

    assert_eq!(
        create_body(&[
            "--network",
            "mynet",
            "--network-alias",
            "a1",
            "--network-alias",
            "a2",
            "--ip",
            "10.1.2.3",
            "-P",
            "--expose",
            "80",
            "--init=false",
            "--stop-signal",
            "TERM",
            "busybox:local",
        ])
        .await,
        fixture("network")
    );
    assert_eq!(
        create_body(&[
            "--entrypoint=",
            "--security-opt",
            "systempaths=unconfined",
            "--health-cmd",
            "true",
            "--health-interval",
            "30s",
            "--health-retries",
            "3",
            "--memory-swap",
            "-1",
            "-a",
            "stdout",
            "-a",
            "STDERR",
            "--dns-search",
            "example.com",
            "--dns-option",
            "ndots:1",
            "--group-add",
            "10",
            "--oom-kill-disable",
            "-m",
            "32m",
            "--oom-score-adj",
            "-100",
            "--pid",
            "host",
            "--ipc",
            "private",
            "--cgroupns",
            "private",
            "--memory-swappiness",
            "10",
            "--cpu-period",
            "100000",
            "--cpu-quota",
            "50000",
            "--cpuset-cpus",
            "0",
            "--mac-address",
            "02:42:ac:11:00:02",
            "--device",
            "/dev/null:/dev/nul2:r",
            "--link",
            "other:alias",
            "--domainname",
            "example.org",
            "--runtime",
            "runc",
            "--memory-reservation",
            "16m",
            "busybox:local",
            "true",
        ])
        .await,
        fixture("misc")
    );
    assert_eq!(
        create_body(&[
            "--network",
            "name=mynet,alias=x,ip=10.0.0.5,driver-opt=com.example=1",
            "busybox:local",
        ])
        .await,
        fixture("netlong")
    );
}

#[tokio::test]
async fn bad_flag_values_exit_125_with_dockers_words() {
    let d = start(happy(0));
    let cases: &[(&[&str], &str)] = &[
        (&["-m", "x"], "invalid argument \"x\" for \"-m, --memory\" flag: invalid size: 'x'\nSee 'berth run --help'.\n"),
        (&["--cpus", "abc"], "invalid argument \"abc\" for \"--cpus\" flag: failed to parse abc as a rational number\nSee 'berth run --help'.\n"),
        (&["--ulimit", "nofile=a"], "invalid argument \"nofile=a\" for \"--ulimit\" flag: strconv.ParseInt: parsing \"a\": invalid syntax\nSee 'berth run --help'.\n"),
        (&["--restart", "on-failure:x"], "berth: maximum retry count must be an integer.\nSee 'berth run --help'.\n"),
        (&["-p", "99999:80"], "berth: Invalid hostPort: 99999.\nSee 'berth run --help'.\n"),
        (&["--rm", "--restart", "always"], "berth: Conflicting options: --restart and --rm.\nSee 'berth run --help'.\n"),
        (&["-e", "=x"], "invalid argument \"=x\" for \"-e, --env\" flag: invalid environment variable: =x\nSee 'berth run --help'.\n"),
        (&["--add-host", "foo"], "invalid argument \"foo\" for \"--add-host\" flag: bad format for add-host: \"foo\"\nSee 'berth run --help'.\n"),
        (&["--sysctl", "kernel.x=1"], "invalid argument \"kernel.x=1\" for \"--sysctl\" flag: sysctl 'kernel.x=1' is not whitelisted\nSee 'berth run --help'.\n"),
        (&["--mount", "type=bind,target=/x,volume-nocopy"], "invalid argument \"type=bind,target=/x,volume-nocopy\" for \"--mount\" flag: cannot mix 'volume-*' options with mount type 'bind'\nSee 'berth run --help'.\n"),
        (&["--env-file", "/nonexistent/env"], "berth: open /nonexistent/env: no such file or directory.\nSee 'berth run --help'.\n"),
    ];
    for (flags, want) in cases {
        let mut argv = vec!["run"];
        argv.extend_from_slice(flags);
        argv.push("busybox:local");
        let o = berth(&d.host, &argv).await;
        assert_eq!((o.code, o.stderr.as_str()), (125, *want), "{flags:?}");
    }
    assert!(d.seen().is_empty(), "nothing may reach the daemon");
}

#[tokio::test]
async fn run_attaches_and_waits_before_start() {
    let d = start(happy(3));
    let o = berth(
        &d.host,
        &["run", "--rm", "busybox:local", "sh", "-c", "exit 3"],
    )
    .await;
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert_eq!(o.stdout, "hello out\n");
    assert_eq!(o.stderr, "hello err\n");
    let log = d.log();
    let id = ID;
    assert_eq!(
        log,
        vec![
            "POST /v1.41/containers/create".to_string(),
            format!("POST /v1.41/containers/{id}/attach?stderr=1&stdout=1&stream=1"),
            format!("POST /v1.41/containers/{id}/wait?condition=removed"),
            format!("POST /v1.41/containers/{id}/start"),
        ]
    );
    let attach = d
        .find("POST", "/attach")
        .unwrap_or_else(|| panic!("no attach"));
    assert_eq!(attach.header("upgrade"), Some("tcp"));
    assert_eq!(attach.header("connection"), Some("Upgrade"));
    let body = d.find("POST", "/containers/create").map(|s| s.json());
    assert_eq!(
        body.as_ref().map(|b| b["HostConfig"]["AutoRemove"].clone()),
        Some(j!(true))
    );
    assert_eq!(
        body.map(|b| b["Cmd"].clone()),
        Some(j!(["sh", "-c", "exit 3"]))
    );
}

#[tokio::test]
async fn run_detached_prints_the_id() {
    let d = start(happy(0));
    let o = berth(
        &d.host,
        &[
            "run",
            "-d",
            "--rm",
            "--name",
            "berthcli-fx",
            "busybox:local",
            "true",
        ],
    )
    .await;
    assert_eq!(
        (o.code, o.stdout.clone()),
        (0, format!("{ID}\n")),
        "{}",
        o.stderr
    );
    let create = d.find("POST", "/containers/create").map(|s| s.json());
    assert_eq!(create, Some(fixture("rund")));
    assert!(d.find("POST", "/attach").is_none());
    let o = berth(&d.host, &["run", "-d", "-a", "stdout", "busybox:local"]).await;
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "Conflicting options: -a and -d\n")
    );
    let d = start(happy(0));
    let o = berth(
        &d.host,
        &[
            "run",
            "-dit",
            "--name",
            "berthcli-fx",
            "busybox:local",
            "sh",
        ],
    )
    .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        d.find("POST", "/containers/create").map(|s| s.json()),
        Some(fixture("runit"))
    );
}

#[tokio::test]
async fn run_interactive_sends_stdin_and_closes_it() {
    let d = start(|s: &Seen| match (s.method.as_str(), s.path()) {
        ("POST", p) if p.ends_with("/attach") => Reply::Upgrade {
            output: Vec::new(),
            echo: Echo::Framed,
        },
        _ => happy(0)(s),
    });
    let o = berth_in(
        &d.host,
        &["run", "-i", "--rm", "busybox:local", "cat"],
        b"line one\nline two\n",
    )
    .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout, "line one\nline two\n");
    let attach = d.find("POST", "/attach").map(|s| s.uri);
    assert_eq!(
        attach,
        Some(format!(
            "/v1.41/containers/{ID}/attach?stderr=1&stdin=1&stdout=1&stream=1"
        ))
    );
    let body = d.find("POST", "/containers/create").map(|s| s.json());
    assert_eq!(
        body.map(|b| (
            b["OpenStdin"].clone(),
            b["StdinOnce"].clone(),
            b["AttachStdin"].clone()
        )),
        Some((j!(true), j!(true), j!(true)))
    );
}

#[tokio::test]
async fn run_tty_output_is_raw() {
    let d = start(|s: &Seen| match (s.method.as_str(), s.path()) {
        ("POST", p) if p.ends_with("/attach") => Reply::Upgrade {
            output: b"hi\r\n".to_vec(),
            echo: Echo::None,
        },
        _ => happy(0)(s),
    });
    let o = berth(
        &d.host,
        &["run", "-t", "--rm", "busybox:local", "echo", "hi"],
    )
    .await;
    assert_eq!(
        (o.code, o.stdout_bytes.clone()),
        (0, b"hi\r\n".to_vec()),
        "{}",
        o.stderr
    );
    // -t with -i needs a terminal on stdin.
    let o = berth(&d.host, &["run", "-it", "--rm", "busybox:local"]).await;
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "the input device is not a TTY\n")
    );
}

#[tokio::test]
async fn run_pulls_a_missing_image_then_creates() {
    let creates = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c2 = creates.clone();
    let d = start(move |s: &Seen| {
        match (s.method.as_str(), s.path()) {
        ("POST", "/v1.41/containers/create")
            if c2.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 =>
        {
            not_found("No such image: alpine:latest")
        }
        ("POST", "/v1.41/images/create") => Reply::Raw {
            status: 200,
            content_type: "application/json",
            body: b"{\"status\":\"Pulling from library/alpine\",\"id\":\"latest\"}\r\n{\"status\":\"Status: Downloaded newer image for alpine:latest\"}\r\n".to_vec(),
            headers: Vec::new(),
        },
        _ => happy(0)(s),
    }
    });
    let o = berth(&d.host, &["run", "-d", "alpine"]).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        o.stderr,
        "Unable to find image 'alpine:latest' locally\nlatest: Pulling from library/alpine\nStatus: Downloaded newer image for alpine:latest\n"
    );
    let pull = d.find("POST", "/images/create").map(|s| s.uri);
    assert_eq!(
        pull.as_deref(),
        Some("/v1.41/images/create?fromImage=alpine&tag=latest")
    );
    assert_eq!(creates.load(std::sync::atomic::Ordering::SeqCst), 2);

    // A failed pull is status 125 with the daemon's words.
    let d = start(|s: &Seen| match (s.method.as_str(), s.path()) {
        ("POST", "/v1.41/images/create") => json(
            404,
            j!({"message": "pull access denied for nope, repository does not exist or may require 'docker login'"}),
        ),
        _ => not_found("No such image: nope:latest"),
    });
    let o = berth(&d.host, &["run", "nope"]).await;
    assert_eq!(o.code, 125);
    assert_eq!(
        o.stderr,
        "Unable to find image 'nope:latest' locally\nberth: Error response from daemon: pull access denied for nope, repository does not exist or may require 'docker login'.\nSee 'berth run --help'.\n"
    );
}

#[tokio::test]
async fn start_failures_map_to_126_and_127() {
    for (msg, code) in [
        ("failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: \"nope\": executable file not found in $PATH: unknown", 127),
        ("failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: \"/etc\": permission denied: unknown", 126),
        ("cannot start: out of resources", 125),
    ] {
        let d = start(move |s: &Seen| match (s.method.as_str(), s.path()) {
            ("POST", p) if p.ends_with("/start") => json(400, j!({ "message": msg })),
            _ => happy(0)(s),
        });
        let o = berth(&d.host, &["run", "--rm", "busybox:local", "nope"]).await;
        assert_eq!(o.code, code, "{msg}");
        assert_eq!(o.stderr, format!("berth: Error response from daemon: {msg}.\n"));
    }
}

#[tokio::test]
async fn exec_creates_starts_and_reports_the_exit_code() {
    let d = start(|s: &Seen| match (s.method.as_str(), s.path()) {
        ("GET", "/v1.41/containers/web/json") => {
            json(200, j!({"Id": ID, "Config": {"Tty": false}}))
        }
        ("POST", "/v1.41/containers/web/exec") => json(201, j!({"Id": "exec1"})),
        ("POST", "/v1.41/exec/exec1/start") => Reply::Upgrade {
            output: stdout_frames(&[(StreamKind::Stdout, b"in exec\n")]),
            echo: Echo::None,
        },
        ("GET", "/v1.41/exec/exec1/json") => json(200, j!({"ExitCode": 7, "Running": false})),
        ("GET", _) => not_found("No such container: nope"),
        _ => not_found("unexpected"),
    });
    let o = berth(
        &d.host,
        &[
            "exec", "-e", "A=b", "-u", "0", "-w", "/tmp", "web", "sh", "-c", "exit 7",
        ],
    )
    .await;
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (7, "in exec\n"),
        "{}",
        o.stderr
    );
    let create = d.find("POST", "/containers/web/exec").map(|s| s.json());
    assert_eq!(
        create,
        Some(
            j!({"User":"0","Privileged":false,"Tty":false,"AttachStdin":false,"AttachStderr":true,
                 "AttachStdout":true,"Detach":false,"DetachKeys":"","Env":["A=b"],"WorkingDir":"/tmp",
                 "Cmd":["sh","-c","exit 7"]})
        )
    );
    let start_req = d.find("POST", "/exec/exec1/start");
    assert_eq!(
        start_req.as_ref().map(|s| s.json()),
        Some(j!({"Detach": false, "Tty": false}))
    );
    assert_eq!(
        start_req
            .and_then(|s| s.header("upgrade").map(str::to_string))
            .as_deref(),
        Some("tcp")
    );
    let o = berth(&d.host, &["exec", "nope", "true"]).await;
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "Error: No such container: nope\n")
    );
}

#[tokio::test]
async fn logs_demultiplex_unless_tty() {
    let d = start(|s: &Seen| match (s.method.as_str(), s.path()) {
        ("GET", "/v1.41/containers/plain/json") => {
            json(200, j!({"Id": "plainid", "Config": {"Tty": false}}))
        }
        ("GET", "/v1.41/containers/tty/json") => {
            json(200, j!({"Id": "ttyid", "Config": {"Tty": true}}))
        }
        ("GET", "/v1.41/containers/plainid/logs") => Reply::Raw {
            status: 200,
            content_type: "application/vnd.docker.multiplexed-stream",
            body: stdout_frames(&[
                (StreamKind::Stdout, b"o1\n"),
                (StreamKind::Stderr, b"e1\n"),
                (StreamKind::Stdout, b"o2\n"),
            ]),
            headers: Vec::new(),
        },
        ("GET", "/v1.41/containers/ttyid/logs") => Reply::Raw {
            status: 200,
            content_type: "application/vnd.docker.raw-stream",
            body: b"raw\r\n".to_vec(),
            headers: Vec::new(),
        },
        _ => not_found("No such container: nope"),
    });
    let o = berth(&d.host, &["logs", "--tail", "2", "-t", "plain"]).await;
    assert_eq!(
        (o.code, o.stdout.as_str(), o.stderr.as_str()),
        (0, "o1\no2\n", "e1\n")
    );
    assert_eq!(
        d.find("GET", "/logs").map(|s| s.uri).as_deref(),
        Some("/v1.41/containers/plainid/logs?stderr=1&stdout=1&tail=2&timestamps=1")
    );
    let o = berth(&d.host, &["logs", "tty"]).await;
    assert_eq!((o.code, o.stdout.as_str()), (0, "raw\r\n"));
    let o = berth(&d.host, &["logs", "nope"]).await;
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "Error: No such container: nope\n")
    );
}

#[tokio::test]
async fn lifecycle_commands_and_their_errors() {
    let d = start(|s: &Seen| {
        if s.uri.contains("nope") {
            return not_found("No such container: nope");
        }
        match s.method.as_str() {
            "DELETE" | "POST" => Reply::Raw {
                status: 204,
                content_type: "text/plain",
                body: Vec::new(),
                headers: Vec::new(),
            },
            _ => not_found("unexpected"),
        }
    });
    let o = berth(&d.host, &["stop", "-t", "1", "a", "b"]).await;
    assert_eq!((o.code, o.stdout.as_str()), (0, "a\nb\n"));
    let o = berth(&d.host, &["kill", "a"]).await;
    assert_eq!(o.stdout, "a\n");
    let o = berth(&d.host, &["restart", "a"]).await;
    assert_eq!(o.stdout, "a\n");
    let o = berth(&d.host, &["container", "pause", "a"]).await;
    assert_eq!(o.stdout, "a\n");
    let o = berth(&d.host, &["unpause", "a"]).await;
    assert_eq!(o.stdout, "a\n");
    let o = berth(&d.host, &["rm", "-f", "-v", "a"]).await;
    assert_eq!(o.stdout, "a\n");
    let log = d.log();
    assert!(
        log.contains(&"POST /v1.41/containers/a/stop?t=1".to_string()),
        "{log:?}"
    );
    assert!(log.contains(&"POST /v1.41/containers/a/kill?signal=KILL".to_string()));
    assert!(log.contains(&"POST /v1.41/containers/a/restart".to_string()));
    assert!(log.contains(&"POST /v1.41/containers/a/pause".to_string()));
    assert!(log.contains(&"DELETE /v1.41/containers/a?force=1&v=1".to_string()));

    let o = berth(&d.host, &["stop", "nope"]).await;
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "Error response from daemon: No such container: nope\n")
    );
    let o = berth(&d.host, &["rm", "nope"]).await;
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "Error: No such container: nope\n")
    );
    let o = berth(&d.host, &["rm", "-f", "nope"]).await;
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (0, "Error: No such container: nope\n")
    );
    let o = berth(&d.host, &["start", "nope", "a"]).await;
    assert_eq!(
        (o.code, o.stdout.as_str(), o.stderr.as_str()),
        (1, "a\n", "Error response from daemon: No such container: nope\nError: failed to start containers: nope\n")
    );
    let o = berth(&d.host, &["rename", "nope", "x"]).await;
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "Error response from daemon: No such container: nope\nError: failed to rename container named nope\n")
    );
}

#[tokio::test]
async fn ps_and_volume_listing() {
    let now = chrono::Utc::now().timestamp();
    let d = start(move |s: &Seen| match (s.method.as_str(), s.path()) {
        ("GET", "/v1.41/containers/json") => json(
            200,
            j!([{
                "Id": ID, "Names": ["/berthcli-web"], "Image": "busybox:local",
                "ImageID": "sha256:6fbc7dc50385", "Command": "sleep 100", "Created": now - 10,
                "Ports": [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}],
                "Labels": {}, "State": "running", "Status": "Up 9 seconds"
            }]),
        ),
        ("GET", "/v1.41/volumes") => json(
            200,
            j!({"Volumes": [
            {"Name": "v10", "Driver": "local", "Mountpoint": "/m", "Scope": "local"},
            {"Name": "v9", "Driver": "local", "Mountpoint": "/m", "Scope": "local"}], "Warnings": null}),
        ),
        ("POST", "/v1.41/volumes/create") => {
            json(201, j!({"Name": "berthcli-v", "Driver": "local"}))
        }
        ("POST", "/v1.41/volumes/prune") => {
            json(200, j!({"VolumesDeleted": ["v9"], "SpaceReclaimed": 2000}))
        }
        ("POST", "/v1.41/containers/prune") => {
            json(200, j!({"ContainersDeleted": null, "SpaceReclaimed": 0}))
        }
        _ => not_found("unexpected"),
    });
    let o = berth(&d.host, &["ps", "-a", "--format", "{{.Names}}\t{{.Ports}}"]).await;
    assert_eq!(o.stdout, "berthcli-web\t0.0.0.0:8080->80/tcp\n");
    assert_eq!(
        d.log().last().map(String::as_str),
        Some("GET /v1.41/containers/json?all=1")
    );
    let o = berth(&d.host, &["container", "ls", "-q"]).await;
    assert_eq!(o.stdout, "4f1c0ffee000\n");
    let o = berth(&d.host, &["ps"]).await;
    assert!(o.stdout.starts_with("CONTAINER ID   IMAGE           COMMAND       CREATED          STATUS         PORTS                  NAMES\n4f1c0ffee000   busybox:local   \"sleep 100\"   10 seconds ago   Up 9 seconds   0.0.0.0:8080->80/tcp   berthcli-web\n"), "{}", o.stdout);

    let o = berth(&d.host, &["volume", "ls"]).await;
    assert_eq!(
        o.stdout,
        "DRIVER    VOLUME NAME\nlocal     v9\nlocal     v10\n"
    );
    let o = berth(
        &d.host,
        &[
            "volume",
            "create",
            "--label",
            "a=b",
            "-o",
            "type=tmpfs",
            "berthcli-v",
        ],
    )
    .await;
    assert_eq!(o.stdout, "berthcli-v\n");
    assert_eq!(
        d.find("POST", "/volumes/create").map(|s| s.json()),
        Some(
            j!({"Driver": "local", "DriverOpts": {"type": "tmpfs"}, "Labels": {"a": "b"}, "Name": "berthcli-v"})
        )
    );
    let o = berth(&d.host, &["volume", "prune", "-f"]).await;
    assert_eq!(
        o.stdout,
        "Deleted Volumes:\nv9\n\nTotal reclaimed space: 2kB\n"
    );
    let o = berth(
        &d.host,
        &["container", "prune", "-f", "--filter", "until=1h"],
    )
    .await;
    assert_eq!(o.stdout, "Total reclaimed space: 0B\n");
    assert_eq!(
        d.log().last().map(String::as_str),
        Some("POST /v1.41/containers/prune?filters=%7B%22until%22%3A%5B%221h%22%5D%7D")
    );
}

#[tokio::test]
async fn inspect_prefers_containers_then_images() {
    let d = start(|s: &Seen| match (s.method.as_str(), s.path()) {
        ("GET", "/v1.41/containers/both/json") => json(200, j!({"Id": "c1", "Kind": "container"})),
        ("GET", "/v1.41/images/both/json") => json(200, j!({"Id": "sha256:i1"})),
        ("GET", "/v1.41/images/onlyimage/json") => json(200, j!({"Id": "sha256:i2"})),
        ("GET", "/v1.41/volumes/vol") => json(200, j!({"Name": "vol"})),
        _ => not_found("No such object"),
    });
    let o = berth(&d.host, &["inspect", "-f", "{{.Id}}", "both", "onlyimage"]).await;
    assert_eq!((o.code, o.stdout.as_str()), (0, "c1\nsha256:i2\n"));
    let o = berth(
        &d.host,
        &["inspect", "--type", "image", "-f", "{{.Id}}", "both"],
    )
    .await;
    assert_eq!(o.stdout, "sha256:i1\n");
    let o = berth(&d.host, &["inspect", "-f", "{{.Name}}", "vol"]).await;
    assert_eq!(o.stdout, "vol\n");
    let o = berth(&d.host, &["container", "inspect", "onlyimage"]).await;
    assert_eq!(
        (o.code, o.stdout.as_str(), o.stderr.as_str()),
        (1, "[]\n", "Error: No such container: onlyimage\n")
    );
    let o = berth(&d.host, &["inspect", "nothing"]).await;
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "Error: No such object: nothing\n")
    );
}

#[tokio::test]
async fn cp_reads_the_path_stat_and_extracts() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(6);
    h.set_mode(0o640);
    h.set_mtime(1_700_000_000);
    h.set_entry_type(tar::EntryType::Regular);
    let _ = tar.append_data(&mut h, "hostname", &b"myhost"[..]);
    let tar_bytes = tar.into_inner().unwrap_or_default();
    // {"name":"hostname","size":6,"mode":420,"mtime":"2023-11-14T22:13:20Z","linkTarget":""}
    let stat = "eyJuYW1lIjoiaG9zdG5hbWUiLCJzaXplIjo2LCJtb2RlIjo0MjAsIm10aW1lIjoiMjAyMy0xMS0xNFQyMjoxMzoyMFoiLCJsaW5rVGFyZ2V0IjoiIn0=";
    let d = start(move |s: &Seen| match (s.method.as_str(), s.path()) {
        ("GET", "/v1.41/containers/c1/archive") if s.uri.ends_with("hostname") => Reply::Raw {
            status: 200,
            content_type: "application/x-tar",
            body: tar_bytes.clone(),
            headers: vec![("X-Docker-Container-Path-Stat", stat.to_string())],
        },
        _ => not_found("Could not find the file"),
    });
    let dst = dir.path().join("copied");
    let dst_s = dst.to_string_lossy().into_owned();
    let o = berth(&d.host, &["cp", "c1:/etc/hostname", &dst_s]).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(std::fs::read(&dst).ok(), Some(b"myhost".to_vec()));
    assert_eq!(
        d.find("GET", "/archive").map(|s| s.uri).as_deref(),
        Some("/v1.41/containers/c1/archive?path=%2Fetc%2Fhostname")
    );
    let o = berth(&d.host, &["cp", "c1:/etc/nope", &dst_s]).await;
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "Error: No such container:path: c1:/etc/nope\n")
    );
    let o = berth(&d.host, &["cp", "a:/x", "b:/y"]).await;
    assert_eq!(o.stderr, "copying between containers is not supported\n");
    let o = berth(&d.host, &["cp", "x", "y"]).await;
    assert_eq!(o.stderr, "must specify at least one container source\n");
}
