//! Recordings: each overflow policy under a stalled consumer, a slow producer and a racing
//! close; the error policies; early stops, drops, source panics and portal shutdown; the
//! polling grid; the summary, read live from another thread; and the counting invariant after
//! every scenario, checked against what each source really produced.

mod common;
mod record_support;

use std::future::poll_fn;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, mpsc};
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    DropCount, PollCount, assert_custom_payload, expect_panic, portal, probe_stream, spin_until,
    watchdog,
};
use futures_core::Stream;
use record_support::{
    DropReport, Source, SourceProbe, Step, Then, check_ended, endless, numbers,
    quiet_source_panics, settle, wait_for_end,
};
use static_assertions::assert_impl_all;
use syncportal::{
    ConfigError, End, Error, LiveSummary, OnError, Overflow, Portal, RecordError, RecordOptions,
    Recording, Reporter, Summary, SyncRecording,
};

assert_impl_all!(Recording<u64>: Send, Stream, Unpin, std::fmt::Debug);
assert_impl_all!(SyncRecording<u64>: Send, Iterator, std::fmt::Debug);
assert_impl_all!(LiveSummary: Send, Sync, Clone, std::fmt::Debug);
assert_impl_all!(Summary: Send, Sync, Clone);

const POLICIES: [Overflow; 3] = [Overflow::Block, Overflow::DropOldest, Overflow::DropNewest];

/// Seconds to wait for anything that should happen at once (a drop, a settle).
const PROMPT: u64 = 10;

const WORKER_PREFIX: &str = "rec-worker";

/// A two-worker portal whose threads are named `rec-worker-N`.
fn named_portal() -> Portal {
    Portal::builder()
        .worker_threads(2)
        .thread_name(WORKER_PREFIX)
        .build()
        .expect("build a test portal")
}

/// Waits for the source to be dropped and checks it happened on one of the portal's workers,
/// not on the consumer's thread.
#[track_caller]
fn assert_dropped_on_a_worker(probe: &SourceProbe) {
    let name = probe
        .dropped_within(PROMPT)
        .expect("the source was dropped on an unnamed thread");
    assert!(
        name.starts_with(&format!("{WORKER_PREFIX}-")),
        "the source was dropped on {name:?}, not on a worker of the portal"
    );
    assert_ne!(
        Some(name.as_str()),
        thread::current().name(),
        "the source was dropped on the consumer's thread"
    );
}

fn options(capacity: usize, overflow: Overflow) -> RecordOptions {
    RecordOptions::new().capacity(capacity).overflow(overflow)
}

/// Records `source` on `portal`, read through the blocking twin, with its live summary.
fn record_sync<S>(
    portal: &Portal,
    source: S,
    options: RecordOptions,
) -> (SyncRecording<S::Item>, LiveSummary)
where
    S: Stream + Send + 'static,
    S::Item: Send + 'static,
{
    let recording = portal.record(source, options).expect("record").into_sync();
    let live = recording.live_summary();
    (recording, live)
}

/// Everything left in the recording, until its end.
fn drain<T>(recording: &mut SyncRecording<T>) -> Vec<T> {
    recording
        .by_ref()
        .map(|item| item.expect("a plain thread may block"))
        .collect()
}

/// The next `count` items.
fn drain_n(recording: &mut SyncRecording<u64>, count: usize) -> Vec<u64> {
    recording
        .by_ref()
        .take(count)
        .map(|item| item.expect("read"))
        .collect()
}

/// The next item of an async recording.
async fn next_item<T>(recording: &mut Recording<T>) -> Option<T> {
    poll_fn(|cx: &mut Context<'_>| Pin::new(&mut *recording).poll_next(cx)).await
}

fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build the test's own runtime")
}

// ---------------------------------------------------------------------------------------------
// Block

#[test]
fn block_delivers_a_million_items_in_order_with_nothing_lost() {
    const COUNT: u64 = 1_000_000;
    const CAPACITY: usize = 256;
    watchdog(120, || {
        let portal = portal(2);
        let (source, probe) = numbers(COUNT, Then::End);
        let (mut recording, live) =
            record_sync(&portal, source, options(CAPACITY, Overflow::Block));
        let mut expected = 0;
        for item in recording.by_ref() {
            let item = item.expect("a plain thread may block");
            assert_eq!(item, expected, "an item was lost or came out of order");
            expected += 1;
        }
        assert_eq!(expected, COUNT);
        let summary = live.get();
        check_ended(&summary, probe.produced(), End::SourceEnded);
        assert_eq!(
            (summary.delivered, summary.dropped, summary.discarded),
            (COUNT, 0, 0)
        );
        assert_eq!(
            (summary.skipped, summary.buffered, summary.errors),
            (0, 0, 0)
        );
        assert!(summary.high_water >= 1 && summary.high_water <= CAPACITY as u64);
        drop(recording);
        // Dropping a finished recording changes nothing.
        assert_eq!(live.get(), summary);
    });
}

#[test]
fn block_with_a_stalled_consumer_holds_the_producer_then_delivers_everything_in_order() {
    const CAPACITY: usize = 8;
    watchdog(30, || {
        let portal = portal(2);
        let (source, probe) = numbers(40, Then::End);
        let (mut recording, live) =
            record_sync(&portal, source, options(CAPACITY, Overflow::Block));
        // The producer fills the buffer, takes one more item and waits with it for room.
        spin_until(PROMPT, "the producer waits for room", || {
            probe.produced() == CAPACITY as u64 + 1 && live.get().buffered == CAPACITY as u64
        });
        let stalled = live.get();
        assert_eq!(stalled.end, None);
        assert_eq!(stalled.finished_at, None);
        assert!(stalled.balances(), "{stalled:#?}");
        assert_eq!((stalled.delivered, stalled.dropped), (0, 0));
        assert_eq!(stalled.high_water, CAPACITY as u64);
        // The item the producer holds may or may not be counted yet, never more.
        assert!(
            stalled.emitted >= CAPACITY as u64 && stalled.emitted <= CAPACITY as u64 + 1,
            "{stalled:#?}"
        );

        assert_eq!(drain(&mut recording), (0..40).collect::<Vec<u64>>());
        let summary = live.get();
        check_ended(&summary, probe.produced(), End::SourceEnded);
        assert_eq!((summary.delivered, summary.dropped), (40, 0));
        assert_eq!(summary.high_water, CAPACITY as u64);
    });
}

#[test]
fn block_items_the_consumer_took_ahead_count_as_buffered_and_keep_taking_room() {
    const CAPACITY: usize = 64;
    watchdog(30, || {
        let portal = portal(2);
        let (source, probe) = numbers(1000, Then::End);
        let (mut recording, live) =
            record_sync(&portal, source, options(CAPACITY, Overflow::Block));
        spin_until(PROMPT, "the producer waits for room", || {
            probe.produced() == CAPACITY as u64 + 1 && live.get().buffered == CAPACITY as u64
        });
        // The first read takes several items from the buffer under one lock; those not handed
        // out yet still count as buffered, and still fill the buffer: the producer, woken once
        // half of it is free at the earliest, goes on waiting. (Its one item may still go into
        // the slot the read made, if it had not offered it yet; nothing more.)
        assert_eq!(recording.next(), Some(Ok(0)));
        let holding = live.get();
        assert!(holding.balances(), "{holding:#?}");
        assert_eq!(holding.delivered, 1, "{holding:#?}");
        assert_eq!(holding.high_water, CAPACITY as u64, "{holding:#?}");
        assert!(
            holding.buffered >= CAPACITY as u64 - 1 && holding.buffered <= CAPACITY as u64,
            "{holding:#?}"
        );
        assert!(holding.emitted <= CAPACITY as u64 + 1, "{holding:#?}");

        // A read from async code is refused even with items in hand, and takes none of them:
        // in a runtime's `block_on`, and in a portal call from this plain thread.
        let refused = current_thread_runtime().block_on(async { recording.next() });
        assert_eq!(refused, Some(Err(Error::InAsyncContext)));
        let refused = portal.call(async { recording.next() });
        assert_eq!(refused, Ok(Some(Err(Error::InAsyncContext))));
        let after = live.get();
        assert_eq!(after.delivered, holding.delivered, "{after:#?}");
        assert!(after.buffered >= holding.buffered, "{after:#?}");

        assert_eq!(drain_n(&mut recording, 6), [1, 2, 3, 4, 5, 6]);
        let read = live.get();
        assert!(read.balances(), "{read:#?}");
        assert_eq!(read.delivered, 7, "{read:#?}");
        assert!(read.buffered >= CAPACITY as u64 - 7, "{read:#?}");
        assert!(read.buffered <= CAPACITY as u64 - 6, "{read:#?}");

        // Closing discards them with the rest, counted.
        recording.close();
        let summary = settle(&live, &probe.counter(), PROMPT);
        check_ended(&summary, probe.produced(), End::Stopped);
        assert_eq!((summary.delivered, summary.buffered), (7, 0));
        assert_eq!(summary.discarded, summary.emitted - 7, "{summary:#?}");
    });
}

#[test]
fn block_reads_ahead_in_order_through_async_and_sync_reads_and_timeouts() {
    const COUNT: u64 = 5000;
    watchdog(60, || {
        let portal = portal(2);
        let (source, probe) = numbers(COUNT, Then::End);
        let mut recording = portal
            .record(source, options(256, Overflow::Block))
            .expect("record");
        let runtime = current_thread_runtime();
        let mut expected = 0;
        while expected < COUNT {
            // Alternate between the async stream and the blocking iterator, so each side
            // starts with items the other took ahead.
            let chunk = runtime.block_on(async {
                let mut chunk = Vec::new();
                for _ in 0..37 {
                    match next_item(&mut recording).await {
                        Some(n) => chunk.push(n),
                        None => break,
                    }
                }
                chunk
            });
            let mut sync = recording.into_sync();
            let mut items = chunk;
            for _ in 0..41 {
                match sync.next_timeout(Duration::from_secs(PROMPT)) {
                    Some(item) => items.push(item.expect("read")),
                    None => break,
                }
            }
            for n in items {
                assert_eq!(n, expected);
                expected += 1;
            }
            recording = sync.into_async();
        }
        let mut sync = recording.into_sync();
        assert_eq!(sync.next(), None);
        let summary = sync.summary();
        check_ended(&summary, probe.produced(), End::SourceEnded);
        assert_eq!((summary.delivered, summary.buffered), (COUNT, 0));
    });
}

// ---------------------------------------------------------------------------------------------
// Drop policies under a stalled consumer

/// Records 100 items into a buffer of 8 that nobody reads until the source has ended, then
/// reads what is left.
fn stalled_until_the_source_ends(overflow: Overflow) -> (Vec<u64>, Summary) {
    const CAPACITY: usize = 8;
    let portal = named_portal();
    let (source, probe) = numbers(100, Then::End);
    let (mut recording, live) = record_sync(&portal, source, options(CAPACITY, overflow));
    let ended = wait_for_end(&live, End::SourceEnded, PROMPT);
    assert_dropped_on_a_worker(&probe);
    check_ended(&ended, 100, End::SourceEnded);
    assert_eq!(probe.produced(), 100);
    assert_eq!(
        (ended.buffered, ended.dropped, ended.delivered),
        (CAPACITY as u64, 100 - CAPACITY as u64, 0),
        "{ended:#?}"
    );
    assert_eq!(ended.high_water, CAPACITY as u64);

    let items = drain(&mut recording);
    let summary = live.get();
    check_ended(&summary, probe.produced(), End::SourceEnded);
    assert_eq!(
        (summary.delivered, summary.buffered, summary.discarded),
        (CAPACITY as u64, 0, 0)
    );
    (items, summary)
}

#[test]
fn drop_newest_with_a_stalled_consumer_delivers_the_first_capacity_items() {
    let (items, _) = watchdog(30, || stalled_until_the_source_ends(Overflow::DropNewest));
    assert_eq!(items, (0..8).collect::<Vec<u64>>());
}

#[test]
fn drop_oldest_with_a_stalled_consumer_delivers_the_last_capacity_items() {
    let (items, _) = watchdog(30, || stalled_until_the_source_ends(Overflow::DropOldest));
    assert_eq!(items, (92..100).collect::<Vec<u64>>());
}

/// With a buffer of 8: 12 items arrive, the consumer takes 3, 5 more arrive, the source ends.
fn partly_read(overflow: Overflow) -> (Vec<u64>, Vec<u64>, Summary) {
    const CAPACITY: usize = 8;
    let portal = portal(2);
    let (source, probe) = numbers(u64::MAX, Then::End);
    let (source, gate) = source.gated();
    let (mut recording, live) = record_sync(&portal, source, options(CAPACITY, overflow));
    let admit = |count: u64| {
        let before = live.get().emitted;
        for _ in 0..count {
            gate.open_one();
        }
        spin_until(PROMPT, "the admitted items reached the buffer", || {
            live.get().emitted == before + count
        });
    };
    admit(12);
    let first: Vec<u64> = recording
        .by_ref()
        .take(3)
        .map(|item| item.expect("read"))
        .collect();
    admit(5);
    drop(gate);
    let rest = drain(&mut recording);
    let summary = live.get();
    check_ended(&summary, probe.produced(), End::SourceEnded);
    assert_eq!(probe.produced(), 17);
    assert_eq!(summary.delivered, 3 + rest.len() as u64);
    assert_eq!(summary.dropped, 17 - summary.delivered);
    assert_eq!(summary.high_water, CAPACITY as u64);
    (first, rest, summary)
}

#[test]
fn drop_newest_takes_new_items_only_once_the_consumer_made_room() {
    let (first, rest, summary) = watchdog(30, || partly_read(Overflow::DropNewest));
    assert_eq!(first, [0, 1, 2]);
    assert_eq!(rest, [3, 4, 5, 6, 7, 12, 13, 14]);
    assert_eq!(summary.dropped, 6);
}

/// An always-ready source into a full `DropNewest` buffer of `capacity` that the consumer
/// stalls on, then reads from.
fn drop_newest_stalled_then_read(capacity: usize) {
    let cap = capacity as u64;
    let portal = portal(2);
    let (source, probe) = endless();
    let (mut recording, live) =
        record_sync(&portal, source, options(capacity, Overflow::DropNewest));
    // A stalled consumer: the always-ready source is read on and discarded, counted.
    spin_until(PROMPT, "many items were discarded", || {
        let summary = live.get();
        assert!(summary.balances(), "{summary:#?}");
        assert!(summary.buffered <= cap, "{summary:#?}");
        summary.dropped > 100_000
    });
    let stalled = live.get();
    assert_eq!(stalled.delivered, 0);
    assert_eq!(stalled.dropped, stalled.emitted - cap, "{stalled:#?}");
    // Three read: the consumer may hold more it took ahead, but only three made room, and the
    // room is seen at once and taken by new items.
    assert_eq!(drain_n(&mut recording, 3), [0, 1, 2]);
    spin_until(PROMPT, "the buffer is full again", || {
        let summary = live.get();
        assert!(summary.balances(), "{summary:#?}");
        summary.buffered == cap
    });
    let resumed = drain_n(&mut recording, capacity);
    assert_eq!(resumed[..capacity - 3], (3..cap).collect::<Vec<u64>>());
    assert!(
        resumed[capacity - 3] >= stalled.emitted,
        "{resumed:?} after {stalled:#?}"
    );
    assert!(resumed[capacity - 3..].is_sorted(), "{resumed:?}");
    recording.close();
    let summary = settle(&live, &probe.counter(), PROMPT);
    check_ended(&summary, probe.produced(), End::Stopped);
    assert_eq!(summary.delivered, 3 + cap);
}

#[test]
fn drop_newest_with_a_full_buffer_discards_at_once_and_resumes_once_the_consumer_made_room() {
    // One item per lock, and several taken ahead per lock.
    watchdog(60, || drop_newest_stalled_then_read(8));
    watchdog(60, || drop_newest_stalled_then_read(64));
}

#[test]
fn drop_oldest_cannot_evict_the_few_items_the_consumer_took_ahead() {
    const CAPACITY: usize = 64;
    const AHEAD: usize = 8;
    watchdog(60, || {
        let portal = portal(2);
        let (source, probe) = endless();
        let (mut recording, live) =
            record_sync(&portal, source, options(CAPACITY, Overflow::DropOldest));
        spin_until(PROMPT, "many items were evicted", || {
            live.get().dropped > 100_000
        });
        // The first read takes eight items ahead; the producer goes on evicting the oldest
        // still queued, never those.
        let first = drain_n(&mut recording, 1)[0];
        let held = live.get();
        assert!(held.balances(), "{held:#?}");
        // The slot the read made may already hold a new item.
        assert!(held.buffered >= CAPACITY as u64 - 1, "{held:#?}");
        spin_until(PROMPT, "many more items were evicted", || {
            let summary = live.get();
            assert!(summary.balances(), "{summary:#?}");
            assert!(summary.buffered <= CAPACITY as u64, "{summary:#?}");
            summary.dropped > held.dropped + 100_000
        });
        let kept = drain_n(&mut recording, AHEAD - 1);
        assert_eq!(
            kept,
            (first + 1..first + AHEAD as u64).collect::<Vec<u64>>()
        );
        // After them, the most recent items, in order.
        let recent = drain_n(&mut recording, CAPACITY);
        assert!(recent[0] > first + 100_000, "{recent:?} after {first}");
        assert!(recent.is_sorted(), "{recent:?}");
        recording.close();
        let summary = settle(&live, &probe.counter(), PROMPT);
        check_ended(&summary, probe.produced(), End::Stopped);
        assert_eq!(summary.delivered, (AHEAD + CAPACITY) as u64);
    });
}

#[test]
fn drop_oldest_keeps_the_most_recent_items_in_order() {
    let (first, rest, summary) = watchdog(30, || partly_read(Overflow::DropOldest));
    assert_eq!(first, [4, 5, 6]);
    assert_eq!(rest, [9, 10, 11, 12, 13, 14, 15, 16]);
    assert_eq!(summary.dropped, 6);
}

#[test]
fn a_full_drop_policy_recording_of_an_always_ready_source_leaves_its_worker_to_other_tasks() {
    watchdog(30, || {
        for overflow in [Overflow::DropOldest, Overflow::DropNewest] {
            // One worker: the producer, which never waits for room under a drop policy, shares
            // it with every other task on the portal.
            let portal = portal(1);
            let (source, probe) = endless();
            let (mut recording, live) = record_sync(&portal, source, options(16, overflow));
            spin_until(PROMPT, "the buffer fills and items are dropped", || {
                live.get().dropped > 0
            });
            for round in 0..100 {
                let task = portal.spawn(async move { round }).expect("spawn");
                assert_eq!(task.wait(), Ok(round), "{overflow:?}");
            }
            assert!(live.get().dropped > 0);
            recording.close();
            let summary = settle(&live, &probe.counter(), PROMPT);
            check_ended(&summary, probe.produced(), End::Stopped);
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Every policy with a slow producer

#[test]
fn every_policy_with_a_slow_producer_delivers_every_item_in_order() {
    watchdog(60, || {
        let portal = portal(2);
        for overflow in POLICIES {
            let (source, probe) = numbers(u64::MAX, Then::End);
            let (source, gate) = source.gated();
            let (mut recording, live) = record_sync(&portal, source, options(4, overflow));
            // One item at a time: each waits for the consumer to ask, so none ever waits in
            // the buffer for long.
            for expected in 0..200 {
                gate.open_one();
                assert_eq!(recording.next(), Some(Ok(expected)), "{overflow:?}");
            }
            drop(gate);
            assert_eq!(recording.next(), None, "{overflow:?}");
            let summary = live.get();
            check_ended(&summary, probe.produced(), End::SourceEnded);
            assert_eq!(
                (summary.delivered, summary.dropped, summary.high_water),
                (200, 0, 1),
                "{overflow:?}"
            );
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Every policy with a racing close

#[test]
fn every_policy_survives_a_close_racing_the_producer() {
    watchdog(120, || {
        let portal = named_portal();
        for round in 0..40_u64 {
            for overflow in POLICIES {
                let (source, probe) = endless();
                let (mut recording, live) = record_sync(&portal, source, options(16, overflow));
                // From "before the producer first ran" to "well into the stream".
                let read = round * 7 % 60;
                let items: Vec<u64> = recording
                    .by_ref()
                    .take(usize::try_from(read).expect("small"))
                    .map(|item| item.expect("read"))
                    .collect();
                assert!(
                    items.windows(2).all(|pair| pair[0] < pair[1]),
                    "{overflow:?}: out of order: {items:?}"
                );
                if overflow == Overflow::Block {
                    assert_eq!(items, (0..read).collect::<Vec<u64>>());
                }
                recording.close();
                assert_eq!(recording.next(), None, "{overflow:?}: an item after close");
                recording.close();
                assert_eq!(recording.next(), None);
                assert_dropped_on_a_worker(&probe);
                let summary = settle(&live, &probe.counter(), PROMPT);
                check_ended(&summary, probe.produced(), End::Stopped);
                assert_eq!(summary.delivered, read, "{overflow:?}");
                assert_eq!(summary.buffered, 0, "{overflow:?}: {summary:#?}");
                if overflow == Overflow::Block {
                    assert_eq!(summary.dropped, 0);
                }
            }
        }
    });
}

#[test]
fn close_while_the_producer_waits_for_room_counts_the_item_it_held() {
    const CAPACITY: usize = 8;
    watchdog(60, || {
        let portal = named_portal();
        for _ in 0..20 {
            let (source, probe) = endless();
            let (mut recording, live) =
                record_sync(&portal, source, options(CAPACITY, Overflow::Block));
            spin_until(PROMPT, "the producer waits for room", || {
                probe.produced() == CAPACITY as u64 + 1 && live.get().buffered == CAPACITY as u64
            });
            recording.close();
            assert_eq!(recording.next(), None);
            assert_dropped_on_a_worker(&probe);
            let summary = settle(&live, &probe.counter(), PROMPT);
            check_ended(&summary, CAPACITY as u64 + 1, End::Stopped);
            // The buffered items and the one the producer held.
            assert_eq!(
                (summary.delivered, summary.discarded, summary.dropped),
                (0, CAPACITY as u64 + 1, 0),
                "{summary:#?}"
            );
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Early stops: close, drop

#[test]
fn dropping_the_recording_cancels_the_producer_and_drops_the_source_on_a_worker() {
    watchdog(30, || {
        let portal = named_portal();
        for overflow in POLICIES {
            let (source, probe) = endless();
            let (mut recording, live) = record_sync(&portal, source, options(16, overflow));
            let first: Vec<u64> = recording
                .by_ref()
                .take(5)
                .map(|item| item.expect("read"))
                .collect();
            assert_eq!(first.len(), 5);
            drop(recording);
            assert_dropped_on_a_worker(&probe);
            let summary = settle(&live, &probe.counter(), PROMPT);
            check_ended(&summary, probe.produced(), End::Stopped);
            assert_eq!(
                (summary.delivered, summary.buffered),
                (5, 0),
                "{overflow:?}"
            );
        }
    });
}

#[test]
fn close_drops_a_source_that_never_yields_at_once() {
    watchdog(30, || {
        let portal = named_portal();
        // A source stuck in a pending poll, never woken again.
        let (source, probe) = numbers(3, Then::Hang);
        let mut recording = portal
            .record(source, RecordOptions::new())
            .expect("record")
            .into_sync();
        let live = recording.live_summary();
        assert_eq!(drain_n(&mut recording, 3), [0, 1, 2]);
        assert_eq!(
            recording.next_timeout(Duration::from_millis(10)),
            Some(Err(Error::Timeout))
        );
        recording.close();
        assert_dropped_on_a_worker(&probe);
        let summary = settle(&live, &probe.counter(), PROMPT);
        check_ended(&summary, 3, End::Stopped);
        assert_eq!(summary.delivered, 3);

        // A source that never yields at all, dropped whether or not it was polled yet.
        for _ in 0..10 {
            let polls = PollCount::default();
            let drops = DropCount::default();
            let recording = portal
                .record(probe_stream(&polls, &drops), RecordOptions::new())
                .expect("record");
            let live = recording.live_summary();
            drop(recording);
            spin_until(PROMPT, "the never-yielding source is dropped", || {
                drops.get() == 1
            });
            check_ended(&live.get(), 0, End::Stopped);
        }
    });
}

#[test]
fn an_async_consumer_reads_in_order_and_its_drop_inside_async_code_does_not_block() {
    watchdog(30, || {
        let portal = named_portal();
        let runtime = current_thread_runtime();
        let (source, probe) = numbers(100, Then::End);
        let live = runtime.block_on(async {
            let mut recording = portal
                .record(source, options(8, Overflow::Block))
                .expect("record");
            let live = recording.live_summary();
            let mut seen = Vec::new();
            while let Some(item) = next_item(&mut recording).await {
                seen.push(item);
            }
            assert_eq!(seen, (0..100).collect::<Vec<u64>>());
            assert_eq!(next_item(&mut recording).await, None);
            live
        });
        assert_dropped_on_a_worker(&probe);
        check_ended(&live.get(), 100, End::SourceEnded);

        // Stopped early from async code: the drop returns at once and the source goes on the
        // portal's runtime, not on this thread's.
        let (source, probe) = endless();
        let live = runtime.block_on(async {
            let mut recording = portal
                .record(source, options(8, Overflow::Block))
                .expect("record");
            for expected in 0..3 {
                assert_eq!(next_item(&mut recording).await, Some(expected));
            }
            let live = recording.live_summary();
            drop(recording);
            live
        });
        assert_dropped_on_a_worker(&probe);
        let summary = settle(&live, &probe.counter(), PROMPT);
        check_ended(&summary, probe.produced(), End::Stopped);
        assert_eq!(summary.delivered, 3);
    });
}

#[test]
fn blocking_reads_refuse_inside_async_code_and_time_out_without_losing_anything() {
    watchdog(30, || {
        let portal = portal(2);
        let (source, probe) = numbers(u64::MAX, Then::End);
        let (source, gate) = source.gated();
        let mut recording = portal
            .record(source, RecordOptions::new())
            .expect("record")
            .into_sync();
        let live = recording.live_summary();
        assert_eq!(
            recording.next_timeout(Duration::from_millis(20)),
            Some(Err(Error::Timeout))
        );
        gate.open_one();
        spin_until(PROMPT, "the item is buffered", || live.get().buffered == 1);
        let refused = current_thread_runtime().block_on(async { recording.next() });
        assert_eq!(refused, Some(Err(Error::InAsyncContext)));
        assert_eq!(live.get().buffered, 1, "the refused read took the item");
        assert_eq!(recording.next(), Some(Ok(0)));
        drop(gate);
        assert_eq!(recording.next(), None);
        let summary = live.get();
        check_ended(&summary, probe.produced(), End::SourceEnded);
        assert_eq!(summary.delivered, 1);
    });
}

// ---------------------------------------------------------------------------------------------
// Error policies

type Fallible = Result<u64, String>;

fn ok(n: u64) -> Step<Fallible> {
    Step::Yield(Ok(n))
}

fn err(text: &str) -> Step<Fallible> {
    Step::Yield(Err(text.to_owned()))
}

/// Under `Raise`, with a buffer of 4 nobody reads: `items` good items, an error, and good items
/// after it that must never be produced.
fn raise_into_a_full_buffer(overflow: Overflow, items: u64) -> (Vec<Fallible>, Summary) {
    let portal = named_portal();
    let script: Vec<Step<Fallible>> = (0..items)
        .map(ok)
        .chain([err("boom"), ok(100), ok(101)])
        .collect();
    let (source, probe) = Source::script(script, Then::End);
    let mut recording = portal
        .try_record(source, options(4, overflow).errors(OnError::Raise))
        .expect("record")
        .into_sync();
    let live = recording.live_summary();
    let ended = settle(&live, &probe.counter(), PROMPT);
    assert_dropped_on_a_worker(&probe);
    assert_eq!(
        probe.produced(),
        items + 1,
        "the source was read past the error"
    );
    check_ended(&ended, items + 1, End::Raised);
    assert_eq!(ended.errors, 1);
    // The error is buffered past the capacity, behind the items.
    assert_eq!(ended.buffered, 5, "{ended:#?}");
    assert_eq!(ended.high_water, 5, "{ended:#?}");

    let seen = drain(&mut recording);
    let summary = live.get();
    check_ended(&summary, items + 1, End::Raised);
    assert_eq!(summary.delivered, 5);
    assert_eq!(summary.dropped, items - 4);
    (seen, summary)
}

#[test]
fn raise_delivers_the_buffered_items_then_the_error_then_the_end_under_every_policy() {
    watchdog(30, || {
        let boom = Err("boom".to_owned());
        let (seen, _) = raise_into_a_full_buffer(Overflow::Block, 4);
        assert_eq!(seen, [Ok(0), Ok(1), Ok(2), Ok(3), boom.clone()]);
        let (seen, _) = raise_into_a_full_buffer(Overflow::DropNewest, 10);
        assert_eq!(seen, [Ok(0), Ok(1), Ok(2), Ok(3), boom.clone()]);
        let (seen, _) = raise_into_a_full_buffer(Overflow::DropOldest, 10);
        assert_eq!(seen, [Ok(6), Ok(7), Ok(8), Ok(9), boom]);
    });
}

#[test]
fn raise_with_a_reading_consumer_stops_at_the_first_error() {
    watchdog(30, || {
        let portal = named_portal();
        let script = vec![ok(0), ok(1), err("first"), ok(3), err("second")];
        let (source, probe) = Source::script(script, Then::Hang);
        let mut recording = portal
            .try_record(source, RecordOptions::new())
            .expect("record")
            .into_sync();
        let live = recording.live_summary();
        assert_eq!(
            drain(&mut recording),
            [Ok(0), Ok(1), Err("first".to_owned())]
        );
        assert_dropped_on_a_worker(&probe);
        let summary = live.get();
        check_ended(&summary, 3, End::Raised);
        assert_eq!((summary.errors, summary.delivered), (1, 3));
    });
}

#[test]
fn return_delivers_errors_as_items_and_goes_on() {
    watchdog(30, || {
        let portal = portal(2);
        let script = vec![ok(0), err("a"), ok(1), err("b"), ok(2)];
        let (source, probe) = Source::script(script, Then::End);
        let mut recording = portal
            .try_record(source, RecordOptions::new().errors(OnError::Return))
            .expect("record")
            .into_sync();
        let live = recording.live_summary();
        assert_eq!(
            drain(&mut recording),
            [
                Ok(0),
                Err("a".to_owned()),
                Ok(1),
                Err("b".to_owned()),
                Ok(2)
            ]
        );
        let summary = live.get();
        check_ended(&summary, probe.produced(), End::SourceEnded);
        assert_eq!(
            (summary.errors, summary.skipped, summary.delivered),
            (2, 0, 5)
        );
    });
}

#[test]
fn return_errors_take_a_buffer_slot_and_an_overflow_policy_may_drop_them() {
    watchdog(30, || {
        let portal = portal(2);
        let script = vec![ok(0), err("a"), ok(1), err("b"), ok(2)];
        let (source, probe) = Source::script(script, Then::End);
        let mut recording = portal
            .try_record(
                source,
                options(3, Overflow::DropNewest).errors(OnError::Return),
            )
            .expect("record")
            .into_sync();
        let live = recording.live_summary();
        wait_for_end(&live, End::SourceEnded, PROMPT);
        assert_eq!(drain(&mut recording), [Ok(0), Err("a".to_owned()), Ok(1)]);
        let summary = live.get();
        check_ended(&summary, probe.produced(), End::SourceEnded);
        assert_eq!(
            (summary.errors, summary.dropped, summary.delivered),
            (2, 2, 3)
        );
    });
}

#[test]
fn skip_drops_errors_and_counts_them() {
    watchdog(30, || {
        let portal = portal(2);
        let script = vec![err("x"), ok(0), err("y"), ok(1), err("z"), ok(2), err("w")];
        let (source, probe) = Source::script(script, Then::End);
        let mut recording = portal
            .try_record(source, RecordOptions::new().errors(OnError::Skip))
            .expect("record")
            .into_sync();
        let live = recording.live_summary();
        assert_eq!(drain(&mut recording), [Ok(0), Ok(1), Ok(2)]);
        let summary = live.get();
        check_ended(&summary, probe.produced(), End::SourceEnded);
        assert_eq!(probe.produced(), 7);
        assert_eq!(
            (summary.errors, summary.skipped, summary.delivered),
            (4, 4, 3)
        );
    });
}

// ---------------------------------------------------------------------------------------------
// Panics

#[test]
fn a_source_panic_reaches_the_consumer_after_the_buffered_items() {
    quiet_source_panics();
    watchdog(30, || {
        let portal = named_portal();
        let script = vec![
            Step::Yield(0_u64),
            Step::Yield(1),
            Step::Yield(2),
            Step::Panic(7),
        ];
        let (source, probe) = Source::script(script, Then::End);
        let mut recording = portal
            .record(source, RecordOptions::new())
            .expect("record")
            .into_sync();
        let live = recording.live_summary();
        // Nobody reads until the producer has stopped.
        spin_until(PROMPT, "the recording ends", || live.get().end.is_some());
        assert_dropped_on_a_worker(&probe);
        let ended = live.get();
        assert!(ended.balances(), "{ended:#?}");
        assert_eq!((ended.emitted, ended.buffered), (3, 3), "{ended:#?}");
        assert!(ended.finished_at.is_some(), "{ended:#?}");

        assert_eq!(drain_n(&mut recording, 3), [0, 1, 2]);
        let payload = expect_panic(|| recording.next());
        assert_custom_payload(payload.as_ref(), 7);
        assert_eq!(recording.next(), None, "the recording ends after the panic");
        // The portal is still usable.
        assert_eq!(portal.call(async { 5 }), Ok(5));

        let summary = live.get();
        assert_eq!(summary.delivered, 3);
        check_ended(&summary, 3, End::Panicked);
    });
}

#[test]
fn a_source_panic_reaches_a_consumer_that_is_already_waiting() {
    const ROUNDS: u32 = 2000;
    quiet_source_panics();
    watchdog(120, || {
        let portal = portal(2);
        let mut lost_panics = Vec::new();
        let mut wrong_ends = Vec::new();
        for round in 0..ROUNDS {
            let script = vec![Step::Yield(0_u64), Step::Panic(round)];
            let (source, probe) = Source::script(script, Then::End);
            let (source, gate) = source.gated();
            let mut recording = portal
                .record(source, RecordOptions::new())
                .expect("record")
                .into_sync();
            let live = recording.live_summary();
            gate.open_one();
            assert_eq!(recording.next(), Some(Ok(0)));
            // The consumer waits in `next` while the source panics: the end it is woken for
            // must come with the panic.
            gate.open_one();
            match panic::catch_unwind(AssertUnwindSafe(|| recording.next())) {
                Ok(returned) => lost_panics.push((round, returned)),
                Err(payload) => assert_custom_payload(payload.as_ref(), round),
            }
            let summary = settle(&live, &probe.counter(), PROMPT);
            assert!(summary.balances(), "{summary:#?}");
            if summary.end != Some(End::Panicked) {
                wrong_ends.push((round, summary.end));
            }
        }
        assert!(
            lost_panics.is_empty(),
            "in {} of {ROUNDS} rounds the consumer saw the end without the source's panic; \
             first rounds: {:?}",
            lost_panics.len(),
            &lost_panics[..lost_panics.len().min(5)]
        );
        assert!(
            wrong_ends.is_empty(),
            "in {} of {ROUNDS} rounds the summary's end was not Panicked; first rounds: {:?}",
            wrong_ends.len(),
            &wrong_ends[..wrong_ends.len().min(5)]
        );
    });
}

#[test]
fn an_async_consumer_gets_the_source_panic_too() {
    quiet_source_panics();
    watchdog(30, || {
        let portal = portal(2);
        let script = vec![Step::Yield(0_u64), Step::Panic(11)];
        let (source, probe) = Source::script(script, Then::End);
        let mut recording = portal.record(source, RecordOptions::new()).expect("record");
        let live = recording.live_summary();
        let runtime = current_thread_runtime();
        assert_eq!(runtime.block_on(next_item(&mut recording)), Some(0));
        let payload = expect_panic(|| runtime.block_on(next_item(&mut recording)));
        assert_custom_payload(payload.as_ref(), 11);
        check_ended(&live.get(), probe.produced(), End::Panicked);
    });
}

// ---------------------------------------------------------------------------------------------
// Portal shutdown

#[test]
fn portal_shutdown_cancels_the_recording_and_the_consumer_sees_the_end() {
    const CAPACITY: usize = 8;
    watchdog(30, || {
        let portal = named_portal();
        let (source, probe) = endless();
        let (mut recording, live) =
            record_sync(&portal, source, options(CAPACITY, Overflow::Block));
        spin_until(PROMPT, "the producer waits for room", || {
            probe.produced() == CAPACITY as u64 + 1 && live.get().buffered == CAPACITY as u64
        });
        // Emptying the buffer wakes the producer (however early it is woken: at half on several
        // CPUs, once empty on one), which refills it and waits again with one more item.
        let first = CAPACITY as u64;
        assert_eq!(
            drain_n(&mut recording, CAPACITY),
            (0..first).collect::<Vec<_>>()
        );
        spin_until(PROMPT, "the producer waits for room again", || {
            probe.produced() == first + CAPACITY as u64 + 1
                && live.get().buffered == CAPACITY as u64
        });
        let report = portal
            .shutdown(Duration::from_millis(50))
            .expect("shutdown");
        assert!(report.cancelled >= 1, "{report:?}");
        assert_dropped_on_a_worker(&probe);
        let ended = settle(&live, &probe.counter(), PROMPT);
        check_ended(&ended, probe.produced(), End::Cancelled);

        // What was buffered is still delivered, then the end.
        assert_eq!(
            drain(&mut recording),
            (first..first + CAPACITY as u64).collect::<Vec<_>>()
        );
        let summary = live.get();
        check_ended(&summary, probe.produced(), End::Cancelled);
        // The item the producer held when it was cancelled is the one discarded.
        assert_eq!(
            (summary.delivered, summary.discarded),
            (first + CAPACITY as u64, 1),
            "{summary:#?}"
        );
        drop(recording);
        assert_eq!(live.get(), summary);
    });
}

#[test]
fn a_shut_down_portal_refuses_to_record_and_drops_the_source_unpolled() {
    watchdog(30, || {
        let portal = portal(1);
        portal.shutdown(Duration::from_secs(1)).expect("shutdown");
        let polls = PollCount::default();
        let drops = DropCount::default();
        let err = portal
            .record(probe_stream(&polls, &drops), RecordOptions::new())
            .unwrap_err();
        assert_eq!(err, RecordError::Portal(Error::Closed));
        assert_eq!((polls.get(), drops.get()), (0, 1));

        let (report, dropped) = DropReport::new();
        let err = portal
            .record_polled(
                move || {
                    let _keep = &report;
                    async { 1 }
                },
                10.0,
                RecordOptions::new(),
            )
            .unwrap_err();
        assert_eq!(err, RecordError::Portal(Error::Closed));
        assert!(dropped.try_recv().is_ok(), "the poll function was kept");
    });
}

// ---------------------------------------------------------------------------------------------
// Options

#[test]
fn zero_capacity_is_refused_by_every_constructor_and_nothing_is_polled() {
    watchdog(30, || {
        let portal = portal(1);
        let zero = || RecordOptions::new().capacity(0);
        let refused = RecordError::Config(ConfigError::ZeroCapacity);

        let polls = PollCount::default();
        let drops = DropCount::default();
        let err = portal
            .record(probe_stream(&polls, &drops), zero())
            .unwrap_err();
        assert_eq!(err, refused);
        let (source, probe) = Source::<Fallible>::items([Ok(1)], Then::End);
        let err = portal.try_record(source, zero()).unwrap_err();
        assert_eq!(err, refused);
        assert!(probe.is_dropped());
        assert_eq!(probe.produced(), 0);
        assert_eq!((polls.get(), drops.get()), (0, 1));

        let calls = Arc::new(AtomicU64::new(0));
        let counting = || {
            let calls = Arc::clone(&calls);
            move || {
                calls.fetch_add(1, SeqCst);
                async { Ok::<u8, String>(1) }
            }
        };
        let err = portal.record_polled(counting(), 10.0, zero()).unwrap_err();
        assert_eq!(err, refused);
        let err = portal
            .try_record_polled(counting(), 10.0, zero())
            .unwrap_err();
        assert_eq!(err, refused);
        assert_eq!(calls.load(SeqCst), 0);
        assert_eq!(
            Arc::strong_count(&calls),
            1,
            "a refused poll function was kept"
        );
    });
}

#[test]
fn unusable_rates_are_refused() {
    watchdog(30, || {
        let portal = portal(1);
        let calls = Arc::new(AtomicU64::new(0));
        for rate_hz in [
            0.0,
            -0.0,
            -1.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            // A period under a nanosecond.
            1e10,
        ] {
            let counting = || {
                let calls = Arc::clone(&calls);
                move || {
                    calls.fetch_add(1, SeqCst);
                    async { Ok::<u8, String>(1) }
                }
            };
            let err = portal
                .record_polled(counting(), rate_hz, RecordOptions::new())
                .unwrap_err();
            assert!(
                matches!(err, RecordError::Config(ConfigError::InvalidRate { .. })),
                "{rate_hz}: {err:?}"
            );
            let err = portal
                .try_record_polled(counting(), rate_hz, RecordOptions::new())
                .unwrap_err();
            match err {
                RecordError::Config(ConfigError::InvalidRate { rate_hz: echoed }) => {
                    assert!(
                        echoed.to_bits() == rate_hz.to_bits(),
                        "{rate_hz} came back as {echoed}"
                    );
                }
                other => panic!("{rate_hz}: {other:?}"),
            }
        }
        assert_eq!(calls.load(SeqCst), 0);
    });
}

#[test]
fn a_rate_too_slow_for_the_clock_is_refused() {
    watchdog(30, || {
        let portal = portal(1);
        // `ConfigError::InvalidRate` promises to refuse a period over about 584 years.
        // 1e-19 Hz is a period past what `Instant` can add; 1e-12 Hz is about 31,700 years.
        let mut accepted = Vec::new();
        for rate_hz in [1e-19, 1e-12] {
            match portal.record_polled(|| async { 1 }, rate_hz, RecordOptions::new()) {
                Err(err) => assert_eq!(
                    err,
                    RecordError::Config(ConfigError::InvalidRate { rate_hz }),
                    "{rate_hz}"
                ),
                Ok(recording) => {
                    drop(recording);
                    accepted.push(rate_hz);
                }
            }
        }
        assert!(
            accepted.is_empty(),
            "rates whose period is past the documented range were accepted: {accepted:?}"
        );
    });
}

#[test]
fn reported_overruns_and_underruns_show_apart_from_drops() {
    watchdog(30, || {
        let portal = portal(2);
        let reporter = Reporter::new();
        let produced = Arc::new(AtomicU64::new(0));
        let poll = {
            let reporter = reporter.clone();
            let produced = Arc::clone(&produced);
            move || {
                let reporter = reporter.clone();
                let produced = Arc::clone(&produced);
                async move {
                    reporter.overrun(2);
                    reporter.underrun(1);
                    produced.fetch_add(1, SeqCst)
                }
            }
        };
        let mut recording = portal
            .record_polled(poll, 500.0, RecordOptions::new().reporter(&reporter))
            .expect("record")
            .into_sync();
        let live = recording.live_summary();
        assert_eq!(drain_n(&mut recording, 4), [0, 1, 2, 3]);
        recording.close();
        let summary = settle(&live, &produced, PROMPT);
        check_ended(&summary, produced.load(SeqCst), End::Stopped);
        let polls = produced.load(SeqCst);
        assert_eq!(
            (summary.overruns, summary.underruns),
            (2 * polls, polls),
            "{summary:#?}"
        );
        assert_eq!(summary.dropped, 0);
        assert_eq!(summary.rate_hz, Some(500.0));
    });
}

// ---------------------------------------------------------------------------------------------
// Polled recordings

/// A slow grid, so that scheduling delays on a loaded machine stay well inside a period.
const GRID_RATE_HZ: f64 = 10.0;
const GRID_POLLS: usize = 8;
/// The grid slot of each poll when poll 2 takes 3.5 periods: slots 3, 4 and 5 pass during it,
/// and the next poll lands on slot 6.
const GRID_SLOTS: [u32; GRID_POLLS] = [0, 1, 2, 6, 7, 8, 9, 10];

/// Records `GRID_POLLS` polls at `GRID_RATE_HZ` where poll 2 takes 3.5 periods; returns when
/// each poll started, counted from just before the recording started, and the summary.
fn record_an_overrun(portal: &Portal, period: Duration) -> (Vec<Duration>, Summary) {
    let mut calls = 0_u32;
    let poll = move || {
        let call = calls;
        calls += 1;
        async move {
            let at = Instant::now();
            if call == 2 {
                tokio::time::sleep(period * 7 / 2).await;
            }
            (call, at)
        }
    };
    let before = Instant::now();
    let mut recording = portal
        .record_polled(poll, GRID_RATE_HZ, RecordOptions::new())
        .expect("record")
        .into_sync();
    let polls: Vec<(u32, Instant)> = recording
        .by_ref()
        .take(GRID_POLLS)
        .collect::<Result<_, _>>()
        .expect("read");
    let summary = recording.summary();
    recording.close();
    let calls: Vec<u32> = polls.iter().map(|&(call, _)| call).collect();
    assert_eq!(calls, (0..8).collect::<Vec<u32>>());
    let offsets = polls.iter().map(|&(_, at)| at - before).collect();
    (offsets, summary)
}

/// What must hold however late the machine ran the polls.
fn check_the_grid_bounds(offsets: &[Duration], summary: &Summary, period: Duration) {
    // Timers never fire early and the grid starts after `before`: no poll starts before its
    // grid point. A burst of catch-up polls would.
    for (k, (&offset, &slot)) in offsets.iter().zip(&GRID_SLOTS).enumerate() {
        assert!(
            offset >= period * slot,
            "poll {k} started {offset:?} in, before its grid point {slot} x {period:?} \
             (a burst of catch-up polls?): {offsets:?}"
        );
    }
    // Late polls can only add missed ticks.
    assert!(summary.missed_ticks >= 3, "{offsets:?} {summary:#?}");
    assert_eq!(summary.rate_hz, Some(GRID_RATE_HZ));
    assert!(summary.balances());
}

/// What holds when the machine ran the polls about on time; `Err` says what did not.
fn check_the_grid_timing(
    offsets: &[Duration],
    summary: &Summary,
    period: Duration,
) -> Result<(), String> {
    // The latest grid start the polls allow; lateness is measured from there.
    let grid_start = offsets
        .iter()
        .zip(&GRID_SLOTS)
        .map(|(&offset, &slot)| offset.saturating_sub(period * slot))
        .min()
        .expect("polls");
    let late = offsets
        .iter()
        .zip(&GRID_SLOTS)
        .map(|(&offset, &slot)| {
            offset
                .saturating_sub(period * slot)
                .saturating_sub(grid_start)
        })
        .max()
        .expect("polls");
    if late >= period / 4 {
        return Err(format!("a poll was {late:?} off the grid: {offsets:?}"));
    }
    // The polls after the overrun come one period apart, not bunched.
    for pair in offsets[3..].windows(2) {
        let gap = pair[1].saturating_sub(pair[0]);
        if gap < period * 3 / 4 || gap > period * 5 / 4 {
            return Err(format!(
                "polls {gap:?} apart after the overrun: {offsets:?}"
            ));
        }
    }
    if summary.missed_ticks != 3 {
        return Err(format!(
            "{} missed ticks, not 3: {offsets:?}",
            summary.missed_ticks
        ));
    }
    Ok(())
}

#[test]
fn a_polled_overrun_skips_ticks_instead_of_polling_in_a_burst() {
    const ATTEMPTS: usize = 3;
    watchdog(60, || {
        let period = Duration::from_secs_f64(GRID_RATE_HZ.recip());
        let portal = portal(2);
        // The bounds must hold on every attempt. The timing may be thrown off by a loaded
        // machine, so it must hold on one attempt of three.
        let mut off = Vec::new();
        for _ in 0..ATTEMPTS {
            let (offsets, summary) = record_an_overrun(&portal, period);
            check_the_grid_bounds(&offsets, &summary, period);
            match check_the_grid_timing(&offsets, &summary, period) {
                Ok(()) => return,
                Err(problem) => off.push(problem),
            }
        }
        panic!("the polls were off the grid on every attempt: {off:#?}");
    });
}

#[test]
fn a_polled_recording_stops_on_close_and_drops_its_poll_function_on_a_worker() {
    watchdog(30, || {
        let portal = named_portal();
        let produced = Arc::new(AtomicU64::new(0));
        let (report, dropped) = DropReport::new();
        let poll = {
            let produced = Arc::clone(&produced);
            move || {
                let _keep = &report;
                let produced = Arc::clone(&produced);
                async move { produced.fetch_add(1, SeqCst) }
            }
        };
        let mut recording = portal
            .record_polled(poll, 1000.0, options(4, Overflow::DropOldest))
            .expect("record")
            .into_sync();
        let live = recording.live_summary();
        let first = drain_n(&mut recording, 5);
        assert!(first.windows(2).all(|pair| pair[0] < pair[1]), "{first:?}");
        recording.close();
        assert_eq!(recording.next(), None);
        let name = dropped
            .recv_timeout(Duration::from_secs(PROMPT))
            .expect("the poll function is dropped")
            .expect("a named thread");
        assert!(name.starts_with(&format!("{WORKER_PREFIX}-")), "{name}");
        let summary = settle(&live, &produced, PROMPT);
        check_ended(&summary, produced.load(SeqCst), End::Stopped);
        assert_eq!(summary.delivered, 5);

        // A poll that never completes is dropped promptly too.
        let (report, dropped) = DropReport::new();
        let poll = move || {
            let _keep = &report;
            std::future::pending::<u8>()
        };
        let recording = portal
            .record_polled(poll, 1000.0, RecordOptions::new())
            .expect("record");
        let live = recording.live_summary();
        drop(recording);
        dropped
            .recv_timeout(Duration::from_secs(PROMPT))
            .expect("the pending poll function is dropped");
        check_ended(&live.get(), 0, End::Stopped);
    });
}

#[test]
fn a_polled_source_under_skip_and_raise_counts_its_errors() {
    watchdog(30, || {
        let portal = portal(2);
        // Every odd poll fails; Skip drops the failures.
        let produced = Arc::new(AtomicU64::new(0));
        let poll = {
            let produced = Arc::clone(&produced);
            move || {
                let produced = Arc::clone(&produced);
                async move {
                    let n = produced.fetch_add(1, SeqCst);
                    if n % 2 == 1 { Err(n) } else { Ok(n) }
                }
            }
        };
        let mut recording = portal
            .try_record_polled(poll, 1000.0, RecordOptions::new().errors(OnError::Skip))
            .expect("record")
            .into_sync();
        let live = recording.live_summary();
        let seen: Vec<Result<u64, u64>> = recording
            .by_ref()
            .take(4)
            .map(|item| item.expect("read"))
            .collect();
        assert_eq!(seen, [Ok(0), Ok(2), Ok(4), Ok(6)]);
        recording.close();
        let summary = settle(&live, &produced, PROMPT);
        check_ended(&summary, produced.load(SeqCst), End::Stopped);
        assert_eq!(summary.errors, summary.skipped);
        assert!(summary.skipped >= 3, "{summary:#?}");

        // Raise: the items before the error, the error, the end.
        let mut calls = 0_u64;
        let poll = move || {
            calls += 1;
            let reading = if calls <= 3 { Ok(calls) } else { Err(calls) };
            async move { reading }
        };
        let recording = portal
            .try_record_polled(poll, 1000.0, RecordOptions::new())
            .expect("record")
            .into_sync();
        let live = recording.live_summary();
        let seen: Vec<Result<u64, u64>> = recording.map(|item| item.expect("read")).collect();
        assert_eq!(seen, [Ok(1), Ok(2), Ok(3), Err(4)]);
        let summary = live.get();
        check_ended(&summary, 4, End::Raised);
        assert_eq!(summary.errors, 1);
    });
}

#[test]
fn a_polled_source_panic_reaches_the_consumer() {
    quiet_source_panics();
    watchdog(30, || {
        let portal = portal(2);
        let mut calls = 0_u32;
        let poll = move || {
            let call = calls;
            calls += 1;
            async move {
                if call == 2 {
                    std::panic::panic_any(common::CustomPayload { code: 3 });
                }
                call
            }
        };
        let mut recording = portal
            .record_polled(poll, 1000.0, RecordOptions::new())
            .expect("record")
            .into_sync();
        let live = recording.live_summary();
        assert_eq!(recording.next(), Some(Ok(0)));
        assert_eq!(recording.next(), Some(Ok(1)));
        let payload = expect_panic(|| recording.next());
        assert_custom_payload(payload.as_ref(), 3);
        check_ended(&live.get(), 2, End::Panicked);
    });
}

// ---------------------------------------------------------------------------------------------
// The summary, live

#[test]
fn the_live_summary_reads_from_another_thread_without_blocking_the_consumer() {
    const COUNT: u64 = 200_000;
    watchdog(60, || {
        let portal = portal(2);

        // While the consumer waits in `next`, the summary still reads.
        let (source, probe) = numbers(u64::MAX, Then::End);
        let (source, gate) = source.gated();
        let mut recording = portal
            .record(source, RecordOptions::new())
            .expect("record")
            .into_sync();
        let live = recording.live_summary();
        let (waiting, consumer_waits) = mpsc::channel();
        let consumer = thread::spawn(move || {
            waiting.send(()).expect("signal");
            let first = recording.next();
            (first, recording)
        });
        consumer_waits.recv().expect("the consumer started");
        for _ in 0..1000 {
            let summary = live.get();
            assert_eq!(
                (summary.end, summary.finished_at, summary.delivered),
                (None, None, 0)
            );
        }
        gate.open_one();
        let (first, recording) = consumer.join().expect("the consumer");
        assert_eq!(first, Some(Ok(0)));
        drop(recording);
        let summary = settle(&live, &probe.counter(), PROMPT);
        check_ended(&summary, probe.produced(), End::Stopped);

        // An observer reads snapshots all along while the consumer iterates.
        let (source, probe) = numbers(COUNT, Then::End);
        let produced = probe.counter();
        let (recording, live) = record_sync(&portal, source, options(64, Overflow::Block));
        let done = Arc::new(AtomicBool::new(false));
        let observer = {
            let live = live.clone();
            let done = Arc::clone(&done);
            thread::spawn(move || {
                let mut snapshots = 0_u64;
                let mut last = live.get();
                while !done.load(SeqCst) {
                    let summary = live.get();
                    let produced_after = produced.load(SeqCst);
                    assert!(summary.balances(), "{summary:#?}");
                    assert!(summary.emitted <= produced_after, "{summary:#?}");
                    assert!(summary.delivered >= last.delivered, "delivered went back");
                    assert!(summary.emitted >= last.emitted, "emitted went back");
                    assert!(summary.buffered <= 64, "{summary:#?}");
                    last = summary;
                    snapshots += 1;
                }
                snapshots
            })
        };
        let mut expected = 0;
        for item in recording {
            assert_eq!(item, Ok(expected));
            expected += 1;
        }
        done.store(true, SeqCst);
        let snapshots = observer.join().expect("the observer's checks");
        assert!(snapshots > 0);
        assert_eq!(expected, COUNT);
        let summary = live.get();
        check_ended(&summary, probe.produced(), End::SourceEnded);
        assert_eq!(summary.delivered, COUNT);
    });
}

// ---------------------------------------------------------------------------------------------
// Memory

static LIVE_ITEMS: AtomicU64 = AtomicU64::new(0);
static MOST_LIVE_ITEMS: AtomicU64 = AtomicU64::new(0);

/// An item that counts how many of its kind are alive. Only the memory test makes them.
struct Tracked(u64);

impl Tracked {
    fn new(n: u64) -> Self {
        let live = LIVE_ITEMS.fetch_add(1, SeqCst) + 1;
        MOST_LIVE_ITEMS.fetch_max(live, SeqCst);
        Self(n)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        LIVE_ITEMS.fetch_sub(1, SeqCst);
    }
}

/// Makes `count` tracked items, each only when polled.
struct TrackedSource {
    next: u64,
    count: u64,
}

impl Stream for TrackedSource {
    type Item = Tracked;

    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Tracked>> {
        if self.next == self.count {
            return Poll::Ready(None);
        }
        let item = Tracked::new(self.next);
        self.next += 1;
        Poll::Ready(Some(item))
    }
}

#[test]
fn memory_stays_bounded_while_ten_million_items_go_into_a_stalled_drop_oldest_recording() {
    const COUNT: u64 = 10_000_000;
    const CAPACITY: usize = 1024;
    watchdog(300, || {
        let portal = portal(2);
        let source = TrackedSource {
            next: 0,
            count: COUNT,
        };
        let (mut recording, live) =
            record_sync(&portal, source, options(CAPACITY, Overflow::DropOldest));
        let ended = wait_for_end(&live, End::SourceEnded, 240);
        // Alive at once: the buffer, the producer's batch taken from the ready source (at most
        // a sixteenth of the capacity under a drop policy), and the evicted item during a put.
        let most = MOST_LIVE_ITEMS.load(SeqCst);
        assert!(
            most <= (CAPACITY + CAPACITY / 16) as u64 + 1,
            "{most} items alive at once with a buffer of {CAPACITY}"
        );
        check_ended(&ended, COUNT, End::SourceEnded);
        assert_eq!(
            (ended.dropped, ended.buffered, ended.high_water),
            (COUNT - CAPACITY as u64, CAPACITY as u64, CAPACITY as u64)
        );
        let last: Vec<u64> = recording
            .by_ref()
            .map(|item| item.expect("read").0)
            .collect();
        assert_eq!(last, (COUNT - CAPACITY as u64..COUNT).collect::<Vec<u64>>());
        drop(recording);
        assert_eq!(LIVE_ITEMS.load(SeqCst), 0, "items leaked");
    });
}
