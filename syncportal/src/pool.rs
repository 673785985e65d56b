//! A bounded pool of threads for blocking work that async code must do.
//!
//! Jobs wait in one queue under a mutex; idle threads sleep on a condvar and leave after an idle
//! timeout. A thread that has just finished a job stays awake for a moment (yielding, as the
//! portal's callers do) so that a stream of jobs does not pay a futex wake-up each. Results come
//! back through a tokio oneshot, whose closed state also tells a queued job that nobody waits
//! for it any more, so it is skipped without running.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// How long a thread that finished a job keeps looking for the next before it sleeps.
const STAY_AWAKE: Duration = Duration::from_micros(50);

type Job = Box<dyn FnOnce() + Send>;

/// A bounded pool of named threads that runs blocking closures for async code.
///
/// [`run`](Self::run) queues a closure and returns a future of its result; the awaiting task is
/// free meanwhile. At most [`max_threads`](BlockingPoolBuilder::max_threads) closures run at
/// once; the rest wait in order. Threads start on demand and leave after an idle timeout.
/// [`offload`] uses a default pool shared by the process. Clones share one pool.
///
/// Pool threads are plain threads: blocking is allowed there, so the blocking API of a facade
/// twin, or [`Portal::call`](crate::Portal::call), works inside a job.
///
/// # Examples
///
/// ```
/// use syncportal::BlockingPool;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = BlockingPool::builder().max_threads(2).thread_name("hasher").build();
/// let digest = pool.run(|| {
///     // A CPU-heavy or blocking call that must not stall the runtime.
///     (0..1_000_000u64).fold(0u64, |acc, n| acc.wrapping_mul(31).wrapping_add(n))
/// });
/// assert_ne!(digest.await, 0);
/// # Ok(())
/// # }
/// ```
///
/// # Caveats
///
/// - Dropping the future before the job starts means the job never runs.
/// - A job already running cannot be stopped: dropping its future discards the result when it
///   finishes, and its thread stays taken until then, so the limit stays real.
/// - Threads are never forcibly stopped. Dropping the last clone lets idle threads leave at
///   once; busy ones leave when their job ends and the queue is empty.
#[derive(Clone)]
pub struct BlockingPool {
    handle: Arc<Handle>,
}

/// Shared by the `BlockingPool` clones (not by the threads), to tell the threads when the last
/// clone is gone.
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.lock().abandoned = true;
        self.shared.work.notify_all();
    }
}

struct Shared {
    state: Mutex<State>,
    work: Condvar,
    /// Jobs queued, readable without the lock by a thread staying awake.
    queued: AtomicUsize,
    max_threads: usize,
    thread_name: String,
    idle_timeout: Duration,
}

struct State {
    jobs: VecDeque<Job>,
    threads: usize,
    /// Threads asleep on the condvar (or woken and not yet running).
    idle: usize,
    /// Threads that just finished a job and are looking for the next before they sleep.
    awake: usize,
    next_name: usize,
    /// Set when the last `BlockingPool` handle is dropped: idle threads leave.
    abandoned: bool,
}

/// Configures a [`BlockingPool`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let pool = syncportal::BlockingPool::builder()
///     .max_threads(8)
///     .thread_name("my-sdk-io")
///     .idle_timeout(Duration::from_secs(30))
///     .build();
/// assert_eq!(pool.max_threads(), 8);
/// ```
#[derive(Debug, Clone)]
pub struct BlockingPoolBuilder {
    max_threads: usize,
    thread_name: String,
    idle_timeout: Duration,
}

impl Default for BlockingPoolBuilder {
    fn default() -> Self {
        Self {
            max_threads: 64,
            thread_name: "syncportal-pool".to_owned(),
            idle_timeout: Duration::from_secs(10),
        }
    }
}

impl BlockingPoolBuilder {
    /// The most jobs that run at once; at least 1 (0 counts as 1). Defaults to 64.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = syncportal::BlockingPool::builder().max_threads(1).build();
    /// assert_eq!(pool.max_threads(), 1);
    /// ```
    #[must_use]
    pub fn max_threads(mut self, max_threads: usize) -> Self {
        self.max_threads = max_threads.max(1);
        self
    }

    /// The prefix of thread names: threads are called `{prefix}-{n}`. Defaults to
    /// `syncportal-pool`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let pool = syncportal::BlockingPool::builder().thread_name("scanner").build();
    /// let name = pool.run(|| std::thread::current().name().map(str::to_owned)).await;
    /// assert_eq!(name.as_deref(), Some("scanner-0"));
    /// # }
    /// ```
    #[must_use]
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Self {
        self.thread_name = prefix.into();
        self
    }

    /// How long an idle thread waits for work before it leaves. Defaults to 10 seconds.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = syncportal::BlockingPool::builder().idle_timeout(Duration::from_secs(1)).build();
    /// # drop(pool);
    /// ```
    #[must_use]
    pub fn idle_timeout(mut self, idle_timeout: Duration) -> Self {
        self.idle_timeout = idle_timeout;
        self
    }

    /// Makes the pool. No thread starts until the first job.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = syncportal::BlockingPool::builder().build();
    /// assert_eq!(pool.threads(), 0);
    /// ```
    #[must_use]
    pub fn build(self) -> BlockingPool {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                jobs: VecDeque::new(),
                threads: 0,
                idle: 0,
                awake: 0,
                next_name: 0,
                abandoned: false,
            }),
            work: Condvar::new(),
            queued: AtomicUsize::new(0),
            max_threads: self.max_threads,
            thread_name: self.thread_name,
            idle_timeout: self.idle_timeout,
        });
        BlockingPool {
            handle: Arc::new(Handle { shared }),
        }
    }
}

impl BlockingPool {
    /// Starts configuring a pool.
    ///
    /// # Examples
    ///
    /// See [`BlockingPoolBuilder`].
    #[must_use]
    pub fn builder() -> BlockingPoolBuilder {
        BlockingPoolBuilder::default()
    }

    /// The process-wide default pool behind [`offload`]: up to 64 threads named
    /// `syncportal-pool-N`, idle timeout 10 seconds.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = syncportal::BlockingPool::global();
    /// assert_eq!(pool.max_threads(), 64);
    /// ```
    #[must_use]
    pub fn global() -> &'static BlockingPool {
        static GLOBAL: OnceLock<BlockingPool> = OnceLock::new();
        GLOBAL.get_or_init(|| Self::builder().build())
    }

    /// Runs `job` on a pool thread and returns a future of its result.
    ///
    /// The job is queued at once, whether or not the future is polled; drop the future before
    /// the job starts and it never runs.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let pool = syncportal::BlockingPool::global();
    /// let dir = std::env::temp_dir();
    /// let listing = pool.run(move || std::fs::read_dir(dir).map(Iterator::count)).await?;
    /// assert!(listing > 0 || listing == 0);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// Awaiting the future resumes the job's panic with its payload; the pool keeps working.
    /// If the operating system refuses to start the pool's first thread, awaiting panics with
    /// that error, as `std::thread::spawn` would.
    pub fn run<F, R>(&self, job: F) -> Run<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let (sender, receiver) = oneshot::channel();
        self.handle.shared.submit(Box::new(move || {
            if sender.is_closed() {
                // Nobody waits any more: the job never runs.
                return;
            }
            let _ = sender.send(panic::catch_unwind(AssertUnwindSafe(job)));
        }));
        Run { receiver }
    }

    /// The most jobs that run at once.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(syncportal::BlockingPool::builder().max_threads(3).build().max_threads(), 3);
    /// ```
    #[must_use]
    pub fn max_threads(&self) -> usize {
        self.handle.shared.max_threads
    }

    /// Threads alive now, busy or idle.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(syncportal::BlockingPool::builder().build().threads(), 0);
    /// ```
    #[must_use]
    pub fn threads(&self) -> usize {
        self.handle.shared.lock().threads
    }

    /// Threads running a job now.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(syncportal::BlockingPool::builder().build().busy(), 0);
    /// ```
    #[must_use]
    pub fn busy(&self) -> usize {
        let state = self.handle.shared.lock();
        state.threads - state.idle - state.awake
    }

    /// Jobs waiting for a thread now.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(syncportal::BlockingPool::builder().build().queued(), 0);
    /// ```
    #[must_use]
    pub fn queued(&self) -> usize {
        self.handle.shared.lock().jobs.len()
    }
}

impl fmt::Debug for BlockingPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.handle.shared.lock();
        f.debug_struct("BlockingPool")
            .field("max_threads", &self.handle.shared.max_threads)
            .field("threads", &state.threads)
            .field("idle", &state.idle)
            .field("queued", &state.jobs.len())
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Jobs run outside the lock, so a poisoned lock still holds consistent state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn submit(self: &Arc<Self>, job: Job) {
        let mut state = self.lock();
        state.jobs.push_back(job);
        self.queued.fetch_add(1, Ordering::Release);
        let waiting = state.jobs.len();
        if state.awake >= waiting {
            // A thread that just finished a job will see it without a wake-up.
            return;
        }
        if state.awake + state.idle >= waiting {
            drop(state);
            self.work.notify_one();
            return;
        }
        if state.threads < self.max_threads {
            let name = format!("{}-{}", self.thread_name, state.next_name);
            state.next_name += 1;
            state.threads += 1;
            drop(state);
            let shared = Arc::clone(self);
            let spawned = thread::Builder::new()
                .name(name)
                .spawn(move || shared.work_loop());
            if spawned.is_err() {
                self.spawn_failed();
            }
        }
    }

    /// The OS refused a thread. With no thread left to take them, queued jobs would wait
    /// forever: drop them instead, which closes their results, and their futures panic with
    /// the reason.
    fn spawn_failed(&self) {
        let mut state = self.lock();
        state.threads -= 1;
        if state.threads > 0 {
            return;
        }
        let jobs = std::mem::take(&mut state.jobs);
        self.queued.store(0, Ordering::Release);
        drop(state);
        drop(jobs);
    }

    fn work_loop(self: Arc<Self>) {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.jobs.pop_front() {
                self.queued.fetch_sub(1, Ordering::Release);
                drop(state);
                // A panic in the job itself is caught inside it, for its waiter. What can still
                // panic here is dropping a result nobody waits for: the thread must survive it.
                let _ = panic::catch_unwind(AssertUnwindSafe(job));
                state = self.lock();
                if state.jobs.is_empty() {
                    state.awake += 1;
                    drop(state);
                    self.stay_awake();
                    state = self.lock();
                    state.awake -= 1;
                }
                continue;
            }
            if state.abandoned {
                break;
            }
            state.idle += 1;
            let (next, waited) = self
                .work
                .wait_timeout_while(state, self.idle_timeout, |state| {
                    state.jobs.is_empty() && !state.abandoned
                })
                .unwrap_or_else(PoisonError::into_inner);
            state = next;
            state.idle -= 1;
            if waited.timed_out() && state.jobs.is_empty() {
                break;
            }
        }
        state.threads -= 1;
    }

    /// Yields for a moment while no job is queued, so the next job of a stream finds this
    /// thread awake.
    fn stay_awake(&self) {
        let until = Instant::now() + STAY_AWAKE;
        while self.queued.load(Ordering::Acquire) == 0 && Instant::now() < until {
            thread::yield_now();
        }
    }
}

/// The result of a job run by [`BlockingPool::run`] or [`offload`].
///
/// # Examples
///
/// See [`BlockingPool`].
///
/// # Panics
///
/// Resumes the job's panic with its original payload.
#[must_use = "dropping a Run before its job starts means the job never runs"]
pub struct Run<R> {
    receiver: oneshot::Receiver<thread::Result<R>>,
}

impl<R> Future for Run<R> {
    type Output = R;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        match Pin::new(&mut self.receiver).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(Ok(output))) => Poll::Ready(output),
            Poll::Ready(Ok(Err(payload))) => panic::resume_unwind(payload),
            Poll::Ready(Err(_)) => panic!(
                "syncportal: the blocking pool could not start a thread; check the process's \
                 thread limits"
            ),
        }
    }
}

impl<R> fmt::Debug for Run<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run").finish_non_exhaustive()
    }
}

/// Runs `job` on the process-wide default [`BlockingPool`] and returns a future of its result.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let words = syncportal::offload(|| "a blocking parse of some text".split(' ').count()).await;
/// assert_eq!(words, 6);
/// # }
/// ```
///
/// # Panics
///
/// As [`BlockingPool::run`].
pub fn offload<F, R>(job: F) -> Run<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    BlockingPool::global().run(job)
}
