//! An actor: one thread that owns a blocking resource and runs closures against it in order.
//!
//! The mailbox is a [`Queue`] of boxed closures, so callers wait for room from async code or
//! sync code alike, and a caller that gives up while waiting never enqueues anything. Each
//! closure carries a oneshot for its result; the actor skips a closure whose caller has gone
//! before it starts.

use std::any::Any;
use std::convert::Infallible;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

use tokio::sync::{Notify, oneshot};

use crate::{Error, Queue, guard};

type Message<R> = Box<dyn FnOnce(&mut R) + Send>;

/// Why an actor could not open its resource or run a call.
///
/// `E` is the error type of the resource's open function; calls use the default,
/// [`Infallible`].
///
/// # Examples
///
/// ```
/// use syncportal::{Actor, ActorError};
///
/// let err = Actor::<u8>::spawn_blocking(|| Err::<u8, _>("no device")).unwrap_err();
/// assert!(matches!(err, ActorError::Open("no device")));
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum ActorError<E = Infallible> {
    /// The open function returned an error; no actor was started.
    #[error("the actor's resource could not be opened: {0}")]
    Open(E),
    /// The open function or the call's closure panicked. The payload is kept; after a panicking
    /// call the actor goes on with the next one.
    #[error("the actor's closure panicked; the payload is kept in the error")]
    Panicked(Box<dyn Any + Send>),
    /// The actor is closed: the closure was not sent and will never run.
    #[error("the actor is closed and takes no more calls")]
    Closed,
    /// The actor was closed with `close_now` while the call waited in its mailbox; the closure
    /// never ran.
    #[error("the call was cancelled by close_now before it started")]
    Cancelled,
    /// A blocking call was made on a thread that drives async tasks; nothing was sent. Use the
    /// async form there.
    #[error(
        "blocking actor call made from inside an async context; use .await on call or spawn \
         instead"
    )]
    InAsyncContext,
    /// The operating system refused the actor's thread.
    #[error("could not start the actor's thread: {0}; check the process's thread limits")]
    Thread(std::io::Error),
}

impl<E> ActorError<E> {
    /// Whether the actor was closed (or closed with cancellation) before the closure ran.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(syncportal::ActorError::<()>::Closed.is_closed());
    /// ```
    #[must_use]
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed | Self::Cancelled)
    }

    /// The panic payload, if the closure panicked, to inspect or `resume_unwind`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let actor = syncportal::Actor::spawn(|| Ok::<_, std::convert::Infallible>(0u8)).await?;
    /// let err = actor.call(|_| panic!("bad register")).await.unwrap_err();
    /// let payload = err.into_panic().expect("a panic");
    /// assert_eq!(payload.downcast_ref::<&str>(), Some(&"bad register"));
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn into_panic(self) -> Option<Box<dyn Any + Send>> {
        match self {
            Self::Panicked(payload) => Some(payload),
            _ => None,
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for ActorError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Open(err) => f.debug_tuple("Open").field(err).finish(),
            Self::Panicked(_) => f.write_str("Panicked(..)"),
            Self::Closed => f.write_str("Closed"),
            Self::Cancelled => f.write_str("Cancelled"),
            Self::InAsyncContext => f.write_str("InAsyncContext"),
            Self::Thread(err) => f.debug_tuple("Thread").field(err).finish(),
        }
    }
}

impl From<ActorError> for Error {
    /// Maps the portal-shaped cases; a panic becomes [`Error::Cancelled`] (the call produced no
    /// value), and a thread failure [`Error::Closed`].
    fn from(err: ActorError) -> Self {
        match err {
            ActorError::InAsyncContext => Error::InAsyncContext,
            ActorError::Panicked(_) | ActorError::Cancelled => Error::Cancelled,
            ActorError::Open(never) => match never {},
            ActorError::Closed | ActorError::Thread(_) => Error::Closed,
        }
    }
}

/// An owner thread for a resource that must stay on one thread or must not be shared: a SQLite
/// connection, a hardware handle, a C library's context.
///
/// [`spawn`](Self::spawn) opens the resource on a new named thread. [`call`](Self::call) (async)
/// and [`call_blocking`](Self::call_blocking) (sync) send a closure that runs against
/// `&mut R` on that thread, one at a time, in the order sent. The mailbox is bounded: callers
/// wait while it is full. Clones share the actor; when the last clone is dropped the actor
/// finishes the calls already queued and drops the resource on its own thread.
///
/// The resource itself never moves: `R` need not be `Send`.
///
/// # Examples
///
/// ```
/// use syncportal::Actor;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // A resource that is not Sync, owned by one thread.
/// let log = Actor::spawn(|| Ok::<_, std::io::Error>(std::cell::RefCell::new(Vec::new()))).await?;
/// log.call(|lines| lines.borrow_mut().push("first")).await?;
/// log.call(|lines| lines.borrow_mut().push("second")).await?;
/// let count = log.call(|lines| lines.borrow().len()).await?;
/// assert_eq!(count, 2);
/// # Ok(())
/// # }
/// ```
///
/// # Caveats
///
/// - A caller that gives up (drops its future, or times out) before its closure starts means
///   the closure never runs. Once it has started, it runs to the end and its result is dropped.
/// - A closure that blocks forever blocks the actor: calls queued behind it wait.
pub struct Actor<R> {
    handle: Arc<Handle<R>>,
}

/// Shared by the `Actor` clones, not by the actor's thread, so that dropping the last clone
/// closes the mailbox.
struct Handle<R> {
    mailbox: Queue<Message<R>>,
    exit: Arc<Exit>,
    name: String,
}

impl<R> Drop for Handle<R> {
    fn drop(&mut self) {
        self.mailbox.close();
    }
}

/// Tells waiters that the actor's thread has dropped its resource and ended.
#[derive(Default)]
struct Exit {
    done: AtomicBool,
    notify: Notify,
}

impl<R> Clone for Actor<R> {
    fn clone(&self) -> Self {
        Self {
            handle: Arc::clone(&self.handle),
        }
    }
}

impl<R> fmt::Debug for Actor<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Actor")
            .field("name", &self.handle.name)
            .field("queued", &self.handle.mailbox.len())
            .field("closed", &self.handle.mailbox.is_closed())
            .finish_non_exhaustive()
    }
}

/// Configures an [`Actor`]: its thread's name and its mailbox size.
///
/// # Examples
///
/// ```
/// let actor = syncportal::ActorBuilder::new()
///     .name("sensor-bus")
///     .mailbox(8)
///     .spawn_blocking(|| Ok::<_, std::convert::Infallible>(0u32))?;
/// let name = actor.call_blocking(|_| std::thread::current().name().map(str::to_owned))?;
/// assert_eq!(name.as_deref(), Some("sensor-bus"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ActorBuilder {
    name: Option<String>,
    mailbox: usize,
}

impl Default for ActorBuilder {
    fn default() -> Self {
        Self {
            name: None,
            mailbox: 64,
        }
    }
}

impl ActorBuilder {
    /// A thread named `syncportal-actor-N` and a mailbox of 64 calls.
    ///
    /// # Examples
    ///
    /// See [`ActorBuilder`].
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The actor thread's name. Defaults to `syncportal-actor-N`.
    ///
    /// # Examples
    ///
    /// See [`ActorBuilder`].
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// How many calls may wait in the mailbox; 0 counts as 1. Defaults to 64.
    ///
    /// # Examples
    ///
    /// See [`ActorBuilder`].
    #[must_use]
    pub fn mailbox(mut self, capacity: usize) -> Self {
        self.mailbox = capacity.max(1);
        self
    }

    /// Starts the actor's thread, opens the resource there with `open`, and waits for the
    /// outcome.
    ///
    /// # Examples
    ///
    /// See [`Actor::spawn`].
    ///
    /// # Errors
    ///
    /// [`ActorError::Open`] with the open function's error, [`ActorError::Panicked`] when it
    /// panicked, [`ActorError::Thread`] when the thread could not start.
    pub async fn spawn<R, E, F>(self, open: F) -> Result<Actor<R>, ActorError<E>>
    where
        R: 'static,
        E: Send + 'static,
        F: FnOnce() -> Result<R, E> + Send + 'static,
    {
        let (actor, opened) = self.start(open)?;
        match opened.await {
            Ok(Ok(())) => Ok(actor),
            Ok(Err(err)) => Err(err),
            // The thread ended without a word: only a panic while reporting could do that.
            Err(_) => Err(ActorError::Closed),
        }
    }

    /// [`spawn`](Self::spawn) from sync code, blocking until the resource is open.
    ///
    /// # Examples
    ///
    /// See [`ActorBuilder`].
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn), plus [`ActorError::InAsyncContext`] on a thread that drives
    /// async tasks (nothing was started).
    pub fn spawn_blocking<R, E, F>(self, open: F) -> Result<Actor<R>, ActorError<E>>
    where
        R: 'static,
        E: Send + 'static,
        F: FnOnce() -> Result<R, E> + Send + 'static,
    {
        // Refuse before a thread starts: a refused call has no effect.
        guard::wait_until(std::future::ready(()), None).map_err(|_| ActorError::InAsyncContext)?;
        let (actor, opened) = self.start(open)?;
        match guard::wait_until(opened, None) {
            Ok(Ok(Ok(()))) => Ok(actor),
            Ok(Ok(Err(err))) => Err(err),
            Ok(Err(_)) => Err(ActorError::Closed),
            Err(_) => Err(ActorError::InAsyncContext),
        }
    }

    #[allow(
        clippy::type_complexity,
        reason = "a private pair of the actor and its open result"
    )]
    fn start<R, E, F>(
        self,
        open: F,
    ) -> Result<(Actor<R>, oneshot::Receiver<Result<(), ActorError<E>>>), ActorError<E>>
    where
        R: 'static,
        E: Send + 'static,
        F: FnOnce() -> Result<R, E> + Send + 'static,
    {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = self.name.unwrap_or_else(|| {
            format!("syncportal-actor-{}", NEXT.fetch_add(1, Ordering::Relaxed))
        });
        let mailbox = Queue::new(self.mailbox).expect("the mailbox holds at least one call");
        let exit = Arc::new(Exit::default());
        let (report, opened) = oneshot::channel();
        let inbox = mailbox.clone();
        let thread_exit = Arc::clone(&exit);
        thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                // Announces the end even when dropping the resource panics.
                let _exit = ExitGuard {
                    exit: thread_exit,
                    inbox: inbox.clone(),
                };
                serve(open, &inbox, report);
            })
            .map_err(ActorError::Thread)?;
        let actor = Actor {
            handle: Arc::new(Handle {
                mailbox,
                exit,
                name,
            }),
        };
        Ok((actor, opened))
    }
}

/// The actor thread: open, report, then run calls until the mailbox is closed and drained.
/// The resource is dropped here, on this thread.
fn serve<R, E, F>(
    open: F,
    inbox: &Queue<Message<R>>,
    report: oneshot::Sender<Result<(), ActorError<E>>>,
) where
    F: FnOnce() -> Result<R, E>,
{
    let mut resource = match panic::catch_unwind(AssertUnwindSafe(open)) {
        Ok(Ok(resource)) => resource,
        Ok(Err(err)) => {
            inbox.close_now();
            let _ = report.send(Err(ActorError::Open(err)));
            return;
        }
        Err(payload) => {
            inbox.close_now();
            let _ = report.send(Err(ActorError::Panicked(payload)));
            return;
        }
    };
    if report.send(Ok(())).is_err() {
        // Whoever spawned us gave up while the resource opened.
        inbox.close_now();
        return;
    }
    while let Ok(message) = inbox.get_blocking() {
        // The call's own panic is caught inside the message, for its caller. What can still
        // panic here is dropping a result nobody waits for: the actor must survive it.
        let _ = panic::catch_unwind(AssertUnwindSafe(|| message(&mut resource)));
    }
}

/// Runs when the actor's thread ends, normally or by a panic while dropping the resource:
/// cancels calls still queued, so no caller waits forever, and wakes `join`.
struct ExitGuard<R> {
    exit: Arc<Exit>,
    inbox: Queue<Message<R>>,
}

impl<R> Drop for ExitGuard<R> {
    fn drop(&mut self) {
        self.inbox.close_now();
        self.exit.done.store(true, Ordering::Release);
        self.exit.notify.notify_waiters();
    }
}

impl<R: 'static> Actor<R> {
    /// Starts a thread named `syncportal-actor-N`, opens the resource there with `open`, and
    /// waits for the outcome.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let counter = syncportal::Actor::spawn(|| Ok::<_, std::io::Error>(0u64)).await?;
    /// counter.call(|n| *n += 5).await?;
    /// assert_eq!(counter.call(|n| *n).await?, 5);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ActorError::Open`] with the open function's error, [`ActorError::Panicked`] when it
    /// panicked, [`ActorError::Thread`] when the thread could not start.
    pub async fn spawn<E, F>(open: F) -> Result<Self, ActorError<E>>
    where
        E: Send + 'static,
        F: FnOnce() -> Result<R, E> + Send + 'static,
    {
        ActorBuilder::new().spawn(open).await
    }

    /// [`spawn`](Self::spawn) from sync code, blocking until the resource is open.
    ///
    /// # Examples
    ///
    /// ```
    /// let counter = syncportal::Actor::spawn_blocking(|| Ok::<_, std::io::Error>(0u64))?;
    /// counter.call_blocking(|n| *n += 1)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn), plus [`ActorError::InAsyncContext`] on a thread that drives
    /// async tasks.
    pub fn spawn_blocking<E, F>(open: F) -> Result<Self, ActorError<E>>
    where
        E: Send + 'static,
        F: FnOnce() -> Result<R, E> + Send + 'static,
    {
        ActorBuilder::new().spawn_blocking(open)
    }

    /// Runs `f` against the resource on the actor's thread, after the calls sent before it,
    /// and returns its result. Waits for mailbox room first when the mailbox is full.
    ///
    /// # Examples
    ///
    /// See [`Actor`].
    ///
    /// # Errors
    ///
    /// - [`ActorError::Closed`] when the actor is closed; `f` never runs.
    /// - [`ActorError::Cancelled`] when [`close_now`](Self::close_now) discarded the call.
    /// - [`ActorError::Panicked`] with the payload when `f` panicked; the actor goes on.
    ///
    /// # Caveats
    ///
    /// Cancel safe until `f` starts: drop the future before then and `f` never runs.
    pub async fn call<T, F>(&self, f: F) -> Result<T, ActorError>
    where
        F: FnOnce(&mut R) -> T + Send + 'static,
        T: Send + 'static,
    {
        let (sender, receiver) = oneshot::channel();
        let message: Message<R> = Box::new(move |resource| {
            if sender.is_closed() {
                // The caller gave up before we started.
                return;
            }
            let _ = sender.send(panic::catch_unwind(AssertUnwindSafe(|| f(resource))));
        });
        self.handle
            .mailbox
            .put(message)
            .await
            .map_err(|_| ActorError::Closed)?;
        match receiver.await {
            Ok(Ok(output)) => Ok(output),
            Ok(Err(payload)) => Err(ActorError::Panicked(payload)),
            Err(_) => Err(ActorError::Cancelled),
        }
    }

    /// [`call`](Self::call) from sync code, blocking the thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let actor = syncportal::Actor::spawn_blocking(|| Ok::<_, std::io::Error>(vec![1, 2]))?;
    /// assert_eq!(actor.call_blocking(|v| v.iter().sum::<i32>())?, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call), plus [`ActorError::InAsyncContext`] on a thread that drives
    /// async tasks; `f` was not sent.
    pub fn call_blocking<T, F>(&self, f: F) -> Result<T, ActorError>
    where
        F: FnOnce(&mut R) -> T + Send + 'static,
        T: Send + 'static,
    {
        guard::wait_until(self.call(f), None).unwrap_or(Err(ActorError::InAsyncContext))
    }

    /// Takes no more calls; the calls already queued still run, then the resource is dropped
    /// on the actor's thread. Returns false if the actor was already closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let actor = syncportal::Actor::spawn_blocking(|| Ok::<_, std::io::Error>(()))?;
    /// assert!(actor.close());
    /// assert!(actor.call_blocking(|_| ()).unwrap_err().is_closed());
    /// actor.join_blocking()?; // the resource has been dropped
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[allow(
        clippy::must_use_candidate,
        reason = "closing is the point; the flag is extra"
    )]
    pub fn close(&self) -> bool {
        self.handle.mailbox.close()
    }

    /// Takes no more calls and cancels the queued ones (their callers get
    /// [`ActorError::Cancelled`]); the call running now finishes, then the resource is dropped
    /// on the actor's thread. Returns how many calls were cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// let actor = syncportal::Actor::spawn_blocking(|| Ok::<_, std::io::Error>(()))?;
    /// assert_eq!(actor.close_now(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[allow(
        clippy::must_use_candidate,
        reason = "closing is the point; the count is extra"
    )]
    pub fn close_now(&self) -> usize {
        self.handle.mailbox.close_now()
    }

    /// Waits until the actor's thread has dropped the resource and ended, after a close.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let actor = syncportal::Actor::spawn(|| Ok::<_, std::io::Error>(())).await?;
    /// actor.close();
    /// actor.join().await;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn join(&self) {
        let exit = &self.handle.exit;
        let mut notified = pin!(exit.notify.notified());
        notified.as_mut().enable();
        if !exit.done.load(Ordering::Acquire) {
            notified.await;
        }
    }

    /// [`join`](Self::join) from sync code.
    ///
    /// # Examples
    ///
    /// See [`close`](Self::close).
    ///
    /// # Errors
    ///
    /// [`Error::InAsyncContext`] on a thread that drives async tasks.
    pub fn join_blocking(&self) -> Result<(), Error> {
        guard::wait_until(self.join(), None)
    }

    /// Whether the actor takes no more calls.
    ///
    /// # Examples
    ///
    /// ```
    /// let actor = syncportal::Actor::spawn_blocking(|| Ok::<_, std::io::Error>(()))?;
    /// assert!(!actor.is_closed());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.handle.mailbox.is_closed()
    }
}
