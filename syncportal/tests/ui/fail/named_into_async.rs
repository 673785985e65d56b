pub struct Client;

#[syncportal::facade]
impl Client {
    pub async fn into_async(self) -> u8 {
        1
    }
}

fn main() {}
