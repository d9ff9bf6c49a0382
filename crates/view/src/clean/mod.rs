//! The streaming line cleaner: splits bytes fed in any chunks into lines,
//! removes terminal escape sequences and keeps only what carriage-return
//! rewrites (progress bars) leave on screen, before anything is counted or
//! chosen.
//!
//! It does what `agentproc_core::text::{strip_ansi, collapse_cr}` do to a
//! whole text, one line at a time and without holding the line: a line's
//! clean text is kept up to a cap, the rest only counted. The one difference
//! is deliberate: an escape sequence never spans a newline (a newline always
//! ends a line, so line numbers stay those of the log).

/// One cleaned line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CleanLine<'a> {
    /// The clean text (escapes removed, carriage-return rewrites collapsed,
    /// invalid UTF-8 as U+FFFD), at most the cap, cut on a character
    /// boundary.
    pub(crate) text: &'a str,
    /// Bytes of the source line, newline included.
    pub(crate) raw: u64,
    /// Clean bytes beyond the cap that `text` does not hold.
    pub(crate) cut: u64,
    /// Whether a newline ended the line (not the end of input or a gap).
    pub(crate) newline: bool,
}

/// Where the escape-sequence parser is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Plain text.
    Text,
    /// After a 0xC2 byte in plain text: 0x9B would make it the 8-bit CSI.
    Lead,
    /// After ESC.
    Esc,
    /// Inside a CSI, up to its final byte (`@` to `~`).
    Csi,
    /// Inside a string sequence (OSC, DCS, …) up to BEL or ST.
    Str,
    /// After ESC inside a string sequence (`ESC \` ends it).
    StrEsc,
    /// After 0xC2 inside a string sequence (0x9C, the 8-bit ST, ends it).
    StrLead,
    /// Skipping one character: the rest of a two-byte `ESC x` sequence.
    SkipChar,
    /// Skipping this many more continuation bytes of a skipped character.
    SkipCont(u8),
}

/// The streaming cleaner. Its memory is two segments of at most `cap` bytes
/// (the text after the last carriage return, and the last non-empty one
/// before it).
#[derive(Debug)]
pub(crate) struct Cleaner {
    cap: usize,
    state: State,
    /// Clean bytes of the current carriage-return segment (up to `cap`).
    seg: Vec<u8>,
    /// Clean bytes of `seg` beyond `cap`.
    seg_over: u64,
    /// The last non-empty segment before a carriage return.
    prev: Vec<u8>,
    prev_over: u64,
    /// Source bytes of the current line so far.
    raw: u64,
    /// Scratch for lines that are not valid UTF-8.
    lossy: String,
}

impl Cleaner {
    /// A cleaner keeping at most `cap` bytes of each line's clean text.
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(4),
            state: State::Text,
            seg: Vec::new(),
            seg_over: 0,
            prev: Vec::new(),
            prev_over: 0,
            raw: 0,
            lossy: String::new(),
        }
    }

    /// Whether part of a line has been fed and not yet ended.
    pub(crate) fn has_partial_line(&self) -> bool {
        self.raw > 0
    }

    /// Feeds `bytes`, calling `sink` for every line they complete.
    pub(crate) fn push(&mut self, mut bytes: &[u8], sink: &mut impl FnMut(CleanLine<'_>)) {
        while !bytes.is_empty() {
            match memchr::memchr(b'\n', bytes) {
                Some(end) => {
                    self.feed(&bytes[..end]);
                    self.raw += 1;
                    self.end_line(true, sink);
                    bytes = &bytes[end + 1..];
                }
                None => {
                    self.feed(bytes);
                    return;
                }
            }
        }
    }

    /// Ends a line that has no newline (the end of the input, or bytes the
    /// log lost), if any part of one was fed.
    pub(crate) fn flush(&mut self, sink: &mut impl FnMut(CleanLine<'_>)) {
        if self.has_partial_line() {
            self.end_line(false, sink);
        }
    }

    /// Feeds part of a line (no newline in it).
    fn feed(&mut self, piece: &[u8]) {
        self.raw += piece.len() as u64;
        let mut rest = piece;
        while !rest.is_empty() {
            if self.state == State::Text {
                // The fast path: copy plain text up to the next byte that
                // may start an escape or a rewrite.
                let special = memchr::memchr3(0x1b, b'\r', 0xC2, rest).unwrap_or(rest.len());
                self.emit_slice(&rest[..special]);
                rest = &rest[special..];
                if rest.is_empty() {
                    return;
                }
            }
            self.step(rest[0]);
            rest = &rest[1..];
        }
    }

    /// One byte through the escape-sequence parser.
    fn step(&mut self, byte: u8) {
        match self.state {
            State::Text => match byte {
                0x1b => self.state = State::Esc,
                b'\r' => self.carriage_return(),
                0xC2 => self.state = State::Lead,
                _ => self.emit(byte),
            },
            State::Lead => {
                if byte == 0x9B {
                    self.state = State::Csi;
                } else {
                    self.emit(0xC2);
                    self.state = State::Text;
                    self.step(byte);
                }
            }
            State::Esc => {
                self.state = match byte {
                    b'[' => State::Csi,
                    b']' | b'P' | b'_' | b'^' | b'X' => State::Str,
                    b'(' | b')' | b'*' | b'+' => State::SkipChar,
                    _ => skip_rest_of_char(byte),
                }
            }
            State::SkipChar => self.state = skip_rest_of_char(byte),
            State::SkipCont(left) => {
                if (0x80..=0xBF).contains(&byte) {
                    self.state = if left > 1 {
                        State::SkipCont(left - 1)
                    } else {
                        State::Text
                    };
                } else {
                    self.state = State::Text;
                    self.step(byte);
                }
            }
            State::Csi => {
                if (0x40..=0x7E).contains(&byte) {
                    self.state = State::Text;
                }
            }
            State::Str => match byte {
                0x07 => self.state = State::Text,
                0x1b => self.state = State::StrEsc,
                0xC2 => self.state = State::StrLead,
                _ => {}
            },
            State::StrEsc => {
                if byte == b'\\' {
                    self.state = State::Text;
                } else {
                    self.state = State::Str;
                    self.step(byte);
                }
            }
            State::StrLead => {
                if byte == 0x9C {
                    self.state = State::Text;
                } else {
                    self.state = State::Str;
                    self.step(byte);
                }
            }
        }
    }

    fn emit(&mut self, byte: u8) {
        if self.seg.len() < self.cap {
            self.seg.push(byte);
        } else {
            self.seg_over += 1;
        }
    }

    fn emit_slice(&mut self, bytes: &[u8]) {
        let room = self.cap.saturating_sub(self.seg.len()).min(bytes.len());
        self.seg.extend_from_slice(&bytes[..room]);
        self.seg_over += (bytes.len() - room) as u64;
    }

    /// A carriage return: what follows overwrites the line, so the segment
    /// before it survives only if nothing non-empty comes after.
    fn carriage_return(&mut self) {
        if !self.seg.is_empty() || self.seg_over > 0 {
            std::mem::swap(&mut self.seg, &mut self.prev);
            self.prev_over = self.seg_over;
            self.seg.clear();
            self.seg_over = 0;
        }
    }

    fn end_line(&mut self, newline: bool, sink: &mut impl FnMut(CleanLine<'_>)) {
        if self.state == State::Lead {
            self.emit(0xC2);
        }
        self.state = State::Text;
        let (bytes, mut over) = if !self.seg.is_empty() || self.seg_over > 0 {
            (&mut self.seg, self.seg_over)
        } else {
            (&mut self.prev, self.prev_over)
        };
        if over > 0 {
            // The cap may have split a character: drop its first bytes too.
            let partial = incomplete_suffix_len(bytes);
            bytes.truncate(bytes.len() - partial);
            over += partial as u64;
        }
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(_) => {
                self.lossy.clear();
                self.lossy.push_str(&String::from_utf8_lossy(bytes));
                &self.lossy
            }
        };
        sink(CleanLine {
            text,
            raw: self.raw,
            cut: over,
            newline,
        });
        self.seg.clear();
        self.seg_over = 0;
        self.prev.clear();
        self.prev_over = 0;
        self.raw = 0;
    }
}

/// The state after the first byte of a character that an escape sequence
/// swallows whole.
fn skip_rest_of_char(byte: u8) -> State {
    match byte {
        0xC2..=0xDF => State::SkipCont(1),
        0xE0..=0xEF => State::SkipCont(2),
        0xF0..=0xF4 => State::SkipCont(3),
        _ => State::Text,
    }
}

/// Length of a trailing run that starts a multi-byte UTF-8 character but
/// stops before its end (0 when `bytes` ends on a character boundary).
pub(crate) fn incomplete_suffix_len(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let byte = bytes[bytes.len() - back];
        if byte & 0b1100_0000 == 0b1000_0000 {
            continue;
        }
        let needed = match byte {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return 0,
        };
        return if back < needed { back } else { 0 };
    }
    0
}

/// The longest prefix of `text` of at most `max` bytes that ends on a
/// character boundary.
pub(crate) fn cut_at_char(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests;
