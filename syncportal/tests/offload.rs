//! `#[syncportal::offload]`: the generated `name_async` twin for free functions, associated
//! functions in an `impl` block, generic functions, the `name` and `pool` options, `?` and
//! patterns in the body and arguments, panics that reach the awaiting task, cancellation before
//! the job starts, and the original sync function left as it was. The shapes the attribute
//! refuses are compile-fail cases in `tests/ui/offload`.

#![allow(
    clippy::needless_pass_by_value,
    reason = "offload moves the arguments to a pool thread, so the originals take them by value"
)]

mod common;

use std::fmt::Debug;
use std::num::ParseIntError;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, OnceLock, mpsc};
use std::thread;
use std::time::Duration;

use common::{CustomPayload, expect_panic, watchdog};
use common::{current_thread_runtime, multi_thread_runtime};
use syncportal::{BlockingPool, Run};

/// How long any one test may take before the watchdog fails it.
const WATCH: u64 = 30;

/// A wait that never runs out in a passing test.
const LONG: Duration = Duration::from_secs(20);

/// The name of the thread running this code.
fn thread_name() -> String {
    thread::current().name().unwrap_or("<unnamed>").to_owned()
}

/// Whether `name` is `{prefix}-{n}` for a number `n`.
fn named_by(prefix: &str, name: &str) -> bool {
    name.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|n| n.parse::<usize>().is_ok())
}

/// Sums the numbers in `text` and says which thread did it.
#[syncportal::offload]
fn sum_words(text: String) -> (u64, String) {
    let sum = text
        .split_whitespace()
        .map(|word| word.parse::<u64>().expect("a number"))
        .sum();
    (sum, thread_name())
}

/// Doubles a number, with `?` and an early return in the body.
#[syncportal::offload]
fn double_parsed(text: String) -> Result<u32, ParseIntError> {
    let n: u32 = text.trim().parse()?;
    if n == 0 {
        return Ok(0);
    }
    Ok(n * 2)
}

/// Patterns and `mut` bindings in the arguments are copied to the twin.
#[syncportal::offload]
fn push_pair(mut items: Vec<u32>, (a, b): (u32, u32)) -> Vec<u32> {
    items.push(a);
    items.push(b);
    items
}

/// No return type: the twin resolves to `()`.
#[syncportal::offload]
fn set_flag(flag: Arc<AtomicBool>) {
    flag.store(true, SeqCst);
}

mod tools {
    /// A `pub(crate)` function in a module: its twin has the same visibility.
    #[syncportal::offload]
    pub(crate) fn triple(n: u64) -> u64 {
        n * 3
    }
}

/// A parser whose functions are offloaded from inside its `impl` block.
struct Parser;

impl Parser {
    fn split(text: &str) -> Option<(&str, &str)> {
        text.split_once(',')
    }

    /// Calls another associated function through `Self`.
    #[syncportal::offload]
    fn parse_pair(text: String) -> Option<(i32, i32)> {
        let (left, right) = Self::split(&text)?;
        Some((left.trim().parse().ok()?, right.trim().parse().ok()?))
    }

    /// A `pub(crate)` associated function with a renamed twin.
    #[syncportal::offload(name = "count_fields_in_pool")]
    pub(crate) fn count_fields(text: String) -> usize {
        text.split(',').count()
    }
}

/// Generic with an inline bound, and an error type the twin must also bound `Send + 'static`.
#[syncportal::offload]
fn parse_all<T: FromStr>(items: Vec<String>) -> Result<Vec<T>, T::Err> {
    items.iter().map(|item| item.parse()).collect()
}

/// Generic in the result only: called with a turbofish.
#[syncportal::offload]
fn parse_one<T: FromStr + Debug>(text: String) -> Option<T> {
    text.parse().ok()
}

/// Generic in the arguments only, its bounds in a `where` clause (where the twin's added
/// bounds go too, so clippy has nothing to say).
#[syncportal::offload]
fn largest<T>(items: Vec<T>) -> Option<T>
where
    T: PartialOrd + Copy,
{
    items.into_iter().fold(None, |best, item| match best {
        Some(best) if best >= item => Some(best),
        _ => Some(item),
    })
}

fn io_pool() -> &'static BlockingPool {
    static POOL: OnceLock<BlockingPool> = OnceLock::new();
    POOL.get_or_init(|| {
        BlockingPool::builder()
            .max_threads(2)
            .thread_name("offload-io")
            .build()
    })
}

/// Runs on `io_pool()` under another name.
#[syncportal::offload(name = "checksum_in_io_pool", pool = io_pool())]
fn checksum(data: Vec<u8>) -> (u32, String) {
    (
        data.iter().map(|&byte| u32::from(byte)).sum(),
        thread_name(),
    )
}

/// A pool given by value: a fresh pool for each call.
fn fresh_pool() -> BlockingPool {
    BlockingPool::builder().thread_name("offload-fresh").build()
}

#[syncportal::offload(pool = fresh_pool())]
fn where_am_i() -> String {
    thread_name()
}

/// A pool with one thread, for the cancellation test only.
fn gate_pool() -> &'static BlockingPool {
    static POOL: OnceLock<BlockingPool> = OnceLock::new();
    POOL.get_or_init(|| {
        BlockingPool::builder()
            .max_threads(1)
            .thread_name("offload-gate")
            .build()
    })
}

/// Holds the gate pool's only thread until released.
#[syncportal::offload(pool = gate_pool())]
fn hold(started: mpsc::Sender<()>, gate: mpsc::Receiver<()>) -> &'static str {
    started.send(()).expect("signal the start");
    gate.recv_timeout(LONG).expect("released in time");
    "held"
}

#[syncportal::offload(pool = gate_pool())]
fn mark_on_gate(flag: Arc<AtomicBool>) -> String {
    flag.store(true, SeqCst);
    thread_name()
}

/// Panics with a typed payload.
#[syncportal::offload]
fn explode(code: u32) -> u32 {
    std::panic::panic_any(CustomPayload { code })
}

type ParsedBytes = Result<Vec<u8>, ParseIntError>;

// The twins have the documented signatures.
const _: fn(String) -> Run<(u64, String)> = sum_words_async;
const _: fn(Vec<u8>) -> Run<(u32, String)> = checksum_in_io_pool;
const _: fn(String) -> Run<usize> = Parser::count_fields_in_pool;
const _: fn(Vec<String>) -> Run<ParsedBytes> = parse_all_async::<u8>;
const _: fn(Arc<AtomicBool>) -> Run<()> = set_flag_async;

#[test]
fn a_free_function_gets_an_async_twin_on_the_default_pool() {
    watchdog(WATCH, || {
        let runtime = current_thread_runtime();
        let (sum, name) = runtime.block_on(sum_words_async("1 2 39".to_owned()));
        assert_eq!(sum, 42);
        assert!(named_by("syncportal-pool", &name), "{name}");

        // The original is still a plain sync function, run on the caller's thread.
        let (sum, name) = sum_words("4 5".to_owned());
        assert_eq!(sum, 9);
        assert_eq!(name, thread_name());

        assert_eq!(
            runtime.block_on(double_parsed_async(" 21 ".to_owned())),
            Ok(42)
        );
        assert_eq!(runtime.block_on(double_parsed_async("0".to_owned())), Ok(0));
        assert!(
            runtime
                .block_on(double_parsed_async("x".to_owned()))
                .is_err()
        );
        assert_eq!(double_parsed("5".to_owned()), Ok(10));

        assert_eq!(
            runtime.block_on(push_pair_async(vec![1], (2, 3))),
            [1, 2, 3]
        );
        assert_eq!(push_pair(Vec::new(), (4, 5)), [4, 5]);
        let flag = Arc::new(AtomicBool::new(false));
        runtime.block_on(set_flag_async(Arc::clone(&flag)));
        assert!(flag.load(SeqCst));
        let flag = Arc::new(AtomicBool::new(false));
        set_flag(Arc::clone(&flag));
        assert!(flag.load(SeqCst));
        assert_eq!(runtime.block_on(tools::triple_async(5)), 15);
        assert_eq!(tools::triple(2), 6);
    });
}

#[test]
fn an_associated_function_gets_its_twin_inside_the_impl() {
    watchdog(WATCH, || {
        let runtime = multi_thread_runtime(2);
        assert_eq!(
            runtime.block_on(Parser::parse_pair_async("3, -4".to_owned())),
            Some((3, -4))
        );
        assert_eq!(
            runtime.block_on(Parser::parse_pair_async("3".to_owned())),
            None
        );
        assert_eq!(Parser::parse_pair("7,8".to_owned()), Some((7, 8)));
        assert_eq!(
            runtime.block_on(Parser::count_fields_in_pool("a,b,c".to_owned())),
            3
        );
        assert_eq!(Parser::count_fields("a".to_owned()), 1);
    });
}

#[test]
fn a_generic_function_keeps_its_generics_on_the_twin() {
    watchdog(WATCH, || {
        let runtime = current_thread_runtime();
        let parsed: Result<Vec<u16>, _> =
            runtime.block_on(parse_all_async(vec!["1".to_owned(), "65535".to_owned()]));
        assert_eq!(parsed, Ok(vec![1, 65535]));
        let overflow = runtime.block_on(parse_all_async::<u8>(vec!["256".to_owned()]));
        assert!(overflow.is_err());
        let floats = runtime.block_on(parse_all_async::<f64>(vec!["0.5".to_owned()]));
        assert_eq!(floats, Ok(vec![0.5]));
        assert_eq!(parse_all::<i8>(vec!["-1".to_owned()]), Ok(vec![-1]));

        assert_eq!(
            runtime.block_on(parse_one_async::<u16>("80".to_owned())),
            Some(80)
        );
        assert_eq!(
            runtime.block_on(parse_one_async::<bool>("maybe".to_owned())),
            None
        );
        assert_eq!(parse_one::<char>("x".to_owned()), Some('x'));
        assert_eq!(runtime.block_on(largest_async(vec![3, 9, 2])), Some(9));
        assert_eq!(
            runtime.block_on(largest_async(vec!['a', 'z', 'q'])),
            Some('z')
        );
        assert_eq!(runtime.block_on(largest_async(Vec::<f32>::new())), None);
        assert_eq!(largest(vec![1.5, -2.0]), Some(1.5));
    });
}

#[test]
fn the_pool_option_runs_the_job_on_a_thread_of_that_pool() {
    watchdog(WATCH, || {
        let runtime = current_thread_runtime();
        let (sum, name) = runtime.block_on(checksum_in_io_pool(vec![1, 2, 3]));
        assert_eq!(sum, 6);
        assert!(named_by("offload-io", &name), "{name}");
        // The renamed twin replaces `checksum_async`; the original still runs in place.
        assert_eq!(checksum(vec![4]), (4, thread_name()));
        assert!(io_pool().threads() >= 1);

        let name = runtime.block_on(where_am_i_async());
        assert!(named_by("offload-fresh", &name), "{name}");
        assert_eq!(where_am_i(), thread_name());
    });
}

#[test]
fn a_panic_in_the_function_reaches_the_awaiting_task_with_its_payload() {
    watchdog(WATCH, || {
        let runtime = multi_thread_runtime(2);
        let err = runtime
            .block_on(async { tokio::spawn(explode_async(3)).await })
            .expect_err("the task panicked");
        assert!(err.is_panic());
        assert_eq!(
            err.into_panic().downcast_ref::<CustomPayload>(),
            Some(&CustomPayload { code: 3 })
        );
        let payload = expect_panic(|| runtime.block_on(explode_async(4)));
        assert_eq!(
            payload.downcast_ref::<CustomPayload>(),
            Some(&CustomPayload { code: 4 })
        );
        // The sync original panics in place, as before.
        let payload = expect_panic(|| explode(5));
        assert_eq!(
            payload.downcast_ref::<CustomPayload>(),
            Some(&CustomPayload { code: 5 })
        );
        // The default pool keeps working.
        assert_eq!(runtime.block_on(tools::triple_async(1)), 3);
    });
}

#[test]
fn a_twin_dropped_before_its_job_starts_never_runs_it() {
    watchdog(WATCH, || {
        let runtime = current_thread_runtime();
        let (started_tx, started) = mpsc::channel();
        let (release, gate) = mpsc::channel();
        let held = hold_async(started_tx, gate);
        started.recv_timeout(LONG).expect("the held job started");

        let dropped_flag = Arc::new(AtomicBool::new(false));
        let dropped = mark_on_gate_async(Arc::clone(&dropped_flag));
        assert_eq!(gate_pool().queued(), 1);
        drop(dropped);

        release.send(()).expect("the held job waits");
        assert_eq!(runtime.block_on(held), "held");
        let later_flag = Arc::new(AtomicBool::new(false));
        let name = runtime.block_on(mark_on_gate_async(Arc::clone(&later_flag)));
        assert_eq!(name, "offload-gate-0");
        assert!(later_flag.load(SeqCst));
        assert!(
            !dropped_flag.load(SeqCst),
            "the twin's job ran although its future was dropped first"
        );

        // The originals run in place.
        let (started_tx, _started) = mpsc::channel();
        let (release, gate) = mpsc::channel();
        release.send(()).expect("the gate is open");
        assert_eq!(hold(started_tx, gate), "held");
        assert_eq!(
            mark_on_gate(Arc::new(AtomicBool::new(false))),
            thread_name()
        );
    });
}
