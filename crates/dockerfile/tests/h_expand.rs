use berth_dockerfile::*;

fn env(k: &str) -> Option<String> {
    match k {
        "HOME" => Some("/root".into()),
        "EMPTY" => Some(String::new()),
        "SPACED" => Some("a  b".into()),
        "PATHVAR" => Some("/usr/local/bin/app.tar.gz".into()),
        "FOO" => Some("foo".into()),
        "1" => Some("one".into()),
        _ => None,
    }
}

fn x(word: &str) -> String {
    match expand(word, &env, '\\') {
        Ok(s) => s,
        Err(e) => panic!("{word:?}: {e}"),
    }
}

fn xerr(word: &str) -> String {
    match expand(word, &env, '\\') {
        Ok(s) => panic!("{word:?} expanded to {s:?}, expected an error"),
        Err(e) => e,
    }
}

#[test]
fn plain_variables() {
    assert_eq!(x("$HOME"), "/root");
    assert_eq!(x("${HOME}"), "/root");
    assert_eq!(x("$HOME/bin:${HOME}x"), "/root/bin:/rootx");
    assert_eq!(x("$HOMEx"), "", "the name runs to the end of the word");
    assert_eq!(x("pre-$UNSET-post"), "pre--post");
    assert_eq!(x("${UNSET}"), "");
    assert_eq!(x("$"), "$");
    assert_eq!(x("a$ b"), "a$ b");
    assert_eq!(x("$-x"), "x", "special parameter");
    assert_eq!(x("$1x"), "onex", "positional parameter");
    assert_eq!(x("cost: 5$"), "cost: 5$");
    assert_eq!(x("no variables here"), "no variables here");
}

#[test]
fn default_and_alternative_values() {
    assert_eq!(x("${UNSET:-dflt}"), "dflt");
    assert_eq!(x("${EMPTY:-dflt}"), "dflt");
    assert_eq!(x("${FOO:-dflt}"), "foo");
    assert_eq!(x("${UNSET-dflt}"), "dflt");
    assert_eq!(x("${EMPTY-dflt}"), "", "- only replaces unset values");
    assert_eq!(x("${FOO-dflt}"), "foo");
    assert_eq!(x("${FOO:+alt}"), "alt");
    assert_eq!(x("${EMPTY:+alt}"), "");
    assert_eq!(x("${UNSET:+alt}"), "");
    assert_eq!(x("${FOO+alt}"), "alt");
    assert_eq!(x("${EMPTY+alt}"), "alt", "+ only cares whether it is set");
    assert_eq!(x("${UNSET+alt}"), "");
    assert_eq!(x("${UNSET:-}"), "");
}

#[test]
fn nested_words_in_defaults() {
    assert_eq!(x("${UNSET:-$HOME}"), "/root");
    assert_eq!(x("${UNSET:-${FOO}/x}"), "foo/x");
    assert_eq!(x("${UNSET:-${ALSO_UNSET:-deep}}"), "deep");
    assert_eq!(x("${FOO:+[$HOME]}"), "[/root]");
    assert_eq!(x("${UNSET:-\"a b\"}"), "a b");
    assert_eq!(x("${UNSET:-'$HOME'}"), "$HOME");
    assert_eq!(x("${UNSET:-a\\}b}"), "a}b");
}

#[test]
fn required_values() {
    assert_eq!(x("${FOO?}"), "foo");
    assert_eq!(x("${EMPTY?oops}"), "");
    assert_eq!(
        xerr("${UNSET?}"),
        "failed to process \"${UNSET?}\": UNSET: is not allowed to be unset"
    );
    assert_eq!(
        xerr("${UNSET?custom message}"),
        "failed to process \"${UNSET?custom message}\": UNSET: custom message"
    );
    assert_eq!(
        xerr("${EMPTY:?}"),
        "failed to process \"${EMPTY:?}\": EMPTY: is not allowed to be empty"
    );
    assert_eq!(
        xerr("${UNSET:?need it}"),
        "failed to process \"${UNSET:?need it}\": UNSET: need it"
    );
    assert_eq!(x("${FOO:?x}"), "foo");
}

#[test]
fn escapes_and_quotes() {
    assert_eq!(x("\\$HOME"), "$HOME");
    assert_eq!(x("\\${HOME}"), "${HOME}");
    assert_eq!(x("a\\ b"), "a b");
    assert_eq!(x("a\\\\b"), "a\\b");
    assert_eq!(x("trailing\\"), "trailing");
    assert_eq!(x("'$HOME'"), "$HOME");
    assert_eq!(x("'a \" b'"), "a \" b");
    assert_eq!(x("\"$HOME\""), "/root");
    assert_eq!(x("\"a  b\""), "a  b");
    assert_eq!(x("\"it's\""), "it's");
    assert_eq!(x("x\"y\"z'w'"), "xyzw");
    assert_eq!(x("\"\\\"\""), "\"");
    assert_eq!(x("\"\\$HOME\""), "$HOME");
    assert_eq!(
        x("\"\\n\""),
        "\\n",
        "other escapes stay inside double quotes"
    );
    assert_eq!(x("\\n"), "n", "outside quotes the escape is removed");
    assert_eq!(x("\"${UNSET:-a b}\""), "a b");
}

#[test]
fn backtick_escape() {
    let xb = |w: &str| expand(w, &env, '`').unwrap();
    assert_eq!(xb("`$HOME"), "$HOME");
    assert_eq!(xb("C:\\$HOME"), "C:\\/root");
    assert_eq!(xb("\"a`\"b\""), "a\"b");
    assert_eq!(xb("\"a\\b\""), "a\\b");
}

#[test]
fn syntax_errors() {
    assert_eq!(
        xerr("${HOME"),
        "failed to process \"${HOME\": syntax error: missing '}'"
    );
    assert_eq!(
        xerr("${"),
        "failed to process \"${\": syntax error: missing '}'"
    );
    assert_eq!(
        xerr("${UNSET:-abc"),
        "failed to process \"${UNSET:-abc\": syntax error: missing '}'"
    );
    assert_eq!(
        xerr("${}"),
        "failed to process \"${}\": syntax error: bad substitution"
    );
    assert_eq!(
        xerr("${:-x}"),
        "failed to process \"${:-x}\": syntax error: bad substitution"
    );
    assert_eq!(xerr("'abc"), "failed to process \"'abc\": unexpected end of statement while looking for matching single-quote");
    assert_eq!(xerr("\"abc"), "failed to process \"\\\"abc\": unexpected end of statement while looking for matching double-quote");
}

#[test]
fn unsupported_modifiers() {
    assert_eq!(
        xerr("${HOME!}"),
        "failed to process \"${HOME!}\": unsupported modifier (!) in substitution"
    );
    assert_eq!(
        xerr("${HOME:x}"),
        "failed to process \"${HOME:x}\": unsupported modifier (:x) in substitution"
    );
    assert!(xerr("${HOME^^}").contains("unsupported modifier (^) in substitution"));
    assert!(xerr("${a b}").contains("unsupported modifier ( ) in substitution"));
    assert!(xerr("${PATHVAR:#*/}").contains("unsupported modifier (:#) in substitution"));
    assert!(xerr("${PATHVAR:%x}").contains("unsupported modifier (:%) in substitution"));
}

#[test]
fn pattern_removal() {
    assert_eq!(x("${PATHVAR#*/}"), "usr/local/bin/app.tar.gz");
    assert_eq!(x("${PATHVAR##*/}"), "app.tar.gz");
    assert_eq!(x("${PATHVAR%.*}"), "/usr/local/bin/app.tar");
    assert_eq!(x("${PATHVAR%%.*}"), "/usr/local/bin/app");
    assert_eq!(x("${PATHVAR%/*}"), "/usr/local/bin");
    assert_eq!(x("${PATHVAR#nomatch}"), "/usr/local/bin/app.tar.gz");
    assert_eq!(x("${FOO#?}"), "oo");
    assert_eq!(x("${FOO%\\*}"), "foo");
    assert_eq!(x("${UNSET#x}"), "");
    assert!(xerr("${FOO#\\x}").contains("invalid pattern (\\x) in substitution"));
}

#[test]
fn pattern_replacement() {
    assert_eq!(x("${FOO/o/0}"), "f0o");
    assert_eq!(x("${FOO//o/0}"), "f00");
    assert_eq!(x("${PATHVAR//\\//:}"), ":usr:local:bin:app.tar.gz");
    assert_eq!(x("${FOO/x/y}"), "foo");
    assert_eq!(x("${FOO/o/}"), "fo");
    assert!(xerr("${FOO/o}").contains("syntax error: missing '/' in ${}"));
}

#[test]
fn word_splitting() {
    let w = |s: &str| expand_words(s, &env, '\\').unwrap();
    assert_eq!(w("80 443"), vec!["80", "443"]);
    assert_eq!(w("$SPACED"), vec!["a", "b"]);
    assert_eq!(w("\"$SPACED\""), vec!["a  b"]);
    assert_eq!(w("x\\ y z"), vec!["x y", "z"]);
    assert!(w("$UNSET").is_empty());
    // As Docker's lexer does, blanks after `<<` stay with the next word.
    assert_eq!(w("cat << EOF"), vec!["cat", "<< EOF"]);
}

#[test]
fn heredoc_expansion_keeps_quotes() {
    assert_eq!(
        expand_heredoc("echo \"$HOME\" '$FOO' \\$HOME\n", &env).unwrap(),
        "echo \"/root\" 'foo' $HOME\n"
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = "${a:-".repeat(10_000) + &"}".repeat(10_000);
    assert!(expand(&deep, &env, '\\').is_err());
}

// ---------------------------------------------------------------- Instruction::expanded

fn first(src: &str) -> Instruction {
    parse(src)
        .unwrap()
        .stages
        .pop()
        .unwrap()
        .instructions
        .remove(0)
}

fn exp(src: &str) -> Command {
    first(src).expanded(&env, '\\').unwrap().cmd
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn env_values_use_the_environment_before_the_instruction() {
    let vars = |k: &str| (k == "a").then(|| "hello".to_string());
    let i = first("FROM x\nENV a=bye b=$a c=\"$a and $a\" d='$a'");
    let e = i.expanded(&vars, '\\').unwrap();
    assert_eq!(
        e.cmd,
        Command::Env(pairs(&[
            ("a", "bye"),
            ("b", "hello"),
            ("c", "hello and hello"),
            ("d", "$a")
        ]))
    );
    assert_eq!(e.line, i.line);
    assert_eq!(e.source, i.source);
    // The old form keeps its spaces, and quotes are removed.
    assert_eq!(
        exp("FROM x\nENV MSG  \"hi there\"  $FOO"),
        Command::Env(pairs(&[("MSG", "hi there  foo")]))
    );
    assert_eq!(
        exp("FROM x\nENV ${FOO}_DIR=/opt"),
        Command::Env(pairs(&[("foo_DIR", "/opt")]))
    );
}

#[test]
fn label_keys_and_values() {
    assert_eq!(
        exp("FROM x\nLABEL \"com.example.$FOO\"=\"v $HOME\" plain=1"),
        Command::Label(pairs(&[("com.example.foo", "v /root"), ("plain", "1")]))
    );
}

#[test]
fn arg_defaults() {
    assert_eq!(
        exp("FROM x\nARG A=$HOME/x B C=\"q r\""),
        Command::Arg(vec![
            Arg {
                name: "A".into(),
                default: Some("/root/x".into())
            },
            Arg {
                name: "B".into(),
                default: None
            },
            Arg {
                name: "C".into(),
                default: Some("q r".into())
            },
        ])
    );
}

#[test]
fn copy_and_add() {
    let Command::Copy(c) = exp("FROM x\nCOPY --from=foo --chown=${FOO}:${FOO} --chmod=${UNSET:-644} --exclude=$FOO.md \"$HOME/a\" ${FOO}/* $HOME/") else {
        panic!()
    };
    assert_eq!(c.from.as_deref(), Some("foo"));
    assert_eq!(c.chown.as_deref(), Some("foo:foo"));
    assert_eq!(c.chmod.as_deref(), Some("644"));
    assert_eq!(
        c.exclude,
        strings(&["$FOO.md"]),
        "Docker does not expand --exclude"
    );
    assert_eq!(c.sources, strings(&["/root/a", "foo/*"]));
    // Blank-separated arguments are split before expansion, as in Docker: a
    // quoted path with a space needs the JSON form.
    let e = first("FROM x\nCOPY \"a b\" /")
        .expanded(&env, '\\')
        .unwrap_err();
    assert!(
        e.message.contains("looking for matching double-quote"),
        "{e}"
    );
    let Command::Copy(j) = exp("FROM x\nCOPY [\"$HOME/a b\", \"/\"]") else {
        panic!()
    };
    assert_eq!(j.sources, strings(&["/root/a b"]));
    assert_eq!(c.dest, "/root/");

    let Command::Add(c) = exp("FROM x\nADD --checksum=$FOO https://example.com/$FOO.tgz /") else {
        panic!()
    };
    assert_eq!(c.checksum.as_deref(), Some("foo"));
    assert_eq!(c.sources, strings(&["https://example.com/foo.tgz"]));
}

#[test]
fn copy_heredoc_bodies() {
    let Command::Copy(c) = exp("FROM x\nCOPY <<A <<'B' /d/\nhome=$HOME \"q\"\nA\nhome=$HOME\nB\n")
    else {
        panic!()
    };
    assert_eq!(c.heredocs[0].content, "home=/root \"q\"\n");
    assert!(!c.heredocs[0].expand, "expanded once, not again");
    assert_eq!(c.heredocs[1].content, "home=$HOME\n");
    assert!(!c.heredocs[1].expand);
}

#[test]
fn expose_volume_workdir_user_stopsignal() {
    let ports = |k: &str| match k {
        "PORTS" => Some("80 443".to_string()),
        "P" => Some("8080".to_string()),
        _ => None,
    };
    let e = first("FROM x\nEXPOSE $PORTS ${P}/udp")
        .expanded(&ports, '\\')
        .unwrap();
    assert_eq!(e.cmd, Command::Expose(strings(&["80", "443", "8080/udp"])));
    assert_eq!(
        exp("FROM x\nVOLUME $HOME/data \"/a\""),
        Command::Volume(strings(&["/root/data", "/a"]))
    );
    assert_eq!(
        exp("FROM x\nVOLUME [\"$HOME\"]"),
        Command::Volume(strings(&["/root"]))
    );
    assert_eq!(
        exp("FROM x\nWORKDIR $HOME/my app"),
        Command::Workdir("/root/my app".into())
    );
    assert_eq!(
        exp("FROM x\nWORKDIR \"$HOME\"/'$x'"),
        Command::Workdir("/root/$x".into())
    );
    assert_eq!(
        exp("FROM x\nUSER ${FOO}:${UNSET:-staff}"),
        Command::User("foo:staff".into())
    );
    assert_eq!(
        exp("FROM x\nSTOPSIGNAL ${SIG:-SIGTERM}"),
        Command::StopSignal("SIGTERM".into())
    );
}

#[test]
fn unexpanded_instructions_are_unchanged() {
    for src in [
        "FROM x\nRUN echo $HOME \"$FOO\"",
        "FROM x\nRUN <<EOF\necho $HOME\nEOF\n",
        "FROM x\nCMD echo $HOME",
        "FROM x\nENTRYPOINT [\"$HOME\"]",
        "FROM x\nSHELL [\"$HOME\"]",
        "FROM x\nHEALTHCHECK CMD echo $HOME",
        "FROM x\nONBUILD WORKDIR $HOME",
        "FROM x\nMAINTAINER $HOME",
    ] {
        let i = first(src);
        assert_eq!(i.expanded(&env, '\\').unwrap(), i, "{src}");
    }
}

#[test]
fn expansion_errors_carry_the_line() {
    let i = first("FROM x\n\nWORKDIR ${HOME");
    let e = i.expanded(&env, '\\').unwrap_err();
    assert_eq!(e.line, 3);
    assert_eq!(
        e.message,
        "failed to process \"${HOME\": syntax error: missing '}'"
    );
    let e = first("FROM x\nCOPY ${NEED:?required} /")
        .expanded(&env, '\\')
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Dockerfile parse error on line 2: failed to process \"${NEED:?required}\": NEED: required"
    );
}

#[test]
fn escape_character_is_used() {
    let i = first("# escape=`\nFROM x\nWORKDIR `$HOME\\x");
    assert_eq!(
        i.expanded(&env, '`').unwrap().cmd,
        Command::Workdir("$HOME\\x".into())
    );
}

#[test]
fn from_image_is_expanded_with_expand() {
    let df = parse("ARG TAG=3.19\nFROM alpine:${TAG} AS base\n").unwrap();
    let args = df.args.clone();
    let lookup = move |k: &str| {
        args.iter()
            .find(|a| a.name == k)
            .and_then(|a| a.default.clone())
    };
    assert_eq!(
        expand(&df.stages[0].from.image, &lookup, df.escape).unwrap(),
        "alpine:3.19"
    );
}
