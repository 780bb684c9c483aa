//! Thousands of generated and mutated Dockerfiles through `parse` and
//! `expanded`: nothing may panic, and what parses must be consistent.

use berth_dockerfile::*;

/// xorshift64*: small, deterministic, good enough to pick fragments.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const SEEDS: &[&str] = &[
    "# syntax=docker/dockerfile:1\nARG V=1\nFROM --platform=$BUILDPLATFORM golang:${V} AS build\nWORKDIR /src\nCOPY go.* ./\nRUN --mount=type=cache,target=/go/pkg/mod \\\n    go mod download\nCOPY . .\nRUN go build -o /app\n\nFROM scratch\nCOPY --from=build /app /app\nENTRYPOINT [\"/app\"]\n",
    "# escape=`\nFROM mcr.microsoft.com/windows\nRUN dir c:\\ `\n  && echo hi\nWORKDIR C:\\x\n",
    "FROM a\nRUN <<EOF\necho $HOME\nEOF\nCOPY <<-'X' <<Y /dst/\n\tx\n\tX\ny\nY\nONBUILD RUN <<Z\nz\nZ\n",
    "FROM a AS b\nENV a=1 b=\"$a x\" c='$b'\nENV OLD some value\nLABEL \"k\"=v x=\"${a:-y}\"\nEXPOSE 80 ${P}/udp\nVOLUME [\"/v\"]\nUSER ${U:-root}\nSTOPSIGNAL SIGINT\nHEALTHCHECK --interval=5s --retries=2 CMD curl -f http://x || exit 1\nSHELL [\"/bin/bash\", \"-c\"]\nARG x=${y:?z}\nMAINTAINER me\nCMD [\"a\"]\n",
    "FROM a\nRUN --mount=type=secret,id=s,required --mount=type=tmpfs,target=/t,size=1m --network=none true\nADD --checksum=sha256:0 --keep-git-dir https://x/y.git /y\nCOPY --link --parents --exclude=*.md ./ /d\n",
];

/// Lines that are valid on their own (after a FROM).
const GOOD: &[&str] = &[
    "FROM alpine",
    "FROM a AS b",
    "from --platform=$P x",
    "RUN echo $HOME",
    "RUN <<EOF\necho $a\nEOF",
    "RUN <<-'E F'\n\tx\n\tE F",
    "COPY <<X /x\nbody $a\nX",
    "COPY a b",
    "ADD --link x y",
    "ENV a=$b c=\"${a:-d}\"",
    "ENV k some value",
    "LABEL a=\"b c\"",
    "ARG x=${y:-${z}}",
    "EXPOSE $P 22",
    "VOLUME [\"/v\"]",
    "WORKDIR ${w#*/}",
    "USER ${u%%:*}",
    "CMD []",
    "ENTRYPOINT [\"sh\"]",
    "SHELL [\"sh\", \"-c\"]",
    "HEALTHCHECK NONE",
    "HEALTHCHECK --interval=1s CMD true",
    "ONBUILD RUN x",
    "STOPSIGNAL $S",
    "RUN --mount=type=cache,target=$T,uid=$U x",
    "RUN --mount=type=secret,id=a,required x",
    "# comment",
    "",
    "RUN a \\\n  b",
    "COPY --from=0 / /",
    "MAINTAINER me",
    "ONBUILD COPY <<A <<B /c\na\nA\nb\nB",
    "WORKDIR ${w//\\//_}",
    "ENV x=\"${a/ /_}\"",
    "RUN [\"a\", \"b\"]",
];

/// Lines that are errors, or odd, on their own.
const BAD: &[&str] = &[
    "FROM a as",
    "RUN <<EOF",
    "EOF",
    "\tEOF",
    "ADD x",
    "ENV a",
    "ENV =x",
    "ARG x=${y:-${z",
    "ARG",
    "VOLUME []",
    "VOLUME [\"\"]",
    "CMD [1]",
    "ENTRYPOINT",
    "SHELL sh",
    "HEALTHCHECK CMD",
    "HEALTHCHECK --interval=1us CMD x",
    "ONBUILD ONBUILD",
    "ONBUILD RUN <<A",
    "MAINTAINER",
    "RUN --mount=from=$X x",
    "RUN --mount= x",
    "# escape=`",
    "# syntax=x",
    "# check=y",
    "#",
    " ",
    "\\",
    "`",
    "\\\\",
    "RUN a \\",
    "  # c",
    "FOO bar",
    "${",
    "${a:",
    "'\"",
    "[\"a\"",
    "\u{feff}",
    "\r",
    "\u{e9}",
    "<<",
    "<<-",
    "3<<EOF",
    "--",
    "--x",
    "--link=",
    "\"",
    "'",
    "$",
    "}",
    "{",
    "=",
    ",",
];

const TOKENS: &[&str] = &[
    "\n", "\r\n", " ", "\t", "\\", "`", "$", "{", "}", ":", "-", "+", "?", "#", "%", "/", "\"",
    "'", "[", "]", "<<", "<<-", "=", ",", "--", "EOF", "FROM ", "RUN ", "COPY ", "ENV ", "ARG ",
    "ONBUILD ", "${a:-", "${b}", "é", "\u{0}", "\u{a0}", "\u{2028}", "0", "9",
];

fn lookup(k: &str) -> Option<String> {
    match k {
        "a" => Some("x y".into()),
        "b" => Some(String::new()),
        "HOME" => Some("/root".into()),
        "w" => Some("a/b/c".into()),
        "u" => Some("1:2".into()),
        "P" => Some("80 443".into()),
        _ => None,
    }
}

fn check_instruction(i: &Instruction, lines: usize, escape: char) {
    assert!(
        i.line >= 1 && i.line <= i.end_line && i.end_line <= lines.max(1),
        "{i:?}"
    );
    let _ = i.cmd.keyword();
    let _ = i.onbuild_trigger();
    if let Command::Run(r) = &i.cmd {
        let _ = r.shell_text();
        let _ = r.single_heredoc();
    }
    if let Command::Onbuild(inner) = &i.cmd {
        assert_eq!((inner.line, inner.end_line), (i.line, i.end_line));
        check_instruction(inner, lines, escape);
    }
    for esc in [escape, '\\', '`'] {
        if let Ok(e) = i.expanded(&lookup, esc) {
            assert_eq!((e.line, e.end_line), (i.line, i.end_line));
            assert_eq!(e.cmd.keyword(), i.cmd.keyword());
        }
    }
}

fn exercise(src: &str) {
    let lines = src.split_inclusive('\n').count();
    let Ok(df) = parse(src) else { return };
    assert!(!df.stages.is_empty());
    for (n, stage) in df.stages.iter().enumerate() {
        assert_eq!(stage.index, n);
        assert_eq!(stage.name, stage.from.name);
        let _ = expand(&stage.from.image, &lookup, df.escape);
        if let Some(p) = &stage.from.platform {
            let _ = expand(p, &lookup, df.escape);
        }
        if let Some(name) = &stage.name {
            assert_eq!(df.find_stage(name).map(|s| s.index), Some(n));
        }
        for i in &stage.instructions {
            assert!(i.line > stage.line);
            check_instruction(i, lines, df.escape);
        }
    }
    for a in &df.args {
        if let Some(d) = &a.default {
            let _ = expand(d, &lookup, df.escape);
        }
    }
}

fn mutate(rng: &mut Rng, src: &str) -> String {
    let mut chars: Vec<char> = src.chars().collect();
    for _ in 0..1 + rng.below(6) {
        let pos = if chars.is_empty() {
            0
        } else {
            rng.below(chars.len() + 1)
        };
        match rng.below(4) {
            0 if pos < chars.len() => {
                chars.remove(pos);
            }
            1 => {
                let tok = rng.pick(TOKENS);
                for (k, c) in tok.chars().enumerate() {
                    chars.insert(pos + k, c);
                }
            }
            2 if pos < chars.len() => {
                let tok = rng.pick(TOKENS);
                chars.splice(pos..pos + 1, tok.chars());
            }
            _ => {
                // Duplicate a span, e.g. a line.
                if pos < chars.len() {
                    let end = (pos + 1 + rng.below(40)).min(chars.len());
                    let span: Vec<char> = chars[pos..end].to_vec();
                    let at = rng.below(chars.len() + 1);
                    chars.splice(at..at, span);
                }
            }
        }
    }
    chars.into_iter().collect()
}

fn generate(rng: &mut Rng) -> String {
    let mut s = String::new();
    if rng.below(10) != 0 {
        s.push_str("FROM base\n");
    }
    for _ in 0..1 + rng.below(20) {
        let bad = rng.below(25) == 0;
        s.push_str(rng.pick(if bad { BAD } else { GOOD }));
        if rng.below(25) == 0 {
            s.push(' ');
            s.push_str(rng.pick(BAD));
        }
        s.push_str(if rng.below(10) == 0 { "\r\n" } else { "\n" });
    }
    s
}

#[test]
fn seeds_parse() {
    for s in SEEDS {
        parse(s).unwrap_or_else(|e| panic!("{e}\n{s}"));
        exercise(s);
    }
}

#[test]
fn generated_and_mutated_files_never_panic() {
    let mut rng = Rng(0x5eed_d0c4_e4f1_1e00);
    let mut parsed = 0;
    for n in 0..6000 {
        let src = match n % 3 {
            0 => generate(&mut rng),
            1 => {
                let seed = SEEDS[rng.below(SEEDS.len())];
                mutate(&mut rng, seed)
            }
            _ => {
                let base = generate(&mut rng);
                mutate(&mut rng, &base)
            }
        };
        let r = std::panic::catch_unwind(|| exercise(&src));
        if r.is_err() {
            panic!("panic on input {n}: {src:?}");
        }
        parsed += usize::from(parse(&src).is_ok());
        if std::env::var_os("ROBUSTNESS_SHOW_ERRORS").is_some() {
            if let Err(e) = parse(&src) {
                eprintln!("{}: {e}", n % 3);
            }
        }
    }
    // The generator must reach the parser's happy paths, not only its errors.
    eprintln!("{parsed} of 6000 inputs parsed");
    assert!(parsed > 1000, "only {parsed} inputs parsed");
}

#[test]
fn random_words_never_panic() {
    let mut rng = Rng(42);
    for _ in 0..4000 {
        let mut w = String::new();
        for _ in 0..rng.below(12) {
            w.push_str(rng.pick(TOKENS));
            if rng.below(3) == 0 {
                w.push_str(rng.pick(&["a", "b", "w", "HOME", "u", "*", "?", "1"]));
            }
        }
        for esc in ['\\', '`'] {
            let _ = expand(&w, &lookup, esc);
            let _ = expand_words(&w, &lookup, esc);
        }
        let _ = expand_heredoc(&w, &lookup);
    }
}
