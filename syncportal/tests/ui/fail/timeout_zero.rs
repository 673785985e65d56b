// A zero default would make every call time out before it starts.
pub struct Client;

#[syncportal::facade(timeout = "0s")]
impl Client {
    pub async fn get(&self) -> u8 {
        1
    }
}

fn main() {}
