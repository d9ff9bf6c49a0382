//! View hygiene for language models: removing terminal escape sequences and
//! collapsing lines rewritten with carriage returns. These change what is
//! shown, never the stored output.

/// Removes terminal escape sequences: CSI (`ESC [ … final`, colours and
/// cursor movement), OSC (`ESC ] … BEL` or `ESC ] … ESC \`, titles and
/// links), other two-byte `ESC x` sequences, and the 8-bit CSI (`\u{9b}`).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '\u{1b}' => match chars.next() {
                Some('[') => skip_csi(&mut chars),
                Some(']' | 'P' | '_' | '^' | 'X') => skip_string(&mut chars),
                // Two-byte sequences (`ESC c`, `ESC =`, charset selection
                // takes one more byte).
                Some('(' | ')' | '*' | '+') => {
                    chars.next();
                }
                Some(_) | None => {}
            },
            '\u{9b}' => skip_csi(&mut chars),
            _ => out.push(ch),
        }
    }
    out
}

/// Skips a CSI body: parameter and intermediate bytes up to the final byte
/// (`@` to `~`).
fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for ch in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&ch) {
            return;
        }
    }
}

/// Skips a string sequence up to BEL or ST (`ESC \`).
fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(ch) = chars.next() {
        match ch {
            '\u{7}' | '\u{9c}' => return,
            '\u{1b}' if chars.peek() == Some(&'\\') => {
                chars.next();
                return;
            }
            _ => {}
        }
    }
}

/// Shows each line as a terminal would leave it after carriage returns
/// rewrote it (progress bars): only the text after the last `\r` that has
/// text after it. `\r\n` line endings become `\n`.
pub fn collapse_cr(text: &str) -> String {
    if !text.contains('\r') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    for (index, line) in text.split('\n').enumerate() {
        if index > 0 {
            out.push('\n');
        }
        let last = line
            .rsplit('\r')
            .find(|part| !part.is_empty())
            .unwrap_or("");
        out.push_str(last);
    }
    out
}

/// Applies the hygiene a request asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hygiene {
    /// Remove terminal escape sequences.
    pub strip_ansi: bool,
    /// Collapse carriage-return rewrites.
    pub collapse_cr: bool,
}

impl Hygiene {
    /// `text` cleaned as asked.
    pub fn apply(self, text: String) -> String {
        let text = if self.strip_ansi {
            strip_ansi(&text)
        } else {
            text
        };
        if self.collapse_cr {
            collapse_cr(&text)
        } else {
            text
        }
    }
}

/// Parses a size: a number of bytes, optionally followed by a unit (`B`,
/// `KB`/`K`, `KiB`, `MB`/`M`, `MiB`, `GB`/`G`, `GiB`; any case, spaces
/// allowed): `"64MiB"`, `"1 GiB"`, `"500KB"`, `"1024"`. `None` when it is not
/// one, or overflows.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1000 * 1000,
        "mib" => 1 << 20,
        "g" | "gb" => 1000 * 1000 * 1000,
        "gib" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(multiplier)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_accept_units_and_plain_numbers() {
        assert_eq!(parse_size("64MiB"), Some(64 << 20));
        assert_eq!(parse_size("1 GiB"), Some(1 << 30));
        assert_eq!(parse_size("500KB"), Some(500_000));
        assert_eq!(parse_size("1024"), Some(1024));
        assert_eq!(parse_size("2g"), Some(2_000_000_000));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("5 parsecs"), None);
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("99999999999999GiB"), None);
    }

    #[test]
    fn ansi_sequences_are_removed() {
        let cases = [
            ("\u{1b}[31merror\u{1b}[0m: x", "error: x"),
            ("\u{1b}[1;32m   Compiling\u{1b}[0m foo", "   Compiling foo"),
            ("a\u{1b}[2K\u{1b}[1Gb", "ab"),
            ("\u{1b}]0;title\u{7}text", "text"),
            ("\u{1b}]8;;http://x\u{1b}\\link\u{1b}]8;;\u{1b}\\", "link"),
            ("\u{1b}(Bplain", "plain"),
            ("\u{1b}=keypad", "keypad"),
            ("\u{9b}1mbold", "bold"),
            ("no escapes, ünïcode €", "no escapes, ünïcode €"),
            ("dangling \u{1b}[", "dangling "),
        ];
        for (input, expected) in cases {
            assert_eq!(strip_ansi(input), expected, "{input:?}");
        }
    }

    #[test]
    fn carriage_return_rewrites_collapse() {
        let cases = [
            ("10%\r20%\r30%\ndone\n", "30%\ndone\n"),
            ("line\r\nnext\r\n", "line\nnext\n"),
            ("50%\r60%", "60%"),
            ("abc\r", "abc"),
            ("no cr\nat all", "no cr\nat all"),
            ("\r\r\n", "\n"),
        ];
        for (input, expected) in cases {
            assert_eq!(collapse_cr(input), expected, "{input:?}");
        }
    }

    #[test]
    fn hygiene_applies_both_in_order() {
        let text = "\u{1b}[32m10%\u{1b}[0m\r\u{1b}[32m100%\u{1b}[0m\n".to_owned();
        let both = Hygiene {
            strip_ansi: true,
            collapse_cr: true,
        };
        assert_eq!(both.apply(text.clone()), "100%\n");
        assert_eq!(Hygiene::default().apply(text.clone()), text);
    }
}
