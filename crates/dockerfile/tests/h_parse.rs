use berth_dockerfile::*;

fn ok(src: &str) -> Dockerfile {
    match parse(src) {
        Ok(df) => df,
        Err(e) => panic!("unexpected error: {e}\n--- source ---\n{src}"),
    }
}

fn err(src: &str) -> Error {
    match parse(src) {
        Ok(df) => panic!("expected an error, got {df:#?}\n--- source ---\n{src}"),
        Err(e) => e,
    }
}

/// The error's line and that its message contains `needle`.
fn assert_err(src: &str, line: usize, needle: &str) {
    let e = err(src);
    assert_eq!(e.line, line, "wrong line for {e}");
    assert!(
        e.message.contains(needle),
        "{:?} does not contain {:?}",
        e.message,
        needle
    );
}

/// The instructions of the only (or last) stage.
fn body(src: &str) -> Vec<Instruction> {
    ok(src).stages.pop().unwrap().instructions
}

fn one(src: &str) -> Instruction {
    let mut ins = body(src);
    assert_eq!(ins.len(), 1, "{ins:#?}");
    ins.pop().unwrap()
}

fn cmd(src: &str) -> Command {
    one(src).cmd
}

fn run(src: &str) -> Run {
    match cmd(src) {
        Command::Run(r) => r,
        c => panic!("not a RUN: {c:?}"),
    }
}

fn copy(src: &str) -> Copy {
    match cmd(src) {
        Command::Copy(c) | Command::Add(c) => c,
        c => panic!("not a COPY/ADD: {c:?}"),
    }
}

fn shell(s: &str) -> ShellOrExec {
    ShellOrExec::Shell(s.to_string())
}

fn exec(v: &[&str]) -> ShellOrExec {
    ShellOrExec::Exec(v.iter().map(|s| s.to_string()).collect())
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn no_vars(_: &str) -> Option<String> {
    None
}

// ---------------------------------------------------------------- realistic files

#[test]
fn realistic_multi_stage_go_build() {
    let src = r#"# syntax=docker/dockerfile:1.7
ARG GO_VERSION=1.22
ARG ALPINE=3.19

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-alpine AS Build
WORKDIR /src
# download modules first, for the cache
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
ARG TARGETOS TARGETARCH
RUN --mount=type=cache,target=/root/.cache/go-build \
    --mount=type=bind,source=.,target=/src,rw \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -o /out/app ./cmd/app

FROM alpine:${ALPINE} AS runtime
RUN apk add --no-cache ca-certificates && \
    adduser -D -u 10001 app
COPY --from=build --chown=app:app /out/app /usr/local/bin/app
USER app
EXPOSE 8080/tcp
HEALTHCHECK --interval=30s --timeout=3s --retries=3 CMD ["wget", "-qO-", "http://localhost:8080/healthz"]
ENTRYPOINT ["/usr/local/bin/app"]
CMD ["--listen", ":8080"]
"#;
    let df = ok(src);
    assert_eq!(df.syntax.as_deref(), Some("docker/dockerfile:1.7"));
    assert_eq!(df.escape, '\\');
    assert_eq!(
        df.args,
        vec![
            Arg {
                name: "GO_VERSION".into(),
                default: Some("1.22".into())
            },
            Arg {
                name: "ALPINE".into(),
                default: Some("3.19".into())
            },
        ]
    );
    assert!(df.warnings.is_empty());
    assert_eq!(df.stages.len(), 2);

    let b = &df.stages[0];
    assert_eq!(b.index, 0);
    assert_eq!(b.name.as_deref(), Some("build"));
    assert_eq!(b.line, 5);
    assert_eq!(b.from.image, "golang:${GO_VERSION}-alpine");
    assert_eq!(b.from.platform.as_deref(), Some("$BUILDPLATFORM"));
    assert_eq!(b.from.name.as_deref(), Some("build"));
    let lines: Vec<(usize, usize, &str)> = b
        .instructions
        .iter()
        .map(|i| (i.line, i.end_line, i.cmd.keyword()))
        .collect();
    assert_eq!(
        lines,
        vec![
            (6, 6, "WORKDIR"),
            (8, 8, "COPY"),
            (9, 10, "RUN"),
            (11, 11, "COPY"),
            (12, 12, "ARG"),
            (13, 16, "RUN"),
        ]
    );
    let Command::Run(r) = &b.instructions[5].cmd else {
        panic!()
    };
    assert_eq!(r.mounts.len(), 2);
    assert_eq!(r.mounts[0].typ, MountType::Cache);
    assert_eq!(r.mounts[0].target.as_deref(), Some("/root/.cache/go-build"));
    assert!(!r.mounts[0].readonly);
    assert_eq!(r.mounts[1].typ, MountType::Bind);
    assert_eq!(r.mounts[1].source.as_deref(), Some("."));
    assert!(!r.mounts[1].readonly, "rw given");
    assert_eq!(
        r.cmd,
        shell("CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH     go build -o /out/app ./cmd/app")
    );
    assert_eq!(
        b.instructions[5].source,
        "RUN --mount=type=cache,target=/root/.cache/go-build     --mount=type=bind,source=.,target=/src,rw     CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH     go build -o /out/app ./cmd/app"
    );

    let rt = &df.stages[1];
    assert_eq!(rt.index, 1);
    assert_eq!(rt.name.as_deref(), Some("runtime"));
    assert_eq!(rt.line, 18);
    let Command::Copy(c) = &rt.instructions[1].cmd else {
        panic!()
    };
    assert_eq!(c.from.as_deref(), Some("build"));
    assert_eq!(c.chown.as_deref(), Some("app:app"));
    assert_eq!(c.sources, strings(&["/out/app"]));
    assert_eq!(c.dest, "/usr/local/bin/app");
    assert_eq!(rt.instructions[2].cmd, Command::User("app".into()));
    assert_eq!(
        rt.instructions[3].cmd,
        Command::Expose(strings(&["8080/tcp"]))
    );
    assert_eq!(
        rt.instructions[4].cmd,
        Command::Healthcheck(Healthcheck::Check {
            test: strings(&["CMD", "wget", "-qO-", "http://localhost:8080/healthz"]),
            interval: Some("30s".into()),
            timeout: Some("3s".into()),
            start_period: None,
            start_interval: None,
            retries: Some(3),
        })
    );
    assert_eq!(
        rt.instructions[5].cmd,
        Command::Entrypoint(exec(&["/usr/local/bin/app"]))
    );
    assert_eq!(
        rt.instructions[6].cmd,
        Command::Cmd(exec(&["--listen", ":8080"]))
    );
    assert_eq!(df.find_stage("BUILD").map(|s| s.index), Some(0));
    assert_eq!(df.find_stage("1").map(|s| s.index), Some(1));
    assert!(df.find_stage("2").is_none());
    assert!(df.find_stage("nope").is_none());
}

#[test]
fn realistic_node_app_with_heredoc_and_onbuild() {
    let src = r#"FROM node:20-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev

FROM node:20-slim
ENV NODE_ENV=production \
    PORT=3000
LABEL org.opencontainers.image.title="my app" \
      org.opencontainers.image.version=1.0
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY <<EOF /app/config.json
{"port": ${PORT}}
EOF
RUN <<EOF
set -e
echo "building"  # not a Dockerfile comment
EOF
ONBUILD COPY . /app/src
VOLUME ["/data"]
STOPSIGNAL SIGINT
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
CMD node server.js
"#;
    let df = ok(src);
    assert_eq!(df.stages.len(), 2);
    assert_eq!(df.stages[1].name, None);
    let ins = &df.stages[1].instructions;
    assert_eq!(
        ins[0].cmd,
        Command::Env(pairs(&[("NODE_ENV", "production"), ("PORT", "3000")]))
    );
    assert_eq!((ins[0].line, ins[0].end_line), (7, 8));
    assert_eq!(
        ins[1].cmd,
        Command::Label(pairs(&[
            ("org.opencontainers.image.title", "\"my app\""),
            ("org.opencontainers.image.version", "1.0")
        ]))
    );
    let Command::Copy(c) = &ins[4].cmd else {
        panic!()
    };
    assert!(c.sources.is_empty());
    assert_eq!(c.dest, "/app/config.json");
    assert_eq!(
        c.heredocs,
        vec![Heredoc {
            name: "EOF".into(),
            content: "{\"port\": ${PORT}}\n".into(),
            expand: true,
            chomp: false
        }]
    );
    assert_eq!((ins[4].line, ins[4].end_line), (13, 15));
    let Command::Run(r) = &ins[5].cmd else {
        panic!()
    };
    assert_eq!(r.cmd, shell("<<EOF"));
    assert_eq!(
        r.heredocs[0].content,
        "set -e\necho \"building\"  # not a Dockerfile comment\n"
    );
    assert_eq!((ins[5].line, ins[5].end_line), (16, 19));
    let Command::Onbuild(trigger) = &ins[6].cmd else {
        panic!()
    };
    assert_eq!(trigger.source, "COPY . /app/src");
    assert_eq!(trigger.line, 20);
    assert!(matches!(&trigger.cmd, Command::Copy(c) if c.dest == "/app/src"));
    assert_eq!(ins[6].onbuild_trigger().as_deref(), Some("COPY . /app/src"));
    assert_eq!(ins[7].cmd, Command::Volume(strings(&["/data"])));
    assert_eq!(ins[8].cmd, Command::StopSignal("SIGINT".into()));
    assert_eq!(
        ins[9].cmd,
        Command::Shell(strings(&["/bin/bash", "-o", "pipefail", "-c"]))
    );
    assert_eq!(ins[10].cmd, Command::Cmd(shell("node server.js")));
    assert_eq!(ins[10].line, 24);
}

#[test]
fn windows_style_file_with_backtick_escape() {
    let src = "# escape=`\r\n\r\nFROM mcr.microsoft.com/windows/servercore:ltsc2022\r\nCOPY testfile.txt c:\\\r\nRUN dir c:\\ `\r\n    && echo done\r\nWORKDIR C:\\app\r\n";
    let df = ok(src);
    assert_eq!(df.escape, '`');
    let ins = &df.stages[0].instructions;
    let Command::Copy(c) = &ins[0].cmd else {
        panic!()
    };
    assert_eq!(c.dest, "c:\\");
    assert_eq!(
        ins[1].cmd,
        Command::Run(Run {
            cmd: shell("dir c:\\     && echo done"),
            heredocs: vec![],
            mounts: vec![],
            network: None,
            security: None,
        })
    );
    assert_eq!((ins[1].line, ins[1].end_line), (5, 6));
    assert_eq!(ins[2].cmd, Command::Workdir("C:\\app".into()));
    // With ` as the escape, a backslash is an ordinary character when expanding.
    let e = ins[2].expanded(&no_vars, df.escape).unwrap();
    assert_eq!(e.cmd, Command::Workdir("C:\\app".into()));
}

// ---------------------------------------------------------------- directives

#[test]
fn directives_at_the_top_are_recorded() {
    let df =
        ok("# syntax=docker/dockerfile:1\n# ESCAPE = `\n#check=skip=all\nFROM a\nRUN x `\n y\n");
    assert_eq!(df.syntax.as_deref(), Some("docker/dockerfile:1"));
    assert_eq!(df.check.as_deref(), Some("skip=all"));
    assert_eq!(df.escape, '`');
    let Command::Run(r) = &df.stages[0].instructions[0].cmd else {
        panic!()
    };
    assert_eq!(r.cmd, shell("x  y"));
}

#[test]
fn directive_with_backslash_escape() {
    assert_eq!(ok("# escape=\\\nFROM a\n").escape, '\\');
}

#[test]
fn directive_twice_is_an_error() {
    assert_err(
        "# escape=`\n# escape=\\\nFROM a\n",
        2,
        "only one escape parser directive can be used",
    );
    assert_err(
        "# syntax=a\n# Syntax=b\nFROM a\n",
        2,
        "only one syntax parser directive",
    );
}

#[test]
fn invalid_escape_token() {
    assert_err(
        "# escape=x\nFROM a\n",
        1,
        "invalid escape token 'x' does not match ` or \\",
    );
}

#[test]
fn directives_after_a_comment_blank_line_or_instruction_are_comments() {
    // After an ordinary comment.
    let df = ok("# hello\n# escape=`\nFROM a\nRUN a \\\n b\n");
    assert_eq!(df.escape, '\\');
    assert_eq!(
        df.stages[0].instructions[0].cmd,
        Command::Run(Run {
            cmd: shell("a  b"),
            heredocs: vec![],
            mounts: vec![],
            network: None,
            security: None
        })
    );
    // After a blank line.
    assert_eq!(ok("\n# escape=`\nFROM a\n").escape, '\\');
    // After an instruction (and then a repeat is not an error either).
    let df = ok("FROM a\n# escape=`\n# escape=`\n# syntax=x\n");
    assert_eq!(df.escape, '\\');
    assert_eq!(df.syntax, None);
    // An unknown directive ends directive detection.
    let df = ok("# foo=bar\n# escape=`\nFROM a\n");
    assert_eq!(df.escape, '\\');
}

#[test]
fn byte_order_mark_is_ignored() {
    let df = ok("\u{feff}# escape=`\nFROM a\n");
    assert_eq!(df.escape, '`');
}

// ---------------------------------------------------------------- lines, comments, continuation

#[test]
fn comments_and_blank_lines_are_removed() {
    let ins = body("FROM a\n\n# comment\n   # indented comment\n\tRUN x # not a comment\n");
    assert_eq!(ins.len(), 1);
    assert_eq!(ins[0].line, 5);
    assert_eq!(ins[0].source, "RUN x # not a comment");
}

#[test]
fn comments_between_continuation_lines_are_removed() {
    let i = one("FROM a\nRUN apt-get update && \\\n# a comment\n    # indented comment \\\n    apt-get install -y curl\n");
    assert_eq!(
        i.cmd,
        Command::Run(Run {
            cmd: shell("apt-get update &&     apt-get install -y curl"),
            heredocs: vec![],
            mounts: vec![],
            network: None,
            security: None,
        })
    );
    assert_eq!((i.line, i.end_line), (2, 5));
}

#[test]
fn empty_continuation_lines_are_allowed_with_a_warning() {
    let df = ok("FROM a\nRUN echo a \\\n\n   \n  b\nRUN c\n");
    let ins = &df.stages[0].instructions;
    assert_eq!(ins[0].source, "RUN echo a   b");
    assert_eq!((ins[0].line, ins[0].end_line), (2, 5));
    assert_eq!(ins[1].line, 6);
    assert_eq!(
        df.warnings,
        vec!["line 3: Empty continuation line found in: RUN echo a   b".to_string()]
    );
}

#[test]
fn keywords_are_case_insensitive() {
    let df = ok("from alpine as Base\nrun echo hi\nCoPy a b\nenv A=1\n");
    assert_eq!(df.stages[0].name.as_deref(), Some("base"));
    let ins = &df.stages[0].instructions;
    assert!(matches!(ins[0].cmd, Command::Run(_)));
    assert_eq!(ins[0].source, "run echo hi");
    assert!(matches!(ins[1].cmd, Command::Copy(_)));
    assert_eq!(ins[2].cmd, Command::Env(pairs(&[("A", "1")])));
}

#[test]
fn continuation_with_trailing_whitespace_after_the_escape() {
    let i = one("FROM a\nRUN echo a \\   \t\n  b\n");
    assert_eq!(i.source, "RUN echo a   b");
}

#[test]
fn file_ending_in_a_continuation() {
    let i = one("FROM a\nRUN echo a \\\n  b \\");
    assert_eq!(i.source, "RUN echo a   b");
    assert_eq!((i.line, i.end_line), (2, 3));
    let i = one("FROM a\nRUN echo a \\\n");
    assert_eq!(i.source, "RUN echo a");
}

#[test]
fn escaped_escape_at_end_of_line_is_not_a_continuation() {
    let ins = body("FROM a\nRUN echo a\\\\\nRUN b\n");
    assert_eq!(ins.len(), 2);
    assert_eq!(ins[0].source, "RUN echo a\\\\");
}

#[test]
fn crlf_line_endings() {
    let ins = body("FROM a\r\nRUN a \\\r\n  b\r\nENV X=1\r\n");
    assert_eq!(ins[0].source, "RUN a   b");
    assert_eq!(ins[1].cmd, Command::Env(pairs(&[("X", "1")])));
}

// ---------------------------------------------------------------- exec / shell form

#[test]
fn exec_form_and_shell_form() {
    assert_eq!(
        cmd("FROM a\nCMD [\"a\", \"b c\"]"),
        Command::Cmd(exec(&["a", "b c"]))
    );
    assert_eq!(cmd("FROM a\nCMD []"), Command::Cmd(exec(&[])));
    assert_eq!(
        cmd("FROM a\nENTRYPOINT [ \"x\" ]  "),
        Command::Entrypoint(exec(&["x"]))
    );
    // Not valid JSON: shell form, verbatim.
    assert_eq!(cmd("FROM a\nCMD [a, b]"), Command::Cmd(shell("[a, b]")));
    assert_eq!(cmd("FROM a\nCMD ['a']"), Command::Cmd(shell("['a']")));
    assert_eq!(
        cmd("FROM a\nCMD [\"a\"] && b"),
        Command::Cmd(shell("[\"a\"] && b"))
    );
    assert_eq!(
        cmd("FROM a\nCMD echo \"$HOME\"  'x'"),
        Command::Cmd(shell("echo \"$HOME\"  'x'"))
    );
    assert_eq!(cmd("FROM a\nCMD"), Command::Cmd(shell("")));
    assert_eq!(cmd("FROM a\nENTRYPOINT"), Command::Entrypoint(shell("")));
    assert_eq!(
        run("FROM a\nRUN [\"/bin/sh\", \"-c\", \"echo hi\"]").cmd,
        exec(&["/bin/sh", "-c", "echo hi"])
    );
    assert_eq!(
        run("FROM a\nRUN [\"echo\", \"\\u00e9\"]").cmd,
        exec(&["echo", "é"])
    );
}

#[test]
fn json_array_of_non_strings_is_an_error() {
    assert_err(
        "FROM a\nCMD [\"a\", 1]\n",
        2,
        "arrays must be comprised of strings only",
    );
    assert_err("FROM a\n\nRUN [null]\n", 3, "strings only");
}

// ---------------------------------------------------------------- flags

#[test]
fn copy_flags() {
    let c = copy("FROM a\nCOPY --from=build --chown=1000:1000 --chmod=0755 --link a b /dst/");
    assert_eq!(c.sources, strings(&["a", "b"]));
    assert_eq!(c.dest, "/dst/");
    assert_eq!(c.from.as_deref(), Some("build"));
    assert_eq!(c.chown.as_deref(), Some("1000:1000"));
    assert_eq!(c.chmod.as_deref(), Some("0755"));
    assert!(c.link);
    assert!(!c.parents);
    let c = copy("FROM a\nCOPY --link=false --parents --exclude=*.md --exclude=.git ./ /dst");
    assert!(!c.link);
    assert!(c.parents);
    assert_eq!(c.exclude, strings(&["*.md", ".git"]));
    let c = copy("FROM a\nCOPY --link=TRUE --chown=\"a b\" x y");
    assert!(c.link);
    assert_eq!(c.chown.as_deref(), Some("a b"));
}

#[test]
fn copy_from_takes_no_variables() {
    // As in Docker: --from is resolved before build arguments are known.
    assert_err(
        "FROM a\nCOPY --from=$STAGE /x /y\n",
        2,
        "variable expansion is not supported for --from",
    );
    assert_err(
        "FROM a\nCOPY --from=${STAGE:-b} /x /y\n",
        2,
        "variable expansion is not supported",
    );
    assert_eq!(
        copy("FROM a\nCOPY --from=docker.io/library/alpine:3 /x /y")
            .from
            .as_deref(),
        Some("docker.io/library/alpine:3")
    );
}

#[test]
fn add_flags() {
    let c = copy(
        "FROM a\nADD --checksum=sha256:abc --keep-git-dir=true --unpack=false https://x/y.tgz /y",
    );
    assert_eq!(c.checksum.as_deref(), Some("sha256:abc"));
    assert!(c.keep_git_dir);
    assert_eq!(c.unpack, Some(false));
    assert_eq!(c.sources, strings(&["https://x/y.tgz"]));
    let c = copy("FROM a\nADD x y");
    assert_eq!(c.unpack, None);
    assert!(!c.keep_git_dir);
    assert_err("FROM a\nADD --from=x a b\n", 2, "Unknown flag: from");
    assert_err("FROM a\nADD --parents a b\n", 2, "Unknown flag: parents");
    assert_err(
        "FROM a\nCOPY --checksum=x a b\n",
        2,
        "Unknown flag: checksum",
    );
}

#[test]
fn unknown_flag_is_an_error_with_its_line() {
    assert_err(
        "FROM a\nRUN true\nCOPY --foo=bar a b\n",
        3,
        "Unknown flag: foo",
    );
    assert_err("FROM a\nCMD --help\n", 2, "Unknown flag: help");
    assert_err("FROM a\nENV --x=1 a=b\n", 2, "Unknown flag: x");
    assert_err("FROM --foo a\n", 1, "Unknown flag: foo");
    assert_err("FROM a\nWORKDIR --x=1 /a\n", 2, "Unknown flag: x");
}

#[test]
fn bad_flag_values() {
    assert_err(
        "FROM a\nCOPY --link=maybe a b\n",
        2,
        "Expecting boolean value for flag link, not: maybe",
    );
    assert_err(
        "FROM a\nCOPY --link= a b\n",
        2,
        "Missing a value on flag: link",
    );
    assert_err(
        "FROM a\nCOPY --from a b\n",
        2,
        "Missing a value on flag: from",
    );
    assert_err(
        "FROM a\nCOPY --from=a --from=b a b\n",
        2,
        "Duplicate flag specified: from",
    );
}

#[test]
fn double_dash_ends_the_flags() {
    let c = copy("FROM a\nCOPY -- --weird-name /dst");
    assert_eq!(c.sources, strings(&["--weird-name"]));
}

#[test]
fn from_platform_flag() {
    let df = ok("FROM --platform=linux/arm64 alpine\n");
    assert_eq!(df.stages[0].from.platform.as_deref(), Some("linux/arm64"));
    assert_eq!(df.stages[0].from.image, "alpine");
}

#[test]
fn run_network_and_security() {
    let r = run("FROM a\nRUN --network=none --security=insecure make");
    assert_eq!(r.network.as_deref(), Some("none"));
    assert_eq!(r.security.as_deref(), Some("insecure"));
    assert_eq!(r.cmd, shell("make"));
    let r = run("FROM a\nRUN make");
    assert_eq!((r.network, r.security), (None, None));
    assert_err(
        "FROM a\nRUN --network=bridge make\n",
        2,
        "invalid network mode \"bridge\"",
    );
    assert_err(
        "FROM a\nRUN --security=root make\n",
        2,
        "security \"root\" is not valid",
    );
}

// ---------------------------------------------------------------- RUN --mount

#[test]
fn mount_defaults_and_aliases() {
    let r = run("FROM a\nRUN --mount=target=/src \\\n    --mount=type=cache,dst=/root/.cache,id=pip,sharing=locked,mode=0700,uid=1000,gid=1000 \\\n    --mount=type=tmpfs,destination=/tmp,size=64m \\\n    --mount=type=secret,id=token,required \\\n    --mount=type=ssh \\\n    --mount=type=bind,from=build,src=/out,target=/in,readwrite \\\n    --mount=type=bind,target=/x,ro=false \\\n    make");
    let m = &r.mounts;
    assert_eq!(m.len(), 7);
    assert_eq!(m[0].typ, MountType::Bind);
    assert_eq!(m[0].target.as_deref(), Some("/src"));
    assert!(m[0].readonly, "bind mounts are read-only by default");
    assert_eq!(m[0].raw, "target=/src");

    assert_eq!(m[1].typ, MountType::Cache);
    assert_eq!(m[1].target.as_deref(), Some("/root/.cache"));
    assert_eq!(m[1].id.as_deref(), Some("pip"));
    assert_eq!(m[1].sharing.as_deref(), Some("locked"));
    assert_eq!(m[1].mode, Some(0o700));
    assert_eq!((m[1].uid, m[1].gid), (Some(1000), Some(1000)));
    assert!(!m[1].readonly);

    assert_eq!(m[2].typ, MountType::Tmpfs);
    assert_eq!(m[2].target.as_deref(), Some("/tmp"));
    assert_eq!(m[2].size, Some(64 << 20));
    assert!(!m[2].readonly);

    assert_eq!(m[3].typ, MountType::Secret);
    assert_eq!(m[3].id.as_deref(), Some("token"));
    assert!(m[3].required);
    assert!(m[3].readonly);

    assert_eq!(m[4].typ, MountType::Ssh);
    assert_eq!(
        run("FROM a\nRUN --mount=type=secret,id=tok,env=TOKEN x").mounts[0]
            .env
            .as_deref(),
        Some("TOKEN")
    );
    assert!(!m[4].required);

    assert_eq!(m[5].from.as_deref(), Some("build"));
    assert_eq!(m[5].source.as_deref(), Some("/out"));
    assert!(!m[5].readonly);
    assert!(!m[6].readonly);
    assert_eq!(r.cmd, shell("make"));
}

#[test]
fn mount_errors() {
    let e = |m: &str| err(&format!("FROM a\nRUN --mount={m} true\n"));
    assert!(e("type=cache,target=/x,foo=bar")
        .message
        .contains("unexpected key 'foo' in 'foo=bar'"));
    assert!(e("type=volume,target=/x")
        .message
        .contains("unsupported mount type \"volume\""));
    assert!(e("type=cache,target=/x,bogus")
        .message
        .contains("invalid field 'bogus' must be a key=value pair"));
    assert!(e("type=bind,target=/x,mode=0755")
        .message
        .contains("mode not allowed for \"bind\" type mounts"));
    assert!(e("type=cache,target=/x,mode=999")
        .message
        .contains("invalid value 999 for mode"));
    assert!(e("type=cache,target=/x,uid=-1")
        .message
        .contains("invalid value -1 for uid"));
    assert!(e("type=cache,target=/x,sharing=maybe")
        .message
        .contains("unsupported sharing value \"maybe\""));
    assert!(e("type=bind,target=/x,sharing=shared")
        .message
        .contains("invalid cache sharing set for bind mount"));
    assert!(e("target=/x,required")
        .message
        .contains("unexpected key 'required' for mount type 'bind'"));
    assert!(e("type=cache,target=/x,size=1g")
        .message
        .contains("unexpected key 'size' for mount type 'cache'"));
    assert!(e("type=tmpfs,target=/x,size=lots")
        .message
        .contains("invalid value for size: lots"));
    assert!(e("type=bind,target=/x,ro=maybe")
        .message
        .contains("invalid value for ro: maybe"));
    assert!(e("type=secret")
        .message
        .contains("invalid secret mount. one of source, target required"));
    assert!(e("type=secret,id=a,source=b")
        .message
        .contains("both source and id can't be set"));
    assert!(e("type=secret,id=a,from=x")
        .message
        .contains("secret mount should not have a from"));
    assert!(e("type=bind,from=$STAGE,target=/x")
        .message
        .contains("'from' doesn't support variable expansion"));
    assert!(e("'a\"b'")
        .message
        .contains("failed to parse csv mounts: bare \" in non-quoted-field"));
    assert_eq!(e("type=cache,target=/x,foo=bar").line, 2);
}

#[test]
fn mount_values_are_quoted_csv() {
    // Quotes in flags are removed first (as Docker does), so CSV quotes go inside single quotes.
    let r = run("FROM a\nRUN --mount='type=bind,\"target=/a,b\"' true");
    assert_eq!(r.mounts[0].target.as_deref(), Some("/a,b"));
}

#[test]
fn mount_values_with_variables_are_checked_after_expansion() {
    let i = body("FROM a\nRUN --mount=type=cache,target=$HOME/.cache,uid=$UID make").remove(0);
    let Command::Run(r) = &i.cmd else { panic!() };
    assert_eq!(r.mounts[0].typ, MountType::Cache);
    assert_eq!(r.mounts[0].target.as_deref(), Some("$HOME/.cache"));
    assert_eq!(r.mounts[0].uid, None, "not known before expansion");

    let vars = |k: &str| match k {
        "HOME" => Some("/root".to_string()),
        "UID" => Some("1000".to_string()),
        _ => None,
    };
    let e = i.expanded(&vars, '\\').unwrap();
    let Command::Run(er) = &e.cmd else { panic!() };
    assert_eq!(er.mounts[0].target.as_deref(), Some("/root/.cache"));
    assert_eq!(er.mounts[0].uid, Some(1000));
    assert_eq!(er.cmd, r.cmd, "the command itself is not expanded");

    let bad = |k: &str| {
        if k == "UID" {
            Some("x".to_string())
        } else {
            None
        }
    };
    let e = i.expanded(&bad, '\\').unwrap_err();
    assert_eq!(e.line, 2);
    assert!(e.message.contains("invalid value x for uid"), "{e}");
}

// ---------------------------------------------------------------- heredocs

#[test]
fn run_heredoc() {
    let df = ok("FROM a\nRUN <<EOF\napt-get update\napt-get install -y vim\nEOF\nRUN echo after\n");
    let ins = &df.stages[0].instructions;
    let Command::Run(r) = &ins[0].cmd else {
        panic!()
    };
    assert_eq!(r.cmd, shell("<<EOF"));
    assert_eq!(
        r.heredocs,
        vec![Heredoc {
            name: "EOF".into(),
            content: "apt-get update\napt-get install -y vim\n".into(),
            expand: true,
            chomp: false,
        }]
    );
    assert_eq!((ins[0].line, ins[0].end_line), (2, 5));
    assert_eq!(ins[0].source, "RUN <<EOF");
    assert_eq!(ins[1].line, 6);
    assert_eq!(r.single_heredoc().map(|h| h.name.as_str()), Some("EOF"));
    assert_eq!(
        r.shell_text().as_deref(),
        Some("apt-get update\napt-get install -y vim\n")
    );
}

#[test]
fn run_heredoc_with_a_program() {
    let r = run("FROM a\nRUN python3 <<EOF\nprint('hi')\nEOF\n");
    assert_eq!(r.cmd, shell("python3 <<EOF"));
    assert_eq!(r.heredocs[0].content, "print('hi')\n");
    assert!(r.single_heredoc().is_none());
    assert_eq!(
        r.shell_text().as_deref(),
        Some("python3 <<EOF\nprint('hi')\nEOF")
    );
}

#[test]
fn heredoc_chomp_and_quoting() {
    let r = run("FROM a\nRUN <<-EOT\n\techo $HOME\n\t\tindented\n\tEOT\n");
    assert_eq!(r.heredocs[0].name, "EOT");
    assert!(r.heredocs[0].chomp);
    assert!(r.heredocs[0].expand);
    assert_eq!(r.heredocs[0].content, "echo $HOME\nindented\n");

    let r = run("FROM a\nRUN <<\"EOF\"\necho $HOME\nEOF\n");
    assert_eq!(r.heredocs[0].name, "EOF");
    assert!(!r.heredocs[0].expand);
    let r = run("FROM a\nRUN <<'EOF'\necho $HOME\nEOF\n");
    assert!(!r.heredocs[0].expand);
    let r = run("FROM a\nRUN << EOF\nx\nEOF\n");
    assert_eq!(r.heredocs[0].name, "EOF");
    // Without <<- the indented delimiter does not end the heredoc.
    let r = run("FROM a\nRUN <<EOF\n\tEOF\nEOF\n");
    assert_eq!(r.heredocs[0].content, "\tEOF\n");
}

#[test]
fn several_heredocs_on_one_line() {
    let df = ok("FROM a\nRUN <<FILE1 cat > file1 && <<FILE2 cat > file2\nI am\nfirst\nFILE1\nI am\nsecond\nFILE2\nCOPY <<X <<Y /dest/\nY\nX\nX\nY\n");
    let ins = &df.stages[0].instructions;
    let Command::Run(r) = &ins[0].cmd else {
        panic!()
    };
    assert_eq!(r.heredocs.len(), 2);
    assert_eq!(r.heredocs[0].name, "FILE1");
    assert_eq!(r.heredocs[0].content, "I am\nfirst\n");
    assert_eq!(r.heredocs[1].name, "FILE2");
    assert_eq!(r.heredocs[1].content, "I am\nsecond\n");
    assert_eq!((ins[0].line, ins[0].end_line), (2, 8));
    let Command::Copy(c) = &ins[1].cmd else {
        panic!()
    };
    assert_eq!(c.heredocs.len(), 2);
    assert_eq!(
        (c.heredocs[0].name.as_str(), c.heredocs[0].content.as_str()),
        ("X", "Y\n")
    );
    assert_eq!(
        (c.heredocs[1].name.as_str(), c.heredocs[1].content.as_str()),
        ("Y", "X\n")
    );
    assert_eq!(c.dest, "/dest/");
    assert_eq!((ins[1].line, ins[1].end_line), (9, 13));
}

#[test]
fn copy_heredoc_mixed_with_files() {
    let c = copy(
        "FROM a\nCOPY --chmod=755 a.sh <<-'run.sh' b.sh /bin/\n\t#!/bin/sh\n\techo $x\n\trun.sh\n",
    );
    assert_eq!(c.sources, strings(&["a.sh", "b.sh"]));
    assert_eq!(
        c.heredocs,
        vec![Heredoc {
            name: "run.sh".into(),
            content: "#!/bin/sh\necho $x\n".into(),
            expand: false,
            chomp: true,
        }]
    );
    assert_eq!(c.chmod.as_deref(), Some("755"));
}

#[test]
fn heredoc_body_is_kept_verbatim() {
    let r = run("FROM a\nRUN <<EOF\n# not a comment\nline with \\\n\nFROM not-a-stage\nEOF\n");
    assert_eq!(
        r.heredocs[0].content,
        "# not a comment\nline with \\\n\nFROM not-a-stage\n"
    );
}

#[test]
fn heredoc_in_exec_form_or_quotes_is_not_a_heredoc() {
    let ins = body("FROM a\nRUN [\"cat\", \"<<EOF\"]\nRUN echo \"<<EOF\"\nRUN echo a<<b\n");
    assert_eq!(ins.len(), 3);
    for i in &ins {
        let Command::Run(r) = &i.cmd else { panic!() };
        assert!(r.heredocs.is_empty());
    }
    // Other instructions do not take heredocs.
    assert_eq!(
        cmd("FROM a\nCMD cat <<EOF"),
        Command::Cmd(shell("cat <<EOF"))
    );
}

#[test]
fn unterminated_heredoc() {
    assert_err(
        "FROM a\nRUN true\nRUN <<EOF\necho hi\n",
        3,
        "unterminated heredoc",
    );
    assert_err("FROM a\nCOPY <<A <<B /x\nA\nB-not\n", 2, "no line \"B\"");
}

#[test]
fn heredoc_as_copy_destination_is_an_error() {
    assert_err(
        "FROM a\nCOPY a <<EOF\nx\nEOF\n",
        2,
        "COPY cannot accept a heredoc as a destination",
    );
}

#[test]
fn heredoc_under_onbuild() {
    let df = ok("FROM a\nONBUILD RUN <<EOF\necho hi\nEOF\nRUN x\n");
    let ins = &df.stages[0].instructions;
    let Command::Onbuild(t) = &ins[0].cmd else {
        panic!()
    };
    let Command::Run(r) = &t.cmd else { panic!() };
    assert_eq!(r.heredocs[0].content, "echo hi\n");
    assert_eq!((ins[0].line, ins[0].end_line), (2, 4));
    assert_eq!(
        ins[0].onbuild_trigger().as_deref(),
        Some("RUN <<EOF\necho hi\nEOF")
    );
    assert_eq!(ins[1].line, 5);
}

// ---------------------------------------------------------------- every instruction

#[test]
fn env_forms() {
    assert_eq!(
        cmd("FROM a\nENV PATH /usr/local/bin:$PATH"),
        Command::Env(pairs(&[("PATH", "/usr/local/bin:$PATH")]))
    );
    // The old form keeps the rest of the line, spaces included.
    assert_eq!(
        cmd("FROM a\nENV MSG  hello   big  world "),
        Command::Env(pairs(&[("MSG", "hello   big  world")]))
    );
    assert_eq!(
        cmd("FROM a\nENV a=1 b=\"x y\" c='$z' d=e\\ f g="),
        Command::Env(pairs(&[
            ("a", "1"),
            ("b", "\"x y\""),
            ("c", "'$z'"),
            ("d", "e\\ f"),
            ("g", "")
        ]))
    );
}

#[test]
fn env_errors() {
    assert_err("FROM a\nENV\n", 2, "ENV requires at least one argument");
    assert_err("FROM a\nENV FOO\n", 2, "ENV must have two arguments");
    assert_err("FROM a\nENV =x\n", 2, "ENV names can not be blank");
    assert_err(
        "FROM a\nENV a=1 b\n",
        2,
        "Syntax error - can't find = in \"b\". Must be of the form: name=value",
    );
    assert_err("FROM a\nLABEL\n", 2, "LABEL requires at least one argument");
    assert_err("FROM a\nLABEL x\n", 2, "LABEL must have two arguments");
}

#[test]
fn label_arg_expose_volume() {
    assert_eq!(
        cmd("FROM a\nLABEL a=b \"c d\"=e"),
        Command::Label(pairs(&[("a", "b"), ("\"c d\"", "e")]))
    );
    assert_eq!(
        cmd("FROM a\nLABEL version 1.0 beta"),
        Command::Label(pairs(&[("version", "1.0 beta")]))
    );
    assert_eq!(
        cmd("FROM a\nARG a b=1 c=\"x y\" d="),
        Command::Arg(vec![
            Arg {
                name: "a".into(),
                default: None
            },
            Arg {
                name: "b".into(),
                default: Some("1".into())
            },
            Arg {
                name: "c".into(),
                default: Some("\"x y\"".into())
            },
            Arg {
                name: "d".into(),
                default: Some(String::new())
            },
        ])
    );
    assert_err("FROM a\nARG\n", 2, "ARG requires at least one argument");
    assert_err("FROM a\nARG =x\n", 2, "ARG names can not be blank");
    assert_eq!(
        cmd("FROM a\nEXPOSE 80 443/tcp  53/udp"),
        Command::Expose(strings(&["80", "443/tcp", "53/udp"]))
    );
    assert_err(
        "FROM a\nEXPOSE\n",
        2,
        "EXPOSE requires at least one argument",
    );
    assert_eq!(
        cmd("FROM a\nVOLUME /a /b"),
        Command::Volume(strings(&["/a", "/b"]))
    );
    assert_eq!(
        cmd("FROM a\nVOLUME [\"/a b\", \" /c \"]"),
        Command::Volume(strings(&["/a b", "/c"]))
    );
    assert_err(
        "FROM a\nVOLUME\n",
        2,
        "VOLUME requires at least one argument",
    );
    assert_err(
        "FROM a\nVOLUME []\n",
        2,
        "VOLUME requires at least one argument",
    );
    assert_err(
        "FROM a\nVOLUME [\"\"]\n",
        2,
        "VOLUME specified can not be an empty string",
    );
}

#[test]
fn single_argument_instructions() {
    assert_eq!(
        cmd("FROM a\nWORKDIR /app dir"),
        Command::Workdir("/app dir".into())
    );
    assert_eq!(
        cmd("FROM a\nUSER 1000:1000"),
        Command::User("1000:1000".into())
    );
    assert_eq!(cmd("FROM a\nSTOPSIGNAL 9"), Command::StopSignal("9".into()));
    assert_eq!(
        cmd("FROM a\nMAINTAINER Jane Doe <jane@example.com>"),
        Command::Maintainer("Jane Doe <jane@example.com>".into())
    );
    assert_err(
        "FROM a\nWORKDIR\n",
        2,
        "WORKDIR requires exactly one argument",
    );
    assert_err("FROM a\nUSER\n", 2, "USER requires exactly one argument");
    assert_err(
        "FROM a\nSTOPSIGNAL\n",
        2,
        "STOPSIGNAL requires exactly one argument",
    );
    assert_err(
        "FROM a\nMAINTAINER\n",
        2,
        "MAINTAINER requires exactly one argument",
    );
}

#[test]
fn shell_instruction() {
    assert_eq!(
        cmd("FROM a\nSHELL [\"powershell\", \"-command\"]"),
        Command::Shell(strings(&["powershell", "-command"]))
    );
    assert_err(
        "FROM a\nSHELL /bin/bash -c\n",
        2,
        "SHELL requires the arguments to be in JSON form",
    );
    assert_err(
        "FROM a\nSHELL []\n",
        2,
        "SHELL requires at least one argument",
    );
    assert_err("FROM a\nSHELL\n", 2, "SHELL requires at least one argument");
}

#[test]
fn healthcheck_forms() {
    assert_eq!(
        cmd("FROM a\nHEALTHCHECK NONE"),
        Command::Healthcheck(Healthcheck::None)
    );
    assert_eq!(
        cmd("FROM a\nhealthcheck none"),
        Command::Healthcheck(Healthcheck::None)
    );
    assert_eq!(
        cmd("FROM a\nHEALTHCHECK --start-period=5s --start-interval=1s CMD curl -f http://localhost/ || exit 1"),
        Command::Healthcheck(Healthcheck::Check {
            test: strings(&["CMD-SHELL", "curl -f http://localhost/ || exit 1"]),
            interval: None,
            timeout: None,
            start_period: Some("5s".into()),
            start_interval: Some("1s".into()),
            retries: None,
        })
    );
    assert_eq!(
        cmd("FROM a\nHEALTHCHECK --interval=0 --retries=0 cmd [\"true\"]"),
        Command::Healthcheck(Healthcheck::Check {
            test: strings(&["CMD", "true"]),
            interval: Some("0".into()),
            timeout: None,
            start_period: None,
            start_interval: None,
            retries: Some(0),
        })
    );
}

#[test]
fn healthcheck_errors() {
    assert_err(
        "FROM a\nHEALTHCHECK\n",
        2,
        "HEALTHCHECK requires at least one argument",
    );
    assert_err(
        "FROM a\nHEALTHCHECK NONE true\n",
        2,
        "HEALTHCHECK NONE takes no arguments",
    );
    assert_err(
        "FROM a\nHEALTHCHECK CMD\n",
        2,
        "Missing command after HEALTHCHECK CMD",
    );
    assert_err(
        "FROM a\nHEALTHCHECK CMD []\n",
        2,
        "Missing command after HEALTHCHECK CMD",
    );
    assert_err(
        "FROM a\nHEALTHCHECK RUN true\n",
        2,
        "Unknown type \"RUN\" in HEALTHCHECK (try CMD)",
    );
    assert_err(
        "FROM a\nHEALTHCHECK --interval=5 CMD true\n",
        2,
        "time: missing unit in duration \"5\"",
    );
    assert_err(
        "FROM a\nHEALTHCHECK --timeout=soon CMD true\n",
        2,
        "time: invalid duration \"soon\"",
    );
    assert_err(
        "FROM a\nHEALTHCHECK --interval=10us CMD true\n",
        2,
        "Interval \"interval\" cannot be less than 1ms",
    );
    assert_err(
        "FROM a\nHEALTHCHECK --retries=-1 CMD true\n",
        2,
        "--retries cannot be negative (-1)",
    );
    assert_err(
        "FROM a\nHEALTHCHECK --retries=x CMD true\n",
        2,
        "invalid syntax",
    );
    assert_err(
        "FROM a\nHEALTHCHECK --retries=99999999999 CMD true\n",
        2,
        "value out of range",
    );
    assert_err(
        "FROM a\nHEALTHCHECK --foo=1 CMD true\n",
        2,
        "Unknown flag: foo",
    );
}

#[test]
fn onbuild() {
    let i = one("FROM a\nONBUILD   RUN echo hi");
    let Command::Onbuild(t) = &i.cmd else {
        panic!()
    };
    assert_eq!(t.source, "RUN echo hi");
    assert!(matches!(&t.cmd, Command::Run(r) if r.cmd == shell("echo hi")));
    let i = one("FROM a\nonbuild env A=1");
    assert_eq!(i.onbuild_trigger().as_deref(), Some("env A=1"));
    assert_err(
        "FROM a\nONBUILD\n",
        2,
        "ONBUILD requires at least one argument",
    );
    assert_err(
        "FROM a\nONBUILD ONBUILD RUN x\n",
        2,
        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
    );
    assert_err(
        "FROM a\nONBUILD from b\n",
        2,
        "FROM isn't allowed as an ONBUILD trigger",
    );
    assert_err(
        "FROM a\nONBUILD MAINTAINER me\n",
        2,
        "MAINTAINER isn't allowed as an ONBUILD trigger",
    );
    assert_err("FROM a\nONBUILD FOO x\n", 2, "unknown instruction: FOO");
}

// ---------------------------------------------------------------- stages and structural errors

#[test]
fn stage_names() {
    let df = ok("FROM a AS One\nFROM b as two.2_x-y\nFROM one\n");
    assert_eq!(df.stages[0].name.as_deref(), Some("one"));
    assert_eq!(df.stages[1].name.as_deref(), Some("two.2_x-y"));
    assert_eq!(df.stages[2].name, None);
    assert_eq!(df.stages[2].from.image, "one");
    assert_eq!(
        df.stages.iter().map(|s| s.line).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
}

#[test]
fn stage_name_errors() {
    assert_err(
        "FROM a AS 1st\n",
        1,
        "invalid name for build stage: \"1st\", name can't start with a number or contain symbols",
    );
    assert_err("FROM a AS b$c\n", 1, "invalid name for build stage");
    assert_err(
        "FROM a\nRUN x\nFROM b AS\n",
        3,
        "FROM requires either one or three arguments",
    );
    assert_err(
        "FROM a b c\n",
        1,
        "FROM requires either one or three arguments",
    );
    assert_err(
        "FROM a AS b c\n",
        1,
        "FROM requires either one or three arguments",
    );
    assert_err("FROM\n", 1, "FROM requires either one or three arguments");
    assert_err(
        "FROM --platform=x\n",
        1,
        "FROM requires either one or three arguments",
    );
}

#[test]
fn reserved_stage_names_warn() {
    let df = ok("FROM a AS Scratch\nFROM b\n");
    assert_eq!(
        df.warnings,
        vec![
            "line 1: Stage name should not use the same name as reserved stage \"scratch\""
                .to_string()
        ]
    );
}

#[test]
fn duplicate_stage_names() {
    assert_err(
        "FROM a AS x\nFROM b AS y\n\nFROM c AS X\n",
        4,
        "duplicate stage name \"x\"",
    );
}

#[test]
fn unknown_instruction() {
    assert_err("FROM a\nRUN x\nFOO bar\n", 3, "unknown instruction: FOO");
    assert_err("FROM a\nfoo\n", 2, "unknown instruction: foo");
    assert_err(
        "FROM a\nRUN a \\\n  b\nCOPPY a b\n",
        4,
        "unknown instruction: COPPY",
    );
}

#[test]
fn instructions_before_the_first_from() {
    assert_err(
        "ARG a\nRUN x\nFROM a\n",
        2,
        "no build stage in current context",
    );
    assert_err(
        "# comment\nENV a=1\nFROM a\n",
        2,
        "ENV must come after a FROM",
    );
    let df = ok("ARG A=1\nARG B C=\"x\"\nFROM a:$A\nARG A\n");
    assert_eq!(df.args.len(), 3);
    assert_eq!(
        df.args[2],
        Arg {
            name: "C".into(),
            default: Some("\"x\"".into())
        }
    );
    assert_eq!(df.stages[0].instructions.len(), 1);
}

#[test]
fn files_without_instructions_or_stages() {
    assert_err("", 1, "file with no instructions");
    assert_err("\n\n# just a comment\n", 3, "file with no instructions");
    assert_err("# syntax=x\n", 1, "file with no instructions");
    assert_err("ARG a=1\nARG b\n", 2, "no stages to build");
}

#[test]
fn copy_needs_two_arguments() {
    assert_err("FROM a\nCOPY a\n", 2, "COPY requires at least two arguments, but only one was provided. Destination could not be determined");
    assert_err("FROM a\nADD\n", 2, "ADD requires at least two arguments");
    assert_err(
        "FROM a\nCOPY --from=x a\n",
        2,
        "COPY requires at least two arguments",
    );
    assert_err(
        "FROM a\nCOPY [\"a\"]\n",
        2,
        "COPY requires at least two arguments",
    );
}

#[test]
fn copy_json_form() {
    let c = copy("FROM a\nCOPY [\"my file.txt\", \"dir two/\"]");
    assert_eq!(c.sources, strings(&["my file.txt"]));
    assert_eq!(c.dest, "dir two/");
}

#[test]
fn run_without_command_is_an_error() {
    assert_err("FROM a\nRUN\n", 2, "RUN requires at least one argument");
    assert_err(
        "FROM a\nRUN --network=none\n",
        2,
        "RUN requires at least one argument",
    );
}

#[test]
fn error_display_names_the_line() {
    let e = err("FROM a\nBAD x\n");
    assert_eq!(
        e.to_string(),
        "Dockerfile parse error on line 2: unknown instruction: BAD"
    );
}
