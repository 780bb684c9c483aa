//! Template functions: Go's builtins plus Docker's (`json`, `split`, `join`, `title`, `lower`,
//! `upper`, `pad`, `truncate`), and Docker's header-mode replacements used to render table headers.

use super::printf::sprintf;
use super::value::Value;

/// Which function set to use: normal rows, or Docker's `HeaderFunctions` for table headers
/// (string functions return their input unchanged so headers stay readable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FuncMode {
    Normal,
    Header,
}

const BUILTINS: &[&str] = &[
    "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "eq", "ne", "lt",
    "le", "gt", "ge", "html", "js", "urlquery", "call",
];
const DOCKER: &[&str] = &[
    "json", "split", "join", "title", "lower", "upper", "pad", "truncate",
];

pub fn is_defined(name: &str) -> bool {
    BUILTINS.contains(&name) || DOCKER.contains(&name)
}

fn arity(name: &str, args: &[Value], want: usize) -> Result<(), String> {
    if args.len() != want {
        return Err(format!(
            "wrong number of args for {name}: want {want} got {}",
            args.len()
        ));
    }
    Ok(())
}

fn want_str<'v>(name: &str, v: &'v Value) -> Result<&'v str, String> {
    match v {
        Value::Str(s) => Ok(s),
        Value::Missing => Err(format!(
            "error calling {name}: invalid value; expected string"
        )),
        other => Err(format!(
            "wrong type for value; expected string; got {}",
            other.type_name()
        )),
    }
}

fn want_int(name: &str, v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Uint(u) => {
            i64::try_from(*u).map_err(|_| format!("error calling {name}: integer overflow"))
        }
        other => Err(format!(
            "wrong type for value; expected int; got {}",
            other.type_name()
        )),
    }
}

/// Calls function `name` with evaluated arguments (`and`/`or` are handled by the executor, as they
/// short-circuit).
pub fn call(name: &str, mode: FuncMode, args: Vec<Value>) -> Result<Value, String> {
    if mode == FuncMode::Header {
        if let "json" | "split" | "join" | "title" | "lower" | "upper" | "truncate" = name {
            return Ok(args.into_iter().next().unwrap_or(Value::Missing));
        }
    }
    match name {
        "not" => {
            arity(name, &args, 1)?;
            Ok(Value::Bool(!args[0].is_true()))
        }
        "len" => {
            arity(name, &args, 1)?;
            let n = match &args[0] {
                Value::Str(s) => s.len(),
                Value::List(l) => l.len(),
                Value::Map(m) => m.len(),
                other => {
                    return Err(format!(
                        "error calling len: len of type {}",
                        other.type_name()
                    ))
                }
            };
            Ok(Value::Int(n as i64))
        }
        "index" => {
            if args.is_empty() {
                return Err("wrong number of args for index: want at least 1 got 0".to_string());
            }
            let mut it = args.into_iter();
            let mut item = it.next().unwrap_or(Value::Missing);
            for idx in it {
                item = match (item, idx) {
                    (Value::List(l), i) => {
                        let n = want_int(name, &i)?;
                        if n < 0 || n as usize >= l.len() {
                            return Err(format!("error calling index: index out of range: {n}"));
                        }
                        l[n as usize].clone()
                    }
                    (Value::Str(s), i) => {
                        let n = want_int(name, &i)?;
                        match s.as_bytes().get(n.max(0) as usize) {
                            Some(b) if n >= 0 => Value::Int(i64::from(*b)),
                            _ => {
                                return Err(format!("error calling index: index out of range: {n}"))
                            }
                        }
                    }
                    // A missing key gives the map's zero value; Docker's typed label maps
                    // (map[string]string) make that the empty string.
                    (Value::Map(m), Value::Str(k)) => {
                        m.get(&k).cloned().unwrap_or(Value::Str(String::new()))
                    }
                    (Value::Struct(s), Value::Str(k)) => s
                        .fields
                        .get(&k)
                        .cloned()
                        .unwrap_or(Value::Str(String::new())),
                    (Value::Missing | Value::Null, _) => {
                        return Err("error calling index: index of untyped nil".to_string())
                    }
                    (item, _) => {
                        return Err(format!(
                            "error calling index: can't index item of type {}",
                            item.type_name()
                        ))
                    }
                };
            }
            Ok(item)
        }
        "slice" => {
            if args.is_empty() || args.len() > 3 {
                return Err(format!(
                    "wrong number of args for slice: want 1 to 3 got {}",
                    args.len()
                ));
            }
            let idx: Vec<i64> = args[1..]
                .iter()
                .map(|v| want_int(name, v))
                .collect::<Result<_, _>>()?;
            match &args[0] {
                Value::Str(s) => {
                    let lo = idx.first().copied().unwrap_or(0).max(0) as usize;
                    let hi = idx.get(1).copied().map_or(s.len(), |h| h.max(0) as usize);
                    s.get(lo..hi)
                        .map(|x| Value::Str(x.to_string()))
                        .ok_or_else(|| format!("error calling slice: index out of range: {hi}"))
                }
                Value::List(l) => {
                    let lo = idx.first().copied().unwrap_or(0).max(0) as usize;
                    let hi = idx.get(1).copied().map_or(l.len(), |h| h.max(0) as usize);
                    l.get(lo..hi)
                        .map(|x| Value::List(x.to_vec()))
                        .ok_or_else(|| format!("error calling slice: index out of range: {hi}"))
                }
                other => Err(format!(
                    "error calling slice: can't slice item of type {}",
                    other.type_name()
                )),
            }
        }
        "print" => Ok(Value::Str(sprint(&args))),
        "println" => {
            let parts: Vec<String> = args.iter().map(Value::to_go_string).collect();
            Ok(Value::Str(parts.join(" ") + "\n"))
        }
        "printf" => {
            let Some(Value::Str(fmt)) = args.first() else {
                return Err(match args.first() {
                    None => "wrong number of args for printf: want at least 1 got 0".to_string(),
                    Some(v) => format!(
                        "wrong type for value; expected string; got {}",
                        v.type_name()
                    ),
                });
            };
            Ok(Value::Str(sprintf(fmt, &args[1..])))
        }
        "eq" => {
            if args.len() < 2 {
                return Err("error calling eq: missing argument for comparison".to_string());
            }
            for b in &args[1..] {
                if equal(&args[0], b).map_err(|e| format!("error calling eq: {e}"))? {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }
        "ne" => {
            arity(name, &args, 2)?;
            let eq = equal(&args[0], &args[1]).map_err(|e| format!("error calling ne: {e}"))?;
            Ok(Value::Bool(!eq))
        }
        "lt" | "le" | "gt" | "ge" => {
            arity(name, &args, 2)?;
            let ord =
                compare(&args[0], &args[1]).map_err(|e| format!("error calling {name}: {e}"))?;
            use std::cmp::Ordering::*;
            Ok(Value::Bool(match name {
                "lt" => ord == Less,
                "le" => ord != Greater,
                "gt" => ord == Greater,
                _ => ord != Less,
            }))
        }
        "html" => Ok(Value::Str(html_escape(&sprint(&args)))),
        "js" => Ok(Value::Str(js_escape(&sprint(&args)))),
        "urlquery" => Ok(Value::Str(query_escape(&sprint(&args)))),
        "call" => {
            Err("error calling call: functions are not values in berth templates".to_string())
        }
        "json" => {
            arity(name, &args, 1)?;
            Ok(Value::Str(args[0].to_json()))
        }
        "split" => {
            arity(name, &args, 2)?;
            let s = want_str(name, &args[0])?;
            let sep = want_str(name, &args[1])?;
            let parts: Vec<Value> = if sep.is_empty() {
                s.chars().map(|c| Value::Str(c.to_string())).collect()
            } else {
                s.split(sep).map(|p| Value::Str(p.to_string())).collect()
            };
            Ok(Value::List(parts))
        }
        "join" => {
            arity(name, &args, 2)?;
            let sep = want_str(name, &args[1])?;
            match &args[0] {
                Value::List(items) => {
                    let parts: Vec<String> = items.iter().map(Value::to_go_string).collect();
                    Ok(Value::Str(parts.join(sep)))
                }
                Value::Null | Value::Missing => Ok(Value::Str(String::new())),
                other => Err(format!(
                    "wrong type for value; expected []string; got {}",
                    other.type_name()
                )),
            }
        }
        "title" => {
            arity(name, &args, 1)?;
            Ok(Value::Str(title(want_str(name, &args[0])?)))
        }
        "lower" => {
            arity(name, &args, 1)?;
            Ok(Value::Str(want_str(name, &args[0])?.to_lowercase()))
        }
        "upper" => {
            arity(name, &args, 1)?;
            Ok(Value::Str(want_str(name, &args[0])?.to_uppercase()))
        }
        "pad" => {
            arity(name, &args, 3)?;
            let s = want_str(name, &args[0])?;
            if s.is_empty() {
                return Ok(Value::Str(String::new()));
            }
            let pre = want_int(name, &args[1])?.max(0) as usize;
            let suf = want_int(name, &args[2])?.max(0) as usize;
            Ok(Value::Str(format!(
                "{}{s}{}",
                " ".repeat(pre),
                " ".repeat(suf)
            )))
        }
        "truncate" => {
            arity(name, &args, 2)?;
            let s = want_str(name, &args[0])?;
            let n = want_int(name, &args[1])?.max(0) as usize;
            if s.len() < n {
                return Ok(Value::Str(s.to_string()));
            }
            let mut end = n;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            Ok(Value::Str(s[..end].to_string()))
        }
        _ => Err(format!("function {name:?} not defined")),
    }
}

/// Go's `fmt.Sprint`: spaces between operands when neither side is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, Value::Str(_)) && !matches!(args[i - 1], Value::Str(_)) {
            out.push(' ');
        }
        out.push_str(&a.to_go_string());
    }
    out
}

enum Kind {
    Int(i128),
    Float(f64),
    Str(String),
    Bool(bool),
    Other,
}

fn kind(v: &Value) -> Kind {
    match v {
        Value::Int(i) => Kind::Int(i128::from(*i)),
        Value::Uint(u) => Kind::Int(i128::from(*u)),
        Value::Float(f) => Kind::Float(*f),
        Value::Str(s) => Kind::Str(s.clone()),
        Value::Bool(b) => Kind::Bool(*b),
        _ => Kind::Other,
    }
}

fn equal(a: &Value, b: &Value) -> Result<bool, String> {
    match (kind(a), kind(b)) {
        (Kind::Int(x), Kind::Int(y)) => Ok(x == y),
        (Kind::Float(x), Kind::Float(y)) => Ok(x == y),
        (Kind::Str(x), Kind::Str(y)) => Ok(x == y),
        (Kind::Bool(x), Kind::Bool(y)) => Ok(x == y),
        (Kind::Other, _) | (_, Kind::Other) => Ok(match (a, b) {
            (Value::Null | Value::Missing, Value::Null | Value::Missing) => true,
            _ => a == b,
        }),
        _ => Err("incompatible types for comparison".to_string()),
    }
}

fn compare(a: &Value, b: &Value) -> Result<std::cmp::Ordering, String> {
    match (kind(a), kind(b)) {
        (Kind::Int(x), Kind::Int(y)) => Ok(x.cmp(&y)),
        (Kind::Float(x), Kind::Float(y)) => x
            .partial_cmp(&y)
            .ok_or_else(|| "invalid type for comparison".to_string()),
        (Kind::Str(x), Kind::Str(y)) => Ok(x.cmp(&y)),
        (Kind::Other, _) | (_, Kind::Other) | (Kind::Bool(_), _) => {
            Err("invalid type for comparison".to_string())
        }
        _ => Err("incompatible types for comparison".to_string()),
    }
}

/// Go's deprecated `strings.Title`: upper-cases the first letter of each word.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_sep = true;
    for c in s.chars() {
        if prev_sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_sep = !(c.is_alphanumeric() || c == '_');
    }
    out
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_like_go() {
        assert_eq!(
            title("hello wide-world foo_bar"),
            "Hello Wide-World Foo_bar"
        );
    }

    #[test]
    fn sprint_spacing() {
        assert_eq!(
            sprint(&[
                Value::Int(1),
                Value::Int(2),
                Value::Str("a".into()),
                Value::Int(3)
            ]),
            "1 2a3"
        );
    }

    #[test]
    fn escapes() {
        assert_eq!(
            html_escape("<a href=\"x\">&"),
            "&lt;a href=&#34;x&#34;&gt;&amp;"
        );
        assert_eq!(query_escape("a b&c"), "a+b%26c");
    }
}
