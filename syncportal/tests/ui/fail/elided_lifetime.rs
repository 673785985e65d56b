//! `impl Reader<'_>`: the twin is a struct, which needs its lifetimes named.

#[derive(Debug)]
pub struct Reader<'a> {
    text: &'a str,
}

#[syncportal::facade]
impl Reader<'_> {
    pub async fn len(&self) -> usize {
        self.text.len()
    }
}

fn main() {}
