//! Route handlers: each turns a request into one engine call and the result into Docker's
//! response shape.

pub mod build;
pub mod container_fs;
pub mod containers;
pub mod exec;
pub mod images;
pub mod networks;
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

/// A streaming `application/json` response: one JSON message per line, as they arrive.
pub fn message_stream(
    rx: tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>,
) -> axum::response::Response {
    use futures_util::StreamExt;
    let stream = tokio_stream::wrappers::UnboundedReceiverStream::new(rx).map(|v| {
        let mut b = v.to_string().into_bytes();
        b.push(b'\n');
        Ok::<_, std::convert::Infallible>(bytes::Bytes::from(b))
    });
    let mut r = axum::response::Response::new(axum::body::Body::from_stream(stream));
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    r
}
