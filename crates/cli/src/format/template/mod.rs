//! A Go text/template engine covering what Docker users write in `--format`: fields and chains,
//! variables, pipelines, `if`/`else if`/`with`/`range` (with `break`/`continue`), parenthesised
//! pipelines, trim markers, comments, Go's builtin functions and Docker's extra ones.
//!
//! Errors read like Go's (`template: :1: unclosed action`), so Docker's wrapper messages
//! (`template parsing error: …`) come out the same.

mod exec;
mod funcs;
mod lex;
mod parse;
mod printf;
mod value;

pub use funcs::FuncMode;
pub use printf::go_quote;
pub use value::{write_json_string, Struct, Value};

/// A template parse or execution error, formatted like Go's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    source: String,
    nodes: Vec<parse::Node>,
}

impl Template {
    /// Parses `source` with Docker's function set.
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        let pieces = lex::lex(source)?;
        let nodes = parse::parse(source, pieces)?;
        Ok(Template {
            source: source.to_string(),
            nodes,
        })
    }

    /// Executes the template with `data` as both `.` and `$`.
    pub fn execute(&self, data: &Value) -> Result<String, TemplateError> {
        self.execute_partial(data, FuncMode::Normal)
            .map_err(|(_, e)| e)
    }

    /// Executes the template; on error also returns the output produced before it.
    pub fn execute_partial(
        &self,
        data: &Value,
        mode: FuncMode,
    ) -> Result<String, (String, TemplateError)> {
        exec::Exec::new(&self.source, data, mode).run(&self.nodes, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(tmpl: &str, data: serde_json::Value) -> String {
        match Template::parse(tmpl).and_then(|t| t.execute(&Value::from(data))) {
            Ok(s) => s,
            Err(e) => format!("ERR {e}"),
        }
    }

    fn inspect_data() -> serde_json::Value {
        json!({
            "Id": "sha256:abc",
            "RepoTags": ["busybox:latest", "busybox:1.36"],
            "Size": 4261000,
            "Config": {
                "Env": ["PATH=/bin", "A=b"],
                "Labels": {"maintainer": "me", "org.x": "y"},
                "Cmd": ["sh"],
                "Healthcheck": null,
            },
            "Empty": "",
            "Flag": true,
        })
    }

    #[test]
    fn fields_and_chains() {
        assert_eq!(render("{{.Id}}", inspect_data()), "sha256:abc");
        assert_eq!(render("{{.Config.Cmd}}", inspect_data()), "[sh]");
        assert_eq!(render("id={{ .Id }}!", inspect_data()), "id=sha256:abc!");
        assert_eq!(render("{{.Size}}", inspect_data()), "4261000");
    }

    #[test]
    fn missing_map_keys_print_no_value() {
        assert_eq!(render("{{.Nope}}", inspect_data()), "<no value>");
        assert_eq!(render("{{.Nope.Deeper}}", inspect_data()), "<no value>");
        assert_eq!(render("{{.Config.Healthcheck}}", inspect_data()), "<nil>");
    }

    #[test]
    fn struct_fields_are_checked() {
        let row = Value::string_record("*formatter.imageContext", [("ID", "abc".to_string())]);
        let t = Template::parse("{{.ID}} {{.Nope}}").unwrap_or_else(|e| panic!("{e}"));
        let err = t.execute(&row).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("template: :1:10: executing \"\" at <.Nope>: can't evaluate field Nope in type *formatter.imageContext")
        );
    }

    #[test]
    fn json_function() {
        assert_eq!(
            render("{{json .Config.Labels}}", inspect_data()),
            r#"{"maintainer":"me","org.x":"y"}"#
        );
        assert_eq!(
            render("{{json .RepoTags}}", inspect_data()),
            r#"["busybox:latest","busybox:1.36"]"#
        );
        assert_eq!(
            render("{{.Config.Cmd | json}}", inspect_data()),
            r#"["sh"]"#
        );
        assert_eq!(render("{{json .Empty}}", inspect_data()), r#""""#);
        assert_eq!(
            render("{{json .}}", json!({"b": 1, "a": "<x>"})),
            r#"{"a":"<x>","b":1}"#
        );
    }

    #[test]
    fn index_function() {
        assert_eq!(
            render(r#"{{index .Config.Labels "org.x"}}"#, inspect_data()),
            "y"
        );
        assert_eq!(
            render(r#"{{index .Config.Labels "missing"}}"#, inspect_data()),
            ""
        );
        assert_eq!(
            render("{{index .RepoTags 1}}", inspect_data()),
            "busybox:1.36"
        );
        assert_eq!(
            render("{{index .RepoTags 5}}", inspect_data()),
            "ERR template: :1:2: executing \"\" at <index>: error calling index: index out of range: 5"
        );
    }

    #[test]
    fn range_over_lists_and_maps() {
        assert_eq!(
            render("{{range .RepoTags}}[{{.}}]{{end}}", inspect_data()),
            "[busybox:latest][busybox:1.36]"
        );
        assert_eq!(
            render(
                "{{range $i, $t := .RepoTags}}{{$i}}={{$t}} {{end}}",
                inspect_data()
            ),
            "0=busybox:latest 1=busybox:1.36 "
        );
        assert_eq!(
            render(
                "{{range $k, $v := .Config.Labels}}{{$k}}:{{$v}};{{end}}",
                inspect_data()
            ),
            "maintainer:me;org.x:y;"
        );
        assert_eq!(
            render("{{range .None}}x{{else}}empty{{end}}", inspect_data()),
            "empty"
        );
        assert_eq!(
            render("{{range .RepoTags}}{{if eq . \"busybox:latest\"}}{{continue}}{{end}}{{.}}{{break}}{{end}}", inspect_data()),
            "busybox:1.36"
        );
        assert_eq!(
            render("{{range $e := .Config.Env}}{{$e}},{{end}}", inspect_data()),
            "PATH=/bin,A=b,"
        );
        assert_eq!(
            render("{{range .RepoTags}}{{$.Id}} {{end}}", inspect_data()),
            "sha256:abc sha256:abc "
        );
    }

    #[test]
    fn if_else_chains() {
        assert_eq!(
            render("{{if .Flag}}yes{{else}}no{{end}}", inspect_data()),
            "yes"
        );
        assert_eq!(
            render("{{if .Empty}}yes{{else}}no{{end}}", inspect_data()),
            "no"
        );
        assert_eq!(
            render(
                "{{if .Empty}}a{{else if .Flag}}b{{else}}c{{end}}",
                inspect_data()
            ),
            "b"
        );
        assert_eq!(render("{{if not .Flag}}a{{end}}", inspect_data()), "");
        assert_eq!(
            render("{{if and .Flag .Id}}both{{end}}", inspect_data()),
            "both"
        );
        assert_eq!(
            render("{{or .Empty \"default\"}}", inspect_data()),
            "default"
        );
        assert_eq!(
            render("{{with .Config}}{{.Cmd}}{{end}}", inspect_data()),
            "[sh]"
        );
        assert_eq!(
            render("{{with .Empty}}x{{else}}none{{end}}", inspect_data()),
            "none"
        );
        assert_eq!(
            render("{{if gt (len .RepoTags) 1}}many{{end}}", inspect_data()),
            "many"
        );
        assert_eq!(
            render(
                "{{if ne .Config.Healthcheck nil}}hc{{else}}no hc{{end}}",
                inspect_data()
            ),
            "no hc"
        );
    }

    #[test]
    fn string_functions() {
        assert_eq!(
            render(r#"{{join .Config.Env ","}}"#, inspect_data()),
            "PATH=/bin,A=b"
        );
        assert_eq!(
            render(
                r#"{{upper .Id}} {{lower "ABC"}} {{title "hello world"}}"#,
                inspect_data()
            ),
            "SHA256:ABC abc Hello World"
        );
        assert_eq!(
            render(r#"{{split "a:b:c" ":"}}"#, inspect_data()),
            "[a b c]"
        );
        assert_eq!(
            render(r#"{{truncate .Id 6}}|{{pad .Id 1 2}}|"#, inspect_data()),
            "sha256| sha256:abc  |"
        );
        assert_eq!(
            render("{{len .Config.Env}} {{len .Id}}", inspect_data()),
            "2 10"
        );
        assert_eq!(
            render(r#"{{.Id | upper | printf "<%s>"}}"#, inspect_data()),
            "<SHA256:ABC>"
        );
    }

    #[test]
    fn printf_and_println() {
        assert_eq!(
            render(
                r#"{{printf "%s has %d tags" .Id (len .RepoTags)}}"#,
                inspect_data()
            ),
            "sha256:abc has 2 tags"
        );
        assert_eq!(render("{{println .Id}}", inspect_data()), "sha256:abc\n");
        assert_eq!(render(r#"{{print "a" 1 2 "b"}}"#, inspect_data()), "a1 2b");
    }

    #[test]
    fn trim_markers_and_literals() {
        assert_eq!(
            render("a   {{- .Id -}}   b", inspect_data()),
            "asha256:abcb"
        );
        assert_eq!(render("{{- \"lit\" -}}\n", inspect_data()), "lit");
        assert_eq!(render("x {{/* comment */}}y", inspect_data()), "x y");
        assert_eq!(render("{{`raw\\n`}}", inspect_data()), "raw\\n");
        assert_eq!(
            render("{{3}} {{true}} {{1.5}}", inspect_data()),
            "3 true 1.5"
        );
    }

    #[test]
    fn variables() {
        assert_eq!(render("{{$x := .Id}}{{$x}}", inspect_data()), "sha256:abc");
        assert_eq!(
            render(
                "{{$x := 1}}{{if .Flag}}{{$x = 2}}{{end}}{{$x}}",
                inspect_data()
            ),
            "2"
        );
        assert_eq!(
            render("{{$y}}", inspect_data()),
            "ERR template: :1: undefined variable \"$y\""
        );
    }

    #[test]
    fn parse_errors_read_like_go() {
        let err = |t: &str| {
            Template::parse(t)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert_eq!(err("{{.ID"), "template: :1: unclosed action");
        assert_eq!(err("{{if .X}}"), "template: :1: unexpected EOF");
        assert_eq!(err("{{end}}"), "template: :1: unexpected {{end}}");
        assert_eq!(
            err("{{nosuch .X}}"),
            "template: :1: function \"nosuch\" not defined"
        );
        assert_eq!(err("{{}}"), "template: :1: missing value for command");
        assert_eq!(
            err("{{.X | \"s\"}}"),
            "template: :1: non executable command in pipeline stage 2"
        );
        assert_eq!(
            err("{{break}}"),
            "template: :1: {{break}} outside {{range}}"
        );
    }

    #[test]
    fn header_mode_keeps_header_names() {
        let t = Template::parse(r#"{{json .ID}}|{{upper .Name}}|{{join .Names ","}}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        let headers = Value::string_map([("ID", "IMAGE ID"), ("Name", "Name"), ("Names", "NAMES")]);
        assert_eq!(
            t.execute_partial(&headers, FuncMode::Header)
                .ok()
                .as_deref(),
            Some("IMAGE ID|Name|NAMES")
        );
    }

    #[test]
    fn paren_pipelines_with_fields() {
        assert_eq!(
            render(
                "{{(index .Items 0).Name}}",
                json!({"Items": [{"Name": "n0"}]})
            ),
            "n0"
        );
    }
}
