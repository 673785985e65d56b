//! A method returning `impl Stream<Item = u32> + Send + 'static` returns a
//! `BlockingIter<u32>`, also inside a `Result`.

#![deny(warnings)]

use std::pin::Pin;
use std::task::{Context, Poll};

use syncportal::BlockingIter;

/// Counts from `next` up to, not including, `end`.
pub struct Count {
    next: u32,
    end: u32,
}

impl futures_core::Stream for Count {
    type Item = u32;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<u32>> {
        if self.next == self.end {
            return Poll::Ready(None);
        }
        self.next += 1;
        Poll::Ready(Some(self.next - 1))
    }
}

/// Yields `Ok(0)`, then `Err(TooMany)`, then ends.
pub struct Checked {
    next: u32,
}

impl futures_core::Stream for Checked {
    type Item = Result<u32, SdkError>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.next += 1;
        Poll::Ready(match self.next {
            1 => Some(Ok(0)),
            2 => Some(Err(SdkError::TooMany)),
            _ => None,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    #[error("too many")]
    TooMany,
    #[error(transparent)]
    Portal(#[from] syncportal::Error),
}

#[derive(Debug)]
pub struct Feed {
    size: u32,
}

#[syncportal::facade]
impl Feed {
    pub async fn numbers(&self) -> impl futures_core::Stream<Item = u32> + Send + 'static {
        Count {
            next: 0,
            end: self.size,
        }
    }

    pub async fn first(
        &self,
        n: u32,
    ) -> Result<impl futures_core::Stream<Item = u32> + Send + 'static, SdkError> {
        if n > self.size {
            return Err(SdkError::TooMany);
        }
        Ok(Count { next: 0, end: n })
    }

    pub async fn checked(
        &self,
    ) -> impl futures_core::Stream<Item = Result<u32, SdkError>> + Send + 'static {
        Checked { next: 0 }
    }

    pub fn numbers_now(&self) -> impl futures_core::Stream<Item = u32> + Send + 'static {
        Count {
            next: 10,
            end: 10 + self.size,
        }
    }
}

fn main() -> Result<(), SdkError> {
    let feed = SyncFeed::from_async(Feed { size: 3 });
    let numbers: BlockingIter<u32> = feed.numbers()?;
    assert_eq!(numbers.collect::<Result<Vec<_>, _>>()?, [0, 1, 2]);

    let first: BlockingIter<u32> = feed.first(2)?;
    assert_eq!(first.collect::<Result<Vec<_>, _>>()?, [0, 1]);
    assert!(matches!(feed.first(9), Err(SdkError::TooMany)));

    let view = feed.with_timeout(std::time::Duration::from_secs(5));
    assert_eq!(view.numbers()?.count(), 3);

    // A stream of `Result`s: each item is the stream's `Result` inside the pull's.
    let mut checked: BlockingIter<Result<u32, SdkError>> = feed.checked()?;
    assert!(matches!(checked.next(), Some(Ok(Ok(0)))));
    assert!(matches!(checked.next(), Some(Ok(Err(SdkError::TooMany)))));
    assert!(checked.next().is_none());

    let now: BlockingIter<u32> = feed.numbers_now();
    assert_eq!(now.collect::<Result<Vec<_>, _>>()?, [10, 11, 12]);
    Ok(())
}
