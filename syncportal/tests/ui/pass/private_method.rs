//! Private methods are left out of the twin (and stay usable by the others); methods with a
//! restricted visibility such as `pub(crate)` are mirrored with that visibility.

#![deny(warnings)]

#[derive(Debug)]
pub struct Client {
    secret: u8,
}

#[syncportal::facade]
impl Client {
    pub async fn public(&self) -> u8 {
        self.helper().await + self.plain_helper()
    }

    async fn helper(&self) -> u8 {
        self.secret
    }

    fn plain_helper(&self) -> u8 {
        self.secret * 10
    }

    pub(crate) async fn crate_visible(&self) -> u8 {
        self.secret * 100
    }
}

/// Answers only where the twin has no inherent method of the name (which would win).
trait Fallback {
    fn helper(&self) -> &'static str {
        "not on the twin"
    }
    fn plain_helper(&self) -> &'static str {
        "not on the twin"
    }
}

impl Fallback for SyncClient {}

fn main() {
    let client = SyncClient::from_async(Client { secret: 1 });
    assert_eq!(client.public(), Ok(11));
    assert_eq!(client.crate_visible(), Ok(100));
    assert_eq!(client.helper(), "not on the twin");
    assert_eq!(client.plain_helper(), "not on the twin");
}
