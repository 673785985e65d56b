pub struct Client;

#[syncportal::facade]
impl Client {
    #[facade(blocking)]
    pub async fn get(&self) -> u8 {
        1
    }
}

fn main() {}
