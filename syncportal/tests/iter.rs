//! Streams read as blocking iterators: laziness, `next_timeout`, the end of a stream, `close`,
//! dropping the iterator, and the portal's shutdown.

mod common;

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, mpsc};
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use common::{DropCount, DropGuard, PollCount, portal, probe_stream, watchdog};
use futures_core::Stream;
use syncportal::{BlockingIter, Error, Portal};
use tokio::sync::mpsc as tokio_mpsc;
use tokio::time::Sleep;

/// An endless stream of 0, 1, 2, ... that counts the items it produced.
struct Counter {
    produced: Arc<AtomicUsize>,
}

impl Stream for Counter {
    type Item = usize;

    fn poll_next(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<usize>> {
        Poll::Ready(Some(self.produced.fetch_add(1, SeqCst)))
    }
}

/// Yields what arrives on a tokio channel; ends when every sender is gone.
struct Channel(tokio_mpsc::UnboundedReceiver<u32>);

impl Stream for Channel {
    type Item = u32;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<u32>> {
        self.0.poll_recv(cx)
    }
}

/// Yields 0, 1, 2, ... each after a tokio sleep of `every`: a slow stream with state between
/// polls.
struct Ticker {
    every: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    next: u32,
}

impl Stream for Ticker {
    type Item = u32;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<u32>> {
        let every = self.every;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(every)));
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.sleep = None;
        self.next += 1;
        Poll::Ready(Some(self.next - 1))
    }
}

/// Yields `remaining` items counting down, then ends. Counts polls and drops.
struct Countdown {
    remaining: u32,
    polls: PollCount,
    _guard: DropGuard,
}

impl Stream for Countdown {
    type Item = u32;

    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<u32>> {
        self.polls.hit();
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        self.remaining -= 1;
        Poll::Ready(Some(self.remaining))
    }
}

/// What a stream's `Drop` saw.
#[derive(Debug, PartialEq, Eq)]
enum Cleanup {
    /// Sent from `Drop` itself: whether a tokio runtime context was current.
    InRuntime(bool),
    /// Sent by the task that `Drop` spawned, with the name of the thread it ran on.
    SpawnedTaskRan(Option<String>),
}

/// An endless stream of ones whose `Drop` does async cleanup with `tokio::spawn`.
struct NeedsCleanup {
    _guard: DropGuard,
    report: mpsc::Sender<Cleanup>,
}

fn needs_cleanup() -> (NeedsCleanup, DropCount, mpsc::Receiver<Cleanup>) {
    let drops = DropCount::default();
    let (report, reports) = mpsc::channel();
    let stream = NeedsCleanup {
        _guard: drops.guard(),
        report,
    };
    (stream, drops, reports)
}

impl Stream for NeedsCleanup {
    type Item = u8;

    fn poll_next(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<u8>> {
        Poll::Ready(Some(1))
    }
}

impl Drop for NeedsCleanup {
    fn drop(&mut self) {
        let in_runtime = tokio::runtime::Handle::try_current().is_ok();
        let _ = self.report.send(Cleanup::InRuntime(in_runtime));
        if in_runtime {
            let report = self.report.clone();
            tokio::spawn(async move {
                tokio::task::yield_now().await;
                let name = thread::current().name().map(str::to_owned);
                let _ = report.send(Cleanup::SpawnedTaskRan(name));
            });
        }
    }
}

/// Asserts that the stream behind `reports` was cleaned up inside the runtime of a portal whose
/// threads are named `prefix-N`, and that the task its `Drop` spawned ran.
fn assert_cleaned_up_in_runtime(reports: &mpsc::Receiver<Cleanup>, prefix: &str) {
    // Sent synchronously by Drop: already there, no waiting.
    assert_eq!(reports.try_recv(), Ok(Cleanup::InRuntime(true)));
    match reports.recv() {
        Ok(Cleanup::SpawnedTaskRan(Some(name))) => assert!(
            name.starts_with(&format!("{prefix}-")),
            "the cleanup task ran on {name:?}"
        ),
        other => panic!("the cleanup task did not run: {other:?}"),
    }
}

fn named_portal(prefix: &str) -> Portal {
    Portal::builder()
        .worker_threads(1)
        .thread_name(prefix)
        .build()
        .expect("build")
}

#[test]
fn iter_is_lazy_one_item_per_next() {
    let produced = Arc::new(AtomicUsize::new(0));
    let mut items = Portal::global().iter(Counter {
        produced: Arc::clone(&produced),
    });
    assert_eq!(
        produced.load(SeqCst),
        0,
        "nothing is read before the first next()"
    );
    assert_eq!(items.next(), Some(Ok(0)));
    assert_eq!(items.next(), Some(Ok(1)));
    assert_eq!(produced.load(SeqCst), 2, "nothing is read ahead");
    let rest: Vec<usize> = items.by_ref().take(3).map(Result::unwrap).collect();
    assert_eq!(rest, [2, 3, 4]);
    assert_eq!(produced.load(SeqCst), 5);
}

#[test]
fn next_timeout_on_a_silent_stream_loses_nothing() {
    watchdog(20, || {
        let (tx, rx) = tokio_mpsc::unbounded_channel();
        let mut items = Portal::global().iter(Channel(rx));
        assert_eq!(
            items.next_timeout(Duration::from_millis(10)),
            Some(Err(Error::Timeout))
        );
        tx.send(7).expect("the stream is still open");
        tx.send(8).expect("open");
        assert_eq!(items.next_timeout(Duration::from_secs(30)), Some(Ok(7)));
        assert_eq!(items.next(), Some(Ok(8)));
        assert_eq!(
            items.next_timeout(Duration::ZERO),
            Some(Err(Error::Timeout))
        );
        tx.send(9).expect("open");
        drop(tx);
        assert_eq!(items.next_timeout(Duration::ZERO), Some(Ok(9)));
        assert_eq!(items.next(), None);
    });
}

#[test]
fn next_timeout_on_a_slow_stream_keeps_its_place() {
    watchdog(20, || {
        let mut ticks = Portal::global().iter(Ticker {
            every: Duration::from_millis(300),
            sleep: None,
            next: 0,
        });
        assert_eq!(
            ticks.next_timeout(Duration::from_millis(1)),
            Some(Err(Error::Timeout))
        );
        assert_eq!(ticks.next(), Some(Ok(0)));
        assert_eq!(
            ticks.next_timeout(Duration::from_millis(1)),
            Some(Err(Error::Timeout))
        );
        assert_eq!(ticks.next_timeout(Duration::from_secs(30)), Some(Ok(1)));
    });
}

#[test]
fn end_of_stream_is_none_forever_and_drops_the_stream() {
    let (polls, drops) = (PollCount::default(), DropCount::default());
    let mut items = Portal::global().iter(Countdown {
        remaining: 3,
        polls: polls.clone(),
        _guard: drops.guard(),
    });
    assert_eq!(
        items.by_ref().collect::<Result<Vec<_>, _>>(),
        Ok(vec![2, 1, 0])
    );
    assert_eq!(polls.get(), 4);
    assert_eq!(drops.get(), 1, "the stream is dropped when it ends");
    assert_eq!(items.next(), None);
    assert_eq!(items.next_timeout(Duration::from_secs(1)), None);
    assert_eq!(polls.get(), 4, "an ended stream is not polled again");
    drop(items);
    assert_eq!(drops.get(), 1, "and it is dropped only once");
}

#[test]
fn close_drops_the_stream_once_inside_the_runtime() {
    watchdog(20, || {
        let (stream, drops, reports) = needs_cleanup();
        // Kept alive: dropping the last clone would stop the runtime the cleanup spawns onto.
        let portal = named_portal("close-rt");
        let mut items = portal.iter(stream);
        assert_eq!(items.next(), Some(Ok(1)));
        items.close();
        assert_eq!(
            drops.get(),
            1,
            "the stream was dropped before close returned"
        );
        assert_cleaned_up_in_runtime(&reports, "close-rt");
        assert_eq!(items.next(), None);
        assert_eq!(items.next_timeout(Duration::ZERO), None);
        items.close();
        drop(items);
        assert_eq!(drops.get(), 1, "dropped exactly once");
    });
}

#[test]
fn dropping_the_iterator_drops_the_stream_once_inside_the_runtime() {
    watchdog(20, || {
        let (stream, drops, reports) = needs_cleanup();
        // Kept alive: dropping the last clone would stop the runtime the cleanup spawns onto.
        let portal = named_portal("drop-rt");
        let mut items = portal.iter(stream);
        assert_eq!(items.next(), Some(Ok(1)));
        drop(items);
        assert_eq!(
            drops.get(),
            1,
            "the stream was dropped before the iterator's drop returned"
        );
        assert_cleaned_up_in_runtime(&reports, "drop-rt");
    });
}

#[test]
fn dropping_an_unread_iterator_inside_another_runtime_cleans_up_on_the_portal() {
    watchdog(20, || {
        let (stream, drops, reports) = needs_cleanup();
        // Kept alive: dropping the last clone would stop the runtime the cleanup spawns onto.
        let portal = named_portal("own-rt");
        let items = portal.iter(stream);
        let other = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("build");
        other.block_on(async move { drop(items) });
        assert_eq!(drops.get(), 1);
        assert_cleaned_up_in_runtime(&reports, "own-rt");
    });
}

#[test]
fn iterator_after_shutdown_reports_closed_once_then_ends() {
    watchdog(20, || {
        let portal = portal(1);
        let (polls, drops) = (PollCount::default(), DropCount::default());
        let mut items = portal.iter(probe_stream(&polls, &drops));
        portal.shutdown(Duration::ZERO).expect("shutdown");
        assert_eq!(items.next(), Some(Err(Error::Closed)));
        assert_eq!(drops.get(), 1, "the stream is dropped");
        assert_eq!(items.next(), None);
        assert_eq!(items.next_timeout(Duration::ZERO), None);
        assert_eq!(polls.get(), 0);
    });
}

#[test]
fn default_timeout_does_not_bound_the_wait_for_an_item() {
    let item = watchdog(20, || {
        let portal = Portal::builder()
            .default_timeout(Duration::from_millis(10))
            .build()
            .expect("build");
        let mut ticks = portal.iter(Ticker {
            every: Duration::from_millis(100),
            sleep: None,
            next: 0,
        });
        ticks.next()
    });
    assert_eq!(item, Some(Ok(0)));
}

#[test]
fn iterator_moves_between_threads() {
    let produced = Arc::new(AtomicUsize::new(0));
    let mut items: BlockingIter<usize> = Portal::global().iter(Counter {
        produced: Arc::clone(&produced),
    });
    assert_eq!(items.next(), Some(Ok(0)));
    let items = thread::spawn(move || {
        assert_eq!(items.next(), Some(Ok(1)));
        items
    })
    .join()
    .expect("thread");
    assert_eq!(produced.load(SeqCst), 2);
    let text = format!("{items:?}");
    assert!(text.contains("open: true"), "{text}");
}
