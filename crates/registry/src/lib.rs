//! berth-registry: `berth registry serve`, an OCI distribution-spec registry.
//!
//! Storage under `--root`:
//! - `blobs/sha256/<hex>`: content, verified before it is renamed into place (temp file, fsync,
//!   rename), shared by every repository;
//! - `uploads/<uuid>`: upload sessions in progress (removed when they complete or are cancelled);
//! - `repositories/<name>/blobs/<hex>`: the blobs a repository links (a blob is visible in a
//!   repository only once pushed or mounted there);
//! - `repositories/<name>/manifests/<hex>` (the media type) and `tags/<tag>` (a digest);
//! - `repositories/<name>/referrers/<subject-hex>/<hex>`: manifests whose `subject` is that one.
//!
//! Errors are the spec's JSON (`{"errors":[{"code","message","detail"}]}`) with its status codes.
//! Optional basic auth from an htpasswd file (bcrypt entries).

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

const MANIFEST_LIMIT: usize = 4 << 20;
const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// What `serve` listens on and serves.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub addr: SocketAddr,
    pub root: PathBuf,
    pub htpasswd: Option<PathBuf>,
}

/// The registry's state: its root and credentials.
pub struct Registry {
    root: PathBuf,
    users: HashMap<String, String>,
}

/// A spec error: status, code, message.
#[derive(Debug)]
pub struct RegError(StatusCode, &'static str, String);

impl IntoResponse for RegError {
    fn into_response(self) -> Response {
        let body = json!({"errors": [{"code": self.1, "message": self.2, "detail": null}]});
        let mut r = (self.0, axum::Json(body)).into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                "WWW-Authenticate",
                HeaderValue::from_static("Basic realm=\"berth-registry\""),
            );
        }
        r
    }
}

type R<T> = std::result::Result<T, RegError>;

fn err(status: StatusCode, code: &'static str, msg: impl Into<String>) -> RegError {
    RegError(status, code, msg.into())
}

fn internal(e: impl std::fmt::Display) -> RegError {
    err(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", e.to_string())
}

/// `sha256:<64 hex>`: the only algorithm stored.
fn parse_digest(d: &str) -> R<String> {
    match d.strip_prefix("sha256:") {
        Some(h)
            if h.len() == 64
                && h.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) =>
        {
            Ok(h.to_string())
        }
        _ => Err(err(
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
            format!("invalid digest {d:?}"),
        )),
    }
}

/// The spec's repository name grammar: path components of `[a-z0-9]+` joined by `.`, `_`,
/// `__` or runs of `-`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name.split('/').all(|comp| {
            let b = comp.as_bytes();
            if b.is_empty()
                || !b[0].is_ascii_alphanumeric()
                || !b[b.len() - 1].is_ascii_alphanumeric()
            {
                return false;
            }
            let mut i = 0;
            while i < b.len() {
                let c = b[i];
                if c.is_ascii_lowercase() || c.is_ascii_digit() {
                    i += 1;
                    continue;
                }
                let sep_len = match c {
                    b'.' => 1,
                    b'_' if b.get(i + 1) == Some(&b'_') => 2,
                    b'_' => 1,
                    b'-' => b[i..].iter().take_while(|x| **x == b'-').count(),
                    _ => return false,
                };
                i += sep_len;
                if !b
                    .get(i)
                    .is_some_and(|x| x.is_ascii_lowercase() || x.is_ascii_digit())
                {
                    return false;
                }
            }
            true
        })
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(c))
}

fn name_invalid(name: &str) -> RegError {
    err(
        StatusCode::BAD_REQUEST,
        "NAME_INVALID",
        format!("invalid repository name {name:?}"),
    )
}

impl Registry {
    pub fn open(root: &Path, htpasswd: Option<&Path>) -> std::io::Result<Registry> {
        for d in ["blobs/sha256", "uploads", "repositories"] {
            std::fs::create_dir_all(root.join(d))?;
        }
        let mut users = HashMap::new();
        if let Some(p) = htpasswd {
            for line in std::fs::read_to_string(p)?.lines() {
                if let Some((u, h)) = line.trim().split_once(':') {
                    users.insert(u.to_string(), h.to_string());
                }
            }
        }
        Ok(Registry {
            root: root.to_path_buf(),
            users,
        })
    }

    fn blob_path(&self, hex: &str) -> PathBuf {
        self.root.join("blobs/sha256").join(hex)
    }

    fn repo(&self, name: &str) -> PathBuf {
        self.root.join("repositories").join(name)
    }

    fn linked(&self, name: &str, hex: &str) -> bool {
        self.repo(name).join("blobs").join(hex).exists() && self.blob_path(hex).exists()
    }

    fn link(&self, name: &str, hex: &str) -> std::io::Result<()> {
        let dir = self.repo(name).join("blobs");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(hex), b"")
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        if self.users.is_empty() {
            return true;
        }
        use base64::Engine as _;
        let Some(v) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let Some(b64) = v.strip_prefix("Basic ") else {
            return false;
        };
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) else {
            return false;
        };
        let raw = String::from_utf8_lossy(&raw);
        let Some((u, p)) = raw.split_once(':') else {
            return false;
        };
        self.users
            .get(u)
            .is_some_and(|h| bcrypt::verify(p, h).unwrap_or(false))
    }

    /// Moves a verified temp file into `blobs/` (fsynced first).
    fn commit_blob(&self, tmp: &Path, hex: &str) -> std::io::Result<()> {
        std::fs::File::open(tmp)?.sync_all()?;
        let dest = self.blob_path(hex);
        if dest.exists() {
            std::fs::remove_file(tmp)?;
        } else {
            std::fs::rename(tmp, &dest)?;
            std::fs::File::open(dest.parent().unwrap_or(Path::new(".")))?.sync_all()?;
        }
        Ok(())
    }

    fn manifest_digest(&self, name: &str, reference: &str) -> R<String> {
        if reference.starts_with("sha256:") {
            return parse_digest(reference);
        }
        if !valid_tag(reference) {
            return Err(err(
                StatusCode::BAD_REQUEST,
                "TAG_INVALID",
                format!("invalid tag {reference:?}"),
            ));
        }
        std::fs::read_to_string(self.repo(name).join("tags").join(reference))
            .map(|s| s.trim().trim_start_matches("sha256:").to_string())
            .map_err(|_| manifest_unknown(reference))
    }
}

fn manifest_unknown(r: &str) -> RegError {
    err(
        StatusCode::NOT_FOUND,
        "MANIFEST_UNKNOWN",
        format!("manifest unknown: {r}"),
    )
}

fn blob_unknown(d: &str) -> RegError {
    err(
        StatusCode::NOT_FOUND,
        "BLOB_UNKNOWN",
        format!("blob unknown to registry: {d}"),
    )
}

fn upload_unknown() -> RegError {
    err(
        StatusCode::NOT_FOUND,
        "BLOB_UPLOAD_UNKNOWN",
        "blob upload unknown to registry",
    )
}

/// The router: everything below `/v2/` is dispatched by its suffix, since names contain `/`.
pub fn router(reg: Arc<Registry>) -> axum::Router {
    axum::Router::new().fallback(dispatch).with_state(reg)
}

async fn dispatch(State(reg): State<Arc<Registry>>, req: Request) -> Response {
    let mut resp = match route(reg, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    resp.headers_mut().insert(
        "Docker-Distribution-API-Version",
        HeaderValue::from_static("registry/2.0"),
    );
    resp
}

fn with_headers(status: StatusCode, headers: &[(&str, String)], body: Body) -> Response {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    for (k, v) in headers {
        if let (Ok(name), Ok(val)) = (
            axum::http::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            r.headers_mut().insert(name, val);
        }
    }
    r
}

async fn route(reg: Arc<Registry>, req: Request) -> R<Response> {
    let path = req.uri().path().to_string();
    let query: HashMap<String, String> = req
        .uri()
        .query()
        .map(|q| {
            q.split('&')
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (k.to_string(), percent_decode(v))
                })
                .collect()
        })
        .unwrap_or_default();
    if !reg.authorized(req.headers()) {
        return Err(err(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "authentication required",
        ));
    }
    let method = req.method().clone();
    if path == "/v2/" || path == "/v2" {
        return Ok(with_headers(
            StatusCode::OK,
            &[("Content-Type", "application/json".into())],
            Body::from("{}"),
        ));
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return Err(err(StatusCode::NOT_FOUND, "UNSUPPORTED", "not found"));
    };
    if let Some(i) = rest.rfind("/blobs/uploads") {
        let name = &rest[..i];
        if !valid_name(name) {
            return Err(name_invalid(name));
        }
        let id = rest[i + "/blobs/uploads".len()..]
            .trim_start_matches('/')
            .to_string();
        return uploads(reg, method, name.to_string(), id, query, req).await;
    }
    if let Some(i) = rest.rfind("/blobs/") {
        let name = &rest[..i];
        if !valid_name(name) {
            return Err(name_invalid(name));
        }
        return blobs(&reg, &method, name, &rest[i + 7..], req.headers());
    }
    if let Some(i) = rest.rfind("/manifests/") {
        let name = &rest[..i];
        if !valid_name(name) {
            return Err(name_invalid(name));
        }
        let reference = rest[i + 11..].to_string();
        return manifests(reg, method, name.to_string(), reference, req).await;
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        if !valid_name(name) {
            return Err(name_invalid(name));
        }
        return tags(&reg, name, &query);
    }
    if let Some(i) = rest.rfind("/referrers/") {
        let name = &rest[..i];
        if !valid_name(name) {
            return Err(name_invalid(name));
        }
        return referrers(&reg, name, &rest[i + 11..], &query);
    }
    Err(err(
        StatusCode::NOT_FOUND,
        "UNSUPPORTED",
        format!("no route for {method} {path}"),
    ))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn blobs(
    reg: &Registry,
    method: &Method,
    name: &str,
    digest: &str,
    headers: &HeaderMap,
) -> R<Response> {
    let hex = parse_digest(digest)?;
    match *method {
        Method::GET | Method::HEAD => {
            if !reg.linked(name, &hex) {
                return Err(blob_unknown(digest));
            }
            let path = reg.blob_path(&hex);
            let size = std::fs::metadata(&path).map_err(internal)?.len();
            let range = headers
                .get("range")
                .and_then(|v| v.to_str().ok())
                .and_then(|r| r.strip_prefix("bytes="))
                .and_then(|r| {
                    let (a, b) = r.split_once('-')?;
                    let start: u64 = a.parse().ok()?;
                    let end: u64 = if b.is_empty() {
                        size.saturating_sub(1)
                    } else {
                        b.parse().ok()?
                    };
                    Some((start, end.min(size.saturating_sub(1))))
                });
            let (status, start, len) = match range {
                Some((s, e)) if s < size && s <= e => (StatusCode::PARTIAL_CONTENT, s, e - s + 1),
                Some(_) => {
                    return Ok(with_headers(
                        StatusCode::RANGE_NOT_SATISFIABLE,
                        &[("Content-Range", format!("bytes */{size}"))],
                        Body::empty(),
                    ))
                }
                None => (StatusCode::OK, 0, size),
            };
            let mut hdrs = vec![
                ("Content-Length", len.to_string()),
                ("Docker-Content-Digest", digest.to_string()),
                ("Content-Type", "application/octet-stream".into()),
                ("Accept-Ranges", "bytes".into()),
            ];
            if status == StatusCode::PARTIAL_CONTENT {
                hdrs.push((
                    "Content-Range",
                    format!("bytes {start}-{}/{size}", start + len - 1),
                ));
            }
            if *method == Method::HEAD {
                return Ok(with_headers(status, &hdrs, Body::empty()));
            }
            let mut f = std::fs::File::open(&path).map_err(internal)?;
            std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(start)).map_err(internal)?;
            let file = tokio::fs::File::from_std(f);
            // Large reads: every read of a tokio file is a trip to the blocking pool.
            let stream = tokio_util::io::ReaderStream::with_capacity(
                tokio::io::AsyncReadExt::take(file, len),
                1 << 20,
            );
            Ok(with_headers(status, &hdrs, Body::from_stream(stream)))
        }
        Method::DELETE => {
            let link = reg.repo(name).join("blobs").join(&hex);
            if std::fs::remove_file(link).is_err() {
                return Err(blob_unknown(digest));
            }
            Ok(with_headers(StatusCode::ACCEPTED, &[], Body::empty()))
        }
        _ => Err(err(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "method not allowed",
        )),
    }
}

/// Appends the request body to the upload file; returns the new size.
async fn append_body(path: &Path, body: Body) -> R<u64> {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|_| upload_unknown())?;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            err(
                StatusCode::BAD_REQUEST,
                "BLOB_UPLOAD_INVALID",
                e.to_string(),
            )
        })?;
        f.write_all(&chunk).map_err(internal)?;
    }
    Ok(f.metadata().map_err(internal)?.len())
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(hex::encode(h.finalize()))
}

async fn uploads(
    reg: Arc<Registry>,
    method: Method,
    name: String,
    id: String,
    query: HashMap<String, String>,
    req: Request,
) -> R<Response> {
    let location = |id: &str| format!("/v2/{name}/blobs/uploads/{id}");
    if id.is_empty() {
        if method != Method::POST {
            return Err(err(
                StatusCode::METHOD_NOT_ALLOWED,
                "UNSUPPORTED",
                "method not allowed",
            ));
        }
        // Cross-repository mount.
        if let (Some(mount), Some(from)) = (query.get("mount"), query.get("from")) {
            let hex = parse_digest(mount)?;
            if valid_name(from) && reg.linked(from, &hex) {
                reg.link(&name, &hex).map_err(internal)?;
                return Ok(with_headers(
                    StatusCode::CREATED,
                    &[
                        ("Location", format!("/v2/{name}/blobs/{mount}")),
                        ("Docker-Content-Digest", mount.clone()),
                    ],
                    Body::empty(),
                ));
            }
        }
        let uuid = hex::encode(rand::random::<[u8; 16]>());
        let path = reg.root.join("uploads").join(&uuid);
        std::fs::File::create(&path).map_err(internal)?;
        // Monolithic upload in the POST itself.
        if let Some(digest) = query.get("digest") {
            let hex = parse_digest(digest)?;
            append_body(&path, req.into_body()).await?;
            return finish_upload(&reg, &name, &path, &hex, digest);
        }
        return Ok(with_headers(
            StatusCode::ACCEPTED,
            &[
                ("Location", location(&uuid)),
                ("Range", "0-0".into()),
                ("Docker-Upload-UUID", uuid.clone()),
                ("Content-Length", "0".into()),
            ],
            Body::empty(),
        ));
    }
    if !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(upload_unknown());
    }
    let path = reg.root.join("uploads").join(&id);
    if !path.exists() {
        return Err(upload_unknown());
    }
    let size = std::fs::metadata(&path).map_err(internal)?.len();
    let range_header = |n: u64| {
        if n == 0 {
            "0-0".to_string()
        } else {
            format!("0-{}", n - 1)
        }
    };
    match method {
        Method::GET => Ok(with_headers(
            StatusCode::NO_CONTENT,
            &[
                ("Location", location(&id)),
                ("Range", range_header(size)),
                ("Docker-Upload-UUID", id.clone()),
            ],
            Body::empty(),
        )),
        Method::DELETE => {
            let _ = std::fs::remove_file(&path);
            Ok(with_headers(StatusCode::NO_CONTENT, &[], Body::empty()))
        }
        Method::PATCH => {
            if let Some(cr) = req
                .headers()
                .get("content-range")
                .and_then(|v| v.to_str().ok())
            {
                let start = cr
                    .trim_start_matches("bytes ")
                    .split('-')
                    .next()
                    .and_then(|s| s.trim().parse::<u64>().ok());
                if start != Some(size) {
                    return Ok(with_headers(
                        StatusCode::RANGE_NOT_SATISFIABLE,
                        &[("Location", location(&id)), ("Range", range_header(size))],
                        Body::empty(),
                    ));
                }
            }
            let n = append_body(&path, req.into_body()).await?;
            Ok(with_headers(
                StatusCode::ACCEPTED,
                &[
                    ("Location", location(&id)),
                    ("Range", range_header(n)),
                    ("Docker-Upload-UUID", id.clone()),
                ],
                Body::empty(),
            ))
        }
        Method::PUT => {
            let Some(digest) = query.get("digest").cloned() else {
                return Err(err(
                    StatusCode::BAD_REQUEST,
                    "DIGEST_INVALID",
                    "digest parameter missing",
                ));
            };
            let hex = parse_digest(&digest)?;
            append_body(&path, req.into_body()).await?;
            finish_upload(&reg, &name, &path, &hex, &digest)
        }
        _ => Err(err(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "method not allowed",
        )),
    }
}

/// Verifies a finished upload against its digest and commits it; a mismatch leaves no blob.
fn finish_upload(reg: &Registry, name: &str, path: &Path, hex: &str, digest: &str) -> R<Response> {
    let got = sha256_file(path).map_err(internal)?;
    if got != hex {
        let _ = std::fs::remove_file(path);
        return Err(err(
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
            format!("provided digest {digest} did not match uploaded content sha256:{got}"),
        ));
    }
    reg.commit_blob(path, hex).map_err(internal)?;
    reg.link(name, hex).map_err(internal)?;
    Ok(with_headers(
        StatusCode::CREATED,
        &[
            ("Location", format!("/v2/{name}/blobs/{digest}")),
            ("Docker-Content-Digest", digest.to_string()),
            ("Content-Length", "0".into()),
        ],
        Body::empty(),
    ))
}

async fn manifests(
    reg: Arc<Registry>,
    method: Method,
    name: String,
    reference: String,
    req: Request,
) -> R<Response> {
    let repo = reg.repo(&name);
    match method {
        Method::GET | Method::HEAD => {
            let hex = reg.manifest_digest(&name, &reference)?;
            let media = std::fs::read_to_string(repo.join("manifests").join(&hex))
                .map_err(|_| manifest_unknown(&reference))?;
            let bytes =
                std::fs::read(reg.blob_path(&hex)).map_err(|_| manifest_unknown(&reference))?;
            let hdrs = [
                ("Content-Type", media.trim().to_string()),
                ("Docker-Content-Digest", format!("sha256:{hex}")),
                ("Content-Length", bytes.len().to_string()),
            ];
            let body = if method == Method::HEAD {
                Body::empty()
            } else {
                Body::from(bytes)
            };
            Ok(with_headers(StatusCode::OK, &hdrs, body))
        }
        Method::PUT => {
            let ct = req
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
            let bytes = axum::body::to_bytes(req.into_body(), MANIFEST_LIMIT)
                .await
                .map_err(|_| {
                    err(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "SIZE_INVALID",
                        format!("manifest larger than {MANIFEST_LIMIT} bytes"),
                    )
                })?;
            let doc: Value = serde_json::from_slice(&bytes).map_err(|e| {
                err(
                    StatusCode::BAD_REQUEST,
                    "MANIFEST_INVALID",
                    format!("manifest invalid: {e}"),
                )
            })?;
            let media = if ct.is_empty() || ct == "application/json" {
                doc["mediaType"].as_str().unwrap_or("").to_string()
            } else {
                ct
            };
            if !MANIFEST_TYPES.contains(&media.as_str()) {
                return Err(err(
                    StatusCode::BAD_REQUEST,
                    "MANIFEST_INVALID",
                    format!("unsupported manifest media type {media:?}"),
                ));
            }
            if doc["mediaType"].as_str().is_some_and(|m| m != media) {
                return Err(err(
                    StatusCode::BAD_REQUEST,
                    "MANIFEST_INVALID",
                    "mediaType does not match Content-Type",
                ));
            }
            let hex = hex::encode(Sha256::digest(&bytes));
            let digest = format!("sha256:{hex}");
            if reference.starts_with("sha256:") && parse_digest(&reference)? != hex {
                return Err(err(
                    StatusCode::BAD_REQUEST,
                    "DIGEST_INVALID",
                    format!("manifest digest {digest} does not match {reference}"),
                ));
            } else if !reference.starts_with("sha256:") && !valid_tag(&reference) {
                return Err(err(
                    StatusCode::BAD_REQUEST,
                    "TAG_INVALID",
                    format!("invalid tag {reference:?}"),
                ));
            }
            // Everything it references must be here.
            if media.contains("index") || media.contains("list") {
                for m in doc["manifests"].as_array().into_iter().flatten() {
                    let d = m["digest"].as_str().unwrap_or("");
                    let h = parse_digest(d)?;
                    if !repo.join("manifests").join(&h).exists() {
                        return Err(err(
                            StatusCode::BAD_REQUEST,
                            "MANIFEST_UNKNOWN",
                            format!("manifest unknown: {d}"),
                        ));
                    }
                }
            } else {
                let config = doc["config"]["digest"].as_str();
                for d in config.into_iter().chain(
                    doc["layers"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|l| l["digest"].as_str()),
                ) {
                    let h = parse_digest(d)?;
                    if !reg.linked(&name, &h) {
                        return Err(err(
                            StatusCode::BAD_REQUEST,
                            "MANIFEST_BLOB_UNKNOWN",
                            format!("blob unknown to registry: {d}"),
                        ));
                    }
                }
            }
            let tmp = reg.root.join("uploads").join(format!(
                "manifest-{}",
                hex::encode(rand::random::<[u8; 8]>())
            ));
            std::fs::write(&tmp, &bytes).map_err(internal)?;
            reg.commit_blob(&tmp, &hex).map_err(internal)?;
            std::fs::create_dir_all(repo.join("manifests")).map_err(internal)?;
            std::fs::write(repo.join("manifests").join(&hex), &media).map_err(internal)?;
            if !reference.starts_with("sha256:") {
                std::fs::create_dir_all(repo.join("tags")).map_err(internal)?;
                let t = repo.join("tags").join(format!(".{reference}.tmp"));
                std::fs::write(&t, &digest).map_err(internal)?;
                std::fs::rename(&t, repo.join("tags").join(&reference)).map_err(internal)?;
            }
            let mut hdrs = vec![
                ("Location", format!("/v2/{name}/manifests/{digest}")),
                ("Docker-Content-Digest", digest.clone()),
                ("Content-Length", "0".into()),
            ];
            if let Some(subject) = doc["subject"]["digest"].as_str() {
                let sh = parse_digest(subject)?;
                let dir = repo.join("referrers").join(&sh);
                std::fs::create_dir_all(&dir).map_err(internal)?;
                std::fs::write(dir.join(&hex), b"").map_err(internal)?;
                hdrs.push(("OCI-Subject", subject.to_string()));
            }
            Ok(with_headers(StatusCode::CREATED, &hdrs, Body::empty()))
        }
        Method::DELETE => {
            if reference.starts_with("sha256:") {
                let hex = parse_digest(&reference)?;
                if std::fs::remove_file(repo.join("manifests").join(&hex)).is_err() {
                    return Err(manifest_unknown(&reference));
                }
                // Tags that named it go with it.
                if let Ok(rd) = std::fs::read_dir(repo.join("tags")) {
                    for e in rd.flatten() {
                        if std::fs::read_to_string(e.path()).is_ok_and(|d| d.trim() == reference) {
                            let _ = std::fs::remove_file(e.path());
                        }
                    }
                }
            } else {
                if !valid_tag(&reference) {
                    return Err(err(
                        StatusCode::BAD_REQUEST,
                        "TAG_INVALID",
                        format!("invalid tag {reference:?}"),
                    ));
                }
                if std::fs::remove_file(repo.join("tags").join(&reference)).is_err() {
                    return Err(manifest_unknown(&reference));
                }
            }
            Ok(with_headers(StatusCode::ACCEPTED, &[], Body::empty()))
        }
        _ => Err(err(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "method not allowed",
        )),
    }
}

fn tags(reg: &Registry, name: &str, query: &HashMap<String, String>) -> R<Response> {
    let dir = reg.repo(name);
    if !dir.exists() {
        return Err(err(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            format!("repository name not known to registry: {name}"),
        ));
    }
    let mut all: Vec<String> = std::fs::read_dir(dir.join("tags"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    all.sort();
    if let Some(last) = query.get("last") {
        all.retain(|t| t.as_str() > last.as_str());
    }
    let mut hdrs = vec![("Content-Type", "application/json".to_string())];
    if let Some(n) = query.get("n").and_then(|n| n.parse::<usize>().ok()) {
        if all.len() > n {
            all.truncate(n);
            if let Some(last) = all.last() {
                hdrs.push((
                    "Link",
                    format!("</v2/{name}/tags/list?n={n}&last={last}>; rel=\"next\""),
                ));
            }
        }
    }
    let body = json!({"name": name, "tags": all});
    Ok(with_headers(
        StatusCode::OK,
        &hdrs,
        Body::from(body.to_string()),
    ))
}

fn referrers(
    reg: &Registry,
    name: &str,
    digest: &str,
    query: &HashMap<String, String>,
) -> R<Response> {
    let sh = parse_digest(digest)?;
    let dir = reg.repo(name).join("referrers").join(&sh);
    let filter = query.get("artifactType");
    let mut manifests = Vec::new();
    for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let hex = e.file_name().to_string_lossy().into_owned();
        let Ok(media) = std::fs::read_to_string(reg.repo(name).join("manifests").join(&hex)) else {
            continue;
        };
        let Ok(bytes) = std::fs::read(reg.blob_path(&hex)) else {
            continue;
        };
        let doc: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let artifact = doc["artifactType"]
            .as_str()
            .or(doc["config"]["mediaType"].as_str())
            .unwrap_or("")
            .to_string();
        if filter.is_some_and(|f| *f != artifact) {
            continue;
        }
        let mut d = json!({"mediaType": media.trim(), "digest": format!("sha256:{hex}"), "size": bytes.len(), "artifactType": artifact});
        if let Some(a) = doc.get("annotations") {
            d["annotations"] = a.clone();
        }
        manifests.push(d);
    }
    let body = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests});
    let mut hdrs = vec![(
        "Content-Type",
        "application/vnd.oci.image.index.v1+json".to_string(),
    )];
    if filter.is_some() {
        hdrs.push(("OCI-Filters-Applied", "artifactType".into()));
    }
    Ok(with_headers(
        StatusCode::OK,
        &hdrs,
        Body::from(body.to_string()),
    ))
}

/// Serves until `shutdown` completes.
pub async fn serve(
    cfg: ServerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let reg = Arc::new(Registry::open(&cfg.root, cfg.htpasswd.as_deref())?);
    let listener = tokio::net::TcpListener::bind(cfg.addr).await?;
    tracing::info!(addr = %cfg.addr, root = %cfg.root.display(), "registry listening");
    axum::serve(listener, router(reg))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// `berth registry serve --addr ADDR --root DIR [--htpasswd FILE]`.
#[derive(Debug, clap::Parser)]
#[command(name = "berth registry")]
pub struct RegistryCli {
    #[command(subcommand)]
    command: RegistryCommand,
}

#[derive(Debug, clap::Subcommand)]
enum RegistryCommand {
    /// Serve an OCI distribution registry
    Serve {
        /// Address to listen on
        #[arg(long, default_value = "127.0.0.1:5000")]
        addr: SocketAddr,
        /// Where blobs, manifests and tags are kept
        #[arg(long, default_value = "/var/lib/berth-registry")]
        root: PathBuf,
        /// Require basic auth from this htpasswd file (bcrypt entries)
        #[arg(long)]
        htpasswd: Option<PathBuf>,
    },
}

/// Entry point for `berth registry ...` (arguments after `registry`); returns the exit code.
pub fn main(args: &[std::ffi::OsString]) -> i32 {
    use clap::Parser;
    let argv =
        std::iter::once(std::ffi::OsString::from("berth registry")).chain(args.iter().cloned());
    let cli = match RegistryCli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    let RegistryCommand::Serve {
        addr,
        root,
        htpasswd,
    } = cli.command;
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth registry: {e}");
            return 1;
        }
    };
    let shutdown = async {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return,
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    match rt.block_on(serve(
        ServerConfig {
            addr,
            root,
            htpasswd,
        },
        shutdown,
    )) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("berth registry: {e:#}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_spec_grammar() {
        for ok in [
            "a",
            "library/busybox",
            "a-b/c__d",
            "x.y/z",
            "a--b",
            "0abc/1",
        ] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "", "A", "a/", "/a", "a//b", "a_", "-a", "a..b", "a___b", "a/B",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert!(valid_tag("v1.0_rc-2"));
        assert!(!valid_tag(".hidden"));
        assert!(!valid_tag(&"x".repeat(129)));
    }

    #[test]
    fn digests_are_checked() {
        assert!(parse_digest(&format!("sha256:{}", "a".repeat(64))).is_ok());
        assert!(parse_digest("sha256:abc").is_err());
        assert!(parse_digest(&format!("sha512:{}", "a".repeat(64))).is_err());
        assert!(parse_digest(&format!("sha256:{}", "A".repeat(64))).is_err());
    }
}
