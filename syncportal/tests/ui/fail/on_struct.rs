// The attribute goes on the `impl` block, not on the type.
#[syncportal::facade]
pub struct Client {
    base: String,
}

fn main() {}
