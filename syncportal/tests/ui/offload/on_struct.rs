#[syncportal::offload]
struct NotAFunction;

fn main() {}
