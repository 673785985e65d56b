// Trait methods are not mirrored: the attribute goes on the inherent `impl Client`.
pub trait Fetch {
    fn fetch(&self) -> u8;
}

pub struct Client;

#[syncportal::facade]
impl Fetch for Client {
    fn fetch(&self) -> u8 {
        1
    }
}

fn main() {}
