//! The parser against the Dockerfile reference's rules, one behaviour per test.

use std::collections::HashMap;

use berth_dockerfile::*;

fn one(src: &str) -> Instruction {
    let df = parse(src).unwrap_or_else(|e| panic!("{src:?}: {e}"));
    df.stages[0].instructions[0].clone()
}

fn fails(src: &str) -> Error {
    parse(src).expect_err(src)
}

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let m: HashMap<String, String> = pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    move |k| m.get(k).cloned()
}

#[test]
fn directives_only_at_the_top() {
    let df = parse("# syntax=docker/dockerfile:1\n# escape=`\nFROM x\nRUN a `\n  b\n").unwrap();
    assert_eq!(df.syntax.as_deref(), Some("docker/dockerfile:1"));
    assert_eq!(df.escape, '`');
    match &df.stages[0].instructions[0].cmd {
        Command::Run(r) => assert_eq!(r.cmd, ShellOrExec::Shell("a   b".into())),
        c => panic!("{c:?}"),
    }
    // After a comment, `# escape=` is just a comment.
    let df = parse("# hello\n# escape=`\nFROM x\n").unwrap();
    assert_eq!(df.escape, '\\');
    let e = fails("# escape=\\\n# escape=`\nFROM x\n");
    assert_eq!(e.line, 2);
    assert!(e.message.contains("only one escape"), "{e}");
    assert!(fails("# escape=x\nFROM a\n")
        .message
        .contains("invalid escape token"));
    // Directive names are case-insensitive.
    assert_eq!(parse("# ESCAPE=`\nFROM x\n").unwrap().escape, '`');
}

#[test]
fn continuations_comments_and_line_numbers() {
    let src = "FROM busybox\n\n# a comment\nRUN echo a \\\n# inside\n    && echo b \\\n\n    && echo c\nCMD [\"sh\"]\n";
    let df = parse(src).unwrap();
    let ins = &df.stages[0].instructions;
    assert_eq!(ins[0].line, 4);
    assert_eq!(ins[0].end_line, 8);
    match &ins[0].cmd {
        Command::Run(r) => assert_eq!(
            r.cmd,
            ShellOrExec::Shell("echo a     && echo b     && echo c".into())
        ),
        c => panic!("{c:?}"),
    }
    assert_eq!(ins[1].line, 9);
    assert_eq!(df.warnings.len(), 1, "an empty continuation line warns");
    assert!(df.warnings[0].contains("Empty continuation line"));
    // A file that ends in a continuation is accepted.
    parse("FROM a\nRUN x \\").unwrap();
    // Keywords are case-insensitive; CRLF line ends are accepted.
    assert!(matches!(one("from a\r\nrun true\r\n").cmd, Command::Run(_)));
}

#[test]
fn exec_and_shell_forms() {
    assert_eq!(
        one("FROM a\nCMD [\"echo\", \"hi there\"]").cmd,
        Command::Cmd(ShellOrExec::Exec(vec!["echo".into(), "hi there".into()]))
    );
    // Not valid JSON: the shell form, as written.
    assert_eq!(
        one("FROM a\nCMD [echo, hi]").cmd,
        Command::Cmd(ShellOrExec::Shell("[echo, hi]".into()))
    );
    assert_eq!(
        one("FROM a\nCMD []").cmd,
        Command::Cmd(ShellOrExec::Exec(vec![]))
    );
    assert_eq!(
        one("FROM a\nENTRYPOINT exec top -b").cmd,
        Command::Entrypoint(ShellOrExec::Shell("exec top -b".into()))
    );
}

#[test]
fn from_stages_and_names() {
    let df = parse(
        "ARG V=1\nFROM --platform=linux/amd64 img:$V AS Build\nFROM build\nFROM scratch as out\n",
    )
    .unwrap();
    assert_eq!(
        df.args,
        vec![Arg {
            name: "V".into(),
            default: Some("1".into())
        }]
    );
    assert_eq!(df.stages.len(), 3);
    assert_eq!(df.stages[0].name.as_deref(), Some("build"));
    assert_eq!(df.stages[0].from.platform.as_deref(), Some("linux/amd64"));
    assert_eq!(df.stages[0].from.image, "img:$V");
    assert_eq!(df.stages[2].line, 4);
    assert!(fails("FROM a AS\n")
        .message
        .contains("FROM requires either one or three arguments"));
    assert!(fails("FROM a AS 9lives\n")
        .message
        .contains("invalid name for build stage"));
    assert!(fails("FROM a AS x\nFROM b AS X\n")
        .message
        .contains("duplicate stage name"));
    assert_eq!(fails("RUN true\nFROM a\n").line, 1);
    assert!(fails("").message.contains("file with no instructions"));
    assert!(fails("# only a comment\n\n")
        .message
        .contains("file with no instructions"));
    assert!(fails("ARG X\n")
        .message
        .contains("a FROM instruction is required"));
}

#[test]
fn unknown_instructions_and_flags() {
    let e = fails("FROM a\nRUN true\nFOO bar\n");
    assert_eq!(e.line, 3);
    assert_eq!(e.message, "unknown instruction: FOO");
    assert_eq!(
        e.to_string(),
        "Dockerfile parse error on line 3: unknown instruction: FOO"
    );
    let e = fails("FROM a\nCOPY --frm=x a b\n");
    assert_eq!((e.line, e.message.as_str()), (2, "Unknown flag: frm"));
    assert!(fails("FROM a\nCOPY --from a b\n")
        .message
        .contains("Missing a value on flag: from"));
    assert!(fails("FROM a\nADD --from=x a b\n")
        .message
        .contains("Unknown flag: from"));
}

#[test]
fn copy_and_add() {
    match one("FROM a\nCOPY --from=build --chown=app:app --chmod=0755 --link --exclude=*.md src/ lib/ /dst/").cmd {
        Command::Copy(c) => {
            assert_eq!(c.sources, vec!["src/", "lib/"]);
            assert_eq!(c.dest, "/dst/");
            assert_eq!(c.from.as_deref(), Some("build"));
            assert_eq!(c.chown.as_deref(), Some("app:app"));
            assert_eq!(c.chmod.as_deref(), Some("0755"));
            assert!(c.link);
            assert_eq!(c.exclude, vec!["*.md"]);
        }
        c => panic!("{c:?}"),
    }
    match one("FROM a\nCOPY [\"a b.txt\", \"/x y/\"]").cmd {
        Command::Copy(c) => {
            let i = Instruction {
                line: 2,
                end_line: 2,
                source: String::new(),
                cmd: Command::Copy(c),
            };
            match i.expanded(&env(&[]), '\\').unwrap().cmd {
                Command::Copy(c) => {
                    assert_eq!(c.sources, vec!["a b.txt"]);
                    assert_eq!(c.dest, "/x y/");
                }
                c => panic!("{c:?}"),
            }
        }
        c => panic!("{c:?}"),
    }
    match one("FROM a\nADD --checksum=sha256:abc --keep-git-dir=true x.tar /").cmd {
        Command::Add(c) => {
            assert_eq!(c.checksum.as_deref(), Some("sha256:abc"));
            assert!(c.keep_git_dir);
        }
        c => panic!("{c:?}"),
    }
    assert!(fails("FROM a\nCOPY a\n")
        .message
        .contains("COPY requires at least two arguments"));
    assert!(fails("FROM a\nADD\n")
        .message
        .contains("ADD requires at least two arguments"));
}

#[test]
fn heredocs() {
    let src = "FROM a\nRUN <<EOF\necho one\necho $HOME\nEOF\nRUN python3 <<'PY' > out\nprint('$x')\nPY\nCOPY <<A <<-\"B\" /dst/\nalpha\nA\n\tbeta\n\tB\nRUN echo after\n";
    let df = parse(src).unwrap();
    let ins = &df.stages[0].instructions;
    match &ins[0].cmd {
        Command::Run(r) => {
            assert_eq!(r.heredocs.len(), 1);
            assert_eq!(r.heredocs[0].name, "EOF");
            assert_eq!(r.heredocs[0].content, "echo one\necho $HOME\n");
            assert!(r.heredocs[0].expand);
            assert_eq!(ins[0].end_line, 5);
        }
        c => panic!("{c:?}"),
    }
    match &ins[1].cmd {
        Command::Run(r) => {
            assert_eq!(r.cmd, ShellOrExec::Shell("python3 <<'PY' > out".into()));
            assert!(!r.heredocs[0].expand, "a quoted delimiter does not expand");
        }
        c => panic!("{c:?}"),
    }
    match &ins[2].cmd {
        Command::Copy(c) => {
            assert!(c.sources.is_empty());
            assert_eq!(c.dest, "/dst/");
            assert_eq!(c.heredocs.len(), 2);
            assert_eq!(c.heredocs[0].content, "alpha\n");
            assert!(c.heredocs[1].chomp);
            assert_eq!(c.heredocs[1].content, "beta\n", "<<- strips leading tabs");
        }
        c => panic!("{c:?}"),
    }
    assert_eq!(ins[3].line, 14);
    let e = fails("FROM a\nRUN <<EOF\necho\n");
    assert!(e.message.contains("unterminated heredoc"), "{e}");
    // `<<<` is a here-string, not a heredoc.
    match one("FROM a\nRUN cat <<< hi").cmd {
        Command::Run(r) => assert!(r.heredocs.is_empty()),
        c => panic!("{c:?}"),
    }
}

#[test]
fn env_label_arg_forms() {
    assert_eq!(
        one("FROM a\nENV MY_NAME=\"John Doe\" MY_DOG=Rex\\ The\\ Dog").cmd,
        Command::Env(vec![
            ("MY_NAME".into(), "\"John Doe\"".into()),
            ("MY_DOG".into(), "Rex\\ The\\ Dog".into())
        ])
    );
    // The old form: one key, the rest of the line.
    assert_eq!(
        one("FROM a\nENV MY_CAT  fluffy  the cat").cmd,
        Command::Env(vec![("MY_CAT".into(), "fluffy  the cat".into())])
    );
    assert!(fails("FROM a\nENV\n")
        .message
        .contains("ENV requires at least one argument"));
    assert!(fails("FROM a\nENV ONLYKEY\n")
        .message
        .contains("ENV must have two arguments"));
    assert!(fails("FROM a\nENV =x\n")
        .message
        .contains("names can not be blank"));
    assert_eq!(
        one("FROM a\nARG a b=2 c=\"x y\"").cmd,
        Command::Arg(vec![
            Arg {
                name: "a".into(),
                default: None
            },
            Arg {
                name: "b".into(),
                default: Some("2".into())
            },
            Arg {
                name: "c".into(),
                default: Some("\"x y\"".into())
            },
        ])
    );
    match one("FROM a\nLABEL \"com.example.vendor\"=\"ACME Inc\" version=1.0").cmd {
        Command::Label(l) => assert_eq!(l.len(), 2),
        c => panic!("{c:?}"),
    }
}

#[test]
fn expansion_uses_one_environment_per_instruction() {
    let ins = one("FROM a\nENV a=bye b=$a c=${a:-x}");
    let e = ins.expanded(&env(&[("a", "hello")]), '\\').unwrap();
    assert_eq!(
        e.cmd,
        Command::Env(vec![
            ("a".into(), "bye".into()),
            ("b".into(), "hello".into()),
            ("c".into(), "hello".into())
        ])
    );
    let e = one("FROM a\nENV MY_NAME=\"John Doe\" X=a\\ b")
        .expanded(&env(&[]), '\\')
        .unwrap();
    assert_eq!(
        e.cmd,
        Command::Env(vec![
            ("MY_NAME".into(), "John Doe".into()),
            ("X".into(), "a b".into())
        ])
    );
    let e = one("FROM a\nWORKDIR /app/${SUB}")
        .expanded(&env(&[("SUB", "x")]), '\\')
        .unwrap();
    assert_eq!(e.cmd, Command::Workdir("/app/x".into()));
    // RUN is left to the shell.
    let r = one("FROM a\nRUN echo $HOME");
    assert_eq!(r.expanded(&env(&[("HOME", "/x")]), '\\').unwrap(), r);
    let e = one("FROM a\nCOPY --chown=$U:$G $SRC /d")
        .expanded(&env(&[("U", "1"), ("G", "2"), ("SRC", "s")]), '\\')
        .unwrap();
    match e.cmd {
        Command::Copy(c) => {
            assert_eq!(c.chown.as_deref(), Some("1:2"));
            assert_eq!(c.sources, vec!["s"]);
        }
        c => panic!("{c:?}"),
    }
    let err = one("FROM a\nUSER ${U:?no user}")
        .expanded(&env(&[]), '\\')
        .unwrap_err();
    assert_eq!(err.line, 2);
}

#[test]
fn run_mounts_and_network() {
    match one("FROM a\nRUN --mount=type=cache,target=/root/.cache,id=pip,sharing=locked --mount=type=bind,source=.,target=/src,rw --mount=type=tmpfs,dst=/t,size=64m --network=none pip install").cmd {
        Command::Run(r) => {
            assert_eq!(r.mounts.len(), 3);
            assert_eq!(r.mounts[0].typ, MountType::Cache);
            assert_eq!(r.mounts[0].id.as_deref(), Some("pip"));
            assert!(!r.mounts[0].readonly);
            assert_eq!(r.mounts[1].typ, MountType::Bind);
            assert!(!r.mounts[1].readonly, "rw");
            assert_eq!(r.mounts[2].size, Some(64 << 20));
            assert_eq!(r.network.as_deref(), Some("none"));
        }
        c => panic!("{c:?}"),
    }
    match one("FROM a\nRUN --mount=target=/x true").cmd {
        Command::Run(r) => assert!(r.mounts[0].readonly, "bind mounts are read-only by default"),
        c => panic!("{c:?}"),
    }
    assert!(
        fails("FROM a\nRUN --mount=type=cache,bogus=1,target=/x true\n")
            .message
            .contains("unexpected key 'bogus'")
    );
    assert!(fails("FROM a\nRUN --network=bridge true\n")
        .message
        .contains("invalid network mode"));
}

#[test]
fn healthcheck_shell_onbuild_and_the_rest() {
    match one("FROM a\nHEALTHCHECK --interval=5m --timeout=3s --retries=3 CMD curl -f http://localhost/ || exit 1").cmd {
        Command::Healthcheck(Healthcheck::Check { test, interval, retries, .. }) => {
            assert_eq!(test, vec!["CMD-SHELL", "curl -f http://localhost/ || exit 1"]);
            assert_eq!(interval.as_deref(), Some("5m"));
            assert_eq!(retries, Some(3));
        }
        c => panic!("{c:?}"),
    }
    match one("FROM a\nHEALTHCHECK CMD [\"/bin/check\", \"-q\"]").cmd {
        Command::Healthcheck(Healthcheck::Check { test, .. }) => {
            assert_eq!(test, vec!["CMD", "/bin/check", "-q"])
        }
        c => panic!("{c:?}"),
    }
    assert_eq!(
        one("FROM a\nHEALTHCHECK NONE").cmd,
        Command::Healthcheck(Healthcheck::None)
    );
    assert!(fails("FROM a\nHEALTHCHECK NONE x\n")
        .message
        .contains("takes no arguments"));
    assert!(fails("FROM a\nHEALTHCHECK RUN x\n")
        .message
        .contains("Unknown type"));
    assert!(fails("FROM a\nHEALTHCHECK --retries=-1 CMD x\n")
        .message
        .contains("--retries"));
    assert!(fails("FROM a\nSHELL /bin/bash -c\n")
        .message
        .contains("JSON form"));
    match one("FROM a\nONBUILD ADD . /app/src").cmd {
        Command::Onbuild(i) => assert!(matches!(i.cmd, Command::Add(_))),
        c => panic!("{c:?}"),
    }
    assert!(fails("FROM a\nONBUILD ONBUILD RUN x\n")
        .message
        .contains("isn't allowed"));
    assert!(fails("FROM a\nONBUILD FROM x\n")
        .message
        .contains("isn't allowed"));
    assert!(fails("FROM a\nONBUILD MAINTAINER x\n")
        .message
        .contains("isn't allowed"));
    assert_eq!(
        one("FROM a\nEXPOSE 80/tcp 53/udp").cmd,
        Command::Expose(vec!["80/tcp".into(), "53/udp".into()])
    );
    assert_eq!(
        one("FROM a\nVOLUME [\"/a\", \"/b\"]").cmd,
        Command::Volume(vec!["/a".into(), "/b".into()])
    );
    assert_eq!(
        one("FROM a\nVOLUME /a /b").cmd,
        Command::Volume(vec!["/a".into(), "/b".into()])
    );
    assert_eq!(
        one("FROM a\nSTOPSIGNAL SIGKILL").cmd,
        Command::StopSignal("SIGKILL".into())
    );
    assert_eq!(
        one("FROM a\nMAINTAINER me <me@x>").cmd,
        Command::Maintainer("me <me@x>".into())
    );
    assert_eq!(
        one("FROM a\nUSER app:app").cmd,
        Command::User("app:app".into())
    );
    for kw in [
        "WORKDIR",
        "USER",
        "EXPOSE",
        "VOLUME",
        "STOPSIGNAL",
        "RUN",
        "ARG",
    ] {
        let e = fails(&format!("FROM a\n{kw}\n"));
        assert!(e.message.contains(&format!("{kw} requires")), "{kw}: {e}");
        assert_eq!(e.line, 2);
    }
}

/// A small deterministic generator of mutated Dockerfiles: parse and expand must never panic.
#[test]
fn mutated_dockerfiles_never_panic() {
    let seeds = [
        "FROM a AS b\nRUN <<EOF\nx\nEOF\nCOPY --from=b [\"x\", \"/y\"]\nENV a=$b c=${d:-e}\n",
        "# escape=`\nFROM x\nRUN a `\n b\nLABEL \"k\"=\"v\" x=y\nHEALTHCHECK --interval=1s CMD [\"a\"]\n",
        "ARG V\nFROM i:${V:+x}\nONBUILD RUN x\nEXPOSE 1-2/udp\nVOLUME [\"/v\"]\nSHELL [\"sh\"]\n",
        "FROM a\nRUN --mount=type=cache,target=/x,uid=1 --network=host x\nCOPY <<-'A' <<B /d/\n\tq\n\tA\nr\nB\n",
    ];
    let alphabet: Vec<char> = "\\`$'\"{}[]<>-=:,#\n \tABCFROMRUNCOPYENV=${x:-y}"
        .chars()
        .collect();
    let mut state: u64 = 0x9e3779b97f4a7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..4000 {
        let mut s: Vec<char> = seeds[round % seeds.len()].chars().collect();
        for _ in 0..(1 + next() % 6) {
            let pos = (next() as usize) % (s.len() + 1);
            match next() % 3 {
                0 if pos < s.len() => {
                    s.remove(pos);
                }
                1 => s.insert(pos, alphabet[(next() as usize) % alphabet.len()]),
                _ if pos < s.len() => s[pos] = alphabet[(next() as usize) % alphabet.len()],
                _ => {}
            }
        }
        let text: String = s.into_iter().collect();
        if let Ok(df) = parse(&text) {
            for st in &df.stages {
                for ins in &st.instructions {
                    let _ = ins.expanded(&|k| (k.len() % 2 == 0).then(|| k.to_string()), df.escape);
                }
            }
        }
        let _ = expand(&text, &|_| Some("v".into()), '\\');
    }
}
