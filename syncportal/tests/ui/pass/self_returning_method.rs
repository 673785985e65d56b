//! A method returning `Self` (a builder-style setter) works on the twin and on its timeout
//! views, where it returns the twin.

use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Flash {
    chunk: usize,
}

#[syncportal::facade]
impl Flash {
    pub async fn open() -> Result<Self, syncportal::Error> {
        Ok(Flash { chunk: 64 })
    }

    /// A copy with another chunk size.
    pub fn with_chunk_size(&self, chunk: usize) -> Self {
        Flash { chunk }
    }

    /// The same, reached asynchronously.
    pub async fn reopened(&self) -> Self {
        self.clone()
    }

    pub async fn chunk(&self) -> usize {
        self.chunk
    }
}

fn main() {
    let flash = SyncFlash::open().unwrap();
    let small: SyncFlash = flash.with_chunk_size(8);
    assert_eq!(small.chunk().unwrap(), 8);
    let viewed: SyncFlash = flash.with_timeout(Duration::from_secs(5)).with_chunk_size(16);
    assert_eq!(viewed.chunk().unwrap(), 16);
    let again: SyncFlash = flash.with_timeout(Duration::from_secs(5)).reopened().unwrap();
    assert_eq!(again.chunk().unwrap(), 64);
}
