//! `Queue`: every operation from plain threads (no runtime at all), from tokio tasks and portal
//! tasks, and from both at once; the overflow policies; `close` and `close_now`; `task_done`
//! and `join`; the async-context guard; timeouts; cancel safety under races; counters that add
//! up after every scenario; and no user `Drop` code under the queue's lock.
//!
//! Tests that need a waiter to be blocked before acting on it wait until it is: async waiters
//! are counted when they return `Pending` (they register in line first), and plain threads
//! are watched until the kernel shows them asleep (see `queue_support::Sleeper`).

mod common;
mod queue_support;

use std::panic;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, mpsc};
use std::task::Poll;
use std::thread;
use std::time::{Duration, Instant};

use common::{DropCount, DropGuard, portal, watchdog};
use common::{current_thread_runtime, joined, multi_thread_runtime};
use queue_support::{
    Flag, Pendings, Received, Sleeper, assert_each_once_in_order, poll_once, stats_add_up,
};
use syncportal::{
    ConfigError, Error, Overflow, Portal, PutError, Queue, QueueStats, Task, TaskDoneError,
    TryGetError, TryPutError,
};
use tokio::runtime::Runtime;

/// How long any one test may take before the watchdog fails it.
const WATCH: u64 = 30;

/// A timeout that never passes in a passing test.
const LONG: Duration = Duration::from_secs(30);

/// A timeout that passes quickly.
const SHORT: Duration = Duration::from_millis(20);

/// Joins a plain thread, resuming its panic (a failed assertion) here.
fn joined_thread<T>(handle: thread::JoinHandle<T>) -> T {
    handle
        .join()
        .unwrap_or_else(|payload| panic::resume_unwind(payload))
}

/// Takes everything queued now, without waiting.
fn drain<T>(queue: &Queue<T>) -> Vec<T> {
    std::iter::from_fn(|| queue.try_get().ok()).collect()
}

/// What a failed put reports, with its item: comparable, unlike `PutError` of a guard.
type PutOutcome = Result<(), (Error, u32)>;

fn put_outcome(result: Result<(), PutError<u32>>) -> PutOutcome {
    result.map_err(|err| (err.error().clone(), err.into_inner()))
}

/// Waiters of every kind, blocked on one queue.
struct Blocked<R> {
    threads: Vec<thread::JoinHandle<R>>,
    tokio: Vec<tokio::task::JoinHandle<R>>,
    portal: Vec<Task<R>>,
}

impl<R> Blocked<R> {
    fn new() -> Self {
        Self {
            threads: Vec::new(),
            tokio: Vec::new(),
            portal: Vec::new(),
        }
    }

    /// Waits for every waiter to finish, and returns what each returned.
    fn outcomes(self, rt: &Runtime) -> Vec<R> {
        let mut outcomes: Vec<R> = self.threads.into_iter().map(joined_thread).collect();
        for handle in self.tokio {
            outcomes.push(joined(rt.block_on(handle)));
        }
        for task in self.portal {
            outcomes.push(task.wait().expect("the portal task finishes"));
        }
        outcomes
    }
}

/// Takes items until the queue reports closed; the pending count says when it waits.
async fn take_until_closed(queue: Queue<u32>, pendings: Pendings) -> Vec<u32> {
    let mut got = Vec::new();
    loop {
        match pendings.watch(queue.get()).await {
            Ok(item) => got.push(item),
            Err(err) => {
                assert_eq!(err, Error::Closed);
                return got;
            }
        }
    }
}

/// Starts two getters of each kind (plain thread, tokio task, portal task) on the empty
/// `queue`, and returns once every one of them is blocked. Each takes items until closed.
fn blocked_getters(queue: &Queue<u32>, rt: &Runtime, portal: &Portal) -> Blocked<Vec<u32>> {
    let mut blocked = Blocked::new();
    for _ in 0..2 {
        let (tx, rx) = mpsc::channel();
        let queue = queue.clone();
        blocked.threads.push(thread::spawn(move || {
            tx.send(Sleeper::current()).expect("announce");
            let mut got = Vec::new();
            loop {
                match queue.get_blocking() {
                    Ok(item) => got.push(item),
                    Err(err) => {
                        assert_eq!(err, Error::Closed);
                        return got;
                    }
                }
            }
        }));
        rx.recv()
            .expect("the getter announces itself")
            .wait_asleep();
    }
    let pendings = Pendings::default();
    for _ in 0..2 {
        let getter = take_until_closed(queue.clone(), pendings.clone());
        blocked.tokio.push(rt.spawn(getter));
        let getter = take_until_closed(queue.clone(), pendings.clone());
        blocked.portal.push(portal.spawn(getter).expect("spawn"));
    }
    pendings.wait_for(4);
    blocked
}

/// Starts two putters of each kind on the full Block `queue`, putting `first..first + 6`, and
/// returns once every one of them is blocked.
fn blocked_putters(
    queue: &Queue<u32>,
    rt: &Runtime,
    portal: &Portal,
    first: u32,
) -> Blocked<PutOutcome> {
    assert_eq!(queue.len(), queue.capacity(), "the queue must be full");
    let mut blocked = Blocked::new();
    for item in first..first + 2 {
        let (tx, rx) = mpsc::channel();
        let queue = queue.clone();
        blocked.threads.push(thread::spawn(move || {
            tx.send(Sleeper::current()).expect("announce");
            put_outcome(queue.put_blocking(item))
        }));
        rx.recv()
            .expect("the putter announces itself")
            .wait_asleep();
    }
    let pendings = Pendings::default();
    for item in first + 2..first + 4 {
        let (queue, pendings) = (queue.clone(), pendings.clone());
        blocked
            .tokio
            .push(rt.spawn(async move { put_outcome(pendings.watch(queue.put(item)).await) }));
    }
    for item in first + 4..first + 6 {
        let (queue, pendings) = (queue.clone(), pendings.clone());
        let putter =
            portal.spawn(async move { put_outcome(pendings.watch(queue.put(item)).await) });
        blocked.portal.push(putter.expect("spawn"));
    }
    pendings.wait_for(4);
    blocked
}

// ---------------------------------------------------------------------------------------------
// Construction and the never-waiting calls.

#[test]
fn zero_capacity_is_refused_and_accessors_report_the_configuration() {
    watchdog(WATCH, || {
        assert_eq!(Queue::<u8>::new(0).unwrap_err(), ConfigError::ZeroCapacity);
        for overflow in [Overflow::Block, Overflow::DropOldest, Overflow::DropNewest] {
            assert_eq!(
                Queue::<u8>::with_overflow(0, overflow).unwrap_err(),
                ConfigError::ZeroCapacity
            );
            let queue = Queue::<u8>::with_overflow(3, overflow).expect("queue");
            assert_eq!((queue.capacity(), queue.overflow()), (3, overflow));
            assert!(queue.is_empty() && !queue.is_closed());
            assert_eq!(queue.stats(), QueueStats::default());
        }
        assert_eq!(Overflow::default(), Overflow::Block);
        assert_eq!(
            Queue::<u8>::new(1).expect("queue").overflow(),
            Overflow::Block
        );
    });
}

#[test]
fn try_put_and_try_get_never_wait_and_clones_share_one_queue() {
    watchdog(WATCH, || {
        let queue = Queue::new(3).expect("queue");
        let other = queue.clone();
        assert_eq!(queue.try_get(), Err(TryGetError::Empty));
        for i in 0..3 {
            other.try_put(i).expect("room");
        }
        assert_eq!(
            queue.try_put(3),
            Err(TryPutError::Full(3)),
            "full: handed back"
        );
        assert_eq!((queue.len(), other.len()), (3, 3));
        assert_eq!(queue.try_get(), Ok(0));
        queue.try_put(4).expect("room again");
        let stats = stats_add_up(&queue);
        assert_eq!(
            (
                stats.put,
                stats.taken,
                stats.dropped,
                stats.len,
                stats.high_water
            ),
            (4, 1, 0, 3, 3)
        );

        assert!(other.close(), "the first close reports true");
        assert!(!queue.close(), "closing again reports false");
        assert!(queue.is_closed());
        assert_eq!(queue.try_put(5), Err(TryPutError::Closed(5)));
        assert_eq!(
            drain(&queue),
            [1, 2, 4],
            "a closed queue still drains, in order"
        );
        assert_eq!(queue.try_get(), Err(TryGetError::Closed));
        let stats = stats_add_up(&queue);
        assert_eq!((stats.put, stats.taken, stats.len), (4, 4, 0));
    });
}

// ---------------------------------------------------------------------------------------------
// Plain threads, no runtime.

#[test]
fn blocking_calls_work_on_plain_threads_without_any_runtime() {
    const N: u32 = 2_000;
    watchdog(WATCH, || {
        let queue = Queue::new(2).expect("queue");
        let producer = {
            let queue = queue.clone();
            thread::spawn(move || {
                assert!(
                    tokio::runtime::Handle::try_current().is_err(),
                    "no runtime here"
                );
                for i in 0..N {
                    queue.put_blocking(i).expect("put");
                }
            })
        };
        let consumer = {
            let queue = queue.clone();
            thread::spawn(move || {
                let mut got = Vec::new();
                while let Ok(i) = queue.get_blocking() {
                    got.push(i);
                }
                assert_eq!(
                    queue.get_blocking(),
                    Err(Error::Closed),
                    "closed stays closed"
                );
                got
            })
        };
        joined_thread(producer);
        queue.close();
        assert_eq!(joined_thread(consumer), (0..N).collect::<Vec<_>>());
        let stats = stats_add_up(&queue);
        assert_eq!((stats.put, stats.taken), (N.into(), N.into()));
    });
}

#[test]
fn a_blocked_put_waits_for_room_and_a_blocked_get_for_an_item() {
    watchdog(WATCH, || {
        let queue = Queue::new(1).expect("queue");
        queue.put_blocking(1).expect("room");
        let (tx, rx) = mpsc::channel();
        let putter = {
            let queue = queue.clone();
            thread::spawn(move || {
                tx.send(Sleeper::current()).expect("announce");
                put_outcome(queue.put_blocking(2))
            })
        };
        rx.recv().expect("announced").wait_asleep();
        assert_eq!(queue.len(), 1, "the put is waiting for room");
        assert_eq!(queue.get_blocking(), Ok(1));
        assert_eq!(
            joined_thread(putter),
            Ok(()),
            "the get made room and woke the put"
        );
        assert_eq!(queue.try_get(), Ok(2));

        let (tx, rx) = mpsc::channel();
        let getter = {
            let queue = queue.clone();
            thread::spawn(move || {
                tx.send(Sleeper::current()).expect("announce");
                queue.get_blocking()
            })
        };
        rx.recv().expect("announced").wait_asleep();
        queue.put_blocking(3).expect("room");
        assert_eq!(joined_thread(getter), Ok(3), "the put woke the waiting get");
        let stats = stats_add_up(&queue);
        assert_eq!((stats.put, stats.taken, stats.len), (3, 3, 0));
    });
}

#[test]
fn waiting_getters_and_putters_are_served_in_arrival_order() {
    watchdog(WATCH, || {
        let queue = Queue::new(1).expect("queue");
        let getters: Vec<_> = (0..3)
            .map(|_| {
                let (tx, rx) = mpsc::channel();
                let queue = queue.clone();
                let getter = thread::spawn(move || {
                    tx.send(Sleeper::current()).expect("announce");
                    queue.get_blocking()
                });
                rx.recv().expect("announced").wait_asleep();
                getter
            })
            .collect();
        for (item, getter) in (10..).zip(getters) {
            queue.put_blocking(item).expect("room");
            assert_eq!(
                joined_thread(getter),
                Ok(item),
                "the longest waiter gets it"
            );
        }

        queue.put_blocking(0).expect("room");
        let putters: Vec<_> = (1..4)
            .map(|item| {
                let (tx, rx) = mpsc::channel();
                let queue = queue.clone();
                let putter = thread::spawn(move || {
                    tx.send(Sleeper::current()).expect("announce");
                    put_outcome(queue.put_blocking(item))
                });
                rx.recv().expect("announced").wait_asleep();
                putter
            })
            .collect();
        for (expected, putter) in (0..).zip(putters) {
            assert_eq!(queue.get_blocking(), Ok(expected));
            assert_eq!(
                joined_thread(putter),
                Ok(()),
                "the longest waiter puts first"
            );
        }
        assert_eq!(drain(&queue), [3]);
        let stats = stats_add_up(&queue);
        assert_eq!((stats.put, stats.taken), (7, 7));
    });
}

// ---------------------------------------------------------------------------------------------
// Async tasks: tokio runtimes and the portal.

#[test]
fn async_put_and_get_work_on_tokio_runtimes() {
    const N: u32 = 500;
    watchdog(WATCH, || {
        for rt in [current_thread_runtime(), multi_thread_runtime(2)] {
            let queue = Queue::new(2).expect("queue");
            let received = rt.block_on(async {
                let consumer = {
                    let queue = queue.clone();
                    tokio::spawn(async move {
                        let mut got = Vec::new();
                        while let Ok(i) = queue.get().await {
                            got.push(i);
                        }
                        assert_eq!(queue.get().await, Err(Error::Closed));
                        got
                    })
                };
                for i in 0..N {
                    queue.put(i).await.expect("put");
                }
                assert!(queue.close());
                let err = queue.put(N).await.unwrap_err();
                assert!(err.error().is_closed());
                assert_eq!(err.into_inner(), N, "a put after close hands its item back");
                joined(consumer.await)
            });
            assert_eq!(received, (0..N).collect::<Vec<_>>());
            let stats = stats_add_up(&queue);
            assert_eq!((stats.put, stats.taken), (N.into(), N.into()));
        }
    });
}

#[test]
fn an_async_put_waits_while_full_and_an_async_get_while_empty() {
    watchdog(WATCH, || {
        let queue = Queue::new(1).expect("queue");
        let (woken, waker) = Flag::waker();
        let mut get = queue.get();
        assert!(
            poll_once(&mut get, &waker).is_pending(),
            "empty: the get waits"
        );
        queue.try_put(1).expect("room");
        assert!(woken.take(), "the put woke the waiting get");
        assert_eq!(poll_once(&mut get, &waker), Poll::Ready(Ok(1)));
        drop(get);

        queue.try_put(2).expect("room");
        let mut put = queue.put(3);
        assert!(
            poll_once(&mut put, &waker).is_pending(),
            "full: the put waits"
        );
        assert_eq!(queue.len(), 1);
        assert!(!woken.take());
        assert_eq!(queue.try_get(), Ok(2));
        assert!(woken.take(), "the get woke the waiting put");
        assert!(matches!(poll_once(&mut put, &waker), Poll::Ready(Ok(()))));
        drop(put);
        assert_eq!(drain(&queue), [3]);
        stats_add_up(&queue);
    });
}

#[test]
fn async_put_and_get_work_on_the_portal_and_through_its_call() {
    const N: u32 = 400;
    watchdog(WATCH, || {
        let portal = portal(2);
        let queue = Queue::new(2).expect("queue");
        let consumer = {
            let queue = queue.clone();
            portal
                .spawn(async move {
                    let mut got = Vec::new();
                    while let Ok(i) = queue.get().await {
                        got.push(i);
                    }
                    got
                })
                .expect("spawn")
        };
        // Async puts driven on this plain thread by the portal's call...
        portal
            .call(async {
                for i in 0..N / 2 {
                    queue.put(i).await.expect("put");
                }
            })
            .expect("call");
        // ...then by a task on its workers.
        let producer = {
            let queue = queue.clone();
            portal
                .spawn(async move {
                    for i in N / 2..N {
                        queue.put(i).await.expect("put");
                    }
                })
                .expect("spawn")
        };
        producer.wait().expect("producer");
        queue.close();
        assert_eq!(
            consumer.wait().expect("consumer"),
            (0..N).collect::<Vec<_>>()
        );

        // An async get driven by call, fed by a plain thread.
        let queue = Queue::new(1).expect("queue");
        let feeder = {
            let queue = queue.clone();
            thread::spawn(move || {
                for i in 0..N {
                    queue.put_blocking(i).expect("put");
                }
            })
        };
        let got = portal
            .call(async {
                let mut got = Vec::new();
                for _ in 0..N {
                    got.push(queue.get().await.expect("get"));
                }
                got
            })
            .expect("call");
        joined_thread(feeder);
        assert_eq!(got, (0..N).collect::<Vec<_>>());
        let stats = stats_add_up(&queue);
        assert_eq!((stats.put, stats.taken), (N.into(), N.into()));
    });
}

// ---------------------------------------------------------------------------------------------
// Both at once.

const PRODUCERS: usize = 4;
const PER_PRODUCER: u32 = 2_000;

#[test]
fn plain_thread_producers_feed_async_consumers_exactly_once_in_order() {
    watchdog(WATCH, || {
        let queue = Queue::new(8).expect("queue");
        let rt = multi_thread_runtime(2);
        let portal = portal(2);
        let consume = |queue: Queue<(usize, u32)>| async move {
            let mut got = Received::new();
            while let Ok(item) = queue.get().await {
                got.push(item);
            }
            got
        };
        let tokio_consumers: Vec<_> = (0..2).map(|_| rt.spawn(consume(queue.clone()))).collect();
        let portal_consumers: Vec<_> = (0..2)
            .map(|_| portal.spawn(consume(queue.clone())).expect("spawn"))
            .collect();
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let queue = queue.clone();
                thread::spawn(move || {
                    for seq in 0..PER_PRODUCER {
                        queue.put_blocking((p, seq)).expect("put");
                    }
                })
            })
            .collect();
        producers.into_iter().for_each(joined_thread);
        queue.close();
        let mut received: Vec<Received> = tokio_consumers
            .into_iter()
            .map(|consumer| joined(rt.block_on(consumer)))
            .collect();
        received.extend(
            portal_consumers
                .into_iter()
                .map(|c| c.wait().expect("consumer")),
        );
        assert_each_once_in_order(&received, PRODUCERS, PER_PRODUCER);
        let stats = stats_add_up(&queue);
        let total = (PRODUCERS as u64) * u64::from(PER_PRODUCER);
        assert_eq!((stats.put, stats.taken, stats.len), (total, total, 0));
    });
}

#[test]
fn async_producers_feed_plain_thread_consumers_exactly_once_in_order() {
    watchdog(WATCH, || {
        let queue = Queue::new(8).expect("queue");
        let rt = multi_thread_runtime(2);
        let portal = portal(2);
        let produce = |queue: Queue<(usize, u32)>, p: usize| async move {
            for seq in 0..PER_PRODUCER {
                queue.put((p, seq)).await.expect("put");
            }
        };
        let consumers: Vec<_> = (0..4)
            .map(|_| {
                let queue = queue.clone();
                thread::spawn(move || {
                    let mut got = Received::new();
                    while let Ok(item) = queue.get_blocking() {
                        got.push(item);
                    }
                    got
                })
            })
            .collect();
        let tokio_producers: Vec<_> = (0..2)
            .map(|p| rt.spawn(produce(queue.clone(), p)))
            .collect();
        let portal_producers: Vec<_> = (2..PRODUCERS)
            .map(|p| portal.spawn(produce(queue.clone(), p)).expect("spawn"))
            .collect();
        for producer in tokio_producers {
            joined(rt.block_on(producer));
        }
        for producer in portal_producers {
            producer.wait().expect("producer");
        }
        queue.close();
        let received: Vec<Received> = consumers.into_iter().map(joined_thread).collect();
        assert_each_once_in_order(&received, PRODUCERS, PER_PRODUCER);
        let stats = stats_add_up(&queue);
        let total = (PRODUCERS as u64) * u64::from(PER_PRODUCER);
        assert_eq!((stats.put, stats.taken, stats.len), (total, total, 0));
    });
}

// ---------------------------------------------------------------------------------------------
// Overflow policies.

/// Puts `0..10` into `queue` through every kind of put, in turn; none of them may wait.
fn put_ten_every_way(queue: &Queue<(u32, DropGuard)>, drops: &DropCount) {
    let rt = current_thread_runtime();
    for i in 0..10 {
        let item = (i, drops.guard());
        match i % 4 {
            0 => queue
                .try_put(item)
                .map_err(|_| "try_put")
                .expect("never full"),
            1 => queue
                .put_blocking(item)
                .map_err(|_| "put_blocking")
                .expect("no wait"),
            2 => rt
                .block_on(queue.put(item))
                .map_err(|_| "put")
                .expect("no wait"),
            _ => queue
                .put_blocking_timeout(item, LONG)
                .map_err(|_| "put_blocking_timeout")
                .expect("no wait"),
        }
    }
}

fn drain_ids(queue: &Queue<(u32, DropGuard)>) -> Vec<u32> {
    drain(queue).into_iter().map(|(id, _)| id).collect()
}

/// Closes `queue`, which holds one item, and checks that puts are now refused whatever the
/// policy (handed back, neither dropped nor evicting anything), and that the item drains.
fn assert_closed_refuses_puts(queue: &Queue<(u32, DropGuard)>, drops: &DropCount) {
    assert!(queue.close());
    let before = (queue.stats(), drops.get());
    let refused = queue.try_put((100, drops.guard()));
    assert!(matches!(refused, Err(TryPutError::Closed((100, _)))));
    drop(refused);
    let refused = queue
        .put_blocking((101, drops.guard()))
        .map_err(PutError::into_inner);
    assert!(matches!(refused, Err((101, _))));
    drop(refused);
    assert_eq!(before.0, queue.stats(), "a refused put is not counted");
    assert_eq!(
        drops.get(),
        before.1 + 2,
        "only the refused items were dropped"
    );
    assert_eq!(queue.len(), 1);
}

#[test]
fn drop_oldest_keeps_the_newest_capacity_items_and_counts_the_rest() {
    watchdog(WATCH, || {
        let queue = Queue::with_overflow(3, Overflow::DropOldest).expect("queue");
        let drops = DropCount::default();
        put_ten_every_way(&queue, &drops);
        assert_eq!(drops.get(), 7, "the evicted items were dropped, not leaked");
        let stats = stats_add_up(&queue);
        assert_eq!(
            (stats.put, stats.dropped, stats.len, stats.high_water),
            (10, 7, 3, 3)
        );
        assert_eq!(drain_ids(&queue), [7, 8, 9], "the newest, in order");

        // After the consumer made room, new items go in and nothing more is dropped.
        queue
            .try_put((10, drops.guard()))
            .map_err(|_| "put")
            .expect("room");
        queue
            .try_put((11, drops.guard()))
            .map_err(|_| "put")
            .expect("room");
        assert_eq!(drain_ids(&queue), [10, 11]);
        queue
            .try_put((12, drops.guard()))
            .map_err(|_| "put")
            .expect("room");
        assert_closed_refuses_puts(&queue, &drops);
        assert_eq!(drain_ids(&queue), [12]);
        let stats = stats_add_up(&queue);
        assert_eq!((stats.put, stats.taken, stats.dropped), (13, 6, 7));
    });
}

#[test]
fn drop_newest_keeps_the_first_capacity_items_and_counts_the_rest() {
    watchdog(WATCH, || {
        let queue = Queue::with_overflow(3, Overflow::DropNewest).expect("queue");
        let drops = DropCount::default();
        put_ten_every_way(&queue, &drops);
        assert_eq!(
            drops.get(),
            7,
            "the rejected items were dropped, not leaked"
        );
        let stats = stats_add_up(&queue);
        assert_eq!(
            (stats.put, stats.dropped, stats.len, stats.high_water),
            (10, 7, 3, 3)
        );
        assert_eq!(queue.try_get().map(|(id, _)| id), Ok(0));
        // Once the consumer made room, a new one goes in behind the first ones.
        queue
            .try_put((10, drops.guard()))
            .map_err(|_| "put")
            .expect("room");
        queue
            .try_put((11, drops.guard()))
            .map_err(|_| "put")
            .expect("dropped, not refused");
        assert_eq!(drain_ids(&queue), [1, 2, 10]);
        queue
            .try_put((12, drops.guard()))
            .map_err(|_| "put")
            .expect("room");
        assert_closed_refuses_puts(&queue, &drops);
        assert_eq!(drain_ids(&queue), [12]);
        let stats = stats_add_up(&queue);
        assert_eq!((stats.put, stats.taken, stats.dropped), (13, 5, 8));
    });
}

#[test]
fn drop_newest_discards_at_once_while_full_and_refuses_once_closed() {
    watchdog(WATCH, || {
        let queue = Queue::with_overflow(1, Overflow::DropNewest).expect("queue");
        let drops = DropCount::default();
        queue
            .try_put((0, drops.guard()))
            .map_err(|_| "put")
            .expect("room");
        // Full: every kind of put discards its item at once, counted, and none waits.
        put_ten_every_way(&queue, &drops);
        assert_eq!(
            drops.get(),
            10,
            "the discarded items were dropped, not leaked"
        );
        let stats = stats_add_up(&queue);
        assert_eq!(
            (stats.put, stats.dropped, stats.len, stats.high_water),
            (11, 10, 1, 1)
        );
        // A take makes room, and the next put goes in again.
        assert_eq!(queue.try_get().map(|(id, _)| id), Ok(0));
        queue
            .try_put((20, drops.guard()))
            .map_err(|_| "put")
            .expect("room");
        queue
            .try_put((21, drops.guard()))
            .map_err(|_| "put")
            .expect("discarded, not refused");
        // Closed while full: a put is refused with its item handed back, not discarded.
        assert_closed_refuses_puts(&queue, &drops);
        assert_eq!(drain_ids(&queue), [20]);
        let stats = stats_add_up(&queue);
        assert_eq!((stats.put, stats.taken, stats.dropped), (13, 2, 11));

        // The same once `close_now` emptied a full queue.
        let queue = Queue::with_overflow(2, Overflow::DropNewest).expect("queue");
        for n in 0..3 {
            queue.try_put(n).expect("stored or discarded");
        }
        assert_eq!(queue.close_now(), 2);
        assert_eq!(queue.try_put(3), Err(TryPutError::Closed(3)));
        let stats = stats_add_up(&queue);
        assert_eq!((stats.put, stats.dropped, stats.discarded), (3, 1, 2));
    });
}

#[test]
fn drop_newest_counters_add_up_in_every_snapshot_while_puts_race_gets() {
    const PUTTERS: usize = 3;
    const PER_PUTTER: u64 = 20_000;
    watchdog(WATCH, || {
        let queue = Queue::with_overflow(4, Overflow::DropNewest).expect("queue");
        let done = Arc::new(AtomicUsize::new(0));
        let putters: Vec<_> = (0..PUTTERS as u64)
            .map(|p| {
                let (queue, done) = (queue.clone(), Arc::clone(&done));
                thread::spawn(move || {
                    for n in 0..PER_PUTTER {
                        queue.try_put(p * PER_PUTTER + n).expect("never refused");
                    }
                    done.fetch_add(1, SeqCst);
                })
            })
            .collect();
        let observer = {
            let (queue, done) = (queue.clone(), Arc::clone(&done));
            thread::spawn(move || {
                let mut last = QueueStats::default();
                while done.load(SeqCst) < PUTTERS {
                    let stats = stats_add_up(&queue);
                    assert!(stats.len <= 4, "{stats:?}");
                    assert!(stats.put >= last.put && stats.dropped >= last.dropped);
                    last = stats;
                }
            })
        };
        // Each putter's items arrive in its own order, with gaps where they were discarded.
        let mut last_seen = [None; PUTTERS];
        let mut taken = 0;
        while done.load(SeqCst) < PUTTERS || !queue.is_empty() {
            if let Ok(n) = queue.try_get() {
                let p = usize::try_from(n / PER_PUTTER).expect("small");
                assert!(last_seen[p] < Some(n), "{n} after {:?}", last_seen[p]);
                last_seen[p] = Some(n);
                taken += 1;
            }
        }
        putters.into_iter().for_each(joined_thread);
        joined_thread(observer);
        let stats = stats_add_up(&queue);
        assert_eq!(stats.put, PUTTERS as u64 * PER_PUTTER);
        assert_eq!((stats.taken, stats.len), (taken, 0));
        assert_eq!(stats.dropped, stats.put - taken);
    });
}

#[test]
fn drop_policies_wake_a_waiting_getter() {
    watchdog(WATCH, || {
        let rt = multi_thread_runtime(1);
        let portal = portal(1);
        for overflow in [Overflow::DropOldest, Overflow::DropNewest] {
            let queue = Queue::with_overflow(1, overflow).expect("queue");
            let getters = blocked_getters(&queue, &rt, &portal);
            for i in 0..6 {
                queue.put_blocking(i).expect("put");
            }
            queue.close();
            let mut got: Vec<u32> = getters.outcomes(&rt).concat();
            got.sort_unstable();
            let stats = stats_add_up(&queue);
            assert_eq!(stats.put, 6);
            assert_eq!(
                got.len() as u64,
                stats.taken,
                "every item taken was received"
            );
            assert_eq!(stats.len, 0);
            got.dedup();
            assert_eq!(got.len() as u64, stats.taken, "nothing received twice");
        }
    });
}

// ---------------------------------------------------------------------------------------------
// close and close_now.

#[test]
fn close_lets_waiting_getters_drain_what_is_left_then_see_closed() {
    watchdog(WATCH, || {
        let rt = multi_thread_runtime(2);
        let portal = portal(2);
        // Nothing left: every waiting getter wakes with Closed.
        let queue = Queue::new(4).expect("queue");
        let getters = blocked_getters(&queue, &rt, &portal);
        assert!(queue.close());
        assert!(getters.outcomes(&rt).iter().all(Vec::is_empty));

        // Items left: the getters take them, each once, then see Closed.
        let queue = Queue::new(4).expect("queue");
        let getters = blocked_getters(&queue, &rt, &portal);
        for i in 0..3 {
            queue.try_put(i).expect("room");
        }
        assert!(queue.close());
        let mut got: Vec<u32> = getters.outcomes(&rt).concat();
        got.sort_unstable();
        assert_eq!(got, [0, 1, 2]);
        assert_eq!(queue.get_blocking(), Err(Error::Closed));
        let stats = stats_add_up(&queue);
        assert_eq!((stats.put, stats.taken, stats.discarded), (3, 3, 0));
    });
}

#[test]
fn close_wakes_waiting_putters_on_both_sides_with_their_items_handed_back() {
    watchdog(WATCH, || {
        let rt = multi_thread_runtime(2);
        let portal = portal(2);
        let queue = Queue::new(1).expect("queue");
        queue.put_blocking(100).expect("room");
        let putters = blocked_putters(&queue, &rt, &portal, 1);
        assert!(queue.close());
        let outcomes = putters.outcomes(&rt);
        let expected: Vec<PutOutcome> = (1..7).map(|item| Err((Error::Closed, item))).collect();
        assert_eq!(outcomes, expected, "each putter has its own item back");
        assert_eq!(
            queue.get_blocking(),
            Ok(100),
            "what was in stays to be drained"
        );
        assert_eq!(queue.get_blocking(), Err(Error::Closed));
        let stats = stats_add_up(&queue);
        assert_eq!((stats.put, stats.taken), (1, 1));
    });
}

#[test]
fn close_now_discards_counts_and_wakes_every_waiting_putter_at_once() {
    watchdog(WATCH, || {
        let rt = multi_thread_runtime(2);
        let portal = portal(2);
        let queue = Queue::new(2).expect("queue");
        queue.put_blocking(100).expect("room");
        queue.put_blocking(101).expect("room");
        let putters = blocked_putters(&queue, &rt, &portal, 1);
        assert_eq!(queue.close_now(), 2, "returns how many items it discarded");
        let expected: Vec<PutOutcome> = (1..7).map(|item| Err((Error::Closed, item))).collect();
        assert_eq!(putters.outcomes(&rt), expected);
        assert!(queue.is_closed() && queue.is_empty());
        assert_eq!(
            queue.try_get(),
            Err(TryGetError::Closed),
            "nothing left to drain"
        );
        assert_eq!(queue.close_now(), 0, "nothing more to discard");
        assert!(!queue.close(), "already closed");
        let stats = stats_add_up(&queue);
        assert_eq!((stats.put, stats.taken, stats.discarded), (2, 0, 2));
    });
}

#[test]
fn close_now_wakes_every_waiting_getter_at_once_with_closed() {
    watchdog(WATCH, || {
        let rt = multi_thread_runtime(2);
        let portal = portal(2);
        let queue = Queue::new(2).expect("queue");
        let getters = blocked_getters(&queue, &rt, &portal);
        assert_eq!(queue.close_now(), 0);
        assert!(getters.outcomes(&rt).iter().all(Vec::is_empty));
        let stats = stats_add_up(&queue);
        assert_eq!(stats, QueueStats::default());
    });
}

#[test]
fn close_now_after_close_discards_what_was_left_to_drain() {
    watchdog(WATCH, || {
        let queue = Queue::new(4).expect("queue");
        for i in 0..3 {
            queue.put_blocking(i).expect("room");
        }
        assert!(queue.close());
        assert_eq!(queue.get_blocking(), Ok(0));
        assert_eq!(queue.close_now(), 2);
        assert_eq!(queue.get_blocking(), Err(Error::Closed));
        let stats = stats_add_up(&queue);
        assert_eq!((stats.put, stats.taken, stats.discarded), (3, 1, 2));
    });
}

// ---------------------------------------------------------------------------------------------
// task_done and join.

#[test]
fn join_waits_until_every_item_is_marked_done() {
    watchdog(WATCH, || {
        let rt = multi_thread_runtime(1);
        let queue = Queue::new(4).expect("queue");
        for i in 0..3 {
            queue.put_blocking(i).expect("room");
        }
        let (tx, rx) = mpsc::channel();
        let sync_joiner = {
            let queue = queue.clone();
            thread::spawn(move || {
                tx.send(Sleeper::current()).expect("announce");
                queue.join_blocking()
            })
        };
        rx.recv().expect("announced").wait_asleep();
        let pendings = Pendings::default();
        let async_joiner = {
            let (queue, pendings) = (queue.clone(), pendings.clone());
            rt.spawn(async move { pendings.watch(queue.join()).await })
        };
        pendings.wait_for(1);
        let (woken, waker) = Flag::waker();
        let mut join = queue.join();
        assert!(poll_once(&mut join, &waker).is_pending());

        for _ in 0..3 {
            queue.get_blocking().expect("item");
        }
        assert!(
            poll_once(&mut join, &waker).is_pending(),
            "taken is not done"
        );
        queue.task_done().expect("first");
        queue.task_done().expect("second");
        assert!(!woken.take(), "two of three done: joiners are not woken");
        assert!(poll_once(&mut join, &waker).is_pending());
        queue.task_done().expect("third");
        assert!(woken.take(), "the last task_done wakes the joiners");
        assert_eq!(poll_once(&mut join, &waker), Poll::Ready(()));
        assert_eq!(joined_thread(sync_joiner), Ok(()));
        joined(rt.block_on(async_joiner));

        assert_eq!(
            queue.task_done(),
            Err(TaskDoneError),
            "called once too often"
        );
        assert_eq!(queue.join_blocking(), Ok(()), "nothing unfinished: at once");
        stats_add_up(&queue);
    });
}

#[test]
fn task_done_more_often_than_items_were_put_is_an_error_that_changes_nothing() {
    watchdog(WATCH, || {
        let queue = Queue::new(2).expect("queue");
        assert_eq!(
            queue.task_done(),
            Err(TaskDoneError),
            "nothing was ever put"
        );
        assert_eq!(queue.join_blocking(), Ok(()), "a fresh queue joins at once");
        queue.put_blocking(1).expect("room");
        assert_eq!(queue.get_blocking(), Ok(1));
        assert_eq!(queue.task_done(), Ok(()));
        assert_eq!(queue.task_done(), Err(TaskDoneError));
        // The error changed nothing: a new item makes join wait again, one task_done ends it.
        queue.put_blocking(2).expect("room");
        let (_, waker) = Flag::waker();
        let mut join = queue.join();
        assert!(poll_once(&mut join, &waker).is_pending());
        queue.get_blocking().expect("item");
        queue.task_done().expect("done");
        assert_eq!(poll_once(&mut join, &waker), Poll::Ready(()));
        stats_add_up(&queue);
    });
}

#[test]
fn items_dropped_by_a_policy_count_as_done() {
    watchdog(WATCH, || {
        for overflow in [Overflow::DropOldest, Overflow::DropNewest] {
            let queue = Queue::with_overflow(2, overflow).expect("queue");
            for i in 0..5 {
                queue.put_blocking(i).expect("put");
            }
            let (tx, rx) = mpsc::channel();
            let joiner = {
                let queue = queue.clone();
                thread::spawn(move || {
                    tx.send(Sleeper::current()).expect("announce");
                    queue.join_blocking()
                })
            };
            rx.recv().expect("announced").wait_asleep();
            for _ in 0..2 {
                queue.get_blocking().expect("item");
                queue.task_done().expect("done");
            }
            assert_eq!(
                joined_thread(joiner),
                Ok(()),
                "{overflow:?}: the 3 dropped are done"
            );
            assert_eq!(queue.task_done(), Err(TaskDoneError), "{overflow:?}");
            let stats = stats_add_up(&queue);
            assert_eq!((stats.put, stats.taken, stats.dropped), (5, 2, 3));
        }
    });
}

#[test]
fn items_discarded_by_close_now_count_as_done_and_wake_joiners() {
    watchdog(WATCH, || {
        let rt = multi_thread_runtime(1);
        // Nothing taken: close_now leaves nothing unfinished and wakes the joiners at once.
        let queue = Queue::new(4).expect("queue");
        for i in 0..3 {
            queue.put_blocking(i).expect("room");
        }
        let (tx, rx) = mpsc::channel();
        let sync_joiner = {
            let queue = queue.clone();
            thread::spawn(move || {
                tx.send(Sleeper::current()).expect("announce");
                queue.join_blocking()
            })
        };
        rx.recv().expect("announced").wait_asleep();
        let pendings = Pendings::default();
        let async_joiner = {
            let (queue, pendings) = (queue.clone(), pendings.clone());
            rt.spawn(async move { pendings.watch(queue.join()).await })
        };
        pendings.wait_for(1);
        assert_eq!(queue.close_now(), 3);
        assert_eq!(joined_thread(sync_joiner), Ok(()));
        joined(rt.block_on(async_joiner));
        assert_eq!(queue.task_done(), Err(TaskDoneError));

        // One taken and not done: join waits for exactly that one.
        let queue = Queue::new(4).expect("queue");
        for i in 0..3 {
            queue.put_blocking(i).expect("room");
        }
        assert_eq!(queue.get_blocking(), Ok(0));
        let (woken, waker) = Flag::waker();
        let mut join = queue.join();
        assert!(poll_once(&mut join, &waker).is_pending());
        assert_eq!(queue.close_now(), 2);
        assert!(
            poll_once(&mut join, &waker).is_pending(),
            "the taken item is not done"
        );
        queue.task_done().expect("done");
        assert!(woken.take());
        assert_eq!(poll_once(&mut join, &waker), Poll::Ready(()));
        assert_eq!(queue.task_done(), Err(TaskDoneError));
        let stats = stats_add_up(&queue);
        assert_eq!((stats.put, stats.taken, stats.discarded), (3, 1, 2));
    });
}

/// `task_done` may be called for an item before it is taken: `TaskDoneError` is documented
/// only for more calls than items put (Python's `queue.Queue` allows it too). An item already
/// marked done that a policy then evicts must not be marked done a second time.
#[test]
fn evicting_an_item_already_marked_done_keeps_the_books() {
    watchdog(WATCH, || {
        let queue = Queue::with_overflow(1, Overflow::DropOldest).expect("queue");
        queue.try_put(1).expect("room");
        queue.task_done().expect("one item was put");
        let evicting = panic::catch_unwind(|| queue.try_put(2));
        assert!(matches!(evicting, Ok(Ok(()))), "evicting must not panic");
        let stats = stats_add_up(&queue);
        assert_eq!((stats.put, stats.dropped, stats.len), (2, 1, 1));
        let (_, waker) = Flag::waker();
        let mut join = queue.join();
        assert!(
            poll_once(&mut join, &waker).is_pending(),
            "item 2 is not done"
        );
        assert_eq!(queue.task_done(), Ok(()), "item 2 can be marked done");
        assert_eq!(poll_once(&mut join, &waker), Poll::Ready(()));
    });
}

/// As above, for an item already marked done that `close_now` then discards.
#[test]
fn discarding_an_item_already_marked_done_keeps_the_books() {
    watchdog(WATCH, || {
        let queue = Queue::new(2).expect("queue");
        queue.try_put(1).expect("room");
        queue.task_done().expect("one item was put");
        let discarding = panic::catch_unwind(|| queue.close_now());
        assert!(matches!(discarding, Ok(1)), "discarding must not panic");
        let (_, waker) = Flag::waker();
        let mut join = queue.join();
        assert_eq!(
            poll_once(&mut join, &waker),
            Poll::Ready(()),
            "nothing is unfinished"
        );
        assert_eq!(queue.task_done(), Err(TaskDoneError));
        let stats = stats_add_up(&queue);
        assert_eq!((stats.put, stats.discarded), (1, 1));
    });
}

// ---------------------------------------------------------------------------------------------
// The async-context guard.

/// Every blocking verb, called on a thread that drives async tasks: each is refused with
/// `InAsyncContext` before it does anything. `full` holds one item (a get would succeed at once,
/// a put would wait, a join would wait); `empty` holds none (a put would succeed at once).
fn assert_blocking_refused(full: &Queue<u32>, empty: &Queue<u32>) {
    const REFUSED: Error = Error::InAsyncContext;
    assert_eq!(full.get_blocking(), Err(REFUSED), "get_blocking");
    assert_eq!(full.get_blocking_timeout(LONG), Err(REFUSED));
    assert_eq!(full.get_blocking_timeout(Duration::ZERO), Err(REFUSED));
    assert_eq!(full.len(), 1, "a refused get took nothing");
    assert_eq!(empty.get_blocking(), Err(REFUSED));

    assert_eq!(
        put_outcome(empty.put_blocking(7)),
        Err((REFUSED, 7)),
        "put_blocking"
    );
    assert_eq!(
        put_outcome(empty.put_blocking_timeout(8, LONG)),
        Err((REFUSED, 8))
    );
    let zero = empty.put_blocking_timeout(9, Duration::ZERO);
    assert_eq!(put_outcome(zero), Err((REFUSED, 9)));
    assert_eq!(empty.len(), 0, "a refused put put nothing, even with room");
    assert_eq!(put_outcome(full.put_blocking(10)), Err((REFUSED, 10)));

    assert_eq!(full.join_blocking(), Err(REFUSED), "join_blocking");
    assert_eq!(empty.join_blocking(), Err(REFUSED));
}

#[test]
fn blocking_calls_inside_async_tasks_are_refused_and_change_nothing() {
    watchdog(WATCH, || {
        let full = Queue::new(1).expect("queue");
        full.try_put(1).expect("room");
        let empty = Queue::new(4).expect("queue");

        let rt = multi_thread_runtime(2);
        let task = {
            let (full, empty) = (full.clone(), empty.clone());
            rt.spawn(async move { assert_blocking_refused(&full, &empty) })
        };
        joined(rt.block_on(task));
        rt.block_on(async { assert_blocking_refused(&full, &empty) });
        current_thread_runtime().block_on(async { assert_blocking_refused(&full, &empty) });

        let portal = portal(1);
        let task = {
            let (full, empty) = (full.clone(), empty.clone());
            portal.spawn(async move { assert_blocking_refused(&full, &empty) })
        };
        task.expect("spawn").wait().expect("portal task");
        portal
            .call(async { assert_blocking_refused(&full, &empty) })
            .expect("call");

        let stats = stats_add_up(&full);
        assert_eq!((stats.put, stats.taken, stats.len), (1, 0, 1));
        assert_eq!(stats_add_up(&empty), QueueStats::default());
        // The refused calls left no waiter behind: the queues work as before.
        assert_eq!(full.try_get(), Ok(1));
        empty.try_put(2).expect("room");
        assert_eq!(empty.get_blocking(), Ok(2));
    });
}

#[test]
fn blocking_calls_work_inside_spawn_blocking() {
    const N: u32 = 200;
    watchdog(WATCH, || {
        let rt = multi_thread_runtime(2);
        let queue = Queue::new(1).expect("queue");
        rt.block_on(async {
            // Blocking producer, async consumer: the producer really waits for room.
            let producer = {
                let queue = queue.clone();
                tokio::task::spawn_blocking(move || {
                    for i in 0..N {
                        queue.put_blocking(i).expect("put");
                    }
                    queue.join_blocking()
                })
            };
            for i in 0..N {
                assert_eq!(queue.get().await, Ok(i));
                queue.task_done().expect("done");
            }
            assert_eq!(joined(producer.await), Ok(()));

            // Async producer, blocking consumer, with timeouts that do and do not pass.
            let (timed_out, go) = tokio::sync::oneshot::channel();
            let consumer = {
                let queue = queue.clone();
                tokio::task::spawn_blocking(move || {
                    assert_eq!(queue.get_blocking_timeout(SHORT), Err(Error::Timeout));
                    timed_out.send(()).expect("the producer listens");
                    let mut got: Vec<u32> = (0..N)
                        .map(|_| queue.get_blocking_timeout(LONG).expect("item"))
                        .collect();
                    got.push(queue.get_blocking().expect("item"));
                    queue.put_blocking(99).expect("room");
                    let timed_out = put_outcome(queue.put_blocking_timeout(100, SHORT));
                    assert_eq!(timed_out, Err((Error::Timeout, 100)));
                    got
                })
            };
            go.await.expect("the consumer timed out on the empty queue");
            for i in 0..=N {
                queue.put(i).await.expect("put");
            }
            assert_eq!(joined(consumer.await), (0..=N).collect::<Vec<_>>());
            assert_eq!(queue.get().await, Ok(99));
        });
        let stats = stats_add_up(&queue);
        assert_eq!(
            (stats.put, stats.taken),
            (u64::from(2 * N) + 2, u64::from(2 * N) + 2)
        );
    });
}

// ---------------------------------------------------------------------------------------------
// Timeouts.

#[test]
fn timed_out_blocking_calls_lose_nothing_and_leave_no_waiter_behind() {
    watchdog(WATCH, || {
        let queue = Queue::new(1).expect("queue");
        let started = Instant::now();
        assert_eq!(queue.get_blocking_timeout(SHORT), Err(Error::Timeout));
        assert!(started.elapsed() >= SHORT, "waited the whole timeout");
        assert_eq!(
            queue.get_blocking_timeout(Duration::ZERO),
            Err(Error::Timeout)
        );
        let stats = stats_add_up(&queue);
        assert_eq!(stats, QueueStats::default(), "nothing taken");

        // A waiting getter arriving after the timed-out ones is woken by the next put: no
        // timed-out getter is left in line to swallow the wake-up.
        let (tx, rx) = mpsc::channel();
        let getter = {
            let queue = queue.clone();
            thread::spawn(move || {
                tx.send(Sleeper::current()).expect("announce");
                queue.get_blocking()
            })
        };
        rx.recv().expect("announced").wait_asleep();
        queue.put_blocking(1).expect("room");
        assert_eq!(joined_thread(getter), Ok(1));

        // A zero timeout still takes what is there.
        queue.put_blocking(2).expect("room");
        assert_eq!(queue.get_blocking_timeout(Duration::ZERO), Ok(2));

        // Puts on a full queue time out with their items back, and put nothing.
        queue.put_blocking(3).expect("room");
        let started = Instant::now();
        let timed_out = put_outcome(queue.put_blocking_timeout(4, SHORT));
        assert!(started.elapsed() >= SHORT, "waited the whole timeout");
        assert_eq!(
            timed_out,
            Err((Error::Timeout, 4)),
            "the item is handed back"
        );
        let timed_out = put_outcome(queue.put_blocking_timeout(5, Duration::ZERO));
        assert_eq!(timed_out, Err((Error::Timeout, 5)));
        assert_eq!(queue.len(), 1);

        // A waiting putter arriving after the timed-out ones is woken by the next get.
        let (tx, rx) = mpsc::channel();
        let putter = {
            let queue = queue.clone();
            thread::spawn(move || {
                tx.send(Sleeper::current()).expect("announce");
                put_outcome(queue.put_blocking(6))
            })
        };
        rx.recv().expect("announced").wait_asleep();
        assert_eq!(queue.get_blocking(), Ok(3));
        assert_eq!(joined_thread(putter), Ok(()));
        assert_eq!(
            queue
                .put_blocking_timeout(7, Duration::ZERO)
                .map_err(|_| ()),
            Err(())
        );
        assert_eq!(drain(&queue), [6]);
        queue
            .put_blocking_timeout(7, Duration::ZERO)
            .expect("room: a zero timeout puts");
        assert_eq!(drain(&queue), [7]);
        let stats = stats_add_up(&queue);
        assert_eq!((stats.put, stats.taken), (5, 5));
    });
}

// ---------------------------------------------------------------------------------------------
// Cancel safety.

/// Drives a current-thread runtime until the watched futures have returned `Pending` `count`
/// times. Outside `block_on`, nothing runs on that runtime: a woken task waits to be polled.
fn run_until_pending(rt: &Runtime, pendings: &Pendings, count: usize) {
    rt.block_on(async {
        while pendings.get() < count {
            tokio::task::yield_now().await;
        }
    });
}

#[test]
fn a_cancelled_get_never_takes_an_item() {
    watchdog(WATCH, || {
        let queue = Queue::new(2).expect("queue");
        let (woken, waker) = Flag::waker();
        let mut get = queue.get();
        assert!(poll_once(&mut get, &waker).is_pending());
        queue.try_put(1).expect("room");
        assert!(woken.take(), "the put woke the waiting get");
        drop(get);
        assert_eq!(
            queue.len(),
            1,
            "woken and dropped before acting: it took nothing"
        );

        let rt = current_thread_runtime();
        rt.block_on(async {
            assert_eq!(queue.get().await, Ok(1));
            assert!(tokio::time::timeout(SHORT, queue.get()).await.is_err());
        });
        // Cancelled by select! in the same step as an item arrives.
        let pendings = Pendings::default();
        let (cancel, cancelled) = tokio::sync::oneshot::channel::<()>();
        let getter = {
            let (queue, pendings) = (queue.clone(), pendings.clone());
            rt.spawn(async move {
                tokio::select! {
                    biased;
                    _ = cancelled => None,
                    got = pendings.watch(queue.get()) => Some(got),
                }
            })
        };
        run_until_pending(&rt, &pendings, 1);
        queue.try_put(2).expect("room");
        cancel.send(()).expect("the getter listens");
        assert_eq!(joined(rt.block_on(getter)), None);
        assert_eq!(drain(&queue), [2], "the cancelled get took nothing");
        let stats = stats_add_up(&queue);
        assert_eq!((stats.put, stats.taken), (2, 2));
    });
}

#[test]
fn a_cancelled_put_never_inserts_its_item() {
    watchdog(WATCH, || {
        let drops = DropCount::default();
        let queue = Queue::new(1).expect("queue");
        queue
            .try_put((0, drops.guard()))
            .map_err(|_| "put")
            .expect("room");
        let (woken, waker) = Flag::waker();
        let mut put = queue.put((1, drops.guard()));
        assert!(poll_once(&mut put, &waker).is_pending());
        assert_eq!(queue.try_get().map(|(id, _)| id), Ok(0));
        assert!(woken.take(), "room woke the waiting put");
        drop(put);
        assert!(
            queue.is_empty(),
            "woken and dropped before acting: it inserted nothing"
        );
        assert_eq!(
            drops.get(),
            2,
            "the cancelled put's item was dropped with it"
        );

        let rt = current_thread_runtime();
        queue
            .try_put((2, drops.guard()))
            .map_err(|_| "put")
            .expect("room");
        rt.block_on(async {
            let put = queue.put((3, drops.guard()));
            assert!(tokio::time::timeout(SHORT, put).await.is_err());
        });
        // Cancelled by select! in the same step as room appears.
        let pendings = Pendings::default();
        let (cancel, cancelled) = tokio::sync::oneshot::channel::<()>();
        let putter = {
            let (queue, pendings, drops) = (queue.clone(), pendings.clone(), drops.clone());
            rt.spawn(async move {
                tokio::select! {
                    biased;
                    _ = cancelled => None,
                    done = pendings.watch(queue.put((4, drops.guard()))) => Some(done.is_ok()),
                }
            })
        };
        run_until_pending(&rt, &pendings, 1);
        assert_eq!(drain_ids(&queue), [2]);
        cancel.send(()).expect("the putter listens");
        assert_eq!(joined(rt.block_on(putter)), None);
        assert!(queue.is_empty(), "the cancelled put inserted nothing");
        assert_eq!(drops.get(), 5, "every item was dropped once");
        let stats = stats_add_up(&queue);
        assert_eq!((stats.put, stats.taken), (2, 2));
    });
}

/// Where the next waiter in line runs: on a plain thread, or as a task on the test's
/// current-thread runtime.
enum Next<R> {
    Thread(thread::JoinHandle<R>),
    Task(tokio::task::JoinHandle<R>),
}

impl<R> Next<R> {
    fn outcome(self, rt: &Runtime) -> R {
        match self {
            Self::Thread(handle) => joined_thread(handle),
            Self::Task(handle) => joined(rt.block_on(handle)),
        }
    }
}

#[test]
fn a_woken_getter_that_is_dropped_passes_the_wake_up_on() {
    watchdog(WATCH, || {
        // By hand, where every wake-up can be seen.
        let queue = Queue::new(1).expect("queue");
        let (first_woken, first_waker) = Flag::waker();
        let (second_woken, second_waker) = Flag::waker();
        let mut first = queue.get();
        let mut second = queue.get();
        assert!(poll_once(&mut first, &first_waker).is_pending());
        assert!(poll_once(&mut second, &second_waker).is_pending());
        queue.try_put(7).expect("room");
        assert!(first_woken.take(), "one item wakes the first in line");
        assert!(!second_woken.take(), "...and only the first");
        drop(first);
        assert!(
            second_woken.take(),
            "the dropped getter passed its wake-up on"
        );
        assert_eq!(poll_once(&mut second, &second_waker), Poll::Ready(Ok(7)));
        drop(second);

        // With real waiters: had the wake-up been lost, the next getter would stay blocked and
        // the watchdog would fail the test.
        let rt = current_thread_runtime();
        for round in 0..200_u32 {
            let queue = Queue::new(1).expect("queue");
            let pendings = Pendings::default();
            let (cancel, cancelled) = tokio::sync::oneshot::channel::<()>();
            let first = {
                let (queue, pendings) = (queue.clone(), pendings.clone());
                rt.spawn(async move {
                    tokio::select! {
                        biased;
                        _ = cancelled => None,
                        got = pendings.watch(queue.get()) => Some(got),
                    }
                })
            };
            run_until_pending(&rt, &pendings, 1);
            let next = if round % 2 == 0 {
                let (tx, rx) = mpsc::channel();
                let queue = queue.clone();
                let getter = thread::spawn(move || {
                    tx.send(Sleeper::current()).expect("announce");
                    queue.get_blocking()
                });
                rx.recv().expect("announced").wait_asleep();
                Next::Thread(getter)
            } else {
                let (queue, watching) = (queue.clone(), pendings.clone());
                let getter = rt.spawn(async move { watching.watch(queue.get()).await });
                run_until_pending(&rt, &pendings, 2);
                Next::Task(getter)
            };
            // Nothing runs on the runtime here: the put wakes the first getter, which is then
            // cancelled before it can poll again.
            queue.try_put(round).expect("room");
            cancel.send(()).expect("the first getter listens");
            assert_eq!(joined(rt.block_on(first)), None);
            assert_eq!(next.outcome(&rt), Ok(round), "round {round}");
            stats_add_up(&queue);
        }
    });
}

#[test]
fn a_woken_putter_that_is_dropped_passes_the_wake_up_on() {
    watchdog(WATCH, || {
        let queue = Queue::new(1).expect("queue");
        queue.try_put(0).expect("room");
        let (first_woken, first_waker) = Flag::waker();
        let (second_woken, second_waker) = Flag::waker();
        let mut first = queue.put(1);
        let mut second = queue.put(2);
        assert!(poll_once(&mut first, &first_waker).is_pending());
        assert!(poll_once(&mut second, &second_waker).is_pending());
        assert_eq!(queue.try_get(), Ok(0));
        assert!(first_woken.take(), "room wakes the first in line");
        assert!(!second_woken.take(), "...and only the first");
        drop(first);
        assert!(
            second_woken.take(),
            "the dropped putter passed its wake-up on"
        );
        assert!(matches!(
            poll_once(&mut second, &second_waker),
            Poll::Ready(Ok(()))
        ));
        drop(second);
        assert_eq!(drain(&queue), [2], "the dropped put inserted nothing");

        let rt = current_thread_runtime();
        for round in 0..200_u32 {
            let queue = Queue::new(1).expect("queue");
            queue.try_put(0).expect("room");
            let pendings = Pendings::default();
            let (cancel, cancelled) = tokio::sync::oneshot::channel::<()>();
            let first = {
                let (queue, pendings) = (queue.clone(), pendings.clone());
                rt.spawn(async move {
                    tokio::select! {
                        biased;
                        _ = cancelled => None,
                        done = pendings.watch(queue.put(1)) => Some(done.is_ok()),
                    }
                })
            };
            run_until_pending(&rt, &pendings, 1);
            let next = if round % 2 == 0 {
                let (tx, rx) = mpsc::channel();
                let queue = queue.clone();
                let putter = thread::spawn(move || {
                    tx.send(Sleeper::current()).expect("announce");
                    put_outcome(queue.put_blocking(2))
                });
                rx.recv().expect("announced").wait_asleep();
                Next::Thread(putter)
            } else {
                let (queue, watching) = (queue.clone(), pendings.clone());
                let putter =
                    rt.spawn(async move { put_outcome(watching.watch(queue.put(2)).await) });
                run_until_pending(&rt, &pendings, 2);
                Next::Task(putter)
            };
            assert_eq!(queue.try_get(), Ok(0));
            cancel.send(()).expect("the first putter listens");
            assert_eq!(joined(rt.block_on(first)), None);
            assert_eq!(next.outcome(&rt), Ok(()), "round {round}");
            assert_eq!(
                drain(&queue),
                [2],
                "round {round}: only the next putter's item"
            );
            stats_add_up(&queue);
        }
    });
}

/// How long the racing waiters below wait before giving up.
const RACE_TIMEOUT: Duration = Duration::from_micros(200);

/// What the racing tests below pass through the queue: (producer, sequence number).
type Item = (usize, u32);

/// Counts the attempts that were cancelled or timed out, to show the races happened.
type Cancels = Arc<AtomicUsize>;

/// Gets raced against a yield: whichever `select!` polls first wins and the other is dropped,
/// sometimes right after a put woke it. Returns what it got once the queue is closed.
async fn get_racing_a_yield(queue: Queue<Item>, cancels: Cancels) -> Received {
    let mut got = Received::new();
    loop {
        tokio::select! {
            result = queue.get() => match result {
                Ok(item) => got.push(item),
                Err(err) => {
                    assert_eq!(err, Error::Closed);
                    return got;
                }
            },
            () = tokio::task::yield_now() => {
                cancels.fetch_add(1, SeqCst);
            }
        }
    }
}

/// Gets under tokio's timeout.
async fn get_racing_a_timeout(queue: Queue<Item>, cancels: Cancels) -> Received {
    let mut got = Received::new();
    loop {
        match tokio::time::timeout(RACE_TIMEOUT, queue.get()).await {
            Ok(Ok(item)) => got.push(item),
            Ok(Err(err)) => {
                assert_eq!(err, Error::Closed);
                return got;
            }
            Err(_) => {
                cancels.fetch_add(1, SeqCst);
            }
        }
    }
}

/// Blocking gets with short timeouts, for a plain thread.
fn get_blocking_racing_a_timeout(queue: &Queue<Item>, cancels: &Cancels) -> Received {
    let mut got = Received::new();
    loop {
        match queue.get_blocking_timeout(RACE_TIMEOUT) {
            Ok(item) => got.push(item),
            Err(Error::Timeout) => {
                cancels.fetch_add(1, SeqCst);
            }
            Err(err) => {
                assert_eq!(err, Error::Closed);
                return got;
            }
        }
    }
}

/// Puts `(p, 0..count)`, each raced against a yield and offered again until a put of it
/// succeeds: a cancelled put that inserted anyway would show up as a duplicate.
async fn put_racing_a_yield(queue: Queue<Item>, p: usize, count: u32, cancels: Cancels) {
    for seq in 0..count {
        loop {
            tokio::select! {
                result = queue.put((p, seq)) => {
                    result.expect("open");
                    break;
                }
                () = tokio::task::yield_now() => {
                    cancels.fetch_add(1, SeqCst);
                }
            }
        }
    }
}

/// As [`put_racing_a_yield`], under tokio's timeout.
async fn put_racing_a_timeout(queue: Queue<Item>, p: usize, count: u32, cancels: Cancels) {
    for seq in 0..count {
        while tokio::time::timeout(RACE_TIMEOUT, queue.put((p, seq)))
            .await
            .map(|result| result.expect("open"))
            .is_err()
        {
            cancels.fetch_add(1, SeqCst);
        }
    }
}

/// As [`put_racing_a_yield`], with blocking puts with short timeouts, for a plain thread.
fn put_blocking_racing_a_timeout(queue: &Queue<Item>, p: usize, count: u32, cancels: &Cancels) {
    for seq in 0..count {
        let mut item = (p, seq);
        while let Err(err) = queue.put_blocking_timeout(item, RACE_TIMEOUT) {
            assert_eq!(err.error(), &Error::Timeout);
            item = err.into_inner();
            assert_eq!(item, (p, seq), "the timed-out put handed back its item");
            cancels.fetch_add(1, SeqCst);
        }
    }
}

/// A thread that checks the counters add up at every instant, not only at the end.
struct Auditor {
    done: Arc<std::sync::atomic::AtomicBool>,
    thread: thread::JoinHandle<u32>,
}

impl Auditor {
    fn start(queue: &Queue<Item>) -> Self {
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = {
            let (queue, done) = (queue.clone(), Arc::clone(&done));
            thread::spawn(move || {
                let mut readings = 0;
                while !done.load(SeqCst) {
                    stats_add_up(&queue);
                    readings += 1;
                    thread::yield_now();
                }
                readings
            })
        };
        Self { done, thread }
    }

    fn finish(self) {
        self.done.store(true, SeqCst);
        assert!(
            joined_thread(self.thread) > 0,
            "the auditor read the counters"
        );
    }
}

#[test]
fn cancelled_gets_racing_puts_lose_and_duplicate_nothing() {
    const PRODUCERS: usize = 3;
    const PER_PRODUCER: u32 = 4_000;
    watchdog(WATCH, || {
        let queue = Queue::new(4).expect("queue");
        let rt = multi_thread_runtime(2);
        let portal = portal(1);
        let cancels = Cancels::default();
        let auditor = Auditor::start(&queue);
        let tokio_consumers = [
            rt.spawn(get_racing_a_yield(queue.clone(), Arc::clone(&cancels))),
            rt.spawn(get_racing_a_timeout(queue.clone(), Arc::clone(&cancels))),
        ];
        let portal_consumer = portal
            .spawn(get_racing_a_yield(queue.clone(), Arc::clone(&cancels)))
            .expect("spawn");
        let sync_consumer = {
            let (queue, cancels) = (queue.clone(), Arc::clone(&cancels));
            thread::spawn(move || get_blocking_racing_a_timeout(&queue, &cancels))
        };
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let queue = queue.clone();
                thread::spawn(move || {
                    for seq in 0..PER_PRODUCER {
                        queue.put_blocking((p, seq)).expect("put");
                        if seq % 64 == 0 {
                            // Now and then let the consumers find the queue empty and wait.
                            thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        producers.into_iter().for_each(joined_thread);
        queue.close();
        let mut received: Vec<Received> = tokio_consumers
            .into_iter()
            .map(|consumer| joined(rt.block_on(consumer)))
            .collect();
        received.push(portal_consumer.wait().expect("consumer"));
        received.push(joined_thread(sync_consumer));
        received.push(drain(&queue));
        auditor.finish();
        assert_each_once_in_order(&received, PRODUCERS, PER_PRODUCER);
        assert!(cancels.load(SeqCst) > 0, "no get was ever cancelled");
        let stats = stats_add_up(&queue);
        let total = PRODUCERS as u64 * u64::from(PER_PRODUCER);
        assert_eq!((stats.put, stats.taken, stats.len), (total, total, 0));
    });
}

#[test]
fn cancelled_puts_racing_gets_insert_nothing() {
    const PER_PRODUCER: u32 = 3_000;
    watchdog(WATCH, || {
        let queue = Queue::new(2).expect("queue");
        let rt = multi_thread_runtime(2);
        let portal = portal(1);
        let cancels = Cancels::default();
        let auditor = Auditor::start(&queue);
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let queue = queue.clone();
                thread::spawn(move || {
                    let mut got = Received::new();
                    while let Ok(item) = queue.get_blocking() {
                        got.push(item);
                    }
                    got
                })
            })
            .collect();
        let tokio_producers = [
            rt.spawn(put_racing_a_yield(
                queue.clone(),
                0,
                PER_PRODUCER,
                Arc::clone(&cancels),
            )),
            rt.spawn(put_racing_a_timeout(
                queue.clone(),
                1,
                PER_PRODUCER,
                Arc::clone(&cancels),
            )),
        ];
        let portal_producer = portal
            .spawn(put_racing_a_yield(
                queue.clone(),
                2,
                PER_PRODUCER,
                Arc::clone(&cancels),
            ))
            .expect("spawn");
        let sync_producer = {
            let (queue, cancels) = (queue.clone(), Arc::clone(&cancels));
            thread::spawn(move || put_blocking_racing_a_timeout(&queue, 3, PER_PRODUCER, &cancels))
        };
        for producer in tokio_producers {
            joined(rt.block_on(producer));
        }
        portal_producer.wait().expect("producer");
        joined_thread(sync_producer);
        queue.close();
        let received: Vec<Received> = consumers.into_iter().map(joined_thread).collect();
        auditor.finish();
        assert_each_once_in_order(&received, 4, PER_PRODUCER);
        assert!(cancels.load(SeqCst) > 0, "no put was ever cancelled");
        let stats = stats_add_up(&queue);
        let total = 4 * u64::from(PER_PRODUCER);
        assert_eq!((stats.put, stats.taken, stats.len), (total, total, 0));
    });
}

// ---------------------------------------------------------------------------------------------
// No user Drop under the lock.

/// An item whose `Drop` uses the queue it was put in. Dropped under the queue's lock, it would
/// deadlock on that lock, and the watchdog would fail the test.
struct Reentrant {
    id: u32,
    queue: Queue<Reentrant>,
    dropped: Arc<Mutex<Vec<u32>>>,
}

impl Drop for Reentrant {
    fn drop(&mut self) {
        let _ = (self.queue.len(), self.queue.stats(), self.queue.is_closed());
        self.dropped.lock().expect("drop log").push(self.id);
    }
}

#[test]
fn items_are_never_dropped_under_the_queue_lock() {
    watchdog(WATCH, || {
        let rt = current_thread_runtime();
        let dropped = Arc::new(Mutex::new(Vec::new()));
        let item = |queue: &Queue<Reentrant>, id| Reentrant {
            id,
            queue: queue.clone(),
            dropped: Arc::clone(&dropped),
        };
        let dropped_ids = || std::mem::take(&mut *dropped.lock().expect("drop log"));
        let put_five_every_way = |queue: &Queue<Reentrant>| {
            queue.try_put(item(queue, 0)).expect("put");
            queue.put_blocking(item(queue, 1)).expect("put");
            rt.block_on(queue.put(item(queue, 2))).expect("put");
            queue
                .put_blocking_timeout(item(queue, 3), LONG)
                .expect("put");
            queue.try_put(item(queue, 4)).expect("put");
        };

        let queue = Queue::with_overflow(2, Overflow::DropOldest).expect("queue");
        put_five_every_way(&queue);
        assert_eq!(dropped_ids(), [0, 1, 2], "evicted by DropOldest");
        drop(drain(&queue));
        assert_eq!(dropped_ids(), [3, 4]);
        stats_add_up(&queue);

        let queue = Queue::with_overflow(2, Overflow::DropNewest).expect("queue");
        put_five_every_way(&queue);
        assert_eq!(dropped_ids(), [2, 3, 4], "rejected by DropNewest");
        drop(drain(&queue));
        assert_eq!(dropped_ids(), [0, 1]);
        stats_add_up(&queue);

        let queue = Queue::new(3).expect("queue");
        for id in 0..3 {
            queue.try_put(item(&queue, id)).expect("room");
        }
        // The item of a cancelled put is dropped with its future.
        let (_, waker) = Flag::waker();
        let mut put = queue.put(item(&queue, 3));
        assert!(poll_once(&mut put, &waker).is_pending());
        drop(put);
        assert_eq!(dropped_ids(), [3], "dropped with the cancelled put");
        assert_eq!(queue.close_now(), 3);
        assert_eq!(dropped_ids(), [0, 1, 2], "discarded by close_now");
        drop(queue.try_put(item(&queue, 4)));
        assert_eq!(dropped_ids(), [4], "refused after close");
        let stats = stats_add_up(&queue);
        assert_eq!((stats.put, stats.discarded), (3, 3));
    });
}
