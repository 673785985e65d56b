// A free function has no type to mirror.
#[syncportal::facade]
pub async fn fetch(key: &str) -> String {
    key.to_owned()
}

fn main() {}
