//! Sources and checks for `tests/record.rs`.
//!
//! Every test source counts what it really produced, so a lost item shows as a difference from
//! the summary's `emitted` (which the recording computes from its parts), and reports the name
//! of the thread it was dropped on through a channel, so a test can wait for the drop under a
//! timeout and check where it happened.

#![allow(
    dead_code,
    reason = "record.rs uses most helpers, but not every combination of them"
)]

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Once, mpsc};
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use futures_core::Stream;
use syncportal::{End, LiveSummary, Summary};
use tokio::sync::mpsc as tokio_mpsc;

use crate::common::CustomPayload;

/// One step of a scripted source.
#[derive(Debug)]
pub(crate) enum Step<T> {
    /// Yield this item.
    Yield(T),
    /// Panic with `CustomPayload { code }`.
    Panic(u32),
}

/// What a source does once its script runs out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Then {
    /// End the stream.
    End,
    /// Stay pending forever, without registering a waker: only a cancel ends it.
    Hang,
}

/// A stream that plays a script, counts every item it yields, optionally waits for a permit
/// per item, and reports the thread it is dropped on.
pub(crate) struct Source<T> {
    script: Box<dyn Iterator<Item = Step<T>> + Send>,
    then: Then,
    produced: Arc<AtomicU64>,
    /// When set, each item waits for one permit sent by the test.
    gate: Option<tokio_mpsc::UnboundedReceiver<()>>,
    dropped: mpsc::Sender<Option<String>>,
}

/// The test's side of a [`Source`]: what it produced and where it was dropped.
#[derive(Debug)]
pub(crate) struct SourceProbe {
    produced: Arc<AtomicU64>,
    dropped: mpsc::Receiver<Option<String>>,
}

/// Sends permits to a gated [`Source`], one item each.
#[derive(Debug, Clone)]
pub(crate) struct Gate(tokio_mpsc::UnboundedSender<()>);

impl Gate {
    /// Lets the source yield one more item.
    pub(crate) fn open_one(&self) {
        self.0.send(()).expect("the source is alive");
    }
}

impl<T: Send + 'static> Source<T> {
    /// A source that plays `script`, then does `then`.
    pub(crate) fn script(
        script: impl IntoIterator<Item = Step<T>, IntoIter: Send + 'static>,
        then: Then,
    ) -> (Self, SourceProbe) {
        let produced = Arc::new(AtomicU64::new(0));
        let (tx, rx) = mpsc::channel();
        let source = Self {
            script: Box::new(script.into_iter()),
            then,
            produced: Arc::clone(&produced),
            gate: None,
            dropped: tx,
        };
        let probe = SourceProbe {
            produced,
            dropped: rx,
        };
        (source, probe)
    }

    /// A source that yields `items`, then does `then`.
    pub(crate) fn items(
        items: impl IntoIterator<Item = T, IntoIter: Send + 'static>,
        then: Then,
    ) -> (Self, SourceProbe) {
        Self::script(items.into_iter().map(Step::Yield), then)
    }

    /// Makes every item wait for a permit from the returned [`Gate`].
    pub(crate) fn gated(mut self) -> (Self, Gate) {
        let (tx, rx) = tokio_mpsc::unbounded_channel();
        self.gate = Some(rx);
        (self, Gate(tx))
    }
}

/// 0, 1, 2, ... `count - 1` as `u64`, then `then`.
pub(crate) fn numbers(count: u64, then: Then) -> (Source<u64>, SourceProbe) {
    Source::items(0..count, then)
}

/// 0, 1, 2, ... for ever.
pub(crate) fn endless() -> (Source<u64>, SourceProbe) {
    Source::items(0.., Then::End)
}

impl<T> Stream for Source<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        if let Some(gate) = &mut this.gate {
            match gate.poll_recv(cx) {
                Poll::Ready(Some(())) => {}
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
        match this.script.next() {
            Some(Step::Yield(item)) => {
                this.produced.fetch_add(1, SeqCst);
                Poll::Ready(Some(item))
            }
            Some(Step::Panic(code)) => std::panic::panic_any(CustomPayload { code }),
            None => match this.then {
                Then::End => Poll::Ready(None),
                Then::Hang => Poll::Pending,
            },
        }
    }
}

impl<T> Drop for Source<T> {
    fn drop(&mut self) {
        let _ = self
            .dropped
            .send(thread::current().name().map(str::to_owned));
    }
}

impl SourceProbe {
    /// Items the source has yielded so far.
    pub(crate) fn produced(&self) -> u64 {
        self.produced.load(SeqCst)
    }

    /// A second handle on the produced count, for a poll function or another thread.
    pub(crate) fn counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.produced)
    }

    /// Waits up to `secs` for the source to be dropped and returns the dropping thread's name;
    /// panics if it was not dropped in time.
    pub(crate) fn dropped_within(&self, secs: u64) -> Option<String> {
        self.dropped
            .recv_timeout(Duration::from_secs(secs))
            .unwrap_or_else(|_| panic!("the source was not dropped within {secs} s"))
    }

    /// Whether the source has been dropped already (non-blocking).
    pub(crate) fn is_dropped(&self) -> bool {
        match self.dropped.try_recv() {
            Ok(_) | Err(mpsc::TryRecvError::Disconnected) => true,
            Err(mpsc::TryRecvError::Empty) => false,
        }
    }
}

/// A drop report for a poll closure: reports the thread the closure is dropped on.
#[derive(Debug)]
pub(crate) struct DropReport(mpsc::Sender<Option<String>>);

impl DropReport {
    pub(crate) fn new() -> (Self, mpsc::Receiver<Option<String>>) {
        let (tx, rx) = mpsc::channel();
        (Self(tx), rx)
    }
}

impl Drop for DropReport {
    fn drop(&mut self) {
        let _ = self.0.send(thread::current().name().map(str::to_owned));
    }
}

/// Waits (spinning, under a deadline) until the recording has ended and the producer has let
/// go of everything it held: the summary's `emitted` has caught up with what the source really
/// produced. A lost item that was never counted keeps them apart, and this fails.
pub(crate) fn settle(live: &LiveSummary, produced: &AtomicU64, secs: u64) -> Summary {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let summary = live.get();
        let produced = produced.load(SeqCst);
        if summary.end.is_some() && summary.emitted == produced {
            return summary;
        }
        assert!(
            Instant::now() < deadline,
            "the recording did not settle within {secs} s: source produced {produced}, \
             summary {summary:#?}"
        );
        thread::yield_now();
    }
}

/// Waits (spinning, under a deadline) until the recording has ended, and checks that it ended
/// with `end`.
#[track_caller]
pub(crate) fn wait_for_end(live: &LiveSummary, end: End, secs: u64) -> Summary {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let summary = live.get();
        if summary.end.is_some() {
            assert_eq!(summary.end, Some(end), "{summary:#?}");
            return summary;
        }
        assert!(
            Instant::now() < deadline,
            "the recording did not end within {secs} s: {summary:#?}"
        );
        thread::yield_now();
    }
}

/// The counting invariant and the end-of-recording fields, checked after every scenario.
#[track_caller]
pub(crate) fn check_ended(summary: &Summary, produced: u64, end: End) {
    assert!(summary.balances(), "counts do not balance: {summary:#?}");
    assert_eq!(
        summary.emitted, produced,
        "the summary's emitted differs from what the source produced: {summary:#?}"
    );
    assert_eq!(summary.end, Some(end), "{summary:#?}");
    let finished_at = summary
        .finished_at
        .unwrap_or_else(|| panic!("an ended recording has no finished_at: {summary:#?}"));
    assert!(
        finished_at >= summary.started_at,
        "finished before it started: {summary:#?}"
    );
}

/// Keeps the expected panics of test sources (payload [`CustomPayload`]) out of the test
/// output; every other panic still reaches the previous hook.
pub(crate) fn quiet_source_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.payload().is::<CustomPayload>() {
                previous(info);
            }
        }));
    });
}
