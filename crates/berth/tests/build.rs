//! `berth build` (and the docker CLI's / docker-py's classic build) against a real daemon:
//! multi-stage builds on the busybox base, the step cache and its miss explanations,
//! `.dockerignore`, build args and ARG scope, `--target`, parallel stages, the resulting
//! image config and history, and errors with line numbers. Skips without root or the busybox
//! image.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, content) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    dir
}

fn path(d: &Path) -> &str {
    d.to_str().expect("utf8")
}

const APP: &str = r#"# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM ${BASE} AS build
ARG GREETING=hello
ENV A=1 B=$A
WORKDIR /work
COPY src/ ./src/
RUN echo "$GREETING A=$A B=[$B] $(cat src/a.txt)" > out.txt

FROM busybox
LABEL org.example.kind=app
COPY --from=build /work/out.txt /out.txt
COPY . /ctx/
COPY <<EOF /etc/motd
hello from a heredoc
EOF
CMD ["cat", "/out.txt"]
"#;

#[test]
fn multi_stage_build_runs_caches_and_explains_misses() {
    let Some(d) = busybox_daemon() else { return };
    let ctx = context(&[
        ("Dockerfile", APP),
        ("src/a.txt", "one"),
        ("secret.txt", "do not send"),
        ("logs/x.log", "noise"),
        (".dockerignore", "secret.txt\n*/*.log\n"),
    ]);
    let out = d.ok(&["build", "-t", "app:1", path(ctx.path())]);
    assert!(out.contains("Successfully tagged app:1"), "{out}");
    // ENV sees the values from before the instruction: B is empty.
    assert_eq!(d.ok(&["run", "--rm", "app:1"]), "hello A=1 B=[] one\n");
    assert_eq!(
        d.ok(&["run", "--rm", "app:1", "cat", "/etc/motd"]),
        "hello from a heredoc\n"
    );
    let listing = d.ok(&["run", "--rm", "app:1", "find", "/ctx"]);
    assert!(listing.contains("/ctx/src/a.txt"), "{listing}");
    assert!(listing.contains("/ctx/Dockerfile"), "{listing}");
    assert!(
        !listing.contains("secret.txt"),
        ".dockerignore ignored: {listing}"
    );
    assert!(
        !listing.contains("x.log"),
        ".dockerignore ignored: {listing}"
    );

    // Nothing changed: every step is cached and the image is the same.
    let id1 = d.ok(&["build", "-q", "-t", "app:1", path(ctx.path())]);
    let again = d.ok(&["build", "-t", "app:1", path(ctx.path())]);
    assert!(!again.contains("cache miss"), "{again}");
    assert!(again.matches("CACHED").count() >= 5, "{again}");
    let id2 = d.ok(&["build", "-q", "-t", "app:1", path(ctx.path())]);
    assert_eq!(id1, id2);
    assert!(id1.trim().starts_with("sha256:"), "{id1}");

    // A changed file misses from its COPY on and says which file.
    std::fs::write(ctx.path().join("src/a.txt"), "two").unwrap();
    let out = d.ok(&["build", "-t", "app:2", path(ctx.path())]);
    assert!(out.contains("cache miss: file changed: src/a.txt"), "{out}");
    assert!(out.contains("an earlier step"), "{out}");
    assert_eq!(d.ok(&["run", "--rm", "app:2"]), "hello A=1 B=[] two\n");
    // An ignored file changing does not invalidate anything.
    std::fs::write(ctx.path().join("secret.txt"), "still not sent").unwrap();
    let out = d.ok(&["build", "-t", "app:2", path(ctx.path())]);
    assert!(!out.contains("cache miss"), "{out}");

    // A build arg reaches RUN; the miss names it.
    let out = d.ok(&[
        "build",
        "--build-arg",
        "GREETING=bye",
        "-t",
        "app:3",
        path(ctx.path()),
    ]);
    assert!(out.contains("build-arg GREETING"), "{out}");
    assert_eq!(d.ok(&["run", "--rm", "app:3"]), "bye A=1 B=[] two\n");
    // An ENV change misses at the next step and says what changed before it.
    let changed = APP.replace("ENV A=1", "ENV A=2");
    std::fs::write(ctx.path().join("Dockerfile"), changed).unwrap();
    let out = d.ok(&["build", "-t", "app:4", path(ctx.path())]);
    assert!(out.contains("ENV A=2"), "{out}");
    assert_eq!(d.ok(&["run", "--rm", "app:4"]), "hello A=2 B=[] two\n");

    // Intermediate results are build cache: hidden from `images`, shown by `-a` and `system df`.
    let images = d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(!images.contains("<none>"), "{images}");
    let all = d.ok(&["images", "-a", "-q"]);
    assert!(all.lines().count() > images.lines().count(), "{all}");
    let df = d.ok(&["system", "df"]);
    assert!(df.contains("Build Cache"), "{df}");
    let pruned = d.ok(&["builder", "prune", "-f"]);
    assert!(pruned.contains("Total reclaimed space"), "{pruned}");
    // Tagged images survive; the cache is gone, so the next build runs its steps again.
    d.ok(&["run", "--rm", "app:4"]);
    let out = d.ok(&["build", "-t", "app:4", path(ctx.path())]);
    assert!(out.contains("cache miss"), "{out}");
}

#[test]
fn target_builds_only_the_stages_it_needs_and_stages_run_in_parallel() {
    let Some(d) = busybox_daemon() else { return };
    let tag = rand_suffix();
    // Two independent stages wait for each other through a shared cache mount: built one
    // after the other, the first would give up after 30 s and fail the build.
    let wait = |me: &str, other: &str| {
        format!(
            "RUN --mount=type=cache,target=/sync,id=rendezvous-{tag} sh -c 'touch /sync/{me}; i=0; while [ ! -e /sync/{other} ]; do sleep 0.1; i=$((i+1)); [ $i -gt 300 ] && exit 7; done; echo {me} > /{me}.txt'"
        )
    };
    let df = format!(
        "FROM busybox AS one\n{}\n\nFROM busybox AS two\n{}\n\nFROM busybox AS broken\nRUN exit 3\n\nFROM busybox AS final\nCOPY --from=one /one.txt /\nCOPY --from=two /two.txt /\nCMD cat /one.txt /two.txt\n\nFROM final AS last\nRUN false\n",
        wait("one", "two"),
        wait("two", "one")
    );
    let ctx = context(&[("Dockerfile", &df)]);
    let out = d.ok(&[
        "build",
        "--target",
        "final",
        "-t",
        "par:1",
        path(ctx.path()),
    ]);
    assert!(!out.contains("exit 3"), "the broken stage was built: {out}");
    assert_eq!(d.ok(&["run", "--rm", "par:1"]), "one\ntwo\n");
    // The default target is the last stage, whose RUN fails: Docker's message, exit 1.
    let out = d.cli(&["build", "-t", "par:2", path(ctx.path())]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("The command '/bin/sh -c false' returned a non-zero code: 1"),
        "{err}"
    );
    assert!(!d.ok(&["images"]).contains("par   2"));
    let err = d.fails(&["build", "--target", "nope", path(ctx.path())]);
    assert!(err.contains("failed to reach build target nope"), "{err}");
}

#[test]
fn image_config_and_history_are_dockers() {
    let Some(d) = busybox_daemon() else { return };
    let df = r#"FROM busybox
MAINTAINER someone
ENV PATH=/usr/local/bin:/bin:/usr/bin GREET="hi there"
ARG V=1.0
LABEL version=$V "quoted key"=yes
EXPOSE 80 53/udp 8000-8001
VOLUME ["/data"]
USER 1000:1000
WORKDIR /home/app
WORKDIR sub
STOPSIGNAL SIGINT
HEALTHCHECK --interval=30s --timeout=2s --retries=4 CMD wget -q -O- localhost || exit 1
SHELL ["/bin/sh", "-ec"]
ENTRYPOINT ["/bin/echo"]
ONBUILD RUN echo triggered > /tmp/onbuild
"#;
    let ctx = context(&[("Dockerfile", df)]);
    d.ok(&[
        "build",
        "--build-arg",
        "V=2.5",
        "--label",
        "extra=1",
        "-t",
        "cfg:1",
        path(ctx.path()),
    ]);
    let (_, v) = d.api_json("GET", "/images/cfg:1/json");
    let c = &v["Config"];
    let env: Vec<&str> = c["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(env.contains(&"GREET=hi there"), "{env:?}");
    assert!(
        !env.iter().any(|e| e.starts_with("V=")),
        "ARG leaked into Env: {env:?}"
    );
    assert_eq!(c["Labels"]["version"], "2.5");
    assert_eq!(c["Labels"]["quoted key"], "yes");
    assert_eq!(c["Labels"]["extra"], "1");
    for p in ["80/tcp", "53/udp", "8000/tcp", "8001/tcp"] {
        assert!(c["ExposedPorts"].get(p).is_some(), "{p}: {c}");
    }
    assert!(c["Volumes"].get("/data").is_some());
    assert_eq!(c["User"], "1000:1000");
    assert_eq!(c["WorkingDir"], "/home/app/sub");
    assert_eq!(c["StopSignal"], "SIGINT");
    assert_eq!(c["Healthcheck"]["Test"][0], "CMD-SHELL");
    assert_eq!(c["Healthcheck"]["Interval"], 30_000_000_000i64);
    assert_eq!(c["Healthcheck"]["Retries"], 4);
    assert_eq!(c["Shell"][1], "-ec");
    assert_eq!(c["Entrypoint"][0], "/bin/echo");
    // ENTRYPOINT resets the CMD inherited from the base image.
    assert!(c["Cmd"].is_null(), "{c}");
    assert_eq!(c["OnBuild"][0], "RUN echo triggered > /tmp/onbuild");
    assert_eq!(v["Author"], "someone");
    let hist = d.ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}|{{.Size}}",
        "cfg:1",
    ]);
    assert!(hist.contains("WORKDIR /home/app|"), "{hist}");
    assert!(
        hist.contains("ENV PATH=/usr/local/bin:/bin:/usr/bin GREET=hi there|0B"),
        "{hist}"
    );
    // The ONBUILD trigger runs in a build that starts FROM this image, and only there.
    let child = context(&[(
        "Dockerfile",
        "FROM cfg:1\nENTRYPOINT []\nCMD cat /tmp/onbuild\n",
    )]);
    let out = d.ok(&["build", "-t", "cfg:child", path(child.path())]);
    assert!(out.contains("ONBUILD"), "{out}");
    let (_, child_v) = d.api_json("GET", "/images/cfg:child/json");
    assert!(child_v["Config"]["OnBuild"].is_null(), "{child_v}");
}

#[test]
fn bad_dockerfiles_and_contexts_fail_clearly() {
    let Some(d) = busybox_daemon() else { return };
    let cases: &[(&str, &str)] = &[
        (
            "FROM busybox\nRUN true\nFOO bar\n",
            "line 3: unknown instruction: FOO",
        ),
        ("RUN true\n", "line 1: no build stage"),
        (
            "FROM busybox\nCOPY onlyone\n",
            "line 2: COPY requires at least two arguments",
        ),
        (
            "FROM busybox\nRUN --bogus=1 true\n",
            "line 2: Unknown flag: bogus",
        ),
        ("FROM busybox AS 1x\n", "invalid name for build stage"),
        (
            "FROM busybox\nSHELL sh -c\n",
            "SHELL requires the arguments to be in JSON form",
        ),
        (
            "FROM busybox\nCOPY missing.txt /\n",
            "\"/missing.txt\" not found",
        ),
        (
            "FROM busybox\nCOPY a b /dir\n",
            "must be a directory and end with a /",
        ),
        (
            "FROM nosuchimage:9\n",
            "failed to resolve FROM nosuchimage:9 (line 1)",
        ),
        (
            "FROM busybox\nRUN <<EOF\necho never ends\n",
            "unterminated heredoc",
        ),
        (
            "FROM busybox\nENV X=${X:?must_be_set}\n",
            "line 2: failed to process \"${X:?must_be_set}\": X: must_be_set",
        ),
    ];
    for (df, want) in cases {
        let ctx = context(&[("Dockerfile", df), ("a", "a"), ("b", "b")]);
        let out = d.cli(&["build", "-t", "bad:1", path(ctx.path())]);
        assert_eq!(out.status.code(), Some(1), "{df}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{df:?}: want {want:?}, got {err}");
    }
    assert!(d.cli(&["image", "inspect", "bad:1"]).status.code() != Some(0));
    // No leftovers: build work directories are gone, no build container remains.
    let work = d.image_root().parent().unwrap().join("build");
    assert!(!work.exists() || std::fs::read_dir(&work).unwrap().count() == 0);
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    let err = d.fails(&["build", "-f", "nope.Dockerfile", "/tmp"]);
    assert!(err.contains("nope.Dockerfile"), "{err}");
}

#[test]
fn dockerfile_from_stdin_and_outside_the_context() {
    let Some(d) = busybox_daemon() else { return };
    let ctx = context(&[("data.txt", "payload")]);
    let elsewhere = tempfile::tempdir().unwrap();
    let df: PathBuf = elsewhere.path().join("Build.file");
    std::fs::write(&df, "FROM busybox\nCOPY data.txt /\nCMD cat /data.txt\n").unwrap();
    d.ok(&[
        "build",
        "-f",
        df.to_str().unwrap(),
        "-t",
        "out:1",
        path(ctx.path()),
    ]);
    assert_eq!(d.ok(&["run", "--rm", "out:1"]), "payload");
    // `build -` reads a bare Dockerfile from stdin (no context).
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["-H", &d.host(), "build", "-t", "stdin:1", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(b"FROM busybox\nRUN echo from-stdin > /s\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        d.ok(&["run", "--rm", "stdin:1", "cat", "/s"]),
        "from-stdin\n"
    );
}

fn docker_cli() -> Option<&'static str> {
    ["/usr/local/bin/docker", "/usr/bin/docker"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

#[test]
fn docker_cli_and_docker_py_build_against_berth() {
    let Some(d) = busybox_daemon() else { return };
    let ctx = context(&[("Dockerfile", APP), ("src/a.txt", "dk")]);
    match docker_cli() {
        None => eprintln!("skipped docker CLI part: no docker CLI installed"),
        Some(docker) => {
            let out = Command::new(docker)
                .args(["-H", &d.host(), "build", "-t", "dk:1", path(ctx.path())])
                .env("DOCKER_BUILDKIT", "0")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(stdout.contains("Successfully tagged dk:1"), "{stdout}");
            let run = Command::new(docker)
                .args(["-H", &d.host(), "run", "--rm", "dk:1"])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&run.stdout), "hello A=1 B=[] dk\n");
        }
    }
    let Some(python) = ["/usr/bin/python3", "python3"].into_iter().find(|p| {
        Command::new(p)
            .args(["-c", "import docker"])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }) else {
        eprintln!("skipped docker-py part: no docker Python module");
        return;
    };
    let script = r#"
import sys, docker
c = docker.DockerClient(base_url=sys.argv[1], version="1.41")
img, logs = c.images.build(path=sys.argv[2], tag="py:1", buildargs={"GREETING": "py"})
print(img.id)
print(c.containers.run("py:1", remove=True).decode(), end="")
"#;
    let out = Command::new(python)
        .args(["-c", script, &d.host(), path(ctx.path())])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("sha256:"), "{stdout}");
    assert!(stdout.ends_with("py A=1 B=[] dk\n"), "{stdout}");
}

#[test]
fn hostile_contexts_stay_inside_the_context() {
    let Some(d) = busybox_daemon() else { return };
    // Symlinks in the context resolve inside it: an absolute link to the host's files finds
    // nothing there; links below a copied directory are copied as links.
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nCOPY dir/ /d/\nCMD readlink /d/l\n",
    )]);
    std::fs::create_dir_all(ctx.path().join("dir")).unwrap();
    std::os::unix::fs::symlink("/etc", ctx.path().join("dir/l")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", ctx.path().join("evil")).unwrap();
    d.ok(&["build", "-t", "links:1", path(ctx.path())]);
    assert_eq!(d.ok(&["run", "--rm", "links:1"]), "/etc\n");
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nCOPY evil /x\n",
    )
    .unwrap();
    let err = d.fails(&["build", path(ctx.path())]);
    assert!(err.contains("not found"), "{err}");
    // A context tar with `..` entries, sent straight to the API: refused, nothing written out.
    let marker = format!("berth-escape-{}", rand_suffix());
    let evil = format!("../../../../../../tmp/{marker}");
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("Dockerfile", &b"FROM busybox\n"[..]),
        (evil.as_str(), &b"gotcha"[..]),
    ] {
        // The tar crate refuses `..` names: write the header's name field by hand.
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    let tar = b.into_inner().unwrap();
    let (status, _, body) = d.http("POST", "/build?t=evil:1", &tar);
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("errorDetail"), "{body}");
    assert!(!Path::new("/tmp").join(&marker).exists());
    assert!(d.cli(&["image", "inspect", "evil:1"]).status.code() != Some(0));
}

#[test]
fn copy_add_run_details() {
    let Some(d) = busybox_daemon() else { return };
    // A gzip'd tar in the context: ADD unpacks it, COPY copies it as a file.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(
        &mut gz,
        &layer_tar(&[
            Entry::Dir("pkg"),
            Entry::File("pkg/inside.txt", b"unpacked".to_vec(), 0o640),
        ]),
    )
    .unwrap();
    let archive = gz.finish().unwrap();
    let df = r#"FROM busybox
RUN echo 'app:x:1234:1234::/home/app:/bin/sh' >> /etc/passwd && echo 'app:x:1234:' >> /etc/group
COPY --chown=app:app --chmod=0600 conf/*.conf /etc/app/
ADD pkg.tar.gz /opt/
COPY pkg.tar.gz /keep/
COPY a.txt b.txt /multi/
WORKDIR /made/here
USER app
RUN id -u > /tmp/uid && pwd > /tmp/pwd
USER root
SHELL ["/bin/sh", "-c", "-e"]
RUN --mount=type=tmpfs,target=/scratch touch /scratch/x && [ ! -e /x ]
RUN --mount=type=bind,target=/ctx cat /ctx/a.txt > /from-bind
CMD ["sh", "-c", "stat -c '%u:%g %a %n' /etc/app/*.conf; cat /opt/pkg/inside.txt; echo; ls /keep /multi; cat /tmp/uid /tmp/pwd /from-bind"]
"#;
    let ctx = context(&[
        ("Dockerfile", df),
        ("conf/one.conf", "1"),
        ("conf/two.conf", "2"),
        ("conf/skip.txt", "x"),
        ("a.txt", "A"),
        ("b.txt", "B"),
    ]);
    std::fs::write(ctx.path().join("pkg.tar.gz"), &archive).unwrap();
    d.ok(&["build", "-t", "details:1", path(ctx.path())]);
    let out = d.ok(&["run", "--rm", "details:1"]);
    assert_eq!(
        out,
        "1234:1234 600 /etc/app/one.conf\n1234:1234 600 /etc/app/two.conf\nunpacked\n/keep:\npkg.tar.gz\n\n/multi:\na.txt\nb.txt\n1234\n/made/here\nA"
    );
    let (_, v) = d.api_json("GET", "/images/details:1/json");
    assert_eq!(v["Config"]["WorkingDir"], "/made/here");
    assert_eq!(v["Config"]["User"], "root");
}

#[test]
fn add_fetches_urls() {
    let Some(d) = busybox_daemon() else { return };
    let served = tempfile::tempdir().unwrap();
    std::fs::write(served.path().join("notes.txt"), "remote content\n").unwrap();
    std::fs::write(served.path().join("pack.tar.gz"), b"\x1f\x8bnot really").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new("python3")
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ])
        .current_dir(served.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3 http.server");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let base = format!("http://127.0.0.1:{port}");
    let good = sha256(b"remote content\n");
    let df = format!(
        "FROM busybox\nADD --checksum={good} {base}/notes.txt /dl/\nADD {base}/pack.tar.gz /dl/\nCMD stat -c '%a %n' /dl/notes.txt /dl/pack.tar.gz && cat /dl/notes.txt\n"
    );
    let ctx = context(&[("Dockerfile", &df)]);
    let out = d.cli(&[
        "build",
        "--network",
        "host",
        "-t",
        "remote:1",
        path(ctx.path()),
    ]);
    let ok = out.status.success();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let bad = context(&[(
        "Dockerfile",
        &format!(
            "FROM busybox\nADD --checksum=sha256:{} {base}/notes.txt /x\n",
            "0".repeat(64)
        ),
    )]);
    let mismatch = d.cli(&["build", path(bad.path())]);
    let copy_url = context(&[(
        "Dockerfile",
        &format!("FROM busybox\nCOPY {base}/notes.txt /x\n"),
    )]);
    let copy_err = d.fails(&["build", path(copy_url.path())]);
    let _ = server.kill();
    let _ = server.wait();
    assert!(ok, "{err}");
    // Downloads are 0600 and never unpacked, even when they look like archives.
    assert_eq!(
        d.ok(&["run", "--rm", "remote:1"]),
        "600 /dl/notes.txt\n600 /dl/pack.tar.gz\nremote content\n"
    );
    assert!(!mismatch.status.success());
    assert!(String::from_utf8_lossy(&mismatch.stderr).contains("digest mismatch"));
    assert!(
        copy_err.contains("source can't be a URL for COPY"),
        "{copy_err}"
    );
}

#[test]
fn a_client_that_goes_away_cancels_the_build() {
    let Some(d) = busybox_daemon() else { return };
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN sleep 60\nRUN echo never\n")]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args([
            "-H",
            &d.host(),
            "build",
            "-t",
            "cancelled:1",
            path(ctx.path()),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the RUN step's container runs, then drop the client.
    let mut started = false;
    for _ in 0..200 {
        if !d.ok(&["ps", "-q"]).trim().is_empty() {
            started = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(started, "the RUN step never started");
    let _ = child.kill();
    let _ = child.wait();
    // The daemon notices, kills the step's container and removes it; nothing is tagged and
    // no build directory or mount is left.
    let mut clean = false;
    for _ in 0..200 {
        if d.ok(&["ps", "-aq"]).trim().is_empty() {
            clean = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        clean,
        "the build container is still there: {}",
        d.ok(&["ps", "-a"])
    );
    assert!(d.cli(&["image", "inspect", "cancelled:1"]).status.code() != Some(0));
    let work = d.image_root().parent().unwrap().join("build");
    for _ in 0..100 {
        if !work.exists() || std::fs::read_dir(&work).unwrap().count() == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!work.exists() || std::fs::read_dir(&work).unwrap().count() == 0);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(work.to_str().unwrap()),
        "a build mount is left"
    );
}
