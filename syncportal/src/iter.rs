//! Async streams read as blocking iterators.

use std::fmt;
use std::future::poll_fn;
use std::iter::FusedIterator;
use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream;

use crate::{Error, Portal, guard};

type BoxStream<T> = Pin<Box<dyn Stream<Item = T> + Send>>;

/// A blocking [`Iterator`] over an async stream, made by [`Portal::iter`].
///
/// Each [`next`](Iterator::next) polls the stream on the calling thread until it yields one
/// item; nothing is read ahead. Items come wrapped in `Result` because every pull is a guarded
/// blocking call. After the stream ends, or after the portal is shut down, the iterator yields
/// `None` forever and the stream has been dropped.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use syncportal::Portal;
///
/// let portal = Portal::global();
/// let (tx, rx) = tokio::sync::mpsc::channel(4);
/// let producer = portal.spawn(async move {
///     for i in 0..3 {
///         tx.send(i).await.unwrap();
///     }
/// })?;
/// let stream = tokio_stream_like(rx);
/// let items: Vec<i32> = portal.iter(stream).collect::<Result<_, _>>()?;
/// assert_eq!(items, [0, 1, 2]);
/// producer.wait()?;
/// # fn tokio_stream_like(
/// #     mut rx: tokio::sync::mpsc::Receiver<i32>,
/// # ) -> impl futures_core::Stream<Item = i32> {
/// #     struct S(tokio::sync::mpsc::Receiver<i32>);
/// #     impl futures_core::Stream for S {
/// #         type Item = i32;
/// #         fn poll_next(
/// #             mut self: std::pin::Pin<&mut Self>,
/// #             cx: &mut std::task::Context<'_>,
/// #         ) -> std::task::Poll<Option<i32>> {
/// #             self.0.poll_recv(cx)
/// #         }
/// #     }
/// #     S(rx)
/// # }
/// # Ok::<(), syncportal::Error>(())
/// ```
///
/// # Caveats
///
/// The stream must be `Send + 'static`, because the iterator may move between threads and is
/// not tied to a borrow.
pub struct BlockingIter<T> {
    /// `None` once the stream ended, was closed, or the portal shut down.
    stream: Option<BoxStream<T>>,
    portal: Portal,
}

impl<T> BlockingIter<T> {
    pub(crate) fn new(stream: BoxStream<T>, portal: Portal) -> Self {
        Self {
            stream: Some(stream),
            portal,
        }
    }

    /// Like [`next`](Iterator::next), but gives up after `timeout`.
    ///
    /// On expiry nothing is lost: the stream keeps its place and the next call continues from
    /// it. A zero timeout polls once.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use syncportal::{Error, Portal};
    ///
    /// # struct Never;
    /// # impl futures_core::Stream for Never {
    /// #     type Item = u8;
    /// #     fn poll_next(
    /// #         self: std::pin::Pin<&mut Self>,
    /// #         _: &mut std::task::Context<'_>,
    /// #     ) -> std::task::Poll<Option<u8>> {
    /// #         std::task::Poll::Pending
    /// #     }
    /// # }
    /// let mut quiet = Portal::global().iter(Never);
    /// let got = quiet.next_timeout(Duration::from_millis(5));
    /// assert_eq!(got, Some(Err(Error::Timeout)));
    /// ```
    ///
    /// # Errors
    ///
    /// Yields `Some(Err(_))` with [`Error::Timeout`] on expiry, and otherwise as
    /// [`next`](Iterator::next).
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<T, Error>> {
        self.pull(Some(timeout))
    }

    /// Drops the stream now, inside the portal's runtime context so its cleanup can use tokio.
    ///
    /// Later calls to `next` return `None`. Closing twice does nothing; dropping the iterator
    /// closes it.
    ///
    /// # Examples
    ///
    /// ```
    /// # struct Ones;
    /// # impl futures_core::Stream for Ones {
    /// #     type Item = u8;
    /// #     fn poll_next(
    /// #         self: std::pin::Pin<&mut Self>,
    /// #         _: &mut std::task::Context<'_>,
    /// #     ) -> std::task::Poll<Option<u8>> {
    /// #         std::task::Poll::Ready(Some(1))
    /// #     }
    /// # }
    /// let mut ones = syncportal::Portal::global().iter(Ones);
    /// assert_eq!(ones.next(), Some(Ok(1)));
    /// ones.close();
    /// assert_eq!(ones.next(), None);
    /// ```
    pub fn close(&mut self) {
        if let Some(stream) = self.stream.take() {
            let _context = self.portal.handle().enter();
            drop(stream);
        }
    }

    fn pull(&mut self, timeout: Option<Duration>) -> Option<Result<T, Error>> {
        let stream = self.stream.as_mut()?;
        let next = poll_fn(|cx| stream.as_mut().poll_next(cx));
        // A portal's default timeout bounds calls, not the wait for a stream's next item.
        let result = self
            .portal
            .call_until(next, timeout.and_then(guard::deadline));
        match result {
            Ok(Some(item)) => Some(Ok(item)),
            Ok(None) => {
                self.close();
                None
            }
            Err(Error::Closed) => {
                self.close();
                Some(Err(Error::Closed))
            }
            Err(err) => Some(Err(err)),
        }
    }
}

impl<T> Iterator for BlockingIter<T> {
    type Item = Result<T, Error>;

    /// Blocks until the stream yields its next item.
    ///
    /// # Errors
    ///
    /// - [`Error::InAsyncContext`] on a thread that drives async tasks; nothing was polled and
    ///   the iterator can be used again from a plain thread.
    /// - [`Error::Closed`] once, when the portal was shut down; the stream is then dropped.
    fn next(&mut self) -> Option<Self::Item> {
        self.pull(None)
    }
}

impl<T> FusedIterator for BlockingIter<T> {}

impl<T> Drop for BlockingIter<T> {
    fn drop(&mut self) {
        self.close();
    }
}

impl<T> fmt::Debug for BlockingIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingIter")
            .field("open", &self.stream.is_some())
            .finish_non_exhaustive()
    }
}
