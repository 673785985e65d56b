#[syncportal::offload(threads = 4)]
fn work() {}

fn main() {}
