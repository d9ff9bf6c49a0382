//! The public face: [`AgentView`], the streaming builder, and the [`View`]
//! it finishes into.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::clean::Cleaner;
use crate::collect::{Caps, Collector, Item, Line};
use crate::options::{ViewError, ViewOptions};
use crate::plan::{Planner, Source};
use crate::tokens::{TokenCounter, o200k};

/// What a [`Span`] of the source stands for in the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpanKind {
    /// Lines left out; an agent can fetch them.
    Omitted,
    /// Similar lines folded after the first of their run (which is shown).
    Repeated,
    /// Progress and status lines (`Compiling …`, `Downloading …`, bars)
    /// folded after the first of their run.
    Progress,
    /// The end of one shown line, beyond what the view shows of it
    /// (`lines` is 0: the line itself is shown).
    Cut,
    /// Bytes the log no longer has (reported through [`AgentView::gap`]).
    /// When their lines are unknown, `lines` is 0 and the range is empty:
    /// `end_line` is `start_line - 1`, the gap sitting before `start_line`.
    Lost,
}

/// A stretch of the source that the view does not show in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    /// First line, absolute and 1-based.
    pub start_line: u64,
    /// Last line, inclusive.
    pub end_line: u64,
    /// What it stands for.
    pub kind: SpanKind,
    /// Lines left out (0 for [`SpanKind::Cut`]).
    pub lines: u64,
    /// Bytes left out: source bytes for lines, clean text bytes for the end
    /// of a cut line.
    pub bytes: u64,
}

/// A finished view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// The text to show an agent: clean lines of the source and marker
    /// lines (see the crate documentation for their format).
    pub text: String,
    /// Tokens in `text`, counted as one string; never more than
    /// `max_tokens`.
    pub tokens: usize,
    /// The budget it was built for.
    pub max_tokens: usize,
    /// The tokenizer that counted (`o200k_base` by default).
    pub tokenizer: String,
    /// Bytes described: every byte fed, plus those reported lost.
    pub source_bytes: u64,
    /// Lines described: those fed (a last line without a newline counts),
    /// plus those reported lost.
    pub source_lines: u64,
    /// Lines of the source that are not in `text`: the sum of the spans'
    /// `lines` (a folded run's first and last lines are shown, the rest
    /// omitted).
    pub omitted_lines: u64,
    /// Bytes not in `text`: the sum of the spans' `bytes`.
    pub omitted_bytes: u64,
    /// Every omission, fold and cut, in source order, disjoint.
    pub spans: Vec<Span>,
}

/// Builds a [`View`] from a command's output, fed in chunks of any size.
///
/// ```
/// use agentproc_view::{AgentView, ViewOptions};
///
/// let mut view = AgentView::new(ViewOptions::default());
/// view.push(b"   Compiling demo v0.1.0\nerror[E0425]: cannot find value `x`\n");
/// view.push(b" --> src/main.rs:2:5\n");
/// let view = view.finish();
/// assert!(view.text.contains("error[E0425]"));
/// assert!(view.tokens <= 2000);
/// ```
pub struct AgentView {
    options: ViewOptions,
    counter: Arc<dyn TokenCounter>,
    cleaner: Cleaner,
    collector: Collector,
}

impl std::fmt::Debug for AgentView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentView")
            .field("options", &self.options)
            .field("tokenizer", &self.counter.name())
            .field(
                "lines",
                &(self.collector.next_n - self.collector.first_line),
            )
            .finish_non_exhaustive()
    }
}

impl AgentView {
    /// A view counting with o200k_base. Options out of range are clamped
    /// (see [`ViewOptions::clamped`]); use [`AgentView::try_new`] to refuse
    /// them instead.
    pub fn new(options: ViewOptions) -> Self {
        Self::with_counter(options, o200k())
    }

    /// A view counting with o200k_base, refusing options out of range.
    pub fn try_new(options: ViewOptions) -> Result<Self, ViewError> {
        options.validate()?;
        Ok(Self::new(options))
    }

    /// A view counting tokens with `counter`. Options out of range are
    /// clamped.
    pub fn with_counter(options: ViewOptions, counter: Arc<dyn TokenCounter>) -> Self {
        let options = options.clamped();
        let caps = Caps::for_budget(options.max_tokens);
        Self {
            cleaner: Cleaner::new(line_cap(options.max_tokens)),
            collector: Collector::new(caps, options.first_line),
            options,
            counter,
        }
    }

    /// Feeds the next bytes of output. Chunks may end anywhere, inside a
    /// line or a UTF-8 character; the view is the same however the output
    /// is split.
    pub fn push(&mut self, bytes: &[u8]) {
        let collector = &mut self.collector;
        self.cleaner.push(bytes, &mut |line| collector.line(line));
    }

    /// Notes `bytes` of output the log no longer has at this point (and the
    /// number of lines in them, or 0 if unknown). A line cut by a gap ends at
    /// it; no context or folding continues across one.
    pub fn gap(&mut self, bytes: u64, lines: u64) {
        let collector = &mut self.collector;
        self.cleaner.flush(&mut |line| collector.line(line));
        self.collector.gap(bytes, lines);
    }

    /// Chooses what to show and renders it.
    pub fn finish(mut self) -> View {
        {
            let collector = &mut self.collector;
            self.cleaner.flush(&mut |line| collector.line(line));
        }
        self.collector.finish();
        let collector = self.collector;
        let options = &self.options;
        let counter = self.counter.as_ref();
        let source = Source {
            first_line: collector.first_line,
            end_n: collector.next_n,
            end_offset: collector.offset,
            lost: &collector.lost,
            ends_with_newline: collector.ends_with_newline,
        };
        let hint = options.fetch_hint.as_deref();
        let max = options.max_tokens;

        // Everything, verbatim, when it fits.
        if let Some(full) = &collector.full {
            let mut planner = Planner::new(source, counter, hint, max, None);
            planner.add_all(full);
            let rendered = planner.render();
            let tokens = counter.count(&rendered.text);
            if tokens <= max {
                return view(
                    rendered.text,
                    rendered.spans,
                    tokens,
                    options,
                    counter,
                    &collector,
                );
            }
        }

        let head = Collector::items(collector.head.iter().cloned());
        let tail = Collector::items(collector.tail.iter().cloned());
        let groups: Vec<_> = collector
            .groups
            .iter()
            .map(|(k, g)| (*k, g.clone()))
            .collect();
        let mut pool: BTreeMap<u64, &Line> = BTreeMap::new();
        for item in head.iter().chain(&tail) {
            match item {
                Item::Line(line) => {
                    pool.insert(line.n, line);
                }
                Item::Run(run) => {
                    for line in std::iter::once(&run.first)
                        .chain(&run.extra)
                        .chain(&run.last)
                    {
                        pool.insert(line.n, line);
                    }
                }
            }
        }
        for (_, group) in &groups {
            for line in &group.lines {
                pool.entry(line.n).or_insert(line);
            }
        }

        let mut planner = Planner::new(source, counter, hint, max, Some(display_cap(max)));
        planner.with_pool(pool);
        planner.choose(&head, &tail, &groups);
        loop {
            let rendered = planner.render();
            let tokens = counter.count(&rendered.text);

            if tokens <= max {
                return view(
                    rendered.text,
                    rendered.spans,
                    tokens,
                    options,
                    counter,
                    &collector,
                );
            }
            if !planner.pop() {
                break;
            }
        }
        // Not even one marker fits: say what is omitted without the hint.
        planner.drop_hint();
        let rendered = planner.render();
        let tokens = counter.count(&rendered.text);
        if tokens <= max {
            return view(
                rendered.text,
                rendered.spans,
                tokens,
                options,
                counter,
                &collector,
            );
        }
        view(
            String::new(),
            rendered.spans,
            0,
            options,
            counter,
            &collector,
        )
    }
}

fn view(
    text: String,
    spans: Vec<crate::view::Span>,
    tokens: usize,
    options: &ViewOptions,
    counter: &dyn TokenCounter,
    collector: &Collector,
) -> View {
    View {
        text,
        tokens,
        max_tokens: options.max_tokens,
        tokenizer: counter.name().to_owned(),
        source_bytes: collector.offset,
        source_lines: collector.next_n - collector.first_line,
        omitted_lines: spans.iter().map(|span| span.lines).sum(),
        omitted_bytes: spans.iter().map(|span| span.bytes).sum(),
        spans,
    }
}

/// The longest line kept, in bytes: about the whole budget, so a short
/// output with one long line still comes back verbatim.
fn line_cap(max_tokens: usize) -> usize {
    (max_tokens * 4).clamp(1024, 64 * 1024)
}

/// The longest line shown when the view has to cut: about a quarter of
/// the budget at the default.
fn display_cap(max_tokens: usize) -> usize {
    (max_tokens / 2).clamp(160, 4096)
}

/// The view of a whole output at once.
pub fn view_bytes(bytes: &[u8], options: ViewOptions) -> View {
    let mut builder = AgentView::new(options);
    builder.push(bytes);
    builder.finish()
}
