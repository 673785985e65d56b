pub struct Client;

#[syncportal::facade]
impl Client {
    /// # Safety
    ///
    /// None needed; the shape is what matters.
    pub async unsafe fn raw(&self) -> u8 {
        1
    }
}

fn main() {}
