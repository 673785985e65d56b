//! What streaming items between async and sync code costs: recordings and the shared [`Queue`],
//! next to the channels they compete with.
//!
//! Every workload is one criterion group, and every anchor of a workload is measured in that
//! group in the same run, so the ratios in BENCHMARKS.md compare like with like. `_w1` / `_w2`
//! name the runtime's worker-thread count; the anchors' producer tasks run on a plain tokio
//! multi-thread runtime built as a portal builds its own (`enable_all`, same worker count).
//!
//! Workloads:
//! - `record_block`: an async producer task streams `ITEMS` `u64`s to a plain thread through a
//!   buffer of `CAPACITY`, nothing dropped. One iteration is one whole run: making the channel
//!   (or starting the recording), spawning the producer, and the consumer reading every item
//!   and then the end. syncportal: [`Portal::record`] with [`Overflow::Block`], read through
//!   [`SyncRecording`](syncportal::SyncRecording). Anchors, with the same capacity:
//!   crossbeam-channel `bounded` (no async send, so the task calls the blocking `send` and
//!   holds its worker while the channel is full), flume `bounded` with `send_async`, and tokio
//!   `mpsc` with `send().await` and the consumer's `blocking_recv`. `syncportal_queue` is not an
//!   anchor but a reference: a plain [`Queue`] with `put().await` and `get_blocking`, one item
//!   per lock on both sides, where a recording's producer puts a ready source's items in batches.
//! - `overflow_full`: what one item costs under each [`Overflow`] policy once the buffer is
//!   full, one recording of an endless always-ready source per bench, kept running across
//!   samples. `block`: the consumer reads as fast as it can, and one iteration is one item
//!   delivered, so criterion's time is `Block`'s cost per delivered item. `drop_oldest` and
//!   `drop_newest`: the consumer never reads, so the buffer stays full and every item the
//!   source gives is dropped or evicts one; one iteration is one item the producer took from
//!   the source and handled under the policy, timed by watching
//!   [`Summary::emitted`](syncportal::Summary::emitted) grow.
//! - `overflow_slow_consumer`: one recording of an endless source per policy, with a consumer
//!   that does `WORK_ROUNDS` rounds of busy work per item, slower than the producer, so the
//!   buffer stays full. One iteration is one delivered item, so criterion's time is the cost
//!   per delivered item, which includes the CPU time the producer spends on items it drops;
//!   `work_only` is the consumer's work with no queue. After each policy the bench prints how
//!   many items the source emitted and the recording dropped while it was measured, and the
//!   average buffer fill the consumer saw.
//! - `queue_ping_pong`: one round trip between a plain thread and an async task through two
//!   queues of capacity 1: the thread puts with `put_blocking` and waits with `get_blocking`,
//!   the task answers with `get().await` and `put().await`. Anchor: two async-channel
//!   `bounded(1)` channels, `send_blocking`/`recv_blocking` on the thread and `send`/`recv`
//!   awaited in the task.
//!
//! Run with `cargo bench -p syncportal --bench stream`; add a group name to run one workload,
//! e.g. `cargo bench -p syncportal --bench stream -- queue_ping_pong`.

use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

mod common;

use common::{config, in_turns, multi_thread_runtime, portal};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_core::Stream;
use syncportal::{Overflow, Portal, Queue, RecordOptions, SyncRecording};
use tokio::runtime::Runtime;

/// Items per run in `record_block`.
const ITEMS: u64 = 100_000;
/// Buffer capacity of every channel and recording in `record_block` and `overflow_full`.
const CAPACITY: usize = 1024;
/// Busy-work rounds per item for the slow consumer of `overflow_slow_consumer`.
const WORK_ROUNDS: u32 = 64;

/// A stream of `next..end`, always ready.
struct Counter {
    next: u64,
    end: u64,
}

impl Counter {
    fn up_to(end: u64) -> Self {
        Self { next: 0, end }
    }
}

impl Stream for Counter {
    type Item = u64;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<u64>> {
        if self.next == self.end {
            return Poll::Ready(None);
        }
        let item = self.next;
        self.next += 1;
        Poll::Ready(Some(item))
    }
}

/// One `record_block` run of an anchor on `runtime`.
type AnchorRun = fn(&Runtime);

/// One `record_block` run through a recording.
fn record_run(portal: &Portal) {
    let options = RecordOptions::new()
        .capacity(CAPACITY)
        .overflow(Overflow::Block);
    let mut recording = portal
        .record(Counter::up_to(ITEMS), options)
        .expect("recording starts")
        .into_sync();
    for expected in 0..ITEMS {
        let item = recording.next().expect("an item").expect("no error");
        assert_eq!(item, expected);
    }
    assert!(recording.next().is_none(), "the recording ends");
}

/// One `record_block` run through a plain [`Queue`].
fn queue_run(runtime: &Runtime) {
    let queue = Queue::new(CAPACITY).expect("capacity is not zero");
    let producer = queue.clone();
    runtime.spawn(async move {
        for item in 0..ITEMS {
            producer.put(item).await.expect("consumer is reading");
        }
        producer.close();
    });
    for expected in 0..ITEMS {
        assert_eq!(queue.get_blocking().expect("an item"), expected);
    }
    assert!(queue.get_blocking().is_err(), "the queue ends");
}

/// One `record_block` run through crossbeam-channel.
fn crossbeam_run(runtime: &Runtime) {
    let (tx, rx) = crossbeam_channel::bounded(CAPACITY);
    runtime.spawn(async move {
        for item in 0..ITEMS {
            // Blocks this worker while the channel is full.
            tx.send(item).expect("consumer is reading");
        }
    });
    for expected in 0..ITEMS {
        assert_eq!(rx.recv().expect("an item"), expected);
    }
    assert!(rx.recv().is_err(), "the channel ends");
}

/// One `record_block` run through flume.
fn flume_run(runtime: &Runtime) {
    let (tx, rx) = flume::bounded(CAPACITY);
    runtime.spawn(async move {
        for item in 0..ITEMS {
            tx.send_async(item).await.expect("consumer is reading");
        }
    });
    for expected in 0..ITEMS {
        assert_eq!(rx.recv().expect("an item"), expected);
    }
    assert!(rx.recv().is_err(), "the channel ends");
}

/// One `record_block` run through tokio's mpsc.
fn tokio_mpsc_run(runtime: &Runtime) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(CAPACITY);
    runtime.spawn(async move {
        for item in 0..ITEMS {
            tx.send(item).await.expect("consumer is reading");
        }
    });
    for expected in 0..ITEMS {
        assert_eq!(rx.blocking_recv().expect("an item"), expected);
    }
    assert!(rx.blocking_recv().is_none(), "the channel ends");
}

fn bench_record_block(c: &mut Criterion) {
    let mut group = c.benchmark_group("record_block");
    group.throughput(Throughput::Elements(ITEMS));
    // Milliseconds per iteration: fewer samples keep the run short.
    group.sample_size(20);

    for workers in [1, 2] {
        let portal = portal(workers);
        let runtime = multi_thread_runtime(workers);
        let anchors: [(&str, AnchorRun); 4] = [
            ("syncportal_queue", queue_run),
            ("crossbeam", crossbeam_run),
            ("flume", flume_run),
            ("tokio_mpsc", tokio_mpsc_run),
        ];
        let recording = || record_run(&portal);
        let anchor_runs = anchors.map(|(_, run)| {
            let runtime = &runtime;
            move || run(runtime)
        });
        let mut workloads: Vec<&dyn Fn()> = vec![&recording];
        workloads.extend(anchor_runs.iter().map(|run| run as &dyn Fn()));
        let names = std::iter::once("syncportal").chain(anchors.map(|(name, _)| name));
        for (measured, name) in names.enumerate() {
            group.bench_function(format!("{name}_w{workers}"), |b| {
                // Runs of every variant take turns, one each, while any one is measured.
                b.iter_custom(|runs| in_turns(runs, 1, measured, &workloads));
            });
        }
    }
    group.finish();
}

/// The slow consumer's work on one item: `WORK_ROUNDS` dependent multiply-adds.
fn work(item: u64) -> u64 {
    let mut x = item;
    for _ in 0..WORK_ROUNDS {
        x = black_box(x.wrapping_mul(0x5851_f42d_4c95_7f2d).wrapping_add(1));
    }
    x
}

/// What one `overflow_slow_consumer` bench saw while it was measured.
#[derive(Default)]
struct Seen {
    delivered: u64,
    emitted: u64,
    dropped: u64,
    fill_sum: u64,
    fill_samples: u64,
}

impl Seen {
    fn report(&self, name: &str) {
        if self.delivered == 0 {
            return;
        }
        // Counts of a few million: exact enough in f64 for a printed ratio.
        #[allow(
            clippy::cast_precision_loss,
            reason = "counts well below 2^52, printed as ratios"
        )]
        let (per_delivered, fill) = (
            self.emitted as f64 / self.delivered as f64,
            self.fill_sum as f64 / self.fill_samples.max(1) as f64,
        );
        eprintln!(
            "overflow_slow_consumer/{name}: delivered {}, emitted {} ({per_delivered:.2} per delivered), \
             dropped {}, mean buffer fill at sample start {fill:.0}/{CAPACITY}",
            self.delivered, self.emitted, self.dropped,
        );
    }
}

/// Reads `items` items from `recording`, doing the slow consumer's work on each, and returns
/// the time it took; counts what the recording did meanwhile into `seen`.
fn read_slowly(recording: &mut SyncRecording<u64>, items: u64, seen: &mut Seen) -> Duration {
    let before = recording.summary();
    let began = Instant::now();
    for _ in 0..items {
        let item = recording.next().expect("an item").expect("no error");
        black_box(work(item));
    }
    let took = began.elapsed();
    let after = recording.summary();
    seen.delivered += after.delivered - before.delivered;
    seen.emitted += after.emitted - before.emitted;
    seen.dropped += after.dropped - before.dropped;
    seen.fill_sum += before.buffered;
    seen.fill_samples += 1;
    took
}

/// How often `overflow_full` looks at a stalled recording's count of emitted items.
const WATCH_EVERY: Duration = Duration::from_micros(200);

/// Starts a recording of an endless source under `overflow` and waits until its buffer is
/// full.
fn full_recording(portal: &Portal, overflow: Overflow) -> SyncRecording<u64> {
    let options = RecordOptions::new().capacity(CAPACITY).overflow(overflow);
    let recording = portal
        .record(Counter::up_to(u64::MAX), options)
        .expect("recording starts")
        .into_sync();
    while recording.summary().buffered < CAPACITY as u64 {
        thread::sleep(Duration::from_micros(100));
    }
    recording
}

/// Reads `items` items as fast as it can and returns the time it took.
fn read_fast(recording: &mut SyncRecording<u64>, items: u64) -> Duration {
    let began = Instant::now();
    for _ in 0..items {
        black_box(recording.next().expect("an item").expect("no error"));
    }
    began.elapsed()
}

/// The time a recording nobody reads takes to handle `items` items from its source: watches
/// its count of emitted items until it has grown by at least `items`, and scales the time
/// to exactly `items`.
fn watch_emitted(recording: &SyncRecording<u64>, items: u64) -> Duration {
    let live = recording.live_summary();
    let before = live.get().emitted;
    let began = Instant::now();
    loop {
        thread::sleep(WATCH_EVERY);
        let handled = live.get().emitted - before;
        if handled >= items {
            // Counts far below 2^52: exact in f64.
            #[allow(clippy::cast_precision_loss, reason = "counts well below 2^52")]
            let share = items as f64 / handled as f64;
            return began.elapsed().mul_f64(share);
        }
    }
}

fn bench_overflow_full(c: &mut Criterion) {
    let mut group = c.benchmark_group("overflow_full");
    group.throughput(Throughput::Elements(1));

    for workers in [1, 2] {
        let portal = portal(workers);
        let mut block = full_recording(&portal, Overflow::Block);
        group.bench_function(format!("block_w{workers}"), |b| {
            b.iter_custom(|items| read_fast(&mut block, items));
        });
        block.close();
        for (label, overflow) in [
            ("drop_oldest", Overflow::DropOldest),
            ("drop_newest", Overflow::DropNewest),
        ] {
            let mut stalled = full_recording(&portal, overflow);
            group.bench_function(format!("{label}_w{workers}"), |b| {
                b.iter_custom(|items| watch_emitted(&stalled, items));
            });
            let summary = stalled.summary();
            assert_eq!(summary.buffered, CAPACITY as u64, "the buffer stayed full");
            assert_eq!(summary.delivered, 0, "nothing was read");
            stalled.close();
        }
    }
    group.finish();
}

fn bench_overflow_slow_consumer(c: &mut Criterion) {
    let mut group = c.benchmark_group("overflow_slow_consumer");
    group.throughput(Throughput::Elements(1));

    group.bench_function("work_only", |b| {
        let mut item = 0u64;
        b.iter(|| {
            item += 1;
            work(black_box(item))
        });
    });
    for workers in [1, 2] {
        let portal = portal(workers);
        for (label, overflow) in [
            ("block", Overflow::Block),
            ("drop_oldest", Overflow::DropOldest),
            ("drop_newest", Overflow::DropNewest),
        ] {
            let name = format!("{label}_w{workers}");
            // The producer fills the buffer before the first sample.
            let mut recording = full_recording(&portal, overflow);
            let mut seen = Seen::default();
            group.bench_function(&name, |b| {
                b.iter_custom(|items| read_slowly(&mut recording, items, &mut seen));
            });
            recording.close();
            seen.report(&name);
        }
    }
    group.finish();
}

fn bench_queue_ping_pong(c: &mut Criterion) {
    let mut group = c.benchmark_group("queue_ping_pong");

    for workers in [1, 2] {
        let runtime = multi_thread_runtime(workers);
        {
            let to_task = Queue::new(1).expect("capacity 1");
            let to_thread = Queue::new(1).expect("capacity 1");
            let echo = {
                let (inbox, outbox) = (to_task.clone(), to_thread.clone());
                runtime.spawn(async move {
                    while let Ok(n) = inbox.get().await {
                        if outbox.put(n + 1).await.is_err() {
                            return;
                        }
                    }
                })
            };
            let mut n = 0u64;
            group.bench_function(format!("syncportal_queue_w{workers}"), |b| {
                b.iter(|| {
                    to_task.put_blocking(n).expect("task is reading");
                    n = to_thread.get_blocking().expect("task answers");
                });
            });
            to_task.close();
            runtime.block_on(echo).expect("echo task ends");
        }
        {
            let (to_task, inbox) = async_channel::bounded(1);
            let (outbox, to_thread) = async_channel::bounded(1);
            let echo = runtime.spawn(async move {
                while let Ok(n) = inbox.recv().await {
                    if outbox.send(n + 1).await.is_err() {
                        return;
                    }
                }
            });
            let mut n = 0u64;
            group.bench_function(format!("async_channel_w{workers}"), |b| {
                b.iter(|| {
                    to_task.send_blocking(n).expect("task is reading");
                    n = to_thread.recv_blocking().expect("task answers");
                });
            });
            drop(to_task);
            runtime.block_on(echo).expect("echo task ends");
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_record_block, bench_overflow_full, bench_overflow_slow_consumer, bench_queue_ping_pong
}
criterion_main!(benches);
