use std::time::Duration;

pub struct Client;

#[syncportal::facade]
impl Client {
    pub async fn with_timeout(&self, timeout: Duration) -> u8 {
        let _ = timeout;
        1
    }
}

fn main() {}
