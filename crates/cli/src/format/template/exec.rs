//! Evaluates a parsed template against a [`Value`], following Go's text/template semantics.

use super::funcs::{self, FuncMode};
use super::lex::line_of;
use super::parse::{Command, Node, Operand, Pipeline, Term};
use super::value::Value;
use super::TemplateError;

enum Flow {
    Normal,
    Break,
    Continue,
}

pub struct Exec<'a> {
    src: &'a str,
    vars: Vec<(String, Value)>,
    mode: FuncMode,
    out: String,
}

type Result<T> = std::result::Result<T, TemplateError>;

impl<'a> Exec<'a> {
    pub fn new(src: &'a str, root: &Value, mode: FuncMode) -> Exec<'a> {
        Exec {
            src,
            vars: vec![(String::new(), root.clone())],
            mode,
            out: String::new(),
        }
    }

    /// Runs the nodes; on error, returns the output produced so far along with the error (Go's
    /// `Execute` also leaves partial output in the writer).
    pub fn run(
        mut self,
        nodes: &[Node],
        dot: &Value,
    ) -> std::result::Result<String, (String, TemplateError)> {
        match self.walk(dot, nodes) {
            Ok(_) => Ok(self.out),
            Err(e) => Err((self.out, e)),
        }
    }

    fn error(&self, op: &Operand, msg: impl std::fmt::Display) -> TemplateError {
        let line = line_of(self.src, op.pos);
        let line_start = self.src[..op.pos.min(self.src.len())]
            .rfind('\n')
            .map_or(0, |i| i + 1);
        let col = op.pos - line_start;
        TemplateError(format!(
            "template: :{line}:{col}: executing \"\" at <{op}>: {msg}"
        ))
    }

    fn walk(&mut self, dot: &Value, nodes: &[Node]) -> Result<Flow> {
        for node in nodes {
            match node {
                Node::Text(t) => self.out.push_str(t),
                Node::Action(pipe) => {
                    let v = self.pipeline(dot, pipe)?;
                    if pipe.decl.is_empty() {
                        self.out.push_str(&v.to_go_string());
                    }
                }
                Node::If { pipe, then, els } | Node::With { pipe, then, els } => {
                    let mark = self.vars.len();
                    let v = self.pipeline(dot, pipe)?;
                    let flow = if v.is_true() {
                        if matches!(node, Node::With { .. }) {
                            self.walk(&v, then)?
                        } else {
                            self.walk(dot, then)?
                        }
                    } else {
                        self.walk(dot, els)?
                    };
                    self.vars.truncate(mark);
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::Range { pipe, body, els } => {
                    let flow = self.range(dot, pipe, body, els)?;
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn range(&mut self, dot: &Value, pipe: &Pipeline, body: &[Node], els: &[Node]) -> Result<Flow> {
        let val = self.commands(dot, &pipe.cmds)?;
        let items: Vec<(Value, Value)> = match val {
            Value::List(l) => l
                .into_iter()
                .enumerate()
                .map(|(i, v)| (Value::Int(i as i64), v))
                .collect(),
            Value::Map(m) => m.into_iter().map(|(k, v)| (Value::Str(k), v)).collect(),
            Value::Int(n) => (0..n.max(0))
                .map(|i| (Value::Int(i), Value::Int(i)))
                .collect(),
            Value::Missing | Value::Null => Vec::new(),
            other => {
                let op = pipe
                    .cmds
                    .first()
                    .and_then(|c| c.args.first())
                    .cloned()
                    .unwrap_or(Operand {
                        term: Term::Field(Vec::new()),
                        pos: 0,
                    });
                return Err(self.error(
                    &op,
                    format!("range can't iterate over {}", other.to_go_string()),
                ));
            }
        };
        if items.is_empty() {
            let mark = self.vars.len();
            let flow = self.walk(dot, els)?;
            self.vars.truncate(mark);
            return Ok(flow);
        }
        for (key, elem) in items {
            let mark = self.vars.len();
            match pipe.decl.as_slice() {
                [v] => self.set_var(v, elem.clone(), pipe.is_assign),
                [k, v] => {
                    self.set_var(k, key, pipe.is_assign);
                    self.set_var(v, elem.clone(), pipe.is_assign);
                }
                _ => {}
            }
            let flow = self.walk(&elem, body)?;
            self.vars.truncate(mark);
            match flow {
                Flow::Break => break,
                Flow::Continue | Flow::Normal => {}
            }
        }
        Ok(Flow::Normal)
    }

    fn set_var(&mut self, name: &str, v: Value, assign: bool) {
        if assign {
            if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                slot.1 = v;
                return;
            }
        }
        self.vars.push((name.to_string(), v));
    }

    fn pipeline(&mut self, dot: &Value, pipe: &Pipeline) -> Result<Value> {
        let v = self.commands(dot, &pipe.cmds)?;
        for name in &pipe.decl {
            self.set_var(name, v.clone(), pipe.is_assign);
        }
        Ok(v)
    }

    fn commands(&mut self, dot: &Value, cmds: &[Command]) -> Result<Value> {
        let mut val: Option<Value> = None;
        for cmd in cmds {
            val = Some(self.command(dot, cmd, val)?);
        }
        Ok(val.unwrap_or(Value::Missing))
    }

    fn command(&mut self, dot: &Value, cmd: &Command, piped: Option<Value>) -> Result<Value> {
        let first = &cmd.args[0];
        match &first.term {
            Term::Ident(name) => self.call(dot, first, name, &cmd.args[1..], piped),
            _ => {
                if cmd.args.len() > 1 || piped.is_some() {
                    return Err(self.error(
                        first,
                        format!("can't give argument to non-function {first}"),
                    ));
                }
                if matches!(first.term, Term::Nil) {
                    return Err(self.error(first, "nil is not a command"));
                }
                self.operand(dot, first)
            }
        }
    }

    fn operand(&mut self, dot: &Value, op: &Operand) -> Result<Value> {
        match &op.term {
            Term::Field(fields) => self.fields(op, dot.clone(), fields),
            Term::Var(name, fields) => {
                let v = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| self.error(op, format!("undefined variable: ${name}")))?;
                self.fields(op, v, fields)
            }
            Term::Ident(name) => self.call(dot, op, name, &[], None),
            Term::Lit(v) => Ok(v.clone()),
            Term::Nil => Ok(Value::Null),
            Term::Pipe(pipe, fields) => {
                let v = self.pipeline(dot, pipe)?;
                self.fields(op, v, fields)
            }
        }
    }

    fn fields(&self, op: &Operand, mut v: Value, fields: &[String]) -> Result<Value> {
        for name in fields {
            v = match v {
                Value::Struct(s) => match s.fields.get(name) {
                    Some(f) => f.clone(),
                    None => {
                        return Err(self.error(
                            op,
                            format!("can't evaluate field {name} in type {}", s.type_name),
                        ))
                    }
                },
                Value::Map(m) => m.get(name).cloned().unwrap_or(Value::Missing),
                Value::Missing => Value::Missing,
                Value::Null => {
                    return Err(
                        self.error(op, format!("nil pointer evaluating interface {{}}.{name}"))
                    )
                }
                other => {
                    return Err(self.error(
                        op,
                        format!("can't evaluate field {name} in type {}", other.type_name()),
                    ))
                }
            };
        }
        Ok(v)
    }

    fn call(
        &mut self,
        dot: &Value,
        op: &Operand,
        name: &str,
        args: &[Operand],
        piped: Option<Value>,
    ) -> Result<Value> {
        if name == "and" || name == "or" {
            let total = args.len() + usize::from(piped.is_some());
            if total == 0 {
                return Err(self.error(
                    op,
                    format!("wrong number of args for {name}: want at least 1 got 0"),
                ));
            }
            let mut last = Value::Missing;
            for a in args {
                last = self.operand(dot, a)?;
                if last.is_true() == (name == "or") {
                    return Ok(last);
                }
            }
            if let Some(p) = piped {
                last = p;
            }
            return Ok(last);
        }
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.operand(dot, a)?);
        }
        if let Some(p) = piped {
            vals.push(p);
        }
        funcs::call(name, self.mode, vals).map_err(|msg| {
            let op_display = Operand {
                term: Term::Ident(name.to_string()),
                pos: op.pos,
            };
            self.error(&op_display, msg)
        })
    }
}
