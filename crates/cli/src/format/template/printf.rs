//! The subset of Go's `fmt.Sprintf` that templates use: `%s %v %d %q %x %X %o %b %c %f %e %g %t
//! %%`, flags `-+0 #`, width and precision, and Go's `%!verb(type=value)` error forms.

use super::value::Value;
use crate::format::gofmt::{format_float_e, format_float_f, format_float_g};

#[derive(Default)]
struct Spec {
    minus: bool,
    plus: bool,
    zero: bool,
    space: bool,
    sharp: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

pub fn sprintf(fmt: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut argi = 0;
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '0' => spec.zero = true,
                ' ' => spec.space = true,
                '#' => spec.sharp = true,
                _ => break,
            }
            chars.next();
        }
        spec.width = read_num(&mut chars, args, &mut argi);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.prec = Some(read_num(&mut chars, args, &mut argi).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(argi) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        argi += 1;
        let body = format_one(verb, &spec, arg);
        out.push_str(&pad(&spec, body, is_numeric_verb(verb, arg)));
    }
    if argi < args.len() {
        out.push_str("%!(EXTRA ");
        let extras: Vec<String> = args[argi..]
            .iter()
            .map(|a| format!("{}={}", a.type_name(), a.to_go_string()))
            .collect();
        out.push_str(&extras.join(", "));
        out.push(')');
    }
    out
}

fn read_num(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    args: &[Value],
    argi: &mut usize,
) -> Option<usize> {
    if chars.peek() == Some(&'*') {
        chars.next();
        let v = args.get(*argi);
        *argi += 1;
        return match v {
            Some(Value::Int(i)) => Some((*i).max(0) as usize),
            _ => None,
        };
    }
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        n = Some(n.unwrap_or(0) * 10 + d as usize);
        chars.next();
    }
    n
}

fn is_numeric_verb(verb: char, arg: &Value) -> bool {
    matches!(arg, Value::Int(_) | Value::Uint(_) | Value::Float(_))
        && matches!(
            verb,
            'd' | 'x' | 'X' | 'o' | 'b' | 'f' | 'F' | 'e' | 'E' | 'g' | 'G' | 'v'
        )
}

fn bad(verb: char, arg: &Value) -> String {
    match arg {
        Value::Null | Value::Missing => format!("%!{verb}(<nil>)"),
        _ => format!("%!{verb}({}={})", arg.type_name(), arg.to_go_string()),
    }
}

fn signed(spec: &Spec, neg: bool, digits: String) -> String {
    if neg {
        format!("-{digits}")
    } else if spec.plus {
        format!("+{digits}")
    } else if spec.space {
        format!(" {digits}")
    } else {
        digits
    }
}

fn int_of(arg: &Value) -> Option<(bool, u128)> {
    match arg {
        Value::Int(i) => Some((*i < 0, i.unsigned_abs() as u128)),
        Value::Uint(u) => Some((false, u128::from(*u))),
        _ => None,
    }
}

fn format_one(verb: char, spec: &Spec, arg: &Value) -> String {
    match verb {
        'v' => match arg {
            Value::Float(f) => signed(spec, *f < 0.0, format_float_g(f.abs(), None)),
            Value::Int(_) | Value::Uint(_) if spec.plus => {
                let (neg, n) = int_of(arg).unwrap_or((false, 0));
                signed(spec, neg, n.to_string())
            }
            Value::Str(s) if spec.sharp => go_quote(s),
            _ => arg.to_go_string(),
        },
        's' => match arg {
            Value::Str(s) => truncate(s, spec.prec),
            Value::List(items) => {
                let parts: Vec<String> = items.iter().map(|i| format_one('s', spec, i)).collect();
                format!("[{}]", parts.join(" "))
            }
            Value::Map(_) | Value::Struct(_) => arg.to_go_string(),
            _ => bad('s', arg),
        },
        'q' => match arg {
            Value::Str(s) => go_quote(s),
            Value::Int(i) => {
                char::from_u32(*i as u32).map_or_else(|| bad('q', arg), |c| format!("{c:?}"))
            }
            _ => bad('q', arg),
        },
        'd' => match int_of(arg) {
            Some((neg, n)) => signed(spec, neg, n.to_string()),
            None => bad('d', arg),
        },
        'x' | 'X' | 'o' | 'b' => match (int_of(arg), arg) {
            (Some((neg, n)), _) => {
                let mut s = match verb {
                    'x' => format!("{n:x}"),
                    'X' => format!("{n:X}"),
                    'o' => format!("{n:o}"),
                    _ => format!("{n:b}"),
                };
                if spec.sharp {
                    s = match verb {
                        'x' => format!("0x{s}"),
                        'X' => format!("0X{s}"),
                        'o' => format!("0{s}"),
                        _ => s,
                    };
                }
                signed(spec, neg, s)
            }
            (None, Value::Str(s)) if verb == 'x' || verb == 'X' => {
                let h: String = s.bytes().map(|b| format!("{b:02x}")).collect();
                if verb == 'X' {
                    h.to_uppercase()
                } else {
                    h
                }
            }
            _ => bad(verb, arg),
        },
        'c' => match arg {
            Value::Int(i) => char::from_u32(*i as u32).map_or_else(|| bad('c', arg), String::from),
            _ => bad('c', arg),
        },
        'U' => match arg {
            Value::Int(i) => format!("U+{:04X}", i),
            _ => bad('U', arg),
        },
        'f' | 'F' | 'e' | 'E' | 'g' | 'G' => match arg {
            Value::Float(f) => {
                let a = f.abs();
                let s = match verb {
                    'f' | 'F' => format_float_f(a, spec.prec.unwrap_or(6)),
                    'e' => format_float_e(a, spec.prec.unwrap_or(6)),
                    'E' => format_float_e(a, spec.prec.unwrap_or(6)).to_uppercase(),
                    'g' => format_float_g(a, spec.prec),
                    _ => format_float_g(a, spec.prec).to_uppercase(),
                };
                signed(spec, f.is_sign_negative() && *f != 0.0, s)
            }
            _ => bad(verb, arg),
        },
        't' => match arg {
            Value::Bool(b) => b.to_string(),
            _ => bad('t', arg),
        },
        _ => format!("%!{verb}({}={})", arg.type_name(), arg.to_go_string()),
    }
}

fn truncate(s: &str, prec: Option<usize>) -> String {
    match prec {
        Some(p) => s.chars().take(p).collect(),
        None => s.to_string(),
    }
}

fn pad(spec: &Spec, body: String, numeric: bool) -> String {
    let Some(width) = spec.width else {
        return body;
    };
    let len = body.chars().count();
    if len >= width {
        return body;
    }
    let fill = width - len;
    if spec.minus {
        format!("{body}{}", " ".repeat(fill))
    } else if spec.zero && numeric {
        let (sign, digits) = match body.chars().next() {
            Some(c @ ('-' | '+' | ' ')) => (c.to_string(), body[1..].to_string()),
            _ => (String::new(), body),
        };
        format!("{sign}{}{digits}", "0".repeat(fill))
    } else {
        format!("{}{body}", " ".repeat(fill))
    }
}

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Value {
        Value::Str(x.to_string())
    }

    #[test]
    fn common_verbs() {
        assert_eq!(sprintf("%s=%d", &[s("a"), Value::Int(5)]), "a=5");
        assert_eq!(sprintf("%q", &[s("a\"b")]), "\"a\\\"b\"");
        assert_eq!(
            sprintf("%-6s|%5d|%05d", &[s("ab"), Value::Int(42), Value::Int(-42)]),
            "ab    |   42|-0042"
        );
        assert_eq!(
            sprintf(
                "%.2f %v %t",
                &[Value::Float(1.23456), Value::Bool(true), Value::Bool(false)]
            ),
            "1.23 true false"
        );
        assert_eq!(sprintf("%x %X", &[Value::Int(255), s("hi")]), "ff 6869");
        assert_eq!(sprintf("%.3s", &[s("abcdef")]), "abc");
        assert_eq!(sprintf("100%%", &[]), "100%");
        assert_eq!(sprintf("%v", &[Value::List(vec![s("a"), s("b")])]), "[a b]");
    }

    #[test]
    fn go_error_forms() {
        assert_eq!(sprintf("%d", &[s("x")]), "%!d(string=x)");
        assert_eq!(sprintf("%s", &[Value::Int(5)]), "%!s(int=5)");
        assert_eq!(sprintf("%s %s", &[s("a")]), "a %!s(MISSING)");
        assert_eq!(sprintf("%s", &[s("a"), Value::Int(1)]), "a%!(EXTRA int=1)");
    }
}
