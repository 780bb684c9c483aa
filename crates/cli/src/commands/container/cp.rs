//! `berth cp`: copy files between a container and the local filesystem through
//! `HEAD/GET/PUT /containers/{id}/archive?path=…`. As in the docker CLI, the client packs and
//! unpacks the tar archives and applies Docker's naming rules (`pkg/archive/copy.go`): a
//! destination that exists as a directory receives the source inside it, otherwise the source
//! is renamed to the destination; a trailing `/` asserts a directory; `SRC/.` copies a
//! directory's contents. `-` streams a tar archive on stdin or stdout instead.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use clap::Args;
use futures_util::TryStreamExt;
use hyper::Method;
use serde_json::Value as Json;
use tokio_util::io::{StreamReader, SyncIoBridge};

use super::container_path;
use crate::client::{Client, ClientError, Request};
use crate::commands::{go_errno_text, Ctx};
use crate::gopath;

#[derive(Debug, Clone, Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long = "archive")]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    #[arg(value_name = "CONTAINER:SRC_PATH|SRC_PATH|-")]
    pub source: String,
    #[arg(value_name = "DEST_PATH|-|CONTAINER:DEST_PATH")]
    pub destination: String,
}

/// Go's `os.ModeDir`, `os.ModeSymlink`, `os.ModeDevice`, `os.ModeIrregular` bits, as the
/// path-stat header carries them.
const MODE_DIR: u64 = 1 << 31;
const MODE_SYMLINK: u64 = 1 << 27;
const MODE_DEVICE: u64 = 1 << 26;
const MODE_IRREGULAR: u64 = 1 << 19;

/// A path's stat from the `X-Docker-Container-Path-Stat` header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    pub mode: u64,
    pub link_target: String,
}

impl PathStat {
    fn is_dir(&self) -> bool {
        self.mode & MODE_DIR != 0
    }

    fn is_symlink(&self) -> bool {
        self.mode & MODE_SYMLINK != 0
    }
}

/// Docker's `splitCpArg`: `CONTAINER:PATH`, or a local path (absolute, or starting with `.`).
pub fn split_cp_arg(arg: &str) -> (Option<String>, String) {
    if arg.starts_with('/') {
        return (None, arg.to_string());
    }
    match arg.split_once(':') {
        Some((c, p)) if !c.starts_with('.') => (Some(c.to_string()), p.to_string()),
        _ => (None, arg.to_string()),
    }
}

/// Standard base64 (the stat header), tolerant of missing padding.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            b'\r' | b'\n' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Decodes the `X-Docker-Container-Path-Stat` header.
pub fn decode_path_stat(header: &str) -> Option<PathStat> {
    let json: Json = serde_json::from_slice(&base64_decode(header)?).ok()?;
    Some(PathStat {
        name: json.get("name")?.as_str().unwrap_or("").to_string(),
        size: json.get("size").and_then(Json::as_i64).unwrap_or(0),
        mode: json.get("mode").and_then(Json::as_u64).unwrap_or(0),
        link_target: json
            .get("linkTarget")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string(),
    })
}

fn stat_from_response<B>(resp: &hyper::Response<B>) -> PathStat {
    resp.headers()
        .get("X-Docker-Container-Path-Stat")
        .and_then(|v| v.to_str().ok())
        .and_then(decode_path_stat)
        .unwrap_or_default()
}

fn archive_request(method: Method, container: &str, path: &str) -> Request {
    Request::new(method, container_path(container, "/archive")).query("path", path)
}

fn path_error(e: ClientError, container: &str, path: &str) -> anyhow::Error {
    e.not_found_as("container:path", &format!("{container}:{path}"))
}

/// HEAD /containers/{id}/archive: the stat of a path in the container.
async fn stat_path(client: &Client, container: &str, path: &str) -> anyhow::Result<PathStat> {
    let resp = client
        .send(archive_request(Method::HEAD, container, path))
        .await
        .map_err(|e| path_error(e, container, path))?;
    Ok(stat_from_response(&resp))
}

/// Docker's `resolveLocalPath`: absolute and clean, keeping a trailing `/` or `/.`.
fn resolve_local_path(path: &str) -> anyhow::Result<String> {
    let abs = if path.starts_with('/') {
        gopath::clean(path)
    } else {
        let cwd = std::env::current_dir()?;
        gopath::join(&cwd.to_string_lossy(), path)
    };
    Ok(gopath::preserve_trailing_dot_or_separator(&abs, path))
}

/// Docker's `ValidateOutputPath`.
fn validate_output_path(path: &str) -> anyhow::Result<()> {
    let dir = gopath::dir(&gopath::clean(path));
    if !dir.is_empty() && dir != "." && !Path::new(&dir).exists() {
        anyhow::bail!("invalid output path: directory {dir:?} does not exist");
    }
    if let Ok(meta) = std::fs::metadata(path) {
        if !meta.is_dir() && !meta.is_file() {
            let what = if meta.file_type().is_block_device() || meta.file_type().is_char_device() {
                "got a device"
            } else {
                "got an irregular file"
            };
            anyhow::bail!(
                "invalid output path: {path:?} must be a directory or a regular file: {what}"
            );
        }
    }
    Ok(())
}

/// What is known about one side of a copy (Docker's `CopyInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyInfo {
    pub path: String,
    pub exists: bool,
    pub is_dir: bool,
    pub rebase_name: String,
}

/// The outcome of Docker's `PrepareArchiveCopy`: where to extract, and how to rename the
/// archive's top entry (`old` → `new`, if at all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub dst_dir: String,
    pub rebase: Option<(String, String)>,
}

/// Docker's `PrepareArchiveCopy`, as a plan.
pub fn prepare_archive_copy(src: &CopyInfo, dst: &CopyInfo) -> Result<Prepared, String> {
    let (dst_dir, dst_base) = gopath::split_path_dir_entry(&dst.path);
    let (_, mut src_base) = gopath::split_path_dir_entry(&src.path);
    if !src.rebase_name.is_empty() {
        src_base = src.rebase_name.clone();
    }
    if dst.exists && dst.is_dir {
        return Ok(Prepared {
            dst_dir: dst.path.clone(),
            rebase: None,
        });
    }
    if dst.exists && src.is_dir {
        return Err("cannot copy directory".to_string());
    }
    if !dst.exists
        && !src.is_dir
        && (gopath::has_trailing_separator(&dst.path) || gopath::specifies_current_dir(&dst.path))
    {
        return Err("no such directory".to_string());
    }
    Ok(Prepared {
        dst_dir,
        rebase: Some((src_base, dst_base)),
    })
}

/// Go's `strings.Replace(name, old, new, 1)` as Docker's `RebaseArchiveEntries` uses it.
fn rebase_name(name: &str, rebase: &Option<(String, String)>) -> String {
    match rebase {
        Some((old, new)) => {
            let old = if old == "/" { "" } else { old.as_str() };
            if old.is_empty() {
                format!("{new}{name}")
            } else {
                name.replacen(old, new, 1)
            }
        }
        None => name.to_string(),
    }
}

pub async fn run(ctx: &mut Ctx, args: CpArgs) -> anyhow::Result<()> {
    if args.source.is_empty() {
        anyhow::bail!("source can not be empty");
    }
    if args.destination.is_empty() {
        anyhow::bail!("destination can not be empty");
    }
    let (src_container, src_path) = split_cp_arg(&args.source);
    let (dst_container, dst_path) = split_cp_arg(&args.destination);
    match (src_container, dst_container) {
        (Some(c), None) => copy_from_container(ctx, &args, &c, &src_path, &dst_path).await,
        (None, Some(c)) => copy_to_container(ctx, &args, &c, &src_path, &dst_path).await,
        (Some(_), Some(_)) => anyhow::bail!("copying between containers is not supported"),
        (None, None) => anyhow::bail!("must specify at least one container source"),
    }
}

async fn copy_from_container(
    ctx: &mut Ctx,
    args: &CpArgs,
    container: &str,
    src: &str,
    dst: &str,
) -> anyhow::Result<()> {
    let dst = if dst == "-" {
        dst.to_string()
    } else {
        resolve_local_path(dst)?
    };
    validate_output_path(&dst)?;
    let mut src = src.to_string();
    let mut rebase = String::new();
    if args.follow_link {
        if let Ok(stat) = stat_path(&ctx.client, container, &src).await {
            if stat.is_symlink() {
                let mut target = stat.link_target.clone();
                if !target.starts_with('/') {
                    let (parent, _) = gopath::split_path_dir_entry(&src);
                    target = gopath::join(&parent, &target);
                }
                let (resolved, name) = gopath::get_rebase_name(&src, &target);
                src = resolved;
                rebase = name;
            }
        }
    }
    let resp = ctx
        .client
        .send(archive_request(Method::GET, container, &src))
        .await
        .map_err(|e| path_error(e, container, &src))?;
    let stat = stat_from_response(&resp);
    let body = StreamReader::new(Box::pin(
        http_body_util::BodyExt::into_data_stream(resp.into_body()).map_err(io::Error::other),
    ));
    if dst == "-" {
        crate::client::frames::copy_raw(body, &mut *ctx.streams.out).await?;
        return Ok(());
    }
    let src_info = CopyInfo {
        path: src.clone(),
        exists: true,
        is_dir: stat.is_dir(),
        rebase_name: String::new(),
    };
    // A followed link is first renamed back to the link's name, then to the destination.
    let pre_rebase = if rebase.is_empty() {
        None
    } else {
        let (_, src_base) = gopath::split_path_dir_entry(&src);
        Some((src_base, rebase.clone()))
    };
    let src_info = CopyInfo {
        rebase_name: rebase,
        ..src_info
    };
    let dst_info = copy_info_destination_path(&dst)?;
    let plan = prepare_archive_copy(&src_info, &dst_info).map_err(anyhow::Error::msg)?;
    tokio::task::spawn_blocking(move || {
        untar(SyncIoBridge::new(body), Path::new(&plan.dst_dir), |name| {
            rebase_name(&rebase_name(name, &pre_rebase), &plan.rebase)
        })
    })
    .await?
    .map_err(anyhow::Error::msg)
}

/// Docker's `CopyInfoDestinationPath`: follows symlinks; a missing path needs an existing
/// parent directory.
fn copy_info_destination_path(path: &str) -> anyhow::Result<CopyInfo> {
    let mut path = path.to_string();
    let original = path.clone();
    let mut meta = std::fs::symlink_metadata(&path);
    let mut n = 0;
    while let Ok(m) = &meta {
        if !m.file_type().is_symlink() {
            break;
        }
        if n > 10 {
            anyhow::bail!("too many symlinks in {original}");
        }
        n += 1;
        let target = std::fs::read_link(&path)?.to_string_lossy().into_owned();
        path = if target.starts_with('/') {
            target
        } else {
            let (parent, _) = gopath::split_path_dir_entry(&path);
            gopath::join(&parent, &target)
        };
        meta = std::fs::symlink_metadata(&path);
    }
    match meta {
        Ok(m) => Ok(CopyInfo {
            path,
            exists: true,
            is_dir: m.is_dir(),
            rebase_name: String::new(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let (parent, _) = gopath::split_path_dir_entry(&path);
            match std::fs::metadata(&parent) {
                Ok(m) if m.is_dir() => Ok(CopyInfo {
                    path,
                    ..Default::default()
                }),
                Ok(_) => anyhow::bail!("not a directory"),
                Err(e) => anyhow::bail!(crate::commands::os_error_text(
                    "stat",
                    Path::new(&parent),
                    &e
                )),
            }
        }
        Err(e) => Err(e.into()),
    }
}

async fn copy_to_container(
    ctx: &mut Ctx,
    args: &CpArgs,
    container: &str,
    src: &str,
    dst: &str,
) -> anyhow::Result<()> {
    let src = if src == "-" {
        src.to_string()
    } else {
        resolve_local_path(src)?
    };
    let mut dst_info = CopyInfo {
        path: dst.to_string(),
        ..Default::default()
    };
    let mut stat = stat_path(&ctx.client, container, dst).await;
    if let Ok(s) = &stat {
        if s.is_symlink() {
            let mut target = s.link_target.clone();
            if !target.starts_with('/') {
                let (parent, _) = gopath::split_path_dir_entry(dst);
                target = gopath::join(&parent, &target);
            }
            dst_info.path = target.clone();
            stat = stat_path(&ctx.client, container, &target).await;
        }
    }
    let mode = stat.as_ref().map(|s| s.mode).unwrap_or(0);
    if mode & MODE_DEVICE != 0 || mode & MODE_IRREGULAR != 0 {
        let what = if mode & MODE_DEVICE != 0 {
            "got a device"
        } else {
            "got an irregular file"
        };
        anyhow::bail!(
            "destination \"{container}:{dst}\" must be a directory or a regular file: {what}"
        );
    }
    if let Ok(s) = &stat {
        dst_info.exists = true;
        dst_info.is_dir = s.is_dir();
    }
    let (resolved_dst, body): (String, crate::streams::Input) = if src == "-" {
        if !dst_info.is_dir {
            anyhow::bail!("destination \"{container}:{dst}\" must be a directory");
        }
        (dst_info.path.clone(), ctx.streams.take_input())
    } else {
        let src_info = copy_info_source_path(&src, args.follow_link)?;
        let plan = prepare_archive_copy(&src_info, &dst_info).map_err(anyhow::Error::msg)?;
        let (reader, writer) = tokio::io::duplex(256 * 1024);
        let dst_dir = plan.dst_dir.clone();
        tokio::task::spawn_blocking(move || {
            let out = SyncIoBridge::new(writer);
            if let Err(e) = tar_resource(&src_info, &plan.rebase, out) {
                eprintln!("Can't create the archive: {e}");
            }
        });
        (dst_dir, Box::new(reader))
    };
    let mut req = Request::new(Method::PUT, container_path(container, "/archive"));
    if args.archive {
        req = req.query("copyUIDGID", "true");
    }
    let req = req
        .query("noOverwriteDirNonDir", "true")
        .query("path", resolved_dst.clone())
        .stream_body(body, "application/x-tar", None);
    ctx.client
        .send(req)
        .await
        .map_err(|e| path_error(e, container, &resolved_dst))?;
    Ok(())
}

/// Docker's `CopyInfoSourcePath`.
fn copy_info_source_path(path: &str, follow_link: bool) -> anyhow::Result<CopyInfo> {
    let (resolved, rebase) = if follow_link {
        let r = std::fs::canonicalize(path).map_err(|e| {
            anyhow::anyhow!(crate::commands::os_error_text("lstat", Path::new(path), &e))
        })?;
        gopath::get_rebase_name(path, &r.to_string_lossy())
    } else {
        let (dir, base) = gopath::split(path);
        let resolved_dir = std::fs::canonicalize(if dir.is_empty() { "." } else { dir.as_str() })
            .map_err(|e| {
            anyhow::anyhow!(crate::commands::os_error_text("lstat", Path::new(&dir), &e))
        })?;
        let resolved = format!("{}/{base}", resolved_dir.to_string_lossy());
        let rebase = if gopath::has_trailing_separator(path)
            && gopath::base(path) != gopath::base(&resolved)
        {
            gopath::base(path)
        } else {
            String::new()
        };
        (resolved, rebase)
    };
    let meta = std::fs::symlink_metadata(&resolved).map_err(|e| {
        anyhow::anyhow!(crate::commands::os_error_text(
            "lstat",
            Path::new(&resolved),
            &e
        ))
    })?;
    Ok(CopyInfo {
        path: resolved,
        exists: true,
        is_dir: meta.is_dir(),
        rebase_name: rebase,
    })
}

/// Docker's `TarResource` + `PrepareArchiveCopy`: a tar of `src` whose entry names start with
/// the source's base name (or its rebase name), renamed by `rebase`.
fn tar_resource<W: Write>(
    src: &CopyInfo,
    rebase: &Option<(String, String)>,
    out: W,
) -> io::Result<()> {
    let (source_dir, source_base) = gopath::split_path_dir_entry(&src.path);
    let include = source_base.clone();
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    let walk_root = gopath::join(&source_dir, &include);
    let mut entries = Vec::new();
    walk(Path::new(&walk_root), &mut entries);
    let mut hardlinks: HashMap<(u64, u64), String> = HashMap::new();
    for file in entries {
        let file_str = file.to_string_lossy().into_owned();
        let mut rel = relative(&source_dir, &file_str);
        if include == "." && rel != "." {
            rel = format!("./{rel}");
        }
        if !src.rebase_name.is_empty() {
            let replacement = if src.rebase_name == "/" {
                ""
            } else {
                src.rebase_name.as_str()
            };
            rel = rel.replacen(include.as_str(), replacement, 1);
        }
        let name = rebase_name(&rel, rebase);
        if let Err(e) = add_tar_file(&mut builder, &file, &name, &mut hardlinks) {
            eprintln!("Can't add file {file_str} to tar: {e}");
        }
    }
    builder.finish()
}

/// `filepath.Walk` order: the root, then each directory's entries sorted by name.
fn walk(path: &Path, out: &mut Vec<PathBuf>) {
    out.push(path.to_path_buf());
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if !meta.is_dir() {
        return;
    }
    let Ok(rd) = std::fs::read_dir(path) else {
        return;
    };
    let mut names: Vec<_> = rd.filter_map(Result::ok).map(|e| e.file_name()).collect();
    names.sort();
    for n in names {
        walk(&path.join(n), out);
    }
}

fn relative(base: &str, path: &str) -> String {
    let base = gopath::clean(base);
    let path = gopath::clean(path);
    if base == path {
        return ".".to_string();
    }
    let prefix = if base == "/" {
        "/".to_string()
    } else {
        format!("{base}/")
    };
    path.strip_prefix(&prefix).unwrap_or(&path).to_string()
}

fn add_tar_file<W: Write>(
    builder: &mut tar::Builder<W>,
    path: &Path,
    name: &str,
    hardlinks: &mut HashMap<(u64, u64), String>,
) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    let ft = meta.file_type();
    let mut header = tar::Header::new_gnu();
    header.set_mode(meta.mode() & 0o7777);
    header.set_uid(u64::from(meta.uid()));
    header.set_gid(u64::from(meta.gid()));
    header.set_mtime(meta.mtime().max(0) as u64);
    if ft.is_dir() {
        header.set_entry_type(tar::EntryType::Directory);
        header.set_size(0);
        let dir_name = if name.ends_with('/') {
            name.to_string()
        } else {
            format!("{name}/")
        };
        builder.append_data(&mut header, dir_name, io::empty())
    } else if ft.is_symlink() {
        let target = std::fs::read_link(path)?;
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        builder.append_link(&mut header, name, target)
    } else if ft.is_file() {
        if meta.nlink() > 1 {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = hardlinks.get(&key) {
                header.set_entry_type(tar::EntryType::Link);
                header.set_size(0);
                return builder.append_link(&mut header, name, first);
            }
            hardlinks.insert(key, name.to_string());
        }
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(meta.len());
        let file = std::fs::File::open(path)?;
        builder.append_data(&mut header, name, file)
    } else if ft.is_fifo() {
        header.set_entry_type(tar::EntryType::Fifo);
        header.set_size(0);
        builder.append_data(&mut header, name, io::empty())
    } else if ft.is_socket() {
        Err(io::Error::other("archive/tar: sockets not supported"))
    } else {
        let rdev = meta.rdev();
        header.set_entry_type(if ft.is_char_device() {
            tar::EntryType::Char
        } else {
            tar::EntryType::Block
        });
        header.set_size(0);
        header.set_device_major(libc::major(rdev))?;
        header.set_device_minor(libc::minor(rdev))?;
        builder.append_data(&mut header, name, io::empty())
    }
}

fn set_times(path: &Path, mtime: u64) {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return;
    };
    let ts = libc::timespec {
        tv_sec: mtime as libc::time_t,
        tv_nsec: 0,
    };
    let times = [ts, ts];
    // SAFETY: `c` is a valid NUL-terminated path and `times` two initialised timespecs; the
    // call only reads them.
    unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        );
    }
}

/// Docker's `Untar` with `NoLchown` and `NoOverwriteDirNonDir`: extracts `archive` into
/// `dest`, renaming every entry with `rename`, refusing entries that would land outside
/// `dest`.
pub fn untar<R: Read>(
    archive: R,
    dest: &Path,
    rename: impl Fn(&str) -> String,
) -> Result<(), String> {
    let mut ar = tar::Archive::new(archive);
    let mut dirs: Vec<(PathBuf, u64)> = Vec::new();
    let entries = ar.entries().map_err(|e| e.to_string())?;
    let dest_str = dest.to_string_lossy().into_owned();
    for entry in entries {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let raw_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let renamed = rename(&raw_name);
        let name = gopath::clean(&renamed);
        let name = name.trim_start_matches('/').to_string();
        let name = if name.is_empty() {
            ".".to_string()
        } else {
            name
        };
        let kind = entry.header().entry_type();
        if !renamed.ends_with('/') {
            let parent = dest.join(gopath::dir(&name));
            if std::fs::symlink_metadata(&parent).is_err() {
                std::fs::create_dir_all(&parent).map_err(|e| e.to_string())?;
            }
        }
        if name == ".." || name.starts_with("../") {
            return Err(format!("{raw_name:?} is outside of {dest_str:?}"));
        }
        let path = dest.join(&name);
        if let Ok(existing) = std::fs::symlink_metadata(&path) {
            if existing.is_dir() && name == "." {
                continue;
            }
            let is_dir_entry = kind == tar::EntryType::Directory;
            if existing.is_dir() && !is_dir_entry {
                return Err(format!(
                    "cannot overwrite directory {:?} with non-directory {dest_str:?}",
                    path.to_string_lossy()
                ));
            }
            if !existing.is_dir() && is_dir_entry {
                return Err(format!(
                    "cannot overwrite non-directory {:?} with directory {dest_str:?}",
                    path.to_string_lossy()
                ));
            }
            if !existing.is_dir() {
                std::fs::remove_file(&path).map_err(|e| e.to_string())?;
            }
        }
        let mode = entry.header().mode().unwrap_or(0o644) & 0o7777;
        let mtime = entry.header().mtime().unwrap_or(0);
        match kind {
            tar::EntryType::Directory => {
                if std::fs::symlink_metadata(&path).is_err() {
                    std::fs::create_dir(&path).map_err(|e| e.to_string())?;
                }
                let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode));
                dirs.push((path, mtime));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut f = std::fs::File::create(&path).map_err(|e| e.to_string())?;
                io::copy(&mut entry, &mut f).map_err(|e| e.to_string())?;
                drop(f);
                let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode));
                set_times(&path, mtime);
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(|e| e.to_string())?
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                std::os::unix::fs::symlink(&target, &path).map_err(|e| e.to_string())?;
                set_times(&path, mtime);
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default();
                let target = gopath::clean(&rename(&target));
                let target = target.trim_start_matches('/');
                if target == ".." || target.starts_with("../") {
                    return Err(format!("invalid hardlink {target:?} -> {raw_name:?}"));
                }
                std::fs::hard_link(dest.join(target), &path).map_err(|e| e.to_string())?;
            }
            tar::EntryType::Fifo => {
                let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
                    .map_err(|e| e.to_string())?;
                // SAFETY: `c` is a valid NUL-terminated path; mkfifo only reads it.
                if unsafe { libc::mkfifo(c.as_ptr(), mode as libc::mode_t) } != 0 {
                    return Err(go_errno_text(&io::Error::last_os_error()));
                }
            }
            // Devices need privileges the client usually lacks; global headers carry nothing
            // to extract.
            _ => {}
        }
    }
    for (dir, mtime) in dirs.iter().rev() {
        set_times(dir, *mtime);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_cp_args() {
        assert_eq!(split_cp_arg("c1:/etc"), (Some("c1".into()), "/etc".into()));
        assert_eq!(split_cp_arg("/abs:x"), (None, "/abs:x".into()));
        assert_eq!(split_cp_arg("./a:b"), (None, "./a:b".into()));
        assert_eq!(split_cp_arg("file"), (None, "file".into()));
        assert_eq!(split_cp_arg("-"), (None, "-".into()));
    }

    #[test]
    fn path_stat_header() {
        // {"name":"hostname","size":13,"mode":420,"mtime":"2026-11-24T14:00:00Z","linkTarget":""}
        let h = "eyJuYW1lIjoiaG9zdG5hbWUiLCJzaXplIjoxMywibW9kZSI6NDIwLCJtdGltZSI6IjIwMjYtMTEtMjRUMTQ6MDA6MDBaIiwibGlua1RhcmdldCI6IiJ9";
        assert_eq!(
            decode_path_stat(h),
            Some(PathStat {
                name: "hostname".into(),
                size: 13,
                mode: 420,
                link_target: String::new()
            })
        );
    }

    fn info(path: &str, exists: bool, is_dir: bool) -> CopyInfo {
        CopyInfo {
            path: path.into(),
            exists,
            is_dir,
            rebase_name: String::new(),
        }
    }

    #[test]
    fn copy_rules() {
        // Into an existing directory: kept as is.
        assert_eq!(
            prepare_archive_copy(
                &info("/etc/hostname", true, false),
                &info("/tmp", true, true)
            ),
            Ok(Prepared {
                dst_dir: "/tmp".into(),
                rebase: None
            })
        );
        // To a new name: renamed.
        assert_eq!(
            prepare_archive_copy(
                &info("/etc/hostname", true, false),
                &info("/tmp/h2", false, false)
            ),
            Ok(Prepared {
                dst_dir: "/tmp".into(),
                rebase: Some(("hostname".into(), "h2".into()))
            })
        );
        assert_eq!(
            prepare_archive_copy(&info("/etc", true, true), &info("/tmp/file", true, false)),
            Err("cannot copy directory".into())
        );
        assert_eq!(
            prepare_archive_copy(
                &info("/etc/hostname", true, false),
                &info("/tmp/nodir/", false, false)
            ),
            Err("no such directory".into())
        );
        // A directory's contents (`SRC/.`) into a new directory.
        assert_eq!(
            prepare_archive_copy(&info("/etc/.", true, true), &info("/tmp/new", false, false)),
            Ok(Prepared {
                dst_dir: "/tmp".into(),
                rebase: Some((".".into(), "new".into()))
            })
        );
    }

    #[test]
    fn tar_and_untar_round_trip() {
        let src = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let dst = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let d = src.path().join("d");
        std::fs::create_dir_all(d.join("sub")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(d.join("a.txt"), b"alpha").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(d.join("sub/b.txt"), b"beta").unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink("a.txt", d.join("link")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::hard_link(d.join("a.txt"), d.join("hard")).unwrap_or_else(|e| panic!("{e}"));
        let src_info = CopyInfo {
            path: d.to_string_lossy().into_owned(),
            exists: true,
            is_dir: true,
            rebase_name: String::new(),
        };
        let dst_path = dst.path().join("copy").to_string_lossy().into_owned();
        let plan = prepare_archive_copy(&src_info, &info(&dst_path, false, false))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut tar_bytes = Vec::new();
        tar_resource(&src_info, &plan.rebase, &mut tar_bytes).unwrap_or_else(|e| panic!("{e}"));
        untar(&tar_bytes[..], Path::new(&plan.dst_dir), |n| n.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        let copy = dst.path().join("copy");
        assert_eq!(
            std::fs::read(copy.join("a.txt")).ok(),
            Some(b"alpha".to_vec())
        );
        assert_eq!(
            std::fs::read(copy.join("sub/b.txt")).ok(),
            Some(b"beta".to_vec())
        );
        assert_eq!(
            std::fs::read_link(copy.join("link")).ok(),
            Some(PathBuf::from("a.txt"))
        );
        assert_eq!(
            std::fs::read(copy.join("hard")).ok(),
            Some(b"alpha".to_vec())
        );
        // Entries that climb out of the destination are refused.
        let mut evil = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        let _ = evil.append_data(&mut h, "x", &b"x"[..]);
        let evil = evil.into_inner().unwrap_or_default();
        let r = untar(&evil[..], dst.path(), |_| "../../escape".to_string());
        assert!(r.is_err(), "{r:?}");
    }
}
