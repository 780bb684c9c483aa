//! Any text: `parse` and, for every instruction, `expanded` must return, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(df) = berth_dockerfile::parse(text) {
        for stage in &df.stages {
            for ins in &stage.instructions {
                let _ = ins.expanded(&|k| (k.len() % 3 != 0).then(|| format!("<{k}>")), df.escape);
            }
        }
    }
    let _ = berth_dockerfile::expand(text, &|_| Some("v".into()), '\\');
    if let Ok(m) = berth_dockerfile::ignore::Matcher::parse(text) {
        let _ = m.excluded("a/b/c.txt");
    }
});
