//! Tests of the on-disk logs: offsets and gaps, caps, eviction, search and
//! line ranges. Real files in a fresh temporary directory per test.

use std::sync::atomic::{AtomicUsize, Ordering};

use regex::bytes::Regex;

use super::*;

fn temp_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "agentproc-log-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    dir
}

/// A store in a fresh directory, removed when the test drops it.
struct TestStore(Arc<LogStore>);

impl std::ops::Deref for TestStore {
    type Target = Arc<LogStore>;

    fn deref(&self) -> &Arc<LogStore> {
        &self.0
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0.config().dir);
    }
}

fn store(per_process: u64, total: u64) -> TestStore {
    TestStore(
        LogStore::open(LogConfig {
            dir: temp_dir(),
            max_bytes_per_process: per_process,
            max_total_bytes: total,
        })
        .expect("open store"),
    )
}

#[tokio::test]
async fn reads_return_what_was_written_at_any_offset() {
    let store = store(1 << 20, 1 << 30);
    let log = store.create("p").expect("create");
    log.append(b"hello ");
    log.append(b"world\n");
    log.flushed().await;
    assert_eq!(log.total(), 12);
    let all = log.read(0, 1024).expect("read");
    assert_eq!(
        (all.bytes.as_slice(), all.start, all.gap, all.total),
        (&b"hello world\n"[..], 0, 0, 12)
    );
    let middle = log.read(3, 5).expect("read");
    assert_eq!(
        (middle.bytes.as_slice(), middle.start, middle.end()),
        (&b"lo wo"[..], 3, 8)
    );
    let past = log.read(99, 10).expect("read");
    assert!(past.bytes.is_empty());
    assert_eq!(
        (past.start, past.gap),
        (12, 0),
        "a cursor past the end waits at the end"
    );
}

#[tokio::test]
async fn the_per_process_cap_drops_whole_old_segments_and_reports_the_gap() {
    // Segments of 25 bytes (a quarter of the cap).
    let store = store(100, 1 << 30);
    let log = store.create("p").expect("create");
    let data: Vec<u8> = (0..250u32).map(|i| b'a' + (i % 26) as u8).collect();
    for chunk in data.chunks(7) {
        log.append(chunk);
    }
    log.flushed().await;
    let chunk = log.read(0, 1000).expect("read");
    // At most 4 segments of 25 are kept, and at least 3 full ones.
    assert!(chunk.start >= 150 && chunk.start <= 175, "{}", chunk.start);
    assert_eq!(
        chunk.gap, chunk.start,
        "everything before is reported missing"
    );
    assert_eq!(
        chunk.bytes,
        &data[usize::try_from(chunk.start).expect("fits")..]
    );
    assert_eq!(chunk.total, 250);
    assert!(store.total_bytes() <= 100);
    // Reading from inside the gap resumes at the first kept byte.
    let resumed = log.read(10, 5).expect("read");
    assert_eq!(resumed.gap, chunk.start - 10);
    assert_eq!(resumed.start, chunk.start);
}

#[tokio::test]
async fn the_total_cap_forgets_the_logs_of_the_first_to_exit() {
    let store = store(1 << 20, 100);
    let first = store.create("first").expect("create");
    let second = store.create("second").expect("create");
    first.append(&[b'1'; 40]);
    second.append(&[b'2'; 40]);
    first.flushed().await;
    second.flushed().await;
    store.exited(&first);
    store.exited(&second);
    let third = store.create("third").expect("create");
    third.append(&[b'3'; 40]);
    third.flushed().await;
    // Over 100: the first to exit goes, whole.
    store.settled().await;
    assert!(!first.dir().exists());
    let gone = first.read(0, 100).expect("read");
    assert_eq!((gone.bytes.len(), gone.gap, gone.total), (0, 40, 40));
    assert_eq!(second.read(0, 100).expect("read").bytes.len(), 40);
    assert_eq!(store.total_bytes(), 80);
}

#[tokio::test]
async fn removing_a_log_frees_its_space() {
    let store = store(1 << 20, 1 << 30);
    let log = store.create("p").expect("create");
    log.append(&[b'x'; 500]);
    log.flushed().await;
    assert_eq!(store.total_bytes(), 500);
    log.remove();
    assert_eq!(store.total_bytes(), 0);
    // Deleted by the writer thread, off the caller's thread.
    store.settled().await;
    assert!(!log.dir().exists());
}

/// A process that prints nothing costs no directory: it is made with the
/// first bytes, and a log that never had any is forgotten without touching
/// the disk.
#[tokio::test]
async fn a_directory_is_made_only_for_output() {
    let store = store(1 << 20, 1 << 30);
    let silent = store.create("silent").expect("create");
    let chatty = store.create("chatty").expect("create");
    store.settled().await;
    assert!(!silent.dir().exists());
    assert!(!chatty.dir().exists());
    chatty.append(b"hello\n");
    chatty.flushed().await;
    assert!(chatty.dir().is_dir());
    assert_eq!(chatty.read(0, 100).expect("read").bytes, b"hello\n");
    // An empty log reads as empty, without its directory.
    assert!(silent.read(0, 100).expect("read").bytes.is_empty());
    silent.remove();
    chatty.remove();
    store.settled().await;
    assert!(!silent.dir().exists());
    assert!(!chatty.dir().exists());

    // A directory that cannot be made (a file is in the way) fails the
    // log as a whole, which readers are told.
    let blocked = store.create("blocked").expect("create");
    fs::write(blocked.dir(), "in the way").expect("write");
    assert!(!blocked.creation_failed());
    blocked.append(b"lost\n");
    blocked.flushed().await;
    assert!(blocked.creation_failed());
    assert!(!chatty.creation_failed());
}

#[test]
fn opening_a_store_clears_logs_of_an_earlier_run() {
    let dir = temp_dir();
    fs::create_dir_all(dir.join("stale")).expect("mkdir");
    fs::write(dir.join("stale/0000000000000000.log"), b"old").expect("write");
    // Not ours: a directory with anything but segment files is kept.
    fs::create_dir_all(dir.join("project/src")).expect("mkdir");
    fs::write(dir.join("project/src/main.rs"), b"fn main() {}").expect("write");
    fs::create_dir_all(dir.join("notes")).expect("mkdir");
    fs::write(dir.join("notes/0000000000000000.log.bak"), b"x").expect("write");
    let store = LogStore::open(LogConfig::new(&dir)).expect("open");
    assert!(!dir.join("stale").exists());
    assert!(dir.join("project/src/main.rs").exists());
    assert!(dir.join("notes/0000000000000000.log.bak").exists());
    drop(store);
    let _ = fs::remove_dir_all(&dir);
}

/// Regression (hardening issue, defect 6): a second store on the same
/// directory deleted the first one's live logs as "left by an earlier run".
#[tokio::test]
async fn a_second_store_on_the_same_directory_is_refused_and_deletes_nothing() {
    let dir = temp_dir();
    let first = LogStore::open(LogConfig::new(&dir)).expect("open");
    let log = first.create("live").expect("create");
    log.append(b"still needed\n");
    log.flushed().await;
    let error = LogStore::open(LogConfig::new(&dir)).expect_err("a second store");
    assert_eq!(error.kind(), io::ErrorKind::ResourceBusy);
    assert!(error.to_string().contains("another agentproc"), "{error}");
    assert_eq!(log.read(0, 100).expect("read").bytes, b"still needed\n");
    // Once the first store is gone, the directory can be used again.
    drop(log);
    drop(first);
    let _again = LogStore::open(LogConfig::new(&dir)).expect("reopen");
    let _ = fs::remove_dir_all(&dir);
}

/// Regression (hardening issue, defect 4): logs were created 0644 in 0755
/// directories, readable by every local user wherever `output_dir` was.
#[tokio::test]
async fn logs_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path| fs::metadata(path).expect("metadata").permissions().mode() & 0o777;
    let dir = temp_dir();
    let store = LogStore::open(LogConfig::new(&dir)).expect("open");
    assert_eq!(mode(&dir), 0o700, "a directory the store creates");
    let log = store.create("p").expect("create");
    log.append(b"secret\n");
    log.flushed().await;
    assert_eq!(mode(log.dir()), 0o700);
    for entry in fs::read_dir(log.dir()).expect("list").flatten() {
        assert_eq!(mode(&entry.path()), 0o600, "{}", entry.path().display());
    }
    assert_eq!(mode(&dir.join(LOCK_FILE)), 0o600);
    drop(log);
    drop(store);

    // An existing, world-readable directory keeps its mode, but what the
    // store puts in it is still private.
    let shared = temp_dir();
    fs::create_dir_all(&shared).expect("mkdir");
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o755)).expect("chmod");
    let store = LogStore::open(LogConfig::new(&shared)).expect("open");
    let log = store.create("p").expect("create");
    log.append(b"secret\n");
    log.flushed().await;
    assert_eq!(mode(&shared), 0o755);
    assert_eq!(mode(log.dir()), 0o700);
    drop(log);
    drop(store);
    let _ = fs::remove_dir_all(&dir);
    let _ = fs::remove_dir_all(&shared);
}

fn numbered_lines(count: usize) -> Vec<u8> {
    (1..=count)
        .flat_map(|n| format!("line {n}\n").into_bytes())
        .collect()
}

#[tokio::test]
async fn search_finds_lines_anywhere_with_numbers_offsets_and_context() {
    let store = store(1 << 30, 1 << 30);
    let log = store.create("p").expect("create");
    let data = numbered_lines(1000);
    for chunk in data.chunks(333) {
        log.append(chunk);
    }
    log.flushed().await;
    let result = search(
        &log,
        &SearchOptions {
            pattern: Regex::new("^line 50[05]$").expect("regex"),
            context: 1,
            max_matches: 10,
        },
    )
    .expect("search");
    assert_eq!(result.matches.len(), 2);
    let first = &result.matches[0];
    assert_eq!(first.line, 500);
    assert_eq!(first.text, b"line 500");
    let offset = usize::try_from(first.offset).expect("fits");
    assert!(data[offset..].starts_with(b"line 500\n"));
    assert_eq!(first.before, vec![(499, b"line 499".to_vec())]);
    assert_eq!(first.after, vec![(501, b"line 501".to_vec())]);
    assert!(!result.limit_hit);
}

#[tokio::test]
async fn search_reports_hitting_the_match_limit() {
    let store = store(1 << 30, 1 << 30);
    let log = store.create("p").expect("create");
    log.append(&numbered_lines(100));
    log.flushed().await;
    let result = search(
        &log,
        &SearchOptions {
            pattern: Regex::new("line").expect("regex"),
            context: 0,
            max_matches: 5,
        },
    )
    .expect("search");
    assert_eq!(result.matches.len(), 5);
    assert!(result.limit_hit);
}

#[tokio::test]
async fn line_numbers_stay_absolute_after_old_segments_are_dropped() {
    // 10-line segments of 100 bytes ("line NN\n" is 8 bytes... use fixed width).
    let store = store(400, 1 << 30);
    let log = store.create("p").expect("create");
    let data: Vec<u8> = (1..=200)
        .flat_map(|n| format!("l{n:07}\n").into_bytes())
        .collect();
    log.append(&data);
    log.flushed().await;
    let range = lines(&log, 1, 10_000, 10_000, 1 << 20).expect("lines");
    assert!(range.first_line > 1, "early lines were dropped");
    assert_eq!(range.total_lines, 200);
    for (number, text) in &range.lines {
        assert_eq!(text, format!("l{number:07}").as_bytes());
    }
    assert_eq!(range.lines.last().map(|(n, _)| *n), Some(200));
    let found = search(
        &log,
        &SearchOptions {
            pattern: Regex::new("l0000190").expect("regex"),
            context: 0,
            max_matches: 1,
        },
    )
    .expect("search");
    assert_eq!(found.matches[0].line, 190);
}

#[tokio::test]
async fn line_ranges_are_bounded_and_count_an_unterminated_last_line() {
    let store = store(1 << 30, 1 << 30);
    let log = store.create("p").expect("create");
    log.append(&numbered_lines(50));
    log.append(b"partial");
    log.flushed().await;
    let range = lines(&log, 10, 12, 100, 1 << 20).expect("lines");
    assert_eq!(
        range.lines,
        vec![
            (10, b"line 10".to_vec()),
            (11, b"line 11".to_vec()),
            (12, b"line 12".to_vec())
        ]
    );
    assert_eq!(range.total_lines, 51);
    assert!(!range.truncated);
    let last = lines(&log, 51, 51, 100, 1 << 20).expect("lines");
    assert_eq!(last.lines, vec![(51, b"partial".to_vec())]);
    let capped = lines(&log, 1, 50, 5, 1 << 20).expect("lines");
    assert_eq!(capped.lines.len(), 5);
    assert!(capped.truncated);
}

#[tokio::test]
async fn a_huge_line_is_cut_for_matching_and_showing() {
    let store = store(1 << 30, 1 << 30);
    let log = store.create("p").expect("create");
    log.append(&vec![b'x'; 200_000]);
    log.append(b"\nafter\n");
    log.flushed().await;
    let range = lines(&log, 1, 2, 10, 1 << 20).expect("lines");
    assert_eq!(range.lines[0].1.len(), MAX_SHOWN_LINE);
    assert_eq!(range.lines[1], (2, b"after".to_vec()));
}

#[test]
fn newlines_are_counted_exactly() {
    let mut data = Vec::new();
    for n in 0..1000usize {
        data.extend(std::iter::repeat_n(b'x', n % 17));
        data.push(b'\n');
        data.extend([0x0b, 0x8a, 0xff, 0x00, 0x09]);
    }
    for start in 0..9 {
        let slice = &data[start..];
        let naive = slice.iter().filter(|b| **b == b'\n').count() as u64;
        assert_eq!(count_newlines(slice), naive, "from {start}");
    }
    assert_eq!(count_newlines(b""), 0);
    assert_eq!(count_newlines(&[b'\n'; 64]), 64);
}

/// Lines that cross read chunks (64 KiB) and segment files (100 KB here)
/// come out whole, numbered and placed exactly.
#[tokio::test]
async fn lines_across_read_chunks_and_segments_are_exact() {
    let store = store(400_000, 1 << 30);
    let log = store.create("p").expect("create");
    let data = numbered_lines(30_000);
    assert!(data.len() > 300_000 && data.len() < 400_000);
    for chunk in data.chunks(4097) {
        log.append(chunk);
    }
    log.flushed().await;
    let range = lines(&log, 1, 30_000, 30_000, 1 << 20).expect("lines");
    assert!(!range.truncated);
    let expected: Vec<(u64, Vec<u8>)> = data
        .split(|byte| *byte == b'\n')
        .take(30_000)
        .zip(1..)
        .map(|(line, number)| (number, line.to_vec()))
        .collect();
    assert_eq!(range.lines, expected);

    let found = search(
        &log,
        &SearchOptions {
            pattern: Regex::new("^line \\d*997$").expect("regex"),
            context: 1,
            max_matches: 100,
        },
    )
    .expect("search");
    assert_eq!(found.matches.len(), 30);
    for (found, number) in found.matches.iter().zip((997..).step_by(1000)) {
        assert_eq!(found.line, number);
        assert_eq!(found.text, format!("line {number}").into_bytes());
        let offset = usize::try_from(found.offset).expect("fits");
        assert!(data[offset..].starts_with(format!("line {number}\n").as_bytes()));
        assert_eq!(
            found.after,
            vec![(number + 1, format!("line {}", number + 1).into_bytes())]
        );
    }
}

/// Matches with context on long lines stop at about 1 MiB of text, however
/// many matches were asked for.
#[tokio::test]
async fn search_results_are_bounded_in_bytes() {
    let store = store(1 << 30, 1 << 30);
    let log = store.create("p").expect("create");
    let line = [vec![b'x'; 3000], vec![b'\n']].concat();
    for _ in 0..5000 {
        log.append(&line);
    }
    log.flushed().await;
    let result = search(
        &log,
        &SearchOptions {
            pattern: Regex::new("x").expect("regex"),
            context: 10,
            max_matches: 1000,
        },
    )
    .expect("search");
    assert!(result.limit_hit);
    let bytes: usize = result
        .matches
        .iter()
        .map(|m| {
            m.text.len()
                + m.before
                    .iter()
                    .chain(&m.after)
                    .map(|(_, t)| t.len())
                    .sum::<usize>()
        })
        .sum();
    assert!(bytes <= MAX_RESULT_BYTES + 21 * MAX_SHOWN_LINE, "{bytes}");
    assert!(result.matches.len() < 1000);
}

/// Everything a scan delivered.
#[derive(Debug)]
struct Scanned {
    offset: u64,
    line: u64,
    skipped: u64,
    bytes: Vec<u8>,
    gaps: Vec<(u64, u64)>,
    end: u64,
}

fn scanned(log: &ProcessLog, from: u64) -> Scanned {
    let mut start = None;
    let mut bytes = Vec::new();
    let mut gaps = Vec::new();
    let end = scan(log, from, &mut |event| match event {
        ScanEvent::Start {
            offset,
            line,
            skipped,
        } => {
            assert!(start.is_none(), "one start");
            start = Some((offset, line, skipped));
        }
        ScanEvent::Bytes(chunk) => bytes.extend_from_slice(chunk),
        ScanEvent::Gap { bytes, lines } => gaps.push((bytes, lines)),
    })
    .expect("scan");
    let (offset, line, skipped) = start.expect("a start");
    Scanned {
        offset,
        line,
        skipped,
        bytes,
        gaps,
        end,
    }
}

#[tokio::test]
async fn a_scan_delivers_every_byte_once_with_absolute_line_numbers() {
    let store = store(1 << 30, 1 << 30);
    let log = store.create("p").expect("create");
    let data = numbered_lines(20_000);
    for chunk in data.chunks(7777) {
        log.append(chunk);
    }
    log.flushed().await;
    for from in [
        0,
        1,
        5,
        6,
        1000,
        50_000,
        data.len() as u64 - 1,
        data.len() as u64,
    ] {
        let scan = scanned(&log, from);
        let at = usize::try_from(from).expect("fits");
        assert_eq!(
            (scan.offset, scan.skipped, scan.end),
            (from, 0, data.len() as u64)
        );
        assert_eq!(scan.line, count_newlines(&data[..at]) + 1, "from {from}");
        assert_eq!(scan.bytes, &data[at..]);
        assert!(scan.gaps.is_empty());
    }
    // Past the end: nothing, and the line after the last.
    let scan = scanned(&log, u64::MAX);
    assert_eq!(
        (scan.offset, scan.line, scan.bytes.len()),
        (data.len() as u64, 20_001, 0)
    );
}

#[tokio::test]
async fn a_scan_after_the_cap_dropped_the_front_keeps_line_numbers_absolute() {
    let store = store(64 << 10, 1 << 30);
    let log = store.create("p").expect("create");
    let data = numbered_lines(50_000);
    for chunk in data.chunks(4096) {
        log.append(chunk);
    }
    log.flushed().await;
    let scan = scanned(&log, 0);
    assert!(
        scan.offset > 0 && scan.skipped == scan.offset,
        "the front was dropped"
    );
    assert_eq!(scan.end, data.len() as u64);
    let at = usize::try_from(scan.offset).expect("fits");
    assert_eq!(scan.bytes, &data[at..]);
    assert_eq!(scan.line, count_newlines(&data[..at]) + 1);
    assert!(scan.gaps.is_empty());
}

/// A small deterministic generator (xorshift), so the cases below are the
/// same on every run.
struct Random(u64);

impl Random {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Matching whole chunks first finds exactly what matching every line on
/// its own finds: same lines, offsets, context and limits, for patterns
/// that can match across a newline, anchors, empty lines, lines across
/// read chunks and segments, huge lines and dropped segments.
#[tokio::test]
async fn chunk_prefiltered_search_equals_the_line_by_line_search() {
    const PATTERNS: &[&str] = &[
        "error",
        "(?i)ERROR",
        "^warn",
        "ing$",
        "^$",
        "^",
        "",
        r"\n",
        r"r\se",
        r"o\s+w",
        "[^x]+",
        "(?s)r.e",
        r"\berr\b",
        r"\Berr",
        r"\Aerror",
        r"ing\z",
        "(?-m)^warn",
        "(?-m)ing$",
        r"^\s*$",
        r"\d{3}",
        "a|^b",
        r"(?m)^ $",
        "x{100}y",
    ];
    const WORDS: &[&str] = &[
        "error", "warning", "ERROR", "", " ", "ok", "err", "xerr", "b", "a", "123", "re",
    ];
    let compiled: Vec<_> = PATTERNS
        .iter()
        .map(|pattern| {
            let regex = compile_pattern(pattern, false).expect("regex");
            let prefilter = search::chunk_prefilter(&regex);
            (pattern, regex, prefilter)
        })
        .collect();
    let mut random = Random(0x9E37_79B9_7F4A_7C15);
    for case in 0..40 {
        // Small segments, so lines cross segments and read chunks; some
        // cases drop the front.
        let per_process = if case % 4 == 0 { 3000 } else { 1 << 30 };
        let store = store(per_process, 1 << 30);
        let log = store.create("p").expect("create");
        let mut data = Vec::new();
        for _ in 0..random.below(400) {
            for _ in 0..random.below(4) {
                data.extend_from_slice(WORDS[random.below(WORDS.len())].as_bytes());
                data.push(b' ');
            }
            if random.below(300) == 0 {
                data.extend(std::iter::repeat_n(b'x', 64_500 + random.below(2_000)));
            }
            data.push(b'\n');
        }
        if random.below(2) == 0 {
            data.extend_from_slice(b"error at the end without newline");
        }
        let mut rest = &data[..];
        while !rest.is_empty() {
            let take = (1 + random.below(5000)).min(rest.len());
            log.append(&rest[..take]);
            rest = &rest[take..];
        }
        log.flushed().await;
        for (pattern, regex, prefilter) in &compiled {
            for (context, max_matches) in [(0, 1000), (2, 1000), (1, 3), (0, 1)] {
                let options = SearchOptions {
                    pattern: regex.clone(),
                    context,
                    max_matches,
                };
                let slow = search::search_with(&log, &options, None).expect("search");
                let fast = search::search_with(&log, &options, prefilter.as_ref()).expect("search");
                assert_eq!(
                    fast, slow,
                    "case {case}, pattern {pattern:?}, context {context}, max {max_matches}"
                );
            }
        }
    }
}

#[test]
fn whole_text_anchors_turn_the_chunk_prefilter_off() {
    for pattern in [r"\Aerror", r"ing\z", "(?-m)^warn", "(?-m:ing$)"] {
        let regex = compile_pattern(pattern, false).expect("regex");
        assert!(search::chunk_prefilter(&regex).is_none(), "{pattern}");
    }
    for pattern in ["error", "^warn", "ing$", r"r\se", "(?s)."] {
        let regex = compile_pattern(pattern, true).expect("regex");
        assert!(search::chunk_prefilter(&regex).is_some(), "{pattern}");
    }
}

#[test]
fn ignore_case_is_part_of_the_compiled_pattern_and_errors_quote_the_original() {
    let regex = compile_pattern("error", true).expect("regex");
    assert!(regex.is_match(b"ERROR"));
    assert_eq!(regex.as_str(), "(?i:error)");
    let error = compile_pattern("(oops", true).expect_err("invalid");
    assert!(!error.to_string().contains("(?i:"), "{error}");
}
