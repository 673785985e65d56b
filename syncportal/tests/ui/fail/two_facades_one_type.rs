// One facade per type: the twin is a struct, so a second annotated impl defines it again.
pub struct Client;

#[syncportal::facade]
impl Client {
    pub async fn get(&self) -> u8 {
        1
    }
}

#[syncportal::facade]
impl Client {
    pub async fn put(&self, value: u8) {
        let _ = value;
    }
}

fn main() {}
