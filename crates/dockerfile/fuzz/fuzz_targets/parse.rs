//! Parse arbitrary text as a Dockerfile and expand every instruction: no
//! input may make the parser or the expander panic.
#![no_main]

use berth_dockerfile::{expand, parse, Command, Instruction};
use libfuzzer_sys::fuzz_target;

fn lookup(name: &str) -> Option<String> {
    match name {
        "a" => Some("x y".into()),
        "b" => Some(String::new()),
        "HOME" => Some("/root".into()),
        "P" => Some("80 443/udp".into()),
        "w" => Some("a/b.c/d".into()),
        _ => None,
    }
}

fn check(i: &Instruction, escape: char) {
    assert!(i.line >= 1 && i.line <= i.end_line);
    let _ = i.onbuild_trigger();
    if let Command::Run(r) = &i.cmd {
        let _ = r.shell_text();
    }
    if let Command::Onbuild(inner) = &i.cmd {
        check(inner, escape);
    }
    for esc in [escape, '\\', '`'] {
        if let Ok(e) = i.expanded(&lookup, esc) {
            assert_eq!(e.line, i.line);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let src = String::from_utf8_lossy(data);
    // The same bytes as a .dockerignore file.
    if let Ok(m) = berth_dockerfile::ignore::Matcher::parse(&src) {
        let _ = m.excluded("a/b/c.txt");
        let _ = m.may_reinclude_below("a");
    }
    let Ok(df) = parse(&src) else { return };
    for stage in &df.stages {
        let _ = expand(&stage.from.image, &lookup, df.escape);
        if let Some(name) = &stage.name {
            assert!(df.find_stage(name).is_some());
        }
        for i in &stage.instructions {
            check(i, df.escape);
        }
    }
    for a in &df.args {
        if let Some(d) = &a.default {
            let _ = expand(d, &lookup, df.escape);
        }
    }
});
