// Method options are written `#[facade(skip)]`; the full path runs the macro again, on a method.
pub struct Client;

#[syncportal::facade]
impl Client {
    #[syncportal::facade(skip)]
    pub async fn raw(&self) -> u8 {
        1
    }
}

fn main() {}
