//! Generics on the type, with bounds or a where clause, carry over to the twin.

#![deny(warnings)]

#[derive(Clone, Debug)]
pub struct Cache<T> {
    value: T,
}

#[syncportal::facade]
impl<T: Clone + Send> Cache<T> {
    pub async fn get(&self) -> T {
        self.value.clone()
    }

    pub async fn replace(self, value: T) -> Cache<T> {
        Cache { value }
    }

    pub fn peek(&self) -> &T {
        &self.value
    }
}

#[derive(Debug)]
pub struct Pair<A, B> {
    a: A,
    b: B,
}

#[syncportal::facade]
impl<A, B> Pair<A, B>
where
    A: Copy + Send + Sync + std::ops::Add<Output = A>,
    B: Send + Sync,
{
    pub async fn new(a: A, b: B) -> Self {
        Pair { a, b }
    }

    pub async fn double(&self) -> A {
        self.a + self.a
    }

    pub fn second(&self) -> &B {
        &self.b
    }
}

fn main() -> Result<(), syncportal::Error> {
    let cache: SyncCache<String> = SyncCache::from_async(Cache {
        value: "a".to_owned(),
    });
    assert_eq!(cache.get()?, "a");
    assert_eq!(cache.peek(), "a");
    let copy: SyncCache<String> = cache.clone();
    let replaced: Cache<String> = copy.replace("b".to_owned())?;
    assert_eq!(replaced.value, "b");

    let numbers = SyncCache::from_async(Cache { value: 3_u64 });
    assert_eq!(numbers.get()?, 3);

    let pair: SyncPair<u8, &str> = SyncPair::new(2, "b")?;
    assert_eq!(pair.double()?, 4);
    assert_eq!(*pair.second(), "b");
    Ok(())
}
