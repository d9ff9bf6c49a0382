//! Go's `%q` (`strconv.Quote`) for the strings Coder's messages quote, such
//! as `Process "<id>" not found.`

use std::fmt::Write as _;

/// Quotes `bytes` as Go's `strconv.Quote` does: a double-quoted string with
/// Go escapes; invalid UTF-8 bytes become `\xNN`.
///
/// Go decides what is printable with full Unicode tables; this follows it for
/// ASCII, Latin-1, the common format and separator characters and private
/// use, and treats other code points as printable.
pub fn go_quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for ch in chunk.valid().chars() {
            push_escaped(&mut out, ch);
        }
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    out.push('"');
    out
}

/// [`go_quote`] for a string.
pub fn go_quote_str(text: &str) -> String {
    go_quote(text.as_bytes())
}

fn push_escaped(out: &mut String, ch: char) {
    match ch {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        ch if is_print(ch) => out.push(ch),
        ch if (ch as u32) < 0x20 || ch == '\u{7f}' => {
            let _ = write!(out, "\\x{:02x}", ch as u32);
        }
        ch if (ch as u32) < 0x10000 => {
            let _ = write!(out, "\\u{:04x}", ch as u32);
        }
        ch => {
            let _ = write!(out, "\\U{:08x}", ch as u32);
        }
    }
}

/// Go's `strconv.IsPrint`, approximately (see [`go_quote`]).
fn is_print(ch: char) -> bool {
    let c = ch as u32;
    if c < 0x7f {
        return c >= 0x20;
    }
    !matches!(c,
        0x7f..=0xa0 // DEL, C1 controls, no-break space
        | 0xad // soft hyphen
        | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x180e
        | 0x1680 | 0x2000..=0x200f | 0x2028..=0x202f | 0x205f..=0x2064 | 0x2066..=0x206f
        | 0x3000 | 0xd800..=0xdfff | 0xe000..=0xf8ff | 0xfeff | 0xfff9..=0xfffb
        | 0xe0001 | 0xe0020..=0xe007f | 0xf0000..=0x10ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_go() {
        let cases: &[(&[u8], &str)] = &[
            (b"abc", r#""abc""#),
            (b"", r#""""#),
            (b"a\"b\\c", r#""a\"b\\c""#),
            (b"tab\there\nnl", r#""tab\there\nnl""#),
            (b"\x07\x08\x0c\r\x0b", r#""\a\b\f\r\v""#),
            (b"\x00\x1b\x7f", r#""\x00\x1b\x7f""#),
            (b"\xff\xfe", r#""\xff\xfe""#),
            ("héllo €".as_bytes(), "\"héllo €\""),
            ("zero\u{200b}width".as_bytes(), r#""zero\u200bwidth""#),
            ("nb\u{a0}sp".as_bytes(), r#""nb\u00a0sp""#),
            ("\u{f0000}".as_bytes(), r#""\U000f0000""#),
            ("😀".as_bytes(), "\"😀\""),
        ];
        for (input, expected) in cases {
            assert_eq!(go_quote(input), *expected, "{input:?}");
        }
    }
}
