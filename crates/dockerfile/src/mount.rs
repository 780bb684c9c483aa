//! `RUN --mount=type=...,target=...` values.

use crate::util::go_parse_bool;
use crate::{Mount, MountType};

type Expander<'a> = &'a dyn Fn(&str) -> Result<String, String>;

/// Parse a mount while parsing the Dockerfile. Docker checks values that
/// contain a variable only when the RUN executes (after expansion), so such
/// mounts are parsed leniently here and checked by `Instruction::expanded`.
pub(crate) fn parse_mount_unexpanded(raw: &str) -> Result<Mount, String> {
    if !raw.contains('$') {
        return parse_mount(raw, None);
    }
    // Docker refuses variables in `from` outright.
    if let Ok(fields) = csv_fields(raw) {
        for f in fields {
            if let Some((k, v)) = f.split_once('=') {
                if k.eq_ignore_ascii_case("from") && has_variable(v) {
                    return Err(
                        "'from' doesn't support variable expansion, define alias stage instead"
                            .into(),
                    );
                }
            }
        }
    }
    Ok(parse_lenient(raw))
}

fn has_variable(v: &str) -> bool {
    v.find('$').is_some_and(|i| i + 1 < v.len())
}

/// Best effort for a mount whose values still hold variables: fields that do
/// not parse yet are left out.
fn parse_lenient(raw: &str) -> Mount {
    let mut m = new_mount(raw);
    let fields = csv_fields(raw).unwrap_or_default();
    let mut ro_auto = true;
    for field in &fields {
        let _ = apply_field(&mut m, &mut ro_auto, field, None);
    }
    finish_readonly(&mut m, ro_auto);
    m
}

fn new_mount(raw: &str) -> Mount {
    Mount {
        typ: MountType::Bind,
        target: None,
        source: None,
        from: None,
        id: None,
        sharing: None,
        readonly: false,
        required: false,
        mode: None,
        uid: None,
        gid: None,
        size: None,
        env: None,
        raw: raw.to_string(),
    }
}

/// Parse a mount, expanding each value first when `expand` is given.
pub(crate) fn parse_mount(raw: &str, expand: Option<Expander>) -> Result<Mount, String> {
    let fields = csv_fields(raw).map_err(|e| format!("failed to parse csv mounts: {e}"))?;
    let mut m = new_mount(raw);
    let mut ro_auto = true;
    for field in &fields {
        apply_field(&mut m, &mut ro_auto, field, expand)?;
    }
    validate(&m)?;
    finish_readonly(&mut m, ro_auto);
    Ok(m)
}

fn finish_readonly(m: &mut Mount, ro_auto: bool) {
    if ro_auto {
        m.readonly = !matches!(m.typ, MountType::Cache | MountType::Tmpfs);
    }
}

fn apply_field(
    m: &mut Mount,
    ro_auto: &mut bool,
    field: &str,
    expand: Option<Expander>,
) -> Result<(), String> {
    let (key, value) = match field.split_once('=') {
        Some((k, v)) => (k.to_lowercase(), v.to_string()),
        None => {
            let key = field.to_lowercase();
            match key.as_str() {
                "readonly" | "ro" => {
                    m.readonly = true;
                    *ro_auto = false;
                }
                "readwrite" | "rw" => {
                    m.readonly = false;
                    *ro_auto = false;
                }
                "required" if matches!(m.typ, MountType::Secret | MountType::Ssh) => {
                    m.required = true;
                }
                "required" => {
                    return Err(format!(
                        "unexpected key '{key}' for mount type '{}'",
                        m.typ.as_str()
                    ))
                }
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            return Ok(());
        }
    };
    let value = match expand {
        Some(ex) => ex(&value)?,
        None => value,
    };
    let bad_value = || format!("invalid value for {key}: {value}");
    let wrong_type = || format!("unexpected key '{key}' for mount type '{}'", m.typ.as_str());
    match key.as_str() {
        "type" => {
            m.typ = match value.to_lowercase().as_str() {
                "bind" => MountType::Bind,
                "cache" => MountType::Cache,
                "tmpfs" => MountType::Tmpfs,
                "secret" => MountType::Secret,
                "ssh" => MountType::Ssh,
                _ => {
                    return Err(format!(
                    "unsupported mount type {value:?} (expected bind, cache, tmpfs, secret or ssh)"
                ))
                }
            }
        }
        "from" => m.from = Some(value),
        "source" | "src" => m.source = Some(value),
        "target" | "dst" | "destination" => m.target = Some(value),
        "readonly" | "ro" => {
            m.readonly = go_parse_bool(&value).ok_or_else(bad_value)?;
            *ro_auto = false;
        }
        "readwrite" | "rw" => {
            m.readonly = !go_parse_bool(&value).ok_or_else(bad_value)?;
            *ro_auto = false;
        }
        "required" => {
            if !matches!(m.typ, MountType::Secret | MountType::Ssh) {
                return Err(wrong_type());
            }
            m.required = go_parse_bool(&value).ok_or_else(bad_value)?;
        }
        "size" => {
            if m.typ != MountType::Tmpfs {
                return Err(wrong_type());
            }
            m.size = Some(ram_in_bytes(&value).ok_or_else(bad_value)?);
        }
        "id" => m.id = Some(value),
        "sharing" => {
            let v = value.to_lowercase();
            if !matches!(v.as_str(), "shared" | "private" | "locked") {
                return Err(format!(
                    "unsupported sharing value {value:?} (expected shared, private or locked)"
                ));
            }
            m.sharing = Some(v);
        }
        "mode" => {
            m.mode = Some(
                parse_uint(&value, 8).ok_or_else(|| format!("invalid value {value} for mode"))?,
            )
        }
        "uid" => {
            m.uid = Some(
                parse_uint(&value, 10).ok_or_else(|| format!("invalid value {value} for uid"))?,
            )
        }
        "gid" => {
            m.gid = Some(
                parse_uint(&value, 10).ok_or_else(|| format!("invalid value {value} for gid"))?,
            )
        }
        "env" => m.env = Some(value),
        _ => return Err(format!("unexpected key '{key}' in '{field}'")),
    }
    Ok(())
}

fn validate(m: &Mount) -> Result<(), String> {
    let typ = m.typ.as_str();
    if !matches!(m.typ, MountType::Secret | MountType::Ssh | MountType::Cache) {
        if m.mode.is_some() {
            return Err(format!("mode not allowed for {typ:?} type mounts"));
        }
        if m.uid.is_some() {
            return Err(format!("uid not allowed for {typ:?} type mounts"));
        }
        if m.gid.is_some() {
            return Err(format!("gid not allowed for {typ:?} type mounts"));
        }
    }
    if m.typ == MountType::Secret {
        if m.from.is_some() {
            return Err("secret mount should not have a from".into());
        }
        if m.sharing.is_some() {
            return Err("secret mount should not define sharing".into());
        }
        if m.source.is_none() && m.target.is_none() && m.id.is_none() {
            return Err("invalid secret mount. one of source, target required".into());
        }
        if m.source.is_some() && m.id.is_some() {
            return Err("both source and id can't be set".into());
        }
    }
    if m.sharing.is_some() && m.typ != MountType::Cache {
        return Err(format!("invalid cache sharing set for {typ} mount"));
    }
    Ok(())
}

/// Go's `strconv.ParseUint(s, radix, 32)`.
fn parse_uint(s: &str, radix: u32) -> Option<u32> {
    if s.is_empty() || !s.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u32::from_str_radix(s, radix).ok()
}

/// docker/go-units `RAMInBytes`: `64m`, `1g`, `1.5GiB`, `512` (binary units).
fn ram_in_bytes(s: &str) -> Option<u64> {
    let num_len = s
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_digit() || c == '.'))
        .map(|(i, _)| i)
        .unwrap_or(s.len());
    let (num, mut rest) = s.split_at(num_len);
    // `\d+(\.\d+)*`
    if num.is_empty() || num.split('.').any(|p| p.is_empty()) {
        return None;
    }
    rest = rest.strip_prefix(' ').unwrap_or(rest);
    let mut chars = rest.chars().peekable();
    let mut mult: f64 = 1.0;
    if let Some(&c) = chars.peek() {
        let power = match c.to_ascii_lowercase() {
            'k' => Some(1),
            'm' => Some(2),
            'g' => Some(3),
            't' => Some(4),
            'p' => Some(5),
            _ => None,
        };
        if let Some(p) = power {
            mult = 1024f64.powi(p);
            chars.next();
        }
    }
    if matches!(chars.peek(), Some('i' | 'I')) {
        chars.next();
    }
    if matches!(chars.peek(), Some('b' | 'B')) {
        chars.next();
    }
    if chars.next().is_some() {
        return None;
    }
    let n: f64 = num.parse().ok()?;
    let bytes = n * mult;
    if !bytes.is_finite() || bytes >= 9.2e18 {
        return None;
    }
    Some(bytes as u64)
}

/// One record of Go's `encoding/csv` (no lazy quotes), as Docker reads a
/// mount's fields.
pub(crate) fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    if s.is_empty() {
        return Err("EOF".into());
    }
    let chars: Vec<char> = s.chars().collect();
    let mut fields = Vec::new();
    let mut i = 0;
    loop {
        if chars.get(i) == Some(&'"') {
            i += 1;
            let mut f = String::new();
            loop {
                match chars.get(i) {
                    None => return Err("extraneous or missing \" in quoted-field".into()),
                    Some('"') => match chars.get(i + 1) {
                        Some('"') => {
                            f.push('"');
                            i += 2;
                        }
                        None => {
                            fields.push(f);
                            return Ok(fields);
                        }
                        Some(',') => {
                            fields.push(f);
                            i += 2;
                            break;
                        }
                        Some(_) => return Err("extraneous or missing \" in quoted-field".into()),
                    },
                    Some(&c) => {
                        f.push(c);
                        i += 1;
                    }
                }
            }
        } else {
            let end = chars[i..]
                .iter()
                .position(|&c| c == ',')
                .map(|p| i + p)
                .unwrap_or(chars.len());
            let f: String = chars[i..end].iter().collect();
            if f.contains('"') {
                return Err("bare \" in non-quoted-field".into());
            }
            fields.push(f);
            if end == chars.len() {
                return Ok(fields);
            }
            i = end + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv() {
        assert_eq!(csv_fields("a,b").unwrap(), vec!["a", "b"]);
        assert_eq!(csv_fields("a,").unwrap(), vec!["a", ""]);
        assert_eq!(csv_fields(r#""a,b",c"#).unwrap(), vec!["a,b", "c"]);
        assert_eq!(csv_fields(r#""a""b""#).unwrap(), vec![r#"a"b"#]);
        assert!(csv_fields(r#"a"b"#).is_err());
        assert!(csv_fields(r#""ab"#).is_err());
        assert!(csv_fields(r#""a"b"#).is_err());
        assert!(csv_fields("").is_err());
    }

    #[test]
    fn ram() {
        assert_eq!(ram_in_bytes("512"), Some(512));
        assert_eq!(ram_in_bytes("64m"), Some(64 << 20));
        assert_eq!(ram_in_bytes("1.5GiB"), Some(3 << 29));
        assert_eq!(ram_in_bytes("1 kb"), Some(1024));
        assert_eq!(ram_in_bytes("1x"), None);
        assert_eq!(ram_in_bytes("1.2.3"), None);
        assert_eq!(ram_in_bytes(""), None);
        assert_eq!(ram_in_bytes("-1"), None);
    }
}
