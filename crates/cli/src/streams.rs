//! The process's standard streams as commands see them, with terminal detection. Writes to a
//! closed stdout (`berth images | head -1`) are tagged so the top level can exit quietly, as a Go
//! program killed by SIGPIPE does.

use std::io::{self, IsTerminal, Write};

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

/// Standard output, error and what we know about the terminal.
pub struct Streams {
    pub out: Box<dyn Write + Send>,
    pub err: Box<dyn Write + Send>,
    pub stdin_is_terminal: bool,
    pub stdout_is_terminal: bool,
}

impl Streams {
    /// The real process streams.
    pub fn std() -> Streams {
        Streams {
            out: Box::new(StdoutWriter(io::stdout())),
            err: Box::new(io::stderr()),
            stdin_is_terminal: io::stdin().is_terminal(),
            stdout_is_terminal: io::stdout().is_terminal(),
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
