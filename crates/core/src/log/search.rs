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
    ///
    /// Its text must say everything it means, flags included (`(?i)`), as
    /// [`compile_pattern`](super::compile_pattern) makes it: [`search`]
    /// first matches whole chunks with a pattern compiled from the same
    /// text, so options set on a `RegexBuilder` (case insensitivity,
    /// ignored whitespace, Unicode off) would be lost there and lines
    /// missed.
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
    search_with(log, options, chunk_prefilter(&options.pattern).as_ref())
}

/// [`search`], matching whole chunks with `prefilter` first when given
/// (see [`chunk_prefilter`]); without it, every line is matched on its own.
pub(super) fn search_with(
    log: &ProcessLog,
    options: &SearchOptions,
    prefilter: Option<&Regex>,
) -> io::Result<SearchResult> {
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
    let reached = scan_lines(&view, 0, prefilter, |line| {
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
        if open.is_empty() {
            // Nothing waits for the next lines: the ones that cannot match
            // may be skipped, but for the context before the next match.
            Flow::MaySkip(options.context)
        } else {
            Flow::Continue
        }
    })?;
    if let Some(reached) = reached {
        // It read to the end, maybe skipping the last lines.
        result.scanned_bytes = result.scanned_bytes.max(reached.saturating_sub(first));
    }
    Ok(result)
}

/// A pattern for whole chunks of lines that finds a superset of the lines
/// `pattern` matches one by one: `pattern` in multi-line mode, so `^` and
/// `$` match at every line's start and end. Any match within a line is a
/// match within the chunk that holds it, at the same place, so the leftmost
/// match in a chunk is at or before the first matching line; that line (and
/// any a match spanning a newline starts in) is then checked on its own.
/// `None` when that does not hold: a pattern that anchors to the whole
/// text (`\A`, `\z`, or `^`/`$` with multi-line mode turned off), which
/// is then matched line by line.
pub(super) fn chunk_prefilter(pattern: &Regex) -> Option<Regex> {
    use regex_syntax::hir::Look;
    let source = format!("(?m:{})", pattern.as_str());
    let hir = regex_syntax::ParserBuilder::new()
        .utf8(false)
        .build()
        .parse(&source)
        .ok()?;
    let looks = hir.properties().look_set();
    if looks.contains(Look::Start) || looks.contains(Look::End) {
        return None;
    }
    regex::bytes::RegexBuilder::new(&source)
        .size_limit(8 << 20)
        .dfa_size_limit(8 << 20)
        .build()
        .ok()
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
    scan_lines(&view, start, None, |line| {
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
    /// Go on; lines the prefilter rules out may be skipped, except the last
    /// this many before the next candidate (the context before a match).
    MaySkip(usize),
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
///
/// With a `prefilter` (see [`chunk_prefilter`]) and while `visit` allows it
/// ([`Flow::MaySkip`]), the whole lines of each chunk are matched at once
/// and the lines before the first candidate are skipped without a visit.
///
/// Returns the offset reached, or `None` when `visit` stopped it.
fn scan_lines(
    view: &LogView,
    skip_to: u64,
    prefilter: Option<&Regex>,
    mut visit: impl FnMut(Line<'_>) -> Flow,
) -> io::Result<Option<u64>> {
    // How many lines before a candidate `visit` wants to see when skipping;
    // `None` while it wants every line.
    let mut may_skip: Option<usize> = None;
    let on = |flow: Flow, may_skip: &mut Option<usize>| match flow {
        Flow::Continue => {
            *may_skip = None;
            true
        }
        Flow::MaySkip(keep) => {
            *may_skip = Some(keep);
            true
        }
        Flow::Stop => false,
    };
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
                if !on(flow, &mut may_skip) {
                    return Ok(None);
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
                if let (Some(filter), Some(keep)) = (prefilter, may_skip)
                    && offset == line_offset
                    && !skip_partial
                {
                    let skip = skippable(filter, rest, keep);
                    if skip > 0 {
                        number += memchr::memchr_iter(b'\n', &rest[..skip]).count() as u64;
                        offset += skip as u64;
                        line_offset = offset;
                        rest = &rest[skip..];
                        // Visit the lines up to the candidate.
                        may_skip = None;
                        continue;
                    }
                }
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
                        if !on(flow, &mut may_skip) {
                            return Ok(None);
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
        let flow = visit(Line {
            number,
            offset: line_offset,
            bytes: &line,
            end: offset,
        });
        if !on(flow, &mut may_skip) {
            return Ok(None);
        }
    }
    Ok(Some(offset))
}

/// How many bytes at the start of `rest` (which starts a line) hold only
/// whole lines that cannot match: those before the line where `filter`
/// first matches among `rest`'s whole lines (all of them when it does not),
/// less the `keep` lines just before that one.
fn skippable(filter: &Regex, rest: &[u8], keep: usize) -> usize {
    let Some(last_newline) = memchr::memrchr(b'\n', rest) else {
        return 0;
    };
    let whole = &rest[..=last_newline];
    let mut skip = match filter.find(whole) {
        // The start of the line the match starts in.
        Some(found) => memchr::memrchr(b'\n', &whole[..found.start()]).map_or(0, |n| n + 1),
        None => whole.len(),
    };
    for _ in 0..keep {
        if skip == 0 {
            break;
        }
        skip = memchr::memrchr(b'\n', &whole[..skip - 1]).map_or(0, |n| n + 1);
    }
    skip
}

/// Appends what fits under [`MAX_SCAN_LINE`]; the rest of a longer line is
/// skipped (neither matched nor shown).
fn append_capped(line: &mut Vec<u8>, bytes: &[u8]) {
    let room = MAX_SCAN_LINE.saturating_sub(line.len());
    line.extend_from_slice(&bytes[..bytes.len().min(room)]);
}
