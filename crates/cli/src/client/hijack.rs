//! Hijacked connections for `attach` and `exec`: the request goes out with `Upgrade: tcp`, the
//! daemon answers `101 Switching Protocols`, and from then on the connection is a raw byte pipe —
//! the container's output comes in (multiplexed with 8-byte frame headers unless it has a TTY),
//! its stdin goes out, and closing the write half tells the daemon stdin has ended.

use futures_util::TryStreamExt;
use http_body_util::BodyExt;
use hyper::StatusCode;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::io::StreamReader;

use super::{error_from_response, Client, ClientError, Request};

/// The read half of a hijacked connection.
pub type HijackReader = Box<dyn AsyncRead + Send + Unpin>;
/// The write half of a hijacked connection; shut it down to send EOF.
pub type HijackWriter = Box<dyn AsyncWrite + Send + Unpin>;

/// A hijacked connection, split in halves.
pub struct Hijacked {
    pub reader: HijackReader,
    /// `None` when the daemon answered with a plain response instead of upgrading (then only
    /// output flows).
    pub writer: Option<HijackWriter>,
}

impl Client {
    /// Sends `req` asking to upgrade the connection, and returns the raw stream once the daemon
    /// has agreed (101). A daemon that answers 200 instead gets its body read as the output.
    pub async fn hijack(&self, req: Request) -> Result<Hijacked, ClientError> {
        let io = self.connect_io().await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
        let request = self.build_request(req, &[("connection", "Upgrade"), ("upgrade", "tcp")])?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        if status == StatusCode::SWITCHING_PROTOCOLS {
            let upgraded = hyper::upgrade::on(response).await?;
            let (reader, writer) = tokio::io::split(TokioIo::new(upgraded));
            return Ok(Hijacked {
                reader: Box::new(reader),
                writer: Some(Box::new(writer)),
            });
        }
        if status.is_client_error() || status.is_server_error() {
            return Err(error_from_response(response).await);
        }
        let body = response
            .into_body()
            .into_data_stream()
            .map_err(std::io::Error::other);
        Ok(Hijacked {
            reader: Box::new(StreamReader::new(Box::pin(body))),
            writer: None,
        })
    }
}
