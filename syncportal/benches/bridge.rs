//! The reverse bridge, async code calling blocking code, next to the anchors it competes with,
//! and what the slow-poll detector costs.
//!
//! Groups, each measuring its anchors in the same run:
//! - `pool_run`: sequential round trips from one async task to a blocking closure and back:
//!   `BlockingPool::run` (a private pool, and `offload` on the default one) against tokio's
//!   `spawn_blocking` and the `blocking` crate's `unblock`.
//! - `actor_call`: sequential `Actor::call` round trips from one async task, against a
//!   hand-written actor: a thread looping on a tokio mpsc (`blocking_recv`) with a oneshot per
//!   call. `actor_call_blocking` does the same from a plain thread (`call_blocking` against
//!   `blocking_send` + `blocking_recv`).
//! - `slow_poll`: portal calls and tasks with the detector on (100 ms) and off. `yields_100`
//!   is a task that yields 100 times, so its difference is 100 polls' worth. The two portals
//!   take turns of `ROUND` runs while either is measured, so both meet the same conditions.
//!
//! The async loops run inside `Runtime::block_on` on a two-worker multi-thread runtime, the
//! same for every variant. Run with `cargo bench -p syncportal --bench bridge`.

use std::hint::black_box;
use std::thread;
use std::time::{Duration, Instant};

mod common;

use common::{config, in_turns_of_two, multi_thread_runtime};
use criterion::{Criterion, criterion_group, criterion_main};
use syncportal::{Actor, BlockingPool, Portal};
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};

/// Runs `round_trip` `iters` times in one async task and returns the time taken.
fn timed<F, Fut>(runtime: &Runtime, iters: u64, mut round_trip: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = u64>,
{
    runtime.block_on(async {
        let started = Instant::now();
        for _ in 0..iters {
            black_box(round_trip().await);
        }
        started.elapsed()
    })
}

fn bench_pool_run(c: &mut Criterion) {
    let runtime = multi_thread_runtime(2);
    let pool = BlockingPool::builder().thread_name("bench-pool").build();
    let mut group = c.benchmark_group("pool_run");
    group.bench_function("syncportal_pool", |b| {
        b.iter_custom(|iters| timed(&runtime, iters, || pool.run(|| black_box(1u64))));
    });
    group.bench_function("syncportal_offload", |b| {
        b.iter_custom(|iters| timed(&runtime, iters, || syncportal::offload(|| black_box(1u64))));
    });
    group.bench_function("tokio_spawn_blocking", |b| {
        b.iter_custom(|iters| {
            timed(&runtime, iters, || async {
                tokio::task::spawn_blocking(|| black_box(1u64))
                    .await
                    .expect("job completes")
            })
        });
    });
    group.bench_function("blocking_unblock", |b| {
        b.iter_custom(|iters| timed(&runtime, iters, || blocking::unblock(|| black_box(1u64))));
    });
    group.finish();
}

type Job = Box<dyn FnOnce(&mut u64) + Send>;

/// The anchor actor: a thread that owns the state and serves boxed closures from a bounded
/// tokio mpsc, answering each through a oneshot.
struct HandActor {
    mailbox: mpsc::Sender<Job>,
    thread: Option<thread::JoinHandle<()>>,
}

impl HandActor {
    fn new() -> Self {
        let (mailbox, mut inbox) = mpsc::channel::<Job>(64);
        let thread = thread::Builder::new()
            .name("bench-hand-actor".to_owned())
            .spawn(move || {
                let mut state = 0u64;
                while let Some(job) = inbox.blocking_recv() {
                    job(&mut state);
                }
            })
            .expect("actor thread starts");
        Self {
            mailbox,
            thread: Some(thread),
        }
    }

    async fn call(&self) -> u64 {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |state| {
            *state += 1;
            let _ = reply.send(*state);
        });
        self.mailbox.send(job).await.expect("actor alive");
        answer.await.expect("actor answers")
    }

    fn call_blocking(&self) -> u64 {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |state| {
            *state += 1;
            let _ = reply.send(*state);
        });
        self.mailbox.blocking_send(job).expect("actor alive");
        answer.blocking_recv().expect("actor answers")
    }
}

impl Drop for HandActor {
    fn drop(&mut self) {
        let (closed, _) = mpsc::channel(1);
        drop(std::mem::replace(&mut self.mailbox, closed));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn bench_actor(c: &mut Criterion) {
    let runtime = multi_thread_runtime(2);
    let actor = runtime
        .block_on(Actor::spawn(|| Ok::<_, std::convert::Infallible>(0u64)))
        .expect("actor starts");
    let hand = HandActor::new();

    let mut group = c.benchmark_group("actor_call");
    group.bench_function("syncportal_actor", |b| {
        b.iter_custom(|iters| {
            timed(&runtime, iters, || async {
                actor
                    .call(|state| {
                        *state += 1;
                        *state
                    })
                    .await
                    .expect("actor answers")
            })
        });
    });
    group.bench_function("hand_mpsc_oneshot", |b| {
        b.iter_custom(|iters| timed(&runtime, iters, || hand.call()));
    });
    group.finish();

    let mut group = c.benchmark_group("actor_call_blocking");
    group.bench_function("syncportal_actor", |b| {
        b.iter(|| {
            actor
                .call_blocking(|state| {
                    *state += 1;
                    *state
                })
                .expect("actor answers")
        });
    });
    group.bench_function("hand_mpsc_oneshot", |b| b.iter(|| hand.call_blocking()));
    group.finish();
}

fn portal(slow_poll: Option<Duration>, name: &str) -> Portal {
    Portal::builder()
        .worker_threads(2)
        .thread_name(name)
        .slow_poll_threshold(slow_poll)
        .build()
        .expect("portal starts")
}

async fn yields_100() -> u64 {
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    1
}

/// Runs of a workload made by one portal before the other takes its turn.
const ROUND: u64 = 32;

fn bench_slow_poll(c: &mut Criterion) {
    let watched = portal(Some(Duration::from_millis(100)), "bench-watched");
    let unwatched = portal(None, "bench-unwatched");
    let call_ready = |portal: &Portal| {
        black_box(portal.call(async { black_box(1u64) }).expect("call"));
    };
    let task = |portal: &Portal| {
        black_box(
            portal
                .spawn(async { black_box(1u64) })
                .expect("spawn")
                .wait(),
        )
        .expect("task");
    };
    let yields = |portal: &Portal| {
        black_box(portal.spawn(yields_100()).expect("spawn").wait()).expect("task");
    };
    let workloads = [
        ("call_ready", call_ready as fn(&Portal)),
        ("task", task),
        ("yields_100", yields),
    ];
    let mut group = c.benchmark_group("slow_poll");
    for (workload, run) in workloads {
        for (name, portal, other) in [("on", &watched, &unwatched), ("off", &unwatched, &watched)] {
            group.bench_function(format!("{workload}_{name}"), |b| {
                // The detector's cost is a few percent, less than the drift of conditions over
                // a few seconds: both portals take turns.
                b.iter_custom(|iters| in_turns_of_two(iters, ROUND, || run(portal), || run(other)));
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_pool_run, bench_actor, bench_slow_poll
}
criterion_main!(benches);
