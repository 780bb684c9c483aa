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
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            format!("pulling {image}: registry pulls are not supported by this daemon yet"),
        ));
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
            if split("/push").is_some() {
                return Err(ApiError::new(
                    StatusCode::NOT_IMPLEMENTED,
                    "pushing images is not supported by this daemon yet",
                ));
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
