//! `async fn m() -> T` becomes `fn m() -> Result<T, syncportal::Error>`, `()` included.

#![deny(warnings)]

use std::time::Duration;

#[derive(Debug)]
pub struct Sensor {
    reading: f32,
}

#[syncportal::facade]
impl Sensor {
    pub async fn read(&self) -> f32 {
        self.reading
    }

    pub async fn calibrate(&self) {
        tokio::task::yield_now().await;
    }

    pub async fn hang(&self) -> Option<u8> {
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
    let sensor = SyncSensor::from_async(Sensor { reading: 1.5 });
    let read: Result<f32, syncportal::Error> = sensor.read();
    assert_eq!(read, Ok(1.5));
    let calibrated: Result<(), syncportal::Error> = sensor.calibrate();
    assert_eq!(calibrated, Ok(()));
    let hung: Result<Option<u8>, syncportal::Error> =
        sensor.with_timeout(Duration::from_millis(5)).hang();
    assert_eq!(hung, Err(syncportal::Error::Timeout));
}
