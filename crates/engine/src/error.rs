//! Engine errors. Each variant carries what the user needs to see; the API layer maps the
//! variant's `kind()` onto an HTTP status in one place.

use berth_store::Digest;

/// How an error should be reported to an API client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    Conflict,
    InvalidParameter,
    Forbidden,
    NotImplemented,
    /// Nothing to do (HTTP 304): starting a running container, stopping a stopped one.
    NotModified,
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("No such image: {0}")]
    NoSuchImage(String),
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    #[error("{0}")]
    Conflict(String),
    /// A lookup that is neither an image nor a container (exec instances, volumes, …); the
    /// message is the whole text.
    #[error("{0}")]
    NotFound(String),
    /// A process could not be started in a container; the message is the whole text.
    #[error("{0}")]
    ExecFailed(String),
    #[error("{0}")]
    InvalidParameter(String),
    /// Refused by policy (HTTP 403): removing a predefined network, an overlapping pool.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotImplemented(String),
    /// A registry refused the credentials (or asked for some).
    #[error("{0}")]
    Unauthorized(String),
    /// A registry failed (unreachable, 5xx, a protocol error); the message names it.
    #[error("{0}")]
    Registry(String),
    #[error("invalid tar archive: {0}")]
    InvalidArchive(String),
    #[error("{what}: file {file} not found in archive")]
    MissingInArchive { what: String, file: String },
    #[error("invalid image config {digest}: {reason}")]
    InvalidConfig { digest: Digest, reason: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] berth_store::Error),
    #[error("internal error: {0}")]
    Internal(String),
    #[error("container already in the requested state")]
    NotModified,
    #[error("timed out")]
    Timeout,
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        use berth_store::Error as S;
        match self {
            Error::NoSuchImage(_) | Error::NoSuchContainer(_) | Error::NotFound(_) => {
                ErrorKind::NotFound
            }
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::InvalidParameter(_)
            | Error::InvalidArchive(_)
            | Error::MissingInArchive { .. }
            | Error::InvalidConfig { .. } => ErrorKind::InvalidParameter,
            Error::NotImplemented(_) => ErrorKind::NotImplemented,
            Error::Unauthorized(_) | Error::Forbidden(_) => ErrorKind::Forbidden,
            Error::Registry(_) => ErrorKind::Internal,
            Error::NotModified => ErrorKind::NotModified,
            Error::Io { .. } | Error::Internal(_) | Error::ExecFailed(_) | Error::Timeout => {
                ErrorKind::Internal
            }
            Error::Store(e) => match e {
                S::InvalidDigest(_)
                | S::InvalidReference { .. }
                | S::DigestMismatch { .. }
                | S::UnsafeLayerEntry { .. }
                | S::CorruptLayer { .. }
                | S::AmbiguousId(_)
                | S::BrokenChain { .. } => ErrorKind::InvalidParameter,
                S::BlobNotFound(_) | S::LayerNotFound(_) | S::ImageNotFound(_) => {
                    ErrorKind::NotFound
                }
                _ => ErrorKind::Internal,
            },
        }
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
