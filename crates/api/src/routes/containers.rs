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
    let force = Query::parse(raw.as_deref()).bool("force");
    engine.remove_container_forced(&id, force).await?;
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
        _ => not_yet(State(engine), Path((id, op))).await,
    }
}

/// Docker's 8-byte stream header (stream, 0, 0, 0, big-endian length) plus the payload.
fn frame(stream: u8, payload: &[u8], out: &mut Vec<u8>) {
    out.push(stream);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}

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
        let first = tokio::task::spawn_blocking(move || e.read_log(&i, 0)).await;
        let Ok(Ok((entries, mut offset))) = first else {
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
            let (e, i) = (engine.clone(), id.clone());
            let Ok(Ok((entries, next))) =
                tokio::task::spawn_blocking(move || e.read_log(&i, offset)).await
            else {
                return;
            };
            offset = next;
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
/// nothing between attach and start is missed. Standard input is not forwarded yet.
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
    let (mut file, start_offset) = {
        let (e, i) = (engine.clone(), c.id.clone());
        blocking(move || {
            let f = e.open_log(&i)?;
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            Ok((f, if replay { 0 } else { len }))
        })
        .await?
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
        let mut io = hyper_util::rt::TokioIo::new(upgraded);
        let mut changes = engine.subscribe_changes();
        let mut offset = start_offset;
        loop {
            changes.borrow_and_update();
            let state = engine.container(&id).ok().map(|c| c.state);
            let read = tokio::task::spawn_blocking(move || {
                let r = berth_engine::logs::read_entries(&mut file, offset);
                (file, r)
            })
            .await;
            let Ok((f, Ok((entries, next)))) = read else {
                break;
            };
            file = f;
            offset = next;
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
            }
        }
        let _ = io.shutdown().await;
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(axum::http::header::CONNECTION, "Upgrade")
        .header(axum::http::header::UPGRADE, "tcp")
        .header(axum::http::header::CONTENT_TYPE, ctype)
        .body(axum::body::Body::empty())
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}
