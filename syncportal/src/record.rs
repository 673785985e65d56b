//! Recordings: an async source read ahead into a bounded buffer, with policies and a summary.
//!
//! A producer task on the portal's runtime pulls from the source and puts into a [`Queue`] made
//! for one producer. The consumer reads that queue as a [`Stream`] ([`Recording`]) or as a
//! blocking iterator ([`SyncRecording`]). Counting lives where the items go: the queue counts
//! what was put, taken, dropped and discarded under its lock, and the producer counts the rest
//! (skipped errors, an item lost mid-put when the consumer stopped). The summary adds those up,
//! so its counts balance at every instant, and tests check its `emitted` against what the
//! source really produced.
//!
//! Both sides move items in batches. The producer puts what a ready source has, up to [`BATCH`]
//! items, under one lock. The consumer takes up to [`read_ahead`] items under one lock and
//! hands them out one per call without it; the queue counts them as buffered, and as filling
//! the buffer, until they are handed out (see [`ReadAhead`]). A blocking read that finds an
//! item ready skips the guard's parker; it still refuses a call from async code first.

use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, poll_fn};
use std::iter::FusedIterator;
use std::panic::{self, AssertUnwindSafe};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use futures_core::Stream;

use crate::queue::ReadAhead;
use crate::{ConfigError, Error, Overflow, Portal, Queue, Task, guard};

/// What a recording does with an error from a source of `Result<T, E>`.
///
/// Applies to [`Portal::try_record`] and [`Portal::try_record_polled`]; every error is counted
/// in [`Summary::errors`] whatever the policy.
///
/// # Examples
///
/// ```
/// use syncportal::{OnError, RecordOptions};
///
/// let options = RecordOptions::new().errors(OnError::Skip);
/// assert_eq!(options.error_policy(), OnError::Skip);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OnError {
    /// Stop at the first error. The consumer sees the items buffered before it, then the
    /// error, then the end; the source is dropped and [`Summary::end`] is [`End::Raised`]. The
    /// error is delivered even when the buffer is full, whatever the overflow policy.
    #[default]
    Raise,
    /// Deliver the error as an item and go on recording. It takes a buffer slot like any item,
    /// so an overflow policy may drop it (counted in [`Summary::dropped`]).
    Return,
    /// Drop the error and go on recording. The consumer never sees it; it is counted in
    /// [`Summary::skipped`].
    Skip,
}

/// How a recording buffers: capacity, overflow policy, error policy and a source reporter.
///
/// # Examples
///
/// ```
/// use syncportal::{OnError, Overflow, RecordOptions};
///
/// let options = RecordOptions::new()
///     .capacity(1024)
///     .overflow(Overflow::DropOldest)
///     .errors(OnError::Return);
/// assert_eq!(options.buffer_capacity(), 1024);
/// ```
#[derive(Debug, Clone, Default)]
pub struct RecordOptions {
    capacity: Option<usize>,
    overflow: Overflow,
    errors: OnError,
    reporter: Option<Reporter>,
}

impl RecordOptions {
    /// The default capacity of a recording's buffer.
    pub const DEFAULT_CAPACITY: usize = 64;

    /// Capacity [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY), [`Overflow::Block`],
    /// [`OnError::Raise`], no reporter.
    ///
    /// # Examples
    ///
    /// ```
    /// let options = syncportal::RecordOptions::new();
    /// assert_eq!(options.buffer_capacity(), 64);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// How many items the buffer holds. Must be at least 1, checked when the recording starts.
    ///
    /// # Examples
    ///
    /// ```
    /// let options = syncportal::RecordOptions::new().capacity(8);
    /// assert_eq!(options.buffer_capacity(), 8);
    /// ```
    #[must_use]
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// What happens when the buffer is full. See [`Overflow`].
    ///
    /// # Examples
    ///
    /// ```
    /// use syncportal::{Overflow, RecordOptions};
    /// let options = RecordOptions::new().overflow(Overflow::DropNewest);
    /// assert_eq!(options.overflow_policy(), Overflow::DropNewest);
    /// ```
    #[must_use]
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// What happens to errors from a `Result` source. See [`OnError`].
    ///
    /// # Examples
    ///
    /// ```
    /// use syncportal::{OnError, RecordOptions};
    /// let options = RecordOptions::new().errors(OnError::Return);
    /// assert_eq!(options.error_policy(), OnError::Return);
    /// ```
    #[must_use]
    pub fn errors(mut self, errors: OnError) -> Self {
        self.errors = errors;
        self
    }

    /// Where the source reports overruns and underruns; they show in the summary.
    ///
    /// # Examples
    ///
    /// ```
    /// use syncportal::{RecordOptions, Reporter};
    /// let reporter = Reporter::new();
    /// let options = RecordOptions::new().reporter(&reporter);
    /// # let _ = options;
    /// ```
    #[must_use]
    pub fn reporter(mut self, reporter: &Reporter) -> Self {
        self.reporter = Some(reporter.clone());
        self
    }

    /// The buffer capacity these options ask for.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(syncportal::RecordOptions::new().capacity(3).buffer_capacity(), 3);
    /// ```
    #[must_use]
    pub fn buffer_capacity(&self) -> usize {
        self.capacity.unwrap_or(Self::DEFAULT_CAPACITY)
    }

    /// The overflow policy these options ask for.
    ///
    /// # Examples
    ///
    /// ```
    /// use syncportal::{Overflow, RecordOptions};
    /// assert_eq!(RecordOptions::new().overflow_policy(), Overflow::Block);
    /// ```
    #[must_use]
    pub fn overflow_policy(&self) -> Overflow {
        self.overflow
    }

    /// The error policy these options ask for.
    ///
    /// # Examples
    ///
    /// ```
    /// use syncportal::{OnError, RecordOptions};
    /// assert_eq!(RecordOptions::new().error_policy(), OnError::Raise);
    /// ```
    #[must_use]
    pub fn error_policy(&self) -> OnError {
        self.errors
    }
}

/// Lets a source report overruns and underruns of its own (a device's FIFO overflowing, a
/// sample arriving late), kept apart from the items the recording drops.
///
/// Make one, hand a clone to the source, and pass it in [`RecordOptions::reporter`]. Clones
/// share their counts.
///
/// # Examples
///
/// ```
/// use syncportal::{Portal, RecordOptions, Reporter};
///
/// # struct Device(Reporter);
/// # impl futures_core::Stream for Device {
/// #     type Item = u8;
/// #     fn poll_next(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>)
/// #         -> std::task::Poll<Option<u8>> {
/// #         self.0.overrun(2); // the device's own FIFO overflowed twice
/// #         std::task::Poll::Ready(None)
/// #     }
/// # }
/// let reporter = Reporter::new();
/// let device = Device(reporter.clone()); // a stream that reports through its clone
/// let options = RecordOptions::new().reporter(&reporter);
/// let recording = Portal::global().record(device, options)?.into_sync();
/// let live = recording.live_summary();
/// recording.for_each(drop);
/// assert_eq!(live.get().overruns, 2);
/// assert_eq!(live.get().dropped, 0); // the recording itself lost nothing
/// # Ok::<(), syncportal::RecordError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Reporter {
    counts: Arc<SourceCounts>,
}

#[derive(Debug, Default)]
struct SourceCounts {
    overruns: AtomicU64,
    underruns: AtomicU64,
}

impl Reporter {
    /// A reporter with nothing reported.
    ///
    /// # Examples
    ///
    /// ```
    /// let reporter = syncportal::Reporter::new();
    /// assert_eq!(reporter.overruns(), 0);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Reports `count` overruns: data the source itself lost because it was not read in time.
    ///
    /// # Examples
    ///
    /// ```
    /// let reporter = syncportal::Reporter::new();
    /// reporter.overrun(1);
    /// assert_eq!(reporter.overruns(), 1);
    /// ```
    pub fn overrun(&self, count: u64) {
        self.counts.overruns.fetch_add(count, Ordering::Relaxed);
    }

    /// Reports `count` underruns: times the source had no data when it should have.
    ///
    /// # Examples
    ///
    /// ```
    /// let reporter = syncportal::Reporter::new();
    /// reporter.underrun(3);
    /// assert_eq!(reporter.underruns(), 3);
    /// ```
    pub fn underrun(&self, count: u64) {
        self.counts.underruns.fetch_add(count, Ordering::Relaxed);
    }

    /// Overruns reported so far.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(syncportal::Reporter::new().overruns(), 0);
    /// ```
    #[must_use]
    pub fn overruns(&self) -> u64 {
        self.counts.overruns.load(Ordering::Relaxed)
    }

    /// Underruns reported so far.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(syncportal::Reporter::new().underruns(), 0);
    /// ```
    #[must_use]
    pub fn underruns(&self) -> u64 {
        self.counts.underruns.load(Ordering::Relaxed)
    }
}

/// How a recording ended.
///
/// # Examples
///
/// ```
/// use syncportal::{End, Portal, RecordOptions};
///
/// # struct Empty;
/// # impl futures_core::Stream for Empty {
/// #     type Item = u8;
/// #     fn poll_next(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>)
/// #         -> std::task::Poll<Option<u8>> { std::task::Poll::Ready(None) }
/// # }
/// let mut recording = Portal::global().record(Empty, RecordOptions::new())?.into_sync();
/// assert_eq!(recording.next(), None);
/// assert_eq!(recording.summary().end, Some(End::SourceEnded));
/// # Ok::<(), syncportal::RecordError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum End {
    /// The source ran out of items (or, for a polled recording, never does).
    SourceEnded,
    /// The source gave an error under [`OnError::Raise`].
    Raised,
    /// The consumer closed or dropped the recording.
    Stopped,
    /// The producer was cancelled from outside, by a portal shutdown.
    Cancelled,
    /// The source panicked; the consumer resumes the panic after the buffered items.
    Panicked,
}

/// A recording's counters and times, read together at one instant.
///
/// The counts always balance:
/// `emitted == delivered + dropped + skipped + discarded + buffered`. Every item the source
/// produced has been delivered to the consumer, dropped by the overflow policy, skipped by the
/// error policy, discarded because the consumer stopped early, or is still buffered.
///
/// # Examples
///
/// ```
/// use syncportal::{Portal, RecordOptions};
///
/// let recording = Portal::global().record(Numbers(0), RecordOptions::new())?.into_sync();
/// # struct Numbers(u32);
/// # impl futures_core::Stream for Numbers {
/// #     type Item = u32;
/// #     fn poll_next(mut self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>)
/// #         -> std::task::Poll<Option<u32>> {
/// #         self.0 += 1;
/// #         std::task::Poll::Ready((self.0 <= 10).then_some(self.0))
/// #     }
/// # }
/// let progress = recording.live_summary();
/// let total: u32 = recording.map(Result::unwrap).sum();
/// let summary = progress.get();
/// assert_eq!(total, 55);
/// assert_eq!((summary.emitted, summary.delivered), (10, 10));
/// assert!(summary.balances());
/// assert!(summary.finished_at.is_some());
/// # Ok::<(), syncportal::RecordError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Summary {
    /// When the recording started.
    pub started_at: SystemTime,
    /// When it ended, however it ended; `None` while it runs.
    pub finished_at: Option<SystemTime>,
    /// How it ended; `None` while it runs.
    pub end: Option<End>,
    /// Time from the start to the end, or to now while it runs, on the monotonic clock.
    pub elapsed: Duration,
    /// Items the source produced, errors included. Items the producer holds (a batch taken from
    /// a ready source, or one waiting for room under [`Overflow::Block`]) are counted once they
    /// go in, or are discarded.
    pub emitted: u64,
    /// Items handed to the consumer.
    pub delivered: u64,
    /// Items thrown away by the overflow policy.
    pub dropped: u64,
    /// Errors thrown away by [`OnError::Skip`].
    pub skipped: u64,
    /// Items thrown away because the consumer stopped early: those still buffered then, and
    /// one the producer was putting.
    pub discarded: u64,
    /// Items buffered now, waiting for the consumer, including those it has taken from the
    /// buffer in one go and not handed out yet.
    pub buffered: u64,
    /// The most items buffered at once.
    pub high_water: u64,
    /// Errors the source produced, whatever the error policy did with them.
    pub errors: u64,
    /// Overruns the source reported through its [`Reporter`].
    pub overruns: u64,
    /// Underruns the source reported through its [`Reporter`].
    pub underruns: u64,
    /// For a polled recording: grid ticks skipped because a poll (or a wait for buffer room)
    /// overran its slot.
    pub missed_ticks: u64,
    /// For a polled recording: the polling rate.
    pub rate_hz: Option<f64>,
}

impl Summary {
    /// Whether every emitted item is accounted for; always true, and checked by the tests.
    ///
    /// # Examples
    ///
    /// ```
    /// # use syncportal::{Portal, RecordOptions};
    /// # struct Empty;
    /// # impl futures_core::Stream for Empty {
    /// #     type Item = u8;
    /// #     fn poll_next(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>)
    /// #         -> std::task::Poll<Option<u8>> { std::task::Poll::Ready(None) }
    /// # }
    /// let recording = Portal::global().record(Empty, RecordOptions::new())?;
    /// assert!(recording.summary().balances());
    /// # Ok::<(), syncportal::RecordError>(())
    /// ```
    #[must_use]
    pub fn balances(&self) -> bool {
        self.emitted
            == self.delivered + self.dropped + self.skipped + self.discarded + self.buffered
    }
}

/// Why a recording could not start.
///
/// # Examples
///
/// ```
/// use syncportal::{ConfigError, Portal, RecordError, RecordOptions};
///
/// let err = Portal::global()
///     .record_polled(|| async { 1 }, 0.0, RecordOptions::new())
///     .unwrap_err();
/// assert!(matches!(err, RecordError::Config(ConfigError::InvalidRate { .. })));
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The capacity or rate cannot work.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The portal refused the producer task, because it has been shut down.
    #[error(transparent)]
    Portal(#[from] Error),
}

/// What the consumer and producer of one recording share.
struct Shared<T> {
    queue: Queue<T>,
    /// Errors thrown away by `OnError::Skip`.
    skipped: AtomicU64,
    /// Items lost to the consumer stopping while the producer held them.
    lost: AtomicU64,
    errors: AtomicU64,
    missed_ticks: AtomicU64,
    reporter: Reporter,
    rate_hz: Option<f64>,
    started_at: SystemTime,
    started: Instant,
    finished: OnceLock<(SystemTime, Instant, End)>,
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

impl<T> Shared<T> {
    /// Records how the recording ended, unless it already had.
    fn finish(&self, end: End) {
        let _ = self.finished.set((SystemTime::now(), Instant::now(), end));
    }
}

/// A summary source with its item type erased, for [`LiveSummary`].
trait Summarize: Send + Sync {
    fn summary(&self) -> Summary;
}

impl<T: Send> Summarize for Shared<T> {
    fn summary(&self) -> Summary {
        let queue = self.queue.stats();
        let skipped = self.skipped.load(Ordering::Relaxed);
        let lost = self.lost.load(Ordering::Relaxed);
        let finished = self.finished.get();
        let until = finished.map_or_else(Instant::now, |&(_, at, _)| at);
        Summary {
            started_at: self.started_at,
            finished_at: finished.map(|&(at, _, _)| at),
            end: finished.map(|&(_, _, end)| end),
            elapsed: until.saturating_duration_since(self.started),
            emitted: queue.put + skipped + lost,
            delivered: queue.taken,
            dropped: queue.dropped,
            skipped,
            discarded: queue.discarded + lost,
            buffered: queue.len,
            high_water: queue.high_water,
            errors: self.errors.load(Ordering::Relaxed),
            overruns: self.reporter.overruns(),
            underruns: self.reporter.underruns(),
            missed_ticks: self.missed_ticks.load(Ordering::Relaxed),
            rate_hz: self.rate_hz,
        }
    }
}

/// A handle that reads a recording's [`Summary`] from any thread, while the recording is read
/// elsewhere and after it is gone.
///
/// # Examples
///
/// ```
/// # use syncportal::{Portal, RecordOptions};
/// # struct Empty;
/// # impl futures_core::Stream for Empty {
/// #     type Item = u8;
/// #     fn poll_next(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>)
/// #         -> std::task::Poll<Option<u8>> { std::task::Poll::Ready(None) }
/// # }
/// let recording = Portal::global().record(Empty, RecordOptions::new())?;
/// let live = recording.live_summary();
/// drop(recording);
/// assert!(live.get().finished_at.is_some());
/// # Ok::<(), syncportal::RecordError>(())
/// ```
#[derive(Clone)]
pub struct LiveSummary {
    source: Arc<dyn Summarize>,
}

impl LiveSummary {
    /// The summary now.
    ///
    /// # Examples
    ///
    /// See [`LiveSummary`].
    #[must_use]
    pub fn get(&self) -> Summary {
        self.source.summary()
    }
}

impl fmt::Debug for LiveSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LiveSummary").field(&self.get()).finish()
    }
}

/// A running recording, read as an async [`Stream`].
///
/// Made by [`Portal::record`] and its siblings. A producer task on the portal's runtime reads
/// the source ahead into a bounded buffer, under the policies of its [`RecordOptions`]. The
/// stream ends after the source ends; under [`OnError::Raise`], after the error. Call
/// [`into_sync`](Self::into_sync) to read it from sync code.
///
/// # Examples
///
/// ```
/// use syncportal::{Portal, RecordOptions};
/// # struct Numbers(u32);
/// # impl futures_core::Stream for Numbers {
/// #     type Item = u32;
/// #     fn poll_next(mut self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>)
/// #         -> std::task::Poll<Option<u32>> {
/// #         self.0 += 1;
/// #         std::task::Poll::Ready((self.0 <= 3).then_some(self.0))
/// #     }
/// # }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), syncportal::RecordError> {
/// let mut recording = Portal::global().record(Numbers(0), RecordOptions::new())?;
/// let mut seen = Vec::new();
/// while let Some(n) = std::future::poll_fn(|cx| {
///     std::pin::Pin::new(&mut recording).poll_next(cx)
/// })
/// .await
/// {
///     seen.push(n);
/// }
/// assert_eq!(seen, [1, 2, 3]);
/// # use futures_core::Stream;
/// # Ok(())
/// # }
/// ```
///
/// # Caveats
///
/// - Closing or dropping the recording stops it: the producer is cancelled at its next await,
///   the source is dropped on the runtime, and what was buffered is discarded and counted.
/// - A panic in the source reaches the consumer after the items buffered before it.
/// - The consumer takes items from the buffer in batches, up to an eighth of the capacity at a
///   time (at most 64). They count as buffered, and keep their room, until handed out, so the
///   buffer never holds more than its capacity and [`Overflow::Block`] and
///   [`Overflow::DropNewest`] deliver what they would one by one. [`Overflow::DropOldest`]
///   cannot evict them: with a capacity of 16 or more, a consumer that falls behind may see up
///   to 8 items it had taken before the gap (at most one per 8 of capacity). Switching between
///   [`into_sync`](Self::into_sync) and [`SyncRecording::into_async`] keeps them.
/// - Under the drop policies a source that is always ready is read as fast as it gives items,
///   whether or not the consumer keeps up: that is the policy (the source is never held back).
///   Such a producer keeps a worker busy, yielding it to other tasks through tokio's
///   cooperative budget; on a single CPU it also takes CPU time from a consumer thread, which
///   [`Overflow::Block`] would not. A source that waits between items does not have this
///   cost.
pub struct Recording<T> {
    shared: Arc<Shared<T>>,
    producer: Option<Task<()>>,
    waiter: Option<u64>,
    /// Items taken from the buffer under one lock and not yet handed out; still buffered.
    ahead: ReadAhead<T>,
    done: bool,
}

impl<T: Send + 'static> Recording<T> {
    /// The summary now.
    ///
    /// # Examples
    ///
    /// See [`Summary`].
    #[must_use]
    pub fn summary(&self) -> Summary {
        self.shared.summary()
    }

    /// A handle that reads the summary from anywhere, for progress lines and reports.
    ///
    /// # Examples
    ///
    /// See [`LiveSummary`].
    #[must_use]
    pub fn live_summary(&self) -> LiveSummary {
        LiveSummary {
            source: Arc::clone(&self.shared) as Arc<dyn Summarize>,
        }
    }
}

impl<T> Recording<T> {
    /// Stops the recording early without blocking: the producer is cancelled, the source
    /// dropped on the runtime, and the buffered items discarded and counted in
    /// [`Summary::discarded`]. The stream then ends. Calling it again does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use syncportal::{End, Portal, RecordOptions};
    /// # struct Forever;
    /// # impl futures_core::Stream for Forever {
    /// #     type Item = u8;
    /// #     fn poll_next(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>)
    /// #         -> std::task::Poll<Option<u8>> { std::task::Poll::Ready(Some(1)) }
    /// # }
    ///
    /// let mut recording = Portal::global().record(Forever, RecordOptions::new())?.into_sync();
    /// assert_eq!(recording.next(), Some(Ok(1)));
    /// recording.close();
    /// assert_eq!(recording.next(), None);
    /// assert_eq!(recording.summary().end, Some(End::Stopped));
    /// assert!(recording.summary().balances());
    /// # Ok::<(), syncportal::RecordError>(())
    /// ```
    pub fn close(&mut self) {
        self.shared.finish(End::Stopped);
        if let Some(producer) = self.producer.take() {
            producer.cancel();
        }
        self.shared.queue.close_now_ahead(&mut self.ahead);
        self.shared.queue.abandon_get(&mut self.waiter);
        self.done = true;
    }

    /// Reads this recording from sync code, as a blocking iterator.
    ///
    /// # Examples
    ///
    /// See [`SyncRecording`].
    #[must_use]
    pub fn into_sync(self) -> SyncRecording<T> {
        SyncRecording { inner: self }
    }

    /// Polls for the next item; without a waker it only looks, and waits for nothing.
    fn poll_item(&mut self, waker: Option<&Waker>) -> Poll<Option<T>> {
        if self.done {
            return Poll::Ready(None);
        }
        match self
            .shared
            .queue
            .poll_get_ahead(&mut self.ahead, &mut self.waiter, waker)
        {
            Poll::Ready(Ok(item)) => Poll::Ready(Some(item)),
            Poll::Ready(Err(_closed)) => {
                self.done = true;
                let payload = self
                    .shared
                    .panic
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                if let Some(payload) = payload {
                    panic::resume_unwind(payload);
                }
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

// Items are never pinned: they only move in and out of the read-ahead through `&mut self`.
impl<T> Unpin for Recording<T> {}

impl<T> Stream for Recording<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_item(Some(cx.waker()))
    }
}

impl<T> Drop for Recording<T> {
    fn drop(&mut self) {
        if !self.done || self.producer.is_some() {
            self.close();
        }
    }
}

impl<T: Send + 'static> fmt::Debug for Recording<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recording")
            .field("summary", &self.summary())
            .finish_non_exhaustive()
    }
}

/// A running recording, read as a blocking [`Iterator`] from sync code.
///
/// The sync twin of [`Recording`], made by [`Recording::into_sync`]. Items come wrapped in
/// `Result` because every pull is a guarded blocking call; for a `try_record` source the item
/// is itself a `Result`, so `item??` unwraps both.
///
/// # Examples
///
/// ```
/// use syncportal::{Overflow, Portal, RecordOptions};
/// # struct Numbers(u32);
/// # impl futures_core::Stream for Numbers {
/// #     type Item = u32;
/// #     fn poll_next(mut self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>)
/// #         -> std::task::Poll<Option<u32>> {
/// #         self.0 += 1;
/// #         std::task::Poll::Ready((self.0 <= 100).then_some(self.0))
/// #     }
/// # }
///
/// let options = RecordOptions::new().capacity(16).overflow(Overflow::Block);
/// let recording = Portal::global().record(Numbers(0), options)?.into_sync();
/// let live = recording.live_summary();
/// let mut count = 0;
/// for item in recording {
///     let _n: u32 = item?;
///     count += 1;
/// }
/// assert_eq!(count, 100);
/// assert_eq!(live.get().dropped, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Caveats
///
/// As for [`Recording`]: dropping it stops the recording and discards what was buffered.
pub struct SyncRecording<T> {
    inner: Recording<T>,
}

impl<T: Send + 'static> SyncRecording<T> {
    /// The summary now.
    ///
    /// # Examples
    ///
    /// See [`Summary`].
    #[must_use]
    pub fn summary(&self) -> Summary {
        self.inner.summary()
    }

    /// A handle that reads the summary from anywhere, for progress lines and reports.
    ///
    /// # Examples
    ///
    /// See [`SyncRecording`].
    #[must_use]
    pub fn live_summary(&self) -> LiveSummary {
        self.inner.live_summary()
    }
}

impl<T> SyncRecording<T> {
    /// Blocks for the next item for at most `timeout`; `Some(Err(Error::Timeout))` when none
    /// came, with nothing lost.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use syncportal::{Error, Portal, RecordOptions};
    /// # struct Silent;
    /// # impl futures_core::Stream for Silent {
    /// #     type Item = u8;
    /// #     fn poll_next(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>)
    /// #         -> std::task::Poll<Option<u8>> { std::task::Poll::Pending }
    /// # }
    ///
    /// let mut recording = Portal::global().record(Silent, RecordOptions::new())?.into_sync();
    /// assert_eq!(recording.next_timeout(Duration::from_millis(5)), Some(Err(Error::Timeout)));
    /// # Ok::<(), syncportal::RecordError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`next`](Iterator::next), plus [`Error::Timeout`].
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<T, Error>> {
        self.pull(guard::deadline(timeout))
    }

    /// Stops the recording early. See [`Recording::close`].
    ///
    /// # Examples
    ///
    /// See [`Recording::close`].
    pub fn close(&mut self) {
        self.inner.close();
    }

    /// Reads this recording from async code again.
    ///
    /// # Examples
    ///
    /// ```
    /// # use syncportal::{Portal, RecordOptions};
    /// # struct Empty;
    /// # impl futures_core::Stream for Empty {
    /// #     type Item = u8;
    /// #     fn poll_next(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>)
    /// #         -> std::task::Poll<Option<u8>> { std::task::Poll::Ready(None) }
    /// # }
    /// let sync = Portal::global().record(Empty, RecordOptions::new())?.into_sync();
    /// let _recording = sync.into_async();
    /// # Ok::<(), syncportal::RecordError>(())
    /// ```
    #[must_use]
    pub fn into_async(self) -> Recording<T> {
        self.inner
    }

    fn pull(&mut self, deadline: Option<Instant>) -> Option<Result<T, Error>> {
        if guard::lets_through_at_once() {
            // Needs no wait, so no parker: an item, or the end, decides.
            if let Poll::Ready(item) = self.inner.poll_item(None) {
                return item.map(Ok);
            }
        }
        let inner = &mut self.inner;
        match guard::wait_until(poll_fn(|cx| inner.poll_item(Some(cx.waker()))), deadline) {
            Ok(item) => item.map(Ok),
            Err(err) => Some(Err(err)),
        }
    }
}

impl<T> Iterator for SyncRecording<T> {
    type Item = Result<T, Error>;

    /// Blocks until the next item, or the end.
    ///
    /// # Errors
    ///
    /// [`Error::InAsyncContext`] on a thread that drives async tasks; nothing was taken and the
    /// recording can be read again from a plain thread, or awaited through
    /// [`into_async`](SyncRecording::into_async).
    fn next(&mut self) -> Option<Self::Item> {
        self.pull(None)
    }
}

impl<T> FusedIterator for SyncRecording<T> {}

impl<T: Send + 'static> fmt::Debug for SyncRecording<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncRecording")
            .field("summary", &self.summary())
            .finish_non_exhaustive()
    }
}

/// Recordings.
impl Portal {
    /// Records `source`: a producer task on this portal reads it ahead into a bounded buffer.
    ///
    /// Nothing from the source counts as an error; see [`try_record`](Self::try_record) for
    /// sources of `Result`.
    ///
    /// # Examples
    ///
    /// ```
    /// use syncportal::{Overflow, Portal, RecordOptions};
    /// # struct Numbers(u32);
    /// # impl futures_core::Stream for Numbers {
    /// #     type Item = u32;
    /// #     fn poll_next(mut self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>)
    /// #         -> std::task::Poll<Option<u32>> {
    /// #         self.0 += 1;
    /// #         std::task::Poll::Ready((self.0 <= 5).then_some(self.0))
    /// #     }
    /// # }
    ///
    /// let recording = Portal::global().record(Numbers(0), RecordOptions::new())?;
    /// let items: Vec<u32> = recording.into_sync().collect::<Result<_, _>>()?;
    /// assert_eq!(items, [1, 2, 3, 4, 5]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// - [`RecordError::Config`] with [`ConfigError::ZeroCapacity`] for a capacity of 0.
    /// - [`RecordError::Portal`] with [`Error::Closed`] after [`shutdown`](Self::shutdown).
    ///
    /// Either way the source is dropped unpolled.
    pub fn record<S>(
        &self,
        source: S,
        options: RecordOptions,
    ) -> Result<Recording<S::Item>, RecordError>
    where
        S: Stream + Send + 'static,
        S::Item: Send + 'static,
    {
        self.start(options, None, |producer| producer.read_stream(source), None)
    }

    /// Records a source of `Result`s, applying the [`OnError`] policy of `options` to errors.
    ///
    /// # Examples
    ///
    /// ```
    /// use syncportal::{OnError, Portal, RecordOptions};
    /// # struct Flaky(u32);
    /// # impl futures_core::Stream for Flaky {
    /// #     type Item = Result<u32, String>;
    /// #     fn poll_next(mut self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>)
    /// #         -> std::task::Poll<Option<Self::Item>> {
    /// #         self.0 += 1;
    /// #         std::task::Poll::Ready(match self.0 {
    /// #             2 => Some(Err("glitch".into())),
    /// #             n if n <= 4 => Some(Ok(n)),
    /// #             _ => None,
    /// #         })
    /// #     }
    /// # }
    ///
    /// // Flaky yields Ok(1), Err("glitch"), Ok(3), Ok(4).
    /// let options = RecordOptions::new().errors(OnError::Skip);
    /// let recording = Portal::global().try_record(Flaky(0), options)?.into_sync();
    /// let live = recording.live_summary();
    /// let items: Vec<u32> = recording.map(|item| item?.map_err(Into::into)).collect::<Result<_, Box<dyn std::error::Error>>>()?;
    /// assert_eq!(items, [1, 3, 4]);
    /// assert_eq!((live.get().errors, live.get().skipped), (1, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`record`](Self::record).
    pub fn try_record<S, T, E>(
        &self,
        source: S,
        options: RecordOptions,
    ) -> Result<Recording<Result<T, E>>, RecordError>
    where
        S: Stream<Item = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        self.start(
            options,
            None,
            |producer| producer.read_stream(source),
            Some(Result::is_err),
        )
    }

    /// Records by calling `poll` on a fixed time grid, `rate_hz` times a second.
    ///
    /// The first poll starts at once, the next at the next grid point. A poll that overruns its
    /// slot (or waits for buffer room under [`Overflow::Block`]) causes no burst of catch-up
    /// polls: the next poll lands on the next grid point still ahead, and the ticks skipped are
    /// counted in [`Summary::missed_ticks`]. The recording runs until it is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// use syncportal::{Portal, RecordOptions};
    ///
    /// let counter = Arc::new(AtomicU32::new(0));
    /// let device = Arc::clone(&counter);
    /// let poll = move || {
    ///     let device = Arc::clone(&device);
    ///     async move { device.fetch_add(1, Ordering::Relaxed) }
    /// };
    /// let mut recording = Portal::global()
    ///     .record_polled(poll, 1000.0, RecordOptions::new())?
    ///     .into_sync();
    /// let first: Vec<u32> = recording.by_ref().take(3).collect::<Result<_, _>>()?;
    /// assert_eq!(first, [0, 1, 2]);
    /// assert_eq!(recording.summary().rate_hz, Some(1000.0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// - [`RecordError::Config`] with [`ConfigError::InvalidRate`] when `rate_hz` is zero,
    ///   negative, NaN or infinite, or gives a period under a nanosecond.
    /// - As [`record`](Self::record).
    ///
    /// # Caveats
    ///
    /// tokio's timers have millisecond resolution, so a poll can start up to about a millisecond
    /// after its grid point. Near 1 kHz and above, that alone makes polls overrun their slots,
    /// and the ticks missed are counted; use a source stream for faster devices.
    pub fn record_polled<F, Fut>(
        &self,
        poll: F,
        rate_hz: f64,
        options: RecordOptions,
    ) -> Result<Recording<Fut::Output>, RecordError>
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        let period = period(rate_hz)?;
        self.start(
            options,
            Some(rate_hz),
            move |p| p.read_grid(poll, period),
            None,
        )
    }

    /// [`record_polled`](Self::record_polled) for a `poll` that returns `Result`, applying the
    /// [`OnError`] policy of `options` to errors.
    ///
    /// # Examples
    ///
    /// ```
    /// use syncportal::{End, OnError, Portal, RecordOptions};
    ///
    /// let mut polls = 0;
    /// let poll = move || {
    ///     polls += 1;
    ///     let reading = if polls < 3 { Ok(polls) } else { Err("sensor unplugged") };
    ///     async move { reading }
    /// };
    /// let options = RecordOptions::new().errors(OnError::Raise);
    /// let recording = Portal::global().try_record_polled(poll, 500.0, options)?.into_sync();
    /// let live = recording.live_summary();
    /// let seen: Vec<_> = recording.collect::<Result<_, _>>()?;
    /// assert_eq!(seen, [Ok(1), Ok(2), Err("sensor unplugged")]);
    /// assert_eq!(live.get().end, Some(End::Raised));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`record_polled`](Self::record_polled).
    pub fn try_record_polled<F, Fut, T, E>(
        &self,
        poll: F,
        rate_hz: f64,
        options: RecordOptions,
    ) -> Result<Recording<Result<T, E>>, RecordError>
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let period = period(rate_hz)?;
        self.start(
            options,
            Some(rate_hz),
            move |p| p.read_grid(poll, period),
            Some(Result::is_err),
        )
    }

    fn start<T, F, Run>(
        &self,
        options: RecordOptions,
        rate_hz: Option<f64>,
        run: Run,
        is_error: Option<fn(&T) -> bool>,
    ) -> Result<Recording<T>, RecordError>
    where
        T: Send + 'static,
        Run: FnOnce(Producer<T>) -> F,
        F: Future<Output = ()> + Send + 'static,
    {
        let capacity = options.buffer_capacity();
        let queue = Queue::for_recording(capacity, options.overflow)?;
        let shared = Arc::new(Shared {
            queue,
            skipped: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            missed_ticks: AtomicU64::new(0),
            reporter: options.reporter.unwrap_or_default(),
            rate_hz,
            started_at: SystemTime::now(),
            started: Instant::now(),
            finished: OnceLock::new(),
            panic: Mutex::new(None),
        });
        let producer = Producer {
            shared: Arc::clone(&shared),
            errors: options.errors,
            is_error,
            batch: VecDeque::with_capacity(BATCH),
            overflow: options.overflow,
            room: capacity,
            capacity,
        };
        let guarded = CatchPanic {
            shared: Arc::clone(&shared),
            inner: run(producer),
        };
        let task = match self.spawn(guarded) {
            Ok(task) => task,
            Err(err) => {
                shared.finish(End::Cancelled);
                return Err(err.into());
            }
        };
        Ok(Recording {
            shared,
            producer: Some(task),
            waiter: None,
            ahead: ReadAhead::new(read_ahead(capacity, options.overflow)),
            done: false,
        })
    }
}

/// Most items the producer takes from a ready source before it puts them, under one lock.
const BATCH: usize = 64;

/// How many buffered items the consumer takes under one lock, to hand out without it. They
/// still count as buffered, and as taking room, until handed out. An eighth of the capacity,
/// so a producer woken at half under [`Overflow::Block`] (see `Queue::for_recording`) finds
/// most of that half free: up to [`BATCH`], and up to [`DROP_OLDEST_READ_AHEAD`] under
/// [`Overflow::DropOldest`], which cannot evict them.
fn read_ahead(capacity: usize, overflow: Overflow) -> usize {
    let limit = match overflow {
        Overflow::DropOldest => DROP_OLDEST_READ_AHEAD,
        _ => BATCH,
    };
    (capacity / 8).clamp(1, limit)
}

/// Most items the consumer of an [`Overflow::DropOldest`] recording takes ahead.
const DROP_OLDEST_READ_AHEAD: usize = 8;

/// The grid period for `rate_hz`, refused when it is not a usable rate.
fn period(rate_hz: f64) -> Result<Duration, ConfigError> {
    let invalid = ConfigError::InvalidRate { rate_hz };
    if !(rate_hz.is_finite() && rate_hz > 0.0) {
        return Err(invalid);
    }
    match Duration::try_from_secs_f64(rate_hz.recip()) {
        // At most u64::MAX nanoseconds (about 584 years), so grid arithmetic stays in range.
        Ok(period) if !period.is_zero() && u64::try_from(period.as_nanos()).is_ok() => Ok(period),
        _ => Err(invalid),
    }
}

/// The producer's side of a recording. Dropping it, however the producer stops, ends the
/// recording and closes the buffer so the consumer sees the end after what is buffered.
struct Producer<T> {
    shared: Arc<Shared<T>>,
    errors: OnError,
    /// Tells errors apart, for a source of `Result`s; `None` when nothing from the source is an
    /// error, which spares a plain source a call per item.
    is_error: Option<fn(&T) -> bool>,
    /// Items taken from the source and not yet put. If the producer is dropped with some, they
    /// are lost with it and must be counted.
    batch: VecDeque<T>,
    overflow: Overflow,
    /// Buffer room seen at the last put.
    room: usize,
    capacity: usize,
}

impl<T> Producer<T> {
    async fn read_stream<S: Stream<Item = T>>(mut self, source: S) {
        let mut source = pin!(source);
        loop {
            // Wait for one item, then take what else the source has ready, up to a batch, so
            // a fast source puts many items per lock.
            let mut next = poll_fn(|cx| source.as_mut().poll_next(cx)).await;
            let ended = loop {
                let Some(item) = next else {
                    break true;
                };
                if let Some(error) = self.accept(item) {
                    self.raise(error).await;
                    return;
                }
                if self.batch.len() >= self.batch_limit() {
                    break false;
                }
                match poll_fn(|cx| Poll::Ready(source.as_mut().poll_next(cx))).await {
                    Poll::Ready(item) => next = item,
                    Poll::Pending => break false,
                }
            };
            if !self.flush().await {
                return;
            }
            if ended {
                break;
            }
            // A source that is always ready must not keep its worker from other tasks. Under a
            // drop policy with the buffer full this is the only pause: the source is never held
            // back, so what it gives meanwhile is dropped at the policy's cost per item.
            tokio::task::coop::consume_budget().await;
        }
        self.shared.finish(End::SourceEnded);
    }

    async fn read_grid<F, Fut>(mut self, mut poll: F, period: Duration)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = T>,
    {
        let start = tokio::time::Instant::now();
        let period_nanos = period.as_nanos();
        let mut slot: u128 = 0;
        loop {
            match start.checked_add(duration_from_nanos(period_nanos * slot)) {
                Some(at) => tokio::time::sleep_until(at).await,
                // A grid point past the end of the clock never comes.
                None => std::future::pending().await,
            }
            let item = poll().await;
            if let Some(error) = self.accept(item) {
                self.raise(error).await;
                return;
            }
            if !self.flush().await {
                return;
            }
            // The next grid point still ahead; the ones passed meanwhile are missed.
            let now_slot = start.elapsed().as_nanos() / period_nanos;
            let next = (slot + 1).max(now_slot + 1);
            let missed = u64::try_from(next - slot - 1).unwrap_or(u64::MAX);
            if missed > 0 {
                self.shared
                    .missed_ticks
                    .fetch_add(missed, Ordering::Relaxed);
            }
            slot = next;
        }
    }

    /// Applies the error policy to one item from the source: counts and skips it, adds it to
    /// the batch, or hands it back when it must be raised.
    fn accept(&mut self, item: T) -> Option<T> {
        if self.is_error.is_some_and(|is_error| is_error(&item)) {
            self.shared.errors.fetch_add(1, Ordering::Relaxed);
            match self.errors {
                OnError::Skip => {
                    self.shared.skipped.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
                OnError::Raise => return Some(item),
                OnError::Return => {}
            }
        }
        self.batch.push_back(item);
        None
    }

    /// Puts the batch under the overflow policy. Returns false when the consumer stopped
    /// first; what was left of the batch is then counted as lost.
    async fn flush(&mut self) -> bool {
        if self.batch.is_empty() {
            return true;
        }
        let shared = Arc::clone(&self.shared);
        match shared.queue.put_all(&mut self.batch).await {
            Ok(room) => {
                self.room = room;
                true
            }
            Err(_closed) => {
                let left = self.batch.len() as u64;
                self.batch.clear();
                shared.lost.fetch_add(left, Ordering::Relaxed);
                false
            }
        }
    }

    /// How many ready items to take before putting them. Under [`Overflow::Block`], no more
    /// than the room there was at the last put (at least one), so the source is read ahead by
    /// at most the capacity plus one item, as without batching. Under the drop policies, at most
    /// a sixteenth of the capacity, so memory stays within the capacity and a little.
    fn batch_limit(&self) -> usize {
        match self.overflow {
            Overflow::Block => self.room.clamp(1, BATCH),
            // Never more than a sixteenth of the capacity held beyond it.
            _ => (self.capacity / 16).clamp(1, BATCH),
        }
    }

    /// Ends the recording on an error under [`OnError::Raise`]: what came before it first, then
    /// the error, past the capacity.
    async fn raise(&mut self, error: T) {
        if !self.flush().await {
            self.shared.lost.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.shared.finish(End::Raised);
        if self.shared.queue.put_last(error).is_err() {
            // The consumer stopped first.
            self.shared.lost.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl<T> Drop for Producer<T> {
    fn drop(&mut self) {
        if thread::panicking() {
            // The items taken before the panic still go to the consumer, ahead of the panic.
            self.shared.queue.put_now(&mut self.batch);
        }
        // Taken from the source but never put: lost with the producer.
        self.shared
            .lost
            .fetch_add(self.batch.len() as u64, Ordering::Relaxed);
        if thread::panicking() {
            // Unwinding out of the source: `CatchPanic` keeps the payload for the consumer
            // first, and only then ends the recording and closes the buffer.
            return;
        }
        // Not ended by the source, an error or the consumer: cancelled from outside.
        self.shared.finish(End::Cancelled);
        self.shared.queue.close();
    }
}

fn duration_from_nanos(nanos: u128) -> Duration {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    let secs = u64::try_from(nanos / NANOS_PER_SEC).unwrap_or(u64::MAX);
    let rest = u32::try_from(nanos % NANOS_PER_SEC).expect("below one second");
    Duration::new(secs, rest)
}

pin_project_lite::pin_project! {
    /// Keeps a panic in the producer for the consumer, instead of losing it in the task.
    struct CatchPanic<T, F> {
        shared: Arc<Shared<T>>,
        #[pin]
        inner: F,
    }
}

impl<T, F: Future<Output = ()>> Future for CatchPanic<T, F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        match panic::catch_unwind(AssertUnwindSafe(|| this.inner.poll(cx))) {
            Ok(poll) => poll,
            Err(payload) => {
                // In this order: a consumer woken by the close must find the payload.
                *this
                    .shared
                    .panic
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(payload);
                this.shared.finish(End::Panicked);
                this.shared.queue.close();
                Poll::Ready(())
            }
        }
    }
}
