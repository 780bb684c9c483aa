//! `POST /containers/{id}/exec`, `POST /exec/{id}/start`, `GET /exec/{id}/json`,
//! `POST /exec/{id}/resize`.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::{blocking, AppState};
use crate::error::{ApiError, ApiResult};
use crate::query::Query;
use crate::relay::{self, DetachScanner, FdStream};

const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

fn parse_body(body: &[u8]) -> ApiResult<Value> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

/// `POST /containers/{id}/exec`.
pub async fn create(engine: AppState, id: String, body: Bytes) -> ApiResult<Response> {
    let body = parse_body(&body)?;
    if !body.is_object() {
        return Err(ApiError::bad_request("No exec command specified"));
    }
    if let Some(keys) = body["DetachKeys"].as_str().filter(|k| !k.is_empty()) {
        relay::parse_detach_keys(keys).map_err(ApiError::bad_request)?;
    }
    let exec_id = blocking(move || engine.create_exec(&id, &body)).await?;
    Ok((StatusCode::CREATED, Json(json!({ "Id": exec_id }))).into_response())
}

/// `GET /exec/{id}/json`.
pub async fn inspect(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(blocking(move || engine.inspect_exec(&id)).await?))
}

/// `POST /exec/{id}/resize?h=&w=`.
pub async fn resize(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<StatusCode> {
    let (h, w) = size(&Query::parse(raw.as_deref()))?;
    blocking(move || engine.resize_exec(&id, h, w)).await?;
    Ok(StatusCode::OK)
}

/// `h` and `w` of a resize request.
pub fn size(q: &Query) -> ApiResult<(u16, u16)> {
    let num = |k: &str| {
        q.get(k)
            .unwrap_or("0")
            .parse::<u16>()
            .map_err(|_| ApiError::bad_request(format!("invalid {k}: {:?}", q.str(k))))
    };
    Ok((num("h")?, num("w")?))
}

/// `POST /exec/{id}/start` with `{"Detach", "Tty"}`: detached, or streaming over a hijacked
/// connection (`Upgrade: tcp`), or — for clients that do not upgrade — as the response body
/// without stdin.
pub async fn start(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    mut req: axum::extract::Request,
) -> ApiResult<Response> {
    let on_upgrade = relay::wants_upgrade(req.headers()).then(|| hyper::upgrade::on(&mut req));
    let body = axum::body::to_bytes(std::mem::take(req.body_mut()), 1 << 20)
        .await
        .map_err(|e| ApiError::bad_request(format!("reading body: {e}")))?;
    let body = parse_body(&body)?;
    let detach = body["Detach"].as_bool().unwrap_or(false);
    let tty = body["Tty"].as_bool();
    let inst = {
        let (e, i) = (engine.clone(), id.clone());
        blocking(move || e.exec_instance(&i)).await?
    };
    let tty_now = tty.unwrap_or(inst.config.tty);
    let keys = inst
        .config
        .detach_keys
        .clone()
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| DEFAULT_DETACH_KEYS.into());
    let keys = relay::parse_detach_keys(&keys).map_err(ApiError::bad_request)?;
    let ctype = if tty_now {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    let config = inst.config.clone();
    if !detach {
        if let Some(on_upgrade) = on_upgrade {
            if inst.started {
                let what = if inst.running {
                    "is already running"
                } else {
                    "has already run"
                };
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    format!("Error: Exec command {id} {what}"),
                ));
            }
            // Docker's order: hand the connection over first, then start the process, so its
            // first output never arrives together with the 101 (clients that read the raw
            // socket after parsing the headers would lose it). A failed start is reported
            // inside the stream.
            tokio::spawn(async move {
                let Ok(upgraded) = on_upgrade.await else {
                    return;
                };
                let mut io = hyper_util::rt::TokioIo::new(upgraded);
                let e = engine.clone();
                let started = tokio::task::spawn_blocking(move || e.start_exec(&id, tty)).await;
                match started {
                    Ok(Ok(session)) => {
                        let (rx, stdin) = launch(session, &config, tty_now, false);
                        relay_hijacked(io, rx, stdin, keys).await;
                    }
                    Ok(Err(err)) => {
                        let text = error_text(&err.to_string(), tty_now);
                        let _ = io.write_all(&text).await;
                        let _ = io.shutdown().await;
                    }
                    Err(_) => {
                        let _ = io.shutdown().await;
                    }
                }
            });
            return relay::upgrade_response(ctype);
        }
    }
    let started = {
        let (e, i) = (engine.clone(), id.clone());
        tokio::task::spawn_blocking(move || e.start_exec(&i, tty))
            .await
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    };
    let session = match started {
        Ok(s) => s,
        Err(berth_engine::Error::ExecFailed(msg)) if !detach => {
            return Ok((
                StatusCode::OK,
                [(axum::http::header::CONTENT_TYPE, ctype)],
                error_text(&msg, tty_now),
            )
                .into_response());
        }
        Err(e) => return Err(e.into()),
    };
    let (rx, _stdin) = launch(session, &config, tty_now, detach);
    if detach {
        return Ok(StatusCode::OK.into_response());
    }
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok::<_, std::io::Error>);
    Ok((
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, ctype)],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

/// A failed start as the stream shows it (on stdout, framed unless it is a TTY).
fn error_text(msg: &str, tty: bool) -> Vec<u8> {
    let line = format!("{msg}\r\n");
    let mut text = Vec::new();
    if tty {
        text.extend_from_slice(line.as_bytes());
    } else {
        relay::frame(1, line.as_bytes(), &mut text);
    }
    text
}

/// Starts pumping a started exec's output (dropped when detached or not attached); returns the
/// output channel and the exec's stdin (its pty master with a TTY) when it was attached. The
/// channel closes once the output has ended and the exit code is recorded.
fn launch(
    session: berth_engine::exec::ExecSession,
    config: &berth_engine::exec::ExecConfig,
    tty: bool,
    detach: bool,
) -> (mpsc::Receiver<Bytes>, Option<std::os::fd::OwnedFd>) {
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let attach_out = config.attach_stdout || config.attach_stderr || tty;
    let stdin = if config.attach_stdin {
        match (&session.master, session.stdin) {
            (Some(m), _) => m.try_clone().ok(),
            (None, s) => s,
        }
    } else {
        None
    };
    let outputs = Outputs {
        stdout: session.stdout,
        stderr: session.stderr,
        master: session.master.as_ref().and_then(|m| m.try_clone().ok()),
        want_stdout: config.attach_stdout || tty,
        want_stderr: config.attach_stderr,
    };
    let exit = session.exit;
    tokio::spawn(async move {
        let out = (!detach && attach_out).then(|| tx.clone());
        outputs.pump(out).await;
        // The stream ends only once the exit code is recorded: the client asks for it next.
        let _ = exit.await;
        drop(tx);
    });
    (rx, stdin)
}

/// The daemon's ends of a process's output.
pub struct Outputs {
    pub stdout: Option<std::os::fd::OwnedFd>,
    pub stderr: Option<std::os::fd::OwnedFd>,
    /// A pty master: raw output, no framing.
    pub master: Option<std::os::fd::OwnedFd>,
    pub want_stdout: bool,
    pub want_stderr: bool,
}

impl Outputs {
    /// Copies every output into `tx` (framed unless it is a pty) until all reach end of
    /// stream. Without `tx`, or once the client is gone, output is read and dropped, so the
    /// process never blocks on a full pipe.
    pub async fn pump(self, tx: Option<mpsc::Sender<Bytes>>) {
        let one = |fd: Option<std::os::fd::OwnedFd>, stream: u8, want: bool| {
            let tx = tx.clone().filter(|_| want);
            async move {
                let Some(fd) = fd else { return };
                let Ok(fd) = FdStream::new(fd) else { return };
                let mut buf = vec![0u8; 32 * 1024];
                let mut tx = tx;
                loop {
                    let n = match fd.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let Some(t) = &tx else { continue };
                    let chunk = if stream == 0 {
                        Bytes::copy_from_slice(&buf[..n])
                    } else {
                        let mut out = Vec::with_capacity(n + 8);
                        relay::frame(stream, &buf[..n], &mut out);
                        Bytes::from(out)
                    };
                    if t.send(chunk).await.is_err() {
                        tx = None;
                    }
                }
            }
        };
        tokio::join!(
            one(self.master, 0, self.want_stdout),
            one(self.stdout, 1, self.want_stdout),
            one(self.stderr, 2, self.want_stderr),
        );
    }
}

/// Runs a hijacked connection: `rx` to the client, the client's input into `stdin` (watching
/// for the detach keys). Ends when the output ends, or the client detaches.
pub async fn relay_hijacked<S>(
    io: S,
    mut rx: mpsc::Receiver<Bytes>,
    stdin: Option<std::os::fd::OwnedFd>,
    keys: Vec<u8>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let (mut r, mut w) = tokio::io::split(io);
    let (detached_tx, mut detached) = tokio::sync::oneshot::channel::<()>();
    let input = tokio::spawn(async move {
        let Some(fd) = stdin else {
            // Still watch the client, so a detach or hang-up is noticed.
            let mut buf = [0u8; 1024];
            while matches!(r.read(&mut buf).await, Ok(n) if n > 0) {}
            return;
        };
        let Ok(fd) = FdStream::new(fd) else { return };
        let mut scanner = DetachScanner::new(keys);
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = match r.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let (data, detach) = scanner.feed(&buf[..n]);
            if !data.is_empty() && fd.write_all(&data).await.is_err() {
                return;
            }
            if detach {
                let _ = detached_tx.send(());
                return;
            }
        }
    });
    // The input side ends without a detach when the client closes its input: output goes on.
    let mut input_open = true;
    loop {
        tokio::select! {
            chunk = rx.recv() => match chunk {
                Some(c) => {
                    if w.write_all(&c).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
            r = &mut detached, if input_open => match r {
                Ok(()) => break,
                Err(_) => input_open = false,
            },
        }
    }
    let _ = w.shutdown().await;
    input.abort();
}
