// `iter` reads a stream; a `Vec` is not one.
pub struct Feed;

#[syncportal::facade]
impl Feed {
    #[facade(iter)]
    pub async fn numbers(&self) -> Vec<u32> {
        vec![1, 2]
    }
}

fn main() {}
