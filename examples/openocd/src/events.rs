//! OpenOCD's TCL notifications as a stream of typed events, on a connection of their own.
//!
//! `tcl_notifications on` makes OpenOCD write a message to that TCL connection whenever a
//! target event fires (`type target_event event halted`), a target's state changes
//! (`type target_state state running`) or a reset runs (`type target_reset mode halt`), each
//! ended by `0x1a` like a reply. Those messages carry no marker that tells them from replies,
//! so [`Session::events`](crate::Session::events) opens a second connection that only ever
//! carries notifications: they can never interleave with the replies of the session's
//! commands.
//!
//! A task reads that connection and parses each message into an [`Event`]; [`Events`] hands
//! them out in the order OpenOCD sent them. The stream ends when OpenOCD closes the connection
//! (it shut down or died), when the session is closed or dropped (after every notification
//! OpenOCD had already sent by then), or when the stream itself is dropped.

use std::fmt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use syncportal::{Portal, RecordOptions, Recording};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use crate::connection::{TERMINATOR, unwrap, wrap};
use crate::{Error, ResetMode, Result, RunState};

/// How many parsed events wait for the consumer before the reader stops reading the socket.
const QUEUE: usize = 256;

/// The command that turns notifications on for a connection.
const ENABLE: &str = "tcl_notifications on";

/// The name of a target event, as OpenOCD 0.12 sends it in `type target_event event NAME`.
///
/// # Examples
///
/// ```
/// use syncportal_openocd::TargetEvent;
///
/// assert_eq!(TargetEvent::from_name("halted"), TargetEvent::Halted);
/// assert_eq!(TargetEvent::ResumeStart.as_str(), "resume-start");
/// assert_eq!(TargetEvent::from_name("new-thing"), TargetEvent::Other("new-thing".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TargetEvent {
    /// The target halted.
    Halted,
    /// The target resumed.
    Resumed,
    /// A resume is about to start.
    ResumeStart,
    /// A resume finished.
    ResumeEnd,
    /// A single step is about to start.
    StepStart,
    /// A single step finished.
    StepEnd,
    /// The target halted while running code for the debugger.
    DebugHalted,
    /// The target resumed to run code for the debugger.
    DebugResumed,
    /// A reset is starting.
    ResetStart,
    /// Reset is being asserted.
    ResetAssert,
    /// Reset was asserted.
    ResetAssertPost,
    /// Reset is about to be asserted.
    ResetAssertPre,
    /// Reset was deasserted.
    ResetDeassertPost,
    /// Reset is about to be deasserted.
    ResetDeassertPre,
    /// `reset init` is running its init handlers.
    ResetInit,
    /// A reset finished.
    ResetEnd,
    /// Examination of the target started.
    ExamineStart,
    /// Examination of the target failed.
    ExamineFail,
    /// Examination of the target finished.
    ExamineEnd,
    /// GDB attached.
    GdbAttach,
    /// GDB detached.
    GdbDetach,
    /// GDB asked for a halt.
    GdbHalt,
    /// A GDB session started.
    GdbStart,
    /// A GDB session ended.
    GdbEnd,
    /// GDB is about to erase flash.
    GdbFlashEraseStart,
    /// GDB finished erasing flash.
    GdbFlashEraseEnd,
    /// GDB is about to write flash.
    GdbFlashWriteStart,
    /// GDB finished writing flash.
    GdbFlashWriteEnd,
    /// The trace configuration changed.
    TraceConfig,
    /// An event this SDK does not know by name (semihosting user commands, newer versions).
    Other(String),
}

/// Every named event, with the word OpenOCD uses for it.
const TARGET_EVENTS: &[(&str, TargetEvent)] = &[
    ("halted", TargetEvent::Halted),
    ("resumed", TargetEvent::Resumed),
    ("resume-start", TargetEvent::ResumeStart),
    ("resume-end", TargetEvent::ResumeEnd),
    ("step-start", TargetEvent::StepStart),
    ("step-end", TargetEvent::StepEnd),
    ("debug-halted", TargetEvent::DebugHalted),
    ("debug-resumed", TargetEvent::DebugResumed),
    ("reset-start", TargetEvent::ResetStart),
    ("reset-assert", TargetEvent::ResetAssert),
    ("reset-assert-post", TargetEvent::ResetAssertPost),
    ("reset-assert-pre", TargetEvent::ResetAssertPre),
    ("reset-deassert-post", TargetEvent::ResetDeassertPost),
    ("reset-deassert-pre", TargetEvent::ResetDeassertPre),
    ("reset-init", TargetEvent::ResetInit),
    ("reset-end", TargetEvent::ResetEnd),
    ("examine-start", TargetEvent::ExamineStart),
    ("examine-fail", TargetEvent::ExamineFail),
    ("examine-end", TargetEvent::ExamineEnd),
    ("gdb-attach", TargetEvent::GdbAttach),
    ("gdb-detach", TargetEvent::GdbDetach),
    ("gdb-halt", TargetEvent::GdbHalt),
    ("gdb-start", TargetEvent::GdbStart),
    ("gdb-end", TargetEvent::GdbEnd),
    ("gdb-flash-erase-start", TargetEvent::GdbFlashEraseStart),
    ("gdb-flash-erase-end", TargetEvent::GdbFlashEraseEnd),
    ("gdb-flash-write-start", TargetEvent::GdbFlashWriteStart),
    ("gdb-flash-write-end", TargetEvent::GdbFlashWriteEnd),
    ("trace-config", TargetEvent::TraceConfig),
];

impl TargetEvent {
    /// The event OpenOCD names `name`.
    ///
    /// # Examples
    ///
    /// ```
    /// use syncportal_openocd::TargetEvent;
    /// assert_eq!(TargetEvent::from_name("gdb-attach"), TargetEvent::GdbAttach);
    /// ```
    #[must_use]
    pub fn from_name(name: &str) -> Self {
        TARGET_EVENTS
            .iter()
            .find(|(known, _)| *known == name)
            .map_or_else(|| Self::Other(name.to_owned()), |(_, event)| event.clone())
    }

    /// The word OpenOCD uses for this event.
    ///
    /// # Examples
    ///
    /// ```
    /// use syncportal_openocd::TargetEvent;
    /// assert_eq!(TargetEvent::StepEnd.as_str(), "step-end");
    /// ```
    #[must_use]
    pub fn as_str(&self) -> &str {
        if let Self::Other(name) = self {
            return name;
        }
        TARGET_EVENTS
            .iter()
            .find(|(_, event)| event == self)
            .map_or("", |(name, _)| name)
    }
}

impl fmt::Display for TargetEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One notification from OpenOCD.
///
/// OpenOCD's notifications do not name the target they concern; with several targets, ask
/// [`Target::list`](crate::Target::list) which one changed.
///
/// # Examples
///
/// ```
/// use syncportal_openocd::{Event, ResetMode, RunState, TargetEvent};
///
/// assert_eq!(Event::parse("type target_event event halted\r\n"), Event::Target(TargetEvent::Halted));
/// assert_eq!(Event::parse("type target_state state running"), Event::State(RunState::Running));
/// assert_eq!(Event::parse("type target_reset mode init"), Event::Reset(Some(ResetMode::Init)));
/// assert_eq!(Event::parse("type target_trace data 0aff"), Event::Trace(vec![0x0a, 0xff]));
/// assert_eq!(Event::parse("hello"), Event::Other("hello".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A target event fired: `type target_event event NAME`.
    Target(TargetEvent),
    /// A target's state changed (sent after an event when the state differs from the last one
    /// reported): `type target_state state NAME`.
    State(RunState),
    /// A reset ran: `type target_reset mode NAME`; `None` when OpenOCD says `unknown`.
    Reset(Option<ResetMode>),
    /// Trace data, with `tcl_trace on`: `type target_trace data HEX`.
    Trace(Vec<u8>),
    /// A message this SDK does not know, as sent (without the line end).
    Other(String),
}

impl Event {
    /// Parses one notification message, without its `0x1a`. Never fails: a message of an
    /// unknown form becomes [`Event::Other`].
    ///
    /// # Examples
    ///
    /// See [`Event`].
    #[must_use]
    pub fn parse(message: &str) -> Self {
        let text = message.trim_end();
        let words: Vec<&str> = text.split_whitespace().collect();
        match words[..] {
            ["type", "target_event", "event", name] => Self::Target(TargetEvent::from_name(name)),
            ["type", "target_state", "state", name] => Self::State(RunState::from_name(name)),
            ["type", "target_reset", "mode", mode] => match mode {
                "run" => Self::Reset(Some(ResetMode::Run)),
                "halt" => Self::Reset(Some(ResetMode::Halt)),
                "init" => Self::Reset(Some(ResetMode::Init)),
                "unknown" => Self::Reset(None),
                _ => Self::Other(text.to_owned()),
            },
            ["type", "target_trace", "data", hex] => match unhex(hex) {
                Some(bytes) => Self::Trace(bytes),
                None => Self::Other(text.to_owned()),
            },
            ["type", "target_trace", "data"] => Self::Trace(Vec::new()),
            _ => Self::Other(text.to_owned()),
        }
    }
}

/// Decodes an even number of hex digits.
fn unhex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 || !hex.is_ascii() {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect()
}

/// OpenOCD's notifications, in the order it sent them, from
/// [`Session::events`](crate::Session::events).
///
/// A [`Stream`] of [`Event`]s. It ends when OpenOCD closes the connection, when the session is
/// closed or dropped (after the notifications OpenOCD had sent by then), or never otherwise;
/// dropping it closes its connection. Through [`SyncSession::events`](crate::SyncSession::events)
/// it is a blocking iterator; [`record`](Self::record) reads it ahead into a syncportal
/// recording.
///
/// # Examples
///
/// ```no_run
/// use syncportal_openocd::{Event, ResetMode, SyncSession};
///
/// let ocd = SyncSession::connect("localhost:6666")?;
/// let mut events = ocd.events()?;
/// ocd.target().reset(ResetMode::Halt)?;
/// let first = events.next().expect("the session is open")?;
/// assert_eq!(first, Event::Reset(Some(ResetMode::Halt)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Events {
    rx: mpsc::Receiver<Event>,
}

impl Events {
    /// Connects to `addr`, turns notifications on, and starts the reader task.
    pub(crate) async fn open(addr: SocketAddr, closed: watch::Receiver<()>) -> Result<Self> {
        let mut stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let mut frame = wrap(ENABLE).into_bytes();
        frame.push(TERMINATOR);
        stream.write_all(&frame).await?;
        let mut reader = FrameReader::default();
        // No notification can come before the reply: they are enabled by this very command.
        let reply = loop {
            if let Some(reply) = reader.take() {
                break reply;
            }
            if stream.read_buf(&mut reader.buf).await? == 0 {
                return Err(Error::Disconnected);
            }
        };
        unwrap(ENABLE, &reply)?;
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(pump(stream, reader, tx, closed));
        Ok(Self { rx })
    }

    /// Records these events on syncportal's global portal: a producer task reads them ahead
    /// into a bounded buffer with the capacity and overflow policy of `options`, and keeps a
    /// live summary (counts of events emitted, delivered, dropped, buffered).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use syncportal::{Overflow, RecordOptions};
    /// use syncportal_openocd::Session;
    ///
    /// # #[tokio::main] async fn main() -> Result<(), syncportal_openocd::Error> {
    /// let ocd = Session::connect("localhost:6666").await?;
    /// let options = RecordOptions::new().capacity(1024).overflow(Overflow::DropOldest);
    /// let recording = ocd.events().await?.record(options)?;
    /// let live = recording.live_summary();
    /// // ... later, from any thread:
    /// println!("{} events so far, {} dropped", live.get().emitted, live.get().dropped);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Record`] for a capacity of 0 or a portal that was shut down.
    ///
    /// # Panics
    ///
    /// When syncportal's global portal cannot start (the OS refuses its threads).
    pub fn record(self, options: RecordOptions) -> Result<Recording<Event>> {
        self.record_on(Portal::global(), options)
    }

    /// Like [`record`](Self::record), on `portal` instead of the global portal.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use syncportal::{Portal, RecordOptions};
    /// use syncportal_openocd::Session;
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let portal = Portal::builder().worker_threads(1).build()?;
    /// let ocd = Session::connect("localhost:6666").await?;
    /// let recording = ocd.events().await?.record_on(&portal, RecordOptions::new())?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`record`](Self::record).
    pub fn record_on(self, portal: &Portal, options: RecordOptions) -> Result<Recording<Event>> {
        Ok(portal.record(self, options)?)
    }
}

impl Stream for Events {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.rx.poll_recv(cx)
    }
}

/// Splits `0x1a`-terminated messages out of the bytes read so far.
#[derive(Debug, Default)]
struct FrameReader {
    buf: Vec<u8>,
}

impl FrameReader {
    /// The next whole message, if one has arrived.
    fn take(&mut self) -> Option<String> {
        let end = self.buf.iter().position(|&b| b == TERMINATOR)?;
        let text = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        self.buf.drain(..=end);
        Some(text)
    }
}

/// The reader task: socket to channel, until EOF, the session closes, or the stream is dropped.
async fn pump(
    mut stream: TcpStream,
    mut reader: FrameReader,
    tx: mpsc::Sender<Event>,
    mut closed: watch::Receiver<()>,
) {
    loop {
        while let Some(message) = reader.take() {
            if tx.send(Event::parse(&message)).await.is_err() {
                return; // the stream was dropped
            }
        }
        tokio::select! {
            read = stream.read_buf(&mut reader.buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            },
            // Only ever Err: the session (the sender) was closed or dropped.
            _ = closed.changed() => {
                drain(&mut stream, &mut reader);
                break;
            }
            () = tx.closed() => return,
        }
    }
    // Whole messages left over (after EOF, or read by the drain): deliver them, then end.
    while let Some(message) = reader.take() {
        if tx.send(Event::parse(&message)).await.is_err() {
            return;
        }
    }
}

/// Reads what has already arrived, without waiting: notifications OpenOCD wrote before the
/// session closed are delivered, not lost.
fn drain(stream: &mut TcpStream, reader: &mut FrameReader) {
    let mut chunk = [0; 4096];
    while let Ok(n @ 1..) = stream.try_read(&mut chunk) {
        reader.buf.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_event_round_trips() {
        for (name, event) in TARGET_EVENTS {
            assert_eq!(TargetEvent::from_name(name), *event);
            assert_eq!(event.as_str(), *name);
        }
        assert_eq!(TargetEvent::from_name("x").as_str(), "x");
    }

    #[test]
    fn messages() {
        // The forms of OpenOCD 0.12's tcl_server.c.
        assert_eq!(
            Event::parse("type target_event event resume-start\r\n"),
            Event::Target(TargetEvent::ResumeStart)
        );
        assert_eq!(
            Event::parse("type target_state state halted\r\n"),
            Event::State(RunState::Halted)
        );
        assert_eq!(
            Event::parse("type target_reset mode unknown\r\n"),
            Event::Reset(None)
        );
        assert_eq!(
            Event::parse("type target_trace data 0"),
            Event::Other("type target_trace data 0".into())
        );
        assert_eq!(
            Event::parse("type target_trace data\r\n"),
            Event::Trace(vec![])
        );
    }

    #[test]
    fn frames() {
        let mut reader = FrameReader::default();
        reader.buf.extend_from_slice(b"a\x1ab\x1apart");
        assert_eq!(reader.take().as_deref(), Some("a"));
        assert_eq!(reader.take().as_deref(), Some("b"));
        assert_eq!(reader.take(), None);
        assert_eq!(reader.buf, b"part");
    }
}
