//! The slow-poll detector: a warning when one `poll` of a watched future runs too long.
//!
//! Timing every poll with `Instant::now` would cost two clock reads per poll, as much as a
//! whole ready call through the portal. Instead each watched future has a slot, and a poll
//! only marks it "in a poll" on entry and "idle" on exit: two relaxed stores, and one load to
//! see whether the monitor naps. One monitor thread (`syncportal-watch`) looks at the slots
//! every quarter of the smallest threshold: it stamps a poll it sees for the first time with
//! its own clock, and a poll still running a threshold after its stamp gets one `tracing`
//! warning, while it is still stuck. The stamp is at most one beat late, so the time reported
//! is a lower bound and a warning never fires early.
//!
//! The monitor falls back to a slow beat after a second without any poll in progress, and the
//! next poll wakes it.
//!
//! A task has a slot of its own. Portal calls share one slot per calling thread, found through
//! a thread-local cell with no destructor (one load per call); when the thread exits, its slot
//! goes to a free list for the next new thread, so slots are never more than the most threads
//! that made watched calls at once.

use std::borrow::Cow;
use std::cell::Cell;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError, Weak};
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

/// The default threshold.
pub(crate) const DEFAULT_THRESHOLD: Duration = Duration::from_millis(100);

/// How long the monitor beats fast with no poll in progress before it naps.
const BUSY_FOR: Duration = Duration::from_secs(1);

/// The nap's beat: a poll that started while the monitor napped and never woke it (a rare
/// race) is still caught within this.
const NAP: Duration = Duration::from_secs(1);

/// Whether the monitor naps: a poll that sees it set wakes the monitor. A static rather than a
/// field, so that a poll reads it without going through the monitor's `OnceLock`.
static NAPPING: AtomicBool = AtomicBool::new(false);

/// A slot's `since` between polls.
const IDLE: u64 = 0;
/// A slot's `since` in a poll the monitor has not stamped yet; a stamp is its clock plus two.
const UNSTAMPED: u64 = 1;

struct Monitor {
    epoch: Instant,
    slots: Mutex<Vec<Weak<Slot>>>,
    /// The beat, in nanoseconds: a quarter of the smallest threshold registered.
    beat: AtomicU64,
    wake: Condvar,
    woken: Mutex<bool>,
}

/// One watched future (a task), or one thread's calls.
pub(crate) struct Slot {
    /// What the warning names: the task's future type, or the calling thread. Read only to
    /// warn; a call slot is renamed when another thread reuses it.
    name: Mutex<Cow<'static, str>>,
    threshold: AtomicU64,
    /// [`IDLE`], [`UNSTAMPED`], or the monitor's clock when it first saw the poll in progress,
    /// plus two.
    since: AtomicU64,
    /// The `since` of the last poll reported, so each slow poll is reported once.
    reported: AtomicU64,
}

fn monitor() -> &'static Monitor {
    static MONITOR: OnceLock<Monitor> = OnceLock::new();
    MONITOR.get_or_init(|| {
        let spawned = thread::Builder::new()
            .name("syncportal-watch".to_owned())
            .spawn(|| monitor().run());
        if let Err(err) = spawned {
            tracing::warn!(
                target: "syncportal::slow_poll",
                "could not start the slow-poll monitor thread, so slow polls go unreported: {err}"
            );
        }
        Monitor {
            epoch: Instant::now(),
            slots: Mutex::new(Vec::new()),
            beat: AtomicU64::new(nanos(DEFAULT_THRESHOLD / 4)),
            wake: Condvar::new(),
            woken: Mutex::new(false),
        }
    })
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl Monitor {
    fn register(&self, slot: &Arc<Slot>) {
        self.beat_for(Duration::from_nanos(slot.threshold.load(Ordering::Relaxed)));
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::downgrade(slot));
    }

    /// Beats at least every quarter of `threshold` from now on.
    fn beat_for(&self, threshold: Duration) {
        let beat = nanos(threshold / 4).clamp(
            nanos(Duration::from_millis(1)),
            nanos(Duration::from_millis(250)),
        );
        self.beat.fetch_min(beat, Ordering::Relaxed);
    }

    fn now(&self) -> u64 {
        nanos(self.epoch.elapsed())
    }

    fn run(&self) {
        let mut quiet_since = Instant::now();
        loop {
            if NAPPING.load(Ordering::Acquire) {
                let woken = self.woken.lock().unwrap_or_else(PoisonError::into_inner);
                let (mut woken, _) = self
                    .wake
                    .wait_timeout_while(woken, NAP, |woken| !*woken)
                    .unwrap_or_else(PoisonError::into_inner);
                if std::mem::take(&mut *woken) {
                    // A poll started: polls are running again, whether or not the beats happen
                    // to land inside one.
                    quiet_since = Instant::now();
                }
                drop(woken);
                NAPPING.store(false, Ordering::Release);
            } else {
                thread::sleep(Duration::from_nanos(self.beat.load(Ordering::Relaxed)));
            }
            let busy = self.scan(self.now());
            if busy {
                quiet_since = Instant::now();
            } else if quiet_since.elapsed() >= BUSY_FOR {
                NAPPING.store(true, Ordering::Release);
            }
        }
    }

    /// Looks at every slot; returns whether any poll is in progress.
    fn scan(&self, now: u64) -> bool {
        let mut busy = false;
        let mut reports = Vec::new();
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|slot| {
                let Some(slot) = slot.upgrade() else {
                    return false;
                };
                let since = slot.since.load(Ordering::Relaxed);
                match since {
                    IDLE => {}
                    UNSTAMPED => {
                        busy = true;
                        // Fails only when the poll ended meanwhile (or a new one started after
                        // it, which the next beat stamps).
                        let _ = slot.since.compare_exchange(
                            UNSTAMPED,
                            now + 2,
                            Ordering::Relaxed,
                            Ordering::Relaxed,
                        );
                    }
                    stamped => {
                        busy = true;
                        let running = now.saturating_sub(stamped - 2);
                        let threshold = slot.threshold.load(Ordering::Relaxed);
                        if running >= threshold
                            && slot.reported.swap(since, Ordering::Relaxed) != since
                        {
                            reports.push((slot, running, threshold));
                        }
                    }
                }
                true
            });
        for (slot, running, threshold) in reports {
            let name = slot
                .name
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            let running = Duration::from_nanos(running);
            let threshold = Duration::from_nanos(threshold);
            tracing::warn!(
                target: "syncportal::slow_poll",
                task = %name,
                running_ms = u64::try_from(running.as_millis()).unwrap_or(u64::MAX),
                threshold_ms = u64::try_from(threshold.as_millis()).unwrap_or(u64::MAX),
                "a poll of {} has run for at least {running:?} without yielding (threshold \
                 {threshold:?}); blocking code inside async code stalls every task on its \
                 worker: move it to syncportal::offload or tokio::task::spawn_blocking",
                name,
            );
        }
        busy
    }

    fn wake_up(&self) {
        *self.woken.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.wake.notify_one();
    }
}

impl Slot {
    fn new(name: Cow<'static, str>, threshold: Duration) -> Arc<Self> {
        let slot = Arc::new(Self {
            name: Mutex::new(name),
            threshold: AtomicU64::new(nanos(threshold)),
            since: AtomicU64::new(0),
            reported: AtomicU64::new(0),
        });
        monitor().register(&slot);
        slot
    }

    /// Changes the threshold, and the monitor's beat with it.
    fn set_threshold(&self, threshold: Duration) {
        self.threshold.store(nanos(threshold), Ordering::Relaxed);
        monitor().beat_for(threshold);
    }

    #[inline]
    fn enter(&self) -> InPoll<'_> {
        self.since.store(UNSTAMPED, Ordering::Relaxed);
        // One poller wakes a napping monitor; the rest see the flag already cleared.
        if NAPPING.load(Ordering::Relaxed) && NAPPING.swap(false, Ordering::AcqRel) {
            monitor().wake_up();
        }
        InPoll(self)
    }
}

/// Marks the end of a poll, also when the poll panics.
struct InPoll<'a>(&'a Slot);

impl Drop for InPoll<'_> {
    #[inline]
    fn drop(&mut self) {
        self.0.since.store(IDLE, Ordering::Relaxed);
    }
}

thread_local! {
    /// This thread's slot for portal calls, once it has made a watched call, and the threshold
    /// it was last set to. Plain cells without destructors, so a call reads them with a load
    /// each; the slot outlives the thread and is reused (see [`GiveBackOnExit`]).
    static CALL_SLOT: Cell<Option<&'static Arc<Slot>>> = const { Cell::new(None) };
    static CALL_THRESHOLD: Cell<Duration> = const { Cell::new(Duration::ZERO) };
    /// Gives this thread's call slot back to [`FREE_CALL_SLOTS`] when the thread exits.
    static GIVE_BACK_ON_EXIT: GiveBackOnExit = const { GiveBackOnExit };
}

/// Call slots of threads that have exited, for the next threads to reuse. A call slot is made
/// once and kept for the life of the process, so there are never more than the most threads
/// that were watched at once.
static FREE_CALL_SLOTS: Mutex<Vec<&'static Arc<Slot>>> = Mutex::new(Vec::new());

struct GiveBackOnExit;

impl Drop for GiveBackOnExit {
    fn drop(&mut self) {
        // `CALL_SLOT` has no destructor, so it is still readable while the thread exits.
        if let Some(slot) = CALL_SLOT.take() {
            FREE_CALL_SLOTS
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(slot);
        }
    }
}

/// This thread's call slot.
#[inline]
fn call_slot(threshold: Duration) -> &'static Arc<Slot> {
    match CALL_SLOT.get() {
        Some(slot) => slot,
        None => first_call_slot(threshold),
    }
}

/// A call slot for a thread that has none yet: one an exited thread left, or a new one.
#[cold]
fn first_call_slot(threshold: Duration) -> &'static Arc<Slot> {
    let thread = thread::current();
    let name = format!(
        "a portal call on thread '{}'",
        thread.name().unwrap_or("unnamed")
    );
    let reused = FREE_CALL_SLOTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .pop();
    let slot: &'static Arc<Slot> = match reused {
        Some(slot) => {
            *slot.name.lock().unwrap_or_else(PoisonError::into_inner) = Cow::Owned(name);
            slot.set_threshold(threshold);
            slot
        }
        None => Box::leak(Box::new(Slot::new(Cow::Owned(name), threshold))),
    };
    CALL_SLOT.set(Some(slot));
    CALL_THRESHOLD.set(threshold);
    // Fails only on a thread already past its thread-local destructors: that one slot is then
    // kept, not reused.
    let _ = GIVE_BACK_ON_EXIT.try_with(|_| ());
    slot
}

/// Runs `f` with this thread's call slot, set to `threshold`; with no threshold, with none.
pub(crate) fn with_call_slot<R>(
    threshold: Option<Duration>,
    f: impl FnOnce(Option<&Slot>) -> R,
) -> R {
    let Some(threshold) = threshold else {
        return f(None);
    };
    let slot = call_slot(threshold);
    // Most threads call one portal: skip the store, and its cache traffic, when unchanged.
    if CALL_THRESHOLD.get() != threshold {
        CALL_THRESHOLD.set(threshold);
        slot.set_threshold(threshold);
    }
    f(Some(slot))
}

/// A slot for a spawned task, named after its future's type; none without a threshold.
pub(crate) fn task_slot<F>(threshold: Option<Duration>) -> Option<Arc<Slot>> {
    threshold.map(|threshold| Slot::new(Cow::Borrowed(std::any::type_name::<F>()), threshold))
}

pin_project_lite::pin_project! {
    /// A future whose polls are watched through `slot`; without a slot, the future as is.
    pub(crate) struct Watched<F, S> {
        #[pin]
        inner: F,
        slot: Option<S>,
    }
}

impl<F, S> Watched<F, S> {
    pub(crate) fn new(inner: F, slot: Option<S>) -> Self {
        Self { inner, slot }
    }
}

impl<F: Future, S: Deref<Target = Slot>> Future for Watched<F, S> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _in_poll = this.slot.as_deref().map(Slot::enter);
        this.inner.poll(cx)
    }
}
