//! `berth registry serve`: the distribution spec's endpoints, status and error codes over raw
//! HTTP, berth's own pull/push through it, and the peers (dockerd, skopeo) against it when
//! they are installed.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::*;
use serde_json::{json, Value};

struct Server {
    child: Child,
    port: u16,
    _root: tempfile::TempDir,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let root = tempfile::tempdir().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args([
                "registry",
                "serve",
                "--addr",
                &format!("127.0.0.1:{port}"),
                "--root",
            ])
            .arg(root.path())
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("berth registry serve");
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        Server {
            child,
            port,
            _root: root,
        }
    }

    /// One request; returns (status, lowercase headers, body).
    fn req(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, String, Vec<u8>) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        let mut body = raw[split + 4..].to_vec();
        if head.contains("transfer-encoding: chunked") {
            body = dechunk(&body);
        }
        (status, head, body)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn header<'a>(head: &'a str, name: &str) -> &'a str {
    head.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or("")
        .trim()
}

fn code(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    v["errors"][0]["code"].as_str().unwrap_or("").to_string()
}

/// Pushes a blob with a monolithic POST; returns its digest.
fn put_blob(s: &Server, repo: &str, data: &[u8]) -> String {
    let d = sha256(data);
    let (st, _, b) = s.req(
        "POST",
        &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
        &[],
        data,
    );
    assert_eq!(st, 201, "{}", String::from_utf8_lossy(&b));
    d
}

#[test]
fn distribution_spec_endpoints_and_errors() {
    let s = Server::start(&[]);
    let (st, head, _) = s.req("GET", "/v2/", &[], b"");
    assert_eq!(st, 200);
    assert_eq!(
        header(&head, "docker-distribution-api-version"),
        "registry/2.0"
    );

    // Chunked upload: POST, PATCH in order, an out-of-order PATCH is 416, PUT with the digest.
    let (st, head, _) = s.req("POST", "/v2/team/app/blobs/uploads/", &[], b"");
    assert_eq!(st, 202);
    let loc = header(&head, "location").to_string();
    assert_eq!(header(&head, "range"), "0-0");
    let (st, head, _) = s.req(
        "PATCH",
        &loc,
        &[
            ("Content-Range", "0-4"),
            ("Content-Type", "application/octet-stream"),
        ],
        b"hello",
    );
    assert_eq!(st, 202);
    assert_eq!(header(&head, "range"), "0-4");
    let (st, _, _) = s.req("PATCH", &loc, &[("Content-Range", "9-12")], b"late");
    assert_eq!(st, 416);
    let (st, head, _) = s.req("GET", &loc, &[], b"");
    assert_eq!((st, header(&head, "range")), (204, "0-4"));
    let (st, _, _) = s.req("PATCH", &loc, &[("Content-Range", "5-10")], b" world");
    assert_eq!(st, 202);
    let digest = sha256(b"hello world");
    let (st, head, _) = s.req("PUT", &format!("{loc}?digest={digest}"), &[], b"");
    assert_eq!(st, 201);
    assert_eq!(header(&head, "docker-content-digest"), digest);
    let (st, head, body) = s.req("GET", &format!("/v2/team/app/blobs/{digest}"), &[], b"");
    assert_eq!((st, body.as_slice()), (200, &b"hello world"[..]));
    assert_eq!(header(&head, "content-length"), "11");
    let (st, _, body) = s.req(
        "GET",
        &format!("/v2/team/app/blobs/{digest}"),
        &[("Range", "bytes=6-")],
        b"",
    );
    assert_eq!((st, body.as_slice()), (206, &b"world"[..]));
    let (st, _, body) = s.req("HEAD", &format!("/v2/team/app/blobs/{digest}"), &[], b"");
    assert_eq!((st, body.len()), (200, 0));

    // A digest that does not match: 400 DIGEST_INVALID, and no blob.
    let wrong = sha256(b"something else");
    let (st, _, body) = s.req(
        "POST",
        &format!("/v2/team/app/blobs/uploads/?digest={wrong}"),
        &[],
        b"payload",
    );
    assert_eq!((st, code(&body).as_str()), (400, "DIGEST_INVALID"));
    let (st, _, body) = s.req("HEAD", &format!("/v2/team/app/blobs/{wrong}"), &[], b"");
    assert_eq!(st, 404, "{}", String::from_utf8_lossy(&body));
    let (st, _, body) = s.req("GET", "/v2/team/app/blobs/sha256:xyz", &[], b"");
    assert_eq!((st, code(&body).as_str()), (400, "DIGEST_INVALID"));
    let (st, _, body) = s.req("GET", &format!("/v2/team/app/blobs/{wrong}"), &[], b"");
    assert_eq!((st, code(&body).as_str()), (404, "BLOB_UNKNOWN"));
    let (st, _, body) = s.req("GET", "/v2/Team/App/tags/list", &[], b"");
    assert_eq!((st, code(&body).as_str()), (400, "NAME_INVALID"));
    let (st, _, body) = s.req("PATCH", "/v2/team/app/blobs/uploads/0123abcd", &[], b"x");
    assert_eq!((st, code(&body).as_str()), (404, "BLOB_UPLOAD_UNKNOWN"));

    // Cross-repository mount: 201 when the source has it; a fresh session (202) when not.
    let (st, head, _) = s.req(
        "POST",
        &format!("/v2/other/repo/blobs/uploads/?mount={digest}&from=team/app"),
        &[],
        b"",
    );
    assert_eq!(st, 201);
    assert_eq!(header(&head, "docker-content-digest"), digest);
    let (st, _, _) = s.req(
        "POST",
        &format!("/v2/third/blobs/uploads/?mount={digest}&from=nowhere"),
        &[],
        b"",
    );
    assert_eq!(st, 202);

    // Manifests: referenced blobs must exist; by tag and by digest; tags paginate.
    let config = put_blob(&s, "team/app", b"{}");
    let layer = put_blob(&s, "team/app", b"layer bytes");
    let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": 11}]});
    let mbytes = serde_json::to_vec(&manifest).unwrap();
    let ct = ("Content-Type", "application/vnd.oci.image.manifest.v1+json");
    let missing = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(b"nope"), "size": 4}, "layers": []});
    let (st, _, body) = s.req(
        "PUT",
        "/v2/team/app/manifests/v0",
        &[ct],
        &serde_json::to_vec(&missing).unwrap(),
    );
    assert_eq!((st, code(&body).as_str()), (400, "MANIFEST_BLOB_UNKNOWN"));
    let (st, _, body) = s.req("PUT", "/v2/team/app/manifests/v0", &[ct], b"{not json");
    assert_eq!((st, code(&body).as_str()), (400, "MANIFEST_INVALID"));
    for t in ["v1", "v2", "v3", "latest"] {
        let (st, head, _) = s.req(
            "PUT",
            &format!("/v2/team/app/manifests/{t}"),
            &[ct],
            &mbytes,
        );
        assert_eq!(st, 201);
        assert_eq!(header(&head, "docker-content-digest"), sha256(&mbytes));
    }
    let mdigest = sha256(&mbytes);
    let (st, head, body) = s.req("GET", "/v2/team/app/manifests/v2", &[], b"");
    assert_eq!((st, body.as_slice()), (200, mbytes.as_slice()));
    assert_eq!(
        header(&head, "content-type"),
        "application/vnd.oci.image.manifest.v1+json"
    );
    let (st, _, _) = s.req(
        "GET",
        &format!("/v2/team/app/manifests/{mdigest}"),
        &[],
        b"",
    );
    assert_eq!(st, 200);
    let (st, _, body) = s.req("GET", "/v2/team/app/manifests/nope", &[], b"");
    assert_eq!((st, code(&body).as_str()), (404, "MANIFEST_UNKNOWN"));
    let (st, head, body) = s.req("GET", "/v2/team/app/tags/list?n=2", &[], b"");
    assert_eq!(st, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["tags"], json!(["latest", "v1"]));
    assert!(header(&head, "link").contains("last=v1"), "{head}");
    let (_, _, body) = s.req("GET", "/v2/team/app/tags/list?n=2&last=v1", &[], b"");
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["tags"], json!(["v2", "v3"]));
    let (st, _, body) = s.req("GET", "/v2/never/pushed/tags/list", &[], b"");
    assert_eq!((st, code(&body).as_str()), (404, "NAME_UNKNOWN"));

    // Referrers: a manifest whose subject is the image, filtered by artifactType.
    let sig = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.example.sig",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config, "size": 2},
        "layers": [], "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mdigest, "size": mbytes.len()}});
    let sbytes = serde_json::to_vec(&sig).unwrap();
    let (st, head, _) = s.req(
        "PUT",
        &format!("/v2/team/app/manifests/{}", sha256(&sbytes)),
        &[ct],
        &sbytes,
    );
    assert_eq!(st, 201);
    assert_eq!(header(&head, "oci-subject"), mdigest);
    let (st, _, body) = s.req(
        "GET",
        &format!("/v2/team/app/referrers/{mdigest}"),
        &[],
        b"",
    );
    assert_eq!(st, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        v["manifests"][0]["artifactType"],
        "application/vnd.example.sig"
    );
    let (_, head, body) = s.req(
        "GET",
        &format!("/v2/team/app/referrers/{mdigest}?artifactType=other"),
        &[],
        b"",
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["manifests"],
        json!([])
    );
    assert_eq!(header(&head, "oci-filters-applied"), "artifacttype");

    // Content management: delete a tag, a manifest (its tags go too), a blob.
    let (st, _, _) = s.req("DELETE", "/v2/team/app/manifests/v3", &[], b"");
    assert_eq!(st, 202);
    let (st, _, _) = s.req("GET", "/v2/team/app/manifests/v3", &[], b"");
    assert_eq!(st, 404);
    let (st, _, _) = s.req(
        "DELETE",
        &format!("/v2/team/app/manifests/{mdigest}"),
        &[],
        b"",
    );
    assert_eq!(st, 202);
    let (st, _, _) = s.req("GET", "/v2/team/app/manifests/v1", &[], b"");
    assert_eq!(st, 404);
    let (st, _, _) = s.req("DELETE", &format!("/v2/team/app/blobs/{layer}"), &[], b"");
    assert_eq!(st, 202);
    let (st, _, _) = s.req("GET", &format!("/v2/team/app/blobs/{layer}"), &[], b"");
    assert_eq!(st, 404);
}

#[test]
fn basic_auth_from_htpasswd() {
    let hash = Command::new("/usr/bin/python3")
        .args([
            "-W",
            "ignore",
            "-c",
            "import crypt; print(crypt.crypt('pw', crypt.mksalt(crypt.METHOD_BLOWFISH)))",
        ])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|h| h.starts_with("$2"));
    let Some(hash) = hash else {
        eprintln!("skipped: no bcrypt (python3 crypt)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("htpasswd");
    std::fs::write(&file, format!("alice:{hash}\n")).unwrap();
    let s = Server::start(&["--htpasswd", file.to_str().unwrap()]);
    let (st, head, body) = s.req("GET", "/v2/", &[], b"");
    assert_eq!((st, code(&body).as_str()), (401, "UNAUTHORIZED"));
    assert!(
        header(&head, "www-authenticate").starts_with("basic"),
        "{head}"
    );
    let (st, _, _) = s.req(
        "GET",
        "/v2/",
        &[("Authorization", "Basic YWxpY2U6d3Jvbmc=")],
        b"",
    );
    assert_eq!(st, 401);
    let (st, _, _) = s.req(
        "GET",
        "/v2/",
        &[("Authorization", "Basic YWxpY2U6cHc=")],
        b"",
    );
    assert_eq!(st, 200);
}

#[test]
fn berth_docker_and_skopeo_move_images_through_it() {
    let Some(d) = busybox_daemon() else { return };
    let s = Server::start(&[]);
    let r = format!("127.0.0.1:{}", s.port);
    let img = format!("{r}/bb/box:1");
    d.ok(&["tag", "busybox", &img]);
    let out = d.ok(&["push", &img]);
    assert!(out.contains("Pushed"), "{out}");
    assert!(d.ok(&["push", &img]).contains("Layer already exists"));
    let other = format!("{r}/bb/copy:1");
    d.ok(&["tag", "busybox", &other]);
    assert!(d.ok(&["push", &other]).contains("Mounted from bb/box"));
    let id = d.ok(&["image", "inspect", "-f", "{{.Id}}", &img]);
    d.ok(&["rmi", "-f", id.trim()]);
    let out = d.ok(&["pull", &img]);
    assert!(out.contains("Pull complete"), "{out}");
    assert_eq!(d.ok(&["run", "--rm", &img, "echo", "ok"]), "ok\n");

    if Path::new("/usr/bin/skopeo").exists() {
        let dir = tempfile::tempdir().unwrap();
        let layout = format!("oci:{}:t", dir.path().display());
        let out = Command::new("skopeo")
            .args([
                "copy",
                "--src-tls-verify=false",
                &format!("docker://{img}"),
                &layout,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo pull: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = Command::new("skopeo")
            .args([
                "copy",
                "--dest-tls-verify=false",
                &layout,
                &format!("docker://{r}/skopeo/bb:2"),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo push: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        d.ok(&["pull", &format!("{r}/skopeo/bb:2")]);
    } else {
        eprintln!("skipped skopeo part: not installed");
    }
    let dockerd = Command::new("/usr/bin/docker")
        .args(["-H", "unix:///var/run/docker.sock", "version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|st| st.success());
    if dockerd {
        let dk = |args: &[&str]| {
            Command::new("/usr/bin/docker")
                .args(["-H", "unix:///var/run/docker.sock"])
                .args(args)
                .output()
                .unwrap()
        };
        let out = dk(&["pull", &img]);
        assert!(
            out.status.success(),
            "docker pull: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let theirs = format!("{r}/fromdocker/bb:1");
        assert!(dk(&["tag", "busybox:local", &theirs]).status.success());
        let out = dk(&["push", &theirs]);
        assert!(
            out.status.success(),
            "docker push: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        d.ok(&["pull", &theirs]);
        assert_eq!(d.ok(&["run", "--rm", &theirs, "echo", "hi"]), "hi\n");
        let _ = dk(&["rmi", "-f", &img, &theirs]);
    } else {
        eprintln!("skipped docker part: the peer dockerd is not running");
    }
}

#[test]
fn fifty_concurrent_pushes_of_overlapping_images_keep_every_blob_intact() {
    let s = std::sync::Arc::new(Server::start(&[]));
    // Ten shared layers; each of 50 pushers uploads three of them plus one of its own, then its
    // manifest, all at once.
    let shared: Vec<Vec<u8>> = (0..10).map(|i| payload(100 + i, 200_000)).collect();
    let handles: Vec<_> = (0..50u64)
        .map(|n| {
            let s = s.clone();
            let shared = shared.clone();
            std::thread::spawn(move || {
                let repo = format!("load/img{}", n % 7);
                let own = payload(1000 + n, 50_000);
                let mut layers = vec![own];
                for k in 0..3 {
                    layers.push(shared[((n + k * 3) % 10) as usize].clone());
                }
                let config = format!("{{\"n\":{n}}}").into_bytes();
                for blob in layers.iter().chain(std::iter::once(&config)) {
                    put_blob(&s, &repo, blob);
                }
                let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&config), "size": config.len()},
                    "layers": layers.iter().map(|l| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(l), "size": l.len()})).collect::<Vec<_>>()});
                let body = serde_json::to_vec(&manifest).unwrap();
                let (st, _, b) = s.req("PUT", &format!("/v2/{repo}/manifests/t{n}"), &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")], &body);
                assert_eq!(st, 201, "{}", String::from_utf8_lossy(&b));
                (repo, layers)
            })
        })
        .collect();
    for h in handles {
        let (repo, layers) = h.join().expect("a pusher panicked");
        for l in layers {
            let (st, _, body) = s.req("GET", &format!("/v2/{repo}/blobs/{}", sha256(&l)), &[], b"");
            assert_eq!(st, 200);
            assert_eq!(sha256(&body), sha256(&l), "a blob came back different");
        }
    }
    // Oversized manifests are refused with 413.
    let big = vec![b' '; 5 << 20];
    let (st, _, body) = s.req(
        "PUT",
        "/v2/load/img0/manifests/huge",
        &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
        &big,
    );
    assert_eq!((st, code(&body).as_str()), (413, "SIZE_INVALID"));
}
