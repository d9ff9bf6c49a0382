//! Streaming a log's bytes in order, once, with absolute line numbers and
//! what is missing: for views computed in one pass over the whole output
//! (the agent view), with memory bounded by one read buffer.

use std::fs::File;
use std::io::{self, Read};

use super::{LogView, ProcessLog, count_newlines};

/// What [`scan`] delivers, in order: one `Start`, then `Bytes` and `Gap`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanEvent<'a> {
    /// Where the scan begins.
    Start {
        /// The offset of the first byte delivered.
        offset: u64,
        /// The absolute, 1-based number of the line that byte is in (it
        /// may be in the middle of that line).
        line: u64,
        /// Bytes between the requested offset and `offset` that are gone
        /// (dropped by the per-process cap, or never logged).
        skipped: u64,
    },
    /// The next bytes.
    Bytes(&'a [u8]),
    /// Bytes that are gone (a hole, or a segment dropped while scanning).
    Gap {
        /// How many.
        bytes: u64,
        /// The newlines they held.
        lines: u64,
    },
}

/// Bytes read from a segment file at a time.
const READ_BYTES: usize = 64 * 1024;

/// Delivers the log's committed bytes from offset `from` to its end (as
/// committed when the scan begins) to `visit`, and returns that end.
///
/// # Errors
/// When a segment cannot be read.
pub fn scan(log: &ProcessLog, from: u64, visit: &mut dyn FnMut(ScanEvent<'_>)) -> io::Result<u64> {
    let view = log.view();
    scan_view(&view, from, visit)?;
    Ok(view.total)
}

fn scan_view(view: &LogView, from: u64, visit: &mut dyn FnMut(ScanEvent<'_>)) -> io::Result<()> {
    let from = from.min(view.total);
    let segments = view.segment_list();
    let Some(first) = segments.iter().position(|segment| segment.end() > from) else {
        // Nothing readable from here on.
        let line = view.newlines + 1;
        visit(ScanEvent::Start {
            offset: view.total,
            line,
            skipped: view.total - from,
        });
        return Ok(());
    };
    let mut buffer = vec![0; READ_BYTES];
    let mut started = false;
    // The offset and newline count just past what was delivered.
    let mut at = from;
    let mut lines_at = 0;
    for segment in &segments[first..] {
        let begin = at.max(segment.start);
        if started && segment.start > at {
            visit(ScanEvent::Gap {
                bytes: segment.start - at,
                lines: segment.lines_before.saturating_sub(lines_at),
            });
        }
        let mut file = match File::open(&segment.path) {
            Ok(file) => file,
            // Dropped since the view was taken: its bytes are gone.
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                if !started {
                    started = true;
                    visit(ScanEvent::Start {
                        offset: segment.end(),
                        line: segment.lines_before + segment.newlines + 1,
                        skipped: segment.end() - from,
                    });
                } else {
                    visit(ScanEvent::Gap {
                        bytes: segment.end() - begin,
                        lines: segment.lines_before + segment.newlines
                            - lines_at.max(segment.lines_before),
                    });
                }
                at = segment.end();
                lines_at = segment.lines_before + segment.newlines;
                continue;
            }
            Err(error) => return Err(error),
        };
        // Skip (counting newlines) up to `begin` inside this segment.
        let mut position = segment.start;
        let mut newlines = segment.lines_before;
        let mut left = segment.len;
        while left > 0 {
            let want = usize::try_from(left)
                .unwrap_or(usize::MAX)
                .min(buffer.len());
            let read = file.read(&mut buffer[..want])?;
            if read == 0 {
                break;
            }
            left -= read as u64;
            let mut bytes = &buffer[..read];
            if position < begin {
                let skip = usize::try_from(begin - position)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                newlines += count_newlines(&bytes[..skip]);
                position += skip as u64;
                bytes = &bytes[skip..];
            }
            if bytes.is_empty() {
                continue;
            }
            if !started {
                started = true;
                visit(ScanEvent::Start {
                    offset: position,
                    line: newlines + 1,
                    skipped: position - from,
                });
            }
            newlines += count_newlines(bytes);
            position += bytes.len() as u64;
            visit(ScanEvent::Bytes(bytes));
        }
        at = position.max(at);
        lines_at = newlines;
    }
    if !started {
        visit(ScanEvent::Start {
            offset: view.total,
            line: view.newlines + 1,
            skipped: view.total - from,
        });
    } else if at < view.total {
        // A hole at the end: bytes that were never logged.
        visit(ScanEvent::Gap {
            bytes: view.total - at,
            lines: view.newlines.saturating_sub(lines_at),
        });
    }
    Ok(())
}
