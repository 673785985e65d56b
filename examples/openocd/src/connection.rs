//! One TCL-RPC connection, owned by a task, shared by any number of callers.
//!
//! OpenOCD's TCL-RPC protocol is strictly request/reply: the client writes a command followed
//! by the byte `0x1a`, and OpenOCD answers with the result text followed by `0x1a`. Replies
//! carry no identifier, so a reply belongs to whichever command was sent before it.
//!
//! A task owns the socket. Callers send `(command, oneshot)` through a bounded channel and await
//! the oneshot; the task handles one command at a time, in order, and always reads a command's
//! reply in full before sending the next. So a caller that gives up (a dropped future, a
//! timeout) can never shift the replies of the others: if it gave up before its command was
//! written, the command is never sent; if after, its reply is read and thrown away.
//!
//! Each reply is checked against a size limit while it is read; past the limit, bytes are
//! counted and dropped rather than kept, and the caller gets [`Error::ReplyTooLarge`] once the
//! terminator arrives. When the socket reaches EOF or fails, the task fails the command in
//! flight and every queued one with [`Error::Disconnected`] and stops; later calls fail the same
//! way at once.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};

use crate::{Error, Result, tcl};

/// The byte that ends every command and every reply.
pub(crate) const TERMINATOR: u8 = 0x1a;

/// How many commands may wait for the connection's task before callers wait for room.
const QUEUE: usize = 64;

/// The default limit on one reply: 64 MiB.
pub(crate) const DEFAULT_MAX_REPLY: usize = 64 << 20;

/// The Tcl variable that carries a command's result out of `catch`.
const RESULT_VAR: &str = "::__syncportal_r";

struct Request {
    frame: Vec<u8>,
    reply: oneshot::Sender<Result<String>>,
}

/// A handle on a connection's task. Clones share the connection; the task stops (and the
/// socket closes) when the last handle is dropped.
#[derive(Debug, Clone)]
pub(crate) struct Connection {
    tx: mpsc::Sender<Request>,
    peer: SocketAddr,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("frame_len", &self.frame.len())
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Takes over `stream` and starts its task on the current tokio runtime.
    pub(crate) fn spawn(stream: TcpStream, max_reply: usize) -> Result<Self> {
        stream.set_nodelay(true)?;
        let peer = stream.peer_addr()?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let (reader, writer) = stream.into_split();
        tokio::spawn(run(reader, writer, rx, max_reply));
        Ok(Self { tx, peer })
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
        let (reply, rx) = oneshot::channel();
        let request = Request {
            frame: text.as_bytes().to_vec(),
            reply,
        };
        self.tx
            .send(request)
            .await
            .map_err(|_| Error::Disconnected)?;
        rx.await.map_err(|_| Error::Disconnected)?
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

/// The connection's task: one exchange at a time, in order, until EOF or the last handle.
async fn run(
    mut reader: OwnedReadHalf,
    mut writer: OwnedWriteHalf,
    mut rx: mpsc::Receiver<Request>,
    max_reply: usize,
) {
    let mut frames = Frames::new(max_reply);
    while let Some(request) = rx.recv().await {
        if request.reply.is_closed() {
            // Its caller gave up before the command was sent: send nothing.
            continue;
        }
        let mut frame = request.frame;
        frame.push(TERMINATOR);
        let outcome = match writer.write_all(&frame).await {
            Ok(()) => frames.next(&mut reader).await,
            Err(_) => None,
        };
        if let Some(reply) = outcome {
            // A caller that gave up after sending: its reply was read, and is dropped here.
            let _ = request.reply.send(reply);
        } else {
            let _ = request.reply.send(Err(Error::Disconnected));
            break;
        }
    }
    rx.close();
    while let Some(request) = rx.recv().await {
        let _ = request.reply.send(Err(Error::Disconnected));
    }
}

/// Reads `0x1a`-terminated replies from a socket within a size limit.
struct Frames {
    max_reply: usize,
    buf: Box<[u8]>,
    /// Bytes read past the end of the last reply (`buf[start..end]`).
    start: usize,
    end: usize,
}

impl Frames {
    fn new(max_reply: usize) -> Self {
        Self {
            max_reply,
            buf: vec![0; 64 * 1024].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    /// The next reply: `Some(Ok)`, `Some(Err(ReplyTooLarge))` with the connection still in
    /// step, or `None` when the socket is closed or failed.
    async fn next(&mut self, reader: &mut OwnedReadHalf) -> Option<Result<String>> {
        let mut reply = Vec::new();
        let mut too_large = false;
        loop {
            if self.start == self.end {
                self.start = 0;
                self.end = match reader.read(&mut self.buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => n,
                };
            }
            let chunk = &self.buf[self.start..self.end];
            let (body, found) = match chunk.iter().position(|&b| b == TERMINATOR) {
                Some(at) => (&chunk[..at], true),
                None => (chunk, false),
            };
            if !too_large {
                if reply.len() + body.len() > self.max_reply {
                    too_large = true;
                    reply = Vec::new();
                } else {
                    reply.extend_from_slice(body);
                }
            }
            self.start += body.len() + usize::from(found);
            if found {
                break;
            }
        }
        Some(if too_large {
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
