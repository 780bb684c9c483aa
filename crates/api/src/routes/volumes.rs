//! `/volumes/*`: create, list, inspect, remove, prune.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use super::{blocking, AppState};
use crate::error::{ApiError, ApiResult};
use crate::query::Query;

pub async fn list(
    State(engine): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    let filters = Query::parse(raw.as_deref()).filters()?;
    Ok(Json(blocking(move || engine.list_volumes(&filters)).await?))
}

/// `POST /volumes/create`: 201 with the volume (also when it already existed, as Docker).
pub async fn create(
    State(engine): State<AppState>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let body: Value = if body.is_empty() {
        Value::Object(Default::default())
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?
    };
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "invalid JSON: the volume create body must be an object",
        ));
    }
    let v = blocking(move || engine.create_volume(&body)).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

pub async fn inspect(
    State(engine): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(blocking(move || engine.inspect_volume(&name)).await?))
}

pub async fn remove(
    State(engine): State<AppState>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<StatusCode> {
    let force = Query::parse(raw.as_deref()).bool("force");
    blocking(move || engine.remove_volume(&name, force)).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn prune(
    State(engine): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    let filters = Query::parse(raw.as_deref()).filters()?;
    Ok(Json(
        blocking(move || engine.prune_volumes(&filters)).await?,
    ))
}
