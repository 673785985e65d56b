//! Parking the calling thread while its future is pending.
//!
//! tokio's `Handle::block_on` parks its caller on a mutex and condvar. On a multi-thread runtime
//! (the only kind a portal runs on) the caller's thread drives its one future and nothing else:
//! IO and timers are driven by the workers. So [`Parked`] polls the future with a waker of its
//! own and, while it is pending, yields its CPU for a short while and then parks with
//! `std::thread::park` (a futex on Linux). Yielding rather than spinning on a pause hint matters
//! when the worker that will wake us shares our CPU: it runs at once instead of after our spin.
//! A wake that lands while we yield costs no futex wake, and on virtual machines a sleeping CPU
//! can take tens of microseconds to wake up. A process confined to one CPU parks at once: there,
//! staying awake only delays the worker that would wake us.
//!
//! Deadlines are kept here too, on the caller's own clock, rather than with tokio timers: a
//! timer fires only when a worker drives it, so a runtime whose workers are all stuck would
//! never time a call out, and a zero timeout would wait for the next timer tick.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// How long to keep yielding before parking: about one round trip to an idle runtime worker.
const YIELD_FOR: Duration = Duration::from_micros(50);

/// Wakes one blocked caller thread.
struct Signal {
    thread: Thread,
    woken: AtomicBool,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.woken.swap(true, Ordering::Release) {
            self.thread.unpark();
        }
    }
}

impl Signal {
    /// Waits until woken or until `deadline`. Returns false when the deadline passed first.
    fn wait(&self, deadline: Option<Instant>) -> bool {
        if several_cpus() {
            let started = Instant::now();
            let yield_until = deadline.map_or(started + YIELD_FOR, |d| d.min(started + YIELD_FOR));
            while !self.woken.load(Ordering::Acquire) {
                if Instant::now() >= yield_until {
                    break;
                }
                thread::yield_now();
            }
        }
        while !self.woken.load(Ordering::Acquire) {
            match deadline {
                None => thread::park(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    thread::park_timeout(deadline - now);
                }
            }
        }
        true
    }
}

/// Whether this process may run on more than one CPU. With one, staying awake only delays the
/// worker that would wake us, so we park at once.
pub(crate) fn several_cpus() -> bool {
    static SEVERAL: OnceLock<bool> = OnceLock::new();
    *SEVERAL.get_or_init(|| thread::available_parallelism().is_ok_and(|n| n.get() > 1))
}

thread_local! {
    /// One signal per thread, reused across calls. Empty while lent out, so a nested call on
    /// the same thread (possible inside `block_in_place`) makes its own.
    static SIGNAL: Cell<Option<(Arc<Signal>, Waker)>> = const { Cell::new(None) };
}

/// This thread's signal, returned to the thread-local slot on drop.
struct Lease(Option<(Arc<Signal>, Waker)>);

impl Lease {
    fn take() -> Self {
        let lent = SIGNAL.take().unwrap_or_else(|| {
            let signal = Arc::new(Signal {
                thread: thread::current(),
                woken: AtomicBool::new(false),
            });
            let waker = Waker::from(Arc::clone(&signal));
            (signal, waker)
        });
        Self(Some(lent))
    }

    fn parts(&self) -> (&Signal, &Waker) {
        let (signal, waker) = self.0.as_ref().expect("lease is held until drop");
        (signal, waker)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Through `with`: `LocalKey::set` takes a slower path meant for lazy initialisers.
        SIGNAL.with(|slot| slot.set(self.0.take()));
    }
}

/// The deadline passed before the future finished.
#[derive(Debug)]
pub(crate) struct Elapsed;

pin_project_lite::pin_project! {
    /// Drives `inner` on the calling thread until it finishes or `deadline` passes, parking the
    /// thread on its own signal while the future is pending.
    pub(crate) struct Parked<F> {
        #[pin]
        inner: F,
        deadline: Option<Instant>,
    }
}

impl<F> Parked<F> {
    /// `deadline` of `None` means no limit. A deadline already passed polls the future once.
    pub(crate) fn new(inner: F, deadline: Option<Instant>) -> Self {
        Self { inner, deadline }
    }
}

impl<F: Future> Future for Parked<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut inner = this.inner;
        let deadline = *this.deadline;
        let passed = || deadline.is_some_and(|deadline| Instant::now() >= deadline);
        // Most calls are ready at once: try that before setting up a waker of our own.
        if let Poll::Ready(output) = inner.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        if passed() {
            return Poll::Ready(Err(Elapsed));
        }
        let lease = Lease::take();
        let (signal, waker) = lease.parts();
        let mut own = Context::from_waker(waker);
        loop {
            signal.woken.store(false, Ordering::Relaxed);
            if let Poll::Ready(output) = inner.as_mut().poll(&mut own) {
                return Poll::Ready(Ok(output));
            }
            if signal.woken.load(Ordering::Acquire) {
                // Woken during the poll itself, as tokio's cooperative budget does when it runs
                // out: hand back to tokio's block_on, which polls again with a fresh budget.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            if !signal.wait(deadline) || passed() {
                return Poll::Ready(Err(Elapsed));
            }
        }
    }
}

/// Runs `fut` to completion on this thread, parking it on its own signal while the future is
/// pending, until `deadline` passes. For threads outside any runtime: the caller enters the
/// runtime's context first.
#[inline]
pub(crate) fn block_on<F: Future>(fut: F, deadline: Option<Instant>) -> Result<F::Output, Elapsed> {
    let mut fut = std::pin::pin!(fut);
    let lease = Lease::take();
    let (signal, waker) = lease.parts();
    let mut cx = Context::from_waker(waker);
    loop {
        signal.woken.store(false, Ordering::Relaxed);
        if let Poll::Ready(output) = fut.as_mut().poll(&mut cx) {
            return Ok(output);
        }
        let passed = || deadline.is_some_and(|deadline| Instant::now() >= deadline);
        if passed() || !signal.wait(deadline) {
            return Err(Elapsed);
        }
    }
}
