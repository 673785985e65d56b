//! A type that borrows keeps its lifetime on the twin.

#![deny(warnings)]

#[derive(Debug)]
pub struct Reader<'a> {
    text: &'a str,
}

#[syncportal::facade]
impl<'a> Reader<'a> {
    pub async fn first_word(&self) -> &'a str {
        self.text.split(' ').next().unwrap_or_default()
    }

    pub fn text(&self) -> &'a str {
        self.text
    }
}

fn main() -> Result<(), syncportal::Error> {
    let text = String::from("hello world");
    let reader: SyncReader<'_> = SyncReader::from_async(Reader { text: &text });
    assert_eq!(reader.first_word()?, "hello");
    assert_eq!(reader.text(), "hello world");
    assert_eq!(
        reader
            .with_timeout(std::time::Duration::from_secs(5))
            .first_word()?,
        "hello"
    );
    Ok(())
}
