//! An async constructor returning `Self` gives `Result<SyncFoo, syncportal::Error>`, with an
//! `_on` variant; a plain `pub fn` returning `Self` gives the twin directly.

#![deny(warnings)]

use std::time::Duration;

#[derive(Debug, Default)]
pub struct Store {
    items: Vec<u8>,
}

#[syncportal::facade]
impl Store {
    pub async fn open() -> Self {
        tokio::time::sleep(Duration::from_millis(1)).await;
        Store { items: vec![1, 2] }
    }

    pub fn empty() -> Self {
        Store::default()
    }

    pub async fn len(&self) -> usize {
        self.items.len()
    }
}

fn main() -> Result<(), syncportal::Error> {
    let store: SyncStore = SyncStore::open()?;
    assert_eq!(store.len()?, 2);

    let portal = syncportal::Portal::builder()
        .worker_threads(1)
        .build()
        .expect("a small portal");
    let store: SyncStore = SyncStore::open_on(&portal)?;
    assert_eq!(store.len()?, 2);

    let empty: SyncStore = SyncStore::empty();
    assert_eq!(empty.len()?, 0);
    Ok(())
}
