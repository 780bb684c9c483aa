//! Docker's `filters` query parameter: a JSON object mapping a filter name to its values, either
//! `{"name":{"value":true}}` (current) or `{"name":["value"]}` (legacy).

use std::collections::BTreeMap;

use crate::{Error, Result};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters(BTreeMap<String, Vec<String>>);

impl Filters {
    /// Parse the raw query value; an empty string means no filters.
    pub fn parse(raw: &str) -> Result<Filters> {
        let mut out = BTreeMap::new();
        if raw.trim().is_empty() {
            return Ok(Filters(out));
        }
        let value: serde_json::Value = serde_json::from_str(raw)
            .map_err(|e| Error::InvalidParameter(format!("invalid filter: {e}")))?;
        let obj = value
            .as_object()
            .ok_or_else(|| Error::InvalidParameter("invalid filter: not a JSON object".into()))?;
        for (key, v) in obj {
            let values: Vec<String> = match v {
                serde_json::Value::Object(m) => m
                    .iter()
                    .filter(|(_, on)| on.as_bool().unwrap_or(true))
                    .map(|(k, _)| k.clone())
                    .collect(),
                serde_json::Value::Array(a) => a
                    .iter()
                    .map(|x| {
                        x.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| x.to_string())
                    })
                    .collect(),
                serde_json::Value::String(s) => vec![s.clone()],
                _ => {
                    return Err(Error::InvalidParameter(format!(
                        "invalid filter '{key}': unexpected value"
                    )))
                }
            };
            out.insert(key.clone(), values);
        }
        Ok(Filters(out))
    }

    /// Fail with Docker's message when a filter name is not one of `allowed`.
    pub fn validate(&self, allowed: &[&str]) -> Result<()> {
        for key in self.0.keys() {
            if !allowed.contains(&key.as_str()) {
                return Err(Error::InvalidParameter(format!("invalid filter '{key}'")));
            }
        }
        Ok(())
    }

    pub fn get(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// A boolean filter such as `dangling`: None when absent, error for values other than
    /// true/false/1/0.
    pub fn bool(&self, key: &str) -> Result<Option<bool>> {
        let vals = self.get(key);
        if vals.is_empty() {
            return Ok(None);
        }
        let mut result = None;
        for v in vals {
            let b = match v.to_ascii_lowercase().as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => {
                    return Err(Error::InvalidParameter(format!(
                        "invalid filter '{key}={v}'"
                    )))
                }
            };
            if result.is_some_and(|r| r != b) {
                return Err(Error::InvalidParameter(format!(
                    "invalid filter '{key}': conflicting values"
                )));
            }
            result = Some(b);
        }
        Ok(result)
    }

    /// Does a label map satisfy every `label` filter (`key` or `key=value`)?
    pub fn match_labels(&self, key: &str, labels: &BTreeMap<String, String>) -> bool {
        self.get(key).iter().all(|want| label_matches(want, labels))
    }
}

/// One label filter value: `key` (present) or `key=value` (equal).
pub fn label_matches(want: &str, labels: &BTreeMap<String, String>) -> bool {
    match want.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
        None => labels.contains_key(want),
    }
}

/// Go's `path.Match` shell pattern (`*`, `?`, `[...]`), as Docker uses for `reference` filters;
/// `*` does not cross `/`.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn rec(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => {
                for i in 0..=n.len() {
                    if i > 0 && n[i - 1] == '/' {
                        break;
                    }
                    if rec(rest, &n[i..]) {
                        return true;
                    }
                }
                false
            }
            Some(('?', rest)) => n.first().is_some_and(|c| *c != '/') && rec(rest, &n[1..]),
            Some(('[', rest)) => {
                let Some((c, tail)) = n.split_first() else {
                    return false;
                };
                let (negate, body) = match rest.first() {
                    Some('^') | Some('!') => (true, &rest[1..]),
                    _ => (false, rest),
                };
                let Some(end) = body.iter().position(|x| *x == ']') else {
                    return false;
                };
                let class = &body[..end];
                let mut matched = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == '-' {
                        if class[i] <= *c && *c <= class[i + 2] {
                            matched = true;
                        }
                        i += 3;
                    } else {
                        if class[i] == *c {
                            matched = true;
                        }
                        i += 1;
                    }
                }
                matched != negate && rec(&body[end + 1..], tail)
            }
            Some(('\\', rest)) if !rest.is_empty() => {
                n.first() == Some(&rest[0]) && rec(&rest[1..], &n[1..])
            }
            Some((c, rest)) => n.first() == Some(c) && rec(rest, &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    rec(&p, &n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_shapes() {
        let f = Filters::parse(r#"{"dangling":{"true":true},"label":["a=b","c"]}"#).unwrap();
        assert_eq!(f.bool("dangling").unwrap(), Some(true));
        assert_eq!(f.get("label"), ["a=b", "c"]);
        assert!(f.validate(&["dangling"]).is_err());
        assert!(Filters::parse("not json").is_err());
        assert!(Filters::parse(r#"{"dangling":["maybe"]}"#)
            .unwrap()
            .bool("dangling")
            .is_err());
    }

    #[test]
    fn labels() {
        let f = Filters::parse(r#"{"label":["a=b","c"]}"#).unwrap();
        let mut l = BTreeMap::new();
        l.insert("a".to_string(), "b".to_string());
        assert!(!f.match_labels("label", &l));
        l.insert("c".to_string(), "x".to_string());
        assert!(f.match_labels("label", &l));
    }

    #[test]
    fn globs() {
        assert!(glob_match("busy*", "busybox"));
        assert!(glob_match("busybox:*", "busybox:latest"));
        assert!(!glob_match("*", "a/b"));
        assert!(glob_match("*/*", "a/b"));
        assert!(glob_match("b?sy[a-z]ox", "busybox"));
        assert!(!glob_match("b[!u]sybox", "busybox"));
    }
}
