//! Line shapes for folding noise: a line reduced to hashes of its words,
//! with every number (any run of letters and digits that holds a digit:
//! versions, hashes, timestamps, sizes) and every path made alike.
//!
//! Two lines are *similar* when their shapes have the same number of words,
//! the same first word and indentation, and differ in at most
//! `1 + words / 4` other words (`Compiling foo v1.2.3` and
//! `Compiling serde v1.0.200`; `test a::b ... ok` and `test a::c ... ok`).

/// Words hashed separately; the rest of a longer line shares the last slot.
const SLOTS: usize = 12;

/// A line's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    words: u16,
    slots: [u64; SLOTS],
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
/// The hash every path-like word gets.
const PATH: u64 = 0x9e37_79b9_7f4a_7c15;

fn fnv(hash: u64, byte: u8) -> u64 {
    (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
}

/// Stands for a run of letters and digits that holds a digit.
const NUMBER: u64 = 0x2545_f491_4f6c_dd1d;

fn mix(hash: u64, value: u64) -> u64 {
    (hash ^ value).wrapping_mul(FNV_PRIME).rotate_left(29)
}

impl Shape {
    /// The shape of `text`: one pass over its bytes. A word's hash mixes its
    /// punctuation with its runs of letters and digits, each run hashed
    /// whole, or as [`NUMBER`] when it holds a digit; a word holding `/` or
    /// `\\` is a path, all alike.
    pub(crate) fn of(text: &str) -> Self {
        let bytes = text.as_bytes();
        let len = bytes.len();
        let indent = bytes
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        let mut slots = [0u64; SLOTS];
        let mut words = 0usize;
        let mut i = indent;
        loop {
            while i < len && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if i >= len {
                break;
            }
            let mut hash = FNV_OFFSET;
            let mut path = false;
            let mut run = FNV_OFFSET;
            let mut in_run = false;
            let mut digit = false;
            while i < len {
                let b = bytes[i];
                if b.is_ascii_whitespace() {
                    break;
                }
                if b.is_ascii_alphanumeric() || b >= 0x80 {
                    if !in_run {
                        in_run = true;
                        run = FNV_OFFSET;
                        digit = false;
                    }
                    digit |= b.is_ascii_digit();
                    run = fnv(run, b);
                } else {
                    if in_run {
                        hash = mix(hash, if digit { NUMBER } else { run });
                        in_run = false;
                    }
                    path |= b == b'/' || b == b'\\';
                    hash = fnv(hash, b);
                }
                i += 1;
            }
            if in_run {
                hash = mix(hash, if digit { NUMBER } else { run });
            }
            let hash = if path { PATH } else { hash };
            let slot = words.min(SLOTS - 1);
            slots[slot] = if words < SLOTS - 1 {
                hash
            } else {
                slots[slot].rotate_left(7) ^ hash
            };
            words += 1;
        }
        slots[0] ^= (indent as u64).wrapping_mul(FNV_PRIME);
        Self {
            words: words.min(usize::from(u16::MAX)) as u16,
            slots,
        }
    }

    /// Which slots differ from `other` (bit `i` for slot `i`), or `None` when
    /// the two cannot be similar at all (word count or first word differs).
    pub(crate) fn diff(&self, other: &Self) -> Option<u16> {
        if self.words != other.words || self.slots[0] != other.slots[0] {
            return None;
        }
        let mut mask = 0u16;
        for i in 1..SLOTS {
            if self.slots[i] != other.slots[i] {
                mask |= 1 << i;
            }
        }
        Some(mask)
    }

    /// How many differing words a run of this shape tolerates.
    pub(crate) fn tolerance(&self) -> u32 {
        1 + u32::from(self.words) / 4
    }
}

/// A key for "the same message": the trimmed text with numbers made alike,
/// hashed. Two diagnostics with equal keys are repeats of one another.
pub(crate) fn message_key(text: &str) -> u64 {
    let mut hash = FNV_OFFSET;
    let mut in_number = false;
    for &byte in text.trim().as_bytes() {
        if byte.is_ascii_digit() {
            if !in_number {
                hash = fnv(hash, b'#');
                in_number = true;
            }
        } else {
            in_number = false;
            hash = fnv(hash, byte);
        }
    }
    hash
}

/// The pattern of a folded run for its marker: the first line's words, with
/// numbers as `#`, paths kept, and the words that vary as `*`; at most `max`
/// bytes.
pub(crate) fn pattern(text: &str, varying: u16, max: usize) -> String {
    let mut out = String::new();
    let indent_end = text.len() - text.trim_start().len();
    for (index, word) in text[indent_end..].split_ascii_whitespace().enumerate() {
        if !out.is_empty() {
            out.push(' ');
        }
        let slot = index.min(SLOTS - 1);
        if slot > 0 && varying & (1 << slot) != 0 {
            out.push('*');
        } else {
            push_numbers_as_hash(&mut out, word);
        }
        if out.len() > max {
            break;
        }
    }
    if out.len() > max {
        let mut end = max.saturating_sub(1);
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push('…');
    }
    out
}

fn push_numbers_as_hash(out: &mut String, word: &str) {
    let mut run = String::new();
    let mut run_has_digit = false;
    let flush = |out: &mut String, run: &mut String, has_digit: bool| {
        if has_digit {
            out.push('#');
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for ch in word.chars() {
        if ch.is_alphanumeric() {
            run.push(ch);
            run_has_digit |= ch.is_ascii_digit();
        } else {
            flush(out, &mut run, run_has_digit);
            run_has_digit = false;
            out.push(ch);
        }
    }
    flush(out, &mut run, run_has_digit);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn similar(a: &str, b: &str) -> bool {
        let (a, b) = (Shape::of(a), Shape::of(b));
        a.diff(&b)
            .is_some_and(|mask| mask.count_ones() <= a.tolerance())
    }

    #[test]
    fn noise_lines_are_similar() {
        let cases = [
            (
                "   Compiling foo v1.2.3",
                "   Compiling serde_json v1.0.200",
            ),
            ("test a::b ... ok", "test a::c_d ... ok"),
            (
                "   Compiling foo v0.1.0 (/home/me/foo)",
                "   Compiling bar v0.2.0 (/home/me/bar)",
            ),
            (
                "2024-01-01T12:00:01Z INFO request 17 served in 3ms",
                "2024-01-01T12:00:02Z INFO request 18 served in 12ms",
            ),
            (
                "  Downloading requests-2.31.0-py3-none-any.whl (62 kB)",
                "  Downloading urllib3-2.2.1-py3-none-any.whl (121 kB)",
            ),
            ("", ""),
            ("commit 3f2a8c1e9d", "commit 77aa00bb11"),
        ];
        for (a, b) in cases {
            assert!(similar(a, b), "{a:?} ~ {b:?}");
        }
    }

    #[test]
    fn different_lines_are_not() {
        let cases = [
            ("test a::b ... ok", "test a::b ... FAILED now"),
            ("   Compiling foo v1.2.3", "    Checking foo v1.2.3"),
            ("   Compiling foo v1.2.3", "Compiling foo v1.2.3"),
            ("running 3 tests", "hello there world"),
            ("INFO starting server", "INFO loading config"),
            ("", "x"),
        ];
        for (a, b) in cases {
            assert!(!similar(a, b), "{a:?} !~ {b:?}");
        }
    }

    #[test]
    fn message_keys_ignore_numbers_only() {
        assert_eq!(
            message_key("ERROR request 17 failed after 3ms"),
            message_key("  ERROR request 1234 failed after 12ms")
        );
        assert_ne!(
            message_key("test a ... FAILED"),
            message_key("test b ... FAILED")
        );
    }

    #[test]
    fn patterns_show_what_varies() {
        let varying = Shape::of("   Compiling foo v1.2.3")
            .diff(&Shape::of("   Compiling bar v1.0.0"))
            .unwrap_or(0);
        assert_eq!(
            pattern("   Compiling foo v1.2.3", varying, 60),
            "Compiling * #.#.#"
        );
        assert_eq!(pattern("test x ... ok", 0b10, 60), "test * ... ok");
        let long = pattern(&"word ".repeat(40), 0, 20);
        assert!(long.len() <= 20 + '…'.len_utf8(), "{long}");
        assert!(long.ends_with('…'));
    }
}
