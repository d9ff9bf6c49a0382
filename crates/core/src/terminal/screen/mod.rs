//! The rendered screen of a terminal process: what a person would see, with
//! bounded memory, answering the terminal queries programs wait on.
//!
//! [`Screen`] wraps the [`vt100`] emulator (cells, cursor, modes, the
//! alternate screen, wide characters) and adds what it leaves to its user:
//! replies to queries (cursor position, device status and attributes), the
//! window title, scrollback kept as text, DEC mode 1047, and a cap on OSC
//! strings. Output may arrive in any chunks, split inside a UTF-8 character
//! or an escape sequence.

mod scan;

use std::collections::VecDeque;
use std::fmt;
use std::num::NonZeroU16;

use vt100::capture::{BasicFormattedCaptureState, RowContents, basic_formatted_to_plain};

use self::scan::{Mark, Scanner, Sequence};
use super::keys::KeyModes;
use crate::exec::TerminalSize;

/// The scrollback a screen keeps unless told otherwise: lines that scrolled
/// off the top of the main screen.
pub const DEFAULT_SCROLLBACK_LINES: usize = 1000;

/// The reply to primary device attributes (`ESC [ c`): a VT100 with
/// advanced video, as tmux answers.
const PRIMARY_DEVICE_ATTRIBUTES: &[u8] = b"\x1b[?1;2c";
/// The reply to secondary device attributes (`ESC [ > c`): xterm, patch
/// level 276.
const SECONDARY_DEVICE_ATTRIBUTES: &[u8] = b"\x1b[>0;276;0c";
/// The reply to a device status report (`ESC [ 5 n`): "OK".
const STATUS_OK: &[u8] = b"\x1b[0n";

/// A terminal's screen, fed with the program's output.
///
/// Memory is bounded: two grids of `rows × cols` cells of 32 bytes each (the
/// main screen, and the alternate screen once a program uses it), at most
/// `scrollback_lines` lines of text (each at most one row wide), a title of
/// at most 4 KiB, and a few bytes of parser state. At the default 24 × 80
/// with 1000 lines of scrollback that is about 120 KiB of cells plus the
/// scrollback's text (typically well under 100 KiB); at the largest size,
/// 1000 × 1000, the cells alone take 64 MB.
pub struct Screen {
    parser: vt100::Parser<Hooks>,
    scanner: Scanner,
    /// The start of a UTF-8 character that the last chunk ended in (at most
    /// 3 bytes), held back for the next: vte 0.15 can drop the character
    /// after one it had to complete across two calls, so it is only ever
    /// given whole characters.
    held: Vec<u8>,
}

impl Screen {
    /// An empty screen of `size`, keeping up to `scrollback_lines` lines that
    /// scroll off its top (see [`DEFAULT_SCROLLBACK_LINES`]).
    pub fn new(size: TerminalSize, scrollback_lines: usize) -> Self {
        let hooks = Hooks {
            replies: Vec::new(),
            title: None,
            scrollback: VecDeque::new(),
            scrollback_lines,
            pending_switch: None,
            scratch: String::new(),
        };
        // vt100 keeps no scrollback of its own: `Hooks::on_scroll` keeps it
        // as text, which is smaller than cells and readable through `&self`.
        let (rows, cols) = dimensions(size);
        Self {
            parser: vt100::Parser::new_with_callbacks(rows, cols, 0, hooks),
            scanner: Scanner::default(),
            held: Vec::new(),
        }
    }

    /// Feeds output of the program to the screen and returns the bytes to
    /// write back to the program: the answers to the queries in `bytes`, in
    /// order (empty almost always).
    ///
    /// The caller must write the answer to the terminal (its master side)
    /// promptly: programs that query the terminal wait for the answer. Each
    /// answer reflects the screen at the point of its query. Answered:
    /// cursor position (`ESC [ 6 n` → `ESC [ row ; col R`, 1-based), device
    /// status (`ESC [ 5 n` → `ESC [ 0 n`), primary device attributes
    /// (`ESC [ c` → `ESC [ ? 1 ; 2 c`), secondary device attributes
    /// (`ESC [ > c` → `ESC [ > 0 ; 276 ; 0 c`) and the text area size
    /// (`ESC [ 18 t` → `ESC [ 8 ; rows ; cols t`). Other queries go
    /// unanswered, as on a terminal that does not know them.
    ///
    /// `bytes` may end anywhere, inside a UTF-8 character or a sequence; the
    /// rest is taken from the next call. Invalid UTF-8 is dropped.
    pub fn process(&mut self, bytes: &[u8]) -> Vec<u8> {
        let joined;
        let bytes = if self.held.is_empty() {
            bytes
        } else {
            joined = [self.held.as_slice(), bytes].concat();
            self.held.clear();
            joined.as_slice()
        };
        let (bytes, incomplete) = bytes.split_at(bytes.len() - incomplete_utf8_tail(bytes));
        self.held.extend_from_slice(incomplete);

        let mut fed = 0;
        let mut pos = 0;
        while let Some(mark) = self.scanner.next_mark(bytes, pos) {
            match mark {
                Mark::After { end, sequence } => {
                    self.parser.process(&bytes[fed..end]);
                    self.after(sequence);
                    fed = end;
                    pos = end;
                }
                Mark::Skip { start, end } => {
                    self.parser.process(&bytes[fed..start]);
                    fed = end;
                    pos = end;
                }
            }
        }
        self.parser.process(&bytes[fed..]);
        let hooks = self.parser.callbacks_mut();
        // A switch is applied at its mark; one without a mark cannot be
        // placed correctly, so it is dropped rather than applied late.
        hooks.pending_switch = None;
        std::mem::take(&mut hooks.replies)
    }

    /// Changes the size, as the terminal's window did.
    ///
    /// As vt100 does it: growing adds rows at the top when lines had
    /// scrolled off (where a terminal would pull them back from its
    /// history; they stay in the scrollback here, and the top rows are
    /// blank), otherwise at the bottom; shrinking drops the rows below the
    /// cursor first, then pushes rows off the top into the scrollback.
    /// Columns are cut or padded; text is not re-wrapped. Programs redraw
    /// on the `SIGWINCH` the resize sends them.
    pub fn resize(&mut self, size: TerminalSize) {
        let (rows, cols) = dimensions(size);
        self.parser.set_size(rows, cols);
    }

    /// The modes [`encode_key`](super::encode_key) needs, as the program
    /// last set them.
    pub fn key_modes(&self) -> KeyModes {
        let screen = self.parser.screen();
        KeyModes {
            application_cursor: screen.application_cursor(),
            application_keypad: screen.application_keypad(),
        }
    }

    /// What the screen shows now, with up to `scrollback` of the most recent
    /// lines that scrolled off the top of the main screen.
    pub fn snapshot(&self, scrollback: usize) -> ScreenSnapshot {
        let screen = self.parser.screen();
        let hooks = self.parser.callbacks();
        let (rows, cols) = screen.size();
        let (rows, cols) = (rows.get(), cols.get());
        let skip = hooks.scrollback.len().saturating_sub(scrollback);
        ScreenSnapshot {
            rows,
            cols,
            cursor: Cursor {
                row: screen.cursor_position().0,
                col: cursor_col(screen),
                visible: !screen.hide_cursor(),
            },
            title: hooks.title.clone(),
            alternate_screen: screen.alternate_screen(),
            application_cursor: screen.application_cursor(),
            application_keypad: screen.application_keypad(),
            lines: screen.rows(0, cols).map(trim_end_blanks).collect(),
            scrollback: hooks.scrollback.iter().skip(skip).cloned().collect(),
        }
    }

    /// Acts on a sequence the emulator has just processed.
    fn after(&mut self, sequence: Sequence) {
        let alternate = self.parser.screen().alternate_screen();
        match sequence {
            Sequence::PrivateMode => match self.parser.callbacks_mut().pending_switch.take() {
                // Mode 1047 is mode 47 (which vt100 knows) that also clears
                // the alternate screen when leaving it, as xterm does.
                Some(Switch::ToAlternate) if !alternate => self.parser.process(b"\x1b[?47h"),
                Some(Switch::ToMain) if alternate => self.parser.process(b"\x1b[2J\x1b[?47l"),
                Some(_) | None => {}
            },
            // Like vt100's `CSI 3 J`, this erases the current grid's saved
            // lines; the alternate screen has none.
            Sequence::EraseSavedLines if !alternate => {
                self.parser.callbacks_mut().scrollback.clear();
            }
            Sequence::EraseSavedLines => {}
        }
    }
}

impl fmt::Debug for Screen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let screen = self.parser.screen();
        let hooks = self.parser.callbacks();
        f.debug_struct("Screen")
            .field("size", &screen.size())
            .field("cursor", &screen.cursor_position())
            .field("alternate_screen", &screen.alternate_screen())
            .field("title", &hooks.title)
            .field("scrollback_len", &hooks.scrollback.len())
            .field("scrollback_lines", &hooks.scrollback_lines)
            .finish_non_exhaustive()
    }
}

/// What a terminal's screen shows at one moment, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenSnapshot {
    /// Rows of the screen.
    pub rows: u16,
    /// Columns of the screen.
    pub cols: u16,
    /// Where the cursor is, and whether it is shown.
    pub cursor: Cursor,
    /// The window title the program set last (OSC 0 or 2); `None` before
    /// any, or after an empty one.
    pub title: Option<String>,
    /// Whether the alternate screen is in use (DEC modes 1049, 1047, 47),
    /// as full-screen programs do; [`lines`](Self::lines) then show it, and
    /// the main screen comes back when the program leaves it.
    pub alternate_screen: bool,
    /// Whether application cursor mode (DECCKM, DEC mode 1) is on.
    pub application_cursor: bool,
    /// Whether application keypad mode (DECKPAM) is on.
    pub application_keypad: bool,
    /// The visible rows, top to bottom, as text without attributes: exactly
    /// [`rows`](Self::rows) entries, trailing blank rows included, so the
    /// layout shows. Each row has its trailing blanks trimmed; a wide
    /// character (CJK, emoji) appears once though it covers two columns; a
    /// long line the terminal wrapped is several rows.
    pub lines: Vec<String>,
    /// Up to the requested number of the most recent rows that scrolled off
    /// the top of the main screen, oldest first, trimmed like
    /// [`lines`](Self::lines). Never rows of the alternate screen.
    pub scrollback: Vec<String>,
}

impl ScreenSnapshot {
    /// The modes [`encode_key`](super::encode_key) needs.
    pub fn key_modes(&self) -> KeyModes {
        KeyModes {
            application_cursor: self.application_cursor,
            application_keypad: self.application_keypad,
        }
    }
}

/// The cursor of a screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The row, from 0 (top) to `rows - 1`.
    pub row: u16,
    /// The column, from 0 (left) to `cols - 1`. After a character in the
    /// last column it stays there until the next character wraps.
    pub col: u16,
    /// Whether the program shows it (DEC mode 25).
    pub visible: bool,
}

/// Which screen a DEC mode 1047 sequence switches to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Switch {
    ToAlternate,
    ToMain,
}

/// What vt100 calls back into: queries to answer, titles, rows scrolling
/// off, and the modes it does not know.
struct Hooks {
    /// Answers to queries, in order, until `Screen::process` returns them.
    replies: Vec<u8>,
    title: Option<String>,
    /// Rows that scrolled off the top of the main screen, oldest first, at
    /// most `scrollback_lines`.
    scrollback: VecDeque<String>,
    scrollback_lines: usize,
    /// A mode 1047 switch to apply once the emulator has finished its
    /// sequence (at the scanner's mark).
    pending_switch: Option<Switch>,
    /// Reused for formatting a row that scrolls off.
    scratch: String,
}

impl Hooks {
    fn set_title(&mut self, title: &[u8]) {
        self.title = (!title.is_empty()).then(|| String::from_utf8_lossy(title).into_owned());
    }
}

impl vt100::Callbacks for Hooks {
    fn set_window_title(&mut self, _: &mut vt100::Screen, title: &[u8]) {
        self.set_title(title);
    }

    fn unhandled_osc(&mut self, _: &mut vt100::Screen, params: &[&[u8]]) {
        // vt100 takes a title only when it has no `;`; the parser splits
        // OSC strings at every `;`, so join the pieces back.
        if let [kind, title @ ..] = params
            && matches!(*kind, b"0" | b"2")
            && title.len() > 1
        {
            self.set_title(&title.join(&b';'));
        }
    }

    fn unhandled_csi(
        &mut self,
        screen: &mut vt100::Screen,
        first_intermediate: Option<u8>,
        second_intermediate: Option<u8>,
        params: &[&[u16]],
        action: char,
    ) {
        let param = params.first().and_then(|p| p.first()).copied().unwrap_or(0);
        match (first_intermediate, second_intermediate, action, param) {
            (None, None, 'n', 5) => self.replies.extend_from_slice(STATUS_OK),
            (None, None, 'n', 6) => {
                let row = screen.cursor_position().0;
                let col = cursor_col(screen);
                let reply = format!("\x1b[{};{}R", u32::from(row) + 1, u32::from(col) + 1);
                self.replies.extend_from_slice(reply.as_bytes());
            }
            (None, None, 'c', 0) => self.replies.extend_from_slice(PRIMARY_DEVICE_ATTRIBUTES),
            (Some(b'>'), None, 'c', 0) => {
                self.replies.extend_from_slice(SECONDARY_DEVICE_ATTRIBUTES);
            }
            (None, None, 't', 18) => {
                let (rows, cols) = screen.size();
                let reply = format!("\x1b[8;{rows};{cols}t");
                self.replies.extend_from_slice(reply.as_bytes());
            }
            (Some(b'?'), None, 'h' | 'l', _) if params.iter().any(|p| *p == [1047]) => {
                self.pending_switch = Some(if action == 'h' {
                    Switch::ToAlternate
                } else {
                    Switch::ToMain
                });
            }
            _ => {}
        }
    }

    fn on_scroll(&mut self, row: RowContents<'_>, alternate_screen: bool) {
        if alternate_screen || self.scrollback_lines == 0 {
            return;
        }
        self.scratch.clear();
        let mut state = BasicFormattedCaptureState::new();
        // Writing to a String cannot fail.
        let _ = row.write_formatted_basic(&mut self.scratch, &mut state);
        let mut line: String = basic_formatted_to_plain(&self.scratch).collect();
        line.truncate(line.trim_end_matches(' ').len());
        line.shrink_to_fit();
        if self.scrollback.len() >= self.scrollback_lines {
            self.scrollback.pop_front();
        }
        self.scrollback.push_back(line);
    }
}

/// vt100's dimensions for `size` (never zero: `TerminalSize` forbids it).
fn dimensions(size: TerminalSize) -> (NonZeroU16, NonZeroU16) {
    let nonzero = |n: u16| NonZeroU16::new(n).unwrap_or(NonZeroU16::MIN);
    (nonzero(size.rows()), nonzero(size.cols()))
}

/// The cursor's column on the screen: vt100 lets it sit one past the last
/// column after a character there (the pending wrap); a terminal reports
/// the last column.
fn cursor_col(screen: &vt100::Screen) -> u16 {
    let cols = screen.size().1.get();
    screen.cursor_position().1.min(cols - 1)
}

/// How many bytes at the end of `bytes` could be the start of a UTF-8
/// character still to be completed: a lead byte with fewer continuation
/// bytes after it than it announces (so 0 to 3).
fn incomplete_utf8_tail(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let byte = bytes[bytes.len() - back];
        let needed = match byte {
            // A continuation byte: the lead is further back.
            0x80..=0xbf => continue,
            0xc2..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf4 => 4,
            _ => return 0,
        };
        return if back < needed { back } else { 0 };
    }
    0
}

fn trim_end_blanks(mut row: String) -> String {
    row.truncate(row.trim_end_matches(' ').len());
    row
}

#[cfg(test)]
mod tests;
