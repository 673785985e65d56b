pub struct Client;

#[syncportal::facade(colour = "red")]
impl Client {
    pub async fn get(&self) -> u8 {
        1
    }
}

fn main() {}
