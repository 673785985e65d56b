//! Method generics, `impl Trait` arguments and where clauses are kept as written.

#![deny(warnings)]

use std::fmt::Display;

#[derive(Debug)]
pub struct Printer {
    prefix: String,
}

#[syncportal::facade]
impl Printer {
    pub async fn show<T: Display + Send>(&self, value: T) -> String {
        format!("{}{value}", self.prefix)
    }

    pub async fn show_all(&self, values: impl IntoIterator<Item = u8> + Send) -> String {
        let parts: Vec<String> = values.into_iter().map(|v| v.to_string()).collect();
        format!("{}{}", self.prefix, parts.join(","))
    }

    pub async fn parse<T>(&self, text: &str) -> Option<T>
    where
        T: std::str::FromStr,
    {
        text.parse().ok()
    }

    pub async fn repeat<const N: usize>(&self) -> [u8; N] {
        [1; N]
    }

    pub async fn longest<'s>(&self, a: &'s str, b: &'s str) -> &'s str {
        if a.len() >= b.len() { a } else { b }
    }
}

fn main() -> Result<(), syncportal::Error> {
    let printer = SyncPrinter::from_async(Printer {
        prefix: "> ".to_owned(),
    });
    assert_eq!(printer.show(5)?, "> 5");
    assert_eq!(printer.show("x")?, "> x");
    assert_eq!(printer.show_all([1, 2])?, "> 1,2");
    assert_eq!(printer.parse::<u16>("42")?, Some(42));
    assert_eq!(printer.parse::<u16>("x")?, None);
    assert_eq!(printer.repeat::<3>()?, [1, 1, 1]);
    assert_eq!(printer.longest("ab", "abc")?, "abc");
    let view = printer.with_timeout(std::time::Duration::from_secs(5));
    assert_eq!(view.parse::<i8>("-1")?, Some(-1));
    assert_eq!(view.show_all(vec![3])?, "> 3");
    Ok(())
}
