//! From text to stages: parser directives, comments, line continuations,
//! heredocs, then each instruction's arguments and flags.

use crate::lexer::{heredoc_delimiter, heredoc_scan_words};
use crate::mount::parse_mount_unexpanded;
use crate::util::{
    extract_flags, go_duration_nanos, parse_json_array, parse_words, split_first, split_ws,
    FlagKind, Flags,
};
use crate::{
    Arg, Command, Copy, Dockerfile, Error, Healthcheck, Heredoc, Instruction, Run, ShellOrExec,
    Stage,
};

/// Parse a Dockerfile.
///
/// Errors carry the 1-based line of the instruction at fault. ARGs before the
/// first FROM go to [`Dockerfile::args`]; any other instruction there is an
/// error, as is a file without a FROM.
pub fn parse(src: &str) -> Result<Dockerfile, Error> {
    let mut reader = Reader::new(src);
    let mut df = Dockerfile {
        escape: '\\',
        syntax: None,
        check: None,
        args: Vec::new(),
        stages: Vec::new(),
        warnings: Vec::new(),
    };
    let mut any = false;
    let mut stage_lines = std::collections::HashMap::new();
    while let Some(logical) = reader.next_logical(&mut df)? {
        any = true;
        let start = logical.start;
        let parsed = parse_logical(&logical, df.escape).map_err(|m| Error::new(start, m))?;
        match parsed {
            Parsed::From(from) => {
                if let Some(name) = &from.name {
                    if let Some(prev) = stage_lines.get(name) {
                        return Err(Error::new(
                            start,
                            format!("duplicate stage name {name:?}, first used on line {prev}"),
                        ));
                    }
                    stage_lines.insert(name.clone(), start);
                    if name == "scratch" || name == "context" {
                        df.warnings.push(format!(
                            "line {start}: Stage name should not use the same name as reserved stage {name:?}"
                        ));
                    }
                }
                df.stages.push(Stage {
                    index: df.stages.len(),
                    name: from.name.clone(),
                    from,
                    line: start,
                    instructions: Vec::new(),
                });
            }
            Parsed::Instruction(ins) => match df.stages.last_mut() {
                Some(stage) => stage.instructions.push(ins),
                None => match ins.cmd {
                    Command::Arg(args) => df.args.extend(args),
                    cmd => {
                        return Err(Error::new(
                            start,
                            format!(
                                "no build stage in current context: {} must come after a FROM \
                                 (only ARG may come before the first FROM)",
                                cmd.keyword()
                            ),
                        ))
                    }
                },
            },
        }
    }
    if !any {
        return Err(Error::new(
            reader.lines.len().max(1),
            "file with no instructions",
        ));
    }
    if df.stages.is_empty() {
        return Err(Error::new(
            reader.lines.len().max(1),
            "dockerfile contains no stages to build: a FROM instruction is required",
        ));
    }
    Ok(df)
}

/// One instruction as read from the file: the joined line and heredoc bodies.
struct Logical {
    start: usize,
    end: usize,
    line: String,
    heredocs: Vec<Heredoc>,
}

struct Reader<'a> {
    lines: Vec<&'a str>,
    /// Index of the next line to read (= number of lines read).
    next: usize,
    directives_done: bool,
    seen_directives: Vec<String>,
}

fn trim_newline(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

fn is_comment(s: &str) -> bool {
    s.trim_start().starts_with('#')
}

/// Remove a line-continuation escape at the end of `line`: the escape char,
/// followed only by blanks, not itself escaped. Returns (text, ends here).
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    let Some(before) = body.strip_suffix(escape) else {
        return (line, true);
    };
    if before.is_empty() || !before.ends_with(escape) {
        (before, false)
    } else {
        (line, true)
    }
}

/// `#`, blanks, then `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`.
fn match_directive(line: &str) -> Option<(String, String)> {
    let re_space = |c: char| matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ');
    let s = line.strip_prefix('#')?.trim_start();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let key_len = s
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(s.len());
    let (key, rest) = s.split_at(key_len);
    let rest = rest.trim_start_matches(re_space).strip_prefix('=')?;
    let value = rest.trim_matches(re_space);
    if value.is_empty() {
        return None;
    }
    Some((key.to_ascii_lowercase(), value.to_string()))
}

impl<'a> Reader<'a> {
    fn new(src: &'a str) -> Reader<'a> {
        let src = src.strip_prefix('\u{feff}').unwrap_or(src);
        Reader {
            lines: src.split_inclusive('\n').collect(),
            next: 0,
            directives_done: false,
            seen_directives: Vec::new(),
        }
    }

    fn directive(&mut self, text: &str, lineno: usize, df: &mut Dockerfile) -> Result<(), Error> {
        if self.directives_done {
            return Ok(());
        }
        let Some((key, value)) = match_directive(text) else {
            self.directives_done = true;
            return Ok(());
        };
        if !matches!(key.as_str(), "escape" | "syntax" | "check") {
            self.directives_done = true;
            return Ok(());
        }
        if self.seen_directives.contains(&key) {
            return Err(Error::new(
                lineno,
                format!("only one {key} parser directive can be used"),
            ));
        }
        self.seen_directives.push(key.clone());
        match key.as_str() {
            "escape" => {
                df.escape = match value.as_str() {
                    "`" => '`',
                    "\\" => '\\',
                    _ => {
                        return Err(Error::new(
                            lineno,
                            format!("invalid escape token '{value}' does not match ` or \\"),
                        ))
                    }
                }
            }
            "syntax" => df.syntax = Some(value),
            _ => df.check = Some(value),
        }
        Ok(())
    }

    fn next_logical(&mut self, df: &mut Dockerfile) -> Result<Option<Logical>, Error> {
        while self.next < self.lines.len() {
            let lineno = self.next + 1;
            let text = trim_newline(self.lines[self.next]).trim_start();
            self.next += 1;
            self.directive(text, lineno, df)?;
            let text = if is_comment(text) { "" } else { text };
            let (first, mut done) = trim_continuation(text, df.escape);
            if done && first.is_empty() {
                continue;
            }
            let mut line = first.to_string();
            let mut empty_continuation = None;
            while !done && self.next < self.lines.len() {
                let text = trim_newline(self.lines[self.next]);
                self.next += 1;
                if is_comment(text) {
                    continue;
                }
                if text.trim_start().is_empty() {
                    empty_continuation.get_or_insert(self.next);
                    continue;
                }
                let (part, d) = trim_continuation(text, df.escape);
                line.push_str(part);
                done = d;
            }
            if let Some(at) = empty_continuation {
                df.warnings.push(format!(
                    "line {at}: Empty continuation line found in: {}",
                    line.trim()
                ));
            }
            if line.trim().is_empty() {
                continue;
            }
            let heredocs = if can_contain_heredoc(&line, df.escape) && line.contains("<<") {
                self.read_heredocs(&line, lineno)?
            } else {
                Vec::new()
            };
            return Ok(Some(Logical {
                start: lineno,
                end: self.next,
                line,
                heredocs,
            }));
        }
        Ok(None)
    }

    fn read_heredocs(&mut self, line: &str, start: usize) -> Result<Vec<Heredoc>, Error> {
        let mut docs = Vec::new();
        for word in heredoc_scan_words(line).unwrap_or_default() {
            let Some(mut doc) = parse_heredoc_word(&word).map_err(|m| Error::new(start, m))? else {
                continue;
            };
            let mut terminated = false;
            while self.next < self.lines.len() {
                let raw = self.lines[self.next];
                self.next += 1;
                let mut candidate = trim_newline(raw);
                if doc.chomp {
                    candidate = candidate.trim_start_matches('\t');
                }
                if candidate == doc.name {
                    terminated = true;
                    break;
                }
                doc.content.push_str(raw);
            }
            if !terminated {
                return Err(Error::new(
                    start,
                    format!(
                        "unterminated heredoc: no line {:?} ends the heredoc started on line {start}",
                        doc.name
                    ),
                ));
            }
            if doc.chomp {
                doc.content = chomp(&doc.content);
            }
            docs.push(doc);
        }
        Ok(docs)
    }
}

/// Remove the leading tabs of every line.
fn chomp(s: &str) -> String {
    s.split_inclusive('\n')
        .map(|l| l.trim_start_matches('\t'))
        .collect()
}

/// Whether a line is a RUN, COPY or ADD (possibly under ONBUILD) in shell
/// form, the instructions that take heredocs.
fn can_contain_heredoc(line: &str, escape: char) -> bool {
    let (kw, _, rest) = split_command(line, escape);
    let (kw, rest) = if kw.eq_ignore_ascii_case("onbuild") {
        let (kw, _, rest) = split_command(&rest, escape);
        (kw, rest)
    } else {
        (kw, rest)
    };
    let kw = kw.to_ascii_lowercase();
    matches!(kw.as_str(), "run" | "copy" | "add") && !matches!(parse_json_array(&rest), Ok(Some(_)))
}

/// A heredoc marker word: `<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`, ... (the
/// body is empty).
pub(crate) fn parse_heredoc_word(word: &str) -> Result<Option<Heredoc>, String> {
    let s = word.trim_start_matches(|c: char| c.is_ascii_digit());
    let Some(s) = s.strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let rest = s.trim_start_matches(['\t', '\n', '\x0c', '\r', ' ']);
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    Ok(heredoc_delimiter(rest)?.map(|(name, quoted)| Heredoc {
        name,
        content: String::new(),
        expand: !quoted,
        chomp,
    }))
}

/// (keyword as written, flags, arguments).
fn split_command(line: &str, escape: char) -> (String, Vec<String>, String) {
    let (kw, rest) = split_first(line.trim());
    match rest {
        None => (kw.to_string(), Vec::new(), String::new()),
        Some(rest) => {
            let (args, flags) = extract_flags(rest, escape);
            (kw.to_string(), flags, args.trim().to_string())
        }
    }
}

enum Parsed {
    From(crate::From),
    Instruction(Instruction),
}

fn parse_logical(l: &Logical, escape: char) -> Result<Parsed, String> {
    let source = l.line.trim().to_string();
    let (kw, flags, rest) = split_command(&l.line, escape);
    if kw.eq_ignore_ascii_case("from") {
        return parse_from(&flags, &rest).map(Parsed::From);
    }
    let cmd = parse_command(
        &kw,
        &flags,
        &rest,
        &l.heredocs,
        escape,
        l.start,
        l.end,
        &source,
    )?;
    Ok(Parsed::Instruction(Instruction {
        line: l.start,
        end_line: l.end,
        source,
        cmd,
    }))
}

fn parse_from(flags: &[String], rest: &str) -> Result<crate::From, String> {
    let args = split_ws(rest);
    let name = match args.as_slice() {
        [_, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => {
            let lower = name.to_lowercase();
            if !valid_stage_name(&lower) {
                return Err(format!(
                    "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                ));
            }
            Some(lower)
        }
        [_] => None,
        [] => {
            return Err("FROM requires either one or three arguments: the image is missing".into())
        }
        [_, as_kw] if as_kw.eq_ignore_ascii_case("as") => {
            return Err(
                "FROM requires either one or three arguments: the stage name after AS is missing"
                    .into(),
            )
        }
        _ => return Err("FROM requires either one or three arguments".into()),
    };
    let flags = Flags::parse(flags, &[("platform", FlagKind::Str)])?;
    Ok(crate::From {
        image: args[0].clone(),
        name,
        platform: flags.string("platform"),
    })
}

/// `^[a-z][a-z0-9-_.]*$`
fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-' | '_' | '.'))
}

fn no_flags(flags: &[String]) -> Result<(), String> {
    Flags::parse(flags, &[]).map(|_| ())
}

/// RUN/CMD/ENTRYPOINT/SHELL arguments: exec form for a JSON array of strings,
/// shell form otherwise; `None` when there are no arguments.
fn shell_or_exec(rest: &str) -> Result<Option<ShellOrExec>, String> {
    if rest.is_empty() {
        return Ok(None);
    }
    Ok(Some(match parse_json_array(rest)? {
        Some(v) => ShellOrExec::Exec(v),
        None => ShellOrExec::Shell(rest.to_string()),
    }))
}

/// COPY/ADD/VOLUME arguments: a JSON array of strings or blank-separated words.
fn json_or_words(rest: &str) -> Result<Vec<String>, String> {
    Ok(match parse_json_array(rest)? {
        Some(v) => v,
        None => split_ws(rest),
    })
}

#[allow(clippy::too_many_arguments)]
fn parse_command(
    kw: &str,
    flags: &[String],
    rest: &str,
    heredocs: &[Heredoc],
    escape: char,
    start: usize,
    end: usize,
    source: &str,
) -> Result<Command, String> {
    let upper = kw.to_ascii_uppercase();
    let exactly_one = |name: &str| -> Result<String, String> {
        if rest.is_empty() {
            return Err(format!("{name} requires exactly one argument"));
        }
        Ok(rest.to_string())
    };
    Ok(match upper.as_str() {
        "RUN" => Command::Run(parse_run(flags, rest, heredocs)?),
        "CMD" => {
            no_flags(flags)?;
            Command::Cmd(shell_or_exec(rest)?.unwrap_or(ShellOrExec::Shell(String::new())))
        }
        "ENTRYPOINT" => {
            no_flags(flags)?;
            Command::Entrypoint(shell_or_exec(rest)?.unwrap_or(ShellOrExec::Shell(String::new())))
        }
        "COPY" => Command::Copy(parse_copy("COPY", flags, rest, heredocs, escape)?),
        "ADD" => Command::Add(parse_copy("ADD", flags, rest, heredocs, escape)?),
        "ENV" => {
            no_flags(flags)?;
            Command::Env(parse_name_values("ENV", rest, escape)?)
        }
        "LABEL" => {
            no_flags(flags)?;
            Command::Label(parse_name_values("LABEL", rest, escape)?)
        }
        "ARG" => {
            no_flags(flags)?;
            Command::Arg(parse_args(rest, escape)?)
        }
        "EXPOSE" => {
            let ports = split_ws(rest);
            if ports.is_empty() {
                return Err("EXPOSE requires at least one argument".into());
            }
            no_flags(flags)?;
            Command::Expose(ports)
        }
        "VOLUME" => {
            let vols = json_or_words(rest)?;
            if vols.is_empty() {
                return Err("VOLUME requires at least one argument".into());
            }
            no_flags(flags)?;
            let mut out = Vec::new();
            for v in vols {
                let v = v.trim();
                if v.is_empty() {
                    return Err("VOLUME specified can not be an empty string".into());
                }
                out.push(v.to_string());
            }
            Command::Volume(out)
        }
        "WORKDIR" => {
            let path = exactly_one("WORKDIR")?;
            no_flags(flags)?;
            Command::Workdir(path)
        }
        "USER" => {
            let user = exactly_one("USER")?;
            no_flags(flags)?;
            Command::User(user)
        }
        "STOPSIGNAL" => {
            let sig = exactly_one("STOPSIGNAL")?;
            no_flags(flags)?;
            Command::StopSignal(sig)
        }
        "MAINTAINER" => {
            let who = exactly_one("MAINTAINER")?;
            no_flags(flags)?;
            Command::Maintainer(who)
        }
        "SHELL" => {
            no_flags(flags)?;
            match shell_or_exec(rest)? {
                None => return Err("SHELL requires at least one argument".into()),
                Some(ShellOrExec::Exec(v)) if v.is_empty() => {
                    return Err("SHELL requires at least one argument".into())
                }
                Some(ShellOrExec::Exec(v)) => Command::Shell(v),
                Some(ShellOrExec::Shell(_)) => {
                    return Err(
                        "SHELL requires the arguments to be in JSON form, e.g. SHELL [\"/bin/bash\", \"-c\"]"
                            .into(),
                    )
                }
            }
        }
        "HEALTHCHECK" => Command::Healthcheck(parse_healthcheck(flags, rest)?),
        "ONBUILD" => {
            no_flags(flags)?;
            if rest.is_empty() {
                return Err("ONBUILD requires at least one argument".into());
            }
            let (inner_kw, inner_flags, inner_rest) = split_command(rest, escape);
            let inner_upper = inner_kw.to_ascii_uppercase();
            match inner_upper.as_str() {
                "ONBUILD" => {
                    return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into())
                }
                "FROM" | "MAINTAINER" => {
                    return Err(format!("{inner_upper} isn't allowed as an ONBUILD trigger"))
                }
                _ => {}
            }
            let inner_source = source
                .get(kw.len()..)
                .unwrap_or_default()
                .trim_start()
                .to_string();
            let cmd = parse_command(
                &inner_kw,
                &inner_flags,
                &inner_rest,
                heredocs,
                escape,
                start,
                end,
                &inner_source,
            )?;
            Command::Onbuild(Box::new(Instruction {
                line: start,
                end_line: end,
                source: inner_source,
                cmd,
            }))
        }
        "FROM" => return Err("FROM isn't allowed here".into()),
        _ => return Err(format!("unknown instruction: {kw}")),
    })
}

fn parse_run(flags: &[String], rest: &str, heredocs: &[Heredoc]) -> Result<Run, String> {
    let flags = Flags::parse(
        flags,
        &[
            ("mount", FlagKind::Strs),
            ("network", FlagKind::Str),
            ("security", FlagKind::Str),
        ],
    )?;
    let network = flags.string("network");
    if let Some(n) = &network {
        if !matches!(n.as_str(), "default" | "none" | "host") {
            return Err(format!(
                "invalid network mode {n:?} (expected default, none or host)"
            ));
        }
    }
    let security = flags.string("security");
    if let Some(s) = &security {
        if !matches!(s.as_str(), "sandbox" | "insecure") {
            return Err(format!(
                "security {s:?} is not valid (expected sandbox or insecure)"
            ));
        }
    }
    let mounts = flags
        .strings("mount")
        .iter()
        .map(|m| parse_mount_unexpanded(m))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(cmd) = shell_or_exec(rest)? else {
        return Err("RUN requires at least one argument".into());
    };
    let heredocs = match cmd {
        ShellOrExec::Shell(_) => heredocs.to_vec(),
        ShellOrExec::Exec(_) => Vec::new(),
    };
    Ok(Run {
        cmd,
        heredocs,
        mounts,
        network,
        security,
    })
}

fn parse_copy(
    name: &str,
    flags: &[String],
    rest: &str,
    heredocs: &[Heredoc],
    escape: char,
) -> Result<Copy, String> {
    let args = json_or_words(rest)?;
    if args.len() < 2 {
        return Err(format!(
            "{name} requires at least two arguments, but only one was provided. Destination could not be determined"
        ));
    }
    let is_add = name == "ADD";
    let spec: &[(&str, FlagKind)] = if is_add {
        &[
            ("chown", FlagKind::Str),
            ("chmod", FlagKind::Str),
            ("link", FlagKind::Bool),
            ("keep-git-dir", FlagKind::Bool),
            ("checksum", FlagKind::Str),
            ("exclude", FlagKind::Strs),
            ("unpack", FlagKind::Bool),
        ]
    } else {
        &[
            ("from", FlagKind::Str),
            ("chown", FlagKind::Str),
            ("chmod", FlagKind::Str),
            ("link", FlagKind::Bool),
            ("exclude", FlagKind::Strs),
            ("parents", FlagKind::Bool),
        ]
    };
    let flags = Flags::parse(flags, spec)?;
    if let Some(from) = flags.string("from") {
        // Docker resolves --from before any build argument is known.
        if crate::expand(&from, &|_| None, escape)? != from {
            return Err(
                "variable expansion is not supported for --from, define a new stage with FROM \
                 using ARG from global scope as a workaround"
                    .into(),
            );
        }
    }
    let (dest, srcs) = args.split_last().expect("at least two arguments");
    if matches!(parse_heredoc_word(dest), Ok(Some(_))) {
        return Err(format!("{name} cannot accept a heredoc as a destination"));
    }
    let mut sources = Vec::new();
    let mut inline = Vec::new();
    for src in srcs {
        match parse_heredoc_word(src) {
            Ok(Some(mut h)) => {
                if let Some(body) = heredocs.iter().find(|b| b.name == h.name) {
                    h.content = if h.chomp && !body.chomp {
                        chomp(&body.content)
                    } else {
                        body.content.clone()
                    };
                }
                inline.push(h);
            }
            _ => sources.push(src.clone()),
        }
    }
    Ok(Copy {
        sources,
        heredocs: inline,
        dest: dest.clone(),
        from: flags.string("from"),
        chown: flags.string("chown"),
        chmod: flags.string("chmod"),
        link: flags.bool("link").unwrap_or(false),
        exclude: flags.strings("exclude").to_vec(),
        parents: flags.bool("parents").unwrap_or(false),
        checksum: flags.string("checksum"),
        keep_git_dir: flags.bool("keep-git-dir").unwrap_or(false),
        unpack: flags.bool("unpack"),
    })
}

/// ENV and LABEL: `KEY value...` (old form) or `k=v k2="v 2" ...`.
fn parse_name_values(
    name: &str,
    rest: &str,
    escape: char,
) -> Result<Vec<(String, String)>, String> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Err(format!("{name} requires at least one argument"));
    };
    let pairs: Vec<(String, String)> = if !first.contains('=') {
        let (key, value) = split_first(rest);
        match value {
            Some(v) if !v.is_empty() => vec![(key.to_string(), v.to_string())],
            _ => {
                return Err(format!(
                "{name} must have two arguments: {name} {key} needs a value (or use {key}=value)"
            ))
            }
        }
    } else {
        let mut pairs = Vec::new();
        for w in &words {
            let Some((k, v)) = w.split_once('=') else {
                return Err(format!(
                    "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
                ));
            };
            pairs.push((k.to_string(), v.to_string()));
        }
        pairs
    };
    if pairs.iter().any(|(k, _)| k.is_empty()) {
        return Err(format!("{name} names can not be blank"));
    }
    Ok(pairs)
}

fn parse_args(rest: &str, escape: char) -> Result<Vec<Arg>, String> {
    let words = parse_words(rest, escape);
    if words.is_empty() {
        return Err("ARG requires at least one argument".into());
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some(("", _)) => Err("ARG names can not be blank".into()),
            Some((k, v)) => Ok(Arg {
                name: k.to_string(),
                default: Some(v.to_string()),
            }),
            None => Ok(Arg {
                name: w,
                default: None,
            }),
        })
        .collect()
}

fn parse_healthcheck(flags: &[String], rest: &str) -> Result<Healthcheck, String> {
    let (typ, args) = match rest.find(char::is_whitespace) {
        Some(i) => (&rest[..i], rest[i..].trim_start()),
        None => (rest, ""),
    };
    if typ.is_empty() {
        return Err("HEALTHCHECK requires at least one argument".into());
    }
    let cmd = shell_or_exec(args)?;
    let flags = Flags::parse(
        flags,
        &[
            ("interval", FlagKind::Str),
            ("timeout", FlagKind::Str),
            ("start-period", FlagKind::Str),
            ("start-interval", FlagKind::Str),
            ("retries", FlagKind::Str),
        ],
    )?;
    let typ = typ.to_uppercase();
    if typ == "NONE" {
        if cmd.is_some() {
            return Err("HEALTHCHECK NONE takes no arguments".into());
        }
        return Ok(Healthcheck::None);
    }
    if typ != "CMD" {
        return Err(format!("Unknown type {typ:?} in HEALTHCHECK (try CMD)"));
    }
    let test = match cmd {
        Some(ShellOrExec::Exec(v)) if !v.is_empty() => {
            let mut t = vec!["CMD".to_string()];
            t.extend(v);
            t
        }
        Some(ShellOrExec::Shell(s)) => vec!["CMD-SHELL".to_string(), s],
        _ => return Err("Missing command after HEALTHCHECK CMD".into()),
    };
    let interval = |name: &str| -> Result<Option<String>, String> {
        let Some(v) = flags.string(name).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let d = go_duration_nanos(&v)?;
        if d != 0 && d < 1_000_000 {
            return Err(format!("Interval {name:?} cannot be less than 1ms"));
        }
        Ok(Some(v))
    };
    let retries = match flags.string("retries").filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => {
            let digits = v.strip_prefix(['+', '-']).unwrap_or(&v);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("strconv.ParseInt: parsing {v:?}: invalid syntax"));
            }
            let n = v
                .parse::<i32>()
                .map_err(|_| format!("strconv.ParseInt: parsing {v:?}: value out of range"))?;
            if n < 0 {
                return Err(format!("--retries cannot be negative ({n})"));
            }
            Some(n as u32)
        }
    };
    Ok(Healthcheck::Check {
        test,
        interval: interval("interval")?,
        timeout: interval("timeout")?,
        start_period: interval("start-period")?,
        start_interval: interval("start-interval")?,
        retries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation() {
        assert_eq!(trim_continuation("a \\", '\\'), ("a ", false));
        assert_eq!(trim_continuation("a \\  \t", '\\'), ("a ", false));
        assert_eq!(trim_continuation("\\", '\\'), ("", false));
        assert_eq!(trim_continuation("a \\\\", '\\'), ("a \\\\", true));
        assert_eq!(trim_continuation("a `", '`'), ("a ", false));
        assert_eq!(trim_continuation("a \\", '`'), ("a \\", true));
    }

    #[test]
    fn directives() {
        assert_eq!(
            match_directive("# escape=`"),
            Some(("escape".into(), "`".into()))
        );
        assert_eq!(
            match_directive("#Syntax = docker/dockerfile:1 "),
            Some(("syntax".into(), "docker/dockerfile:1".into()))
        );
        assert_eq!(match_directive("# not a directive"), None);
        assert_eq!(match_directive("# =x"), None);
        assert_eq!(match_directive("escape=`"), None);
    }

    #[test]
    fn stage_names() {
        assert!(valid_stage_name("build"));
        assert!(valid_stage_name("a-b_c.d9"));
        assert!(!valid_stage_name("9a"));
        assert!(!valid_stage_name("a$b"));
        assert!(!valid_stage_name(""));
    }
}
