//! The streaming half of the view: what is kept of the lines as they pass,
//! in memory bounded by a constant times the budget whatever the input's
//! size.
//!
//! - the *full* store holds every line while they are few, so an output that
//!   fits is shown verbatim;
//! - the *head* holds the first lines, and the *tail* a ring of the last
//!   ones, each with runs of similar lines folded as they arrive (a run
//!   keeps its first and last line and counts the rest);
//! - *groups* hold each line a rule picked out with the context it wants,
//!   ordered by priority; when they outgrow their share the least important
//!   group is dropped.

use std::collections::{BTreeMap, HashSet, VecDeque};

use crate::clean::CleanLine;
use crate::rules::{After, Hit, MAX_BEFORE, Rules, Severity};
use crate::shape::{Shape, message_key};
use crate::view::SpanKind;

/// Runs of at least this many similar lines are folded.
pub(crate) const FOLD_MIN: u64 = 5;
/// Distinct messages remembered to tell first occurrences from repeats.
const SEEN_CAP: usize = 4096;
/// Gaps remembered; more are merged into the last one.
const LOST_CAP: usize = 4096;
/// What a stored line costs beyond its text, for the stores' caps.
const LINE_OVERHEAD: usize = 48;
/// What a fold marker is expected to cost, in bytes.
const FOLD_OVERHEAD: usize = 96;

/// A line kept for the view.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    /// Absolute, 1-based line number.
    pub(crate) n: u64,
    /// Offset of the line's first byte from the first byte fed (gaps
    /// included).
    pub(crate) offset: u64,
    /// Source bytes, newline included.
    pub(crate) raw: u64,
    /// The clean text, at most the storage cap.
    pub(crate) text: String,
    /// Clean bytes of the line beyond `text`.
    pub(crate) cut: u64,
    /// The rule that picked it out, if any.
    pub(crate) hit: Option<Hit>,
}

impl Line {
    fn cost(&self) -> usize {
        self.text.len() + LINE_OVERHEAD
    }

    fn overwrite(&mut self, from: &Incoming<'_>) {
        self.n = from.n;
        self.offset = from.offset;
        self.raw = from.raw;
        self.text.clear();
        self.text.push_str(from.text);
        self.cut = from.cut;
        self.hit = from.hit;
    }
}

/// A line as it arrives, before anything is copied.
#[derive(Debug, Clone, Copy)]
struct Incoming<'a> {
    n: u64,
    offset: u64,
    raw: u64,
    text: &'a str,
    cut: u64,
    hit: Option<Hit>,
}

impl Incoming<'_> {
    fn to_line(self) -> Line {
        Line {
            n: self.n,
            offset: self.offset,
            raw: self.raw,
            text: self.text.to_owned(),
            cut: self.cut,
            hit: self.hit,
        }
    }
}

/// A run of similar lines: lines of one shape, or alternating between two
/// (`Collecting x` / `  Downloading x`).
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub(crate) first: Line,
    /// The lines after the first while the run is too short to fold.
    pub(crate) extra: Vec<Line>,
    /// The last line, once the run folds.
    pub(crate) last: Option<Line>,
    /// Lines in the run, the first included.
    pub(crate) count: u64,
    pub(crate) last_n: u64,
    /// Offset just past the run's last line.
    pub(crate) end_offset: u64,
    pub(crate) kind: SpanKind,
    shape_a: Shape,
    mask_a: u16,
    /// The second shape, its varying words and its first line's text.
    shape_b: Option<(Shape, u16, String)>,
    /// No line may join any more (a gap came).
    closed: bool,
    /// The marker's pattern, set when the view is finished.
    pub(crate) pattern: String,
}

impl Run {
    fn new(line: Line, shape: Shape) -> Self {
        let kind = if is_progress(&line.text) {
            SpanKind::Progress
        } else {
            SpanKind::Repeated
        };
        Self {
            count: 1,
            last_n: line.n,
            end_offset: line.offset + line.raw,
            first: line,
            extra: Vec::new(),
            last: None,
            kind,
            shape_a: shape,
            mask_a: 0,
            shape_b: None,
            closed: false,
            pattern: String::new(),
        }
    }

    pub(crate) fn folded(&self) -> bool {
        self.count >= FOLD_MIN
    }

    fn cost(&self) -> usize {
        let mut cost = self.first.cost();
        if let Some(last) = &self.last {
            cost += last.cost() + FOLD_OVERHEAD;
        }
        cost + self.extra.iter().map(Line::cost).sum::<usize>()
    }

    /// Takes `line` into the run if it is similar; returns whether it did.
    fn absorb(&mut self, line: &Incoming<'_>, shape: &Shape) -> bool {
        if self.closed || line.n != self.last_n + 1 {
            return false;
        }
        let joined = if let Some(mask) = joins(&self.shape_a, self.mask_a, shape) {
            self.mask_a = mask;
            true
        } else if self.count == 2 && self.shape_b.is_some() {
            // A second shape is a run only if the first comes back right
            // after it (`Collecting x`, `  Downloading x`, `Collecting y`).
            false
        } else if let Some((shape_b, mask_b, _)) = &mut self.shape_b {
            match joins(shape_b, *mask_b, shape) {
                Some(mask) => {
                    *mask_b = mask;
                    true
                }
                None => false,
            }
        } else if self.count == 1 {
            // The second line of a run may start its second shape; the run
            // only shows as one once a third line joins.
            self.shape_b = Some((*shape, 0, line.text.to_owned()));
            true
        } else {
            false
        };
        if !joined {
            return false;
        }
        self.count += 1;
        self.last_n = line.n;
        self.end_offset = line.offset + line.raw;
        if self.folded() {
            self.extra.clear();
            match &mut self.last {
                Some(last) => last.overwrite(line),
                None => self.last = Some(line.to_line()),
            }
        } else {
            self.extra.push(line.to_line());
        }
        true
    }

    /// Whether a two-line run is really two unrelated lines (its second
    /// shape never repeated): then it is not a run but two lines.
    fn is_pair_of_strangers(&self) -> bool {
        self.count == 2 && self.shape_b.is_some()
    }

    /// Sets the marker's pattern.
    pub(crate) fn finish_pattern(&mut self) {
        const MAX: usize = 60;
        let mut pattern = crate::shape::pattern(&self.first.text, self.mask_a, MAX);
        if let Some((_, mask, text)) = &self.shape_b {
            pattern.push_str("\" / \"");
            pattern.push_str(&crate::shape::pattern(text, *mask, MAX));
        }
        self.pattern = pattern;
    }
}

/// The run's varying words if `shape` may join a run of `base`.
fn joins(base: &Shape, mask: u16, shape: &Shape) -> Option<u16> {
    let mask = mask | base.diff(shape)?;
    (mask.count_ones() <= base.tolerance()).then_some(mask)
}

/// Whether a line reports progress (a build step, a download, a bar).
fn is_progress(text: &str) -> bool {
    const VERBS: &[&str] = &[
        "Compiling",
        "Checking",
        "Documenting",
        "Fresh",
        "Building",
        "Built",
        "Downloading",
        "Downloaded",
        "Fetching",
        "Fetched",
        "Updating",
        "Updated",
        "Installing",
        "Installed",
        "Collecting",
        "Resolving",
        "Resolved",
        "Receiving",
        "Unpacking",
        "Preparing",
        "Processing",
        "Using",
        "Requirement",
        "Locking",
        "Adding",
        "Removing",
        "Extracting",
        "Copying",
        "Writing",
        "Uploading",
        "Pulling",
        "Pushing",
        "Waiting",
        "Loading",
        "Linking",
        "Generating",
        "Running",
        "Get:",
        "Hit:",
        "Ign:",
        "Selecting",
        "Setting",
        "Progress",
        "Scanning",
        "Counting",
        "Compressing",
        "remote:",
    ];
    let trimmed = text.trim_start();
    let first = trimmed.split_ascii_whitespace().next().unwrap_or("");
    VERBS.contains(&first)
        || trimmed.starts_with('[')
        || text.contains('%')
        || text.contains("━")
        || text.contains("█")
        || text.contains("===")
}

/// A stretch of the head or the tail.
#[derive(Debug, Clone)]
pub(crate) enum Item {
    Line(Line),
    /// Boxed: a run is several times the size of a line.
    Run(Box<Run>),
}

impl Item {
    fn cost(&self) -> usize {
        match self {
            Item::Line(line) => line.cost(),
            Item::Run(run) => run.cost(),
        }
    }
}

/// A group's place in the priority order: lower is kept first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Key {
    /// 0 failing summaries, 1 failures, 2 warnings, 3 passing summaries,
    /// 4 other notes.
    pub(crate) tier: u8,
    /// A repeat of a message seen before.
    pub(crate) repeat: bool,
    /// Where the group starts; earlier is kept first.
    pub(crate) n: u64,
}

/// What a group still takes after its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Done,
    Lines(u8),
    UntilBlank(u8),
    /// `held`: a blank line is held back; `crossed`: one was taken, so only
    /// gutter lines may follow.
    Snippet {
        left: u8,
        held: bool,
        crossed: bool,
    },
    /// `held`: a blank line is held back until an indented line shows it
    /// is inside.
    Indented {
        left: u8,
        held: bool,
    },
    /// At most `max` lines; the exception line is the first one indented
    /// no deeper than the header (`indent`).
    Traceback {
        max: u8,
        indent: u16,
    },
}

impl Want {
    fn from(after: After) -> Self {
        match after {
            After::Lines(0) | After::UntilBlank(0) | After::Snippet(0) | After::Indented(0) => {
                Want::Done
            }
            After::Lines(n) => Want::Lines(n),
            After::UntilBlank(n) => Want::UntilBlank(n),
            After::Snippet(n) => Want::Snippet {
                left: n,
                held: false,
                crossed: false,
            },
            After::Indented(n) => Want::Indented {
                left: n,
                held: false,
            },
            After::Traceback(n) => Want::Traceback {
                max: n.max(4),
                indent: 0,
            },
        }
    }
}

/// A line a rule picked out, with its context.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    /// The line that matters most (for a traceback, its exception line).
    pub(crate) core: u64,
    /// The line whose rule started the group.
    pub(crate) trigger: u64,
    /// The context, in line order, the core among it.
    pub(crate) lines: Vec<Line>,
    /// Lines before the context that other rules picked out.
    pub(crate) adopted: Vec<Line>,
    want: Want,
    /// Blank line held back until a snippet line shows it is inside.
    held_blank: Option<Line>,
    cost: usize,
}

/// Bytes the log no longer has (reported by [`crate::AgentView::gap`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lost {
    /// The number of its first line (or of the line after it, when it has
    /// none).
    pub(crate) n: u64,
    pub(crate) offset: u64,
    pub(crate) bytes: u64,
    pub(crate) lines: u64,
}

/// How much each store may hold, in bytes of text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caps {
    pub(crate) full: usize,
    pub(crate) head: usize,
    pub(crate) tail: usize,
    pub(crate) groups: usize,
}

impl Caps {
    pub(crate) fn for_budget(max_tokens: usize) -> Self {
        Self {
            full: max_tokens * 8,
            head: max_tokens * 6,
            tail: max_tokens * 6,
            groups: max_tokens * 12,
        }
    }
}

/// Everything kept of the lines seen so far.
#[derive(Debug)]
pub(crate) struct Collector {
    rules: &'static Rules,
    caps: Caps,
    pub(crate) first_line: u64,
    pub(crate) next_n: u64,
    pub(crate) offset: u64,
    /// Every line, while they fit in `caps.full`; `None` once they did not.
    pub(crate) full: Option<Vec<Line>>,
    full_bytes: usize,
    pub(crate) head: Vec<Item>,
    head_cost: usize,
    head_open: bool,
    pub(crate) tail: VecDeque<Item>,
    tail_cost: usize,
    recent: VecDeque<Line>,
    pub(crate) groups: BTreeMap<Key, Group>,
    groups_cost: usize,
    open: Vec<Key>,
    seen: HashSet<u64>,
    pub(crate) lost: Vec<Lost>,
    pub(crate) ends_with_newline: bool,
}

impl Collector {
    pub(crate) fn new(caps: Caps, first_line: u64) -> Self {
        Self {
            rules: Rules::get(),
            caps,
            first_line,
            next_n: first_line,
            offset: 0,
            full: Some(Vec::new()),
            full_bytes: 0,
            head: Vec::new(),
            head_cost: 0,
            head_open: true,
            tail: VecDeque::new(),
            tail_cost: 0,
            recent: VecDeque::with_capacity(MAX_BEFORE),
            groups: BTreeMap::new(),
            groups_cost: 0,
            open: Vec::new(),
            seen: HashSet::new(),
            lost: Vec::new(),
            ends_with_newline: false,
        }
    }

    /// Takes the next line.
    pub(crate) fn line(&mut self, clean: CleanLine<'_>) {
        let line = Incoming {
            n: self.next_n,
            offset: self.offset,
            raw: clean.raw,
            text: clean.text,
            cut: clean.cut,
            hit: self.rules.classify(clean.text),
        };
        self.next_n += 1;
        self.offset += clean.raw;
        self.ends_with_newline = clean.newline;

        if let Some(full) = &mut self.full {
            self.full_bytes += line.text.len() + 1;
            if self.full_bytes <= self.caps.full {
                full.push(line.to_line());
            } else {
                self.full = None;
            }
        }
        self.feed_open_groups(&line);
        if let Some(hit) = line.hit {
            self.start_group(&line, hit);
        }
        self.frame(&line);
        self.remember(&line);
    }

    /// Bytes (and lines, if known) the log no longer has, at this point.
    pub(crate) fn gap(&mut self, bytes: u64, lines: u64) {
        if bytes == 0 && lines == 0 {
            return;
        }
        let full = self.lost.len() >= LOST_CAP;
        match self.lost.last_mut() {
            Some(last) if full || last.offset + last.bytes == self.offset => {
                last.bytes += bytes;
                last.lines += lines;
            }
            _ => self.lost.push(Lost {
                n: self.next_n,
                offset: self.offset,
                bytes,
                lines,
            }),
        }
        self.next_n += lines;
        self.offset += bytes;
        // Nothing continues across a gap: no context, no run.
        for key in std::mem::take(&mut self.open) {
            self.close_group(key);
        }
        self.recent.clear();
        for item in self.head.last_mut().into_iter().chain(self.tail.back_mut()) {
            if let Item::Run(run) = item {
                run.closed = true;
            }
        }
    }

    /// Ends every group still taking context.
    pub(crate) fn finish(&mut self) {
        for key in std::mem::take(&mut self.open) {
            self.close_group(key);
        }
        for item in self.head.iter_mut().chain(self.tail.iter_mut()) {
            if let Item::Run(run) = item {
                run.finish_pattern();
            }
        }
    }

    /// Splits runs that are only two unrelated lines back into lines.
    pub(crate) fn items(items: impl IntoIterator<Item = Item>) -> Vec<Item> {
        let mut out = Vec::new();
        for item in items {
            match item {
                Item::Run(run) if run.is_pair_of_strangers() => {
                    let Run { first, extra, .. } = *run;
                    out.push(Item::Line(first));
                    out.extend(extra.into_iter().map(Item::Line));
                }
                item => out.push(item),
            }
        }
        out
    }

    fn remember(&mut self, line: &Incoming<'_>) {
        if self.recent.len() == MAX_BEFORE {
            if let Some(mut oldest) = self.recent.pop_front() {
                oldest.overwrite(line);
                self.recent.push_back(oldest);
            }
        } else {
            self.recent.push_back(line.to_line());
        }
    }

    /// Appends the line to the head while it is open, and to the tail ring
    /// always (so the last lines are at hand however far the head reached;
    /// where the two overlap, their items are the same lines).
    fn frame(&mut self, line: &Incoming<'_>) {
        let shape = line.hit.is_none().then(|| Shape::of(line.text));
        if self.head_open {
            let absorbed = match (&shape, self.head.last_mut()) {
                (Some(shape), Some(Item::Run(run))) => {
                    let before = run.cost();
                    let absorbed = run.absorb(line, shape);
                    self.head_cost = self.head_cost + run.cost() - before;
                    absorbed
                }
                _ => false,
            };
            if !absorbed {
                if self.head_cost < self.caps.head {
                    let item = new_item(line, shape);
                    self.head_cost += item.cost();
                    self.head.push(item);
                } else {
                    self.head_open = false;
                }
            }
        }
        if let (Some(shape), Some(Item::Run(run))) = (&shape, self.tail.back_mut()) {
            let before = run.cost();
            if run.absorb(line, shape) {
                self.tail_cost = self.tail_cost + run.cost() - before;
                self.trim_tail();
                return;
            }
        }
        let item = new_item(line, shape);
        self.tail_cost += item.cost();
        self.tail.push_back(item);
        self.trim_tail();
    }

    fn trim_tail(&mut self) {
        while self.tail_cost > self.caps.tail && self.tail.len() > 1 {
            if let Some(item) = self.tail.pop_front() {
                self.tail_cost -= item.cost();
            }
        }
    }

    fn start_group(&mut self, line: &Incoming<'_>, hit: Hit) {
        let rule = hit.rule();
        let traceback = matches!(rule.context.after, After::Traceback(_));
        // A traceback's repeat is decided by its exception line, at its end.
        let repeat = !traceback && self.is_repeat(line.text);
        let key = Key {
            tier: hit.tier(),
            repeat,
            n: line.n,
        };
        if self.groups_cost >= self.caps.groups
            && self
                .groups
                .last_key_value()
                .is_some_and(|(last, _)| *last < key)
        {
            return;
        }
        let before = usize::from(rule.context.before).min(self.recent.len());
        let first_context = self.recent.len() - before;
        let mut lines: Vec<Line> = self.recent.iter().skip(first_context).cloned().collect();
        // A failure or warning also takes the lines other rules picked out
        // just before its context: a test's log line printed before its
        // `FAIL`.
        let adopted: Vec<Line> = if rule.severity == Severity::Note {
            Vec::new()
        } else {
            self.recent
                .iter()
                .take(first_context)
                .filter(|kept| kept.hit.is_some())
                .cloned()
                .collect()
        };
        lines.push(line.to_line());
        let mut want = Want::from(rule.context.after);
        if let Want::Traceback { indent, .. } = &mut want {
            *indent = indentation(line.text);
        }
        let group = Group {
            core: line.n,
            trigger: line.n,
            cost: lines.iter().chain(&adopted).map(Line::cost).sum(),
            lines,
            adopted,
            want,
            held_blank: None,
        };
        self.groups_cost += group.cost;
        self.groups.insert(key, group);
        if want != Want::Done {
            self.open.push(key);
        }
        self.evict();
    }

    fn is_repeat(&mut self, text: &str) -> bool {
        let key = message_key(text);
        if self.seen.contains(&key) {
            return true;
        }
        if self.seen.len() < SEEN_CAP {
            self.seen.insert(key);
        }
        false
    }

    fn evict(&mut self) {
        while self.groups_cost > self.caps.groups {
            match self.groups.pop_last() {
                Some((_, group)) => self.groups_cost -= group.cost,
                None => break,
            }
        }
    }

    fn feed_open_groups(&mut self, line: &Incoming<'_>) {
        if self.open.is_empty() {
            return;
        }
        let mut still_open = Vec::with_capacity(self.open.len());
        let mut retired = Vec::new();
        for key in std::mem::take(&mut self.open) {
            let Some(group) = self.groups.get_mut(&key) else {
                continue; // evicted
            };
            let before = group.cost;
            let keep_open = take_context(group, line);
            self.groups_cost = self.groups_cost + group.cost - before;
            if keep_open {
                still_open.push(key);
            } else {
                retired.push(key);
            }
        }
        self.open = still_open;
        for key in retired {
            self.close_group(key);
        }
        self.evict();
    }

    /// Ends a group's context. A traceback whose exception line came has
    /// taken it as its core, and is ranked by it now.
    fn close_group(&mut self, key: Key) {
        let Some(group) = self.groups.get_mut(&key) else {
            return;
        };
        group.want = Want::Done;
        group.held_blank = None;
        if group.core == key.n {
            return;
        }
        let text = group
            .lines
            .iter()
            .find(|line| line.n == group.core)
            .map(|line| line.text.clone())
            .unwrap_or_default();
        let repeat = self.is_repeat(&text);
        if let Some(group) = self.groups.remove(&key) {
            self.groups.insert(Key { repeat, ..key }, group);
        }
    }
}

fn new_item(line: &Incoming<'_>, shape: Option<Shape>) -> Item {
    match shape {
        Some(shape) => Item::Run(Box::new(Run::new(line.to_line(), shape))),
        None => Item::Line(line.to_line()),
    }
}

/// Whether a line is part of a compiler diagnostic's snippet: a gutter
/// (`12 |`, `|`, `=`, `-->`, `^`, `~`, `...`), or, before any blank line,
/// any indented line (javac's code and `symbol:` lines).
fn is_snippet(text: &str, crossed_blank: bool) -> bool {
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return false;
    }
    let gutter = ["|", "│", "=", "-->", "^", "~", "..."]
        .iter()
        .any(|start| trimmed.starts_with(start))
        || {
            let digits = trimmed.len()
                - trimmed
                    .trim_start_matches(|c: char| c.is_ascii_digit())
                    .len();
            digits > 0 && {
                let rest = &trimmed[digits..];
                let after = rest.trim_start();
                after.starts_with('|')
                    || after.starts_with('│')
                    || (trimmed.len() == text.len() && rest.starts_with(' '))
            }
        };
    gutter || (!crossed_blank && trimmed.len() < text.len())
}

/// Leading spaces and tabs.
fn indentation(text: &str) -> u16 {
    let n = text.len() - text.trim_start_matches([' ', '\t']).len();
    n.min(usize::from(u16::MAX)) as u16
}

fn is_indented(text: &str) -> bool {
    (text.starts_with(' ') || text.starts_with('\t')) && !text.trim().is_empty()
}

/// Offers `line` to an open group; returns whether the group still wants
/// more.
fn take_context(group: &mut Group, line: &Incoming<'_>) -> bool {
    let blank = line.text.trim().is_empty();
    let (take, next) = match group.want {
        Want::Done => (false, Want::Done),
        Want::Lines(left) => (true, countdown(left, Want::Lines)),
        Want::UntilBlank(left) => {
            if blank {
                (false, Want::Done)
            } else {
                (true, countdown(left, Want::UntilBlank))
            }
        }
        Want::Indented { left, held } => {
            if blank && !held {
                group.held_blank = Some(line.to_line());
                (false, Want::Indented { left, held: true })
            } else if is_indented(line.text) {
                if let Some(held) = group.held_blank.take() {
                    group.cost += held.cost();
                    group.lines.push(held);
                }
                (
                    true,
                    countdown(left, |left| Want::Indented { left, held: false }),
                )
            } else {
                (false, Want::Done)
            }
        }
        Want::Snippet {
            left,
            held,
            crossed,
        } => {
            if blank && !held {
                group.held_blank = Some(line.to_line());
                (
                    false,
                    Want::Snippet {
                        left,
                        held: true,
                        crossed,
                    },
                )
            } else if !blank && is_snippet(line.text, crossed || held) {
                let crossed = crossed || held;
                if let Some(held) = group.held_blank.take() {
                    group.cost += held.cost();
                    group.lines.push(held);
                }
                let next = countdown(left, |left| Want::Snippet {
                    left,
                    held: false,
                    crossed,
                });
                (true, next)
            } else {
                (false, Want::Done)
            }
        }
        Want::Traceback { max, indent } => {
            if blank {
                (false, Want::Done)
            } else {
                let body = line.text.trim_start();
                let exception = indentation(line.text) <= indent
                    && !body.starts_with("During handling")
                    && !body.starts_with("The above exception");
                let header = group
                    .lines
                    .iter()
                    .position(|kept| kept.n == group.trigger)
                    .unwrap_or(0);
                if group.lines.len() >= usize::from(max) && group.lines.len() > header + 1 {
                    // Keep what came before, the header and the innermost
                    // frames.
                    let dropped = group.lines.remove(header + 1);
                    group.cost -= dropped.cost();
                }
                if exception {
                    group.core = line.n;
                    (true, Want::Done)
                } else {
                    (true, Want::Traceback { max, indent })
                }
            }
        }
    };
    if take {
        let copy = line.to_line();
        group.cost += copy.cost();
        group.lines.push(copy);
    }
    group.want = next;
    if next == Want::Done {
        group.held_blank = None;
    }
    next != Want::Done
}

fn countdown(left: u8, make: impl Fn(u8) -> Want) -> Want {
    if left > 1 { make(left - 1) } else { Want::Done }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(collector: &mut Collector, text: &str) {
        collector.line(CleanLine {
            text,
            raw: text.len() as u64 + 1,
            cut: 0,
            newline: true,
        });
    }

    #[test]
    fn stores_stay_bounded_whatever_the_input() {
        let caps = Caps::for_budget(2000);
        let mut collector = Collector::new(caps, 1);
        for i in 0..200_000u64 {
            let line = match i % 5 {
                0 => format!("error[E{:04}]: distinct failure number {i}", i % 9999),
                1 => format!(" --> src/file_{i}.rs:{}:5", i % 300),
                2 => format!("warning: unused thing {i} in module {}", i % 77),
                3 => format!("plain line {i} with words {} and more", i * 7919),
                _ => format!("Traceback (most recent call last): {i}"),
            };
            feed(&mut collector, &line);
            assert!(collector.groups_cost <= caps.groups, "groups at line {i}");
            assert!(collector.tail_cost <= caps.tail + 4096, "tail at line {i}");
            assert!(collector.head_cost <= caps.head + 4096, "head at line {i}");
            assert!(collector.open.len() <= 64, "open groups at line {i}");
        }
        collector.finish();
        assert!(collector.full.is_none());
        assert!(collector.seen.len() <= SEEN_CAP);
        assert!(collector.recent.len() <= MAX_BEFORE);
        // Failures outrank the warnings and notes that came before them.
        assert!(
            collector.groups.keys().all(|key| key.tier <= 1),
            "{:?}",
            collector.groups.keys().last()
        );
    }

    #[test]
    fn runs_fold_and_two_unrelated_lines_are_not_a_run() {
        let mut collector = Collector::new(Caps::for_budget(200), 1);
        feed(&mut collector, "$ cargo build");
        for i in 0..50 {
            feed(&mut collector, &format!("   Compiling crate-{i} v1.0.{i}"));
        }
        feed(&mut collector, "all done");
        collector.finish();
        let items = Collector::items(collector.head.clone());
        let kinds: Vec<String> = items
            .iter()
            .map(|item| match item {
                Item::Line(line) => format!("line {}", line.n),
                Item::Run(run) => {
                    format!("run {}-{} folded={}", run.first.n, run.last_n, run.folded())
                }
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "line 1",
                "line 2",
                "run 3-51 folded=true",
                "run 52-52 folded=false"
            ]
        );
    }
}
