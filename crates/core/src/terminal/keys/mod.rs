//! Named keys to bytes: tmux's `send-keys` names (`Enter`, `C-c`, `Up`,
//! `F1`, `M-b`, `C-S-Left`, …) encoded the way an xterm-compatible terminal
//! sends them, honouring the application cursor and keypad modes.
//!
//! The names and their behaviour follow tmux (`key-string.c` and
//! `input-keys.c`) with these deliberate differences:
//! - `Home`/`End` are xterm's `ESC [ H`/`ESC [ F` (`ESC O H`/`ESC O F` in
//!   application cursor mode), not tmux's own `ESC [ 1 ~`/`ESC [ 4 ~`, since
//!   our screen emulates an xterm;
//! - `S-` on a letter sends the capital letter (tmux sends the letter
//!   unchanged), `S-Tab` sends back-tab;
//! - `KPEnter` outside application keypad mode sends `\r`, like xterm;
//! - a few common spellings are accepted besides tmux's: `Esc`, `Return`,
//!   `Backspace`;
//! - names tmux would send literally when it cannot look them up are errors
//!   here, except for a single character, which is sent as itself.
//!
//! Modifiers a key cannot carry in a terminal are dropped, as tmux does:
//! `C-Enter` is `Enter`, `C-é` is `é`.

use thiserror::Error;

/// The terminal modes that change what some keys send; read them from the
/// screen ([`Screen::key_modes`](super::Screen::key_modes)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyModes {
    /// DECCKM (`ESC [ ? 1 h`): unmodified arrows, `Home` and `End` send
    /// `ESC O x` instead of `ESC [ x`.
    pub application_cursor: bool,
    /// DECKPAM (`ESC =`): the `KP…` keys send `ESC O x` instead of their
    /// character.
    pub application_keypad: bool,
}

/// A key name that is neither a tmux key name (with optional `C-`, `M-`,
/// `S-` prefixes) nor a single character.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "unknown key {name:?}: use tmux names such as Enter, Tab, Escape, BSpace, Up, C-c, F1, PageDown"
)]
pub struct UnknownKey {
    /// The name as given.
    pub name: String,
}

/// The bytes a terminal sends when the key `name` is pressed.
///
/// `name` is a tmux key name, matched case-insensitively (`Enter`, `enter`),
/// optionally after modifier prefixes `C-` (Ctrl), `M-` (Meta/Alt) and `S-`
/// (Shift), also case-insensitive and in any order (`C-M-x`, `c-Up`); tmux's
/// `^x` is `C-x`. Anything else must be a single character, which is sent
/// as itself (UTF-8), so `a`, `A`, `é` and `-` are keys too. `C-C` is
/// Ctrl-c (0x03), as on a keyboard.
///
/// Keys with an xterm modified form (arrows, `Home`, `End`, `PageUp`,
/// `PageDown`, `Insert`, `Delete`, `F1`–`F12`) carry modifiers as xterm's
/// parameter `1 + Shift(1) + Meta(2) + Ctrl(4)`: `C-Up` is `ESC [ 1 ; 5 A`.
/// Other keys get Meta as an `ESC` prefix (`M-b` is `ESC b`) and Ctrl as a
/// control code (`C-c` is 0x03, `C-[` is `ESC`, `C-Space` is NUL).
///
/// # Errors
/// [`UnknownKey`] for an empty name, an unknown name, or an unknown
/// modifier prefix.
pub fn encode_key(name: &str, modes: KeyModes) -> Result<Vec<u8>, UnknownKey> {
    let (mods, key) = parse(name).ok_or_else(|| UnknownKey {
        name: name.to_owned(),
    })?;
    Ok(encode(key, mods, modes))
}

/// Which modifier keys are held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Modifiers {
    ctrl: bool,
    meta: bool,
    shift: bool,
}

impl Modifiers {
    fn any(self) -> bool {
        self.ctrl || self.meta || self.shift
    }

    /// xterm's modifier parameter: 1 plus the held modifiers' bits.
    fn xterm_param(self) -> u8 {
        1 + u8::from(self.shift) + 2 * u8::from(self.meta) + 4 * u8::from(self.ctrl)
    }
}

/// A key before modifiers are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    /// A single character typed as itself.
    Char(char),
    Named(Named),
}

/// The keys that have a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Named {
    Enter,
    Tab,
    /// Back-tab (Shift-Tab): `ESC [ Z`.
    BTab,
    Escape,
    Space,
    /// Backspace, which terminals send as DEL (0x7f).
    BSpace,
    /// A key whose unmodified form is `ESC [ x`, or `ESC O x` in application
    /// cursor mode: arrows, `Home`, `End`. The byte is `x`.
    Cursor(u8),
    /// A key whose unmodified form is always `ESC O x`: `F1`–`F4`.
    Ss3(u8),
    /// A key of the form `ESC [ n ~`: `Insert`, `Delete`, pages, `F5`–`F12`.
    Tilde(u8),
    /// A numeric keypad key: its character normally, `ESC O x` in
    /// application keypad mode.
    Keypad {
        normal: u8,
        application: u8,
    },
}

/// tmux's key names (and a few common spellings), matched ignoring ASCII
/// case.
const NAMES: &[(&str, Named)] = &[
    ("Enter", Named::Enter),
    ("Return", Named::Enter),
    ("Tab", Named::Tab),
    ("BTab", Named::BTab),
    ("Escape", Named::Escape),
    ("Esc", Named::Escape),
    ("Space", Named::Space),
    ("BSpace", Named::BSpace),
    ("Backspace", Named::BSpace),
    ("Up", Named::Cursor(b'A')),
    ("Down", Named::Cursor(b'B')),
    ("Right", Named::Cursor(b'C')),
    ("Left", Named::Cursor(b'D')),
    ("Home", Named::Cursor(b'H')),
    ("End", Named::Cursor(b'F')),
    ("IC", Named::Tilde(2)),
    ("Insert", Named::Tilde(2)),
    ("DC", Named::Tilde(3)),
    ("Delete", Named::Tilde(3)),
    ("PPage", Named::Tilde(5)),
    ("PageUp", Named::Tilde(5)),
    ("PgUp", Named::Tilde(5)),
    ("NPage", Named::Tilde(6)),
    ("PageDown", Named::Tilde(6)),
    ("PgDn", Named::Tilde(6)),
    ("F1", Named::Ss3(b'P')),
    ("F2", Named::Ss3(b'Q')),
    ("F3", Named::Ss3(b'R')),
    ("F4", Named::Ss3(b'S')),
    ("F5", Named::Tilde(15)),
    ("F6", Named::Tilde(17)),
    ("F7", Named::Tilde(18)),
    ("F8", Named::Tilde(19)),
    ("F9", Named::Tilde(20)),
    ("F10", Named::Tilde(21)),
    ("F11", Named::Tilde(23)),
    ("F12", Named::Tilde(24)),
    ("KP/", keypad(b'/', b'o')),
    ("KP*", keypad(b'*', b'j')),
    ("KP-", keypad(b'-', b'm')),
    ("KP+", keypad(b'+', b'k')),
    ("KP.", keypad(b'.', b'n')),
    ("KPEnter", keypad(b'\r', b'M')),
    ("KP0", keypad(b'0', b'p')),
    ("KP1", keypad(b'1', b'q')),
    ("KP2", keypad(b'2', b'r')),
    ("KP3", keypad(b'3', b's')),
    ("KP4", keypad(b'4', b't')),
    ("KP5", keypad(b'5', b'u')),
    ("KP6", keypad(b'6', b'v')),
    ("KP7", keypad(b'7', b'w')),
    ("KP8", keypad(b'8', b'x')),
    ("KP9", keypad(b'9', b'y')),
];

const fn keypad(normal: u8, application: u8) -> Named {
    Named::Keypad {
        normal,
        application,
    }
}

const ESC: u8 = 0x1b;

/// Splits `name` into its modifiers and key, or `None` if it names none.
fn parse(name: &str) -> Option<(Modifiers, Key)> {
    let mut mods = Modifiers::default();
    let mut rest = name;
    // tmux's short form of Ctrl: `^c` (a lone `^` is the character).
    if let Some(after) = rest.strip_prefix('^')
        && !after.is_empty()
    {
        mods.ctrl = true;
        rest = after;
    }
    // Prefixes are one ASCII letter and a dash; a name such as `M--` is Meta
    // and the `-` key. A dash as the second byte means the first byte is a
    // whole (ASCII) character, so slicing after two bytes is on a boundary.
    while let [first, b'-', ..] = rest.as_bytes() {
        match first.to_ascii_lowercase() {
            b'c' => mods.ctrl = true,
            b'm' => mods.meta = true,
            b's' => mods.shift = true,
            _ => return None,
        }
        rest = &rest[2..];
    }
    let mut chars = rest.chars();
    let key = match (chars.next(), chars.next()) {
        (None, _) => return None,
        (Some(c), None) => Key::Char(c),
        (Some(_), Some(_)) => {
            let (_, named) = NAMES
                .iter()
                .find(|(known, _)| known.eq_ignore_ascii_case(rest))?;
            Key::Named(*named)
        }
    };
    Some((mods, key))
}

/// The bytes for `key` with `mods` held, in `modes`.
fn encode(key: Key, mods: Modifiers, modes: KeyModes) -> Vec<u8> {
    match key {
        Key::Char(c) => encode_char(c, mods),
        Key::Named(named) => encode_named(named, mods, modes),
    }
}

fn encode_char(c: char, mods: Modifiers) -> Vec<u8> {
    let mut out = meta_prefix(mods);
    let c = if mods.shift {
        c.to_ascii_uppercase()
    } else {
        c
    };
    match control_code(c).filter(|_| mods.ctrl) {
        Some(code) => out.push(code),
        None => {
            let mut utf8 = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
        }
    }
    out
}

fn encode_named(named: Named, mods: Modifiers, modes: KeyModes) -> Vec<u8> {
    // Keys with an xterm modified form carry every modifier in it.
    match named {
        Named::Cursor(x) | Named::Ss3(x) if mods.any() => return csi_modified(1, mods, x),
        Named::Cursor(x) if modes.application_cursor => return vec![ESC, b'O', x],
        Named::Cursor(x) => return vec![ESC, b'[', x],
        Named::Ss3(x) => return vec![ESC, b'O', x],
        Named::Tilde(n) if mods.any() => return csi_modified(n, mods, b'~'),
        Named::Tilde(n) => return format!("\x1b[{n}~").into_bytes(),
        // tmux drops every modifier of back-tab.
        Named::BTab => return b"\x1b[Z".to_vec(),
        Named::Tab if mods.shift => return b"\x1b[Z".to_vec(),
        _ => {}
    }
    // The rest take Meta as an ESC prefix and, for some, Ctrl as a code.
    let mut out = meta_prefix(mods);
    match named {
        Named::Enter => out.push(b'\r'),
        Named::Tab => out.push(b'\t'),
        Named::Escape => out.push(ESC),
        Named::Space => out.push(if mods.ctrl { 0 } else { b' ' }),
        Named::BSpace => out.push(if mods.ctrl { 0x08 } else { 0x7f }),
        Named::Keypad {
            normal,
            application,
        } => {
            if modes.application_keypad {
                out.extend_from_slice(&[ESC, b'O', application]);
            } else {
                out.push(normal);
            }
        }
        Named::BTab | Named::Cursor(_) | Named::Ss3(_) | Named::Tilde(_) => {}
    }
    out
}

/// `ESC [ n ; m x`, xterm's form of a modified key.
fn csi_modified(n: u8, mods: Modifiers, last: u8) -> Vec<u8> {
    let mut out = format!("\x1b[{n};{}", mods.xterm_param()).into_bytes();
    out.push(last);
    out
}

fn meta_prefix(mods: Modifiers) -> Vec<u8> {
    if mods.meta { vec![ESC] } else { Vec::new() }
}

/// The control code Ctrl turns `c` into on a US keyboard (the VT10x
/// mapping tmux uses), or `None` when Ctrl does not change it.
fn control_code(c: char) -> Option<u8> {
    let byte = u8::try_from(c).ok()?;
    match byte {
        b' ' | b'2' => Some(0),
        b'3'..=b'7' => Some(byte - b'3' + ESC),
        b'8' | b'?' => Some(0x7f),
        b'/' | b'-' => Some(0x1f),
        b'@'..=b'~' => Some(byte & 0x1f),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
