//! `#[facade(skip)]` leaves a method out of the twin; it stays on the async type.

#![deny(warnings)]

#[derive(Debug)]
pub struct Client;

#[syncportal::facade]
impl Client {
    pub async fn kept(&self) -> u8 {
        1
    }

    #[facade(skip)]
    pub async fn skipped(&self) -> u8 {
        2
    }

    /// Would be refused without `skip`: the receiver has no blocking twin.
    #[facade(skip)]
    pub async fn boxed(self: Box<Self>) -> u8 {
        3
    }
}

trait Fallback {
    fn skipped(&self) -> &'static str {
        "not on the twin"
    }
}

impl Fallback for SyncClient {}

fn main() {
    let client = SyncClient::from_async(Client);
    assert_eq!(client.kept(), Ok(1));
    let skipped: &str = client.skipped();
    assert_eq!(skipped, "not on the twin");
    // Still reachable through the async type.
    let portal = client.portal().clone();
    assert_eq!(portal.call(client.as_async().skipped()), Ok(2));
    assert_eq!(portal.call(Box::new(Client).boxed()), Ok(3));
}
