pub struct Client;

#[syncportal::facade]
impl Client {
    #[facade(skip)]
    pub const PORT: u16 = 80;

    pub async fn get(&self) -> u8 {
        1
    }
}

fn main() {}
