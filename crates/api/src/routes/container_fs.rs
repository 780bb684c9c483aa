//! Container filesystem endpoints: `GET /containers/{id}/changes`, `GET .../export`,
//! `HEAD|GET|PUT .../archive?path=` (what `cp` uses) and `POST /commit`.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_engine::container_fs::{CommitRequest, ExtractOptions, PathStat};
use serde_json::{json, Value};

use super::{blocking, body_reader, AppState};
use crate::error::{ApiError, ApiResult};
use crate::query::Query;

const PATH_STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

/// Standard base64 with padding, as Go's `base64.StdEncoding` writes it.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn with_stat(mut resp: Response, stat: &PathStat) -> Response {
    let encoded = base64(stat.to_json().to_string().as_bytes());
    if let Ok(v) = HeaderValue::from_str(&encoded) {
        resp.headers_mut().insert(PATH_STAT_HEADER, v);
    }
    resp
}

fn tar_response(body: Body) -> Response {
    let mut r = Response::new(body);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    r
}

type Bridge = tokio_util::io::SyncIoBridge<tokio::io::DuplexStream>;

/// Runs a streaming engine call on the blocking pool. The call signals through `ready` (with
/// a value for the headers) that the stream starts; an error before that is the response,
/// one after it ends the body early (the status line is gone by then).
async fn stream<T, F>(call: F) -> ApiResult<(T, Body)>
where
    T: Send + 'static,
    F: FnOnce(Box<dyn FnOnce(T) -> std::io::Result<Bridge> + Send>) -> berth_engine::Result<()>
        + Send
        + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel::<T>();
    let (reader, writer) = tokio::io::duplex(256 << 10);
    let task = tokio::task::spawn_blocking(move || {
        // Made here, where the runtime is at hand: the engine may write from a thread of its
        // own.
        let bridge = tokio_util::io::SyncIoBridge::new(writer);
        let ready = Box::new(move |v: T| {
            tx.send(v)
                .map_err(|_| std::io::Error::other("the client went away"))?;
            Ok(bridge)
        });
        call(ready)
    });
    match rx.await {
        Ok(v) => {
            tokio::spawn(async move {
                if let Ok(Err(e)) = task.await {
                    tracing::debug!(error = %e, "archive stream ended early");
                }
            });
            let body = Body::from_stream(tokio_util::io::ReaderStream::new(reader));
            Ok((v, body))
        }
        Err(_) => match task.await {
            Ok(Err(e)) => Err(e.into()),
            Ok(Ok(())) => Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the archive ended before it started",
            )),
            Err(e) => Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("internal error: {e}"),
            )),
        },
    }
}

/// `GET /containers/{id}/{changes|export|archive}`.
pub async fn get(engine: AppState, id: String, op: &str, q: Query) -> ApiResult<Response> {
    match op {
        "changes" => {
            let v = blocking(move || engine.container_changes(&id)).await?;
            Ok(Json(Value::Array(v)).into_response())
        }
        "export" => {
            let ((), body) =
                stream(move |ready| engine.export_container(&id, move || ready(()))).await?;
            Ok(tar_response(body))
        }
        _ => {
            let path = q.str("path").to_string();
            let (stat, body) = stream(move |ready| {
                engine.archive_container_path(&id, &path, move |s: &PathStat| ready(s.clone()))
            })
            .await?;
            Ok(with_stat(tar_response(body), &stat))
        }
    }
}

/// `HEAD /containers/{id}/archive?path=`: the path's stat in a header.
pub async fn op_head(
    State(engine): State<AppState>,
    Path((id, op)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    if op != "archive" {
        return Err(ApiError::not_found("page not found"));
    }
    let path = Query::parse(raw.as_deref()).str("path").to_string();
    let stat = blocking(move || engine.stat_container_path(&id, &path)).await?;
    Ok(with_stat(StatusCode::OK.into_response(), &stat))
}

/// `PUT /containers/{id}/archive?path=&noOverwriteDirNonDir=&copyUIDGID=`: the body is a tar
/// (plain, gzip or zstd) extracted into the directory `path`.
pub async fn op_put(
    State(engine): State<AppState>,
    Path((id, op)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    body: Body,
) -> ApiResult<Response> {
    if op != "archive" {
        return Err(ApiError::not_found("page not found"));
    }
    let q = Query::parse(raw.as_deref());
    let path = q.str("path").to_string();
    let opts = ExtractOptions {
        no_overwrite_dir_non_dir: q.bool("noOverwriteDirNonDir"),
        copy_uid_gid: q.bool("copyUIDGID"),
    };
    let input = body_reader(body);
    blocking(move || engine.extract_to_container(&id, &path, opts, input)).await?;
    Ok(StatusCode::OK.into_response())
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=`, with an optional
/// container config as the body.
pub async fn commit(
    State(engine): State<AppState>,
    RawQuery(raw): RawQuery,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    let config = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Null) => None,
            Ok(Value::Object(mut m)) => {
                // A create request's wrapper fields are not part of the config.
                m.remove("HostConfig");
                m.remove("NetworkingConfig");
                Some(Value::Object(m))
            }
            Ok(_) => return Err(ApiError::bad_request("invalid JSON: expected an object")),
            Err(e) => return Err(ApiError::bad_request(format!("invalid JSON: {e}"))),
        }
    };
    let req = CommitRequest {
        container: q.str("container").to_string(),
        repo: q.str("repo").to_string(),
        tag: q.str("tag").to_string(),
        author: q.str("author").to_string(),
        comment: q.str("comment").to_string(),
        // Pausing is the default since API 1.13.
        pause: q.get("pause").is_none_or(str::is_empty) || q.bool("pause"),
        changes: q.all("changes"),
        config,
    };
    let id = blocking(move || engine.commit_container(&req)).await?;
    Ok((StatusCode::CREATED, Json(json!({"Id": id.as_str()}))).into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_like_go() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foo"), "Zm9v");
        assert_eq!(super::base64(b"foob"), "Zm9vYg==");
        assert_eq!(super::base64(&[0xfb, 0xff]), "+/8=");
    }
}
