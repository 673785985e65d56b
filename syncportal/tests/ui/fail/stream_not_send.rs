// A stream read through a `BlockingIter` must be `Send + 'static`; this one only says `Stream`.
use std::pin::Pin;
use std::task::{Context, Poll};

pub struct Numbers;

impl futures_core::Stream for Numbers {
    type Item = u32;

    fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<u32>> {
        Poll::Ready(None)
    }
}

pub struct Feed;

#[syncportal::facade]
impl Feed {
    pub async fn numbers(&self) -> impl futures_core::Stream<Item = u32> {
        Numbers
    }
}

fn main() {}
