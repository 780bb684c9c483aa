//! Moving bytes over a hijacked attach/exec connection, as the docker CLI's
//! `hijackedIOStreamer` does: the container's output to stdout/stderr (demultiplexed unless it
//! has a TTY), the local stdin to the container (through the detach-key filter when it has a
//! TTY), the local terminal in raw mode while a TTY session reads from it, and EOF sent to the
//! daemon when stdin ends.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::super::Ctx;
use crate::client::frames::{copy_raw, demux};
use crate::client::{HijackWriter, Hijacked};
use crate::streams::Input;
use crate::term::{raw_mode_disabled, RawTerminal};

/// Docker's default detach sequence: ctrl-p, ctrl-q.
pub const DEFAULT_DETACH_KEYS: [u8; 2] = [16, 17];

/// The error text of a detach (`term.EscapeError`).
pub const ESCAPE_MESSAGE: &str = "read escape sequence";

/// What to connect.
#[derive(Debug, Clone, Default)]
pub struct StreamConfig {
    pub tty: bool,
    /// Send local stdin to the container.
    pub stdin: bool,
    /// Show the container's stdout.
    pub stdout: bool,
    /// Show the container's stderr (on stdout when it has a TTY).
    pub stderr: bool,
    /// `--detach-keys` ("" for the default).
    pub detach_keys: String,
}

/// How a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// The output ended (the container or exec finished or closed its streams).
    Finished,
    /// The user typed the detach sequence.
    Detached,
}

/// moby/term `ToBytes`: `ctrl-p,ctrl-q` or single characters, comma-separated.
pub fn detach_key_bytes(keys: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for key in keys.split(',') {
        if key.len() == 1 {
            out.push(key.as_bytes()[0]);
            continue;
        }
        if key == "DEL" {
            out.push(127);
            continue;
        }
        let code = key.strip_prefix("ctrl-").and_then(|c| {
            let c = c.as_bytes();
            if c.len() != 1 {
                return None;
            }
            match c[0] {
                b'@' => Some(0),
                b'a'..=b'z' => Some(c[0] - b'a' + 1),
                b'[' => Some(27),
                b'\\' => Some(28),
                b']' => Some(29),
                b'^' => Some(30),
                b'_' => Some(31),
                _ => None,
            }
        });
        match code {
            Some(c) => out.push(c),
            None => return Err(format!("Unknown character: '{key}'")),
        }
    }
    Ok(out)
}

/// Swallows the detach sequence from input: bytes that might start it are held back until it
/// is clear whether they do.
#[derive(Debug, Clone)]
pub struct EscapeFilter {
    keys: Vec<u8>,
    matched: usize,
}

impl EscapeFilter {
    pub fn new(keys: Vec<u8>) -> EscapeFilter {
        EscapeFilter { keys, matched: 0 }
    }

    /// Filters one chunk: the bytes to forward, and whether the sequence was completed (then
    /// nothing after it is forwarded).
    pub fn filter(&mut self, chunk: &[u8]) -> (Vec<u8>, bool) {
        if self.keys.is_empty() {
            return (chunk.to_vec(), false);
        }
        let mut out = Vec::with_capacity(chunk.len());
        for &b in chunk {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return (out, true);
                }
                continue;
            }
            // Not the sequence after all: release what was held back.
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if b == self.keys[0] {
                self.matched = 1;
                if self.keys.len() == 1 {
                    return (out, true);
                }
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

type SharedRaw = Arc<Mutex<Option<RawTerminal>>>;

fn restore(raw: &SharedRaw) {
    if let Ok(mut r) = raw.lock() {
        r.take();
    }
}

/// Copies `input` to the connection; returns whether the detach sequence was read. Shuts the
/// write half down at EOF so the daemon closes the container's stdin.
async fn pump_input(
    mut input: Input,
    mut writer: HijackWriter,
    mut filter: Option<EscapeFilter>,
    raw: SharedRaw,
) -> bool {
    let mut buf = vec![0u8; 32 * 1024];
    let detached = loop {
        let n = match input.read(&mut buf).await {
            Ok(0) | Err(_) => break false,
            Ok(n) => n,
        };
        let (data, detached) = match filter.as_mut() {
            Some(f) => f.filter(&buf[..n]),
            None => (buf[..n].to_vec(), false),
        };
        if !data.is_empty() && writer.write_all(&data).await.is_err() {
            break false;
        }
        let _ = writer.flush().await;
        if detached {
            break true;
        }
    };
    restore(&raw);
    if !detached {
        let _ = writer.shutdown().await;
    }
    detached
}

/// Streams a hijacked connection until the output ends or the user detaches.
pub async fn stream(
    ctx: &mut Ctx,
    conn: Hijacked,
    cfg: &StreamConfig,
) -> anyhow::Result<StreamEnd> {
    let Hijacked { reader, writer } = conn;
    let raw: SharedRaw = Arc::new(Mutex::new(None));
    let mut filter = None;
    let input = if cfg.stdin {
        if cfg.tty {
            if ctx.streams.stdin_is_terminal && !raw_mode_disabled() {
                let guard = RawTerminal::enable(libc::STDIN_FILENO).map_err(|e| {
                    anyhow::anyhow!(
                        "unable to setup input stream: unable to set IO streams as raw terminal: {e}"
                    )
                })?;
                if let Ok(mut r) = raw.lock() {
                    *r = Some(guard);
                }
            }
            let keys = if cfg.detach_keys.is_empty() {
                DEFAULT_DETACH_KEYS.to_vec()
            } else {
                detach_key_bytes(&cfg.detach_keys).unwrap_or_else(|e| {
                    let _ = writeln!(
                        ctx.streams.err,
                        "invalid detach escape keys, using default: {e}"
                    );
                    DEFAULT_DETACH_KEYS.to_vec()
                })
            };
            filter = Some(EscapeFilter::new(keys));
        }
        Some(ctx.streams.take_input())
    } else {
        None
    };

    let (done_tx, mut done_rx) = tokio::sync::oneshot::channel::<bool>();
    let input_task = {
        let raw = raw.clone();
        tokio::spawn(async move {
            let detached = match (input, writer) {
                (Some(input), Some(writer)) => pump_input(input, writer, filter, raw).await,
                (_, Some(mut writer)) => {
                    let _ = writer.shutdown().await;
                    false
                }
                _ => false,
            };
            let _ = done_tx.send(detached);
        })
    };

    let has_output = cfg.stdout || cfg.stderr;
    let mut sink = std::io::sink();
    let result = {
        let streams = &mut ctx.streams;
        let output = async {
            if cfg.tty {
                let out: &mut (dyn Write + Send) = if cfg.stdout || cfg.stderr {
                    &mut *streams.out
                } else {
                    &mut sink
                };
                let r = copy_raw(reader, out).await.map_err(anyhow::Error::from);
                restore(&raw);
                r
            } else {
                let out: &mut (dyn Write + Send) = if cfg.stdout {
                    &mut *streams.out
                } else {
                    &mut sink
                };
                let mut err_sink = std::io::sink();
                let err: &mut (dyn Write + Send) = if cfg.stderr {
                    &mut *streams.err
                } else {
                    &mut err_sink
                };
                demux(reader, out, err).await.map_err(|e| e.into_anyhow())
            }
        };
        tokio::pin!(output);
        if has_output {
            tokio::select! {
                r = &mut output => r.map(|()| StreamEnd::Finished),
                detached = &mut done_rx => {
                    if matches!(detached, Ok(true)) {
                        Ok(StreamEnd::Detached)
                    } else {
                        output.await.map(|()| StreamEnd::Finished)
                    }
                }
            }
        } else {
            match done_rx.await {
                Ok(true) => Ok(StreamEnd::Detached),
                _ => Ok(StreamEnd::Finished),
            }
        }
    };
    input_task.abort();
    restore(&raw);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse_like_moby_term() {
        assert_eq!(detach_key_bytes("ctrl-p,ctrl-q"), Ok(vec![16, 17]));
        assert_eq!(detach_key_bytes("a,ctrl-@,DEL"), Ok(vec![b'a', 0, 127]));
        assert_eq!(
            detach_key_bytes("ctrl-xx"),
            Err("Unknown character: 'ctrl-xx'".to_string())
        );
    }

    #[test]
    fn escape_filter_swallows_the_sequence() {
        let mut f = EscapeFilter::new(vec![16, 17]);
        assert_eq!(f.filter(b"ab"), (b"ab".to_vec(), false));
        // A partial match is held back, then released when it turns out not to be one.
        assert_eq!(f.filter(&[16]), (Vec::new(), false));
        assert_eq!(f.filter(b"x"), (vec![16, b'x'], false));
        // A repeated first key restarts the match.
        assert_eq!(f.filter(&[16, 16, 17, b'z']), (vec![16], true));
        let mut f = EscapeFilter::new(vec![16, 17]);
        assert_eq!(f.filter(&[b'l', b's', 16]), (b"ls".to_vec(), false));
        assert_eq!(f.filter(&[17]), (Vec::new(), true));
    }
}
