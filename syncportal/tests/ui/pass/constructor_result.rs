//! An async constructor returning `Result<Self, E>` gives the twin, on the global portal or on
//! the one passed to the generated `_on` variant.

#![deny(warnings)]

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    #[error("refused: {0}")]
    Refused(String),
    #[error(transparent)]
    Portal(#[from] syncportal::Error),
}

#[derive(Debug)]
pub struct Client {
    base: String,
}

#[syncportal::facade]
impl Client {
    /// Connects to `base`.
    pub async fn connect(base: &str) -> Result<Self, SdkError> {
        tokio::task::yield_now().await;
        if base.is_empty() {
            return Err(SdkError::Refused("empty address".to_owned()));
        }
        Ok(Client {
            base: base.to_owned(),
        })
    }

    pub async fn base(&self) -> Result<String, SdkError> {
        Ok(self.base.clone())
    }
}

fn main() -> Result<(), SdkError> {
    let client: SyncClient = SyncClient::connect("mem://a")?;
    assert_eq!(client.base()?, "mem://a");
    assert!(matches!(SyncClient::connect(""), Err(SdkError::Refused(_))));

    let portal = syncportal::Portal::builder()
        .worker_threads(1)
        .build()
        .expect("a small portal");
    let client = SyncClient::connect_on(&portal, "mem://b")?;
    assert_eq!(client.base()?, "mem://b");

    // The twin stays on that portal, and its errors arrive through the SDK's error type.
    portal.shutdown(Duration::from_secs(1))?;
    assert!(matches!(client.base(), Err(SdkError::Portal(e)) if e.is_closed()));
    let closed = SyncClient::connect_on(&portal, "mem://c");
    assert!(matches!(closed, Err(SdkError::Portal(e)) if e.is_closed()));
    Ok(())
}
