//! TCL notifications as events, against a real OpenOCD: order, the end of the stream when the
//! session closes, the blocking twin's iterator, and recordings whose counts balance.
//!
//! The dummy adapter's `testee` target takes `reset halt`, `reset run` and `reset init`, and
//! OpenOCD sends `type target_reset mode ...` for each: real notifications, on demand.

mod common;

use std::future::poll_fn;
use std::pin::Pin;

use common::{require_openocd, runtime, spin_until, watchdog};
use futures_core::Stream;
use syncportal::{End, Overflow, RecordOptions};
use syncportal_openocd::{Event, Events, ResetMode, Session, SyncSession};

const MODES: [ResetMode; 3] = [ResetMode::Halt, ResetMode::Run, ResetMode::Init];

async fn next(events: &mut Events) -> Option<Event> {
    poll_fn(|cx| Pin::new(&mut *events).poll_next(cx)).await
}

/// `rounds` cycles of halt, run, init: the events OpenOCD sends for them, in order.
fn expected(rounds: usize) -> Vec<Event> {
    (0..rounds)
        .flat_map(|_| MODES.map(|mode| Event::Reset(Some(mode))))
        .collect()
}

#[test]
fn events_arrive_in_order_and_end_when_the_session_closes() {
    require_openocd!();
    watchdog(30, || {
        runtime().block_on(async {
            let owner = Session::start(common::dummy())
                .await
                .expect("start openocd");
            let guest = Session::connect(&owner.addr().to_string()).await.unwrap();
            let mut events = guest.events().await.unwrap();
            // Commands from another connection: every one of them is notified to the guest.
            for _ in 0..5 {
                for mode in MODES {
                    owner.target().reset(mode).await.unwrap();
                }
            }
            // The guest's own connection still answers its own commands, unmixed.
            assert_eq!(guest.command("return plain").await.unwrap(), "plain");
            // Closing the guest ends its stream after what OpenOCD had sent, and OpenOCD
            // (owned by the other session) keeps running.
            guest.close().await.unwrap();
            let mut seen = Vec::new();
            while let Some(event) = next(&mut events).await {
                seen.push(event);
            }
            assert_eq!(seen, expected(5));
            assert_eq!(owner.command("return alive").await.unwrap(), "alive");

            // A session that owns OpenOCD: closing it shuts OpenOCD down, which ends the stream.
            let mut events = owner.events().await.unwrap();
            owner.target().reset(ResetMode::Halt).await.unwrap();
            owner.close().await.unwrap();
            assert_eq!(
                next(&mut events).await,
                Some(Event::Reset(Some(ResetMode::Halt)))
            );
            assert_eq!(next(&mut events).await, None);
        });
    });
}

#[test]
fn the_sync_twin_reads_events_as_a_blocking_iterator() {
    require_openocd!();
    watchdog(30, || {
        let ocd = SyncSession::start(common::dummy()).expect("start openocd");
        let mut events = ocd.events().unwrap();
        for mode in MODES {
            ocd.target().reset(mode).unwrap();
            let event = events.next().expect("the stream is open").unwrap();
            assert_eq!(event, Event::Reset(Some(mode)));
        }
        // Dropping the twin drops the session, which ends the stream (and shuts OpenOCD
        // down in the background).
        let pid = ocd.pid().unwrap();
        drop(ocd);
        assert_eq!(events.next(), None);
        spin_until(10, "the dropped session's OpenOCD is reaped", || {
            !common::process_exists(pid)
        });
    });
}

#[test]
fn a_recording_of_events_counts_what_it_delivers() {
    require_openocd!();
    watchdog(30, || {
        let ocd = SyncSession::start(common::dummy()).expect("start openocd");
        let recording = ocd
            .record_events(RecordOptions::new().capacity(2))
            .unwrap()
            .into_sync();
        let live = recording.live_summary();
        for _ in 0..4 {
            for mode in MODES {
                ocd.target().reset(mode).unwrap();
            }
        }
        ocd.close().unwrap();
        // Capacity 2 with the default Overflow::Block: nothing is lost, however slow the reader.
        let seen: Vec<Event> = recording.map(Result::unwrap).collect();
        assert_eq!(seen, expected(4));
        let summary = live.get();
        assert_eq!((summary.emitted, summary.delivered), (12, 12));
        assert_eq!((summary.dropped, summary.buffered), (0, 0));
        assert_eq!(summary.end, Some(End::SourceEnded));
        assert!(summary.balances(), "{summary:?}");
    });
}

#[test]
fn a_recording_that_drops_the_newest_keeps_the_first_events() {
    require_openocd!();
    watchdog(30, || {
        let ocd = SyncSession::start(common::dummy()).expect("start openocd");
        let options = RecordOptions::new()
            .capacity(2)
            .overflow(Overflow::DropNewest);
        let recording = ocd.record_events(options).unwrap().into_sync();
        let live = recording.live_summary();
        for _ in 0..3 {
            for mode in MODES {
                ocd.target().reset(mode).unwrap();
            }
        }
        ocd.close().unwrap();
        // Read nothing until the producer has seen the end of the stream.
        spin_until(10, "the recording has ended", || live.get().end.is_some());
        let summary = live.get();
        assert_eq!(
            (summary.emitted, summary.buffered, summary.dropped),
            (9, 2, 7)
        );
        assert!(summary.balances(), "{summary:?}");
        let seen: Vec<Event> = recording.map(Result::unwrap).collect();
        assert_eq!(seen, expected(1)[..2]);
        let summary = live.get();
        assert_eq!((summary.delivered, summary.buffered), (2, 0));
        assert!(summary.balances(), "{summary:?}");
    });
}
