//! Runs CLI commands against an in-process HTTP server on a temp unix socket that answers like a
//! Docker daemon, and checks what a user would see (stdout, stderr, exit status) and what the
//! daemon received (paths, queries, bodies).

use std::io::Write;
use std::sync::{Arc, Mutex};

use berth_cli::streams::Streams;
use berth_cli::{run_command, Cli};
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::UnixListener;

/// What the mock daemon saw.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    uri: String,
    user_agent: String,
    body: Bytes,
}

/// A canned answer: status, content type, body.
type Reply = (u16, &'static str, Vec<u8>);

struct MockDaemon {
    _dir: tempfile::TempDir,
    host: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// Serves one connection with `route`, recording each request.
async fn serve<S>(stream: S, route: fn(&str, &str, &[u8]) -> Reply, seen: Arc<Mutex<Vec<Seen>>>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req: Request<Incoming>| {
        let seen = seen.clone();
        async move {
            let method = req.method().to_string();
            let uri = req.uri().to_string();
            let user_agent = req
                .headers()
                .get("user-agent")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let body = req.into_body().collect().await?.to_bytes();
            let (status, ct, reply) = route(&method, &uri, &body);
            if let Ok(mut s) = seen.lock() {
                s.push(Seen {
                    method,
                    uri,
                    user_agent,
                    body,
                });
            }
            Ok::<_, hyper::Error>(
                Response::builder()
                    .status(status)
                    .header("content-type", ct)
                    .body(Full::new(Bytes::from(reply)))
                    .unwrap_or_else(|e| panic!("{e}")),
            )
        }
    });
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), svc)
        .await;
}

/// A mock daemon on a temp unix socket.
fn start(route: fn(&str, &str, &[u8]) -> Reply) -> MockDaemon {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("berth.sock");
    let listener = UnixListener::bind(&path).unwrap_or_else(|e| panic!("{e}"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, route, seen2.clone()));
        }
    });
    MockDaemon {
        host: format!("unix://{}", path.display()),
        _dir: dir,
        seen,
    }
}

impl MockDaemon {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        self.0
            .lock()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

struct Outcome {
    stdout: String,
    stderr: String,
    code: i32,
}

/// Runs `berth -H <host> args...` with captured streams (stdin and stdout not terminals).
async fn berth(host: &str, args: &[&str]) -> Outcome {
    let mut argv = vec!["-H", host];
    argv.extend_from_slice(args);
    berth_with(&argv).await
}

/// Runs `berth args...` with captured streams.
async fn berth_with(args: &[&str]) -> Outcome {
    let mut argv = vec!["berth"];
    argv.extend_from_slice(args);
    let cli = Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{e}"));
    let out = Captured::default();
    let err = Captured::default();
    let streams = Streams {
        out: Box::new(out.clone()),
        err: Box::new(err.clone()),
        stdin_is_terminal: false,
        stdout_is_terminal: false,
        input: Some(Box::new(tokio::io::empty())),
    };
    let command = cli.command.unwrap_or_else(|| panic!("no command"));
    // Commands run on a multi-threaded runtime too: the future is Send.
    let (code, _) = tokio::spawn(run_command(cli.global, command, streams))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    Outcome {
        stdout: out.text(),
        stderr: err.text(),
        code,
    }
}

const JSON: &str = "application/json";

fn json(status: u16, v: serde_json::Value) -> Reply {
    (status, JSON, v.to_string().into_bytes())
}

fn images_route(method: &str, uri: &str, _body: &[u8]) -> Reply {
    let now = chrono::Utc::now().timestamp();
    match (method, uri.split('?').next().unwrap_or("")) {
        ("GET", "/v1.41/images/json") => json(
            200,
            serde_json::json!([
                {"Id": "sha256:a416a98b71e224a31ee99cff8e16063554498227d2b696152a9c3e0aa65e5824",
                 "RepoTags": ["busybox:latest"], "RepoDigests": [], "Created": now - 7200,
                 "Size": 4_261_000, "SharedSize": -1, "Containers": -1}
            ]),
        ),
        ("GET", "/v1.41/images/busybox:latest/json") => (
            200,
            JSON,
            br#"{"Id":"sha256:a416","RepoTags":["busybox:latest"],"Config":{"Cmd":["sh"]}}"#
                .to_vec(),
        ),
        ("GET", p) if p.starts_with("/v1.41/images/") && p.ends_with("/json") => json(
            404,
            serde_json::json!({"message": format!("No such image: {}", &p[14..p.len() - 5])}),
        ),
        ("DELETE", "/v1.41/images/busybox") => json(
            200,
            serde_json::json!([{"Untagged": "busybox:latest"}, {"Deleted": "sha256:a416"}]),
        ),
        ("DELETE", _) => json(
            404,
            serde_json::json!({"message": "No such image: nope:latest"}),
        ),
        ("POST", "/v1.41/images/busybox/tag") => (201, "text/plain", Vec::new()),
        ("POST", "/v1.41/images/load") => (
            200,
            JSON,
            b"{\"stream\":\"Loaded image: busybox:latest\\n\"}\r\n".to_vec(),
        ),
        ("POST", "/v1.41/images/create") => {
            (200, JSON, b"{\"status\":\"sha256:abcdef\"}\r\n".to_vec())
        }
        ("GET", "/v1.41/images/get") if uri.contains("names=broken") => {
            json(500, serde_json::json!({"message": "export failed"}))
        }
        ("GET", "/v1.41/images/get") => (200, "application/x-tar", b"TARDATA".repeat(1000)),
        ("POST", "/v1.41/images/prune") => json(
            200,
            serde_json::json!({"ImagesDeleted": [{"Deleted": "sha256:0f5f"}], "SpaceReclaimed": 77_812_345}),
        ),
        ("GET", "/v1.41/events") => (
            200,
            JSON,
            concat!(
                r#"{"status":"tag","id":"sha256:a416","Type":"image","Action":"tag","Actor":{"ID":"sha256:a416","Attributes":{"name":"busybox:mine"}},"scope":"local","time":1795521600,"timeNano":1795521600000000000}"#,
                "\n",
                r#"{"Type":"image","Action":"delete","Actor":{"ID":"sha256:0f5f","Attributes":{}},"time":1795521601,"timeNano":1795521601000000000}"#,
                "\n"
            )
            .as_bytes()
            .to_vec(),
        ),
        ("GET", "/v1.41/system/df") => json(
            200,
            serde_json::json!({"LayersSize": 0, "Images": [], "Containers": [], "Volumes": [], "BuildCache": null}),
        ),
        ("GET", "/v1.41/system/check") => json(
            200,
            serde_json::json!({"Problems": ["blob sha256:ab is missing"]}),
        ),
        ("GET", "/v1.41/version") => json(
            200,
            serde_json::json!({"Version": "0.1.0", "ApiVersion": "1.41", "MinAPIVersion": "1.24",
                               "Os": "linux", "Arch": "amd64", "KernelVersion": "6.1.0"}),
        ),
        _ => json(
            404,
            serde_json::json!({"message": format!("page not found: {uri}")}),
        ),
    }
}

#[tokio::test]
async fn images_table_over_the_socket() {
    let d = start(images_route);
    let o = berth(&d.host, &["images"]).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        o.stdout,
        "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\nbusybox      latest    a416a98b71e2   2 hours ago   4.26MB\n"
    );
    let seen = d.seen();
    assert_eq!(seen[0].uri, "/v1.41/images/json");
    assert!(seen[0].user_agent.starts_with("berth-cli/"));

    let _ = berth(
        &d.host,
        &["image", "ls", "-a", "-f", "dangling=true", "busy*"],
    )
    .await;
    assert_eq!(
        d.seen()[1].uri,
        "/v1.41/images/json?all=1&filters=%7B%22dangling%22%3A%5B%22true%22%5D%2C%22reference%22%3A%5B%22busy%2A%22%5D%7D"
    );
}

#[tokio::test]
async fn inspect_prints_found_then_errors() {
    let d = start(images_route);
    let o = berth(&d.host, &["image", "inspect", "busybox:latest", "nope"]).await;
    assert_eq!(o.code, 1);
    assert_eq!(
        o.stdout,
        "[\n    {\n        \"Id\": \"sha256:a416\",\n        \"RepoTags\": [\n            \"busybox:latest\"\n        ],\n        \"Config\": {\n            \"Cmd\": [\n                \"sh\"\n            ]\n        }\n    }\n]\n"
    );
    assert_eq!(o.stderr, "Error: No such image: nope\n");

    let o = berth(&d.host, &["image", "inspect", "nope"]).await;
    assert_eq!(
        (o.stdout.as_str(), o.stderr.as_str(), o.code),
        ("[]\n", "Error: No such image: nope\n", 1)
    );

    let o = berth(
        &d.host,
        &[
            "inspect",
            "-f",
            "{{.Id}} {{json .Config.Cmd}}",
            "busybox:latest",
        ],
    )
    .await;
    assert_eq!((o.stdout.as_str(), o.code), ("sha256:a416 [\"sh\"]\n", 0));

    let o = berth(&d.host, &["inspect", "nope"]).await;
    assert_eq!(o.stderr, "Error: No such object: nope\n");
}

#[tokio::test]
async fn rmi_continues_after_errors() {
    let d = start(images_route);
    let o = berth(&d.host, &["rmi", "nope", "busybox"]).await;
    assert_eq!(o.stdout, "Untagged: busybox:latest\nDeleted: sha256:a416\n");
    assert_eq!(
        o.stderr,
        "Error response from daemon: No such image: nope:latest\n"
    );
    assert_eq!(o.code, 1);
    let o = berth(&d.host, &["image", "rm", "-f", "--no-prune", "nope"]).await;
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (
            0,
            "Error response from daemon: No such image: nope:latest\n"
        )
    );
    assert_eq!(d.seen()[2].uri, "/v1.41/images/nope?force=1&noprune=1");
}

#[tokio::test]
async fn tag_splits_repo_and_tag() {
    let d = start(images_route);
    let o = berth(&d.host, &["tag", "busybox", "localhost:5000/mine"]).await;
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (0, "", ""));
    let seen = d.seen();
    assert_eq!(seen[0].method, "POST");
    assert_eq!(
        seen[0].uri,
        "/v1.41/images/busybox/tag?repo=localhost%3A5000%2Fmine&tag=latest"
    );
}

#[tokio::test]
async fn load_streams_the_file_and_prints_messages() {
    let d = start(images_route);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let tar = dir.path().join("img.tar");
    let content = b"0123456789".repeat(100_000);
    std::fs::write(&tar, &content).unwrap_or_else(|e| panic!("{e}"));
    let path = tar.display().to_string();
    let o = berth(&d.host, &["load", "-i", &path]).await;
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (0, "Loaded image: busybox:latest\n"),
        "{}",
        o.stderr
    );
    let seen = d.seen();
    assert_eq!(seen[0].uri, "/v1.41/images/load?quiet=1");
    assert_eq!(seen[0].body.len(), content.len());
    assert!(seen[0].body == content[..]);

    let o = berth(&d.host, &["load", "-i", "/nonexistent/x.tar"]).await;
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.starts_with("open /nonexistent/x.tar: "),
        "{}",
        o.stderr
    );
}

#[tokio::test]
async fn stream_errors_fail_the_command() {
    fn route(_: &str, _: &str, _: &[u8]) -> Reply {
        (
            200,
            JSON,
            b"{\"stream\":\"Loading layer\\n\"}\n{\"errorDetail\":{\"message\":\"unexpected EOF in tar\"},\"error\":\"unexpected EOF in tar\"}\n".to_vec(),
        )
    }
    let d = start(route);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let tar = dir.path().join("img.tar");
    std::fs::write(&tar, b"x").unwrap_or_else(|e| panic!("{e}"));
    let o = berth(
        &d.host,
        &["image", "load", "--input", &tar.display().to_string()],
    )
    .await;
    assert_eq!(o.stdout, "Loading layer\n");
    assert_eq!(o.stderr, "unexpected EOF in tar\n");
    assert_eq!(o.code, 1);
}

#[tokio::test]
async fn save_writes_atomically() {
    let d = start(images_route);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = dir.path().join("out.tar");
    let out_s = out.display().to_string();
    let o = berth(&d.host, &["save", "-o", &out_s, "busybox", "alpine:3"]).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(std::fs::read(&out).ok(), Some(b"TARDATA".repeat(1000)));
    assert_eq!(
        d.seen()[0].uri,
        "/v1.41/images/get?names=busybox&names=alpine%3A3"
    );

    let failed = dir.path().join("failed.tar");
    let o = berth(
        &d.host,
        &[
            "image",
            "save",
            "-o",
            &failed.display().to_string(),
            "broken",
        ],
    )
    .await;
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "Error response from daemon: export failed\n")
    );
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .map(|r| r.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert_eq!(names, vec![std::ffi::OsString::from("out.tar")]);

    let o = berth(&d.host, &["save", "busybox"]).await;
    assert_eq!(o.stdout.len(), 7000);
}

#[tokio::test]
async fn import_prints_the_image_id() {
    let d = start(images_route);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let tar = dir.path().join("rootfs.tar");
    std::fs::write(&tar, b"rootfs").unwrap_or_else(|e| panic!("{e}"));
    let o = berth(
        &d.host,
        &[
            "import",
            "-c",
            "CMD [\"sh\"]",
            &tar.display().to_string(),
            "myimg:v1",
        ],
    )
    .await;
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (0, "sha256:abcdef\n"),
        "{}",
        o.stderr
    );
    let seen = d.seen();
    assert_eq!(
        seen[0].uri,
        "/v1.41/images/create?fromSrc=-&repo=myimg&tag=v1&changes=CMD%20%5B%22sh%22%5D"
    );
    assert_eq!(&seen[0].body[..], b"rootfs");
}

#[tokio::test]
async fn system_check_and_version() {
    let d = start(images_route);
    let o = berth(&d.host, &["system", "check"]).await;
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (1, "blob sha256:ab is missing\n")
    );
    let o = berth(
        &d.host,
        &[
            "version",
            "--format",
            "{{.Server.Version}} {{.Client.ApiVersion}}",
        ],
    )
    .await;
    assert_eq!((o.code, o.stdout.as_str()), (0, "0.1.0 1.41\n"));
    let o = berth(&d.host, &["version"]).await;
    assert!(o.stdout.contains("\nServer:\n Engine:\n  Version:          0.1.0\n  API version:      1.41 (minimum version 1.24)\n"), "{}", o.stdout);
}

#[tokio::test]
async fn unreachable_daemon() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let host = format!("unix://{}/missing.sock", dir.path().display());
    let o = berth(&host, &["images"]).await;
    assert_eq!(o.code, 1);
    assert_eq!(
        o.stderr,
        format!("Cannot connect to the berth daemon at {host}. Is the berth daemon running?\n")
    );
    let o = berth(&host, &["version"]).await;
    assert_eq!(o.code, 1);
    assert!(o.stdout.starts_with("Client:\n Version:  "));
    assert!(o.stderr.starts_with("Cannot connect to the berth daemon"));
}

#[tokio::test]
async fn bad_filter_and_template() {
    let d = start(images_route);
    let o = berth(&d.host, &["images", "--filter", "nonsense"]).await;
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "bad format of filter (expected name=value)\n")
    );
    let o = berth(&d.host, &["images", "--format", "{{.ID"]).await;
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "template parsing error: template: :1: unclosed action\n")
    );
    let o = berth(
        &d.host,
        &["image", "inspect", "-f", "{{.Id", "busybox:latest"],
    )
    .await;
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (
            64,
            "template parsing error: template: :1: unclosed action\n"
        )
    );
}

/// Test-only certificates (tests/tls/, made with openssl for this suite): a CA, a server
/// certificate for 127.0.0.1 and a client certificate, all signed by the CA.
mod tls {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use rustls::server::WebPkiClientVerifier;
    use rustls::{RootCertStore, ServerConfig};
    use tokio::net::TcpListener;
    use tokio_rustls::TlsAcceptor;

    use super::*;

    pub fn file(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/tls")
            .join(name)
    }

    fn certs(name: &str) -> Vec<CertificateDer<'static>> {
        let pem = std::fs::read(file(name)).unwrap_or_else(|e| panic!("{e}"));
        rustls_pemfile::certs(&mut pem.as_slice())
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn key(name: &str) -> PrivateKeyDer<'static> {
        let pem = std::fs::read(file(name)).unwrap_or_else(|e| panic!("{e}"));
        rustls_pemfile::private_key(&mut pem.as_slice())
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("no key in {name}"))
    }

    /// A mock daemon on 127.0.0.1 speaking TLS and requiring a client certificate from the CA.
    pub async fn start_tls(
        route: fn(&str, &str, &[u8]) -> Reply,
    ) -> (String, Arc<Mutex<Vec<Seen>>>) {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        for c in certs("ca.pem") {
            roots.add(c).unwrap_or_else(|e| panic!("{e}"));
        }
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .unwrap_or_else(|e| panic!("{e}"));
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap_or_else(|e| panic!("{e}"))
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs("server-cert.pem"), key("server-key.pem"))
            .unwrap_or_else(|e| panic!("{e}"));
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let port = listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("{e}"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let seen = seen2.clone();
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(stream).await {
                        serve(tls, route, seen).await;
                    }
                });
            }
        });
        (format!("tcp://127.0.0.1:{port}"), seen)
    }
}

#[tokio::test]
async fn mutual_tls_over_tcp() {
    let (host, seen) = tls::start_tls(images_route).await;
    let ca = tls::file("ca.pem").display().to_string();
    let cert = tls::file("client-cert.pem").display().to_string();
    let key = tls::file("client-key.pem").display().to_string();
    let fmt = "{{.Server.Version}}";
    let o = berth_with(&[
        "-H",
        &host,
        "--tlsverify",
        "--tlscacert",
        &ca,
        "--tlscert",
        &cert,
        "--tlskey",
        &key,
        "version",
        "-f",
        fmt,
    ])
    .await;
    assert_eq!(
        (o.code, o.stdout.as_str(), o.stderr.as_str()),
        (0, "0.1.0\n", "")
    );
    assert_eq!(seen.lock().map(|s| s.len()).unwrap_or(0), 1);

    // --tls without --tlsverify encrypts but does not check the server certificate.
    let o = berth_with(&[
        "-H",
        &host,
        "--tls",
        "--tlscert",
        &cert,
        "--tlskey",
        &key,
        "version",
        "-f",
        fmt,
    ])
    .await;
    assert_eq!((o.code, o.stdout.as_str()), (0, "0.1.0\n"), "{}", o.stderr);

    // Without a client certificate the daemon refuses the handshake.
    let o = berth_with(&["-H", &host, "--tlsverify", "--tlscacert", &ca, "images"]).await;
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.starts_with("error during connect: "),
        "{}",
        o.stderr
    );

    // A CA that did not sign the server certificate is rejected by the client.
    let o = berth_with(&[
        "-H",
        &host,
        "--tlsverify",
        "--tlscacert",
        &cert,
        "--tlscert",
        &cert,
        "--tlskey",
        &key,
        "images",
    ])
    .await;
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("error during connect"), "{}", o.stderr);
}

#[tokio::test]
async fn prune_events_and_df() {
    let d = start(images_route);
    let o = berth(
        &d.host,
        &["image", "prune", "-f", "-a", "--filter", "until=24h"],
    )
    .await;
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (
            0,
            "Deleted Images:\ndeleted: sha256:0f5f\n\nTotal reclaimed space: 77.81MB\n"
        )
    );
    assert_eq!(
        d.seen()[0].uri,
        "/v1.41/images/prune?filters=%7B%22dangling%22%3A%5B%22false%22%5D%2C%22until%22%3A%5B%2224h%22%5D%7D"
    );

    let o = berth(
        &d.host,
        &[
            "events",
            "--since",
            "1795521000",
            "--filter",
            "type=image",
            "--format",
            "{{.Action}} {{.Actor.ID}}",
        ],
    )
    .await;
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (0, "tag sha256:a416\ndelete sha256:0f5f\n"),
        "{}",
        o.stderr
    );
    assert_eq!(
        d.seen()[1].uri,
        "/v1.41/events?since=1795521000&filters=%7B%22type%22%3A%5B%22image%22%5D%7D"
    );
    let o = berth(&d.host, &["system", "events"]).await;
    assert_eq!(o.stdout.lines().count(), 2);
    assert!(o
        .stdout
        .lines()
        .next()
        .unwrap_or_default()
        .ends_with(" image tag sha256:a416 (name=busybox:mine)"));

    let o = berth(&d.host, &["system", "df"]).await;
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (0, "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE\nImages          0         0         0B        0B\nContainers      0         0         0B        0B\nLocal Volumes   0         0         0B        0B\nBuild Cache     0         0         0B        0B\n")
    );
}
