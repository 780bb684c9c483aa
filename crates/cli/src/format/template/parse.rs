//! Builds the node tree from lexed pieces: actions, `if`/`else if`/`with`/`range` blocks,
//! pipelines, commands and operands, checking function and variable names as Go does at parse time.

use std::fmt;

use super::funcs;
use super::lex::{err_at, Piece, Tok, Token};
use super::value::Value;
use super::TemplateError;

#[derive(Debug, Clone)]
pub enum Node {
    Text(String),
    Action(Pipeline),
    If {
        pipe: Pipeline,
        then: Vec<Node>,
        els: Vec<Node>,
    },
    With {
        pipe: Pipeline,
        then: Vec<Node>,
        els: Vec<Node>,
    },
    Range {
        pipe: Pipeline,
        body: Vec<Node>,
        els: Vec<Node>,
    },
    Break,
    Continue,
}

#[derive(Debug, Clone)]
pub struct Pipeline {
    /// Variables declared (`$x :=`) or assigned (`$x =`) by this pipeline.
    pub decl: Vec<String>,
    pub is_assign: bool,
    pub cmds: Vec<Command>,
}

#[derive(Debug, Clone)]
pub struct Command {
    pub args: Vec<Operand>,
}

#[derive(Debug, Clone)]
pub struct Operand {
    pub term: Term,
    pub pos: usize,
}

#[derive(Debug, Clone)]
pub enum Term {
    /// `.` followed by zero or more fields.
    Field(Vec<String>),
    /// `$name` followed by fields; the root variable has the name "".
    Var(String, Vec<String>),
    /// A function name.
    Ident(String),
    Lit(Value),
    Nil,
    /// A parenthesised pipeline, with a field chain applied to its value.
    Pipe(Box<Pipeline>, Vec<String>),
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.term {
            Term::Field(fields) if fields.is_empty() => f.write_str("."),
            Term::Field(fields) => {
                for field in fields {
                    write!(f, ".{field}")?;
                }
                Ok(())
            }
            Term::Var(name, fields) => {
                write!(f, "${name}")?;
                for field in fields {
                    write!(f, ".{field}")?;
                }
                Ok(())
            }
            Term::Ident(name) => f.write_str(name),
            Term::Lit(Value::Str(s)) => write!(f, "{s:?}"),
            Term::Lit(v) => f.write_str(&v.to_go_string()),
            Term::Nil => f.write_str("nil"),
            Term::Pipe(_, fields) => {
                f.write_str("(...)")?;
                for field in fields {
                    write!(f, ".{field}")?;
                }
                Ok(())
            }
        }
    }
}

/// The tokens after `else` and the action's position, when a block has an else branch.
type ElseTokens = Option<(Vec<Token>, usize)>;

/// How a list of nodes ended.
enum Terminator {
    Eof,
    End,
    /// `{{else}}` or `{{else if …}}` / `{{else with …}}`: the tokens after `else`.
    Else(Vec<Token>, usize),
}

pub struct Parser<'a> {
    src: &'a str,
    pieces: std::vec::IntoIter<Piece>,
    /// Variables in scope (for "undefined variable" checks).
    vars: Vec<String>,
    range_depth: usize,
}

pub fn parse(src: &str, pieces: Vec<Piece>) -> Result<Vec<Node>, TemplateError> {
    let mut p = Parser {
        src,
        pieces: pieces.into_iter(),
        vars: vec![String::new()],
        range_depth: 0,
    };
    let (nodes, end) = p.list()?;
    match end {
        Terminator::Eof => Ok(nodes),
        Terminator::End => Err(p.err_at_end("unexpected {{end}}")),
        Terminator::Else(_, pos) => Err(err_at(src, pos, "unexpected {{else}}")),
    }
}

impl Parser<'_> {
    fn err_at_end(&self, msg: &str) -> TemplateError {
        err_at(self.src, self.src.len(), msg)
    }

    fn list(&mut self) -> Result<(Vec<Node>, Terminator), TemplateError> {
        let mut nodes = Vec::new();
        while let Some(piece) = self.pieces.next() {
            match piece {
                Piece::Text(t) => nodes.push(Node::Text(t)),
                Piece::Action { tokens, pos } => {
                    let keyword = match tokens.first() {
                        Some(Token {
                            tok: Tok::Ident(k), ..
                        }) => Some(k.as_str()),
                        _ => None,
                    };
                    match keyword {
                        Some("end") => {
                            if tokens.len() > 1 {
                                return Err(err_at(self.src, pos, "unexpected token in end"));
                            }
                            return Ok((nodes, Terminator::End));
                        }
                        Some("else") => {
                            return Ok((nodes, Terminator::Else(tokens[1..].to_vec(), pos)))
                        }
                        Some("if") => nodes.push(self.if_or_with(&tokens[1..], pos, true)?),
                        Some("with") => nodes.push(self.if_or_with(&tokens[1..], pos, false)?),
                        Some("range") => nodes.push(self.range(&tokens[1..], pos)?),
                        Some(k @ ("break" | "continue")) => {
                            if self.range_depth == 0 {
                                return Err(err_at(
                                    self.src,
                                    pos,
                                    format!("{{{{{k}}}}} outside {{{{range}}}}"),
                                ));
                            }
                            nodes.push(if k == "break" {
                                Node::Break
                            } else {
                                Node::Continue
                            });
                        }
                        Some(k @ ("define" | "template" | "block")) => {
                            return Err(err_at(
                                self.src,
                                pos,
                                format!("{{{{{k}}}}} is not supported"),
                            ));
                        }
                        _ => {
                            let pipe = self.pipeline(&tokens, pos, "command", false)?;
                            nodes.push(Node::Action(pipe));
                        }
                    }
                }
            }
        }
        Ok((nodes, Terminator::Eof))
    }

    /// Parses a block body up to its `{{end}}`, returning (body, else-branch tokens if any).
    fn block_body(&mut self) -> Result<(Vec<Node>, ElseTokens), TemplateError> {
        let (body, end) = self.list()?;
        match end {
            Terminator::Eof => Err(self.err_at_end("unexpected EOF")),
            Terminator::End => Ok((body, None)),
            Terminator::Else(tokens, else_pos) => Ok((body, Some((tokens, else_pos)))),
        }
    }

    fn if_or_with(
        &mut self,
        tokens: &[Token],
        pos: usize,
        is_if: bool,
    ) -> Result<Node, TemplateError> {
        let mark = self.vars.len();
        let ctx = if is_if { "if" } else { "with" };
        let pipe = self.pipeline(tokens, pos, ctx, false)?;
        let (then, else_part) = self.block_body()?;
        self.vars.truncate(mark);
        let els = match else_part {
            None => Vec::new(),
            Some((else_tokens, else_pos)) => self.else_branch(else_tokens, else_pos)?,
        };
        self.vars.truncate(mark);
        Ok(if is_if {
            Node::If { pipe, then, els }
        } else {
            Node::With { pipe, then, els }
        })
    }

    /// The else branch of an `if`/`with`: either a plain list ending in `{{end}}`, or a chained
    /// `else if`/`else with` that shares the final `{{end}}`.
    fn else_branch(&mut self, tokens: Vec<Token>, pos: usize) -> Result<Vec<Node>, TemplateError> {
        match tokens.first().map(|t| &t.tok) {
            None => {
                let (els, end) = self.list()?;
                match end {
                    Terminator::End => Ok(els),
                    Terminator::Eof => Err(self.err_at_end("unexpected EOF")),
                    Terminator::Else(_, p) => {
                        Err(err_at(self.src, p, "expected end; found {{else}}"))
                    }
                }
            }
            Some(Tok::Ident(k)) if k == "if" || k == "with" => {
                let node = self.if_or_with(&tokens[1..], pos, k == "if")?;
                Ok(vec![node])
            }
            Some(_) => Err(err_at(self.src, pos, "unexpected token in else")),
        }
    }

    fn range(&mut self, tokens: &[Token], pos: usize) -> Result<Node, TemplateError> {
        let mark = self.vars.len();
        let pipe = self.pipeline(tokens, pos, "range", true)?;
        self.range_depth += 1;
        let body_result = self.block_body();
        self.range_depth -= 1;
        let (body, else_part) = body_result?;
        self.vars.truncate(mark);
        let els = match else_part {
            None => Vec::new(),
            Some((else_tokens, else_pos)) => {
                if !else_tokens.is_empty() {
                    return Err(err_at(self.src, else_pos, "unexpected token in else"));
                }
                let (els, end) = self.list()?;
                match end {
                    Terminator::End => els,
                    Terminator::Eof => return Err(self.err_at_end("unexpected EOF")),
                    Terminator::Else(_, p) => {
                        return Err(err_at(self.src, p, "expected end; found {{else}}"))
                    }
                }
            }
        };
        self.vars.truncate(mark);
        Ok(Node::Range { pipe, body, els })
    }

    /// Parses a pipeline (with optional variable declaration) from an action's tokens.
    fn pipeline(
        &mut self,
        tokens: &[Token],
        pos: usize,
        context: &str,
        allow_two_vars: bool,
    ) -> Result<Pipeline, TemplateError> {
        let mut decl = Vec::new();
        let mut is_assign = false;
        let mut rest = tokens;
        match tokens {
            [Token {
                tok: Tok::Variable(a, fa),
                ..
            }, Token {
                tok: Tok::Comma, ..
            }, Token {
                tok: Tok::Variable(b, fb),
                ..
            }, Token {
                tok: t @ (Tok::Declare | Tok::Assign),
                ..
            }, ..]
                if fa.is_empty() && fb.is_empty() =>
            {
                if !allow_two_vars {
                    return Err(err_at(self.src, pos, "too many declarations in command"));
                }
                decl = vec![a.clone(), b.clone()];
                is_assign = *t == Tok::Assign;
                rest = &tokens[4..];
            }
            [Token {
                tok: Tok::Variable(a, fa),
                ..
            }, Token {
                tok: t @ (Tok::Declare | Tok::Assign),
                ..
            }, ..]
                if fa.is_empty() =>
            {
                decl = vec![a.clone()];
                is_assign = *t == Tok::Assign;
                rest = &tokens[2..];
            }
            _ => {}
        }
        if is_assign {
            for name in &decl {
                if !self.vars.contains(name) {
                    return Err(err_at(
                        self.src,
                        pos,
                        format!("undefined variable \"${name}\""),
                    ));
                }
            }
        }
        let cmds = self.commands(rest, pos, context)?;
        if !is_assign {
            self.vars.extend(decl.iter().cloned());
        }
        Ok(Pipeline {
            decl,
            is_assign,
            cmds,
        })
    }

    fn commands(
        &mut self,
        tokens: &[Token],
        pos: usize,
        context: &str,
    ) -> Result<Vec<Command>, TemplateError> {
        let mut cmds = Vec::new();
        let mut start = 0;
        let mut depth = 0usize;
        for (i, t) in tokens.iter().enumerate() {
            match t.tok {
                Tok::LParen => depth += 1,
                Tok::RParen => depth = depth.saturating_sub(1),
                Tok::Pipe if depth == 0 => {
                    cmds.push(self.command(&tokens[start..i], pos)?);
                    start = i + 1;
                }
                _ => {}
            }
        }
        if start < tokens.len() || !cmds.is_empty() {
            cmds.push(self.command(&tokens[start..], pos)?);
        }
        if cmds.is_empty() {
            return Err(err_at(
                self.src,
                pos,
                format!("missing value for {context}"),
            ));
        }
        for (i, c) in cmds.iter().enumerate().skip(1) {
            if matches!(c.args[0].term, Term::Lit(_) | Term::Nil)
                || matches!(&c.args[0].term, Term::Field(f) if f.is_empty())
            {
                return Err(err_at(
                    self.src,
                    pos,
                    format!("non executable command in pipeline stage {}", i + 1),
                ));
            }
        }
        Ok(cmds)
    }

    fn command(&mut self, tokens: &[Token], pos: usize) -> Result<Command, TemplateError> {
        let mut args = Vec::new();
        let mut i = 0;
        while i < tokens.len() {
            let t = &tokens[i];
            let term = match &t.tok {
                Tok::Dot => Term::Field(Vec::new()),
                Tok::Field(f) => Term::Field(f.clone()),
                Tok::Variable(name, fields) => {
                    if !self.vars.contains(name) {
                        return Err(err_at(
                            self.src,
                            t.pos,
                            format!("undefined variable \"${name}\""),
                        ));
                    }
                    Term::Var(name.clone(), fields.clone())
                }
                Tok::Ident(name) => {
                    if !funcs::is_defined(name) {
                        return Err(err_at(
                            self.src,
                            t.pos,
                            format!("function {name:?} not defined"),
                        ));
                    }
                    Term::Ident(name.clone())
                }
                Tok::Str(s) => Term::Lit(Value::Str(s.clone())),
                Tok::Int(n) => Term::Lit(Value::Int(*n)),
                Tok::Float(f) => Term::Lit(Value::Float(*f)),
                Tok::Char(c) => Term::Lit(Value::Int(i64::from(u32::from(*c)))),
                Tok::Bool(b) => Term::Lit(Value::Bool(*b)),
                Tok::Nil => Term::Nil,
                Tok::LParen => {
                    let mut depth = 1usize;
                    let mut j = i + 1;
                    while j < tokens.len() {
                        match tokens[j].tok {
                            Tok::LParen => depth += 1,
                            Tok::RParen => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                        j += 1;
                    }
                    if j >= tokens.len() {
                        return Err(err_at(self.src, t.pos, "unclosed left paren"));
                    }
                    let inner =
                        self.pipeline(&tokens[i + 1..j], pos, "parenthesized pipeline", false)?;
                    i = j;
                    let mut fields = Vec::new();
                    if let Some(Token {
                        tok: Tok::ChainFields(f),
                        ..
                    }) = tokens.get(i + 1)
                    {
                        fields = f.clone();
                        i += 1;
                    }
                    Term::Pipe(Box::new(inner), fields)
                }
                Tok::RParen => return Err(err_at(self.src, t.pos, "unexpected right paren")),
                Tok::Pipe => return Err(err_at(self.src, t.pos, "missing value for command")),
                Tok::Comma | Tok::Declare | Tok::Assign | Tok::ChainFields(_) => {
                    return Err(err_at(
                        self.src,
                        t.pos,
                        format!("unexpected {} in operand", tok_name(&t.tok)),
                    ));
                }
            };
            args.push(Operand { term, pos: t.pos });
            i += 1;
        }
        if args.is_empty() {
            return Err(err_at(self.src, pos, "missing value for command"));
        }
        Ok(Command { args })
    }
}

fn tok_name(t: &Tok) -> &'static str {
    match t {
        Tok::Comma => "\",\"",
        Tok::Declare => "\":=\"",
        Tok::Assign => "\"=\"",
        _ => "token",
    }
}
