//! `#[facade(iter)]` reads a named stream type as a `BlockingIter` of its item.

#![deny(warnings)]

use std::pin::Pin;
use std::task::{Context, Poll};

use syncportal::BlockingIter;

/// Yields the letters of a word.
pub struct Letters {
    word: Vec<char>,
}

impl futures_core::Stream for Letters {
    type Item = char;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<char>> {
        if self.word.is_empty() {
            Poll::Ready(None)
        } else {
            Poll::Ready(Some(self.word.remove(0)))
        }
    }
}

#[derive(Debug)]
pub struct Speller;

#[syncportal::facade]
impl Speller {
    #[facade(iter)]
    pub async fn spell(&self, word: &str) -> Letters {
        Letters {
            word: word.chars().collect(),
        }
    }

    #[facade(iter)]
    pub async fn try_spell(&self, word: &str) -> std::io::Result<Letters> {
        Ok(Letters {
            word: word.chars().collect(),
        })
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let speller = SyncSpeller::from_async(Speller);
    let letters: BlockingIter<char> = speller.spell("abc")?;
    assert_eq!(letters.collect::<Result<String, _>>()?, "abc");
    let letters: BlockingIter<char> = speller.try_spell("de")?;
    assert_eq!(letters.collect::<Result<String, _>>()?, "de");
    Ok(())
}
