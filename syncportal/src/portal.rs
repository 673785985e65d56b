//! The portal: a tokio runtime that synchronous code calls into.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use futures_core::Stream;
use tokio::runtime::{Handle, Runtime, RuntimeFlavor};

use crate::watch::{self, Watched};
use crate::work::Work;
use crate::{BlockingIter, BuildError, Error, Task, guard};

/// How long shutdown waits for cancelled work to let go, after the grace period ran out.
const CANCEL_SETTLE: Duration = Duration::from_secs(1);

/// A handle to a tokio runtime that synchronous code calls into.
///
/// A portal has four verbs: [`call`](Self::call) runs a future to completion and returns its
/// output, [`spawn`](Self::spawn) starts one in the background as a [`Task`],
/// [`iter`](Self::iter) reads an async stream as a blocking iterator, and
/// [`shutdown`](Self::shutdown) stops it. Cloning a portal is cheap and shares the runtime.
///
/// Every blocking verb is guarded: called on a thread that drives async tasks (a runtime worker,
/// or code inside any `block_on`), it returns [`Error::InAsyncContext`] before anything is
/// scheduled, instead of panicking or deadlocking.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use syncportal::Portal;
///
/// let portal = Portal::global();
/// let answer = portal.call(async {
///     tokio::time::sleep(Duration::from_millis(1)).await;
///     42
/// })?;
/// assert_eq!(answer, 42);
/// # Ok::<(), syncportal::Error>(())
/// ```
#[derive(Clone)]
pub struct Portal {
    inner: Arc<Inner>,
}

struct Inner {
    handle: Handle,
    /// The runtime this portal owns; `None` when attached with `from_handle` or after shutdown.
    runtime: Mutex<Option<Runtime>>,
    work: Arc<Work>,
    default_timeout: Option<Duration>,
    /// The slow-poll threshold; `None` turns the detector off.
    slow_poll: Option<Duration>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Never block here: we may be inside async code. Stop our work and let the runtime's
        // threads wind down in the background.
        self.work.close();
        self.work.cancel_all();
        let runtime = self
            .runtime
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(runtime) = runtime {
            runtime.shutdown_background();
        }
    }
}

impl fmt::Debug for Portal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Portal")
            .field("flavor", &self.inner.handle.runtime_flavor())
            .field("default_timeout", &self.inner.default_timeout)
            .field("closed", &self.inner.work.is_closed())
            .finish_non_exhaustive()
    }
}

/// What [`Portal::shutdown`] did with the work in flight when it was called.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use syncportal::Portal;
///
/// let portal = Portal::builder().build()?;
/// let _never = portal.spawn(std::future::pending::<()>())?;
/// let report = portal.shutdown(Duration::from_millis(10))?;
/// assert_eq!((report.finished, report.cancelled, report.left_running), (0, 1, 0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Calls and tasks that finished on their own while shutdown waited.
    pub finished: usize,
    /// Calls and tasks that were stopped before they finished.
    pub cancelled: usize,
    /// Calls and tasks still running when shutdown returned: stuck in a poll that does not
    /// return (a blocking call inside async code), so cancellation could not reach them.
    pub left_running: usize,
}

static GLOBAL: OnceLock<Portal> = OnceLock::new();
static GLOBAL_INIT: Mutex<()> = Mutex::new(());

impl Portal {
    /// The process-wide portal, started on first use.
    ///
    /// Every SDK client in a process that uses it shares one multi-thread runtime whose threads
    /// are named `syncportal-rt-N`. It is never dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use syncportal::Portal;
    ///
    /// let a = Portal::global();
    /// let b = Portal::global();
    /// assert!(std::ptr::eq(a, b));
    /// assert_eq!(a.call(async { 1 + 1 })?, 2);
    /// # Ok::<(), syncportal::Error>(())
    /// ```
    ///
    /// # Panics
    ///
    /// Panics if the runtime cannot be started (the OS refuses threads). Use
    /// [`try_global`](Self::try_global) to get that as an error.
    ///
    /// # Caveats
    ///
    /// Shutting the global portal down shuts it down for every user in the process; do that only
    /// when the process is about to exit.
    #[must_use]
    pub fn global() -> &'static Portal {
        match Self::try_global() {
            Ok(portal) => portal,
            Err(err) => panic!("syncportal: cannot start the global portal: {err}"),
        }
    }

    /// The process-wide portal, or why it could not be started.
    ///
    /// # Examples
    ///
    /// ```
    /// let portal = syncportal::Portal::try_global()?;
    /// assert_eq!(portal.call(async { "hi" })?, "hi");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`BuildError::Io`] when the runtime cannot start. A later call tries again.
    pub fn try_global() -> Result<&'static Portal, BuildError> {
        if let Some(portal) = GLOBAL.get() {
            return Ok(portal);
        }
        let _init = GLOBAL_INIT.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(portal) = GLOBAL.get() {
            return Ok(portal);
        }
        let portal = Self::builder().build()?;
        Ok(GLOBAL.get_or_init(|| portal))
    }

    /// Starts configuring a portal with its own runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use syncportal::Portal;
    ///
    /// let portal = Portal::builder()
    ///     .worker_threads(1)
    ///     .thread_name("my-sdk")
    ///     .default_timeout(Duration::from_secs(30))
    ///     .build()?;
    /// assert_eq!(portal.call(async { 7 })?, 7);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn builder() -> PortalBuilder {
        PortalBuilder::default()
    }

    /// Attaches to a multi-thread runtime the application already runs.
    ///
    /// The portal does not own that runtime: [`shutdown`](Self::shutdown) stops only the work
    /// that went through this portal and leaves the runtime running.
    ///
    /// # Examples
    ///
    /// ```
    /// use syncportal::Portal;
    ///
    /// let runtime = tokio::runtime::Runtime::new()?;
    /// let portal = Portal::from_handle(runtime.handle().clone())?;
    /// assert_eq!(portal.call(async { 5 })?, 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// - [`BuildError::CurrentThreadRuntime`] for a `current_thread` runtime. Such a runtime
    ///   runs spawned tasks, timers and IO only while its owner sits in `Runtime::block_on`, so
    ///   a portal on it could hang; it is refused rather than half working.
    /// - [`BuildError::TimersDisabled`] when the runtime was built without `enable_time`.
    ///
    /// # Caveats
    ///
    /// IO cannot be probed the same way: if your futures use tokio IO, the runtime must have
    /// `enable_io` (or `enable_all`).
    pub fn from_handle(handle: Handle) -> Result<Portal, BuildError> {
        if handle.runtime_flavor() == RuntimeFlavor::CurrentThread {
            return Err(BuildError::CurrentThreadRuntime);
        }
        let timers = guard::quietly(|| {
            let _enter = handle.enter();
            drop(tokio::time::sleep(Duration::ZERO));
        });
        if timers.is_none() {
            return Err(BuildError::TimersDisabled);
        }
        Ok(Self::new(
            handle,
            None,
            None,
            Some(watch::DEFAULT_THRESHOLD),
        ))
    }

    fn new(
        handle: Handle,
        runtime: Option<Runtime>,
        default_timeout: Option<Duration>,
        slow_poll: Option<Duration>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                handle,
                runtime: Mutex::new(runtime),
                work: Arc::default(),
                default_timeout,
                slow_poll,
            }),
        }
    }

    /// The runtime handle, for spawning or entering its context directly.
    ///
    /// # Examples
    ///
    /// ```
    /// let portal = syncportal::Portal::global();
    /// let join = portal.handle().spawn(async { 3 });
    /// assert_eq!(portal.call(join)?.unwrap(), 3);
    /// # Ok::<(), syncportal::Error>(())
    /// ```
    ///
    /// # Caveats
    ///
    /// Work spawned on the handle directly is not tracked: shutdown neither waits for it nor
    /// counts it. Use [`spawn`](Self::spawn) for tracked tasks.
    #[must_use]
    pub fn handle(&self) -> &Handle {
        &self.inner.handle
    }

    /// The timeout [`call`](Self::call) applies, if one was set on the builder.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(syncportal::Portal::global().default_timeout(), None);
    /// ```
    #[must_use]
    pub fn default_timeout(&self) -> Option<Duration> {
        self.inner.default_timeout
    }

    /// Whether [`shutdown`](Self::shutdown) has been called.
    ///
    /// # Examples
    ///
    /// ```
    /// let portal = syncportal::Portal::builder().build()?;
    /// assert!(!portal.is_closed());
    /// portal.shutdown(std::time::Duration::ZERO)?;
    /// assert!(portal.is_closed());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.inner.work.is_closed()
    }

    /// Runs `fut` to completion and returns its output, blocking the calling thread.
    ///
    /// The future runs on the calling thread inside the portal's runtime context, so it need
    /// not be `Send` or `'static`, and timers, IO and `tokio::spawn` work inside it. The
    /// builder's default timeout, if any, applies.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    /// use syncportal::Portal;
    ///
    /// let local = Rc::new(5); // not Send: fine, the future stays on this thread
    /// let doubled = Portal::global().call(async { *local * 2 })?;
    /// assert_eq!(doubled, 10);
    /// # Ok::<(), syncportal::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// - [`Error::InAsyncContext`] when called on a thread that drives async tasks; the future
    ///   is dropped without being polled.
    /// - [`Error::Timeout`] when the default timeout passes; the future has been dropped.
    /// - [`Error::Closed`] after [`shutdown`](Self::shutdown), or when shutdown abandons the
    ///   call.
    ///
    /// # Panics
    ///
    /// A panic inside `fut` resumes on the caller with its original payload; the portal stays
    /// usable.
    ///
    /// # Caveats
    ///
    /// tokio leaf futures such as `tokio::time::sleep(d)` look for a runtime when they are
    /// created, not when polled. Create them inside an `async` block (`async { sleep(d).await }`)
    /// or an `async fn`, which the portal polls inside its runtime context.
    pub fn call<F: Future>(&self, fut: F) -> Result<F::Output, Error> {
        let deadline = self.inner.default_timeout.and_then(guard::deadline);
        self.call_until(fut, deadline)
    }

    /// Like [`call`](Self::call), but gives up after `timeout`.
    ///
    /// On expiry the future is dropped, and its `Drop` has run, before `Err(Timeout)` returns.
    /// The deadline is kept by the calling thread, so it holds even when every runtime worker
    /// is stuck. A zero timeout polls the future exactly once. `Duration::MAX` means no limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use syncportal::{Error, Portal};
    ///
    /// let slow = async { tokio::time::sleep(Duration::from_secs(60)).await };
    /// let result = Portal::global().call_timeout(slow, Duration::from_millis(5));
    /// assert_eq!(result, Err(Error::Timeout));
    /// ```
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call), with [`Error::Timeout`] when `timeout` passes.
    ///
    /// # Panics
    ///
    /// A panic inside `fut` resumes on the caller with its original payload.
    pub fn call_timeout<F: Future>(&self, fut: F, timeout: Duration) -> Result<F::Output, Error> {
        self.call_until(fut, guard::deadline(timeout))
    }

    /// `call` with an explicit deadline (`None`: no limit), ignoring the default timeout.
    pub(crate) fn call_until<F: Future>(
        &self,
        fut: F,
        deadline: Option<Instant>,
    ) -> Result<F::Output, Error> {
        let ticket = Work::admit(&*self.inner.work)?;
        let output = watch::with_call_slot(self.inner.slow_poll, |slot| {
            let watched = Watched::new(ticket.work().until_cancelled(fut), slot);
            guard::block_on_until(&self.inner.handle, watched, deadline)
        })?;
        match output {
            Some(output) => {
                ticket.complete();
                Ok(output)
            }
            None => Err(Error::Closed),
        }
    }

    /// Starts `fut` on the runtime without blocking and returns a [`Task`] to wait on it.
    ///
    /// Allowed anywhere, including inside async code.
    ///
    /// # Examples
    ///
    /// ```
    /// let portal = syncportal::Portal::global();
    /// let task = portal.spawn(async { 6 * 7 })?;
    /// assert_eq!(task.wait()?, 42);
    /// # Ok::<(), syncportal::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] after [`shutdown`](Self::shutdown); `fut` is dropped unpolled.
    ///
    /// # Caveats
    ///
    /// Dropping the returned [`Task`] cancels it, as smol's `Task` does. Call
    /// [`Task::detach`] to let it run on unobserved.
    pub fn spawn<F>(&self, fut: F) -> Result<Task<F::Output>, Error>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let ticket = Work::admit(Arc::clone(&self.inner.work))?;
        let fut = Watched::new(fut, watch::task_slot::<F>(self.inner.slow_poll));
        let join = self.inner.handle.spawn(async move {
            let output = ticket.work().until_cancelled(fut).await;
            if output.is_some() {
                ticket.complete();
            }
            output
        });
        Ok(Task::new(join, self.clone()))
    }

    /// Reads `stream` as a blocking iterator, one item per `next()`.
    ///
    /// Nothing is read ahead: each `next()` polls the stream on the calling thread until it
    /// yields. See [`BlockingIter`] for timeouts and closing.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_core::Stream;
    /// use std::pin::Pin;
    /// use std::task::{Context, Poll};
    ///
    /// struct Count(u32);
    /// impl Stream for Count {
    ///     type Item = u32;
    ///     fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<u32>> {
    ///         self.0 += 1;
    ///         Poll::Ready((self.0 <= 3).then_some(self.0))
    ///     }
    /// }
    ///
    /// let items: Result<Vec<u32>, _> = syncportal::Portal::global().iter(Count(0)).collect();
    /// assert_eq!(items?, [1, 2, 3]);
    /// # Ok::<(), syncportal::Error>(())
    /// ```
    pub fn iter<S>(&self, stream: S) -> BlockingIter<S::Item>
    where
        S: Stream + Send + 'static,
    {
        BlockingIter::new(Box::pin(stream), self.clone())
    }

    /// Stops the portal: refuses new work at once, lets work in flight finish within `grace`,
    /// then cancels the rest and reports what happened.
    ///
    /// For a portal that owns its runtime, the runtime is then shut down. For one attached with
    /// [`from_handle`](Self::from_handle), only the work that went through this portal stops.
    /// Cancelled tasks give [`Error::Cancelled`] to their waiters; abandoned calls return
    /// [`Error::Closed`]. Returns within `grace` plus about a second for cancelled work to let
    /// go; work stuck in a blocking poll is left behind rather than waited for.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use syncportal::{Error, Portal};
    ///
    /// let portal = Portal::builder().build()?;
    /// let quick = portal.spawn(async { 1 })?;
    /// let report = portal.shutdown(Duration::from_secs(1))?;
    /// assert_eq!(report.cancelled, 0);
    /// assert_eq!(quick.wait()?, 1);
    /// assert_eq!(portal.call(async { 2 }), Err(Error::Closed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// - [`Error::InAsyncContext`] when called inside async code (it blocks for up to
    ///   `grace`); nothing is stopped. Dropping the last clone of a portal stops it without
    ///   blocking, anywhere.
    /// - [`Error::Closed`] when the portal was already shut down.
    pub fn shutdown(&self, grace: Duration) -> Result<ShutdownReport, Error> {
        guard::check(&self.inner.handle)?;
        let work = &self.inner.work;
        if !work.close() {
            return Err(Error::Closed);
        }
        if !work.wait_idle(grace) {
            work.cancel_all();
            work.wait_idle(CANCEL_SETTLE);
        }
        let runtime = self
            .inner
            .runtime
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(runtime) = runtime {
            // Drops whatever is still queued; bounded.
            runtime.shutdown_timeout(CANCEL_SETTLE);
        }
        let (finished, cancelled) = work.outcome();
        Ok(ShutdownReport {
            finished,
            cancelled,
            left_running: work.live(),
        })
    }
}

/// Configures and starts a [`Portal`] with its own multi-thread runtime.
///
/// # Examples
///
/// ```
/// let portal = syncportal::Portal::builder().worker_threads(2).build()?;
/// # Ok::<(), syncportal::BuildError>(())
/// ```
#[derive(Debug, Clone)]
pub struct PortalBuilder {
    worker_threads: Option<usize>,
    thread_name: String,
    default_timeout: Option<Duration>,
    slow_poll: Option<Duration>,
}

impl Default for PortalBuilder {
    fn default() -> Self {
        Self {
            worker_threads: None,
            thread_name: "syncportal-rt".to_owned(),
            default_timeout: None,
            slow_poll: Some(watch::DEFAULT_THRESHOLD),
        }
    }
}

impl PortalBuilder {
    /// Sets the number of worker threads. The default is one per CPU core.
    ///
    /// # Examples
    ///
    /// ```
    /// let portal = syncportal::Portal::builder().worker_threads(1).build()?;
    /// # Ok::<(), syncportal::BuildError>(())
    /// ```
    #[must_use]
    pub fn worker_threads(mut self, count: usize) -> Self {
        self.worker_threads = Some(count);
        self
    }

    /// Sets the thread-name prefix; threads are named `{prefix}-{n}`. The default prefix is
    /// `syncportal-rt`.
    ///
    /// # Examples
    ///
    /// ```
    /// let portal = syncportal::Portal::builder().thread_name("acme-sdk").build()?;
    /// let name = portal.call(async {
    ///     tokio::spawn(async { std::thread::current().name().map(str::to_owned) }).await
    /// })?;
    /// assert!(name.unwrap().unwrap().starts_with("acme-sdk-"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Self {
        self.thread_name = prefix.into();
        self
    }

    /// Sets a timeout that [`Portal::call`] applies to every call.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use syncportal::{Error, Portal};
    ///
    /// let portal = Portal::builder().default_timeout(Duration::from_millis(5)).build()?;
    /// let slow = async { tokio::time::sleep(Duration::from_secs(60)).await };
    /// assert_eq!(portal.call(slow), Err(Error::Timeout));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn default_timeout(mut self, timeout: Duration) -> Self {
        self.default_timeout = Some(timeout);
        self
    }

    /// Sets the slow-poll threshold, or turns the detector off with `None`. The default is
    /// 100 ms.
    ///
    /// The portal watches the futures of its calls and tasks. When one `poll` runs longer than
    /// the threshold (a blocking call hidden in async code: `std::thread::sleep`, a blocking
    /// read), a `tracing` warning with target `syncportal::slow_poll` names the task (its
    /// future's type) or the calling thread and how long the poll has run. It fires while the
    /// poll is still stuck, once per poll. Watching costs a few nanoseconds per poll; a monitor
    /// thread, `syncportal-watch`, beats every quarter threshold while polls run and naps when
    /// none does.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let strict = syncportal::Portal::builder()
    ///     .slow_poll_threshold(Some(Duration::from_millis(20)))
    ///     .build()?;
    /// let quiet = syncportal::Portal::builder().slow_poll_threshold(None).build()?;
    /// # drop((strict, quiet));
    /// # Ok::<(), syncportal::BuildError>(())
    /// ```
    ///
    /// # Caveats
    ///
    /// A poll can run up to half a threshold past the threshold before it is reported (the
    /// monitor notices a poll at its next beat and times it from there), and work spawned on
    /// the runtime directly (not through the portal) is not watched.
    #[must_use]
    pub fn slow_poll_threshold(mut self, threshold: Option<Duration>) -> Self {
        self.slow_poll = threshold;
        self
    }

    /// Starts the runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// let portal = syncportal::Portal::builder().build()?;
    /// assert_eq!(portal.call(async { 1 })?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// - [`BuildError::ZeroWorkerThreads`] for `worker_threads(0)`.
    /// - [`BuildError::ZeroDefaultTimeout`] for a zero default timeout.
    /// - [`BuildError::Io`] when the OS refuses to start the runtime.
    pub fn build(self) -> Result<Portal, BuildError> {
        if self.worker_threads == Some(0) {
            return Err(BuildError::ZeroWorkerThreads);
        }
        if self.default_timeout == Some(Duration::ZERO) {
            return Err(BuildError::ZeroDefaultTimeout);
        }
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.enable_all();
        if let Some(count) = self.worker_threads {
            builder.worker_threads(count);
        }
        let prefix = self.thread_name;
        let next = AtomicUsize::new(0);
        builder
            .thread_name_fn(move || format!("{prefix}-{}", next.fetch_add(1, Ordering::Relaxed)));
        let runtime = builder.build()?;
        Ok(Portal::new(
            runtime.handle().clone(),
            Some(runtime),
            self.default_timeout,
            self.slow_poll,
        ))
    }
}
