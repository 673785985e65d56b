//! `with_timeout(d).method()` runs one call with another timeout and leaves the twin's alone;
//! `with_timeout_mut(d)` does the same for `&mut self` methods.

#![deny(warnings)]

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    #[error(transparent)]
    Portal(#[from] syncportal::Error),
}

#[derive(Debug)]
pub struct Client {
    bumps: u32,
}

#[syncportal::facade(timeout = "10s")]
impl Client {
    pub async fn sleep(&self, millis: u64) -> Result<u64, SdkError> {
        tokio::time::sleep(Duration::from_millis(millis)).await;
        Ok(millis)
    }

    pub async fn quick(&self) -> u8 {
        1
    }

    pub async fn bump(&mut self, millis: u64) -> u32 {
        tokio::time::sleep(Duration::from_millis(millis)).await;
        self.bumps += 1;
        self.bumps
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

fn main() {
    watchdog();
    let mut client = SyncClient::from_async(Client { bumps: 0 });
    let strict = client.with_timeout(Duration::from_millis(5));
    assert!(matches!(
        strict.sleep(10_000),
        Err(SdkError::Portal(e)) if e.is_timeout()
    ));
    assert_eq!(strict.quick(), Ok(1));
    // The view is Copy, and the twin keeps its own timeout.
    let again = strict;
    assert!(again.sleep(0).is_ok());
    assert_eq!(client.timeout(), Some(Duration::from_secs(10)));
    assert_eq!(client.sleep(1).unwrap(), 1);
    // A zero timeout polls once: ready work still finishes.
    assert_eq!(client.with_timeout(Duration::ZERO).quick(), Ok(1));
    // `&mut self` methods through the mutable view; a timed-out bump never happened.
    let mut hurried = client.with_timeout_mut(Duration::from_millis(5));
    assert_eq!(hurried.bump(10_000), Err(syncportal::Error::Timeout));
    assert_eq!(hurried.bump(0), Ok(1));
    assert_eq!(hurried.quick(), Ok(1));
    assert_eq!(client.bump(0), Ok(2));
}
