//! `/_ping`, `/version`, `/info`, `/events`, `/system/df`, `/system/check`.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_engine::Event;
use futures_util::StreamExt;
use serde_json::{json, Value};

use super::{blocking, AppState};
use crate::error::{ApiError, ApiResult};
use crate::query::Query;

pub async fn ping(method: Method) -> Response {
    let body = if method == Method::HEAD { "" } else { "OK" };
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert("Builder-Version", HeaderValue::from_static("1"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

pub async fn version(State(engine): State<AppState>) -> Json<Value> {
    Json(engine.version())
}

pub async fn info(State(engine): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(blocking(move || engine.info()).await?))
}

pub async fn df(State(engine): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(blocking(move || engine.disk_usage()).await?))
}

pub async fn check(State(engine): State<AppState>) -> ApiResult<Json<Value>> {
    let problems = blocking(move || Ok(engine.store.check()?)).await?;
    let list: Vec<String> = problems.into_iter().map(|p| p.message).collect();
    Ok(Json(json!({ "Problems": list })))
}

/// Docker's `since`/`until`: Unix seconds with an optional fraction, or an RFC 3339 time.
fn parse_time_nanos(s: &str) -> ApiResult<Option<i64>> {
    if s.is_empty() {
        return Ok(None);
    }
    if let Ok(f) = s.parse::<f64>() {
        return Ok(Some((f * 1e9) as i64));
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_nanos_opt())
        .map_err(|_| ApiError::bad_request(format!("invalid timestamp {s:?}")))
}

fn event_matches(f: &berth_engine::Filters, e: &Event) -> bool {
    let any = |key: &str, vals: &[&str]| {
        let want = f.get(key);
        want.is_empty() || want.iter().any(|w| vals.contains(&w.as_str()))
    };
    let name = e
        .actor
        .attributes
        .get("name")
        .map(String::as_str)
        .unwrap_or("");
    let image_attr = e
        .actor
        .attributes
        .get("image")
        .map(String::as_str)
        .unwrap_or("");
    any("type", &[&e.typ])
        && any("event", &[&e.action])
        && (f.get("image").is_empty()
            || (e.typ == "image" && any("image", &[&e.actor.id, name]))
            || (e.typ == "container" && any("image", &[image_attr])))
        && (f.get("container").is_empty()
            || (e.typ == "container" && any("container", &[&e.actor.id, name])))
        && f.match_labels("label", &e.actor.attributes)
}

pub async fn events(
    State(engine): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    let filters = q.filters()?;
    filters.validate(&[
        "type",
        "event",
        "image",
        "container",
        "label",
        "network",
        "volume",
        "daemon",
        "scope",
    ])?;
    let since = parse_time_nanos(q.str("since"))?;
    let until = parse_time_nanos(q.str("until"))?;
    let (past, rx) = engine.events.subscribe(since.or(until.map(|_| 0)));
    let past_stream = futures_util::stream::iter(past);
    let live =
        tokio_stream::wrappers::BroadcastStream::new(rx).filter_map(|r| async move { r.ok() });
    let deadline_passed = move |e: &Event| until.is_some_and(|u| e.time_nano > u);
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
    let live: futures_util::stream::BoxStream<'static, Event> = match until {
        Some(u) if u <= now => futures_util::stream::empty().boxed(),
        Some(u) => {
            let wait = std::time::Duration::from_nanos((u - now) as u64);
            let stop = tokio::time::sleep(wait);
            live.take_until(stop).boxed()
        }
        None => live.boxed(),
    };
    let stream = past_stream
        .chain(live)
        .take_while(move |e| futures_util::future::ready(!deadline_passed(e)))
        .filter(move |e| futures_util::future::ready(event_matches(&filters, e)))
        .map(|e| {
            let mut line = serde_json::to_vec(&e).unwrap_or_default();
            line.push(b'\n');
            Ok::<_, std::io::Error>(bytes::Bytes::from(line))
        });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(r)
}
