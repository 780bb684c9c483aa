//! End-to-end image workflows through the CLI, the API and a real daemon process.

mod common;

use common::*;
use serde_json::Value;

fn base_layer() -> Vec<u8> {
    layer_tar(&[
        Entry::Dir("bin"),
        Entry::File("bin/tool", payload(1, 300_000), 0o755),
        Entry::Dir("etc"),
        Entry::File("etc/os", b"berth-test\n".to_vec(), 0o644),
        Entry::Symlink("bin/alias", "tool"),
        Entry::Hardlink("bin/tool2", "bin/tool"),
    ])
}

fn app_layer(seed: u64, size: usize) -> Vec<u8> {
    layer_tar(&[
        Entry::Dir("app"),
        Entry::File("app/data", payload(seed, size), 0o644),
    ])
}

fn inspect(d: &Daemon, name: &str) -> Value {
    let out = d.ok(&["image", "inspect", name]);
    let v: Value = serde_json::from_str(&out).expect("inspect JSON");
    v[0].clone()
}

#[test]
fn load_list_inspect_history_save_roundtrip() {
    let d = Daemon::start();
    let img = TestImage::new(vec![base_layer(), app_layer(2, 100_000)], &["demo:1.0"]);
    let out = d.load_bytes(&docker_archive(&[&img]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "Loaded image: demo:1.0"
    );

    // `images` table: repository, tag, short id, size of both layers (file bytes + symlink).
    let table = d.ok(&["images"]);
    let mut lines = table.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or("")
        .split("  ")
        .filter(|s| !s.is_empty())
        .map(str::trim)
        .collect();
    assert_eq!(header, ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]);
    let row = lines.next().expect("one row");
    let id = img.id();
    assert!(row.starts_with("demo "), "{row}");
    assert!(row.contains(" 1.0 "), "{row}");
    assert!(row.contains(&id[7..19]), "{row}");
    // 300000 (tool, hardlink counted once) + 11 (etc/os) + 4 (symlink "tool") + 100000.
    let expected_size: u64 = 300_000 + 11 + 4 + 100_000;
    assert!(row.trim_end().ends_with("400kB"), "{row}");
    assert_eq!(d.ok(&["images", "-q"]).trim(), &id[7..19]);

    let v = inspect(&d, "demo:1.0");
    assert_eq!(v["Id"], id.as_str());
    assert_eq!(v["RepoTags"][0], "demo:1.0");
    assert_eq!(v["Size"].as_u64(), Some(expected_size));
    assert_eq!(v["RootFS"]["Layers"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["RootFS"]["Layers"][0], sha256(&base_layer()).as_str());
    assert_eq!(v["Config"]["Cmd"][0], "sh");
    assert_eq!(v["Os"], "linux");
    // Short-id and full-id lookups find the same image.
    assert_eq!(inspect(&d, &id[7..19])["Id"], id.as_str());
    assert_eq!(d.ok(&["image", "inspect", "-f", "{{.Id}}", &id]).trim(), id);

    // History: newest first, metadata-only step has size 0, only the top row has the ID.
    let (status, hist) = d.api_json("GET", "/v1.41/images/demo:1.0/history");
    assert_eq!(status, 200);
    let rows = hist.as_array().expect("array");
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["Id"], id.as_str());
    assert_eq!(rows[0]["Size"], 0);
    assert_eq!(rows[1]["Size"], 100_000);
    assert_eq!(rows[1]["Id"], "<missing>");
    assert_eq!(rows[2]["CreatedBy"], "step 0");
    let text = d.ok(&["history", "demo:1.0"]);
    assert!(text.contains("step 1"), "{text}");
    assert!(text.contains("<missing>"), "{text}");

    // save → remove → load gives back the same image ID and tag.
    let saved = d.dir.path().join("saved.tar");
    d.ok(&["save", "-o", saved.to_str().unwrap(), "demo:1.0"]);
    let listing = tar_names(&std::fs::read(&saved).unwrap());
    for must in ["manifest.json", "index.json", "oci-layout"] {
        assert!(
            listing.iter().any(|n| n == must),
            "{must} missing from {listing:?}"
        );
    }
    assert!(listing
        .iter()
        .any(|n| n == &format!("blobs/sha256/{}", &id[7..])));
    let rm = d.ok(&["rmi", "demo:1.0"]);
    assert!(rm.contains("Untagged: demo:1.0"), "{rm}");
    assert!(rm.contains(&format!("Deleted: {id}")), "{rm}");
    assert_eq!(d.blob_count(), 0, "removing the only image leaves no blobs");
    assert_eq!(
        d.layer_count(),
        0,
        "removing the only image leaves no layers"
    );
    let out = d.ok(&["load", "-i", saved.to_str().unwrap()]);
    assert_eq!(out.trim(), "Loaded image: demo:1.0");
    assert_eq!(inspect(&d, "demo:1.0")["Id"], id.as_str());
}

fn tar_names(bytes: &[u8]) -> Vec<String> {
    let mut a = tar::Archive::new(bytes);
    a.entries()
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches('/')
                .to_string()
        })
        .collect()
}

#[test]
fn oci_layout_with_gzip_layers_loads() {
    let d = Daemon::start();
    let img = TestImage::new(vec![base_layer()], &[]);
    let out = d.load_bytes(&oci_archive(&img, "docker.io/library/ocitest:v2"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "Loaded image: ocitest:v2"
    );
    let v = inspect(&d, "ocitest:v2");
    assert_eq!(v["Id"], img.id().as_str());
    assert_eq!(v["RootFS"]["Layers"][0], sha256(&base_layer()).as_str());
}

#[test]
fn shared_layers_counted_once_in_system_df() {
    let d = Daemon::start();
    let base = base_layer();
    let a = TestImage::new(vec![base.clone(), app_layer(3, 50_000)], &["a:1"]);
    let b = TestImage::new(vec![base.clone(), app_layer(4, 70_000)], &["b:1"]);
    assert!(d.load_bytes(&docker_archive(&[&a])).status.success());
    assert!(d.load_bytes(&docker_archive(&[&b])).status.success());
    let base_size: u64 = 300_000 + 11 + 4;
    assert_eq!(d.layer_count(), 3, "the base layer is stored once");

    let (status, df) = d.api_json("GET", "/system/df");
    assert_eq!(status, 200);
    assert_eq!(df["LayersSize"].as_u64(), Some(base_size + 50_000 + 70_000));
    let images = df["Images"].as_array().unwrap();
    let by_tag = |t: &str| {
        images
            .iter()
            .find(|i| i["RepoTags"][0] == t)
            .cloned()
            .expect("image in df")
    };
    assert_eq!(by_tag("a:1")["Size"].as_u64(), Some(base_size + 50_000));
    assert_eq!(by_tag("a:1")["SharedSize"].as_u64(), Some(base_size));
    assert_eq!(by_tag("b:1")["Size"].as_u64(), Some(base_size + 70_000));
    assert_eq!(by_tag("b:1")["SharedSize"].as_u64(), Some(base_size));

    let text = d.ok(&["system", "df"]);
    let images_row = text
        .lines()
        .find(|l| l.starts_with("Images"))
        .expect("Images row");
    // 300015 + 50000 + 70000 bytes, go-units HumanSize (4 significant digits).
    assert!(images_row.contains("420kB"), "{text}");
    let verbose = d.ok(&["system", "df", "-v"]);
    assert!(verbose.contains("SHARED SIZE"), "{verbose}");
    assert!(verbose.contains("300kB"), "{verbose}");

    // Removing one keeps the shared base; removing both frees everything.
    d.ok(&["rmi", "a:1"]);
    assert_eq!(d.layer_count(), 2);
    assert!(d.image_root().join("layers").exists());
    d.ok(&["rmi", "b:1"]);
    assert_eq!(d.layer_count(), 0);
    assert_eq!(d.blob_count(), 0);
}

#[test]
fn tag_untag_conflicts_and_prune() {
    let d = Daemon::start();
    let img = TestImage::new(vec![base_layer()], &["one:latest"]);
    assert!(d.load_bytes(&docker_archive(&[&img])).status.success());
    let id = img.id();
    d.ok(&["tag", "one", "two:v1"]);
    d.ok(&["image", "tag", &id[7..19], "localhost:5000/team/three"]);
    let tags = inspect(&d, "one")["RepoTags"].clone();
    assert_eq!(
        tags,
        serde_json::json!(["localhost:5000/team/three:latest", "one:latest", "two:v1"])
    );

    // By ID with several repositories: Docker's conflict error, nothing removed.
    let err = d.fails(&["rmi", &id[7..19]]);
    assert!(
        err.contains(&format!("conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories", &id[7..19])),
        "{err}"
    );
    // By tag with other tags left: only untagged.
    let out = d.ok(&["rmi", "two:v1"]);
    assert_eq!(out.trim(), "Untagged: two:v1");
    // `-q` prints the ID once per remaining tag, as Docker does.
    assert_eq!(
        d.ok(&["images", "-q"]).lines().collect::<Vec<_>>(),
        [&id[7..19], &id[7..19]]
    );
    // Unknown image: Docker's message with the default tag.
    let err = d.fails(&["rmi", "nosuch"]);
    assert!(err.contains("No such image: nosuch:latest"), "{err}");
    let err = d.fails(&["tag", "one", "Bad:Name"]);
    assert!(err.contains("invalid reference format"), "{err}");

    // A dangling image appears as <none>, is pruned by `image prune`, tagged ones stay.
    let other = TestImage::new(vec![app_layer(9, 1000)], &["dangle:x"]);
    assert!(d.load_bytes(&docker_archive(&[&other])).status.success());
    let newer = TestImage {
        created: "2024-06-01T00:00:00Z".into(),
        ..TestImage::new(vec![app_layer(10, 2000)], &["dangle:x"])
    };
    let out = d.load_bytes(&docker_archive(&[&newer]));
    assert!(out.status.success());
    let table = d.ok(&["images"]);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("<none>") && l.contains(&other.id()[7..19])),
        "{table}"
    );
    let (_, dangling) = d.api_json(
        "GET",
        "/images/json?filters=%7B%22dangling%22%3A%5B%22true%22%5D%7D",
    );
    assert_eq!(dangling.as_array().map(Vec::len), Some(1));
    let pruned = d.ok(&["image", "prune", "-f"]);
    assert!(
        pruned.contains(&format!("deleted: {}", other.id())),
        "{pruned}"
    );
    assert!(pruned.contains("Total reclaimed space: 1kB"), "{pruned}");
    let left = d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let mut left: Vec<&str> = left.lines().collect();
    left.sort();
    assert_eq!(
        left,
        ["dangle:x", "localhost:5000/team/three:latest", "one:latest"]
    );
    // -f forces removal of a multi-repository image.
    let out = d.ok(&["rmi", "-f", &id[7..19]]);
    assert!(out.contains(&format!("Deleted: {id}")), "{out}");
}

#[test]
fn import_with_changes_and_json_format() {
    let d = Daemon::start();
    let rootfs = d.dir.path().join("rootfs.tar");
    std::fs::write(&rootfs, base_layer()).unwrap();
    let out = d.ok(&[
        "import",
        "-c",
        "CMD [\"/bin/tool\", \"--serve\"]",
        "-c",
        "ENV MODE=prod",
        "-m",
        "hello import",
        rootfs.to_str().unwrap(),
        "imported:v1",
    ]);
    let id = out.trim().to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{out}");
    let v = inspect(&d, "imported:v1");
    assert_eq!(v["Id"], id.as_str());
    assert_eq!(
        v["Config"]["Cmd"],
        serde_json::json!(["/bin/tool", "--serve"])
    );
    assert_eq!(v["Config"]["Env"], serde_json::json!(["MODE=prod"]));
    assert_eq!(v["RootFS"]["Layers"][0], sha256(&base_layer()).as_str());
    let hist = d.ok(&["history", "--format", "{{.Comment}}", "imported:v1"]);
    assert_eq!(hist.trim(), "hello import");
    let line = d.ok(&["images", "--format", "{{json .}}"]);
    let j: Value = serde_json::from_str(line.trim()).expect("json line");
    assert_eq!(j["Repository"], "imported");
    assert_eq!(j["Tag"], "v1");
    assert_eq!(j["ID"], &id[7..19]);
    let err = d.fails(&["import", "-c", "RUN make", rootfs.to_str().unwrap()]);
    assert!(err.contains("RUN is not a valid change command"), "{err}");
    assert_eq!(
        d.ok(&["images", "-q"]).lines().count(),
        1,
        "the failed import left no image"
    );
}

#[test]
fn api_ping_versions_and_errors() {
    let d = Daemon::start();
    let (status, head, body) = d.http("GET", "/_ping", b"");
    assert_eq!(status, 200);
    assert_eq!(body, b"OK");
    let head_l = head.to_ascii_lowercase();
    for h in [
        "api-version: 1.41",
        "builder-version: 1",
        "ostype: linux",
        "server: berth/",
    ] {
        assert!(head_l.contains(h), "missing {h} in {head}");
    }
    let (status, head, body) = d.http("HEAD", "/_ping", b"");
    assert_eq!(status, 200);
    assert!(body.is_empty());
    assert!(head.to_ascii_lowercase().contains("api-version: 1.41"));
    let (status, v) = d.api_json("GET", "/v1.41/version");
    assert_eq!(status, 200);
    assert_eq!(v["ApiVersion"], "1.41");
    assert_eq!(v["Os"], "linux");
    let (status, v) = d.api_json("GET", "/v1.99/version");
    assert_eq!(status, 400);
    assert_eq!(
        v["message"],
        "client version 1.99 is too new. Maximum supported API version is 1.41"
    );
    let (status, v) = d.api_json("GET", "/v1.12/info");
    assert_eq!(status, 400);
    assert!(v["message"]
        .as_str()
        .unwrap_or("")
        .contains("client version 1.12 is too old"));
    let (status, v) = d.api_json("GET", "/v1.41/nope");
    assert_eq!(status, 404);
    assert_eq!(v["message"], "page not found");
    let (status, v) = d.api_json("GET", "/images/nosuch/json");
    assert_eq!(status, 404);
    assert_eq!(v["message"], "No such image: nosuch:latest");
    let (status, v) = d.api_json(
        "GET",
        "/images/json?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D",
    );
    assert_eq!(status, 400);
    assert_eq!(v["message"], "invalid filter 'bogus'");
    let (status, v) = d.api_json("GET", "/info");
    assert_eq!(status, 200);
    assert_eq!(v["Images"], 0);
    assert_eq!(v["OSType"], "linux");
    let out = d.ok(&["version"]);
    assert!(out.contains("1.41"), "{out}");
}

#[test]
fn events_report_image_changes() {
    let d = Daemon::start();
    let since = chrono_now_secs();
    let img = TestImage::new(vec![base_layer()], &["ev:1"]);
    assert!(d.load_bytes(&docker_archive(&[&img])).status.success());
    d.ok(&["tag", "ev:1", "ev:2"]);
    d.ok(&["rmi", "ev:2"]);
    let until = chrono_now_secs() + 1;
    let (status, _, body) = d.http("GET", &format!("/events?since={since}&until={until}"), b"");
    assert_eq!(status, 200);
    let actions: Vec<String> = String::from_utf8_lossy(&body)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|e| {
            format!(
                "{} {}",
                e["Action"].as_str().unwrap_or(""),
                e["Actor"]["Attributes"]["name"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(actions, ["tag ev:1", "load ", "tag ev:2", "untag ev:2"]);
}

fn chrono_now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[test]
fn graceful_shutdown_removes_socket_and_second_daemon_is_refused() {
    let mut d = Daemon::start();
    // A second daemon on the same root is refused with a clear message.
    let out = std::process::Command::new(BIN)
        .args(["daemon", "--root"])
        .arg(&d.root)
        .arg("--exec-root")
        .arg(d.dir.path().join("run2"))
        .arg("-H")
        .arg(format!(
            "unix://{}",
            d.dir.path().join("other.sock").display()
        ))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("another berth daemon is using"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = d.stop().expect("stopped");
    assert!(status.success(), "SIGTERM exits cleanly: {status}");
    assert!(!d.socket.exists(), "socket removed on shutdown");
    // TCP without TLS is refused.
    let out = std::process::Command::new(BIN)
        .args(["daemon", "--root"])
        .arg(d.dir.path().join("root3"))
        .arg("--exec-root")
        .arg(d.dir.path().join("run3"))
        .args(["-H", "tcp://127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("without mutual TLS"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// podman's docker-archive: layers are `<diff-id-hex>.tar` at the top, with `<id>/layer.tar`
/// symlinks pointing at them, and the manifest names the top-level files.
#[test]
fn podman_style_docker_archive_loads() {
    let d = Daemon::start();
    let img = TestImage::new(
        vec![base_layer(), app_layer(21, 4096)],
        &["localhost/pod:1"],
    );
    let mut b = tar::Builder::new(Vec::new());
    let mut layer_names = Vec::new();
    let add = |b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o444);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, path, data).unwrap();
    };
    for (i, l) in img.layers.iter().enumerate() {
        let name = format!("{}.tar", &sha256(l)[7..]);
        add(&mut b, &name, l);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, format!("v1id{i}/layer.tar"), format!("../{name}"))
            .unwrap();
        layer_names.push(name);
    }
    let config = img.config();
    let cfg_name = format!("{}.json", &sha256(&config)[7..]);
    add(&mut b, &cfg_name, &config);
    let manifest = serde_json::json!([{"Config": cfg_name, "RepoTags": ["localhost/pod:1"], "Layers": layer_names}]);
    add(&mut b, "manifest.json", manifest.to_string().as_bytes());
    let out = d.load_bytes(&b.into_inner().unwrap());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "Loaded image: localhost/pod:1"
    );
    assert_eq!(inspect(&d, "localhost/pod:1")["Id"], img.id().as_str());
}
