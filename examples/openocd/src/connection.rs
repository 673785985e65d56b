//! One TCL-RPC connection, shared by any number of callers.
//!
//! OpenOCD's TCL-RPC protocol is strictly request/reply: the client writes a command followed
//! by the byte `0x1a`, and OpenOCD answers with the result text followed by `0x1a`. Replies
//! carry no identifier, so a reply belongs to whichever command was sent before it.
//!
//! The socket sits behind a fair (first come, first served) async mutex, and the caller that
//! holds it writes its command and reads its reply itself: no task in between, so a call costs
//! what the protocol costs. A caller can give up at any await (a dropped future, a timeout), so
//! the link, not the caller, keeps the progress of the exchange in flight: the bytes of a
//! command not yet written, the part of a reply read so far, and how many replies are owed to
//! callers that left. The next caller finishes sending what was started, reads and throws away
//! what is owed, and only then sends its own command. A caller that gives up before it holds
//! the link sends nothing. So no reply is ever handed to the wrong caller.
//!
//! Each reply is checked against a size limit while it is read; past the limit, bytes are
//! counted and dropped rather than kept, and the caller gets [`Error::ReplyTooLarge`] once the
//! terminator arrives. When the socket reaches EOF or fails, the link is marked broken: the
//! caller in flight and every later one get [`Error::Disconnected`] at once.
//!
//! How the socket is read and written, async or blocking, depends on the caller: see
//! [`socket`](crate::socket).

use std::mem;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::TcpStream;
use tokio::sync::Mutex;

use crate::socket::{self, Socket};
use crate::{Error, Result, tcl};

/// The byte that ends every command and every reply.
pub(crate) const TERMINATOR: u8 = 0x1a;

/// The default limit on one reply: 64 MiB.
pub(crate) const DEFAULT_MAX_REPLY: usize = 64 << 20;

/// The Tcl variable that carries a command's result out of `catch`.
const RESULT_VAR: &str = "::__syncportal_r";

/// A handle on one connection. Clones share it; the socket closes when the last one is dropped.
#[derive(Debug, Clone)]
pub(crate) struct Connection {
    link: Arc<Mutex<Link>>,
    peer: SocketAddr,
}

impl Connection {
    /// Takes over `stream`.
    pub(crate) fn new(stream: TcpStream, max_reply: usize) -> Result<Self> {
        stream.set_nodelay(true)?;
        let peer = stream.peer_addr()?;
        let link = Link {
            socket: Socket::new(stream),
            unsent: Vec::new(),
            sent: 0,
            owed: 0,
            frames: Frames::new(max_reply),
            broken: false,
        };
        Ok(Self {
            link: Arc::new(Mutex::new(link)),
            peer,
        })
    }

    /// The address of the OpenOCD this connection talks to.
    pub(crate) fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Sends `text` as it is and returns the reply text as it is.
    pub(crate) async fn raw(&self, text: &str) -> Result<String> {
        if text.as_bytes().contains(&TERMINATOR) {
            return Err(Error::InvalidArgument(
                "a command cannot contain the byte 0x1a, which ends messages; write it as \\032"
                    .to_owned(),
            ));
        }
        self.link.lock().await.exchange(text.as_bytes()).await
    }

    /// Runs the Tcl script `script` and returns its result, or [`Error::Command`] with
    /// OpenOCD's message when it raises an error.
    ///
    /// OpenOCD's TCL server sends an error's message just like a result, so the script runs
    /// inside `catch` and the reply is prefixed with the return code.
    pub(crate) async fn command(&self, script: &str) -> Result<String> {
        let reply = self.raw(&wrap(script)).await?;
        unwrap(script, &reply)
    }
}

/// The socket and the state of the exchange in flight, which outlives a caller that gives up.
#[derive(Debug)]
struct Link {
    socket: Socket,
    /// The last command with its terminator; `unsent[sent..]` is still to be written.
    unsent: Vec<u8>,
    sent: usize,
    /// Replies still to be read, counting the one of the caller in flight.
    owed: usize,
    frames: Frames,
    /// The socket reached EOF or failed: every call fails at once.
    broken: bool,
}

impl Link {
    /// Sends `command` and reads its reply, after settling what earlier callers left behind.
    ///
    /// Cancel safe: every await leaves the link in a state the next caller can finish.
    async fn exchange(&mut self, command: &[u8]) -> Result<String> {
        if self.broken {
            return Err(Error::Disconnected);
        }
        let outcome = self.exchange_on_open_link(command).await;
        if outcome.is_none() {
            self.broken = true;
        }
        outcome.unwrap_or(Err(Error::Disconnected))
    }

    /// [`exchange`](Self::exchange); `None` when the socket is closed or failed.
    async fn exchange_on_open_link(&mut self, command: &[u8]) -> Option<Result<String>> {
        // Finish a command whose caller left while it was written, and drop unwanted replies.
        self.flush().await?;
        while self.owed > 0 {
            // The reply of a caller that left: read to keep in step, then dropped.
            let _unwanted = self.frames.next(&mut self.socket).await?;
            self.owed -= 1;
        }
        self.unsent.clear();
        self.unsent.extend_from_slice(command);
        self.unsent.push(TERMINATOR);
        self.sent = 0;
        self.owed = 1;
        self.flush().await?;
        let reply = self.frames.next(&mut self.socket).await?;
        self.owed = 0;
        Some(reply)
    }

    /// Writes what is left of the last command.
    async fn flush(&mut self) -> Option<()> {
        let blocking_until = Instant::now() + socket::WINDOW;
        while self.sent < self.unsent.len() {
            match self
                .socket
                .write(&self.unsent[self.sent..], blocking_until)
                .await
            {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.sent += n,
            }
        }
        Some(())
    }
}

/// `script`, run so that its reply reads `<code> <result>`.
///
/// A `0x1a` byte in the result would end the reply early and shift every later reply, so the
/// result is escaped on OpenOCD's side: `0x1b` (ESC) becomes ESC ESC and `0x1a` becomes ESC `:`.
/// [`unwrap`] undoes it.
pub(crate) fn wrap(script: &str) -> String {
    format!(
        "format {{%d %s}} [catch {} {RESULT_VAR}] \
         [string map [list \\033 \\033\\033 \\032 \\033:] ${RESULT_VAR}][unset {RESULT_VAR}]",
        tcl::quote(script)
    )
}

/// Splits a reply of a [`wrap`]ped script into its result or its error.
pub(crate) fn unwrap(script: &str, reply: &str) -> Result<String> {
    let (code, rest) = reply
        .split_once(' ')
        .ok_or_else(|| Error::parse("a return code", reply))?;
    let rest = unescape(rest);
    let code: i64 = code
        .parse()
        .map_err(|_| Error::parse("a return code", reply))?;
    match code {
        // TCL_OK, TCL_RETURN, TCL_BREAK, TCL_CONTINUE: the script ended without an error.
        0 | 2..=4 => Ok(rest),
        // TCL_ERROR, or one of OpenOCD's negative `ERROR_*` codes (its C commands return them
        // through `catch`, often with the message only in the log).
        _ => Err(Error::Command {
            command: script.to_owned(),
            message: if rest.trim().is_empty() {
                format!(
                    "the command failed (code {code}) without a message; OpenOCD's log says why"
                )
            } else {
                rest.trim_end().to_owned()
            },
        }),
    }
}

/// Undoes the escaping of [`wrap`].
fn unescape(text: &str) -> String {
    if !text.contains('\u{1b}') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            match chars.next() {
                Some(':') => out.push('\u{1a}'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Reads `0x1a`-terminated replies from a socket within a size limit.
///
/// A reply read in part stays here when its reader gives up, and the next read goes on with it.
#[derive(Debug)]
struct Frames {
    max_reply: usize,
    buf: Box<[u8]>,
    /// Bytes read past the end of the last reply (`buf[start..end]`).
    start: usize,
    end: usize,
    /// The reply read so far, unless it went over the limit.
    reply: Vec<u8>,
    too_large: bool,
}

impl Frames {
    fn new(max_reply: usize) -> Self {
        Self {
            max_reply,
            buf: vec![0; 64 * 1024].into_boxed_slice(),
            start: 0,
            end: 0,
            reply: Vec::new(),
            too_large: false,
        }
    }

    /// The next reply: `Some(Ok)`, `Some(Err(ReplyTooLarge))` with the connection still in
    /// step, or `None` when the socket is closed or failed.
    ///
    /// Cancel safe: what was read before the future was dropped is kept for the next call.
    async fn next(&mut self, socket: &mut Socket) -> Option<Result<String>> {
        let blocking_until = Instant::now() + socket::WINDOW;
        loop {
            if self.start == self.end {
                self.start = 0;
                self.end = 0;
                self.end = match socket.read(&mut self.buf, blocking_until).await {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => n,
                };
            }
            let chunk = &self.buf[self.start..self.end];
            let (body, found) = match chunk.iter().position(|&b| b == TERMINATOR) {
                Some(at) => (&chunk[..at], true),
                None => (chunk, false),
            };
            if !self.too_large {
                if self.reply.len() + body.len() > self.max_reply {
                    self.too_large = true;
                    self.reply = Vec::new();
                } else {
                    self.reply.extend_from_slice(body);
                }
            }
            self.start += body.len() + usize::from(found);
            if found {
                break;
            }
        }
        let reply = mem::take(&mut self.reply);
        Some(if mem::take(&mut self.too_large) {
            Err(Error::ReplyTooLarge {
                limit: self.max_reply,
            })
        } else {
            Ok(match String::from_utf8(reply) {
                Ok(text) => text,
                Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwrap_codes() {
        assert_eq!(unwrap("x", "0 a b").unwrap(), "a b");
        assert_eq!(unwrap("x", "2 ").unwrap(), "");
        let err = unwrap("x", "1 boom").unwrap_err();
        assert!(matches!(err, Error::Command { ref message, .. } if message == "boom"));
        assert!(matches!(unwrap("x", "zz"), Err(Error::Parse { .. })));
        let err = unwrap("x", "-4 ").unwrap_err();
        assert!(
            matches!(err, Error::Command { ref message, .. } if message.contains("code -4")),
            "{err:?}"
        );
        let err = unwrap("x", "-304 unknown error\n").unwrap_err();
        assert!(matches!(err, Error::Command { ref message, .. } if message == "unknown error"));
        assert_eq!(
            unwrap("x", "0 a\u{1b}:b\u{1b}\u{1b}c").unwrap(),
            "a\u{1a}b\u{1b}c"
        );
    }
}

/// The link's cancel safety, against a fake server whose every byte the test controls.
#[cfg(test)]
mod link_tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::Poll;
    use std::time::Duration;

    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufStream};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::task::JoinHandle;

    use super::{Connection, Error, TERMINATOR};

    /// Fails the test instead of hanging it.
    async fn watchdog<T>(body: impl Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(20), body)
            .await
            .expect("the test hung")
    }

    /// A connection, and the server's end of it.
    async fn pair(max_reply: usize) -> (Connection, BufStream<TcpStream>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        let conn = Connection::new(client.unwrap(), max_reply).unwrap();
        (conn, BufStream::new(accepted.unwrap().0))
    }

    /// Polls `call` once, which must not finish.
    async fn poll_pending<T: std::fmt::Debug>(call: &mut Pin<Box<impl Future<Output = T>>>) {
        std::future::poll_fn(|cx| {
            if let Poll::Ready(out) = call.as_mut().poll(cx) {
                panic!("the call finished: {out:?}");
            }
            Poll::Ready(())
        })
        .await;
    }

    /// Starts a call of `text` on a task of its own.
    fn start_call(conn: &Connection, text: &'static str) -> JoinHandle<crate::Result<String>> {
        let conn = conn.clone();
        tokio::spawn(async move { conn.raw(text).await })
    }

    /// Reads one command from the server's end, without its terminator.
    async fn read_command(server: &mut BufStream<TcpStream>) -> Vec<u8> {
        let mut command = Vec::new();
        server.read_until(TERMINATOR, &mut command).await.unwrap();
        assert_eq!(command.pop(), Some(TERMINATOR), "the client closed");
        command
    }

    /// Sends `bytes` from the server's end.
    async fn reply(server: &mut BufStream<TcpStream>, bytes: &[u8]) {
        server.write_all(bytes).await.unwrap();
        server.flush().await.unwrap();
    }

    #[tokio::test]
    async fn a_caller_that_leaves_mid_reply_does_not_shift_the_next_reply() {
        watchdog(async {
            let (conn, mut server) = pair(1024).await;
            let mut first = Box::pin(conn.raw("first"));
            poll_pending(&mut first).await;
            assert_eq!(read_command(&mut server).await, b"first");
            reply(&mut server, b"half of ").await;
            // Loopback delivers at once; a few turns of the I/O driver let the client read it.
            for _ in 0..100 {
                tokio::task::yield_now().await;
                poll_pending(&mut first).await;
            }
            drop(first);
            assert_eq!(conn.link.lock().await.frames.reply, b"half of ");

            let next = start_call(&conn, "second");
            reply(&mut server, b"the first reply\x1a").await;
            assert_eq!(read_command(&mut server).await, b"second");
            reply(&mut server, b"second reply\x1a").await;
            assert_eq!(next.await.unwrap().unwrap(), "second reply");
        })
        .await;
    }

    #[tokio::test]
    async fn a_caller_that_leaves_mid_command_has_it_finished_by_the_next() {
        watchdog(async {
            let (conn, mut server) = pair(1024).await;
            // Far more than loopback's socket buffers hold while the server does not read.
            let big = "x".repeat(32 << 20);
            let mut first = Box::pin(conn.raw(&big));
            poll_pending(&mut first).await;
            drop(first);
            {
                let link = conn.link.lock().await;
                assert!(
                    0 < link.sent && link.sent < link.unsent.len(),
                    "{}",
                    link.sent
                );
            }

            let next = start_call(&conn, "second");
            let command = read_command(&mut server).await;
            assert_eq!(command.len(), 32 << 20);
            assert!(command.iter().all(|&b| b == b'x'));
            reply(&mut server, b"the big reply\x1a").await;
            assert_eq!(read_command(&mut server).await, b"second");
            reply(&mut server, b"second reply\x1a").await;
            assert_eq!(next.await.unwrap().unwrap(), "second reply");
        })
        .await;
    }

    #[tokio::test]
    async fn a_reply_over_the_limit_is_skipped_in_step() {
        watchdog(async {
            let (conn, mut server) = pair(8).await;
            let call = start_call(&conn, "a");
            assert_eq!(read_command(&mut server).await, b"a");
            reply(&mut server, b"far more than eight\x1a").await;
            let err = call.await.unwrap().unwrap_err();
            assert!(matches!(err, Error::ReplyTooLarge { limit: 8 }), "{err:?}");

            let call = start_call(&conn, "b");
            assert_eq!(read_command(&mut server).await, b"b");
            reply(&mut server, b"short\x1a").await;
            assert_eq!(call.await.unwrap().unwrap(), "short");
        })
        .await;
    }

    #[tokio::test]
    async fn a_closed_socket_fails_the_call_in_flight_and_every_later_one() {
        watchdog(async {
            let (conn, mut server) = pair(1024).await;
            let call = start_call(&conn, "a");
            assert_eq!(read_command(&mut server).await, b"a");
            reply(&mut server, b"partial").await;
            drop(server);
            let err = call.await.unwrap().unwrap_err();
            assert!(matches!(err, Error::Disconnected), "{err:?}");
            let err = conn.raw("b").await.unwrap_err();
            assert!(matches!(err, Error::Disconnected), "{err:?}");
        })
        .await;
    }
}

/// Blocking callers (through a portal) and async callers on one link.
#[cfg(test)]
mod mixed_tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;
    use std::thread;
    use std::time::Duration;

    use syncportal::Portal;
    use tokio::net::TcpStream;

    use super::{Connection, TERMINATOR};
    use crate::socket::WINDOW;

    /// Runs `body` on a thread of its own and fails the test if it takes over 20 s.
    fn watchdog(body: impl FnOnce() + Send + 'static) {
        let (done, finished) = mpsc::channel();
        let runner = thread::spawn(move || {
            body();
            let _ = done.send(());
        });
        match finished.recv_timeout(Duration::from_secs(20)) {
            Ok(()) => runner.join().unwrap(),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                std::panic::resume_unwind(runner.join().unwrap_err())
            }
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("the test hung"),
        }
    }

    /// A server on a thread of its own that answers each command with `answer(command)`,
    /// after waiting for `gate` when the command starts with `slow`.
    fn serve(gate: mpsc::Receiver<()>) -> (Connection, thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (socket, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(socket.try_clone().unwrap());
            let mut writer = socket;
            let mut command = Vec::new();
            loop {
                command.clear();
                if reader.read_until(TERMINATOR, &mut command).unwrap() == 0 {
                    return;
                }
                command.pop();
                if command.starts_with(b"slow") {
                    gate.recv().unwrap();
                }
                let mut reply = b"re:".to_vec();
                reply.extend_from_slice(&command);
                reply.push(TERMINATOR);
                if command.starts_with(b"drip") {
                    // A reply that keeps coming, a piece per millisecond, for 10 ms.
                    for piece in reply.chunks(reply.len().div_ceil(10)) {
                        thread::sleep(Duration::from_millis(1));
                        writer.write_all(piece).unwrap();
                    }
                } else {
                    writer.write_all(&reply).unwrap();
                }
            }
        });
        let stream = Portal::global()
            .call(TcpStream::connect(addr))
            .unwrap()
            .unwrap();
        (Connection::new(stream, 1024).unwrap(), server)
    }

    fn is_blocking(conn: &Connection) -> bool {
        conn.link.try_lock().unwrap().socket.is_blocking()
    }

    #[test]
    fn blocking_and_async_callers_each_get_their_own_reply() {
        watchdog(|| {
            let (_gate, gate) = mpsc::channel();
            let (conn, server) = serve(gate);
            let portal = Portal::global();
            let task = portal
                .spawn({
                    let conn = conn.clone();
                    async move {
                        for i in 0..500 {
                            let reply = conn.raw(&format!("task {i}")).await.unwrap();
                            assert_eq!(reply, format!("re:task {i}"));
                        }
                    }
                })
                .unwrap();
            let threads: Vec<_> = (0..2)
                .map(|t| {
                    let conn = conn.clone();
                    thread::spawn(move || {
                        for i in 0..500 {
                            let reply = portal.call(conn.raw(&format!("thread {t} {i}")));
                            assert_eq!(reply.unwrap().unwrap(), format!("re:thread {t} {i}"));
                        }
                    })
                })
                .collect();
            for thread in threads {
                thread.join().unwrap();
            }
            task.wait().unwrap();
            drop(conn);
            server.join().unwrap();
        });
    }

    #[test]
    fn a_blocking_caller_waits_for_a_slow_reply_through_the_runtime() {
        watchdog(|| {
            let (open, gate) = mpsc::channel();
            let (conn, _server) = serve(gate);
            let portal = Portal::global();
            assert_eq!(portal.call(conn.raw("fast")).unwrap().unwrap(), "re:fast");
            assert!(
                is_blocking(&conn),
                "a blocking caller reads in blocking mode"
            );
            let opener = thread::spawn(move || {
                // Past the blocking window: the caller must be waiting the async way by then.
                thread::sleep(WINDOW * 50);
                open.send(()).unwrap();
            });
            assert_eq!(portal.call(conn.raw("slow")).unwrap().unwrap(), "re:slow");
            assert!(
                !is_blocking(&conn),
                "the slow reply came through the runtime"
            );
            opener.join().unwrap();
            assert_eq!(portal.call(conn.raw("again")).unwrap().unwrap(), "re:again");
            assert!(is_blocking(&conn));
        });
    }

    #[test]
    fn a_blocking_caller_reads_a_long_reply_through_the_runtime_after_a_window() {
        watchdog(|| {
            let (_gate, gate) = mpsc::channel();
            let (conn, _server) = serve(gate);
            let portal = Portal::global();
            let command = format!("drip {}", "x".repeat(100));
            let reply = portal.call(conn.raw(&command)).unwrap().unwrap();
            assert_eq!(reply, format!("re:{command}"));
            assert!(
                !is_blocking(&conn),
                "the reply's tail came through the runtime"
            );
        });
    }

    #[test]
    fn a_blocking_call_that_times_out_leaves_the_link_in_step() {
        watchdog(|| {
            let (open, gate) = mpsc::channel();
            let (conn, _server) = serve(gate);
            let portal = Portal::global();
            let late = portal.call_timeout(conn.raw("slow"), WINDOW * 5);
            assert!(late.unwrap_err().is_timeout());
            open.send(()).unwrap();
            assert_eq!(portal.call(conn.raw("next")).unwrap().unwrap(), "re:next");
            let reply = portal.call(async { conn.raw("from async").await }).unwrap();
            assert_eq!(reply.unwrap(), "re:from async");
        });
    }
}
