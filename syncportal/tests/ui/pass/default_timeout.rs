//! `#[facade(timeout = "5s")]` is the twin's starting timeout; `set_timeout` changes it.

#![deny(warnings)]

use std::time::Duration;

#[derive(Debug)]
pub struct Client;

#[syncportal::facade(timeout = "5s")]
impl Client {
    pub async fn slow(&self) -> u8 {
        std::future::pending().await
    }
}

#[derive(Debug)]
pub struct Fractional;

#[syncportal::facade(timeout = "1.5ms")]
impl Fractional {
    pub async fn get(&self) -> u8 {
        1
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
    let mut client = SyncClient::from_async(Client);
    assert_eq!(client.timeout(), Some(Duration::from_secs(5)));
    let portal = syncportal::Portal::builder()
        .worker_threads(1)
        .build()
        .expect("a small portal");
    assert_eq!(
        SyncClient::with_portal(Client, portal).timeout(),
        Some(Duration::from_secs(5))
    );

    client.set_timeout(Some(Duration::from_millis(5)));
    assert_eq!(client.timeout(), Some(Duration::from_millis(5)));
    assert_eq!(client.slow(), Err(syncportal::Error::Timeout));
    client.set_timeout(None);
    assert_eq!(client.timeout(), None);

    let fractional = SyncFractional::from_async(Fractional);
    assert_eq!(fractional.timeout(), Some(Duration::from_micros(1500)));
    assert_eq!(fractional.get(), Ok(1));
}
