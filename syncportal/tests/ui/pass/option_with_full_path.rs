//! Method options may also be written with the macro's full path: `#[syncportal::facade(skip)]`.
#![deny(warnings)]

pub struct Client;

#[syncportal::facade]
impl Client {
    #[syncportal::facade(skip)]
    pub async fn raw(&self) -> u8 {
        1
    }

    pub async fn cooked(&self) -> u8 {
        2
    }
}

trait Fallback {
    fn raw(&self) -> &'static str {
        "skipped"
    }
}

impl Fallback for SyncClient {}

fn main() {
    let client = SyncClient::from_async(Client);
    assert_eq!(client.raw(), "skipped");
    assert_eq!(client.cooked(), Ok(2));
}
