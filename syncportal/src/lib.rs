//! Give an async tokio SDK a correct blocking API.
//!
//! Rust SDKs are async, but many of their users write scripts, CLIs, test rigs and other
//! synchronous code. Sprinkling `Runtime::block_on` over that code panics inside async code
//! ("Cannot start a runtime from within a runtime") and pays for a runtime per client.
//! syncportal gives sync code one shared, fast, guarded way into async code.
//!
//! # A tour
//!
//! ## The portal
//!
//! A [`Portal`] is a tokio runtime that sync code calls into. [`Portal::global`] is shared by
//! everything in the process; [`Portal::builder`] makes a private one, and
//! [`Portal::from_handle`] attaches to a runtime the application already runs.
//!
//! ```
//! use std::time::Duration;
//! use syncportal::Portal;
//!
//! let portal = Portal::global();
//!
//! // call: run a future to completion on this thread, inside the runtime's context.
//! let sum = portal.call(async {
//!     tokio::time::sleep(Duration::from_millis(1)).await;
//!     2 + 2
//! })?;
//! assert_eq!(sum, 4);
//!
//! // call_timeout: give up after a deadline; the future is dropped before the error returns.
//! let slow = portal.call_timeout(std::future::pending::<()>(), Duration::from_millis(5));
//! assert!(slow.unwrap_err().is_timeout());
//! # Ok::<(), syncportal::Error>(())
//! ```
//!
//! ## Tasks
//!
//! [`Portal::spawn`] starts work without blocking and returns a [`Task`] to
//! [`wait`](Task::wait) on, [`cancel`](Task::cancel) or [`detach`](Task::detach).
//!
//! ```
//! # let portal = syncportal::Portal::global();
//! let task = portal.spawn(async { "background" })?;
//! assert_eq!(task.wait()?, "background");
//!
//! let forever = portal.spawn(std::future::pending::<()>())?;
//! forever.cancel();
//! assert!(forever.wait().unwrap_err().is_cancelled());
//! # Ok::<(), syncportal::Error>(())
//! ```
//!
//! ## Streams as iterators
//!
//! [`Portal::iter`] turns an async [`Stream`](futures_core::Stream) into a [`BlockingIter`], an
//! ordinary `Iterator` that pulls one item per `next()`.
//!
//! ```
//! # use std::{pin::Pin, task::{Context, Poll}};
//! # struct Countdown(u8);
//! # impl futures_core::Stream for Countdown {
//! #     type Item = u8;
//! #     fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<u8>> {
//! #         self.0 = self.0.saturating_sub(1);
//! #         Poll::Ready((self.0 > 0).then_some(self.0))
//! #     }
//! # }
//! # let portal = syncportal::Portal::global();
//! let items: Vec<u8> = portal.iter(Countdown(4)).collect::<Result<_, _>>()?;
//! assert_eq!(items, [3, 2, 1]);
//! # Ok::<(), syncportal::Error>(())
//! ```
//!
//! ## The guard
//!
//! A blocking call made on a thread that drives async tasks returns
//! [`Error::InAsyncContext`] before anything is scheduled: no panic, no deadlock, and the
//! future is never polled. Plain threads, `spawn_blocking` threads and `block_in_place`
//! sections may block, and they work.
//!
//! ```
//! use syncportal::{Error, Portal};
//!
//! let portal = Portal::global();
//! let inside = portal.call(async {
//!     // Blocking here would stall the runtime: refused with a typed error.
//!     Portal::global().call(async { 1 })
//! })?;
//! assert_eq!(inside, Err(Error::InAsyncContext));
//! # Ok::<(), syncportal::Error>(())
//! ```
//!
//! ## The facade macro
//!
//! [`macro@facade`] on an async `impl Foo` generates `SyncFoo`, its blocking twin, with the same
//! method names and data types, so an SDK ships both APIs from one implementation.
//!
//! ```
//! pub struct Greeter;
//!
//! #[syncportal::facade]
//! impl Greeter {
//!     pub async fn greet(&self, name: &str) -> String {
//!         format!("hello, {name}")
//!     }
//! }
//!
//! let greeter = SyncGreeter::from_async(Greeter);
//! assert_eq!(greeter.greet("sync world")?, "hello, sync world");
//! # Ok::<(), syncportal::Error>(())
//! ```
//!
//! ## Recordings
//!
//! [`Portal::record`] reads an async source ahead into a bounded buffer on the portal's
//! runtime. The consumer reads the [`Recording`] as a `Stream`, or its sync twin
//! [`SyncRecording`] as an `Iterator`. [`RecordOptions`] choose what a full buffer does
//! ([`Overflow`]: wait, drop the oldest, drop the newest) and what an error does ([`OnError`]:
//! raise, return, skip), and a [`Summary`] that always balances says what happened to every item.
//! [`Portal::record_polled`] polls an async function on a fixed time grid instead.
//!
//! ```
//! use syncportal::{Overflow, Portal, RecordOptions};
//! # struct Samples(u32);
//! # impl futures_core::Stream for Samples {
//! #     type Item = u32;
//! #     fn poll_next(mut self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>)
//! #         -> std::task::Poll<Option<u32>> {
//! #         self.0 += 1;
//! #         std::task::Poll::Ready((self.0 <= 1000).then_some(self.0))
//! #     }
//! # }
//!
//! let options = RecordOptions::new().capacity(256).overflow(Overflow::Block);
//! let recording = Portal::global().record(Samples(0), options)?.into_sync();
//! let live = recording.live_summary(); // readable from any thread, at any time
//! let sum: u64 = recording.map(|sample| u64::from(sample.unwrap())).sum();
//! assert_eq!(sum, 500_500);
//! let summary = live.get();
//! assert_eq!((summary.emitted, summary.delivered, summary.dropped), (1000, 1000, 0));
//! # Ok::<(), syncportal::RecordError>(())
//! ```
//!
//! ## A queue both worlds share
//!
//! [`Queue`] is bounded, takes the same [`Overflow`] policies, and is used from async tasks
//! (`put`, `get`) and plain threads (`put_blocking`, `get_blocking`) at once, with `try_*`,
//! `task_done`/`join`, `close` and `close_now`. No runtime is needed on either side.
//!
//! ```
//! use syncportal::{Portal, Queue};
//!
//! let jobs = Queue::new(8)?;
//! let worker = {
//!     let jobs = jobs.clone();
//!     Portal::global().spawn(async move {
//!         while let Ok(job) = jobs.get().await {
//!             println!("async worker got {job}");
//!             jobs.task_done().unwrap();
//!         }
//!     })?
//! };
//! for job in ["resize", "upload"] {
//!     jobs.put_blocking(job)?;
//! }
//! jobs.join_blocking()?; // every job taken and done
//! jobs.close();
//! worker.wait()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## The reverse bridge: blocking work from async code
//!
//! Async code that calls blocking code inline stalls every task on its worker. A
//! [`BlockingPool`] runs closures on a bounded set of named threads, [`offload`](fn@offload)
//! uses a default pool, and `#[`[`offload`](macro@offload)`]` gives a blocking `fn` an async
//! twin. An [`Actor`] owns a resource that must stay on one thread (a SQLite connection, a
//! device handle) and runs closures against it in order, from async or sync callers.
//!
//! ```
//! use syncportal::Actor;
//!
//! #[syncportal::offload]
//! fn parse(text: String) -> usize {
//!     text.split_whitespace().count() // imagine a slow, blocking parser
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! assert_eq!(parse_async("three short words".into()).await, 3);
//!
//! let device = Actor::spawn(|| Ok::<_, std::io::Error>(Vec::<u8>::new())).await?;
//! device.call(|buffer| buffer.extend_from_slice(b"ping")).await?;
//! assert_eq!(device.call(|buffer| buffer.len()).await?, 4);
//! # Ok(())
//! # }
//! ```
//!
//! ## Slow polls
//!
//! A blocking call hidden inside async code is the most common async bug. The portal watches
//! its calls and tasks: a `poll` that runs past a threshold (100 ms unless
//! [`PortalBuilder::slow_poll_threshold`] says otherwise) gets a `tracing` warning, with target
//! `syncportal::slow_poll`, naming the task and how long it has run.
//!
//! ## Shutdown
//!
//! [`Portal::shutdown`] refuses new work at once, lets work in flight finish within a grace
//! period, cancels the rest and returns a [`ShutdownReport`]. Dropping the last clone of a
//! portal stops it without blocking.
//!
//! # Panics in user code
//!
//! A panic inside a future reaches whoever waits for it ([`Portal::call`], [`Task::wait`])
//! with its original payload, and the portal stays usable.
//!
//! # Caveats
//!
//! The guard detects async contexts with tokio's own check, run inside `catch_unwind` before
//! the future is first polled; a panic hook installed on first use keeps that expected panic
//! out of the output. If the application replaces the panic hook afterwards, a refused call
//! still returns [`Error::InAsyncContext`] but tokio's message is printed. Under
//! `panic = "abort"`, panics cannot be caught, so the guard treats any thread inside a tokio
//! runtime context as async, which also refuses `spawn_blocking` threads.
//!
//! A call made from a plain thread drives its future on that thread without tokio knowing, which
//! is what makes it fast. Inside such a call, syncportal's own blocking calls are refused even
//! within `block_in_place` (which tokio treats as a no-op off its workers; use `spawn_blocking`
//! there), while tokio's own blocking APIs such as `Handle::block_on` are not refused by tokio.

#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

mod actor;
mod error;
mod guard;
mod iter;
mod park;
mod pool;
mod portal;
mod queue;
mod record;
mod task;
mod watch;
mod work;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use actor::{Actor, ActorBuilder, ActorError};
pub use error::{BuildError, ConfigError, Error};
pub use guard::may_block;
pub use iter::BlockingIter;
pub use pool::{BlockingPool, BlockingPoolBuilder, Run, offload};
pub use portal::{Portal, PortalBuilder, ShutdownReport};
pub use queue::{
    Get, Join, Overflow, Put, PutError, Queue, QueueStats, TaskDoneError, TryGetError, TryPutError,
};
pub use record::{
    End, LiveSummary, OnError, RecordError, RecordOptions, Recording, Reporter, Summary,
    SyncRecording,
};
pub use task::Task;

#[cfg(feature = "macros")]
#[doc = include_str!("facade.md")]
pub use syncportal_macros::facade;

#[cfg(feature = "macros")]
#[doc = include_str!("offload.md")]
pub use syncportal_macros::offload;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
