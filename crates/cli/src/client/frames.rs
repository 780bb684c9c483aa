//! Docker's multiplexed stream format (`stdcopy`): each frame is an 8-byte header — stream type
//! (0 stdin, 1 stdout, 2 stderr, 3 daemon error), three zero bytes, a big-endian u32 length —
//! followed by that many bytes. Used for attach, exec and logs of containers without a TTY.

use std::io::{self, Write};

use tokio::io::{AsyncRead, AsyncReadExt};

const HEADER_LEN: usize = 8;

/// Which stream a frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Stdin,
    Stdout,
    Stderr,
    /// An error the daemon reports inside the stream.
    SystemErr,
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub kind: StreamKind,
    pub data: Vec<u8>,
}

/// A malformed stream, worded as Docker's `stdcopy` words it.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("Unrecognized input header: {0}")]
    UnknownStream(u8),
    #[error("error from daemon in stream: {0}")]
    Daemon(String),
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl FrameError {
    /// As an `anyhow` error, keeping an I/O error itself (so a closed stdout is still
    /// recognised as one).
    pub fn into_anyhow(self) -> anyhow::Error {
        match self {
            FrameError::Io(e) => e.into(),
            other => other.into(),
        }
    }
}

/// Incremental frame decoder: feed bytes as they arrive, take complete frames out.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
}

impl FrameDecoder {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, if the buffer holds one.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let kind = match self.buf[0] {
            0 => StreamKind::Stdin,
            1 => StreamKind::Stdout,
            2 => StreamKind::Stderr,
            3 => StreamKind::SystemErr,
            other => return Err(FrameError::UnknownStream(other)),
        };
        let len = u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize;
        if self.buf.len() < HEADER_LEN + len {
            return Ok(None);
        }
        let data = self.buf[HEADER_LEN..HEADER_LEN + len].to_vec();
        self.buf.drain(..HEADER_LEN + len);
        Ok(Some(Frame { kind, data }))
    }

    /// Bytes left over (an incomplete frame at the end of the stream).
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }
}

/// Encodes one frame (for tests and mock daemons).
pub fn encode_frame(kind: StreamKind, data: &[u8]) -> Vec<u8> {
    let code = match kind {
        StreamKind::Stdin => 0,
        StreamKind::Stdout => 1,
        StreamKind::Stderr => 2,
        StreamKind::SystemErr => 3,
    };
    let mut out = vec![code, 0, 0, 0];
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// Docker's `StdCopy`: demultiplexes `reader` into `out` (stdin and stdout frames) and `err`
/// (stderr frames), flushing after every frame so interactive output shows at once. A daemon
/// error frame ends the copy with that error.
pub async fn demux<R>(
    mut reader: R,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> Result<(), FrameError>
where
    R: AsyncRead + Unpin,
{
    let mut decoder = FrameDecoder::default();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        while let Some(frame) = decoder.next_frame()? {
            match frame.kind {
                StreamKind::Stdin | StreamKind::Stdout => {
                    out.write_all(&frame.data)?;
                    out.flush()?;
                }
                StreamKind::Stderr => {
                    err.write_all(&frame.data)?;
                    err.flush()?;
                }
                StreamKind::SystemErr => {
                    return Err(FrameError::Daemon(
                        String::from_utf8_lossy(&frame.data).into_owned(),
                    ));
                }
            }
        }
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        decoder.push(&buf[..n]);
    }
}

/// Copies a raw (TTY) stream to `out`, flushing after each chunk.
pub async fn copy_raw<R>(mut reader: R, out: &mut (dyn Write + Send)) -> io::Result<()>
where
    R: AsyncRead + Unpin,
{
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        out.write_all(&buf[..n])?;
        out.flush()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_frames_split_anywhere() {
        let mut bytes = encode_frame(StreamKind::Stdout, b"hello\n");
        bytes.extend(encode_frame(StreamKind::Stderr, b"oops\n"));
        bytes.extend(encode_frame(StreamKind::Stdout, b""));
        for split in 0..bytes.len() {
            let mut d = FrameDecoder::default();
            let mut frames = Vec::new();
            d.push(&bytes[..split]);
            while let Ok(Some(f)) = d.next_frame() {
                frames.push(f);
            }
            d.push(&bytes[split..]);
            while let Ok(Some(f)) = d.next_frame() {
                frames.push(f);
            }
            assert_eq!(
                frames,
                vec![
                    Frame {
                        kind: StreamKind::Stdout,
                        data: b"hello\n".to_vec()
                    },
                    Frame {
                        kind: StreamKind::Stderr,
                        data: b"oops\n".to_vec()
                    },
                    Frame {
                        kind: StreamKind::Stdout,
                        data: Vec::new()
                    },
                ],
                "split at {split}"
            );
            assert_eq!(d.remaining(), 0);
        }
    }

    #[test]
    fn header_layout() {
        assert_eq!(
            encode_frame(StreamKind::Stderr, &[7; 258]).get(..8),
            Some(&[2u8, 0, 0, 0, 0, 0, 1, 2][..])
        );
    }

    #[tokio::test]
    async fn demux_routes_streams_and_reports_daemon_errors() {
        let mut bytes = encode_frame(StreamKind::Stdout, b"out1 ");
        bytes.extend(encode_frame(StreamKind::Stderr, b"err1"));
        bytes.extend(encode_frame(StreamKind::Stdout, b"out2"));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let r = demux(&bytes[..], &mut out, &mut err).await;
        assert!(r.is_ok());
        assert_eq!(out, b"out1 out2");
        assert_eq!(err, b"err1");

        let mut bytes = encode_frame(StreamKind::Stdout, b"x");
        bytes.extend(encode_frame(StreamKind::SystemErr, b"boom"));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let r = demux(&bytes[..], &mut out, &mut err).await;
        assert_eq!(
            r.err().map(|e| e.to_string()),
            Some("error from daemon in stream: boom".to_string())
        );

        let bytes = [9u8, 0, 0, 0, 0, 0, 0, 1, b'x'];
        let r = demux(&bytes[..], &mut Vec::new(), &mut Vec::new()).await;
        assert_eq!(
            r.err().map(|e| e.to_string()),
            Some("Unrecognized input header: 9".to_string())
        );
    }
}
