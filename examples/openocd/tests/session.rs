//! The session against a real OpenOCD: start, connect, close and drop; one connection shared
//! by tasks and threads; abandoned calls; the reply limit; OpenOCD killed mid-call; a port with
//! nothing behind it; a config that makes OpenOCD fail.

mod common;

use std::net::{Ipv4Addr, TcpListener};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{kill, process_exists, require_openocd, runtime, watchdog};
use syncportal_openocd::{ConnectOptions, Error, Session, StartConfig, SyncSession};

#[test]
fn start_answers_version_and_close_reaps_openocd() {
    require_openocd!();
    watchdog(30, || {
        let ocd = SyncSession::start(common::dummy()).expect("start openocd");
        assert_eq!(ocd.version().unwrap(), "Open On-Chip Debugger 0.12.0");
        let pid = ocd.pid().expect("a started session knows its pid");
        assert!(process_exists(pid));
        assert!(ocd.output_tail().unwrap().contains("Listening on port"));
        ocd.close().unwrap();
        // close returns after OpenOCD was reaped: no zombie, no process.
        assert!(!process_exists(pid));
    });
}

#[test]
fn dropping_a_session_shuts_openocd_down() {
    require_openocd!();
    watchdog(30, || {
        let ocd = SyncSession::start(common::dummy()).expect("start openocd");
        let pid = ocd.pid().unwrap();
        drop(ocd);
        // A plain thread waits in the drop, so a script that ends here leaves nothing behind.
        assert!(!process_exists(pid), "openocd outlived the dropped session");
    });
}

#[test]
fn dropping_a_session_inside_async_code_does_not_block() {
    require_openocd!();
    watchdog(30, || {
        runtime().block_on(async {
            let ocd = Session::start(common::dummy())
                .await
                .expect("start openocd");
            let pid = ocd.pid().unwrap();
            let before = Instant::now();
            drop(ocd);
            assert!(before.elapsed() < Duration::from_millis(100));
            while process_exists(pid) {
                tokio::task::yield_now().await;
            }
        });
    });
}

#[test]
fn a_second_session_connects_to_a_running_openocd() {
    require_openocd!();
    watchdog(30, || {
        let owner = SyncSession::start(common::dummy()).expect("start openocd");
        let addr = owner.addr().to_string();
        let guest = SyncSession::connect(&addr).expect("connect");
        assert_eq!(guest.pid(), None);
        assert_eq!(guest.version().unwrap(), owner.version().unwrap());
        guest.close().unwrap();
        // Closing a connected session leaves OpenOCD running.
        assert_eq!(owner.command("return alive").unwrap(), "alive");
        owner.close().unwrap();
    });
}

#[test]
fn error_replies_are_typed() {
    require_openocd!();
    watchdog(30, || {
        let ocd = SyncSession::start(common::dummy()).expect("start openocd");
        match ocd.command("no_such_command 1 2") {
            Err(Error::Command { command, message }) => {
                assert_eq!(command, "no_such_command 1 2");
                assert_eq!(message, "invalid command name \"no_such_command\"");
            }
            other => panic!("expected a command error, got {other:?}"),
        }
        let err = ocd.call("error", &["custom {message} with $pecial [chars]"]);
        assert!(
            matches!(&err, Err(Error::Command { message, .. }) if message == "custom {message} with $pecial [chars]"),
            "{err:?}"
        );
        // After errors the connection is still in step.
        assert_eq!(ocd.command("return ok").unwrap(), "ok");
        ocd.close().unwrap();
    });
}

#[test]
fn concurrent_tasks_each_get_their_own_reply() {
    require_openocd!();
    watchdog(60, || {
        runtime().block_on(async {
            let ocd = Arc::new(
                Session::start(common::dummy())
                    .await
                    .expect("start openocd"),
            );
            let mut tasks = Vec::new();
            for task in 0..16 {
                let ocd = Arc::clone(&ocd);
                tasks.push(tokio::spawn(async move {
                    for call in 0..25 {
                        let expected = format!("task {task} call {call}");
                        let reply = ocd.call("return", &[&expected]).await.unwrap();
                        assert_eq!(reply, expected);
                    }
                }));
            }
            for task in tasks {
                task.await.unwrap();
            }
        });
    });
}

#[test]
fn concurrent_threads_share_the_sync_twin() {
    require_openocd!();
    watchdog(60, || {
        let ocd = SyncSession::start(common::dummy()).expect("start openocd");
        thread::scope(|scope| {
            for worker in 0..8 {
                let ocd = &ocd;
                scope.spawn(move || {
                    for call in 0..25 {
                        let expected = format!("thread {worker} call {call}");
                        assert_eq!(ocd.call("return", &[&expected]).unwrap(), expected);
                    }
                });
            }
        });
        ocd.close().unwrap();
    });
}

#[test]
fn a_timed_out_call_does_not_shift_later_replies() {
    require_openocd!();
    watchdog(30, || {
        let ocd = SyncSession::start(common::dummy()).expect("start openocd");
        // OpenOCD answers this one after 300 ms; the caller gives up after 50 ms.
        let late = ocd
            .with_timeout(Duration::from_millis(50))
            .command("sleep 300; return stale");
        assert!(late.as_ref().is_err_and(Error::is_timeout), "{late:?}");
        // The stale reply is read and thrown away; this call gets its own.
        assert_eq!(ocd.command("return fresh").unwrap(), "fresh");

        // The same through the async API, with the future dropped by tokio's timeout.
        runtime().block_on(async {
            let ocd = Session::connect(&ocd.addr().to_string()).await.unwrap();
            let slow = ocd.command("sleep 300; return stale");
            assert!(
                tokio::time::timeout(Duration::from_millis(50), slow)
                    .await
                    .is_err()
            );
            assert_eq!(ocd.command("return fresh").await.unwrap(), "fresh");
        });
        ocd.close().unwrap();
    });
}

#[test]
fn a_reply_over_the_limit_is_a_typed_error_and_the_connection_survives() {
    require_openocd!();
    watchdog(30, || {
        let ocd = SyncSession::start(common::dummy().max_reply(64 * 1024)).expect("start");
        let huge = ocd.command("string repeat x 5000000");
        assert!(
            matches!(huge, Err(Error::ReplyTooLarge { limit: 65536 })),
            "{huge:?}"
        );
        assert_eq!(ocd.command("string repeat y 3").unwrap(), "yyy");
        // A second connection with its own limit.
        let small =
            SyncSession::connect_with(&ocd.addr().to_string(), ConnectOptions::new().max_reply(16))
                .unwrap();
        assert!(matches!(
            small.command("string repeat z 17"),
            Err(Error::ReplyTooLarge { limit: 16 })
        ));
        // 16 bytes of reply: the code, a space and 14 bytes of result.
        assert_eq!(small.command("string repeat z 14").unwrap(), "z".repeat(14));
        ocd.close().unwrap();
    });
}

#[test]
fn killing_openocd_mid_call_fails_every_caller_promptly() {
    require_openocd!();
    watchdog(30, || {
        runtime().block_on(async {
            let ocd = Arc::new(
                Session::start(common::dummy())
                    .await
                    .expect("start openocd"),
            );
            let pid = ocd.pid().unwrap();
            let in_flight = {
                let ocd = Arc::clone(&ocd);
                tokio::spawn(async move { ocd.command("echo in-flight-marker; sleep 20000").await })
            };
            // OpenOCD logs the marker once it is running the first command.
            while !ocd.output_tail().unwrap().contains("in-flight-marker") {
                tokio::task::yield_now().await;
            }
            // These wait behind the command in flight (or find the connection gone).
            let queued: Vec<_> = (0..4)
                .map(|i| {
                    let ocd = Arc::clone(&ocd);
                    tokio::spawn(async move { ocd.call("return", &[&i.to_string()]).await })
                })
                .collect();
            tokio::task::yield_now().await;
            let killed = Instant::now();
            kill(pid);
            let first = in_flight.await.unwrap();
            assert!(matches!(first, Err(Error::Disconnected)), "{first:?}");
            for call in queued {
                let result = call.await.unwrap();
                assert!(matches!(result, Err(Error::Disconnected)), "{result:?}");
            }
            assert!(killed.elapsed() < Duration::from_secs(2));
            // Later calls fail at once.
            assert!(ocd.version().await.unwrap_err().is_disconnected());
        });
    });
}

#[test]
fn connecting_to_a_closed_port_says_so() {
    watchdog(10, || {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let err = SyncSession::connect(&addr).unwrap_err();
        assert!(
            matches!(&err, Error::PortNotOpen { addr: a } if *a == addr),
            "{err:?}"
        );
        assert!(err.to_string().contains("nothing is listening"));
    });
}

#[test]
fn a_failing_config_reports_openocd_stderr() {
    require_openocd!();
    watchdog(30, || {
        let config = common::dummy().command("this_is_not_a_command");
        match SyncSession::start(config) {
            Err(Error::StartFailed { reason, stderr }) => {
                assert!(reason.contains("exited"), "{reason}");
                assert!(stderr.contains("invalid command name"), "{stderr}");
            }
            other => panic!("expected StartFailed, got {other:?}"),
        }
    });
}

#[test]
fn a_missing_program_is_a_start_failure() {
    watchdog(10, || {
        let config = StartConfig::new().program("/nonexistent/openocd");
        let err = SyncSession::start(config).unwrap_err();
        assert!(
            matches!(&err, Error::StartFailed { reason, .. } if reason.contains("could not run")),
            "{err:?}"
        );
    });
}

#[test]
fn the_sync_twin_refuses_to_block_inside_async_code() {
    require_openocd!();
    watchdog(30, || {
        let ocd = SyncSession::start(common::dummy()).expect("start openocd");
        let inside = runtime().block_on(async { ocd.version() });
        assert!(matches!(
            inside,
            Err(Error::Portal(syncportal::Error::InAsyncContext))
        ));
        ocd.close().unwrap();
    });
}
