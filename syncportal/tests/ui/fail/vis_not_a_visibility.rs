pub struct Client;

#[syncportal::facade(vis = "crate-only")]
impl Client {
    pub async fn get(&self) -> u8 {
        1
    }
}

fn main() {}
