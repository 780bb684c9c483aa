//! Incremental readers for streaming responses: raw bytes (`save`) and concatenated JSON
//! messages (`load`, `import`, `events`, `pull`).

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::ClientError;

/// A response body read chunk by chunk.
pub struct RawStream {
    body: Incoming,
}

impl RawStream {
    pub fn from_body(body: Incoming) -> RawStream {
        RawStream { body }
    }

    /// The next chunk of data, or `None` at the end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, ClientError> {
        while let Some(frame) = self.body.frame().await {
            let frame = frame.map_err(|e| ClientError::Read(std::io::Error::other(e)))?;
            if let Ok(data) = frame.into_data() {
                if !data.is_empty() {
                    return Ok(Some(data));
                }
            }
        }
        Ok(None)
    }
}

/// A response body holding a sequence of JSON values (Docker's JSON message streams), decoded as
/// they arrive.
pub struct JsonStream {
    raw: RawStream,
    buf: Vec<u8>,
    done: bool,
}

impl JsonStream {
    pub fn from_body(body: Incoming) -> JsonStream {
        JsonStream {
            raw: RawStream::from_body(body),
            buf: Vec::new(),
            done: false,
        }
    }

    /// The next JSON value, or `None` when the stream ends.
    pub async fn next(&mut self) -> Result<Option<serde_json::Value>, ClientError> {
        loop {
            if let Some(v) = decode_one(&mut self.buf)? {
                return Ok(Some(v));
            }
            if self.done {
                if self.buf.iter().all(u8::is_ascii_whitespace) {
                    return Ok(None);
                }
                return Err(ClientError::Stream("unexpected EOF".to_string()));
            }
            match self.raw.chunk().await? {
                Some(chunk) => self.buf.extend_from_slice(&chunk),
                None => self.done = true,
            }
        }
    }
}

/// Takes one complete JSON value off the front of `buf`, if there is one.
fn decode_one(buf: &mut Vec<u8>) -> Result<Option<serde_json::Value>, ClientError> {
    let start = buf
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(buf.len());
    if start == buf.len() {
        buf.clear();
        return Ok(None);
    }
    let mut it =
        serde_json::Deserializer::from_slice(&buf[start..]).into_iter::<serde_json::Value>();
    match it.next() {
        Some(Ok(v)) => {
            let end = start + it.byte_offset();
            buf.drain(..end);
            Ok(Some(v))
        }
        Some(Err(e)) if e.is_eof() => Ok(None),
        Some(Err(e)) => Err(ClientError::Decode(e)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_values_split_across_chunks() {
        let mut buf = br#"{"stream":"Loaded "#.to_vec();
        assert!(matches!(decode_one(&mut buf), Ok(None)));
        buf.extend_from_slice(b"image: busybox:latest\\n\"}\r\n{\"status\":\"x\"}\n{\"a\"");
        let first = decode_one(&mut buf).ok().flatten();
        assert_eq!(
            first,
            Some(serde_json::json!({"stream": "Loaded image: busybox:latest\n"}))
        );
        let second = decode_one(&mut buf).ok().flatten();
        assert_eq!(second, Some(serde_json::json!({"status": "x"})));
        assert!(matches!(decode_one(&mut buf), Ok(None)));
        assert_eq!(buf, b"\n{\"a\"");
    }

    #[test]
    fn rejects_garbage() {
        let mut buf = b"not json".to_vec();
        assert!(decode_one(&mut buf).is_err());
    }
}
