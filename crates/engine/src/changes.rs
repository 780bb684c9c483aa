//! `--change` instructions of `import` and `commit`: a handful of Dockerfile instructions applied
//! to an image's container config.

use serde_json::{json, Map, Value};

use crate::{Error, Result};

/// Apply each change line (`CMD ["sh"]`, `ENV A=b`, …) to `config` (the OCI `config` object).
pub fn apply_changes(config: &mut Map<String, Value>, changes: &[String]) -> Result<()> {
    for line in changes {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (word, rest) = line
            .split_once(char::is_whitespace)
            .map(|(w, r)| (w, r.trim()))
            .unwrap_or((line, ""));
        let bad = || Error::InvalidParameter(format!("{word} is not a valid change command"));
        match word.to_ascii_uppercase().as_str() {
            "CMD" => {
                config.insert("Cmd".into(), json!(command_form(rest)?));
            }
            "ENTRYPOINT" => {
                config.insert("Entrypoint".into(), json!(command_form(rest)?));
            }
            "ENV" => {
                let env = config
                    .entry("Env")
                    .or_insert_with(|| json!([]))
                    .as_array_mut()
                    .ok_or_else(bad)?;
                for (k, v) in key_values(rest, "ENV")? {
                    env.retain(|e| {
                        e.as_str().and_then(|e| e.split_once('=')).map(|p| p.0) != Some(k.as_str())
                    });
                    env.push(json!(format!("{k}={v}")));
                }
            }
            "LABEL" => {
                let labels = config
                    .entry("Labels")
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
                    .ok_or_else(bad)?;
                for (k, v) in key_values(rest, "LABEL")? {
                    labels.insert(k, json!(v));
                }
            }
            "EXPOSE" => {
                let ports = config
                    .entry("ExposedPorts")
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
                    .ok_or_else(bad)?;
                for p in split_words(rest)? {
                    let p = if p.contains('/') {
                        p
                    } else {
                        format!("{p}/tcp")
                    };
                    ports.insert(p, json!({}));
                }
            }
            "VOLUME" => {
                let list = if rest.starts_with('[') {
                    json_array(rest)?
                } else {
                    split_words(rest)?
                };
                let vols = config
                    .entry("Volumes")
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
                    .ok_or_else(bad)?;
                for v in list {
                    vols.insert(v, json!({}));
                }
            }
            "USER" => {
                config.insert("User".into(), json!(rest));
            }
            "WORKDIR" => {
                config.insert("WorkingDir".into(), json!(rest));
            }
            "STOPSIGNAL" => {
                config.insert("StopSignal".into(), json!(rest));
            }
            "ONBUILD" => {
                let list = config
                    .entry("OnBuild")
                    .or_insert_with(|| json!([]))
                    .as_array_mut()
                    .ok_or_else(bad)?;
                list.push(json!(rest));
            }
            _ => return Err(bad()),
        }
    }
    Ok(())
}

/// Exec form (`["a","b"]`) or shell form (`a b` → `["/bin/sh","-c","a b"]`).
fn command_form(rest: &str) -> Result<Vec<String>> {
    if rest.starts_with('[') {
        if let Ok(v) = json_array(rest) {
            return Ok(v);
        }
    }
    Ok(vec!["/bin/sh".into(), "-c".into(), rest.to_string()])
}

fn json_array(rest: &str) -> Result<Vec<String>> {
    serde_json::from_str(rest)
        .map_err(|e| Error::InvalidParameter(format!("invalid JSON array {rest}: {e}")))
}

/// `k=v k2="v 2"` pairs, or the legacy `k v w` single pair.
fn key_values(rest: &str, what: &str) -> Result<Vec<(String, String)>> {
    let words = split_words(rest)?;
    if words.is_empty() {
        return Err(Error::InvalidParameter(format!(
            "{what} requires at least one argument"
        )));
    }
    if !words[0].contains('=') {
        let (k, v) = rest
            .split_once(char::is_whitespace)
            .ok_or_else(|| Error::InvalidParameter(format!("{what} must have two arguments")))?;
        return Ok(vec![(k.to_string(), v.trim().to_string())]);
    }
    words
        .into_iter()
        .map(|w| {
            w.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| {
                    Error::InvalidParameter(format!(
                        "{what} names can not be blank or missing '=': {w}"
                    ))
                })
        })
        .collect()
}

/// Split on unquoted whitespace, honouring "double", 'single' quotes and backslash escapes.
fn split_words(s: &str) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            '"' | '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some('\\') if c == '"' => {
                            if let Some(n) = chars.next() {
                                cur.push(n);
                            }
                        }
                        Some(x) => cur.push(x),
                        None => {
                            return Err(Error::InvalidParameter(format!(
                                "unterminated quote in {s:?}"
                            )))
                        }
                    }
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(lines: &[&str]) -> Result<Value> {
        let mut m = Map::new();
        apply_changes(
            &mut m,
            &lines.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )?;
        Ok(Value::Object(m))
    }

    #[test]
    fn common_changes() {
        let v = apply(&[
            r#"CMD ["sh", "-c", "echo hi"]"#,
            "ENV PATH=/bin",
            r#"ENV A="x y" B=2"#,
            "ENV PATH=/usr/bin",
            "entrypoint /start",
            "EXPOSE 80 53/udp",
            "LABEL a=b",
            "WORKDIR /w",
            "USER nobody",
            r#"VOLUME ["/data"]"#,
        ])
        .unwrap();
        assert_eq!(v["Cmd"], json!(["sh", "-c", "echo hi"]));
        assert_eq!(v["Env"], json!(["A=x y", "B=2", "PATH=/usr/bin"]));
        assert_eq!(v["Entrypoint"], json!(["/bin/sh", "-c", "/start"]));
        assert_eq!(v["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(v["Labels"]["a"], "b");
        assert_eq!(v["WorkingDir"], "/w");
        assert_eq!(v["User"], "nobody");
        assert_eq!(v["Volumes"], json!({"/data": {}}));
    }

    #[test]
    fn legacy_env_and_errors() {
        assert_eq!(
            apply(&["ENV A hello world"]).unwrap()["Env"],
            json!(["A=hello world"])
        );
        let e = apply(&["RUN echo"]).unwrap_err().to_string();
        assert_eq!(e, "RUN is not a valid change command");
        assert!(apply(&[r#"ENV A="open"#]).is_err());
    }
}
