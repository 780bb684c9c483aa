//! Go's `json.Indent` on raw bytes: re-indents the daemon's JSON without re-encoding it, so key
//! order and escaping stay exactly as the daemon sent them (what `docker inspect` prints).

/// Indents `src` with `indent` per level; empty objects and arrays stay `{}` / `[]`.
pub fn indent(src: &str, indent: &str) -> String {
    let mut out = String::with_capacity(src.len() * 2);
    let mut depth = 0usize;
    let mut need_indent = false;
    let mut in_string = false;
    let mut escaped = false;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(indent);
        }
    };
    for c in src.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        if matches!(c, ' ' | '\t' | '\r' | '\n') {
            continue;
        }
        if need_indent && c != '}' && c != ']' {
            need_indent = false;
            depth += 1;
            newline(&mut out, depth);
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                need_indent = true;
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            '}' | ']' => {
                if need_indent {
                    need_indent = false;
                } else {
                    depth = depth.saturating_sub(1);
                    newline(&mut out, depth);
                }
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Go's `json.Compact`: drops insignificant whitespace, keeping key order and escapes.
pub fn compact(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in src.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if !matches!(c, ' ' | '\t' | '\r' | '\n') {
            if c == '"' {
                in_string = true;
            }
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indents_like_go() {
        let src = r#"[{"Id":"sha256:x","RepoTags":["a:b"],"Config":{"Env":[],"Labels":{}},"Size":5,"S":"a,b:{\"}"}]"#;
        let want = r#"[
    {
        "Id": "sha256:x",
        "RepoTags": [
            "a:b"
        ],
        "Config": {
            "Env": [],
            "Labels": {}
        },
        "Size": 5,
        "S": "a,b:{\"}"
    }
]"#;
        assert_eq!(indent(src, "    "), want);
    }

    #[test]
    fn drops_insignificant_whitespace() {
        assert_eq!(
            indent("{ \"a\" : [ 1 , 2 ] }", "  "),
            "{\n  \"a\": [\n    1,\n    2\n  ]\n}"
        );
        assert_eq!(indent("[]", "    "), "[]");
        assert_eq!(
            compact("{ \"a b\" : [ 1 , \"x \\\" y\" ] }"),
            "{\"a b\":[1,\"x \\\" y\"]}"
        );
    }
}
