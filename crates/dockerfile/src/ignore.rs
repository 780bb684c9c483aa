//! `.dockerignore`: which files of a build context the build may see.
//!
//! The rules are Docker's: one pattern per line, `#` comments, surrounding whitespace trimmed,
//! patterns cleaned like Go's `filepath.Clean` and taken relative to the context root (a leading
//! `/` is dropped); `*` and `?` never cross a `/`, `[...]` is a character class, `\` escapes,
//! `**` matches any number of directories (also none); a pattern matches a path when it matches
//! the path itself or any of its parent directories; `!` re-includes; the last pattern that
//! matches decides.

/// One compiled pattern.
#[derive(Debug, Clone)]
struct Pattern {
    exclusion: bool,
    tokens: Vec<Tok>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(char),
    /// `?`: one character other than `/`.
    One,
    /// `*`: any run of characters without `/`.
    Star,
    /// `**/` (or `**` inside a pattern): any number of whole directories, also none.
    Dirs,
    /// `**` at the end: anything.
    All,
    Class {
        negated: bool,
        items: Vec<(char, char)>,
    },
}

/// The patterns of one `.dockerignore` file.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    patterns: Vec<Pattern>,
}

impl Matcher {
    /// Parses the file's content. Errors name the line and the pattern.
    pub fn parse(content: &str) -> Result<Matcher, String> {
        let mut patterns = Vec::new();
        for (i, line) in content.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exclusion, rest) = match line.strip_prefix('!') {
                Some(r) => (true, r.trim()),
                None => (false, line),
            };
            let cleaned = clean(rest);
            let cleaned = cleaned.trim_start_matches('/');
            if cleaned.is_empty() || cleaned == "." {
                // "/" or "." would exclude (or re-include) the whole context.
                if !exclusion {
                    patterns.push(Pattern {
                        exclusion,
                        tokens: vec![Tok::All],
                    });
                }
                continue;
            }
            let tokens = compile(cleaned)
                .map_err(|e| format!(".dockerignore line {}: {e}: {line:?}", i + 1))?;
            patterns.push(Pattern { exclusion, tokens });
        }
        Ok(Matcher { patterns })
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether the context path `rel` (relative, `/`-separated) is excluded.
    pub fn excluded(&self, rel: &str) -> bool {
        let rel = rel.trim_start_matches("./").trim_matches('/');
        if rel.is_empty() {
            return false;
        }
        let chars: Vec<char> = rel.chars().collect();
        let mut excluded = false;
        for p in &self.patterns {
            if p.matches_or_parent(&chars) {
                excluded = !p.exclusion;
            }
        }
        excluded
    }

    /// Whether an excluded directory may still hold re-included paths (so a walk must enter it).
    pub fn may_reinclude_below(&self, dir: &str) -> bool {
        let dir = dir.trim_matches('/');
        self.patterns.iter().any(|p| {
            p.exclusion && {
                // A `!` pattern can match below `dir` when its literal prefix does not rule it out.
                let prefix: String = p
                    .tokens
                    .iter()
                    .map_while(|t| match t {
                        Tok::Lit(c) => Some(*c),
                        _ => None,
                    })
                    .collect();
                let d = format!("{dir}/");
                prefix.starts_with(&d) || d.starts_with(&prefix)
            }
        })
    }
}

impl Pattern {
    fn matches_or_parent(&self, path: &[char]) -> bool {
        if match_tokens(&self.tokens, path) {
            return true;
        }
        // Every parent directory, shortest first.
        path.iter()
            .enumerate()
            .filter(|(_, c)| **c == '/')
            .any(|(i, _)| match_tokens(&self.tokens, &path[..i]))
    }
}

/// Go's `filepath.Clean` for `/`-separated paths.
fn clean(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

fn compile(p: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = p.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' if chars.get(i + 1) == Some(&'*') => {
                i += 2;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                out.push(if i >= chars.len() {
                    Tok::All
                } else {
                    Tok::Dirs
                });
                continue;
            }
            '*' => out.push(Tok::Star),
            '?' => out.push(Tok::One),
            '\\' => {
                i += 1;
                let c = *chars.get(i).ok_or("trailing backslash")?;
                out.push(Tok::Lit(c));
            }
            '[' => {
                let mut j = i + 1;
                let negated = matches!(chars.get(j), Some('^') | Some('!'));
                if negated {
                    j += 1;
                }
                let mut items = Vec::new();
                let mut first = true;
                loop {
                    let Some(&c) = chars.get(j) else {
                        return Err("unterminated character class".into());
                    };
                    if c == ']' && !first {
                        break;
                    }
                    first = false;
                    let lo = if c == '\\' {
                        j += 1;
                        *chars.get(j).ok_or("unterminated character class")?
                    } else {
                        c
                    };
                    j += 1;
                    if chars.get(j) == Some(&'-') && chars.get(j + 1).is_some_and(|c| *c != ']') {
                        let mut hi = chars[j + 1];
                        j += 2;
                        if hi == '\\' {
                            hi = *chars.get(j).ok_or("unterminated character class")?;
                            j += 1;
                        }
                        if hi < lo {
                            return Err("bad character range".into());
                        }
                        items.push((lo, hi));
                    } else {
                        items.push((lo, lo));
                    }
                }
                out.push(Tok::Class { negated, items });
                i = j;
            }
            c => out.push(Tok::Lit(c)),
        }
        i += 1;
    }
    Ok(out)
}

/// Go's `filepath.Match` of one path segment (no `/` in `name`); a bad pattern matches nothing.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let chars: Vec<char> = name.chars().collect();
    compile(pattern).is_ok_and(|t| match_tokens(&t, &chars))
}

/// Whether `s` holds a wildcard (`*`, `?`, `[`).
pub fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Backtracking match of the whole of `s`.
fn match_tokens(toks: &[Tok], s: &[char]) -> bool {
    let Some((first, rest)) = toks.split_first() else {
        return s.is_empty();
    };
    match first {
        Tok::Lit(c) => s.first() == Some(c) && match_tokens(rest, &s[1..]),
        Tok::One => s.first().is_some_and(|c| *c != '/') && match_tokens(rest, &s[1..]),
        Tok::Class { negated, items } => {
            s.first().is_some_and(|c| {
                *c != '/' && items.iter().any(|(lo, hi)| lo <= c && c <= hi) != *negated
            }) && match_tokens(rest, &s[1..])
        }
        Tok::Star => {
            let mut n = 0;
            loop {
                if match_tokens(rest, &s[n..]) {
                    return true;
                }
                if n >= s.len() || s[n] == '/' {
                    return false;
                }
                n += 1;
            }
        }
        Tok::All => true,
        Tok::Dirs => {
            // None, or any prefix that ends in '/'.
            if match_tokens(rest, s) {
                return true;
            }
            s.iter()
                .enumerate()
                .filter(|(_, c)| **c == '/')
                .any(|(i, _)| match_tokens(rest, &s[i + 1..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Matcher;

    fn m(s: &str) -> Matcher {
        Matcher::parse(s).unwrap()
    }

    #[test]
    fn plain_names_match_the_path_and_everything_below() {
        let x = m("node_modules\n# comment\n\n  target/  \n");
        assert!(x.excluded("node_modules"));
        assert!(x.excluded("node_modules/a/b.js"));
        assert!(x.excluded("target/debug/x"));
        assert!(!x.excluded("src/node_modules")); // relative to the root only
        assert!(!x.excluded("src/main.rs"));
    }

    #[test]
    fn stars_do_not_cross_directories_but_double_stars_do() {
        let x = m("*.log\n**/*.tmp\ndocs/**/draft*\n");
        assert!(x.excluded("a.log"));
        assert!(!x.excluded("sub/a.log"));
        assert!(x.excluded("a.tmp"));
        assert!(x.excluded("x/y/z.tmp"));
        assert!(x.excluded("docs/draft1"));
        assert!(x.excluded("docs/a/b/draft-2.md"));
        assert!(!x.excluded("docs/final.md"));
    }

    #[test]
    fn exceptions_reinclude_and_the_last_match_wins() {
        let x = m("*.md\n!README.md\nREADME*.md\n!README-keep.md\n");
        assert!(x.excluded("CHANGES.md"));
        assert!(x.excluded("README.md")); // re-excluded by the third line
        assert!(!x.excluded("README-keep.md"));
        let y = m("build\n!build/keep\n");
        assert!(y.excluded("build/other"));
        assert!(!y.excluded("build/keep"));
        assert!(!y.excluded("build/keep/inner")); // the exception matches a parent
        assert!(y.may_reinclude_below("build"));
        assert!(!y.may_reinclude_below("other"));
    }

    #[test]
    fn patterns_are_cleaned_and_rooted() {
        let x = m("/secret.txt\n./tmp/../cache\nfoo/./bar\n");
        assert!(x.excluded("secret.txt"));
        assert!(x.excluded("cache/x"));
        assert!(x.excluded("foo/bar"));
        assert!(!x.excluded("tmp"));
    }

    #[test]
    fn classes_question_marks_and_escapes() {
        let x = m("file[0-9].txt\n?.c\n\\*literal\n[!a]x\n");
        assert!(x.excluded("file7.txt"));
        assert!(!x.excluded("filex.txt"));
        assert!(x.excluded("a.c"));
        assert!(!x.excluded("ab.c"));
        assert!(x.excluded("*literal"));
        assert!(!x.excluded("xliteral"));
        assert!(x.excluded("bx"));
        assert!(!x.excluded("ax"));
        assert!(Matcher::parse("[abc").is_err());
    }

    #[test]
    fn everything_but() {
        let x = m("*\n!src\n!Cargo.toml\n");
        assert!(x.excluded("target"));
        assert!(!x.excluded("src/lib.rs"));
        assert!(!x.excluded("Cargo.toml"));
    }
}
