// The twin of an associated `async fn connect` also gets `connect_on(portal, ..)`.
pub struct Client;

#[syncportal::facade]
impl Client {
    pub async fn connect() -> Self {
        Client
    }

    pub fn connect_on(port: u16) -> Self {
        let _ = port;
        Client
    }
}

fn main() {}
