//! Tidy checks: the repository invariants the compiler cannot enforce (crate graph, who may spawn processes, read env vars or the clock, doc headers, test hygiene).
//!
//! Each check is a function from the workspace root to its list of violations
//! (empty when the check passes). They run from `cargo xtask tidy`, as the
//! last step of `cargo xtask ci`, and as `#[test]`s at the bottom of this file
//! so that `cargo test --workspace` enforces them too.
//!
//! The source checks are plain line scans, on purpose: cheap, predictable and
//! easy to read. In the checks that exempt test code, a file is treated as
//! test code from its first `#[cfg(test)]` line to its end, and files named
//! `tests.rs` or under a `tests/` or `testing/` folder are test code entirely.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};
use serde_json::Value;

use crate::cargo;

/// Where every violation message points for the why.
const INVARIANTS: &str = "see ARCHITECTURE.md, \"Invariants\"";

/// The binary package (folder `crates/agent-bin`): may depend on any of our crates, and is the
/// only one that reads environment variables.
const BIN_PACKAGE: &str = "agentproc";

/// Folder of [`BIN_PACKAGE`], relative to the workspace root.
const BIN_DIR: &str = "agent-bin";

/// The vocabulary crate: depends on none of ours, not even as a dev-dependency (except itself).
const CORE_PACKAGE: &str = "agentproc-core";

/// Source folder of [`CORE_PACKAGE`], relative to the workspace root.
const CORE_SRC: &str = "crates/core/src";

/// The only normal (and build) dependency edges allowed between our packages, besides the
/// ones from [`BIN_PACKAGE`], which may depend on any of ours.
const ALLOWED_NORMAL_EDGES: &[(&str, &str)] = &[
    ("agentproc-exec-local", "agentproc-core"),
    ("agentproc-exec-sandbox", "agentproc-core"),
    ("agentproc-exec-sandbox", "agentproc-exec-local"),
    ("agentproc-api-http", "agentproc-core"),
    ("agentproc-api-http", "agentproc-view"),
    ("agentproc-api-mcp", "agentproc-core"),
    ("agentproc-api-mcp", "agentproc-view"),
    ("agentproc-view", "agentproc-core"),
];

/// Packages that must not create OS processes nor use libc/nix, with their source folder.
const NO_PROCESS_PACKAGES: &[(&str, &str)] = &[
    (CORE_PACKAGE, CORE_SRC),
    ("agentproc-api-http", "crates/api-http/src"),
    ("agentproc-view", "crates/view/src"),
    ("agentproc-api-mcp", "crates/api-mcp/src"),
];

/// Crates that [`NO_PROCESS_PACKAGES`] must not depend on (outside dev-dependencies).
const PROCESS_CRATES: &[&str] = &["libc", "nix"];

/// Source patterns that create OS processes or use libc/nix.
const PROCESS_PATTERNS: &[&str] = &["std::process::Command", "tokio::process", "libc::", "nix::"];

/// Source patterns that read environment variables or arguments.
const ENV_PATTERNS: &[&str] = &[
    "std::env::var",
    "env::var(",
    "env::var_os(",
    "env::vars",
    "env::args",
];

/// Files allowed to read the environment outside the binary, relative to
/// the workspace root: what a default `ManagerConfig` inherits (see
/// ARCHITECTURE.md, "Invariants").
const ENV_OWNERS: &[&str] = &["crates/core/src/manager/defaults.rs"];

/// Source patterns that read the real clock.
const CLOCK_PATTERNS: &[&str] = &["Instant::now()", "SystemTime::now()"];

/// Files of [`CORE_SRC`] allowed to read the real clock, relative to the workspace root.
const CLOCK_OWNERS: &[&str] = &["crates/core/src/clock.rs", "crates/core/src/testing/"];

/// Test attributes that hide or weaken tests. Built with `concat!` so this file does not
/// flag itself.
const TEST_ATTR_PATTERNS: &[&str] = &[concat!("#[", "ignore"), concat!("#[", "should_panic")];

/// Calls that make a test sleep (to wait for a condition, instead of awaiting it).
const SLEEP_PATTERNS: &[&str] = &["thread::sleep(", "tokio::time::sleep("];

/// One tidy check.
pub(crate) struct Check {
    /// Short name, printed with the result.
    pub(crate) name: &'static str,
    /// Runs the check from the workspace root and lists its violations.
    pub(crate) run: fn(&Path) -> anyhow::Result<Vec<String>>,
}

/// Every tidy check, in the order they run.
pub(crate) const CHECKS: &[Check] = &[
    Check {
        name: "crate-graph",
        run: crate_graph,
    },
    Check {
        name: "no-process-outside-exec",
        run: no_process_outside_exec,
    },
    Check {
        name: "env-only-in-bin",
        run: env_only_in_bin,
    },
    Check {
        name: "core-clock",
        run: core_clock,
    },
    Check {
        name: "doc-headers",
        run: doc_headers,
    },
    Check {
        name: "test-attributes",
        run: test_attributes,
    },
    Check {
        name: "test-sleeps",
        run: test_sleeps,
    },
];

/// Runs every check in [`CHECKS`], prints each result, and fails if any check found a
/// violation (after running them all) or could not run.
pub(crate) fn run(root: &Path) -> anyhow::Result<()> {
    let mut total = 0;
    for check in CHECKS {
        let violations = (check.run)(root)
            .with_context(|| format!("tidy check `{}` could not run", check.name))?;
        if violations.is_empty() {
            println!("    tidy {}: ok", check.name);
        } else {
            println!("    tidy {}: {} violation(s)", check.name, violations.len());
            for violation in &violations {
                println!("      {violation}");
            }
            total += violations.len();
        }
    }
    if total > 0 {
        bail!("tidy found {total} violation(s), listed above");
    }
    println!("    tidy: all {} checks passed", CHECKS.len());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The checks.
// ---------------------------------------------------------------------------------------------

/// (a) Dependency edges between our packages follow the layering.
pub(crate) fn crate_graph(root: &Path) -> anyhow::Result<Vec<String>> {
    crate_graph_violations(&cargo_metadata(root)?)
}

/// (b) Only exec-* crates create OS processes or use libc/nix.
pub(crate) fn no_process_outside_exec(root: &Path) -> anyhow::Result<Vec<String>> {
    let mut violations = process_dependency_violations(&cargo_metadata(root)?)?;
    let filter = LineFilter {
        skip_comments: true,
        stop_at_cfg_test: false,
    };
    for (package, src) in NO_PROCESS_PACKAGES {
        let files = rust_files(&root.join(src))?;
        violations.extend(scan_files(
            root,
            &files,
            PROCESS_PATTERNS,
            filter,
            &format!("{package} must not create processes or use libc/nix; only exec-* crates may"),
        )?);
    }
    Ok(violations)
}

/// (c) Only the binary reads environment variables: library crates' sources do not, outside
/// test code.
pub(crate) fn env_only_in_bin(root: &Path) -> anyhow::Result<Vec<String>> {
    let filter = LineFilter {
        skip_comments: true,
        stop_at_cfg_test: true,
    };
    let mut violations = Vec::new();
    for crate_dir in crate_dirs(root)? {
        if crate_dir.file_name().is_some_and(|name| name == BIN_DIR) {
            continue;
        }
        let src = crate_dir.join("src");
        if !src.is_dir() {
            continue;
        }
        let files: Vec<PathBuf> = rust_files(&src)?
            .into_iter()
            .filter(|file| {
                let rel = relative(root, file);
                !is_test_path(&rel) && !ENV_OWNERS.contains(&rel.as_str())
            })
            .collect();
        violations.extend(scan_files(
            root,
            &files,
            ENV_PATTERNS,
            filter,
            &format!("only {BIN_PACKAGE} (crates/{BIN_DIR}) reads environment variables"),
        )?);
    }
    Ok(violations)
}

/// (d) `agentproc-core` reads the real clock only through its `Clock` seam.
pub(crate) fn core_clock(root: &Path) -> anyhow::Result<Vec<String>> {
    let filter = LineFilter {
        skip_comments: true,
        stop_at_cfg_test: true,
    };
    let files: Vec<PathBuf> = rust_files(&root.join(CORE_SRC))?
        .into_iter()
        .filter(|file| {
            let rel = relative(root, file);
            !is_test_path(&rel) && !CLOCK_OWNERS.iter().any(|owner| rel.starts_with(owner))
        })
        .collect();
    scan_files(
        root,
        &files,
        CLOCK_PATTERNS,
        filter,
        &format!("{CORE_PACKAGE} reads time only through its Clock (crates/core/src/clock.rs)"),
    )
}

/// (e) Every `.rs` file under `crates/` and `xtask/` starts with a `//!` line.
pub(crate) fn doc_headers(root: &Path) -> anyhow::Result<Vec<String>> {
    let mut violations = Vec::new();
    for file in all_rust_files(root)? {
        let text = read(&file)?;
        if !starts_with_inner_doc(&text) {
            violations.push(format!(
                "{}:1: the first non-empty line must be a `//!` doc line saying what the file owns",
                relative(root, &file)
            ));
        }
    }
    Ok(violations)
}

/// (f) No ignored and no should-panic tests anywhere under `crates/` and `xtask/`.
pub(crate) fn test_attributes(root: &Path) -> anyhow::Result<Vec<String>> {
    let filter = LineFilter {
        skip_comments: false,
        stop_at_cfg_test: false,
    };
    scan_files(
        root,
        &all_rust_files(root)?,
        TEST_ATTR_PATTERNS,
        filter,
        "tests run every time and assert on values, not on panics",
    )
}

/// (g) Tests do not sleep to wait for a condition: no sleep calls in `crates/*/tests/**` and
/// in files named `tests.rs`.
pub(crate) fn test_sleeps(root: &Path) -> anyhow::Result<Vec<String>> {
    let mut files = Vec::new();
    for crate_dir in crate_dirs(root)? {
        let tests = crate_dir.join("tests");
        if tests.is_dir() {
            files.extend(rust_files(&tests)?);
        }
        files.extend(
            rust_files(&crate_dir)?
                .into_iter()
                .filter(|file| file.file_name().is_some_and(|name| name == "tests.rs"))
                .filter(|file| !file.starts_with(&tests)),
        );
    }
    let filter = LineFilter {
        skip_comments: true,
        stop_at_cfg_test: false,
    };
    scan_files(
        root,
        &files,
        SLEEP_PATTERNS,
        filter,
        "tests wait for the condition itself (or use a paused/manual clock), never sleep",
    )
}

// ---------------------------------------------------------------------------------------------
// Crate graph, from `cargo metadata`.
// ---------------------------------------------------------------------------------------------

/// The kind of a dependency, as `cargo metadata` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DepKind {
    /// `[dependencies]` (`kind: null`).
    Normal,
    /// `[dev-dependencies]`.
    Dev,
    /// `[build-dependencies]`.
    Build,
}

impl DepKind {
    /// How the kind reads in a message.
    fn describe(self) -> &'static str {
        match self {
            Self::Normal => "normal dependency",
            Self::Dev => "dev-dependency",
            Self::Build => "build-dependency",
        }
    }
}

/// A workspace package and its declared dependencies.
struct Package {
    /// Package name.
    name: String,
    /// `Cargo.toml` path, relative to the workspace root when possible.
    manifest: String,
    /// Declared dependencies: (package name, kind).
    deps: Vec<(String, DepKind)>,
}

/// Runs `cargo metadata --format-version 1 --no-deps` in `root`.
fn cargo_metadata(root: &Path) -> anyhow::Result<Value> {
    let output = Command::new(cargo())
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(root)
        .output()
        .context("could not run `cargo metadata`")?;
    if !output.status.success() {
        bail!(
            "`cargo metadata` failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    serde_json::from_slice(&output.stdout).context("`cargo metadata` printed invalid JSON")
}

/// The packages of `cargo metadata --no-deps` output (that is, the workspace members).
fn packages(metadata: &Value) -> anyhow::Result<Vec<Package>> {
    let root = metadata["workspace_root"].as_str().unwrap_or_default();
    let list = metadata["packages"]
        .as_array()
        .context("cargo metadata: no `packages` array")?;
    list.iter()
        .map(|package| {
            let name = package["name"]
                .as_str()
                .context("cargo metadata: package without a name")?;
            let manifest = package["manifest_path"].as_str().unwrap_or_default();
            let manifest = Path::new(manifest)
                .strip_prefix(root)
                .map_or_else(|_| manifest.to_owned(), |rel| rel.display().to_string());
            let deps = package["dependencies"]
                .as_array()
                .with_context(|| format!("cargo metadata: {name} has no `dependencies` array"))?
                .iter()
                .map(|dep| {
                    let dep_name = dep["name"]
                        .as_str()
                        .with_context(|| format!("cargo metadata: unnamed dependency of {name}"))?;
                    let kind = match &dep["kind"] {
                        Value::Null => DepKind::Normal,
                        Value::String(kind) if kind == "dev" => DepKind::Dev,
                        Value::String(kind) if kind == "build" => DepKind::Build,
                        other => bail!("cargo metadata: unknown dependency kind {other}"),
                    };
                    Ok((dep_name.to_owned(), kind))
                })
                .collect::<anyhow::Result<_>>()?;
            Ok(Package {
                name: name.to_owned(),
                manifest,
                deps,
            })
        })
        .collect()
}

/// Whether `from` may depend on `to` (both ours) with this kind of dependency.
fn edge_allowed(from: &str, to: &str, kind: DepKind) -> bool {
    match kind {
        // The core depends on none of ours, except itself (to enable a feature in its tests).
        DepKind::Dev => from != CORE_PACKAGE || to == CORE_PACKAGE,
        DepKind::Normal | DepKind::Build => {
            from == BIN_PACKAGE || ALLOWED_NORMAL_EDGES.contains(&(from, to))
        }
    }
}

/// Violations of the layering in `cargo metadata --no-deps` output.
fn crate_graph_violations(metadata: &Value) -> anyhow::Result<Vec<String>> {
    let packages = packages(metadata)?;
    let ours: BTreeSet<&str> = packages
        .iter()
        .map(|package| package.name.as_str())
        .collect();
    let mut violations = Vec::new();
    for package in &packages {
        for (dep, kind) in &package.deps {
            if ours.contains(dep.as_str()) && !edge_allowed(&package.name, dep, *kind) {
                let violation = format!(
                    "{}: forbidden edge {} -> {dep} ({}); {INVARIANTS}",
                    package.manifest,
                    package.name,
                    kind.describe()
                );
                if !violations.contains(&violation) {
                    violations.push(violation);
                }
            }
        }
    }
    Ok(violations)
}

/// Non-dev dependencies of [`NO_PROCESS_PACKAGES`] on [`PROCESS_CRATES`].
fn process_dependency_violations(metadata: &Value) -> anyhow::Result<Vec<String>> {
    let packages = packages(metadata)?;
    let mut violations = Vec::new();
    for (name, _) in NO_PROCESS_PACKAGES {
        let Some(package) = packages.iter().find(|package| package.name == *name) else {
            violations.push(format!(
                "package {name} is not in the workspace; update xtask/src/tidy.rs if it was renamed"
            ));
            continue;
        };
        for (dep, kind) in &package.deps {
            if *kind != DepKind::Dev && PROCESS_CRATES.contains(&dep.as_str()) {
                violations.push(format!(
                    "{}: {name} has a {} on {dep}; only exec-* crates may use libc/nix; {INVARIANTS}",
                    package.manifest,
                    kind.describe()
                ));
            }
        }
    }
    Ok(violations)
}

// ---------------------------------------------------------------------------------------------
// Source scanning.
// ---------------------------------------------------------------------------------------------

/// Which lines of a file a pattern scan looks at.
#[derive(Clone, Copy, Debug)]
struct LineFilter {
    /// Skip lines that are comments (`//`, `///`, `//!`) after indentation.
    skip_comments: bool,
    /// Stop at the first `#[cfg(test)]` line: the rest of the file is test code.
    stop_at_cfg_test: bool,
}

/// The lines of `text` containing one of `patterns`: (1-based line number, first pattern found).
fn find_lines(
    text: &str,
    patterns: &[&'static str],
    filter: LineFilter,
) -> Vec<(usize, &'static str)> {
    let mut hits = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if filter.stop_at_cfg_test && trimmed.starts_with("#[cfg(test)]") {
            break;
        }
        if filter.skip_comments && trimmed.starts_with("//") {
            continue;
        }
        if let Some(pattern) = patterns.iter().find(|pattern| contains_path(line, pattern)) {
            hits.push((index + 1, *pattern));
        }
    }
    hits
}

/// Whether `line` holds `pattern` starting at an identifier boundary, so
/// that `nix::` matches `nix::unistd` but not `std::os::unix::fs`.
fn contains_path(line: &str, pattern: &str) -> bool {
    line.match_indices(pattern).any(|(at, _)| {
        !line[..at]
            .chars()
            .next_back()
            .is_some_and(|before| before.is_alphanumeric() || before == '_')
    })
}

/// Scans `files` for `patterns`; each hit becomes `path:line: `pattern`: why`.
fn scan_files(
    root: &Path,
    files: &[PathBuf],
    patterns: &[&'static str],
    filter: LineFilter,
    why: &str,
) -> anyhow::Result<Vec<String>> {
    let mut violations = Vec::new();
    for file in files {
        let text = read(file)?;
        for (line, pattern) in find_lines(&text, patterns, filter) {
            violations.push(format!(
                "{}:{line}: `{pattern}`: {why}; {INVARIANTS}",
                relative(root, file)
            ));
        }
    }
    Ok(violations)
}

/// Whether the first non-empty line of `text` is a `//!` doc line.
fn starts_with_inner_doc(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .is_some_and(|line| line.starts_with("//!"))
}

/// Whether a path (relative to the workspace root) is test code as a whole: a file named
/// `tests.rs`, or anything under a `tests/` or `testing/` folder.
fn is_test_path(rel: &str) -> bool {
    let mut components = rel.split('/').peekable();
    while let Some(component) = components.next() {
        let is_file = components.peek().is_none();
        if (is_file && component == "tests.rs")
            || (!is_file && (component == "tests" || component == "testing"))
        {
            return true;
        }
    }
    false
}

// ---------------------------------------------------------------------------------------------
// Files.
// ---------------------------------------------------------------------------------------------

/// `path` relative to `root`, with `/` separators (or `path` itself if outside `root`).
fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|component| component.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Reads a source file.
fn read(path: &Path) -> anyhow::Result<String> {
    fs::read_to_string(path).with_context(|| format!("could not read {}", path.display()))
}

/// The crate folders, `crates/*`, sorted.
fn crate_dirs(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let crates = root.join("crates");
    let mut dirs = Vec::new();
    for entry in
        fs::read_dir(&crates).with_context(|| format!("could not list {}", crates.display()))?
    {
        let path = entry?.path();
        if path.is_dir() {
            dirs.push(path);
        }
    }
    dirs.sort();
    Ok(dirs)
}

/// Every `.rs` file under `crates/` and `xtask/`.
fn all_rust_files(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = rust_files(&root.join("crates"))?;
    files.extend(rust_files(&root.join("xtask"))?);
    Ok(files)
}

/// Every `.rs` file under `dir` (which must exist), recursively, sorted; skips `target` and
/// hidden folders.
fn rust_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in
            fs::read_dir(&dir).with_context(|| format!("could not list {}", dir.display()))?
        {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if entry.file_type()?.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    pending.push(path);
                }
            } else if name.ends_with(".rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a check on this workspace and asserts it found nothing, listing every violation.
    fn assert_clean(check: fn(&Path) -> anyhow::Result<Vec<String>>, name: &str) {
        let violations = check(&crate::workspace_root())
            .unwrap_or_else(|err| panic!("tidy check `{name}` could not run: {err:#}"));
        assert!(
            violations.is_empty(),
            "tidy check `{name}` found {} violation(s):\n{}",
            violations.len(),
            violations.join("\n")
        );
    }

    // The checks themselves, on this workspace.

    #[test]
    fn tidy_crate_graph() {
        assert_clean(crate_graph, "crate-graph");
    }

    #[test]
    fn tidy_no_process_outside_exec() {
        assert_clean(no_process_outside_exec, "no-process-outside-exec");
    }

    #[test]
    fn tidy_env_only_in_bin() {
        assert_clean(env_only_in_bin, "env-only-in-bin");
    }

    #[test]
    fn tidy_core_clock() {
        assert_clean(core_clock, "core-clock");
    }

    #[test]
    fn tidy_doc_headers() {
        assert_clean(doc_headers, "doc-headers");
    }

    #[test]
    fn tidy_test_attributes() {
        assert_clean(test_attributes, "test-attributes");
    }

    #[test]
    fn tidy_test_sleeps() {
        assert_clean(test_sleeps, "test-sleeps");
    }

    #[test]
    fn every_check_has_a_test() {
        // Keep in step with the tests above when adding a check.
        assert_eq!(CHECKS.len(), 7);
    }

    // The pure helpers, on small inputs.

    const STRICT: LineFilter = LineFilter {
        skip_comments: false,
        stop_at_cfg_test: false,
    };

    const LENIENT: LineFilter = LineFilter {
        skip_comments: true,
        stop_at_cfg_test: true,
    };

    #[test]
    fn find_lines_stops_at_cfg_test_when_asked() {
        let text = "\
fn a() { let t = Instant::now(); }

#[cfg(test)]
mod tests {
    fn b() { let t = Instant::now(); }
}
";
        assert_eq!(
            find_lines(text, CLOCK_PATTERNS, LENIENT),
            vec![(1, "Instant::now()")]
        );
        assert_eq!(
            find_lines(text, CLOCK_PATTERNS, STRICT),
            vec![(1, "Instant::now()"), (5, "Instant::now()")]
        );
    }

    #[test]
    fn find_lines_skips_comments_when_asked() {
        let text = "\
//! Never calls `std::env::var` itself.
    /// Reads `env::vars` in the binary only.
let home = std::env::var(\"HOME\");
";
        assert_eq!(
            find_lines(text, ENV_PATTERNS, LENIENT),
            vec![(3, "std::env::var")]
        );
        assert_eq!(find_lines(text, ENV_PATTERNS, STRICT).len(), 3);
    }

    #[test]
    fn find_lines_finds_test_attributes_in_any_form() {
        let text = concat!(
            "#[test]\n",
            "#[",
            "ignore]\n",
            "fn a() {}\n",
            "    #[",
            "ignore = \"slow\"]\n",
            "#[",
            "should_panic(expected = \"boom\")]\n",
        );
        let lines: Vec<usize> = find_lines(text, TEST_ATTR_PATTERNS, STRICT)
            .into_iter()
            .map(|(line, _)| line)
            .collect();
        assert_eq!(lines, vec![2, 4, 5]);
    }

    #[test]
    fn patterns_match_whole_path_segments_only() {
        assert!(contains_path("use nix::unistd::Pid;", "nix::"));
        assert!(contains_path("let x = ::nix::errno::Errno::EIO;", "nix::"));
        assert!(!contains_path(
            "use std::os::unix::fs::PermissionsExt;",
            "nix::"
        ));
        assert!(!contains_path("let y = my_libc::open();", "libc::"));
        assert!(contains_path("x(libc::ENOENT)", "libc::"));
    }

    #[test]
    fn inner_doc_must_be_the_first_non_empty_line() {
        assert!(starts_with_inner_doc("//! Owns things.\nfn a() {}\n"));
        assert!(starts_with_inner_doc("\n   \n//! Owns things.\n"));
        assert!(!starts_with_inner_doc("/// Item doc.\n//! Owns things.\n"));
        assert!(!starts_with_inner_doc("use std::fs;\n"));
        assert!(!starts_with_inner_doc(""));
    }

    #[test]
    fn test_paths() {
        assert!(is_test_path("crates/core/src/buffer/tests.rs"));
        assert!(is_test_path("crates/core/src/testing/manual_clock.rs"));
        assert!(is_test_path("crates/api-http/tests/it/main.rs"));
        assert!(!is_test_path("crates/core/src/clock.rs"));
        assert!(!is_test_path("crates/core/src/tests_helpers.rs"));
        assert!(!is_test_path("crates/core/src/tests.rs/mod.rs"));
    }

    #[test]
    fn edges() {
        use DepKind::{Build, Dev, Normal};
        assert!(edge_allowed(
            "agentproc-exec-local",
            "agentproc-core",
            Normal
        ));
        assert!(edge_allowed(
            "agentproc-exec-sandbox",
            "agentproc-exec-local",
            Normal
        ));
        assert!(edge_allowed("agentproc", "agentproc-api-http", Normal));
        assert!(edge_allowed("agentproc-api-mcp", "agentproc-view", Normal));
        assert!(!edge_allowed(
            "agentproc-api-mcp",
            "agentproc-api-http",
            Normal
        ));
        assert!(edge_allowed(
            "agentproc-api-http",
            "agentproc-exec-local",
            Dev
        ));
        assert!(edge_allowed("agentproc-core", "agentproc-core", Dev));
        assert!(!edge_allowed("agentproc-core", "agentproc-exec-local", Dev));
        assert!(!edge_allowed(
            "agentproc-core",
            "agentproc-api-http",
            Normal
        ));
        assert!(!edge_allowed(
            "agentproc-api-http",
            "agentproc-exec-local",
            Normal
        ));
        assert!(!edge_allowed(
            "agentproc-api-http",
            "agentproc-exec-local",
            Build
        ));
        assert!(!edge_allowed(
            "agentproc-exec-local",
            "agentproc-exec-sandbox",
            Normal
        ));
    }

    #[test]
    fn crate_graph_from_metadata() {
        let metadata = serde_json::json!({
            "workspace_root": "/ws",
            "packages": [
                {
                    "name": "agentproc-core",
                    "manifest_path": "/ws/crates/core/Cargo.toml",
                    "dependencies": [
                        { "name": "tokio", "kind": null },
                        { "name": "agentproc-core", "kind": "dev" },
                        { "name": "agentproc-exec-local", "kind": "dev" }
                    ]
                },
                {
                    "name": "agentproc-exec-local",
                    "manifest_path": "/ws/crates/exec-local/Cargo.toml",
                    "dependencies": [
                        { "name": "agentproc-core", "kind": null },
                        { "name": "libc", "kind": null }
                    ]
                },
                {
                    "name": "agentproc-view",
                    "manifest_path": "/ws/crates/view/Cargo.toml",
                    "dependencies": [
                        { "name": "agentproc-core", "kind": null }
                    ]
                },
                {
                    "name": "agentproc-api-http",
                    "manifest_path": "/ws/crates/api-http/Cargo.toml",
                    "dependencies": [
                        { "name": "agentproc-core", "kind": null },
                        { "name": "agentproc-view", "kind": null },
                        { "name": "agentproc-exec-local", "kind": "dev" },
                        { "name": "nix", "kind": null },
                        { "name": "libc", "kind": "dev" }
                    ]
                },
                {
                    "name": "agentproc-api-mcp",
                    "manifest_path": "/ws/crates/api-mcp/Cargo.toml",
                    "dependencies": [
                        { "name": "agentproc-core", "kind": null },
                        { "name": "agentproc-view", "kind": null },
                        { "name": "agentproc-api-http", "kind": null },
                        { "name": "agentproc-exec-local", "kind": "dev" }
                    ]
                }
            ]
        });
        let graph = crate_graph_violations(&metadata).expect("valid metadata");
        assert_eq!(graph.len(), 2, "{graph:?}");
        assert!(
            graph[0].starts_with(
                "crates/core/Cargo.toml: forbidden edge agentproc-core -> agentproc-exec-local (dev-dependency)"
            ),
            "{graph:?}"
        );
        // The MCP front end shares nothing with the HTTP one but the view.
        assert!(
            graph[1].starts_with(
                "crates/api-mcp/Cargo.toml: forbidden edge agentproc-api-mcp -> agentproc-api-http"
            ),
            "{graph:?}"
        );
        let deps = process_dependency_violations(&metadata).expect("valid metadata");
        assert_eq!(deps.len(), 1, "{deps:?}");
        assert!(
            deps[0].starts_with(
                "crates/api-http/Cargo.toml: agentproc-api-http has a normal dependency on nix"
            ),
            "{deps:?}"
        );
    }
}
