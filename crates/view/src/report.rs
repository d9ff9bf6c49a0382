//! The corpus report: how well a view keeps what matters, case by case,
//! against Coder's head/tail buffer.
//!
//! A case is a captured output and the substrings an agent must see in its
//! view. The report takes plain data (reading a corpus from disk is the
//! caller's business: `benches/corpus.rs` does it) and renders a markdown
//! table.

use std::fmt::Write as _;

use agentproc_core::buffer::HeadTailBuffer;
use agentproc_core::text::strip_ansi;

use crate::options::ViewOptions;
use crate::tokens::o200k;
use crate::view::AgentView;

/// The budgets the report measures.
pub const REPORT_BUDGETS: [usize; 3] = [1000, 2000, 4000];

/// The fetch hint the report's views carry: what an HTTP caller would pass,
/// with a real process id, so markers cost what they would in use.
pub const REPORT_FETCH_HINT: &str =
    "GET /api/v0/processes/3f2a8c1e-5b7d-4e21-9c3a-7d1e2f4a6b8c/lines?start={start}&end={end}";

/// One captured output and what an agent must see of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// The case's name (its directory).
    pub name: String,
    /// The output, as the command wrote it.
    pub output: Vec<u8>,
    /// Substrings the view must contain.
    pub must_see: Vec<String>,
}

impl Case {
    /// Parses a `must_see.txt`: one literal substring per line; blank lines
    /// and lines starting with `# ` (or a lone `#`) are ignored.
    pub fn parse_must_see(text: &str) -> Vec<String> {
        text.lines()
            .filter(|line| !line.trim().is_empty())
            .filter(|line| !(line.starts_with("# ") || *line == "#"))
            .map(str::to_owned)
            .collect()
    }
}

/// How many must-see entries a text contains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recall {
    /// Entries found.
    pub found: usize,
    /// Entries in all.
    pub total: usize,
    /// The entries not found.
    pub missing: Vec<String>,
}

impl Recall {
    /// Matches each entry against `text`, both with escape sequences
    /// removed.
    pub fn of(text: &str, must_see: &[String]) -> Self {
        let text = strip_ansi(text);
        let missing: Vec<String> = must_see
            .iter()
            .filter(|entry| !text.contains(strip_ansi(entry).as_str()))
            .cloned()
            .collect();
        Self {
            found: must_see.len() - missing.len(),
            total: must_see.len(),
            missing,
        }
    }

    /// Found over total, as a percentage (100 when there is nothing to
    /// find).
    pub fn percent(&self) -> f64 {
        if self.total == 0 {
            100.0
        } else {
            100.0 * self.found as f64 / self.total as f64
        }
    }
}

/// One budget's view of a case.
#[derive(Debug, Clone, PartialEq)]
pub struct Measure {
    /// The budget (`max_tokens`), or 0 for Coder's buffer (no budget).
    pub budget: usize,
    /// Tokens of the text.
    pub tokens: usize,
    /// What it kept.
    pub recall: Recall,
}

/// Everything measured of one case.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseReport {
    /// The case's name.
    pub name: String,
    /// Bytes of output.
    pub bytes: u64,
    /// Lines of output (a last line without a newline counts).
    pub lines: u64,
    /// Coder's 16 KiB head + 16 KiB tail.
    pub coder: Measure,
    /// The agent view at each budget of [`REPORT_BUDGETS`] (or the ones
    /// asked for).
    pub views: Vec<Measure>,
}

/// Measures a case at each budget.
pub fn evaluate(case: &Case, budgets: &[usize], fetch_hint: Option<&str>) -> CaseReport {
    let counter = o200k();
    let mut buffer = HeadTailBuffer::default();
    buffer.write(&case.output);
    buffer.finish();
    let coder_text = buffer.snapshot().format().text;
    let coder = Measure {
        budget: 0,
        tokens: counter.count(&coder_text),
        recall: Recall::of(&coder_text, &case.must_see),
    };
    let mut lines = 0;
    let views = budgets
        .iter()
        .map(|&budget| {
            let mut view = AgentView::with_counter(
                ViewOptions {
                    max_tokens: budget,
                    first_line: 1,
                    fetch_hint: fetch_hint.map(str::to_owned),
                },
                counter.clone(),
            );
            view.push(&case.output);
            let view = view.finish();
            lines = view.source_lines;
            Measure {
                budget,
                tokens: view.tokens,
                recall: Recall::of(&view.text, &case.must_see),
            }
        })
        .collect();
    CaseReport {
        name: case.name.clone(),
        bytes: case.output.len() as u64,
        lines,
        coder,
        views,
    }
}

/// The markdown table of `reports`: one row per case, then totals, then the
/// entries each view missed.
pub fn markdown(reports: &[CaseReport]) -> String {
    let mut out = String::new();
    let budgets: Vec<usize> = reports
        .first()
        .map(|report| report.views.iter().map(|m| m.budget).collect())
        .unwrap_or_default();
    out.push_str("| case | bytes | lines | Coder tokens | Coder recall |");
    for budget in &budgets {
        let _ = write!(out, " view@{budget} tokens | recall |");
    }
    out.push_str("\n|---|--:|--:|--:|--:|");
    for _ in &budgets {
        out.push_str("--:|--:|");
    }
    out.push('\n');
    let cell = |recall: &Recall| {
        format!(
            "{}/{} ({:.0}%)",
            recall.found,
            recall.total,
            recall.percent()
        )
    };
    let mut totals = vec![(0usize, 0usize, 0usize); budgets.len() + 1];
    for report in reports {
        let _ = write!(
            out,
            "| {} | {} | {} | {} | {} |",
            report.name,
            report.bytes,
            report.lines,
            report.coder.tokens,
            cell(&report.coder.recall)
        );
        for (index, measure) in std::iter::once(&report.coder)
            .chain(&report.views)
            .enumerate()
        {
            let total = &mut totals[index];
            total.0 += measure.recall.found;
            total.1 += measure.recall.total;
            total.2 += measure.tokens;
        }
        for measure in &report.views {
            let _ = write!(out, " {} | {} |", measure.tokens, cell(&measure.recall));
        }
        out.push('\n');
    }
    let recall = |found: usize, total: usize| Recall {
        found,
        total,
        missing: Vec::new(),
    };
    let _ = write!(
        out,
        "| **all {} cases** | | | {} | {} |",
        reports.len(),
        totals[0].2,
        cell(&recall(totals[0].0, totals[0].1))
    );
    for total in &totals[1..] {
        let _ = write!(out, " {} | {} |", total.2, cell(&recall(total.0, total.1)));
    }
    out.push('\n');
    let mut missing = String::new();
    for report in reports {
        for measure in &report.views {
            for entry in &measure.recall.missing {
                let _ = writeln!(
                    missing,
                    "- {} @{}: `{}`",
                    report.name, measure.budget, entry
                );
            }
        }
    }
    if !missing.is_empty() {
        out.push_str("\nMissed by the agent view:\n\n");
        out.push_str(&missing);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn must_see_files_skip_comments_and_blanks() {
        let text = "# what matters\n\nerror[E0308]: mismatched types\n#\n  --> src/lib.rs:3:5\n#hash kept\n";
        assert_eq!(
            Case::parse_must_see(text),
            [
                "error[E0308]: mismatched types",
                "  --> src/lib.rs:3:5",
                "#hash kept"
            ]
        );
    }

    #[test]
    fn recall_ignores_escape_sequences() {
        let must = vec!["error: boom".to_owned(), "absent".to_owned()];
        let recall = Recall::of("\u{1b}[31merror\u{1b}[0m: boom\n", &must);
        assert_eq!((recall.found, recall.total), (1, 2));
        assert_eq!(recall.missing, ["absent"]);
    }

    #[test]
    fn a_report_has_a_row_per_case() {
        let case = Case {
            name: "tiny".into(),
            output: b"hello\nerror: boom\n".to_vec(),
            must_see: vec!["error: boom".into()],
        };
        let report = evaluate(&case, &[1000], None);
        assert_eq!(report.lines, 2);
        assert_eq!(report.views[0].recall.found, 1);
        assert_eq!(report.coder.recall.found, 1);
        let table = markdown(&[report]);
        assert!(table.contains("| tiny | 18 | 2 |"), "{table}");
        assert!(table.contains("**all 1 cases**"), "{table}");
    }
}
