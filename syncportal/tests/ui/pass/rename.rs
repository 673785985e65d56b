//! `#[facade(name = "BlockingClient")]` names the twin (and its timeout view).

#![deny(warnings)]

#[derive(Debug)]
pub struct Client;

#[syncportal::facade(name = "BlockingClient")]
impl Client {
    pub async fn ping(&self) -> &'static str {
        "pong"
    }
}

fn main() {
    let client: BlockingClient = BlockingClient::from_async(Client);
    assert_eq!(client.ping(), Ok("pong"));
    let view: BlockingClientWithTimeout<'_> =
        client.with_timeout(std::time::Duration::from_secs(1));
    assert_eq!(view.ping(), Ok("pong"));
}
