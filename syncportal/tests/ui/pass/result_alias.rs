//! A crate's own `Result<T>` alias keeps its error type on the twin.

#![deny(warnings)]

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum MyError {
    #[error("empty")]
    Empty,
    #[error(transparent)]
    Portal(#[from] syncportal::Error),
}

pub type Result<T> = std::result::Result<T, MyError>;

#[derive(Debug)]
pub struct Queue {
    items: Vec<u32>,
}

#[syncportal::facade]
impl Queue {
    pub async fn first(&self) -> Result<u32> {
        self.items.first().copied().ok_or(MyError::Empty)
    }

    pub async fn wait_forever(&self) -> Result<()> {
        std::future::pending().await
    }
}

/// Fails loudly instead of hanging if a timeout does not fire.
fn watchdog() {
    std::thread::spawn(|| {
        std::thread::sleep(std::time::Duration::from_secs(30));
        eprintln!("watchdog: still running after 30 s, so a timeout did not fire");
        std::process::exit(101);
    });
}

fn main() -> Result<()> {
    watchdog();
    let queue = SyncQueue::from_async(Queue { items: vec![4] });
    let first: Result<u32> = queue.first();
    assert_eq!(first?, 4);
    let empty = SyncQueue::from_async(Queue { items: Vec::new() });
    assert!(matches!(empty.first(), Err(MyError::Empty)));
    let waited = queue.with_timeout(Duration::from_millis(5)).wait_forever();
    assert!(matches!(waited, Err(MyError::Portal(e)) if e.is_timeout()));
    Ok(())
}
