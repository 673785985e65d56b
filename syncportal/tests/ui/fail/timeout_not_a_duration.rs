pub struct Client;

#[syncportal::facade(timeout = "soon")]
impl Client {
    pub async fn get(&self) -> u8 {
        1
    }
}

fn main() {}
