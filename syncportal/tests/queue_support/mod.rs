//! Helpers for `tests/queue.rs`: knowing for sure that a waiter is blocked before acting on it,
//! wakers that record being woken, and checks that every item arrived exactly once, in order.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, Wake, Waker};

use syncportal::{Queue, QueueStats};

use crate::common::spin_until;

/// Asserts that one reading of the counters adds up (`put == taken + dropped + discarded +
/// len`, high water within capacity), and returns it. Safe to call while others use the queue.
#[track_caller]
pub(crate) fn stats_add_up<T>(queue: &Queue<T>) -> QueueStats {
    let stats = queue.stats();
    assert_eq!(
        stats.put,
        stats.taken + stats.dropped + stats.discarded + stats.len,
        "the counters must add up: {stats:?}"
    );
    assert!(
        stats.high_water <= queue.capacity() as u64,
        "high water above capacity: {stats:?}"
    );
    stats
}

/// A waker that records whether it was woken.
#[derive(Debug, Default)]
pub(crate) struct Flag(AtomicBool);

impl Flag {
    /// A fresh flag and a waker that raises it.
    pub(crate) fn waker() -> (Arc<Self>, Waker) {
        let flag = Arc::new(Self::default());
        let waker = Waker::from(Arc::clone(&flag));
        (flag, waker)
    }

    /// Whether the waker was woken since the last call; lowers the flag.
    pub(crate) fn take(&self) -> bool {
        self.0.swap(false, SeqCst)
    }
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, SeqCst);
    }
}

/// Polls `fut` once with `waker`, from whatever thread this is (no runtime needed).
pub(crate) fn poll_once<F: Future + Unpin>(fut: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(waker))
}

/// Counts the times a future returned `Pending`, so a test knows it is waiting (a queue future
/// registers itself in line before it returns `Pending`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Pendings(Arc<AtomicUsize>);

impl Pendings {
    pub(crate) fn get(&self) -> usize {
        self.0.load(SeqCst)
    }

    /// Spins until the watched futures have returned `Pending` at least `count` times in all.
    pub(crate) fn wait_for(&self, count: usize) {
        spin_until(10, "the async waiters are pending", || self.get() >= count);
    }

    /// Wraps `fut` so that each `Pending` it returns is counted here.
    pub(crate) fn watch<F: Future + Unpin>(&self, fut: F) -> Watched<F> {
        Watched {
            inner: fut,
            pendings: self.clone(),
        }
    }
}

/// A future whose `Pending` results are counted; see [`Pendings::watch`].
#[derive(Debug)]
pub(crate) struct Watched<F> {
    inner: F,
    pendings: Pendings,
}

impl<F: Future + Unpin> Future for Watched<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let poll = Pin::new(&mut self.inner).poll(cx);
        if poll.is_pending() {
            self.pendings.0.fetch_add(1, SeqCst);
        }
        poll
    }
}

/// A plain thread, identified to the kernel, so that another thread can wait until it sleeps.
///
/// A thread inside `get_blocking` (or any blocking queue call) first registers in line, then
/// yields for a few microseconds and parks on a futex. Seen from outside, "sleeping" after the
/// thread announced it is about to call means it is parked inside that call. This is read from
/// `/proc`, so it needs Linux; elsewhere [`Sleeper::wait_asleep`] only yields for a while, which
/// weakens (never breaks) the tests that use it: a waiter that is not blocked yet sees the same
/// outcome when it arrives.
#[derive(Debug, Clone)]
pub(crate) struct Sleeper {
    stat: Option<String>,
}

impl Sleeper {
    /// Identifies the calling thread. Call it on the thread that is about to block, and send
    /// the result to the thread that will wait for it.
    pub(crate) fn current() -> Self {
        let stat = std::fs::read_link("/proc/thread-self")
            .ok()
            .and_then(|link| {
                link.file_name()
                    .map(|tid| format!("/proc/self/task/{}/stat", tid.to_string_lossy()))
            });
        Self { stat }
    }

    /// Spins until the thread is asleep in the kernel (state `S`), or panics after 10 s.
    pub(crate) fn wait_asleep(&self) {
        let Some(stat) = &self.stat else {
            for _ in 0..10_000 {
                std::thread::yield_now();
            }
            return;
        };
        spin_until(10, "the blocked thread sleeps", || {
            std::fs::read_to_string(stat).is_ok_and(|text| {
                // The state follows the command name, which is in parentheses.
                text.rsplit_once(") ")
                    .is_some_and(|(_, rest)| rest.starts_with('S'))
            })
        });
    }
}

/// What each consumer received: (producer, sequence number) pairs in arrival order.
pub(crate) type Received = Vec<(usize, u32)>;

/// Asserts that every item `(p, s)` for `p < producers`, `s < per_producer` was received by
/// exactly one consumer, and that each consumer saw each producer's items in order.
#[track_caller]
pub(crate) fn assert_each_once_in_order(
    received: &[Received],
    producers: usize,
    per_producer: u32,
) {
    let per = per_producer as usize;
    let mut seen = vec![0_u32; producers * per];
    for (consumer, items) in received.iter().enumerate() {
        let mut last: Vec<Option<u32>> = vec![None; producers];
        for &(p, s) in items {
            assert!(p < producers && s < per_producer, "unknown item ({p}, {s})");
            if let Some(previous) = last[p] {
                assert!(
                    previous < s,
                    "consumer {consumer} got ({p}, {s}) after ({p}, {previous}): order broken \
                     or item duplicated"
                );
            }
            last[p] = Some(s);
            seen[p * per + s as usize] += 1;
        }
    }
    let missing: Vec<_> = seen.iter().enumerate().filter(|(_, n)| **n == 0).collect();
    let doubled: Vec<_> = seen.iter().enumerate().filter(|(_, n)| **n > 1).collect();
    assert!(
        missing.is_empty() && doubled.is_empty(),
        "{} items lost (first: {:?}), {} received more than once (first: {:?})",
        missing.len(),
        missing.first(),
        doubled.len(),
        doubled.first()
    );
}
