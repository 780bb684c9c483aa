//! berth-distribution: the client side of the OCI distribution protocol (Docker's registry
//! API v2): manifests and blobs by digest, uploads, cross-repository mounts, and Docker's
//! token (`WWW-Authenticate: Bearer realm,service,scope`) and basic authentication. It knows
//! nothing of the image store; the engine streams what it fetches into the store.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// Media types a pull accepts, most specific first.
pub const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Http(String),
    /// The registry answered with a status that means "not there".
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unauthorized(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Credentials for one registry.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    pub username: String,
    pub password: String,
    /// An identity token (`docker login` with a token service) used as the refresh token.
    pub identity_token: String,
}

/// A repository on a registry: `127.0.0.1:5000` + `team/app`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    pub registry: String,
    pub name: String,
}

type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

pub struct Client {
    http: HttpClient<hyper_rustls::HttpsConnector<HttpConnector>, Body>,
    insecure: Vec<String>,
    auth: Option<Auth>,
    /// Bearer tokens by scope.
    tokens: Mutex<HashMap<String, String>>,
}

/// Whether `registry` is spoken to over plain HTTP: loopback, or listed as insecure.
pub fn is_insecure(registry: &str, insecure: &[String]) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        registry.rsplit_once(':').map_or(registry, |(h, _)| h)
    };
    host == "localhost"
        || host == "::1"
        || host.starts_with("127.")
        || insecure.iter().any(|i| i == registry || i == host)
}

fn full(b: Bytes) -> Body {
    Full::new(b).map_err(|never| match never {}).boxed()
}

impl Client {
    pub fn new(auth: Option<Auth>, insecure: Vec<String>) -> Result<Client> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| Error::Http(format!("loading the system's CA certificates: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Client {
            http: HttpClient::builder(TokioExecutor::new()).build(https),
            insecure,
            auth,
            tokens: Mutex::new(HashMap::new()),
        })
    }

    fn base(&self, registry: &str) -> String {
        let host = if registry == "docker.io" {
            "registry-1.docker.io"
        } else {
            registry
        };
        if is_insecure(registry, &self.insecure) {
            format!("http://{host}")
        } else {
            format!("https://{host}")
        }
    }

    /// `<base>/v2/<name>/<tail>`.
    fn repo_url(&self, repo: &Repo, tail: &str) -> String {
        format!("{}/v2/{}/{tail}", self.base(&repo.registry), repo.name)
    }

    fn scope(repo: &Repo, push: bool) -> String {
        format!(
            "repository:{}:{}",
            repo.name,
            if push { "pull,push" } else { "pull" }
        )
    }

    /// Sends a request, answering a 401 challenge once (token or basic) and retrying.
    async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: Option<Bytes>,
        scope: &str,
    ) -> Result<Response<Incoming>> {
        for attempt in 0..2 {
            let mut req = Request::builder().method(method.clone()).uri(url);
            for (k, v) in headers {
                req = req.header(*k, v);
            }
            if let Some(tok) = self
                .tokens
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(scope)
            {
                req = req.header("Authorization", tok.clone());
            }
            let req = req
                .body(full(body.clone().unwrap_or_default()))
                .map_err(|e| Error::Http(format!("{url}: {e}")))?;
            let resp = self
                .http
                .request(req)
                .await
                .map_err(|e| Error::Http(format!("{method} {url}: {}", error_chain(&e))))?;
            if resp.status() != StatusCode::UNAUTHORIZED || attempt == 1 {
                return Ok(resp);
            }
            let challenge = resp
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let header = self.answer(&challenge, scope).await?;
            self.tokens
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(scope.to_string(), header);
        }
        Err(Error::Unauthorized(format!("{url}: unauthorized")))
    }

    /// The Authorization header that answers a `WWW-Authenticate` challenge.
    async fn answer(&self, challenge: &str, scope: &str) -> Result<String> {
        let (kind, params) = challenge.split_once(' ').unwrap_or((challenge, ""));
        let params = parse_challenge(params);
        if kind.eq_ignore_ascii_case("basic") {
            let Some(a) = &self.auth else {
                return Err(Error::Unauthorized("no basic auth credentials".into()));
            };
            return Ok(basic(a));
        }
        if !kind.eq_ignore_ascii_case("bearer") {
            return Err(Error::Unauthorized(format!(
                "unsupported authentication challenge {challenge:?}"
            )));
        }
        let realm = params
            .get("realm")
            .ok_or_else(|| Error::Unauthorized("a Bearer challenge without realm".into()))?;
        let mut url = format!("{realm}?");
        let enc = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        if let Some(service) = params.get("service") {
            url.push_str(&format!("service={}&", enc(service)));
        }
        let scope = params.get("scope").map(String::as_str).unwrap_or(scope);
        if !scope.is_empty() {
            url.push_str(&format!("scope={}", enc(scope)));
        }
        let mut req = Request::builder().method(Method::GET).uri(&url);
        if let Some(a) = &self.auth {
            req = req.header("Authorization", basic(a));
        }
        let req = req
            .body(full(Bytes::new()))
            .map_err(|e| Error::Http(format!("{url}: {e}")))?;
        let resp = self
            .http
            .request(req)
            .await
            .map_err(|e| Error::Http(format!("token from {realm}: {}", error_chain(&e))))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| Error::Http(format!("token from {realm}: {e}")))?
            .to_bytes();
        if !status.is_success() {
            return Err(Error::Unauthorized(format!(
                "token from {realm}: {status}: {}",
                String::from_utf8_lossy(&body)
            )));
        }
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| Error::Unauthorized(format!("token from {realm}: {e}")))?;
        let token = v["token"]
            .as_str()
            .or(v["access_token"].as_str())
            .ok_or_else(|| Error::Unauthorized(format!("no token from {realm}")))?;
        Ok(format!("Bearer {token}"))
    }

    /// Reads an error response into Docker's message shape.
    async fn failure(resp: Response<Incoming>, what: &str) -> Error {
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let detail = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| {
                v["errors"].as_array().map(|errs| {
                    errs.iter()
                        .map(|e| {
                            format!(
                                "{}: {}",
                                e["code"].as_str().unwrap_or(""),
                                e["message"].as_str().unwrap_or("")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; ")
                })
            })
            .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_string());
        let msg = format!(
            "{what}: {status}{}",
            if detail.is_empty() {
                String::new()
            } else {
                format!(" ({detail})")
            }
        );
        match status {
            StatusCode::NOT_FOUND => Error::NotFound(msg),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Error::Unauthorized(msg),
            _ => Error::Http(msg),
        }
    }

    /// A plain `GET` of any http(s) URL (ADD's remote sources), following up to five redirects.
    pub async fn get_url(&self, url: &str) -> Result<Response<Incoming>> {
        let mut url = url.to_string();
        for _ in 0..6 {
            let req = Request::builder()
                .method(Method::GET)
                .uri(&url)
                .body(full(Bytes::new()))
                .map_err(|e| Error::Http(format!("{url}: {e}")))?;
            let resp = self
                .http
                .request(req)
                .await
                .map_err(|e| Error::Http(format!("GET {url}: {}", error_chain(&e))))?;
            if resp.status().is_redirection() {
                if let Some(loc) = resp.headers().get("location").and_then(|v| v.to_str().ok()) {
                    url = absolute(&url, loc);
                    continue;
                }
            }
            if !resp.status().is_success() {
                return Err(Self::failure(resp, &format!("GET {url}")).await);
            }
            return Ok(resp);
        }
        Err(Error::Http(format!("GET {url}: too many redirects")))
    }

    /// `GET /v2/` with the credentials: Ok when the registry accepts them.
    pub async fn check_login(&self, registry: &str) -> Result<()> {
        let url = format!("{}/v2/", self.base(registry));
        let resp = self.send(Method::GET, &url, &[], None, "").await?;
        if resp.status().is_success() {
            return Ok(());
        }
        Err(Self::failure(resp, &format!("login to {registry}")).await)
    }

    /// `GET /v2/<name>/tags/list`, following the registry's `Link: <…>; rel="next"` pages.
    pub async fn tags(&self, repo: &Repo) -> Result<Vec<String>> {
        let mut url = self.repo_url(repo, "tags/list?n=1000");
        let mut tags = Vec::new();
        for _ in 0..1000 {
            let resp = self
                .send(Method::GET, &url, &[], None, &Self::scope(repo, false))
                .await?;
            if !resp.status().is_success() {
                return Err(Self::failure(
                    resp,
                    &format!("tags of {}/{}", repo.registry, repo.name),
                )
                .await);
            }
            let next = resp
                .headers()
                .get("link")
                .and_then(|v| v.to_str().ok())
                .and_then(next_link);
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| Error::Http(format!("tags of {}/{}: {e}", repo.registry, repo.name)))?
                .to_bytes();
            let doc: Value = serde_json::from_slice(&body).map_err(|e| {
                Error::Http(format!(
                    "tags of {}/{}: the list does not parse: {e}",
                    repo.registry, repo.name
                ))
            })?;
            tags.extend(
                doc["tags"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t.as_str().map(str::to_string)),
            );
            match next {
                Some(n) if n.starts_with('/') => url = format!("{}{n}", self.base(&repo.registry)),
                Some(n) => url = n,
                None => return Ok(tags),
            }
        }
        Err(Error::Http(format!(
            "tags of {}/{}: too many pages",
            repo.registry, repo.name
        )))
    }

    /// `GET /v2/<name>/manifests/<reference>`: (bytes, media type).
    pub async fn manifest(&self, repo: &Repo, reference: &str) -> Result<(Bytes, String)> {
        let url = self.repo_url(repo, &format!("manifests/{reference}"));
        let resp = self
            .send(
                Method::GET,
                &url,
                &[("Accept", MANIFEST_TYPES.join(", "))],
                None,
                &Self::scope(repo, false),
            )
            .await?;
        if !resp.status().is_success() {
            return Err(Self::failure(
                resp,
                &format!("manifest {}/{}:{reference}", repo.registry, repo.name),
            )
            .await);
        }
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| {
                Error::Http(format!(
                    "manifest {}/{}:{reference}: {e}",
                    repo.registry, repo.name
                ))
            })?
            .to_bytes();
        let media = if ct.is_empty() || ct == "application/json" {
            serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v["mediaType"].as_str().map(str::to_string))
                .unwrap_or_default()
        } else {
            ct
        };
        Ok((body, media))
    }

    /// `GET /v2/<name>/blobs/<digest>` from byte `offset` on: the response (its body streams).
    pub async fn blob(&self, repo: &Repo, digest: &str, offset: u64) -> Result<Response<Incoming>> {
        let url = self.repo_url(repo, &format!("blobs/{digest}"));
        let mut headers = Vec::new();
        if offset > 0 {
            headers.push(("Range", format!("bytes={offset}-")));
        }
        let mut resp = self
            .send(Method::GET, &url, &headers, None, &Self::scope(repo, false))
            .await?;
        // Blob stores redirect to their storage (S3, a CDN).
        for _ in 0..5 {
            if !resp.status().is_redirection() {
                break;
            }
            let Some(loc) = resp.headers().get("location").and_then(|v| v.to_str().ok()) else {
                break;
            };
            let loc = absolute(&url, loc);
            let mut req = Request::builder().method(Method::GET).uri(&loc);
            for (k, v) in &headers {
                req = req.header(*k, v);
            }
            let req = req
                .body(full(Bytes::new()))
                .map_err(|e| Error::Http(e.to_string()))?;
            resp = self
                .http
                .request(req)
                .await
                .map_err(|e| Error::Http(format!("GET {loc}: {}", error_chain(&e))))?;
        }
        if !resp.status().is_success() {
            return Err(Self::failure(
                resp,
                &format!("blob {digest} of {}/{}", repo.registry, repo.name),
            )
            .await);
        }
        Ok(resp)
    }

    /// `HEAD /v2/<name>/blobs/<digest>`.
    pub async fn blob_exists(&self, repo: &Repo, digest: &str) -> Result<bool> {
        let url = self.repo_url(repo, &format!("blobs/{digest}"));
        let resp = self
            .send(Method::HEAD, &url, &[], None, &Self::scope(repo, true))
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(Self::failure(
                resp,
                &format!("checking blob {digest} on {}/{}", repo.registry, repo.name),
            )
            .await),
        }
    }

    /// Starts an upload, or mounts `digest` from `from` (another repository of the same
    /// registry): `Ok(None)` when the mount made the blob exist, else the upload location.
    async fn start_upload(
        &self,
        repo: &Repo,
        mount: Option<(&str, &str)>,
    ) -> Result<Option<String>> {
        let mut url = self.repo_url(repo, "blobs/uploads/");
        if let Some((digest, from)) = mount {
            url.push_str(&format!("?mount={digest}&from={from}"));
        }
        let resp = self
            .send(
                Method::POST,
                &url,
                &[("Content-Length", "0".into())],
                None,
                &Self::scope(repo, true),
            )
            .await?;
        match resp.status() {
            StatusCode::CREATED if mount.is_some() => Ok(None),
            StatusCode::ACCEPTED => {
                let loc = resp
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| Error::Http(format!("{url}: no Location for the upload")))?;
                Ok(Some(absolute(&url, loc)))
            }
            _ => Err(Self::failure(
                resp,
                &format!("starting an upload to {}/{}", repo.registry, repo.name),
            )
            .await),
        }
    }

    /// Mounts `digest` from repository `from`: true when the registry did.
    pub async fn mount_blob(&self, repo: &Repo, digest: &str, from: &str) -> Result<bool> {
        Ok(self
            .start_upload(repo, Some((digest, from)))
            .await?
            .is_none())
    }

    /// Uploads a blob in one request (`body` streams `size` bytes).
    pub async fn upload_blob(
        &self,
        repo: &Repo,
        digest: &str,
        size: u64,
        body: Body,
    ) -> Result<()> {
        let Some(loc) = self.start_upload(repo, None).await? else {
            return Ok(());
        };
        let sep = if loc.contains('?') { '&' } else { '?' };
        let url = format!("{loc}{sep}digest={digest}");
        let mut req = Request::builder()
            .method(Method::PUT)
            .uri(&url)
            .header("Content-Type", "application/octet-stream")
            .header("Content-Length", size.to_string());
        if let Some(tok) = self
            .tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&Self::scope(repo, true))
        {
            req = req.header("Authorization", tok.clone());
        }
        let req = req.body(body).map_err(|e| Error::Http(e.to_string()))?;
        let resp = self
            .http
            .request(req)
            .await
            .map_err(|e| Error::Http(format!("uploading {digest}: {}", error_chain(&e))))?;
        if resp.status() != StatusCode::CREATED {
            return Err(Self::failure(
                resp,
                &format!("uploading blob {digest} to {}/{}", repo.registry, repo.name),
            )
            .await);
        }
        Ok(())
    }

    /// `PUT /v2/<name>/manifests/<reference>`; returns the digest the registry reports.
    pub async fn put_manifest(
        &self,
        repo: &Repo,
        reference: &str,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<String> {
        let url = self.repo_url(repo, &format!("manifests/{reference}"));
        let resp = self
            .send(
                Method::PUT,
                &url,
                &[("Content-Type", media_type.to_string())],
                Some(bytes),
                &Self::scope(repo, true),
            )
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(Self::failure(
                resp,
                &format!(
                    "pushing manifest {}/{}:{reference}",
                    repo.registry, repo.name
                ),
            )
            .await);
        }
        Ok(resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string())
    }

    /// A streaming request body from a reader of `len` bytes, reporting progress.
    pub fn body_from_file(
        file: tokio::fs::File,
        progress: impl Fn(u64) + Send + Sync + 'static,
    ) -> Body {
        use futures_util::TryStreamExt;
        let mut sent = 0u64;
        let stream = tokio_util_reader(file).map_ok(move |chunk: Bytes| {
            sent += chunk.len() as u64;
            progress(sent);
            hyper::body::Frame::data(chunk)
        });
        http_body_util::StreamBody::new(stream).boxed()
    }
}

fn tokio_util_reader(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> {
    futures_util::stream::unfold(file, |mut f| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 256 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    })
}

fn basic(a: &Auth) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", a.username, a.password))
    )
}

fn absolute(base: &str, loc: &str) -> String {
    if loc.starts_with("http://") || loc.starts_with("https://") {
        return loc.to_string();
    }
    let origin_end = base
        .find("://")
        .map(|i| base[i + 3..].find('/').map_or(base.len(), |j| i + 3 + j))
        .unwrap_or(0);
    format!("{}{}", &base[..origin_end], loc)
}

fn parse_challenge(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((k, after)) = rest.split_once('=') else {
            break;
        };
        let k = k.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let (v, tail) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (&q[..end], &q[end + 1..]),
                None => (q, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        out.insert(k, v.to_string());
        rest = tail.trim_start_matches(',').trim();
    }
    out
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The target of a `Link: <url>; rel="next"` header (RFC 8288, as the distribution spec pages
/// tag lists).
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            })
            .then(|| target.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        let p = parse_challenge(
            r#"realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        );
        assert_eq!(p["realm"], "https://auth.docker.io/token");
        assert_eq!(p["service"], "registry.docker.io");
        assert_eq!(p["scope"], "repository:library/busybox:pull");
    }

    #[test]
    fn loopback_is_plain_http() {
        assert!(is_insecure("127.0.0.1:5000", &[]));
        assert!(is_insecure("localhost:5000", &[]));
        assert!(is_insecure("localhost", &[]));
        assert!(is_insecure("[::1]:5000", &[]));
        assert!(!is_insecure("registry.example.com", &[]));
        assert!(is_insecure(
            "registry.example.com:5000",
            &["registry.example.com:5000".into()]
        ));
        assert!(!is_insecure("10.0.0.1:5000", &[]));
    }

    #[test]
    fn locations_resolve() {
        assert_eq!(
            absolute(
                "http://h:5000/v2/x/blobs/uploads/",
                "/v2/x/blobs/uploads/u?s=1"
            ),
            "http://h:5000/v2/x/blobs/uploads/u?s=1"
        );
        assert_eq!(
            absolute("http://h/v2/", "https://other/a"),
            "https://other/a"
        );
    }

    #[test]
    fn next_page_links() {
        assert_eq!(
            super::next_link(r#"</v2/a/tags/list?n=2&last=b>; rel="next""#).as_deref(),
            Some("/v2/a/tags/list?n=2&last=b")
        );
        assert_eq!(
            super::next_link(r#"<http://r/x>; rel="prev", <http://r/y>; rel=next"#).as_deref(),
            Some("http://r/y")
        );
        assert_eq!(super::next_link(r#"<http://r/x>; rel="prev""#), None);
        assert_eq!(super::next_link("garbage"), None);
    }
}
