//! The data a template sees: JSON-like values plus "structs" (Docker's formatter contexts), which
//! reject unknown fields the way Go's text/template does for typed structs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use crate::format::gofmt;

/// A value a template can evaluate, print, range over or pass to a function.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Go's invalid `reflect.Value`: what a missing map key evaluates to; prints `<no value>`.
    Missing,
    /// A JSON `null` (Go's nil interface or pointer); prints `<nil>`.
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
    Struct(Arc<Struct>),
}

/// A typed record: accessing a field it does not have is an error, as for a Go struct.
/// Its JSON form escapes `<`, `>` and `&` like Go's `json.Marshal` (Docker's formatter contexts
/// marshal themselves that way, which is why `{{json .}}` prints `\u003cnone\u003e`).
#[derive(Debug, Clone, PartialEq)]
pub struct Struct {
    /// The Go-ish type name used in error messages (e.g. `*formatter.imageContext`).
    pub type_name: String,
    pub fields: BTreeMap<String, Value>,
}

impl Value {
    /// A struct value from `(field, value)` pairs.
    pub fn record<I, K>(type_name: &str, fields: I) -> Value
    where
        I: IntoIterator<Item = (K, Value)>,
        K: Into<String>,
    {
        Value::Struct(Arc::new(Struct {
            type_name: type_name.to_string(),
            fields: fields.into_iter().map(|(k, v)| (k.into(), v)).collect(),
        }))
    }

    /// A struct whose fields are all strings (the common shape of Docker's list formatters).
    pub fn string_record<'a, I>(type_name: &str, fields: I) -> Value
    where
        I: IntoIterator<Item = (&'a str, String)>,
    {
        Value::record(
            type_name,
            fields.into_iter().map(|(k, v)| (k, Value::Str(v))),
        )
    }

    /// A plain map of strings (used for table headers).
    pub fn string_map<'a, I>(fields: I) -> Value
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        Value::Map(
            fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), Value::Str(v.to_string())))
                .collect(),
        )
    }

    /// Go's notion of truth for `if`, `with`, `and`, `or`, `not`.
    pub fn is_true(&self) -> bool {
        match self {
            Value::Missing | Value::Null => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Uint(u) => *u != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Struct(_) => true,
        }
    }

    /// The name Go would use for this value's type in error messages.
    pub fn type_name(&self) -> String {
        match self {
            Value::Missing => "<no value>".to_string(),
            Value::Null => "<nil>".to_string(),
            Value::Bool(_) => "bool".to_string(),
            Value::Int(_) => "int".to_string(),
            Value::Uint(_) => "uint64".to_string(),
            Value::Float(_) => "float64".to_string(),
            Value::Str(_) => "string".to_string(),
            Value::List(_) => "[]interface {}".to_string(),
            Value::Map(_) => "map[string]interface {}".to_string(),
            Value::Struct(s) => s.type_name.clone(),
        }
    }

    /// Go's `fmt.Sprint` rendering (`%v`).
    pub fn to_go_string(&self) -> String {
        let mut out = String::new();
        self.write_go(&mut out);
        out
    }

    fn write_go(&self, out: &mut String) {
        match self {
            Value::Missing => out.push_str("<no value>"),
            Value::Null => out.push_str("<nil>"),
            Value::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Uint(u) => {
                let _ = write!(out, "{u}");
            }
            Value::Float(f) => out.push_str(&gofmt::format_float_v(*f)),
            Value::Str(s) => out.push_str(s),
            Value::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    item.write_go(out);
                }
                out.push(']');
            }
            Value::Map(map) => {
                out.push_str("map[");
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    v.write_go(out);
                }
                out.push(']');
            }
            Value::Struct(s) => {
                out.push('{');
                for (i, v) in s.fields.values().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    v.write_go(out);
                }
                out.push('}');
            }
        }
    }

    /// Go's `json.Marshal`-like encoding as Docker's `json` template function produces it
    /// (HTML escaping off, except inside structs, see [`Struct`]).
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out, false);
        out
    }

    fn write_json(&self, out: &mut String, escape_html: bool) {
        match self {
            Value::Missing | Value::Null => out.push_str("null"),
            Value::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Uint(u) => {
                let _ = write!(out, "{u}");
            }
            Value::Float(f) => out.push_str(&gofmt::format_float_json(*f)),
            Value::Str(s) => write_json_string(out, s, escape_html),
            Value::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_json(out, escape_html);
                }
                out.push(']');
            }
            Value::Map(map) => write_json_object(out, map, escape_html),
            Value::Struct(s) => write_json_object(out, &s.fields, true),
        }
    }
}

fn write_json_object(out: &mut String, map: &BTreeMap<String, Value>, escape_html: bool) {
    out.push('{');
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_string(out, k, escape_html);
        out.push(':');
        v.write_json(out, escape_html);
    }
    out.push('}');
}

/// Encodes a string the way Go's encoding/json does.
pub fn write_json_string(out: &mut String, s: &str, escape_html: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' if escape_html => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl From<&serde_json::Value> for Value {
    fn from(v: &serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::Int(i)
                } else if let Some(u) = n.as_u64() {
                    Value::Uint(u)
                } else {
                    Value::Float(n.as_f64().unwrap_or(0.0))
                }
            }
            serde_json::Value::String(s) => Value::Str(s.clone()),
            serde_json::Value::Array(a) => Value::List(a.iter().map(Value::from).collect()),
            serde_json::Value::Object(o) => {
                Value::Map(o.iter().map(|(k, v)| (k.clone(), Value::from(v))).collect())
            }
        }
    }
}

impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Self {
        Value::from(&v)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_printing_of_composites() {
        let v = Value::from(serde_json::json!({"b": [1, "x", true], "a": null}));
        assert_eq!(v.to_go_string(), "map[a:<nil> b:[1 x true]]");
        assert_eq!(Value::Missing.to_go_string(), "<no value>");
        assert_eq!(Value::Float(4260000.0).to_go_string(), "4.26e+06");
        assert_eq!(Value::Float(1.5).to_go_string(), "1.5");
    }

    #[test]
    fn json_encoding_matches_go() {
        let v = Value::from(serde_json::json!({"k": "<a&b>\n", "n": [1, 2.5]}));
        assert_eq!(v.to_json(), r#"{"k":"<a&b>\n","n":[1,2.5]}"#);
        let s = Value::string_record("t", [("Tag", "<none>".to_string())]);
        assert_eq!(s.to_json(), r#"{"Tag":"\u003cnone\u003e"}"#);
    }

    #[test]
    fn truthiness() {
        assert!(!Value::Str(String::new()).is_true());
        assert!(Value::Str("x".into()).is_true());
        assert!(!Value::Int(0).is_true());
        assert!(!Value::List(vec![]).is_true());
        assert!(Value::record::<_, String>("t", []).is_true());
        assert!(!Value::Missing.is_true());
    }
}
