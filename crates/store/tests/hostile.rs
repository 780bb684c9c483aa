//! Untrusted layer tarballs: every escape attempt is refused with UnsafeLayerEntry, corrupt or
//! truncated streams give CorruptLayer, and in both cases nothing is recorded or left behind.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;

use berth_store::{Digest, Error, Store};
use common::{gzip, zstd, Tar};

/// A store at `<tmp>/store`, so anything written beside it (an escape) would show in `<tmp>`.
struct Fixture {
    top: tempfile::TempDir,
    store: Store,
}

fn fixture() -> Fixture {
    let top = tempfile::tempdir().unwrap();
    let store = Store::open(&top.path().join("store")).unwrap();
    Fixture { top, store }
}

impl Fixture {
    fn unpack(&self, blob_bytes: &[u8]) -> (Digest, berth_store::Result<berth_store::LayerRecord>) {
        let blob = self.store.put_blob(blob_bytes, None).unwrap();
        let r = self.store.unpack_layer(None, &blob, None);
        (blob, r)
    }

    /// Nothing recorded, nothing in layers/ or tmp/, nothing beside the store.
    fn assert_nothing_left(&self) {
        assert!(self.store.layers().unwrap().is_empty());
        assert!(common::ls(&self.store.root().join("layers")).is_empty());
        assert!(common::ls(&self.store.root().join("tmp")).is_empty());
        assert_eq!(common::ls(self.top.path()), ["store"]);
    }
}

fn assert_refused(fx: &Fixture, tar_bytes: &[u8], entry: &str, reason_part: &str) {
    let (blob, r) = fx.unpack(tar_bytes);
    match r {
        Err(Error::UnsafeLayerEntry {
            blob: b,
            entry: e,
            reason,
        }) => {
            assert_eq!(b, blob);
            assert_eq!(e, entry);
            assert!(
                reason.contains(reason_part),
                "reason {reason:?} for {entry}"
            );
        }
        other => panic!("{entry}: expected UnsafeLayerEntry, got {other:?}"),
    }
    fx.assert_nothing_left();
}

#[test]
fn dotdot_paths_are_refused() {
    require_root!();
    let fx = fixture();
    assert_refused(
        &fx,
        &Tar::new().file("../escape", b"x").finish(),
        "../escape",
        "path escapes the layer root",
    );
    assert_refused(
        &fx,
        &Tar::new()
            .dir("a/", 0o755)
            .file("a/../../escape", b"x")
            .finish(),
        "a/../../escape",
        "path escapes the layer root",
    );
    assert_refused(
        &fx,
        &Tar::new().dir("../../up/", 0o755).finish(),
        "../../up/",
        "path escapes the layer root",
    );
}

#[test]
fn symlinked_parent_cannot_redirect_a_later_entry() {
    require_root!();
    let fx = fixture();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().to_str().unwrap().to_string();
    assert_refused(
        &fx,
        &Tar::new()
            .symlink("evil", &target)
            .file("evil/file", b"pwned")
            .finish(),
        "evil/file",
        "parent directory is a symlink",
    );
    assert!(
        common::ls(outside.path()).is_empty(),
        "outside dir must stay empty"
    );

    // A directory entry through the symlink, and a whiteout through it, are refused too.
    assert_refused(
        &fx,
        &Tar::new()
            .symlink("evil", &target)
            .dir("evil/sub/", 0o755)
            .finish(),
        "evil/sub/",
        "parent directory is a symlink",
    );
    assert_refused(
        &fx,
        &Tar::new()
            .symlink("evil", &target)
            .file("evil/.wh.x", b"")
            .finish(),
        "evil/.wh.x",
        "parent directory is a symlink",
    );
    assert_refused(
        &fx,
        &Tar::new()
            .symlink("evil", &target)
            .file("evil/.wh..wh..opq", b"")
            .finish(),
        "evil/.wh..wh..opq",
        "parent directory is a symlink",
    );
    assert!(common::ls(outside.path()).is_empty());
    assert_eq!(
        xattr::get(outside.path(), "trusted.overlay.opaque").unwrap(),
        None
    );
}

#[test]
fn chains_of_dotdot_symlinks_are_not_followed() {
    require_root!();
    let fx = fixture();
    assert_refused(
        &fx,
        &Tar::new()
            .symlink("up", "..")
            .dir("d/", 0o755)
            .symlink("d/up", "../up")
            .file("d/up/up/up/escape", b"x")
            .finish(),
        "d/up/up/up/escape",
        "parent directory is a symlink",
    );
}

#[test]
fn hardlinks_outside_the_layer_are_refused() {
    require_root!();
    let fx = fixture();
    assert_refused(
        &fx,
        &Tar::new().hardlink("link", "../outside").finish(),
        "link",
        "hardlink target escapes the layer root",
    );

    let before = fs::metadata("/etc/passwd").unwrap().nlink();
    // `/etc/passwd` is taken relative to the layer root: etc/passwd, which this layer lacks.
    assert_refused(
        &fx,
        &Tar::new().hardlink("passwd", "/etc/passwd").finish(),
        "passwd",
        "does not exist in this layer",
    );
    assert_eq!(fs::metadata("/etc/passwd").unwrap().nlink(), before);

    // Through a symlink to the host's /etc.
    assert_refused(
        &fx,
        &Tar::new()
            .symlink("hostetc", "/etc")
            .hardlink("passwd", "hostetc/passwd")
            .finish(),
        "passwd",
        "goes through a symlink",
    );
    assert_eq!(fs::metadata("/etc/passwd").unwrap().nlink(), before);

    assert_refused(
        &fx,
        &Tar::new().dir("d/", 0o755).hardlink("l", "d").finish(),
        "l",
        "hardlink target is a directory",
    );
}

#[test]
fn absolute_paths_stay_inside_the_layer() {
    require_root!();
    let fx = fixture();
    let host_path = format!("/tmp/berth-store-abs-{}", std::process::id());
    let entry = format!("{host_path}/file");
    let (_, r) = fx.unpack(&Tar::new().file(&entry, b"inside").finish());
    let rec = r.unwrap();
    assert!(
        !std::path::Path::new(&host_path).exists(),
        "wrote to the host path"
    );
    let inside = fx
        .store
        .layer_diff_dir(&rec.chain_id)
        .join(entry.trim_start_matches('/'));
    assert_eq!(fs::read(inside).unwrap(), b"inside");
}

#[test]
fn bad_whiteout_names_are_refused() {
    require_root!();
    let fx = fixture();
    assert_refused(
        &fx,
        &Tar::new().dir("a/", 0o755).file("a/.wh...", b"").finish(),
        "a/.wh...",
        "invalid whiteout name",
    );
}

fn assert_corrupt(fx: &Fixture, blob_bytes: &[u8]) {
    let (blob, r) = fx.unpack(blob_bytes);
    match r {
        Err(e @ Error::CorruptLayer { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains(blob.as_str()),
                "message must name the blob: {msg}"
            );
        }
        other => panic!("expected CorruptLayer, got {other:?}"),
    }
    fx.assert_nothing_left();
}

fn big_tar() -> Vec<u8> {
    Tar::new()
        .dir("d/", 0o755)
        .file("d/a", &[1u8; 50_000])
        .file(
            "d/b",
            &(0..200_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>(),
        )
        .finish()
}

#[test]
fn truncated_plain_tar_is_corrupt() {
    require_root!();
    let fx = fixture();
    let t = big_tar();
    assert_corrupt(&fx, &t[..t.len() / 2]);
}

#[test]
fn corrupt_and_truncated_gzip_are_corrupt() {
    require_root!();
    let fx = fixture();
    let gz = gzip(&big_tar());
    assert_corrupt(&fx, &gz[..gz.len() / 2]);
    assert_corrupt(&fx, &gz[..gz.len() - 4]); // missing part of the trailer
    let mut flipped = gz.clone();
    for b in &mut flipped[40..200] {
        *b ^= 0x5a;
    }
    assert_corrupt(&fx, &flipped);
}

#[test]
fn truncated_zstd_is_corrupt() {
    require_root!();
    let fx = fixture();
    let z = zstd(&big_tar());
    assert_corrupt(&fx, &z[..z.len() / 2]);
}

#[test]
fn bad_header_checksum_is_corrupt() {
    require_root!();
    let fx = fixture();
    let mut t = big_tar();
    // Second header (d/a) starts at 512: damage its name without fixing the checksum.
    t[512] ^= 0x01;
    assert_corrupt(&fx, &t);
}
