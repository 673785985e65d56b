//! The latency of one `version` round trip to a real OpenOCD, through the SDK's async API, its
//! blocking twin, and plain blocking clients that speak the TCL-RPC framing by hand.
//!
//! All run in one criterion group against one OpenOCD the bench starts (dummy adapter, see
//! `tests/configs/dummy.cfg`), so the ratios compare like with like:
//! - `async_sequential`: `Session::version().await` in a loop in one task, on a current-thread
//!   runtime (the connection's task runs on the same thread);
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
use std::time::Instant;

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

fn version(c: &mut Criterion) {
    let config = StartConfig::new()
        .file(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs/dummy.cfg"));
    let owner = SyncSession::start(config).expect("start openocd");
    let addr = owner.addr().to_string();
    let mut group = c.benchmark_group("version");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a runtime");
    let session = runtime
        .block_on(Session::connect(&addr))
        .expect("connect the async session");
    group.bench_function("async_sequential", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(session.version().await.expect("version"));
                }
                start.elapsed()
            })
        });
    });
    runtime.block_on(async { drop(session) });

    let twin = SyncSession::connect(&addr).expect("connect the blocking twin");
    group.bench_function("sync_twin", |b| {
        b.iter(|| black_box(twin.version().expect("version")));
    });
    drop(twin);

    let mut plain = Plain::connect(&addr);
    // The hand-made frame must get the same answer the SDK gets.
    plain.call(WRAPPED);
    assert!(
        plain.reply.starts_with(b"0 Open On-Chip Debugger"),
        "{:?}",
        String::from_utf8_lossy(&plain.reply)
    );
    group.bench_function("std_wrapped", |b| {
        b.iter(|| black_box(plain.call(WRAPPED)));
    });
    group.bench_function("std_raw", |b| {
        b.iter(|| black_box(plain.call("version")));
    });
    group.finish();
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
