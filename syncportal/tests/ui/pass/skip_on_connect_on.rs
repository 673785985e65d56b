//! A skipped (or private) `connect_on` is not on the twin, so the `connect_on(portal, ..)`
//! generated for an async `connect` does not collide with it.

#[derive(Debug)]
pub struct Client {
    port: u16,
}

#[syncportal::facade]
impl Client {
    pub async fn connect() -> Self {
        Client::connect_on(80)
    }

    #[facade(skip)]
    pub fn connect_on(port: u16) -> Self {
        Client { port }
    }

    pub async fn port(&self) -> u16 {
        self.port
    }
}

fn main() -> Result<(), syncportal::Error> {
    let client: SyncClient = SyncClient::connect_on(syncportal::Portal::global())?;
    assert_eq!(client.port()?, 80);
    assert_eq!(Client::connect_on(81).port, 81);
    Ok(())
}
