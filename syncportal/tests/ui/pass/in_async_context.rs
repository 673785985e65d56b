//! Calling a twin from async code is refused with `InAsyncContext`, through the method's own
//! error type, before anything is scheduled.

#![deny(warnings)]

#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    #[error(transparent)]
    Portal(#[from] syncportal::Error),
}

#[derive(Debug)]
pub struct Client;

#[syncportal::facade]
impl Client {
    pub async fn get(&self) -> Result<u8, SdkError> {
        Ok(1)
    }

    pub async fn count(&self) -> usize {
        1
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let client = SyncClient::from_async(Client);
    assert!(matches!(client.get(), Err(SdkError::Portal(e)) if e.is_in_async_context()));
    assert_eq!(client.count(), Err(syncportal::Error::InAsyncContext));
    // The async type is the one to use here.
    assert_eq!(client.as_async().count().await, 1);
}
