//! Reading a container's json-file log (`<dir>/<id>-json.log`, written by the shim, rotated to
//! `.1`, `.2`, … when it reaches its size limit) for `GET /containers/{id}/logs` and attach.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{Engine, Result};

/// One line of container output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// 1 = stdout, 2 = stderr (Docker's stream byte).
    pub stream: u8,
    /// RFC 3339 with nanoseconds, as written.
    pub time: String,
    /// Nanoseconds since the epoch (0 if the time did not parse).
    pub time_nano: i64,
    pub log: Vec<u8>,
}

#[derive(Deserialize)]
struct Raw {
    log: String,
    stream: String,
    time: String,
}

fn parse_line(line: &[u8]) -> Option<LogEntry> {
    let raw: Raw = serde_json::from_slice(line).ok()?;
    let time_nano = chrono::DateTime::parse_from_rfc3339(&raw.time)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .unwrap_or(0);
    Some(LogEntry {
        stream: if raw.stream == "stderr" { 2 } else { 1 },
        time: raw.time,
        time_nano,
        log: raw.log.into_bytes(),
    })
}

/// Parses Docker's `since`/`until` values: unix seconds with an optional fraction, or
/// RFC 3339. Returns nanoseconds since the epoch; `0` and empty mean "not set".
pub fn parse_log_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return t.timestamp_nanos_opt();
    }
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    let mut frac = frac.to_string();
    frac.truncate(9);
    while frac.len() < 9 {
        frac.push('0');
    }
    let nanos: i64 = frac.parse().ok()?;
    Some(secs * 1_000_000_000 + nanos)
}

impl Engine {
    pub fn log_path(&self, id: &str) -> std::path::PathBuf {
        crate::shim::log_path(&self.container_dir(id), id)
    }

    /// A reader of the container's log: from the oldest rotated file on (`from_start`), or
    /// from the current end. Creates the log if the shim has not yet; the open handle keeps it
    /// readable even if the container is removed right after it exits (`--rm`), so a follower
    /// never misses the last lines.
    pub fn log_cursor(&self, id: &str, from_start: bool) -> Result<LogCursor> {
        let path = self.log_path(id);
        LogCursor::open(&path, from_start)
            .map_err(crate::Error::io(format!("opening {}", path.display())))
    }

    /// Whether a waiter should keep following: the container exists and runs.
    pub fn is_running(&self, id: &str) -> bool {
        self.containers.find(id).is_ok_and(|c| c.is_running())
    }

    /// A receiver that changes whenever some container changes state.
    pub fn subscribe_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }
}

/// The rotated files of a log, oldest first (`<log>.N` … `<log>.1`).
pub fn rotated_files(path: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for n in 1.. {
        let p = PathBuf::from(format!("{}.{n}", path.display()));
        if !p.exists() {
            break;
        }
        found.push(p);
    }
    found.reverse();
    found
}

/// Follows a log across rotations: reads what is in the open file, and when the shim has
/// rotated it (the path now names another file), finishes the old one and moves on.
#[derive(Debug)]
pub struct LogCursor {
    path: PathBuf,
    /// Rotated files still to read before `file` (oldest first).
    backlog: Vec<PathBuf>,
    file: std::fs::File,
    offset: u64,
}

impl LogCursor {
    pub fn open(path: &Path, from_start: bool) -> std::io::Result<LogCursor> {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let file = std::fs::File::open(path)?;
        let (backlog, offset) = if from_start {
            (rotated_files(path), 0)
        } else {
            (Vec::new(), file.metadata()?.len())
        };
        Ok(LogCursor {
            path: path.to_path_buf(),
            backlog,
            file,
            offset,
        })
    }

    /// Every complete entry written since the last call.
    pub fn read(&mut self) -> std::io::Result<Vec<LogEntry>> {
        let mut out = Vec::new();
        for p in std::mem::take(&mut self.backlog) {
            if let Ok(mut f) = std::fs::File::open(&p) {
                out.extend(read_entries(&mut f, 0)?.0);
            }
        }
        loop {
            // Truncated in place (a log limited to one file): start over.
            if self.file.metadata()?.len() < self.offset {
                self.offset = 0;
            }
            let (entries, next) = read_entries(&mut self.file, self.offset)?;
            out.extend(entries);
            self.offset = next;
            let ino = self.file.metadata()?.ino();
            match std::fs::metadata(&self.path) {
                Ok(m) if m.ino() != ino => {
                    // Rotated: what the old file still held has just been read.
                    match std::fs::File::open(&self.path) {
                        Ok(f) => {
                            self.file = f;
                            self.offset = 0;
                        }
                        Err(_) => return Ok(out),
                    }
                }
                _ => return Ok(out),
            }
        }
    }
}

/// Complete log lines of an open log file from byte `offset` on, and the offset after them.
pub fn read_entries(f: &mut std::fs::File, offset: u64) -> std::io::Result<(Vec<LogEntry>, u64)> {
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    let complete = buf.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let entries = buf[..complete]
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(parse_line)
        .collect();
    Ok((entries, offset + complete as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_like_docker() {
        assert_eq!(parse_log_time("1.5"), Some(1_500_000_000));
        assert_eq!(parse_log_time("10"), Some(10_000_000_000));
        assert_eq!(
            parse_log_time("1970-01-01T00:00:02.000000001Z"),
            Some(2_000_000_001)
        );
        assert_eq!(parse_log_time(""), None);
        let e = parse_line(br#"{"log":"hi\n","stream":"stderr","time":"1970-01-01T00:00:01Z"}"#)
            .unwrap();
        assert_eq!(
            (e.stream, e.log, e.time_nano),
            (2, b"hi\n".to_vec(), 1_000_000_000)
        );
    }
}
