//! Tcl quoting: turning any string into one Tcl word that OpenOCD's interpreter reads back
//! byte for byte.
//!
//! OpenOCD's interpreter (Jim Tcl) splits a command into words and substitutes `$var`,
//! `[cmd]` and backslash sequences inside them. An argument the SDK passes (a file name, a
//! register name, a string for `return`) must come out of that process unchanged, whatever it
//! contains. [`quote`] picks the lightest form that does this:
//!
//! 1. a bare word, when every byte is plain (letters, digits, `_-./:,+=@%^!~*?<>&|'` and
//!    non-ASCII);
//! 2. a brace-quoted word `{...}`, when the text has no backslash, no NUL or `0x1a` byte and its
//!    braces balance, since nothing is substituted inside braces;
//! 3. otherwise, a bare word with every special byte backslash-escaped, and control bytes
//!    written as three-digit octal escapes (`\000`, `\032`), which no following digit can
//!    extend.
//!
//! The `0x1a` byte frames OpenOCD's TCL-RPC messages, so it is never written raw; NUL is never
//! written raw either, since OpenOCD reads each command as a C string.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Quotes `text` as one Tcl word that OpenOCD's interpreter reads back as exactly `text`.
///
/// # Examples
///
/// ```
/// use syncportal_openocd::tcl::quote;
///
/// assert_eq!(quote("chip.cpu"), "chip.cpu");
/// assert_eq!(quote(""), "{}");
/// assert_eq!(quote("two words"), "{two words}");
/// assert_eq!(quote("$HOME [pwd]"), "{$HOME [pwd]}");
/// assert_eq!(quote("a\\b"), "a\\\\b");
/// assert_eq!(quote("unbalanced {"), "unbalanced\\ \\{");
/// ```
#[must_use]
pub fn quote(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return Cow::Borrowed("{}");
    }
    if bytes.iter().all(|&b| is_plain(b)) {
        return Cow::Borrowed(text);
    }
    if brace_safe(bytes) {
        return Cow::Owned(format!("{{{text}}}"));
    }
    let mut out = String::with_capacity(text.len() * 2);
    for ch in text.chars() {
        match ch {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\\' | '{' | '}' | '[' | ']' | '$' | '"' | ';' | ' ' | '#' => {
                out.push('\\');
                out.push(ch);
            }
            c if c.is_ascii_control() => {
                // Three octal digits: the escape can never swallow a following digit.
                let _ = write!(out, "\\{:03o}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Joins a command name and its arguments into one Tcl command, quoting every argument.
///
/// # Examples
///
/// ```
/// use syncportal_openocd::tcl::command;
///
/// assert_eq!(command("program", &["my fw.elf", "verify"]), "program {my fw.elf} verify");
/// ```
#[must_use]
pub fn command(name: &str, args: &[&str]) -> String {
    let mut out = String::from(name);
    for arg in args {
        out.push(' ');
        out.push_str(&quote(arg));
    }
    out
}

/// Bytes that need no quoting at all in a Tcl word.
fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_-./:,+=@%^!~*?<>&|'".contains(&b) || b >= 0x80
}

/// Whether `{text}` reads back as `text`: no backslash (which braces keep but which would also
/// hide a brace from the count), no bytes that must never be sent raw, balanced braces.
fn brace_safe(bytes: &[u8]) -> bool {
    let mut depth = 0usize;
    for &b in bytes {
        match b {
            b'\\' | 0 | 0x1a => return false,
            b'{' => depth += 1,
            b'}' => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            _ => {}
        }
    }
    depth == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(quote("abc"), "abc");
        assert_eq!(quote("é"), "é");
        assert_eq!(quote("{a}"), "{{a}}");
        assert_eq!(quote("}{"), "\\}\\{");
        assert_eq!(quote("\u{1a}"), "\\032");
        assert_eq!(quote("\0"), "\\000");
        assert_eq!(quote("a\nb"), "{a\nb}");
        assert_eq!(quote("a\\\nb"), "a\\\\\\nb");
        assert_eq!(quote("#x"), "{#x}");
        assert_eq!(quote("\u{7f}1"), "{\u{7f}1}");
        assert_eq!(quote("\\\u{7f}1"), "\\\\\\1771");
    }
}
