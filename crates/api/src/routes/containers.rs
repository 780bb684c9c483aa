//! `/containers/*`: create, list, inspect, rename, remove, prune, and the lifecycle: start,
//! stop, kill, restart, wait, logs.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use super::{blocking, AppState};
use crate::error::{ApiError, ApiResult};
use crate::query::Query;

pub async fn create(
    State(engine): State<AppState>,
    RawQuery(raw): RawQuery,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    let name = q.get("name").map(str::to_string);
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?
    };
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "config cannot be empty in order to create a container",
        ));
    }
    let v = blocking(move || engine.create_container(name.as_deref(), &body)).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

pub async fn list(
    State(engine): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    let q = Query::parse(raw.as_deref());
    let all = q.bool("all");
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<i64>().ok())
        .filter(|l| *l > 0)
        .map(|l| l as usize);
    let filters = q.filters()?;
    let v = blocking(move || engine.list_containers(all, limit, &filters)).await?;
    Ok(Json(Value::Array(v)))
}

pub async fn inspect(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(blocking(move || engine.inspect_container(&id)).await?))
}

pub async fn remove(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<StatusCode> {
    let q = Query::parse(raw.as_deref());
    engine
        .remove_container_and_volumes(&id, q.bool("force"), q.bool("v"))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn rename(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<StatusCode> {
    let name = Query::parse(raw.as_deref()).str("name").to_string();
    blocking(move || engine.rename_container(&id, &name)).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn prune(
    State(engine): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    let filters = Query::parse(raw.as_deref()).filters()?;
    Ok(Json(
        blocking(move || engine.prune_containers(&filters)).await?,
    ))
}

/// Lifecycle endpoints whose runtime side is not built yet: a clear 501 naming the operation,
/// after checking the container exists (so an unknown ID still gets Docker's 404).
pub async fn not_yet(
    State(engine): State<AppState>,
    Path((id, op)): Path<(String, String)>,
) -> ApiResult<Response> {
    blocking(move || engine.container(&id).map(|_| ())).await?;
    Err(ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        format!("{op}: running containers is not supported by this daemon yet"),
    ))
}

fn seconds(q: &Query, key: &str) -> ApiResult<Option<i64>> {
    match q.get(key).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("invalid value for {key}: {v:?}"))),
    }
}

/// `POST /containers/{id}/{op}`.
pub async fn op_post(
    State(engine): State<AppState>,
    Path((id, op)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    match op.as_str() {
        "start" => {
            blocking(move || engine.start_container(&id)).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        "stop" => {
            let t = seconds(&q, "t")?;
            engine.stop_container(&id, t).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        "restart" => {
            let t = seconds(&q, "t")?;
            engine.restart_container(&id, t).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        "kill" => {
            let signal = q.get("signal").map(str::to_string);
            blocking(move || engine.kill_container(&id, signal.as_deref())).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        "wait" => {
            let cond = berth_engine::WaitCondition::parse(q.str("condition"))?;
            {
                let (e, i) = (engine.clone(), id.clone());
                blocking(move || e.container(&i).map(|_| ())).await?;
            }
            // Headers go out at once, as dockerd does: the docker CLI registers its wait
            // before it starts the container and waits for these headers.
            let body = futures_util::stream::once(async move {
                let v = match engine.wait_container(&id, cond, None).await {
                    Ok(code) => serde_json::json!({"StatusCode": code, "Error": null}),
                    Err(e) => {
                        serde_json::json!({"StatusCode": -1, "Error": {"Message": e.to_string()}})
                    }
                };
                Ok::<_, std::io::Error>(bytes::Bytes::from(format!("{v}\n")))
            });
            Ok((
                StatusCode::OK,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                axum::body::Body::from_stream(body),
            )
                .into_response())
        }
        "exec" => super::exec::create(engine, id, body).await,
        "resize" => {
            let (h, w) = super::exec::size(&q)?;
            blocking(move || engine.resize_container(&id, h, w)).await?;
            Ok(StatusCode::OK.into_response())
        }
        "pause" => {
            blocking(move || engine.pause_container(&id)).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        "unpause" => {
            blocking(move || engine.unpause_container(&id)).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        _ => not_yet(State(engine), Path((id, op))).await,
    }
}

/// `GET /containers/{id}/{op}`.
pub async fn op_get(
    State(engine): State<AppState>,
    Path((id, op)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    match op.as_str() {
        "logs" => logs(engine, id, Query::parse(raw.as_deref())).await,
        "top" => {
            let ps_args = Query::parse(raw.as_deref()).str("ps_args").to_string();
            Ok(Json(blocking(move || engine.top_container(&id, &ps_args)).await?).into_response())
        }
        "stats" => super::stats::stats(engine, id, Query::parse(raw.as_deref())).await,
        "changes" | "export" | "archive" => {
            super::container_fs::get(engine, id, &op, Query::parse(raw.as_deref())).await
        }
        _ => not_yet(State(engine), Path((id, op))).await,
    }
}

use crate::relay::frame;

struct LogOpts {
    stdout: bool,
    stderr: bool,
    timestamps: bool,
    tty: bool,
    since: Option<i64>,
    until: Option<i64>,
}

impl LogOpts {
    fn keep(&self, e: &berth_engine::logs::LogEntry) -> bool {
        (if e.stream == 2 {
            self.stderr
        } else {
            self.stdout
        }) && self.since.is_none_or(|s| e.time_nano >= s)
            && self.until.is_none_or(|u| e.time_nano <= u)
    }

    fn render(&self, e: &berth_engine::logs::LogEntry, out: &mut Vec<u8>) {
        let mut payload = Vec::with_capacity(e.log.len() + 32);
        if self.timestamps {
            payload.extend_from_slice(e.time.as_bytes());
            payload.push(b' ');
        }
        payload.extend_from_slice(&e.log);
        if self.tty {
            out.extend_from_slice(&payload);
        } else {
            frame(e.stream, &payload, out);
        }
    }
}

async fn logs(engine: AppState, key: String, q: Query) -> ApiResult<Response> {
    let c = {
        let e = engine.clone();
        blocking(move || e.container(&key)).await?
    };
    let since = q
        .get("since")
        .and_then(berth_engine::logs::parse_log_time)
        .filter(|s| *s > 0);
    let until = q
        .get("until")
        .and_then(berth_engine::logs::parse_log_time)
        .filter(|s| *s > 0);
    let opts = LogOpts {
        stdout: q.bool("stdout"),
        stderr: q.bool("stderr"),
        timestamps: q.bool("timestamps"),
        tty: c.config["Tty"].as_bool().unwrap_or(false),
        since,
        until,
    };
    if !opts.stdout && !opts.stderr {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    if c.host_config["LogConfig"]["Type"] == "none" {
        return Err(ApiError::bad_request(
            "configured logging driver does not support reading",
        ));
    }
    let tail: Option<usize> = match q.str("tail") {
        "" | "all" => None,
        n => Some(
            n.parse::<i64>()
                .map(|n| n.max(0) as usize)
                .unwrap_or(usize::MAX),
        ),
    };
    let follow = q.bool("follow");
    let id = c.id.clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(16);
    tokio::spawn(async move {
        let mut changes = engine.subscribe_changes();
        let (e, i) = (engine.clone(), id.clone());
        let first = tokio::task::spawn_blocking(move || {
            let mut cursor = e.log_cursor(&i, true)?;
            let entries = cursor
                .read()
                .map_err(|e| berth_engine::Error::Internal(format!("reading the log: {e}")))?;
            Ok::<_, berth_engine::Error>((cursor, entries))
        })
        .await;
        let Ok(Ok((mut cursor, entries))) = first else {
            return;
        };
        let kept: Vec<_> = entries.iter().filter(|e| opts.keep(e)).collect();
        let skip = tail.map_or(0, |t| kept.len().saturating_sub(t));
        let mut out = Vec::new();
        for e in &kept[skip..] {
            opts.render(e, &mut out);
        }
        if !out.is_empty() && tx.send(Ok(out.into())).await.is_err() {
            return;
        }
        if !follow {
            return;
        }
        loop {
            changes.borrow_and_update();
            let running = engine.is_running(&id);
            let Ok((c, Ok(entries))) = tokio::task::spawn_blocking(move || {
                let r = cursor.read();
                (cursor, r)
            })
            .await
            else {
                return;
            };
            cursor = c;
            let mut out = Vec::new();
            for e in entries.iter().filter(|e| opts.keep(e)) {
                opts.render(e, &mut out);
            }
            if !out.is_empty() && tx.send(Ok(out.into())).await.is_err() {
                return;
            }
            if !running || opts.until.is_some_and(|u| u <= now_nanos()) {
                return;
            }
            tokio::select! {
                _ = changes.changed() => {}
                _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
                _ = tx.closed() => return,
            }
        }
    });
    let body = axum::body::Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    // API 1.41 uses this content type for both the raw (TTY) and the multiplexed stream.
    let ctype = "application/vnd.docker.raw-stream";
    Ok((
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, ctype)],
        body,
    )
        .into_response())
}

fn now_nanos() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

/// `POST /containers/{id}/attach`: hijack the connection (`Upgrade: tcp`, 101) and stream the
/// container's output from now on (plus the log so far with `logs=1`) until it exits. Output
/// is read from the json-file log the shim writes, through a handle opened before the 101, so
/// nothing between attach and start is missed. With `stdin=1` on a container with `OpenStdin`,
/// the client's input goes to the container through its shim's attach socket (connected once
/// the container runs, so attaching before start works, as the docker CLI does for `run -i`);
/// with a TTY, the detach keys (`detachKeys`, default ctrl-p,ctrl-q) end the attach.
pub async fn attach(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    mut req: axum::extract::Request,
) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    let c = {
        let (e, i) = (engine.clone(), id.clone());
        blocking(move || e.container(&i)).await?
    };
    let opts = LogOpts {
        stdout: q.bool("stdout"),
        stderr: q.bool("stderr"),
        timestamps: false,
        tty: c.config["Tty"].as_bool().unwrap_or(false),
        since: None,
        until: None,
    };
    let replay = q.bool("logs");
    let stream = q.bool("stream");
    let want_stdin = q.bool("stdin") && c.config["OpenStdin"].as_bool().unwrap_or(false);
    let keys = if opts.tty {
        let k = q
            .get("detachKeys")
            .filter(|k| !k.is_empty())
            .unwrap_or("ctrl-p,ctrl-q");
        crate::relay::parse_detach_keys(k).map_err(ApiError::bad_request)?
    } else {
        Vec::new()
    };
    let mut cursor = {
        let (e, i) = (engine.clone(), c.id.clone());
        blocking(move || e.log_cursor(&i, replay)).await?
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    let id = c.id.clone();
    let ctype = if opts.tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let io = hyper_util::rt::TokioIo::new(upgraded);
        let (r, mut io) = tokio::io::split(io);
        let (detached_tx, mut detached) = tokio::sync::oneshot::channel::<()>();
        let input = want_stdin.then(|| {
            tokio::spawn(forward_stdin(
                engine.clone(),
                id.clone(),
                r,
                keys,
                opts.tty,
                detached_tx,
            ))
        });
        let mut input_open = input.is_some();
        let mut changes = engine.subscribe_changes();
        loop {
            changes.borrow_and_update();
            let state = engine.container(&id).ok().map(|c| c.state);
            let read = tokio::task::spawn_blocking(move || {
                let r = cursor.read();
                (cursor, r)
            })
            .await;
            let Ok((c, Ok(entries))) = read else {
                break;
            };
            cursor = c;
            let mut out = Vec::new();
            for e in entries.iter().filter(|e| opts.keep(e)) {
                opts.render(e, &mut out);
            }
            if !out.is_empty() && io.write_all(&out).await.is_err() {
                return;
            }
            let finished = match &state {
                None => true,
                Some(s) => {
                    matches!(s.status.as_str(), "exited" | "dead")
                        || (s.status == "created" && s.exit_code != 0)
                }
            };
            if finished || !stream {
                break;
            }
            tokio::select! {
                _ = changes.changed() => {}
                _ = tokio::time::sleep(std::time::Duration::from_millis(50)) => {}
                r = &mut detached, if input_open => match r {
                    Ok(()) => break,
                    Err(_) => input_open = false,
                },
            }
        }
        let _ = io.shutdown().await;
        if let Some(input) = input {
            input.abort();
        }
    });
    crate::relay::upgrade_response(ctype)
}

/// Copies a client's input into the container's stdin (through the shim's attach socket, in its
/// frames) until the client closes it — then, without a TTY, the container's stdin sees EOF if
/// it was opened `StdinOnce`, as with Docker — or types the detach keys, which closes nothing.
async fn forward_stdin<R>(
    engine: AppState,
    id: String,
    mut client: R,
    keys: Vec<u8>,
    tty: bool,
    detached: tokio::sync::oneshot::Sender<()>,
) where
    R: tokio::io::AsyncRead + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // The socket exists once the container runs; the client may attach before start.
    let mut changes = engine.subscribe_changes();
    let sock = loop {
        changes.borrow_and_update();
        let Ok(c) = engine.container(&id) else { return };
        if c.state.running {
            let (e, i) = (engine.clone(), id.clone());
            if let Ok(Ok(s)) = tokio::task::spawn_blocking(move || e.connect_attach(&i)).await {
                break s;
            }
        } else if c.state.status != "created" {
            return;
        }
        tokio::select! {
            _ = changes.changed() => {}
            _ = tokio::time::sleep(std::time::Duration::from_millis(20)) => {}
        }
    };
    if sock.set_nonblocking(true).is_err() {
        return;
    }
    let Ok(mut sock) = tokio::net::UnixStream::from_std(sock) else {
        return;
    };
    if sock
        .write_all(&[berth_engine::shim::ATTACH_STDIN])
        .await
        .is_err()
    {
        return;
    }
    let mut scanner = crate::relay::DetachScanner::new(keys);
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match client.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let (data, detach) = scanner.feed(&buf[..n]);
        if !data.is_empty() {
            let mut framed = Vec::with_capacity(data.len() + 4);
            framed.extend_from_slice(&(data.len() as u32).to_be_bytes());
            framed.extend_from_slice(&data);
            if sock.write_all(&framed).await.is_err() {
                return;
            }
        }
        if detach {
            let _ = detached.send(());
            return;
        }
    }
    if !tty {
        let _ = sock.write_all(&[0, 0, 0, 0]).await;
    }
    let _ = sock.shutdown().await;
}
