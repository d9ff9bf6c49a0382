//! Random outputs, random budgets and random chunkings: the view is the same
//! however the bytes arrive, within its budget, and true to its source.

use agentproc_view::{AgentView, View, ViewOptions};

use crate::check::{Source, check};

/// xorshift64*: small, deterministic, good enough to pick test data.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// One random line, newline included (or not, for the last).
fn line(rng: &mut Rng, i: u64) -> Vec<u8> {
    let k = rng.below(50);
    let text: String = match rng.below(24) {
        0..=3 => format!(
            "   Compiling crate-{} v0.{}.{}",
            rng.below(900),
            rng.below(20),
            rng.below(9)
        ),
        4..=6 => format!("test module_{}::case_{i} ... ok", rng.below(30)),
        7 => format!(
            "[{:>3}%] Building CXX object src/file_{i}.cpp.o",
            rng.below(101)
        ),
        8 => format!(
            "2024-05-01T12:00:{:02}Z INFO request {i} served",
            rng.below(60)
        ),
        9 => format!("error[E0{k:03}]: message number {k}"),
        10 => format!(" --> src/file_{k}.rs:{}:{}", rng.below(300), rng.below(80)),
        11 => format!("{} |     let x = {k};", rng.below(300)),
        12 => format!("warning: unused thing {k}"),
        13 => (*rng.pick(&[
            "Traceback (most recent call last):",
            "  File \"app.py\", line 3, in main",
            "    main()",
            "ValueError: bad value",
            "E       assert 1 == 2",
            "FAILED tests/test_x.py::test_y - AssertionError",
            "test result: FAILED. 3 passed; 1 failed; 0 ignored",
            "npm ERR! code ELIFECYCLE",
            "make: *** [Makefile:3: all] Error 2",
            "--- FAIL: TestThing (0.00s)",
            "    thing_test.go:12: got 1, want 2",
            "thread 'main' panicked at src/main.rs:2:5:",
            "",
            "",
        ]))
        .to_owned(),
        14 => format!("\u{1b}[1;31merror\u{1b}[0m: colored {k}"),
        15 => format!(
            "{}%\r{}%\r{}%",
            rng.below(100),
            rng.below(100),
            rng.below(100)
        ),
        16 => "\u{1b}[32m".repeat(rng.below(3) as usize) + "green \u{1b}]0;title\u{7}after",
        17 => {
            let len = rng.below(6000) as usize;
            let mut long = String::with_capacity(len);
            while long.len() < len {
                long.push(*rng.pick(&['x', 'é', '€', ' ', '😀', 'y']));
            }
            long
        }
        18 => "tab\there and ünïcödé".to_owned(),
        19 => String::new(),
        20 => format!("plain words number {k} with nothing special"),
        _ => format!("noise line {i} {}", rng.below(1000)),
    };
    let mut bytes = text.into_bytes();
    if rng.below(40) == 0 {
        bytes.extend_from_slice(b" \xff\xfe\xc3 broken");
    }
    match rng.below(20) {
        0 => bytes.extend_from_slice(b"\r\n"),
        _ => bytes.push(b'\n'),
    }
    bytes
}

fn random_source(rng: &mut Rng) -> Source {
    let lines = *rng.pick(&[0u64, 1, 3, 20, 200, 800, 3000]);
    let mut all = Vec::new();
    for i in 0..lines {
        all.extend(line(rng, i));
    }
    if rng.below(3) == 0 && all.ends_with(b"\n") {
        all.pop(); // a last line without a newline
    }
    // Sometimes gaps the log lost, at random places.
    let mut source = Source::default();
    let gaps = if rng.below(4) == 0 { rng.below(3) } else { 0 };
    let mut cuts: Vec<usize> = (0..gaps)
        .map(|_| rng.below(all.len() as u64 + 1) as usize)
        .collect();
    cuts.sort_unstable();
    let mut start = 0;
    for cut in cuts {
        source.segments.push(all[start..cut].to_vec());
        source
            .gaps
            .push((1 + rng.below(100_000), rng.below(3) * rng.below(50)));
        start = cut;
    }
    source.segments.push(all[start..].to_vec());
    source
}

/// Feeds `source` in random chunks.
fn run(source: &Source, options: &ViewOptions, rng: &mut Rng, max_chunk: u64) -> View {
    let mut view = AgentView::new(options.clone());
    for (index, segment) in source.segments.iter().enumerate() {
        let mut rest = segment.as_slice();
        while !rest.is_empty() {
            let take = (1 + rng.below(max_chunk)).min(rest.len() as u64) as usize;
            view.push(&rest[..take]);
            rest = &rest[take..];
        }
        if let Some(&(bytes, lines)) = source.gaps.get(index) {
            view.gap(bytes, lines);
        }
    }
    view.finish()
}

#[test]
fn views_do_not_depend_on_chunking_and_keep_every_invariant() {
    let mut rng = Rng::new(0x5eed);
    for case in 0..100 {
        let source = random_source(&mut rng);
        let options = ViewOptions {
            max_tokens: *rng.pick(&[200, 333, 1000, 2000, 5000]),
            first_line: *rng.pick(&[1, 1, 7, 1_000_000]),
            fetch_hint: rng
                .pick(&[
                    None,
                    Some("GET /api/v0/processes/abc/lines?start={start}&end={end}"),
                ])
                .map(str::to_owned),
        };
        let whole = run(&source, &options, &mut rng, u64::MAX);
        check(&source, options.first_line, &whole);
        for max_chunk in [1 + rng.below(7), 1 + rng.below(5000)] {
            let chunked = run(&source, &options, &mut rng, max_chunk);
            assert_eq!(
                chunked, whole,
                "case {case}: chunks of at most {max_chunk} bytes"
            );
        }
    }
}

#[test]
fn every_budget_is_respected() {
    let mut rng = Rng::new(7);
    let mut source = Source::default();
    let mut bytes = Vec::new();
    for i in 0..3000 {
        bytes.extend(line(&mut rng, i));
    }
    source.segments.push(bytes);
    for max_tokens in [200, 201, 250, 400, 777, 1500, 2000, 3000, 8000, 32_000] {
        let options = ViewOptions {
            max_tokens,
            first_line: 1,
            fetch_hint: Some("GET /api/v0/processes/3f2a8c1e-5b7d-4e21-9c3a-7d1e2f4a6b8c/lines?start={start}&end={end}".into()),
        };
        let view = run(&source, &options, &mut rng, 65536);
        check(&source, 1, &view);
        assert!(
            view.tokens * 10 >= max_tokens * 6,
            "{max_tokens}: only {} tokens used",
            view.tokens
        );
    }
}
