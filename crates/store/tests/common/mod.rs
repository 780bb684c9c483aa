//! Shared fixtures: layer tarballs built with the `tar` crate (plus raw header edits for hostile
//! entries), compression helpers and a store on a temp dir.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;

use berth_store::{Digest, LayerRecord, Store};
use tar::{EntryType, Header};

pub const MTIME: u64 = 1_600_000_000;

/// Most layer tests create root-owned files, device nodes and trusted.* xattrs.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Skip (with a message) a test that needs root.
#[macro_export]
macro_rules! require_root {
    () => {
        if !common::is_root() {
            eprintln!("skipped: this test needs root (chown, mknod, trusted.* xattrs)");
            return;
        }
    };
}

pub struct TestStore {
    pub dir: tempfile::TempDir,
    pub store: Store,
}

impl std::ops::Deref for TestStore {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

pub fn store() -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    TestStore { dir, store }
}

/// Builds a layer tarball entry by entry. Paths given here go into the header verbatim (no
/// validation), so hostile names can be written.
pub struct Tar {
    b: tar::Builder<Vec<u8>>,
}

impl Default for Tar {
    fn default() -> Self {
        Self::new()
    }
}

fn header(kind: EntryType, path: &[u8], mode: u32, size: u64) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(MTIME);
    h.set_size(size);
    set_raw(&mut h.as_old_mut().name, path);
    h
}

fn set_raw(slot: &mut [u8], value: &[u8]) {
    assert!(value.len() <= slot.len(), "fixture name too long");
    slot.fill(0);
    slot[..value.len()].copy_from_slice(value);
}

impl Tar {
    pub fn new() -> Tar {
        Tar {
            b: tar::Builder::new(Vec::new()),
        }
    }

    pub fn append(&mut self, mut h: Header, data: &[u8]) -> &mut Self {
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }

    /// Any entry type, with the header fields left at the fixture defaults.
    pub fn entry(&mut self, kind: EntryType, path: &str, mode: u32, data: &[u8]) -> &mut Self {
        self.append(header(kind, path.as_bytes(), mode, data.len() as u64), data)
    }

    pub fn dir(&mut self, path: &str, mode: u32) -> &mut Self {
        self.append(header(EntryType::Directory, path.as_bytes(), mode, 0), b"")
    }

    pub fn file(&mut self, path: &str, data: &[u8]) -> &mut Self {
        self.file_with(path, data, |_| {})
    }

    /// A regular file whose header `edit` may change (mode, uid, gid, mtime).
    pub fn file_with(
        &mut self,
        path: &str,
        data: &[u8],
        edit: impl FnOnce(&mut Header),
    ) -> &mut Self {
        let mut h = header(
            EntryType::Regular,
            path.as_bytes(),
            0o644,
            data.len() as u64,
        );
        edit(&mut h);
        self.append(h, data)
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        let mut h = header(EntryType::Symlink, path.as_bytes(), 0o777, 0);
        set_raw(&mut h.as_old_mut().linkname, target.as_bytes());
        self.append(h, b"")
    }

    pub fn hardlink(&mut self, path: &str, target: &str) -> &mut Self {
        let mut h = header(EntryType::Link, path.as_bytes(), 0o644, 0);
        set_raw(&mut h.as_old_mut().linkname, target.as_bytes());
        self.append(h, b"")
    }

    pub fn fifo(&mut self, path: &str) -> &mut Self {
        self.append(header(EntryType::Fifo, path.as_bytes(), 0o640, 0), b"")
    }

    pub fn device(&mut self, path: &str, kind: EntryType, major: u32, minor: u32) -> &mut Self {
        let mut h = header(kind, path.as_bytes(), 0o666, 0);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        self.append(h, b"")
    }

    /// A PAX extended header that applies to the next entry.
    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut data = Vec::new();
        for (key, value) in records {
            let body_len = 1 + key.len() + 1 + value.len() + 1; // " key=value\n"
            let mut len = body_len + 1;
            while len != body_len + len.to_string().len() {
                len = body_len + len.to_string().len();
            }
            data.extend_from_slice(format!("{len} {key}=").as_bytes());
            data.extend_from_slice(value);
            data.push(b'\n');
        }
        let h = header(EntryType::XHeader, b"PaxHeader", 0o644, data.len() as u64);
        self.append(h, &data)
    }

    pub fn finish(&mut self) -> Vec<u8> {
        let b = std::mem::replace(&mut self.b, tar::Builder::new(Vec::new()));
        b.into_inner().unwrap()
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(data, 3).unwrap()
}

/// Store `tar_bytes` as a blob and unpack it on top of `parent`.
pub fn layer(
    store: &Store,
    parent: Option<&Digest>,
    tar_bytes: &[u8],
) -> berth_store::Result<LayerRecord> {
    let blob = store.put_blob(tar_bytes, None).unwrap();
    store.unpack_layer(parent, &blob, None)
}

/// A config blob with some unique content; returns its digest (the image ID).
pub fn config(store: &Store, label: &str) -> Digest {
    store
        .put_blob(format!("{{\"label\":\"{label}\"}}").as_bytes(), None)
        .unwrap()
}

/// Names in `dir`, sorted.
pub fn ls(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}
