//! `Self::CONST` in a signature means the async type's constant on the twin too.

#![deny(warnings)]

#[derive(Debug)]
pub struct Frame;

#[syncportal::facade]
impl Frame {
    pub const N: usize = 2;

    pub async fn read(&self) -> [u8; Self::N] {
        [7; Self::N]
    }
}

fn main() {
    let frame = SyncFrame::from_async(Frame);
    assert_eq!(frame.read(), Ok([7, 7]));
}
