//! The local terminal: raw mode for `run -it` / `exec -it` / `attach` (what moby/term's
//! `MakeRaw` does), restored when the guard drops. All termios calls of the crate live here.

use std::io;
use std::os::fd::RawFd;

/// A terminal put in raw mode; the previous settings come back on drop.
pub struct RawTerminal {
    fd: RawFd,
    saved: libc::termios,
}

impl RawTerminal {
    /// Puts `fd` (stdin) in raw mode: no echo, no line editing, no signals from keys, no output
    /// post-processing, 8-bit characters, reads return after one byte.
    pub fn enable(fd: RawFd) -> io::Result<RawTerminal> {
        // SAFETY: tcgetattr writes a termios into the zeroed struct we own; `fd` is a descriptor
        // the caller owns for the guard's lifetime.
        let saved = unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut t) != 0 {
                return Err(io::Error::last_os_error());
            }
            t
        };
        let mut raw = saved;
        raw.c_iflag &= !(libc::IGNBRK
            | libc::BRKINT
            | libc::PARMRK
            | libc::ISTRIP
            | libc::INLCR
            | libc::IGNCR
            | libc::ICRNL
            | libc::IXON);
        raw.c_oflag &= !libc::OPOST;
        raw.c_lflag &= !(libc::ECHO | libc::ECHONL | libc::ICANON | libc::ISIG | libc::IEXTEN);
        raw.c_cflag &= !(libc::CSIZE | libc::PARENB);
        raw.c_cflag |= libc::CS8;
        raw.c_cc[libc::VMIN] = 1;
        raw.c_cc[libc::VTIME] = 0;
        // SAFETY: tcsetattr only reads the termios we pass.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(RawTerminal { fd, saved })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `enable` on the same descriptor.
        unsafe {
            libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved);
        }
    }
}

/// Whether the environment asks not to touch the terminal mode (`NORAW`, as moby/term honours).
pub fn raw_mode_disabled() -> bool {
    std::env::var_os("NORAW").is_some()
}
