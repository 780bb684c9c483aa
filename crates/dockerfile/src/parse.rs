//! From text to stages of typed instructions.

use crate::{
    Arg, Command, Copy, Dockerfile, Error, From, Healthcheck, Heredoc, Instruction, Mount,
    MountType, Run, ShellOrExec, Stage,
};

const INSTRUCTIONS: &[&str] = &[
    "add",
    "arg",
    "cmd",
    "copy",
    "entrypoint",
    "env",
    "expose",
    "from",
    "healthcheck",
    "label",
    "maintainer",
    "onbuild",
    "run",
    "shell",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

fn err(line: usize, message: impl Into<String>) -> Error {
    Error {
        line,
        message: message.into(),
    }
}

/// One logical line: an instruction with its continuations joined.
struct Logical {
    line: usize,
    end_line: usize,
    text: String,
}

/// Parses a Dockerfile.
pub fn parse(src: &str) -> Result<Dockerfile, Error> {
    let lines: Vec<&str> = src
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut escape = '\\';
    let mut syntax = None;
    let mut check = None;
    let mut i = 0;
    let mut seen = std::collections::HashSet::new();
    // Parser directives: only before anything else.
    while i < lines.len() {
        let Some((key, value)) = directive(lines[i]) else {
            break;
        };
        let key = key.to_ascii_lowercase();
        if !matches!(key.as_str(), "escape" | "syntax" | "check") {
            break;
        }
        if !seen.insert(key.clone()) {
            return Err(err(
                i + 1,
                format!("only one {key} parser directive can be used"),
            ));
        }
        match key.as_str() {
            "escape" => {
                escape = match value.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    other => {
                        return Err(err(
                            i + 1,
                            format!("invalid escape token '{other}' does not match ^[\\\\`]$"),
                        ))
                    }
                }
            }
            "syntax" => syntax = Some(value),
            _ => check = Some(value),
        }
        i += 1;
    }
    let mut warnings = Vec::new();
    let mut logicals: Vec<(Logical, Vec<Heredoc>)> = Vec::new();
    while i < lines.len() {
        let raw = lines[i];
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            i += 1;
            continue;
        }
        let start = i;
        let mut text = String::new();
        let mut empty_cont = false;
        let mut cur = raw.trim_start().to_string();
        loop {
            match strip_continuation(&cur, escape) {
                Some(head) => {
                    text.push_str(head);
                    i += 1;
                    // Skip comments and (with a warning) empty lines inside the instruction.
                    while i < lines.len() {
                        let n = lines[i].trim();
                        if n.starts_with('#') {
                            i += 1;
                        } else if n.is_empty() {
                            empty_cont = true;
                            i += 1;
                        } else {
                            break;
                        }
                    }
                    if i >= lines.len() {
                        break;
                    }
                    cur = lines[i].to_string();
                }
                None => {
                    text.push_str(&cur);
                    i += 1;
                    break;
                }
            }
        }
        let end = i.max(start + 1);
        if empty_cont {
            warnings.push(format!(
                "Empty continuation line found in: {} (line {}); empty continuation lines will become errors in a future release",
                text.trim(),
                start + 1
            ));
        }
        // Heredoc bodies follow the instruction.
        let mut heredocs = Vec::new();
        let keyword = text
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let heredoc_kw = matches!(keyword.as_str(), "run" | "copy" | "add")
            || (keyword == "onbuild" && {
                let inner = text
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("")
                    .to_ascii_lowercase();
                matches!(inner.as_str(), "run" | "copy" | "add")
            });
        let mut end_line = end;
        if heredoc_kw && !text.trim_end().ends_with(']') {
            for (name, quoted, chomp) in heredoc_markers(&text) {
                let mut content = String::new();
                let open = i;
                loop {
                    if i >= lines.len() {
                        return Err(err(
                            open,
                            format!("unterminated heredoc {name}: no line \"{name}\" ends it"),
                        ));
                    }
                    let l = lines[i];
                    i += 1;
                    let cmp = if chomp { l.trim_start_matches('\t') } else { l };
                    if cmp == name {
                        break;
                    }
                    content.push_str(cmp);
                    content.push('\n');
                }
                end_line = i;
                heredocs.push(Heredoc {
                    name,
                    content,
                    expand: !quoted,
                    chomp,
                });
            }
        }
        logicals.push((
            Logical {
                line: start + 1,
                end_line,
                text,
            },
            heredocs,
        ));
    }
    let mut df = Dockerfile {
        escape,
        syntax,
        check,
        args: Vec::new(),
        stages: Vec::new(),
        warnings,
    };
    for (l, heredocs) in logicals {
        let ins = instruction(&l, heredocs, escape, false)?;
        match ins {
            Parsed::From(from) => {
                if let Some(n) = &from.name {
                    if df.stages.iter().any(|s| s.name.as_deref() == Some(n.as_str())) {
                        return Err(err(l.line, format!("duplicate stage name {n:?}")));
                    }
                }
                df.stages.push(Stage {
                    index: df.stages.len(),
                    name: from.name.clone(),
                    from,
                    line: l.line,
                    instructions: Vec::new(),
                });
            }
            Parsed::Ins(ins) => match df.stages.last_mut() {
                Some(s) => s.instructions.push(ins),
                None => match ins.cmd {
                    Command::Arg(args) => df.args.extend(args),
                    _ => {
                        return Err(err(
                            l.line,
                            "no build stage in current context: the first instruction must be FROM (or ARG)",
                        ))
                    }
                },
            },
        }
    }
    if df.stages.is_empty() {
        let line = lines.len().max(1);
        return Err(err(
            line,
            if df.args.is_empty() {
                "file with no instructions"
            } else {
                "no FROM instruction: a Dockerfile needs at least one build stage"
            },
        ));
    }
    Ok(df)
}

/// `# key=value` at the top of the file.
fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.trim_start().strip_prefix('#')?.trim_start();
    let (key, value) = rest.split_once('=')?;
    let key = key.trim_end();
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some((key.to_string(), value.trim().to_string()))
}

/// The line without its continuation marker, if it has one.
fn strip_continuation(line: &str, escape: char) -> Option<&str> {
    let t = line.trim_end_matches([' ', '\t']);
    t.strip_suffix(escape)
}

/// `<<EOF`, `<<-EOF`, `<<"EOF"`, `<<'EOF'` markers in order: (name, quoted, chomp).
fn heredoc_markers(text: &str) -> Vec<(String, bool, bool)> {
    let c: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut quote: Option<char> = None;
    while i + 1 < c.len() {
        match (quote, c[i]) {
            (None, '\'') | (None, '"') => quote = Some(c[i]),
            (Some(q), ch) if ch == q => quote = None,
            (None, '<') if c[i + 1] == '<' && (i == 0 || c[i - 1] != '<') => {
                let mut j = i + 2;
                if c.get(j) == Some(&'<') {
                    i = j + 1;
                    continue; // a here-string (<<<)
                }
                let chomp = c.get(j) == Some(&'-');
                if chomp {
                    j += 1;
                }
                let q = match c.get(j) {
                    Some(&'"') | Some(&'\'') => {
                        j += 1;
                        Some(c[j - 1])
                    }
                    _ => None,
                };
                let s = j;
                while j < c.len() && (c[j].is_ascii_alphanumeric() || c[j] == '_') {
                    j += 1;
                }
                if j > s && (c[s].is_ascii_alphabetic() || c[s] == '_') {
                    let name: String = c[s..j].iter().collect();
                    let closed = match q {
                        Some(qc) => {
                            if c.get(j) == Some(&qc) {
                                j += 1;
                                true
                            } else {
                                false
                            }
                        }
                        None => true,
                    };
                    if closed {
                        out.push((name, q.is_some(), chomp));
                    }
                }
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

enum Parsed {
    From(From),
    Ins(Instruction),
}

/// Splits off `--flag[=value]` words at the start of `rest`.
fn take_flags(rest: &str) -> (Vec<(String, Option<String>)>, &str) {
    let mut flags = Vec::new();
    let mut r = rest.trim_start();
    while let Some(after) = r.strip_prefix("--") {
        // A flag word ends at whitespace outside quotes.
        let mut end = after.len();
        let mut q: Option<char> = None;
        for (idx, ch) in after.char_indices() {
            match (q, ch) {
                (None, '"') | (None, '\'') => q = Some(ch),
                (Some(x), c) if c == x => q = None,
                (None, c) if c.is_whitespace() => {
                    end = idx;
                    break;
                }
                _ => {}
            }
        }
        let word = &after[..end];
        if word.is_empty() {
            break;
        }
        let (name, value) = match word.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(unquote(v))),
            None => (word.to_string(), None),
        };
        flags.push((name, value));
        r = after[end..].trim_start();
    }
    (flags, r)
}

fn unquote(v: &str) -> String {
    let b = v.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

/// Words split on whitespace outside quotes; quotes and escapes are kept (expansion removes
/// them).
fn quoted_words(s: &str, escape: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut q: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == escape {
            cur.push(c);
            if let Some(n) = chars.next() {
                cur.push(n);
            }
            continue;
        }
        match q {
            Some(x) if c == x => {
                q = None;
                cur.push(c);
            }
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => {
                q = Some(c);
                cur.push(c);
            }
            None if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            None => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A JSON array of strings, if `s` is one.
fn json_array(s: &str) -> Option<Vec<String>> {
    let t = s.trim();
    if !t.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(t).ok()
}

/// A JSON-form word made safe for `expand`: quotes and the escape character stay literal.
fn protect(word: &str, escape: char) -> String {
    let mut out = String::new();
    for c in word.chars() {
        if c == escape || c == '"' || c == '\'' {
            out.push(escape);
        }
        out.push(c);
    }
    out
}

fn shell_or_exec(rest: &str) -> ShellOrExec {
    match json_array(rest) {
        Some(v) => ShellOrExec::Exec(v),
        None => ShellOrExec::Shell(rest.to_string()),
    }
}

struct Flags {
    line: usize,
    list: Vec<(String, Option<String>)>,
}

impl Flags {
    fn check(&self, allowed: &[&str]) -> Result<(), Error> {
        for (n, _) in &self.list {
            if !allowed.contains(&n.as_str()) {
                return Err(err(self.line, format!("Unknown flag: {n}")));
            }
        }
        Ok(())
    }

    fn value(&self, name: &str) -> Result<Option<String>, Error> {
        match self.list.iter().rev().find(|(n, _)| n == name) {
            None => Ok(None),
            Some((_, Some(v))) => Ok(Some(v.clone())),
            Some((_, None)) => Err(err(self.line, format!("Missing a value on flag: --{name}"))),
        }
    }

    fn values(&self, name: &str) -> Result<Vec<String>, Error> {
        self.list
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| {
                v.clone()
                    .ok_or_else(|| err(self.line, format!("Missing a value on flag: --{name}")))
            })
            .collect()
    }

    fn bool(&self, name: &str) -> Result<bool, Error> {
        match self.list.iter().rev().find(|(n, _)| n == name) {
            None => Ok(false),
            Some((_, None)) => Ok(true),
            Some((_, Some(v))) => match v.to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(err(
                    self.line,
                    format!("expecting boolean value for flag {name}, not: {v}"),
                )),
            },
        }
    }
}

/// `a=b c="d e"` pairs, or the old `key value with spaces` form.
fn name_values(
    kw: &str,
    rest: &str,
    escape: char,
    line: usize,
) -> Result<Vec<(String, String)>, Error> {
    let words = quoted_words(rest, escape);
    let Some(first) = words.first() else {
        return Err(err(line, format!("{kw} requires at least one argument")));
    };
    if !first.contains('=') {
        // Old form: one key, the rest of the line is its value.
        let key = first.clone();
        let value = rest.trim_start()[first.len()..].trim().to_string();
        if value.is_empty() {
            return Err(err(line, format!("{kw} must have two arguments")));
        }
        return Ok(vec![(key, value)]);
    }
    let mut out = Vec::new();
    for w in words {
        let Some((k, v)) = w.split_once('=') else {
            return Err(err(
                line,
                format!("Syntax error - can't find = in {w:?}. Must be of the form: name=value"),
            ));
        };
        if k.is_empty() {
            return Err(err(line, format!("{kw} names can not be blank")));
        }
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

fn parse_mount(spec: &str, line: usize) -> Result<Mount, Error> {
    let mut m = Mount {
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
    };
    let mut ro: Option<bool> = None;
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim().to_string())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let need = |v: &Option<String>| {
            v.clone().ok_or_else(|| {
                err(
                    line,
                    format!("invalid field '{field}' must be a key=value pair"),
                )
            })
        };
        let boolean = |v: &Option<String>| -> Result<bool, Error> {
            match v.as_deref() {
                None => Ok(true),
                Some("true") | Some("1") => Ok(true),
                Some("false") | Some("0") => Ok(false),
                Some(o) => Err(err(line, format!("invalid value for {k}: {o}"))),
            }
        };
        let num = |v: &Option<String>, radix: u32| -> Result<u32, Error> {
            let s = need(v)?;
            u32::from_str_radix(&s, radix)
                .map_err(|_| err(line, format!("invalid value for {k}: {s}")))
        };
        match k.as_str() {
            "type" => {
                m.typ = match need(&v)?.as_str() {
                    "bind" => MountType::Bind,
                    "cache" => MountType::Cache,
                    "tmpfs" => MountType::Tmpfs,
                    "secret" => MountType::Secret,
                    "ssh" => MountType::Ssh,
                    o => return Err(err(line, format!("unsupported mount type {o:?}"))),
                }
            }
            "target" | "dst" | "destination" => m.target = Some(need(&v)?),
            "source" | "src" => m.source = Some(need(&v)?),
            "from" => m.from = Some(need(&v)?),
            "id" => m.id = Some(need(&v)?),
            "sharing" => {
                let s = need(&v)?;
                if !matches!(s.as_str(), "shared" | "private" | "locked") {
                    return Err(err(line, format!("unsupported sharing value {s:?}")));
                }
                m.sharing = Some(s)
            }
            "ro" | "readonly" => ro = Some(boolean(&v)?),
            "rw" | "readwrite" => ro = Some(!boolean(&v)?),
            "required" => m.required = boolean(&v)?,
            "mode" => m.mode = Some(num(&v, 8)?),
            "uid" => m.uid = Some(num(&v, 10)?),
            "gid" => m.gid = Some(num(&v, 10)?),
            "size" => {
                let s = need(&v)?;
                m.size =
                    Some(parse_size(&s).ok_or_else(|| err(line, format!("invalid size {s:?}")))?);
            }
            "env" => {}
            other => return Err(err(line, format!("unexpected key '{other}' in '{field}'"))),
        }
    }
    // Bind mounts are read-only unless `rw`; the others are writable unless `ro`.
    m.readonly = ro.unwrap_or(m.typ == MountType::Bind);
    if matches!(m.typ, MountType::Bind | MountType::Cache | MountType::Tmpfs) && m.target.is_none()
    {
        return Err(err(line, "mount target must be specified"));
    }
    Ok(m)
}

fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let (num, mult) = match s.trim_end_matches('b').chars().last()? {
        'k' => (&s[..s.len() - s.ends_with('b') as usize - 1], 1u64 << 10),
        'm' => (&s[..s.len() - s.ends_with('b') as usize - 1], 1 << 20),
        'g' => (&s[..s.len() - s.ends_with('b') as usize - 1], 1 << 30),
        _ => (s.trim_end_matches('b'), 1),
    };
    num.parse::<u64>().ok().map(|n| n * mult)
}

fn instruction(
    l: &Logical,
    heredocs: Vec<Heredoc>,
    escape: char,
    trigger: bool,
) -> Result<Parsed, Error> {
    let line = l.line;
    let text = l.text.trim();
    let (kw_raw, rest) = match text.find(char::is_whitespace) {
        Some(p) => (&text[..p], text[p..].trim_start()),
        None => (text, ""),
    };
    let kw = kw_raw.to_ascii_lowercase();
    if !INSTRUCTIONS.contains(&kw.as_str()) {
        return Err(err(
            line,
            format!("unknown instruction: {}", kw_raw.to_ascii_uppercase()),
        ));
    }
    let uses_flags = matches!(kw.as_str(), "from" | "run" | "copy" | "add" | "healthcheck");
    let (flag_list, rest) = if uses_flags {
        take_flags(rest)
    } else {
        (Vec::new(), rest)
    };
    let flags = Flags {
        line,
        list: flag_list,
    };
    let upper = kw.to_ascii_uppercase();
    let need_args = |r: &str| {
        if r.trim().is_empty() {
            Err(err(line, format!("{upper} requires at least one argument")))
        } else {
            Ok(())
        }
    };
    let ins = |cmd: Command| {
        Ok(Parsed::Ins(Instruction {
            line,
            end_line: l.end_line,
            source: text.to_string(),
            cmd,
        }))
    };
    match kw.as_str() {
        "from" => {
            flags.check(&["platform"])?;
            let words: Vec<&str> = rest.split_whitespace().collect();
            let (image, name) = match words.as_slice() {
                [image] => (image.to_string(), None),
                [image, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => {
                    let n = name.to_ascii_lowercase();
                    let valid = n.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                        && n.chars().all(|c| {
                            c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c)
                        });
                    if !valid {
                        return Err(err(line, format!(
                            "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                        )));
                    }
                    (image.to_string(), Some(n))
                }
                [] => return Err(err(line, "FROM requires either one or three arguments")),
                _ => return Err(err(line, "FROM requires either one or three arguments")),
            };
            Ok(Parsed::From(From {
                image,
                name,
                platform: flags.value("platform")?,
            }))
        }
        "run" => {
            flags.check(&["mount", "network", "security"])?;
            need_args(rest)?;
            let mounts = flags
                .values("mount")?
                .iter()
                .map(|m| parse_mount(m, line))
                .collect::<Result<Vec<_>, _>>()?;
            let network = flags.value("network")?;
            if let Some(n) = &network {
                if !matches!(n.as_str(), "default" | "none" | "host") {
                    return Err(err(
                        line,
                        format!("unsupported network mode {n:?}: use default, none or host"),
                    ));
                }
            }
            let security = flags.value("security")?;
            ins(Command::Run(Run {
                cmd: shell_or_exec(rest),
                heredocs,
                mounts,
                network,
                security,
            }))
        }
        "cmd" => ins(Command::Cmd(shell_or_exec(rest))),
        "entrypoint" => ins(Command::Entrypoint(shell_or_exec(rest))),
        "copy" | "add" => {
            let add = kw == "add";
            if add {
                flags.check(&[
                    "chown",
                    "chmod",
                    "link",
                    "exclude",
                    "checksum",
                    "keep-git-dir",
                ])?;
            } else {
                flags.check(&["from", "chown", "chmod", "link", "exclude", "parents"])?;
            }
            let mut words: Vec<String> = match json_array(rest) {
                Some(v) => v.iter().map(|w| protect(w, escape)).collect(),
                None => rest.split_whitespace().map(str::to_string).collect(),
            };
            let names: Vec<&str> = heredocs.iter().map(|h| h.name.as_str()).collect();
            let mut doc_sources = Vec::new();
            if !heredocs.is_empty() {
                // `<<EOF` words are heredoc sources.
                words.retain(|w| {
                    let is_doc = w.starts_with("<<") && {
                        let n = w
                            .trim_start_matches("<<")
                            .trim_start_matches('-')
                            .trim_matches(['"', '\'']);
                        names.contains(&n)
                    };
                    if is_doc {
                        doc_sources.push(w.clone());
                    }
                    !is_doc
                });
            }
            if words.len() + doc_sources.len() < 2 || words.is_empty() {
                return Err(err(
                    line,
                    format!(
                        "{upper} requires at least two arguments, but only {} provided",
                        words.len() + doc_sources.len()
                    ),
                ));
            }
            let dest = words.pop().unwrap_or_default();
            let c = Copy {
                sources: words,
                heredocs,
                dest,
                from: if add { None } else { flags.value("from")? },
                chown: flags.value("chown")?,
                chmod: flags.value("chmod")?,
                link: flags.bool("link")?,
                exclude: flags.values("exclude")?,
                parents: if add { false } else { flags.bool("parents")? },
                checksum: if add { flags.value("checksum")? } else { None },
                keep_git_dir: if add {
                    flags.bool("keep-git-dir")?
                } else {
                    false
                },
            };
            ins(if add {
                Command::Add(c)
            } else {
                Command::Copy(c)
            })
        }
        "env" => ins(Command::Env(name_values("ENV", rest, escape, line)?)),
        "label" => ins(Command::Label(name_values("LABEL", rest, escape, line)?)),
        "arg" => {
            need_args(rest)?;
            let args = quoted_words(rest, escape)
                .into_iter()
                .map(|w| match w.split_once('=') {
                    Some((n, d)) => Arg {
                        name: n.to_string(),
                        default: Some(d.to_string()),
                    },
                    None => Arg {
                        name: w,
                        default: None,
                    },
                })
                .collect::<Vec<_>>();
            for a in &args {
                if a.name.is_empty()
                    || !a
                        .name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
                {
                    return Err(err(line, format!("invalid ARG name {:?}", a.name)));
                }
            }
            ins(Command::Arg(args))
        }
        "expose" => {
            need_args(rest)?;
            ins(Command::Expose(
                rest.split_whitespace().map(str::to_string).collect(),
            ))
        }
        "volume" => {
            need_args(rest)?;
            let v = match json_array(rest) {
                Some(v) => v.iter().map(|w| protect(w, escape)).collect(),
                None => rest.split_whitespace().map(str::to_string).collect(),
            };
            ins(Command::Volume(v))
        }
        "workdir" => {
            need_args(rest)?;
            ins(Command::Workdir(rest.trim().to_string()))
        }
        "user" => {
            need_args(rest)?;
            ins(Command::User(rest.trim().to_string()))
        }
        "stopsignal" => {
            need_args(rest)?;
            ins(Command::StopSignal(rest.trim().to_string()))
        }
        "maintainer" => {
            need_args(rest)?;
            ins(Command::Maintainer(rest.trim().to_string()))
        }
        "shell" => match json_array(rest) {
            Some(v) if !v.is_empty() => ins(Command::Shell(v)),
            _ => Err(err(line, "SHELL requires the arguments to be in JSON form")),
        },
        "healthcheck" => {
            flags.check(&[
                "interval",
                "timeout",
                "start-period",
                "start-interval",
                "retries",
            ])?;
            let (typ, cmd) = match rest.find(char::is_whitespace) {
                Some(p) => (&rest[..p], rest[p..].trim()),
                None => (rest, ""),
            };
            match typ.to_ascii_uppercase().as_str() {
                "NONE" => {
                    if !cmd.is_empty() || !flags.list.is_empty() {
                        return Err(err(line, "HEALTHCHECK NONE takes no arguments"));
                    }
                    ins(Command::Healthcheck(Healthcheck::None))
                }
                "CMD" => {
                    if cmd.is_empty() {
                        return Err(err(line, "Missing command after HEALTHCHECK CMD"));
                    }
                    let test = match json_array(cmd) {
                        Some(v) => std::iter::once("CMD".to_string()).chain(v).collect(),
                        None => vec!["CMD-SHELL".to_string(), cmd.to_string()],
                    };
                    let retries = match flags.value("retries")? {
                        Some(r) => Some(r.parse::<u32>().map_err(|_| {
                            err(
                                line,
                                format!("--retries must be a non-negative integer, not {r:?}"),
                            )
                        })?),
                        None => None,
                    };
                    ins(Command::Healthcheck(Healthcheck::Check {
                        test,
                        interval: flags.value("interval")?,
                        timeout: flags.value("timeout")?,
                        start_period: flags.value("start-period")?,
                        start_interval: flags.value("start-interval")?,
                        retries,
                    }))
                }
                "" => Err(err(line, "HEALTHCHECK requires at least one argument")),
                other => Err(err(
                    line,
                    format!("Unknown type \"{other}\" in HEALTHCHECK (try CMD)"),
                )),
            }
        }
        "onbuild" => {
            if trigger {
                return Err(err(line, "ONBUILD ONBUILD isn't allowed"));
            }
            need_args(rest)?;
            let inner_kw = rest
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            match inner_kw.as_str() {
                "onbuild" => {
                    return Err(err(
                        line,
                        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
                    ))
                }
                "from" => return Err(err(line, "FROM isn't allowed as an ONBUILD trigger")),
                "maintainer" => {
                    return Err(err(line, "MAINTAINER isn't allowed as an ONBUILD trigger"))
                }
                _ => {}
            }
            let inner = Logical {
                line,
                end_line: l.end_line,
                text: rest.to_string(),
            };
            match instruction(&inner, heredocs, escape, true)? {
                Parsed::Ins(i) => ins(Command::Onbuild(Box::new(i))),
                Parsed::From(_) => Err(err(line, "FROM isn't allowed as an ONBUILD trigger")),
            }
        }
        _ => Err(err(line, format!("unknown instruction: {upper}"))),
    }
}
