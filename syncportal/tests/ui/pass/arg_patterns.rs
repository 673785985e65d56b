//! Argument patterns (tuples, `mut`, `_`) and an argument named `portal` are accepted.

#![deny(warnings)]

#[derive(Debug)]
pub struct Math;

#[syncportal::facade]
impl Math {
    pub async fn add(&self, (a, b): (u8, u8)) -> u8 {
        a + b
    }

    pub async fn countdown(&self, mut x: u32) -> u32 {
        while x > 3 {
            x -= 1;
        }
        x
    }

    pub async fn ignore(&self, _: u8, _unused: &str) -> u8 {
        0
    }

    pub async fn build(portal: u16, Wrapper(inner): Wrapper) -> u16 {
        portal + inner
    }

    pub fn plain(&self, (a, b): (u8, u8), mut c: u8) -> u8 {
        c += a * b;
        c
    }
}

#[derive(Debug)]
pub struct Wrapper(pub u16);

fn main() -> Result<(), syncportal::Error> {
    let math = SyncMath::from_async(Math);
    assert_eq!(math.add((2, 3))?, 5);
    assert_eq!(math.countdown(10)?, 3);
    assert_eq!(math.ignore(1, "x")?, 0);
    assert_eq!(SyncMath::build(1, Wrapper(2))?, 3);
    let portal = syncportal::Portal::global();
    assert_eq!(SyncMath::build_on(portal, 4, Wrapper(5))?, 9);
    assert_eq!(math.plain((2, 3), 1), 7);
    Ok(())
}
