#[syncportal::offload]
unsafe fn poke(address: usize) -> usize {
    address
}

fn main() {}
