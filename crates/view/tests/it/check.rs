//! The checker every test uses: walks a view's text line by line against
//! the source cleaned by core's hygiene, so a view that invents, reorders or
//! miscounts anything fails.

use std::collections::BTreeMap;

use agentproc_core::text::{collapse_cr, strip_ansi};
use agentproc_view::{O200kBase, SpanKind, TokenCounter, View};

/// A source as fed: byte segments, with a gap (bytes, lines) after each but
/// the last.
#[derive(Debug, Clone, Default)]
pub(crate) struct Source {
    pub(crate) segments: Vec<Vec<u8>>,
    pub(crate) gaps: Vec<(u64, u64)>,
}

impl Source {
    pub(crate) fn plain(bytes: &[u8]) -> Self {
        Self {
            segments: vec![bytes.to_vec()],
            gaps: Vec::new(),
        }
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.len() as u64).sum::<u64>()
            + self.gaps.iter().map(|g| g.0).sum::<u64>()
    }

    /// The clean text of every line by number (`None` for lost lines), and
    /// the number after the last.
    pub(crate) fn oracle(&self, first_line: u64) -> (BTreeMap<u64, Option<String>>, u64) {
        let mut lines = BTreeMap::new();
        let mut n = first_line;
        for (index, segment) in self.segments.iter().enumerate() {
            for line in clean_lines(segment) {
                lines.insert(n, Some(line));
                n += 1;
            }
            if let Some(&(_, lost)) = self.gaps.get(index) {
                for _ in 0..lost {
                    lines.insert(n, None);
                    n += 1;
                }
            }
        }
        (lines, n)
    }
}

/// Core's hygiene, line by line.
pub(crate) fn clean_lines(bytes: &[u8]) -> Vec<String> {
    if bytes.is_empty() {
        return Vec::new();
    }
    let mut parts: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    if bytes.ends_with(b"\n") {
        parts.pop();
    }
    parts
        .into_iter()
        .map(|line| collapse_cr(&strip_ansi(&String::from_utf8_lossy(line))))
        .collect()
}

#[derive(Debug, PartialEq, Eq)]
enum Marker {
    Range(u64, u64),
    Cut(u64),
    LostHere,
}

/// Every marker is `[… ` … `]` on a line of its own.
fn parse_marker(line: &str) -> Option<Marker> {
    let body = line.strip_prefix("[… ")?.strip_suffix(']')?;
    if let Some(rest) = body.strip_prefix("line ") {
        let number: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let n = number.parse().ok()?;
        if rest[number.len()..].starts_with(" cut: ") {
            return Some(Marker::Cut(n));
        }
        return Some(Marker::Range(n, n));
    }
    if let Some(rest) = body.strip_prefix("lines ") {
        let (a, rest) = rest.split_once('-')?;
        let b: String = rest.chars().take_while(char::is_ascii_digit).collect();
        return Some(Marker::Range(a.parse().ok()?, b.parse().ok()?));
    }
    body.ends_with("no longer in the log")
        .then_some(Marker::LostHere)
}

/// Checks every invariant of `view` over `source`.
pub(crate) fn check(source: &Source, first_line: u64, view: &View) {
    let context = || format!("view:\n{}\n{:?}", view.text, view.spans);
    assert!(
        view.tokens <= view.max_tokens,
        "{} tokens > {}",
        view.tokens,
        view.max_tokens
    );
    if view.tokenizer == "o200k_base" {
        assert_eq!(view.tokens, O200kBase.count(&view.text), "{}", context());
    }
    let (oracle, end) = source.oracle(first_line);
    assert_eq!(view.source_lines, end - first_line, "{}", context());
    assert_eq!(view.source_bytes, source.bytes(), "{}", context());

    // Spans: ordered, disjoint, adding up.
    for pair in view.spans.windows(2) {
        assert!(
            pair[1].start_line > pair[0].end_line,
            "spans out of order: {pair:?}\n{}",
            context()
        );
    }
    for span in &view.spans {
        match span.kind {
            SpanKind::Cut => assert_eq!((span.lines, span.start_line), (0, span.end_line)),
            SpanKind::Lost if span.lines == 0 => assert_eq!(span.end_line + 1, span.start_line),
            _ => assert_eq!(span.lines, span.end_line - span.start_line + 1, "{span:?}"),
        }
    }
    assert_eq!(
        view.omitted_lines,
        view.spans.iter().map(|s| s.lines).sum::<u64>()
    );
    assert_eq!(
        view.omitted_bytes,
        view.spans.iter().map(|s| s.bytes).sum::<u64>()
    );

    // The text: shown lines are the source's, in order; markers account for
    // every line between them.
    if view.text.is_empty() {
        assert!(end == first_line || view.tokens == 0, "{}", context());
        return;
    }
    let mut lines: Vec<&str> = view.text.split('\n').collect();
    if view.text.ends_with('\n') {
        lines.pop();
    }
    let mut n = first_line;
    let mut shown = 0u64;
    let mut last_shown = None;
    for (index, line) in lines.iter().enumerate() {
        match parse_marker(line) {
            Some(Marker::Range(a, b)) => {
                assert_eq!(
                    a,
                    n,
                    "marker {line:?} starts at the next line\n{}",
                    context()
                );
                assert!(b >= a);
                n = b + 1;
            }
            Some(Marker::Cut(k)) => {
                assert_eq!(
                    Some(k),
                    last_shown,
                    "{line:?} follows its line\n{}",
                    context()
                );
            }
            Some(Marker::LostHere) => {}
            None => {
                let expected = oracle
                    .get(&n)
                    .unwrap_or_else(|| panic!("line {n} beyond the source\n{}", context()))
                    .as_ref()
                    .unwrap_or_else(|| panic!("lost line {n} shown\n{}", context()));
                let cut = lines
                    .get(index + 1)
                    .is_some_and(|next| parse_marker(next) == Some(Marker::Cut(n)));
                if cut {
                    assert!(
                        expected.starts_with(line),
                        "line {n}: {line:?} is not a prefix of {expected:?}"
                    );
                } else {
                    assert_eq!(line, expected, "line {n}\n{}", context());
                }
                last_shown = Some(n);
                shown += 1;
                n += 1;
            }
        }
    }
    assert_eq!(n, end, "the view accounts for every line\n{}", context());
    assert_eq!(
        shown + view.omitted_lines,
        view.source_lines,
        "{}",
        context()
    );
}
