//! What the view does, case by case: verbatim small outputs, markers and
//! their numbers, gaps, priorities, folding, cutting, options.

use agentproc_view::{AgentView, SpanKind, View, ViewError, ViewOptions, view_bytes};

use crate::check::{Source, check};

fn view_of(bytes: &[u8], max_tokens: usize) -> View {
    let view = view_bytes(bytes, ViewOptions::with_max_tokens(max_tokens));
    check(&Source::plain(bytes), 1, &view);
    view
}

fn hinted(max_tokens: usize) -> ViewOptions {
    ViewOptions {
        max_tokens,
        first_line: 1,
        fetch_hint: Some("GET /lines?start={start}&end={end}".into()),
    }
}

/// A long build: noise, one error in the middle, a summary at the end.
fn long_build(noise: usize) -> Vec<u8> {
    let mut out = String::from("$ cargo build\n");
    for i in 0..noise {
        out.push_str(&format!("   Compiling dep-{i} v1.{}.{}\n", i % 10, i % 7));
    }
    out.push_str("error[E0308]: mismatched types\n --> src/main.rs:4:18\n  |\n4 |     let x: i32 = \"a\";\n  |                  ^^^ expected `i32`, found `&str`\n\n");
    for i in 0..noise {
        out.push_str(&format!("   Compiling late-{i} v2.{}.{}\n", i % 10, i % 7));
    }
    out.push_str("error: could not compile `demo` (bin \"demo\") due to 1 previous error\n");
    out.into_bytes()
}

#[test]
fn empty_input_gives_an_empty_view() {
    let view = view_of(b"", 2000);
    assert_eq!(view.text, "");
    assert_eq!(
        (view.tokens, view.source_bytes, view.source_lines),
        (0, 0, 0)
    );
    assert!(view.spans.is_empty());
    assert_eq!(view.tokenizer, "o200k_base");
}

#[test]
fn small_outputs_come_back_verbatim_after_cleaning() {
    let cases: &[(&[u8], &str)] = &[
        (b"hello\nworld\n", "hello\nworld\n"),
        (b"no newline at the end", "no newline at the end"),
        (b"a\n\n\nb\n", "a\n\n\nb\n"),
        (b"\n", "\n"),
        (b"\x1b[31merror\x1b[0m: red\n", "error: red\n"),
        (b"10%\r50%\r100%\ndone\r\n", "100%\ndone\n"),
        (b"bad \xff byte\n", "bad \u{fffd} byte\n"),
        // Regression: a last line that cleans to nothing and has no newline
        // vanished, so the text showed one line fewer than the source had.
        (b"a\n\x1b[32m", "a\n\n"),
    ];
    for (input, expected) in cases {
        let view = view_of(input, 2000);
        assert_eq!(view.text, *expected, "{input:?}");
        assert!(view.spans.is_empty());
        assert_eq!(view.omitted_lines, 0);
    }
    // Even a run of similar lines is not folded when it fits.
    let mut similar = String::new();
    for i in 0..40 {
        similar.push_str(&format!("test case_{i} ... ok\n"));
    }
    assert_eq!(view_of(similar.as_bytes(), 2000).text, similar);
}

#[test]
fn a_long_build_keeps_the_error_the_frame_and_marks_the_rest() {
    let input = long_build(3000);
    let view = view_bytes(&input, hinted(1000));
    check(&Source::plain(&input), 1, &view);
    let text = &view.text;
    assert!(text.starts_with("$ cargo build\n"), "{text}");
    for must in [
        "error[E0308]: mismatched types",
        " --> src/main.rs:4:18",
        "4 |     let x: i32 = \"a\";",
        "error: could not compile `demo`",
    ] {
        assert!(text.contains(must), "{must:?} missing:\n{text}");
    }
    // The noise is folded, and each marker says how to fetch what it holds.
    assert!(
        view.spans.iter().any(|s| s.kind == SpanKind::Progress),
        "{:?}",
        view.spans
    );
    assert!(
        text.contains("more progress lines like \"Compiling dep-# #.#.#\""),
        "{text}"
    );
    for marker in text.lines().filter(|line| line.starts_with("[… ")) {
        assert!(marker.contains(": GET /lines?start="), "{marker}");
    }
    assert!(view.tokens <= 1000);
}

#[test]
fn markers_use_absolute_line_numbers_and_the_fetch_hint() {
    let mut input = String::new();
    // Lines of different lengths: nothing to fold.
    let words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta"];
    for i in 0..2000 {
        input.push_str(&words[..1 + i % words.len()].join(" "));
        input.push_str(&format!(" {i}\n"));
    }
    let options = ViewOptions {
        first_line: 5001,
        ..hinted(300)
    };
    let view = view_bytes(input.as_bytes(), options);
    check(&Source::plain(input.as_bytes()), 5001, &view);
    let span = view
        .spans
        .iter()
        .find(|s| s.kind == SpanKind::Omitted)
        .expect("an omission");
    let marker = format!(
        "[… lines {}-{} omitted ({} lines, ",
        span.start_line, span.end_line, span.lines
    );
    assert!(view.text.contains(&marker), "{marker}\n{}", view.text);
    let fetch = format!(
        ": GET /lines?start={}&end={}]",
        span.start_line, span.end_line
    );
    assert!(view.text.contains(&fetch), "{fetch}\n{}", view.text);
    assert!(span.start_line > 5001 && span.end_line < 7001);

    let bare = view_bytes(input.as_bytes(), ViewOptions::with_max_tokens(300));
    assert!(!bare.text.contains("GET"), "{}", bare.text);
    assert!(bare.text.contains(" omitted ("), "{}", bare.text);
}

#[test]
fn gaps_are_marked_and_counted() {
    let mut view = AgentView::new(ViewOptions::default());
    view.push(b"before the gap\npartial");
    view.gap(5000, 0);
    view.push(b" after\nlast\n");
    let view = view.finish();
    let source = Source {
        segments: vec![
            b"before the gap\npartial".to_vec(),
            b" after\nlast\n".to_vec(),
        ],
        gaps: vec![(5000, 0)],
    };
    check(&source, 1, &view);
    assert_eq!(
        view.text,
        "before the gap\npartial\n[… 5.0 KB no longer in the log]\n after\nlast\n"
    );
    assert_eq!(view.source_bytes, 22 + 5000 + 12);
    assert_eq!(view.spans.len(), 1);
    let span = view.spans[0];
    assert_eq!(
        (span.kind, span.lines, span.bytes),
        (SpanKind::Lost, 0, 5000)
    );
    assert_eq!((span.start_line, span.end_line), (3, 2));

    // With a known line count, the lost lines are numbered.
    let mut view = AgentView::new(ViewOptions::default());
    view.push(b"one\n");
    view.gap(100, 10);
    view.push(b"twelve\n");
    let view = view.finish();
    assert_eq!(
        view.text,
        "one\n[… lines 2-11 no longer in the log (10 lines, 100 B)]\ntwelve\n"
    );
    assert_eq!(view.source_lines, 12);
    assert_eq!(view.omitted_lines, 10);
}

#[test]
fn errors_come_before_warnings_when_the_budget_is_tight() {
    let mut input = String::new();
    for i in 0..400 {
        input.push_str(&format!(
            "warning: unused variable `w{i}` in a place that matters {i}\n"
        ));
        input.push_str(&format!("   Compiling noise-{i} v0.1.{i}\n"));
    }
    input.push_str("error: the one real failure is here\n");
    for i in 0..400 {
        input.push_str(&format!("info: more chatter number {i} about nothing\n"));
    }
    let view = view_of(input.as_bytes(), 200);
    assert!(
        view.text.contains("error: the one real failure is here"),
        "{}",
        view.text
    );
}

#[test]
fn first_occurrences_come_before_repeats() {
    let mut input = String::new();
    for i in 0..300 {
        input.push_str(&format!("ERROR connection refused (attempt {i})\n"));
        input.push_str(&format!(
            "retrying in {i} ms with some long explanation of the backoff policy\n"
        ));
    }
    input.push_str("ERROR disk full on /var\n");
    for i in 0..300 {
        input.push_str(&format!(
            "chatter {i} after the errors, with enough words to matter\n"
        ));
    }
    let view = view_of(input.as_bytes(), 400);
    assert!(
        view.text.contains("ERROR connection refused (attempt 0)"),
        "{}",
        view.text
    );
    assert!(
        view.text.contains("ERROR disk full on /var"),
        "{}",
        view.text
    );
}

#[test]
fn long_lines_are_cut_on_a_character_boundary_and_marked() {
    let mut input = "é".repeat(10_000);
    input.push('\n');
    for i in 0..3000 {
        input.push_str(&format!("filler line {i} {}\n", i * 31 % 977));
    }
    let view = view_of(input.as_bytes(), 1000);
    let first = view.text.lines().next().expect("a first line");
    assert!(first.chars().all(|c| c == 'é') && !first.is_empty());
    let cut = view
        .spans
        .iter()
        .find(|s| s.kind == SpanKind::Cut)
        .expect("a cut");
    assert_eq!((cut.start_line, cut.end_line, cut.lines), (1, 1, 0));
    assert_eq!(cut.bytes as usize, 20_000 - first.len());
    assert!(
        view.text
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("[… line 1 cut: "))
    );
}

#[test]
fn tracebacks_keep_their_block() {
    let mut input = String::new();
    for i in 0..2000 {
        input.push_str(&format!(
            "INFO processed batch {i} of records without trouble\n"
        ));
    }
    input.push_str("processing record 42\nTraceback (most recent call last):\n  File \"/app/job.py\", line 40, in main\n    rec = parse(raw)\n  File \"/app/parse.py\", line 12, in parse\n    return Decimal(x)\nValueError: bad amount 'x'\n");
    for i in 0..2000 {
        input.push_str(&format!("INFO processed later batch {i} without trouble\n"));
    }
    let view = view_of(input.as_bytes(), 1000);
    let block = "processing record 42\nTraceback (most recent call last):\n  File \"/app/job.py\", line 40, in main\n    rec = parse(raw)\n  File \"/app/parse.py\", line 12, in parse\n    return Decimal(x)\nValueError: bad amount 'x'\n";
    assert!(view.text.contains(block), "{}", view.text);
}

#[test]
fn the_same_input_gives_the_same_view() {
    let input = long_build(500);
    let a = view_bytes(&input, hinted(700));
    let b = view_bytes(&input, hinted(700));
    assert_eq!(a, b);
}

#[test]
fn options_out_of_range_are_refused_or_clamped() {
    assert_eq!(
        AgentView::try_new(ViewOptions::with_max_tokens(100)).err(),
        Some(ViewError::MaxTokensOutOfRange {
            value: 100,
            min: 200,
            max: 32_000
        })
    );
    let mut view = AgentView::new(ViewOptions::with_max_tokens(10));
    view.push(&long_build(2000));
    let view = view.finish();
    assert_eq!(view.max_tokens, 200);
    assert!(view.tokens <= 200);
}
