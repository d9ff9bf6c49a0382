//! The finishing half of the view: choosing, within the budget, which of the
//! kept lines to show, and rendering them with a marker for everything left
//! out.
//!
//! Choosing is greedy, in priority order; each step adds a *unit* (a line, a
//! folded run, a group or part of one) if the estimate of the whole view
//! with it stays within the budget. The estimate is the sum of exact token
//! counts of the lines and markers; the final text is then counted as one
//! string, and units are taken back, last first, until it fits.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use crate::clean::cut_at_char;
use crate::collect::{Group, Item, Key, Line, Lost, Run};
use crate::tokens::TokenCounter;
use crate::view::{Span, SpanKind};

/// One shown line, and the run it starts, if it is a run's first line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry<'a> {
    pub(crate) line: &'a Line,
    pub(crate) fold: Option<&'a Run>,
}

type Unit<'a> = Vec<Entry<'a>>;

/// What the renderer needs to know about the source besides the lines.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Source<'a> {
    pub(crate) first_line: u64,
    /// The number the next line would have.
    pub(crate) end_n: u64,
    pub(crate) end_offset: u64,
    pub(crate) lost: &'a [Lost],
    pub(crate) ends_with_newline: bool,
}

/// A rendered view.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rendered {
    pub(crate) text: String,
    pub(crate) spans: Vec<Span>,
}

enum Piece<'a> {
    Line { line: &'a Line, shown: &'a str },
    Marker(String),
}

/// The choice of lines being built.
pub(crate) struct Planner<'a> {
    source: Source<'a>,
    counter: &'a dyn TokenCounter,
    hint: Option<&'a str>,
    budget: usize,
    /// Longest line shown, in bytes (`None`: as stored).
    display_cap: Option<usize>,
    shown: BTreeMap<u64, Entry<'a>>,
    units: Vec<Unit<'a>>,
    /// Every stored line by number, to close small gaps with.
    pool: BTreeMap<u64, &'a Line>,
    /// What a gap's marker costs at most, in tokens.
    marker_cost: usize,
    line_tokens: HashMap<u64, usize>,
    marker_tokens: HashMap<String, usize>,
    cost: usize,
    attempts: usize,
}

/// Attempts to add a unit after which the planner stops trying.
const MAX_ATTEMPTS: usize = 20_000;
/// Consecutive failed attempts after which a pass over groups gives up.
const MAX_MISSES: usize = 48;
/// The most lines shown to save one marker.
const MAX_GAP_FILL: u64 = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Core,
    Hits,
    Full,
}

impl<'a> Planner<'a> {
    pub(crate) fn new(
        source: Source<'a>,
        counter: &'a dyn TokenCounter,
        hint: Option<&'a str>,
        budget: usize,
        display_cap: Option<usize>,
    ) -> Self {
        Self {
            source,
            counter,
            hint,
            budget,
            display_cap,
            shown: BTreeMap::new(),
            units: Vec::new(),
            pool: BTreeMap::new(),
            marker_cost: 0,
            line_tokens: HashMap::new(),
            marker_tokens: HashMap::new(),
            cost: 0,
            attempts: 0,
        }
    }

    /// Lines at hand to close small gaps with: a gap whose lines cost fewer
    /// tokens than its marker is shown instead of marked.
    pub(crate) fn with_pool(&mut self, pool: BTreeMap<u64, &'a Line>) {
        self.pool = pool;
        let end = self.source.end_n.max(1);
        let mut marker = format!(
            "[… lines {end}-{end} omitted ({end} lines, 999 KB, 999 KB of it no longer in the log)"
        );
        if let Some(hint) = self.hint {
            marker.push_str(": ");
            marker.push_str(
                &hint
                    .replace("{start}", &end.to_string())
                    .replace("{end}", &end.to_string()),
            );
        }
        marker.push_str("]\n");
        self.marker_cost = self.counter.count(&marker);
    }

    /// Shows every line given, unconditionally (the verbatim view).
    pub(crate) fn add_all(&mut self, lines: &'a [Line]) {
        let unit: Unit<'a> = lines
            .iter()
            .map(|line| Entry { line, fold: None })
            .collect();
        for entry in &unit {
            self.shown.insert(entry.line.n, *entry);
        }
        self.units.push(unit);
    }

    /// Chooses what to show from the head, the tail and the groups.
    pub(crate) fn choose(
        &mut self,
        head: &'a [Item],
        tail: &'a [Item],
        groups: &'a [(Key, Group)],
    ) {
        let head_units: Vec<Unit<'a>> = head.iter().map(item_unit).collect();
        let tail_units: Vec<Unit<'a>> = tail.iter().map(item_unit).collect();
        let mut next_head = 0;
        let mut next_tail = tail_units.len();

        // How it began and how it ended.
        if let Some(unit) = head_units.first()
            && self.try_add(unit)
        {
            next_head = 1;
        }
        if let Some(unit) = tail_units.last()
            && self.try_add(unit)
        {
            next_tail -= 1;
        }
        // Failing summaries.
        for (_, group) in groups.iter().filter(|(key, _)| key.tier == 0) {
            let full = self.group_unit(group, Part::Full);
            if !self.try_add(&full) {
                let core = self.group_unit(group, Part::Core);
                self.try_add(&core);
            }
        }
        // The lines of failures themselves, first occurrences first.
        self.pass(groups, |key| key.tier == 1 && !key.repeat, Part::Core);
        // The frame's reserve: a little of how it began and how it ended.
        let head_goal = self.budget / 20;
        let tail_goal = self.budget / 10;
        let start = self.cost;
        while next_head < head_units.len() && self.cost.saturating_sub(start) < head_goal {
            if !self.try_add(&head_units[next_head]) {
                break;
            }
            next_head += 1;
        }
        let start = self.cost;
        while next_tail > 0 && self.cost.saturating_sub(start) < tail_goal {
            if !self.try_add(&tail_units[next_tail - 1]) {
                break;
            }
            next_tail -= 1;
        }
        // The rest of what an agent acts on: failures, then warnings, then
        // summaries of what passed; first occurrences before repeats; for
        // each, the lines themselves first, then the lines other rules picked
        // out around them, then their whole context.
        for tier in 1..=3 {
            for repeat in [false, true] {
                for part in [Part::Core, Part::Hits, Part::Full] {
                    self.pass(groups, |key| key.tier == tier && key.repeat == repeat, part);
                }
            }
        }
        // Locations and frames away from any failure or warning (tier 4) are
        // not worth a marker each: they are shown only as part of a group,
        // or when the frame reaches them.
        // Closing gaps may have freed room for context that did not fit.
        self.pass(groups, |key| key.tier <= 2, Part::Full);
        // The rest of the frame: two tail units for each head unit.
        let (mut head_open, mut tail_open) = (true, true);
        while (head_open || tail_open) && self.attempts < MAX_ATTEMPTS {
            for _ in 0..2 {
                if tail_open && next_tail > 0 && self.try_add(&tail_units[next_tail - 1]) {
                    next_tail -= 1;
                } else {
                    tail_open = false;
                }
            }
            if head_open && next_head < head_units.len() && self.try_add(&head_units[next_head]) {
                next_head += 1;
            } else {
                head_open = false;
            }
        }
    }

    /// Tries `part` of every group `pick` accepts, in priority order.
    fn pass(&mut self, groups: &'a [(Key, Group)], pick: impl Fn(&Key) -> bool, part: Part) {
        let mut misses = 0;
        for (_, group) in groups.iter().filter(|(key, _)| pick(key)) {
            if self.attempts >= MAX_ATTEMPTS || misses >= MAX_MISSES {
                break;
            }
            let unit = self.group_unit(group, part);
            if self.try_add(&unit) {
                misses = 0;
            } else {
                misses += 1;
            }
        }
    }

    /// The lines between `from` and the nearest shown line in one direction,
    /// when they are all at hand and cost less than the marker they save.
    fn gap_lines(&mut self, from: u64, up: bool) -> Vec<Entry<'a>> {
        let neighbour = if up {
            self.shown.range(..from).next_back().map(|(&n, _)| n)
        } else {
            self.shown.range(from + 1..).next().map(|(&n, _)| n)
        };
        let Some(neighbour) = neighbour else {
            return Vec::new();
        };
        let (low, high) = if up {
            (neighbour, from)
        } else {
            (from, neighbour)
        };
        if high - low < 2 || high - low > MAX_GAP_FILL + 1 {
            return Vec::new();
        }
        let mut entries = Vec::new();
        let mut tokens = 0;
        for n in low + 1..high {
            let Some(&line) = self.pool.get(&n) else {
                return Vec::new();
            };
            tokens += self.tokens_of(line);
            entries.push(Entry { line, fold: None });
        }
        if tokens > self.marker_cost {
            return Vec::new();
        }
        entries
    }

    fn group_unit(&mut self, group: &'a Group, part: Part) -> Unit<'a> {
        let entries = |lines: &mut dyn Iterator<Item = &'a Line>| -> Unit<'a> {
            lines.map(|line| Entry { line, fold: None }).collect()
        };
        match part {
            Part::Core => {
                // The line, and a location right after it (rustc's `-->`):
                // a diagnostic is not actionable without it.
                let location = group
                    .lines
                    .iter()
                    .filter(|line| line.n > group.core && line.n <= group.core + 2)
                    .find(|line| line.hit.is_some_and(|hit| hit.tier() == 4))
                    .map(|line| line.n);
                entries(
                    &mut group
                        .lines
                        .iter()
                        .filter(|line| line.n == group.core || Some(line.n) == location),
                )
            }
            Part::Hits => {
                // The failures and warnings among the context (and just
                // before it), and the locations nearest the core on either
                // side (a traceback's innermost frame, a diagnostic's `-->`).
                let is_note = |line: &&Line| line.hit.is_some_and(|hit| hit.tier() >= 3);
                let is_alarm = |line: &&Line| line.hit.is_some_and(|hit| hit.tier() <= 2);
                let before: Vec<&Line> = group
                    .adopted
                    .iter()
                    .chain(group.lines.iter().take_while(|line| line.n < group.core))
                    .collect();
                let after = group.lines.iter().filter(|line| line.n > group.core);
                // Frames in the program's own code before the runtime's and
                // libraries'.
                let nearest = |lines: &mut dyn Iterator<Item = &&'a Line>| {
                    let notes: Vec<&Line> = lines.filter(|line| is_note(line)).copied().collect();
                    notes
                        .iter()
                        .find(|line| !is_library_frame(&line.text))
                        .or(notes.first())
                        .map(|line| line.n)
                };
                let near_before = nearest(&mut before.iter().rev());
                let after: Vec<&Line> = after.collect();
                let near_after = nearest(&mut after.iter());
                let lines = before
                    .into_iter()
                    .chain(group.lines.iter().filter(|line| line.n >= group.core))
                    .filter(|line| {
                        line.n == group.core
                            || is_alarm(line)
                            || Some(line.n) == near_before
                            || Some(line.n) == near_after
                    });
                entries(&mut lines.into_iter())
            }
            Part::Full => {
                // A little context: at most a quarter of the budget, taken
                // nearest the core first, plus the lines up to the one that
                // started the group (a traceback's header and what came
                // before it) when they fit too.
                let cap = self.budget / 4;
                let Some(core) = group.lines.iter().position(|line| line.n == group.core) else {
                    return Vec::new();
                };
                let (mut lo, mut hi) = (core, core);
                let mut spent = self.tokens_of(&group.lines[core]);
                loop {
                    let mut grew = false;
                    if hi + 1 < group.lines.len() {
                        let cost = self.tokens_of(&group.lines[hi + 1]);
                        if spent + cost <= cap {
                            spent += cost;
                            hi += 1;
                            grew = true;
                        }
                    }
                    if lo > 0 {
                        let cost = self.tokens_of(&group.lines[lo - 1]);
                        if spent + cost <= cap {
                            spent += cost;
                            lo -= 1;
                            grew = true;
                        }
                    }
                    if !grew {
                        break;
                    }
                }
                let lead_end = group
                    .lines
                    .iter()
                    .position(|line| line.n == group.trigger)
                    .unwrap_or(0);
                let mut unit = Vec::new();
                if lead_end < lo {
                    let lead = &group.lines[..=lead_end];
                    let lead_cost: usize = lead.iter().map(|line| self.tokens_of(line)).sum();
                    if spent + lead_cost <= cap + cap / 2 {
                        unit.extend(lead.iter().map(|line| Entry { line, fold: None }));
                    }
                }
                unit.extend(
                    group.lines[lo..=hi]
                        .iter()
                        .map(|line| Entry { line, fold: None }),
                );
                unit
            }
        }
    }

    /// Adds `unit` if the view stays within the budget with it, with the
    /// lines of any small gap it leaves next to a shown line.
    fn try_add(&mut self, unit: &Unit<'a>) -> bool {
        if unit.is_empty() {
            return false;
        }
        self.attempts += 1;
        let mut added: Unit<'a> = Vec::new();
        let mut undo: Vec<(u64, Option<Entry<'a>>)> = Vec::new();
        for entry in unit {
            self.insert(*entry, &mut undo, &mut added);
        }
        if undo.is_empty() {
            return true;
        }
        if self.marker_cost > 0 {
            let (low, high) = (unit[0].line.n, unit[unit.len() - 1].line.n);
            for (from, up) in [(low, true), (high, false)] {
                for entry in self.gap_lines(from, up) {
                    self.insert(entry, &mut undo, &mut added);
                }
            }
        }
        let cost = self.estimate();
        if cost <= self.budget {
            self.cost = cost;
            self.units.push(added);
            return true;
        }
        for (n, old) in undo.into_iter().rev() {
            match old {
                Some(entry) => self.shown.insert(n, entry),
                None => self.shown.remove(&n),
            };
        }
        false
    }

    fn insert(
        &mut self,
        entry: Entry<'a>,
        undo: &mut Vec<(u64, Option<Entry<'a>>)>,
        added: &mut Unit<'a>,
    ) {
        match self.shown.get(&entry.line.n) {
            None => {
                undo.push((entry.line.n, None));
                self.shown.insert(entry.line.n, entry);
                added.push(entry);
            }
            Some(old) if old.fold.is_none() && entry.fold.is_some() => {
                undo.push((entry.line.n, Some(*old)));
                self.shown.insert(entry.line.n, entry);
                added.push(entry);
            }
            Some(_) => {}
        }
    }

    /// Takes back the last unit added; `false` when there is none.
    pub(crate) fn pop(&mut self) -> bool {
        if self.units.pop().is_none() {
            return false;
        }
        self.shown.clear();
        for unit in &self.units {
            for entry in unit {
                match self.shown.get(&entry.line.n) {
                    Some(old) if old.fold.is_some() || entry.fold.is_none() => {}
                    _ => {
                        self.shown.insert(entry.line.n, *entry);
                    }
                }
            }
        }
        true
    }

    /// Forgets the fetch hint (the last resort for a tiny budget).
    pub(crate) fn drop_hint(&mut self) {
        self.hint = None;
    }

    fn tokens_of(&mut self, line: &Line) -> usize {
        if let Some(&tokens) = self.line_tokens.get(&line.n) {
            return tokens;
        }
        let shown = self.shown_text(line);
        let mut text = String::with_capacity(shown.len() + 1);
        text.push_str(shown);
        text.push('\n');
        let tokens = self.counter.count(&text);
        self.line_tokens.insert(line.n, tokens);
        tokens
    }

    fn shown_text<'l>(&self, line: &'l Line) -> &'l str {
        match self.display_cap {
            Some(cap) => cut_at_char(&line.text, cap),
            None => &line.text,
        }
    }

    /// The estimated tokens of the view as chosen so far.
    fn estimate(&mut self) -> usize {
        let pieces = self.pieces(&mut Vec::new());
        let mut total = 0;
        let mut lines = Vec::new();
        let mut markers = Vec::new();
        for piece in pieces {
            match piece {
                Piece::Line { line, .. } => lines.push(line),
                Piece::Marker(marker) => markers.push(marker),
            }
        }
        for line in lines {
            total += self.tokens_of(line);
        }
        for mut marker in markers {
            marker.push('\n');
            total += match self.marker_tokens.get(&marker) {
                Some(&tokens) => tokens,
                None => {
                    let tokens = self.counter.count(&marker);
                    self.marker_tokens.insert(marker, tokens);
                    tokens
                }
            };
        }
        total
    }

    /// The final text and its spans.
    pub(crate) fn render(&self) -> Rendered {
        let mut spans = Vec::new();
        let pieces = self.pieces(&mut spans);
        let mut text = String::new();
        let last_n = self.source.end_n.checked_sub(1);
        let count = pieces.len();
        for (index, piece) in pieces.into_iter().enumerate() {
            match piece {
                Piece::Line { line, shown } => {
                    text.push_str(shown);
                    // The last line keeps its missing newline, unless it
                    // is empty: then the newline is what shows it is there.
                    let unterminated = index + 1 == count
                        && Some(line.n) == last_n
                        && !self.source.ends_with_newline
                        && !shown.is_empty();
                    if !unterminated {
                        text.push('\n');
                    }
                }
                Piece::Marker(marker) => {
                    text.push_str(&marker);
                    text.push('\n');
                }
            }
        }
        Rendered { text, spans }
    }

    /// Walks the source from start to end: shown lines, and a marker for
    /// each stretch between them.
    fn pieces(&self, spans: &mut Vec<Span>) -> Vec<Piece<'a>> {
        let mut walk = Walk {
            source: self.source,
            hint: self.hint,
            pieces: Vec::with_capacity(self.shown.len() * 2 + 1),
            spans,
            n: self.source.first_line,
            offset: 0,
            claim: None,
            lost: 0,
        };
        for entry in self.shown.values() {
            let line = entry.line;
            walk.stretch(line.n, line.offset);
            let shown = match self.display_cap {
                Some(cap) => cut_at_char(&line.text, cap),
                None => line.text.as_str(),
            };
            walk.pieces.push(Piece::Line { line, shown });
            let cut = line.cut + (line.text.len() - shown.len()) as u64;
            if cut > 0 {
                walk.cut(line.n, cut);
            }
            if let Some(run) = entry.fold {
                walk.claim = Some(run);
            }
            walk.n = line.n + 1;
            walk.offset = line.offset + line.raw;
        }
        walk.stretch(self.source.end_n, self.source.end_offset);
        walk.pieces
    }
}

/// Whether a location is in a toolchain's or a dependency's code rather
/// than the program's own.
fn is_library_frame(text: &str) -> bool {
    const LIBRARY: &[&str] = &[
        "/rustc/",
        "/.cargo/registry/",
        "/.rustup/",
        "/usr/lib/go",
        "/usr/local/go/",
        "/go/pkg/mod/",
        "site-packages/",
        "dist-packages/",
        "/lib/python",
        "<frozen ",
        "node:internal",
        "node_modules/",
        "/usr/lib/jvm/",
        "java.base/",
        "/usr/include/",
        "/usr/lib/gcc/",
        "/usr/lib/llvm",
    ];
    LIBRARY.iter().any(|library| text.contains(library))
}

fn item_unit(item: &Item) -> Unit<'_> {
    match item {
        Item::Line(line) => vec![Entry { line, fold: None }],
        Item::Run(run) => {
            if run.folded() {
                let mut unit = vec![Entry {
                    line: &run.first,
                    fold: Some(run),
                }];
                if let Some(last) = &run.last {
                    unit.push(Entry {
                        line: last,
                        fold: None,
                    });
                }
                unit
            } else {
                std::iter::once(&run.first)
                    .chain(&run.extra)
                    .map(|line| Entry { line, fold: None })
                    .collect()
            }
        }
    }
}

/// The state of one walk over the source.
struct Walk<'a, 's> {
    source: Source<'a>,
    hint: Option<&'a str>,
    pieces: Vec<Piece<'a>>,
    spans: &'s mut Vec<Span>,
    /// The next line not yet accounted for, and its offset.
    n: u64,
    offset: u64,
    /// The run whose first line is shown, folding the lines after it.
    claim: Option<&'a Run>,
    /// The next gap not yet accounted for.
    lost: usize,
}

impl<'a> Walk<'a, '_> {
    /// Accounts for lines `self.n..end` (bytes `self.offset..end_offset`),
    /// none of which is shown.
    fn stretch(&mut self, end: u64, end_offset: u64) {
        let (mut n, mut offset) = (self.n, self.offset);
        if let Some(run) = self.claim {
            if run.last_n >= n && n < end {
                let fold_end = run.last_n.min(end - 1);
                let fold_offset = if fold_end == end - 1 {
                    end_offset
                } else {
                    run.end_offset
                };
                self.fold(run, n, fold_end, fold_offset - offset);
                n = fold_end + 1;
                offset = fold_offset;
            }
            if run.last_n < end {
                self.claim = None;
            }
        }
        if n < end || offset < end_offset {
            self.omission(n, end, offset, end_offset);
        }
    }

    fn fold(&mut self, run: &Run, start: u64, end: u64, bytes: u64) {
        let lines = end - start + 1;
        let what = match run.kind {
            SpanKind::Progress => "progress ",
            _ => "",
        };
        let mut marker = format!("[… {}: {lines} more {what}line", range(start, end));
        if lines != 1 {
            marker.push('s');
        }
        let _ = write!(marker, " like \"{}\" ({})", run.pattern, size(bytes));
        self.push_hint(&mut marker, start, end);
        marker.push(']');
        self.pieces.push(Piece::Marker(marker));
        self.spans.push(Span {
            start_line: start,
            end_line: end,
            kind: run.kind,
            lines,
            bytes,
        });
    }

    fn cut(&mut self, n: u64, bytes: u64) {
        let mut marker = format!("[… line {n} cut: {} more", size(bytes));
        self.push_hint(&mut marker, n, n);
        marker.push(']');
        self.pieces.push(Piece::Marker(marker));
        self.spans.push(Span {
            start_line: n,
            end_line: n,
            kind: SpanKind::Cut,
            lines: 0,
            bytes,
        });
    }

    /// Lines `start..end`, bytes `offset..end_offset`, none shown: one
    /// marker, and a span for each part that can be fetched or is lost.
    fn omission(&mut self, start: u64, end: u64, offset: u64, end_offset: u64) {
        let (mut n, mut at) = (start, offset);
        let mut lost_bytes = 0;
        while let Some(lost) = self.source.lost.get(self.lost) {
            // Gaps inside the stretch; a gap of lines but no bytes sits at
            // the offset of the line after it.
            let inside = lost.offset < end_offset || (lost.offset == end_offset && lost.n < end);
            if !inside {
                break;
            }
            self.lost += 1;
            if lost.n > n {
                self.spans.push(Span {
                    start_line: n,
                    end_line: lost.n - 1,
                    kind: SpanKind::Omitted,
                    lines: lost.n - n,
                    bytes: lost.offset.saturating_sub(at),
                });
            }
            self.spans.push(Span {
                start_line: lost.n,
                // An empty range (`end_line` = `start_line` - 1) when the
                // gap's lines are unknown.
                end_line: lost.n + lost.lines - 1,
                kind: SpanKind::Lost,
                lines: lost.lines,
                bytes: lost.bytes,
            });
            lost_bytes += lost.bytes;
            n = lost.n + lost.lines;
            at = lost.offset + lost.bytes;
        }
        if n < end {
            self.spans.push(Span {
                start_line: n,
                end_line: end - 1,
                kind: SpanKind::Omitted,
                lines: end - n,
                bytes: end_offset.saturating_sub(at),
            });
        }
        let (lines, bytes) = (end - start, end_offset - offset);
        let mut marker = String::from("[… ");
        if lines == 0 {
            let _ = write!(marker, "{} no longer in the log", size(bytes));
        } else if lost_bytes == bytes {
            let _ = write!(
                marker,
                "{} no longer in the log ({}{})",
                range(start, end - 1),
                count_lines(lines),
                size(bytes)
            );
        } else {
            let _ = write!(
                marker,
                "{} omitted ({}{}",
                range(start, end - 1),
                count_lines(lines),
                size(bytes)
            );
            if lost_bytes > 0 {
                let _ = write!(marker, ", {} of it no longer in the log", size(lost_bytes));
            }
            marker.push(')');
            self.push_hint(&mut marker, start, end - 1);
        }
        marker.push(']');
        self.pieces.push(Piece::Marker(marker));
    }

    fn push_hint(&self, marker: &mut String, start: u64, end: u64) {
        if let Some(hint) = self.hint {
            marker.push_str(": ");
            marker.push_str(
                &hint
                    .replace("{start}", &start.to_string())
                    .replace("{end}", &end.to_string()),
            );
        }
    }
}

fn range(start: u64, end: u64) -> String {
    if start == end {
        format!("line {start}")
    } else {
        format!("lines {start}-{end}")
    }
}

fn count_lines(lines: u64) -> String {
    if lines == 1 {
        String::new()
    } else {
        format!("{lines} lines, ")
    }
}

/// A byte count for people: `512 B`, `1.2 KB`, `34 KB`, `1.2 MB` (powers of
/// 1000).
pub(crate) fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 999.95 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if value < 9.95 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::size;

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(999), "999 B");
        assert_eq!(size(1000), "1.0 KB");
        assert_eq!(size(1234), "1.2 KB");
        assert_eq!(size(34_567), "35 KB");
        assert_eq!(size(999_999), "1.0 MB");
        assert_eq!(size(1_234_567), "1.2 MB");
        assert_eq!(size(67_108_864), "67 MB");
    }
}
