//! The corpus report: `cargo bench -p agentproc-view --bench corpus` prints a
//! markdown table of must-see recall and tokens, Coder's head/tail against
//! the agent view at 1000, 2000 and 4000 tokens, over `crates/view/corpus`.

#![allow(missing_docs)]

use std::path::Path;

use agentproc_view::report::{Case, REPORT_BUDGETS, REPORT_FETCH_HINT, evaluate, markdown};

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let cases = match load(&dir) {
        Ok(cases) => cases,
        Err(error) => {
            eprintln!("cannot read the corpus at {}: {error}", dir.display());
            std::process::exit(1);
        }
    };
    if cases.is_empty() {
        eprintln!("the corpus at {} has no cases", dir.display());
        std::process::exit(1);
    }
    let reports: Vec<_> = cases
        .iter()
        .map(|case| evaluate(case, &REPORT_BUDGETS, Some(REPORT_FETCH_HINT)))
        .collect();
    println!("{}", markdown(&reports));
}

/// Every `corpus/<case>/` holding an `output.log`, in name order.
fn load(dir: &Path) -> std::io::Result<Vec<Case>> {
    let mut cases = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let output = path.join("output.log");
        if !output.is_file() {
            continue;
        }
        let must_see = std::fs::read_to_string(path.join("must_see.txt")).unwrap_or_default();
        cases.push(Case {
            name: path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default(),
            output: std::fs::read(output)?,
            must_see: Case::parse_must_see(&must_see),
        });
    }
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(cases)
}
