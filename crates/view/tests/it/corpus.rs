//! The corpus of captured outputs (`crates/view/corpus/<case>/`): at the
//! default budget the view contains every must-see entry, and at any budget
//! it invents nothing.

use std::path::{Path, PathBuf};

use agentproc_view::report::{Case, REPORT_FETCH_HINT, Recall};
use agentproc_view::{AgentView, ViewOptions};

use crate::check::{Source, check};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

fn cases() -> Vec<Case> {
    let dir = corpus_dir();
    let mut cases = Vec::new();
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("the corpus at {} cannot be read: {error}", dir.display()));
    for entry in entries {
        let path = entry.expect("corpus entry").path();
        let output = path.join("output.log");
        if !output.is_file() {
            continue;
        }
        let must_see = std::fs::read_to_string(path.join("must_see.txt")).unwrap_or_default();
        cases.push(Case {
            name: path
                .file_name()
                .expect("case name")
                .to_string_lossy()
                .into_owned(),
            output: std::fs::read(&output).expect("output.log"),
            must_see: Case::parse_must_see(&must_see),
        });
    }
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(
        !cases.is_empty(),
        "the corpus at {} has no cases (a case is a directory with output.log and must_see.txt)",
        dir.display()
    );
    cases
}

fn view(case: &Case, max_tokens: usize) -> agentproc_view::View {
    let mut view = AgentView::new(ViewOptions {
        max_tokens,
        first_line: 1,
        fetch_hint: Some(REPORT_FETCH_HINT.to_owned()),
    });
    view.push(&case.output);
    view.finish()
}

#[test]
fn the_default_view_shows_everything_an_agent_must_see() {
    let mut failures = Vec::new();
    for case in cases() {
        let view = view(&case, 2000);
        let recall = Recall::of(&view.text, &case.must_see);
        for missing in &recall.missing {
            failures.push(format!("{}: missing {missing:?}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "must-see entries missing at 2000 tokens:\n{}",
        failures.join("\n")
    );
}

#[test]
fn views_of_the_corpus_invent_nothing() {
    for case in cases() {
        for max_tokens in [200, 1000, 2000, 4000] {
            let view = view(&case, max_tokens);
            check(&Source::plain(&case.output), 1, &view);
        }
    }
}
