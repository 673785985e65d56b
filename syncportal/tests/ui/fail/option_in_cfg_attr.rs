// A method option behind `cfg_attr` is not seen by the macro, so `facade` stays unresolved.
pub struct Client;

#[syncportal::facade]
impl Client {
    #[cfg_attr(all(), facade(skip))]
    pub async fn raw(&self) -> u8 {
        1
    }
}

fn main() {}
