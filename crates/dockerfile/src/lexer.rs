//! Word processing as Docker's shell lexer does it: variable substitution,
//! quote removal, escapes and word splitting.

use crate::util::glob;

const MISSING_BRACE: &str = "syntax error: missing '}'";
/// Bound on `${a:-${b:-...}}` nesting, so hostile input cannot exhaust the stack.
const MAX_DEPTH: usize = 64;

/// Expand one word by Docker's rules: `$v`, `${v}`, `${v:-w}`, `${v-w}`,
/// `${v:+w}`, `${v+w}`, `${v:?msg}`, `${v?msg}`, `${v#pat}`, `${v##pat}`,
/// `${v%pat}`, `${v%%pat}`, `${v/pat/repl}` and `${v//pat/repl}`; unset
/// variables expand to nothing; the escape character makes the next
/// character literal (`\$v` gives `$v`); single quotes are literal; double
/// quotes group and still expand; quotes are removed.
pub fn expand(
    word: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    escape: char,
) -> Result<String, String> {
    let mut lx = Lexer::new(word, escape, lookup);
    lx.run()
        .map(|(result, _)| result)
        .map_err(|e| format!("failed to process {word:?}: {e}"))
}

/// Like [`expand`], but splits the result into words at unquoted whitespace,
/// including whitespace that comes from a variable's value (as Docker does
/// for EXPOSE).
pub fn expand_words(
    word: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    escape: char,
) -> Result<Vec<String>, String> {
    let mut lx = Lexer::new(word, escape, lookup);
    lx.run()
        .map(|(_, words)| words)
        .map_err(|e| format!("failed to process {word:?}: {e}"))
}

/// Expand the body of a COPY/ADD heredoc whose delimiter was not quoted, as
/// Docker does: variables are substituted, quotes are kept as they are, and
/// `\` escapes the next character.
pub fn expand_heredoc(
    content: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut lx = Lexer::new(content, '\\', lookup);
    lx.skip_quotes = true;
    lx.run()
        .map(|(result, _)| result)
        .map_err(|e| format!("failed to process {content:?}: {e}"))
}

fn no_vars(_: &str) -> Option<String> {
    None
}

/// Split an instruction line into words the way Docker looks for heredocs:
/// quotes and escapes kept, variables left as written. `None` if the line
/// does not lex.
pub(crate) fn heredoc_scan_words(line: &str) -> Option<Vec<String>> {
    let mut lx = Lexer::new(line, '\\', &no_vars);
    lx.raw_quotes = true;
    lx.raw_escapes = true;
    lx.skip_unset = true;
    lx.run().ok().map(|(_, words)| words)
}

/// Process a heredoc delimiter word: its name with quotes removed, and
/// whether any part of it was quoted. `Ok(None)` if it is not one word.
pub(crate) fn heredoc_delimiter(word: &str) -> Result<Option<(String, bool)>, String> {
    let mut lx = Lexer::new(word, '\\', &no_vars);
    lx.skip_unset = true;
    let (_, words) = lx.run()?;
    if words.len() != 1 {
        return Ok(None);
    }
    let mut lx = Lexer::new(word, '\\', &no_vars);
    lx.skip_unset = true;
    lx.raw_quotes = true;
    let (_, raw) = lx.run()?;
    if raw.len() != 1 {
        return Ok(None);
    }
    let quotes = |s: &str| s.chars().filter(|&c| c == '\'' || c == '"').count();
    let quoted = quotes(&words[0]) != quotes(&raw[0]);
    Ok(Some((words[0].clone(), quoted)))
}

#[derive(Default)]
struct Words {
    words: Vec<String>,
    word: String,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }

    fn add_raw_char(&mut self, ch: char) {
        self.word.push(ch);
        self.in_word = true;
    }

    fn add_string(&mut self, s: &str) {
        for ch in s.chars() {
            self.add_char(ch);
        }
    }

    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    /// Keep quote characters in the result.
    raw_quotes: bool,
    /// Keep escape characters in the result.
    raw_escapes: bool,
    /// Treat quotes as ordinary characters.
    skip_quotes: bool,
    /// Leave references to unset variables as written.
    skip_unset: bool,
    depth: usize,
}

impl<'a> Lexer<'a> {
    fn new(word: &str, escape: char, lookup: &'a dyn Fn(&str) -> Option<String>) -> Lexer<'a> {
        Lexer {
            chars: word.chars().collect(),
            pos: 0,
            escape,
            lookup,
            raw_quotes: false,
            raw_escapes: false,
            skip_quotes: false,
            skip_unset: false,
            depth: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn run(&mut self) -> Result<(String, Vec<String>), String> {
        let raw = self.raw_escapes;
        self.stop_on(None, raw)
    }

    /// Process up to `stop` (consumed) or the end of input.
    fn stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), String> {
        if self.depth >= MAX_DEPTH {
            return Err("syntax error: substitutions nested too deeply".into());
        }
        self.depth += 1;
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let r = self.stop_on_inner(stop);
        self.raw_escapes = saved;
        self.depth -= 1;
        r
    }

    fn stop_on_inner(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), String> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.pos += 1;
                return Ok((result, words.finish()));
            }
            if ch == '$' {
                let s = self.dollar()?;
                result.push_str(&s);
                words.add_string(&s);
                continue;
            }
            if !self.skip_quotes && (ch == '\'' || ch == '"') {
                let s = if ch == '\'' {
                    self.single_quote()?
                } else {
                    self.double_quote()?
                };
                result.push_str(&s);
                words.add_raw_string(&s);
                continue;
            }
            if ch == '<' {
                let s = self.possible_heredoc();
                result.push_str(&s);
                words.add_raw_string(&s);
                continue;
            }
            self.pos += 1;
            if ch == self.escape {
                if self.raw_escapes {
                    words.add_raw_char(ch);
                    result.push(ch);
                }
                match self.next() {
                    Some(c) => {
                        words.add_raw_char(c);
                        result.push(c);
                    }
                    None => break,
                }
            } else {
                words.add_char(ch);
                result.push(ch);
            }
        }
        if let Some(stop) = stop {
            return Err(format!(
                "unexpected end of statement while looking for matching {stop}"
            ));
        }
        Ok((result, words.finish()))
    }

    /// `<<` and the blanks after it stay in one word with what follows, so
    /// that `<< EOF` is one heredoc marker.
    fn possible_heredoc(&mut self) -> String {
        self.pos += 1;
        if self.peek() != Some('<') {
            return "<".into();
        }
        self.pos += 1;
        let mut s = String::from("<<");
        while let Some(c) = self.peek() {
            if !matches!(c, ' ' | '\t' | '\r') {
                break;
            }
            s.push(c);
            self.pos += 1;
        }
        s
    }

    fn single_quote(&mut self) -> Result<String, String> {
        let mut result = String::new();
        self.pos += 1;
        if self.raw_quotes {
            result.push('\'');
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    )
                }
                Some('\'') => {
                    if self.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    fn double_quote(&mut self) -> Result<String, String> {
        let mut result = String::new();
        self.pos += 1;
        if self.raw_quotes {
            result.push('"');
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    )
                }
                Some('"') => {
                    self.pos += 1;
                    if self.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let v = self.dollar()?;
                    result.push_str(&v);
                }
                Some(mut ch) => {
                    self.pos += 1;
                    if ch == self.escape {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            // An escape at the very end: dropped (the missing quote is reported next).
                            None => continue,
                            Some(c) if c == '"' || c == '$' || c == self.escape => {
                                self.pos += 1;
                                ch = c;
                            }
                            // Other escapes are kept as written inside double quotes.
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    fn lookup(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    fn dollar(&mut self) -> Result<String, String> {
        self.pos += 1; // the '$'
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.lookup(&name) {
                Some(v) => v,
                None if self.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.pos += 1; // the '{'
        match self.peek() {
            None => return Err(MISSING_BRACE.into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            Some(_) => {}
        }
        let name = self.name();
        let Some(ch) = self.next() else {
            return Err(MISSING_BRACE.into());
        };
        match ch {
            '}' => Ok(match self.lookup(&name) {
                Some(v) => v,
                None if self.skip_unset => format!("${{{name}}}"),
                None => String::new(),
            }),
            ':' | '+' | '-' | '?' | '#' | '%' => {
                let mut op = ch;
                let mut modifier = ch.to_string();
                let null_is_unset = ch == ':';
                if null_is_unset {
                    let Some(c) = self.next() else {
                        return Err(MISSING_BRACE.into());
                    };
                    op = c;
                    modifier.push(c);
                    if op == '#' || op == '%' {
                        return Err(format!("unsupported modifier ({modifier}) in substitution"));
                    }
                }
                let word = match self.stop_on(Some('}'), op == '#' || op == '%') {
                    Ok((w, _)) => w,
                    Err(e) => {
                        return Err(if self.peek().is_none() {
                            MISSING_BRACE.into()
                        } else {
                            e
                        })
                    }
                };
                let value = self.lookup(&name);
                if self.skip_unset && value.is_none() {
                    return Ok(format!("${{{name}{modifier}{word}}}"));
                }
                let set = value.is_some();
                let value = value.unwrap_or_default();
                let null = !set || (null_is_unset && value.is_empty());
                match op {
                    '-' => Ok(if null { word } else { value }),
                    '+' => Ok(if null { String::new() } else { word }),
                    '?' => {
                        if !set {
                            let msg = if word.is_empty() {
                                "is not allowed to be unset"
                            } else {
                                &word
                            };
                            Err(format!("{name}: {msg}"))
                        } else if null {
                            let msg = if word.is_empty() {
                                "is not allowed to be empty"
                            } else {
                                &word
                            };
                            Err(format!("{name}: {msg}"))
                        } else {
                            Ok(value)
                        }
                    }
                    '#' | '%' => {
                        let (greedy, pattern) = match word.strip_prefix(op) {
                            Some(rest) => (true, rest),
                            None => (false, word.as_str()),
                        };
                        let toks = glob::parse(pattern).map_err(|e| {
                            format!("invalid pattern ({pattern}) in substitution: {e}")
                        })?;
                        Ok(if op == '#' {
                            glob::trim_prefix(&toks, &value, greedy)
                        } else {
                            glob::trim_suffix(&toks, &value, greedy)
                        })
                    }
                    _ => Err(format!("unsupported modifier ({modifier}) in substitution")),
                }
            }
            '/' => {
                let replace_all = self.peek() == Some('/');
                if replace_all {
                    self.pos += 1;
                }
                let pattern = match self.stop_on(Some('/'), true) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        return Err(if self.peek().is_none() {
                            "syntax error: missing '/' in ${}".into()
                        } else {
                            e
                        })
                    }
                };
                let replacement = match self.stop_on(Some('}'), true) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        return Err(if self.peek().is_none() {
                            MISSING_BRACE.into()
                        } else {
                            e
                        })
                    }
                };
                let value = self.lookup(&name);
                if self.skip_unset && value.is_none() {
                    return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
                }
                let value = value.unwrap_or_default();
                let toks = glob::parse(&pattern)
                    .map_err(|e| format!("invalid pattern ({pattern}) in substitution: {e}"))?;
                Ok(glob::replace(&toks, &value, &replacement, replace_all))
            }
            _ => Err(format!("unsupported modifier ({ch}) in substitution")),
        }
    }

    /// A variable name: letters, digits and `_`; or all the digits of a
    /// positional parameter; or one special parameter character.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && is_digit(ch) {
                while let Some(d) = self.peek() {
                    if !is_digit(d) {
                        break;
                    }
                    name.push(d);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.pos += 1;
                return ch.to_string();
            }
            if !(ch.is_alphabetic() || is_digit(ch) || ch == '_') {
                break;
            }
            name.push(ch);
            self.pos += 1;
        }
        name
    }
}

fn is_digit(c: char) -> bool {
    c.is_ascii_digit() || (!c.is_ascii() && c.is_numeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heredoc_scan_keeps_quotes_and_joins_blank_after_marker() {
        let w = heredoc_scan_words(r#"RUN cat << "EOF" > $out"#).unwrap();
        assert_eq!(w, vec!["RUN", "cat", "<< \"EOF\"", ">", "$out"]);
    }

    #[test]
    fn heredoc_delimiter_quoting() {
        assert_eq!(
            heredoc_delimiter("eof").unwrap(),
            Some(("eof".into(), false))
        );
        assert_eq!(
            heredoc_delimiter(r"eo\'f").unwrap(),
            Some(("eo'f".into(), false))
        );
        assert_eq!(
            heredoc_delimiter("eo'f'").unwrap(),
            Some(("eof".into(), true))
        );
        assert_eq!(
            heredoc_delimiter(r"'e'o\'f").unwrap(),
            Some(("eo'f".into(), true))
        );
        assert_eq!(
            heredoc_delimiter("'one two'").unwrap(),
            Some(("one two".into(), true))
        );
        assert_eq!(heredoc_delimiter("one two").unwrap(), None);
        assert_eq!(
            heredoc_delimiter("$EOF").unwrap(),
            Some(("$EOF".into(), false))
        );
    }
}
