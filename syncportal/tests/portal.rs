//! The portal itself: the global portal, the builder, `from_handle`, `call`, `call_timeout`,
//! panics in calls, `shutdown`, dropping a portal, many threads at once, and the error texts.

mod common;

use std::cell::Cell;
use std::future::pending;
use std::io;
use std::rc::Rc;
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::Duration;

use common::{
    DropCount, PollCount, assert_custom_payload, assert_str_payload, assert_string_payload,
    block_the_only_worker, drop_signal, expect_panic, panics_with_custom, panics_with_str,
    panics_with_string, portal, probe, probe_stream, spin_until, watchdog,
};
use syncportal::{BuildError, Error, Portal};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const MS: Duration = Duration::from_millis(1);

/// The name of a thread that runs a task spawned on `portal`'s runtime.
fn worker_name(portal: &Portal) -> String {
    portal
        .call(async { tokio::spawn(async { thread::current().name().map(str::to_owned) }).await })
        .expect("call")
        .expect("join the spawned task")
        .expect("worker threads are named")
}

/// Asserts that `name` is `{prefix}-{n}` for a decimal `n`.
fn assert_numbered(name: &str, prefix: &str) {
    let number = name
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('-'))
        .unwrap_or_else(|| panic!("thread name {name:?} does not start with {prefix}-"));
    assert!(
        !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()),
        "thread name {name:?} is not {prefix}-N"
    );
}

fn app_runtime(name: &str) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()
        .expect("build the application's runtime")
}

// ---------------------------------------------------------------------------------------------
// Portal::global

#[test]
fn global_is_one_instance_across_threads() {
    let here = Portal::global();
    assert!(std::ptr::eq(here, Portal::global()));
    assert!(std::ptr::eq(
        here,
        Portal::try_global().expect("global portal")
    ));
    let there = thread::spawn(Portal::global).join().expect("thread");
    assert!(std::ptr::eq(here, there));
    assert_eq!(here.default_timeout(), None);
    assert!(!here.is_closed());
}

#[test]
fn global_threads_are_named_syncportal_rt() {
    let name = watchdog(20, || worker_name(Portal::global()));
    assert_numbered(&name, "syncportal-rt");
}

/// Stands for an SDK client that uses the global portal, as two independent SDKs would.
struct Client {
    portal: &'static Portal,
    name: &'static str,
}

impl Client {
    fn new(name: &'static str) -> Self {
        Self {
            portal: Portal::global(),
            name,
        }
    }

    fn greet(&self) -> Result<(String, String), Error> {
        let name = self.name;
        self.portal.call(async move {
            let worker = tokio::spawn(async { thread::current().name().map(str::to_owned) })
                .await
                .expect("join")
                .expect("named worker");
            (format!("hello from {name}"), worker)
        })
    }
}

#[test]
fn two_clients_share_the_global_portal() {
    watchdog(20, || {
        let barrier = Arc::new(Barrier::new(2));
        let clients = ["alpha", "beta"].map(|name| {
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let client = Client::new(name);
                barrier.wait();
                let greetings: Vec<_> = (0..50).map(|_| client.greet()).collect();
                (client.portal, greetings)
            })
        });
        let [alpha, beta] = clients.map(|client| client.join().expect("client thread"));
        assert!(std::ptr::eq(alpha.0, beta.0), "both clients use one portal");
        assert!(std::ptr::eq(alpha.0, Portal::global()));
        for (name, greetings) in [("alpha", alpha.1), ("beta", beta.1)] {
            assert_eq!(greetings.len(), 50);
            for greeting in greetings {
                let (text, worker) = greeting.expect("call through the shared portal");
                assert_eq!(text, format!("hello from {name}"));
                assert_numbered(&worker, "syncportal-rt");
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Portal::builder

#[test]
fn builder_sets_worker_threads() {
    for count in [1, 3] {
        let portal = Portal::builder()
            .worker_threads(count)
            .build()
            .expect("build");
        assert_eq!(portal.handle().metrics().num_workers(), count);
    }
}

#[test]
fn builder_names_threads_with_prefix() {
    let portal = Portal::builder()
        .worker_threads(2)
        .thread_name("acme-sdk")
        .build()
        .expect("build");
    let names = watchdog(20, move || {
        portal
            .call(async {
                let mut names = Vec::new();
                let spawned: Vec<_> = (0..16)
                    .map(|_| tokio::spawn(async { thread::current().name().map(str::to_owned) }))
                    .collect();
                for join in spawned {
                    names.push(join.await.expect("join").expect("named worker"));
                }
                let blocking =
                    tokio::task::spawn_blocking(|| thread::current().name().map(str::to_owned));
                names.push(
                    blocking
                        .await
                        .expect("join")
                        .expect("named blocking thread"),
                );
                names
            })
            .expect("call")
    });
    assert_eq!(names.len(), 17);
    for name in names {
        assert_numbered(&name, "acme-sdk");
    }
}

#[test]
fn builder_default_timeout_applies_to_call() {
    watchdog(20, || {
        let portal = Portal::builder()
            .default_timeout(Duration::from_millis(20))
            .build()
            .expect("build");
        assert_eq!(portal.default_timeout(), Some(Duration::from_millis(20)));
        let (polls, drops) = (PollCount::default(), DropCount::default());
        assert_eq!(portal.call(probe(&polls, &drops)), Err(Error::Timeout));
        assert!(polls.get() >= 1);
        assert_eq!(
            drops.get(),
            1,
            "the timed-out future was dropped before call returned"
        );
        assert_eq!(portal.call(async { 5 }), Ok(5));
        // An explicit call_timeout is not capped by the default.
        let slow = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            6
        };
        assert_eq!(portal.call_timeout(slow, Duration::from_secs(30)), Ok(6));
    });
}

#[test]
fn builder_without_default_timeout_has_none() {
    let portal = Portal::builder().build().expect("build");
    assert_eq!(portal.default_timeout(), None);
}

#[test]
fn builder_refuses_zero_worker_threads() {
    let built = Portal::builder().worker_threads(0).build();
    assert!(
        matches!(built, Err(BuildError::ZeroWorkerThreads)),
        "{built:?}"
    );
}

#[test]
fn builder_refuses_zero_default_timeout() {
    let built = Portal::builder().default_timeout(Duration::ZERO).build();
    assert!(
        matches!(built, Err(BuildError::ZeroDefaultTimeout)),
        "{built:?}"
    );
    let tiny = Portal::builder()
        .default_timeout(Duration::from_nanos(1))
        .build();
    assert!(tiny.is_ok(), "any non-zero default timeout is accepted");
}

// ---------------------------------------------------------------------------------------------
// Portal::from_handle

#[test]
fn from_handle_multi_thread_runtime_runs_calls_tasks_and_timers() {
    watchdog(20, || {
        let app = app_runtime("app-rt");
        let portal = Portal::from_handle(app.handle().clone()).expect("attach");
        let called = portal.call(async {
            tokio::time::sleep(MS).await;
            tokio::spawn(async { thread::current().name().map(str::to_owned) })
                .await
                .expect("join")
        });
        assert_eq!(called, Ok(Some("app-rt".to_owned())));
        let task = portal
            .spawn(async {
                tokio::time::sleep(MS).await;
                thread::current().name().map(str::to_owned)
            })
            .expect("spawn");
        assert_eq!(task.wait(), Ok(Some("app-rt".to_owned())));
        let timed_out = portal.call_timeout(pending::<()>(), Duration::from_millis(10));
        assert_eq!(timed_out, Err(Error::Timeout));
    });
}

#[test]
fn from_handle_refuses_current_thread_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build");
    let attached = Portal::from_handle(runtime.handle().clone());
    assert!(
        matches!(attached, Err(BuildError::CurrentThreadRuntime)),
        "{attached:?}"
    );
}

#[test]
fn from_handle_refuses_runtime_without_timers() {
    let bare = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .expect("build");
    let attached = Portal::from_handle(bare.handle().clone());
    assert!(
        matches!(attached, Err(BuildError::TimersDisabled)),
        "{attached:?}"
    );
    let io_only = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_io()
        .build()
        .expect("build");
    let attached = Portal::from_handle(io_only.handle().clone());
    assert!(
        matches!(attached, Err(BuildError::TimersDisabled)),
        "{attached:?}"
    );
}

#[test]
fn shutdown_of_attached_portal_leaves_app_runtime_running() {
    watchdog(20, || {
        let app = app_runtime("app-rt");
        let portal = Portal::from_handle(app.handle().clone()).expect("attach");
        // The application's own task, not tracked by the portal.
        let (go_tx, go_rx) = tokio::sync::oneshot::channel::<u32>();
        let app_task = app.spawn(async move { go_rx.await.expect("go") * 2 });
        let (guard, dropped) = drop_signal();
        let tracked = portal
            .spawn(async move {
                let _guard = guard;
                pending::<()>().await;
            })
            .expect("spawn");

        let report = portal
            .shutdown(Duration::from_millis(20))
            .expect("shutdown");
        assert_eq!((report.finished, report.cancelled), (0, 1));
        assert_eq!(tracked.wait(), Err(Error::Cancelled));
        dropped
            .recv()
            .expect("the tracked task's future was dropped");
        assert_eq!(portal.call(async { 1 }), Err(Error::Closed));

        // The application's runtime still runs its tasks, timers and spawns.
        go_tx.send(21).expect("the app task is still alive");
        assert_eq!(app.block_on(app_task).expect("join"), 42);
        let later = app.block_on(async {
            tokio::spawn(async {
                tokio::time::sleep(MS).await;
                9
            })
            .await
        });
        assert_eq!(later.expect("join"), 9);
    });
}

// ---------------------------------------------------------------------------------------------
// call

#[test]
fn call_returns_the_output() {
    assert_eq!(Portal::global().call(async { 40 + 2 }), Ok(42));
}

#[test]
fn call_accepts_a_non_send_future() {
    let shared = Rc::new(Cell::new(1));
    let result = Portal::global().call(async {
        let held = Rc::clone(&shared);
        tokio::task::yield_now().await; // `held` lives across an await: the future is !Send
        held.set(held.get() + 1);
        Rc::strong_count(&held)
    });
    assert_eq!(result, Ok(2));
    assert_eq!(shared.get(), 2);
}

#[test]
fn call_borrows_non_static_data() {
    let numbers = [1, 2, 3];
    let mut log = String::new();
    let sum = Portal::global().call(async {
        tokio::task::yield_now().await;
        log.push_str("summed");
        numbers.iter().sum::<i32>()
    });
    assert_eq!(sum, Ok(6));
    assert_eq!(log, "summed");
}

#[test]
fn call_runs_timers_and_tokio_spawn() {
    let result = watchdog(20, || {
        Portal::global().call(async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let late = tokio::time::timeout(MS, pending::<()>()).await;
            let spawned = tokio::spawn(async {
                tokio::time::sleep(MS).await;
                7
            });
            (late.is_err(), spawned.await.expect("join"))
        })
    });
    assert_eq!(result, Ok((true, 7)));
}

#[test]
fn call_survives_exhausting_tokios_cooperative_budget() {
    let sum = watchdog(20, || {
        Portal::global().call(async {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            for i in 0..10_000_u64 {
                tx.send(i).expect("open");
            }
            drop(tx);
            // Each recv spends budget; tokio forces a yield every so often.
            let mut sum = 0;
            while let Some(i) = rx.recv().await {
                sum += i;
            }
            sum
        })
    });
    assert_eq!(sum, Ok((0..10_000).sum()));
}

#[test]
fn call_runs_tokio_io_on_loopback() {
    let exchanged = watchdog(20, || {
        Portal::global().call(async {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let client = tokio::spawn(async move {
                let mut stream = TcpStream::connect(addr).await?;
                stream.write_all(b"ping").await?;
                let mut reply = [0; 4];
                stream.read_exact(&mut reply).await?;
                Ok::<_, io::Error>(reply)
            });
            let (mut server, _) = listener.accept().await?;
            let mut request = [0; 4];
            server.read_exact(&mut request).await?;
            server.write_all(b"pong").await?;
            let reply = client.await.expect("join")?;
            Ok::<_, io::Error>((request, reply))
        })
    });
    let (request, reply) = exchanged.expect("call").expect("loopback IO");
    assert_eq!(&request, b"ping");
    assert_eq!(&reply, b"pong");
}

// ---------------------------------------------------------------------------------------------
// call_timeout

#[test]
fn call_timeout_drops_the_future_before_returning() {
    watchdog(20, || {
        let drops = DropCount::default();
        let (guard, dropped) = drop_signal();
        let counted = drops.guard();
        let slow = async move {
            let _guards = (guard, counted);
            tokio::time::sleep(Duration::from_secs(3600)).await;
            1
        };
        let result = Portal::global().call_timeout(slow, Duration::from_millis(20));
        assert_eq!(result, Err(Error::Timeout));
        // No waiting: the drop has already happened.
        assert_eq!(drops.get(), 1);
        assert_eq!(dropped.try_recv(), Ok(()));
    });
}

#[test]
fn call_timeout_zero_gives_ready_output_and_times_out_pending_work() {
    watchdog(20, || {
        let portal = Portal::global();
        assert_eq!(portal.call_timeout(async { 3 }, Duration::ZERO), Ok(3));
        let (polls, drops) = (PollCount::default(), DropCount::default());
        let result = portal.call_timeout(probe(&polls, &drops), Duration::ZERO);
        assert_eq!(result, Err(Error::Timeout));
        assert!(polls.get() >= 1, "the future was polled");
        assert_eq!(drops.get(), 1, "and dropped before call_timeout returned");
    });
}

#[test]

fn call_timeout_zero_polls_exactly_once() {
    watchdog(20, || {
        let (polls, drops) = (PollCount::default(), DropCount::default());
        let result = Portal::global().call_timeout(probe(&polls, &drops), Duration::ZERO);
        assert_eq!(result, Err(Error::Timeout));
        assert_eq!(
            polls.get(),
            1,
            "a zero timeout polls the future exactly once"
        );
    });
}

#[test]

fn call_timeout_expires_even_when_every_worker_is_busy() {
    let portal = portal(1);
    let release = block_the_only_worker(&portal);
    let caller = portal.clone();
    let result = watchdog(10, move || {
        caller.call_timeout(pending::<()>(), Duration::from_millis(50))
    });
    drop(release);
    assert_eq!(result, Err(Error::Timeout));
}

#[test]
fn call_timeout_max_means_no_limit() {
    let result = watchdog(20, || {
        Portal::global().call_timeout(
            async {
                tokio::time::sleep(MS).await;
                4
            },
            Duration::MAX,
        )
    });
    assert_eq!(result, Ok(4));
    assert_eq!(
        Portal::global().call_timeout(async { 5 }, Duration::MAX),
        Ok(5)
    );
}

// ---------------------------------------------------------------------------------------------
// Panics inside call

#[test]
fn call_panic_keeps_str_payload_and_portal_stays_usable() {
    let portal = portal(1);
    let payload = expect_panic(|| portal.call(panics_with_str()));
    assert_str_payload(&*payload);
    assert_eq!(portal.call(async { 1 }), Ok(1));
}

#[test]
fn call_panic_keeps_string_payload() {
    let portal = portal(1);
    let payload = expect_panic(|| portal.call(panics_with_string(17)));
    assert_string_payload(&*payload, 17);
    assert_eq!(portal.call(async { 2 }), Ok(2));
}

#[test]
fn call_panic_keeps_custom_payload() {
    let portal = portal(1);
    let payload = expect_panic(|| portal.call(panics_with_custom(99)));
    assert_custom_payload(&*payload, 99);
    // Also through call_timeout, and on the first poll before any await.
    let payload = expect_panic(|| {
        portal.call_timeout(
            async { std::panic::panic_any(common::CustomPayload { code: 3 }) },
            Duration::from_secs(30),
        )
    });
    assert_custom_payload(&*payload, 3);
    assert_eq!(portal.call(async { 3 }), Ok(3));
    let task = portal.spawn(async { 4 }).expect("spawn");
    assert_eq!(task.wait(), Ok(4));
}

// ---------------------------------------------------------------------------------------------
// shutdown

#[test]
fn shutdown_refuses_new_work_at_once_and_counts_work_that_finishes() {
    watchdog(30, || {
        let portal = portal(2);
        let (release_task, task_gate) = tokio::sync::oneshot::channel::<u32>();
        let in_flight = portal
            .spawn(async move { task_gate.await.expect("released") + 1 })
            .expect("spawn");
        let (release_call, call_gate) = tokio::sync::oneshot::channel::<u32>();
        let (call_started, call_running) = mpsc::channel();
        let caller = {
            let portal = portal.clone();
            thread::spawn(move || {
                portal.call(async move {
                    call_started.send(()).expect("signal");
                    call_gate.await.expect("released") * 10
                })
            })
        };
        call_running.recv().expect("the call is in flight");

        let closer = {
            let portal = portal.clone();
            thread::spawn(move || portal.shutdown(Duration::from_secs(30)))
        };
        spin_until(10, "shutdown closed the portal", || portal.is_closed());

        // Shutdown is still waiting for the two, and refuses everything new.
        assert_eq!(portal.call(async { 1 }), Err(Error::Closed));
        let (polls, drops) = (PollCount::default(), DropCount::default());
        assert_eq!(
            portal.spawn(probe(&polls, &drops)).err(),
            Some(Error::Closed)
        );
        assert_eq!(
            (polls.get(), drops.get()),
            (0, 1),
            "refused work is dropped unpolled"
        );
        let mut refused = portal.iter(probe_stream(&polls, &drops));
        assert_eq!(refused.next(), Some(Err(Error::Closed)));
        assert_eq!(refused.next(), None);
        assert_eq!((polls.get(), drops.get()), (0, 2));
        assert!(!closer.is_finished(), "shutdown waits for work in flight");

        release_task.send(41).expect("task alive");
        release_call.send(7).expect("call alive");
        let report = closer.join().expect("closer").expect("shutdown");
        assert_eq!((report.finished, report.cancelled), (2, 0));
        assert_eq!(in_flight.wait(), Ok(42));
        assert_eq!(caller.join().expect("caller"), Ok(70));
    });
}

#[test]
fn shutdown_cancels_tasks_pending_after_grace() {
    watchdog(30, || {
        let portal = portal(2);
        let quick = portal.spawn(async { 5 }).expect("spawn");
        spin_until(10, "the quick task finished", || quick.is_finished());
        let mut pending_tasks = Vec::new();
        let mut drop_signals = Vec::new();
        for _ in 0..2 {
            let (guard, dropped) = drop_signal();
            drop_signals.push(dropped);
            let task = portal.spawn(async move {
                let _guard = guard;
                pending::<u32>().await
            });
            pending_tasks.push(task.expect("spawn"));
        }
        let (guard, detached_dropped) = drop_signal();
        portal
            .spawn(async move {
                let _guard = guard;
                pending::<()>().await;
            })
            .expect("spawn")
            .detach();

        let report = portal
            .shutdown(Duration::from_millis(50))
            .expect("shutdown");
        assert_eq!((report.finished, report.cancelled), (0, 3));
        for task in pending_tasks {
            assert_eq!(task.wait(), Err(Error::Cancelled));
        }
        for dropped in drop_signals {
            dropped.recv().expect("the cancelled future was dropped");
        }
        detached_dropped
            .recv()
            .expect("the detached future was dropped");
        // Finished before shutdown: not counted, and its value is kept.
        assert_eq!(quick.wait(), Ok(5));
    });
}

#[test]
fn shutdown_abandons_a_blocked_call_with_closed() {
    watchdog(30, || {
        let portal = portal(1);
        let (started, running) = mpsc::channel();
        let (guard, dropped) = drop_signal();
        let caller = {
            let portal = portal.clone();
            thread::spawn(move || {
                portal.call(async move {
                    let _guard = guard;
                    started.send(()).expect("signal");
                    pending::<u32>().await
                })
            })
        };
        running.recv().expect("the call is in flight");
        let report = portal
            .shutdown(Duration::from_millis(50))
            .expect("shutdown");
        assert_eq!((report.finished, report.cancelled), (0, 1));
        assert_eq!(caller.join().expect("caller"), Err(Error::Closed));
        dropped.recv().expect("the abandoned future was dropped");
    });
}

#[test]

fn shutdown_never_starts_a_task_that_was_still_queued() {
    watchdog(30, || {
        let portal = portal(1);
        let release = block_the_only_worker(&portal);
        // A blocking call in flight on another thread returns once shutdown cancels the rest.
        let (call_started, call_running) = mpsc::channel();
        let observer = {
            let portal = portal.clone();
            thread::spawn(move || {
                portal.call(async move {
                    call_started.send(()).expect("signal");
                    pending::<()>().await;
                })
            })
        };
        call_running.recv().expect("the call is in flight");
        // Queued behind the busy worker: it has not started when the grace runs out.
        let (ran, side_effect) = mpsc::channel::<&str>();
        let queued = portal
            .spawn(async move { ran.send("the queued task ran").expect("signal") })
            .expect("spawn");
        let closer = {
            let portal = portal.clone();
            thread::spawn(move || portal.shutdown(Duration::from_millis(20)))
        };
        assert_eq!(observer.join().expect("observer"), Err(Error::Closed));
        drop(release); // the worker is free again and picks up the queued task
        let report = closer.join().expect("closer").expect("shutdown");
        assert_eq!(queued.wait(), Err(Error::Cancelled));
        assert_eq!(
            side_effect.recv(),
            Err(mpsc::RecvError),
            "a cancelled task never starts"
        );
        // The blocker finished on its own; the call and the queued task were cancelled.
        assert_eq!((report.finished, report.cancelled), (1, 2));
    });
}

#[test]
fn shutdown_twice_is_closed() {
    watchdog(20, || {
        let portal = portal(1);
        let report = portal.shutdown(Duration::ZERO).expect("first shutdown");
        assert_eq!((report.finished, report.cancelled), (0, 0));
        assert!(portal.is_closed());
        assert_eq!(portal.shutdown(Duration::ZERO), Err(Error::Closed));
        assert_eq!(portal.clone().shutdown(MS), Err(Error::Closed));
    });
}

#[test]
fn shutdown_inside_async_code_is_refused_and_portal_keeps_working() {
    watchdog(20, || {
        let portal = portal(2);
        let inside = portal.call(async { portal.shutdown(Duration::ZERO) });
        assert_eq!(inside, Ok(Err(Error::InAsyncContext)));
        let from_task = {
            let portal = portal.clone();
            let cloned = portal.clone();
            portal
                .spawn(async move { cloned.shutdown(Duration::ZERO) })
                .expect("spawn")
                .wait()
        };
        assert_eq!(from_task, Ok(Err(Error::InAsyncContext)));
        assert!(!portal.is_closed());
        assert_eq!(portal.call(async { 8 }), Ok(8));
        assert_eq!(portal.spawn(async { 9 }).expect("spawn").wait(), Ok(9));
    });
}

#[test]
fn tasks_keep_their_outcomes_after_shutdown() {
    watchdog(30, || {
        let portal = portal(2);
        let done = portal.spawn(async { 7 }).expect("spawn");
        let mut done_timed = portal.spawn(async { 8 }).expect("spawn");
        spin_until(10, "both tasks finished", || {
            done.is_finished() && done_timed.is_finished()
        });
        let mut taken = portal.spawn(async { 9 }).expect("spawn");
        assert_eq!(taken.wait_timeout(Duration::from_secs(10)), Ok(9));
        let mut stuck = portal.spawn(pending::<u32>()).expect("spawn");

        let report = portal
            .shutdown(Duration::from_millis(20))
            .expect("shutdown");
        assert_eq!((report.finished, report.cancelled), (0, 1));

        assert_eq!(done.wait(), Ok(7));
        assert_eq!(done_timed.wait_timeout(Duration::from_secs(1)), Ok(8));
        assert_eq!(
            taken.wait_timeout(Duration::from_secs(1)),
            Err(Error::OutcomeTaken)
        );
        assert_eq!(stuck.wait_timeout(Duration::ZERO), Err(Error::Cancelled));
        assert_eq!(
            stuck.wait_timeout(Duration::from_secs(1)),
            Err(Error::OutcomeTaken)
        );
        assert_eq!(stuck.wait(), Err(Error::OutcomeTaken));
    });
}

// ---------------------------------------------------------------------------------------------
// Dropping a portal

/// Spawns a detached task that never finishes on `portal`, and returns a receiver that hears
/// when its future is dropped. Returns once the task is running.
fn park_a_task(portal: &Portal) -> mpsc::Receiver<()> {
    let (guard, dropped) = drop_signal();
    let (started, running) = mpsc::channel();
    portal
        .spawn(async move {
            let _guard = guard;
            started.send(()).expect("signal");
            pending::<()>().await;
        })
        .expect("spawn")
        .detach();
    running.recv().expect("the task started");
    dropped
}

#[test]
fn dropping_a_portal_cancels_its_pending_tasks() {
    watchdog(20, || {
        let portal = portal(2);
        let dropped = park_a_task(&portal);
        let clone = portal.clone();
        drop(portal);
        assert_eq!(
            dropped.try_recv(),
            Err(mpsc::TryRecvError::Empty),
            "a clone is alive"
        );
        drop(clone);
        dropped
            .recv()
            .expect("the pending task's future was dropped");
    });
}

#[test]
fn dropping_a_portal_inside_another_runtimes_task() {
    watchdog(20, || {
        let other = app_runtime("other-rt");
        let portal = portal(2);
        let dropped = park_a_task(&portal);
        let (done, finished) = mpsc::channel();
        other.spawn(async move {
            tokio::task::yield_now().await;
            drop(portal);
            done.send(()).expect("signal");
        });
        finished
            .recv()
            .expect("dropping the portal inside a task neither panicked nor hung");
        dropped
            .recv()
            .expect("the pending task's future was dropped");
        // The other runtime is unharmed.
        assert_eq!(
            other.block_on(async { tokio::spawn(async { 1 }).await.ok() }),
            Some(1)
        );
    });
}

#[test]
fn dropping_a_portal_inside_a_current_thread_block_on() {
    watchdog(20, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("build");
        let portal = portal(1);
        let dropped = park_a_task(&portal);
        runtime.block_on(async move {
            tokio::task::yield_now().await;
            drop(portal);
        });
        dropped
            .recv()
            .expect("the pending task's future was dropped");
    });
}

#[test]
fn dropping_a_portal_inside_a_task_on_its_own_runtime() {
    watchdog(20, || {
        let portal = portal(2);
        let dropped = park_a_task(&portal);
        let handle = portal.handle().clone();
        let last = portal.clone();
        let (go, gate) = tokio::sync::oneshot::channel::<()>();
        let (done, finished) = mpsc::channel();
        handle.spawn(async move {
            gate.await.expect("go");
            drop(last);
            done.send(thread::current().name().map(str::to_owned))
                .expect("signal");
        });
        drop(portal);
        go.send(()).expect("the task is waiting");
        let name = finished
            .recv()
            .expect("dropping the portal on its own worker neither panicked nor hung");
        assert_numbered(&name.expect("named worker"), "syncportal-rt");
        dropped
            .recv()
            .expect("the pending task's future was dropped");
    });
}

#[test]
fn dropping_a_portal_from_a_task_it_spawned() {
    watchdog(20, || {
        let portal = portal(2);
        let dropped = park_a_task(&portal);
        let last = portal.clone();
        let (go, gate) = tokio::sync::oneshot::channel::<()>();
        let (done, finished) = mpsc::channel();
        portal
            .spawn(async move {
                gate.await.expect("go");
                drop(last);
                done.send(()).expect("signal");
            })
            .expect("spawn")
            .detach();
        drop(portal);
        go.send(()).expect("the task is waiting");
        finished
            .recv()
            .expect("dropping the portal inside its own task neither panicked nor hung");
        dropped
            .recv()
            .expect("the pending task's future was dropped");
    });
}

#[test]
fn dropping_an_attached_portal_cancels_its_tasks_but_not_the_runtime() {
    watchdog(20, || {
        let app = app_runtime("app-rt");
        let portal = Portal::from_handle(app.handle().clone()).expect("attach");
        let dropped = park_a_task(&portal);
        drop(portal);
        dropped
            .recv()
            .expect("the pending task's future was dropped");
        let still = app.block_on(async { tokio::spawn(async { 5 }).await.ok() });
        assert_eq!(still, Some(5), "the application's runtime keeps running");
    });
}

// ---------------------------------------------------------------------------------------------
// Many threads

#[test]
fn thirty_two_threads_call_one_portal_at_once() {
    const THREADS: u64 = 32;
    const CALLS: u64 = 200;
    let total = watchdog(60, || {
        let portal = portal(2);
        let barrier = Arc::new(Barrier::new(32));
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let portal = portal.clone();
                let barrier = Arc::clone(&barrier);
                thread::spawn(move || {
                    barrier.wait();
                    for i in 0..CALLS {
                        let n = t * 1000 + i;
                        let got = portal.call(async move {
                            let echoed = tokio::spawn(async move {
                                tokio::task::yield_now().await;
                                n * 2
                            });
                            tokio::task::yield_now().await;
                            echoed.await.expect("join") + 1
                        });
                        assert_eq!(got, Ok(n * 2 + 1));
                    }
                    CALLS
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|thread| thread.join().expect("caller thread"))
            .sum::<u64>()
    });
    assert_eq!(total, THREADS * CALLS);
}

// ---------------------------------------------------------------------------------------------
// Error texts

fn assert_house_style(text: &str) {
    let first = text.chars().next().expect("non-empty message");
    assert!(!first.is_uppercase(), "{text:?} starts lower case");
    assert!(!text.ends_with('.'), "{text:?} has no trailing period");
}

#[test]
fn error_texts_are_lower_case_and_say_what_to_do() {
    let errors = [
        Error::InAsyncContext,
        Error::Timeout,
        Error::Cancelled,
        Error::Closed,
        Error::OutcomeTaken,
    ];
    for error in &errors {
        assert_house_style(&error.to_string());
    }
    let in_async = Error::InAsyncContext.to_string();
    assert!(in_async.contains(".await"), "{in_async}");
    assert!(in_async.contains("spawn_blocking"), "{in_async}");
    assert!(Error::Timeout.to_string().contains("raise the timeout"));
    assert!(Error::Cancelled.to_string().contains("cancelled"));
    assert!(Error::Closed.to_string().contains("Portal::builder()"));
    assert!(
        Error::OutcomeTaken
            .to_string()
            .contains("keep the first result")
    );

    let build_errors = [
        BuildError::Io(io::Error::other("no threads left")),
        BuildError::ZeroWorkerThreads,
        BuildError::ZeroDefaultTimeout,
        BuildError::CurrentThreadRuntime,
        BuildError::TimersDisabled,
    ];
    for error in &build_errors {
        assert_house_style(&error.to_string());
    }
    assert!(build_errors[0].to_string().contains("no threads left"));
    assert!(build_errors[2].to_string().contains("leave it unset"));
    assert!(build_errors[3].to_string().contains("multi_thread"));
    assert!(build_errors[4].to_string().contains("enable_time()"));
}

#[test]
fn error_helpers_match_their_variant_only() {
    let errors = [
        Error::InAsyncContext,
        Error::Timeout,
        Error::Cancelled,
        Error::Closed,
        Error::OutcomeTaken,
    ];
    for error in errors {
        let flags = [
            error.is_in_async_context(),
            error.is_timeout(),
            error.is_cancelled(),
            error.is_closed(),
        ];
        let expected = match error {
            Error::InAsyncContext => [true, false, false, false],
            Error::Timeout => [false, true, false, false],
            Error::Cancelled => [false, false, true, false],
            Error::Closed => [false, false, false, true],
            _ => [false; 4],
        };
        assert_eq!(flags, expected, "{error:?}");
    }
}

/// Shutdown races callers that keep calling: every call either runs or is refused, none is
/// lost in between (a missed admission would let the runtime stop under a live call).
#[test]
fn shutdown_racing_eight_callers_accounts_for_every_call() {
    watchdog(60, || {
        for _ in 0..40 {
            let portal = portal(2);
            let start = Arc::new(Barrier::new(9));
            let callers: Vec<_> = (0..8)
                .map(|_| {
                    let portal = portal.clone();
                    let start = Arc::clone(&start);
                    thread::spawn(move || {
                        start.wait();
                        let mut done = 0_u32;
                        loop {
                            let call = portal.call(async {
                                tokio::task::yield_now().await;
                                tokio::spawn(async { 1 }).await
                            });
                            match call {
                                Ok(Ok(1)) => done += 1,
                                Err(Error::Closed) => return done,
                                other => panic!("a call gave {other:?}"),
                            }
                        }
                    })
                })
                .collect();
            start.wait();
            let report = portal.shutdown(Duration::from_secs(5)).expect("shutdown");
            let done: u32 = callers.into_iter().map(|c| c.join().expect("caller")).sum();
            assert!(report.finished as u64 <= u64::from(done) + 8, "{report:?}");
            assert_eq!(
                (report.cancelled, report.left_running),
                (0, 0),
                "{report:?}"
            );
            assert!(
                report.finished <= 8,
                "at most one call per caller in flight: {report:?}"
            );
        }
    });
}
