//! The process's standard streams as commands see them, with terminal detection. Writes to a
//! closed stdout (`berth images | head -1`) are tagged so the top level can exit quietly, as a Go
//! program killed by SIGPIPE does.

use std::io::{self, IsTerminal, Read, Write};

use tokio::io::AsyncRead;
use tokio_util::io::StreamReader;

/// Marks an I/O error as "stdout was closed by the reader".
#[derive(Debug)]
struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("write to standard output: broken pipe")
    }
}

impl std::error::Error for StdoutClosed {}

/// Whether an error chain contains a write to a closed stdout.
pub fn is_stdout_closed(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
            .is_some_and(|inner| inner.is::<StdoutClosed>())
            || e.is::<StdoutClosed>()
    })
}

struct StdoutWriter(io::Stdout);

fn mark_closed(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::BrokenPipe {
        io::Error::new(io::ErrorKind::BrokenPipe, StdoutClosed)
    } else {
        e
    }
}

impl Write for StdoutWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).map_err(mark_closed)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(mark_closed)
    }
}

/// A byte source for a container's standard input (`run -i`, `exec -i`, `attach`, `cp -`).
pub type Input = Box<dyn AsyncRead + Send + Unpin>;

/// Standard output, error and what we know about the terminal.
pub struct Streams {
    pub out: Box<dyn Write + Send>,
    pub err: Box<dyn Write + Send>,
    pub stdin_is_terminal: bool,
    pub stdout_is_terminal: bool,
    /// Where standard input comes from: `None` is the process's own stdin (read on a thread of
    /// its own, see [`process_stdin`]); tests put bytes here.
    pub input: Option<Input>,
}

impl Streams {
    /// The real process streams.
    pub fn std() -> Streams {
        Streams {
            out: Box::new(StdoutWriter(io::stdout())),
            err: Box::new(io::stderr()),
            stdin_is_terminal: io::stdin().is_terminal(),
            stdout_is_terminal: io::stdout().is_terminal(),
            input: None,
        }
    }

    /// Takes standard input for streaming to the daemon (once; later calls get an empty input).
    pub fn take_input(&mut self) -> Input {
        match self.input.take() {
            Some(input) => {
                self.input = Some(Box::new(tokio::io::empty()));
                input
            }
            None => {
                self.input = Some(Box::new(tokio::io::empty()));
                process_stdin()
            }
        }
    }
}

/// The process's stdin as an async reader. A plain thread does the blocking reads, so a read
/// that never returns (an idle terminal) cannot hold up the runtime's shutdown, as tokio's own
/// stdin would; the thread simply ends with the process.
pub fn process_stdin() -> Input {
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<bytes::Bytes>>(4);
    let spawned = std::thread::Builder::new()
        .name("stdin".to_string())
        .spawn(move || {
            let mut stdin = io::stdin().lock();
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        let chunk = bytes::Bytes::copy_from_slice(&buf[..n]);
                        if tx.blocking_send(Ok(chunk)).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                }
            }
        });
    if let Err(e) = spawned {
        let stream = futures_util::stream::once(async move { Err::<bytes::Bytes, _>(e) });
        return Box::new(StreamReader::new(Box::pin(stream)));
    }
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Box::new(StreamReader::new(Box::pin(stream)))
}

/// The size of the terminal on stdout as (height, width), if it is one.
pub fn terminal_size() -> Option<(u16, u16)> {
    // SAFETY: TIOCGWINSZ only writes a `winsize` into the zeroed struct we pass, and fd 1 is
    // owned by the process for its whole life.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) == 0 {
            Some((ws.ws_row, ws.ws_col))
        } else {
            None
        }
    }
}

/// The width of the terminal on stdout, if it is one.
pub fn terminal_width() -> Option<u16> {
    // SAFETY: TIOCGWINSZ only writes a `winsize` into the zeroed struct we pass, and fd 1 is
    // owned by the process for its whole life.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_col > 0 {
            Some(ws.ws_col)
        } else {
            None
        }
    }
}
