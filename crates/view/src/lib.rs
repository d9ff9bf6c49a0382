//! `agentproc-view`: the *agent view* of a command's output — the bytes it
//! wrote, cut to a token budget, keeping what an agent acts on, with a map
//! of everything left out.
//!
//! It is a pure, sans-IO, streaming function: feed [`AgentView::push`] the
//! output in chunks of any size (a chunk may end inside a line or a UTF-8
//! character), note bytes the log lost with [`AgentView::gap`], and
//! [`AgentView::finish`] returns a [`View`]: the text, its exact token
//! count (o200k_base by default, never more than `max_tokens`), and the
//! [`Span`]s it omits, folds or cuts. The same bytes give the same view
//! however they are chunked.
//!
//! ```
//! use agentproc_view::{AgentView, ViewOptions};
//!
//! let mut view = AgentView::new(ViewOptions {
//!     max_tokens: 2000,
//!     first_line: 1,
//!     fetch_hint: Some("GET /api/v0/processes/abc/lines?start={start}&end={end}".into()),
//! });
//! for chunk in [&b"   Compiling demo v0.1.0\nerror[E0425]: cannot find"[..], b" value `x`\n"] {
//!     view.push(chunk);
//! }
//! let view = view.finish();
//! assert_eq!(view.text, "   Compiling demo v0.1.0\nerror[E0425]: cannot find value `x`\n");
//! assert!(view.spans.is_empty());
//! ```
//!
//! # What the view does, in priority order
//!
//! 1. **Clean first.** Terminal escape sequences are removed and
//!    carriage-return rewrites (progress bars) collapse to what the terminal
//!    would show, line by line, before anything is counted or chosen (the
//!    same hygiene as `agentproc_core::text`, streaming; an escape sequence
//!    never spans a newline). Invalid UTF-8 becomes U+FFFD.
//! 2. **Keep what an agent acts on.** Each line is classified by a table of
//!    [rules](rules::RULES); a line a rule picks out is kept with the
//!    context the rule asks for (a rustc error with its `-->` and snippet, a
//!    Python traceback whole up to its exception line, pytest's `E` lines
//!    and `file.py:NN: Error` line, a Go `--- FAIL` with its messages, a TAP
//!    `not ok` with its YAML block, …). When the budget cannot hold them all:
//!    failing summaries first (`test result: FAILED`, `2 failed, 118
//!    passed`, `make: *** … Error 2`), then failures, then warnings, then
//!    summaries of what passed; first occurrences before repeats (same text
//!    but for numbers); for each, the matching lines first (with a
//!    location on the line right after, like rustc's `-->`), then the
//!    failures and nearest locations around them (the program's own frames
//!    before the runtime's), then their whole context, at most a quarter of
//!    the budget per group.
//! 3. **Fold the noise.** When the output does not fit, runs of at least 5
//!    similar lines (same first word and word count, differing only in a
//!    few words once numbers, hashes, versions and paths are made alike;
//!    runs may alternate between two shapes, `Collecting x` / `Downloading
//!    x`) show their first and last line around a fold marker.
//! 4. **Keep the frame.** The first and last lines are always tried first;
//!    after the failures a twentieth of the budget goes to how it began and
//!    a tenth to how it ended; whatever budget is left after everything else
//!    goes to the frame, two tail lines for each head line.
//! 5. **Map every omission** with a marker line (below), and in
//!    [`View::spans`].
//! 6. **Stay within the budget.** Lines and markers are chosen against
//!    exact per-line token counts; the final text is then counted as one
//!    string and choices are taken back, last first, until it fits.
//!
//! An output that fits the budget comes back verbatim (after cleaning): no
//! markers and no folding. Folding happens only in views that have to cut.
//!
//! # Markers
//!
//! Every marker is a line of its own that starts with `[… ` and ends with
//! `]`. Line numbers are absolute and inclusive; sizes are source bytes in
//! powers of 1000; `: <hint>` is the caller's fetch hint with `{start}` and
//! `{end}` filled in, absent when there is none.
//!
//! ```text
//! [… lines 120-4388 omitted (4269 lines, 1.2 MB): GET /…/lines?start=120&end=4388]
//! [… line 57 omitted (120 B): GET /…/lines?start=57&end=57]
//! [… lines 41-339: 299 more progress lines like "Compiling * #.#.#" (12 KB): GET /…]
//! [… lines 8-292: 285 more lines like "test acct_#::tests::case_# ... ok" (13 KB): GET /…]
//! [… line 57 cut: 4.1 KB more: GET /…/lines?start=57&end=57]
//! [… lines 2-11 no longer in the log (10 lines, 100 B)]
//! [… 5.0 KB no longer in the log]
//! ```
//!
//! An omission of lines that are partly lost says so: `(…, 1.2 MB, 200 KB
//! of it no longer in the log)`. A fold's pattern shows the first line with
//! numbers as `#` and the words that vary as `*`. A cut line is shown as a
//! prefix of itself (cut on a character boundary) followed by its cut
//! marker. Every line of a view that is not a marker is a line of the
//! cleaned source, or a cut prefix of one, in source order.
//!
//! # The rules
//!
//! [`rules::RULES`] is the table, tried in order, the first match winning.
//! Severities: **F** failure, **W** warning, **N** note; *summary* rules sum
//! up a run. Context: lines before / after.
//!
//! | family | rules (severity, context) |
//! |---|---|
//! | outcomes | `cargo.test-result-failed`, `summary.failed-count` (`2 failed`, `3 errors`, `failures=1`), `make.error`, `go.fail-summary`, `build.failed` (`BUILD FAILED`, `exit status 1`): F summary |
//! | cargo, rustc | `rust.panic` (F, 4 after), `rust.test-failed` (F), `rust.test-output` (`---- x stdout ----`, F, to blank), `rust.failures-list` (F, to blank), `rust.location` (`-->`, N) |
//! | Python, pytest | `python.traceback` (F, 2 before, the block up to its exception line, 40 lines at most), `pytest.error-line` (`E   …`, F), `pytest.failure-location` (`x.py:12: AssertionError`, F, 6 before), `pytest.failed-test`, `pytest.section`, `unittest.failure` (F), `python.frame` (N) |
//! | assertions | `assertion.failed` (F, 3 after) |
//! | Go | `go.test-fail` (F, indented lines after), `go.panic` (F, 10 after), `go.goroutine` (F, to blank), `go.compile-error` (F) |
//! | JVM | `java.uncaught` (`Exception in thread`, `Caused by:`, F, indented after) |
//! | npm, node, JS runners | `npm.error` (F), `jest.failure` (`●`, F, 14 after), `tap.not-ok` (F, its YAML block), `test.failed-mark` (`✕`, `✖`, `×`, `FAIL x`, F), `npm.warn` (W) |
//! | git | `git.conflict` (`CONFLICT`, `! [rejected]`, F) |
//! | gcc, clang, make, linkers | `link.undefined` (F), `error.infix` (`x.c:3:5: error:`, tsc `error TS2322:`, javac, F, 2 before, snippet after) |
//! | crashes, shell | `crash` (segfault, `Killed`, OOM, F), `shell.not-found` (F) |
//! | any tool | `exception` (`ValueError: …`, `TypeError: …`, F, 4 before, indented after), `error.prefix` (`error: …`, `error[E0308]:`, `ERROR:`, `fatal:`, `[ERROR]`, F, snippet after), `error.level` (`ERROR` as a log level, F), `failed.word` (F), `summary.warning-count`, `warning.prefix`, `warning.infix` (incl. Python `…Warning:`), `warning.level` (W), `summary.passed` (N summary), `location` (`name.ext:line`, N) |
//!
//! Look-alikes are left alone: `0 errors`, `error_count = 0`, `warnings: 0`,
//! `-Werror` in a compiler command line, crate names such as `failure` in
//! `Compiling failure v0.1.8`. A failure or warning also takes the lines
//! other rules picked out just before its context (a Go test's log line
//! printed before its `--- FAIL`). Locations and frames on their own, away
//! from any failure or warning, are not kept for themselves.
//!
//! To add a rule: add a [`rules::Rule`] to [`rules::RULES`] before any
//! more general rule matching the same lines; give it *triggers*, plain
//! substrings (ASCII case ignored) one of which every line it matches
//! contains — a rule is only tried on lines holding a trigger, which is
//! what keeps 64 MiB fast; and give it examples. The tests check that every
//! example is classified by its own rule and holds a trigger; add
//! look-alikes that must not match to `rules/tests.rs`. The table holds at
//! most 64 rules.
//!
//! # Memory and time
//!
//! One pass, in memory bounded by a constant times the budget (about 32
//! bytes of text per token, plus per-line overhead), whatever the input's
//! size: all lines while they are few (for the verbatim view), the first
//! lines and a ring of the last ones with runs folded as they arrive,
//! groups for classified lines (the least important dropped when they
//! outgrow their share), a ring of the last 8 lines for context, and at
//! most 4096 remembered messages for telling repeats. A line's text is kept
//! up to 4 bytes per token of budget (1 KiB at least); the rest is counted.
//! Only candidate lines and markers are tokenized, never the whole log. A
//! synthetic 64 MiB build log takes about 0.44 s at the default budget and
//! 0.55 s at 32,000 tokens on a 2-core machine
//! (`cargo bench -p agentproc-view --bench view`).
//!
//! # What it deliberately does not do
//!
//! - Read files, the log store, the clock or the environment: callers feed
//!   bytes (the corpus report takes plain data too). The one bridge is
//!   [`manager::agent_view_of`], which has a core `Manager` stream a
//!   process's log into a view, so the HTTP and MCP front ends compute the
//!   same view. It spawns nothing and
//!   knows nothing of HTTP or JSON: nothing here is `Serialize`; the wire
//!   types live in the HTTP crate.
//! - Fetch anything at run time: the BPE's data is compiled in. It counts
//!   o200k_base tokens; other models' tokenizers differ (Claude's is not
//!   public), so counts are an estimate for them — plug another
//!   [`TokenCounter`] in with [`AgentView::with_counter`].
//! - Interpret terminal screens: cursor movement other than carriage returns
//!   is removed, not replayed (that is a terminal emulator's job).
//! - Summarise or rewrite: every line shown is a line of the output.
//! - Unfold runs it folded when budget is left over: folded lines are not
//!   kept, only counted.
//!
//! `report` measures views against a corpus of captured outputs
//! (`cargo bench -p agentproc-view --bench corpus`).

mod clean;
mod collect;
pub mod manager;
mod options;
mod plan;
pub mod report;
pub mod rules;
mod shape;
mod tokens;
mod view;

pub use options::{
    DEFAULT_MAX_TOKENS, MAX_FETCH_HINT_BYTES, MAX_MAX_TOKENS, MIN_MAX_TOKENS, ViewError,
    ViewOptions,
};
pub use tokens::{O200K_BASE, O200kBase, TokenCounter, o200k};
pub use view::{AgentView, Span, SpanKind, View, view_bytes};
