//! Tcl quoting, proven against OpenOCD's real interpreter: every string comes back byte for
//! byte through `return` and through `set`.

mod common;

use common::{require_openocd, watchdog};
use syncportal_openocd::{SyncSession, tcl};

/// Strings that break naive quoting.
const NASTY: &[&str] = &[
    "",
    "plain",
    "two words",
    "  leading and trailing  ",
    "{braced}",
    "{",
    "}",
    "}{",
    "a{b}c}",
    "[pwd]",
    "$::env(HOME)",
    "$",
    "\"quoted\"",
    "\"",
    "back\\slash",
    "\\",
    "ends with backslash\\",
    "\\{",
    "{\\}",
    "line\nbreak",
    "backslash-newline\\\nnext",
    "tab\there",
    "cr\rhere",
    "semi;colon",
    "#comment",
    "{*}expand",
    "non-ASCII: é ∑ 😀 日本",
    "nul\0byte",
    "sub\u{1a}byte",
    "esc\u{1b}byte",
    "\u{1b}:",
    "del\u{7f}1",
    "\\x41\\101\\u0041",
    "octal\u{1}7",
];

#[test]
fn every_string_round_trips_through_the_interpreter() {
    require_openocd!();
    watchdog(30, || {
        let ocd = SyncSession::start(common::dummy()).expect("start openocd");
        for &text in NASTY {
            let word = tcl::quote(text);
            assert_eq!(ocd.call("return", &[text]).unwrap(), text, "return {word}");
            ocd.command(&format!("set ::roundtrip {word}")).unwrap();
            let length = ocd.command("string length $::roundtrip").unwrap();
            assert_eq!(length, text.len().to_string(), "byte length of {word}");
            // Several arguments at once stay one word each.
            let three = ocd.command(&format!("llength [{}]", tcl::command("list", &[text; 3])));
            assert_eq!(three.unwrap(), "3", "three words of {word}");
        }
        ocd.close().unwrap();
    });
}

#[test]
fn a_result_with_the_frame_byte_keeps_the_connection_in_step() {
    require_openocd!();
    watchdog(30, || {
        let ocd = SyncSession::start(common::dummy()).expect("start openocd");
        let framed = ocd.command("format %c%c%c 65 26 66").unwrap();
        assert_eq!(framed, "A\u{1a}B");
        assert_eq!(ocd.command("return next").unwrap(), "next");
        ocd.close().unwrap();
    });
}
