//! Small parsers shared by the instruction parser: words, flags, JSON arrays,
//! Go durations and shell patterns.

use std::time::Duration;

/// The whitespace Docker splits arguments on (`[\t\v\f\r ]`).
pub(crate) fn is_arg_space(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// Split on runs of [`is_arg_space`]; nothing for an empty string.
pub(crate) fn split_ws(s: &str) -> Vec<String> {
    if s.is_empty() {
        return Vec::new();
    }
    s.split(is_arg_space)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Split at the first run of [`is_arg_space`]: (first word, the rest).
pub(crate) fn split_first(s: &str) -> (&str, Option<&str>) {
    match s.find(is_arg_space) {
        Some(i) => (&s[..i], Some(s[i..].trim_start_matches(is_arg_space))),
        None => (s, None),
    }
}

/// Words for ENV, LABEL and ARG: split at unquoted whitespace, keeping quotes
/// and escapes in the words (they are removed at expansion).
pub(crate) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut buf = String::new();
    let mut i = 0;
    loop {
        let at_end = i >= chars.len();
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if chars[i].is_whitespace() {
                i += 1;
                continue;
            }
            phase = Phase::Word;
        }
        if at_end {
            if blank_ok || !buf.is_empty() {
                words.push(buf);
            }
            break;
        }
        let mut ch = chars[i];
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if blank_ok || !buf.is_empty() {
                    words.push(std::mem::take(&mut buf));
                }
                buf.clear();
                blank_ok = false;
                i += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            } else if ch == escape {
                if i + 1 == chars.len() {
                    i += 1;
                    continue;
                }
                buf.push(ch);
                i += 1;
                ch = chars[i];
            }
            buf.push(ch);
            i += 1;
            continue;
        }
        // Phase::Quote
        if ch == quote {
            phase = Phase::Word;
        } else if ch == escape && quote != '\'' {
            if i + 1 == chars.len() {
                phase = Phase::Word;
                i += 1;
                continue;
            }
            buf.push(ch);
            i += 1;
            ch = chars[i];
        }
        buf.push(ch);
        i += 1;
    }
    words
}

/// Take the leading `--flag[=value]` words off an instruction's arguments:
/// (the remaining text, the flags). Quotes and escapes in flags are
/// processed; `--` ends the flags.
pub(crate) fn extract_flags(line: &str, escape: char) -> (String, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<char> = line.chars().collect();
    let n = chars.len();
    let rest_from = |i: usize| chars[i..].iter().collect::<String>();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut i = 0;
    loop {
        let at_end = i >= n;
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            let ch = chars[i];
            if ch.is_whitespace() {
                i += 1;
                continue;
            }
            if ch != '-' || i + 1 == n || chars[i + 1] != '-' {
                return (rest_from(i), words);
            }
            phase = Phase::Word;
        }
        if at_end {
            if word != "--" && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            break;
        }
        let mut ch = chars[i];
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if word == "--" {
                    return (rest_from(i), words);
                }
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                word.clear();
                blank_ok = false;
                i += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                i += 1;
                continue;
            }
            if ch == escape {
                if i + 1 == n {
                    i += 1;
                    continue;
                }
                i += 1;
                ch = chars[i];
            }
            word.push(ch);
            i += 1;
            continue;
        }
        // Phase::Quote
        if ch == quote {
            phase = Phase::Word;
            i += 1;
            continue;
        }
        if ch == escape {
            if i + 1 == n {
                phase = Phase::Word;
                i += 1;
                continue;
            }
            i += 1;
            ch = chars[i];
        }
        word.push(ch);
        i += 1;
    }
    (String::new(), words)
}

/// `Ok(Some(..))` for a JSON array of strings, `Ok(None)` when the text is
/// not a JSON array (shell form), an error for an array of non-strings.
pub(crate) fn parse_json_array(rest: &str) -> Result<Option<Vec<String>>, String> {
    let t = rest.trim_start();
    if !t.starts_with('[') {
        return Ok(None);
    }
    let Ok(values) = serde_json::from_str::<Vec<serde_json::Value>>(t) else {
        return Ok(None);
    };
    values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            _ => {
                Err("when using JSON array syntax, arrays must be comprised of strings only".into())
            }
        })
        .collect::<Result<Vec<_>, String>>()
        .map(Some)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlagKind {
    Bool,
    Str,
    Strs,
}

#[derive(Debug, Default)]
pub(crate) struct Flags {
    values: Vec<(&'static str, Vec<String>)>,
}

impl Flags {
    /// Check the flags of an instruction against the ones it accepts.
    pub(crate) fn parse(
        raw: &[String],
        spec: &[(&'static str, FlagKind)],
    ) -> Result<Flags, String> {
        let mut flags = Flags::default();
        for arg in raw {
            let Some(a) = arg.strip_prefix("--") else {
                return Err(format!("Arg should start with -- : {arg}"));
            };
            if a.is_empty() {
                break;
            }
            let (name, value) = match a.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (a, None),
            };
            let Some(&(name, kind)) = spec.iter().find(|(n, _)| *n == name) else {
                return Err(format!("Unknown flag: {name}"));
            };
            let seen = flags.values.iter().position(|(n, _)| *n == name);
            if seen.is_some() && kind != FlagKind::Strs {
                return Err(format!("Duplicate flag specified: {name}"));
            }
            let value = match kind {
                FlagKind::Bool => match value {
                    None => "true".to_string(),
                    Some("") => return Err(format!("Missing a value on flag: {name}")),
                    Some(v) => {
                        let lower = v.to_lowercase();
                        if lower != "true" && lower != "false" {
                            return Err(format!(
                                "Expecting boolean value for flag {name}, not: {v}"
                            ));
                        }
                        lower
                    }
                },
                FlagKind::Str | FlagKind::Strs => match value {
                    None => return Err(format!("Missing a value on flag: {name}")),
                    Some(v) => v.to_string(),
                },
            };
            match seen {
                Some(i) => flags.values[i].1.push(value),
                None => flags.values.push((name, vec![value])),
            }
        }
        Ok(flags)
    }

    pub(crate) fn string(&self, name: &str) -> Option<String> {
        self.strings(name).last().cloned()
    }

    pub(crate) fn strings(&self, name: &str) -> &[String] {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[])
    }

    pub(crate) fn bool(&self, name: &str) -> Option<bool> {
        self.string(name).map(|v| v == "true")
    }
}

/// Go's `strconv.ParseBool`.
pub(crate) fn go_parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Parse a duration in Go's syntax (`1h30m`, `1.5s`, `300ms`, `0`), as
/// HEALTHCHECK flags take them. Negative durations are refused.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let nanos = go_duration_nanos(s)?;
    if nanos < 0 {
        return Err(format!("time: negative duration {s:?}"));
    }
    Ok(Duration::from_nanos(nanos as u64))
}

/// Go's `time.ParseDuration`, in nanoseconds.
pub(crate) fn go_duration_nanos(orig: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {orig:?}");
    let mut s = orig;
    let mut neg = false;
    if let Some(r) = s.strip_prefix('-') {
        neg = true;
        s = r;
    } else if let Some(r) = s.strip_prefix('+') {
        s = r;
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        let b = s.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return Err(invalid());
        }
        // integer part
        let int_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let mut v: u64 = 0;
        for &d in &b[..int_len] {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(d - b'0')))
                .filter(|&v| v <= 1 << 63)
                .ok_or_else(invalid)?;
        }
        let mut rest = &s[int_len..];
        // fraction
        let mut frac: u64 = 0;
        let mut scale: f64 = 1.0;
        let mut post = false;
        if let Some(r) = rest.strip_prefix('.') {
            let fl = r.bytes().take_while(|c| c.is_ascii_digit()).count();
            post = fl > 0;
            let mut overflow = false;
            for &d in &r.as_bytes()[..fl] {
                if overflow {
                    continue;
                }
                match frac
                    .checked_mul(10)
                    .and_then(|f| f.checked_add(u64::from(d - b'0')))
                {
                    Some(f) if f < 1 << 62 => {
                        frac = f;
                        scale *= 10.0;
                    }
                    _ => overflow = true,
                }
            }
            rest = &r[fl..];
        }
        if int_len == 0 && !post {
            return Err(invalid());
        }
        let unit_len = rest
            .char_indices()
            .find(|&(_, c)| c == '.' || c.is_ascii_digit())
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration {orig:?}"));
        }
        let unit_str = &rest[..unit_len];
        let unit: u64 = match unit_str {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit {unit_str:?} in duration {orig:?}"
                ))
            }
        };
        s = &rest[unit_len..];
        let mut part = v
            .checked_mul(unit)
            .filter(|&p| p <= 1 << 63)
            .ok_or_else(invalid)?;
        if frac > 0 {
            part = part
                .checked_add((frac as f64 * (unit as f64 / scale)) as u64)
                .filter(|&p| p <= 1 << 63)
                .ok_or_else(invalid)?;
        }
        total = total
            .checked_add(part)
            .filter(|&t| t <= 1 << 63)
            .ok_or_else(invalid)?;
    }
    if neg {
        return Ok((total as i128).wrapping_neg() as i64);
    }
    if total > i64::MAX as u64 {
        return Err(invalid());
    }
    Ok(total as i64)
}

/// Shell patterns of `${v#pat}`, `${v%pat}` and `${v/pat/repl}`: `*`, `?`
/// and `\` escapes (no bracket expressions), as Docker supports them.
pub(crate) mod glob {
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Tok {
        Lit(char),
        Any,
        Star,
    }

    pub(crate) fn parse(pattern: &str) -> Result<Vec<Tok>, String> {
        let mut toks = Vec::new();
        let mut it = pattern.chars().peekable();
        while let Some(c) = it.next() {
            match c {
                '*' => toks.push(Tok::Star),
                '?' => toks.push(Tok::Any),
                '\\' => match it.peek() {
                    // `}` and `/` are escaped inside `${}`; the escape is not part of the pattern.
                    Some('}' | '/') => {}
                    Some(&n @ ('*' | '?' | '\\')) => {
                        it.next();
                        toks.push(Tok::Lit(n));
                    }
                    Some(&n) => return Err(format!("invalid escape '\\{n}'")),
                    None => return Err("invalid escape '\\'".into()),
                },
                c => toks.push(Tok::Lit(c)),
            }
        }
        Ok(toks)
    }

    fn matches(t: Tok, c: char) -> bool {
        match t {
            Tok::Lit(l) => l == c,
            // Like Go's regexp `.`, wildcards do not match a newline.
            Tok::Any | Tok::Star => c != '\n',
        }
    }

    /// Add state `i` and what it reaches without input (past stars) to `set`,
    /// remembering the earliest start for each state.
    fn add(toks: &[Tok], set: &mut [Option<usize>], mut i: usize, start: usize) {
        loop {
            match set[i] {
                Some(s) if s <= start => return,
                _ => set[i] = Some(start),
            }
            if i < toks.len() && toks[i] == Tok::Star {
                i += 1;
            } else {
                return;
            }
        }
    }

    fn step(toks: &[Tok], cur: &[Option<usize>], c: char) -> Vec<Option<usize>> {
        let mut next = vec![None; toks.len() + 1];
        for (i, s) in cur.iter().enumerate() {
            let Some(start) = *s else { continue };
            if i == toks.len() || !matches(toks[i], c) {
                continue;
            }
            let to = if toks[i] == Tok::Star { i } else { i + 1 };
            add(toks, &mut next, to, start);
        }
        next
    }

    /// The lengths of the prefixes of `text` the whole pattern matches.
    fn prefix_matches(toks: &[Tok], text: &[char]) -> Vec<usize> {
        let mut cur = vec![None; toks.len() + 1];
        add(toks, &mut cur, 0, 0);
        let mut ends = Vec::new();
        for pos in 0..=text.len() {
            if cur[toks.len()].is_some() {
                ends.push(pos);
            }
            if pos == text.len() || cur.iter().all(Option::is_none) {
                break;
            }
            cur = step(toks, &cur, text[pos]);
        }
        ends
    }

    pub(crate) fn trim_prefix(toks: &[Tok], value: &str, greedy: bool) -> String {
        let text: Vec<char> = value.chars().collect();
        let ends = prefix_matches(toks, &text);
        let cut = if greedy { ends.last() } else { ends.first() };
        match cut {
            Some(&n) => text[n..].iter().collect(),
            None => value.to_string(),
        }
    }

    pub(crate) fn trim_suffix(toks: &[Tok], value: &str, greedy: bool) -> String {
        let rtoks: Vec<Tok> = toks.iter().rev().copied().collect();
        let rtext: Vec<char> = value.chars().rev().collect();
        let ends = prefix_matches(&rtoks, &rtext);
        let cut = if greedy { ends.last() } else { ends.first() };
        match cut {
            Some(&n) => rtext[n..].iter().rev().collect(),
            None => value.to_string(),
        }
    }

    /// The leftmost match at or after `from`, longest at that start.
    fn find(toks: &[Tok], text: &[char], from: usize) -> Option<(usize, usize)> {
        let mut cur: Vec<Option<usize>> = vec![None; toks.len() + 1];
        let mut best: Option<(usize, usize)> = None;
        for pos in from..=text.len() {
            if best.is_none() {
                add(toks, &mut cur, 0, pos);
            }
            if let Some(s) = cur[toks.len()] {
                match best {
                    Some((bs, _)) if s > bs => {}
                    _ => best = Some((s, pos)),
                }
            }
            if let Some((bs, _)) = best {
                for st in cur.iter_mut() {
                    if matches!(*st, Some(s) if s > bs) {
                        *st = None;
                    }
                }
                if cur.iter().all(Option::is_none) {
                    break;
                }
            }
            if pos == text.len() {
                break;
            }
            cur = step(toks, &cur, text[pos]);
        }
        best
    }

    pub(crate) fn replace(toks: &[Tok], value: &str, replacement: &str, all: bool) -> String {
        let text: Vec<char> = value.chars().collect();
        let mut out = String::new();
        let mut pos = 0;
        while pos <= text.len() {
            let Some((s, e)) = find(toks, &text, pos) else {
                break;
            };
            out.extend(&text[pos..s]);
            out.push_str(replacement);
            if e > s {
                pos = e;
            } else {
                // An empty match: keep the next character and go on after it.
                if let Some(&c) = text.get(s) {
                    out.push(c);
                }
                pos = s + 1;
            }
            if !all {
                break;
            }
        }
        if pos < text.len() {
            out.extend(&text[pos..]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_quotes_and_escapes() {
        assert_eq!(
            parse_words(r#"a=1 b="x y" c='q r' d=e\ f"#, '\\'),
            vec!["a=1", "b=\"x y\"", "c='q r'", r"d=e\ f"]
        );
        assert_eq!(parse_words(r#"a="" b"#, '\\'), vec!["a=\"\"", "b"]);
        assert_eq!(parse_words("a=b\\", '\\'), vec!["a=b"]);
        assert_eq!(parse_words("a=`  b", '`'), vec!["a=` ", "b"]);
    }

    #[test]
    fn flags_are_extracted_with_quotes_removed() {
        let (rest, flags) = extract_flags(r#"--from=build --chown="a b" src dst"#, '\\');
        assert_eq!(rest, "src dst");
        assert_eq!(flags, vec!["--from=build", "--chown=a b"]);
        let (rest, flags) = extract_flags("-- --not-a-flag x", '\\');
        assert_eq!(rest, " --not-a-flag x");
        assert!(flags.is_empty());
        let (rest, flags) = extract_flags("--link", '\\');
        assert_eq!(flags, vec!["--link"]);
        assert_eq!(rest, "");
        let (_, flags) = extract_flags("--chown=a\\`b`\\c x", '`');
        assert_eq!(flags, vec!["--chown=a\\b\\c"]);
    }

    #[test]
    fn json_arrays() {
        assert_eq!(
            parse_json_array(r#"["a", "b"]"#).unwrap(),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(parse_json_array("[]").unwrap(), Some(vec![]));
        assert_eq!(parse_json_array("[a, b]").unwrap(), None);
        assert_eq!(parse_json_array("echo [").unwrap(), None);
        assert!(parse_json_array(r#"["a", 1]"#).is_err());
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration_nanos("0").unwrap(), 0);
        assert_eq!(go_duration_nanos("1h30m").unwrap(), 5_400_000_000_000);
        assert_eq!(go_duration_nanos("1.5s").unwrap(), 1_500_000_000);
        assert_eq!(go_duration_nanos(".5ms").unwrap(), 500_000);
        assert_eq!(go_duration_nanos("-2s").unwrap(), -2_000_000_000);
        assert_eq!(go_duration_nanos("10\u{b5}s").unwrap(), 10_000);
        assert_eq!(
            go_duration_nanos("10").unwrap_err(),
            "time: missing unit in duration \"10\""
        );
        assert_eq!(
            go_duration_nanos("10x").unwrap_err(),
            "time: unknown unit \"x\" in duration \"10x\""
        );
        assert_eq!(
            go_duration_nanos("abc").unwrap_err(),
            "time: invalid duration \"abc\""
        );
        assert!(go_duration_nanos("").is_err());
        assert!(go_duration_nanos(".s").is_err());
        assert!(go_duration_nanos("99999999999999999999h").is_err());
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn glob_patterns() {
        use glob::*;
        let p = |s| parse(s).unwrap();
        assert_eq!(trim_prefix(&p("*/"), "a/b/c", false), "b/c");
        assert_eq!(trim_prefix(&p("*/"), "a/b/c", true), "c");
        assert_eq!(trim_suffix(&p("/*"), "a/b/c", false), "a/b");
        assert_eq!(trim_suffix(&p("/*"), "a/b/c", true), "a");
        assert_eq!(trim_prefix(&p("x"), "abc", false), "abc");
        assert_eq!(trim_suffix(&p(".tar.?z"), "f.tar.gz", false), "f");
        assert_eq!(replace(&p("o"), "foo", "0", false), "f0o");
        assert_eq!(replace(&p("o"), "foo", "0", true), "f00");
        assert_eq!(replace(&p("b*"), "abcabc", "X", false), "aX");
        assert_eq!(replace(&p("\\*"), "a*b", "-", true), "a-b");
        assert!(parse("\\x").is_err());
    }
}
