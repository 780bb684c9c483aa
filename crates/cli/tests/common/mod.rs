//! Shared test helpers: an in-process mock daemon on a temp unix socket that records requests
//! and can hijack connections like Docker's attach/exec endpoints, and a runner for `berth`
//! commands with captured streams.

#![allow(dead_code)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use berth_cli::client::frames::{encode_frame, StreamKind};
use berth_cli::streams::Streams;
use berth_cli::{run_command, Cli};
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;

/// A request the mock daemon received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Seen {
    pub fn path(&self) -> &str {
        self.uri.split('?').next().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// What the hijacked side does with the client's stdin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Echo {
    /// Ignore it; close after writing the output.
    None,
    /// Send it back as stdout frames until the client closes its write side.
    Framed,
    /// Send it back raw (a TTY).
    Raw,
}

/// A canned answer.
pub enum Reply {
    Json(u16, serde_json::Value),
    Raw {
        status: u16,
        content_type: &'static str,
        body: Vec<u8>,
        headers: Vec<(&'static str, String)>,
    },
    /// `101 Switching Protocols`, then `output` on the raw connection.
    Upgrade {
        output: Vec<u8>,
        echo: Echo,
    },
}

pub fn json(status: u16, v: serde_json::Value) -> Reply {
    Reply::Json(status, v)
}

pub fn not_found(msg: &str) -> Reply {
    Reply::Json(404, serde_json::json!({ "message": msg }))
}

pub fn stdout_frames(parts: &[(StreamKind, &[u8])]) -> Vec<u8> {
    parts
        .iter()
        .flat_map(|(k, d)| encode_frame(*k, d))
        .collect()
}

pub type Route = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

pub struct MockDaemon {
    _dir: tempfile::TempDir,
    pub host: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl MockDaemon {
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The first request whose path ends with `suffix` (and has `method`).
    pub fn find(&self, method: &str, suffix: &str) -> Option<Seen> {
        self.seen()
            .into_iter()
            .find(|s| s.method == method && s.path().ends_with(suffix))
    }

    /// "METHOD path?query" of every request, in order.
    pub fn log(&self) -> Vec<String> {
        self.seen()
            .iter()
            .map(|s| format!("{} {}", s.method, s.uri))
            .collect()
    }
}

async fn hijacked(upgraded: hyper::upgrade::Upgraded, output: Vec<u8>, echo: Echo) {
    let mut io = TokioIo::new(upgraded);
    let _ = io.write_all(&output).await;
    let _ = io.flush().await;
    if echo != Echo::None {
        let mut buf = vec![0u8; 4096];
        loop {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let data = match echo {
                        Echo::Framed => encode_frame(StreamKind::Stdout, &buf[..n]),
                        _ => buf[..n].to_vec(),
                    };
                    if io.write_all(&data).await.is_err() {
                        break;
                    }
                    let _ = io.flush().await;
                }
            }
        }
    }
    let _ = io.shutdown().await;
}

async fn serve<S>(stream: S, route: Route, seen: Arc<Mutex<Vec<Seen>>>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |mut req: Request<Incoming>| {
        let seen = seen.clone();
        let route = route.clone();
        async move {
            let on_upgrade = hyper::upgrade::on(&mut req);
            let method = req.method().to_string();
            let uri = req.uri().to_string();
            let headers = req
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                .collect();
            let body = req.into_body().collect().await?.to_bytes();
            let s = Seen {
                method,
                uri,
                headers,
                body,
            };
            let reply = route(&s);
            if let Ok(mut all) = seen.lock() {
                all.push(s);
            }
            let response = match reply {
                Reply::Json(status, v) => Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(v.to_string()))),
                Reply::Raw {
                    status,
                    content_type,
                    body,
                    headers,
                } => {
                    let mut b = Response::builder()
                        .status(status)
                        .header("content-type", content_type);
                    for (k, v) in headers {
                        b = b.header(k, v);
                    }
                    b.body(Full::new(Bytes::from(body)))
                }
                Reply::Upgrade { output, echo } => {
                    tokio::spawn(async move {
                        if let Ok(up) = on_upgrade.await {
                            hijacked(up, output, echo).await;
                        }
                    });
                    Response::builder()
                        .status(101)
                        .header("content-type", "application/vnd.docker.raw-stream")
                        .header("connection", "Upgrade")
                        .header("upgrade", "tcp")
                        .body(Full::new(Bytes::new()))
                }
            };
            Ok::<_, hyper::Error>(response.unwrap_or_else(|e| panic!("{e}")))
        }
    });
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), svc)
        .with_upgrades()
        .await;
}

/// Starts a mock daemon answering with `route`.
pub fn start(route: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> MockDaemon {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("daemon.sock");
    let listener = UnixListener::bind(&path).unwrap_or_else(|e| panic!("{e}"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let route: Route = Arc::new(route);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, route.clone(), seen2.clone()));
        }
    });
    MockDaemon {
        host: format!("unix://{}", path.display()),
        _dir: dir,
        seen,
    }
}

#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    pub fn bytes(&self) -> Vec<u8> {
        self.0.lock().map(|b| b.clone()).unwrap_or_default()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }
}

#[derive(Debug)]
pub struct Outcome {
    pub stdout: String,
    pub stdout_bytes: Vec<u8>,
    pub stderr: String,
    pub code: i32,
}

/// Runs `berth -H host args...` in-process with captured output and `input` as stdin.
pub async fn berth_in(host: &str, args: &[&str], input: &[u8]) -> Outcome {
    let mut argv = vec!["berth", "-H", host];
    argv.extend_from_slice(args);
    let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    let out = Captured::default();
    let err = Captured::default();
    let streams = Streams {
        out: Box::new(out.clone()),
        err: Box::new(err.clone()),
        stdin_is_terminal: false,
        stdout_is_terminal: false,
        input: Some(Box::new(std::io::Cursor::new(input.to_vec()))),
    };
    let command = cli.command.unwrap_or_else(|| panic!("no command"));
    let (code, _) = tokio::spawn(run_command(cli.global, command, streams))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    Outcome {
        stdout: out.text(),
        stdout_bytes: out.bytes(),
        stderr: err.text(),
        code,
    }
}

/// Runs `berth -H host args...` with empty stdin.
pub async fn berth(host: &str, args: &[&str]) -> Outcome {
    berth_in(host, args, b"").await
}
