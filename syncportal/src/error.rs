//! Errors returned by the portal and its tasks and iterators.

use std::io;

/// Why a blocking call through a [`Portal`](crate::Portal) did not produce a value.
///
/// Each variant's message says what to do instead. Branch on the `is_*` helpers rather than on
/// the text.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use syncportal::{Error, Portal};
///
/// let portal = Portal::global();
/// let err = portal
///     .call_timeout(std::future::pending::<()>(), Duration::from_millis(10))
///     .unwrap_err();
/// assert!(err.is_timeout());
/// assert_eq!(err, Error::Timeout);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A blocking call was made on a thread that drives async tasks (a runtime worker, or code
    /// running inside any `block_on`). Nothing was scheduled and the future was never polled.
    #[error(
        "blocking call made from inside an async context; use .await on the async API instead, \
         or move the call to a plain thread or tokio::task::spawn_blocking"
    )]
    InAsyncContext,
    /// The call or wait did not finish within its timeout. For `call_timeout` the future has
    /// been dropped; for `Task::wait_timeout` and `BlockingIter::next_timeout` nothing was lost
    /// and the wait can be repeated.
    #[error(
        "the call did not finish within its timeout; raise the timeout or check that the \
         awaited work can make progress"
    )]
    Timeout,
    /// The task was cancelled, by [`Task::cancel`](crate::Task::cancel) or by a portal
    /// shutdown, before it produced a value.
    #[error("the task was cancelled before it finished, so it has no output")]
    Cancelled,
    /// The portal has been shut down: new work is refused and in-flight calls are abandoned.
    #[error(
        "the portal has been shut down; build a new one with Portal::builder() or use \
         Portal::global()"
    )]
    Closed,
    /// The task's outcome was already returned by an earlier wait.
    #[error("the task's outcome was already taken by an earlier wait; keep the first result")]
    OutcomeTaken,
}

impl Error {
    /// Whether a blocking call was refused because it was made inside an async context.
    ///
    /// # Examples
    ///
    /// ```
    /// # use syncportal::Error;
    /// assert!(Error::InAsyncContext.is_in_async_context());
    /// ```
    #[must_use]
    pub fn is_in_async_context(&self) -> bool {
        matches!(self, Self::InAsyncContext)
    }

    /// Whether the call or wait ran out of time.
    ///
    /// # Examples
    ///
    /// ```
    /// # use syncportal::Error;
    /// assert!(Error::Timeout.is_timeout());
    /// ```
    #[must_use]
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout)
    }

    /// Whether the task was cancelled before it finished.
    ///
    /// # Examples
    ///
    /// ```
    /// # use syncportal::Error;
    /// assert!(Error::Cancelled.is_cancelled());
    /// ```
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Self::Cancelled)
    }

    /// Whether the portal was shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// # use syncportal::Error;
    /// assert!(Error::Closed.is_closed());
    /// ```
    #[must_use]
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed)
    }
}

/// Why a [`Portal`](crate::Portal) could not be built or attached.
///
/// # Examples
///
/// ```
/// use syncportal::{BuildError, Portal};
///
/// let err = Portal::builder().worker_threads(0).build().unwrap_err();
/// assert!(matches!(err, BuildError::ZeroWorkerThreads));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The operating system refused to start the runtime (threads, IO driver).
    #[error(
        "could not start the portal's runtime: {0}; check the process's thread and file limits"
    )]
    Io(#[from] io::Error),
    /// `worker_threads(0)` was asked for.
    #[error("worker_threads must be at least 1")]
    ZeroWorkerThreads,
    /// A zero default timeout would fail every call that is not immediately ready.
    #[error("the default timeout must be greater than zero; leave it unset for no timeout")]
    ZeroDefaultTimeout,
    /// `from_handle` was given a `current_thread` runtime, which only makes progress while its
    /// owner is inside `Runtime::block_on`.
    #[error(
        "a current_thread runtime only runs tasks, timers and IO while its owner is inside \
         block_on; attach to a multi_thread runtime or build one with Portal::builder()"
    )]
    CurrentThreadRuntime,
    /// `from_handle` was given a runtime without timers, which timeouts need.
    #[error("the runtime has timers disabled; call enable_time() or enable_all() on its builder")]
    TimersDisabled,
}

/// A size or rate that cannot work, refused when a queue or recording is made.
///
/// # Examples
///
/// ```
/// use syncportal::{ConfigError, Queue};
///
/// assert_eq!(Queue::<u8>::new(0).unwrap_err(), ConfigError::ZeroCapacity);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A buffer of zero items could never hold anything.
    #[error("capacity must be at least 1")]
    ZeroCapacity,
    /// A polling rate that is zero, negative, not a number, infinite, or too far from 1 Hz to
    /// give a period of at least a nanosecond and at most about 584 years.
    #[error("rate_hz must be a finite number of polls per second above zero, got {rate_hz}")]
    InvalidRate {
        /// The rate that was asked for.
        rate_hz: f64,
    },
}

/// Lets SDKs whose methods return `std::io::Result` carry portal errors, keeping the original
/// as the source.
///
/// # Examples
///
/// ```
/// let io: std::io::Error = syncportal::Error::Timeout.into();
/// assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
/// ```
impl From<Error> for io::Error {
    fn from(err: Error) -> Self {
        let kind = match err {
            Error::Timeout => io::ErrorKind::TimedOut,
            Error::Cancelled => io::ErrorKind::Interrupted,
            Error::Closed => io::ErrorKind::NotConnected,
            Error::InAsyncContext | Error::OutcomeTaken => io::ErrorKind::Other,
        };
        io::Error::new(kind, err)
    }
}
