//! What the code `#[syncportal::facade]` generates costs on top of the portal call it makes.
//!
//! Each group calls one async method three ways in the same run: through the generated blocking
//! twin (`generated`), through a direct `portal.call` of the async method (`portal_call`), and
//! awaited inside the runtime with no bridge at all (`awaited`, the floor). The generated layer
//! should add at most 5% over `portal_call`.
//!
//! Run with `cargo bench -p syncportal --bench facade`.

use std::future::Future;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use syncportal::Portal;

/// A small SDK client with one ready method and one that round-trips through a runtime task.
#[derive(Debug, Clone)]
pub struct Client {
    base: u64,
}

/// The client's error type: portal errors convert into it, as the facade's rule requires.
#[derive(Debug)]
pub struct ClientError(pub syncportal::Error);

impl From<syncportal::Error> for ClientError {
    fn from(err: syncportal::Error) -> Self {
        Self(err)
    }
}

#[syncportal::facade]
impl Client {
    /// Answers at once.
    ///
    /// # Errors
    ///
    /// Never, on its own.
    #[allow(
        clippy::unused_async,
        reason = "measures a method that happens to be ready"
    )]
    pub async fn ready(&self, n: u64) -> Result<u64, ClientError> {
        Ok(self.base + n)
    }

    /// Answers from a task spawned on the runtime.
    ///
    /// # Errors
    ///
    /// Never, on its own.
    pub async fn via_task(&self, n: u64) -> Result<u64, ClientError> {
        let base = self.base;
        Ok(tokio::spawn(async move { base + n }).await.unwrap_or(0))
    }
}

fn portal() -> Portal {
    Portal::builder()
        .worker_threads(2)
        .thread_name("bench-facade")
        .build()
        .expect("portal starts")
}

fn bench_ready(c: &mut Criterion) {
    let portal = portal();
    let client = Client { base: 1 };
    let twin = SyncClient::with_portal(client.clone(), portal.clone());
    let mut group = c.benchmark_group("facade_ready");
    group.bench_function("generated", |b| {
        b.iter(|| black_box(twin.ready(black_box(2)).expect("call")));
    });
    group.bench_function("portal_call", |b| {
        b.iter(|| {
            let answer = portal.call(client.ready(black_box(2))).expect("call");
            black_box(answer.expect("ready"))
        });
    });
    group.bench_function("awaited", |b| {
        b.iter_custom(|iters| awaited(&portal, iters, |n| client.ready(n)));
    });
    group.finish();
}

fn bench_task(c: &mut Criterion) {
    let portal = portal();
    let client = Client { base: 1 };
    let twin = SyncClient::with_portal(client.clone(), portal.clone());
    let mut group = c.benchmark_group("facade_task");
    group.bench_function("generated", |b| {
        b.iter(|| black_box(twin.via_task(black_box(2)).expect("call")));
    });
    group.bench_function("portal_call", |b| {
        b.iter(|| {
            let answer = portal.call(client.via_task(black_box(2))).expect("call");
            black_box(answer.expect("task"))
        });
    });
    group.bench_function("awaited", |b| {
        b.iter_custom(|iters| awaited(&portal, iters, |n| client.via_task(n)));
    });
    group.finish();
}

/// Times `iters` awaits of `call` inside one task on the portal's runtime.
fn awaited<F>(portal: &Portal, iters: u64, call: impl Fn(u64) -> F) -> Duration
where
    F: Future<Output = Result<u64, ClientError>>,
{
    portal
        .call(async {
            let started = Instant::now();
            for _ in 0..iters {
                black_box(call(black_box(2)).await.expect("call"));
            }
            started.elapsed()
        })
        .expect("the timing call runs")
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(40);
    targets = bench_ready, bench_task
}
criterion_main!(benches);
