//! The async-context guard: on every kind of thread that drives async tasks, each blocking verb
//! returns `Error::InAsyncContext` without polling user code; on threads that may block, each
//! verb works.

mod common;

use std::future::pending;
use std::panic;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::mpsc;
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use common::{
    DropCount, PollCount, assert_str_payload, expect_panic, panics_with_str, portal, probe,
    probe_stream, watchdog,
};
use common::{current_thread_runtime, joined, multi_thread_runtime};
use futures_core::Stream;
use syncportal::{Error, Portal};

const LONG: Duration = Duration::from_secs(30);

/// What the async work after a refusal returns, to show the thread still runs async code.
const STILL_ASYNC: u32 = 77;

/// Calls every blocking verb of `portal` on this thread and asserts that each is refused with
/// `InAsyncContext`, that no user future or stream was polled, that refused futures were
/// dropped, and that a refused wait leaves its task alone.
fn assert_every_verb_refused(portal: &Portal) {
    const REFUSED: Result<u32, Error> = Err(Error::InAsyncContext);
    let (polls, drops) = (PollCount::default(), DropCount::default());
    assert_eq!(portal.call(probe(&polls, &drops)), REFUSED, "call");
    assert_eq!(
        portal.call_timeout(probe(&polls, &drops), LONG),
        REFUSED,
        "call_timeout"
    );
    let zero = portal.call_timeout(probe(&polls, &drops), Duration::ZERO);
    assert_eq!(zero, REFUSED, "call_timeout(0)");
    assert_eq!(
        drops.get(),
        3,
        "refused futures are dropped before the error returns"
    );

    let mut items = portal.iter(probe_stream(&polls, &drops));
    assert_eq!(items.next(), Some(REFUSED), "next");
    assert_eq!(items.next_timeout(LONG), Some(REFUSED), "next_timeout");
    assert_eq!(
        items.next_timeout(Duration::ZERO),
        Some(REFUSED),
        "next_timeout(0)"
    );
    assert_eq!(drops.get(), 3, "a refused next keeps the stream");
    drop(items);
    assert_eq!(drops.get(), 4);
    assert_eq!(polls.get(), 0, "no user future or stream was ever polled");

    let (release, gate) = tokio::sync::oneshot::channel::<u32>();
    let mut task = portal
        .spawn(async move { gate.await.unwrap_or(0) })
        .expect("spawn is allowed in async code");
    assert_eq!(
        task.wait_timeout(LONG),
        Err(Error::InAsyncContext),
        "wait_timeout"
    );
    assert_eq!(
        task.wait_timeout(Duration::ZERO),
        Err(Error::InAsyncContext)
    );
    assert!(
        !task.is_finished(),
        "a refused wait leaves the task running"
    );
    assert_eq!(task.wait(), Err(Error::InAsyncContext), "wait");
    drop(release);

    assert_eq!(
        portal.shutdown(Duration::ZERO),
        Err(Error::InAsyncContext),
        "shutdown"
    );
    assert!(!portal.is_closed(), "a refused shutdown stops nothing");
}

/// Async work done after a refusal on the same thread: timers, spawns and yields still work.
async fn still_async() -> u32 {
    tokio::time::sleep(Duration::from_millis(1)).await;
    let spawned = tokio::spawn(async {
        tokio::task::yield_now().await;
        STILL_ASYNC - 1
    });
    tokio::task::yield_now().await;
    joined(spawned.await) + 1
}

/// Refuses everything, then keeps doing async work; what every refusing context runs.
async fn refuse_then_carry_on(portal: Portal) -> u32 {
    assert_every_verb_refused(&portal);
    let after = still_async().await;
    // Refused again on the same thread: the guard's state did not stick.
    assert_every_verb_refused(&portal);
    after
}

// ---------------------------------------------------------------------------------------------
// Refused

#[test]
fn refused_on_a_worker_of_the_portals_own_runtime() {
    let result = watchdog(20, || {
        let portal = portal(1);
        let inner = portal.clone();
        let task = portal.spawn(refuse_then_carry_on(inner)).expect("spawn");
        let result = task.wait();
        // The single worker that refused still runs other tasks.
        assert_eq!(portal.spawn(async { 1 }).expect("spawn").wait(), Ok(1));
        result
    });
    assert_eq!(result, Ok(STILL_ASYNC));
}

#[test]
fn refused_on_a_worker_of_another_multi_thread_runtime() {
    let result = watchdog(20, || {
        let other = multi_thread_runtime(1);
        let portal = portal(1);
        let join = other.spawn(refuse_then_carry_on(portal));
        joined(other.block_on(join))
    });
    assert_eq!(result, STILL_ASYNC);
}

#[test]
fn refused_on_an_attached_runtimes_worker() {
    let result = watchdog(20, || {
        let app = multi_thread_runtime(1);
        let portal = Portal::from_handle(app.handle().clone()).expect("attach");
        let join = app.spawn(refuse_then_carry_on(portal));
        joined(app.block_on(join))
    });
    assert_eq!(result, STILL_ASYNC);
}

#[test]
fn refused_in_a_current_thread_block_on() {
    watchdog(20, || {
        let portal = portal(1);
        let runtime = current_thread_runtime();
        let result = runtime.block_on(refuse_then_carry_on(portal.clone()));
        assert_eq!(result, STILL_ASYNC);
        // Out of block_on, the same thread may block again, and user panics are not mistaken
        // for refusals.
        assert_eq!(portal.call(async { 3 }), Ok(3));
        let payload = expect_panic(|| portal.call(panics_with_str()));
        assert_str_payload(&*payload);
    });
}

#[test]
fn refused_in_a_local_set_spawn_local() {
    let result = watchdog(20, || {
        let portal = portal(1);
        let runtime = current_thread_runtime();
        let local = tokio::task::LocalSet::new();
        local.block_on(&runtime, async move {
            let join = tokio::task::spawn_local(async move {
                let not_send = Rc::new(STILL_ASYNC);
                let after = refuse_then_carry_on(portal).await;
                assert_eq!(after, *not_send);
                let local_join = tokio::task::spawn_local(async move { *not_send });
                joined(local_join.await)
            });
            joined(join.await)
        })
    });
    assert_eq!(result, STILL_ASYNC);
}

#[test]
fn refused_inside_the_portals_own_call() {
    let result = watchdog(20, || {
        let portal = portal(1);
        portal.call(refuse_then_carry_on(portal.clone()))
    });
    assert_eq!(result, Ok(STILL_ASYNC));
}

#[test]
fn refused_inside_another_portals_call_and_call_timeout() {
    watchdog(20, || {
        let portal = portal(1);
        let outer = Portal::global();
        assert_eq!(
            outer.call(refuse_then_carry_on(portal.clone())),
            Ok(STILL_ASYNC)
        );
        assert_eq!(
            outer.call_timeout(refuse_then_carry_on(portal), LONG),
            Ok(STILL_ASYNC)
        );
    });
}

#[test]
fn refused_inside_a_nested_handle_block_on() {
    watchdog(20, || {
        let portal = portal(1);
        let other = multi_thread_runtime(1);
        let result = other
            .handle()
            .block_on(refuse_then_carry_on(portal.clone()));
        assert_eq!(result, STILL_ASYNC);
        let result = portal
            .handle()
            .block_on(refuse_then_carry_on(portal.clone()));
        assert_eq!(result, STILL_ASYNC);
        assert_eq!(portal.call(async { 4 }), Ok(4));
    });
}

#[test]
fn a_refused_wait_loses_nothing() {
    watchdog(20, || {
        let portal = portal(1);
        let (release, gate) = tokio::sync::oneshot::channel::<u32>();
        let task = portal
            .spawn(async move { gate.await.expect("released") })
            .expect("spawn");
        let runtime = current_thread_runtime();
        let (refused, mut task) = runtime.block_on(async move {
            let mut task = task;
            (task.wait_timeout(LONG), task)
        });
        assert_eq!(refused, Err(Error::InAsyncContext));
        release.send(12).expect("the task is still alive");
        assert_eq!(task.wait_timeout(LONG), Ok(12));

        let (polls, drops) = (PollCount::default(), DropCount::default());
        let items = portal.iter(Gate::new(&polls, &drops));
        let (refused, mut items) = runtime.block_on(async move {
            let mut items = items;
            (items.next(), items)
        });
        assert_eq!(refused, Some(Err(Error::InAsyncContext)));
        assert_eq!(items.next(), Some(Ok(1)), "the stream kept its first item");
        assert_eq!((polls.get(), drops.get()), (1, 0));
    });
}

#[test]

fn a_refused_wait_does_not_cancel_the_task() {
    watchdog(20, || {
        let portal = portal(1);
        let (release, gate) = tokio::sync::oneshot::channel::<u32>();
        let (report, reported) = mpsc::channel();
        let task = portal
            .spawn(async move {
                let n = gate.await.expect("released");
                report.send(n).expect("report");
            })
            .expect("spawn");
        let refused = current_thread_runtime().block_on(async move { task.wait() });
        assert_eq!(refused, Err(Error::InAsyncContext));
        release
            .send(5)
            .expect("the task survives a refused wait, as it does a refused wait_timeout");
        assert_eq!(reported.recv(), Ok(5));
    });
}

/// Yields 1, 2, 3, ... and counts its polls.
struct Gate {
    polls: PollCount,
    _guard: common::DropGuard,
    next: u32,
}

impl Gate {
    fn new(polls: &PollCount, drops: &DropCount) -> Self {
        Self {
            polls: polls.clone(),
            _guard: drops.guard(),
            next: 0,
        }
    }
}

impl Stream for Gate {
    type Item = u32;

    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<u32>> {
        self.polls.hit();
        self.next += 1;
        Poll::Ready(Some(self.next))
    }
}

// ---------------------------------------------------------------------------------------------
// Allowed

/// Calls every blocking verb of `portal` on this thread and asserts that each works.
fn assert_every_verb_works(portal: &Portal) {
    let called = portal.call(async {
        tokio::task::yield_now().await;
        joined(tokio::spawn(async { 1 }).await)
    });
    assert_eq!(called, Ok(1), "call");
    assert_eq!(
        portal.call_timeout(async { 2 }, LONG),
        Ok(2),
        "call_timeout"
    );
    let late = portal.call_timeout(pending::<()>(), Duration::from_millis(5));
    assert_eq!(late, Err(Error::Timeout), "call_timeout expiry");

    let task = portal.spawn(async { 3 }).expect("spawn");
    assert_eq!(task.wait(), Ok(3), "wait");
    let mut task = portal.spawn(async { 4 }).expect("spawn");
    assert_eq!(task.wait_timeout(LONG), Ok(4), "wait_timeout");
    let mut slow = portal.spawn(pending::<()>()).expect("spawn");
    assert_eq!(
        slow.wait_timeout(Duration::from_millis(5)),
        Err(Error::Timeout)
    );

    let (polls, drops) = (PollCount::default(), DropCount::default());
    let mut items = portal.iter(Gate::new(&polls, &drops));
    assert_eq!(items.next(), Some(Ok(1)), "next");
    assert_eq!(items.next_timeout(LONG), Some(Ok(2)), "next_timeout");
    items.close();
    assert_eq!((polls.get(), drops.get()), (2, 1));
}

#[test]
fn works_on_a_plain_thread() {
    watchdog(20, || {
        let portal = portal(1);
        assert_every_verb_works(&portal);
        assert_every_verb_works(Portal::global());
        assert!(portal.shutdown(Duration::ZERO).is_ok(), "shutdown");
    });
}

#[test]
fn works_on_a_spawn_blocking_thread_of_the_portals_runtime() {
    watchdog(20, || {
        let portal = portal(1);
        let inner = portal.clone();
        let join = portal
            .handle()
            .spawn_blocking(move || assert_every_verb_works(&inner));
        joined(portal.call(join).expect("call"));
    });
}

#[test]
fn works_on_a_spawn_blocking_thread_of_another_runtime() {
    watchdog(20, || {
        let other = multi_thread_runtime(1);
        let (portal, idle) = (portal(1), portal(1));
        let inner = idle.clone();
        let join = other.spawn_blocking(move || {
            assert_every_verb_works(&portal);
            inner.shutdown(Duration::ZERO)
        });
        let report = joined(other.block_on(join)).expect("shutdown is allowed here too");
        assert_eq!((report.finished, report.cancelled), (0, 0));
        assert!(idle.is_closed());
    });
}

#[test]
fn works_in_block_in_place_on_another_runtimes_worker() {
    watchdog(20, || {
        let other = multi_thread_runtime(1);
        let portal = portal(1);
        let join = other.spawn(async move {
            tokio::task::block_in_place(|| assert_every_verb_works(&portal));
            // And the worker is async again afterwards.
            assert_every_verb_refused(&portal);
            still_async().await
        });
        assert_eq!(joined(other.block_on(join)), STILL_ASYNC);
    });
}

#[test]
fn works_in_block_in_place_on_the_portals_own_worker() {
    watchdog(20, || {
        let portal = portal(1);
        let inner = portal.clone();
        let task = portal
            .spawn(async move {
                tokio::task::block_in_place(|| assert_every_verb_works(&inner));
                still_async().await
            })
            .expect("spawn");
        assert_eq!(task.wait(), Ok(STILL_ASYNC));
    });
}

/// A call made from a plain thread runs its future on that thread, outside tokio's knowledge;
/// `block_in_place` there is a no-op to tokio and does not lift the guard (documented caveat).
/// The nested call is refused, never polled, and the outer call goes on.
#[test]
fn block_in_place_inside_a_call_from_a_plain_thread_keeps_the_guard() {
    let result = watchdog(20, || {
        let portal = portal(1);
        let inner = portal.clone();
        portal.call(async move {
            tokio::task::block_in_place(|| assert_every_verb_refused(&inner));
            tokio::time::sleep(Duration::from_millis(1)).await;
            joined(tokio::spawn(async { 5 }).await)
        })
    });
    assert_eq!(result, Ok(5));
}

/// Makes a blocking call from its `Drop`, which may run while the thread unwinds.
struct CallsOnDrop {
    portal: Portal,
    report: mpsc::Sender<Result<u32, Error>>,
}

impl Drop for CallsOnDrop {
    fn drop(&mut self) {
        let _ = self.report.send(self.portal.call(async { 6 }));
    }
}

#[test]
fn guard_decides_without_aborting_while_the_thread_unwinds() {
    watchdog(20, || {
        let portal = portal(1);
        let (report, reports) = mpsc::channel();
        let on_plain_thread = CallsOnDrop {
            portal: portal.clone(),
            report: report.clone(),
        };
        expect_panic(move || {
            let _calls = on_plain_thread;
            panic!("unwinding through a blocking call");
        });
        assert_eq!(
            reports.recv(),
            Ok(Ok(6)),
            "a plain thread may block while unwinding"
        );

        let runtime = current_thread_runtime();
        let in_async = CallsOnDrop {
            portal: portal.clone(),
            report,
        };
        runtime.block_on(async move {
            expect_panic(move || {
                let _calls = in_async;
                panic!("unwinding inside async code");
            });
        });
        assert_eq!(reports.recv(), Ok(Err(Error::InAsyncContext)));
        assert_eq!(portal.call(async { 7 }), Ok(7));
    });
}

#[test]
fn works_on_the_thread_that_made_a_refused_call() {
    watchdog(20, || {
        let portal = portal(1);
        let runtime = current_thread_runtime();
        for _ in 0..3 {
            let refused = runtime.block_on(async { portal.call(async { 1 }) });
            assert_eq!(refused, Err(Error::InAsyncContext));
            assert_eq!(portal.call(async { 2 }), Ok(2));
        }
        let spawned = thread::spawn(move || portal.call(async { 3 }))
            .join()
            .expect("thread");
        assert_eq!(spawned, Ok(3));
    });
}

#[test]
fn may_block_only_inside_a_call_on_a_plain_thread() {
    watchdog(30, || {
        let portal = portal(2);
        assert!(!syncportal::may_block(), "outside any call");
        assert_eq!(portal.call(async { syncportal::may_block() }), Ok(true));
        assert!(
            !syncportal::may_block(),
            "after a call, the thread is plain again"
        );
        let in_task = portal.spawn(async { syncportal::may_block() }).unwrap();
        assert_eq!(in_task.wait(), Ok(false), "a task on a worker");
        let nested = portal.call(async {
            tokio::spawn(async { syncportal::may_block() })
                .await
                .unwrap()
        });
        assert_eq!(nested, Ok(false), "a task spawned from inside a call");
        let runtime = current_thread_runtime();
        assert!(
            !runtime.block_on(async { syncportal::may_block() }),
            "a block_on"
        );
    });
}
