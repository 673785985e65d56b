//! Setup shared by the benches: the same portals, runtimes and criterion settings everywhere,
//! so their numbers compare.

#![allow(
    dead_code,
    reason = "every bench compiles this module but each uses only some of it"
)]

use std::time::{Duration, Instant};

use criterion::Criterion;
use syncportal::Portal;
use tokio::runtime::{Builder, Runtime};

/// A private portal with `workers` worker threads.
pub(crate) fn portal(workers: usize) -> Portal {
    Portal::builder()
        .worker_threads(workers)
        .thread_name(format!("bench-portal-w{workers}"))
        .build()
        .expect("portal starts")
}

/// A runtime configured as [`Portal::builder`] configures its own, for the anchors.
pub(crate) fn multi_thread_runtime(workers: usize) -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name(format!("bench-raw-w{workers}"))
        .enable_all()
        .build()
        .expect("runtime starts")
}

/// Criterion settings for every group: short warm-up and measurement, 40 samples.
pub(crate) fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(40)
}

/// The time `iters` runs of `workloads[measured]` take, made `round` at a time in turn with as
/// many untimed runs of every other workload. Conditions on this machine drift over seconds
/// (where Linux puts threads, how deeply an idle CPU sleeps), more than some differences being
/// measured; taking turns, every workload meets the same conditions.
pub(crate) fn in_turns(
    iters: u64,
    round: u64,
    measured: usize,
    workloads: &[&dyn Fn()],
) -> Duration {
    let mut timed = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(round);
        for (index, workload) in workloads.iter().enumerate() {
            let start = Instant::now();
            for _ in 0..n {
                workload();
            }
            if index == measured {
                timed += start.elapsed();
            }
        }
        left -= n;
    }
    timed
}

/// [`in_turns`] for two workloads, without dynamic calls: for workloads of nanoseconds, where
/// a call through a pointer would be part of what is measured. The time `iters` runs of
/// `measured` take, made `round` at a time in turn with as many untimed runs of `other`.
pub(crate) fn in_turns_of_two(
    iters: u64,
    round: u64,
    measured: impl Fn(),
    other: impl Fn(),
) -> Duration {
    let mut timed = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(round);
        let start = Instant::now();
        for _ in 0..n {
            measured();
        }
        timed += start.elapsed();
        for _ in 0..n {
            other();
        }
        left -= n;
    }
    timed
}
