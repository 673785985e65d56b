//! The latency of one `version` round trip to a real OpenOCD, through the SDK's async API, its
//! blocking twin, and plain blocking clients that speak the TCL-RPC framing by hand.
//!
//! All run in one criterion group against one OpenOCD the bench starts (dummy adapter, see
//! `tests/configs/dummy.cfg`), and interleaved: while one variant is measured, every variant
//! takes turns of a few calls, and only the measured one's turns are timed. A round trip's cost
//! depends on where Linux placed OpenOCD and the client and how deeply idle CPUs sleep, which
//! drifts over seconds; measured one after another, the variants drew different conditions
//! and their ratios swung by 30% between runs. The variants:
//! - `async_sequential`: `Session::version().await` in a loop in one task, on a current-thread
//!   runtime (the caller reads and writes the socket itself);
//! - `sync_twin`: `SyncSession::version()` on syncportal's global portal;
//! - `std_wrapped`: a `std::net::TcpStream` writing the same Tcl text the SDK sends for
//!   `version` (the command inside `catch`, its result escaped) plus `0x1a`, and reading up to
//!   the `0x1a` of the reply: the floor for what the SDK does;
//! - `std_raw`: the same client sending bare `version`: what the SDK's typed errors cost on
//!   OpenOCD's side.
//!
//! Without `openocd` installed it prints a skip line and measures nothing.
//!
//! ```sh
//! cargo bench -p syncportal-openocd --bench version
//! ```

use std::hint::black_box;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use syncportal_openocd::{Session, StartConfig, SyncSession};

/// The byte that ends every TCL-RPC message.
const TERMINATOR: u8 = 0x1a;

/// What `Session::version` sends: `version` inside `catch`, with the result escaped.
const WRAPPED: &str = "format {%d %s} [catch version ::__syncportal_r] \
    [string map [list \\033 \\033\\033 \\032 \\033:] $::__syncportal_r][unset ::__syncportal_r]";

/// A plain blocking TCL-RPC client.
struct Plain {
    stream: TcpStream,
    reply: Vec<u8>,
}

impl Plain {
    fn connect(addr: &str) -> Self {
        let stream = TcpStream::connect(addr).expect("connect to openocd");
        stream.set_nodelay(true).expect("set TCP_NODELAY");
        Self {
            stream,
            reply: Vec::with_capacity(256),
        }
    }

    /// Sends `command` and returns the reply's length.
    fn call(&mut self, command: &str) -> usize {
        let mut frame = Vec::with_capacity(command.len() + 1);
        frame.extend_from_slice(command.as_bytes());
        frame.push(TERMINATOR);
        self.stream.write_all(&frame).expect("send");
        self.reply.clear();
        let mut chunk = [0; 256];
        loop {
            let n = self.stream.read(&mut chunk).expect("receive");
            assert!(n > 0, "openocd closed the connection");
            self.reply.extend_from_slice(&chunk[..n]);
            if self.reply.last() == Some(&TERMINATOR) {
                return self.reply.len();
            }
        }
    }
}

/// Calls made by one variant before the next variant takes its turn.
const ROUND: u64 = 8;

/// The four clients, each able to make `n` calls in a row.
struct Clients {
    runtime: tokio::runtime::Runtime,
    session: Session,
    twin: SyncSession,
    plain: Plain,
}

impl Clients {
    fn run(&mut self, variant: Variant, n: u64) {
        match variant {
            Variant::Async => self.runtime.block_on(async {
                for _ in 0..n {
                    black_box(self.session.version().await.expect("version"));
                }
            }),
            Variant::Twin => {
                for _ in 0..n {
                    black_box(self.twin.version().expect("version"));
                }
            }
            Variant::StdWrapped => {
                for _ in 0..n {
                    black_box(self.plain.call(WRAPPED));
                }
            }
            Variant::StdRaw => {
                for _ in 0..n {
                    black_box(self.plain.call("version"));
                }
            }
        }
    }

    /// The time `measured` takes for `iters` calls, made `ROUND` at a time in turn with the
    /// same number of calls by every other variant (untimed). So every variant meets the same
    /// conditions (where Linux placed OpenOCD and us, how awake each CPU is), which drift over
    /// seconds and would otherwise land on one variant and not another.
    fn interleaved(&mut self, measured: Variant, iters: u64) -> Duration {
        let mut timed = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let n = left.min(ROUND);
            for variant in Variant::ALL {
                if variant == measured {
                    let start = Instant::now();
                    self.run(variant, n);
                    timed += start.elapsed();
                } else {
                    self.run(variant, n);
                }
            }
            left -= n;
        }
        timed
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    Async,
    Twin,
    StdWrapped,
    StdRaw,
}

impl Variant {
    const ALL: [Self; 4] = [Self::Async, Self::Twin, Self::StdWrapped, Self::StdRaw];

    fn name(self) -> &'static str {
        match self {
            Self::Async => "async_sequential",
            Self::Twin => "sync_twin",
            Self::StdWrapped => "std_wrapped",
            Self::StdRaw => "std_raw",
        }
    }
}

fn version(c: &mut Criterion) {
    let config = StartConfig::new()
        .file(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs/dummy.cfg"));
    let owner = SyncSession::start(config).expect("start openocd");
    let addr = owner.addr().to_string();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a runtime");
    let session = runtime
        .block_on(Session::connect(&addr))
        .expect("connect the async session");
    let twin = SyncSession::connect(&addr).expect("connect the blocking twin");
    let mut plain = Plain::connect(&addr);
    // The hand-made frame must get the same answer the SDK gets.
    plain.call(WRAPPED);
    assert!(
        plain.reply.starts_with(b"0 Open On-Chip Debugger"),
        "{:?}",
        String::from_utf8_lossy(&plain.reply)
    );
    let mut clients = Clients {
        runtime,
        session,
        twin,
        plain,
    };

    let mut group = c.benchmark_group("version");
    for variant in Variant::ALL {
        group.bench_function(variant.name(), |b| {
            b.iter_custom(|iters| clients.interleaved(variant, iters));
        });
    }
    group.finish();
    let Clients {
        runtime, session, ..
    } = clients;
    runtime.block_on(async { drop(session) });
    owner.close().expect("shut openocd down");
}

criterion_group!(benches, version);

fn main() {
    if Command::new("openocd").arg("--version").output().is_err() {
        println!("skipping: openocd not installed");
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
