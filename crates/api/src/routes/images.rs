//! `/images/*`. Image names may contain `/` (`127.0.0.1:5000/a/b`), so the routes below
//! `/images/` are dispatched by suffix, as Docker's router does with `{name:.*}`.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_engine::images::ListOptions;
use serde_json::json;

use super::{blocking, body_reader, AppState};
use crate::error::{ApiError, ApiResult};
use crate::query::Query;

pub async fn list(State(engine): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    let opts = ListOptions {
        all: q.bool("all"),
        filters: q.filters()?,
        shared_size: q.bool("shared-size"),
    };
    let list = blocking(move || engine.list_images(&opts)).await?;
    Ok(Json(list).into_response())
}

/// JSON message stream lines, as Docker's streaming endpoints write them.
fn json_lines(messages: impl IntoIterator<Item = serde_json::Value>) -> Response {
    let mut body = Vec::new();
    for m in messages {
        body.extend_from_slice(m.to_string().as_bytes());
        body.push(b'\n');
    }
    let mut r = Response::new(Body::from(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

pub async fn load(
    State(engine): State<AppState>,
    RawQuery(raw): RawQuery,
    body: Body,
) -> ApiResult<Response> {
    let _quiet = Query::parse(raw.as_deref()).bool("quiet");
    let reader = body_reader(body);
    let lines = blocking(move || engine.load_images(reader)).await?;
    Ok(json_lines(
        lines
            .into_iter()
            .map(|l| json!({ "stream": format!("{l}\n") })),
    ))
}

pub async fn create(
    State(engine): State<AppState>,
    headers: axum::http::HeaderMap,
    RawQuery(raw): RawQuery,
    body: Body,
) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    if let Some(src) = q.get("fromSrc") {
        if src != "-" {
            return Err(ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                format!("importing from {src}: only fromSrc=- (the request body) is supported"),
            ));
        }
        let repo = q.str("repo").to_string();
        let tag = q.str("tag");
        let reference = if tag.is_empty() {
            repo
        } else {
            format!("{repo}:{tag}")
        };
        let changes = q.all("changes");
        let message = q.str("message").to_string();
        let reader = body_reader(body);
        let id =
            blocking(move || engine.import_image(reader, Some(&reference), &changes, &message))
                .await?;
        return Ok(json_lines([json!({ "status": id.as_str() })]));
    }
    if let Some(image) = q.get("fromImage") {
        let tag = q.str("tag");
        let reference = if tag.is_empty() {
            image.to_string()
        } else if tag.starts_with("sha256:") {
            format!("{image}@{tag}")
        } else {
            format!("{image}:{tag}")
        };
        let auth = registry_auth(&headers)?;
        // As Docker: no tag anywhere means every tag (`pull --all-tags`); clients that mean
        // `latest` say so (the docker CLI, docker-py and berth all send `tag=latest`).
        let all_tags = tag.is_empty()
            && berth_store::Reference::parse(image)
                .is_ok_and(|r| r.tag.is_none() && r.digest.is_none());
        return Ok(progress_stream(move |progress| async move {
            if all_tags {
                engine.pull_all_tags(&reference, auth, progress).await
            } else {
                engine
                    .pull_image(&reference, auth, progress)
                    .await
                    .map(drop)
            }
        }));
    }
    Err(ApiError::bad_request("fromImage or fromSrc is required"))
}

pub async fn get_many(
    State(engine): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let names = Query::parse(raw.as_deref()).all("names");
    save(engine, names).await
}

async fn save(engine: AppState, names: Vec<String>) -> ApiResult<Response> {
    if names.is_empty() {
        return Err(ApiError::bad_request("no image names given"));
    }
    // Resolve every name first, so a missing image is a 404 rather than a broken stream.
    {
        let engine = engine.clone();
        let names = names.clone();
        blocking(move || {
            for n in &names {
                engine.save_targets(n)?;
            }
            Ok(())
        })
        .await?;
    }
    let (reader, writer) = tokio::io::duplex(1 << 20);
    tokio::task::spawn_blocking(move || {
        let w = tokio_util::io::SyncIoBridge::new(writer);
        if let Err(e) = engine.save_images(&names, w) {
            // The status line has gone out: the client sees a truncated archive.
            tracing::error!(error = %e, "save failed mid-stream");
        }
    });
    let mut r = Response::new(Body::from_stream(tokio_util::io::ReaderStream::new(reader)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    Ok(r)
}

pub async fn prune(State(engine): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let filters = Query::parse(raw.as_deref()).filters()?;
    let v = blocking(move || engine.prune_images(&filters)).await?;
    Ok(Json(v).into_response())
}

/// Everything under `/images/{name...}`.
pub async fn by_name(
    State(engine): State<AppState>,
    method: Method,
    headers: axum::http::HeaderMap,
    axum::extract::Path(rest): axum::extract::Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    let split = |suffix: &str| rest.strip_suffix(suffix).filter(|n| !n.is_empty());
    match method {
        Method::GET => {
            if let Some(name) = split("/json") {
                let name = name.to_string();
                let v = blocking(move || engine.inspect_image(&name)).await?;
                return Ok(Json(v).into_response());
            }
            if let Some(name) = split("/history") {
                let name = name.to_string();
                let v = blocking(move || engine.image_history(&name)).await?;
                return Ok(Json(v).into_response());
            }
            if let Some(name) = split("/get") {
                return save(engine, vec![name.to_string()]).await;
            }
        }
        Method::POST => {
            if let Some(name) = split("/tag") {
                let name = name.to_string();
                let repo = q.str("repo").to_string();
                let tag = q.str("tag").to_string();
                blocking(move || engine.tag_image(&name, &repo, &tag)).await?;
                return Ok(StatusCode::CREATED.into_response());
            }
            if let Some(name) = split("/push") {
                let name = name.to_string();
                let tag = q.get("tag").map(str::to_string);
                let auth = registry_auth(&headers)?;
                return Ok(progress_stream(move |progress| async move {
                    engine
                        .push_image(&name, tag.as_deref(), auth, progress)
                        .await
                        .map(drop)
                }));
            }
        }
        Method::DELETE => {
            let name = rest.clone();
            let force = q.bool("force");
            let v = blocking(move || engine.remove_image(&name, force)).await?;
            return Ok(Json(v).into_response());
        }
        _ => {}
    }
    Err(ApiError::not_found("page not found"))
}

/// `X-Registry-Auth`: base64url JSON `{"username", "password", "identitytoken", ...}`.
fn registry_auth(headers: &axum::http::HeaderMap) -> ApiResult<Option<berth_distribution::Auth>> {
    use base64::Engine as _;
    let Some(raw) = headers
        .get("x-registry-auth")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty())
    else {
        return Ok(None);
    };
    let raw = raw.trim();
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(raw)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw))
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(raw))
        .map_err(|e| ApiError::bad_request(format!("invalid X-Registry-Auth header: {e}")))?;
    let v: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid X-Registry-Auth header: {e}")))?;
    let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
    let auth = berth_distribution::Auth {
        username: s("username"),
        password: s("password"),
        identity_token: s("identitytoken"),
    };
    if auth.username.is_empty() && auth.identity_token.is_empty() {
        return Ok(None);
    }
    Ok(Some(auth))
}

/// A JSON-message stream fed by an engine operation; its error becomes the last message.
fn progress_stream<F, Fut>(op: F) -> Response
where
    F: FnOnce(berth_engine::distribution::ProgressFn) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = berth_engine::Result<()>> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<serde_json::Value>();
    let progress_tx = tx.clone();
    let progress: berth_engine::distribution::ProgressFn = std::sync::Arc::new(move |v| {
        let _ = progress_tx.send(v);
    });
    tokio::spawn(async move {
        if let Err(e) = op(progress).await {
            let m = e.to_string();
            let _ = tx.send(json!({"errorDetail": {"message": m}, "error": m}));
        }
    });
    super::message_stream(rx)
}

/// `POST /auth`: `{"username", "password", "serveraddress"}` checked against the registry.
pub async fn auth(
    State(engine): State<AppState>,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<Response> {
    let s = |k: &str| body[k].as_str().unwrap_or("").to_string();
    let auth = berth_distribution::Auth {
        username: s("username"),
        password: s("password"),
        identity_token: s("identitytoken"),
    };
    let server = s("serveraddress");
    let v = engine.registry_login(auth, &server).await?;
    Ok(Json(v).into_response())
}
