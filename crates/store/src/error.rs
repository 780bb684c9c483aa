//! The store's one error type. Every variant names the thing that failed, so the message a user
//! sees (through the engine and the API) tells them what to look at.

use crate::Digest;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A filesystem operation failed; `context` names the operation and the path.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error("image store database: {0}")]
    Db(#[from] rusqlite::Error),

    #[error("invalid digest format {0:?}: expected sha256:<64 lowercase hex digits>")]
    InvalidDigest(String),

    /// Display is Docker's text: `invalid reference format` or
    /// `invalid reference format: <reason>`.
    #[error("invalid reference format{}{}", if .reason.is_empty() { "" } else { ": " }, .reason)]
    InvalidReference { input: String, reason: &'static str },

    /// `docker tag` refuses digest references; so do we.
    #[error("refusing to create a tag with a digest reference: {0}")]
    TagWithDigest(String),

    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },

    #[error("blob {0} is not in the image store")]
    BlobNotFound(Digest),

    #[error("layer {0} is not in the image store")]
    LayerNotFound(Digest),

    #[error("No such image: {0}")]
    ImageNotFound(Digest),

    #[error("short image ID {0:?} is ambiguous: it matches several images; give more characters")]
    AmbiguousId(String),

    #[error("broken layer chain: {reason}")]
    BrokenChain { reason: String },

    /// A hostile or nonsensical tar entry; nothing was written outside the layer.
    #[error("layer blob {blob}: refusing tar entry {entry:?}: {reason}")]
    UnsafeLayerEntry {
        blob: Digest,
        entry: String,
        reason: String,
    },

    /// The layer stream is truncated or its tar/gzip/zstd data is corrupt.
    #[error("layer blob {blob} is corrupt or truncated: {reason}")]
    CorruptLayer { blob: Digest, reason: String },

    #[error("image store JSON: {0}")]
    Json(#[from] serde_json::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Wrap an I/O error with the operation and path it happened on.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// `result.ctx(|| format!("create {}", path.display()))` turns an `io::Result` into ours.
pub(crate) trait IoContext<T> {
    fn ctx<S: Into<String>>(self, context: impl FnOnce() -> S) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx<S: Into<String>>(self, context: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|source| Error::Io {
            context: context().into(),
            source,
        })
    }
}

impl<T> IoContext<T> for nix::Result<T> {
    fn ctx<S: Into<String>>(self, context: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|errno| Error::Io {
            context: context().into(),
            source: std::io::Error::from(errno),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_reference_texts_match_docker() {
        let plain = Error::InvalidReference {
            input: "a::b".into(),
            reason: "",
        };
        assert_eq!(plain.to_string(), "invalid reference format");
        let upper = Error::InvalidReference {
            input: "Foo".into(),
            reason: "repository name must be lowercase",
        };
        assert_eq!(
            upper.to_string(),
            "invalid reference format: repository name must be lowercase"
        );
    }

    #[test]
    fn digest_mismatch_names_what_and_both_digests() {
        let e = Error::DigestMismatch {
            what: "layer blob sha256:aa".into(),
            expected: Digest::of(b"a"),
            actual: Digest::of(b"b"),
        };
        let s = e.to_string();
        assert!(s.starts_with("layer blob sha256:aa: digest mismatch: expected sha256:ca978112"));
        assert!(s.contains("got sha256:3e23e816"));
    }
}
