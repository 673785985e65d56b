pub struct Client;

#[syncportal::facade(name = BlockingClient)]
impl Client {
    pub async fn get(&self) -> u8 {
        1
    }
}

fn main() {}
