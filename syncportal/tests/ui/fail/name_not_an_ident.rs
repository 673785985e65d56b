pub struct Client;

#[syncportal::facade(name = "not an ident")]
impl Client {
    pub async fn get(&self) -> u8 {
        1
    }
}

fn main() {}
