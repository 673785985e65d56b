//! `#[cfg]` on a method applies to the twin's method too: a cfg'd-out method is not there.

#![deny(warnings)]

#[derive(Debug)]
pub struct Device;

#[syncportal::facade]
impl Device {
    #[cfg(all())]
    pub async fn present(&self) -> u8 {
        1
    }

    #[cfg(any())]
    pub async fn gone(&self) -> u8 {
        compile_error!("a cfg'd-out method must not be expanded")
    }
}

/// Answers `gone` only when the twin has no inherent `gone` (an inherent method would win).
trait Fallback {
    fn gone(&self) -> &'static str {
        "not on the twin"
    }
}

impl Fallback for SyncDevice {}

fn main() {
    let device = SyncDevice::from_async(Device);
    assert_eq!(device.present(), Ok(1));
    let gone: &str = device.gone();
    assert_eq!(gone, "not on the twin");
}
