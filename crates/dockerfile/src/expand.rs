//! Variable expansion and quote removal, by the rules of Docker's shell lexer.

/// Expands one word: `$v ${v} ${v:-w} ${v-w} ${v:+w} ${v+w} ${v:?msg} ${v?msg}` (and the
/// pattern forms `${v#p} ${v##p} ${v%p} ${v%%p}`); the escape character before any character
/// makes it literal; single quotes are literal; double quotes expand. Quotes are removed.
/// Unset variables expand to nothing.
pub fn expand(
    word: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    escape: char,
) -> Result<String, String> {
    let chars: Vec<char> = word.chars().collect();
    let mut lx = Lexer {
        s: &chars,
        i: 0,
        escape,
        lookup,
    };
    lx.word(&[])
}

struct Lexer<'a> {
    s: &'a [char],
    i: usize,
    escape: char,
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    /// Reads until the end or one of `stop` (not consumed) outside quotes.
    fn word(&mut self, stop: &[char]) -> Result<String, String> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if stop.contains(&c) {
                break;
            }
            self.i += 1;
            if c == self.escape {
                match self.peek() {
                    Some(n) => {
                        self.i += 1;
                        out.push(n);
                    }
                    None => out.push(c),
                }
            } else if c == '\'' {
                out.push_str(&self.single()?);
            } else if c == '"' {
                out.push_str(&self.double()?);
            } else if c == '$' {
                out.push_str(&self.dollar()?);
            } else {
                out.push(c);
            }
        }
        Ok(out)
    }

    fn single(&mut self) -> Result<String, String> {
        let mut out = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    )
                }
                Some('\'') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(c) => {
                    self.i += 1;
                    out.push(c);
                }
            }
        }
    }

    fn double(&mut self) -> Result<String, String> {
        let mut out = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    )
                }
                Some('"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some('$') => {
                    self.i += 1;
                    out.push_str(&self.dollar()?);
                }
                Some(c) if c == self.escape => {
                    self.i += 1;
                    match self.peek() {
                        Some(n) if n == '"' || n == '$' || n == self.escape => {
                            self.i += 1;
                            out.push(n);
                        }
                        _ => out.push(c),
                    }
                }
                Some(c) => {
                    self.i += 1;
                    out.push(c);
                }
            }
        }
    }

    fn name(&mut self) -> String {
        let mut n = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                n.push(c);
                self.i += 1;
            } else {
                break;
            }
        }
        n
    }

    /// After a `$`.
    fn dollar(&mut self) -> Result<String, String> {
        match self.peek() {
            Some('{') => {
                self.i += 1;
                self.braced()
            }
            Some(c) if c.is_ascii_alphanumeric() || c == '_' => {
                let n = self.name();
                Ok((self.lookup)(&n).unwrap_or_default())
            }
            _ => Ok("$".into()),
        }
    }

    fn braced(&mut self) -> Result<String, String> {
        let name = self.name();
        if name.is_empty() {
            return Err(match self.peek() {
                None => "missing '}'".into(),
                Some(c) => format!("bad substitution: unexpected character {c:?} in variable name"),
            });
        }
        let value = (self.lookup)(&name);
        let Some(c) = self.peek() else {
            return Err("missing '}'".into());
        };
        self.i += 1;
        if c == '}' {
            return Ok(value.unwrap_or_default());
        }
        let colon = c == ':';
        let op = if colon {
            let o = self.peek().ok_or("missing '}'")?;
            self.i += 1;
            o
        } else {
            c
        };
        let set = value.as_deref().is_some_and(|v| !colon || !v.is_empty());
        match op {
            '-' | '+' | '?' | '=' => {
                let word = self.word(&['}'])?;
                if self.peek() != Some('}') {
                    return Err("missing '}'".into());
                }
                self.i += 1;
                match op {
                    '-' => Ok(if set { value.unwrap_or_default() } else { word }),
                    '+' => Ok(if set { word } else { String::new() }),
                    '?' => {
                        if set {
                            Ok(value.unwrap_or_default())
                        } else if word.is_empty() {
                            Err(format!("{name}: is not allowed to be unset"))
                        } else {
                            Err(format!("{name}: {word}"))
                        }
                    }
                    _ => Err(format!("unsupported modifier ({op}) in substitution")),
                }
            }
            '#' | '%' if !colon => {
                let longest = self.peek() == Some(op);
                if longest {
                    self.i += 1;
                }
                let pat = self.word(&['}'])?;
                if self.peek() != Some('}') {
                    return Err("missing '}'".into());
                }
                self.i += 1;
                let v = value.unwrap_or_default();
                Ok(trim_pattern(&v, &pat, op == '#', longest))
            }
            other => Err(format!("unsupported modifier ({other}) in substitution")),
        }
    }
}

/// `${v#p}`-style removal of the shortest/longest prefix or suffix matching the glob `p`.
fn trim_pattern(v: &str, pat: &str, prefix: bool, longest: bool) -> String {
    let idx: Vec<usize> = v
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(v.len()))
        .collect();
    let candidates: Box<dyn Iterator<Item = &usize>> = if prefix == longest {
        Box::new(idx.iter().rev())
    } else {
        Box::new(idx.iter())
    };
    for &i in candidates {
        let (part, rest) = if prefix {
            (&v[..i], &v[i..])
        } else {
            (&v[i..], &v[..i])
        };
        if crate::ignore::glob_match_any(pat, part) {
            return rest.to_string();
        }
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::expand;
    use std::collections::HashMap;

    fn x(word: &str) -> Result<String, String> {
        let env: HashMap<&str, &str> =
            [("a", "bye"), ("e", ""), ("p", "/usr/local/bin"), ("n", "1")].into();
        expand(word, &|k| env.get(k).map(|s| s.to_string()), '\\')
    }

    #[test]
    fn plain_and_braced() {
        assert_eq!(x("$a").unwrap(), "bye");
        assert_eq!(x("${a}x").unwrap(), "byex");
        assert_eq!(x("$ax").unwrap(), "");
        assert_eq!(x("$unset-").unwrap(), "-");
        assert_eq!(x("a$").unwrap(), "a$");
        assert_eq!(x("$n$a").unwrap(), "1bye");
    }

    #[test]
    fn modifiers() {
        assert_eq!(x("${unset:-w}").unwrap(), "w");
        assert_eq!(x("${e:-w}").unwrap(), "w");
        assert_eq!(x("${e-w}").unwrap(), "");
        assert_eq!(x("${unset-w}").unwrap(), "w");
        assert_eq!(x("${a:+w}").unwrap(), "w");
        assert_eq!(x("${e:+w}").unwrap(), "");
        assert_eq!(x("${e+w}").unwrap(), "w");
        assert_eq!(x("${unset+w}").unwrap(), "");
        assert_eq!(x("${unset:-$a}").unwrap(), "bye");
        assert_eq!(x("${unset:-${a}-x}").unwrap(), "bye-x");
        assert_eq!(x("${a:?boom}").unwrap(), "bye");
        assert_eq!(x("${unset:?boom}").unwrap_err(), "unset: boom");
        assert!(x("${a").is_err());
        assert!(x("${a:!x}")
            .unwrap_err()
            .contains("unsupported modifier (!)"));
        assert!(x("${}").is_err());
    }

    #[test]
    fn patterns() {
        assert_eq!(x("${p#*/}").unwrap(), "usr/local/bin");
        assert_eq!(x("${p##*/}").unwrap(), "bin");
        assert_eq!(x("${p%/*}").unwrap(), "/usr/local");
        assert_eq!(x("${p%%/l*}").unwrap(), "/usr");
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(x("'$a'").unwrap(), "$a");
        assert_eq!(x("\"$a b\"").unwrap(), "bye b");
        assert_eq!(x("\\$a").unwrap(), "$a");
        assert_eq!(x("\"\\$a\"").unwrap(), "$a");
        assert_eq!(x("\"a\\nb\"").unwrap(), "a\\nb");
        assert_eq!(x("a\\ b").unwrap(), "a b");
        assert!(x("'abc").unwrap_err().contains("single-quote"));
        assert!(x("\"abc").unwrap_err().contains("double-quote"));
        assert_eq!(
            expand("`$a", &|_| Some("v".into()), '`').unwrap(),
            "$a",
            "the escape directive's character escapes"
        );
    }
}
