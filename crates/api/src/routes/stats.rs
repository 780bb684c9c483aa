//! `GET /containers/{id}/stats?stream=&one-shot=`: a sample every second (streamed), or one
//! sample — taken twice a second apart unless `one-shot`, so `precpu_stats` lets the client
//! compute a CPU percentage, as Docker does.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::{blocking, AppState};
use crate::error::ApiResult;
use crate::query::Query;

const INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

fn with_previous(mut cur: Value, prev: &Value) -> Value {
    cur["precpu_stats"] = prev["cpu_stats"].clone();
    cur["preread"] = prev["read"].clone();
    cur
}

pub async fn stats(engine: AppState, id: String, q: Query) -> ApiResult<Response> {
    let stream = q
        .get("stream")
        .map(|v| v != "0" && v != "false")
        .unwrap_or(true);
    let one_shot = q.bool("one-shot");
    let first = {
        let (e, i) = (engine.clone(), id.clone());
        blocking(move || e.container_stats(&i)).await?
    };
    let json = [(axum::http::header::CONTENT_TYPE, "application/json")];
    if !stream {
        let running = first["read"] != berth_engine::stats::ZERO_TIME;
        let v = if one_shot || !running {
            first
        } else {
            tokio::time::sleep(INTERVAL).await;
            let second = blocking(move || engine.container_stats(&id)).await?;
            with_previous(second, &first)
        };
        return Ok((StatusCode::OK, json, format!("{v}\n")).into_response());
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(2);
    tokio::spawn(async move {
        let mut prev = Value::Null;
        let mut cur = first;
        loop {
            let v = if prev.is_null() {
                cur.clone()
            } else {
                with_previous(cur.clone(), &prev)
            };
            if tx.send(Ok(format!("{v}\n").into())).await.is_err() {
                return;
            }
            let running = cur["read"] != berth_engine::stats::ZERO_TIME;
            if !running {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(INTERVAL) => {}
                _ = tx.closed() => return,
            }
            prev = cur;
            let (e, i) = (engine.clone(), id.clone());
            cur = match tokio::task::spawn_blocking(move || e.container_stats(&i)).await {
                Ok(Ok(v)) => v,
                _ => return,
            };
        }
    });
    let body = axum::body::Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    Ok((StatusCode::OK, json, body).into_response())
}
