//! The async-context guard: block on a future only where blocking is allowed.
//!
//! tokio exposes no "may this thread block?" query (tokio PR #6738 and issue #7769 were closed),
//! and `Handle::try_current()` also succeeds on `spawn_blocking` threads, where blocking is fine.
//! The exact answer lives in tokio's private per-thread "entered" flag, which `Handle::block_on`
//! checks before it first polls the future: on a worker thread, or inside any `block_on`, it
//! panics with "Cannot start a runtime from within a runtime". We let that check fire inside
//! `catch_unwind` and tell it apart from a panic in the user's future by whether the future was
//! ever polled. A thread-local flag marks that window, and a panic hook installed once keeps that
//! one expected panic out of the output while passing every other panic to the previous hook.
//!
//! Most blocking calls come from plain threads with no runtime context at all, which cannot be
//! driving async tasks. Those take a fast path: enter the portal's context and drive the future
//! on our own parker, without tokio's `block_on` bookkeeping. A thread-local mark refuses calls
//! nested inside such a call, which tokio would not see.

use std::cell::Cell;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Once;
use std::task::{Context, Poll};
use std::thread::LocalKey;
use std::time::{Duration, Instant};

use tokio::runtime::Handle;

use crate::Error;
use crate::park::{self, Elapsed, Parked};

thread_local! {
    /// True while this thread runs code whose panics are expected and must stay quiet.
    static QUIET: Cell<bool> = const { Cell::new(false) };
    /// True while this thread drives a call on the fast path, where tokio does not know it.
    static IN_CALL: Cell<bool> = const { Cell::new(false) };
}

/// Sets one of the flags above for a scope, restoring its previous value when dropped, so
/// scopes nest (and unwind) correctly.
struct FlagScope {
    flag: &'static LocalKey<Cell<bool>>,
    previous: bool,
}

impl FlagScope {
    fn enter(flag: &'static LocalKey<Cell<bool>>) -> Self {
        Self {
            flag,
            previous: flag.replace(true),
        }
    }
}

impl Drop for FlagScope {
    fn drop(&mut self) {
        // Through `with`: `LocalKey::set` takes a slower path meant for lazy initialisers.
        self.flag.with(|flag| flag.set(self.previous));
    }
}

static HOOK: Once = Once::new();

/// Wraps the previous panic hook so that panics raised while `QUIET` is set print nothing.
fn install_quiet_hook() {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !QUIET.try_with(Cell::get).unwrap_or(false) {
                previous(info);
            }
        }));
    });
}

pin_project_lite::pin_project! {
    /// Ends the quiet window on its first poll: from then on, panics are the user's.
    struct Polled<F> {
        #[pin]
        inner: F,
        started: bool,
    }
}

impl<F: Future> Future for Polled<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        if !*this.started {
            *this.started = true;
            QUIET.set(false);
        }
        this.inner.poll(cx)
    }
}

/// Whether the guard can rely on `catch_unwind` on this thread right now.
///
/// With `panic = "abort"` a panic cannot be caught, and a panic during unwinding aborts.
fn can_probe() -> bool {
    !cfg!(panic = "abort") && !std::thread::panicking()
}

/// Runs `fut` on the calling thread against `handle`'s runtime until it finishes or `deadline`
/// passes, or returns [`Error::InAsyncContext`] without polling it when this thread must not
/// block. On [`Error::Timeout`] the future has been dropped.
///
/// A panic inside `fut` resumes on the caller with its original payload.
pub(crate) fn block_on_until<F: Future>(
    handle: &Handle,
    fut: F,
    deadline: Option<Instant>,
) -> Result<F::Output, Error> {
    drive(Some(handle), fut, deadline)
}

/// Waits on `fut`, which needs no runtime (a [`Queue`](crate::Queue) operation, say), until it
/// finishes or `deadline` passes, under the same guard as [`block_on_until`]. Works on threads
/// that have never seen a runtime.
pub(crate) fn wait_until<F: Future>(fut: F, deadline: Option<Instant>) -> Result<F::Output, Error> {
    drive(None, fut, deadline)
}

/// The guard and the two ways of driving: `enter` is the runtime whose context the future
/// needs on the fast path, if any.
fn drive<F: Future>(
    enter: Option<&Handle>,
    fut: F,
    deadline: Option<Instant>,
) -> Result<F::Output, Error> {
    if IN_CALL.get() {
        // Nested inside one of our own fast-path calls.
        return Err(Error::InAsyncContext);
    }
    let Ok(current) = Handle::try_current() else {
        // Fast path. No runtime context on this thread means no runtime is driving it and it is
        // inside no tokio `block_on`, so it may block. Enter the context and drive the future
        // ourselves, which skips tokio's per-call bookkeeping and the probe below.
        let _context = enter.map(Handle::enter);
        let _in_call = FlagScope::enter(&IN_CALL);
        return park::block_on(fut, deadline).map_err(|Elapsed| Error::Timeout);
    };
    if !can_probe() {
        // Conservative fallback: any runtime context counts as async, which also refuses
        // `spawn_blocking` threads. Documented as a caveat of `panic = "abort"`.
        return Err(Error::InAsyncContext);
    }
    // A runtime context: a worker, a `block_on`, or a place where blocking is fine
    // (`spawn_blocking`, `block_in_place`, an `EnterGuard`). Only tokio can tell which.
    let handle = enter.unwrap_or(&current);
    probe_and_block_on(handle, Parked::new(fut, deadline))?.map_err(|Elapsed| Error::Timeout)
}

/// Whether the code running now is driven by a blocking portal call on a plain thread, which
/// waits for that call and does nothing else meanwhile.
///
/// There, a future may block its thread for a short while without stalling anybody but its own
/// caller: an SDK can then wait for a reply in the kernel, as a blocking client would, instead
/// of through the runtime's reactor, which costs a wake-up of a runtime worker and a hand-off
/// back to this thread. Everywhere else it is false: on runtime workers, in tasks, inside
/// `block_on`, on threads outside any call, and in calls made from threads that are inside a
/// runtime's context (a `spawn_blocking` thread's calls go through tokio's `block_on`).
///
/// # Examples
///
/// ```
/// let portal = syncportal::Portal::global();
/// assert!(!syncportal::may_block());
/// assert!(portal.call(async { syncportal::may_block() })?);
/// let task = portal.spawn(async { syncportal::may_block() })?;
/// assert!(!task.wait()?);
/// # Ok::<(), syncportal::Error>(())
/// ```
///
/// # Caveats
///
/// A blocking wait inside a call stalls everything else that call drives (the other branches
/// of a `join!`) and cannot be cut short by the call's timeout. Keep such waits short (a
/// millisecond, say) and fall back to waiting the async way when they run out.
#[must_use]
pub fn may_block() -> bool {
    IN_CALL.get()
}

/// Whether the guard lets a blocking call through on this thread at once, without probing:
/// the thread is outside any tokio runtime context (no runtime drives it, it is inside no
/// `block_on`) and outside any of the guard's own blocking calls. A blocking call that can
/// finish without waiting checks only this, then skips the parker and the `Context` the guard
/// would set up; everywhere else it goes through the guard, which decides as before.
pub(crate) fn lets_through_at_once() -> bool {
    !IN_CALL.get() && Handle::try_current().is_err()
}

/// [`block_on_until`] without a deadline.
pub(crate) fn block_on<F: Future>(handle: &Handle, fut: F) -> Result<F::Output, Error> {
    block_on_until(handle, fut, None)
}

/// A deadline `timeout` from now; `None` when it is too far to represent, which means never.
pub(crate) fn deadline(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

fn probe_and_block_on<F: Future>(handle: &Handle, fut: F) -> Result<F::Output, Error> {
    install_quiet_hook();
    let scope = FlagScope::enter(&QUIET);
    let fut = Polled {
        inner: fut,
        started: false,
    };
    match panic::catch_unwind(AssertUnwindSafe(|| handle.block_on(fut))) {
        Ok(output) => Ok(output),
        // Still quiet: tokio refused before the first poll.
        Err(_) if QUIET.get() => Err(Error::InAsyncContext),
        Err(payload) => {
            drop(scope);
            panic::resume_unwind(payload)
        }
    }
}

/// Returns [`Error::InAsyncContext`] when a blocking call on this thread would be refused.
pub(crate) fn check(handle: &Handle) -> Result<(), Error> {
    block_on(handle, std::future::ready(()))
}

/// Runs `f`, turning a panic into `None` without printing it. For probing tokio settings that
/// can only be observed by the panic their absence causes.
pub(crate) fn quietly<R>(f: impl FnOnce() -> R) -> Option<R> {
    if !can_probe() {
        // Cannot catch here: run it plainly, as tokio would have anyway.
        return Some(f());
    }
    install_quiet_hook();
    let _scope = FlagScope::enter(&QUIET);
    panic::catch_unwind(AssertUnwindSafe(f)).ok()
}
