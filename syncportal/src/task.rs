//! Tasks started with [`Portal::spawn`](crate::Portal::spawn).

use std::fmt;
use std::future::Future;
use std::panic;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::task::{JoinError, JoinHandle};

use crate::{Error, Portal, guard};

/// A future running on a portal's runtime, waited on from sync code (or awaited from async).
///
/// The outcome is taken once: by [`wait`](Self::wait), by a
/// [`wait_timeout`](Self::wait_timeout) that did not time out, or by awaiting the task. A panic
/// in the task resumes in the waiter with its original payload.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use syncportal::Portal;
///
/// let mut task = Portal::global().spawn(async {
///     tokio::time::sleep(Duration::from_millis(20)).await;
///     "done"
/// })?;
/// // Expiry does not cancel: wait again.
/// while task.wait_timeout(Duration::from_millis(1)).is_err() {}
/// assert!(task.is_finished());
/// # Ok::<(), syncportal::Error>(())
/// ```
///
/// # Caveats
///
/// Dropping a `Task` cancels it, as smol's `Task` does: the future is dropped at its next
/// suspension point, or never started. Call [`detach`](Self::detach) to let it run on.
#[must_use = "dropping a Task cancels it; call .detach() to let it run"]
pub struct Task<T> {
    /// `None` once the outcome was taken or the task was detached.
    join: Option<JoinHandle<Option<T>>>,
    portal: Portal,
}

impl<T> Task<T> {
    pub(crate) fn new(join: JoinHandle<Option<T>>, portal: Portal) -> Self {
        Self {
            join: Some(join),
            portal,
        }
    }

    /// Blocks until the task finishes and returns its output.
    ///
    /// # Examples
    ///
    /// ```
    /// let task = syncportal::Portal::global().spawn(async { 1 + 2 })?;
    /// assert_eq!(task.wait()?, 3);
    /// # Ok::<(), syncportal::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// - [`Error::InAsyncContext`] on a thread that drives async tasks; await the task instead.
    /// - [`Error::Cancelled`] when the task was cancelled before it finished.
    /// - [`Error::OutcomeTaken`] when an earlier `wait_timeout` already returned the outcome.
    ///
    /// A refused wait ([`Error::InAsyncContext`]) leaves the task running, detached, rather
    /// than cancelling it.
    ///
    /// # Panics
    ///
    /// Resumes the task's panic, with its original payload.
    pub fn wait(mut self) -> Result<T, Error> {
        let result = self.take_outcome(None);
        if matches!(result, Err(Error::InAsyncContext)) {
            // A refused call has no effect: the task runs on instead of being cancelled by drop.
            drop(self.join.take());
        }
        result
    }

    /// Blocks until the task finishes or `timeout` passes.
    ///
    /// Expiry does not cancel the task: it keeps running and can be waited on again. A zero
    /// timeout checks once without waiting. The deadline is kept by the calling thread, so it
    /// holds even when every runtime worker is stuck.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use syncportal::Error;
    ///
    /// let mut task = syncportal::Portal::global().spawn(std::future::pending::<()>())?;
    /// assert_eq!(task.wait_timeout(Duration::ZERO), Err(Error::Timeout));
    /// assert!(!task.is_finished());
    /// # Ok::<(), syncportal::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait), plus [`Error::Timeout`] on expiry.
    ///
    /// # Panics
    ///
    /// Resumes the task's panic, with its original payload.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<T, Error> {
        self.take_outcome(guard::deadline(timeout))
    }

    fn take_outcome(&mut self, deadline: Option<Instant>) -> Result<T, Error> {
        let join = self.join.as_mut().ok_or(Error::OutcomeTaken)?;
        let result = guard::block_on_until(self.portal.handle(), join, deadline)?;
        self.join = None;
        outcome(result)
    }

    /// Requests cancellation without blocking.
    ///
    /// Exactly one outcome is reported afterwards: if the task had already finished, a wait
    /// still returns its output; otherwise it returns [`Error::Cancelled`]. A task cancelled
    /// before it first ran never runs. Calling it again does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use syncportal::Error;
    ///
    /// let task = syncportal::Portal::global().spawn(std::future::pending::<()>())?;
    /// task.cancel();
    /// assert_eq!(task.wait(), Err(Error::Cancelled));
    /// # Ok::<(), syncportal::Error>(())
    /// ```
    pub fn cancel(&self) {
        if let Some(join) = &self.join {
            join.abort();
        }
    }

    /// Whether the task has finished (completed, panicked or been cancelled), or its outcome
    /// was already taken.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut task = syncportal::Portal::global().spawn(async {})?;
    /// task.wait_timeout(std::time::Duration::from_secs(5))?;
    /// assert!(task.is_finished());
    /// # Ok::<(), syncportal::Error>(())
    /// ```
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.join.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Lets the task run to completion with nobody waiting; its output is dropped.
    ///
    /// A detached task is still tracked by the portal: shutdown waits for it within the grace
    /// period and cancels it after.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// syncportal::Portal::global().spawn(async move { tx.send(1).unwrap() })?.detach();
    /// assert_eq!(rx.recv().unwrap(), 1);
    /// # Ok::<(), syncportal::Error>(())
    /// ```
    pub fn detach(mut self) {
        // Dropping a JoinHandle detaches; only our Drop aborts.
        drop(self.join.take());
    }
}

fn outcome<T>(result: Result<Option<T>, JoinError>) -> Result<T, Error> {
    match result {
        Ok(Some(output)) => Ok(output),
        // Stopped by a portal shutdown.
        Ok(None) => Err(Error::Cancelled),
        Err(err) => match err.try_into_panic() {
            Ok(payload) => panic::resume_unwind(payload),
            Err(_) => Err(Error::Cancelled),
        },
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        if let Some(join) = self.join.take() {
            join.abort();
        }
    }
}

/// Awaiting a task from async code gives the same outcome as [`Task::wait`], without blocking.
impl<T> Future for Task<T> {
    type Output = Result<T, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(join) = self.join.as_mut() else {
            return Poll::Ready(Err(Error::OutcomeTaken));
        };
        let result = std::task::ready!(Pin::new(join).poll(cx));
        self.join = None;
        Poll::Ready(outcome(result))
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.join.as_ref().map(JoinHandle::id))
            .field("finished", &self.is_finished())
            .finish_non_exhaustive()
    }
}
