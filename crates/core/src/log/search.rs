//! Search and line ranges over a whole log, streamed from disk: memory stays
//! bounded by the line cap and the number of matches kept, whatever the
//! log's size.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read};

use regex::bytes::Regex;

use super::{LogView, ProcessLog};

/// Lines longer than this are cut for matching and display (the rest of a
/// longer line is skipped).
pub const MAX_SCAN_LINE: usize = 64 * 1024;
/// Lines shown in results are cut to this many bytes.
pub const MAX_SHOWN_LINE: usize = 2048;
/// A search stops taking matches once its lines (matches and context)
/// reach about this many bytes, as if `max_matches` were hit.
pub const MAX_RESULT_BYTES: usize = 1 << 20;

/// What to look for.
#[derive(Debug, Clone)]
pub struct SearchOptions {
    /// The pattern, matched against each line (without its newline).
    pub pattern: Regex,
    /// Lines of context before and after each match.
    pub context: usize,
    /// Stop after this many matches.
    pub max_matches: usize,
}

/// One matching line, with its context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// 1-based line number over everything the process wrote.
    pub line: u64,
    /// Absolute byte offset of the line's start.
    pub offset: u64,
    /// The line (cut to [`MAX_SHOWN_LINE`] bytes).
    pub text: Vec<u8>,
    /// Up to `context` lines before, with their numbers.
    pub before: Vec<(u64, Vec<u8>)>,
    /// Up to `context` lines after, with their numbers.
    pub after: Vec<(u64, Vec<u8>)>,
}

/// The result of a search.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchResult {
    /// Matches in log order.
    pub matches: Vec<Match>,
    /// The search stopped at `max_matches`, or at [`MAX_RESULT_BYTES`] of
    /// lines.
    pub limit_hit: bool,
    /// The first offset still on disk: bytes before it were dropped and not
    /// searched.
    pub first_offset: u64,
    /// Bytes searched.
    pub scanned_bytes: u64,
}

/// A range of lines.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LineRange {
    /// `(line number, text)` pairs, each cut to [`MAX_SHOWN_LINE`] bytes.
    pub lines: Vec<(u64, Vec<u8>)>,
    /// Lines written so far (a last line without a newline counts).
    pub total_lines: u64,
    /// The first whole line still on disk (earlier ones were dropped, and a
    /// line whose start was dropped is not shown).
    pub first_line: u64,
    /// The range was cut short by the line or byte limit.
    pub truncated: bool,
}

/// Searches the whole log of `log` (what is still on disk).
///
/// # Errors
/// When the log cannot be read.
pub fn search(log: &ProcessLog, options: &SearchOptions) -> io::Result<SearchResult> {
    let view = log.view();
    let first = view.first();
    let mut result = SearchResult {
        first_offset: first,
        ..SearchResult::default()
    };
    let mut before: VecDeque<(u64, Vec<u8>)> = VecDeque::with_capacity(options.context + 1);
    // Matches still collecting lines after them: (index, lines missing).
    let mut open: Vec<(usize, usize)> = Vec::new();
    // Bytes of lines in the result so far.
    let mut size = 0;
    scan_lines(&view, 0, |line| {
        result.scanned_bytes = line.end - first;
        // Most lines neither match nor are context: copy only those that are.
        for (index, missing) in &mut open {
            let text = shown(line.bytes);
            size += text.len();
            result.matches[*index].after.push((line.number, text));
            *missing -= 1;
        }
        open.retain(|(_, missing)| *missing > 0);
        if options.pattern.is_match(line.bytes) {
            if result.matches.len() < options.max_matches && size < MAX_RESULT_BYTES {
                size += line.bytes.len().min(MAX_SHOWN_LINE)
                    + before.iter().map(|(_, text)| text.len()).sum::<usize>();
                result.matches.push(Match {
                    line: line.number,
                    offset: line.offset,
                    text: shown(line.bytes),
                    before: before.iter().cloned().collect(),
                    after: Vec::new(),
                });
                if options.context > 0 {
                    open.push((result.matches.len() - 1, options.context));
                }
            } else {
                result.limit_hit = true;
                if size >= MAX_RESULT_BYTES {
                    // Out of room: pending context stays short.
                    return Flow::Stop;
                }
            }
        }
        if options.context > 0 {
            if before.len() == options.context {
                before.pop_front();
            }
            before.push_back((line.number, shown(line.bytes)));
        }
        // Stop once the limit is known to be hit and no context is pending.
        if result.limit_hit && open.is_empty() {
            return Flow::Stop;
        }
        Flow::Continue
    })?;
    Ok(result)
}

/// Lines `start..=end` (1-based), at most `max_lines` of them and about
/// `max_bytes` of text.
///
/// # Errors
/// When the log cannot be read.
pub fn lines(
    log: &ProcessLog,
    start: u64,
    end: u64,
    max_lines: usize,
    max_bytes: usize,
) -> io::Result<LineRange> {
    let view = log.view();
    let first_line = view.segment_list().first().map_or(view.newlines + 1, |s| {
        s.lines_before + 1 + u64::from(s.starts_mid_line)
    });
    let mut range = LineRange {
        total_lines: view.total_lines(),
        first_line,
        ..LineRange::default()
    };
    let mut bytes = 0;
    let start = start.max(1);
    scan_lines(&view, start, |line| {
        if line.number < start {
            return Flow::Continue;
        }
        if line.number > end {
            return Flow::Stop;
        }
        if range.lines.len() >= max_lines || bytes >= max_bytes {
            range.truncated = true;
            return Flow::Stop;
        }
        let text = shown(line.bytes);
        bytes += text.len();
        range.lines.push((line.number, text));
        Flow::Continue
    })?;
    Ok(range)
}

impl LogView {
    /// Lines written so far: every newline, plus a last unterminated line.
    pub(crate) fn total_lines(&self) -> u64 {
        if self.total > 0 && !self.ends_with_newline {
            self.newlines + 1
        } else {
            self.newlines
        }
    }
}

fn shown(line: &[u8]) -> Vec<u8> {
    line[..line.len().min(MAX_SHOWN_LINE)].to_vec()
}

enum Flow {
    Continue,
    Stop,
}

/// A line as the scanner sees it.
struct Line<'a> {
    number: u64,
    offset: u64,
    /// Without the newline; cut to [`MAX_SCAN_LINE`].
    bytes: &'a [u8],
    /// The offset just past the line (and its newline).
    end: u64,
}

/// Calls `visit` for each whole line on disk, in order, with absolute line
/// numbers. Segments whose lines all come before `skip_to` are not read. A
/// line whose start is missing (dropped, or after a hole) is not visited; a
/// line cut by a hole is visited with what is there.
fn scan_lines(
    view: &LogView,
    skip_to: u64,
    mut visit: impl FnMut(Line<'_>) -> Flow,
) -> io::Result<()> {
    let mut number = 0;
    let mut line: Vec<u8> = Vec::new();
    let mut line_offset = 0;
    let mut offset = 0;
    let mut skip_partial = false;
    // Where the previously scanned segment ended, to tell holes.
    let mut scanned_to: Option<u64> = None;
    let mut chunk = vec![0; 64 * 1024];
    for segment in view.segment_list() {
        // Its lines run from `lines_before + 1` to `lines_before + newlines
        // + 1` (the last may continue in the next segment).
        if skip_to > segment.lines_before + segment.newlines + 1 {
            continue;
        }
        if scanned_to != Some(segment.start) {
            // A fresh start: after a hole, or the first segment read.
            if !line.is_empty() && !skip_partial {
                let flow = visit(Line {
                    number,
                    offset: line_offset,
                    bytes: &line,
                    end: offset,
                });
                if matches!(flow, Flow::Stop) {
                    return Ok(());
                }
            }
            number = segment.lines_before + 1;
            line.clear();
            line_offset = segment.start;
            offset = segment.start;
            skip_partial = segment.starts_mid_line;
        }
        let mut file = match File::open(&segment.path) {
            Ok(file) => file,
            // Dropped since the view was taken: its lines are gone.
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        };
        let mut left = segment.len;
        while left > 0 {
            let want = usize::try_from(left).unwrap_or(usize::MAX).min(chunk.len());
            let read = file.read(&mut chunk[..want])?;
            if read == 0 {
                break;
            }
            left -= read as u64;
            let mut rest = &chunk[..read];
            while !rest.is_empty() {
                match memchr::memchr(b'\n', rest) {
                    Some(newline) => {
                        offset += newline as u64 + 1;
                        let flow = if skip_partial {
                            skip_partial = false;
                            Flow::Continue
                        } else if line.is_empty() {
                            // The whole line is in this chunk: no copy.
                            visit(Line {
                                number,
                                offset: line_offset,
                                bytes: &rest[..newline.min(MAX_SCAN_LINE)],
                                end: offset,
                            })
                        } else {
                            append_capped(&mut line, &rest[..newline]);
                            visit(Line {
                                number,
                                offset: line_offset,
                                bytes: &line,
                                end: offset,
                            })
                        };
                        if matches!(flow, Flow::Stop) {
                            return Ok(());
                        }
                        number += 1;
                        line.clear();
                        line_offset = offset;
                        rest = &rest[newline + 1..];
                    }
                    None => {
                        append_capped(&mut line, rest);
                        offset += rest.len() as u64;
                        rest = &[];
                    }
                }
            }
        }
        scanned_to = Some(segment.end());
    }
    if (!line.is_empty() || offset > line_offset) && !skip_partial {
        visit(Line {
            number,
            offset: line_offset,
            bytes: &line,
            end: offset,
        });
    }
    Ok(())
}

/// Appends what fits under [`MAX_SCAN_LINE`]; the rest of a longer line is
/// skipped (neither matched nor shown).
fn append_capped(line: &mut Vec<u8>, bytes: &[u8]) {
    let room = MAX_SCAN_LINE.saturating_sub(line.len());
    line.extend_from_slice(&bytes[..bytes.len().min(room)]);
}
