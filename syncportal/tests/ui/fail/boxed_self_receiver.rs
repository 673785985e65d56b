pub struct Client;

#[syncportal::facade]
impl Client {
    pub async fn close(self: Box<Self>) -> u8 {
        1
    }
}

fn main() {}
