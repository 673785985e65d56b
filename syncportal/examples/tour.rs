//! A tour of syncportal: the portal's verbs at work from plain sync code, with timings.
//!
//! Run it with `cargo run --release --example tour`.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_core::Stream;
use syncportal::{End, Error, OnError, Overflow, Portal, Queue, RecordOptions, Summary};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "shared/notes.rs"]
#[allow(
    dead_code,
    reason = "the tour shows part of the store; its tests use the rest"
)]
mod notes;
use notes::{Notes, NotesError, SyncNotes};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let portal = Portal::global();

    section("call: run a future from sync code");
    let answer = portal.call(async {
        tokio::time::sleep(Duration::from_millis(2)).await;
        42
    })?;
    println!("  portal.call(sleep 2 ms, then 42) -> {answer}");
    per_call("ready future", 200_000, || portal.call(async { 1u64 }));
    per_call("round trip to a runtime task", 20_000, || {
        portal.call(async { tokio::spawn(async { 1u64 }).await.unwrap_or(0) })
    });
    loopback(portal)?;

    section("call_timeout: deadlines that clean up before they return");
    let started = Instant::now();
    let late = portal.call_timeout(
        async { tokio::time::sleep(Duration::from_secs(60)).await },
        Duration::from_millis(20),
    );
    println!(
        "  60 s sleep with a 20 ms timeout -> {late:?} after {:?}",
        started.elapsed()
    );

    section("spawn: tasks you can wait on, time out on, cancel");
    let mut slow = portal.spawn(async {
        tokio::time::sleep(Duration::from_millis(30)).await;
        "slow task done"
    })?;
    let early = slow.wait_timeout(Duration::from_millis(1));
    println!("  wait_timeout(1 ms) -> {early:?} (the task keeps running)");
    println!(
        "  wait_timeout(5 s)  -> {:?}",
        slow.wait_timeout(Duration::from_secs(5))
    );
    let forever = portal.spawn(std::future::pending::<()>())?;
    forever.cancel();
    println!("  cancel() then wait() -> {:?}", forever.wait());

    section("iter: an async stream as a blocking iterator");
    let squares: Vec<u64> = portal.iter(Squares(0)).take(5).collect::<Result<_, _>>()?;
    println!("  first five squares, pulled one at a time: {squares:?}");

    section("record: a device read ahead, with policies and a live summary");
    recording(portal)?;

    section("queue: one queue, sync and async sides at once");
    queue(portal)?;

    section("reverse bridge: async code calling blocking code");
    reverse_bridge(portal)?;

    section("the guard: blocking inside async code is a typed error");
    let inside = portal.call(async { Portal::global().call(async { "never polled" }) })?;
    println!("  portal.call inside portal.call -> {inside:?}");
    println!("  which says: {}", Error::InAsyncContext);
    let from_blocking = portal.call(async {
        tokio::task::spawn_blocking(|| Portal::global().call(async { "fine" })).await
    })?;
    println!("  the same call from spawn_blocking -> {from_blocking:?}");

    section("panics reach the caller with their payload");
    // Print panics as one line here instead of a backtrace.
    std::panic::set_hook(Box::new(|info| println!("  (panic in the future: {info})")));
    let caught =
        std::panic::catch_unwind(|| portal.call(async { std::panic::panic_any("sensor offline") }));
    let payload = caught.err().and_then(|p| p.downcast::<&str>().ok());
    println!(
        "  payload: {payload:?}; the portal still works: {:?}",
        portal.call(async { 1 })
    );

    section("facade: an async type and its generated blocking twin");
    facade()?;

    section("shutdown: refuse, wait, cancel, report");
    let own = Portal::builder()
        .thread_name("tour")
        .worker_threads(2)
        .build()?;
    let quick = own.spawn(async {
        tokio::time::sleep(Duration::from_millis(5)).await;
    })?;
    let stuck = own.spawn(std::future::pending::<()>())?;
    let report = own.shutdown(Duration::from_millis(50))?;
    println!("  report: {report:?}");
    println!(
        "  quick task -> {:?}, stuck task -> {:?}",
        quick.wait(),
        stuck.wait()
    );
    println!("  a call afterwards -> {:?}", own.call(async { 1 }));
    Ok(())
}

fn section(title: &str) {
    println!("\n== {title}");
}

/// Times `calls` sequential calls and prints the mean per call.
fn per_call<T>(label: &str, calls: u32, mut call: impl FnMut() -> Result<T, Error>) {
    let started = Instant::now();
    for _ in 0..calls {
        std::hint::black_box(call().expect("portal call"));
    }
    let per = started.elapsed() / calls;
    println!("  {label:<32} {per:>10.2?} per call ({calls} calls)");
}

/// A request/response over a loopback TCP connection owned by the async side.
fn loopback(portal: &Portal) -> Result<(), Box<dyn std::error::Error>> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        if let Ok((mut peer, _)) = listener.accept() {
            let mut buf = [0u8; 64];
            while peer.read_exact(&mut buf).is_ok() && peer.write_all(&buf).is_ok() {}
        }
    });
    let mut stream = portal.call(async move {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok::<_, std::io::Error>(stream)
    })??;
    let mut buf = [7u8; 64];
    per_call("64-byte loopback echo", 5_000, || {
        portal.call(async {
            stream.write_all(&buf).await?;
            stream.read_exact(&mut buf).await
        })
    });
    Ok(())
}

/// A tiny async SDK. `#[syncportal::facade]` adds `SyncThermometer` next to it.
#[derive(Debug, Clone)]
pub struct Thermometer {
    offset: f64,
}

/// The SDK's error; portal errors (guard, timeout, shutdown) convert into it.
#[derive(Debug)]
pub enum SensorError {
    /// No such sensor.
    Unknown(u8),
    /// The portal refused or gave up on the call.
    Portal(Error),
}

impl From<Error> for SensorError {
    fn from(err: Error) -> Self {
        Self::Portal(err)
    }
}

impl std::fmt::Display for SensorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unknown(id) => write!(f, "unknown sensor {id}"),
            Self::Portal(err) => write!(f, "{err}"),
        }
    }
}

impl std::error::Error for SensorError {}

#[syncportal::facade]
impl Thermometer {
    /// Connects to the sensor bus.
    ///
    /// # Errors
    ///
    /// Never here; a real SDK would fail on IO.
    pub async fn connect(offset: f64) -> Result<Self, SensorError> {
        tokio::time::sleep(Duration::from_millis(1)).await;
        Ok(Self { offset })
    }

    /// Reads one sensor, taking `delay` to answer.
    ///
    /// # Errors
    ///
    /// [`SensorError::Unknown`] for sensors other than 0 to 3.
    pub async fn read(&self, sensor: u8, delay: Duration) -> Result<f64, SensorError> {
        tokio::time::sleep(delay).await;
        match sensor {
            0..=3 => Ok(self.offset + f64::from(sensor)),
            other => Err(SensorError::Unknown(other)),
        }
    }
}

/// The same SDK used from async code and, through the generated twin, from sync code.
fn facade() -> Result<(), Box<dyn std::error::Error>> {
    let portal = Portal::global();
    let fast = Duration::from_millis(1);
    let from_async = portal.call(async {
        let thermometer = Thermometer::connect(20.0).await?;
        thermometer.read(2, fast).await
    })??;
    println!("  async: Thermometer::connect(..).await?.read(2).await  -> {from_async}");
    let thermometer = SyncThermometer::connect(20.0)?;
    println!(
        "  sync:  SyncThermometer::connect(..)?.read(2)          -> {}",
        thermometer.read(2, fast)?
    );
    println!(
        "  sync, unknown sensor                               -> {:?}",
        thermometer.read(9, fast).err()
    );
    let hurried = thermometer
        .with_timeout(Duration::from_millis(5))
        .read(1, Duration::from_secs(1));
    println!(
        "  sync, 5 ms timeout on a 1 s read                   -> {:?}",
        hurried.err()
    );
    let inside = portal.call(async { thermometer.read(1, fast) })?;
    println!(
        "  sync twin called inside async code                 -> {:?}",
        inside.err()
    );
    Ok(())
}

/// Polls a simulated sensor at 250 Hz into a small buffer that drops its oldest samples, while
/// a consumer that starts slow reads it and a second thread prints progress from the summary.
fn recording(portal: &Portal) -> Result<(), Box<dyn std::error::Error>> {
    let mut tick = 0u32;
    let sensor = move || {
        tick += 1;
        let reading = f64::from(tick).sin();
        async move { reading }
    };
    let options = RecordOptions::new()
        .capacity(16)
        .overflow(Overflow::DropOldest);
    let mut samples = portal.record_polled(sensor, 250.0, options)?.into_sync();
    let live = samples.live_summary();
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let progress = std::thread::spawn(move || {
        loop {
            println!("  {}", progress_line(&live.get()));
            if finished.recv_timeout(Duration::from_millis(80))
                != Err(std::sync::mpsc::RecvTimeoutError::Timeout)
            {
                return live.get();
            }
        }
    });
    let mut read = 0;
    while read < 120 {
        if read < 30 {
            // A consumer slower than the device: the buffer fills and the oldest samples go.
            std::thread::sleep(Duration::from_millis(10));
        }
        let _sample = samples.next().ok_or("the recording ended early")??;
        read += 1;
    }
    samples.close();
    drop(done);
    let summary = progress.join().map_err(|_| "progress thread panicked")?;
    println!("  final: {}", progress_line(&summary));
    println!(
        "  ended by {:?}; every sample accounted for: {}",
        summary.end.unwrap_or(End::Stopped),
        summary.balances()
    );

    // Errors under OnError::Raise: the buffered items first, then the error, then the end.
    let mut polls = 0;
    let flaky = move || {
        polls += 1;
        let reading = if polls <= 3 {
            Ok(polls)
        } else {
            Err("sensor unplugged")
        };
        async move { reading }
    };
    let raised =
        portal.try_record_polled(flaky, 500.0, RecordOptions::new().errors(OnError::Raise))?;
    let seen: Vec<Result<u32, &str>> = raised.into_sync().collect::<Result<_, _>>()?;
    println!("  OnError::Raise on a flaky sensor -> {seen:?}");
    Ok(())
}

fn progress_line(s: &Summary) -> String {
    format!(
        "{:>4} ms  emitted {:>3}  delivered {:>3}  dropped {:>3}  buffered {:>2} (high water {:>2})  missed ticks {}",
        s.elapsed.as_millis(),
        s.emitted,
        s.delivered,
        s.dropped,
        s.buffered,
        s.high_water,
        s.missed_ticks
    )
}

/// A plain thread and an async task hand items back and forth through two queues.
fn queue(portal: &Portal) -> Result<(), Box<dyn std::error::Error>> {
    let (to_task, from_thread) = (Queue::new(1)?, Queue::new(1)?);
    let echo = {
        let (inbox, outbox) = (to_task.clone(), from_thread.clone());
        portal.spawn(async move {
            while let Ok(n) = inbox.get().await {
                if outbox.put(n + 1).await.is_err() {
                    break;
                }
            }
        })?
    };
    per_call("thread -> task -> thread", 20_000, || {
        to_task.put_blocking(1u64)?;
        from_thread.get_blocking()
    });
    to_task.close();
    echo.wait()?;
    let inside = portal.call(async { to_task.get_blocking() })?;
    println!("  get_blocking inside async code -> {inside:?}");
    Ok(())
}

/// A blocking function, made callable from async code by `#[syncportal::offload]`.
#[syncportal::offload]
#[allow(
    clippy::needless_pass_by_value,
    reason = "the twin moves the data to a pool thread, so the original takes it by value too"
)]
fn checksum(data: Vec<u8>) -> u32 {
    // Stands for a CPU-heavy parse or a blocking C call.
    data.iter().fold(0u32, |sum, &byte| {
        sum.wrapping_mul(31).wrapping_add(u32::from(byte))
    })
}

/// Async code that must call blocking code: a function through the pool, and SQLite through
/// an actor that owns the connection, whose blocking twin sync code uses too.
fn reverse_bridge(portal: &Portal) -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("syncportal-tour-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("notes.db");
    let (sum, on_thread) = portal.call(async {
        let data: Vec<u8> = (0..=255u8).cycle().take(1 << 20).collect();
        let sum = checksum_async(data).await;
        let on_thread = syncportal::offload(|| std::thread::current().name().map(str::to_owned));
        (sum, on_thread.await)
    })?;
    println!("  checksum_async(1 MiB) -> {sum:#010x}, blocking work ran on {on_thread:?}");
    let sync_sum = checksum((0..=255u8).cycle().take(1 << 20).collect());
    println!("  checksum(1 MiB), the sync original, in place -> {sync_sum:#010x}");
    per_call("offload round trip from a task", 2_000, || {
        portal.call(async { syncportal::offload(|| 1u64).await })
    });

    let added = portal.call(async {
        let notes = Notes::open(path.clone()).await?;
        let writers: Vec<_> = (0..4)
            .map(|writer| {
                let notes = notes.clone();
                tokio::spawn(async move {
                    for n in 0..25 {
                        notes
                            .add(&format!("task-{writer}"), &format!("note {n}"))
                            .await?;
                    }
                    Ok::<_, NotesError>(())
                })
            })
            .collect();
        for writer in writers {
            writer
                .await
                .map_err(|_| NotesError::Portal(Error::Cancelled))??;
        }
        notes.count().await
    })??;
    println!("  4 async tasks added {added} notes through the actor that owns the connection");
    let notes = SyncNotes::open(path)?;
    println!(
        "  SyncNotes (generated twin) from sync code: {} notes, task-2 wrote first {:?}",
        notes.count()?,
        notes.by_author("task-2")?.first()
    );
    per_call("actor round trip, sync twin", 2_000, || {
        notes.count().map_err(|_| Error::Closed)
    });
    notes.close()?;
    std::fs::remove_dir_all(dir)?;
    Ok(())
}

/// 0, 1, 4, 9, ... forever.
struct Squares(u64);

impl Stream for Squares {
    type Item = u64;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<u64>> {
        let n = self.0;
        self.0 += 1;
        Poll::Ready(Some(n * n))
    }
}
