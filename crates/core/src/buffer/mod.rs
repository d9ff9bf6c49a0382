//! `HeadTailBuffer`: a bounded, sans-IO view of a process's output.
//!
//! It keeps the first 16 KiB (the head) and the last 16 KiB (a ring, the
//! tail) of everything written, and counts the rest. [`HeadTailBuffer::output`]
//! formats them for a language model: the head, a marker saying how many bytes
//! were left out, then the tail, with overly long lines shortened.
//!
//! For ASCII output the format is byte-for-byte the one of Coder's Go
//! `agentproc` (see `docs/API.md`). Beyond it:
//! - cuts never split a UTF-8 character the program wrote validly: a cut that
//!   would is moved to the character boundary, and the bytes this leaves out
//!   are counted in `omitted_bytes`;
//! - while the buffer is not finished, a character whose last bytes have not
//!   arrived yet is held back instead of being shown as garbage;
//! - each byte that is invalid UTF-8 in the program's own output becomes
//!   U+FFFD (as Go's JSON encoder does); line lengths are measured in the
//!   program's bytes, before that replacement.

use std::borrow::Cow;

/// Bytes kept from the start of the output.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Bytes kept from the end of the output.
pub const MAX_TAIL_BYTES: usize = 16 * 1024;
/// Lines longer than this many bytes are shortened in the formatted view.
pub const MAX_LINE_LENGTH: usize = 2048;
/// What replaces the end of a shortened line.
pub const LINE_TRUNCATION_SUFFIX: &str = " ... [truncated]";
/// The only truncation strategy there is.
pub const STRATEGY_HEAD_TAIL: &str = "head_tail";

/// How the formatted output relates to what the process wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    /// Every byte the process wrote.
    pub original_bytes: u64,
    /// Length of the formatted output, marker included, in the program's
    /// bytes (an invalid byte counts 1, though it is shown as U+FFFD).
    pub retained_bytes: u64,
    /// Bytes written that appear nowhere in the formatted output (evicted
    /// from the ring, or dropped to keep a cut on a character boundary).
    pub omitted_bytes: u64,
    /// Always [`STRATEGY_HEAD_TAIL`].
    pub strategy: &'static str,
}

/// The formatted view of a buffer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FormattedOutput {
    /// The text to show.
    pub text: String,
    /// Present when both the head and the tail are in use.
    pub truncation: Option<Truncation>,
}

/// A bounded head + tail ring over an unbounded byte stream.
///
/// Memory use is at most `max_head + max_tail` bytes, whatever is written.
#[derive(Debug, Clone)]
pub struct HeadTailBuffer {
    head: Vec<u8>,
    /// The ring; allocated to `max_tail` on first use.
    tail: Vec<u8>,
    /// Next write position in the ring.
    tail_pos: usize,
    /// The ring has wrapped at least once.
    tail_full: bool,
    total: u64,
    max_head: usize,
    max_tail: usize,
    finished: bool,
}

impl Default for HeadTailBuffer {
    fn default() -> Self {
        Self::with_limits(MAX_HEAD_BYTES, MAX_TAIL_BYTES)
    }
}

impl HeadTailBuffer {
    /// A buffer keeping `max_head` bytes of head and `max_tail` of tail.
    pub fn with_limits(max_head: usize, max_tail: usize) -> Self {
        Self {
            head: Vec::new(),
            tail: Vec::new(),
            tail_pos: 0,
            tail_full: false,
            total: 0,
            max_head,
            max_tail,
            finished: false,
        }
    }

    /// Appends `data`. Never fails, never blocks; an empty slice changes
    /// nothing.
    pub fn write(&mut self, mut data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.total += data.len() as u64;
        if self.head.len() < self.max_head {
            let take = data.len().min(self.max_head - self.head.len());
            if self.head.capacity() == 0 {
                self.head.reserve_exact(self.max_head);
            }
            self.head.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        if !data.is_empty() && self.max_tail > 0 {
            self.write_tail(data);
        }
    }

    fn write_tail(&mut self, data: &[u8]) {
        let cap = self.max_tail;
        if self.tail.is_empty() {
            self.tail = vec![0; cap];
        }
        if data.len() >= cap {
            // Only the last `cap` bytes survive; lay them out exactly as
            // writing every byte in turn would have.
            let last = &data[data.len() - cap..];
            let end = (self.tail_pos + data.len()) % cap;
            self.tail[end..].copy_from_slice(&last[..cap - end]);
            self.tail[..end].copy_from_slice(&last[cap - end..]);
            self.tail_pos = end;
            self.tail_full = true;
            return;
        }
        let first = data.len().min(cap - self.tail_pos);
        self.tail[self.tail_pos..self.tail_pos + first].copy_from_slice(&data[..first]);
        let rest = &data[first..];
        self.tail[..rest.len()].copy_from_slice(rest);
        if self.tail_pos + data.len() >= cap {
            self.tail_full = true;
        }
        self.tail_pos = (self.tail_pos + data.len()) % cap;
    }

    /// Marks the stream as complete: nothing more will be written, so an
    /// incomplete character at the very end is shown (as U+FFFD) rather than
    /// held back.
    pub fn finish(&mut self) {
        self.finished = true;
    }

    /// Whether [`HeadTailBuffer::finish`] was called.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Bytes currently stored (head plus tail).
    pub fn len(&self) -> usize {
        self.head.len() + self.tail_len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every byte ever written, stored or not.
    pub fn total_written(&self) -> u64 {
        self.total
    }

    /// A copy of the stored bytes, head then tail, with no marker.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = self.head.clone();
        out.extend_from_slice(&self.tail_bytes());
        out
    }

    /// Forgets everything, including [`HeadTailBuffer::finish`].
    pub fn reset(&mut self) {
        *self = Self::with_limits(self.max_head, self.max_tail);
    }

    fn tail_len(&self) -> usize {
        if self.tail_full {
            self.max_tail
        } else {
            self.tail_pos
        }
    }

    fn tail_bytes(&self) -> Vec<u8> {
        if self.tail_full {
            let mut out = Vec::with_capacity(self.max_tail);
            out.extend_from_slice(&self.tail[self.tail_pos..]);
            out.extend_from_slice(&self.tail[..self.tail_pos]);
            out
        } else {
            self.tail[..self.tail_pos].to_vec()
        }
    }

    /// Copies out what [`format`] needs, so a caller holding a lock can
    /// release it before formatting.
    pub fn snapshot(&self) -> BufferSnapshot {
        BufferSnapshot {
            head: self.head.clone(),
            tail: self.tail_bytes(),
            total: self.total,
            head_full: self.total > 0 && self.head.len() >= self.max_head,
            finished: self.finished,
        }
    }

    /// The formatted view (see the module documentation).
    pub fn output(&self) -> FormattedOutput {
        self.snapshot().format()
    }
}

/// A copy of a buffer's state, cheap to format without holding any lock.
#[derive(Debug, Clone, Default)]
pub struct BufferSnapshot {
    head: Vec<u8>,
    tail: Vec<u8>,
    total: u64,
    head_full: bool,
    finished: bool,
}

impl BufferSnapshot {
    /// The bytes kept from the start of the output, raw.
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// The bytes kept from the end of the output (empty until the head is
    /// full), raw.
    pub fn tail(&self) -> &[u8] {
        &self.tail
    }

    /// Every byte written, kept or not.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The bytes between the head and the tail that are no longer kept.
    pub fn omitted(&self) -> u64 {
        self.total
            .saturating_sub((self.head.len() + self.tail.len()) as u64)
    }

    /// Formats the snapshot: head, marker, tail.
    pub fn format(mut self) -> FormattedOutput {
        if self.total == 0 {
            return FormattedOutput::default();
        }
        if !self.head_full || self.tail.is_empty() {
            let mut head = self.head;
            if !self.finished {
                head.truncate(head.len() - incomplete_suffix_len(&head));
            }
            return FormattedOutput {
                text: to_text(&truncate_lines(&head)),
                truncation: None,
            };
        }

        let stored = (self.head.len() + self.tail.len()) as u64;
        let contiguous = stored == self.total;
        // A character cut by the end of the head: when the tail continues it
        // directly, move its first bytes over to the tail; otherwise its
        // other bytes are gone, so drop these too.
        let split = incomplete_suffix_len(&self.head);
        if split > 0 {
            let moved = self.head.split_off(self.head.len() - split);
            if contiguous {
                self.tail.splice(0..0, moved);
            }
        }
        // A character cut by the start of the ring: its first bytes are gone.
        let orphans = if contiguous {
            0
        } else {
            leading_continuation_len(&self.tail)
        };
        self.tail.drain(..orphans);
        // A character whose last bytes have not arrived yet is held back: it
        // is neither shown nor omitted.
        if !self.finished {
            let pending = incomplete_suffix_len(&self.tail);
            self.tail.truncate(self.tail.len() - pending);
        }
        let boundary_drops = if contiguous {
            0
        } else {
            (split + orphans) as u64
        };
        let omitted = self.total - stored + boundary_drops;

        let head = truncate_lines(&self.head);
        let tail = truncate_lines(&self.tail);
        let marker = if omitted > 0 {
            format!("\n\n... [omitted {omitted} bytes] ...\n\n")
        } else {
            "\n".to_owned()
        };
        // In the program's bytes, as Go counts it (before any U+FFFD).
        let retained_bytes = (head.len() + marker.len() + tail.len()) as u64;
        let mut text = to_text(&head);
        text.push_str(&marker);
        text.push_str(&to_text(&tail));
        FormattedOutput {
            text,
            truncation: Some(Truncation {
                original_bytes: self.total,
                retained_bytes,
                omitted_bytes: omitted,
                strategy: STRATEGY_HEAD_TAIL,
            }),
        }
    }
}

/// Length of a trailing run that starts a valid multi-byte UTF-8 character
/// but stops before its end (0 if the slice ends on a boundary or with
/// invalid bytes).
pub(crate) fn incomplete_suffix_len(bytes: &[u8]) -> usize {
    // Look back at most 3 bytes for the lead byte of the last character.
    for back in 1..=bytes.len().min(3) {
        let byte = bytes[bytes.len() - back];
        if byte & 0b1100_0000 == 0b1000_0000 {
            continue; // a continuation byte: keep looking for the lead
        }
        let needed = match byte {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return 0, // ASCII or an invalid lead: nothing incomplete
        };
        if back >= needed {
            return 0;
        }
        let partial = &bytes[bytes.len() - back..];
        return if is_valid_prefix(partial) { back } else { 0 };
    }
    0
}

/// Whether `partial` (a lead byte and fewer continuation bytes than it needs)
/// can still become a valid character.
fn is_valid_prefix(partial: &[u8]) -> bool {
    let (lead, rest) = match partial.split_first() {
        Some(split) => split,
        None => return false,
    };
    if let Some(&second) = rest.first() {
        let ok = match lead {
            0xE0 => (0xA0..=0xBF).contains(&second),
            0xED => (0x80..=0x9F).contains(&second),
            0xF0 => (0x90..=0xBF).contains(&second),
            0xF4 => (0x80..=0x8F).contains(&second),
            _ => (0x80..=0xBF).contains(&second),
        };
        if !ok {
            return false;
        }
    }
    rest.iter().all(|b| b & 0b1100_0000 == 0b1000_0000)
}

/// Number of continuation bytes (at most 3) at the start of `bytes`.
fn leading_continuation_len(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .take(3)
        .take_while(|b| *b & 0b1100_0000 == 0b1000_0000)
        .count()
}

/// Shortens every line longer than [`MAX_LINE_LENGTH`] bytes to its first
/// 2032 bytes (fewer, to end on a character boundary) followed by
/// [`LINE_TRUNCATION_SUFFIX`]. Lengths are in the program's own bytes, as
/// Go measures them; newlines are kept, `\r` is not special.
pub fn truncate_lines(bytes: &[u8]) -> Cow<'_, [u8]> {
    if bytes.len() <= MAX_LINE_LENGTH {
        return Cow::Borrowed(bytes);
    }
    let keep = MAX_LINE_LENGTH - LINE_TRUNCATION_SUFFIX.len();
    // Lines are found with memchr, and runs of short lines are copied in
    // one piece: only long lines need work.
    let long_line = |start: usize, end: usize| end - start > MAX_LINE_LENGTH;
    let mut ends = memchr::memchr_iter(b'\n', bytes).chain(std::iter::once(bytes.len()));
    let mut start = 0;
    let first_long = loop {
        let Some(end) = ends.next() else {
            return Cow::Borrowed(bytes);
        };
        if long_line(start, end) {
            break (start, end);
        }
        start = end + 1;
    };
    let mut out = Vec::with_capacity(bytes.len().min(64 * 1024));
    let mut copied = 0;
    let mut line = Some(first_long);
    while let Some((start, end)) = line {
        if long_line(start, end) {
            out.extend_from_slice(&bytes[copied..start]);
            let text = &bytes[start..end];
            out.extend_from_slice(&text[..boundary_at_or_before(text, keep)]);
            out.extend_from_slice(LINE_TRUNCATION_SUFFIX.as_bytes());
            copied = end;
        }
        line = ends.next().map(|next| (end + 1, next));
    }
    out.extend_from_slice(&bytes[copied..]);
    Cow::Owned(out)
}

/// `index`, moved back to the start of the valid UTF-8 character it would
/// split, if any. Invalid bytes count as one-byte characters.
fn boundary_at_or_before(bytes: &[u8], index: usize) -> usize {
    for back in 1..=index.min(3) {
        let start = index - back;
        let byte = bytes[start];
        if byte & 0b1100_0000 == 0b1000_0000 {
            continue; // a continuation byte: keep looking for the lead
        }
        let len = match byte {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return index,
        };
        let crosses = start + len > index;
        let valid = bytes
            .get(start..start + len)
            .is_some_and(|char| std::str::from_utf8(char).is_ok());
        return if crosses && valid { start } else { index };
    }
    index
}

/// Text for clients: valid UTF-8 as is, and each byte that is not part of
/// a valid character as U+FFFD (as Go's JSON encoder does).
pub fn text_of(bytes: &[u8]) -> String {
    to_text(bytes)
}

pub(crate) fn to_text(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        text.push_str(chunk.valid());
        for _ in chunk.invalid() {
            text.push(char::REPLACEMENT_CHARACTER);
        }
    }
    text
}

#[cfg(test)]
mod tests;
