use std::pin::Pin;
use std::task::{Context, Poll};

pub struct Numbers;

impl futures_core::Stream for Numbers {
    type Item = u32;

    fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<u32>> {
        Poll::Ready(None)
    }
}

pub struct Client;

#[syncportal::facade]
impl Client {
    #[facade(skip, iter)]
    pub async fn numbers(&self) -> Numbers {
        Numbers
    }
}

fn main() {}
