//! What a blocking call through a [`Portal`](syncportal::Portal) costs, next to the anchors it competes with.
//!
//! Every workload is one criterion group, and every anchor of a workload is measured in that
//! group in the same run, so the ratios in BENCHMARKS.md compare like with like.
//!
//! Anchors:
//! - `handle_block_on`: raw tokio `Handle::block_on` on a multi-thread runtime, from the bench
//!   thread (not a worker);
//! - `bridge`: a `reqwest::blocking`-style bridge: one thread runs a `current_thread` runtime fed
//!   boxed futures over an unbounded mpsc, spawns each, and answers through a oneshot that the
//!   caller waits on with `blocking_recv`;
//! - `runtime_new`: `Runtime::new` (current-thread, `enable_all`) + `block_on` + drop per call;
//! - `park_ping_pong`: one round trip to a partner thread with `thread::park`/`unpark`, the
//!   floor for handing work to another thread and back;
//! - `std_net`: a blocking `std::net::TcpStream` request/response, the floor for a sync caller
//!   doing IO.
//!
//! Workloads: `ready` (a ready future), `runtime_task` (a future completed by a task spawned on
//! the runtime), `loopback` (64 bytes out and back over loopback TCP against a std-thread echo
//! server), and `threads4_ready` / `threads4_task` (four threads calling at once; throughput).
//! `_w1` / `_w2` name the runtime's worker-thread count.
//!
//! Run with `cargo bench -p syncportal --bench portal`; add a group name to run one workload,
//! e.g. `cargo bench -p syncportal --bench portal -- loopback`.

use std::future::Future;
use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

mod common;

use common::{config, multi_thread_runtime, portal};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::{Builder, Handle};
use tokio::sync::{mpsc, oneshot};

/// Bytes per loopback request (and per echoed response).
const MESSAGE: usize = 64;
/// The loopback request.
const REQUEST: [u8; MESSAGE] = [0x5a; MESSAGE];
/// Calls each thread makes per criterion iteration in the `threads4_*` groups.
const CALLS_PER_THREAD: u64 = 256;
/// Threads calling at once in the `threads4_*` groups.
const THREADS: u64 = 4;

/// The `ready` workload.
async fn ready() -> u64 {
    black_box(async { 1u64 }).await
}

/// The `runtime_task` workload: one round trip to a task on the runtime.
async fn runtime_task() -> u64 {
    tokio::spawn(black_box(async { 1u64 }))
        .await
        .expect("task completes")
}

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A `reqwest::blocking`-style bridge: a thread running a `current_thread` runtime that spawns
/// the boxed futures it receives; each answers through a oneshot.
struct Bridge {
    jobs: Option<mpsc::UnboundedSender<BoxFuture>>,
    thread: Option<JoinHandle<()>>,
}

impl Bridge {
    fn new() -> Self {
        let (jobs, mut incoming) = mpsc::unbounded_channel::<BoxFuture>();
        let thread = thread::Builder::new()
            .name("bench-bridge".to_owned())
            .spawn(move || {
                let runtime = Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("bridge runtime starts");
                runtime.block_on(async move {
                    while let Some(job) = incoming.recv().await {
                        tokio::spawn(job);
                    }
                });
            })
            .expect("bridge thread starts");
        Self {
            jobs: Some(jobs),
            thread: Some(thread),
        }
    }

    fn call<T, F>(&self, fut: F) -> T
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: BoxFuture = Box::pin(async move {
            // The caller is waiting; it cannot have gone away.
            let _ = answer.send(fut.await);
        });
        self.jobs
            .as_ref()
            .expect("bridge is open")
            .send(job)
            .expect("bridge thread is running");
        answered.blocking_recv().expect("bridge answers")
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            thread.join().expect("bridge thread exits cleanly");
        }
    }
}

/// A partner thread that answers each request flag with a response flag, using
/// `thread::park`/`unpark` on both sides.
struct PingPong {
    shared: Arc<PingPongState>,
    partner: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct PingPongState {
    requests: AtomicU64,
    responses: AtomicU64,
    stop: AtomicBool,
}

impl PingPong {
    /// Starts the partner; the calling thread is the only one that may call `round_trip`.
    fn new() -> Self {
        let shared = Arc::new(PingPongState::default());
        let caller: Thread = thread::current();
        let state = Arc::clone(&shared);
        let partner = thread::Builder::new()
            .name("bench-ping-pong".to_owned())
            .spawn(move || {
                let mut seen = 0;
                loop {
                    if state.stop.load(Ordering::Acquire) {
                        return;
                    }
                    let request = state.requests.load(Ordering::Acquire);
                    if request == seen {
                        thread::park();
                        continue;
                    }
                    seen = request;
                    state.responses.store(request, Ordering::Release);
                    caller.unpark();
                }
            })
            .expect("partner thread starts");
        Self {
            shared,
            partner: Some(partner),
        }
    }

    fn round_trip(&self) {
        let request = self.shared.requests.fetch_add(1, Ordering::AcqRel) + 1;
        if let Some(partner) = &self.partner {
            partner.thread().unpark();
        }
        while self.shared.responses.load(Ordering::Acquire) != request {
            thread::park();
        }
    }
}

impl Drop for PingPong {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(partner) = self.partner.take() {
            partner.thread().unpark();
            partner.join().expect("partner thread exits cleanly");
        }
    }
}

/// Starts a loopback echo server: a std thread per connection, `TCP_NODELAY` set.
fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("listener address");
    thread::Builder::new()
        .name("bench-echo-accept".to_owned())
        .spawn(move || {
            for stream in listener.incoming() {
                let mut stream = stream.expect("accept");
                stream.set_nodelay(true).expect("server TCP_NODELAY");
                thread::Builder::new()
                    .name("bench-echo".to_owned())
                    .spawn(move || {
                        let mut buf = [0u8; 4096];
                        loop {
                            match stream.read(&mut buf) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => {
                                    if stream.write_all(&buf[..n]).is_err() {
                                        return;
                                    }
                                }
                            }
                        }
                    })
                    .expect("echo thread starts");
            }
        })
        .expect("accept thread starts");
    addr
}

/// Connects a tokio stream; must run inside the runtime that will drive it.
async fn connect(addr: SocketAddr) -> tokio::net::TcpStream {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to echo server");
    stream.set_nodelay(true).expect("client TCP_NODELAY");
    stream
}

/// The `loopback` workload: one request out, its echo back.
async fn exchange(stream: &mut tokio::net::TcpStream) {
    let mut response = [0u8; MESSAGE];
    stream.write_all(&REQUEST).await.expect("write request");
    stream
        .read_exact(&mut response)
        .await
        .expect("read response");
    black_box(response);
}

fn bench_ready(c: &mut Criterion) {
    let portal = portal(2);
    let runtime = multi_thread_runtime(2);
    let handle = runtime.handle();
    let bridge = Bridge::new();

    let mut group = c.benchmark_group("ready");
    group.bench_function("syncportal_w2", |b| {
        b.iter(|| portal.call(ready()).expect("call succeeds"));
    });
    group.bench_function("handle_block_on_w2", |b| {
        b.iter(|| handle.block_on(ready()));
    });
    group.bench_function("bridge", |b| b.iter(|| bridge.call(ready())));
    // Tens of microseconds per call: fewer samples keep the run short.
    group.sample_size(10);
    group.bench_function("runtime_new", |b| {
        b.iter(|| {
            Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime starts")
                .block_on(ready())
        });
    });
    group.finish();
}

fn bench_runtime_task(c: &mut Criterion) {
    let portal1 = portal(1);
    let portal2 = portal(2);
    let runtime1 = multi_thread_runtime(1);
    let runtime2 = multi_thread_runtime(2);
    let bridge = Bridge::new();
    let ping_pong = PingPong::new();

    let mut group = c.benchmark_group("runtime_task");
    group.bench_function("syncportal_w1", |b| {
        b.iter(|| portal1.call(runtime_task()).expect("call succeeds"));
    });
    group.bench_function("syncportal_w2", |b| {
        b.iter(|| portal2.call(runtime_task()).expect("call succeeds"));
    });
    group.bench_function("handle_block_on_w1", |b| {
        b.iter(|| runtime1.handle().block_on(runtime_task()));
    });
    group.bench_function("handle_block_on_w2", |b| {
        b.iter(|| runtime2.handle().block_on(runtime_task()));
    });
    group.bench_function("bridge", |b| b.iter(|| bridge.call(runtime_task())));
    group.bench_function("park_ping_pong", |b| b.iter(|| ping_pong.round_trip()));
    group.finish();
}

fn bench_loopback(c: &mut Criterion) {
    let addr = echo_server();
    let mut group = c.benchmark_group("loopback");
    group.throughput(Throughput::Bytes(MESSAGE as u64));

    for workers in [1, 2] {
        let portal = portal(workers);
        let mut stream = portal.call(connect(addr)).expect("call succeeds");
        group.bench_function(format!("syncportal_w{workers}"), |b| {
            b.iter(|| portal.call(exchange(&mut stream)).expect("call succeeds"));
        });
    }
    for workers in [1, 2] {
        let runtime = multi_thread_runtime(workers);
        let handle: &Handle = runtime.handle();
        let mut stream = handle.block_on(connect(addr));
        group.bench_function(format!("handle_block_on_w{workers}"), |b| {
            b.iter(|| handle.block_on(exchange(&mut stream)));
        });
    }
    {
        let bridge = Bridge::new();
        let mut slot = Some(bridge.call(connect(addr)));
        group.bench_function("bridge", |b| {
            b.iter(|| {
                let mut stream = slot.take().expect("stream is back");
                slot = Some(bridge.call(async move {
                    exchange(&mut stream).await;
                    stream
                }));
            });
        });
    }
    {
        let mut stream = std::net::TcpStream::connect(addr).expect("connect to echo server");
        stream.set_nodelay(true).expect("client TCP_NODELAY");
        group.bench_function("std_net", |b| {
            b.iter(|| {
                let mut response = [0u8; MESSAGE];
                stream.write_all(&REQUEST).expect("write request");
                stream.read_exact(&mut response).expect("read response");
                black_box(response);
            });
        });
    }
    group.finish();
}

/// Runs `call` `iters * CALLS_PER_THREAD` times on each of `THREADS` threads at once and
/// returns the time from their common start until the last one finished.
fn four_threads(iters: u64, call: &(dyn Fn() + Sync)) -> Duration {
    let start = Barrier::new(usize::try_from(THREADS).expect("small") + 1);
    thread::scope(|scope| {
        let callers: Vec<_> = (0..THREADS)
            .map(|_| {
                scope.spawn(|| {
                    start.wait();
                    for _ in 0..iters * CALLS_PER_THREAD {
                        call();
                    }
                })
            })
            .collect();
        start.wait();
        let began = Instant::now();
        for caller in callers {
            caller.join().expect("caller thread finishes");
        }
        began.elapsed()
    })
}

fn bench_threads4(c: &mut Criterion) {
    let portal = portal(2);
    let runtime = multi_thread_runtime(2);
    let handle = runtime.handle();

    let mut group = c.benchmark_group("threads4_ready");
    group.throughput(Throughput::Elements(THREADS * CALLS_PER_THREAD));
    group.bench_function("syncportal_w2", |b| {
        b.iter_custom(|iters| {
            four_threads(iters, &|| {
                black_box(portal.call(ready()).expect("call succeeds"));
            })
        });
    });
    group.bench_function("handle_block_on_w2", |b| {
        b.iter_custom(|iters| {
            four_threads(iters, &|| {
                black_box(handle.block_on(ready()));
            })
        });
    });
    group.finish();

    let mut group = c.benchmark_group("threads4_task");
    group.throughput(Throughput::Elements(THREADS * CALLS_PER_THREAD));
    group.bench_function("syncportal_w2", |b| {
        b.iter_custom(|iters| {
            four_threads(iters, &|| {
                black_box(portal.call(runtime_task()).expect("call succeeds"));
            })
        });
    });
    group.bench_function("handle_block_on_w2", |b| {
        b.iter_custom(|iters| {
            four_threads(iters, &|| {
                black_box(handle.block_on(runtime_task()));
            })
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_ready, bench_runtime_task, bench_loopback, bench_threads4
}
criterion_main!(benches);
