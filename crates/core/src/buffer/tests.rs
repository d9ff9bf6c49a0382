//! Tests of `HeadTailBuffer`: the cases of Coder's `headtail_test.go`, the
//! UTF-8 rules, and a randomized comparison against a keep-everything oracle.

use super::*;

fn sized(head: usize, tail: usize) -> HeadTailBuffer {
    HeadTailBuffer::with_limits(head, tail)
}

#[test]
fn empty_buffer() {
    let buf = HeadTailBuffer::default();
    assert_eq!(buf.output(), FormattedOutput::default());
    assert_eq!(buf.len(), 0);
    assert_eq!(buf.total_written(), 0);
    assert!(buf.bytes().is_empty());
}

#[test]
fn small_output_is_verbatim() {
    let mut buf = HeadTailBuffer::default();
    buf.write(b"hello world\n");
    let out = buf.output();
    assert_eq!(out.text, "hello world\n");
    assert_eq!(out.truncation, None);
    assert_eq!(buf.len(), 12);
    assert_eq!(buf.total_written(), 12);
}

#[test]
fn exactly_head_size_is_verbatim() {
    let mut buf = HeadTailBuffer::default();
    let data = "x".repeat(MAX_HEAD_BYTES);
    buf.write(data.as_bytes());
    let out = buf.output();
    // One line of 16384 bytes: long-line truncation applies, but no info.
    assert_eq!(out.truncation, None);
    assert_eq!(buf.len(), MAX_HEAD_BYTES);

    let mut lines = HeadTailBuffer::default();
    let data = "0123456789abcde\n".repeat(MAX_HEAD_BYTES / 16);
    lines.write(data.as_bytes());
    assert_eq!(lines.output().text, data);
    assert_eq!(lines.output().truncation, None);
}

#[test]
fn head_plus_tail_without_omission_inserts_one_newline() {
    let mut buf = sized(10, 10);
    buf.write(b"0123456789abcdefghij");
    let out = buf.output();
    assert_eq!(out.text, "0123456789\nabcdefghij");
    let info = out.truncation.expect("both halves in use");
    assert_eq!(info.omitted_bytes, 0);
    assert_eq!(info.original_bytes, 20);
    assert_eq!(info.retained_bytes, 21);
    assert_eq!(info.strategy, "head_tail");
}

#[test]
fn large_output_truncation() {
    let mut buf = sized(10, 10);
    let mut data = "A".repeat(10);
    data.push_str(&"m".repeat(80));
    data.push_str(&"Z".repeat(10));
    buf.write(data.as_bytes());
    let out = buf.output();
    assert_eq!(
        out.text,
        "AAAAAAAAAA\n\n... [omitted 80 bytes] ...\n\nZZZZZZZZZZ"
    );
    let info = out.truncation.expect("truncated");
    assert_eq!(info.original_bytes, 100);
    assert_eq!(info.omitted_bytes, 80);
    assert_eq!(info.retained_bytes, out.text.len() as u64);
    assert_eq!(buf.len(), 20);
    assert_eq!(buf.total_written(), 100);
}

#[test]
fn multi_megabyte_output_stays_bounded() {
    let mut buf = HeadTailBuffer::default();
    let chunk = vec![b'q'; 64 * 1024];
    for _ in 0..80 {
        buf.write(&chunk);
    }
    assert!(buf.len() <= MAX_HEAD_BYTES + MAX_TAIL_BYTES);
    assert_eq!(buf.total_written(), 80 * 64 * 1024);
    let info = buf.output().truncation.expect("truncated");
    assert!(info.omitted_bytes > 0);
    assert_eq!(
        info.omitted_bytes,
        buf.total_written() - (MAX_HEAD_BYTES + MAX_TAIL_BYTES) as u64
    );
}

#[test]
fn long_line_is_truncated() {
    let mut buf = HeadTailBuffer::default();
    let line = "y".repeat(2548);
    buf.write(line.as_bytes());
    let text = buf.output().text;
    assert_eq!(text.len(), MAX_LINE_LENGTH);
    assert!(text.ends_with("... [truncated]"));
    assert!(text.starts_with(&"y".repeat(2032)));
}

#[test]
fn long_line_in_tail_is_truncated() {
    let mut buf = sized(20, 5000);
    let mut data = "h".repeat(20);
    data.push_str(&"t".repeat(3000));
    data.push('\n');
    buf.write(data.as_bytes());
    let out = buf.output();
    let tail = out.text.split_once('\n').expect("separator").1;
    assert!(tail.starts_with(&"t".repeat(2032)));
    assert!(tail.contains(LINE_TRUNCATION_SUFFIX));
    assert!(tail.ends_with('\n'));
}

#[test]
fn the_buffer_can_be_shared_between_threads() {
    // Go's buffer locks internally; ours is plain data behind the manager's
    // lock, and the compiler checks it can cross threads.
    fn shareable<T: Send + Sync>() {}
    shareable::<HeadTailBuffer>();
}

#[test]
fn concurrent_writes_are_consistent() {
    use std::sync::{Arc, Mutex};
    let buf = Arc::new(Mutex::new(HeadTailBuffer::default()));
    let threads: Vec<_> = (0..10)
        .map(|_| {
            let buf = Arc::clone(&buf);
            std::thread::spawn(move || {
                for _ in 0..1000 {
                    buf.lock().expect("lock").write(b"line of text\n");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("writer thread");
    }
    let buf = buf.lock().expect("lock");
    assert_eq!(buf.total_written(), 10 * 1000 * 13);
    assert_eq!(buf.len(), MAX_HEAD_BYTES + MAX_TAIL_BYTES);
    // Every write was whole, so the head is made of whole lines.
    let head = buf.output().text;
    assert!(head.starts_with("line of text\nline of text\n"));
}

#[test]
fn truncation_info_fields() {
    let mut buf = sized(10, 10);
    buf.write(&[b'x'; 50]);
    let info = buf.output().truncation.expect("truncated");
    assert_eq!(info.original_bytes, 50);
    assert_eq!(info.omitted_bytes, 30);
    assert!(info.retained_bytes > 0);
}

#[test]
fn byte_at_a_time_writes_reassemble() {
    let mut buf = HeadTailBuffer::default();
    for byte in b"hello, world" {
        buf.write(std::slice::from_ref(byte));
    }
    assert_eq!(buf.output().text, "hello, world");
    assert_eq!(buf.total_written(), 12);
}

#[test]
fn empty_write_changes_nothing() {
    let mut buf = HeadTailBuffer::default();
    buf.write(b"");
    assert_eq!(buf.total_written(), 0);
    assert_eq!(buf.output(), FormattedOutput::default());
}

#[test]
fn reset_clears_everything() {
    let mut buf = sized(4, 4);
    buf.write(b"0123456789");
    buf.finish();
    buf.reset();
    assert_eq!(buf.total_written(), 0);
    assert_eq!(buf.len(), 0);
    assert!(!buf.is_finished());
    assert_eq!(buf.output().text, "");
}

#[test]
fn bytes_returns_a_copy() {
    let mut buf = HeadTailBuffer::default();
    buf.write(b"abc");
    let mut copy = buf.bytes();
    copy[0] = b'z';
    assert_eq!(buf.bytes(), b"abc");
}

#[test]
fn ring_buffer_wraparound() {
    let mut buf = sized(5, 10);
    buf.write(b"01234");
    buf.write(b"abcdefghij");
    buf.write(b"klmnofghij");
    buf.write(b"ABCDE");
    let out = buf.output();
    assert!(out.text.ends_with("fghijABCDE"), "{:?}", out.text);
    assert_eq!(buf.bytes(), b"01234fghijABCDE");
}

#[test]
fn only_long_lines_are_truncated() {
    let mut buf = HeadTailBuffer::default();
    let text = format!("short\n{}\nshort\n", "L".repeat(3000));
    buf.write(text.as_bytes());
    let out = buf.output().text;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0], "short");
    assert_eq!(lines[1].len(), MAX_LINE_LENGTH);
    assert!(lines[1].ends_with(LINE_TRUNCATION_SUFFIX));
    assert_eq!(lines[2], "short");
}

#[test]
fn large_chunk_into_partly_filled_ring_matches_byte_writes() {
    let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    for start in 0..23 {
        let mut whole = sized(3, 17);
        let mut bytes = sized(3, 17);
        whole.write(&data[..start]);
        whole.write(&data[start..]);
        for byte in &data {
            bytes.write(std::slice::from_ref(byte));
        }
        assert_eq!(whole.bytes(), bytes.bytes(), "split at {start}");
        assert_eq!(whole.len(), bytes.len());
    }
}

#[test]
fn zero_sized_tail_drops_the_rest() {
    let mut buf = sized(4, 0);
    buf.write(b"abcdefgh");
    assert_eq!(buf.output().text, "abcd");
    assert_eq!(buf.total_written(), 8);
}

// --- UTF-8 ---------------------------------------------------------------

#[test]
fn head_cut_inside_a_character_moves_to_the_tail_when_contiguous() {
    // "é" is two bytes; the head (3 bytes) ends after its first byte.
    let mut buf = sized(3, 10);
    buf.write("abé12".as_bytes());
    let out = buf.output();
    assert_eq!(out.text, "ab\né12");
    assert_eq!(out.truncation.expect("info").omitted_bytes, 0);
}

#[test]
fn head_cut_inside_a_character_is_dropped_and_counted_when_omitting() {
    // Head "ab" + first byte of "€" (3 bytes); lots omitted; tail ASCII.
    let mut buf = sized(3, 4);
    buf.write("ab€".as_bytes());
    buf.write(&[b'-'; 20]);
    buf.write(b"WXYZ");
    let out = buf.output();
    let info = out.truncation.expect("info");
    // The head shows "ab"; the first byte of "€" is dropped and counted
    // with the 22 evicted ones (which include its other two bytes).
    assert_eq!(out.text, "ab\n\n... [omitted 23 bytes] ...\n\nWXYZ");
    assert_eq!(info.omitted_bytes, 23);
    assert_eq!(info.original_bytes, 2 + 3 + 20 + 4);
}

#[test]
fn ring_start_inside_a_character_is_dropped_and_counted() {
    let mut buf = sized(2, 5);
    buf.write(b"hh");
    buf.write(&[b'.'; 10]);
    buf.write("x€yz".as_bytes()); // the ring keeps the last 5: 0x82 0xAC y z + ...
    buf.write(b"!");
    let out = buf.output();
    assert!(!out.text.contains('\u{FFFD}'), "{:?}", out.text);
    assert!(out.text.ends_with("\n\nyz!"), "{:?}", out.text);
    let info = out.truncation.expect("info");
    assert_eq!(info.omitted_bytes, info.original_bytes - 2 - 3);
}

#[test]
fn incomplete_last_character_is_held_back_until_it_completes() {
    let mut buf = HeadTailBuffer::default();
    let euro = "€".as_bytes();
    buf.write(b"price: ");
    buf.write(&euro[..2]);
    assert_eq!(buf.output().text, "price: ");
    buf.write(&euro[2..]);
    assert_eq!(buf.output().text, "price: €");
}

#[test]
fn incomplete_last_character_shows_as_replacement_once_finished() {
    let mut buf = HeadTailBuffer::default();
    buf.write(&"€".as_bytes()[..2]);
    buf.finish();
    assert_eq!(buf.output().text, "\u{FFFD}\u{FFFD}", "one per byte, as Go");
}

#[test]
fn invalid_bytes_become_replacement_characters() {
    let mut buf = HeadTailBuffer::default();
    buf.write(b"ok \xff\xfe done");
    buf.finish();
    assert_eq!(buf.output().text, "ok \u{FFFD}\u{FFFD} done");
}

#[test]
fn long_line_cut_lands_on_a_character_boundary() {
    let mut buf = HeadTailBuffer::default();
    // 2031 ASCII bytes then 3-byte characters: byte 2032 is inside one.
    let line = format!("{}{}", "a".repeat(2031), "€".repeat(400));
    buf.write(line.as_bytes());
    let text = buf.output().text;
    assert!(text.ends_with(LINE_TRUNCATION_SUFFIX));
    assert!(text.len() <= MAX_LINE_LENGTH);
    assert_eq!(text.len(), 2031 + LINE_TRUNCATION_SUFFIX.len());
    assert!(!text.contains('\u{FFFD}'));
}

#[test]
fn lines_are_measured_in_the_programs_own_bytes() {
    // 1000 invalid bytes are a 1001-byte line: short enough to keep whole,
    // even though each becomes a 3-byte U+FFFD in the text.
    let mut buf = HeadTailBuffer::default();
    let mut line = vec![0xff; 1000];
    line.push(b'\n');
    buf.write(&line);
    buf.finish();
    let text = buf.output().text;
    assert_eq!(text.chars().filter(|c| *c == '\u{FFFD}').count(), 1000);
    assert!(!text.contains(LINE_TRUNCATION_SUFFIX));
}

#[test]
fn each_invalid_byte_becomes_one_replacement_character() {
    let mut buf = HeadTailBuffer::default();
    // A truncated three-byte sequence (2 bytes) before ASCII: two bytes, two
    // replacements, as Go's encoder writes them.
    buf.write(b"a\xe2\x82b");
    buf.finish();
    assert_eq!(buf.output().text, "a\u{FFFD}\u{FFFD}b");
}

#[test]
fn long_line_cuts_skip_back_over_a_split_character() {
    let mut line = vec![b'a'; 2031];
    line.extend_from_slice("€".as_bytes()); // bytes 2031..2034
    line.extend_from_slice(&[b'z'; 100]);
    let cut = truncate_lines(&line);
    assert_eq!(cut.len(), 2031 + LINE_TRUNCATION_SUFFIX.len());
    // Invalid bytes at the cut are cut like any byte.
    let mut invalid = vec![b'a'; 2031];
    invalid.extend_from_slice(&[0xe2, 0x82, 0x41]);
    invalid.extend_from_slice(&[b'z'; 100]);
    assert_eq!(truncate_lines(&invalid).len(), MAX_LINE_LENGTH);
}

#[test]
fn incomplete_suffix_detection() {
    assert_eq!(incomplete_suffix_len(b"abc"), 0);
    assert_eq!(incomplete_suffix_len("é".as_bytes()), 0);
    assert_eq!(incomplete_suffix_len(&"é".as_bytes()[..1]), 1);
    assert_eq!(incomplete_suffix_len(&"€".as_bytes()[..2]), 2);
    assert_eq!(incomplete_suffix_len(&"😀".as_bytes()[..3]), 3);
    assert_eq!(incomplete_suffix_len(b"\xff"), 0);
    // 0xE0 0x80 can never be valid (overlong).
    assert_eq!(incomplete_suffix_len(b"\xe0\x80"), 0);
    // A stray continuation byte is invalid, not incomplete.
    assert_eq!(incomplete_suffix_len(b"a\x80"), 0);
}

// --- Randomized comparison against a keep-everything oracle ---------------

/// A small deterministic PRNG (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// What the formatted output must be, computed from all the bytes with the
/// plain definitions (ASCII input, so no character rules apply).
fn oracle(all: &[u8], max_head: usize, max_tail: usize) -> FormattedOutput {
    if all.is_empty() {
        return FormattedOutput::default();
    }
    let head_len = all.len().min(max_head);
    let after_head = &all[head_len..];
    let tail = &after_head[after_head.len().saturating_sub(max_tail)..];
    let head = String::from_utf8(all[..head_len].to_vec()).expect("ascii");
    let tail = String::from_utf8(tail.to_vec()).expect("ascii");
    let shorten = |s: &str| -> String {
        if s.len() <= MAX_LINE_LENGTH {
            return s.to_owned();
        }
        s.split('\n')
            .map(|line| {
                if line.len() > MAX_LINE_LENGTH {
                    format!("{}{}", &line[..2032], LINE_TRUNCATION_SUFFIX)
                } else {
                    line.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    if head_len < max_head || tail.is_empty() {
        return FormattedOutput {
            text: shorten(&head),
            truncation: None,
        };
    }
    let omitted = (all.len() - head_len - tail.len()) as u64;
    let separator = if omitted > 0 {
        format!("\n\n... [omitted {omitted} bytes] ...\n\n")
    } else {
        "\n".to_owned()
    };
    let text = format!("{}{}{}", shorten(&head), separator, shorten(&tail));
    let retained_bytes = text.len() as u64;
    FormattedOutput {
        text,
        truncation: Some(Truncation {
            original_bytes: all.len() as u64,
            retained_bytes,
            omitted_bytes: omitted,
            strategy: STRATEGY_HEAD_TAIL,
        }),
    }
}

#[test]
fn randomized_ascii_matches_the_oracle() {
    for seed in 1..=300u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let max_head = rng.below(40);
        let max_tail = rng.below(40);
        let mut buf = sized(max_head, max_tail);
        let mut all = Vec::new();
        for _ in 0..rng.below(30) {
            let len = match rng.below(10) {
                0 => rng.below(5000), // sometimes long lines
                _ => rng.below(60),
            };
            let chunk: Vec<u8> = (0..len)
                .map(|_| match rng.below(12) {
                    0 => b'\n',
                    _ => b'a' + rng.below(26) as u8,
                })
                .collect();
            buf.write(&chunk);
            all.extend_from_slice(&chunk);
            assert_eq!(
                buf.output(),
                oracle(&all, max_head, max_tail),
                "seed {seed}"
            );
            assert!(buf.len() <= max_head + max_tail);
            assert_eq!(buf.total_written(), all.len() as u64);
        }
    }
}

#[test]
fn randomized_utf8_never_shows_garbage_and_counts_honestly() {
    let alphabet = ["a", "\n", "é", "€", "😀", "z"];
    for seed in 1..=300u64 {
        let mut rng = Rng(seed.wrapping_mul(0xD1B5_4A32_D192_ED03));
        let max_head = 1 + rng.below(30);
        let max_tail = 1 + rng.below(30);
        let mut buf = sized(max_head, max_tail);
        let mut all = String::new();
        for _ in 0..rng.below(20) {
            let piece: String = (0..rng.below(15))
                .map(|_| alphabet[rng.below(alphabet.len())])
                .collect();
            // Split the piece at an arbitrary byte, as a pipe would.
            let bytes = piece.as_bytes();
            let cut = rng.below(bytes.len() + 1);
            buf.write(&bytes[..cut]);
            let mid = buf.output();
            assert!(
                !mid.text.contains('\u{FFFD}'),
                "seed {seed}: {:?}",
                mid.text
            );
            buf.write(&bytes[cut..]);
            all.push_str(&piece);

            let out = buf.output();
            assert!(
                !out.text.contains('\u{FFFD}'),
                "seed {seed}: {:?}",
                out.text
            );
            if let Some(info) = &out.truncation {
                assert_eq!(info.original_bytes, all.len() as u64);
                assert_eq!(info.retained_bytes, out.text.len() as u64);
                // Shown raw bytes plus omitted bytes account for every byte.
                let separator = if info.omitted_bytes > 0 {
                    format!("\n\n... [omitted {} bytes] ...\n\n", info.omitted_bytes)
                } else {
                    "\n".to_owned()
                };
                let shown = out.text.len() - separator.len();
                assert_eq!(
                    shown as u64 + info.omitted_bytes,
                    all.len() as u64,
                    "seed {seed}"
                );
                // Some placement of the separator splits the text into a
                // prefix and a suffix of everything written.
                let fits = out.text.match_indices(&separator).any(|(at, _)| {
                    let (head, tail) = (&out.text[..at], &out.text[at + separator.len()..]);
                    all.starts_with(head) && all.ends_with(tail)
                });
                assert!(fits, "seed {seed}: {:?} vs {all:?}", out.text);
            } else {
                assert!(all.starts_with(&out.text), "seed {seed}");
            }
        }
    }
}

/// `truncate_lines` agrees with the obvious line-by-line version on many
/// mixes of short, long, empty and multi-byte lines.
#[test]
fn truncate_lines_matches_a_line_by_line_reference() {
    fn reference(bytes: &[u8]) -> Vec<u8> {
        let keep = MAX_LINE_LENGTH - LINE_TRUNCATION_SUFFIX.len();
        let mut out = Vec::new();
        for (index, line) in bytes.split(|b| *b == b'\n').enumerate() {
            if index > 0 {
                out.push(b'\n');
            }
            if line.len() > MAX_LINE_LENGTH {
                out.extend_from_slice(&line[..boundary_at_or_before(line, keep)]);
                out.extend_from_slice(LINE_TRUNCATION_SUFFIX.as_bytes());
            } else {
                out.extend_from_slice(line);
            }
        }
        out
    }
    // A deterministic xorshift, so every run checks the same inputs.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move |below: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % below
    };
    for _ in 0..300 {
        let mut input = Vec::new();
        for _ in 0..next(12) {
            let length = match next(4) {
                0 => 0,
                1 => next(100),
                2 => MAX_LINE_LENGTH as u64 - 2 + next(5),
                _ => next(6000),
            };
            for _ in 0..length {
                match next(10) {
                    0 => input.extend_from_slice("é".as_bytes()),
                    1 => input.extend_from_slice("✓".as_bytes()),
                    _ => input.push(b'a' + next(26) as u8),
                }
            }
            if next(5) > 0 {
                input.push(b'\n');
            }
        }
        assert_eq!(
            truncate_lines(&input).as_ref(),
            reference(&input).as_slice(),
            "input of {} bytes",
            input.len()
        );
    }
}
