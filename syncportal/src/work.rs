//! Bookkeeping of the work a portal has accepted, so shutdown can refuse, wait, cancel and count.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Condvar, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::sync::futures::Notified;

use crate::Error;

/// Calls and tasks in flight on one portal.
#[derive(Debug, Default)]
pub(crate) struct Work {
    /// Set once by shutdown: no new admissions.
    closed: AtomicBool,
    /// Set once when shutdown gives up waiting: in-flight work stops at its next poll.
    cancelling: AtomicBool,
    /// Admitted and not yet finished.
    live: Live,
    /// Wakes in-flight work when `cancelling` is set.
    cancel: Notify,
    /// Signalled on every leave after close; waiters recheck `live`.
    idle: Condvar,
    idle_lock: Mutex<()>,
    /// Work that finished on its own after close.
    finished: AtomicUsize,
    /// Work that was stopped after close before it finished.
    cancelled: AtomicUsize,
}

const STRIPES: usize = 8;

/// A count of admitted work, striped over cache lines so that threads calling at once do not
/// all write one counter. Each unit leaves through the stripe it entered by.
#[derive(Debug, Default)]
struct Live([Stripe; STRIPES]);

#[derive(Debug, Default)]
#[repr(align(128))]
struct Stripe(AtomicUsize);

impl Live {
    /// This thread's stripe, handed out round-robin on first use.
    fn stripe() -> usize {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static STRIPE: usize = NEXT.fetch_add(1, Relaxed) % STRIPES;
        }
        STRIPE.with(|stripe| *stripe)
    }

    fn sum(&self) -> usize {
        self.0.iter().map(|stripe| stripe.0.load(SeqCst)).sum()
    }
}

/// Admission of one call or task. Dropping it without [`Ticket::complete`] counts as a
/// cancellation when the portal is shutting down.
#[derive(Debug)]
pub(crate) struct Ticket<W: Deref<Target = Work>> {
    work: W,
    stripe: usize,
    completed: bool,
}

impl<W: Deref<Target = Work>> Ticket<W> {
    pub(crate) fn complete(mut self) {
        self.completed = true;
    }

    pub(crate) fn work(&self) -> &Work {
        &self.work
    }
}

impl<W: Deref<Target = Work>> Drop for Ticket<W> {
    fn drop(&mut self) {
        if self.work.closed.load(SeqCst) {
            let counter = if self.completed {
                &self.work.finished
            } else {
                &self.work.cancelled
            };
            counter.fetch_add(1, SeqCst);
        }
        self.work.leave(self.stripe);
    }
}

impl Work {
    /// Admits one unit of work, or refuses with [`Error::Closed`] after shutdown began.
    pub(crate) fn admit<W: Deref<Target = Work>>(work: W) -> Result<Ticket<W>, Error> {
        // Increment before checking: shutdown sets `closed` then reads `live`, so either it sees
        // this work or this work sees `closed` (both SeqCst).
        let stripe = Live::stripe();
        work.live.0[stripe].0.fetch_add(1, SeqCst);
        if work.closed.load(SeqCst) {
            work.leave(stripe);
            return Err(Error::Closed);
        }
        Ok(Ticket {
            work,
            stripe,
            completed: false,
        })
    }

    fn leave(&self, stripe: usize) {
        self.live.0[stripe].0.fetch_sub(1, SeqCst);
        if self.closed.load(SeqCst) {
            // Take the lock so a waiter between its check and its wait cannot miss this.
            let _lock = self
                .idle_lock
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            self.idle.notify_all();
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(SeqCst)
    }

    /// Refuses new work from now on. Returns false if it was already closed.
    pub(crate) fn close(&self) -> bool {
        !self.closed.swap(true, SeqCst)
    }

    /// Asks all in-flight work to stop at its next poll, and wakes it so that happens now.
    pub(crate) fn cancel_all(&self) {
        self.cancelling.store(true, SeqCst);
        self.cancel.notify_waiters();
    }

    /// Waits until no work is in flight or `timeout` passes. Returns whether it is idle.
    pub(crate) fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let mut lock = self
            .idle_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while self.live.sum() != 0 {
            let left = match deadline {
                Some(deadline) => deadline.saturating_duration_since(Instant::now()),
                None => Duration::MAX,
            };
            if left.is_zero() {
                return false;
            }
            lock = self
                .idle
                .wait_timeout(lock, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    /// How many units are admitted and not yet finished.
    pub(crate) fn live(&self) -> usize {
        self.live.sum()
    }

    /// How many in-flight units finished, and how many were cancelled, since close.
    pub(crate) fn outcome(&self) -> (usize, usize) {
        (self.finished.load(SeqCst), self.cancelled.load(SeqCst))
    }

    /// Runs `fut` until it completes (`Some`) or shutdown cancels it (`None`).
    pub(crate) fn until_cancelled<F: Future>(&self, fut: F) -> Cancellable<'_, F> {
        Cancellable {
            inner: fut,
            work: self,
            cancelled: None,
        }
    }
}

pin_project_lite::pin_project! {
    /// A future that shutdown can stop: resolves to `None` once the portal cancels its work.
    pub(crate) struct Cancellable<'a, F> {
        #[pin]
        inner: F,
        work: &'a Work,
        // Made on the first pending poll, so a future that is ready at once costs nothing here.
        #[pin]
        cancelled: Option<Notified<'a>>,
    }
}

impl<F: Future> Future for Cancellable<'_, F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        // Once cancelled, the future is never polled again, nor first polled.
        if this.work.cancelling.load(SeqCst) {
            return Poll::Ready(None);
        }
        if let Poll::Ready(output) = this.inner.poll(cx) {
            return Poll::Ready(Some(output));
        }
        if this.cancelled.is_none() {
            // Created before the flag check: a `Notified` sees every `notify_waiters` that
            // happens after its creation, and the flag covers those before.
            this.cancelled.set(Some(this.work.cancel.notified()));
            if this.work.cancelling.load(SeqCst) {
                return Poll::Ready(None);
            }
        }

        match this
            .cancelled
            .as_pin_mut()
            .map(|notified| notified.poll(cx))
        {
            Some(Poll::Pending) => Poll::Pending,
            _ => Poll::Ready(None),
        }
    }
}
