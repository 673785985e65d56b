//! `#[syncportal::facade]` on a realistic SDK: a session on a real loopback TCP connection to a
//! line-protocol server, two subsystems sharing that connection, an event stream on a
//! connection of its own, a `&mut self` method and a consuming `close`.
//!
//! The same scenario runs through the async API and through the generated blocking twin, and
//! both must observe exactly the same things. Then the blocking twin is shared by sixteen
//! threads, timed out in the middle of an exchange, called from async code, closed, dropped,
//! and cut off by a portal shutdown.

mod common;
// `pub`, as a real SDK's surface is: `pub` items in a private module trip `unreachable_pub`.
#[path = "facade_sdk/sdk.rs"]
pub mod sdk;
#[path = "facade_sdk/server.rs"]
mod server;

use std::fmt::Debug;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use common::watchdog;
use futures_core::Stream;
use sdk::{Event, SdkError, Session, SyncCounters, SyncKv, SyncSession};
use server::{Seen, Server};
use syncportal::Portal;

static_assertions::assert_impl_all!(SyncSession: Send, Sync, Debug);
static_assertions::assert_not_impl_any!(SyncSession: Clone);
static_assertions::assert_impl_all!(SyncKv: Send, Sync, Debug, Clone);
static_assertions::assert_impl_all!(SyncCounters: Send, Sync, Debug, Clone);

/// What the scenario observes, through either API.
const EXPECTED: &[&str] = &[
    "get greeting = Some(\"hello\")",
    "get missing = None",
    "kv answer = Some(\"42\")",
    "incr hits = 1",
    "incr hits = 2",
    "incr hits = 3",
    "counter hits = 3",
    "incr greeting = error: the server refused the request: value of greeting is not an integer",
    "name = None",
    "name = Some(\"alice\"), whoami = Some(\"alice\")",
    "event ticks #1",
    "event ticks #2",
    "event ticks #3",
    "closed",
];

/// Whether a blocking call was refused for being made in async code.
fn in_async<T>(result: &Result<T, SdkError>) -> bool {
    matches!(
        result,
        Err(SdkError::Portal(syncportal::Error::InAsyncContext))
    )
}

/// Whether a blocking call failed because its portal was shut down.
fn closed<T>(result: &Result<T, SdkError>) -> bool {
    matches!(result, Err(SdkError::Portal(e)) if e.is_closed())
}

fn outcome<T: Debug>(result: Result<T, SdkError>) -> String {
    match result {
        Ok(value) => format!("ok {value:?}"),
        Err(err) => format!("error: {err}"),
    }
}

/// The next item of an async stream.
async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}

/// The scenario, written against the async API.
async fn scenario_async(addr: SocketAddr) -> Result<Vec<String>, SdkError> {
    let mut log = Vec::new();
    let mut session = Session::connect(addr).await?;
    session.set("greeting", "hello").await?;
    log.push(format!(
        "get greeting = {:?}",
        session.get("greeting").await?
    ));
    log.push(format!("get missing = {:?}", session.get("missing").await?));
    let kv = session.kv();
    kv.set("answer", 42).await?;
    log.push(format!("kv answer = {:?}", kv.get("answer").await?));
    let counters = session.counters();
    for _ in 0..3 {
        log.push(format!("incr hits = {}", counters.incr("hits").await?));
    }
    log.push(format!("counter hits = {}", counters.get("hits").await?));
    log.push(format!(
        "incr greeting = {}",
        outcome(counters.incr("greeting").await)
    ));
    log.push(format!("name = {:?}", session.name()));
    session.set_name("alice".to_owned()).await?;
    log.push(format!(
        "name = {:?}, whoami = {:?}",
        session.name(),
        session.whoami().await?
    ));
    let mut events = session.events("ticks");
    for _ in 0..3 {
        let event = next(&mut events).await.expect("the event stream ended")?;
        log.push(format!("event {event}"));
    }
    drop(events);
    session.close().await?;
    log.push("closed".to_owned());
    Ok(log)
}

/// The same scenario through the blocking twin: the same lines without `.await`.
fn scenario_blocking(addr: SocketAddr) -> Result<Vec<String>, SdkError> {
    let mut log = Vec::new();
    let mut session = SyncSession::connect(addr)?;
    session.set("greeting", "hello")?;
    log.push(format!("get greeting = {:?}", session.get("greeting")?));
    log.push(format!("get missing = {:?}", session.get("missing")?));
    let kv = session.kv();
    kv.set("answer", 42)?;
    log.push(format!("kv answer = {:?}", kv.get("answer")?));
    let counters = session.counters();
    for _ in 0..3 {
        log.push(format!("incr hits = {}", counters.incr("hits")?));
    }
    log.push(format!("counter hits = {}", counters.get("hits")?));
    log.push(format!(
        "incr greeting = {}",
        outcome(counters.incr("greeting"))
    ));
    log.push(format!("name = {:?}", session.name()));
    session.set_name("alice".to_owned())?;
    log.push(format!(
        "name = {:?}, whoami = {:?}",
        session.name(),
        session.whoami()?
    ));
    // Each item is a pull through the portal (outer `?`) of an SDK result (inner `?`).
    for event in session.events("ticks").take(3) {
        log.push(format!("event {}", event??));
    }
    session.close()?;
    log.push("closed".to_owned());
    Ok(log)
}

/// What the server sees during one run of the scenario: the session is connection 1 and says
/// goodbye, the event stream is connection 2 and goes away after three events.
fn expect_scenario_on_server(server: &Server) {
    server.expect(&[
        Seen::Connected(1),
        Seen::Subscribed(2, "ticks".to_owned()),
        Seen::SubscriberGone(2, "ticks".to_owned()),
        Seen::Quit(1),
    ]);
    assert_eq!(server.connections(), 2);
}

#[test]
fn async_and_blocking_scenarios_observe_the_same() {
    watchdog(10, || {
        let server = Server::start();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sdk-test-async")
            .enable_all()
            .build()
            .expect("build the async scenario's runtime");
        let async_log = runtime
            .block_on(scenario_async(server.addr()))
            .expect("the async scenario");
        expect_scenario_on_server(&server);

        let server = Server::start();
        let blocking_log = scenario_blocking(server.addr()).expect("the blocking scenario");
        expect_scenario_on_server(&server);

        assert_eq!(async_log, blocking_log);
        assert_eq!(blocking_log, EXPECTED);
    });
}

#[test]
fn sixteen_threads_share_one_session() {
    const THREADS: usize = 16;
    const ROUNDS: usize = 50;
    let key = |t: usize, i: usize| format!("t{t}-k{i}");
    let value = |t: usize, i: usize| format!("value {i} of thread {t}");
    watchdog(15, move || {
        let server = Server::start();
        let session = SyncSession::connect(server.addr()).expect("connect");
        let barrier = Barrier::new(THREADS);
        let mut counts: Vec<i64> = thread::scope(|scope| {
            let workers: Vec<_> = (0..THREADS)
                .map(|t| {
                    let (session, barrier) = (&session, &barrier);
                    scope.spawn(move || -> Result<Vec<i64>, SdkError> {
                        let counters = session.counters();
                        let kv = session.kv();
                        let mut seen = Vec::with_capacity(ROUNDS);
                        barrier.wait();
                        for i in 0..ROUNDS {
                            seen.push(counters.incr("shared")?);
                            // Half the threads go through the subsystem, half through the
                            // session: both share the one connection.
                            if t % 2 == 0 {
                                kv.set(&key(t, i), value(t, i))?;
                            } else {
                                session.set(&key(t, i), &value(t, i))?;
                            }
                            assert_eq!(kv.get(&key(t, i))?, Some(value(t, i)));
                        }
                        Ok(seen)
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|worker| {
                    worker
                        .join()
                        .expect("a worker panicked")
                        .expect("a worker's request failed")
                })
                .collect()
        });

        // Every INCR got its own reply: the values handed out are exactly 1..=800.
        counts.sort_unstable();
        let expected: Vec<i64> = (1..=800).collect();
        assert_eq!(counts, expected);
        assert_eq!(session.counters().get("shared").expect("get"), 800);
        for t in 0..THREADS {
            for i in 0..ROUNDS {
                assert_eq!(session.get(&key(t, i)).expect("get"), Some(value(t, i)));
            }
        }
        assert_eq!(session.reconnects(), 0);
        assert_eq!(server.connections(), 1);
        session.close().expect("close");
        server.expect(&[Seen::Quit(1)]);
    });
}

#[test]
fn a_timed_out_exchange_reconnects_instead_of_reading_its_stale_reply() {
    const QUICK: Duration = Duration::from_millis(50);
    const SLOW: Duration = Duration::from_millis(400);
    watchdog(10, || {
        let server = Server::start();
        let mut session = SyncSession::connect(server.addr()).expect("connect");
        session.set_name("bob".to_owned()).expect("set_name");
        session.set("k", "v").expect("set");

        // A per-call timeout through a view.
        let slow = session.with_timeout(QUICK).slow(SLOW);
        assert!(
            matches!(slow, Err(SdkError::Portal(ref e)) if e.is_timeout()),
            "{slow:?}"
        );
        // The request reached the server, which will answer `OK` on the old connection. A
        // client that kept that connection would read it as the answer to the next GET.
        server.expect(&[Seen::SlowStarted(1)]);
        assert_eq!(session.get("k").expect("get"), Some("v".to_owned()));
        assert_eq!(session.reconnects(), 1);
        assert_eq!(server.connections(), 2);
        // The new connection was named again before the GET went out.
        assert_eq!(session.whoami().expect("whoami"), Some("bob".to_owned()));
        server.expect(&[Seen::Disconnected(1)]);

        // The twin's own timeout, which its subsystems inherit.
        session.set_timeout(Some(QUICK));
        assert_eq!(session.counters().timeout(), Some(QUICK));
        assert_eq!(
            session.with_timeout(SLOW).kv().timeout(),
            Some(SLOW),
            "a subsystem made through a view takes the view's timeout"
        );
        let slow = session.slow(SLOW);
        assert!(
            matches!(slow, Err(SdkError::Portal(ref e)) if e.is_timeout()),
            "{slow:?}"
        );
        server.expect(&[Seen::SlowStarted(2)]);
        session.set_timeout(None);
        assert_eq!(session.counters().incr("n").expect("incr"), 1);
        assert_eq!(session.reconnects(), 2);
        assert_eq!(session.whoami().expect("whoami"), Some("bob".to_owned()));
        session.close().expect("close");
        server.expect(&[Seen::Disconnected(2), Seen::Quit(3)]);
    });
}

#[test]
fn a_call_that_times_out_waiting_for_the_lock_leaves_the_connection_alone() {
    watchdog(10, || {
        let server = Server::start();
        let session = SyncSession::connect(server.addr()).expect("connect");
        session.set("k", "v").expect("set");
        thread::scope(|scope| {
            // Long enough that the queued call surely gives up first, even on a loaded machine.
            let holder = scope.spawn(|| session.slow(Duration::from_secs(1)));
            // The holder is mid-exchange, holding the connection's lock.
            server.expect(&[Seen::SlowStarted(1)]);
            let queued = session
                .kv()
                .with_timeout(Duration::from_millis(50))
                .get("k");
            assert!(
                matches!(queued, Err(SdkError::Portal(ref e)) if e.is_timeout()),
                "{queued:?}"
            );
            holder.join().expect("the holder panicked").expect("slow");
        });
        assert_eq!(session.get("k").expect("get"), Some("v".to_owned()));
        assert_eq!(session.reconnects(), 0);
        assert_eq!(server.connections(), 1);
    });
}

#[test]
fn blocking_calls_from_async_code_are_refused_before_reaching_the_server() {
    watchdog(10, || {
        let server = Server::start();
        let session = SyncSession::connect(server.addr()).expect("connect");
        session.set("x", "1").expect("set");

        // Inside a portal call.
        let inside = Portal::global()
            .call(async { session.kv().get("x") })
            .expect("the portal call itself");
        assert!(in_async(&inside), "{inside:?}");

        // Inside a task on a runtime worker, and inside the runtime's own `block_on`.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("sdk-test-async")
            .enable_all()
            .build()
            .expect("build a runtime");
        let session = Arc::new(session);
        let (incr, event) = runtime
            .block_on(runtime.spawn({
                let session = Arc::clone(&session);
                async move {
                    let incr = session.counters().incr("n");
                    let event = session.events("t").next();
                    (incr, event)
                }
            }))
            .expect("the task");
        assert!(in_async(&incr), "{incr:?}");
        assert!(
            matches!(event, Some(Err(syncportal::Error::InAsyncContext))),
            "{event:?}"
        );
        let whoami = runtime.block_on(async { session.whoami() });
        assert!(in_async(&whoami), "{whoami:?}");

        // What to do instead: the async API, through the twin.
        let x = runtime.block_on(async { session.as_async().get("x").await });
        assert_eq!(x.expect("get"), Some("1".to_owned()));

        // None of the refused calls reached the server or disturbed the connection.
        assert_eq!(session.counters().get("n").expect("get"), 0);
        assert_eq!(session.reconnects(), 0);
        assert_eq!(server.connections(), 1);

        // A consuming call refused in async code still consumed the session: it was dropped
        // unpolled, so the server sees a hang-up rather than QUIT.
        let session = Arc::into_inner(session).expect("the only reference");
        let closed = runtime.block_on(async move { session.close() });
        assert!(in_async(&closed), "{closed:?}");
        server.expect(&[Seen::Disconnected(1)]);
    });
}

#[test]
fn close_says_goodbye_drop_hangs_up_and_streams_live_on_their_own_connection() {
    watchdog(10, || {
        let server = Server::start();
        let session = SyncSession::connect(server.addr()).expect("connect");
        let kv = session.kv();
        kv.set("a", 1).expect("set");

        // The stream connects when first pulled, not when made.
        let mut events = session.events("news");
        assert_eq!(server.connections(), 1);
        let first = events
            .next()
            .expect("an item")
            .expect("pulled")
            .expect("event");
        assert_eq!(
            first,
            Event {
                topic: "news".to_owned(),
                seq: 1
            }
        );
        server.expect(&[Seen::Subscribed(2, "news".to_owned())]);

        session.close().expect("close");
        server.expect(&[Seen::Quit(1)]);
        let after = kv.get("a");
        assert!(matches!(after, Err(SdkError::Closed)), "{after:?}");

        // The stream has its own connection and outlives the session; closing it hangs up.
        let second = events
            .next()
            .expect("an item")
            .expect("pulled")
            .expect("event");
        assert_eq!(second.seq, 2);
        events.close();
        assert!(events.next().is_none());
        server.expect(&[Seen::SubscriberGone(2, "news".to_owned())]);

        // A bad topic is reported by the stream, which then makes no connection.
        let other = SyncSession::connect(server.addr()).expect("connect");
        let mut bad = other.events("two words");
        let refused = bad.next().expect("an item").expect("pulled");
        assert!(matches!(refused, Err(SdkError::Protocol(_))), "{refused:?}");
        assert!(bad.next().is_none());
        // A round trip on a later connection means every earlier one has been accepted.
        let later = SyncSession::connect(server.addr()).expect("connect");
        assert_eq!(later.get("a").expect("get"), Some("1".to_owned()));
        assert_eq!(server.connections(), 4);

        // Dropping a session without closing it hangs up without QUIT.
        drop(other);
        drop(later);
        server.expect(&[Seen::Disconnected(3), Seen::Disconnected(4)]);
    });
}

#[test]
fn a_portal_shutdown_reaches_the_session_its_subsystems_and_its_streams() {
    watchdog(10, || {
        let server = Server::start();
        let portal = Portal::builder()
            .worker_threads(1)
            .thread_name("sdk-test-portal")
            .build()
            .expect("build a portal");
        let session = SyncSession::connect_on(&portal, server.addr()).expect("connect");
        let kv = session.kv();
        kv.set("a", 1).expect("set");
        let mut events = session.events("t");
        assert!(matches!(events.next(), Some(Ok(Ok(_)))));

        portal
            .shutdown(Duration::from_secs(1))
            .expect("shut the portal down");
        let get = kv.get("a");
        assert!(closed(&get), "{get:?}");
        let incr = session.counters().incr("c");
        assert!(closed(&incr), "{incr:?}");
        let whoami = session.whoami();
        assert!(closed(&whoami), "{whoami:?}");
        assert!(matches!(
            events.next(),
            Some(Err(syncportal::Error::Closed))
        ));
        assert!(events.next().is_none());
        server.expect(&[Seen::SubscriberGone(2, "t".to_owned())]);

        // The data is on the server, for a session on a working portal.
        let again = SyncSession::connect(server.addr()).expect("connect");
        assert_eq!(again.get("a").expect("get"), Some("1".to_owned()));
    });
}
