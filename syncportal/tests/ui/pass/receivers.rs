//! `&self`, `&mut self`, `self` (also `mut self`) and the typed `self: &Self`,
//! `self: &mut Self`, `self: Self` receivers are mirrored.

#![deny(warnings)]

#[derive(Debug)]
pub struct Counter {
    count: u32,
}

#[syncportal::facade]
impl Counter {
    pub async fn get(&self) -> u32 {
        tokio::task::yield_now().await;
        self.count
    }

    pub async fn bump(&mut self, by: u32) -> u32 {
        tokio::task::yield_now().await;
        self.count += by;
        self.count
    }

    pub async fn finish(self) -> String {
        tokio::task::yield_now().await;
        format!("done at {}", self.count)
    }

    pub async fn double(mut self) -> u32 {
        self.count *= 2;
        self.count
    }

    pub async fn typed_ref(self: &Self) -> u32 {
        self.count + 1
    }

    pub async fn typed_value(self: Self) -> u32 {
        self.count + 2
    }

    pub async fn typed_bump(self: &mut Self) -> u32 {
        self.count += 1;
        self.count
    }
}

fn main() -> Result<(), syncportal::Error> {
    let mut counter = SyncCounter::from_async(Counter { count: 2 });
    assert_eq!(counter.typed_bump()?, 3);
    assert_eq!(counter.get()?, 3);
    assert_eq!(counter.typed_ref()?, 4);
    assert_eq!(counter.bump(2)?, 5);
    assert_eq!(counter.as_async().count, 5);
    counter.as_async_mut().count = 3;
    assert_eq!(counter.finish()?, "done at 3");

    assert_eq!(SyncCounter::from_async(Counter { count: 4 }).double()?, 8);
    assert_eq!(
        SyncCounter::from_async(Counter { count: 4 }).typed_value()?,
        6
    );
    Ok(())
}
