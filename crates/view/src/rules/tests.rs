//! Table tests of the rules: a line from each tool family classified by the
//! right rule, and look-alikes left alone.

use super::*;

#[test]
fn every_rule_compiles_and_fits_the_bitset() {
    assert!(Rules::get().all_compiled());
    assert!(RULES.len() <= 64);
    let mut names: Vec<&str> = RULES.iter().map(|rule| rule.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), RULES.len(), "rule names are unique");
}

#[test]
fn every_example_is_classified_by_its_own_rule() {
    for rule in RULES {
        assert!(!rule.examples.is_empty(), "{} has no example", rule.name);
        for example in rule.examples {
            let lower = example.to_ascii_lowercase();
            assert!(
                rule.triggers
                    .iter()
                    .any(|trigger| lower.contains(&trigger.to_ascii_lowercase())),
                "{}: example {example:?} holds none of its triggers",
                rule.name
            );
            assert_eq!(classify(example), Some(rule.name), "{example:?}");
        }
        assert!(
            usize::from(rule.context.before) <= MAX_BEFORE,
            "{}",
            rule.name
        );
    }
}

#[test]
fn lines_from_each_tool_family() {
    let cases: &[(&str, &str)] = &[
        // cargo and rustc
        (
            "error[E0425]: cannot find value `y` in this scope",
            "error.prefix",
        ),
        ("warning: unused import: `std::io`", "warning.prefix"),
        ("   --> src/lib.rs:12:9", "rust.location"),
        (
            "test parser::tests::rejects_empty ... FAILED",
            "rust.test-failed",
        ),
        (
            "test result: FAILED. 10 passed; 1 failed; 0 ignored",
            "cargo.test-result-failed",
        ),
        (
            "error: aborting due to 3 previous errors",
            "summary.failed-count",
        ),
        ("thread 'main' panicked at src/main.rs:4:5:", "rust.panic"),
        (
            "---- parser::tests::rejects_empty stdout ----",
            "rust.test-output",
        ),
        (
            "test result: ok. 4 passed; 0 failed; 0 ignored",
            "summary.passed",
        ),
        // pytest and Python
        ("Traceback (most recent call last):", "python.traceback"),
        ("  File \"/srv/app.py\", line 10, in main", "python.frame"),
        ("ZeroDivisionError: division by zero", "exception"),
        ("E       AssertionError: assert 3 == 4", "pytest.error-line"),
        (
            "tests/test_app.py:22: AssertionError",
            "pytest.failure-location",
        ),
        (
            "FAILED tests/test_app.py::test_div - ZeroDivisionError",
            "pytest.failed-test",
        ),
        (
            "=========== 1 failed, 3 passed, 2 warnings in 0.40s ===========",
            "summary.failed-count",
        ),
        (
            "=================== 4 passed in 0.02s ===================",
            "summary.passed",
        ),
        (
            "____________________ test_div ____________________",
            "pytest.section",
        ),
        (
            "ERROR: test_div (tests.TestApp.test_div)",
            "unittest.failure",
        ),
        // npm and node
        ("npm ERR! Missing script: \"tset\"", "npm.error"),
        (
            "npm warn deprecated glob@7.2.3: Glob versions prior to v9 are no longer supported",
            "npm.warn",
        ),
        (
            "    at Module._compile (node:internal/modules/cjs/loader.js:1105:14)",
            "location",
        ),
        ("ReferenceError: foo is not defined", "exception"),
        ("  ✕ renders the header (12 ms)", "test.failed-mark"),
        (
            "Tests:       1 failed, 7 passed, 8 total",
            "summary.failed-count",
        ),
        // pip
        (
            "ERROR: No matching distribution found for nosuchpkg",
            "error.prefix",
        ),
        ("  error: subprocess-exited-with-error", "error.prefix"),
        ("ModuleNotFoundError: No module named 'yaml'", "exception"),
        // gcc, clang and make
        (
            "main.c:7:3: error: expected ';' before 'return'",
            "error.infix",
        ),
        (
            "main.c:2:5: warning: implicit declaration of function 'foo'",
            "warning.infix",
        ),
        (
            "/usr/bin/ld: main.o: in function `main': undefined reference to `foo'",
            "link.undefined",
        ),
        (
            "collect2: error: ld returned 1 exit status",
            "link.undefined",
        ),
        ("make: *** [Makefile:12: app] Error 1", "make.error"),
        ("2 errors generated.", "summary.failed-count"),
        // tsc
        (
            "src/index.ts(3,7): error TS2322: Type 'number' is not assignable to type 'string'.",
            "error.infix",
        ),
        (
            "Found 2 errors in the same file, starting at: src/index.ts:3",
            "summary.failed-count",
        ),
        // javac and the JVM
        (
            "Main.java:5: error: incompatible types: String cannot be converted to int",
            "error.infix",
        ),
        (
            "Exception in thread \"main\" java.lang.ArithmeticException: / by zero",
            "java.uncaught",
        ),
        ("\tat Main.main(Main.java:5)", "location"),
        ("[ERROR] COMPILATION ERROR :", "error.prefix"),
        // go
        ("--- FAIL: TestParse (0.00s)", "go.test-fail"),
        ("    parse_test.go:14: got \"a\", want \"b\"", "location"),
        ("\t/src/app/store.go:41 +0x1d", "location"),
        ("FAIL\texample.com/parse\t0.004s", "go.fail-summary"),
        ("./main.go:9:2: undefined: helper", "go.compile-error"),
        (
            "panic: runtime error: invalid memory address or nil pointer dereference",
            "go.panic",
        ),
        ("ok  \texample.com/util\t0.002s", "summary.passed"),
        // git
        (
            "fatal: not a git repository (or any of the parent directories): .git",
            "error.prefix",
        ),
        (
            "error: failed to push some refs to 'origin'",
            "error.prefix",
        ),
        (
            "CONFLICT (modify/delete): a.txt deleted in HEAD and modified in topic.",
            "git.conflict",
        ),
        (
            "Automatic merge failed; fix conflicts and then commit the result.",
            "git.conflict",
        ),
        // the shell
        (
            "bash: line 1: nosuchcmd: command not found",
            "shell.not-found",
        ),
        ("Segmentation fault (core dumped)", "crash"),
    ];
    for (line, rule) in cases {
        assert_eq!(classify(line), Some(*rule), "{line:?}");
    }
}

#[test]
fn look_alikes_are_not_failures() {
    let failure = |line: &str| {
        Rules::get()
            .classify(line)
            .is_some_and(|hit| hit.rule().severity == Severity::Failure)
    };
    let lines = [
        "0 errors",
        "Compiled successfully with 0 errors and 0 warnings",
        "error_count = 0",
        "warnings: 0",
        "errors: 0, failures: 0",
        "test result: ok. 3 passed; 0 failed; 0 ignored",
        "gcc -Wall -Werror -O2 -c main.c -o main.o",
        "cc -Wno-error=unused -c x.c",
        "   Compiling error-chain v0.12.4",
        "   Compiling failure v0.1.8",
        "   Compiling thiserror v2.0.12",
        "test tests::error_is_displayed ... ok",
        "test tests::fails_gracefully ... ok",
        "Collecting pytest-xfail",
        "running with --no-fail-fast",
        "Downloaded anyhow v1.0.98",
        "no failures found",
        "Error handling middleware registered",
        "INFO ErrorReporter started",
        "  Downloading errorhandler-1.2.tar.gz (5 kB)",
        "fail_on_warning = false",
        "XFAIL tests/test_x.py::test_known",
        "All 12 checks passed, 0 failures",
    ];
    for line in lines {
        assert!(
            !failure(line),
            "{line:?} is not a failure: {:?}",
            classify(line)
        );
    }
}

#[test]
fn noise_is_not_classified() {
    let lines = [
        "   Compiling serde v1.0.200",
        "    Checking regex-syntax v0.8.4",
        "test tests::adds ... ok",
        "Collecting requests==2.31.0",
        "  Downloading requests-2.31.0-py3-none-any.whl (64 kB)",
        "added 120 packages, and audited 121 packages in 3s",
        "remote: Counting objects: 100% (12/12), done.",
        "[ 42%] Building CXX object src/CMakeFiles/app.dir/main.cpp.o",
        "",
        "hello world",
    ];
    for line in lines {
        assert_eq!(classify(line), None, "{line:?}");
    }
}

#[test]
fn tiers_order_failing_summaries_first() {
    let tier = |line: &str| Rules::get().classify(line).map(Hit::tier);
    assert_eq!(tier("test result: FAILED. 1 passed; 1 failed"), Some(0));
    assert_eq!(tier("error: expected one of `;`"), Some(1));
    assert_eq!(tier("warning: unused variable: `x`"), Some(2));
    assert_eq!(tier("test result: ok. 3 passed; 0 failed"), Some(3));
    assert_eq!(tier("  --> src/main.rs:1:1"), Some(4));
}
