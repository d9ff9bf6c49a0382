//! `run -t` and `attach`: the local terminal joined to a process's remote
//! terminal, as `docker run -it` and `docker attach` do. The local terminal
//! goes into raw mode (restored on every way out: a drop guard, which also
//! runs on errors and panics); keystrokes go to `POST /{id}/input`, window
//! size changes to `POST /{id}/resize`, and the output comes live from the
//! stream. Ctrl-] detaches and leaves the process running.

use std::io::Write;
use std::os::fd::AsFd;

use anyhow::Context as _;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

use crate::client::Client;

/// The byte of Ctrl-], which detaches.
pub const DETACH: u8 = 0x1d;

/// How a session ended.
#[derive(Debug)]
pub enum Ended {
    /// The process exited: its `exit` event.
    Exited(Value),
    /// The user detached; the process runs on.
    Detached,
}

/// The local terminal in raw mode; restored when dropped.
pub struct RawMode {
    saved: rustix::termios::Termios,
}

impl RawMode {
    /// Puts standard input's terminal into raw mode; `None` when standard
    /// input is not a terminal (then input is passed on as it comes).
    ///
    /// # Errors
    /// When the terminal's modes cannot be read or set.
    pub fn enter() -> anyhow::Result<Option<Self>> {
        let stdin = std::io::stdin();
        if !rustix::termios::isatty(stdin.as_fd()) {
            return Ok(None);
        }
        let saved = rustix::termios::tcgetattr(stdin.as_fd())
            .context("cannot read the terminal's modes")?;
        let mut raw = saved.clone();
        raw.make_raw();
        rustix::termios::tcsetattr(stdin.as_fd(), rustix::termios::OptionalActions::Now, &raw)
            .context("cannot put the terminal into raw mode")?;
        Ok(Some(Self { saved }))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(
            std::io::stdin().as_fd(),
            rustix::termios::OptionalActions::Now,
            &self.saved,
        );
    }
}

/// The local terminal's size as `{"rows", "cols"}`, when there is one.
pub fn local_size() -> Option<Value> {
    let size = rustix::termios::tcgetwinsize(std::io::stdout().as_fd())
        .or_else(|_| rustix::termios::tcgetwinsize(std::io::stdin().as_fd()))
        .ok()?;
    (size.ws_row > 0 && size.ws_col > 0).then(|| json!({"rows": size.ws_row, "cols": size.ws_col}))
}

/// Joins the local terminal to process `id` from log offset `cursor` until
/// it exits or the user detaches.
///
/// # Errors
/// When the server cannot be reached or the stream breaks.
pub async fn session(client: &Client, id: &str, cursor: u64) -> anyhow::Result<Ended> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut resized = signal(SignalKind::window_change())?;
    let stream = client
        .open(&format!(
            "{}/{id}/stream?cursor={cursor}",
            crate::commands::PROCESSES
        ))
        .await?;
    let mut body = stream.into_body();
    let mut pending: Vec<u8> = Vec::new();
    let mut stdin = tokio::io::stdin();
    let mut keys = [0u8; 4096];
    let mut stdin_open = true;
    // Typed bytes of a character whose rest has not been read yet.
    let mut unfinished: Vec<u8> = Vec::new();
    loop {
        tokio::select! {
            frame = http_body_util::BodyExt::frame(&mut body) => {
                let Some(frame) = frame else {
                    anyhow::bail!("the stream ended before the process exited (the server stopped?)");
                };
                let frame = frame.context("the stream from the server broke (did the server stop?)")?;
                let Ok(data) = frame.into_data() else { continue; };
                pending.extend_from_slice(&data);
                while let Some(end) = pending.windows(2).position(|pair| pair == b"\n\n") {
                    let event: Vec<u8> = pending.drain(..end + 2).collect();
                    let (kind, data) = crate::commands::parse_event(&String::from_utf8_lossy(&event));
                    let Some(data) = data else { continue };
                    let value: Value = serde_json::from_str(&data).context("a stream event is not JSON")?;
                    match kind.as_deref() {
                        Some("output") => {
                            let mut out = std::io::stdout().lock();
                            out.write_all(value["output"].as_str().unwrap_or_default().as_bytes())?;
                            out.flush()?;
                        }
                        Some("exit") => return Ok(Ended::Exited(value)),
                        Some("error") => anyhow::bail!(
                            "the stream failed: {}",
                            value["message"].as_str().unwrap_or("unknown error")
                        ),
                        _ => {}
                    }
                }
            }
            read = stdin.read(&mut keys), if stdin_open => {
                let read = read.context("reading the keyboard")?;
                let input = format!("{}/{id}/input", crate::commands::PROCESSES);
                if read == 0 {
                    // Input ended (it is not a terminal): pass the end on,
                    // as the terminal's end-of-file character; the rest is
                    // output.
                    stdin_open = false;
                    let text = String::from_utf8_lossy(&unfinished).into_owned();
                    unfinished.clear();
                    let _ = client.post(&input, &json!({"text": text, "eof": true})).await;
                    continue;
                }
                let typed = &keys[..read];
                let (typed, detach) = match typed.iter().position(|byte| *byte == DETACH) {
                    Some(at) => (&typed[..at], true),
                    None => (typed, false),
                };
                unfinished.extend_from_slice(typed);
                let text = whole_characters(&mut unfinished, detach);
                if !text.is_empty() {
                    client.post(&input, &json!({"text": text})).await?;
                }
                if detach {
                    return Ok(Ended::Detached);
                }
            }
            _ = resized.recv() => {
                if let Some(size) = local_size() {
                    // A process that just exited has no terminal to resize.
                    let _ = client
                        .post(&format!("{}/{id}/resize", crate::commands::PROCESSES), &size)
                        .await;
                }
            }
        }
    }
}

/// Takes the text of `pending` that ends on a whole character, leaving the
/// start of a character split across reads for the next one (all of it
/// when `flush`). Bytes that can never be UTF-8 become U+FFFD.
pub fn whole_characters(pending: &mut Vec<u8>, flush: bool) -> String {
    let keep = match std::str::from_utf8(pending) {
        Err(error) if error.error_len().is_none() && !flush => pending.len() - error.valid_up_to(),
        _ => 0,
    };
    let rest = pending.split_off(pending.len() - keep);
    let text = String::from_utf8_lossy(pending).into_owned();
    *pending = rest;
    text
}

/// Draws a screen answer (`GET /{id}/screen`) on the local terminal: the
/// starting point of an attach.
pub fn draw(screen: &Value) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(b"\x1b[H\x1b[2J")?;
    let lines: Vec<&str> = screen["lines"]
        .as_array()
        .map(|lines| lines.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let cursor_row = usize::try_from(screen["cursor"]["row"].as_u64().unwrap_or(0)).unwrap_or(0);
    // A local terminal with fewer rows shows the rows that end at the
    // cursor: drawing them all would scroll the top ones, and the cursor's
    // position with them, out of sight.
    let rows = local_size()
        .and_then(|size| size["rows"].as_u64())
        .and_then(|rows| usize::try_from(rows).ok())
        .unwrap_or(usize::MAX);
    let first = (cursor_row + 1).saturating_sub(rows);
    let shown: Vec<&str> = lines.iter().skip(first).take(rows).copied().collect();
    out.write_all(shown.join("\r\n").as_bytes())?;
    let row = cursor_row - first + 1;
    let col = screen["cursor"]["col"].as_u64().unwrap_or(0) + 1;
    write!(out, "\x1b[{row};{col}H")?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::whole_characters;

    #[test]
    fn a_character_split_across_reads_is_sent_whole() {
        let mut pending = b"caf\xc3".to_vec();
        assert_eq!(whole_characters(&mut pending, false), "caf");
        assert_eq!(pending, b"\xc3");
        pending.extend_from_slice(b"\xa9!");
        assert_eq!(whole_characters(&mut pending, false), "\u{e9}!");
        assert!(pending.is_empty());
        // Invalid bytes are replaced, not held back.
        let mut pending = b"a\xffb".to_vec();
        assert_eq!(whole_characters(&mut pending, false), "a\u{fffd}b");
        // Flushing sends an unfinished character as a replacement.
        let mut pending = b"x\xe2\x82".to_vec();
        assert_eq!(whole_characters(&mut pending, true), "x\u{fffd}");
        assert!(pending.is_empty());
    }
}
