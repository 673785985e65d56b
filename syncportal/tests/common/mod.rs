//! Helpers shared by the integration tests: a watchdog for anything that could hang, and small
//! probes that record whether a future was polled or dropped.

#![allow(
    dead_code,
    reason = "every test binary compiles this module but each uses only some of the helpers"
)]

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use futures_core::Stream;
use syncportal::Portal;

/// Runs `f` on its own thread and returns its result, or panics loudly if it has not finished
/// within `secs` seconds. A panic inside `f` (a failed assertion) resumes here with its payload.
pub(crate) fn watchdog<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name("watched-test".to_owned())
        .spawn(move || {
            let result = panic::catch_unwind(AssertUnwindSafe(f));
            // The receiver is gone only when the watchdog already fired.
            let _ = tx.send(result);
        })
        .expect("spawn the watched test thread");
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(Ok(value)) => value,
        Ok(Err(payload)) => panic::resume_unwind(payload),
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("watchdog: test hung for {secs} s"),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            panic!("watchdog: the watched thread died without a result")
        }
    }
}

/// Spins (yielding the CPU) until `condition` holds, or panics after `secs` seconds. For states
/// that can only be observed by asking, such as `Task::is_finished` or runtime metrics.
pub(crate) fn spin_until(secs: u64, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "gave up after {secs} s waiting until {what}"
        );
        thread::yield_now();
    }
}

/// A plain tokio multi-thread runtime with `workers` workers and every driver.
pub(crate) fn multi_thread_runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("build a multi-thread runtime")
}

/// A plain tokio current-thread runtime with every driver.
pub(crate) fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a current-thread runtime")
}

/// Resumes a panic from a tokio task, so a failed assertion inside it fails the test.
pub(crate) fn joined<T>(result: Result<T, tokio::task::JoinError>) -> T {
    result.unwrap_or_else(|err| panic::resume_unwind(err.into_panic()))
}

/// A private portal with `workers` worker threads.
pub(crate) fn portal(workers: usize) -> Portal {
    Portal::builder()
        .worker_threads(workers)
        .build()
        .expect("build a test portal")
}

/// Occupies the only worker of a one-worker portal with a task that blocks its thread, and
/// returns once it runs. Dropping (or sending on) the returned sender releases the worker.
pub(crate) fn block_the_only_worker(portal: &Portal) -> mpsc::Sender<()> {
    let (started, running) = mpsc::channel();
    let (release, hold) = mpsc::channel::<()>();
    portal
        .spawn(async move {
            started.send(()).expect("signal");
            // Deliberately blocks the worker thread, as CPU-bound or blocking code would.
            let _ = hold.recv();
        })
        .expect("spawn")
        .detach();
    running.recv().expect("the blocker is running");
    release
}

/// Counts how many times it was dropped. Clones share the count; only the original counts.
#[derive(Debug, Clone, Default)]
pub(crate) struct DropCount(Arc<AtomicUsize>);

impl DropCount {
    /// A guard that increments this count when dropped.
    pub(crate) fn guard(&self) -> DropGuard {
        DropGuard {
            count: Arc::clone(&self.0),
            tx: None,
        }
    }

    pub(crate) fn get(&self) -> usize {
        self.0.load(SeqCst)
    }
}

/// Increments a [`DropCount`] and sends on a channel, if one was given, when dropped.
#[derive(Debug)]
pub(crate) struct DropGuard {
    count: Arc<AtomicUsize>,
    tx: Option<mpsc::Sender<()>>,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.count.fetch_add(1, SeqCst);
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(());
        }
    }
}

/// A guard that signals the returned receiver when dropped (from any thread).
pub(crate) fn drop_signal() -> (DropGuard, mpsc::Receiver<()>) {
    let (tx, rx) = mpsc::channel();
    let guard = DropGuard {
        count: Arc::default(),
        tx: Some(tx),
    };
    (guard, rx)
}

/// Counts polls of a future (or of a stream's `poll_next`). Clones share the count.
#[derive(Debug, Clone, Default)]
pub(crate) struct PollCount(Arc<AtomicUsize>);

impl PollCount {
    pub(crate) fn get(&self) -> usize {
        self.0.load(SeqCst)
    }

    pub(crate) fn hit(&self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// A future that counts its polls, never completes, and holds a drop guard.
#[derive(Debug)]
pub(crate) struct Probe {
    polls: PollCount,
    _guard: DropGuard,
}

/// A pending-forever future that records polls in `polls` and drops in `drops`.
pub(crate) fn probe(polls: &PollCount, drops: &DropCount) -> Probe {
    Probe {
        polls: polls.clone(),
        _guard: drops.guard(),
    }
}

impl Future for Probe {
    type Output = u32;

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<u32> {
        self.polls.hit();
        Poll::Pending
    }
}

/// A stream that counts its polls, never yields, and holds a drop guard.
#[derive(Debug)]
pub(crate) struct ProbeStream {
    polls: PollCount,
    _guard: DropGuard,
}

/// A never-yielding stream that records polls in `polls` and drops in `drops`.
pub(crate) fn probe_stream(polls: &PollCount, drops: &DropCount) -> ProbeStream {
    ProbeStream {
        polls: polls.clone(),
        _guard: drops.guard(),
    }
}

impl Stream for ProbeStream {
    type Item = u32;

    fn poll_next(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<u32>> {
        self.polls.hit();
        Poll::Pending
    }
}

/// A payload type for `std::panic::panic_any`, to check that the original payload survives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CustomPayload {
    pub(crate) code: u32,
}

/// Runs `f`, expecting a panic, and returns its payload.
pub(crate) fn expect_panic<R>(f: impl FnOnce() -> R) -> Box<dyn std::any::Any + Send> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected a panic, but the call returned"),
        Err(payload) => payload,
    }
}

/// Panics with a `&'static str` payload after one suspension point.
pub(crate) async fn panics_with_str() -> u32 {
    tokio::task::yield_now().await;
    panic!("str payload")
}

/// Panics with a `String` payload after one suspension point.
pub(crate) async fn panics_with_string(n: u32) -> u32 {
    tokio::task::yield_now().await;
    panic!("string payload {n}")
}

/// Panics with a [`CustomPayload`] after one suspension point.
pub(crate) async fn panics_with_custom(code: u32) -> u32 {
    tokio::task::yield_now().await;
    panic::panic_any(CustomPayload { code })
}

/// Asserts that `payload` is the `&str` raised by [`panics_with_str`].
pub(crate) fn assert_str_payload(payload: &(dyn std::any::Any + Send)) {
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"str payload"));
}

/// Asserts that `payload` is the `String` raised by [`panics_with_string`] with `n`.
pub(crate) fn assert_string_payload(payload: &(dyn std::any::Any + Send), n: u32) {
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some(format!("string payload {n}").as_str())
    );
}

/// Asserts that `payload` is the [`CustomPayload`] raised by [`panics_with_custom`] with `code`.
pub(crate) fn assert_custom_payload(payload: &(dyn std::any::Any + Send), code: u32) {
    assert_eq!(
        payload.downcast_ref::<CustomPayload>(),
        Some(&CustomPayload { code })
    );
}
