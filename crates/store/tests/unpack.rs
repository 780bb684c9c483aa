//! Layer unpacking through `Store::unpack_layer`: formats, overlay conversion, metadata, sizes.

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use berth_store::{Digest, Error};
use common::{gzip, layer, store, zstd, Tar, MTIME};
use tar::EntryType;

fn sample_tar() -> Vec<u8> {
    Tar::new()
        .dir("etc/", 0o755)
        .file("etc/hostname", b"berth\n")
        .dir("usr/", 0o755)
        .dir("usr/bin/", 0o755)
        .file_with("usr/bin/tool", &vec![7u8; 100_000], |h| h.set_mode(0o755))
        .symlink("usr/bin/alias", "tool")
        .finish()
}

#[test]
fn gzip_zstd_and_plain_layers_give_the_same_diff_id_and_files() {
    require_root!();
    let plain = sample_tar();
    let expected_diff = Digest::of(&plain);
    let mut seen = Vec::new();
    for (blob, media) in [
        (plain.clone(), "application/vnd.oci.image.layer.v1.tar"),
        (gzip(&plain), "application/vnd.oci.image.layer.v1.tar+gzip"),
        (zstd(&plain), "application/vnd.oci.image.layer.v1.tar+zstd"),
    ] {
        // A separate store each time: the same diff_id would otherwise reuse the first layer.
        let s = store();
        let blob_digest = s.put_blob(&blob, None).unwrap();
        let rec = s
            .unpack_layer(None, &blob_digest, Some(&expected_diff))
            .unwrap();
        assert_eq!(rec.diff_id, expected_diff, "{media}");
        assert_eq!(
            rec.chain_id, expected_diff,
            "base layer: chain id = diff id"
        );
        assert_eq!(rec.parent, None);
        assert_eq!(rec.blob, blob_digest);
        assert_eq!(rec.blob_size, blob.len() as u64);
        assert_eq!(rec.media_type, media);
        assert_eq!(
            rec.size,
            6 + 100_000 + 4,
            "file sizes plus symlink target length"
        );
        let diff = s.layer_diff_dir(&rec.chain_id);
        assert_eq!(fs::read(diff.join("etc/hostname")).unwrap(), b"berth\n");
        assert_eq!(
            fs::read(diff.join("usr/bin/tool")).unwrap(),
            vec![7u8; 100_000]
        );
        assert_eq!(
            fs::read_link(diff.join("usr/bin/alias")).unwrap(),
            Path::new("tool")
        );
        assert_eq!(s.layer(&rec.chain_id).unwrap(), Some(rec.clone()));
        seen.push(rec.diff_id);
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn diff_id_covers_trailing_padding() {
    require_root!();
    // Two tars with the same entries but different amounts of zero padding at the end have
    // different diff_ids; each must match the digest of its own full stream.
    let mut padded = sample_tar();
    padded.extend_from_slice(&[0u8; 10 * 512]);
    for tar_bytes in [sample_tar(), padded] {
        let s = store();
        let blob = s.put_blob(&gzip(&tar_bytes), None).unwrap();
        let rec = s.unpack_layer(None, &blob, None).unwrap();
        assert_eq!(rec.diff_id, Digest::of(&tar_bytes));
    }
}

#[test]
fn wrong_expected_diff_id_is_a_digest_mismatch_naming_the_blob() {
    require_root!();
    let s = store();
    let tar_bytes = sample_tar();
    let blob = s.put_blob(&gzip(&tar_bytes), None).unwrap();
    let wrong = Digest::of(b"something else");
    match s.unpack_layer(None, &blob, Some(&wrong)) {
        Err(e @ Error::DigestMismatch { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains(blob.as_str()), "{msg}");
            assert!(msg.contains(wrong.as_str()), "{msg}");
            assert!(msg.contains(Digest::of(&tar_bytes).as_str()), "{msg}");
        }
        other => panic!("expected DigestMismatch, got {other:?}"),
    }
    assert!(s.layers().unwrap().is_empty());
    assert!(common::ls(&s.root().join("layers")).is_empty());
    assert!(common::ls(&s.root().join("tmp")).is_empty());
}

#[test]
fn missing_blob_is_blob_not_found() {
    let s = store();
    let d = Digest::of(b"never written");
    assert!(matches!(
        s.unpack_layer(None, &d, None),
        Err(Error::BlobNotFound(x)) if x == d
    ));
}

#[test]
fn child_layer_chain_id_follows_the_oci_formula() {
    require_root!();
    let s = store();
    let base = layer(&s, None, &Tar::new().file("a", b"1").finish()).unwrap();
    let top_tar = Tar::new().file("b", b"2").finish();
    let top = layer(&s, Some(&base.chain_id), &top_tar).unwrap();
    let expected = Digest::of(format!("{} {}", base.chain_id, Digest::of(&top_tar)).as_bytes());
    assert_eq!(top.chain_id, expected);
    assert_eq!(top.parent.as_ref(), Some(&base.chain_id));
    // Each layer dir holds only its own diff.
    assert!(s.layer_diff_dir(&top.chain_id).join("b").exists());
    assert!(!s.layer_diff_dir(&top.chain_id).join("a").exists());
    assert_eq!(
        s.layer_diff_dir(&top.chain_id),
        s.root()
            .join("layers")
            .join(top.chain_id.hex())
            .join("diff")
    );
}

#[test]
fn whiteouts_become_overlay_char_devices_and_opaque_xattrs() {
    require_root!();
    let s = store();
    let rec = layer(
        &s,
        None,
        &Tar::new()
            .dir("etc/", 0o755)
            .file("etc/.wh.passwd", b"")
            .dir("var/", 0o755)
            .dir("var/cache/", 0o755)
            .file("var/cache/.wh..wh..opq", b"")
            .file("var/cache/new", b"x")
            .file("gone/deeper/.wh.thing", b"")
            .file(".wh..wh.plnk", b"")
            .finish(),
    )
    .unwrap();
    let diff = s.layer_diff_dir(&rec.chain_id);
    for wh in ["etc/passwd", "gone/deeper/thing"] {
        let m = fs::symlink_metadata(diff.join(wh)).unwrap();
        assert!(m.file_type().is_char_device(), "{wh}");
        assert_eq!(m.rdev(), 0, "{wh}: whiteout is device 0:0");
    }
    assert!(!diff.join("etc/.wh.passwd").exists());
    assert_eq!(
        xattr::get(diff.join("var/cache"), "trusted.overlay.opaque").unwrap(),
        Some(b"y".to_vec())
    );
    assert!(!diff.join("var/cache/.wh..wh..opq").exists());
    assert_eq!(fs::read(diff.join("var/cache/new")).unwrap(), b"x");
    assert_eq!(
        xattr::get(diff.join("etc"), "trusted.overlay.opaque").unwrap(),
        None
    );
    assert!(!diff.join(".wh..wh.plnk").exists());
    assert!(!diff.join(".wh.plnk").exists());
    assert_eq!(rec.size, 1, "whiteouts add no size");
}

#[test]
fn hardlinks_share_an_inode_and_count_once() {
    require_root!();
    let s = store();
    let rec = layer(
        &s,
        None,
        &Tar::new()
            .file("bin/busybox", &[1u8; 5000])
            .hardlink("bin/sh", "bin/busybox")
            .hardlink("/bin/ls", "/bin/busybox")
            .finish(),
    )
    .unwrap();
    let diff = s.layer_diff_dir(&rec.chain_id);
    let a = fs::metadata(diff.join("bin/busybox")).unwrap();
    let b = fs::metadata(diff.join("bin/sh")).unwrap();
    let c = fs::metadata(diff.join("bin/ls")).unwrap();
    assert_eq!(a.ino(), b.ino());
    assert_eq!(a.ino(), c.ino());
    assert_eq!(a.nlink(), 3);
    assert_eq!(rec.size, 5000);
}

#[test]
fn symlinks_are_kept_verbatim() {
    require_root!();
    let s = store();
    let rec = layer(
        &s,
        None,
        &Tar::new()
            .symlink("abs", "/etc/passwd")
            .symlink("up", "../../../../outside")
            .symlink("dangling", "does/not/exist")
            .finish(),
    )
    .unwrap();
    let diff = s.layer_diff_dir(&rec.chain_id);
    assert_eq!(
        fs::read_link(diff.join("abs")).unwrap(),
        Path::new("/etc/passwd")
    );
    assert_eq!(
        fs::read_link(diff.join("up")).unwrap(),
        Path::new("../../../../outside")
    );
    assert_eq!(
        fs::read_link(diff.join("dangling")).unwrap(),
        Path::new("does/not/exist")
    );
    assert_eq!(rec.size, (11 + 19 + 14) as u64);
}

#[test]
fn mode_owner_mtime_and_xattrs_are_applied() {
    require_root!();
    let s = store();
    let rec = layer(
        &s,
        None,
        &Tar::new()
            .dir("tmp/", 0o1777)
            .file_with("usr/bin/passwd", b"suid", |h| {
                h.set_mode(0o4755);
                h.set_uid(1000);
                h.set_gid(1001);
                h.set_mtime(1_234_567_890);
            })
            .file_with("usr/bin/wall", b"sgid", |h| {
                h.set_mode(0o2711);
                h.set_gid(5);
            })
            .pax(&[
                ("SCHILY.xattr.user.berth", b"hello"),
                ("SCHILY.xattr.trusted.overlay.redirect", b"/etc"),
                ("mtime", b"1500000000.25"),
            ])
            .file("caps", b"c")
            .symlink("link", "caps")
            .fifo("run/pipe")
            .dir("old/", 0o700)
            .file("old/inside", b"later child")
            .finish(),
    )
    .unwrap();
    let diff = s.layer_diff_dir(&rec.chain_id);

    let m = fs::metadata(diff.join("usr/bin/passwd")).unwrap();
    assert_eq!(
        m.permissions().mode() & 0o7777,
        0o4755,
        "setuid kept after chown"
    );
    assert_eq!((m.uid(), m.gid()), (1000, 1001));
    assert_eq!(m.mtime(), 1_234_567_890);

    let m = fs::metadata(diff.join("usr/bin/wall")).unwrap();
    assert_eq!(m.permissions().mode() & 0o7777, 0o2711);
    assert_eq!(m.gid(), 5);

    let m = fs::metadata(diff.join("tmp")).unwrap();
    assert_eq!(m.permissions().mode() & 0o7777, 0o1777, "sticky bit");

    let m = fs::metadata(diff.join("caps")).unwrap();
    assert_eq!((m.mtime(), m.mtime_nsec()), (1_500_000_000, 250_000_000));
    assert_eq!(
        xattr::get(diff.join("caps"), "user.berth").unwrap(),
        Some(b"hello".to_vec())
    );
    assert_eq!(
        xattr::get(diff.join("caps"), "trusted.overlay.redirect").unwrap(),
        None,
        "overlayfs xattrs from the tar are dropped"
    );

    let m = fs::symlink_metadata(diff.join("link")).unwrap();
    assert!(m.file_type().is_symlink());
    assert_eq!(m.mtime(), MTIME as i64);

    let m = fs::symlink_metadata(diff.join("run/pipe")).unwrap();
    assert!(m.file_type().is_fifo());
    assert_eq!(m.permissions().mode() & 0o7777, 0o640);
    // Implicit parent: 0755 root.
    let m = fs::metadata(diff.join("run")).unwrap();
    assert_eq!(m.permissions().mode() & 0o7777, 0o755);
    assert_eq!((m.uid(), m.gid()), (0, 0));

    // Directory mtimes survive children created after them.
    let m = fs::metadata(diff.join("old")).unwrap();
    assert_eq!(m.mtime(), MTIME as i64);
    assert_eq!(m.permissions().mode() & 0o7777, 0o700);
}

#[test]
fn later_entries_replace_earlier_ones_and_size_stays_exact() {
    require_root!();
    let s = store();
    let rec = layer(
        &s,
        None,
        &Tar::new()
            .file("f", &[0u8; 1000])
            .file("f", &[0u8; 10])
            .dir("d/", 0o755)
            .file("d/big", &[0u8; 4000])
            .symlink("d", "elsewhere") // replaces the whole directory
            .file("x", &[0u8; 300])
            .hardlink("y", "x")
            .file("x", &[0u8; 5]) // y keeps the old inode (300 bytes)
            .dir("e/", 0o700)
            .dir("e/", 0o750) // an existing dir stays and takes the new metadata
            .finish(),
    )
    .unwrap();
    let diff = s.layer_diff_dir(&rec.chain_id);
    assert_eq!(fs::read(diff.join("f")).unwrap().len(), 10);
    assert_eq!(
        fs::read_link(diff.join("d")).unwrap(),
        Path::new("elsewhere")
    );
    assert_eq!(fs::read(diff.join("y")).unwrap().len(), 300);
    assert_eq!(fs::read(diff.join("x")).unwrap().len(), 5);
    assert_eq!(
        fs::metadata(diff.join("e")).unwrap().permissions().mode() & 0o777,
        0o750
    );
    assert_eq!(rec.size, 10 + 9 + 300 + 5);
}

#[test]
fn device_nodes_are_skipped() {
    require_root!();
    let s = store();
    let rec = layer(
        &s,
        None,
        &Tar::new()
            .device("dev/sda", EntryType::Block, 8, 0)
            .device("dev/mem", EntryType::Char, 1, 1)
            .file("ok", b"fine")
            .finish(),
    )
    .unwrap();
    let diff = s.layer_diff_dir(&rec.chain_id);
    assert!(fs::symlink_metadata(diff.join("dev/sda")).is_err());
    assert!(fs::symlink_metadata(diff.join("dev/mem")).is_err());
    assert_eq!(fs::read(diff.join("ok")).unwrap(), b"fine");
}

#[test]
fn root_dir_entry_and_dot_slash_prefixes() {
    require_root!();
    let s = store();
    let rec = layer(
        &s,
        None,
        &Tar::new()
            .dir("./", 0o750)
            .file("./a/b", b"ab")
            .file("/abs/c", b"c")
            .entry(EntryType::Regular, "v7dir/", 0o711, b"")
            .finish(),
    )
    .unwrap();
    let diff = s.layer_diff_dir(&rec.chain_id);
    assert_eq!(fs::read(diff.join("a/b")).unwrap(), b"ab");
    assert_eq!(fs::read(diff.join("abs/c")).unwrap(), b"c");
    let v7 = fs::symlink_metadata(diff.join("v7dir")).unwrap();
    assert!(v7.is_dir(), "a regular entry ending in / is a directory");
    assert_eq!(v7.permissions().mode() & 0o777, 0o711);
    assert_eq!(
        fs::metadata(&diff).unwrap().permissions().mode() & 0o777,
        0o750
    );
}

#[test]
fn same_chain_twice_reuses_the_first_layer() {
    require_root!();
    let s = store();
    let tar_bytes = sample_tar();
    let first = layer(&s, None, &tar_bytes).unwrap();
    // Same content, other compression: same ChainID, the first record wins.
    let gz = s.put_blob(&gzip(&tar_bytes), None).unwrap();
    let second = s.unpack_layer(None, &gz, None).unwrap();
    assert_eq!(second, first);
    let third = s.unpack_layer(None, &gz, Some(&first.diff_id)).unwrap();
    assert_eq!(third, first);
    assert_eq!(s.layers().unwrap().len(), 1);
    assert_eq!(common::ls(&s.root().join("layers")), [first.chain_id.hex()]);
    assert!(common::ls(&s.root().join("tmp")).is_empty());
}

#[test]
fn concurrent_unpacks_of_one_chain_yield_one_dir() {
    require_root!();
    let s = store();
    let tar_bytes = sample_tar();
    let blobs: Vec<Digest> = vec![
        s.put_blob(&tar_bytes, None).unwrap(),
        s.put_blob(&gzip(&tar_bytes), None).unwrap(),
        s.put_blob(&zstd(&tar_bytes), None).unwrap(),
    ];
    let records: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let blob = &blobs[i % 3];
                let store = &s.store;
                scope.spawn(move || store.unpack_layer(None, blob, None).unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(records.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(s.layers().unwrap().len(), 1);
    assert_eq!(common::ls(&s.root().join("layers")).len(), 1);
    assert!(common::ls(&s.root().join("tmp")).is_empty());
    let diff = s.layer_diff_dir(&records[0].chain_id);
    assert_eq!(fs::read(diff.join("etc/hostname")).unwrap(), b"berth\n");
}

#[test]
fn different_layers_unpack_in_parallel_with_parents_not_yet_recorded() {
    require_root!();
    let s = store();
    let tars: Vec<Vec<u8>> = (0..4)
        .map(|i| Tar::new().file(&format!("f{i}"), &[i as u8; 3000]).finish())
        .collect();
    // Chain IDs computed up front, as the engine does from the image config.
    let mut parents = vec![None];
    for t in &tars[..3] {
        let prev: Option<Digest> = parents.last().cloned().flatten();
        parents.push(Some(berth_store::store::chain_id(
            prev.as_ref(),
            &Digest::of(t),
        )));
    }
    let blobs: Vec<Digest> = tars
        .iter()
        .map(|t| s.put_blob(&gzip(t), None).unwrap())
        .collect();
    let records: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .rev()
            .map(|i| {
                let (store, blob, parent) = (&s.store, &blobs[i], parents[i].as_ref());
                scope.spawn(move || store.unpack_layer(parent, blob, None).unwrap())
            })
            .collect();
        let mut v: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        v.reverse();
        v
    });
    for (i, rec) in records.iter().enumerate() {
        assert_eq!(rec.parent, parents[i]);
        assert!(s
            .layer_diff_dir(&rec.chain_id)
            .join(format!("f{i}"))
            .exists());
    }
    let id = common::config(&s, "parallel");
    let image = s.create_image(&id, None, &records).unwrap();
    assert_eq!(image.size, 4 * 3000);
}
