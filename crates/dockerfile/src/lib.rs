//! Dockerfile parsing and variable expansion, following the rules of Docker's
//! (BuildKit's) Dockerfile frontend.
//!
//! [`parse`] turns the text of a Dockerfile into typed instructions grouped in
//! build stages. Values that Docker expands at build time (paths, ENV values,
//! labels, ...) are kept as written, quotes included; the builder calls
//! [`Instruction::expanded`] with the environment of the moment to get the
//! final values, and [`expand`] for the image of a `FROM` line.
//!
//! The crate does no I/O.
//!
//! Differences from Docker, on purpose or not yet done:
//! - `# syntax=` and `# check=` are recorded but have no effect (no other
//!   frontends, no lint checks); the only warning is for empty
//!   continuation lines.
//! - An ONBUILD trigger is parsed (and must be valid) when the ONBUILD line
//!   is, where Docker checks it only when a child image is built.
//! - RUN, CMD and ENTRYPOINT with no arguments: RUN is an error; CMD and
//!   ENTRYPOINT give an empty shell form.
//! - Heredoc file descriptors (`3<<EOF`) are accepted, but the number is not
//!   recorded. Labs-only flags (`RUN --device`, `ARG --required`) are unknown
//!   flags.
//! - EXPOSE keeps the order written (Docker sorts); port specs, `--chmod`
//!   and `--chown` values are not validated here. WORKDIR drive letters are
//!   not normalized.
//! - Errors do not suggest "did you mean" alternatives, and lines longer
//!   than Docker's 64 KiB limit are accepted.

pub mod ignore;
mod lexer;
mod mount;
mod parser;
mod util;

pub use lexer::{expand, expand_heredoc, expand_words};
pub use parser::parse;
pub use util::parse_duration;

/// A Dockerfile that cannot be parsed, or a value that cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Dockerfile parse error on line {line}: {message}")]
pub struct Error {
    /// 1-based line of the instruction (or directive) at fault.
    pub line: usize,
    pub message: String,
}

impl Error {
    pub(crate) fn new(line: usize, message: impl Into<String>) -> Error {
        Error {
            line,
            message: message.into(),
        }
    }
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The escape character, from a `# escape=` directive; `\` by default.
    pub escape: char,
    /// The value of a `# syntax=` directive, recorded but otherwise ignored.
    pub syntax: Option<String>,
    /// The value of a `# check=` directive, recorded but otherwise ignored.
    pub check: Option<String>,
    /// ARGs declared before the first FROM (raw defaults, see [`expand`]).
    pub args: Vec<Arg>,
    pub stages: Vec<Stage>,
    /// Non-fatal problems, each naming its line, e.g.
    /// `line 3: Empty continuation line found in: RUN a b`.
    pub warnings: Vec<String>,
}

impl Dockerfile {
    /// The stage a `--target`, `COPY --from` or `FROM` refers to: a stage name
    /// (case-insensitive) or, failing that, a stage index.
    pub fn find_stage(&self, name_or_index: &str) -> Option<&Stage> {
        let lower = name_or_index.to_lowercase();
        if let Some(s) = self
            .stages
            .iter()
            .find(|s| s.name.as_deref() == Some(lower.as_str()))
        {
            return Some(s);
        }
        if !name_or_index.is_empty() && name_or_index.bytes().all(|b| b.is_ascii_digit()) {
            return name_or_index
                .parse::<usize>()
                .ok()
                .and_then(|i| self.stages.get(i));
        }
        None
    }
}

/// One build stage: a FROM line and the instructions up to the next FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub index: usize,
    /// The `AS name` of the FROM line, lowercased as Docker does.
    pub name: Option<String>,
    pub from: From,
    /// Line of the FROM instruction.
    pub line: usize,
    /// Everything after the FROM up to the next FROM.
    pub instructions: Vec<Instruction>,
}

/// A FROM line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// The image as written (not expanded: see [`expand`]).
    pub image: String,
    /// The stage name, lowercased.
    pub name: Option<String>,
    /// `--platform=`, as written.
    pub platform: Option<String>,
}

/// One instruction of a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// 1-based first line.
    pub line: usize,
    /// Last line, continuation lines and heredoc bodies included.
    pub end_line: usize,
    /// The instruction as written, its continuation lines joined (escape
    /// character and newline removed), keyword as written, surrounding
    /// whitespace trimmed; heredoc bodies are not included.
    pub source: String,
    pub cmd: Command,
}

/// The typed content of an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Run(Run),
    Cmd(ShellOrExec),
    Entrypoint(ShellOrExec),
    Copy(Copy),
    Add(Copy),
    /// `ENV k v` (one pair, the value is the rest of the line) or `ENV a=1 b="x y"`.
    /// Keys and values are raw (quotes kept) until [`Instruction::expanded`].
    Env(Vec<(String, String)>),
    Arg(Vec<Arg>),
    Label(Vec<(String, String)>),
    Expose(Vec<String>),
    Volume(Vec<String>),
    Workdir(String),
    User(String),
    /// JSON form only.
    Shell(Vec<String>),
    StopSignal(String),
    Healthcheck(Healthcheck),
    /// The trigger; it shares the line numbers of the ONBUILD line and its
    /// `source` is the text after `ONBUILD`.
    Onbuild(Box<Instruction>),
    Maintainer(String),
}

impl Command {
    /// The instruction keyword in upper case (`"RUN"`, `"COPY"`, ...).
    pub fn keyword(&self) -> &'static str {
        match self {
            Command::Run(_) => "RUN",
            Command::Cmd(_) => "CMD",
            Command::Entrypoint(_) => "ENTRYPOINT",
            Command::Copy(_) => "COPY",
            Command::Add(_) => "ADD",
            Command::Env(_) => "ENV",
            Command::Arg(_) => "ARG",
            Command::Label(_) => "LABEL",
            Command::Expose(_) => "EXPOSE",
            Command::Volume(_) => "VOLUME",
            Command::Workdir(_) => "WORKDIR",
            Command::User(_) => "USER",
            Command::Shell(_) => "SHELL",
            Command::StopSignal(_) => "STOPSIGNAL",
            Command::Healthcheck(_) => "HEALTHCHECK",
            Command::Onbuild(_) => "ONBUILD",
            Command::Maintainer(_) => "MAINTAINER",
        }
    }
}

/// The command of RUN, CMD and ENTRYPOINT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellOrExec {
    /// Shell form: the text verbatim, to be passed to the SHELL (no expansion
    /// by the builder). Empty for a bare `CMD` / `ENTRYPOINT`.
    Shell(String),
    /// Exec form: a JSON array of strings (possibly empty, as `CMD []`).
    Exec(Vec<String>),
}

/// A RUN instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// For heredocs, the text of the instruction line, e.g. `<<EOF` or
    /// `python3 <<EOF`; see [`Run::shell_text`].
    pub cmd: ShellOrExec,
    pub heredocs: Vec<Heredoc>,
    pub mounts: Vec<Mount>,
    /// `--network=`: one of `default`, `none`, `host`.
    pub network: Option<String>,
    /// `--security=`: `sandbox` or `insecure`.
    pub security: Option<String>,
}

impl Run {
    /// The RUN's single heredoc when the command is nothing but that heredoc
    /// (`RUN <<EOF`). Docker runs such a body as a script file when it starts
    /// with `#!`, and otherwise as the shell's command text.
    pub fn single_heredoc(&self) -> Option<&Heredoc> {
        match (&self.cmd, self.heredocs.as_slice()) {
            (ShellOrExec::Shell(text), [h]) => {
                let h_word = parser::parse_heredoc_word(text.trim()).ok().flatten();
                match h_word {
                    Some(w) if w.name == h.name => Some(h),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// For the shell form, the text Docker passes to the shell: the command
    /// itself; the body for `RUN <<EOF`; otherwise the command followed by
    /// each heredoc body and delimiter, for the shell to read as heredocs.
    /// `None` for the exec form.
    pub fn shell_text(&self) -> Option<String> {
        let ShellOrExec::Shell(text) = &self.cmd else {
            return None;
        };
        if let Some(h) = self.single_heredoc() {
            return Some(h.content.clone());
        }
        let mut full = text.clone();
        for h in &self.heredocs {
            full.push('\n');
            full.push_str(&h.content);
            full.push_str(&h.name);
        }
        Some(full)
    }
}

/// A heredoc attached to RUN, COPY or ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter, quotes removed. For COPY/ADD it is the file name.
    pub name: String,
    /// The body: every line up to the delimiter line, each with its line
    /// ending. For `<<-` the leading tabs are already removed from each line.
    pub content: String,
    /// False if the delimiter was quoted (`<<"EOF"`, `<<'EOF'`): the body is
    /// then taken literally.
    pub expand: bool,
    /// `<<-`: leading tabs stripped from the body lines and the delimiter line.
    pub chomp: bool,
}

/// COPY and ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    /// Source paths (raw until [`Instruction::expanded`]).
    pub sources: Vec<String>,
    /// Inline sources: each becomes a file named after the heredoc.
    pub heredocs: Vec<Heredoc>,
    pub dest: String,
    /// `--from=` (COPY only).
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub exclude: Vec<String>,
    /// `--parents` (COPY only).
    pub parents: bool,
    /// `--checksum=` (ADD only).
    pub checksum: Option<String>,
    /// `--keep-git-dir` (ADD only).
    pub keep_git_dir: bool,
    /// `--unpack[=bool]` (ADD only); `None` when not given.
    pub unpack: Option<bool>,
}

/// The type of a `RUN --mount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountType {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

impl MountType {
    pub fn as_str(self) -> &'static str {
        match self {
            MountType::Bind => "bind",
            MountType::Cache => "cache",
            MountType::Tmpfs => "tmpfs",
            MountType::Secret => "secret",
            MountType::Ssh => "ssh",
        }
    }
}

/// A `RUN --mount=...`, with Docker's defaults applied (type bind; read-only
/// for bind, secret and ssh unless `rw`; read-write for cache and tmpfs).
///
/// Docker expands variables in mount values when the RUN executes; values
/// with a `$` are only checked then, in [`Instruction::expanded`], and may be
/// left unset here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub typ: MountType,
    pub target: Option<String>,
    pub source: Option<String>,
    pub from: Option<String>,
    pub id: Option<String>,
    /// `shared`, `private` or `locked` (cache only).
    pub sharing: Option<String>,
    pub readonly: bool,
    pub required: bool,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// tmpfs size in bytes.
    pub size: Option<u64>,
    /// `env=` of a secret mount: the variable that receives the secret.
    pub env: Option<String>,
    /// The flag's value as written.
    pub raw: String,
}

/// An ARG (raw default, quotes kept, until [`Instruction::expanded`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    pub name: String,
    pub default: Option<String>,
}

/// HEALTHCHECK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`
    None,
    Check {
        /// `["CMD", ...]` (exec form) or `["CMD-SHELL", "cmd"]`.
        test: Vec<String>,
        /// Durations as written, checked with Go's syntax and Docker's 1ms
        /// minimum; [`parse_duration`] converts them. `0` means the default.
        interval: Option<String>,
        timeout: Option<String>,
        start_period: Option<String>,
        start_interval: Option<String>,
        retries: Option<u32>,
    },
}

impl Instruction {
    /// The instruction with variables expanded by Docker's rules, for the
    /// instructions Docker expands: ADD and COPY (sources, dest, `--from`,
    /// `--chown`, `--chmod`, `--checksum` (not `--exclude`), and the bodies of
    /// heredoc sources whose delimiter was not quoted, which then come back
    /// with `expand: false`), ENV (keys and values), EXPOSE (each word may
    /// expand to several ports), LABEL (keys and values), STOPSIGNAL, USER,
    /// VOLUME, WORKDIR and ARG (names and defaults). For RUN only the
    /// `--mount` values are expanded (and checked), as Docker does; the
    /// command and heredocs are unchanged. CMD, ENTRYPOINT, SHELL,
    /// HEALTHCHECK, ONBUILD and MAINTAINER are returned unchanged.
    ///
    /// Quote removal happens here too. Every value of the instruction is
    /// expanded against the same `lookup`, so `ENV a=bye b=$a` gives `b`
    /// the value `a` had before the instruction.
    pub fn expanded(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
        escape: char,
    ) -> Result<Instruction, Error> {
        let line = self.line;
        let ex = |w: &str| expand(w, lookup, escape).map_err(|m| Error::new(line, m));
        let ex_opt = |w: &Option<String>| -> Result<Option<String>, Error> {
            w.as_deref().map(ex).transpose()
        };
        let cmd = match &self.cmd {
            Command::Env(pairs) => Command::Env(expand_pairs(pairs, &ex)?),
            Command::Label(pairs) => Command::Label(expand_pairs(pairs, &ex)?),
            Command::Arg(args) => Command::Arg(
                args.iter()
                    .map(|a| {
                        Ok(Arg {
                            name: ex(&a.name)?,
                            default: ex_opt(&a.default)?,
                        })
                    })
                    .collect::<Result<_, Error>>()?,
            ),
            Command::Copy(c) => Command::Copy(expand_copy(c, &ex, lookup, line)?),
            Command::Add(c) => Command::Add(expand_copy(c, &ex, lookup, line)?),
            Command::Expose(ports) => {
                let mut out = Vec::new();
                for p in ports {
                    out.extend(expand_words(p, lookup, escape).map_err(|m| Error::new(line, m))?);
                }
                Command::Expose(out)
            }
            Command::Volume(v) => {
                Command::Volume(v.iter().map(|s| ex(s)).collect::<Result<_, _>>()?)
            }
            Command::Workdir(s) => Command::Workdir(ex(s)?),
            Command::User(s) => Command::User(ex(s)?),
            Command::StopSignal(s) => Command::StopSignal(ex(s)?),
            Command::Run(r) => {
                let expander = |w: &str| expand(w, lookup, escape);
                let mut r = r.clone();
                for m in &mut r.mounts {
                    *m = mount::parse_mount(&m.raw, Some(&expander))
                        .map_err(|msg| Error::new(line, msg))?;
                }
                Command::Run(r)
            }
            other => other.clone(),
        };
        Ok(Instruction {
            line: self.line,
            end_line: self.end_line,
            source: self.source.clone(),
            cmd,
        })
    }

    /// For ONBUILD, the trigger as Docker stores it in the image config: the
    /// text after `ONBUILD`, followed by each heredoc body and delimiter.
    pub fn onbuild_trigger(&self) -> Option<String> {
        let Command::Onbuild(inner) = &self.cmd else {
            return None;
        };
        let mut text = inner.source.clone();
        let heredocs: &[Heredoc] = match &inner.cmd {
            Command::Run(r) => &r.heredocs,
            Command::Copy(c) | Command::Add(c) => &c.heredocs,
            _ => &[],
        };
        for h in heredocs {
            text.push('\n');
            text.push_str(&h.content);
            text.push_str(&h.name);
        }
        Some(text)
    }
}

fn expand_pairs(
    pairs: &[(String, String)],
    ex: &dyn Fn(&str) -> Result<String, Error>,
) -> Result<Vec<(String, String)>, Error> {
    pairs.iter().map(|(k, v)| Ok((ex(k)?, ex(v)?))).collect()
}

fn expand_copy(
    c: &Copy,
    ex: &dyn Fn(&str) -> Result<String, Error>,
    lookup: &dyn Fn(&str) -> Option<String>,
    line: usize,
) -> Result<Copy, Error> {
    let ex_opt =
        |w: &Option<String>| -> Result<Option<String>, Error> { w.as_deref().map(ex).transpose() };
    let mut heredocs = c.heredocs.clone();
    for h in &mut heredocs {
        if h.expand {
            h.content = expand_heredoc(&h.content, lookup).map_err(|m| Error::new(line, m))?;
            h.expand = false;
        }
    }
    Ok(Copy {
        sources: c.sources.iter().map(|s| ex(s)).collect::<Result<_, _>>()?,
        heredocs,
        dest: ex(&c.dest)?,
        from: ex_opt(&c.from)?,
        chown: ex_opt(&c.chown)?,
        chmod: ex_opt(&c.chmod)?,
        link: c.link,
        exclude: c.exclude.clone(),
        parents: c.parents,
        checksum: ex_opt(&c.checksum)?,
        keep_git_dir: c.keep_git_dir,
        unpack: c.unpack,
    })
}
