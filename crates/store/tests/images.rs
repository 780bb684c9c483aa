//! Blobs, images, tags, resolution, deletion, gc, disk usage, check and crash recovery.

mod common;

use std::fs;
use std::io::Write;

use berth_store::{Digest, Error, LayerRecord, Reference, Store};
use common::{config, gzip, layer, ls, store, Tar};

fn r(s: &str) -> Reference {
    Reference::parse(s).unwrap()
}

// ---- blobs ----

#[test]
fn blob_write_commit_and_read_back() {
    let s = store();
    let mut w = s.blob_writer().unwrap();
    assert!(w.is_empty());
    w.write_all(b"hello ").unwrap();
    w.write_all(b"world").unwrap();
    assert_eq!(w.len(), 11);
    let expected = Digest::of(b"hello world");
    let (d, n) = w.commit(Some(&expected)).unwrap();
    assert_eq!((d.clone(), n), (expected, 11));
    assert!(s.has_blob(&d));
    assert_eq!(s.read_blob(&d).unwrap(), b"hello world");
    assert_eq!(s.blob_path(&d), s.root().join("blobs/sha256").join(d.hex()));
    assert_eq!(s.blob_size(&d).unwrap(), 11);
    assert!(ls(&s.root().join("tmp")).is_empty());
    // Writing the same content again is fine and changes nothing.
    assert_eq!(s.put_blob(b"hello world", None).unwrap(), d);
    assert_eq!(ls(&s.root().join("blobs/sha256")), [d.hex()]);
}

#[test]
fn blob_digest_mismatch_leaves_nothing_behind() {
    let s = store();
    let wrong = Digest::of(b"other");
    match s.put_blob(b"content", Some(&wrong)) {
        Err(Error::DigestMismatch {
            expected, actual, ..
        }) => {
            assert_eq!(expected, wrong);
            assert_eq!(actual, Digest::of(b"content"));
        }
        other => panic!("expected DigestMismatch, got {other:?}"),
    }
    assert!(ls(&s.root().join("blobs/sha256")).is_empty());
    assert!(ls(&s.root().join("tmp")).is_empty());
    assert!(!s.has_blob(&Digest::of(b"content")));
}

#[test]
fn dropped_blob_writer_removes_its_temp_file() {
    let s = store();
    let mut w = s.blob_writer().unwrap();
    w.write_all(&[1u8; 10_000]).unwrap();
    assert_eq!(ls(&s.root().join("tmp")).len(), 1);
    drop(w);
    assert!(ls(&s.root().join("tmp")).is_empty());
    assert!(ls(&s.root().join("blobs/sha256")).is_empty());
}

#[test]
fn reading_a_missing_blob_names_it() {
    let s = store();
    let d = Digest::of(b"nope");
    assert!(matches!(s.read_blob(&d), Err(Error::BlobNotFound(x)) if x == d));
}

// ---- images ----

/// Two images sharing a base layer: A = base + a, B = base + b.
struct Two {
    s: common::TestStore,
    base: LayerRecord,
    a_top: LayerRecord,
    b_top: LayerRecord,
    a: Digest,
    b: Digest,
}

fn two_images() -> Two {
    let s = store();
    let base = layer(&s, None, &Tar::new().file("base", &[0u8; 1000]).finish()).unwrap();
    let a_top = layer(
        &s,
        Some(&base.chain_id),
        &Tar::new().file("a", &[1u8; 200]).finish(),
    )
    .unwrap();
    let b_top = layer(
        &s,
        Some(&base.chain_id),
        &Tar::new().file("b", &[2u8; 30]).finish(),
    )
    .unwrap();
    let a = config(&s, "a");
    let b = config(&s, "b");
    let manifest_a = s.put_blob(b"{\"manifest\":\"a\"}", None).unwrap();
    s.create_image(&a, Some(&manifest_a), &[base.clone(), a_top.clone()])
        .unwrap();
    s.create_image(&b, None, &[base.clone(), b_top.clone()])
        .unwrap();
    Two {
        s,
        base,
        a_top,
        b_top,
        a,
        b,
    }
}

#[test]
fn create_image_records_layers_bottom_first_and_is_idempotent() {
    require_root!();
    let t = two_images();
    let img = t.s.image(&t.a).unwrap().unwrap();
    assert_eq!(img.layers, [t.base.clone(), t.a_top.clone()]);
    assert_eq!(img.size, 1200);
    assert!(img.manifest.is_some());
    assert!(chrono::DateTime::parse_from_rfc3339(&img.added).is_ok());
    // Again: unchanged, no second reference taken.
    let again = t.s.create_image(&t.a, None, &img.layers).unwrap();
    assert_eq!(again, img);
    let refcount: i64 =
        t.s.with_conn(|c| {
            c.query_row(
                "SELECT refcount FROM layers WHERE chain_id = ?1",
                [t.base.chain_id.as_str()],
                |r| r.get(0),
            )
        })
        .unwrap();
    assert_eq!(refcount, 2);
    let all = t.s.images().unwrap();
    assert_eq!(all.len(), 2);
}

#[test]
fn create_image_checks_config_and_chain() {
    require_root!();
    let t = two_images();
    let missing = Digest::of(b"no config");
    assert!(matches!(
        t.s.create_image(&missing, None, &[]),
        Err(Error::BlobNotFound(d)) if d == missing
    ));
    let c = config(&t.s, "broken");
    // Top layer without its base.
    assert!(matches!(
        t.s.create_image(&c, None, std::slice::from_ref(&t.a_top)),
        Err(Error::BrokenChain { .. })
    ));
    // Layers from two different chains.
    assert!(matches!(
        t.s.create_image(
            &c,
            None,
            &[t.base.clone(), t.a_top.clone(), t.b_top.clone()]
        ),
        Err(Error::BrokenChain { .. })
    ));
    let mut ghost = t.a_top.clone();
    ghost.chain_id = Digest::of(b"ghost");
    assert!(matches!(
        t.s.create_image(&c, None, &[t.base.clone(), ghost]),
        Err(Error::LayerNotFound(_))
    ));
    assert!(t.s.image(&c).unwrap().is_none());
    // An image without layers is fine.
    let empty = t.s.create_image(&c, None, &[]).unwrap();
    assert_eq!((empty.layers.len(), empty.size), (0, 0));
}

#[test]
fn shared_base_layer_is_one_dir_and_disk_usage_counts_it_once() {
    require_root!();
    let t = two_images();
    assert_eq!(ls(&t.s.root().join("layers")).len(), 3);
    let du = t.s.disk_usage().unwrap();
    assert_eq!(du.layers_size, 1000 + 200 + 30);
    let a = du.images.iter().find(|i| i.id == t.a).unwrap();
    let b = du.images.iter().find(|i| i.id == t.b).unwrap();
    assert_eq!((a.size, a.shared_size, a.unique_size), (1200, 1000, 200));
    assert_eq!((b.size, b.shared_size, b.unique_size), (1030, 1000, 30));
}

#[test]
fn deleting_images_keeps_shared_layers_until_the_last_user_goes() {
    require_root!();
    let t = two_images();
    t.s.tag(&t.a, &r("app:1")).unwrap();
    let removed = t.s.delete_image(&t.a).unwrap();
    assert_eq!(removed, vec![t.a_top.chain_id.clone()]);
    assert!(t.s.image(&t.a).unwrap().is_none());
    assert_eq!(
        t.s.resolve("app:1").unwrap(),
        None,
        "tags go with the image"
    );
    assert!(t.s.layer_diff_dir(&t.base.chain_id).join("base").exists());
    assert!(!t.s.layer_diff_dir(&t.a_top.chain_id).exists());
    assert!(!t.s.has_blob(&t.a), "config blob removed");
    assert!(!t.s.has_blob(&t.a_top.blob), "layer blob removed");
    assert!(t.s.has_blob(&t.base.blob));
    let du = t.s.disk_usage().unwrap();
    assert_eq!(du.layers_size, 1030);
    assert_eq!(du.images[0].shared_size, 0);

    let removed = t.s.delete_image(&t.b).unwrap();
    assert_eq!(removed, [t.b_top.chain_id.clone(), t.base.chain_id.clone()]);
    assert!(ls(&t.s.root().join("layers")).is_empty());
    assert!(ls(&t.s.root().join("blobs/sha256")).is_empty());
    assert!(t.s.layers().unwrap().is_empty());
    assert!(t.s.check().unwrap().is_empty());
    assert!(matches!(
        t.s.delete_image(&t.b),
        Err(Error::ImageNotFound(_))
    ));
}

#[test]
fn delete_during_a_write_leaves_files_for_gc() {
    require_root!();
    let t = two_images();
    let guard = t.s.write_guard();
    assert_eq!(t.s.delete_image(&t.a).unwrap(), Vec::<Digest>::new());
    // The unreferenced top layer is still there for the writer to reuse.
    assert!(t.s.layer(&t.a_top.chain_id).unwrap().is_some());
    drop(guard);
    let report = t.s.gc().unwrap();
    assert_eq!(report.layers_removed, vec![t.a_top.chain_id.clone()]);
    assert!(report.blobs_removed.contains(&t.a));
    assert!(report.blobs_removed.contains(&t.a_top.blob));
    assert!(!t.s.layer_diff_dir(&t.a_top.chain_id).exists());
    assert!(t.s.check().unwrap().is_empty());
}

#[test]
fn gc_removes_unreferenced_layers_and_blobs_only() {
    require_root!();
    let t = two_images();
    let orphan_layer = layer(&t.s, None, &Tar::new().file("o", &[9u8; 77]).finish()).unwrap();
    let orphan_blob = t.s.put_blob(b"orphan", None).unwrap();
    let kept = t.s.put_blob(b"kept by an owner", None).unwrap();
    t.s.add_blob_ref(&kept, "index:x").unwrap();
    let report = t.s.gc().unwrap();
    assert_eq!(report.layers_removed, vec![orphan_layer.chain_id.clone()]);
    let mut blobs = report.blobs_removed.clone();
    blobs.sort();
    let mut expected = vec![orphan_layer.blob.clone(), orphan_blob.clone()];
    expected.sort();
    assert_eq!(blobs, expected);
    assert_eq!(report.bytes_freed, 77 + orphan_layer.blob_size + 6);
    assert!(t.s.has_blob(&kept));
    assert!(t.s.image(&t.a).unwrap().is_some());
    assert!(t.s.layer_diff_dir(&t.base.chain_id).exists());
    // Nothing left to collect.
    assert_eq!(t.s.gc().unwrap(), Default::default());
    t.s.remove_blob_ref(&kept, "index:x").unwrap();
    assert_eq!(t.s.gc().unwrap().blobs_removed, [kept]);
}

#[test]
fn gc_waits_for_writers() {
    let s = store();
    let guard = s.write_guard();
    let blob = s.put_blob(b"fresh, not yet referenced", None).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let h = scope.spawn(|| {
            let report = s.gc().unwrap();
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            report
        });
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(
            !done.load(std::sync::atomic::Ordering::SeqCst),
            "gc ran under a writer"
        );
        assert!(s.has_blob(&blob));
        drop(guard);
        assert_eq!(h.join().unwrap().blobs_removed, vec![blob.clone()]);
    });
}

// ---- tags and resolution ----

#[test]
fn resolve_by_id_short_id_tag_default_tag_and_digest() {
    require_root!();
    let t = two_images();
    let s = &t.s;
    s.tag(&t.a, &r("busybox")).unwrap();
    s.tag(&t.a, &r("docker.io/library/busybox:1.36")).unwrap();
    s.tag(&t.b, &r("127.0.0.1:5000/x/y:v1")).unwrap();
    let repo_digest = Reference::parse(&format!("busybox@{}", Digest::of(b"manifest"))).unwrap();
    s.add_repo_digest(&t.a, &repo_digest).unwrap();

    assert_eq!(s.resolve(t.a.as_str()).unwrap(), Some(t.a.clone()));
    assert_eq!(s.resolve(t.a.hex()).unwrap(), Some(t.a.clone()));
    assert_eq!(s.resolve(t.a.short()).unwrap(), Some(t.a.clone()));
    assert_eq!(
        s.resolve(&format!("sha256:{}", t.a.short())).unwrap(),
        Some(t.a.clone())
    );
    assert_eq!(s.resolve("busybox").unwrap(), Some(t.a.clone()));
    assert_eq!(s.resolve("busybox:latest").unwrap(), Some(t.a.clone()));
    assert_eq!(
        s.resolve("library/busybox:1.36").unwrap(),
        Some(t.a.clone())
    );
    assert_eq!(
        s.resolve("127.0.0.1:5000/x/y:v1").unwrap(),
        Some(t.b.clone())
    );
    assert_eq!(
        s.resolve(&repo_digest.to_string()).unwrap(),
        Some(t.a.clone())
    );
    assert_eq!(s.resolve("busybox:nope").unwrap(), None);
    assert_eq!(
        s.resolve("127.0.0.1:5000/x/y").unwrap(),
        None,
        "default tag is latest"
    );
    assert!(matches!(
        s.resolve("Upper"),
        Err(Error::InvalidReference { .. })
    ));
    let missing = Digest::of(b"no such image");
    assert_eq!(s.resolve(missing.as_str()).unwrap(), None);

    let img = s.image(&t.a).unwrap().unwrap();
    assert_eq!(img.repo_tags, ["busybox:1.36", "busybox:latest"]);
    assert_eq!(img.repo_digests, [repo_digest.to_string()]);
}

#[test]
fn ambiguous_short_id_is_an_error() {
    // Enough images that two IDs share a first hex digit (pigeonhole: 17 > 16).
    let s = store();
    let mut ids = Vec::new();
    for i in 0..17 {
        let id = config(&s, &format!("img{i}"));
        s.create_image(&id, None, &[]).unwrap();
        ids.push(id);
    }
    let mut by_first: std::collections::HashMap<char, Vec<&Digest>> = Default::default();
    for id in &ids {
        by_first
            .entry(id.hex().chars().next().unwrap())
            .or_default()
            .push(id);
    }
    let (c, clash) = by_first.iter().find(|(_, v)| v.len() > 1).unwrap();
    match s.resolve(&c.to_string()) {
        Err(Error::AmbiguousId(input)) => assert_eq!(input, c.to_string()),
        other => panic!("expected AmbiguousId, got {other:?}"),
    }
    // A longer prefix is unique again.
    assert_eq!(s.resolve(clash[0].short()).unwrap(), Some(clash[0].clone()));
    // A hex prefix that is not an image and not a tag.
    let unused = (b'0'..=b'9')
        .chain(b'a'..=b'f')
        .map(|b| b as char)
        .find(|ch| !by_first.contains_key(ch));
    if let Some(ch) = unused {
        assert_eq!(s.resolve(&ch.to_string()).unwrap(), None);
    }
}

#[test]
fn a_tag_wins_over_an_id_prefix() {
    let s = store();
    let a = config(&s, "a");
    let b = config(&s, "b");
    s.create_image(&a, None, &[]).unwrap();
    s.create_image(&b, None, &[]).unwrap();
    // Tag image b with a name that is also a prefix of a's ID.
    let prefix = &a.hex()[..6];
    s.tag(&b, &r(prefix)).unwrap();
    assert_eq!(s.resolve(prefix).unwrap(), Some(b.clone()));
}

#[test]
fn tag_moves_between_images_and_untag() {
    let s = store();
    let a = config(&s, "a");
    let b = config(&s, "b");
    s.create_image(&a, None, &[]).unwrap();
    s.create_image(&b, None, &[]).unwrap();
    s.tag(&a, &r("app")).unwrap();
    s.tag(&b, &r("app:latest")).unwrap();
    assert!(s.image(&a).unwrap().unwrap().repo_tags.is_empty());
    assert_eq!(s.image(&b).unwrap().unwrap().repo_tags, ["app:latest"]);
    assert_eq!(s.untag(&r("app")).unwrap(), Some(b.clone()));
    assert_eq!(s.untag(&r("app")).unwrap(), None);
    assert_eq!(s.resolve("app").unwrap(), None);

    let digest_ref = Reference::parse(&format!("app@{}", Digest::of(b"m"))).unwrap();
    assert!(matches!(
        s.tag(&a, &digest_ref),
        Err(Error::TagWithDigest(_))
    ));
    assert!(matches!(
        s.tag(&Digest::of(b"none"), &r("x")),
        Err(Error::ImageNotFound(_))
    ));
    s.add_repo_digest(&a, &digest_ref).unwrap();
    assert_eq!(s.untag(&digest_ref).unwrap(), Some(a.clone()));
    assert!(s.image(&a).unwrap().unwrap().repo_digests.is_empty());
    assert!(matches!(
        s.add_repo_digest(&a, &r("app:1")),
        Err(Error::InvalidReference { .. })
    ));
}

// ---- recovery and checks ----

#[test]
fn reopen_after_a_crash_cleans_up_debris() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let kept;
    {
        let s = Store::open(dir.path()).unwrap();
        kept = layer(&s, None, &Tar::new().file("k", b"keep").finish()).unwrap();
    }
    // A rename that happened without its db insert, and a half-written temp file and dir.
    let stray = dir.path().join("layers").join(Digest::of(b"stray").hex());
    fs::create_dir_all(stray.join("diff/usr")).unwrap();
    fs::write(stray.join("diff/usr/f"), b"x").unwrap();
    fs::write(dir.path().join("tmp/blob-1234"), b"partial").unwrap();
    fs::create_dir_all(dir.path().join("tmp/layer-1234/diff/etc")).unwrap();

    let s = Store::open(dir.path()).unwrap();
    assert_eq!(ls(&dir.path().join("layers")), [kept.chain_id.hex()]);
    assert!(ls(&dir.path().join("tmp")).is_empty());
    assert_eq!(s.layer(&kept.chain_id).unwrap(), Some(kept.clone()));
    assert_eq!(
        fs::read(s.layer_diff_dir(&kept.chain_id).join("k")).unwrap(),
        b"keep"
    );
}

#[test]
fn check_reports_corrupt_blobs_missing_dirs_and_debris() {
    require_root!();
    let t = two_images();
    assert!(t.s.check().unwrap().is_empty());

    // Corrupt a layer blob in place.
    let path = t.s.blob_path(&t.b_top.blob);
    let mut bytes = fs::read(&path).unwrap();
    bytes[0] ^= 0xff;
    fs::write(&path, bytes).unwrap();
    // Lose a layer dir.
    fs::remove_dir_all(t.s.root().join("layers").join(t.a_top.chain_id.hex())).unwrap();
    // Debris.
    fs::create_dir(t.s.root().join("layers").join(Digest::of(b"x").hex())).unwrap();
    fs::write(t.s.root().join("tmp/leftover"), b"").unwrap();

    let problems: Vec<String> =
        t.s.check()
            .unwrap()
            .into_iter()
            .map(|p| p.message)
            .collect();
    let has = |needle: &str| problems.iter().any(|p| p.contains(needle));
    assert!(
        has(&format!("blob {} has digest sha256:", t.b_top.blob)),
        "{problems:#?}"
    );
    assert!(
        has(&format!("layer {}: directory", t.a_top.chain_id)) && has("is missing"),
        "{problems:#?}"
    );
    assert!(has(Digest::of(b"x").hex()), "{problems:#?}");
    assert!(has("leftover"), "{problems:#?}");
    assert_eq!(problems.len(), 4, "{problems:#?}");
    // Read-only: the debris is still there.
    assert!(t.s.root().join("tmp/leftover").exists());
}

#[test]
fn engine_tables_live_in_the_same_database() {
    let s = store();
    s.migrate_extra(
        "engine-0001-containers",
        "CREATE TABLE containers (id TEXT PRIMARY KEY, image TEXT NOT NULL);",
    )
    .unwrap();
    s.migrate_extra("engine-0001-containers", "this is not even SQL")
        .unwrap();
    s.with_tx(|tx| {
        tx.execute("INSERT INTO containers VALUES ('c1', 'sha256:x')", [])
            .map(drop)
    })
    .unwrap();
    let n: i64 = s
        .with_conn(|c| c.query_row("SELECT COUNT(*) FROM containers", [], |r| r.get(0)))
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn gzip_layer_blob_is_kept_as_received() {
    require_root!();
    let s = store();
    let t = Tar::new().file("z", b"zz").finish();
    let gz = gzip(&t);
    let rec = layer(&s, None, &gz).unwrap();
    assert_eq!(rec.blob, Digest::of(&gz));
    assert_eq!(s.read_blob(&rec.blob).unwrap(), gz);
}
