//! The connection's TCP socket, read and written the way the current caller waits best.
//!
//! An async caller waits through tokio's reactor. A caller that may block
//! ([`syncportal::may_block`]: a [`SyncSession`](crate::SyncSession) method's own thread, which
//! waits for its reply anyway) does better with plain blocking I/O: through the reactor, a reply
//! wakes a runtime worker, which then wakes the caller, two wake-ups where a blocking `std`
//! client needs one. So the socket switches modes as callers come: registered with the caller's
//! runtime for async callers, out of every reactor and in blocking mode for blocking ones, where
//! its syscalls are exactly those of a `std` client.
//!
//! Blocking I/O is used only until a deadline the caller gives (a [`WINDOW`] from the start of
//! a reply or a command), and each blocking read or write waits at most a [`WINDOW`]. After
//! that (a slow command, a long reply) the caller goes on waiting the async way, so it still
//! honours its call's timeout, and stalls nothing else its call drives, for longer than about
//! two windows.

use std::io::{self, Read, Write};
use std::mem;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Handle;

/// How long a blocking caller may wait in the kernel, per reply or command, before it waits
/// through the runtime.
pub(crate) const WINDOW: Duration = Duration::from_millis(2);

/// A TCP socket in whichever mode its last caller needed.
#[derive(Debug)]
pub(crate) struct Socket {
    mode: Mode,
}

#[derive(Debug)]
enum Mode {
    /// Registered with a tokio reactor, non-blocking.
    Async(TcpStream),
    /// In no reactor, blocking, with [`WINDOW`] as its read and write timeouts.
    Blocking(std::net::TcpStream),
    /// A mode switch failed: the socket is gone.
    Lost,
}

impl Socket {
    pub(crate) fn new(stream: TcpStream) -> Self {
        Self {
            mode: Mode::Async(stream),
        }
    }

    /// Reads what is there, waiting for at least one byte; `Ok(0)` at EOF. Blocks, when the
    /// caller may, only before `blocking_until`.
    ///
    /// Cancel safe: nothing is read unless it returns.
    pub(crate) async fn read(
        &mut self,
        buf: &mut [u8],
        blocking_until: Instant,
    ) -> io::Result<usize> {
        if syncportal::may_block() && Instant::now() < blocking_until {
            match self.blocking()?.read(buf) {
                Err(err) if timed_out(&err) => {}
                read => return read,
            }
        }
        self.nonblocking()?.read(buf).await
    }

    /// Writes some of `buf`, waiting for room for at least one byte. Blocks, when the caller
    /// may, only before `blocking_until`.
    ///
    /// Cancel safe: nothing is written unless it returns.
    pub(crate) async fn write(&mut self, buf: &[u8], blocking_until: Instant) -> io::Result<usize> {
        if syncportal::may_block() && Instant::now() < blocking_until {
            match self.blocking()?.write(buf) {
                Err(err) if timed_out(&err) => {}
                written => return written,
            }
        }
        self.nonblocking()?.write(buf).await
    }

    /// Whether the socket is in blocking mode now.
    #[cfg(test)]
    pub(crate) fn is_blocking(&self) -> bool {
        matches!(self.mode, Mode::Blocking(_))
    }

    fn blocking(&mut self) -> io::Result<&mut std::net::TcpStream> {
        if let Mode::Async(_) = self.mode {
            let Mode::Async(stream) = mem::replace(&mut self.mode, Mode::Lost) else {
                unreachable!("checked above");
            };
            // `into_std` leaves the reactor, so replies stop waking its workers.
            let socket = stream.into_std()?;
            socket.set_read_timeout(Some(WINDOW))?;
            socket.set_write_timeout(Some(WINDOW))?;
            socket.set_nonblocking(false)?;
            self.mode = Mode::Blocking(socket);
        }
        match &mut self.mode {
            Mode::Blocking(socket) => Ok(socket),
            _ => Err(lost()),
        }
    }

    fn nonblocking(&mut self) -> io::Result<&mut TcpStream> {
        if let Mode::Blocking(_) = self.mode {
            if Handle::try_current().is_err() {
                // `from_std` would panic; the socket stays as it is for callers that can use it.
                return Err(io::Error::other(
                    "an async call needs a tokio runtime; call it from inside one",
                ));
            }
            let Mode::Blocking(socket) = mem::replace(&mut self.mode, Mode::Lost) else {
                unreachable!("checked above");
            };
            socket.set_nonblocking(true)?;
            self.mode = Mode::Async(TcpStream::from_std(socket)?);
        }
        match &mut self.mode {
            Mode::Async(stream) => Ok(stream),
            _ => Err(lost()),
        }
    }
}

fn timed_out(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn lost() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "the socket was lost while switching between blocking and async use",
    )
}
