//! The rules that pick out what an agent acts on: a table of named rules,
//! each a pattern with a severity and the context it keeps.
//!
//! A line is tried against the rules in table order and takes the first that
//! matches. So that 64 MiB of noise costs little, a rule is only tried on a
//! line holding one of its *triggers* (plain substrings, compared
//! ignoring ASCII case), found for all rules at once in one pass.
//!
//! To add a rule: add a [`Rule`] to [`RULES`] before any more general rule
//! that would match the same lines, give it triggers that every line it
//! matches contains, and at least one example (the tests check that each
//! example is classified by its own rule and contains a trigger). Add
//! look-alikes that must not match to the table test in `rules/tests.rs`.

use std::sync::OnceLock;

use aho_corasick::AhoCorasick;
use regex::Regex;

/// How much a rule's line matters when the budget cannot hold them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// An error, failure, panic, exception, failing test or failing summary.
    Failure,
    /// A warning.
    Warning,
    /// Something worth keeping when there is room: a `file:line` location,
    /// a stack frame, a summary of a run that passed.
    Note,
}

/// The lines after a matching line that its context takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Exactly this many lines.
    Lines(u8),
    /// Lines up to the next blank line, at most this many.
    UntilBlank(u8),
    /// A compiler diagnostic's snippet: lines that are indented or start
    /// with a gutter (`12 |`, `|`, `=`, `-->`), at most this many; a blank
    /// line inside is kept when a snippet line follows it.
    Snippet(u8),
    /// Indented lines (stack frames, a test's messages, a YAML block), at
    /// most this many; a blank line inside is kept when an indented line
    /// follows it.
    Indented(u8),
    /// A Python traceback: indented lines up to and including the first line
    /// that is not indented (the exception); when longer than this many lines,
    /// its first and last lines are kept.
    Traceback(u8),
}

/// The context a rule keeps around its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    /// Lines before (at most [`MAX_BEFORE`]). A failure or warning also
    /// takes any line up to [`MAX_BEFORE`] back that another rule picked out
    /// (a test's log line printed before its `FAIL`).
    pub before: u8,
    /// Lines after.
    pub after: After,
}

/// The most lines of context a rule may keep before its line.
pub const MAX_BEFORE: usize = 8;

/// One rule.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// A dotted name, `family.what`.
    pub name: &'static str,
    /// How much it matters.
    pub severity: Severity,
    /// A line that sums up a run: a failing summary comes before
    /// everything, a passing one before other notes.
    pub summary: bool,
    /// Substrings (ASCII case ignored) one of which every matching line
    /// contains.
    pub triggers: &'static [&'static str],
    /// The pattern (Rust `regex` syntax), tried on lines holding a trigger.
    pub pattern: &'static str,
    /// A pattern that, when it also matches, makes the rule not apply
    /// (`0 failed`).
    pub unless: Option<&'static str>,
    /// The context kept around a matching line.
    pub context: Context,
    /// Lines this rule classifies (checked by the tests).
    pub examples: &'static [&'static str],
}

const fn ctx(before: u8, after: After) -> Context {
    Context { before, after }
}

use After::{Indented, Lines, Snippet, Traceback, UntilBlank};
use Severity::{Failure, Note, Warning};

/// Source-file extensions whose `name.ext:line` marks a location.
const LOCATION_TRIGGERS: &[&str] = &[
    ".rs:",
    ".py:",
    ".go:",
    ".c:",
    ".h:",
    ".cc:",
    ".cpp:",
    ".cxx:",
    ".hpp:",
    ".hh:",
    ".m:",
    ".ts:",
    ".tsx:",
    ".js:",
    ".jsx:",
    ".mjs:",
    ".cjs:",
    ".vue:",
    ".java:",
    ".kt:",
    ".scala:",
    ".rb:",
    ".php:",
    ".cs:",
    ".swift:",
    ".zig:",
    ".ts(",
    ".tsx(",
    ".cs(",
    ".py\", line",
];

/// The table, in the order lines are tried against it.
pub const RULES: &[Rule] = &[
    // ── How a run ended ────────────────────────────────────────────────
    Rule {
        name: "cargo.test-result-failed",
        severity: Failure,
        summary: true,
        triggers: &["test result: failed"],
        pattern: r"^test result: FAILED\.",
        unless: None,
        context: ctx(0, Lines(0)),
        examples: &[
            "test result: FAILED. 3 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s",
        ],
    },
    Rule {
        name: "summary.failed-count",
        severity: Failure,
        summary: true,
        triggers: &["fail", "error", "broken"],
        pattern: r"(?:^|[\s(\[])[1-9][0-9]*\s+(?:previous\s+)?(?:failed|failures?|failing|errors?|broken)\b|\b(?:[Ff]ailed|[Ff]ailures|[Ee]rrors)\s*[:=]\s*[1-9]",
        unless: None,
        context: ctx(0, Lines(0)),
        examples: &[
            "==== 2 failed, 118 passed in 3.21s ====",
            "Tests:       1 failed, 4 passed, 5 total",
            "error: could not compile `demo` (bin \"demo\") due to 2 previous errors",
            "Found 3 errors in 2 files.",
            "1 error generated.",
            "FAILED (failures=1)",
            "Tests run: 5, Failures: 1, Errors: 0, Skipped: 0",
            "  2 failing",
        ],
    },
    Rule {
        name: "make.error",
        severity: Failure,
        summary: true,
        triggers: &["***"],
        pattern: r"^(?:[\w./-]*make|gmake|mingw32-make)(?:\[\d+\])?: \*\*\*",
        unless: Some(r"Waiting for unfinished jobs"),
        context: ctx(0, Lines(0)),
        examples: &[
            "make: *** [Makefile:5: all] Error 1",
            "make[1]: *** No rule to make target 'x.o', needed by 'app'.  Stop.",
        ],
    },
    Rule {
        name: "go.fail-summary",
        severity: Failure,
        summary: true,
        triggers: &["fail"],
        pattern: r"^FAIL(?:\s+\S+\s+(?:[\d.]+s|\[[^\]]+\])|\s*)$",
        unless: None,
        context: ctx(0, Lines(0)),
        examples: &[
            "FAIL\tgithub.com/acme/app/pkg\t0.012s",
            "FAIL",
            "FAIL\tgithub.com/acme/app [build failed]",
        ],
    },
    Rule {
        name: "build.failed",
        severity: Failure,
        summary: true,
        triggers: &[
            "build fail",
            "compilation fail",
            "failed to compile",
            "exit status",
            "exit code",
            "exited with",
        ],
        pattern: r"(?i)\bBUILD FAIL(?:ED|URE)\b|compilation failed|failed to compile|\bexit(?:ed with)? (?:status|code)[: ]+[1-9]|\bexited with (?:code )?[1-9]",
        unless: None,
        context: ctx(0, Lines(0)),
        examples: &[
            "BUILD FAILED in 3s",
            "FAILURE: Build failed with an exception.",
            "[INFO] BUILD FAILURE",
            "Failed to compile.",
            "exit status 1",
            "error Command failed with exit code 1.",
        ],
    },
    // ── Rust and cargo ─────────────────────────────────────────────────
    Rule {
        name: "rust.panic",
        severity: Failure,
        summary: false,
        triggers: &["panicked"],
        pattern: r"panicked at",
        unless: None,
        context: ctx(0, Lines(4)),
        examples: &[
            "thread 'main' panicked at src/main.rs:2:5:",
            "thread 'tests::adds' panicked at 'assertion failed: x', src/lib.rs:10:9",
        ],
    },
    Rule {
        name: "rust.test-failed",
        severity: Failure,
        summary: false,
        triggers: &["failed", "fail [", "sigsegv", "sigabrt", "timeout ["],
        pattern: r"^test \S.* \.\.\. FAILED$|^\s*(?:FAIL|SIGSEGV|SIGABRT|TIMEOUT) \[\s*[\d.]+s\]",
        unless: None,
        context: ctx(0, Lines(0)),
        examples: &[
            "test tests::adds ... FAILED",
            "        FAIL [   0.004s] demo tests::adds",
        ],
    },
    Rule {
        name: "rust.test-output",
        severity: Failure,
        summary: false,
        triggers: &["---- "],
        pattern: r"^---- \S.* std(?:out|err) ----$",
        unless: None,
        context: ctx(0, UntilBlank(16)),
        examples: &["---- tests::adds stdout ----"],
    },
    Rule {
        name: "rust.failures-list",
        severity: Failure,
        summary: false,
        triggers: &["failures:"],
        pattern: r"^failures:$",
        unless: None,
        context: ctx(0, UntilBlank(40)),
        examples: &["failures:"],
    },
    // ── Python and pytest ──────────────────────────────────────────────
    Rule {
        name: "python.traceback",
        severity: Failure,
        summary: false,
        triggers: &["traceback"],
        pattern: r"^\s*Traceback \(most recent call last\):",
        unless: None,
        context: ctx(2, Traceback(40)),
        examples: &["Traceback (most recent call last):"],
    },
    Rule {
        name: "pytest.error-line",
        severity: Failure,
        summary: false,
        triggers: &["e  "],
        pattern: r"^E {2,}\S",
        unless: None,
        context: ctx(0, Lines(0)),
        examples: &[
            "E       assert 1 == 2",
            "E   ModuleNotFoundError: No module named 'x'",
        ],
    },
    Rule {
        name: "pytest.failure-location",
        severity: Failure,
        summary: false,
        triggers: &[".py:"],
        pattern: r"^\S+\.py:\d+: (?:[\w.]*(?:Error|Exception|Failed|Exit)\b|Failed)",
        unless: None,
        context: ctx(6, Lines(0)),
        examples: &["tests/test_math.py:12: AssertionError"],
    },
    Rule {
        name: "pytest.failed-test",
        severity: Failure,
        summary: false,
        triggers: &["failed ", "error "],
        pattern: r"^(?:FAILED|ERROR) \S+(?:::\S+| - )",
        unless: None,
        context: ctx(0, Lines(0)),
        examples: &[
            "FAILED tests/test_math.py::test_add - assert 1 == 2",
            "ERROR tests/test_db.py - ModuleNotFoundError: No module named 'x'",
        ],
    },
    Rule {
        name: "pytest.section",
        severity: Failure,
        summary: false,
        triggers: &["___"],
        pattern: r"^_{3,} \S.* _{3,}$",
        unless: None,
        context: ctx(0, Lines(2)),
        examples: &["_________________________ test_add _________________________"],
    },
    Rule {
        name: "unittest.failure",
        severity: Failure,
        summary: false,
        triggers: &["fail:", "error:"],
        pattern: r"^(?:FAIL|ERROR): \S+ \(",
        unless: None,
        context: ctx(0, Lines(0)),
        examples: &["FAIL: test_add (tests.test_math.TestMath.test_add)"],
    },
    Rule {
        name: "assertion.failed",
        severity: Failure,
        summary: false,
        triggers: &["assert"],
        pattern: r"(?i)\bassertion\b.{0,200}?\bfailed\b",
        unless: None,
        context: ctx(0, Lines(3)),
        examples: &[
            "assertion `left == right` failed",
            "a.out: main.c:5: main: Assertion `x > 0' failed.",
        ],
    },
    // ── Go ─────────────────────────────────────────────────────────────
    Rule {
        name: "go.test-fail",
        severity: Failure,
        summary: false,
        triggers: &["--- fail"],
        pattern: r"^\s*--- FAIL: ",
        unless: None,
        context: ctx(0, Indented(16)),
        examples: &["--- FAIL: TestAdd (0.00s)"],
    },
    Rule {
        name: "go.panic",
        severity: Failure,
        summary: false,
        triggers: &["panic: "],
        pattern: r"^panic: ",
        unless: None,
        context: ctx(0, Lines(10)),
        examples: &["panic: runtime error: index out of range [5] with length 3"],
    },
    Rule {
        name: "go.goroutine",
        severity: Failure,
        summary: false,
        triggers: &["goroutine "],
        pattern: r"^goroutine \d+ \[[^\]]*\]:$",
        unless: None,
        context: ctx(0, UntilBlank(32)),
        examples: &["goroutine 85 [running]:"],
    },
    Rule {
        name: "go.compile-error",
        severity: Failure,
        summary: false,
        triggers: &[".go:"],
        pattern: r"^[\w./\\-]*\.go:\d+(?::\d+)?: ",
        unless: None,
        context: ctx(1, Lines(0)),
        examples: &["./main.go:5:2: undefined: fmt.Printn"],
    },
    // ── Java and the JVM ───────────────────────────────────────────────
    Rule {
        name: "java.uncaught",
        severity: Failure,
        summary: false,
        triggers: &["exception in thread", "caused by:"],
        pattern: r"^Exception in thread |^\s*Caused by: ",
        unless: None,
        context: ctx(0, Indented(12)),
        examples: &[
            "Exception in thread \"main\" java.lang.IllegalStateException: boom",
            "Caused by: java.io.FileNotFoundException: x.txt",
        ],
    },
    // ── JavaScript test runners and package managers ───────────────────
    Rule {
        name: "npm.error",
        severity: Failure,
        summary: false,
        triggers: &["npm err", "npm error", "yarn error", "pnpm err", "err_pnpm"],
        pattern: r"^(?:npm|yarn|pnpm) (?:ERR!|error|ERR_)|\bERR_PNPM_\w+",
        unless: None,
        context: ctx(0, Lines(0)),
        examples: &[
            "npm ERR! code ELIFECYCLE",
            "npm error code E404",
            " ERR_PNPM_NO_MATCHING_VERSION  No matching version found",
        ],
    },
    Rule {
        name: "jest.failure",
        severity: Failure,
        summary: false,
        triggers: &["●"],
        pattern: r"^\s*●\s+\S",
        unless: Some(r"^\s*●\s+Console\b"),
        context: ctx(0, Lines(14)),
        examples: &["  ● math › adds two numbers"],
    },
    Rule {
        name: "tap.not-ok",
        severity: Failure,
        summary: false,
        triggers: &["not ok"],
        pattern: r"^\s*not ok \d+",
        unless: Some(r"# (?i:todo|skip)\b"),
        context: ctx(0, Indented(24)),
        examples: &["not ok 3 - parses dates", "    not ok 1 - subtest fails"],
    },
    Rule {
        name: "test.failed-mark",
        severity: Failure,
        summary: false,
        triggers: &["✕", "✗", "✖", "×", "fail"],
        pattern: r"^\s*[✕✗✖×]\s|^\s*(?:FAIL|FAILED|FAILURE)\b[:!]?\s",
        unless: None,
        context: ctx(0, Lines(2)),
        examples: &[
            "    ✕ adds two numbers (5 ms)",
            "✖ parses dates (1.2ms)",
            "FAIL src/sum.test.js",
            "  × Failed to build installable wheels for some pyproject.toml based projects",
        ],
    },
    // ── git ────────────────────────────────────────────────────────────
    Rule {
        name: "git.conflict",
        severity: Failure,
        summary: false,
        triggers: &["conflict", "rejected", "automatic merge failed"],
        pattern: r"^CONFLICT \(|^\s*! \[(?:remote )?rejected\]|^Automatic merge failed",
        unless: None,
        context: ctx(0, Lines(1)),
        examples: &[
            "CONFLICT (content): Merge conflict in src/lib.rs",
            " ! [rejected]        main -> main (fetch first)",
        ],
    },
    // ── Linkers, crashes and the shell ─────────────────────────────────
    Rule {
        name: "link.undefined",
        severity: Failure,
        summary: false,
        triggers: &[
            "undefined reference",
            "undefined symbol",
            "unresolved external",
            "ld returned",
            "linker command failed",
        ],
        pattern: r"undefined reference to|[Uu]ndefined symbols? |unresolved external symbol|ld returned \d+ exit status|linker command failed",
        unless: None,
        context: ctx(1, Lines(1)),
        examples: &["main.c:(.text+0x15): undefined reference to `helper'"],
    },
    Rule {
        name: "crash",
        severity: Failure,
        summary: false,
        triggers: &[
            "segmentation fault",
            "core dumped",
            "killed",
            "aborted",
            "out of memory",
            "stack overflow",
            "sigsegv",
            "sigabrt",
            "sigkill",
            "bus error",
            "illegal instruction",
            "oomkilled",
        ],
        pattern: r"(?i:segmentation fault|core dumped|out of memory|stack overflow|bus error|illegal instruction)|\bKilled\b|^Aborted\b|\bSIG(?:SEGV|ABRT|KILL|BUS|ILL|FPE)\b|OOMKilled",
        unless: None,
        context: ctx(1, Lines(2)),
        examples: &[
            "Segmentation fault (core dumped)",
            "sh: line 1: 4242 Killed                  ./app",
            "fatal runtime error: stack overflow",
        ],
    },
    // ── Errors and exceptions, any tool ────────────────────────────────
    Rule {
        name: "exception",
        severity: Failure,
        summary: false,
        triggers: &[
            "error",
            "exception",
            "exit",
            "interrupt",
            "fault",
            "failure",
            "abort",
        ],
        pattern: r"^\s*(?:[\w$]+(?:\.|::))*(?:[A-Z][\w$]*)?(?:Error|Exception|Exit|Interrupt|Fault|Failure|Abort)(?:\s*\[[^\]]*\])?(?::|$)",
        unless: None,
        context: ctx(4, Indented(12)),
        examples: &[
            "ValueError: invalid literal for int() with base 10: 'x'",
            "TypeError: Cannot read properties of undefined (reading 'x')",
            "Error: Cannot find module 'left-pad'",
            "java.lang.NullPointerException: name",
            "KeyboardInterrupt",
        ],
    },
    Rule {
        name: "error.prefix",
        severity: Failure,
        summary: false,
        triggers: &["error", "fatal"],
        pattern: r"^\s*(?:\[(?:ERROR|FATAL|error|fatal)\]|(?i:error|fatal(?:\s+error)?)(?:\[[^\]]*\])?\s*[:!]|(?:ERROR|FATAL)\b)",
        unless: None,
        context: ctx(1, Snippet(16)),
        examples: &[
            "error[E0308]: mismatched types",
            "error: could not find `Cargo.toml` in `/tmp` or any parent directory",
            "ERROR: Could not find a version that satisfies the requirement nosuchpkg",
            "fatal: not a git repository (or any of the parent directories): .git",
            "[ERROR] Failed to execute goal on project app",
            "ERROR in ./src/index.js 3:0",
        ],
    },
    Rule {
        name: "error.infix",
        severity: Failure,
        summary: false,
        triggers: &["error"],
        pattern: r"(?:^|[\s:)\]])(?i:fatal\s+)?error(?:\[[\w-]+\]|\s+[A-Z]{1,4}\d{1,6})?\s*:",
        unless: None,
        context: ctx(2, Snippet(12)),
        examples: &[
            "main.c:3:5: error: 'x' undeclared (first use in this function)",
            "src/app.ts(4,7): error TS2322: Type 'string' is not assignable to type 'number'.",
            "src/app.ts:4:7 - error TS2322: Type 'string' is not assignable to type 'number'.",
            "App.java:3: error: cannot find symbol",
            "main.c:1:10: fatal error: missing.h: No such file or directory",
        ],
    },
    Rule {
        name: "error.level",
        severity: Failure,
        summary: false,
        triggers: &["error", "fatal", "critical", "severe", "panic"],
        pattern: r"\b(?:ERROR|FATAL|CRITICAL|PANIC|SEVERE)\b|\blevel=(?:error|fatal|critical|panic)\b|\[(?:error|fatal|crit|critical)\]",
        unless: None,
        context: ctx(0, Indented(8)),
        examples: &[
            "2024-05-01 12:00:00,123 ERROR app.db: connection refused",
            "time=2024-05-01T12:00:00Z level=error msg=\"request failed\"",
        ],
    },
    Rule {
        name: "shell.not-found",
        severity: Failure,
        summary: false,
        triggers: &[
            "not found",
            "no such file",
            "permission denied",
            "cannot execute",
        ],
        pattern: r"(?i)command not found|: not found$|no such file or directory|permission denied|cannot execute",
        unless: None,
        context: ctx(0, Lines(0)),
        examples: &[
            "bash: cargo-nextest: command not found",
            "sh: 1: pytest: not found",
            "cat: missing.txt: No such file or directory",
        ],
    },
    Rule {
        name: "failed.word",
        severity: Failure,
        summary: false,
        triggers: &["fail"],
        pattern: r"(?i)\bfail(?:ed|ure|s|ing)?\b",
        unless: Some(
            r"^\s*(?:Compiling|Checking|Documenting|Fresh|Downloaded|Downloading|Installing|Installed|Collecting|Building|Updating|Adding|Removing|Locking|Unpacking|Fetching)\s|(?i)\b0\s+(?:failed|failures?|failing)\b|\b(?:failed|failures?|failing)\s*[:=]\s*0\b|\bno\s+failures?\b|fail-fast|--fail|allow[-_]fail|\bfail(?:ed|ure|s|ing)?\s*[=:]\s*(?:false|none)\b",
        ),
        context: ctx(1, Lines(2)),
        examples: &[
            "Failed to fetch https://example.com/pkg.tgz",
            "Automatic build of crate foo failed",
        ],
    },
    // ── Warnings ───────────────────────────────────────────────────────
    Rule {
        name: "summary.warning-count",
        severity: Warning,
        summary: true,
        triggers: &["warning"],
        pattern: r"\b[1-9][0-9]* warnings?\b",
        unless: None,
        context: ctx(0, Lines(0)),
        examples: &[
            "warning: `demo` (lib) generated 3 warnings",
            "1 warning generated.",
        ],
    },
    Rule {
        name: "npm.warn",
        severity: Warning,
        summary: false,
        triggers: &["npm warn"],
        pattern: r"^npm (?:WARN|warn) ",
        unless: None,
        context: ctx(0, Lines(0)),
        examples: &["npm WARN deprecated inflight@1.0.6: This module is not supported"],
    },
    Rule {
        name: "warning.prefix",
        severity: Warning,
        summary: false,
        triggers: &["warn"],
        pattern: r"^\s*(?:\[(?:WARN(?:ING)?|warn(?:ing)?)\]|(?i:warn(?:ing)?)(?:\[[^\]]*\])?\s*[:!]|(?:WARN(?:ING)?)\b)",
        unless: None,
        context: ctx(0, Snippet(10)),
        examples: &[
            "warning: unused variable: `x`",
            "WARNING: Running pip as the 'root' user can result in broken permissions",
            "[WARNING] Using platform encoding (UTF-8 actually) to copy filtered resources",
        ],
    },
    Rule {
        name: "warning.infix",
        severity: Warning,
        summary: false,
        triggers: &["warning"],
        pattern: r"(?:^|[\s:)\]])warning(?:\[[\w-]+\]|\s+[A-Z]{1,4}\d{1,6})?\s*:|\b[A-Z]\w*Warning: ",
        unless: None,
        context: ctx(1, Snippet(8)),
        examples: &[
            "main.c:4:9: warning: unused variable 'y' [-Wunused-variable]",
            "/app/x.py:3: DeprecationWarning: pkg_resources is deprecated",
        ],
    },
    Rule {
        name: "warning.level",
        severity: Warning,
        summary: false,
        triggers: &["warn"],
        pattern: r"\bWARN(?:ING)?\b|\blevel=warn(?:ing)?\b|\[warn(?:ing)?\]",
        unless: None,
        context: ctx(0, Lines(0)),
        examples: &["2024-05-01 12:00:00 WARN pool: slow query (3.2s)"],
    },
    // ── Outcomes of runs that passed ───────────────────────────────────
    Rule {
        name: "summary.passed",
        severity: Note,
        summary: true,
        triggers: &[
            "test result",
            "passed",
            "ok  ",
            "ok\t",
            "ok (",
            "ran ",
            "build succe",
            "finished",
            "tests:",
            "test suites:",
            "passing",
            "pass",
        ],
        pattern: r"^test result: ok\.|^=+ .*\b(?:passed|skipped|no tests ran|deselected)\b.* in [\d.]+m?s\b.*=+$|^ok\s+\S+\s+(?:[\d.]+s|\(cached\))|^Ran \d+ tests? in |^OK \(.*\)$|^BUILD SUCCESS(?:FUL)?\b|^\s*Finished .* target\(s\) in |^(?:Tests|Test Suites):\s+\d+|^\s*\d+ passing\b|^PASS\s*$",
        unless: None,
        context: ctx(0, Lines(0)),
        examples: &[
            "test result: ok. 12 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s",
            "============================== 5 passed in 0.12s ===============================",
            "ok  \tgithub.com/acme/app\t0.015s",
            "Ran 4 tests in 0.001s",
            "    Finished `dev` profile [unoptimized + debuginfo] target(s) in 2.31s",
            "Tests:       5 passed, 5 total",
        ],
    },
    // ── Locations and frames ───────────────────────────────────────────
    Rule {
        name: "rust.location",
        severity: Note,
        summary: false,
        triggers: &["-->"],
        pattern: r"^\s*--> \S+:\d+(?::\d+)?",
        unless: None,
        context: ctx(1, Lines(0)),
        examples: &["  --> src/main.rs:4:18"],
    },
    Rule {
        name: "python.frame",
        severity: Note,
        summary: false,
        triggers: &["file \""],
        pattern: r#"^\s*File ".+", line \d+"#,
        unless: None,
        context: ctx(0, Lines(1)),
        examples: &["  File \"/app/main.py\", line 3, in <module>"],
    },
    Rule {
        name: "location",
        severity: Note,
        summary: false,
        triggers: LOCATION_TRIGGERS,
        pattern: r#"[\w.-]+\.(?:rs|py|go|c|h|cc|cpp|cxx|hpp|hh|m|ts|tsx|js|jsx|mjs|cjs|vue|java|kt|scala|rb|php|cs|swift|zig)(?::\d+|\(\d+,\d+\)|", line \d+)"#,
        unless: None,
        context: ctx(0, Lines(0)),
        examples: &[
            "    at Object.<anonymous> (/app/index.js:3:9)",
            "\tat com.acme.App.main(App.java:10)",
            "\t/src/app/store.go:41 +0x1d",
            "src/lib.rs:10:5",
        ],
    },
];

/// Where a line was classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hit {
    /// Index into [`RULES`].
    pub(crate) rule: u16,
}

impl Hit {
    pub(crate) fn rule(self) -> &'static Rule {
        &RULES[usize::from(self.rule)]
    }

    /// The priority tier: 0 failing summaries, 1 failures, 2 warnings,
    /// 3 summaries of runs that passed, 4 other notes (locations and frames
    /// on their own, away from any failure or warning).
    pub(crate) fn tier(self) -> u8 {
        let rule = self.rule();
        match (rule.severity, rule.summary) {
            (Failure, true) => 0,
            (Failure, false) => 1,
            (Warning, _) => 2,
            (Note, true) => 3,
            (Note, false) => 4,
        }
    }
}

/// The compiled table.
pub(crate) struct Rules {
    /// `None` only if the automaton failed to build (the tests show it
    /// builds); then nothing is classified and the view is head and tail.
    prefilter: Option<AhoCorasick>,
    /// For each trigger, the rules (bits) it stands for.
    trigger_rules: Vec<u64>,
    /// `None` for a pattern that does not compile (the tests show all do).
    patterns: Vec<Option<Regex>>,
    unless: Vec<Option<Regex>>,
}

impl std::fmt::Debug for Rules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rules")
            .field("rules", &RULES.len())
            .finish()
    }
}

impl Rules {
    /// The compiled table, built once per process.
    pub(crate) fn get() -> &'static Rules {
        static COMPILED: OnceLock<Rules> = OnceLock::new();
        COMPILED.get_or_init(Rules::compile)
    }

    fn compile() -> Self {
        const { assert!(RULES.len() <= 64, "the rule bitset is a u64") };
        let mut triggers: Vec<String> = Vec::new();
        let mut trigger_rules: Vec<u64> = Vec::new();
        for (index, rule) in RULES.iter().enumerate() {
            for trigger in rule.triggers {
                let trigger = trigger.to_ascii_lowercase();
                let at = match triggers.iter().position(|t| *t == trigger) {
                    Some(at) => at,
                    None => {
                        triggers.push(trigger);
                        trigger_rules.push(0);
                        triggers.len() - 1
                    }
                };
                trigger_rules[at] |= 1 << index;
            }
        }
        Self {
            prefilter: AhoCorasick::builder()
                .kind(Some(aho_corasick::AhoCorasickKind::DFA))
                .ascii_case_insensitive(true)
                .build(&triggers)
                .ok(),
            trigger_rules,
            patterns: RULES
                .iter()
                .map(|rule| Regex::new(rule.pattern).ok())
                .collect(),
            unless: RULES
                .iter()
                .map(|rule| rule.unless.and_then(|unless| Regex::new(unless).ok()))
                .collect(),
        }
    }

    /// Whether every pattern compiled (for the tests).
    #[cfg(test)]
    pub(crate) fn all_compiled(&self) -> bool {
        self.prefilter.is_some()
            && self.patterns.iter().all(Option::is_some)
            && RULES
                .iter()
                .zip(&self.unless)
                .all(|(rule, unless)| rule.unless.is_some() == unless.is_some())
    }

    /// The first rule that matches `line`, if any.
    pub(crate) fn classify(&self, line: &str) -> Option<Hit> {
        let prefilter = self.prefilter.as_ref()?;
        // Most lines hold no trigger at all: a plain search (which can skip
        // ahead) says so faster than the overlapping one.
        if !prefilter.is_match(line) {
            return None;
        }
        let mut candidates = 0u64;
        for found in prefilter.find_overlapping_iter(line) {
            candidates |= self.trigger_rules[found.pattern().as_usize()];
        }
        while candidates != 0 {
            let index = candidates.trailing_zeros() as usize;
            candidates &= candidates - 1;
            let matches = self.patterns[index]
                .as_ref()
                .is_some_and(|pattern| pattern.is_match(line));
            if matches
                && !self.unless[index]
                    .as_ref()
                    .is_some_and(|unless| unless.is_match(line))
            {
                return Some(Hit { rule: index as u16 });
            }
        }
        None
    }
}

/// The rules, in the order lines are tried against them.
pub fn rules() -> &'static [Rule] {
    RULES
}

/// The name of the rule that classifies `line`, if any (for tests, tools and
/// people extending the table).
pub fn classify(line: &str) -> Option<&'static str> {
    Rules::get().classify(line).map(|hit| hit.rule().name)
}

#[cfg(test)]
mod tests;
