//! Tasks: `spawn`, `wait`, `wait_timeout`, `cancel`, `is_finished`, `detach`, dropping a task,
//! awaiting a task as a future, panics in tasks, and cancellation under stress.

mod common;

use std::future::pending;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use common::{
    assert_custom_payload, assert_str_payload, assert_string_payload, block_the_only_worker,
    drop_signal, expect_panic, panics_with_custom, panics_with_str, panics_with_string, portal,
    spin_until, watchdog,
};
use syncportal::{Error, Portal};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

const LONG: Duration = Duration::from_secs(30);

fn other_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("build another runtime")
}

#[test]
fn wait_returns_the_output() {
    let value = watchdog(20, || {
        let task = Portal::global()
            .spawn(async {
                tokio::time::sleep(Duration::from_millis(1)).await;
                "done"
            })
            .expect("spawn");
        task.wait()
    });
    assert_eq!(value, Ok("done"));
}

#[test]
fn wait_timeout_expiry_does_not_cancel() {
    watchdog(20, || {
        let (release, gate) = oneshot::channel::<u32>();
        let mut task = Portal::global()
            .spawn(async move { gate.await.expect("released") * 2 })
            .expect("spawn");
        assert_eq!(
            task.wait_timeout(Duration::from_millis(10)),
            Err(Error::Timeout)
        );
        assert_eq!(task.wait_timeout(Duration::ZERO), Err(Error::Timeout));
        assert!(!task.is_finished());
        release
            .send(21)
            .expect("the task is still alive: expiry did not cancel it");
        assert_eq!(task.wait_timeout(LONG), Ok(42));
    });
}

#[test]
fn wait_again_after_expiry_gets_the_value() {
    let value = watchdog(20, || {
        let (release, gate) = oneshot::channel::<&str>();
        let mut task = Portal::global()
            .spawn(async move { gate.await.expect("released") })
            .expect("spawn");
        assert_eq!(
            task.wait_timeout(Duration::from_millis(5)),
            Err(Error::Timeout)
        );
        release.send("late").expect("alive");
        task.wait()
    });
    assert_eq!(value, Ok("late"));
}

#[test]
fn cancel_then_wait_is_cancelled() {
    watchdog(20, || {
        let (guard, dropped) = drop_signal();
        let (started, running) = mpsc::channel();
        let task = Portal::global()
            .spawn(async move {
                let _guard = guard;
                started.send(()).expect("signal");
                pending::<u32>().await
            })
            .expect("spawn");
        running.recv().expect("the task started");
        task.cancel();
        task.cancel(); // a second cancel does nothing
        assert_eq!(task.wait(), Err(Error::Cancelled));
        dropped.recv().expect("the cancelled future was dropped");
    });
}

#[test]
fn task_cancelled_before_it_starts_never_runs() {
    watchdog(20, || {
        let portal = portal(1);
        // Occupy the only worker until we say so.
        let (blocker_started, blocker_running) = mpsc::channel();
        let (release, hold) = mpsc::channel::<()>();
        let blocker = portal
            .spawn(async move {
                blocker_started.send(()).expect("signal");
                hold.recv().expect("released");
                "blocker done"
            })
            .expect("spawn");
        blocker_running
            .recv()
            .expect("the blocker occupies the worker");

        let (ran, side_effect) = mpsc::channel::<&str>();
        let victim = portal
            .spawn(async move {
                ran.send("the victim ran").expect("signal");
            })
            .expect("spawn");
        assert!(!victim.is_finished());
        victim.cancel();
        release.send(()).expect("release the worker");

        assert_eq!(blocker.wait(), Ok("blocker done"));
        assert_eq!(victim.wait(), Err(Error::Cancelled));
        // The victim's future was dropped without ever sending.
        assert_eq!(side_effect.recv(), Err(mpsc::RecvError));
    });
}

#[test]
fn cancel_racing_completion_yields_exactly_one_consistent_outcome() {
    let (ok, cancelled) = watchdog(40, || {
        let portal = portal(2);
        let (mut ok, mut cancelled) = (0, 0);
        for i in 0..2_000_u32 {
            let ran = Arc::new(AtomicBool::new(false));
            let body_ran = Arc::clone(&ran);
            let task = portal
                .spawn(async move {
                    body_ran.store(true, SeqCst);
                    i * 3
                })
                .expect("spawn");
            // Vary the moment of the cancel relative to the task's single poll.
            for _ in 0..(i % 200) {
                std::hint::spin_loop();
            }
            task.cancel();
            match task.wait() {
                Ok(value) => {
                    assert_eq!(value, i * 3, "iteration {i}: wrong value");
                    assert!(
                        ran.load(SeqCst),
                        "iteration {i}: Ok without the body running"
                    );
                    ok += 1;
                }
                Err(Error::Cancelled) => {
                    // The body has no await point: cancelled means it never ran.
                    assert!(!ran.load(SeqCst), "iteration {i}: body ran yet Cancelled");
                    cancelled += 1;
                }
                Err(other) => panic!("iteration {i}: unexpected {other:?}"),
            }
        }
        (ok, cancelled)
    });
    assert_eq!(ok + cancelled, 2_000);
}

#[test]
fn ten_thousand_spawn_cancel_races_lose_and_leak_nothing() {
    const TASKS: usize = 10_000;
    watchdog(60, || {
        let portal = portal(2);
        let completed = Arc::new(AtomicUsize::new(0));
        let (mut ok, mut cancelled) = (0, 0);
        for i in 0..TASKS {
            let completed = Arc::clone(&completed);
            let task = portal
                .spawn(async move {
                    completed.fetch_add(1, SeqCst);
                    i
                })
                .expect("spawn");
            task.cancel();
            match task.wait() {
                Ok(value) => {
                    assert_eq!(value, i);
                    ok += 1;
                }
                Err(Error::Cancelled) => cancelled += 1,
                Err(other) => panic!("task {i}: unexpected {other:?}"),
            }
        }
        assert_eq!(ok + cancelled, TASKS, "one outcome per task");
        assert_eq!(
            ok,
            completed.load(SeqCst),
            "every completed body reported Ok, and no other"
        );
        let metrics = portal.handle().metrics();
        spin_until(20, "no task is left alive", || {
            metrics.num_alive_tasks() == 0
        });
    });
}

#[test]
fn cancelling_a_task_blocked_on_a_socket_read_drops_the_socket() {
    watchdog(20, || {
        let portal = Portal::global();
        let (mut server, client) = portal
            .call(async {
                let listener = TcpListener::bind("127.0.0.1:0").await?;
                let client = TcpStream::connect(listener.local_addr()?).await?;
                let (server, _) = listener.accept().await?;
                Ok::<_, io::Error>((server, client))
            })
            .expect("call")
            .expect("loopback connection");

        let (reading, read_started) = mpsc::channel();
        let reader = portal
            .spawn(async move {
                let mut client = client;
                let mut buf = [0; 16];
                reading.send(()).expect("signal");
                // The peer never writes: this read waits forever.
                client.read(&mut buf).await
            })
            .expect("spawn");
        read_started.recv().expect("the read began");
        reader.cancel();
        assert!(reader.wait().expect_err("cancelled").is_cancelled());

        // The task's socket was dropped with it: the peer sees end of file.
        let eof = portal.call(async move {
            let mut buf = [0; 16];
            server.read(&mut buf).await
        });
        assert_eq!(eof.expect("call").expect("read"), 0);
    });
}

#[test]

fn wait_timeout_zero_does_not_wait_for_a_busy_runtime() {
    let portal = portal(1);
    let mut task = portal.spawn(pending::<()>()).expect("spawn");
    let release = block_the_only_worker(&portal);
    let checked = watchdog(10, move || task.wait_timeout(Duration::ZERO));
    drop(release);
    assert_eq!(checked, Err(Error::Timeout));
}

#[test]
fn wait_timeout_on_a_task_stuck_through_shutdown_times_out_then_delivers() {
    watchdog(30, || {
        let portal = portal(1);
        let (started, running) = mpsc::channel();
        let (release, hold) = mpsc::channel::<()>();
        let mut stuck = portal
            .spawn(async move {
                started.send(()).expect("signal");
                // A blocking poll that cancellation cannot interrupt.
                let _ = hold.recv();
                1
            })
            .expect("spawn");
        running.recv().expect("the task is stuck");
        let report = portal
            .shutdown(Duration::from_millis(10))
            .expect("shutdown returns though a task is stuck");
        // Left behind, not stopped: counted as still running.
        assert_eq!(
            (report.finished, report.cancelled, report.left_running),
            (0, 0, 1)
        );
        // The caller keeps its own deadline: no runtime timers needed.
        assert_eq!(
            stuck.wait_timeout(Duration::from_millis(50)),
            Err(Error::Timeout)
        );
        assert_eq!(stuck.wait_timeout(Duration::ZERO), Err(Error::Timeout));
        assert!(!stuck.is_finished());
        drop(release);
        // Once it lets go, its outcome is still delivered, without timers.
        assert_eq!(stuck.wait(), Ok(1));
    });
}

#[test]
fn is_finished_tracks_the_task() {
    watchdog(20, || {
        let portal = Portal::global();
        let (release, gate) = oneshot::channel::<()>();
        let mut task = portal
            .spawn(async move { gate.await.is_ok() })
            .expect("spawn");
        assert!(!task.is_finished());
        release.send(()).expect("alive");
        spin_until(10, "the released task finished", || task.is_finished());
        assert_eq!(task.wait_timeout(Duration::ZERO), Ok(true));
        assert!(task.is_finished(), "finished once the outcome was taken");

        let forever = portal.spawn(pending::<()>()).expect("spawn");
        assert!(!forever.is_finished());
        forever.cancel();
        spin_until(10, "the cancelled task finished", || forever.is_finished());
        assert_eq!(forever.wait(), Err(Error::Cancelled));
    });
}

#[test]
fn detached_task_runs_to_completion() {
    let message = watchdog(20, || {
        let (release, gate) = oneshot::channel::<u32>();
        let (report, reported) = mpsc::channel();
        Portal::global()
            .spawn(async move {
                let n = gate.await.expect("released");
                report.send(n + 1).expect("report");
            })
            .expect("spawn")
            .detach();
        // Sending succeeds only if the task, and so its receiver, is still alive.
        release.send(1).expect("the detached task is alive");
        reported.recv()
    });
    assert_eq!(message, Ok(2));
}

#[test]
fn dropping_a_task_cancels_it() {
    watchdog(20, || {
        let (guard, dropped) = drop_signal();
        let (started, running) = mpsc::channel();
        let (release, gate) = oneshot::channel::<()>();
        let (report, reported) = mpsc::channel::<()>();
        let task = Portal::global()
            .spawn(async move {
                let _guard = guard;
                started.send(()).expect("signal");
                gate.await.expect("released");
                report.send(()).expect("report");
            })
            .expect("spawn");
        running.recv().expect("the task started");
        drop(task);
        dropped
            .recv()
            .expect("the dropped task's future was dropped");
        assert!(release.send(()).is_err(), "the task's receiver is gone");
        assert_eq!(
            reported.recv(),
            Err(mpsc::RecvError),
            "the task never finished"
        );
    });
}

#[test]
fn waiting_after_the_outcome_was_taken_is_outcome_taken() {
    watchdog(20, || {
        let portal = Portal::global();
        let mut task = portal.spawn(async { 5 }).expect("spawn");
        assert_eq!(task.wait_timeout(LONG), Ok(5));
        assert_eq!(task.wait_timeout(LONG), Err(Error::OutcomeTaken));
        assert_eq!(task.wait_timeout(Duration::ZERO), Err(Error::OutcomeTaken));
        assert_eq!(task.wait(), Err(Error::OutcomeTaken));

        let mut awaited_after = portal.spawn(async { 6 }).expect("spawn");
        assert_eq!(awaited_after.wait_timeout(LONG), Ok(6));
        let again = portal.call(async move {
            tokio::task::yield_now().await;
            awaited_after.await
        });
        assert_eq!(again, Ok(Err(Error::OutcomeTaken)));
    });
}

#[test]
fn task_can_be_awaited_from_async_code() {
    watchdog(20, || {
        let portal = Portal::global();
        let task = portal.spawn(async { 1 }).expect("spawn");
        assert_eq!(portal.call(task), Ok(Ok(1)));

        let task = portal.spawn(async { 2 }).expect("spawn");
        let awaited = portal.call(async move {
            tokio::task::yield_now().await;
            task.await
        });
        assert_eq!(awaited, Ok(Ok(2)));

        let inner = portal.spawn(async { 3 }).expect("spawn");
        let outer = portal
            .spawn(async move { inner.await.map(|n| n * 10) })
            .expect("spawn");
        assert_eq!(outer.wait(), Ok(Ok(30)));

        let other = other_runtime();
        let task = portal.spawn(async { 4 }).expect("spawn");
        assert_eq!(other.block_on(task), Ok(4));

        let cancelled = portal.spawn(pending::<u32>()).expect("spawn");
        cancelled.cancel();
        assert_eq!(other.block_on(cancelled), Err(Error::Cancelled));
    });
}

#[test]
fn wait_resumes_the_tasks_str_panic() {
    let portal = portal(1);
    let task = portal.spawn(panics_with_str()).expect("spawn");
    let payload = watchdog(20, move || expect_panic(|| task.wait()));
    assert_str_payload(&*payload);
    assert_eq!(portal.spawn(async { 1 }).expect("spawn").wait(), Ok(1));
    assert_eq!(portal.call(async { 2 }), Ok(2));
}

#[test]
fn wait_resumes_the_tasks_string_panic() {
    let portal = portal(1);
    let task = portal.spawn(panics_with_string(5)).expect("spawn");
    let payload = watchdog(20, move || expect_panic(|| task.wait()));
    assert_string_payload(&*payload, 5);
    assert_eq!(portal.spawn(async { 1 }).expect("spawn").wait(), Ok(1));
}

#[test]
fn wait_and_wait_timeout_resume_the_tasks_custom_panic() {
    let portal = portal(1);
    let task = portal.spawn(panics_with_custom(11)).expect("spawn");
    let payload = watchdog(20, move || expect_panic(|| task.wait()));
    assert_custom_payload(&*payload, 11);

    let mut task = portal.spawn(panics_with_custom(12)).expect("spawn");
    let payload = watchdog(20, move || expect_panic(move || task.wait_timeout(LONG)));
    assert_custom_payload(&*payload, 12);
    assert_eq!(portal.spawn(async { 1 }).expect("spawn").wait(), Ok(1));
}

#[test]
fn awaiting_a_panicked_task_resumes_its_panic_in_async_code() {
    let portal = portal(1);
    let task = portal.spawn(panics_with_custom(21)).expect("spawn");
    let caller = portal.clone();
    let payload = watchdog(20, move || {
        expect_panic(|| {
            caller.call(async move {
                tokio::task::yield_now().await;
                task.await
            })
        })
    });
    assert_custom_payload(&*payload, 21);

    let task = portal.spawn(panics_with_string(22)).expect("spawn");
    let payload = watchdog(20, move || expect_panic(|| other_runtime().block_on(task)));
    assert_string_payload(&*payload, 22);
    assert_eq!(portal.call(async { 3 }), Ok(3));
}

#[test]
fn task_debug_names_the_type() {
    let task = Portal::global().spawn(pending::<()>()).expect("spawn");
    let text = format!("{task:?}");
    assert!(text.starts_with("Task"), "{text}");
    assert!(text.contains("finished: false"), "{text}");
}
