//! A byte scanner that runs alongside the emulator: it finds the places in
//! the output where the screen must step in between two sequences, and the
//! bytes of over-long OSC strings to hold back, carrying a few bytes of
//! state across chunks.
//!
//! It follows the parser's (vte's) state machine only as far as needed:
//! `ESC` always starts a new sequence, `CAN`/`SUB` abort one, C0 controls
//! inside a sequence are executed without ending it, and an OSC string ends
//! at `BEL`, `ESC`, `CAN` or `SUB`.

/// The longest OSC string (a title, a hyperlink) passed to the emulator;
/// vte buffers an OSC string whole, so without a cap a program could grow
/// it without end.
pub(super) const MAX_OSC_BYTES: usize = 4096;

const ESC: u8 = 0x1b;
const BEL: u8 = 0x07;
const CAN: u8 = 0x18;
const SUB: u8 = 0x1a;

/// A place where the screen steps in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mark {
    /// `bytes[..end]` ends a `sequence` that the screen acts on right after
    /// the emulator has processed it, before any later byte.
    After { end: usize, sequence: Sequence },
    /// `bytes[start..end]` continue an OSC string past [`MAX_OSC_BYTES`]:
    /// the emulator must not see them.
    Skip { start: usize, end: usize },
}

/// The sequences the screen handles itself, besides the emulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sequence {
    /// `CSI ? … h` or `CSI ? … l`: DEC private modes set or reset (vt100
    /// leaves mode 1047 to us).
    PrivateMode,
    /// `CSI 3 J`: erase the saved lines (vt100 keeps none, we do).
    EraseSavedLines,
}

/// The scanner's state between bytes (and chunks).
#[derive(Debug, Default)]
pub(super) struct Scanner {
    state: State,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Text, or a sequence we do not follow further; only `ESC` matters.
    #[default]
    Ground,
    /// After `ESC`.
    Escape,
    /// Inside `ESC [ …`.
    Csi { private: bool, params: Params },
    /// Inside `ESC ] …`, with the bytes passed on so far.
    Osc { len: usize },
}

/// What a CSI sequence's parameters were so far, as far as we care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Params {
    Empty,
    /// Exactly `3`.
    Three,
    Other,
}

impl Scanner {
    /// The next mark in `bytes` at or after `pos`, or `None` when the rest
    /// of `bytes` needs nothing. Call again from the mark's end.
    pub(super) fn next_mark(&mut self, bytes: &[u8], mut pos: usize) -> Option<Mark> {
        while let Some(&byte) = bytes.get(pos) {
            match self.state {
                State::Ground => {
                    let esc = memchr::memchr(ESC, bytes.get(pos..)?)?;
                    pos += esc + 1;
                    self.state = State::Escape;
                }
                State::Escape => {
                    pos += 1;
                    self.state = match byte {
                        b'[' => State::Csi {
                            private: false,
                            params: Params::Empty,
                        },
                        b']' => State::Osc { len: 0 },
                        ESC => State::Escape,
                        CAN | SUB => State::Ground,
                        // Other C0 controls are executed and the escape goes on.
                        0x00..=0x1f => State::Escape,
                        _ => State::Ground,
                    };
                }
                State::Csi { private, params } => {
                    pos += 1;
                    match byte {
                        ESC => self.state = State::Escape,
                        CAN | SUB => self.state = State::Ground,
                        b'?' if !private && params == Params::Empty => {
                            self.state = State::Csi {
                                private: true,
                                params,
                            };
                        }
                        b'3' if params == Params::Empty => {
                            self.state = State::Csi {
                                private,
                                params: Params::Three,
                            };
                        }
                        0x20..=0x3f => {
                            self.state = State::Csi {
                                private,
                                params: Params::Other,
                            };
                        }
                        0x40..=0x7e => {
                            self.state = State::Ground;
                            let sequence = match byte {
                                b'h' | b'l' if private => Some(Sequence::PrivateMode),
                                b'J' if !private && params == Params::Three => {
                                    Some(Sequence::EraseSavedLines)
                                }
                                _ => None,
                            };
                            if let Some(sequence) = sequence {
                                return Some(Mark::After { end: pos, sequence });
                            }
                        }
                        // C0 controls are executed inside the sequence; DEL
                        // and high bytes are ignored.
                        _ => {}
                    }
                }
                State::Osc { len } => match byte {
                    BEL | CAN | SUB => {
                        pos += 1;
                        self.state = State::Ground;
                    }
                    ESC => {
                        pos += 1;
                        self.state = State::Escape;
                    }
                    _ if len < MAX_OSC_BYTES => {
                        pos += 1;
                        self.state = State::Osc { len: len + 1 };
                    }
                    _ => {
                        let rest = bytes.get(pos..)?;
                        let run = rest
                            .iter()
                            .position(|b| matches!(*b, BEL | CAN | SUB | ESC))
                            .unwrap_or(rest.len());
                        return Some(Mark::Skip {
                            start: pos,
                            end: pos + run,
                        });
                    }
                },
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every mark of `chunks` fed in order, with positions in each chunk.
    fn marks(chunks: &[&[u8]]) -> Vec<Vec<Mark>> {
        let mut scanner = Scanner::default();
        chunks
            .iter()
            .map(|chunk| {
                let mut found = Vec::new();
                let mut pos = 0;
                while let Some(mark) = scanner.next_mark(chunk, pos) {
                    pos = match mark {
                        Mark::After { end, .. } | Mark::Skip { end, .. } => end,
                    };
                    found.push(mark);
                }
                found
            })
            .collect()
    }

    fn after(end: usize, sequence: Sequence) -> Mark {
        Mark::After { end, sequence }
    }

    #[test]
    fn text_and_ordinary_sequences_need_nothing() {
        let chunk = b"hello \x1b[31mred\x1b[0m \x1b[2J\x1b[H\x1b]0;title\x07 \x1b7\x1b8 done";
        assert_eq!(marks(&[chunk]), [vec![]]);
    }

    #[test]
    fn private_modes_and_erase_saved_lines_are_marked_after_their_final_byte() {
        let chunk = b"a\x1b[?1049hb\x1b[3Jc\x1b[?25l";
        assert_eq!(
            marks(&[chunk]),
            [vec![
                after(9, Sequence::PrivateMode),
                after(14, Sequence::EraseSavedLines),
                after(21, Sequence::PrivateMode),
            ]]
        );
    }

    #[test]
    fn only_exactly_csi_3_j_erases_saved_lines() {
        for chunk in [
            &b"\x1b[J"[..],
            b"\x1b[2J",
            b"\x1b[33J",
            b"\x1b[3;1J",
            b"\x1b[?3J",
            b"\x1b[3K",
        ] {
            assert_eq!(marks(&[chunk]), [vec![]], "{chunk:?}");
        }
    }

    #[test]
    fn sequences_split_across_chunks_are_found() {
        assert_eq!(
            marks(&[b"x\x1b", b"[?10", b"47h", b"\x1b[3", b"J"]),
            [
                vec![],
                vec![],
                vec![after(3, Sequence::PrivateMode)],
                vec![],
                vec![after(1, Sequence::EraseSavedLines)],
            ]
        );
    }

    #[test]
    fn escape_restarts_and_cancel_aborts_a_sequence() {
        // ESC inside a CSI starts a new sequence; CAN aborts it.
        assert_eq!(
            marks(&[b"\x1b[?1\x1b[?2h\x1b[?3\x18h"]),
            [vec![after(9, Sequence::PrivateMode)]]
        );
        // A C0 control inside a CSI does not end it.
        assert_eq!(
            marks(&[b"\x1b[?1\n049h"]),
            [vec![after(9, Sequence::PrivateMode)]]
        );
    }

    #[test]
    fn osc_strings_past_the_cap_are_skipped_up_to_their_terminator() {
        let mut chunk = b"\x1b]0;".to_vec();
        chunk.extend(std::iter::repeat_n(b'x', MAX_OSC_BYTES + 10));
        chunk.extend_from_slice(b"\x07after\x1b[?1h");
        let start = 2 + MAX_OSC_BYTES;
        assert_eq!(
            marks(&[&chunk]),
            [vec![
                Mark::Skip {
                    start,
                    end: start + 12
                },
                after(chunk.len(), Sequence::PrivateMode),
            ]]
        );
    }

    #[test]
    fn an_endless_osc_string_is_skipped_chunk_after_chunk() {
        // `2;` and the `y`s fill the cap exactly.
        let mut first = b"\x1b]2;".to_vec();
        first.extend(std::iter::repeat_n(b'y', MAX_OSC_BYTES - 2));
        let more = vec![b'y'; 100];
        assert_eq!(
            marks(&[&first, &more, &more, b"\x1b\\"]),
            [
                vec![],
                vec![Mark::Skip { start: 0, end: 100 }],
                vec![Mark::Skip { start: 0, end: 100 }],
                vec![],
            ]
        );
    }
}
