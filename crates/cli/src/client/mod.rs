//! The Docker Engine API client: HTTP/1.1 (hyper) over a unix socket or TCP, optionally TLS with
//! client certificates. Every request goes to a versioned path (`/v1.41/...`); error responses
//! become [`ClientError::Daemon`] carrying the daemon's `message`. Streaming bodies (uploads, tar
//! downloads, JSON message streams) are moved chunk by chunk, never buffered whole.

pub mod frames;
mod hijack;
mod stream;
mod tls;

use std::io;
use std::path::PathBuf;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Method, Response, StatusCode};
use hyper_util::rt::TokioIo;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS, NON_ALPHANUMERIC};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};

pub use hijack::{HijackReader, HijackWriter, Hijacked};
pub use stream::{JsonStream, RawStream};
pub use tls::TlsOptions;

/// The API version this client speaks.
pub const API_VERSION: &str = "1.41";
/// Where the daemon listens unless `-H`/`BERTH_HOST` say otherwise.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";
/// The client's version, as sent in `User-Agent` and printed by `version`.
pub const CLIENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A request or response body.
pub type Body = UnsyncBoxBody<Bytes, io::Error>;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("Cannot connect to the berth daemon at {host}. Is the berth daemon running?")]
    Unreachable {
        host: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "permission denied while trying to connect to the berth daemon socket at {host}: {source}"
    )]
    PermissionDenied {
        host: String,
        #[source]
        source: io::Error,
    },
    #[error("unable to parse berth host `{0}`: expected unix:///path or tcp://host:port")]
    InvalidHost(String),
    #[error("{0}")]
    TlsConfig(String),
    #[error("error during connect: {host}: {source}")]
    Handshake {
        host: String,
        #[source]
        source: io::Error,
    },
    #[error("error during connect: {0}")]
    Http(#[from] hyper::Error),
    #[error("Error response from daemon: {message}")]
    Daemon { status: StatusCode, message: String },
    #[error("error decoding response from daemon: {0}")]
    Decode(#[source] serde_json::Error),
    #[error("error reading response from daemon: {0}")]
    Read(#[source] io::Error),
    /// An error reported inside a JSON message stream (`{"errorDetail": …}`); printed as is.
    #[error("{0}")]
    Stream(String),
}

impl ClientError {
    /// The daemon answered 404 (no such image, container, ...).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::Daemon { status, .. } if *status == StatusCode::NOT_FOUND)
    }

    /// The daemon could not be reached at all (Docker's `IsErrConnectionFailed`).
    pub fn is_connection_failed(&self) -> bool {
        matches!(
            self,
            ClientError::Unreachable { .. } | ClientError::PermissionDenied { .. }
        )
    }

    /// Docker's `wrapResponseError`: a 404 reads "Error: No such OBJECT: ID", anything else is
    /// the error as is.
    pub fn not_found_as(self, object: &str, id: &str) -> anyhow::Error {
        if self.is_not_found() {
            anyhow::anyhow!("Error: No such {object}: {id}")
        } else {
            self.into()
        }
    }
}

/// A byte stream to the daemon: a unix socket, TCP, or TLS over TCP.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Endpoint {
    Unix(PathBuf),
    Tcp { host: String, port: u16 },
}

/// Parses `unix:///path` or `tcp://host[:port]` (`tcp` defaults to 2375, or 2376 with TLS).
fn parse_host(host: &str, tls: bool) -> Result<Endpoint, ClientError> {
    if let Some(path) = host.strip_prefix("unix://") {
        if path.is_empty() {
            return Err(ClientError::InvalidHost(host.to_string()));
        }
        return Ok(Endpoint::Unix(PathBuf::from(path)));
    }
    if let Some(addr) = host.strip_prefix("tcp://") {
        let addr = addr.trim_end_matches('/');
        let default_port = if tls { 2376 } else { 2375 };
        let (h, port) = if let Some(rest) = addr.strip_prefix('[') {
            let Some((ip, after)) = rest.split_once(']') else {
                return Err(ClientError::InvalidHost(host.to_string()));
            };
            let port = match after.strip_prefix(':') {
                Some(p) => p
                    .parse()
                    .map_err(|_| ClientError::InvalidHost(host.to_string()))?,
                None if after.is_empty() => default_port,
                None => return Err(ClientError::InvalidHost(host.to_string())),
            };
            (ip.to_string(), port)
        } else {
            match addr.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_string(),
                    p.parse()
                        .map_err(|_| ClientError::InvalidHost(host.to_string()))?,
                ),
                None => (addr.to_string(), default_port),
            }
        };
        if h.is_empty() {
            return Err(ClientError::InvalidHost(host.to_string()));
        }
        return Ok(Endpoint::Tcp { host: h, port });
    }
    Err(ClientError::InvalidHost(host.to_string()))
}

/// Characters escaped in a path segment that carries a user-supplied name (image references keep
/// their `/` and `:`, as Docker's client sends them).
const PATH_ESCAPE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// Characters escaped in query keys and values.
const QUERY_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Escapes a name for use inside an API path (`/images/{name}/json`).
pub fn escape_path(name: &str) -> String {
    utf8_percent_encode(name, PATH_ESCAPE).to_string()
}

/// One API request: method, unversioned path, query and body.
pub struct Request {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    body: Option<Body>,
    content_type: Option<&'static str>,
    content_length: Option<u64>,
    headers: Vec<(&'static str, String)>,
}

impl Request {
    /// Adds a request header (`X-Registry-Auth`).
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Request {
        self.headers.push((name, value.into()));
        self
    }

    pub fn new(method: Method, path: impl Into<String>) -> Request {
        Request {
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            content_type: None,
            content_length: None,
            headers: Vec::new(),
        }
    }

    pub fn get(path: impl Into<String>) -> Request {
        Request::new(Method::GET, path)
    }

    pub fn post(path: impl Into<String>) -> Request {
        Request::new(Method::POST, path)
    }

    pub fn delete(path: impl Into<String>) -> Request {
        Request::new(Method::DELETE, path)
    }

    /// Adds a query parameter (repeat for lists, as Go's `url.Values` does).
    pub fn query(mut self, key: &str, value: impl Into<String>) -> Request {
        self.query.push((key.to_string(), value.into()));
        self
    }

    /// Adds `key=1` when `flag` is set (Docker's boolean query convention).
    pub fn flag(self, key: &str, flag: bool) -> Request {
        if flag {
            self.query(key, "1")
        } else {
            self
        }
    }

    /// Adds the parameter only when `value` is non-empty.
    pub fn query_nonempty(self, key: &str, value: &str) -> Request {
        if value.is_empty() {
            self
        } else {
            self.query(key, value)
        }
    }

    /// A JSON request body.
    pub fn json_body(mut self, value: &serde_json::Value) -> Request {
        let bytes = Bytes::from(value.to_string());
        self.content_length = Some(bytes.len() as u64);
        self.body = Some(
            Full::new(bytes)
                .map_err(|never| match never {})
                .boxed_unsync(),
        );
        self.content_type = Some("application/json");
        self
    }

    /// A body streamed from `reader` (e.g. a tar file for `load`), never read into memory whole.
    pub fn stream_body<R>(
        mut self,
        reader: R,
        content_type: &'static str,
        length: Option<u64>,
    ) -> Request
    where
        R: AsyncRead + Send + 'static,
    {
        use futures_util::TryStreamExt;
        let stream =
            tokio_util::io::ReaderStream::with_capacity(reader, 256 * 1024).map_ok(Frame::data);
        self.body = Some(StreamBody::new(stream).boxed_unsync());
        self.content_type = Some(content_type);
        self.content_length = length;
        self
    }

    /// The path and query sent on the wire: `/v1.41/images/json?all=1`.
    pub fn uri(&self) -> String {
        let mut uri = format!("/v{API_VERSION}{}", self.path);
        for (i, (k, v)) in self.query.iter().enumerate() {
            uri.push(if i == 0 { '?' } else { '&' });
            uri.push_str(&utf8_percent_encode(k, QUERY_ESCAPE).to_string());
            uri.push('=');
            uri.push_str(&utf8_percent_encode(v, QUERY_ESCAPE).to_string());
        }
        uri
    }
}

/// A connection factory for one daemon address.
#[derive(Clone)]
pub struct Client {
    host: String,
    endpoint: Endpoint,
    tls: Option<tls::Tls>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("host", &self.host)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Client {
    /// A client for `host` (`unix:///path` or `tcp://host:port`); `tls` applies to tcp hosts.
    pub fn new(host: &str, tls: Option<&TlsOptions>) -> Result<Client, ClientError> {
        let endpoint = parse_host(host, tls.is_some())?;
        let tls = match (&endpoint, tls) {
            (Endpoint::Tcp { host: h, .. }, Some(opts)) => Some(tls::Tls::new(opts, h)?),
            _ => None,
        };
        Ok(Client {
            host: host.to_string(),
            endpoint,
            tls,
        })
    }

    /// The address as the user gave it (for messages).
    pub fn host(&self) -> &str {
        &self.host
    }

    fn connect_error(&self, source: io::Error) -> ClientError {
        if source.kind() == io::ErrorKind::PermissionDenied {
            ClientError::PermissionDenied {
                host: self.host.clone(),
                source,
            }
        } else {
            ClientError::Unreachable {
                host: self.host.clone(),
                source,
            }
        }
    }

    /// Opens a byte stream to the daemon (TLS-wrapped when configured).
    pub(crate) async fn connect_io(&self) -> Result<Box<dyn Io>, ClientError> {
        match &self.endpoint {
            Endpoint::Unix(path) => {
                let s = UnixStream::connect(path)
                    .await
                    .map_err(|e| self.connect_error(e))?;
                Ok(Box::new(s))
            }
            Endpoint::Tcp { host, port } => {
                let s = TcpStream::connect((host.as_str(), *port))
                    .await
                    .map_err(|e| self.connect_error(e))?;
                let _ = s.set_nodelay(true);
                match &self.tls {
                    Some(tls) => {
                        let s = tls
                            .connect(s)
                            .await
                            .map_err(|source| ClientError::Handshake {
                                host: self.host.clone(),
                                source,
                            })?;
                        Ok(Box::new(s))
                    }
                    None => Ok(Box::new(s)),
                }
            }
        }
    }

    async fn connect(&self) -> Result<SendRequest<Body>, ClientError> {
        handshake(self.connect_io().await?).await
    }

    /// The HTTP request for `req`, with the headers every request carries.
    pub(crate) fn build_request(
        &self,
        req: Request,
        extra: &[(&'static str, &'static str)],
    ) -> Result<hyper::Request<Body>, ClientError> {
        let uri = req.uri();
        let mut builder = hyper::Request::builder()
            .method(req.method)
            .uri(uri)
            .header(HOST, self.host_header())
            .header(USER_AGENT, format!("berth-cli/{CLIENT_VERSION}"));
        for (k, v) in extra {
            builder = builder.header(*k, *v);
        }
        for (k, v) in &req.headers {
            builder = builder.header(*k, v.as_str());
        }
        if let Some(ct) = req.content_type {
            builder = builder.header(CONTENT_TYPE, ct);
        }
        let body = match req.body {
            Some(b) => {
                if let Some(len) = req.content_length {
                    builder = builder.header(CONTENT_LENGTH, len);
                }
                b
            }
            None => {
                builder = builder.header(CONTENT_LENGTH, HeaderValue::from_static("0"));
                Empty::new().map_err(|never| match never {}).boxed_unsync()
            }
        };
        builder
            .body(body)
            .map_err(|e| ClientError::Read(io::Error::other(e)))
    }

    fn host_header(&self) -> String {
        match &self.endpoint {
            Endpoint::Unix(_) => "localhost".to_string(),
            Endpoint::Tcp { host, port } if host.contains(':') => format!("[{host}]:{port}"),
            Endpoint::Tcp { host, port } => format!("{host}:{port}"),
        }
    }

    /// Sends a request; a 4xx/5xx answer becomes [`ClientError::Daemon`].
    pub async fn send(&self, req: Request) -> Result<Response<Incoming>, ClientError> {
        let mut sender = self.connect().await?;
        let request = self.build_request(req, &[])?;
        let response = sender.send_request(request).await?;
        if response.status().is_client_error() || response.status().is_server_error() {
            return Err(error_from_response(response).await);
        }
        Ok(response)
    }

    /// Sends a request and reads the whole (small) response body.
    pub async fn bytes(&self, req: Request) -> Result<Bytes, ClientError> {
        let response = self.send(req).await?;
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Read(io::Error::other(e)))?;
        Ok(body.to_bytes())
    }

    /// Sends a request and decodes its JSON response.
    pub async fn json(&self, req: Request) -> Result<serde_json::Value, ClientError> {
        let bytes = self.bytes(req).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(ClientError::Decode)
    }

    /// Sends a request and returns its response as a stream of JSON messages.
    pub async fn json_stream(&self, req: Request) -> Result<JsonStream, ClientError> {
        Ok(JsonStream::from_body(self.send(req).await?.into_body()))
    }

    /// Sends a request and returns its response body as a byte stream.
    pub async fn raw_stream(&self, req: Request) -> Result<RawStream, ClientError> {
        Ok(RawStream::from_body(self.send(req).await?.into_body()))
    }
}

async fn handshake<S>(stream: S) -> Result<SendRequest<Body>, ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    // The connection task ends when the response body is dropped or fully read.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Docker's error text for a failed request: the JSON `message`, else the raw body.
pub(crate) async fn error_from_response(response: Response<Incoming>) -> ClientError {
    let status = response.status();
    let body = match response.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return ClientError::Http(e),
    };
    ClientError::Daemon {
        status,
        message: error_message(status, &body),
    }
}

/// The message of an error body: `{"message": "..."}`, or the trimmed text.
pub fn error_message(status: StatusCode, body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        if let Some(m) = v.get("message").and_then(|m| m.as_str()) {
            return m.to_string();
        }
    }
    let text = String::from_utf8_lossy(body).trim().to_string();
    if text.is_empty() {
        format!(
            "request returned {} for API route and version v{API_VERSION}, check if the server supports the requested API version",
            status.canonical_reason().unwrap_or(status.as_str())
        )
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts() {
        assert_eq!(
            parse_host("unix:///run/berth/berth.sock", false).ok(),
            Some(Endpoint::Unix(PathBuf::from("/run/berth/berth.sock")))
        );
        assert_eq!(
            parse_host("tcp://127.0.0.1:2376", true).ok(),
            Some(Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port: 2376
            })
        );
        assert_eq!(
            parse_host("tcp://example.com", false).ok(),
            Some(Endpoint::Tcp {
                host: "example.com".into(),
                port: 2375
            })
        );
        assert_eq!(
            parse_host("tcp://[::1]:1234", false).ok(),
            Some(Endpoint::Tcp {
                host: "::1".into(),
                port: 1234
            })
        );
        assert!(parse_host("/run/x.sock", false).is_err());
        assert!(parse_host("unix://", false).is_err());
        assert!(parse_host("tcp://host:notaport", false).is_err());
    }

    #[test]
    fn builds_versioned_uris() {
        let r = Request::get("/images/json")
            .flag("all", true)
            .query("filters", r#"{"dangling":["true"]}"#);
        assert_eq!(
            r.uri(),
            "/v1.41/images/json?all=1&filters=%7B%22dangling%22%3A%5B%22true%22%5D%7D"
        );
        assert_eq!(
            escape_path("localhost:5000/app:v1"),
            "localhost:5000/app:v1"
        );
        assert_eq!(escape_path("a b?c"), "a%20b%3Fc");
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            error_message(StatusCode::NOT_FOUND, br#"{"message":"No such image: x"}"#),
            "No such image: x"
        );
        assert_eq!(
            error_message(StatusCode::BAD_REQUEST, b"plain text\n"),
            "plain text"
        );
        assert_eq!(
            error_message(StatusCode::NOT_FOUND, b""),
            "request returned Not Found for API route and version v1.41, check if the server supports the requested API version"
        );
    }

    #[tokio::test]
    async fn unreachable_daemon_message() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let host = format!("unix://{}/nope.sock", dir.path().display());
        let client = Client::new(&host, None).unwrap_or_else(|e| panic!("{e}"));
        let err = client.json(Request::get("/version")).await.err();
        assert_eq!(
            err.map(|e| e.to_string()),
            Some(format!(
                "Cannot connect to the berth daemon at {host}. Is the berth daemon running?"
            ))
        );
    }
}
