//! berth-api: the Docker Engine API over HTTP. It owns routing, the `/vX.Y` version prefix,
//! response headers, the mapping of engine errors to status codes (in `error`), and the
//! listeners (unix socket, TCP with mutual TLS).
//!
//! Requests enter as HTTP and leave as typed engine calls; nothing below this crate sees HTTP.
//! It must never touch the store or containers directly — only through `berth_engine::Engine`.

pub mod error;
pub mod listen;
pub mod query;
pub mod relay;
pub mod routes;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use berth_engine::system::{API_VERSION, MIN_API_VERSION, VERSION};
use berth_engine::Engine;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tower::ServiceExt;

pub use listen::{Listener, ListenerError, TlsFiles};

use crate::error::ApiError;

/// The API version a request asked for through its `/vX.Y` prefix.
#[derive(Debug, Clone)]
pub struct RequestedVersion(pub Option<String>);

pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route(
            "/_ping",
            get(routes::system::ping).head(routes::system::ping),
        )
        .route("/version", get(routes::system::version))
        .route("/info", get(routes::system::info))
        .route("/events", get(routes::system::events))
        .route("/system/df", get(routes::system::df))
        .route("/system/check", get(routes::system::check))
        .route("/containers/create", post(routes::containers::create))
        .route("/containers/json", get(routes::containers::list))
        .route("/containers/prune", post(routes::containers::prune))
        .route("/containers/{id}/json", get(routes::containers::inspect))
        .route("/containers/{id}/rename", post(routes::containers::rename))
        .route("/containers/{id}/attach", post(routes::containers::attach))
        .route(
            "/containers/{id}",
            axum::routing::delete(routes::containers::remove),
        )
        .route(
            "/containers/{id}/{op}",
            get(routes::containers::op_get)
                .post(routes::containers::op_post)
                .head(routes::container_fs::op_head)
                .put(routes::container_fs::op_put),
        )
        .route("/commit", post(routes::container_fs::commit))
        .route("/build", post(routes::build::build))
        .route("/auth", post(routes::images::auth))
        .route("/build/prune", post(routes::build::prune))
        .route("/exec/{id}/start", post(routes::exec::start))
        .route("/exec/{id}/resize", post(routes::exec::resize))
        .route("/exec/{id}/json", get(routes::exec::inspect))
        .route("/images/json", get(routes::images::list))
        .route("/images/load", post(routes::images::load))
        .route("/images/create", post(routes::images::create))
        .route("/images/get", get(routes::images::get_many))
        .route("/images/prune", post(routes::images::prune))
        .route("/networks", get(routes::networks::list))
        .route("/networks/create", post(routes::networks::create))
        .route("/networks/prune", post(routes::networks::prune))
        .route(
            "/networks/{id}",
            get(routes::networks::inspect).delete(routes::networks::remove),
        )
        .route("/networks/{id}/connect", post(routes::networks::connect))
        .route(
            "/networks/{id}/disconnect",
            post(routes::networks::disconnect),
        )
        .route("/volumes", get(routes::volumes::list))
        .route("/volumes/create", post(routes::volumes::create))
        .route("/volumes/prune", post(routes::volumes::prune))
        .route(
            "/volumes/{name}",
            get(routes::volumes::inspect).delete(routes::volumes::remove),
        )
        .route(
            "/images/{*rest}",
            get(routes::images::by_name)
                .post(routes::images::by_name)
                .delete(routes::images::by_name),
        )
        .fallback(|| async { ApiError::not_found("page not found") })
        .layer(axum::middleware::from_fn(version_gate))
        .with_state(engine)
}

fn version_tuple(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Strip `/vX.Y` from the path (before routing) and remember the version.
fn strip_version(mut req: Request) -> Request {
    let path = req.uri().path();
    let mut version = None;
    if let Some(rest) = path.strip_prefix("/v") {
        let (v, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if version_tuple(v).is_some() {
            version = Some(v.to_string());
            let new_path = if tail.is_empty() { "/" } else { tail };
            let pq = match req.uri().query() {
                Some(q) => format!("{new_path}?{q}"),
                None => new_path.to_string(),
            };
            if let Ok(uri) = pq.parse::<Uri>() {
                *req.uri_mut() = uri;
            }
        }
    }
    req.extensions_mut().insert(RequestedVersion(version));
    req
}

/// Refuse versions outside [MIN_API_VERSION, API_VERSION] with Docker's messages, and add the
/// headers Docker puts on every response.
async fn version_gate(req: Request, next: Next) -> Response {
    let requested = req
        .extensions()
        .get::<RequestedVersion>()
        .and_then(|v| v.0.clone());
    let mut resp = match requested.as_deref().map(|v| (v, version_tuple(v))) {
        Some((v, Some(t))) if t < version_tuple(MIN_API_VERSION).unwrap_or((1, 24)) => {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("client version {v} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"),
            )
            .into_response()
        }
        Some((v, Some(t))) if t > version_tuple(API_VERSION).unwrap_or((1, 41)) => {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("client version {v} is too new. Maximum supported API version is {API_VERSION}"),
            )
            .into_response()
        }
        _ => next.run(req).await,
    };
    let h = resp.headers_mut();
    h.insert("Api-Version", HeaderValue::from_static(API_VERSION));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    if let Ok(v) = HeaderValue::from_str(&format!("berth/{VERSION} (linux)")) {
        h.insert(axum::http::header::SERVER, v);
    }
    resp
}

/// Serve the API on every listener until `shutdown` resolves, then stop accepting, let
/// in-flight requests finish (up to `grace`) and return.
pub async fn serve(
    engine: Arc<Engine>,
    listeners: Vec<Listener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) {
    let app = router(engine);
    let service = app.map_request(strip_version);
    let tracker = tokio_util::task::TaskTracker::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut accept_loops = Vec::new();
    for listener in listeners {
        let service = service.clone();
        let tracker = tracker.clone();
        let mut stop = stop_rx.clone();
        accept_loops.push(tokio::spawn(async move {
            loop {
                let conn = tokio::select! {
                    c = listener.accept() => c,
                    _ = stop.changed() => break,
                };
                let pending = match conn {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        continue;
                    }
                };
                let service = service.clone();
                let mut stop = stop.clone();
                tracker.spawn(async move {
                    let io = match pending.finish().await {
                        Ok(io) => io,
                        Err(e) => {
                            tracing::debug!(error = %e, "connection handshake failed");
                            return;
                        }
                    };
                    let hyper_service =
                        hyper_util::service::TowerToHyperService::new(service.map_request(
                            |r: hyper::Request<hyper::body::Incoming>| r.map(axum::body::Body::new),
                        ));
                    let builder = auto::Builder::new(TokioExecutor::new());
                    let conn =
                        builder.serve_connection_with_upgrades(TokioIo::new(io), hyper_service);
                    tokio::pin!(conn);
                    let result = tokio::select! {
                        r = conn.as_mut() => r,
                        _ = stop.changed() => {
                            conn.as_mut().graceful_shutdown();
                            conn.await
                        }
                    };
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
        }));
    }
    shutdown.await;
    tracing::info!("shutting down: no new connections");
    let _ = stop_tx.send(true);
    for t in accept_loops {
        let _ = t.await;
    }
    tracker.close();
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        tracing::warn!("some connections did not finish within {grace:?}");
    }
}
