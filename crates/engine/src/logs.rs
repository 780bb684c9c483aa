//! Reading a container's json-file log (`<dir>/<id>-json.log`, written by the shim) for
//! `GET /containers/{id}/logs`.

use std::io::{Read, Seek, SeekFrom};

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

    /// Complete log lines from byte `offset` on, and the offset after the last one read.
    pub fn read_log(&self, id: &str, offset: u64) -> Result<(Vec<LogEntry>, u64)> {
        let path = self.log_path(id);
        let mut f = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
            Err(e) => return Err(crate::Error::io(format!("opening {}", path.display()))(e)),
        };
        read_entries(&mut f, offset)
            .map_err(crate::Error::io(format!("reading {}", path.display())))
    }

    /// Open (creating it if the shim has not yet) the container's log for an attached reader.
    /// The handle keeps the file readable even if the container is removed right after it
    /// exits (`--rm`), so an attached client never misses the last lines.
    pub fn open_log(&self, id: &str) -> Result<std::fs::File> {
        let path = self.log_path(id);
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|_| std::fs::File::open(&path))
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
