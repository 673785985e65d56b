use std::rc::Rc;

#[syncportal::offload]
fn length(items: Rc<Vec<u8>>) -> usize {
    items.len()
}

fn main() {}
