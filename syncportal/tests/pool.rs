//! `BlockingPool` and `offload`: the thread limit under every cancellation pattern, jobs whose
//! future is dropped before they start, running jobs that keep their slot, panics with their
//! payload, blocking allowed on pool threads, thread names, the idle timeout, FIFO order,
//! results from many tasks, and `offload` on both runtime flavours.
//!
//! Jobs that must be caught in a state (running, queued) hold it on a channel or a barrier; the
//! test waits for a signal from inside the job, never for a guessed amount of time.

mod common;

use std::cell::RefCell;
use std::future::Future;
use std::panic;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex, mpsc};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use common::{CustomPayload, DropCount, expect_panic, portal, spin_until, watchdog};
use common::{current_thread_runtime, multi_thread_runtime};
use syncportal::{BlockingPool, Error, Portal, Queue, offload};

/// How long any one test may take before the watchdog fails it.
const WATCH: u64 = 30;

/// A wait that never runs out in a passing test.
const LONG: Duration = Duration::from_secs(20);

/// Polls `fut` once, with a waker that does nothing (a later `.await` registers a real one).
fn poll_now<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(Waker::noop()))
}

/// The name of the thread running this code.
fn thread_name() -> String {
    thread::current().name().unwrap_or("<unnamed>").to_owned()
}

/// Whether `name` is `{prefix}-{n}` for a number `n`.
fn named_by(prefix: &str, name: &str) -> bool {
    name.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|n| n.parse::<usize>().is_ok())
}

/// A job that holds its pool thread until released: `started` fires once it runs.
struct Held {
    started: mpsc::Receiver<()>,
    release: mpsc::Sender<()>,
}

impl Held {
    /// Queues a job on `pool` that signals, waits for the release, then runs `then`.
    fn start<R: Send + 'static>(
        pool: &BlockingPool,
        then: impl FnOnce() -> R + Send + 'static,
    ) -> (Self, syncportal::Run<R>) {
        let (started_tx, started) = mpsc::channel();
        let (release, gate) = mpsc::channel::<()>();
        let run = pool.run(move || {
            started_tx.send(()).expect("signal the start");
            gate.recv_timeout(LONG).expect("released in time");
            then()
        });
        (Self { started, release }, run)
    }

    fn wait_started(&self) {
        self.started
            .recv_timeout(LONG)
            .expect("the held job started");
    }

    fn release(&self) {
        self.release.send(()).expect("the held job waits");
    }
}

/// Counts jobs running at once and remembers the most.
#[derive(Default)]
struct Gauge {
    running: AtomicUsize,
    max: AtomicUsize,
    ran: AtomicUsize,
    /// Times a job saw the pool report more threads than its limit.
    over_limit: AtomicUsize,
    /// Jobs handed to the pool by the submitters so far.
    submitted: AtomicUsize,
}

impl Gauge {
    fn enter(&self) {
        let now = self.running.fetch_add(1, SeqCst) + 1;
        self.max.fetch_max(now, SeqCst);
        self.ran.fetch_add(1, SeqCst);
    }

    fn exit(&self) {
        self.running.fetch_sub(1, SeqCst);
    }
}

/// A small deterministic generator, so a failing run can be replayed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// Spins for `micros` microseconds: a job that occupies its thread without sleeping.
fn busy_for(micros: u64) {
    let until = Instant::now() + Duration::from_micros(micros);
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

const LIMIT: usize = 3;
const SUBMITTERS: u64 = 16;
const JOBS_EACH: u64 = 40;

/// One submitter: queues `JOBS_EACH` jobs and gives up on a random subset of them in every way
/// a caller can. Returns how many results it checked.
async fn submit_and_cancel(pool: BlockingPool, gauge: Arc<Gauge>, seed: u64) -> usize {
    let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut checked = 0;
    for i in 0..JOBS_EACH {
        let expected = seed * 1000 + i;
        let job_gauge = Arc::clone(&gauge);
        let job_pool = pool.clone();
        let spin = 50 + rng.below(250);
        let mut run = pool.run(move || {
            job_gauge.enter();
            if job_pool.threads() > LIMIT {
                job_gauge.over_limit.fetch_add(1, SeqCst);
            }
            busy_for(spin);
            job_gauge.exit();
            expected
        });
        gauge.submitted.fetch_add(1, SeqCst);
        match rng.below(6) {
            // Awaited to the end: the result must be this job's.
            0 => {
                assert_eq!(run.await, expected);
                checked += 1;
            }
            // Dropped right after creation.
            1 => drop(run),
            // Given up after a random short time, before or after the job started.
            2 => {
                let limit = Duration::from_micros(rng.below(2_000));
                if let Ok(value) = tokio::time::timeout(limit, run).await {
                    assert_eq!(value, expected);
                    checked += 1;
                }
            }
            // Raced against a cancel signal sent by another task after a few yields.
            3 => {
                let (cancel, cancelled) = tokio::sync::oneshot::channel::<()>();
                let yields = rng.below(20);
                tokio::spawn(async move {
                    for _ in 0..yields {
                        tokio::task::yield_now().await;
                    }
                    let _ = cancel.send(());
                });
                tokio::select! {
                    value = run => {
                        assert_eq!(value, expected);
                        checked += 1;
                    }
                    _ = cancelled => {}
                }
            }
            // Polled once, then dropped.
            4 => {
                if let Poll::Ready(value) = poll_now(&mut run) {
                    assert_eq!(value, expected);
                    checked += 1;
                }
            }
            // Awaited by a task that is aborted after a few yields.
            _ => {
                let waiter = tokio::spawn(run);
                for _ in 0..rng.below(10) {
                    tokio::task::yield_now().await;
                }
                waiter.abort();
                if let Ok(value) = waiter.await {
                    assert_eq!(value, expected);
                    checked += 1;
                }
            }
        }
    }
    checked
}

#[test]
fn the_limit_holds_under_every_cancellation_pattern() {
    watchdog(WATCH, || {
        let pool = BlockingPool::builder()
            .max_threads(LIMIT)
            .thread_name("limit")
            .build();
        let gauge = Arc::new(Gauge::default());
        let done = Arc::new(AtomicBool::new(false));

        // Watches the pool's own counters from outside for the whole run.
        let monitor = {
            let pool = pool.clone();
            let done = Arc::clone(&done);
            thread::spawn(move || {
                let (mut threads, mut busy, mut samples) = (0, 0, 0u64);
                while !done.load(SeqCst) {
                    threads = pool.threads().max(threads);
                    busy = pool.busy().max(busy);
                    samples += 1;
                    thread::yield_now();
                }
                (threads, busy, samples)
            })
        };

        // Anchors: LIMIT jobs that hold every thread (they meet at a barrier, which only works if
        // all run at once) until each submitter has queued its first job. A pool that starts
        // threads beyond its limit runs those jobs alongside the anchors.
        let barrier = Arc::new(Barrier::new(LIMIT));
        let anchors: Vec<_> = (0..LIMIT)
            .map(|_| {
                let gauge = Arc::clone(&gauge);
                let barrier = Arc::clone(&barrier);
                pool.run(move || {
                    gauge.enter();
                    barrier.wait();
                    let deadline = Instant::now() + LONG;
                    while gauge.submitted.load(SeqCst) < usize::try_from(SUBMITTERS).expect("fits")
                    {
                        assert!(Instant::now() < deadline, "the submitters never started");
                        thread::yield_now();
                    }
                    gauge.exit();
                })
            })
            .collect();

        let runtime = multi_thread_runtime(2);
        let checked: usize = runtime.block_on(async {
            let submitters: Vec<_> = (0..SUBMITTERS)
                .map(|seed| tokio::spawn(submit_and_cancel(pool.clone(), Arc::clone(&gauge), seed)))
                .collect();
            let mut checked = 0;
            for submitter in submitters {
                checked += submitter
                    .await
                    .unwrap_or_else(|err| panic::resume_unwind(err.into_panic()));
            }
            for anchor in anchors {
                anchor.await;
            }
            checked
        });

        // Jobs whose futures were dropped after they started still finish in the background.
        spin_until(10, "the pool is idle", || {
            pool.busy() == 0 && pool.queued() == 0
        });
        done.store(true, SeqCst);
        let (threads, busy, samples) = monitor.join().expect("the monitor ran");

        let max = gauge.max.load(SeqCst);
        assert!(max <= LIMIT, "{max} jobs ran at once; the limit is {LIMIT}");
        assert_eq!(max, LIMIT, "the anchors did not fill the pool");
        assert_eq!(gauge.running.load(SeqCst), 0);
        assert_eq!(
            gauge.over_limit.load(SeqCst),
            0,
            "a job saw more threads than the limit"
        );
        assert!(threads <= LIMIT, "the pool reported {threads} threads");
        assert!(busy <= LIMIT, "the pool reported {busy} busy threads");
        assert!(samples > 0);
        assert!(checked > 0, "no job was awaited to the end");
        let ran = gauge.ran.load(SeqCst);
        assert!(
            ran < usize::try_from(SUBMITTERS * JOBS_EACH).expect("fits"),
            "all {ran} jobs ran although most futures were dropped early"
        );

        // The pool still works.
        assert_eq!(runtime.block_on(pool.run(|| 7)), 7);
        assert!(pool.threads() <= LIMIT);
    });
}

#[test]
fn a_job_whose_future_is_dropped_before_it_starts_never_runs() {
    watchdog(WATCH, || {
        let pool = BlockingPool::builder()
            .max_threads(1)
            .thread_name("skip")
            .build();
        let runtime = current_thread_runtime();
        let (held, a) = Held::start(&pool, || "a");
        held.wait_started();

        // B: dropped while queued. Its captured values must be released, not leaked.
        let dropped_ran = Arc::new(AtomicBool::new(false));
        let b_captures = DropCount::default();
        let b = {
            let dropped_ran = Arc::clone(&dropped_ran);
            let guard = b_captures.guard();
            pool.run(move || {
                let _guard = guard;
                dropped_ran.store(true, SeqCst);
            })
        };
        assert_eq!((pool.queued(), pool.busy()), (1, 1));

        // B2: given up by a timeout while queued.
        let timed_out_ran = Arc::new(AtomicBool::new(false));
        let b2 = {
            let timed_out_ran = Arc::clone(&timed_out_ran);
            pool.run(move || timed_out_ran.store(true, SeqCst))
        };
        assert!(
            runtime
                .block_on(async { tokio::time::timeout(Duration::from_millis(5), b2).await })
                .is_err(),
            "the pool's only thread is held, so B2 cannot have finished"
        );
        drop(b);

        held.release();
        assert_eq!(runtime.block_on(a), "a");

        // C, submitted after B, runs: the pool was not stuck on the skipped jobs.
        let c = pool.run(thread_name);
        assert_eq!(runtime.block_on(c), "skip-0");
        assert!(
            !dropped_ran.load(SeqCst),
            "B ran although its future was dropped first"
        );
        assert!(
            !timed_out_ran.load(SeqCst),
            "B2 ran although its caller timed out first"
        );
        assert_eq!(b_captures.get(), 1, "the skipped job was not dropped");
        assert_eq!(pool.queued(), 0);
    });
}

#[test]
fn a_running_job_finishes_in_the_background_and_keeps_its_slot() {
    watchdog(WATCH, || {
        let pool = BlockingPool::builder()
            .max_threads(1)
            .thread_name("slot")
            .build();
        let runtime = current_thread_runtime();
        let a_finished = Arc::new(AtomicBool::new(false));
        let (a_done_tx, a_done) = mpsc::channel();
        let results = DropCount::default();
        let (held, a) = {
            let a_finished = Arc::clone(&a_finished);
            let result = results.guard();
            Held::start(&pool, move || {
                a_finished.store(true, SeqCst);
                a_done_tx.send(()).expect("signal the end");
                result
            })
        };
        held.wait_started();
        drop(a);

        // D waits behind A although nobody waits for A any more.
        let mut d = {
            let a_finished = Arc::clone(&a_finished);
            pool.run(move || a_finished.load(SeqCst))
        };
        assert_eq!(pool.threads(), 1);
        assert_eq!(pool.busy(), 1, "the running job lost its slot");
        assert_eq!(pool.queued(), 1, "D did not wait for the slot");
        assert!(poll_now(&mut d).is_pending());

        held.release();
        a_done
            .recv_timeout(LONG)
            .expect("A finished although its future was dropped");
        assert!(
            runtime.block_on(d),
            "D started before A's thread was free again"
        );
        // A's result was discarded: dropped, not kept.
        spin_until(10, "A's result is dropped", || results.get() == 1);
        assert_eq!(pool.queued(), 0);
    });
}

#[test]
fn a_panic_reaches_the_awaiting_task_with_its_payload() {
    watchdog(WATCH, || {
        let pool = BlockingPool::builder()
            .max_threads(2)
            .thread_name("panicky")
            .build();
        let runtime = multi_thread_runtime(2);

        let job = pool.run(|| -> u32 { panic::panic_any(CustomPayload { code: 7 }) });
        let err = runtime
            .block_on(async { tokio::spawn(job).await })
            .expect_err("the task panicked");
        assert!(err.is_panic());
        assert_eq!(
            err.into_panic().downcast_ref::<CustomPayload>(),
            Some(&CustomPayload { code: 7 })
        );

        let payload = expect_panic(|| runtime.block_on(pool.run(|| panic!("str payload"))));
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"str payload"));
        let n = std::hint::black_box(3);
        let payload = expect_panic(|| {
            runtime.block_on(pool.run(move || -> u8 { panic!("string payload {n}") }))
        });
        assert_eq!(
            payload.downcast_ref::<String>().map(String::as_str),
            Some("string payload 3")
        );

        // More panics than threads, then plain jobs: the pool keeps working.
        runtime.block_on(async {
            let panics: Vec<_> = (0..8u32)
                .map(|code| {
                    tokio::spawn(
                        pool.run(move || -> u32 { panic::panic_any(CustomPayload { code }) }),
                    )
                })
                .collect();
            for (code, task) in (0..8u32).zip(panics) {
                let payload = task.await.expect_err("panicked").into_panic();
                assert_eq!(
                    payload.downcast_ref::<CustomPayload>(),
                    Some(&CustomPayload { code })
                );
            }
            for n in 0..8u32 {
                assert_eq!(pool.run(move || n * 3).await, n * 3);
            }
        });
        assert!(pool.threads() <= 2);
    });
}

#[test]
fn blocking_is_allowed_on_pool_threads_and_refused_in_tasks() {
    watchdog(WATCH, || {
        let pool = BlockingPool::builder().max_threads(2).build();
        let private = portal(1);
        let runtime = multi_thread_runtime(2);
        runtime.block_on(async {
            let queue = Queue::new(1).expect("a queue");
            let (waiting, waits) = tokio::sync::oneshot::channel();
            let job = {
                let queue = queue.clone();
                let private = private.clone();
                pool.run(move || {
                    let global = Portal::global().call(async {
                        tokio::task::yield_now().await;
                        40 + 2
                    });
                    let own = private.call(async {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        "private"
                    });
                    waiting.send(()).expect("signal");
                    (global, own, queue.get_blocking())
                })
            };
            waits.await.expect("the job reached get_blocking");
            queue.put(7u32).await.expect("put");
            let (global, own, got) = job.await;
            assert_eq!(global, Ok(42));
            assert_eq!(own, Ok("private"));
            assert_eq!(got, Ok(7));

            // The same calls from inside an async task are refused, not run.
            let (global, got) =
                tokio::spawn(
                    async move { (Portal::global().call(async { 1 }), queue.get_blocking()) },
                )
                .await
                .expect("the task ran");
            assert_eq!(global, Err(Error::InAsyncContext));
            assert_eq!(got, Err(Error::InAsyncContext));
        });
    });
}

#[test]
fn threads_are_named_prefix_dash_number() {
    watchdog(WATCH, || {
        let pool = BlockingPool::builder()
            .max_threads(3)
            .thread_name("namecheck")
            .build();
        let runtime = current_thread_runtime();
        // Three jobs that can only all pass the barrier when three threads run them at once.
        let barrier = Arc::new(Barrier::new(4));
        let runs: Vec<_> = (0..3)
            .map(|_| {
                let barrier = Arc::clone(&barrier);
                pool.run(move || {
                    barrier.wait();
                    thread_name()
                })
            })
            .collect();
        barrier.wait();
        assert_eq!(pool.threads(), 3);
        let mut names: Vec<String> = runs.into_iter().map(|run| runtime.block_on(run)).collect();
        names.sort();
        assert_eq!(names, ["namecheck-0", "namecheck-1", "namecheck-2"]);

        // The default pool behind offload: syncportal-pool-N.
        let name = runtime.block_on(offload(thread_name));
        assert!(named_by("syncportal-pool", &name), "{name}");
        assert_eq!(BlockingPool::global().max_threads(), 64);
        // 0 counts as 1.
        assert_eq!(
            BlockingPool::builder().max_threads(0).build().max_threads(),
            1
        );
    });
}

#[test]
fn idle_threads_leave_after_the_idle_timeout() {
    watchdog(WATCH, || {
        let idle = Duration::from_millis(50);
        let pool = BlockingPool::builder()
            .max_threads(3)
            .thread_name("idle")
            .idle_timeout(idle)
            .build();
        let runtime = current_thread_runtime();
        let barrier = Arc::new(Barrier::new(4));
        let runs: Vec<_> = (0..3)
            .map(|_| {
                let barrier = Arc::clone(&barrier);
                pool.run(move || {
                    barrier.wait();
                    Instant::now()
                })
            })
            .collect();
        barrier.wait();
        assert_eq!(pool.threads(), 3);
        let last_end = runs
            .into_iter()
            .map(|run| runtime.block_on(run))
            .max()
            .expect("three jobs");

        spin_until(10, "the idle threads left", || pool.threads() == 0);
        assert!(
            last_end.elapsed() >= idle,
            "threads left {:?} after their last job, before the idle timeout",
            last_end.elapsed()
        );

        // Threads start again on demand.
        let name = runtime.block_on(pool.run(thread_name));
        assert!(named_by("idle", &name), "{name}");
        assert_eq!(pool.threads(), 1);
    });
}

thread_local! {
    /// Set by a job to learn when its pool thread ends.
    static ON_EXIT: RefCell<Option<ExitSignal>> = const { RefCell::new(None) };
}

/// Sends its thread's name when the thread ends (thread-locals are dropped then).
struct ExitSignal(mpsc::Sender<String>);

impl Drop for ExitSignal {
    fn drop(&mut self) {
        let _ = self.0.send(thread_name());
    }
}

#[test]
fn dropping_the_last_handle_lets_idle_threads_leave_and_queued_jobs_finish() {
    watchdog(WATCH, || {
        let pool = BlockingPool::builder()
            .max_threads(1)
            .thread_name("abandoned")
            .idle_timeout(Duration::from_secs(600))
            .build();
        let runtime = current_thread_runtime();
        let (exit_tx, exited) = mpsc::channel();
        let (held, a) = Held::start(&pool, move || {
            ON_EXIT.with(|slot| *slot.borrow_mut() = Some(ExitSignal(exit_tx)));
            1
        });
        held.wait_started();
        let b = pool.run(|| 2);
        let clone = pool.clone();
        drop(pool);
        assert_eq!(clone.queued(), 1);
        drop(clone);

        // The queued job still runs, then the thread leaves long before its idle timeout.
        held.release();
        assert_eq!(runtime.block_on(a), 1);
        assert_eq!(runtime.block_on(b), 2);
        assert_eq!(
            exited.recv_timeout(LONG).expect("the pool thread ended"),
            "abandoned-0"
        );
    });
}

#[test]
fn queued_jobs_start_in_the_order_they_were_submitted() {
    watchdog(WATCH, || {
        let pool = BlockingPool::builder().max_threads(1).build();
        let runtime = current_thread_runtime();
        let (held, a) = Held::start(&pool, || ());
        held.wait_started();
        let order = Arc::new(Mutex::new(Vec::new()));
        let runs: Vec<_> = (0..32)
            .map(|n| {
                let order = Arc::clone(&order);
                pool.run(move || order.lock().expect("order").push(n))
            })
            .collect();
        assert_eq!(pool.queued(), 32);
        held.release();
        runtime.block_on(a);
        for run in runs.into_iter().rev() {
            runtime.block_on(run);
        }
        assert_eq!(*order.lock().expect("order"), (0..32).collect::<Vec<_>>());
    });
}

#[test]
fn results_come_back_to_the_right_caller_from_many_tasks() {
    watchdog(WATCH, || {
        let pool = BlockingPool::builder().max_threads(4).build();
        let runtime = multi_thread_runtime(4);
        runtime.block_on(async {
            let tasks: Vec<_> = (0..32u64)
                .map(|task| {
                    let pool = pool.clone();
                    tokio::spawn(async move {
                        // All queued at once, awaited in reverse, half on the global pool.
                        let runs: Vec<_> = (0..25u32)
                            .map(|i| {
                                let i = u64::from(i);
                                let job = move || (task, i, (task * 100 + i).pow(2));
                                if i % 2 == 0 {
                                    pool.run(job)
                                } else {
                                    offload(job)
                                }
                            })
                            .collect();
                        for (i, run) in (0..25u32).zip(runs).rev() {
                            let i = u64::from(i);
                            assert_eq!(run.await, (task, i, (task * 100 + i).pow(2)));
                        }
                        task
                    })
                })
                .collect();
            for (n, task) in (0..32u64).zip(tasks) {
                let joined = task
                    .await
                    .unwrap_or_else(|err| panic::resume_unwind(err.into_panic()));
                assert_eq!(joined, n);
            }
        });
        assert!(pool.threads() <= 4);
    });
}

/// Runs offload from a task of `runtime` while the job blocks on a value that another task of
/// the same runtime sends: it can only finish if the runtime stays free while the job runs.
fn offload_from(runtime: &tokio::runtime::Runtime) -> (u32, String) {
    runtime.block_on(async {
        let (tx, rx) = mpsc::channel();
        let job = tokio::spawn(offload(move || {
            (rx.recv_timeout(LONG).expect("the task sent"), thread_name())
        }));
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            tx.send(5).expect("the job waits");
        });
        job.await.expect("the offloading task finished")
    })
}

#[test]
fn offload_works_on_a_multi_thread_runtime() {
    watchdog(WATCH, || {
        let (value, name) = offload_from(&multi_thread_runtime(2));
        assert_eq!(value, 5);
        assert!(named_by("syncportal-pool", &name), "{name}");
    });
}

#[test]
fn offload_works_on_a_current_thread_runtime() {
    watchdog(WATCH, || {
        let (value, name) = offload_from(&current_thread_runtime());
        assert_eq!(value, 5);
        assert!(named_by("syncportal-pool", &name), "{name}");
    });
}

/// A value whose `Drop` panics: legal Rust, and the pool drops results nobody waits for.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("PanicsOnDrop dropped");
    }
}

/// Runs `f` on its own thread; fails with `what` if it has not returned within `secs` seconds.
fn returns_within<T: Send + 'static>(
    secs: u64,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(panic::catch_unwind(panic::AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(Ok(value)) => value,
        Ok(Err(payload)) => panic::resume_unwind(payload),
        Err(err) => panic!("{what}: still waiting after {secs} s ({err})"),
    }
}

/// Known bug (kept failing on purpose): when a running job's future has been dropped, the pool
/// drops the job's result on the pool thread outside any `catch_unwind`
/// (`let _ = sender.send(...)` in `BlockingPool::run`). If that drop panics, the panic unwinds
/// out of `work_loop` past `state.threads -= 1`: the thread is gone but still counted, so a
/// `max_threads(1)` pool never starts another thread and every later job waits forever.
#[test]
fn a_discarded_result_that_panics_on_drop_does_not_cost_the_pool_its_thread() {
    watchdog(WATCH, || {
        let pool = BlockingPool::builder()
            .max_threads(1)
            .thread_name("discard")
            .build();
        let (held, run) = Held::start(&pool, || PanicsOnDrop);
        held.wait_started();
        drop(run);
        held.release();
        let value = returns_within(
            5,
            "a job after a discarded result panicked on drop",
            move || current_thread_runtime().block_on(pool.run(|| 5)),
        );
        assert_eq!(value, 5);
    });
}
