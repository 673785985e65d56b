#[syncportal::offload(name = "not a name")]
fn work() {}

fn main() {}
