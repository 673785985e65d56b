#[syncportal::offload]
async fn already_async() -> u8 {
    1
}

fn main() {}
