//! The parallel unpacker against the serial one: tars whose entries depend on each other in ways
//! a naive parallel unpacker gets wrong must give exactly the tree (or the error) of the serial
//! order. Every case runs both ways (`UnpackOptions::serial()` and the default pool) and compares.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use berth_store::unpack::{unpack_blob_with, UnpackOptions, Unpacked};
use berth_store::{Digest, Error};
use common::{Tar, MTIME};

/// Everything about one path that an unpack decides (not inode numbers, not dir sizes).
#[derive(Debug, PartialEq, Eq)]
struct Node {
    kind: &'static str,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: (i64, i64),
    nlink: u64,
    rdev: u64,
    /// File content or symlink target.
    data: Vec<u8>,
    xattrs: Vec<(String, Vec<u8>)>,
}

fn snapshot(root: &Path) -> BTreeMap<PathBuf, Node> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let m = fs::symlink_metadata(&p).unwrap();
        let ft = m.file_type();
        let (kind, data) = if ft.is_dir() {
            for e in fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
            ("dir", Vec::new())
        } else if ft.is_symlink() {
            (
                "symlink",
                fs::read_link(&p)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes(),
            )
        } else if ft.is_file() {
            ("file", fs::read(&p).unwrap())
        } else if ft.is_fifo() {
            ("fifo", Vec::new())
        } else if ft.is_char_device() {
            ("char", Vec::new())
        } else {
            ("other", Vec::new())
        };
        let mut xattrs: Vec<(String, Vec<u8>)> = xattr::list(&p)
            .unwrap()
            .map(|n| {
                let v = xattr::get(&p, &n).unwrap().unwrap_or_default();
                (n.to_string_lossy().into_owned(), v)
            })
            .collect();
        xattrs.sort();
        // Directories no entry names, and whiteouts, keep the time of the unpack.
        let mtime = if matches!(kind, "dir" | "char") && m.mtime() > 1_700_000_000 {
            (-1, -1)
        } else {
            (m.mtime(), m.mtime_nsec())
        };
        out.insert(
            p.strip_prefix(root).unwrap().to_path_buf(),
            Node {
                kind,
                mode: m.mode(),
                uid: m.uid(),
                gid: m.gid(),
                mtime,
                nlink: m.nlink(),
                rdev: m.rdev(),
                data,
                xattrs,
            },
        );
    }
    out
}

/// Unpack `tar_bytes` with `opts` into a fresh dir; the result and the dir (kept alive).
fn unpack(
    tar_bytes: &[u8],
    opts: UnpackOptions,
) -> (berth_store::Result<Unpacked>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let blob_path = dir.path().join("blob");
    fs::write(&blob_path, tar_bytes).unwrap();
    let dest = dir.path().join("diff");
    fs::create_dir(&dest).unwrap();
    let r = unpack_blob_with(&blob_path, &Digest::of(tar_bytes), &dest, opts);
    (r, dir)
}

/// Unpack both ways; both must succeed with the same result and the same tree, which is
/// returned.
fn same_both_ways(tar_bytes: &[u8]) -> (Unpacked, BTreeMap<PathBuf, Node>) {
    let (serial, sdir) = unpack(tar_bytes, UnpackOptions::serial());
    let serial = serial.expect("serial unpack");
    let want = snapshot(&sdir.path().join("diff"));
    // Several times: a scheduling-dependent bug should not pass by luck.
    for _ in 0..3 {
        let (par, pdir) = unpack(tar_bytes, UnpackOptions::default());
        let par = par.expect("parallel unpack");
        assert_eq!(par, serial);
        let got = snapshot(&pdir.path().join("diff"));
        assert_eq!(got.len(), want.len(), "number of paths");
        for (path, node) in &want {
            assert_eq!(got.get(path), Some(node), "{}", path.display());
        }
    }
    (serial, want)
}

/// Unpack both ways; both must fail the same way (the same message, up to the temp dir).
/// Returns the serial error.
fn fails_same_both_ways(tar_bytes: &[u8]) -> Error {
    let message = |e: &Error, dir: &tempfile::TempDir| {
        e.to_string().replace(dir.path().to_str().unwrap(), "<tmp>")
    };
    let (serial, sdir) = unpack(tar_bytes, UnpackOptions::serial());
    let serial = serial.expect_err("serial unpack must fail");
    let want = message(&serial, &sdir);
    for _ in 0..3 {
        let (par, pdir) = unpack(tar_bytes, UnpackOptions::default());
        let par = par.expect_err("parallel unpack must fail");
        assert_eq!(message(&par, &pdir), want);
        assert_eq!(
            std::mem::discriminant(&par),
            std::mem::discriminant(&serial)
        );
    }
    serial
}

/// Small files that keep the workers busy, so later entries meet work still in flight.
fn filler(t: &mut Tar, dir: &str, n: usize) {
    for i in 0..n {
        t.file(
            &format!("{dir}/fill{i}"),
            &vec![(i % 251) as u8; 2000 + i * 37],
        );
    }
}

#[test]
fn file_then_symlink_at_the_same_path() {
    require_root!();
    let mut t = Tar::new();
    filler(&mut t, "busy", 200);
    t.file("x", &[1u8; 70_000]).symlink("x", "target");
    let (u, tree) = same_both_ways(&t.finish());
    assert_eq!(tree[Path::new("x")].kind, "symlink");
    assert_eq!(tree[Path::new("x")].data, b"target");
    let filler_size: u64 = (0..200).map(|i| 2000 + i * 37).sum();
    assert_eq!(
        u.size,
        filler_size + 6,
        "the replaced file no longer counts"
    );
}

#[test]
fn file_then_directory_at_the_same_path() {
    require_root!();
    let mut t = Tar::new();
    filler(&mut t, "busy", 200);
    t.file("p", &[2u8; 50_000])
        .dir("p/", 0o750)
        .file("p/child", b"inside");
    let (_, tree) = same_both_ways(&t.finish());
    assert_eq!(tree[Path::new("p")].kind, "dir");
    assert_eq!(tree[Path::new("p")].mode & 0o7777, 0o750);
    assert_eq!(tree[Path::new("p/child")].data, b"inside");
}

#[test]
fn file_then_a_path_below_it_is_refused_as_before() {
    require_root!();
    let mut t = Tar::new();
    filler(&mut t, "busy", 200);
    t.file("a", &[3u8; 90_000]).file("a/b", b"under a file");
    match fails_same_both_ways(&t.finish()) {
        Error::UnsafeLayerEntry { entry, reason, .. } => {
            assert_eq!(entry, "a/b");
            assert!(reason.contains("not a directory"), "{reason}");
        }
        other => panic!("expected UnsafeLayerEntry, got {other:?}"),
    }
}

#[test]
fn symlink_then_a_path_through_it_is_refused_and_nothing_escapes() {
    require_root!();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().to_str().unwrap().to_string();
    for tail in [
        Tar::new().file("d/x", b"pwned").finish(),
        Tar::new().dir("d/sub/", 0o755).finish(),
        Tar::new().file("d/.wh.x", b"").finish(),
        Tar::new().file("d/.wh..wh..opq", b"").finish(),
        Tar::new().hardlink("d/h", "busy/fill0").finish(),
    ] {
        let mut t = Tar::new();
        filler(&mut t, "busy", 200);
        t.symlink("d", &target);
        // Entries of `tail` follow the symlink immediately (its end-of-archive blocks cut off).
        let mut bytes = t.finish();
        bytes.truncate(bytes.len() - 1024);
        bytes.extend_from_slice(&tail);
        match fails_same_both_ways(&bytes) {
            Error::UnsafeLayerEntry { reason, .. } => {
                assert!(reason.contains("symlink"), "{reason}")
            }
            other => panic!("expected UnsafeLayerEntry, got {other:?}"),
        }
        assert!(common::ls(outside.path()).is_empty(), "wrote outside");
        assert_eq!(
            xattr::get(outside.path(), "trusted.overlay.opaque").unwrap(),
            None
        );
    }
}

#[test]
fn hardlink_to_a_file_still_in_flight_sees_all_of_its_content() {
    require_root!();
    let content: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let mut t = Tar::new();
    filler(&mut t, "busy", 300);
    t.file_with("bin/tool", &content, |h| h.set_mode(0o755))
        .hardlink("bin/alias", "bin/tool")
        .hardlink("other/dir/alias", "bin/tool");
    let (u, tree) = same_both_ways(&t.finish());
    for p in ["bin/tool", "bin/alias", "other/dir/alias"] {
        let n = &tree[Path::new(p)];
        assert_eq!(n.data, content, "{p}");
        assert_eq!(n.nlink, 3, "{p}");
        assert_eq!(n.mode & 0o7777, 0o755, "{p}");
    }
    let filler_size: u64 = (0..300).map(|i| 2000 + i * 37).sum();
    assert_eq!(
        u.size,
        filler_size + content.len() as u64,
        "one inode counts once"
    );
}

#[test]
fn replacing_a_directory_with_work_in_flight_below_it() {
    require_root!();
    let mut t = Tar::new();
    t.dir("d/", 0o755);
    filler(&mut t, "d/deep/er", 300);
    t.symlink("d", "elsewhere").file("d2/after", b"after");
    let (u, tree) = same_both_ways(&t.finish());
    assert_eq!(tree[Path::new("d")].kind, "symlink");
    assert!(!tree
        .keys()
        .any(|p| p.starts_with("d") && p != Path::new("d")));
    assert_eq!(u.size, 9 + 5, "nothing under the old d counts");
}

#[test]
fn directory_entry_after_its_children_and_entries_repeated() {
    require_root!();
    let mut t = Tar::new();
    filler(&mut t, "late/sub", 200);
    t.dir("late/sub/", 0o700)
        .dir("late/", 0o711)
        .file("f", &[0u8; 1000])
        .file("f", &[1u8; 10])
        .fifo("f")
        .dir("e/", 0o700)
        .dir("e/", 0o750);
    let (_, tree) = same_both_ways(&t.finish());
    assert_eq!(tree[Path::new("late")].mode & 0o7777, 0o711);
    assert_eq!(tree[Path::new("late/sub")].mode & 0o7777, 0o700);
    assert_eq!(tree[Path::new("late/sub")].mtime, (MTIME as i64, 0));
    assert_eq!(tree[Path::new("f")].kind, "fifo");
    assert_eq!(tree[Path::new("e")].mode & 0o7777, 0o750);
}

#[test]
fn first_failure_in_entry_order_is_reported() {
    require_root!();
    // A name longer than NAME_MAX fails in the kernel (a worker's create), a later `..` entry
    // fails in the parser: the serial order reports the create failure, and so must the pool.
    let long = format!("dir/{}", "n".repeat(300));
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(MTIME);
        b.append_data(&mut h, path, data).unwrap();
    };
    for i in 0..200 {
        add(&format!("busy/f{i}"), &[7u8; 3000]);
    }
    add(&long, b"too long");
    for i in 0..50 {
        add(&format!("more/f{i}"), &[8u8; 3000]);
    }
    let mut bytes = b.into_inner().unwrap();
    bytes.truncate(bytes.len() - 1024);
    bytes.extend_from_slice(&Tar::new().file("../escape", b"x").finish());
    match fails_same_both_ways(&bytes) {
        Error::Io { context, source } => {
            assert!(context.starts_with("create "), "{context}");
            assert_eq!(source.raw_os_error(), Some(libc::ENAMETOOLONG));
        }
        other => panic!("expected the create failure, got {other:?}"),
    }
}

#[test]
fn many_small_files_and_nested_dirs_give_the_serial_tree() {
    require_root!();
    let mut t = Tar::new();
    t.dir("./", 0o755);
    let modes = [0o644, 0o600, 0o755, 0o4755, 0o2711, 0o444];
    for i in 0..3000usize {
        let dir = format!("d{:02}/s{}/t{}", i % 17, i % 5, i % 3);
        if i < 60 {
            // Some directories come with an entry (before their files), the rest are implicit.
            t.dir(&format!("{dir}/"), 0o750 + (i as u32 % 8));
        }
        let data: Vec<u8> = (0..(i * 131) % 20_000)
            .map(|j| ((i * 7 + j) % 256) as u8)
            .collect();
        if i % 100 == 3 {
            t.pax(&[
                ("SCHILY.xattr.user.berth", format!("v{i}").as_bytes()),
                ("mtime", b"1500000000.5"),
            ]);
        }
        t.file_with(&format!("{dir}/f{i}"), &data, |h| {
            h.set_mode(modes[i % modes.len()]);
            h.set_uid((i % 5) as u64 * 1000);
            h.set_gid((i % 3) as u64 * 100);
            h.set_mtime(1_600_000_000 + i as u64);
        });
        if i % 50 == 7 {
            t.symlink(&format!("{dir}/l{i}"), &format!("f{i}"));
        }
        if i % 97 == 11 {
            t.hardlink(&format!("links/h{i}"), &format!("{dir}/f{i}"));
        }
        if i % 499 == 5 {
            t.fifo(&format!("{dir}/p{i}"));
            t.file(&format!("{dir}/.wh.gone{i}"), b"");
        }
    }
    // A few files too big to hand over, streamed by the parsing thread between the others.
    t.file("big/one", &vec![9u8; 5 << 20]);
    t.file("d03/.wh..wh..opq", b"");
    // Metadata for a directory that has been full of files for a while.
    t.dir("d01/", 0o701);
    let (u, tree) = same_both_ways(&t.finish());
    let files = tree.values().filter(|n| n.kind == "file").count();
    assert_eq!(files, 3001 + 31, "files and their hardlinks");
    assert!(tree.values().filter(|n| n.kind == "symlink").count() >= 60);
    assert!(tree.values().any(|n| n.kind == "char"));
    assert!(u.size > 5 << 20);
}
