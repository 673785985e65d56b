//! `SyncFoo` is `Send`, `Sync`, `Clone` and `Debug` exactly when `Foo` is.

#![deny(warnings)]

use std::rc::Rc;

use static_assertions::{assert_impl_all, assert_not_impl_any};

#[derive(Clone, Debug)]
pub struct Everything {
    name: String,
}

#[syncportal::facade]
impl Everything {
    pub async fn name(&self) -> String {
        self.name.clone()
    }
}

/// Not `Send`, not `Sync` (the `Rc`), not `Clone`, not `Debug`.
pub struct Nothing {
    shared: Rc<()>,
}

#[syncportal::facade]
impl Nothing {
    pub fn holders(&self) -> usize {
        Rc::strong_count(&self.shared)
    }
}

/// Each of the four exactly when `T` has it.
#[derive(Clone, Debug)]
pub struct Holder<T> {
    value: T,
}

#[syncportal::facade]
impl<T: Send> Holder<T> {
    pub fn get(&self) -> &T {
        &self.value
    }
}

/// `Send` but not `Sync`, `Clone` or `Debug`.
pub struct Unshared(std::cell::Cell<u8>);

assert_impl_all!(Everything: Send, Sync, Clone, std::fmt::Debug);
assert_impl_all!(SyncEverything: Send, Sync, Clone, std::fmt::Debug);
assert_impl_all!(SyncEverythingWithTimeout<'static>: Send, Sync, Clone, Copy, std::fmt::Debug);

assert_not_impl_any!(Nothing: Send, Sync, Clone, std::fmt::Debug);
assert_not_impl_any!(SyncNothing: Send, Sync, Clone, std::fmt::Debug);

assert_impl_all!(SyncHolder<u8>: Send, Sync, Clone, std::fmt::Debug);
assert_impl_all!(Unshared: Send);
assert_not_impl_any!(Unshared: Sync, Clone, std::fmt::Debug);
assert_impl_all!(SyncHolder<Unshared>: Send);
assert_not_impl_any!(SyncHolder<Unshared>: Sync, Clone, std::fmt::Debug);

fn main() {
    let everything = SyncEverything::from_async(Everything {
        name: "e".to_owned(),
    });
    let copy = everything.clone();
    std::thread::spawn(move || assert_eq!(copy.name(), Ok("e".to_owned())))
        .join()
        .expect("the thread finishes");
    assert!(format!("{everything:?}").starts_with("SyncEverything { inner: Everything"));

    let nothing = SyncNothing::from_async(Nothing {
        shared: Rc::new(()),
    });
    assert_eq!(nothing.holders(), 1);

    let holder = SyncHolder::from_async(Holder { value: 1_u8 });
    assert_eq!(*holder.clone().get(), 1);
    let unshared = SyncHolder::from_async(Holder {
        value: Unshared(std::cell::Cell::new(2)),
    });
    assert_eq!(unshared.get().0.get(), 2);
}
