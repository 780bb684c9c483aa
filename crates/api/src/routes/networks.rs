//! `/networks/*`: create, list, inspect, remove, connect, disconnect, prune.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use super::{blocking, AppState};
use crate::error::{ApiError, ApiResult};
use crate::query::Query;

fn object(body: &[u8], what: &str) -> ApiResult<Value> {
    let v: Value = if body.is_empty() {
        Value::Object(Default::default())
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?
    };
    if !v.is_object() {
        return Err(ApiError::bad_request(format!(
            "invalid JSON: the {what} body must be an object"
        )));
    }
    Ok(v)
}

pub async fn list(
    State(engine): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    let filters = Query::parse(raw.as_deref()).filters()?;
    Ok(Json(Value::Array(
        blocking(move || engine.list_networks(&filters)).await?,
    )))
}

/// `POST /networks/create`: 201 `{"Id", "Warning"}`.
pub async fn create(
    State(engine): State<AppState>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let body = object(&body, "network create")?;
    let v = blocking(move || engine.create_network(&body)).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

pub async fn inspect(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(blocking(move || engine.inspect_network(&id)).await?))
}

pub async fn remove(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    blocking(move || engine.remove_network(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn connect(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    let body = object(&body, "network connect")?;
    blocking(move || engine.connect_network(&id, &body)).await?;
    Ok(StatusCode::OK)
}

pub async fn disconnect(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    let body = object(&body, "network disconnect")?;
    blocking(move || engine.disconnect_network(&id, &body)).await?;
    Ok(StatusCode::OK)
}

pub async fn prune(
    State(engine): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    let filters = Query::parse(raw.as_deref()).filters()?;
    Ok(Json(
        blocking(move || engine.prune_networks(&filters)).await?,
    ))
}
