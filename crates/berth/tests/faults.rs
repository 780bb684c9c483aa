//! Bad input and faults: corrupt archives, digest mismatches, hostile layers and a daemon killed
//! mid-load. Each case checks the user-visible error and that nothing is left behind.

mod common;

use std::io::Write;
use std::os::unix::net::UnixStream;

use common::*;

fn simple_layer() -> Vec<u8> {
    layer_tar(&[Entry::File("hello.txt", b"hello\n".to_vec(), 0o644)])
}

/// A tar with one entry whose name is written raw (the tar crate refuses `..` names).
fn raw_entry(name: &str, kind: tar::EntryType, link: &str, data: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    {
        let gnu = h.as_gnu_mut().expect("gnu header");
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    let mut out = h.as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

fn finish_tar(mut parts: Vec<u8>) -> Vec<u8> {
    parts.extend_from_slice(&[0u8; 1024]);
    parts
}

fn assert_store_empty(d: &Daemon) {
    assert_eq!(
        d.blob_count(),
        0,
        "orphan blobs left: {:?}",
        std::fs::read_dir(d.image_root().join("blobs/sha256"))
            .map(|r| r.map(|e| e.map(|e| e.file_name())).collect::<Vec<_>>())
    );
    assert_eq!(d.layer_count(), 0, "layers left behind");
    assert_eq!(d.ok(&["images", "-q"]).trim(), "", "no image may appear");
}

#[test]
fn truncated_and_corrupt_archives() {
    let d = Daemon::start();
    let img = TestImage::new(
        vec![
            simple_layer(),
            layer_tar(&[Entry::File("big", payload(5, 200_000), 0o644)]),
        ],
        &["t:1"],
    );
    let full = docker_archive(&[&img]);
    // Cut in the middle of the second layer: a clear error, nothing stored.
    let out = d.load_bytes(&full[..full.len() / 2]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Error response from daemon"), "{err}");
    assert!(
        err.to_lowercase().contains("tar") || err.contains("archive"),
        "{err}"
    );
    assert_store_empty(&d);

    // Not a tar at all.
    let out = d.load_bytes(b"this is not an archive at all, just text that goes on and on...............................................................................................................................................................................................................................................................................................................................................................................................................................................................................................");
    assert!(!out.status.success());
    assert_store_empty(&d);

    // A manifest naming a layer the archive does not contain.
    let mut b = tar::Builder::new(Vec::new());
    let config = img.config();
    let cfg_name = format!("{}.json", &sha256(&config)[7..]);
    let mut h = tar::Header::new_gnu();
    h.set_size(config.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, &cfg_name, &config[..]).unwrap();
    let manifest = serde_json::json!([{"Config": cfg_name, "RepoTags": ["t:1"], "Layers": ["missing/layer.tar", "x/layer.tar"]}]).to_string();
    let mut h = tar::Header::new_gnu();
    h.set_size(manifest.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, "manifest.json", manifest.as_bytes())
        .unwrap();
    let out = d.load_bytes(&b.into_inner().unwrap());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("missing/layer.tar"),
        "error names the missing file: {err}"
    );
    assert_store_empty(&d);
}

#[test]
fn blob_digest_mismatch_is_rejected() {
    let d = Daemon::start();
    let img = TestImage::new(vec![simple_layer()], &[]);
    let good = oci_archive(&img, "docker.io/library/mm:1");
    // Flip one byte inside the gzip layer blob's payload (first blob entry's data).
    let mut bad = good.clone();
    let mut a = tar::Archive::new(&good[..]);
    let mut offset = None;
    let mut name = String::new();
    for e in a.entries().unwrap() {
        let e = e.unwrap();
        let p = e.path().unwrap().to_string_lossy().into_owned();
        if p.starts_with("blobs/sha256/") {
            offset = Some(e.raw_file_position() as usize);
            name = p;
            break;
        }
    }
    let off = offset.expect("a blob entry");
    bad[off + 12] ^= 0xff;
    let out = d.load_bytes(&bad);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let hex = name.trim_start_matches("blobs/sha256/");
    assert!(err.contains(hex), "error names the digest: {err}");
    assert!(err.contains("digest"), "{err}");
    assert_store_empty(&d);
    // The untouched archive still loads afterwards.
    assert!(d.load_bytes(&good).status.success());
}

/// Load an image whose single layer is `layer`; returns (success, stderr).
fn load_layer(d: &Daemon, layer: Vec<u8>, tag: &str) -> (bool, String) {
    let img = TestImage::new(vec![layer], &[tag]);
    let out = d.load_bytes(&docker_archive(&[&img]));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn hostile_layers_cannot_touch_the_host() {
    let d = Daemon::start();
    let outside = tempfile::tempdir().unwrap();
    let outside_path = outside.path().to_str().unwrap().to_string();
    let victim = outside.path().join("victim");
    std::fs::write(&victim, b"original").unwrap();

    // 1. `..` escapes.
    for name in [
        "../escape",
        "a/../../escape",
        "./../../../../../../../tmp/berth-escape-test",
    ] {
        let (ok, err) = load_layer(
            &d,
            finish_tar(raw_entry(name, tar::EntryType::Regular, "", b"x")),
            "h:1",
        );
        assert!(!ok, "{name} must be rejected");
        assert!(
            err.contains("escape") || err.contains(".."),
            "{name}: {err}"
        );
        assert_store_empty(&d);
    }
    assert!(!std::path::Path::new("/tmp/berth-escape-test").exists());

    // 2. A symlink to the outside, then a write through it.
    let mut t = raw_entry("evil", tar::EntryType::Symlink, &outside_path, b"");
    t.extend(raw_entry(
        "evil/pwned",
        tar::EntryType::Regular,
        "",
        b"owned",
    ));
    let (ok, err) = load_layer(&d, finish_tar(t), "h:2");
    assert!(!ok, "write through symlink must fail");
    assert!(err.contains("symlink"), "{err}");
    assert_eq!(
        std::fs::read_dir(outside.path()).unwrap().count(),
        1,
        "outside dir untouched"
    );
    assert_store_empty(&d);

    // 3. A relative symlink chain climbing out, then a write through it.
    let mut t = raw_entry("up", tar::EntryType::Symlink, "../../../../../../..", b"");
    t.extend(raw_entry(
        &format!("up{}/victim", outside_path),
        tar::EntryType::Regular,
        "",
        b"owned",
    ));
    let (ok, _) = load_layer(&d, finish_tar(t), "h:3");
    assert!(!ok);
    assert_eq!(std::fs::read(&victim).unwrap(), b"original");
    assert_store_empty(&d);

    // 4. Hardlinks to files outside the layer.
    for target in [
        "../../../../etc/passwd".to_string(),
        format!("{}/victim", outside_path),
    ] {
        let (ok, err) = load_layer(
            &d,
            finish_tar(raw_entry("link", tar::EntryType::Link, &target, b"")),
            "h:4",
        );
        assert!(!ok, "hardlink to {target} must fail");
        assert!(!err.is_empty());
        assert_store_empty(&d);
    }
    let meta = std::fs::metadata(&victim).unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::nlink(&meta),
        1,
        "no new link to the victim"
    );

    // 5. Absolute paths are contained in the layer (as Docker does) and device nodes skipped.
    let host_path = format!("/berth-abs-test-{}", rand_suffix());
    let mut t = raw_entry(
        &format!("{host_path}/f"),
        tar::EntryType::Regular,
        "",
        b"inside",
    );
    let mut dev = tar::Header::new_gnu();
    dev.as_gnu_mut().unwrap().name[..8].copy_from_slice(b"dev/kmsg");
    dev.set_entry_type(tar::EntryType::Char);
    dev.set_mode(0o666);
    dev.set_size(0);
    dev.set_device_major(1).unwrap();
    dev.set_device_minor(11).unwrap();
    dev.set_cksum();
    t.extend_from_slice(dev.as_bytes());
    let (ok, err) = load_layer(&d, finish_tar(t), "contained:1");
    assert!(ok, "absolute paths are contained, not fatal: {err}");
    assert!(
        !std::path::Path::new(&host_path).exists(),
        "nothing written at the host path"
    );
    let v: serde_json::Value =
        serde_json::from_str(&d.ok(&["image", "inspect", "contained:1"])).unwrap();
    let lower = v[0]["GraphDriver"]["Data"]["LowerDir"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        std::fs::read(format!("{lower}{host_path}/f")).unwrap(),
        b"inside"
    );
    assert!(
        !std::path::Path::new(&format!("{lower}/dev/kmsg")).exists(),
        "device node not created"
    );
}

#[test]
fn daemon_killed_mid_load_recovers_cleanly() {
    let mut d = Daemon::start();
    let layers: Vec<Vec<u8>> = (0..3)
        .map(|i| layer_tar(&[Entry::File("blob", payload(40 + i, 8_000_000), 0o644)]))
        .collect();
    let img = TestImage::new(layers, &["crash:1"]);
    let archive = docker_archive(&[&img]);
    // Send the request head and a bit more than half of the archive, then SIGKILL the daemon.
    let mut s = UnixStream::connect(&d.socket).unwrap();
    write!(
        s,
        "POST /v1.41/images/load HTTP/1.1\r\nHost: berth\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
        archive.len()
    )
    .unwrap();
    s.write_all(&archive[..archive.len() * 6 / 10]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    d.kill9();
    drop(s);
    // A deleted container's directory whose background removal the crash cut short.
    let leftover = d.root.join("trash/0123abcd/upper/etc");
    std::fs::create_dir_all(&leftover).unwrap();
    std::fs::write(leftover.join("f"), b"x").unwrap();
    d.spawn();
    assert!(!d.root.join("trash").exists(), "trash emptied at start");
    assert_eq!(
        d.ok(&["images", "-q"]).trim(),
        "",
        "a half-loaded image is absent"
    );
    let check = d.cli(&["system", "check"]);
    assert!(
        check.status.success(),
        "system check after crash: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert_store_empty(&d);
    // The same archive loads completely afterwards.
    let out = d.load_bytes(&archive);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(d.ok(&["system", "check"]).contains("No problems found"));

    // `system check` notices a corrupted blob.
    let v: serde_json::Value =
        serde_json::from_str(&d.ok(&["image", "inspect", "crash:1"])).unwrap();
    let id = v[0]["Id"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let blob = d.image_root().join("blobs/sha256").join(&id);
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&blob, bytes).unwrap();
    let check = d.cli(&["system", "check"]);
    assert!(!check.status.success());
    let text = String::from_utf8_lossy(&check.stdout).to_string()
        + &String::from_utf8_lossy(&check.stderr);
    assert!(text.contains(&id), "{text}");
}
