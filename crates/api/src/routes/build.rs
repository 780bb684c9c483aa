//! `POST /build` (the classic builder protocol the docker CLI speaks with `DOCKER_BUILDKIT=0`)
//! and `POST /build/prune`.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_engine::build::{BuildOptions, Progress};
use serde_json::{json, Value};

use super::{blocking, body_reader, AppState};
use crate::error::{ApiError, ApiResult};
use crate::query::Query;

/// A JSON object of strings (`buildargs`, `labels`); null values mean "not set".
fn string_map(q: &Query, key: &str) -> ApiResult<BTreeMap<String, String>> {
    let raw = q.str(key);
    if raw.is_empty() {
        return Ok(BTreeMap::new());
    }
    let v: BTreeMap<String, Option<String>> = serde_json::from_str(raw)
        .map_err(|e| ApiError::bad_request(format!("invalid {key}: {e}")))?;
    Ok(v.into_iter().filter_map(|(k, v)| Some((k, v?))).collect())
}

pub async fn build(
    State(engine): State<AppState>,
    RawQuery(raw): RawQuery,
    body: Body,
) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    let remote = q.str("remote");
    if !remote.is_empty() {
        return Err(ApiError::bad_request(format!(
            "building from a remote context ({remote}) is not supported: send the context as the request body"
        )));
    }
    let opts = BuildOptions {
        tags: q.all("t").into_iter().filter(|t| !t.is_empty()).collect(),
        dockerfile: q.str("dockerfile").to_string(),
        build_args: string_map(&q, "buildargs")?,
        target: q
            .get("target")
            .map(str::to_string)
            .filter(|t| !t.is_empty()),
        no_cache: q.bool("nocache"),
        labels: string_map(&q, "labels")?,
        quiet: q.bool("q"),
        network_mode: q
            .get("networkmode")
            .map(str::to_string)
            .filter(|n| !n.is_empty()),
        cancel: Default::default(),
    };
    let cancel = opts.cancel.clone();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let mut reader = body_reader(body);
    // A client that goes away (Ctrl-C, a dropped connection) drops the response body and with
    // it the receiver: the build is cancelled then, even while a RUN step prints nothing.
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let watcher = tx.clone();
    let watched = cancel.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = watcher.closed() => watched.store(true, std::sync::atomic::Ordering::SeqCst),
            _ = done_rx => {}
        }
    });
    tokio::task::spawn_blocking(move || {
        let progress = tx.clone();
        let send = move |p: Progress| {
            let msg = match p {
                Progress::Line(l) => json!({ "stream": l }),
                Progress::Aux(v) => json!({ "aux": v }),
            };
            // The receiver is gone when the client disconnected: stop the build.
            if progress.send(msg).is_err() {
                cancel.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        };
        let result = engine.build(&opts, &mut reader, &send);
        // A build that failed early (a bad Dockerfile near the start of the context) leaves the
        // rest of the request unread; the client is still sending it. Read it to the end so the
        // connection stays in step and the client gets the whole error message.
        if result.is_err() {
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        }
        let _ = done_tx.send(());
        match result {
            Ok(id) => {
                let _ = tx.send(json!({"aux": {"ID": id.as_str()}}));
                if opts.quiet {
                    let _ = tx.send(json!({"stream": format!("{}\n", id.as_str())}));
                } else {
                    let _ =
                        tx.send(json!({"stream": format!("Successfully built {}\n", id.short())}));
                    for t in &opts.tags {
                        let _ = tx.send(json!({"stream": format!("Successfully tagged {}\n", berth_engine::images::display_ref(t))}));
                    }
                }
            }
            Err(e) => {
                let m = e.to_string();
                let _ = tx.send(json!({"errorDetail": {"message": m}, "error": m}));
            }
        }
    });
    Ok(super::message_stream(rx))
}

pub async fn prune(State(engine): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    let all = q.bool("all");
    let filters = q.filters()?;
    let v = blocking(move || engine.prune_build_cache(all, &filters)).await?;
    Ok(Json(v).into_response())
}
