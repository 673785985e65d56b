//! The slow-poll detector: a `tracing` warning for a poll that blocks, none for polls that
//! yield, and none at all when it is switched off.
//!
//! A subscriber installed for the whole test binary records every event with target
//! `syncportal::slow_poll`. Each test looks only for its own task or thread name, so tests
//! running side by side do not see each other's warnings.

mod common;

use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use common::{spin_until, watchdog};
use syncportal::Portal;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Every slow-poll event so far, each as `message; field=value; ...`.
fn events() -> &'static Mutex<Vec<String>> {
    static EVENTS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    EVENTS.get_or_init(|| {
        tracing::subscriber::set_global_default(Recorder).expect("the only global subscriber");
        Mutex::new(Vec::new())
    })
}

fn events_naming(needle: &str) -> Vec<String> {
    events()
        .lock()
        .unwrap()
        .iter()
        .filter(|event| event.contains(needle))
        .cloned()
        .collect()
}

struct Recorder;

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={value:?}; ", field.name());
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        if event.metadata().target() == "syncportal::slow_poll" {
            let mut line = Line(String::new());
            event.record(&mut line);
            events().lock().unwrap().push(line.0);
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

fn watched_portal(threshold: Option<Duration>) -> Portal {
    events();
    Portal::builder()
        .worker_threads(2)
        .slow_poll_threshold(threshold)
        .build()
        .expect("portal")
}

/// A task whose only poll blocks its worker for 300 ms.
#[allow(
    clippy::unused_async,
    reason = "the point: blocking code inside an async fn"
)]
async fn blocks_its_worker() {
    thread::sleep(Duration::from_millis(300));
}

/// A task that runs as long, but yields between short polls.
async fn yields_politely() {
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn a_blocking_poll_in_a_task_is_reported_with_its_name_and_time() {
    watchdog(30, || {
        let portal = watched_portal(Some(Duration::from_millis(50)));
        portal.spawn(blocks_its_worker()).unwrap().wait().unwrap();
        spin_until(10, "the slow poll is reported", || {
            !events_naming("blocks_its_worker").is_empty()
        });
        let reports = events_naming("blocks_its_worker");
        assert_eq!(reports.len(), 1, "one report per slow poll: {reports:?}");
        let report = &reports[0];
        assert!(report.contains("threshold_ms=50"), "{report}");
        let running: u64 = report
            .split("running_ms=")
            .nth(1)
            .and_then(|rest| rest.split(';').next())
            .and_then(|ms| ms.parse().ok())
            .expect("a running_ms field");
        assert!((50..=300).contains(&running), "running_ms={running}");
        assert!(
            report.contains("spawn_blocking"),
            "the advice is there: {report}"
        );
    });
}

#[test]
fn a_blocking_poll_in_a_call_names_the_calling_thread() {
    watchdog(30, || {
        let portal = watched_portal(Some(Duration::from_millis(50)));
        thread::Builder::new()
            .name("sleepy-caller".to_owned())
            .spawn(move || portal.call(blocks_its_worker()).unwrap())
            .unwrap()
            .join()
            .unwrap();
        spin_until(10, "the slow call is reported", || {
            !events_naming("sleepy-caller").is_empty()
        });
    });
}

#[test]
fn polls_that_yield_are_not_reported() {
    watchdog(30, || {
        let portal = watched_portal(Some(Duration::from_millis(50)));
        portal.spawn(yields_politely()).unwrap().wait().unwrap();
        // A control task on the same portal is reported, so the monitor was watching.
        portal.spawn(blocks_its_worker()).unwrap().wait().unwrap();
        spin_until(10, "the control task is reported", || {
            !events_naming("blocks_its_worker").is_empty()
        });
        assert_eq!(events_naming("yields_politely"), Vec::<String>::new());
    });
}

/// A second blocking task type, so this test's reports cannot be confused with others'.
#[allow(
    clippy::unused_async,
    reason = "the point: blocking code inside an async fn"
)]
async fn blocks_unwatched() {
    thread::sleep(Duration::from_millis(300));
}

#[test]
fn switched_off_it_reports_nothing() {
    watchdog(30, || {
        let quiet = watched_portal(None);
        quiet.spawn(blocks_unwatched()).unwrap().wait().unwrap();
        // Give a watching monitor ample time to have reported it, using a watched control.
        let watched = watched_portal(Some(Duration::from_millis(20)));
        watched
            .spawn(async {
                thread::sleep(Duration::from_millis(150));
            })
            .unwrap()
            .wait()
            .unwrap();
        spin_until(10, "the watched control is reported", || {
            !events_naming("switched_off_it_reports_nothing").is_empty()
        });
        assert_eq!(events_naming("blocks_unwatched"), Vec::<String>::new());
    });
}

#[test]
fn a_call_that_panics_does_not_leave_its_thread_marked_as_polling() {
    watchdog(30, || {
        let portal = watched_portal(Some(Duration::from_millis(30)));
        let (reported, wait_for_report) = std::sync::mpsc::channel::<()>();
        let caller = {
            let portal = portal.clone();
            thread::Builder::new()
                .name("panicky-caller".to_owned())
                .spawn(move || {
                    // resume_unwind skips the panic hook, whose printing would itself be a slow
                    // poll.
                    let payload = common::expect_panic(|| {
                        portal.call(async { std::panic::resume_unwind(Box::new("boom in poll")) })
                    });
                    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom in poll"));
                    // Stay alive, so this thread's call slot is still watched.
                    let _ = wait_for_report.recv();
                })
                .unwrap()
        };
        // A control task blocks long enough for a stale mark to be reported too.
        portal.spawn(blocks_its_worker()).unwrap().wait().unwrap();
        spin_until(10, "the control task is reported", || {
            !events_naming("blocks_its_worker").is_empty()
        });
        drop(reported);
        caller.join().unwrap();
        assert_eq!(events_naming("panicky-caller"), Vec::<String>::new());
    });
}

#[test]
fn a_call_slot_left_by_an_exited_thread_names_the_thread_that_reuses_it() {
    watchdog(30, || {
        let portal = watched_portal(Some(Duration::from_millis(50)));
        let quick = portal.clone();
        // Its call slot goes back for reuse when it exits.
        thread::Builder::new()
            .name("first-quick-caller".to_owned())
            .spawn(move || quick.call(async {}).unwrap())
            .unwrap()
            .join()
            .unwrap();
        thread::Builder::new()
            .name("second-slow-caller".to_owned())
            .spawn(move || portal.call(blocks_its_worker()).unwrap())
            .unwrap()
            .join()
            .unwrap();
        spin_until(10, "the slow call is reported", || {
            !events_naming("second-slow-caller").is_empty()
        });
        assert_eq!(events_naming("first-quick-caller"), Vec::<String>::new());
    });
}
