//! Route handlers: each turns a request into one engine call and the result into Docker's
//! response shape.

pub mod build;
pub mod container_fs;
pub mod containers;
pub mod exec;
pub mod images;
pub mod stats;
pub mod system;
pub mod volumes;

use std::sync::Arc;

use berth_engine::Engine;

use crate::error::{ApiError, ApiResult};

pub type AppState = Arc<Engine>;

/// Run a blocking engine call on tokio's blocking pool.
pub async fn blocking<T, F>(f: F) -> ApiResult<T>
where
    F: FnOnce() -> berth_engine::Result<T> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(ApiError::from),
        Err(e) => Err(ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal error: {e}"),
        )),
    }
}

/// A request body as a blocking `Read` (for engine calls that stream).
pub fn body_reader(body: axum::body::Body) -> impl std::io::Read + Send + 'static {
    use futures_util::TryStreamExt;
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream))
}
