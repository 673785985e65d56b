//! `io::Result<T>` keeps its type: `std::io::Error` already converts from `syncportal::Error`.

#![deny(warnings)]

use std::io;
use std::time::Duration;

#[derive(Debug)]
pub struct File {
    bytes: Vec<u8>,
}

#[syncportal::facade]
impl File {
    pub async fn read(&self) -> io::Result<Vec<u8>> {
        Ok(self.bytes.clone())
    }

    pub async fn missing(&self) -> std::io::Result<()> {
        Err(io::Error::new(io::ErrorKind::NotFound, "no such file"))
    }

    pub async fn stuck(&self) -> io::Result<u8> {
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

fn main() {
    watchdog();
    let file = SyncFile::from_async(File { bytes: vec![7] });
    let read: io::Result<Vec<u8>> = file.read();
    assert_eq!(read.unwrap(), [7]);
    assert_eq!(file.missing().unwrap_err().kind(), io::ErrorKind::NotFound);
    let stuck: io::Result<u8> = file.with_timeout(Duration::from_millis(5)).stuck();
    assert_eq!(stuck.unwrap_err().kind(), io::ErrorKind::TimedOut);
}
