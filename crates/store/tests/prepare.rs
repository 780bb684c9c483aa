//! One read per layer: `prepare_layer_from_stream` (blob + unpack from the same bytes) and
//! `commit_layers` (one syncfs, rename, record), and removal through `trash/`.

mod common;

use std::fs;
use std::io::{self, Read};

use berth_store::{store::chain_id, Digest, Error};
use common::{gzip, ls, store, zstd, Tar};

fn sample_tar() -> Vec<u8> {
    Tar::new()
        .dir("etc/", 0o755)
        .file("etc/hostname", b"berth\n")
        .file_with("usr/bin/tool", &vec![7u8; 100_000], |h| h.set_mode(0o755))
        .symlink("usr/bin/alias", "tool")
        .hardlink("usr/bin/again", "usr/bin/tool")
        .finish()
}

/// Hands out at most `step` bytes per read, like a socket.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.step).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Fails after `ok` bytes, like a connection that breaks.
struct Broken<'a> {
    data: &'a [u8],
    ok: usize,
}

impl Read for Broken<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.ok == 0 {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "peer went away",
            ));
        }
        let n = buf.len().min(self.ok).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        self.ok -= n;
        Ok(n)
    }
}

fn tmp_is_empty(s: &berth_store::Store) -> bool {
    ls(&s.root().join("tmp")).is_empty()
}

#[test]
fn stream_is_stored_and_unpacked_in_one_read_for_every_compression() {
    require_root!();
    let plain = sample_tar();
    let diff_id = Digest::of(&plain);
    for (blob_bytes, media) in [
        (plain.clone(), "application/vnd.oci.image.layer.v1.tar"),
        (gzip(&plain), "application/vnd.oci.image.layer.v1.tar+gzip"),
        (zstd(&plain), "application/vnd.oci.image.layer.v1.tar+zstd"),
    ] {
        let s = store();
        let blob = Digest::of(&blob_bytes);
        // Three bytes per read: the compression is still recognised.
        let reader = Trickle {
            data: &blob_bytes,
            step: 3,
        };
        let prepared = s.prepare_layer_from_stream(reader, Some(&blob)).unwrap();
        assert_eq!(prepared.blob(), &blob, "{media}");
        assert_eq!(prepared.diff_id(), &diff_id, "{media}");
        assert_eq!(prepared.media_type(), media);
        assert_eq!(prepared.blob_size(), blob_bytes.len() as u64);
        assert_eq!(prepared.size(), 6 + 100_000 + 4);
        // Nothing visible before the commit.
        assert!(!s.has_blob(&blob));
        assert!(s.layers().unwrap().is_empty());
        assert!(ls(&s.root().join("layers")).is_empty());

        let records = s.commit_layers(vec![(prepared, None)]).unwrap();
        assert_eq!(records.len(), 1);
        let rec = &records[0];
        assert_eq!(rec.chain_id, diff_id);
        assert_eq!(rec.blob, blob);
        assert_eq!(rec.media_type, media);
        assert_eq!(s.layer(&rec.chain_id).unwrap().as_ref(), Some(rec));
        assert_eq!(
            s.read_blob(&blob).unwrap(),
            blob_bytes,
            "the blob as received"
        );
        let diff = s.layer_diff_dir(&rec.chain_id);
        assert_eq!(fs::read(diff.join("etc/hostname")).unwrap(), b"berth\n");
        assert_eq!(
            fs::read(diff.join("usr/bin/again")).unwrap(),
            vec![7u8; 100_000]
        );
        assert!(tmp_is_empty(&s));
        assert!(s.check().unwrap().is_empty(), "{:?}", s.check().unwrap());
    }
}

#[test]
fn commit_puts_each_layer_on_its_parent_and_reuses_existing_chains() {
    require_root!();
    let s = store();
    let base = sample_tar();
    let top = Tar::new().file("top", b"on top").finish();
    let prepare = |bytes: &[u8]| s.prepare_layer_from_stream(bytes, None).unwrap();
    let base_chain = chain_id(None, &Digest::of(&base));
    let records = s
        .commit_layers(vec![
            (prepare(&base), None),
            (prepare(&top), Some(base_chain.clone())),
        ])
        .unwrap();
    assert_eq!(records[0].chain_id, base_chain);
    assert_eq!(records[1].parent.as_ref(), Some(&base_chain));
    assert_eq!(
        records[1].chain_id,
        chain_id(Some(&base_chain), &Digest::of(&top))
    );
    let image = s
        .create_image(&common::config(&s, "two"), None, &records)
        .unwrap();
    assert_eq!(image.layers, records);

    // The same content again (another compression, twice in one batch): the records that
    // exist are returned and the new trees vanish; a blob that came with its stream is kept.
    let again = s
        .commit_layers(vec![
            (
                s.prepare_layer_from_stream(&gzip(&base)[..], None).unwrap(),
                None,
            ),
            (prepare(&base), None),
        ])
        .unwrap();
    assert_eq!(again, vec![records[0].clone(), records[0].clone()]);
    assert_eq!(s.layers().unwrap().len(), 2);
    assert_eq!(ls(&s.root().join("layers")).len(), 2);
    assert!(s.has_blob(&Digest::of(&gzip(&base))));
    assert!(tmp_is_empty(&s));
    assert!(s.check().unwrap().is_empty());
}

#[test]
fn dropping_a_prepared_layer_removes_everything_it_wrote() {
    require_root!();
    let s = store();
    let bytes = sample_tar();
    let prepared = s.prepare_layer_from_stream(&bytes[..], None).unwrap();
    assert_eq!(
        ls(&s.root().join("tmp")).len(),
        2,
        "layer dir and blob file"
    );
    drop(prepared);
    assert!(tmp_is_empty(&s));
    assert!(!s.has_blob(&Digest::of(&bytes)));
    assert!(s.layers().unwrap().is_empty());
}

#[test]
fn wrong_expected_blob_is_a_digest_mismatch_and_leaves_nothing() {
    require_root!();
    let s = store();
    let bytes = gzip(&sample_tar());
    let wrong = Digest::of(b"not this");
    match s.prepare_layer_from_stream(&bytes[..], Some(&wrong)) {
        Err(Error::DigestMismatch {
            expected, actual, ..
        }) => {
            assert_eq!(expected, wrong);
            assert_eq!(actual, Digest::of(&bytes));
        }
        other => panic!("expected DigestMismatch, got {other:?}"),
    }
    // Also when the content is broken too: the mismatch is what is reported.
    let mut broken = bytes.clone();
    broken[30] ^= 0xff;
    assert!(matches!(
        s.prepare_layer_from_stream(&broken[..], Some(&Digest::of(&bytes))),
        Err(Error::DigestMismatch { .. })
    ));
    assert!(tmp_is_empty(&s));
    assert!(ls(&s.root().join("blobs/sha256")).is_empty());
}

#[test]
fn hostile_or_corrupt_content_names_the_blob_and_keeps_it_as_a_plain_blob() {
    require_root!();
    let outside = tempfile::tempdir().unwrap();
    let hostile = Tar::new()
        .symlink("evil", outside.path().to_str().unwrap())
        .file("evil/pwned", b"x")
        .finish();
    let corrupt = {
        let gz = gzip(&sample_tar());
        gz[..gz.len() - 4].to_vec()
    };
    for bytes in [hostile, corrupt] {
        let s = store();
        let digest = Digest::of(&bytes);
        match s.prepare_layer_from_stream(&bytes[..], None) {
            Err(Error::UnsafeLayerEntry { blob, .. }) | Err(Error::CorruptLayer { blob, .. }) => {
                assert_eq!(blob, digest, "the error names the blob by its digest")
            }
            other => panic!("expected a layer error, got {other:?}"),
        }
        assert!(s.has_blob(&digest), "the blob itself is kept");
        assert_eq!(s.read_blob(&digest).unwrap(), bytes);
        assert!(tmp_is_empty(&s));
        assert!(s.layers().unwrap().is_empty());
        // Unpacking the stored blob gives the same kind of error again.
        assert!(matches!(
            s.unpack_layer(None, &digest, None),
            Err(Error::UnsafeLayerEntry { .. }) | Err(Error::CorruptLayer { .. })
        ));
        assert!(tmp_is_empty(&s));
    }
    assert!(ls(outside.path()).is_empty());
}

#[test]
fn a_read_error_is_an_io_error_and_leaves_nothing() {
    require_root!();
    let s = store();
    let bytes = sample_tar();
    match s.prepare_layer_from_stream(
        Broken {
            data: &bytes,
            ok: 2000,
        },
        None,
    ) {
        Err(Error::Io { source, .. }) => {
            assert_eq!(source.kind(), io::ErrorKind::ConnectionReset)
        }
        other => panic!("expected Io, got {other:?}"),
    }
    assert!(tmp_is_empty(&s));
    assert!(ls(&s.root().join("blobs/sha256")).is_empty());
}

#[test]
fn removed_layers_go_through_trash_which_open_empties_and_check_ignores() {
    require_root!();
    let s = store();
    let records = s
        .commit_layers(vec![(
            s.prepare_layer_from_stream(&sample_tar()[..], None)
                .unwrap(),
            None,
        )])
        .unwrap();
    let id = common::config(&s, "trash");
    s.create_image(&id, None, &records).unwrap();
    s.delete_image(&id).unwrap();
    assert!(ls(&s.root().join("layers")).is_empty());
    assert!(
        ls(&s.root().join("trash")).is_empty(),
        "deleted, not just moved"
    );

    // A crash between the move and the delete leaves a tree in trash/: not a problem for
    // check, gone after the next open.
    let left = s.root().join("trash/layer-0123456789abcdef/diff/etc");
    fs::create_dir_all(&left).unwrap();
    fs::write(left.join("passwd"), b"x").unwrap();
    assert!(s.check().unwrap().is_empty(), "{:?}", s.check().unwrap());
    let root = s.root().to_path_buf();
    let dir = s.dir;
    drop(s.store);
    let reopened = berth_store::Store::open(&root).unwrap();
    assert!(ls(&root.join("trash")).is_empty());
    drop(reopened);
    drop(dir);
}

#[test]
fn tmp_carries_the_topdir_hint_where_the_filesystem_has_it() {
    let s = store();
    let file = fs::File::open(s.root().join("tmp")).unwrap();
    let mut flags: libc::c_int = 0;
    use std::os::unix::io::AsRawFd;
    // SAFETY: FS_IOC_GETFLAGS writes one int through a pointer to a live c_int; the fd is open.
    let r = unsafe { libc::ioctl(file.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) };
    if r != 0 {
        eprintln!("skipped: no inode flags on this filesystem");
        return;
    }
    assert_ne!(flags & 0x0002_0000, 0, "FS_TOPDIR_FL on tmp/");
}
