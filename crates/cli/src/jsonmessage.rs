//! Docker's JSON message streams (`load`, `import`, later `pull`/`push`/`build`): each message is
//! printed as `docker` prints it — `stream` text as is, `status` lines, per-layer progress bars
//! redrawn in place on a terminal — and an `errorDetail` ends the stream with its message.

use std::collections::HashMap;
use std::io::Write;

use serde_json::Value;

use crate::client::{ClientError, JsonStream};
use crate::format::time::{local_zone, rfc3339_nano_fixed};
use crate::format::units::human_size;

/// How to display a stream.
#[derive(Debug, Clone, Copy)]
pub struct DisplayOptions {
    /// Redraw progress lines in place (stdout is a terminal).
    pub is_terminal: bool,
    /// Terminal width, for deciding whether a progress bar fits.
    pub width: u16,
}

#[derive(Debug, thiserror::Error)]
pub enum DisplayError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Output(#[from] std::io::Error),
}

/// The error carried by a message, if any (`errorDetail.message`, else `error`).
pub fn message_error(msg: &Value) -> Option<String> {
    if let Some(m) = msg
        .get("errorDetail")
        .and_then(|d| d.get("message"))
        .and_then(Value::as_str)
    {
        return Some(m.to_string());
    }
    msg.get("error")
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty())
        .map(str::to_string)
}

fn s<'a>(msg: &'a Value, key: &str) -> &'a str {
    msg.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Docker's `JSONProgress.String()`: `[=====>    ]  1.2MB/4.5MB 3s`.
pub fn progress_string(detail: &Value, width: u16) -> String {
    let current = detail.get("current").and_then(Value::as_i64).unwrap_or(0);
    let total = detail.get("total").and_then(Value::as_i64).unwrap_or(0);
    let units = s(detail, "units");
    let hide_counts = detail
        .get("hidecounts")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if current <= 0 && total <= 0 {
        return String::new();
    }
    if total <= 0 {
        return if units.is_empty() {
            format!("{:>8}", human_size(current as f64))
        } else {
            format!("{current} {units}")
        };
    }
    let percentage = (((current as f64 / total as f64) * 100.0) as i64 / 2).min(50);
    let mut bar = String::new();
    if width > 110 {
        let spaces = (50 - percentage).max(0) as usize;
        bar = format!(
            "[{}>{}] ",
            "=".repeat(percentage.max(0) as usize),
            " ".repeat(spaces)
        );
    }
    let numbers = if hide_counts {
        String::new()
    } else if units.is_empty() {
        let cur = human_size(current as f64);
        if current > total {
            format!("{cur:>8}")
        } else {
            format!("{cur:>8}/{}", human_size(total as f64))
        }
    } else if current > total {
        format!("{current} {units}")
    } else {
        format!("{current}/{total} {units}")
    };
    let mut time_left = String::new();
    let start = detail.get("start").and_then(Value::as_i64).unwrap_or(0);
    if current > 0 && start > 0 && percentage < 50 && width > 50 {
        let elapsed = (chrono::Utc::now().timestamp() - start).max(0) as f64;
        let left = ((total - current) as f64 * elapsed / current as f64) as i64;
        time_left = format!(" {}", go_duration(left));
    }
    format!("{bar}{numbers}{time_left}")
}

/// Go's `time.Duration.String()` for whole seconds: "0s", "45s", "1m30s", "2h0m5s".
fn go_duration(secs: i64) -> String {
    let (h, m, sec) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{sec}s")
    } else if m > 0 {
        format!("{m}m{sec}s")
    } else {
        format!("{sec}s")
    }
}

/// Docker's `JSONMessage.Display`.
fn display_one(msg: &Value, out: &mut dyn Write, opts: DisplayOptions) -> std::io::Result<()> {
    let stream = s(msg, "stream");
    let detail = msg.get("progressDetail").filter(|d| d.is_object());
    let progress = detail
        .map(|d| progress_string(d, opts.width))
        .unwrap_or_default();
    let mut endl = "";
    if opts.is_terminal && stream.is_empty() && detail.is_some() {
        write!(out, "\x1b[2K\r")?;
        endl = "\r";
    } else if !progress.is_empty() {
        // No progress bars when not on a terminal.
        return Ok(());
    }
    let time_nano = msg.get("timeNano").and_then(Value::as_i64).unwrap_or(0);
    let time = msg.get("time").and_then(Value::as_i64).unwrap_or(0);
    if time_nano != 0 {
        let zone = local_zone(time_nano / 1_000_000_000);
        write!(out, "{} ", rfc3339_nano_fixed(i128::from(time_nano), &zone))?;
    } else if time != 0 {
        write!(
            out,
            "{} ",
            rfc3339_nano_fixed(i128::from(time) * 1_000_000_000, &local_zone(time))
        )?;
    }
    let id = s(msg, "id");
    if !id.is_empty() {
        write!(out, "{id}: ")?;
    }
    let from = s(msg, "from");
    if !from.is_empty() {
        write!(out, "(from {from}) ")?;
    }
    let status = s(msg, "status");
    let progress_message = s(msg, "progress");
    if detail.is_some() && opts.is_terminal {
        write!(out, "{status} {progress}{endl}")?;
    } else if !progress_message.is_empty() {
        write!(out, "{status} {progress_message}{endl}")?;
    } else if !stream.is_empty() {
        write!(out, "{stream}{endl}")?;
    } else {
        writeln!(out, "{status}{endl}")?;
    }
    Ok(())
}

/// Prints a JSON message stream as `docker` does; `on_aux` receives `aux` payloads (image ids
/// from builds, digests from pushes). Returns the stream's error message as
/// [`ClientError::Stream`].
pub async fn display_stream(
    stream: &mut JsonStream,
    out: &mut (dyn Write + Send),
    opts: DisplayOptions,
    on_aux: &mut (dyn FnMut(&Value) + Send),
) -> Result<(), DisplayError> {
    let mut ids: HashMap<String, usize> = HashMap::new();
    while let Some(msg) = stream.next().await? {
        if let Some(aux) = msg.get("aux").filter(|a| !a.is_null()) {
            on_aux(aux);
            continue;
        }
        if let Some(err) = message_error(&msg) {
            out.flush()?;
            return Err(ClientError::Stream(err).into());
        }
        let id = s(&msg, "id").to_string();
        let has_progress = msg.get("progressDetail").is_some_and(Value::is_object)
            || !s(&msg, "progress").is_empty();
        let mut diff = 0;
        if !id.is_empty() && has_progress {
            let line = match ids.get(&id) {
                Some(l) => *l,
                None => {
                    let l = ids.len();
                    ids.insert(id.clone(), l);
                    if opts.is_terminal {
                        writeln!(out)?;
                    }
                    l
                }
            };
            diff = ids.len() - line;
            if opts.is_terminal && diff > 0 {
                write!(out, "\x1b[{diff}A")?;
            }
        } else {
            ids.clear();
        }
        display_one(&msg, out, opts)?;
        if !id.is_empty() && opts.is_terminal && diff > 0 {
            write!(out, "\x1b[{diff}B")?;
        }
        out.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn show(msg: Value, terminal: bool) -> String {
        let mut out = Vec::new();
        let opts = DisplayOptions {
            is_terminal: terminal,
            width: 200,
        };
        if let Err(e) = display_one(&msg, &mut out, opts) {
            panic!("{e}");
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn stream_and_status_messages() {
        assert_eq!(
            show(json!({"stream": "Loaded image: busybox:latest\n"}), false),
            "Loaded image: busybox:latest\n"
        );
        assert_eq!(show(json!({"status": "sha256:abc"}), false), "sha256:abc\n");
        assert_eq!(
            show(json!({"status": "Pulling fs layer", "id": "abc"}), false),
            "abc: Pulling fs layer\n"
        );
    }

    #[test]
    fn progress_hidden_off_terminal() {
        let msg = json!({"status": "Downloading", "id": "abc", "progressDetail": {"current": 5, "total": 10}});
        assert_eq!(show(msg, false), "");
    }

    #[test]
    fn progress_bar() {
        let detail = json!({"current": 2_000_000, "total": 4_000_000});
        assert_eq!(
            progress_string(&detail, 200),
            format!("[{}>{}]      2MB/4MB", "=".repeat(25), " ".repeat(25))
        );
        assert_eq!(progress_string(&detail, 80), "     2MB/4MB");
        assert_eq!(progress_string(&json!({"current": 1500}), 80), "   1.5kB");
    }

    #[test]
    fn errors_from_messages() {
        assert_eq!(
            message_error(&json!({"errorDetail": {"message": "bad tar"}, "error": "bad tar"})),
            Some("bad tar".to_string())
        );
        assert_eq!(message_error(&json!({"status": "ok"})), None);
    }

    #[test]
    fn durations() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(90), "1m30s");
        assert_eq!(go_duration(7205), "2h0m5s");
    }
}
