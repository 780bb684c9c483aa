//! berth-dockerfile: the Dockerfile language — parsing into typed instructions, Docker's
//! variable expansion, and `.dockerignore` matching. Pure: no I/O, no processes.
//!
//! `parse` keeps every expandable word as written (quotes included); the builder calls
//! `Instruction::expanded` with the environment of the moment, which expands variables and
//! removes quotes, so `ENV a=bye b=$a` sees the `a` from before the instruction.

mod expand;
pub mod ignore;
mod parse;

pub use expand::expand;
pub use parse::parse;

/// A parse error: the line it is on and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Dockerfile parse error on line {}: {}",
            self.line, self.message
        )
    }
}

impl std::error::Error for Error {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// From the `# escape=` directive; `\` by default.
    pub escape: char,
    /// `# syntax=` (recorded, otherwise ignored: no frontend is fetched).
    pub syntax: Option<String>,
    /// `# check=` (recorded).
    pub check: Option<String>,
    /// ARGs declared before the first FROM.
    pub args: Vec<Arg>,
    pub stages: Vec<Stage>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub index: usize,
    /// `AS name`, lowercased.
    pub name: Option<String>,
    pub from: From,
    /// Line of the FROM.
    pub line: usize,
    pub instructions: Vec<Instruction>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// As written (expanded by the builder with the global args).
    pub image: String,
    pub name: Option<String>,
    pub platform: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// First line (1-based).
    pub line: usize,
    /// Last line, continuations and heredoc bodies included.
    pub end_line: usize,
    /// The instruction as written, continuation lines joined.
    pub source: String,
    pub cmd: Command,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Run(Run),
    Cmd(ShellOrExec),
    Entrypoint(ShellOrExec),
    Copy(Copy),
    Add(Copy),
    Env(Vec<(String, String)>),
    Arg(Vec<Arg>),
    Label(Vec<(String, String)>),
    Expose(Vec<String>),
    Volume(Vec<String>),
    Workdir(String),
    User(String),
    Shell(Vec<String>),
    StopSignal(String),
    Healthcheck(Healthcheck),
    Onbuild(Box<Instruction>),
    Maintainer(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellOrExec {
    Shell(String),
    Exec(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub cmd: ShellOrExec,
    pub heredocs: Vec<Heredoc>,
    pub mounts: Vec<Mount>,
    pub network: Option<String>,
    pub security: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word.
    pub name: String,
    /// The body, each line ending in `\n`.
    pub content: String,
    /// False when the delimiter was quoted (`<<"EOF"`): no expansion.
    pub expand: bool,
    /// `<<-`: leading tabs are stripped.
    pub chomp: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Copy {
    pub sources: Vec<String>,
    pub heredocs: Vec<Heredoc>,
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub exclude: Vec<String>,
    pub parents: bool,
    /// ADD only.
    pub checksum: Option<String>,
    /// ADD only.
    pub keep_git_dir: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountType {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub typ: MountType,
    pub target: Option<String>,
    pub source: Option<String>,
    pub from: Option<String>,
    pub id: Option<String>,
    pub sharing: Option<String>,
    pub readonly: bool,
    pub required: bool,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    pub name: String,
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    None,
    Check {
        /// `["CMD", ...]` or `["CMD-SHELL", "cmd"]`.
        test: Vec<String>,
        interval: Option<String>,
        timeout: Option<String>,
        start_period: Option<String>,
        start_interval: Option<String>,
        retries: Option<u32>,
    },
}

impl Instruction {
    /// The instruction with variables expanded and quotes removed, for the instructions the
    /// builder expands (ADD, COPY, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, ARG
    /// defaults); others come back unchanged. Every value is expanded against the same
    /// `lookup`.
    pub fn expanded(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
        escape: char,
    ) -> Result<Instruction, Error> {
        let x = |w: &str| {
            expand(w, lookup, escape).map_err(|message| Error {
                line: self.line,
                message,
            })
        };
        let xo = |w: &Option<String>| w.as_deref().map(x).transpose();
        let cmd = match &self.cmd {
            Command::Copy(c) | Command::Add(c) => {
                let mut c = c.clone();
                c.sources = c.sources.iter().map(|s| x(s)).collect::<Result<_, _>>()?;
                c.dest = x(&c.dest)?;
                c.from = xo(&c.from)?;
                c.chown = xo(&c.chown)?;
                c.chmod = xo(&c.chmod)?;
                c.exclude = c.exclude.iter().map(|s| x(s)).collect::<Result<_, _>>()?;
                if matches!(self.cmd, Command::Add(_)) {
                    Command::Add(c)
                } else {
                    Command::Copy(c)
                }
            }
            Command::Env(pairs) => Command::Env(
                pairs
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), x(v)?)))
                    .collect::<Result<_, Error>>()?,
            ),
            Command::Label(pairs) => Command::Label(
                pairs
                    .iter()
                    .map(|(k, v)| Ok((x(k)?, x(v)?)))
                    .collect::<Result<_, Error>>()?,
            ),
            Command::Arg(args) => Command::Arg(
                args.iter()
                    .map(|a| {
                        Ok(Arg {
                            name: a.name.clone(),
                            default: xo(&a.default)?,
                        })
                    })
                    .collect::<Result<_, Error>>()?,
            ),
            Command::Expose(p) => {
                Command::Expose(p.iter().map(|s| x(s)).collect::<Result<_, _>>()?)
            }
            Command::Volume(v) => {
                Command::Volume(v.iter().map(|s| x(s)).collect::<Result<_, _>>()?)
            }
            Command::Workdir(w) => Command::Workdir(x(w)?),
            Command::User(u) => Command::User(x(u)?),
            Command::StopSignal(s) => Command::StopSignal(x(s)?),
            other => other.clone(),
        };
        Ok(Instruction {
            line: self.line,
            end_line: self.end_line,
            source: self.source.clone(),
            cmd,
        })
    }
}
