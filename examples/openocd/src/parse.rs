//! Small parsers shared by the subsystems: numbers as OpenOCD prints them.

use crate::{Error, Result};

/// Parses `0x`-prefixed hex or plain decimal, as OpenOCD prints numbers.
pub(crate) fn number(what: &'static str, text: &str) -> Result<u128> {
    let text = text.trim();
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u128::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|_| Error::parse(what, text))
}

/// Like [`number`], for values that must fit in 64 bits.
pub(crate) fn u64_number(what: &'static str, text: &str) -> Result<u64> {
    u64::try_from(number(what, text)?).map_err(|_| Error::parse(what, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(number("n", "0x1A").unwrap(), 26);
        assert_eq!(number("n", " 42 ").unwrap(), 42);
        assert!(number("n", "0xzz").is_err());
        assert!(u64_number("n", "0x10000000000000000").is_err());
    }
}
