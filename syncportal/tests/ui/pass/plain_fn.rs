//! Plain `pub fn`s forward to the async type without blocking, with their own output.

#![deny(warnings)]

#[derive(Debug)]
pub struct Client {
    base: String,
    hits: u32,
}

#[syncportal::facade]
impl Client {
    pub fn new(base: &str) -> Self {
        Client {
            base: base.to_owned(),
            hits: 0,
        }
    }

    pub fn try_new(base: &str) -> Result<Self, String> {
        if base.is_empty() {
            Err("empty".to_owned())
        } else {
            Ok(Self::new(base))
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn version() -> u32 {
        2
    }

    pub fn split(&self) -> (String, u32) {
        (self.base.clone(), self.hits)
    }

    pub fn same(&self, other: &Self) -> bool {
        self.base == other.base
    }

    pub async fn hits(&self) -> u32 {
        self.hits
    }
}

fn main() {
    let client: SyncClient = SyncClient::new("mem://a");
    assert_eq!(client.base(), "mem://a");
    assert_eq!(SyncClient::version(), 2);
    assert_eq!(client.split(), ("mem://a".to_owned(), 0));
    assert!(client.same(&Client::new("mem://a")));
    let tried: Result<SyncClient, String> = SyncClient::try_new("mem://b");
    assert_eq!(tried.unwrap().base(), "mem://b");
    assert!(SyncClient::try_new("").is_err());
    assert_eq!(client.hits(), Ok(0));
}
