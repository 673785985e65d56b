//! Helpers shared by the integration tests: a watchdog for anything that could hang, and
//! starting a real OpenOCD with the test configs.

#![allow(
    dead_code,
    reason = "every test binary compiles this module but each uses only some of the helpers"
)]

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use syncportal_openocd::StartConfig;

/// Runs `f` on its own thread and returns its result, or panics loudly if it has not finished
/// within `secs` seconds. A panic inside `f` (a failed assertion) resumes here with its payload.
pub(crate) fn watchdog<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name("watched-test".to_owned())
        .spawn(move || {
            let result = panic::catch_unwind(AssertUnwindSafe(f));
            // The receiver is gone only when the watchdog already fired.
            let _ = tx.send(result);
        })
        .expect("spawn the watched test thread");
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(Ok(value)) => value,
        Ok(Err(payload)) => panic::resume_unwind(payload),
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("watchdog: test hung for {secs} s"),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            panic!("watchdog: the watched thread died without a result")
        }
    }
}

/// Spins (yielding the CPU) until `condition` holds, or panics after `secs` seconds. For states
/// that can only be observed by asking, such as whether a process still exists.
pub(crate) fn spin_until(secs: u64, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "gave up after {secs} s waiting until {what}"
        );
        thread::yield_now();
    }
}

/// Whether `openocd` can be run. Tests that need it print a skip line and return when not.
pub(crate) fn openocd_installed() -> bool {
    Command::new("openocd")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success() || !out.stderr.is_empty())
}

/// Returns from the calling test, with a visible line, when OpenOCD is not installed.
macro_rules! require_openocd {
    () => {
        if !common::openocd_installed() {
            eprintln!("skipping: openocd not installed");
            return;
        }
    };
}
pub(crate) use require_openocd;

/// A test config file, by name.
pub(crate) fn config(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/configs")
        .join(name)
}

/// OpenOCD with the dummy adapter and its real `testee` target.
pub(crate) fn dummy() -> StartConfig {
    StartConfig::new().file(config("dummy.cfg"))
}

/// OpenOCD with the dummy adapter and the Tcl fake CPU over it.
pub(crate) fn fake_cpu() -> StartConfig {
    dummy().file(config("fake_cpu.cfg"))
}

/// OpenOCD with the dummy adapter and two `faux` flash banks.
pub(crate) fn fake_flash() -> StartConfig {
    dummy().file(config("fake_flash.cfg"))
}

/// Whether process `pid` still exists (a zombie counts: it has not been reaped).
pub(crate) fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Kills process `pid` with SIGKILL.
pub(crate) fn kill(pid: u32) {
    let status = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -9 {pid} failed");
}

/// A current-thread tokio runtime for one test.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("build a tokio runtime")
}
