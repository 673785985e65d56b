//! `#[facade(vis = "pub(crate)")]` gives the twin (and its view) a restricted visibility, for
//! a crate-private async type.

#![deny(warnings)]

mod sdk {
    #[derive(Debug)]
    pub(crate) struct Client {
        pub(crate) id: u8,
    }

    #[syncportal::facade(vis = "pub(crate)")]
    impl Client {
        pub(crate) async fn id(&self) -> u8 {
            self.id
        }
    }
}

fn main() {
    let client: sdk::SyncClient = sdk::SyncClient::from_async(sdk::Client { id: 4 });
    assert_eq!(client.id(), Ok(4));
    let view: sdk::SyncClientWithTimeout<'_> =
        client.with_timeout(std::time::Duration::from_secs(1));
    assert_eq!(view.id(), Ok(4));
}
