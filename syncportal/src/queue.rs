//! A bounded queue that sync and async code share, with an overflow policy.
//!
//! One mutex guards the items, the counters and three lists of waiters (getters, putters,
//! joiners). Every wait is a future with a waker, so a blocking call is the same future driven
//! by the async-context guard on the calling thread's own parker: no runtime is needed on either
//! side. Wakers are always woken after the lock is released, and items the queue throws away are
//! dropped after it too, so user `Drop` code never runs under the lock.
//!
//! Cancel safety comes from one rule: an item moves only inside a `poll` that returns `Ready`.
//! A waiter that was notified but is dropped before it could act passes the notification on to
//! the next waiter of its kind, so no wake-up is lost.
//!
//! Two paths skip the lock, each kept to what its counters can show coherently:
//! - A single reader (a recording's consumer) may take items ahead into a [`ReadAhead`], many
//!   per lock, and hand them out one by one without it. Until handed out they still count as
//!   in the queue, for its length, its room and its counters: the reader publishes how many it
//!   has handed out in one atomic that only it writes, and every locked section reads that
//!   count once, so a snapshot taken under the lock always balances. Handing one out under
//!   [`Overflow::DropNewest`] also clears the flag below, since it made room.
//! - Under [`Overflow::DropNewest`], a put that finds the queue open and full (an atomic flag
//!   kept under the lock) discards its item without taking the lock, counted in one atomic that
//!   adds to both `put` and `dropped`, so the counters balance whatever moment it is read at.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::mem;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::{ConfigError, Error, guard, park};

/// What a bounded buffer does with a new item when it is full.
///
/// Used by [`Queue`] and by recordings ([`RecordOptions::overflow`](crate::RecordOptions::overflow)).
/// Every item a drop policy throws away is counted ([`QueueStats::dropped`],
/// [`Summary::dropped`](crate::Summary::dropped)).
///
/// # Examples
///
/// ```
/// use syncportal::{Overflow, Queue};
///
/// let queue = Queue::with_overflow(2, Overflow::DropOldest)?;
/// for i in 0..5 {
///     queue.try_put(i).unwrap();
/// }
/// assert_eq!(queue.try_get(), Ok(3));
/// assert_eq!(queue.try_get(), Ok(4));
/// assert_eq!(queue.stats().dropped, 3);
/// # Ok::<(), syncportal::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Overflow {
    /// The producer waits for room; nothing is lost. The consumer sees every item, in order.
    #[default]
    Block,
    /// The oldest buffered item is evicted to make room. The consumer sees the most recent
    /// items, in order, with gaps where items were evicted. (A recording's consumer takes a
    /// few items ahead, which are no longer evicted: see [`Recording`](crate::Recording).)
    DropOldest,
    /// The incoming item is discarded. The consumer sees the items from before the buffer
    /// filled, then new ones only once it has made room.
    DropNewest,
}

/// Counters of a [`Queue`], read together at one instant.
///
/// They always add up: `put == taken + dropped + discarded + len`.
///
/// # Examples
///
/// ```
/// let queue = syncportal::Queue::new(4)?;
/// queue.try_put("a").unwrap();
/// queue.try_put("b").unwrap();
/// queue.try_get().unwrap();
/// let stats = queue.stats();
/// assert_eq!((stats.put, stats.taken, stats.len), (2, 1, 1));
/// assert_eq!(stats.put, stats.taken + stats.dropped + stats.discarded + stats.len);
/// # Ok::<(), syncportal::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueStats {
    /// Items handed to the queue by a put that did not fail, including those a drop policy then
    /// threw away.
    pub put: u64,
    /// Items taken by getters.
    pub taken: u64,
    /// Items thrown away by [`Overflow::DropOldest`] or [`Overflow::DropNewest`].
    pub dropped: u64,
    /// Items thrown away by [`Queue::close_now`].
    pub discarded: u64,
    /// Items in the queue now.
    pub len: u64,
    /// The most items the queue has held at once.
    pub high_water: u64,
}

/// A put that failed, with the item handed back.
///
/// # Examples
///
/// ```
/// let queue = syncportal::Queue::new(1)?;
/// queue.close();
/// let err = queue.put_blocking("kept").unwrap_err();
/// assert!(err.error().is_closed());
/// assert_eq!(err.into_inner(), "kept");
/// # Ok::<(), syncportal::ConfigError>(())
/// ```
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct PutError<T> {
    item: T,
    error: Error,
}

impl<T> PutError<T> {
    /// Why the put failed: [`Error::Closed`], or for blocking puts [`Error::InAsyncContext`]
    /// or [`Error::Timeout`].
    ///
    /// # Examples
    ///
    /// ```
    /// let queue = syncportal::Queue::new(1)?;
    /// queue.close();
    /// assert!(queue.put_blocking(1).unwrap_err().error().is_closed());
    /// # Ok::<(), syncportal::ConfigError>(())
    /// ```
    #[must_use]
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The item that was not put.
    ///
    /// # Examples
    ///
    /// ```
    /// let queue = syncportal::Queue::new(1)?;
    /// queue.close();
    /// assert_eq!(queue.put_blocking(7).unwrap_err().into_inner(), 7);
    /// # Ok::<(), syncportal::ConfigError>(())
    /// ```
    pub fn into_inner(self) -> T {
        self.item
    }
}

/// Lets `?` turn a failed put into its [`Error`], dropping the item.
///
/// # Examples
///
/// ```
/// fn send(queue: &syncportal::Queue<u8>) -> Result<(), syncportal::Error> {
///     queue.put_blocking(1)?;
///     Ok(())
/// }
/// let queue = syncportal::Queue::new(1)?;
/// queue.close();
/// assert!(send(&queue).unwrap_err().is_closed());
/// # Ok::<(), syncportal::ConfigError>(())
/// ```
impl<T> From<PutError<T>> for Error {
    fn from(err: PutError<T>) -> Self {
        err.error
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PutError")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// Why [`Queue::try_put`] did not put, with the item handed back.
///
/// # Examples
///
/// ```
/// use syncportal::{Queue, TryPutError};
///
/// let queue = Queue::new(1)?;
/// queue.try_put(1).unwrap();
/// assert_eq!(queue.try_put(2), Err(TryPutError::Full(2)));
/// # Ok::<(), syncportal::ConfigError>(())
/// ```
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
pub enum TryPutError<T> {
    /// The queue is full and its policy is [`Overflow::Block`]; a blocking or async put would
    /// wait.
    #[error("the queue is full; use put or put_blocking to wait for room")]
    Full(T),
    /// The queue has been closed.
    #[error("the queue is closed and accepts no more items")]
    Closed(T),
}

impl<T> TryPutError<T> {
    /// The item that was not put.
    ///
    /// # Examples
    ///
    /// ```
    /// # use syncportal::TryPutError;
    /// assert_eq!(TryPutError::Closed(3).into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(item) | Self::Closed(item) => item,
        }
    }
}

impl<T> fmt::Debug for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Full(_) => "Full(..)",
            Self::Closed(_) => "Closed(..)",
        })
    }
}

/// Why [`Queue::try_get`] did not get.
///
/// # Examples
///
/// ```
/// use syncportal::{Queue, TryGetError};
///
/// let queue = Queue::<u8>::new(1)?;
/// assert_eq!(queue.try_get(), Err(TryGetError::Empty));
/// queue.close();
/// assert_eq!(queue.try_get(), Err(TryGetError::Closed));
/// # Ok::<(), syncportal::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TryGetError {
    /// Nothing to get now; a blocking or async get would wait.
    #[error("the queue is empty; use get or get_blocking to wait for an item")]
    Empty,
    /// The queue is closed and has been drained.
    #[error("the queue is closed and drained")]
    Closed,
}

/// [`Queue::task_done`] was called more times than items were put.
///
/// # Examples
///
/// ```
/// let queue = syncportal::Queue::<u8>::new(1)?;
/// assert!(queue.task_done().is_err());
/// # Ok::<(), syncportal::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("task_done called more times than items were put; call it once per item taken")]
pub struct TaskDoneError;

/// A bounded queue that plain threads and async tasks share, at the same time.
///
/// Async code uses [`put`](Self::put) and [`get`](Self::get); sync code uses
/// [`put_blocking`](Self::put_blocking) and [`get_blocking`](Self::get_blocking), which need no
/// runtime at all and refuse to block inside async code. [`try_put`](Self::try_put) and
/// [`try_get`](Self::try_get) never wait. [`task_done`](Self::task_done) and
/// [`join`](Self::join) track work as Python's `queue.Queue` does. Clones share one queue.
///
/// When the queue is full, its [`Overflow`] policy decides: wait for room, evict the oldest
/// item, or discard the new one. Whatever is thrown away is counted in [`stats`](Self::stats).
///
/// # Examples
///
/// ```
/// use syncportal::{Portal, Queue};
///
/// let queue = Queue::new(16)?;
/// let consumer = {
///     let queue = queue.clone();
///     // An async consumer on the portal's runtime...
///     Portal::global().spawn(async move {
///         let mut sum = 0;
///         while let Ok(n) = queue.get().await {
///             sum += n;
///         }
///         sum
///     })?
/// };
/// // ...fed by a plain thread.
/// for n in 1..=10 {
///     queue.put_blocking(n)?;
/// }
/// queue.close();
/// assert_eq!(consumer.wait()?, 55);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Caveats
///
/// - Waiting puts and gets are served in arrival order, but a put or get that finds room or an
///   item at once takes it even while others wait.
/// - Dropping the last clone drops the items still queued, uncounted: nobody is left to read
///   the counters. Call [`close_now`](Self::close_now) first to count them.
pub struct Queue<T> {
    shared: Arc<Shared<T>>,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    capacity: usize,
    overflow: Overflow,
    /// A blocked putter is woken once the length drops to this. `capacity - 1` wakes it as soon
    /// as there is room; recordings, whose only putter is their producer, wait for more of the
    /// buffer to drain (see [`Queue::for_recording`]) so a producer ahead of its consumer wakes
    /// once per batch, not per item.
    wake_putters_at: usize,
    /// How many items taken ahead into a [`ReadAhead`] its reader has handed out. Only that
    /// reader writes it; read under the lock it never exceeds [`State::ahead`], because an item
    /// is counted there, under the lock, before it can be handed out. Alone on its cache line:
    /// the reader writes it once per item.
    handed: Padded<AtomicU64>,
    /// What [`Overflow::DropNewest`] puts use without the lock.
    unlocked: Padded<Unlocked>,
}

/// The state an [`Overflow::DropNewest`] put reads and counts without the lock.
#[derive(Default)]
struct Unlocked {
    /// Whether the queue is open and full, kept up to date under the lock. A put that sees it
    /// set discards its item at once.
    full: AtomicBool,
    /// Items those puts discarded. Each counts as put and as dropped.
    dropped: AtomicU64,
}

/// Keeps a value on a cache line of its own, away from the lock the other side takes.
#[repr(align(128))]
#[derive(Default)]
struct Padded<V>(V);

struct State<T> {
    items: VecDeque<T>,
    closed: bool,
    getters: Waiters,
    putters: Waiters,
    joiners: Waiters,
    /// Items put and not yet marked done, for `join`.
    unfinished: u64,
    stats: QueueStats,
    /// Items taken ahead into a [`ReadAhead`], less those discarded from it. The ones not yet
    /// handed out (`ahead - handed`) are still in the queue.
    ahead: u64,
    /// [`Shared::handed`] as read when the lock was taken, so one locked section sees one value.
    handed: u64,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("capacity", &self.shared.capacity)
            .field("overflow", &self.shared.overflow)
            .field("stats", &self.stats())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl<T> Queue<T> {
    /// A queue of `capacity` items whose puts wait for room ([`Overflow::Block`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let queue = syncportal::Queue::<String>::new(8)?;
    /// assert_eq!(queue.capacity(), 8);
    /// # Ok::<(), syncportal::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroCapacity`] when `capacity` is 0.
    pub fn new(capacity: usize) -> Result<Self, ConfigError> {
        Self::with_overflow(capacity, Overflow::Block)
    }

    /// A queue of `capacity` items with the given overflow policy.
    ///
    /// # Examples
    ///
    /// ```
    /// use syncportal::{Overflow, Queue};
    ///
    /// let latest = Queue::with_overflow(1, Overflow::DropOldest)?;
    /// latest.try_put("old").unwrap();
    /// latest.try_put("new").unwrap();
    /// assert_eq!(latest.try_get(), Ok("new"));
    /// # Ok::<(), syncportal::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroCapacity`] when `capacity` is 0.
    pub fn with_overflow(capacity: usize, overflow: Overflow) -> Result<Self, ConfigError> {
        Self::build(capacity, overflow, capacity.saturating_sub(1))
    }

    /// A queue for a recording's single producer, woken only once half the buffer is free, so
    /// it refills while the consumer reads the other half. On one CPU, where the two cannot
    /// run at once, only once the buffer is empty: an earlier wake-up just costs a switch to
    /// the producer and back per refill.
    pub(crate) fn for_recording(capacity: usize, overflow: Overflow) -> Result<Self, ConfigError> {
        let wake_at = if park::several_cpus() {
            capacity / 2
        } else {
            0
        };
        Self::build(capacity, overflow, wake_at)
    }

    fn build(
        capacity: usize,
        overflow: Overflow,
        wake_putters_at: usize,
    ) -> Result<Self, ConfigError> {
        if capacity == 0 {
            return Err(ConfigError::ZeroCapacity);
        }
        let state = State {
            // Grows on demand: a large capacity costs nothing until it is used.
            items: VecDeque::with_capacity(capacity.min(1024)),
            closed: false,
            getters: Waiters::default(),
            putters: Waiters::default(),
            joiners: Waiters::default(),
            unfinished: 0,
            stats: QueueStats::default(),
            ahead: 0,
            handed: 0,
        };
        Ok(Self {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                capacity,
                overflow,
                wake_putters_at,
                handed: Padded::default(),
                unlocked: Padded::default(),
            }),
        })
    }

    /// Puts `item`, waiting for room when the queue is full and its policy is
    /// [`Overflow::Block`]. Under the drop policies it never waits.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let queue = syncportal::Queue::new(1)?;
    /// queue.put(1).await?;
    /// assert_eq!(queue.get().await?, 1);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] in a [`PutError`] that hands the item back, when the queue is closed
    /// before the item goes in.
    ///
    /// # Caveats
    ///
    /// Cancel safe: if the future is dropped before it completes, the item was not put (it is
    /// dropped with the future).
    pub fn put(&self, item: T) -> Put<'_, T> {
        Put {
            shared: &self.shared,
            item: Some(item),
            waiter: None,
        }
    }

    /// Takes the oldest item, waiting while the queue is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let queue = syncportal::Queue::new(4)?;
    /// queue.put("x").await?;
    /// queue.close();
    /// assert_eq!(queue.get().await?, "x");
    /// assert!(queue.get().await.unwrap_err().is_closed());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] once the queue is closed and drained.
    ///
    /// # Caveats
    ///
    /// Cancel safe: a dropped `get` never took an item.
    pub fn get(&self) -> Get<'_, T> {
        Get {
            shared: &self.shared,
            waiter: None,
        }
    }

    /// Puts `item` from sync code, blocking the thread while the queue is full under
    /// [`Overflow::Block`].
    ///
    /// Works on any thread where blocking is allowed, with or without a runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// let queue = syncportal::Queue::new(2)?;
    /// queue.put_blocking(1)?;
    /// assert_eq!(queue.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A [`PutError`] handing the item back, with [`Error::Closed`] when the queue is closed, or
    /// [`Error::InAsyncContext`] when called on a thread that drives async tasks (use
    /// [`put`](Self::put) there); nothing was put.
    pub fn put_blocking(&self, item: T) -> Result<(), PutError<T>> {
        self.put_waiting(item, None)
    }

    /// [`put_blocking`](Self::put_blocking), giving up after `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let queue = syncportal::Queue::new(1)?;
    /// queue.put_blocking(1)?;
    /// let err = queue.put_blocking_timeout(2, Duration::from_millis(5)).unwrap_err();
    /// assert!(err.error().is_timeout());
    /// assert_eq!(err.into_inner(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`put_blocking`](Self::put_blocking), plus [`Error::Timeout`] when no room came in
    /// time; the item is handed back and was not put.
    pub fn put_blocking_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
        self.put_waiting(item, Some(timeout))
    }

    fn put_waiting(&self, item: T, timeout: Option<Duration>) -> Result<(), PutError<T>> {
        let item = if guard::lets_through_at_once() {
            // Needs no wait, so no parker: only the room, or the end, decides.
            match self.shared.offer(item, None) {
                Offer::Done => return Ok(()),
                Offer::Closed(item) => {
                    return Err(PutError {
                        item,
                        error: Error::Closed,
                    });
                }
                Offer::Full(item) => item,
            }
        } else {
            item
        };
        let mut put = self.put(item);
        match guard::wait_until(&mut put, timeout.and_then(guard::deadline)) {
            Ok(done) => done,
            Err(error) => Err(PutError {
                item: put
                    .item
                    .take()
                    .expect("an unfinished put still holds its item"),
                error,
            }),
        }
    }

    /// Takes the oldest item from sync code, blocking the thread while the queue is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// let queue = syncportal::Queue::new(2)?;
    /// queue.put_blocking('a')?;
    /// assert_eq!(queue.get_blocking()?, 'a');
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// - [`Error::Closed`] once the queue is closed and drained.
    /// - [`Error::InAsyncContext`] on a thread that drives async tasks (use [`get`](Self::get)
    ///   there); nothing was taken.
    pub fn get_blocking(&self) -> Result<T, Error> {
        self.get_waiting(None)
    }

    /// [`get_blocking`](Self::get_blocking), giving up after `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let queue = syncportal::Queue::<u8>::new(1)?;
    /// let err = queue.get_blocking_timeout(Duration::from_millis(5)).unwrap_err();
    /// assert!(err.is_timeout());
    /// # Ok::<(), syncportal::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`get_blocking`](Self::get_blocking), plus [`Error::Timeout`] when nothing came in
    /// time; nothing was taken.
    pub fn get_blocking_timeout(&self, timeout: Duration) -> Result<T, Error> {
        self.get_waiting(guard::deadline(timeout))
    }

    fn get_waiting(&self, deadline: Option<Instant>) -> Result<T, Error> {
        if guard::lets_through_at_once() {
            // Needs no wait, so no parker: an item, or the end, decides.
            if let Poll::Ready(outcome) = self.shared.take(&mut None, None) {
                return outcome;
            }
        }
        guard::wait_until(self.get(), deadline)?
    }

    /// Puts `item` if that needs no wait.
    ///
    /// # Examples
    ///
    /// ```
    /// let queue = syncportal::Queue::new(1)?;
    /// assert!(queue.try_put(1).is_ok());
    /// assert!(queue.try_put(2).is_err());
    /// # Ok::<(), syncportal::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`TryPutError::Full`] when the queue is full under [`Overflow::Block`], and
    /// [`TryPutError::Closed`] when it is closed; both hand the item back.
    pub fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
        match self.shared.offer(item, None) {
            Offer::Done => Ok(()),
            Offer::Full(item) => Err(TryPutError::Full(item)),
            Offer::Closed(item) => Err(TryPutError::Closed(item)),
        }
    }

    /// Takes the oldest item if there is one.
    ///
    /// # Examples
    ///
    /// ```
    /// let queue = syncportal::Queue::new(1)?;
    /// queue.try_put(5).unwrap();
    /// assert_eq!(queue.try_get(), Ok(5));
    /// # Ok::<(), syncportal::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`TryGetError::Empty`] when there is nothing to take, [`TryGetError::Closed`] when the
    /// queue is closed and drained.
    pub fn try_get(&self) -> Result<T, TryGetError> {
        match self.shared.take(&mut None, None) {
            Poll::Ready(Ok(item)) => Ok(item),
            Poll::Ready(Err(_)) => Err(TryGetError::Closed),
            Poll::Pending => Err(TryGetError::Empty),
        }
    }

    /// Marks one taken item as processed, for [`join`](Self::join).
    ///
    /// Items thrown away by an overflow policy or [`close_now`](Self::close_now) count as done
    /// already; a `task_done` already called for such an item is not counted twice.
    ///
    /// # Examples
    ///
    /// ```
    /// let queue = syncportal::Queue::new(1)?;
    /// queue.put_blocking(1)?;
    /// queue.get_blocking()?;
    /// queue.task_done()?;
    /// queue.join_blocking()?; // returns at once: nothing is unfinished
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`TaskDoneError`] when every item put has already been marked done; nothing changes.
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        let mut state = self.shared.lock();
        if state.unfinished == 0 {
            return Err(TaskDoneError);
        }
        state.unfinished = state.unfinished.saturating_sub(1);
        let woken = if state.unfinished == 0 {
            state.joiners.take_all()
        } else {
            Vec::new()
        };
        drop(state);
        woken.into_iter().for_each(Waker::wake);
        Ok(())
    }

    /// Waits until every item put has been taken and marked with [`task_done`](Self::task_done).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let queue = syncportal::Queue::new(4)?;
    /// queue.put(1).await?;
    /// let worker = {
    ///     let queue = queue.clone();
    ///     tokio::spawn(async move {
    ///         queue.get().await.unwrap();
    ///         queue.task_done().unwrap();
    ///     })
    /// };
    /// queue.join().await;
    /// worker.await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn join(&self) -> Join<'_, T> {
        Join {
            shared: &self.shared,
            waiter: None,
        }
    }

    /// [`join`](Self::join) from sync code, blocking the thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let queue = syncportal::Queue::<u8>::new(1)?;
    /// queue.join_blocking()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InAsyncContext`] on a thread that drives async tasks; use [`join`](Self::join)
    /// there.
    pub fn join_blocking(&self) -> Result<(), Error> {
        guard::wait_until(self.join(), None)
    }

    /// Stops accepting items. Getters take what is left, then see [`Error::Closed`]; waiting
    /// putters wake with their items handed back. Returns false if the queue was already closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let queue = syncportal::Queue::new(2)?;
    /// queue.put_blocking(1)?;
    /// assert!(queue.close());
    /// assert!(queue.put_blocking(2).is_err());
    /// assert_eq!(queue.get_blocking()?, 1);
    /// assert!(queue.get_blocking().unwrap_err().is_closed());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(&self) -> bool {
        let mut state = self.shared.lock();
        if state.closed {
            return false;
        }
        state.closed = true;
        let mut woken = state.getters.take_all();
        woken.append(&mut state.putters.take_all());
        drop(state);
        woken.into_iter().for_each(Waker::wake);
        true
    }

    /// Closes the queue and discards every item in it, counted in
    /// [`QueueStats::discarded`]. Everyone waiting on either side wakes at once: getters see
    /// [`Error::Closed`], putters get their items back. Returns how many items were discarded.
    ///
    /// # Examples
    ///
    /// ```
    /// let queue = syncportal::Queue::new(4)?;
    /// queue.put_blocking(1)?;
    /// queue.put_blocking(2)?;
    /// assert_eq!(queue.close_now(), 2);
    /// assert!(queue.get_blocking().unwrap_err().is_closed());
    /// assert_eq!(queue.stats().discarded, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[allow(
        clippy::must_use_candidate,
        reason = "closing is the point; the count is extra"
    )]
    pub fn close_now(&self) -> usize {
        self.shared.close_now(None)
    }

    /// Whether [`close`](Self::close) or [`close_now`](Self::close_now) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// let queue = syncportal::Queue::<u8>::new(1)?;
    /// queue.close();
    /// assert!(queue.is_closed());
    /// # Ok::<(), syncportal::ConfigError>(())
    /// ```
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }

    /// How many items are in the queue now.
    ///
    /// # Examples
    ///
    /// ```
    /// let queue = syncportal::Queue::new(3)?;
    /// queue.try_put(()).unwrap();
    /// assert_eq!(queue.len(), 1);
    /// # Ok::<(), syncportal::ConfigError>(())
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.shared.lock().len()
    }

    /// Whether the queue holds no items now.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(syncportal::Queue::<u8>::new(1)?.is_empty());
    /// # Ok::<(), syncportal::ConfigError>(())
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most items the queue holds.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(syncportal::Queue::<u8>::new(5)?.capacity(), 5);
    /// # Ok::<(), syncportal::ConfigError>(())
    /// ```
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    /// The queue's overflow policy.
    ///
    /// # Examples
    ///
    /// ```
    /// use syncportal::{Overflow, Queue};
    /// assert_eq!(Queue::<u8>::new(1)?.overflow(), Overflow::Block);
    /// # Ok::<(), syncportal::ConfigError>(())
    /// ```
    #[must_use]
    pub fn overflow(&self) -> Overflow {
        self.shared.overflow
    }

    /// The queue's counters, read together.
    ///
    /// # Examples
    ///
    /// ```
    /// let queue = syncportal::Queue::new(1)?;
    /// queue.try_put(1).unwrap();
    /// assert_eq!(queue.stats().put, 1);
    /// # Ok::<(), syncportal::ConfigError>(())
    /// ```
    #[must_use]
    pub fn stats(&self) -> QueueStats {
        let state = self.shared.lock();
        // Read under the lock like the rest; it adds as much to `put` as to `dropped`.
        let dropped_unlocked = self.shared.unlocked.0.dropped.load(Ordering::Relaxed);
        QueueStats {
            put: state.stats.put + dropped_unlocked,
            taken: state.stats.taken + state.handed,
            dropped: state.stats.dropped + dropped_unlocked,
            len: state.len() as u64,
            ..state.stats
        }
    }

    /// Gives up a place in line taken by [`poll_get_ahead`](Self::poll_get_ahead).
    pub(crate) fn abandon_get(&self, waiter: &mut Option<u64>) {
        self.shared.abandon(waiter, |state| &mut state.getters);
    }

    /// Polls for the next item, for the queue's only reader, which keeps its place in line in
    /// `waiter` and its items taken ahead in `ahead`. Without a waker it only looks: an empty
    /// open queue leaves `waiter` as it was.
    ///
    /// It takes up to the read-ahead's size under one lock and hands them out one per call
    /// without the lock. An item taken ahead is counted as taken when it is handed out, not
    /// before, so the counters and the length always describe what the reader has really had;
    /// until then it takes room as if it were queued, so [`Overflow::Block`] and
    /// [`Overflow::DropNewest`] behave as without a read-ahead. [`Overflow::DropOldest`] cannot
    /// evict it, though: it evicts the oldest item still queued instead.
    pub(crate) fn poll_get_ahead(
        &self,
        ahead: &mut ReadAhead<T>,
        waiter: &mut Option<u64>,
        waker: Option<&Waker>,
    ) -> Poll<Result<T, Error>> {
        if let Some(item) = self.hand_out(ahead) {
            return Poll::Ready(Ok(item));
        }
        if ahead.max <= 1 {
            return self.shared.take(waiter, waker);
        }
        match self
            .shared
            .take_ahead(&mut ahead.items, ahead.max, waiter, waker)
        {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(self.hand_out(ahead).expect("refilled above"))),
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Hands out the next item taken ahead, if `ahead` holds one; takes no lock.
    fn hand_out(&self, ahead: &mut ReadAhead<T>) -> Option<T> {
        let item = ahead.items.pop_front()?;
        // Only this reader writes the count, so a load and a store are enough.
        let handed = &self.shared.handed.0;
        let count = handed.load(Ordering::Relaxed) + 1;
        if self.shared.overflow == Overflow::DropNewest {
            // Handing out makes room, which puts that discard without the lock must see. Paired
            // with the check in `Locked::drop`: either the locked side sees this count and
            // clears the flag itself, or this load sees the flag it set, and clears it.
            handed.store(count, Ordering::SeqCst);
            let full = &self.shared.unlocked.0.full;
            if full.load(Ordering::SeqCst) {
                full.store(false, Ordering::SeqCst);
            }
        } else {
            handed.store(count, Ordering::Relaxed);
        }
        Some(item)
    }

    /// [`close_now`](Self::close_now) that also discards what the reader holds in `ahead`,
    /// under the same lock, so the counters never show those items gone and not counted.
    pub(crate) fn close_now_ahead(&self, ahead: &mut ReadAhead<T>) -> usize {
        self.shared.close_now(Some(&mut ahead.items))
    }

    /// Puts every item of `items`, oldest first, taking the lock once per wake-up rather than
    /// once per item, and returns the room left. Under [`Overflow::Block`] it waits for room
    /// for the rest; what is still in `items` when it fails with [`Error::Closed`], or is
    /// dropped, was not put.
    pub(crate) fn put_all<'a>(&'a self, items: &'a mut VecDeque<T>) -> PutAll<'a, T> {
        PutAll {
            shared: &self.shared,
            items,
            waiter: None,
        }
    }

    /// Puts `items` at once, without waiting: past the capacity under [`Overflow::Block`],
    /// under the drop policies as usual. For a producer that is ending (its source panicked),
    /// whose items must still reach the consumer. Leaves in `items` what a closed queue refused.
    pub(crate) fn put_now(&self, items: &mut VecDeque<T>) {
        let mut state = self.shared.lock();
        if state.closed {
            return;
        }
        let mut thrown_away = Vec::new();
        for item in items.drain(..) {
            match self.shared.place(&mut state, item) {
                Place::Stored => {}
                Place::ThrewAway(item) => thrown_away.push(item),
                Place::Full(item) => state.push(item),
            }
        }
        let woken = state.getters.take_one();
        drop(state);
        drop(thrown_away);
        if let Some(waker) = woken {
            waker.wake();
        }
    }

    /// Puts a last item past the capacity and closes the queue, so it is delivered after
    /// everything already queued whatever the policy. Hands the item back when already closed.
    pub(crate) fn put_last(&self, item: T) -> Result<(), T> {
        let mut state = self.shared.lock();
        if state.closed {
            return Err(item);
        }
        state.push(item);
        state.closed = true;
        let mut woken = state.getters.take_all();
        woken.append(&mut state.putters.take_all());
        drop(state);
        woken.into_iter().for_each(Waker::wake);
        Ok(())
    }
}

/// Items a queue's only reader took ahead under one lock, to hand out one per call without it
/// (see [`Queue::poll_get_ahead`]). Until handed out they still count as in the queue: in its
/// length, its room and its counters; only [`Overflow::DropOldest`] cannot evict them.
pub(crate) struct ReadAhead<T> {
    items: VecDeque<T>,
    max: usize,
}

impl<T> ReadAhead<T> {
    /// Takes up to `max` items per lock; 1 or 0 takes one at a time, as a plain get does.
    pub(crate) fn new(max: usize) -> Self {
        Self {
            items: VecDeque::new(),
            max,
        }
    }
}

/// Where one item went, under the policy: stored, stored with an item thrown away (the
/// evicted oldest, or the rejected item itself), or refused because the queue is full.
enum Place<T> {
    Stored,
    ThrewAway(T),
    Full(T),
}

/// What an offer to the queue came to; a refused item comes back.
enum Offer<T> {
    Done,
    Full(T),
    Closed(T),
}

/// The queue's state, locked. Dropping it refreshes [`Unlocked::full`] before the lock is
/// released.
struct Locked<'a, T> {
    state: MutexGuard<'a, State<T>>,
    shared: &'a Shared<T>,
}

impl<T> Deref for Locked<'_, T> {
    type Target = State<T>;

    fn deref(&self) -> &State<T> {
        &self.state
    }
}

impl<T> DerefMut for Locked<'_, T> {
    fn deref_mut(&mut self) -> &mut State<T> {
        &mut self.state
    }
}

impl<T> Drop for Locked<'_, T> {
    fn drop(&mut self) {
        if self.shared.overflow == Overflow::DropNewest {
            let full = !self.state.closed && self.state.len() >= self.shared.capacity;
            let flag = &self.shared.unlocked.0.full;
            // Written only when it changes: lock-free puts read it all the time.
            if flag.load(Ordering::Relaxed) != full {
                flag.store(full, Ordering::SeqCst);
            }
            // The length counted the reader's items as of the lock; one it handed out since
            // made room. Paired with `Queue::hand_out`, so the flag never stays set over room.
            if full && self.shared.handed.0.load(Ordering::SeqCst) != self.state.handed {
                flag.store(false, Ordering::SeqCst);
            }
        }
    }
}

impl<T> Shared<T> {
    fn lock(&self) -> Locked<'_, T> {
        // No user code runs under the lock, so a poisoned lock still holds consistent state.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.handed = self.handed.0.load(Ordering::Relaxed);
        Locked {
            state,
            shared: self,
        }
    }

    /// Under [`Overflow::DropNewest`], whether the queue is open and full, so a put may discard
    /// its item without the lock: it would be discarded under it too.
    fn discards_at_once(&self) -> bool {
        self.overflow == Overflow::DropNewest && self.unlocked.0.full.load(Ordering::Acquire)
    }

    /// Counts `count` items discarded by [`discards_at_once`](Self::discards_at_once) puts.
    fn count_discarded_at_once(&self, count: u64) {
        self.unlocked.0.dropped.fetch_add(count, Ordering::Relaxed);
    }

    /// Puts `item` if the policy allows it now. With a waiter, a full [`Overflow::Block`] queue
    /// puts it in line to be woken when there is room.
    fn offer(&self, item: T, waiter: Option<(&mut Option<u64>, &Waker)>) -> Offer<T> {
        let in_line = waiter.as_ref().is_some_and(|(slot, _)| slot.is_some());
        if !in_line && self.discards_at_once() {
            // No getter can be waiting on a full queue, so there is nobody to wake either.
            self.count_discarded_at_once(1);
            drop(item);
            return Offer::Done;
        }
        let mut state = self.lock();
        let mut thrown_away = None;
        let outcome = if state.closed {
            Offer::Closed(item)
        } else {
            match self.place(&mut state, item) {
                Place::Stored => Offer::Done,
                Place::ThrewAway(item) => {
                    thrown_away = Some(item);
                    Offer::Done
                }
                Place::Full(item) => Offer::Full(item),
            }
        };
        if let Some((slot, waker)) = waiter {
            if matches!(outcome, Offer::Full(_)) {
                state.putters.register(slot, waker);
            } else {
                state.putters.leave(slot);
            }
        }
        let woken = if matches!(outcome, Offer::Done) {
            state.getters.take_one()
        } else {
            None
        };
        drop(state);
        drop(thrown_away);
        if let Some(waker) = woken {
            waker.wake();
        }
        outcome
    }

    /// Places one item under the overflow policy, with the lock held.
    fn place(&self, state: &mut State<T>, item: T) -> Place<T> {
        if state.len() < self.capacity {
            state.push(item);
            return Place::Stored;
        }
        match self.overflow {
            Overflow::Block => Place::Full(item),
            Overflow::DropOldest => {
                let evicted = state.items.pop_front();
                // Saturating: `task_done` may already have been called for this item.
                state.unfinished = state.unfinished.saturating_sub(1);
                state.stats.dropped += 1;
                state.push(item);
                evicted.map_or(Place::Stored, Place::ThrewAway)
            }
            Overflow::DropNewest => {
                state.stats.put += 1;
                state.stats.dropped += 1;
                Place::ThrewAway(item)
            }
        }
    }

    /// Places as many of `items` as the policy allows now, oldest first, under one lock. When
    /// some are left (a full [`Overflow::Block`] queue), `waiter` joins the putters' line. Once
    /// all are placed, returns the room left.
    fn offer_all(
        &self,
        items: &mut VecDeque<T>,
        waiter: &mut Option<u64>,
        waker: &Waker,
    ) -> Poll<Result<usize, Error>> {
        if waiter.is_none() && self.discards_at_once() {
            self.count_discarded_at_once(items.len() as u64);
            items.clear();
            return Poll::Ready(Ok(0));
        }
        // Made before the lock is taken: every item may evict one.
        let mut thrown_away = if self.overflow == Overflow::DropOldest {
            Vec::with_capacity(items.len())
        } else {
            Vec::new()
        };
        let mut state = self.lock();
        if state.closed {
            state.putters.leave(waiter);
            return Poll::Ready(Err(Error::Closed));
        }
        // The whole batch is placed at once, as placing it item by item under the policy would
        // leave it, so the lock is held for two block moves rather than a loop.
        let offered = items.len();
        let room = self.capacity.saturating_sub(state.len());
        let fits = room.min(offered);
        match self.overflow {
            Overflow::Block => state.push_all(items, fits),
            Overflow::DropNewest => {
                state.push_all(items, fits);
                // The rest are counted now and dropped once the lock is released.
                let rejected = items.len() as u64;
                state.stats.put += rejected;
                state.stats.dropped += rejected;
            }
            Overflow::DropOldest => {
                // After `fits` items, each one evicts the oldest: from the queue first, then
                // from the batch itself when it is longer than the capacity.
                let evicted = offered - fits;
                let from_queue = evicted.min(state.items.len());
                thrown_away.extend(state.items.drain(..from_queue));
                let from_batch = evicted - from_queue;
                thrown_away.extend(items.drain(..from_batch));
                let unfinished = state.unfinished + fits as u64;
                state.push_all(items, offered - from_batch);
                // Item by item, each eviction takes one from the count of unfinished items (none
                // below zero: `task_done` may have been called for it) and its put adds one,
                // which leaves the count at least one.
                state.unfinished = if evicted > 0 {
                    unfinished.max(1)
                } else {
                    unfinished
                };
                state.stats.put += from_batch as u64;
                state.stats.dropped += evicted as u64;
            }
        }
        let stored = fits > 0 || self.overflow == Overflow::DropOldest;
        let done = items.is_empty() || self.overflow == Overflow::DropNewest;
        if done {
            state.putters.leave(waiter);
        } else {
            state.putters.register(waiter, waker);
        }
        let woken = if stored {
            state.getters.take_one()
        } else {
            None
        };
        let room = self.capacity.saturating_sub(state.len());
        drop(state);
        drop(thrown_away);
        if self.overflow == Overflow::DropNewest {
            // Discarded, and counted, above.
            items.clear();
        }
        if let Some(waker) = woken {
            waker.wake();
        }
        if done {
            Poll::Ready(Ok(room))
        } else {
            Poll::Pending
        }
    }

    /// Takes the oldest item. With a waker, an empty open queue registers `waiter`.
    fn take(&self, waiter: &mut Option<u64>, waker: Option<&Waker>) -> Poll<Result<T, Error>> {
        let mut state = self.lock();
        if let Some(item) = state.items.pop_front() {
            state.stats.taken += 1;
            state.getters.leave(waiter);
            let woken = if state.len() <= self.wake_putters_at {
                state.putters.take_one()
            } else {
                None
            };
            drop(state);
            if let Some(waker) = woken {
                waker.wake();
            }
            return Poll::Ready(Ok(item));
        }
        if state.closed {
            state.getters.leave(waiter);
            return Poll::Ready(Err(Error::Closed));
        }
        if let Some(waker) = waker {
            state.getters.register(waiter, waker);
        }
        Poll::Pending
    }

    /// Closes the queue and discards what it holds, with what `ahead` holds of it: a reader's
    /// items taken ahead and not handed out, which still count as in the queue.
    fn close_now(&self, ahead: Option<&mut VecDeque<T>>) -> usize {
        let mut state = self.lock();
        state.closed = true;
        let discarded = mem::take(&mut state.items);
        let held = ahead.map_or_else(VecDeque::new, |ahead| {
            // The reader's own count: everything it took ahead and did not hand out is here.
            debug_assert_eq!(ahead.len() as u64, state.ahead - state.handed);
            mem::take(ahead)
        });
        state.ahead -= held.len() as u64;
        let count = (discarded.len() + held.len()) as u64;
        state.stats.discarded += count;
        state.unfinished = state.unfinished.saturating_sub(count);
        let mut woken = state.getters.take_all();
        woken.append(&mut state.putters.take_all());
        if state.unfinished == 0 {
            woken.append(&mut state.joiners.take_all());
        }
        drop(state);
        drop(discarded);
        drop(held);
        woken.into_iter().for_each(Waker::wake);
        usize::try_from(count).expect("the queue held these items")
    }

    /// Moves up to `max` items into the empty `ahead`, for the one reader that hands them out
    /// itself. With a waker, an empty open queue registers `waiter`.
    fn take_ahead(
        &self,
        ahead: &mut VecDeque<T>,
        max: usize,
        waiter: &mut Option<u64>,
        waker: Option<&Waker>,
    ) -> Poll<Result<(), Error>> {
        debug_assert!(
            ahead.is_empty(),
            "taken ahead only once all were handed out"
        );
        let mut state = self.lock();
        // Everything taken ahead before has been handed out, so the length is what is queued;
        // taking items ahead leaves it as it is, so a putter is woken by the length before.
        let woken = if state.len() <= self.wake_putters_at {
            state.putters.take_one()
        } else {
            None
        };
        let outcome = if !state.items.is_empty() {
            let count = max.min(state.items.len());
            ahead.extend(state.items.drain(..count));
            state.ahead += count as u64;
            state.getters.leave(waiter);
            Poll::Ready(Ok(()))
        } else if state.closed {
            state.getters.leave(waiter);
            Poll::Ready(Err(Error::Closed))
        } else {
            if let Some(waker) = waker {
                state.getters.register(waiter, waker);
            }
            Poll::Pending
        };
        drop(state);
        if let Some(waker) = woken {
            waker.wake();
        }
        outcome
    }

    /// Leaves the line `pick` chose; a waiter that was woken but will not act wakes the next.
    fn abandon(&self, waiter: &mut Option<u64>, pick: fn(&mut State<T>) -> &mut Waiters) {
        if waiter.is_none() {
            return;
        }
        let mut state = self.lock();
        let line = pick(&mut state);
        let woken = if line.leave(waiter) {
            line.take_one()
        } else {
            None
        };
        drop(state);
        if let Some(waker) = woken {
            waker.wake();
        }
    }
}

impl<T> State<T> {
    /// Items in the queue: those queued, and those taken ahead and not yet handed out.
    fn len(&self) -> usize {
        let lent = usize::try_from(self.ahead - self.handed)
            .expect("a reader takes ahead at most what the queue holds");
        self.items.len() + lent
    }

    /// Moves the first `count` of `from` to the back of the queue, counted as put.
    fn push_all(&mut self, from: &mut VecDeque<T>, count: usize) {
        if count == from.len() {
            // Moved as whole slices.
            self.items.append(from);
        } else {
            self.items.extend(from.drain(..count));
        }
        self.unfinished += count as u64;
        self.stats.put += count as u64;
        let len = self.len() as u64;
        if len > self.stats.high_water {
            self.stats.high_water = len;
        }
    }

    fn push(&mut self, item: T) {
        self.items.push_back(item);
        self.unfinished += 1;
        self.stats.put += 1;
        let len = self.len() as u64;
        if len > self.stats.high_water {
            self.stats.high_water = len;
        }
    }
}

/// One line of waiters, woken in arrival order.
///
/// A waiter's slot holds its id once it has joined. An id that is no longer in the line means
/// the waiter was woken and removed.
#[derive(Default)]
struct Waiters {
    line: VecDeque<(u64, Waker)>,
    next_id: u64,
}

impl Waiters {
    /// Joins the line, or refreshes the waker of a waiter already in it.
    fn register(&mut self, slot: &mut Option<u64>, waker: &Waker) {
        if let Some(id) = *slot {
            if let Some((_, known)) = self.line.iter_mut().find(|(other, _)| *other == id) {
                if !known.will_wake(waker) {
                    known.clone_from(waker);
                }
                return;
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        self.line.push_back((id, waker.clone()));
        *slot = Some(id);
    }

    /// Leaves the line. Returns true when the waiter had been woken and removed already, which
    /// means it owes the line a wake-up if it will not act on it.
    fn leave(&mut self, slot: &mut Option<u64>) -> bool {
        let Some(id) = slot.take() else {
            return false;
        };
        match self.line.iter().position(|(other, _)| *other == id) {
            Some(at) => {
                self.line.remove(at);
                false
            }
            None => true,
        }
    }

    fn take_one(&mut self) -> Option<Waker> {
        self.line.pop_front().map(|(_, waker)| waker)
    }

    fn take_all(&mut self) -> Vec<Waker> {
        self.line.drain(..).map(|(_, waker)| waker).collect()
    }
}

/// The future returned by [`Queue::put`].
#[must_use = "futures do nothing unless awaited"]
pub struct Put<'a, T> {
    shared: &'a Shared<T>,
    item: Option<T>,
    waiter: Option<u64>,
}

// The item is never pinned: it only moves in and out through `&mut self`.
impl<T> Unpin for Put<'_, T> {}

impl<T> Future for Put<'_, T> {
    type Output = Result<(), PutError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let item = this.item.take().expect("put polled after completion");
        match this
            .shared
            .offer(item, Some((&mut this.waiter, cx.waker())))
        {
            Offer::Done => Poll::Ready(Ok(())),
            Offer::Full(item) => {
                this.item = Some(item);
                Poll::Pending
            }
            Offer::Closed(item) => Poll::Ready(Err(PutError {
                item,
                error: Error::Closed,
            })),
        }
    }
}

impl<T> Drop for Put<'_, T> {
    fn drop(&mut self) {
        self.shared
            .abandon(&mut self.waiter, |state| &mut state.putters);
    }
}

impl<T> fmt::Debug for Put<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Put")
            .field("done", &self.item.is_none())
            .finish_non_exhaustive()
    }
}

/// The future returned by `Queue::put_all`.
pub(crate) struct PutAll<'a, T> {
    shared: &'a Shared<T>,
    items: &'a mut VecDeque<T>,
    waiter: Option<u64>,
}

impl<T> Future for PutAll<'_, T> {
    type Output = Result<usize, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        this.shared
            .offer_all(this.items, &mut this.waiter, cx.waker())
    }
}

impl<T> Drop for PutAll<'_, T> {
    fn drop(&mut self) {
        self.shared
            .abandon(&mut self.waiter, |state| &mut state.putters);
    }
}

/// The future returned by [`Queue::get`].
#[must_use = "futures do nothing unless awaited"]
pub struct Get<'a, T> {
    shared: &'a Shared<T>,
    waiter: Option<u64>,
}

impl<T> Future for Get<'_, T> {
    type Output = Result<T, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        this.shared.take(&mut this.waiter, Some(cx.waker()))
    }
}

impl<T> Drop for Get<'_, T> {
    fn drop(&mut self) {
        self.shared
            .abandon(&mut self.waiter, |state| &mut state.getters);
    }
}

impl<T> fmt::Debug for Get<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Get").finish_non_exhaustive()
    }
}

/// The future returned by [`Queue::join`].
#[must_use = "futures do nothing unless awaited"]
pub struct Join<'a, T> {
    shared: &'a Shared<T>,
    waiter: Option<u64>,
}

impl<T> Future for Join<'_, T> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let mut state = this.shared.lock();
        if state.unfinished == 0 {
            state.joiners.leave(&mut this.waiter);
            return Poll::Ready(());
        }
        state.joiners.register(&mut this.waiter, cx.waker());
        Poll::Pending
    }
}

impl<T> Drop for Join<'_, T> {
    fn drop(&mut self) {
        // Joiners are all woken together, so an abandoned wake-up needs passing on to nobody.
        if self.waiter.is_some() {
            self.shared.lock().joiners.leave(&mut self.waiter);
        }
    }
}

impl<T> fmt::Debug for Join<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Join").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A queue of `capacity` under `overflow` holding `0..held`, with `done` of them marked done.
    fn filled(capacity: usize, overflow: Overflow, held: u32, done: u32) -> Queue<u32> {
        let queue = Queue::for_recording(capacity, overflow).expect("capacity is not zero");
        for item in 0..held {
            queue.try_put(item).expect("room for the first items");
        }
        for _ in 0..done {
            queue.task_done().expect("fewer marked done than put");
        }
        queue
    }

    /// Everything a placement can change: the items in order, the counters, the unfinished count.
    fn books(queue: &Queue<u32>) -> (Vec<u32>, QueueStats, u64) {
        let counters = queue.stats();
        let state = queue.shared.lock();
        (
            state.items.iter().copied().collect(),
            counters,
            state.unfinished,
        )
    }

    /// Placing a batch at once leaves the queue exactly as placing it item by item does, under
    /// every policy, from every fill, for batches shorter and longer than the capacity.
    #[test]
    fn a_batch_is_placed_as_its_items_would_be_one_by_one() {
        let waker = Waker::noop();
        for overflow in [Overflow::Block, Overflow::DropOldest, Overflow::DropNewest] {
            for capacity in 1..=5 {
                let capacity_u32 = u32::try_from(capacity).expect("small");
                for held in 0..=capacity_u32 {
                    for done in 0..=held {
                        for offered in 1..=2 * capacity_u32 + 1 {
                            let case = (overflow, capacity, held, done, offered);
                            let batch_queue = filled(capacity, overflow, held, done);
                            let mut batch: VecDeque<u32> = (100..100 + offered).collect();
                            let outcome =
                                batch_queue.shared.offer_all(&mut batch, &mut None, waker);

                            let one_by_one = filled(capacity, overflow, held, done);
                            let mut left = VecDeque::new();
                            for item in 100..100 + offered {
                                if !left.is_empty() {
                                    left.push_back(item);
                                } else if let Err(TryPutError::Full(item)) =
                                    one_by_one.try_put(item)
                                {
                                    left.push_back(item);
                                }
                            }
                            assert_eq!(books(&batch_queue), books(&one_by_one), "{case:?}");
                            assert_eq!(batch, left, "{case:?}");
                            let room = capacity - batch_queue.len();
                            match outcome {
                                Poll::Ready(Ok(reported)) => {
                                    assert!(left.is_empty(), "{case:?}");
                                    assert_eq!(reported, room, "{case:?}");
                                }
                                Poll::Pending => assert!(!left.is_empty(), "{case:?}"),
                                Poll::Ready(Err(err)) => panic!("{case:?}: {err}"),
                            }
                        }
                    }
                }
            }
        }
    }
}
