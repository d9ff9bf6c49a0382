//! Owns the two terminal units: [`keys`](crate::terminal::keys) (tmux key
//! names to the bytes a terminal sends) and
//! [`screen`](crate::terminal::screen) (the emulated screen a person would
//! see, which also answers the program's terminal queries).
//!
//! Both are sans-IO. Opening the terminal, writing to it and resizing it
//! belong to the executors; the manager keeps one
//! [`Screen`](crate::terminal::Screen) per terminal process, feeds it the
//! output, and writes the replies of
//! [`Screen::process`](crate::terminal::Screen::process) back to the
//! program.

pub mod keys;
pub mod screen;

pub use keys::{KeyModes, UnknownKey, encode_key};
pub use screen::{Cursor, DEFAULT_SCROLLBACK_LINES, Screen, ScreenSnapshot};
