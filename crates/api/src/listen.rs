//! Where the API listens: unix sockets (mode 0660) and TCP, the latter only with mutual TLS.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio_rustls::TlsAcceptor;

#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    #[error("invalid host {0:?}: expected unix:///path or tcp://host:port")]
    BadHost(String),
    #[error("refusing to listen on {0} without mutual TLS: pass --tlsverify --tlscacert CA --tlscert CERT --tlskey KEY (a plain TCP socket would give root on this host to anyone who can reach it)")]
    TcpWithoutTls(String),
    #[error("another daemon is already listening on {0}")]
    InUse(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("TLS setup: {0}")]
    Tls(String),
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> ListenerError {
    let context = context.into();
    move |source| ListenerError::Io { context, source }
}

/// The certificate files of `--tlsverify`.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub enum Listener {
    Unix {
        listener: UnixListener,
        path: PathBuf,
    },
    Tcp {
        listener: TcpListener,
        tls: TlsAcceptor,
    },
}

/// An accepted connection whose TLS handshake (if any) has not run yet; `finish` runs it on the
/// connection's own task so a slow client cannot stall the accept loop.
pub enum PendingConn {
    Unix(UnixStream),
    Tls(TcpStream, TlsAcceptor),
}

pub enum Conn {
    Unix(UnixStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl PendingConn {
    pub async fn finish(self) -> io::Result<Conn> {
        match self {
            PendingConn::Unix(s) => Ok(Conn::Unix(s)),
            PendingConn::Tls(s, acceptor) => Ok(Conn::Tls(Box::new(acceptor.accept(s).await?))),
        }
    }
}

impl Listener {
    /// Bind `host` (`unix:///path`, `/path`, `tcp://addr:port`, `fd://` is not supported).
    pub async fn bind(host: &str, tls: Option<&TlsFiles>) -> Result<Listener, ListenerError> {
        if let Some(path) = host
            .strip_prefix("unix://")
            .or_else(|| host.strip_prefix("/").map(|_| host))
        {
            return bind_unix(Path::new(path)).await;
        }
        if let Some(addr) = host.strip_prefix("tcp://") {
            let files = tls.ok_or_else(|| ListenerError::TcpWithoutTls(host.to_string()))?;
            let acceptor = tls_acceptor(files)?;
            let listener = TcpListener::bind(addr)
                .await
                .map_err(io_err(format!("listening on {host}")))?;
            return Ok(Listener::Tcp {
                listener,
                tls: acceptor,
            });
        }
        Err(ListenerError::BadHost(host.to_string()))
    }

    pub async fn accept(&self) -> io::Result<PendingConn> {
        match self {
            Listener::Unix { listener, .. } => Ok(PendingConn::Unix(listener.accept().await?.0)),
            Listener::Tcp { listener, tls } => {
                let (s, _) = listener.accept().await?;
                let _ = s.set_nodelay(true);
                Ok(PendingConn::Tls(s, tls.clone()))
            }
        }
    }

    /// The socket file to remove at shutdown, for unix listeners.
    pub fn socket_path(&self) -> Option<&Path> {
        match self {
            Listener::Unix { path, .. } => Some(path),
            Listener::Tcp { .. } => None,
        }
    }

    pub fn local_tcp_addr(&self) -> Option<std::net::SocketAddr> {
        match self {
            Listener::Tcp { listener, .. } => listener.local_addr().ok(),
            Listener::Unix { .. } => None,
        }
    }
}

async fn bind_unix(path: &Path) -> Result<Listener, ListenerError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
    }
    if path.exists() {
        // A live daemon answers; a stale socket from a crash does not and is replaced.
        if UnixStream::connect(path).await.is_ok() {
            return Err(ListenerError::InUse(format!("unix://{}", path.display())));
        }
        std::fs::remove_file(path).map_err(io_err(format!("removing stale {}", path.display())))?;
    }
    let listener =
        UnixListener::bind(path).map_err(io_err(format!("listening on {}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(io_err(format!("chmod {}", path.display())))?;
    Ok(Listener::Unix {
        listener,
        path: path.to_path_buf(),
    })
}

fn tls_acceptor(files: &TlsFiles) -> Result<TlsAcceptor, ListenerError> {
    let read = |p: &Path| std::fs::read(p).map_err(io_err(format!("reading {}", p.display())));
    let certs = rustls_pemfile::certs(&mut read(&files.cert)?.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(io_err(format!("parsing {}", files.cert.display())))?;
    let key = rustls_pemfile::private_key(&mut read(&files.key)?.as_slice())
        .map_err(io_err(format!("parsing {}", files.key.display())))?
        .ok_or_else(|| ListenerError::Tls(format!("no private key in {}", files.key.display())))?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in rustls_pemfile::certs(&mut read(&files.ca)?.as_slice()) {
        let ca = ca.map_err(io_err(format!("parsing {}", files.ca.display())))?;
        roots
            .add(ca)
            .map_err(|e| ListenerError::Tls(format!("{}: {e}", files.ca.display())))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| ListenerError::Tls(e.to_string()))?;
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ListenerError::Tls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| ListenerError::Tls(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Unix(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
