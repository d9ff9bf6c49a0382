//! Tests of the streaming cleaner against core's whole-text hygiene.

use super::*;
use agentproc_core::text::{collapse_cr, strip_ansi};

/// Cleans `input` fed in chunks of `chunk` bytes; returns (text, raw, cut)
/// per line.
fn clean(input: &[u8], chunk: usize, cap: usize) -> Vec<(String, u64, u64)> {
    let mut cleaner = Cleaner::new(cap);
    let mut lines = Vec::new();
    let mut sink = |line: CleanLine<'_>| lines.push((line.text.to_owned(), line.raw, line.cut));
    for piece in input.chunks(chunk.max(1)) {
        cleaner.push(piece, &mut sink);
    }
    cleaner.flush(&mut sink);
    lines
}

/// What core's hygiene makes of each line.
fn oracle(input: &[u8]) -> Vec<String> {
    if input.is_empty() {
        return Vec::new();
    }
    let mut parts: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    if input.ends_with(b"\n") {
        parts.pop();
    }
    parts
        .into_iter()
        .map(|line| collapse_cr(&strip_ansi(&String::from_utf8_lossy(line))))
        .collect()
}

#[test]
fn lines_match_core_hygiene_in_any_chunking() {
    let inputs: &[&[u8]] = &[
        b"",
        b"\n",
        b"plain\nlines\n",
        b"no newline at end",
        b"\x1b[31merror\x1b[0m: x\n\x1b[1;32m   Compiling\x1b[0m foo\n",
        b"a\x1b[2K\x1b[1Gb\n",
        b"\x1b]0;title\x07text\n\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\\n",
        b"\x1b(Bplain\n\x1b=keypad\n",
        "\u{9b}1mbold \u{9d}osc\u{9c}after\n".as_bytes(),
        "no escapes, \u{fc}n\u{ef}code \u{20ac}\n".as_bytes(),
        b"10%\r20%\r30%\ndone\n",
        b"line\r\nnext\r\n",
        b"50%\r60%",
        b"abc\r\n\r\r\n",
        b"\x1b[32m10%\x1b[0m\r\x1b[32m100%\x1b[0m\n",
        b"bad \xff\xfe bytes \xc3\n\xe2\x82\n",
        b"\xc2 lone lead\n\xc2",
        b"esc then char \x1b\xc3\xa9x\n",
        b"\x1b[1m\r\n",
        b"progress \r\x1b[K\r\n",
    ];
    for input in inputs {
        let expected = oracle(input);
        for chunk in 1..=input.len().max(1) {
            let got: Vec<String> = clean(input, chunk, 1 << 16)
                .into_iter()
                .map(|(text, _, _)| text)
                .collect();
            assert_eq!(got, expected, "{input:?} in chunks of {chunk}");
        }
    }
}

#[test]
fn raw_lengths_count_every_source_byte() {
    let input = b"\x1b[31mred\x1b[0m\r\nsecond\nlast";
    let lines = clean(input, 3, 1 << 16);
    let raw: Vec<u64> = lines.iter().map(|(_, raw, _)| *raw).collect();
    assert_eq!(raw, [14, 7, 4]);
    assert_eq!(raw.iter().sum::<u64>(), input.len() as u64);
}

#[test]
fn long_lines_are_cut_on_a_character_boundary() {
    // 'é' is two bytes; a cap of 5 would split the third one.
    let input = "ééééé\nabcdefgh\n".as_bytes();
    for chunk in 1..input.len() {
        let lines = clean(input, chunk, 5);
        assert_eq!(lines[0], ("éé".to_owned(), 11, 6), "chunk {chunk}");
        assert_eq!(lines[1], ("abcde".to_owned(), 9, 3), "chunk {chunk}");
    }
}

#[test]
fn carriage_returns_keep_memory_bounded() {
    // A progress bar rewriting one line a million times, then a newline.
    let mut cleaner = Cleaner::new(64);
    let mut last = String::new();
    let mut sink = |line: CleanLine<'_>| last = line.text.to_owned();
    for i in 0..100_000 {
        cleaner.push(format!("\r{i}%").as_bytes(), &mut sink);
        assert!(cleaner.seg.capacity() <= 128 && cleaner.prev.capacity() <= 128);
    }
    cleaner.push(b"\n", &mut sink);
    assert_eq!(last, "99999%");
}

#[test]
fn cuts_respect_char_boundaries() {
    assert_eq!(cut_at_char("héllo", 2), "h");
    assert_eq!(cut_at_char("héllo", 3), "hé");
    assert_eq!(cut_at_char("abc", 10), "abc");
    assert_eq!(incomplete_suffix_len("é".as_bytes()), 0);
    assert_eq!(incomplete_suffix_len(&"é".as_bytes()[..1]), 1);
    assert_eq!(incomplete_suffix_len(&"€".as_bytes()[..2]), 2);
    assert_eq!(incomplete_suffix_len(b"ab"), 0);
}
