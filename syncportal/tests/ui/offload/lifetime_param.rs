#[syncportal::offload]
fn pick<'a>(items: Vec<String>) -> usize {
    items.len()
}

fn main() {}
