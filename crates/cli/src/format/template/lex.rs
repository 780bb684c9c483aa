//! Splits a template into text and actions, and actions into tokens, following Go's
//! text/template lexer (trim markers `{{- ` / ` -}}`, comments, quoted and raw strings).

use super::TemplateError;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// `.Field.Chain` (a single `.` is [`Tok::Dot`]).
    Field(Vec<String>),
    /// `$name.Field.Chain`; `$` alone has an empty name.
    Variable(String, Vec<String>),
    /// Field chain applied to the preceding parenthesised pipeline: `(...).A.B`.
    ChainFields(Vec<String>),
    Dot,
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Char(char),
    Bool(bool),
    Nil,
    Pipe,
    LParen,
    RParen,
    Comma,
    Declare,
    Assign,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    /// Byte offset in the template source.
    pub pos: usize,
}

/// One piece of the template: literal text or the tokens of one `{{ }}` action.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Text(String),
    Action { tokens: Vec<Token>, pos: usize },
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Line number (1-based) of byte offset `pos`.
pub fn line_of(src: &str, pos: usize) -> usize {
    1 + src.as_bytes()[..pos.min(src.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

pub fn err_at(src: &str, pos: usize, msg: impl std::fmt::Display) -> TemplateError {
    TemplateError(format!("template: :{}: {msg}", line_of(src, pos)))
}

/// Splits `src` into pieces.
pub fn lex(src: &str) -> Result<Vec<Piece>, TemplateError> {
    let bytes = src.as_bytes();
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut i = 0;
    let mut trim_next_text = false;
    while i < bytes.len() {
        let Some(rel) = src[i..].find("{{") else {
            push_text(&mut text, &src[i..], &mut trim_next_text);
            break;
        };
        push_text(&mut text, &src[i..i + rel], &mut trim_next_text);
        let start = i + rel;
        let mut p = start + 2;
        // Left trim marker: "{{- " (the dash must be followed by a space).
        if bytes.get(p) == Some(&b'-') && bytes.get(p + 1).is_some_and(|&c| is_space(c)) {
            let trimmed = text.trim_end_matches([' ', '\t', '\r', '\n']).len();
            text.truncate(trimmed);
            p += 2;
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(std::mem::take(&mut text)));
        }
        // Comments: {{/* ... */}}
        if src[p..].starts_with("/*") {
            let Some(end) = src[p + 2..].find("*/") else {
                return Err(err_at(src, start, "unclosed comment"));
            };
            let mut r = p + 2 + end + 2;
            let rest = &src[r..];
            let trimmed = rest.trim_start_matches([' ', '\t', '\r', '\n']);
            if trimmed.starts_with("-}}") && trimmed.len() < rest.len() {
                r += rest.len() - trimmed.len() + 3;
                trim_next_text = true;
            } else if rest.starts_with("}}") {
                r += 2;
                trim_next_text = false;
            } else {
                return Err(err_at(src, start, "comment ends before closing delimiter"));
            }
            i = r;
            continue;
        }
        let (tokens, end, trim) = lex_action(src, p, start)?;
        pieces.push(Piece::Action { tokens, pos: start });
        trim_next_text = trim;
        i = end;
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

fn push_text(text: &mut String, s: &str, trim_leading: &mut bool) {
    if std::mem::take(trim_leading) {
        text.push_str(s.trim_start_matches([' ', '\t', '\r', '\n']));
    } else {
        text.push_str(s);
    }
}

/// Tokenises one action starting at byte `p`; returns the tokens, the offset after `}}` and whether
/// the action ended with a right trim marker.
fn lex_action(
    src: &str,
    mut p: usize,
    start: usize,
) -> Result<(Vec<Token>, usize, bool), TemplateError> {
    let bytes = src.as_bytes();
    let mut tokens: Vec<Token> = Vec::new();
    let mut paren_depth = 0usize;
    loop {
        if p >= bytes.len() {
            return Err(err_at(src, start, "unclosed action"));
        }
        let c = bytes[p];
        if is_space(c) {
            let mut q = p;
            while q < bytes.len() && is_space(bytes[q]) {
                q += 1;
            }
            if src[q..].starts_with("-}}") {
                return Ok((tokens, q + 3, true));
            }
            p = q;
            continue;
        }
        if src[p..].starts_with("}}") {
            if paren_depth > 0 {
                return Err(err_at(src, p, "unclosed left paren"));
            }
            return Ok((tokens, p + 2, false));
        }
        let pos = p;
        let tok = match c {
            b'|' => {
                p += 1;
                Tok::Pipe
            }
            b'(' => {
                p += 1;
                paren_depth += 1;
                Tok::LParen
            }
            b')' => {
                p += 1;
                if paren_depth == 0 {
                    return Err(err_at(src, pos, "unexpected right paren"));
                }
                paren_depth -= 1;
                tokens.push(Token {
                    tok: Tok::RParen,
                    pos,
                });
                // An attached field chain applies to the parenthesised value.
                if bytes.get(p) == Some(&b'.') {
                    let (fields, q) = lex_fields(src, p);
                    if !fields.is_empty() {
                        tokens.push(Token {
                            tok: Tok::ChainFields(fields),
                            pos: p,
                        });
                        p = q;
                    }
                }
                continue;
            }
            b',' => {
                p += 1;
                Tok::Comma
            }
            b':' => {
                if bytes.get(p + 1) == Some(&b'=') {
                    p += 2;
                    Tok::Declare
                } else {
                    return Err(err_at(src, pos, "expected :="));
                }
            }
            b'=' => {
                p += 1;
                Tok::Assign
            }
            b'"' => {
                let (s, q) = lex_quoted(src, p)?;
                p = q;
                Tok::Str(s)
            }
            b'`' => {
                let Some(end) = src[p + 1..].find('`') else {
                    return Err(err_at(src, pos, "unterminated raw quoted string"));
                };
                let s = src[p + 1..p + 1 + end].to_string();
                p = p + 1 + end + 1;
                Tok::Str(s)
            }
            b'\'' => {
                let (ch, q) = lex_char(src, p)?;
                p = q;
                Tok::Char(ch)
            }
            b'.' => {
                if bytes.get(p + 1).is_some_and(u8::is_ascii_digit) {
                    let (t, q) = lex_number(src, p)?;
                    p = q;
                    t
                } else {
                    let (fields, q) = lex_fields(src, p);
                    if fields.is_empty() {
                        p += 1;
                        Tok::Dot
                    } else {
                        p = q;
                        Tok::Field(fields)
                    }
                }
            }
            b'$' => {
                let mut q = p + 1;
                while let Some(ch) = src[q..].chars().next() {
                    if is_alnum(ch) {
                        q += ch.len_utf8();
                    } else {
                        break;
                    }
                }
                let name = src[p + 1..q].to_string();
                let (fields, r) = lex_fields(src, q);
                p = r;
                Tok::Variable(name, fields)
            }
            b'0'..=b'9' | b'-' | b'+' => {
                let (t, q) = lex_number(src, p)?;
                p = q;
                t
            }
            _ => {
                let ch = src[p..].chars().next().unwrap_or(' ');
                if ch.is_alphabetic() || ch == '_' {
                    let mut q = p;
                    while let Some(ch) = src[q..].chars().next() {
                        if is_alnum(ch) {
                            q += ch.len_utf8();
                        } else {
                            break;
                        }
                    }
                    let word = &src[p..q];
                    p = q;
                    match word {
                        "true" => Tok::Bool(true),
                        "false" => Tok::Bool(false),
                        "nil" => Tok::Nil,
                        _ => Tok::Ident(word.to_string()),
                    }
                } else {
                    return Err(err_at(src, pos, format!("unexpected {ch:?} in command")));
                }
            }
        };
        tokens.push(Token { tok, pos });
    }
}

/// Lexes `.A.B.C` starting at a `.`; returns the names (empty if the dot is not followed by a name).
fn lex_fields(src: &str, mut p: usize) -> (Vec<String>, usize) {
    let bytes = src.as_bytes();
    let mut fields = Vec::new();
    while bytes.get(p) == Some(&b'.') {
        let mut q = p + 1;
        while let Some(ch) = src[q..].chars().next() {
            if is_alnum(ch) {
                q += ch.len_utf8();
            } else {
                break;
            }
        }
        if q == p + 1 {
            break;
        }
        fields.push(src[p + 1..q].to_string());
        p = q;
    }
    (fields, p)
}

fn lex_number(src: &str, p: usize) -> Result<(Tok, usize), TemplateError> {
    let bytes = src.as_bytes();
    let mut q = p;
    if matches!(bytes.get(q), Some(b'-') | Some(b'+')) {
        q += 1;
    }
    while q < bytes.len()
        && (bytes[q].is_ascii_alphanumeric() || bytes[q] == b'.' || bytes[q] == b'_')
    {
        // Exponent signs: 1e-3
        q += 1;
        if matches!(bytes[q - 1], b'e' | b'E' | b'p' | b'P')
            && !src[p..q].starts_with("0x")
            && matches!(bytes.get(q), Some(b'-') | Some(b'+'))
        {
            q += 1;
        }
    }
    let text = &src[p..q];
    let clean = text.replace('_', "");
    let (neg, body) = match clean.strip_prefix('-') {
        Some(b) => (true, b.to_string()),
        None => (false, clean.trim_start_matches('+').to_string()),
    };
    let int = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(o) = body.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(b) = body.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()
    } else {
        body.parse::<i64>().ok()
    };
    if let Some(i) = int {
        return Ok((Tok::Int(if neg { -i } else { i }), q));
    }
    match body.parse::<f64>() {
        Ok(f) if !body.is_empty() => Ok((Tok::Float(if neg { -f } else { f }), q)),
        _ => Err(err_at(src, p, format!("bad number syntax: {text:?}"))),
    }
}

fn lex_quoted(src: &str, p: usize) -> Result<(String, usize), TemplateError> {
    let mut out = String::new();
    let mut chars = src[p + 1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, p + 1 + i + 1)),
            '\n' => break,
            '\\' => {
                let Some((_, e)) = chars.next() else { break };
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let mut hex = String::new();
                        for _ in 0..n {
                            if let Some((_, h)) = chars.next() {
                                hex.push(h);
                            }
                        }
                        let code = u32::from_str_radix(&hex, 16)
                            .map_err(|_| err_at(src, p, "invalid syntax"))?;
                        out.push(
                            char::from_u32(code).ok_or_else(|| err_at(src, p, "invalid syntax"))?,
                        );
                    }
                    _ => return Err(err_at(src, p, "invalid syntax")),
                }
            }
            c => out.push(c),
        }
    }
    Err(err_at(src, p, "unterminated quoted string"))
}

fn lex_char(src: &str, p: usize) -> Result<(char, usize), TemplateError> {
    let rest = &src[p + 1..];
    let mut it = rest.char_indices();
    let (c, consumed) = match it.next() {
        Some((_, '\\')) => match it.next() {
            Some((i, e)) => (
                match e {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    '\\' => '\\',
                    '\'' => '\'',
                    '0' => '\0',
                    _ => return Err(err_at(src, p, "invalid syntax")),
                },
                i + e.len_utf8(),
            ),
            None => return Err(err_at(src, p, "unterminated character constant")),
        },
        Some((i, c)) => (c, i + c.len_utf8()),
        None => return Err(err_at(src, p, "unterminated character constant")),
    };
    if rest[consumed..].starts_with('\'') {
        Ok((c, p + 1 + consumed + 1))
    } else {
        Err(err_at(src, p, "unterminated character constant"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        match lex(src) {
            Ok(pieces) => pieces
                .into_iter()
                .flat_map(|p| match p {
                    Piece::Action { tokens, .. } => tokens.into_iter().map(|t| t.tok).collect(),
                    Piece::Text(_) => vec![],
                })
                .collect(),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn fields_variables_literals() {
        assert_eq!(
            toks(r#"{{index .Config.Labels "a\tb" 3 $x.Y $ . -1.5 'c' `raw`}}"#),
            vec![
                Tok::Ident("index".into()),
                Tok::Field(vec!["Config".into(), "Labels".into()]),
                Tok::Str("a\tb".into()),
                Tok::Int(3),
                Tok::Variable("x".into(), vec!["Y".into()]),
                Tok::Variable(String::new(), vec![]),
                Tok::Dot,
                Tok::Float(-1.5),
                Tok::Char('c'),
                Tok::Str("raw".into()),
            ]
        );
    }

    #[test]
    fn trim_markers_and_comments() {
        let pieces = lex("a  {{- .X -}}  b {{/* c */}}d{{- /* e */ -}} f").unwrap_or_default();
        let texts: Vec<String> = pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Text(t) => Some(t.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(texts, vec!["a", "b ", "d", "f"]);
    }

    #[test]
    fn closing_braces_inside_strings() {
        assert_eq!(
            toks(r#"{{printf "}}"}}"#),
            vec![Tok::Ident("printf".into()), Tok::Str("}}".into())]
        );
    }

    #[test]
    fn unclosed_action() {
        let err = lex("x\n{{.ID").err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("template: :2: unclosed action"));
    }

    #[test]
    fn paren_chain() {
        assert_eq!(
            toks("{{(index . 0).Name}}"),
            vec![
                Tok::LParen,
                Tok::Ident("index".into()),
                Tok::Dot,
                Tok::Int(0),
                Tok::RParen,
                Tok::ChainFields(vec!["Name".into()]),
            ]
        );
    }
}
