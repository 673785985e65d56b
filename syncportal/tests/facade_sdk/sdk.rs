//! An async SDK for the test server, written once; `#[syncportal::facade]` adds its blocking
//! twin (`SyncSession`, `SyncCounters`, `SyncKv`).
//!
//! A [`Session`] owns one request/response connection, shared with its subsystems
//! ([`Counters`], [`Kv`]) through an `Arc`. Each request holds a `tokio::sync::Mutex` around the
//! connection for the whole exchange (write the request line, read the reply line), so `&self`
//! methods can be called from many tasks or threads at once. Event streams open a connection of
//! their own.
//!
//! # Abandoned requests
//!
//! A request future can be dropped part-way: a blocking twin's timeout drops it, and so does
//! `tokio::time::timeout` or a `select!` in async code. The stream may then hold half a request
//! or a reply nobody will read, and the next exchange would read that stale reply as its own
//! answer. So the connection is marked dirty before each exchange and marked clean only after
//! its reply has been read in full; the next request that finds it dirty drops the old socket
//! (and whatever was left on it), connects again and re-sends the session's name before going
//! on. Whether an abandoned request took effect on the server is unknown, as with any network
//! timeout; `reconnects()` counts how often this happened. A request that times out while still
//! waiting for the lock never touched the wire and costs nothing.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_core::Stream;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Mutex, MutexGuard};

/// Why an SDK call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SdkError {
    /// The connection failed.
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
    /// The server sent something the SDK does not understand, or an argument cannot be sent.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The server refused the request with `ERR message`.
    #[error("the server refused the request: {0}")]
    Server(String),
    /// The session was closed; connect a new one.
    #[error("the session is closed; connect a new one")]
    Closed,
    /// A blocking call could not run: called from async code, timed out, or the portal is shut
    /// down.
    #[error(transparent)]
    Portal(#[from] syncportal::Error),
}

/// One event pushed by the server on a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The topic subscribed to.
    pub topic: String,
    /// The event's number on this subscription, from 1.
    pub seq: u64,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} #{}", self.topic, self.seq)
    }
}

/// The two halves of an open connection.
#[derive(Debug)]
struct Wire {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Wire {
    async fn open(addr: SocketAddr) -> Result<Self, SdkError> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (reader, writer) = stream.into_split();
        Ok(Self {
            reader: BufReader::new(reader),
            writer,
        })
    }

    /// Writes one request line and reads one reply line, without its line end.
    async fn exchange(&mut self, request: &str) -> Result<String, SdkError> {
        self.writer
            .write_all(format!("{request}\n").as_bytes())
            .await?;
        let mut reply = String::new();
        if self.reader.read_line(&mut reply).await? == 0 {
            return Err(SdkError::Protocol(
                "the server closed the connection".to_owned(),
            ));
        }
        let reply = reply.trim_end_matches(['\r', '\n']);
        match reply.strip_prefix("ERR ") {
            Some(message) => Err(SdkError::Server(message.to_owned())),
            None => Ok(reply.to_owned()),
        }
    }
}

/// The request/response connection, behind the session's lock.
#[derive(Debug)]
struct Conn {
    /// `None` once the session is closed.
    wire: Option<Wire>,
    /// An exchange started and did not finish: the stream is in an unknown place.
    dirty: bool,
    /// Sent again after a reconnect.
    name: Option<String>,
}

impl Conn {
    /// One exchange; the connection stays dirty unless a whole reply (even `ERR`) was read.
    async fn call(&mut self, request: &str) -> Result<String, SdkError> {
        let wire = self.wire.as_mut().ok_or(SdkError::Closed)?;
        self.dirty = true;
        let reply = wire.exchange(request).await;
        if matches!(reply, Ok(_) | Err(SdkError::Server(_))) {
            self.dirty = false;
        }
        reply
    }
}

/// What a session and its subsystems share.
#[derive(Debug)]
struct Shared {
    addr: SocketAddr,
    conn: Mutex<Conn>,
    reconnects: AtomicU64,
}

impl Shared {
    /// Locks the connection, first replacing it if an earlier exchange was abandoned.
    async fn ready(&self) -> Result<MutexGuard<'_, Conn>, SdkError> {
        let mut conn = self.conn.lock().await;
        if conn.wire.is_none() {
            return Err(SdkError::Closed);
        }
        if conn.dirty {
            // Dropping the old wire closes its socket, with any stale reply still on it.
            conn.wire = Some(Wire::open(self.addr).await?);
            self.reconnects.fetch_add(1, SeqCst);
            if let Some(name) = conn.name.clone() {
                expect_reply(&conn.call(&format!("NAME {name}")).await?, "OK")?;
            }
            conn.dirty = false;
        }
        Ok(conn)
    }

    async fn request(&self, request: &str) -> Result<String, SdkError> {
        self.ready().await?.call(request).await
    }

    async fn get(&self, key: &str) -> Result<Option<String>, SdkError> {
        let reply = self.request(&format!("GET {}", check_key(key)?)).await?;
        if reply == "NIL" {
            return Ok(None);
        }
        match reply.strip_prefix("VALUE ") {
            Some(value) => Ok(Some(value.to_owned())),
            None => Err(unexpected(&reply)),
        }
    }

    async fn set(&self, key: &str, value: &str) -> Result<(), SdkError> {
        if value.contains(['\r', '\n']) {
            return Err(SdkError::Protocol(
                "a value cannot contain a line end".to_owned(),
            ));
        }
        let reply = self
            .request(&format!("SET {} {value}", check_key(key)?))
            .await?;
        expect_reply(&reply, "OK")
    }
}

fn check_key(key: &str) -> Result<&str, SdkError> {
    if key.is_empty() || key.contains(char::is_whitespace) {
        return Err(SdkError::Protocol(format!(
            "a key must be a non-empty word, not {key:?}"
        )));
    }
    Ok(key)
}

fn expect_reply(reply: &str, expected: &str) -> Result<(), SdkError> {
    if reply == expected {
        Ok(())
    } else {
        Err(unexpected(reply))
    }
}

fn unexpected(reply: &str) -> SdkError {
    SdkError::Protocol(format!("unexpected reply {reply:?}"))
}

/// A connection to the server.
#[derive(Debug)]
pub struct Session {
    shared: Arc<Shared>,
    name: Option<String>,
}

#[syncportal::facade]
impl Session {
    /// Connects to the server at `addr`.
    ///
    /// # Errors
    ///
    /// [`SdkError::Io`] when the server cannot be reached.
    pub async fn connect(addr: SocketAddr) -> Result<Self, SdkError> {
        let wire = Wire::open(addr).await?;
        let conn = Conn {
            wire: Some(wire),
            dirty: false,
            name: None,
        };
        Ok(Self {
            shared: Arc::new(Shared {
                addr,
                conn: Mutex::new(conn),
                reconnects: AtomicU64::new(0),
            }),
            name: None,
        })
    }

    /// Reads `key`; `None` when it has no value.
    ///
    /// # Errors
    ///
    /// As any request: IO, protocol, or a closed session.
    pub async fn get(&self, key: &str) -> Result<Option<String>, SdkError> {
        self.shared.get(key).await
    }

    /// Stores `value` under `key`.
    ///
    /// # Errors
    ///
    /// As any request: IO, protocol, or a closed session.
    pub async fn set(&self, key: &str, value: &str) -> Result<(), SdkError> {
        self.shared.set(key, value).await
    }

    /// Names this session on the server; the name is sent again after a reconnect.
    ///
    /// # Errors
    ///
    /// As any request: IO, protocol, or a closed session.
    pub async fn set_name(&mut self, name: String) -> Result<(), SdkError> {
        check_key(&name)?;
        let mut conn = self.shared.ready().await?;
        expect_reply(&conn.call(&format!("NAME {name}")).await?, "OK")?;
        conn.name = Some(name.clone());
        drop(conn);
        self.name = Some(name);
        Ok(())
    }

    /// The name the server knows this session by, asked of the server.
    ///
    /// # Errors
    ///
    /// As any request: IO, protocol, or a closed session.
    pub async fn whoami(&self) -> Result<Option<String>, SdkError> {
        let reply = self.shared.request("WHOAMI").await?;
        if reply == "NIL" {
            return Ok(None);
        }
        match reply.strip_prefix("NAME ") {
            Some(name) => Ok(Some(name.to_owned())),
            None => Err(unexpected(&reply)),
        }
    }

    /// The name last set with [`set_name`](Self::set_name), without asking the server.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Asks the server to answer after `delay`; for testing timeouts.
    ///
    /// # Errors
    ///
    /// As any request: IO, protocol, or a closed session.
    pub async fn slow(&self, delay: Duration) -> Result<(), SdkError> {
        let reply = self
            .shared
            .request(&format!("SLOW {}", delay.as_millis()))
            .await?;
        expect_reply(&reply, "OK")
    }

    /// How often the session replaced its connection after an abandoned request.
    #[must_use]
    pub fn reconnects(&self) -> u64 {
        self.shared.reconnects.load(SeqCst)
    }

    /// The counters subsystem, on this session's connection.
    #[facade(sub)]
    #[must_use]
    pub fn counters(&self) -> Counters {
        Counters {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The key-value subsystem, on this session's connection.
    #[facade(sub)]
    #[must_use]
    pub fn kv(&self) -> Kv {
        Kv {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Subscribes to `topic` on a connection of its own, opened when the stream is first
    /// polled. Dropping the stream closes that connection.
    pub fn events(
        &self,
        topic: &str,
    ) -> impl Stream<Item = Result<Event, SdkError>> + Send + 'static {
        Events::new(self.shared.addr, topic.to_owned())
    }

    /// Says goodbye (`QUIT`), waits for the server's `BYE` and closes the connection. The
    /// session's subsystems fail with [`SdkError::Closed`] afterwards.
    ///
    /// # Errors
    ///
    /// As any request. The connection is closed even then.
    pub async fn close(self) -> Result<(), SdkError> {
        let mut conn = self.shared.conn.lock().await;
        if conn.dirty {
            // An abandoned exchange left the stream in an unknown place: just hang up.
            conn.wire = None;
            return Ok(());
        }
        let reply = conn.call("QUIT").await;
        let wire = conn.wire.take();
        drop(conn);
        expect_reply(&reply?, "BYE")?;
        if let Some(mut wire) = wire {
            wire.writer.shutdown().await?;
        }
        Ok(())
    }
}

/// Counters stored on the server.
#[derive(Debug, Clone)]
pub struct Counters {
    shared: Arc<Shared>,
}

#[syncportal::facade]
impl Counters {
    /// Adds one to the counter `key` (missing counts as 0) and returns the new value.
    ///
    /// # Errors
    ///
    /// [`SdkError::Server`] when `key` holds something other than an integer; otherwise as any
    /// request.
    pub async fn incr(&self, key: &str) -> Result<i64, SdkError> {
        let reply = self
            .shared
            .request(&format!("INCR {}", check_key(key)?))
            .await?;
        reply
            .strip_prefix("INT ")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| unexpected(&reply))
    }

    /// The counter `key`; 0 when missing.
    ///
    /// # Errors
    ///
    /// [`SdkError::Protocol`] when `key` holds something other than an integer; otherwise as
    /// any request.
    pub async fn get(&self, key: &str) -> Result<i64, SdkError> {
        match self.shared.get(key).await? {
            None => Ok(0),
            Some(value) => value
                .parse()
                .map_err(|_| SdkError::Protocol(format!("{key} holds {value:?}, not a counter"))),
        }
    }
}

/// Plain values stored on the server.
#[derive(Debug, Clone)]
pub struct Kv {
    shared: Arc<Shared>,
}

#[syncportal::facade]
impl Kv {
    /// Reads `key`; `None` when it has no value.
    ///
    /// # Errors
    ///
    /// As any request: IO, protocol, or a closed session.
    pub async fn get(&self, key: &str) -> Result<Option<String>, SdkError> {
        self.shared.get(key).await
    }

    /// Stores anything printable under `key`.
    ///
    /// # Errors
    ///
    /// As any request: IO, protocol, or a closed session.
    pub async fn set(&self, key: &str, value: impl fmt::Display) -> Result<(), SdkError> {
        self.shared.set(key, &value.to_string()).await
    }
}

type Subscribing =
    Pin<Box<dyn Future<Output = Result<Lines<BufReader<TcpStream>>, SdkError>> + Send>>;

/// The stream behind [`Session::events`]: subscribe on first poll, then one event per line.
enum Events {
    Subscribing {
        topic: String,
        connect: Subscribing,
    },
    Reading {
        topic: String,
        lines: Lines<BufReader<TcpStream>>,
    },
    Done,
}

impl Events {
    fn new(addr: SocketAddr, topic: String) -> Self {
        let subscribe_to = topic.clone();
        let connect = Box::pin(async move {
            check_key(&subscribe_to)?;
            let stream = TcpStream::connect(addr).await?;
            let mut reader = BufReader::new(stream);
            let request = format!("SUB {subscribe_to}\n");
            reader.get_mut().write_all(request.as_bytes()).await?;
            let mut reply = String::new();
            reader.read_line(&mut reply).await?;
            expect_reply(reply.trim_end(), "OK subscribed")?;
            Ok(reader.lines())
        });
        Self::Subscribing { topic, connect }
    }
}

impl Stream for Events {
    type Item = Result<Event, SdkError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let this = &mut *self;
            match this {
                Events::Subscribing { topic, connect } => match ready!(connect.as_mut().poll(cx)) {
                    Ok(lines) => {
                        let topic = std::mem::take(topic);
                        *this = Events::Reading { topic, lines };
                    }
                    Err(err) => {
                        *this = Events::Done;
                        return Poll::Ready(Some(Err(err)));
                    }
                },
                Events::Reading { topic, lines } => {
                    let item = match ready!(Pin::new(lines).poll_next_line(cx)) {
                        Ok(Some(line)) => parse_event(topic, &line),
                        Ok(None) => {
                            *this = Events::Done;
                            return Poll::Ready(None);
                        }
                        Err(err) => Err(err.into()),
                    };
                    if item.is_err() {
                        *this = Events::Done;
                    }
                    return Poll::Ready(Some(item));
                }
                Events::Done => return Poll::Ready(None),
            }
        }
    }
}

fn parse_event(topic: &str, line: &str) -> Result<Event, SdkError> {
    line.strip_prefix("EVENT ")
        .and_then(|rest| rest.strip_prefix(topic))
        .and_then(|rest| rest.strip_prefix(' '))
        .and_then(|seq| seq.parse().ok())
        .map(|seq| Event {
            topic: topic.to_owned(),
            seq,
        })
        .ok_or_else(|| unexpected(line))
}
