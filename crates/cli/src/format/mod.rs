//! Output formatting shared by all commands: Go templates (`--format`), Docker's table/json/raw
//! format keys, the tabwriter that aligns tables, human units and Go-style timestamps.
//!
//! List commands turn API objects into rows ([`rows`]) whose fields carry Docker's formatter
//! names (`.ID`, `.Repository`, `.CreatedSince`, …), then call [`render_list`].

pub mod gofmt;
pub mod json_indent;
pub mod rows;
pub mod tabwriter;
pub mod template;
pub mod time;
pub mod units;

use template::{FuncMode, Template, TemplateError, Value};

/// The `--format` key that selects a command's default table.
pub const TABLE_KEY: &str = "table";
/// The `--format` key that selects a command's raw (key: value) output.
pub const RAW_KEY: &str = "raw";
/// The `--format` key that prints one JSON object per line.
pub const JSON_KEY: &str = "json";
/// Docker's `{{.ID}}` format used by `-q`.
pub const QUIET_FORMAT: &str = "{{.ID}}";

/// A `--format` problem, worded like Docker's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template parsing error: {0}")]
pub struct FormatError(#[from] pub TemplateError);

/// Whether a format string asks for a table (`table …`).
pub fn is_table(format: &str) -> bool {
    format.starts_with(TABLE_KEY)
}

/// Docker's `preFormat`: strips the `table` prefix, maps `json` to `{{json .}}`, trims spaces and
/// turns the two-character sequences `\t` and `\n` into real tabs and newlines.
pub fn template_source(format: &str) -> String {
    let f = if is_table(format) {
        &format[TABLE_KEY.len()..]
    } else if format == JSON_KEY {
        "{{json .}}"
    } else {
        format
    };
    f.trim_matches(' ')
        .replace("\\t", "\t")
        .replace("\\n", "\n")
}

/// Parses a `--format` value as Docker's formatter does.
pub fn parse_format(format: &str) -> Result<Template, FormatError> {
    Ok(Template::parse(&template_source(format))?)
}

/// Renders rows with a format, as Docker's `formatter.Context.Write`: each row's template output
/// followed by a newline; for `table …` formats a header row (the template executed on the
/// `header` map with header functions) first, and everything aligned by the tabwriter.
pub fn render_list(format: &str, header: &Value, rows: &[Value]) -> Result<String, FormatError> {
    let tmpl = parse_format(format)?;
    let mut body = String::new();
    for row in rows {
        body.push_str(&tmpl.execute(row)?);
        body.push('\n');
    }
    if !is_table(format) {
        return Ok(body);
    }
    let header_line = match tmpl.execute_partial(header, FuncMode::Header) {
        Ok(s) => s,
        Err((partial, _)) => partial,
    };
    Ok(tabwriter::TABLE.format(&format!("{header_line}\n{body}")))
}

/// Docker's `formatter.Ellipsis`: cuts `s` to `max_width` display columns, ending in `…`.
pub fn ellipsis(s: &str, max_width: usize) -> String {
    if max_width == 0 {
        return String::new();
    }
    let chars: Vec<char> = s.chars().collect();
    if max_width == 1 {
        return chars.first().map(|c| c.to_string()).unwrap_or_default();
    }
    let total: usize = chars.iter().map(|&c| char_width(c)).sum();
    if total <= max_width {
        return s.to_string();
    }
    let mut out = String::new();
    let mut width = 0;
    for &c in &chars {
        let w = char_width(c);
        if width + w > max_width - 1 {
            break;
        }
        width += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// Display width: 2 for East Asian wide and full-width characters, else 1.
fn char_width(c: char) -> usize {
    let u = c as u32;
    let wide = matches!(u,
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x1F300..=0x1F64F
        | 0x1F900..=0x1F9FF
        | 0x20000..=0x3FFFD);
    if wide {
        2
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<Value> {
        vec![
            Value::string_record(
                "t",
                [("Repository", "busybox".into()), ("Tag", "latest".into())],
            ),
            Value::string_record(
                "t",
                [("Repository", "alpine".into()), ("Tag", "3.19".into())],
            ),
        ]
    }

    fn header() -> Value {
        Value::string_map([("Repository", "REPOSITORY"), ("Tag", "TAG")])
    }

    #[test]
    fn table_prefix_adds_header_and_aligns() {
        let out = render_list("table {{.Repository}}\\t{{.Tag}}", &header(), &rows());
        assert_eq!(
            out.as_deref(),
            Ok("REPOSITORY   TAG\nbusybox      latest\nalpine       3.19\n")
        );
    }

    #[test]
    fn plain_format_has_no_header() {
        let out = render_list("{{.Repository}}:{{.Tag}}", &header(), &rows());
        assert_eq!(out.as_deref(), Ok("busybox:latest\nalpine:3.19\n"));
    }

    #[test]
    fn json_key_prints_one_object_per_line() {
        let out = render_list("json", &header(), &rows());
        assert_eq!(
            out.as_deref(),
            Ok("{\"Repository\":\"busybox\",\"Tag\":\"latest\"}\n{\"Repository\":\"alpine\",\"Tag\":\"3.19\"}\n")
        );
    }

    #[test]
    fn table_with_no_rows_prints_the_header() {
        let out = render_list("table {{.Repository}}\t{{.Tag}}", &header(), &[]);
        assert_eq!(out.as_deref(), Ok("REPOSITORY   TAG\n"));
    }

    #[test]
    fn template_errors_are_wrapped() {
        let err = render_list("{{.Repository", &header(), &rows())
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("template parsing error: template: :1: unclosed action")
        );
        let err = render_list("{{.Nope}}", &header(), &rows())
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("template parsing error: template: :1:2: executing \"\" at <.Nope>: can't evaluate field Nope in type t")
        );
    }

    #[test]
    fn ellipsis_like_docker() {
        assert_eq!(ellipsis("abcdef", 10), "abcdef");
        assert_eq!(ellipsis("abcdefghijkl", 5), "abcd…");
        assert_eq!(ellipsis("你好世界", 5), "你好…");
        assert_eq!(ellipsis("abc", 1), "a");
    }
}
