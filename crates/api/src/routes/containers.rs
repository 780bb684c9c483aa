//! `/containers/*`: create, list, inspect, rename, remove, prune.

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
    blocking(move || engine.remove_container(&id, force)).await?;
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
