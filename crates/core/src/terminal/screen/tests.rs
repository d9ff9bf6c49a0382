//! Tests of `Screen` with real escape sequences: text, overwriting,
//! clearing, cursor moves, the alternate screen, titles, answered queries
//! (also split across chunks), bounded scrollback, resizing, wide
//! characters and garbage input.

use super::*;

fn size(rows: u16, cols: u16) -> TerminalSize {
    TerminalSize::new(rows, cols).expect("valid size")
}

fn screen() -> Screen {
    Screen::new(TerminalSize::DEFAULT, DEFAULT_SCROLLBACK_LINES)
}

/// A screen fed `bytes`, asserting it asked nothing back.
fn fed(bytes: &[u8]) -> Screen {
    let mut screen = screen();
    assert_eq!(screen.process(bytes), b"", "unexpected reply");
    screen
}

fn lines(screen: &Screen) -> Vec<String> {
    screen.snapshot(0).lines
}

/// The visible rows without the trailing empty ones.
fn text(screen: &Screen) -> Vec<String> {
    let mut lines = lines(screen);
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    lines
}

fn cursor(screen: &Screen) -> (u16, u16) {
    let cursor = screen.snapshot(0).cursor;
    (cursor.row, cursor.col)
}

#[test]
fn screen_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Screen>();
}

#[test]
fn a_new_screen_is_blank_and_keeps_every_row() {
    let snap = screen().snapshot(DEFAULT_SCROLLBACK_LINES);
    assert_eq!((snap.rows, snap.cols), (24, 80));
    assert_eq!(snap.lines, vec![String::new(); 24]);
    assert_eq!(
        snap.cursor,
        Cursor {
            row: 0,
            col: 0,
            visible: true
        }
    );
    assert_eq!(snap.title, None);
    assert!(!snap.alternate_screen);
    assert!(!snap.application_cursor);
    assert!(snap.scrollback.is_empty());
    assert_eq!(snap.key_modes(), KeyModes::default());
}

#[test]
fn text_and_newlines() {
    let screen = fed(b"hello\r\nworld\r\n\r\nlast");
    assert_eq!(text(&screen), ["hello", "world", "", "last"]);
    assert_eq!(lines(&screen).len(), 24);
    assert_eq!(cursor(&screen), (3, 4));
}

#[test]
fn carriage_return_overwrites() {
    let screen = fed(b"progress 10%\rprogress 100%\r\nabcdef\rXY");
    assert_eq!(text(&screen), ["progress 100%", "XYcdef"]);
    assert_eq!(cursor(&screen), (1, 2));
}

#[test]
fn clearing_the_screen_and_lines() {
    let mut screen = fed(b"one\r\ntwo\r\nthree");
    screen.process(b"\x1b[2J");
    assert_eq!(text(&screen), Vec::<String>::new());
    // ED 2 leaves the cursor where it was.
    assert_eq!(cursor(&screen), (2, 5));
    screen.process(b"\x1b[Hnew\r\nabcdef\x1b[3D\x1b[K");
    assert_eq!(text(&screen), ["new", "abc"]);
}

#[test]
fn cursor_moves() {
    let mut screen = fed(b"\x1b[5;10Hx");
    assert_eq!(text(&screen)[4], "         x");
    assert_eq!(cursor(&screen), (4, 10));
    // Up 2, back 3, `y`; home, down 2, `z`; column 10, `!`.
    screen.process(b"\x1b[2A\x1b[3Dy\x1b[H\x1b[2Bz\x1b[10G!");
    assert_eq!(text(&screen)[2], "z      y !");
    assert_eq!(cursor(&screen), (2, 10));
    // Save, move, restore.
    screen.process(b"\x1b7\x1b[20;70H\x1b8#");
    assert_eq!(text(&screen)[2], "z      y !#");
}

#[test]
fn full_screen_program_uses_the_alternate_screen_and_restores_the_main_one() {
    let mut screen = fed(b"$ vim notes.txt\r\n");
    assert_eq!(cursor(&screen), (1, 0));
    // What ncurses sends for xterm: enter, clear, draw.
    screen.process(b"\x1b[?1049h\x1b[22;0;0t\x1b[1;24r\x1b[H\x1b[2J");
    screen.process(b"\x1b[1;1Hhello from vim\x1b[2;1H~\x1b[3;1H~\x1b[24;1H\"notes.txt\" 1L");
    let snap = screen.snapshot(0);
    assert!(snap.alternate_screen);
    assert_eq!(snap.lines[0], "hello from vim");
    assert_eq!(snap.lines[1], "~");
    assert_eq!(snap.lines[23], "\"notes.txt\" 1L");
    assert!(!snap.lines.iter().any(|l| l.contains("$ vim")));
    // Leave: the main screen and its cursor come back.
    screen.process(b"\x1b[24;1H\x1b[?1049l\x1b[23;0;0t");
    let snap = screen.snapshot(0);
    assert!(!snap.alternate_screen);
    assert_eq!(text(&screen), ["$ vim notes.txt"]);
    assert_eq!((snap.cursor.row, snap.cursor.col), (1, 0));
}

#[test]
fn modes_47_and_1047_switch_screens_too() {
    for (enter, leave) in [
        (&b"\x1b[?47h"[..], &b"\x1b[?47l"[..]),
        (b"\x1b[?1047h", b"\x1b[?1047l"),
    ] {
        let mut screen = fed(b"main text");
        screen.process(enter);
        screen.process(b"\x1b[H\x1b[2Jalternate");
        assert!(screen.snapshot(0).alternate_screen);
        assert_eq!(text(&screen), ["alternate"]);
        screen.process(leave);
        assert!(!screen.snapshot(0).alternate_screen);
        assert_eq!(text(&screen), ["main text"]);
    }
}

#[test]
fn mode_1047_takes_effect_at_its_place_in_a_chunk_and_clears_on_leaving() {
    let mut screen = fed(b"main\x1b[?1047hALT\x1b[?1047lMAIN");
    assert_eq!(text(&screen), ["mainMAIN"]);
    // Leaving cleared the alternate screen: entering again shows it blank.
    screen.process(b"\x1b[?1047h");
    assert!(screen.snapshot(0).alternate_screen);
    assert_eq!(text(&screen), Vec::<String>::new());
    // Split across chunks, and among other modes in one sequence.
    screen.process(b"\x1b[?25;10");
    screen.process(b"47l");
    let snap = screen.snapshot(0);
    assert!(!snap.alternate_screen);
    assert!(!snap.cursor.visible);
}

#[test]
fn title_from_osc_0_and_2() {
    let mut screen = fed(b"\x1b]0;first title\x07");
    assert_eq!(screen.snapshot(0).title.as_deref(), Some("first title"));
    screen.process(b"\x1b]2;second\x1b\\text");
    assert_eq!(screen.snapshot(0).title.as_deref(), Some("second"));
    assert_eq!(text(&screen), ["text"]);
    // A title with semicolons, UTF-8, split over chunks.
    screen.process(b"\x1b]2;a;b; c \xc3");
    screen.process(b"\xa9\x07");
    assert_eq!(screen.snapshot(0).title.as_deref(), Some("a;b; c é"));
    // The icon name alone is not the title.
    screen.process(b"\x1b]1;icon\x07");
    assert_eq!(screen.snapshot(0).title.as_deref(), Some("a;b; c é"));
    // An empty title clears it.
    screen.process(b"\x1b]2;\x07");
    assert_eq!(screen.snapshot(0).title, None);
}

#[test]
fn an_endless_osc_string_is_capped_and_the_screen_goes_on() {
    let mut screen = screen();
    screen.process(b"\x1b]2;");
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..64 {
        screen.process(&chunk);
    }
    screen.process(b"\x07after");
    let snap = screen.snapshot(0);
    let title = snap.title.expect("a title");
    assert_eq!(title.len(), scan::MAX_OSC_BYTES - 2);
    assert_eq!(snap.lines[0], "after");
}

#[test]
fn cursor_position_report_reflects_the_point_of_the_query() {
    let mut screen = screen();
    assert_eq!(screen.process(b"abc\x1b[6n"), b"\x1b[1;4R");
    assert_eq!(
        screen.process(b"\r\n\x1b[6nxyz\x1b[6n\x1b[10;20H\x1b[6n"),
        b"\x1b[2;1R\x1b[2;4R\x1b[10;20R"
    );
}

#[test]
fn cursor_position_report_split_across_chunks() {
    let mut screen = screen();
    assert_eq!(screen.process(b"hello\x1b["), b"");
    assert_eq!(screen.process(b"6nworld"), b"\x1b[1;6R");
    assert_eq!(screen.process(b"\x1b"), b"");
    assert_eq!(screen.process(b"[6"), b"");
    assert_eq!(screen.process(b"n"), b"\x1b[1;11R");
    assert_eq!(text(&screen), ["helloworld"]);
}

#[test]
fn cursor_position_report_in_the_last_column_reports_that_column() {
    let mut screen = Screen::new(size(3, 5), 10);
    assert_eq!(screen.process(b"abcde\x1b[6n"), b"\x1b[1;5R");
    assert_eq!(cursor(&screen), (0, 4));
    screen.process(b"f");
    assert_eq!(text(&screen), ["abcde", "f"]);
}

#[test]
fn device_status_and_attributes_are_answered() {
    let cases: &[(&[u8], &[u8])] = &[
        (b"\x1b[5n", b"\x1b[0n"),
        (b"\x1b[c", b"\x1b[?1;2c"),
        (b"\x1b[0c", b"\x1b[?1;2c"),
        (b"\x1b[>c", b"\x1b[>0;276;0c"),
        (b"\x1b[>0c", b"\x1b[>0;276;0c"),
        (b"\x1b[18t", b"\x1b[8;24;80t"),
        // Queries we do not know go unanswered, as on a terminal without
        // them.
        (b"\x1b[?u", b""),
        (b"\x1b[>q", b""),
        (b"\x1b]11;?\x07", b""),
        (b"\x1b[1c", b""),
        (b"\x1b[=c", b""),
    ];
    for (query, reply) in cases {
        assert_eq!(screen().process(query), *reply, "{query:?}");
    }
    // fish and others send a query and then DA1 as a sentinel.
    assert_eq!(screen().process(b"\x1b[?u\x1b[c"), b"\x1b[?1;2c");
    // Split DA2.
    let mut screen = screen();
    assert_eq!(screen.process(b"\x1b[>"), b"");
    assert_eq!(screen.process(b"c"), b"\x1b[>0;276;0c");
}

#[test]
fn queries_inside_strings_are_not_answered() {
    // A query's bytes inside a title are part of the title.
    let mut screen = screen();
    assert_eq!(screen.process(b"\x1b]2;[6n\x07"), b"");
    assert_eq!(screen.snapshot(0).title.as_deref(), Some("[6n"));
}

#[test]
fn scrollback_is_bounded_and_oldest_first() {
    let mut screen = Screen::new(TerminalSize::DEFAULT, 1000);
    let mut chunk = String::new();
    for i in 0..5000 {
        chunk.push_str(&format!("line {i}\r\n"));
        if i % 100 == 99 {
            screen.process(chunk.as_bytes());
            chunk.clear();
            assert!(screen.parser.callbacks().scrollback.len() <= 1000);
        }
    }
    // 5000 lines and the empty cursor row: 4977 scrolled off, the newest
    // 1000 of them kept.
    let snap = screen.snapshot(usize::MAX);
    assert_eq!(snap.scrollback.len(), 1000);
    assert_eq!(snap.scrollback[0], "line 3977");
    assert_eq!(snap.scrollback[999], "line 4976");
    assert_eq!(snap.lines[0], "line 4977");
    assert_eq!(snap.lines[22], "line 4999");
    assert_eq!(snap.lines[23], "");
    let few = screen.snapshot(3);
    assert_eq!(few.scrollback, ["line 4974", "line 4975", "line 4976"]);
    assert!(screen.snapshot(0).scrollback.is_empty());
}

#[test]
fn no_scrollback_when_none_is_asked_for() {
    let mut screen = Screen::new(size(2, 10), 0);
    screen.process(b"a\r\nb\r\nc\r\nd");
    let snap = screen.snapshot(100);
    assert!(snap.scrollback.is_empty());
    assert_eq!(snap.lines, ["c", "d"]);
}

#[test]
fn scrollback_takes_rows_from_the_main_screen_only() {
    let mut screen = Screen::new(size(3, 20), 100);
    screen.process(b"one\r\ntwo\r\nthree\r\nfour");
    assert_eq!(screen.snapshot(100).scrollback, ["one"]);
    screen.process(b"\x1b[?1049h");
    for i in 0..50 {
        screen.process(format!("alt {i}\r\n").as_bytes());
    }
    // The main screen's scrollback is still there, without the alternate
    // screen's rows.
    assert_eq!(screen.snapshot(100).scrollback, ["one"]);
    screen.process(b"\x1b[?1049l");
    assert_eq!(text(&screen), ["two", "three", "four"]);
}

#[test]
fn scrollback_keeps_wide_characters_and_trims_blanks() {
    let mut screen = Screen::new(size(2, 20), 10);
    screen.process("\x1b[31m你好\x1b[0m world   \r\n😀 x\r\nend".as_bytes());
    let snap = screen.snapshot(10);
    assert_eq!(snap.scrollback, ["你好 world"]);
    assert_eq!(snap.lines, ["😀 x", "end"]);
}

#[test]
fn erase_saved_lines_clears_the_scrollback() {
    let mut screen = Screen::new(size(2, 10), 10);
    screen.process(b"a\r\nb\r\nc");
    assert_eq!(screen.snapshot(10).scrollback, ["a"]);
    // What `clear` prints, then more output that scrolls.
    screen.process(b"\x1b[H\x1b[2J\x1b[3Jx\r\ny\r\nz");
    let snap = screen.snapshot(10);
    assert_eq!(snap.scrollback, ["x"]);
    assert_eq!(snap.lines, ["y", "z"]);
}

#[test]
fn resize_keeps_content_and_the_cursor_in_bounds() {
    let mut screen = fed(b"hello world\r\nsecond line\r\n$ ");
    screen.resize(size(10, 40));
    let snap = screen.snapshot(0);
    assert_eq!((snap.rows, snap.cols), (10, 40));
    assert_eq!(snap.lines.len(), 10);
    assert_eq!(text(&screen), ["hello world", "second line", "$"]);
    assert_eq!(cursor(&screen), (2, 2));
    // Narrower cuts rows; text is not re-wrapped.
    screen.resize(size(10, 5));
    assert_eq!(text(&screen), ["hello", "secon", "$"]);
    // Shorter with the cursor on row 2: rows below it go first, then the
    // top rows scroll off into the scrollback.
    screen.resize(size(2, 5));
    let snap = screen.snapshot(10);
    assert_eq!(snap.lines, ["secon", "$"]);
    assert_eq!(snap.scrollback, ["hello"]);
    assert_eq!((snap.cursor.row, snap.cursor.col), (1, 2));
    // The smallest screen, and back.
    screen.resize(size(1, 1));
    let snap = screen.snapshot(0);
    assert_eq!((snap.rows, snap.cols, snap.lines.len()), (1, 1, 1));
    assert_eq!((snap.cursor.row, snap.cursor.col), (0, 0));
    screen.resize(TerminalSize::DEFAULT);
    let snap = screen.snapshot(0);
    assert_eq!((snap.rows, snap.cols, snap.lines.len()), (24, 80, 24));
    assert!(snap.cursor.row < 24 && snap.cursor.col < 80);
    assert_eq!(screen.process(b"\x1b[18t"), b"\x1b[8;24;80t");
}

#[test]
fn growing_after_lines_scrolled_off_adds_blank_rows_at_the_top() {
    let mut screen = Screen::new(size(3, 10), 10);
    screen.process(b"1\r\n2\r\n3\r\n4\r\n5");
    assert_eq!(cursor(&screen), (2, 1));
    // Two lines had scrolled off: the screen grows by two rows at the top
    // (where a terminal would show them again) and one at the bottom.
    screen.resize(size(6, 10));
    let snap = screen.snapshot(10);
    assert_eq!(snap.lines, ["", "", "3", "4", "5", ""]);
    assert_eq!(snap.scrollback, ["1", "2"]);
    assert_eq!((snap.cursor.row, snap.cursor.col), (4, 1));
    // Without scrolled-off lines, rows are added at the bottom.
    let mut screen = Screen::new(size(3, 10), 10);
    screen.process(b"a\r\nb");
    screen.resize(size(5, 10));
    assert_eq!(lines(&screen), ["a", "b", "", "", ""]);
}

#[test]
fn wide_characters_take_two_columns_and_appear_once() {
    let mut screen = fed("你好世界".as_bytes());
    assert_eq!(text(&screen), ["你好世界"]);
    assert_eq!(cursor(&screen), (0, 8));
    screen.process("\r\n😀x".as_bytes());
    assert_eq!(text(&screen), ["你好世界", "😀x"]);
    assert_eq!(cursor(&screen), (1, 3));
    // A wide character that does not fit in the last column wraps whole.
    let mut narrow = Screen::new(size(3, 5), 10);
    narrow.process("ab你好".as_bytes());
    assert_eq!(text(&narrow), ["ab你", "好"]);
    // Overwriting half of a wide character removes it.
    let mut screen = fed("你好".as_bytes());
    screen.process(b"\x1b[1;2Hx");
    let line = &text(&screen)[0];
    assert!(line.ends_with("x好") && !line.contains('你'), "{line:?}");
}

#[test]
fn utf8_split_across_chunks() {
    let mut screen = screen();
    let bytes = "é你😀".as_bytes();
    for byte in bytes {
        screen.process(std::slice::from_ref(byte));
    }
    assert_eq!(text(&screen), ["é你😀"]);
}

/// vte 0.15 drops the character after a UTF-8 character it completes
/// across two calls when an incomplete one follows within four bytes (here
/// the space before `м`); the screen holds split characters back.
#[test]
fn utf8_split_before_a_space_keeps_the_space() {
    let text_bytes = "привет мир".as_bytes();
    for split in 0..text_bytes.len() {
        let mut screen = screen();
        screen.process(&text_bytes[..split]);
        screen.process(&text_bytes[split..]);
        assert_eq!(text(&screen), ["привет мир"], "split at {split}");
    }
}

#[test]
fn incomplete_utf8_tails() {
    let cases: &[(&[u8], usize)] = &[
        (b"", 0),
        (b"abc", 0),
        (b"a\xc3", 1),
        (b"a\xc3\xa9", 0),
        (b"\xe4", 1),
        (b"\xe4\xbd", 2),
        (b"\xe4\xbd\xa0", 0),
        (b"\xf0\x9f\x98", 3),
        (b"\xf0\x9f\x98\x80", 0),
        (b"\xbd\xa0", 0),
        (b"\xff", 0),
        (b"\x1b[", 0),
    ];
    for (bytes, want) in cases {
        assert_eq!(incomplete_utf8_tail(bytes), *want, "{bytes:?}");
    }
}

#[test]
fn invalid_utf8_is_dropped_without_panicking() {
    let mut screen = screen();
    screen.process(b"\xff\xfeabc\xc3");
    screen.process(b"\xa9 \xe4\xbd\x1b[31mred\x80\x9b\xc0\xaf");
    assert_eq!(text(&screen)[0].replace('\u{fffd}', ""), "abcé red");
}

#[test]
fn cursor_visibility_and_key_modes_follow_the_program() {
    let mut screen = fed(b"\x1b[?25l");
    assert!(!screen.snapshot(0).cursor.visible);
    screen.process(b"\x1b[?25h\x1b[?1h\x1b=");
    let snap = screen.snapshot(0);
    assert!(snap.cursor.visible);
    assert!(snap.application_cursor);
    assert!(snap.application_keypad);
    let modes = KeyModes {
        application_cursor: true,
        application_keypad: true,
    };
    assert_eq!(snap.key_modes(), modes);
    assert_eq!(screen.key_modes(), modes);
    screen.process(b"\x1b[?1l\x1b>");
    assert_eq!(screen.key_modes(), KeyModes::default());
}

#[test]
fn debug_shows_the_state_not_the_cells() {
    let screen = fed(b"\x1b]2;t\x07");
    let debug = format!("{screen:?}");
    assert!(debug.starts_with("Screen {"), "{debug}");
    assert!(debug.contains("title: Some(\"t\")"), "{debug}");
}

/// A small deterministic generator (xorshift), so the garbage test needs no
/// dependency and fails the same way every time.
struct Garbage(u64);

impl Garbage {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }
}

#[test]
fn garbage_in_any_chunks_never_panics_and_stays_bounded() {
    // Pieces that stress the parser: sequences, their fragments, wide and
    // combining characters, invalid UTF-8, controls.
    let pieces: &[&[u8]] = &[
        b"\x1b",
        b"[",
        b"]",
        b"?",
        b"1049h",
        b"1049l",
        b"1047h",
        b"1047l",
        b"47h",
        b"6n",
        b"c",
        b">c",
        b"3J",
        b"2J",
        b";",
        b"0;t",
        b"\x07",
        b"\x18",
        b"\r",
        b"\n",
        b"\t",
        b"\x08",
        b"999;999H",
        b"r",
        b"1;2r",
        b"L",
        b"M",
        b"P",
        b"@",
        b"S",
        b"T",
        b"K",
        b"X",
        b"b",
        b"5b",
        b"\x1bM",
        b"\x1bD",
        b"\x1bc",
        b"\x1b7",
        b"\x1b8",
        b"A",
        b"x",
        b"  ",
        "你".as_bytes(),
        "😀".as_bytes(),
        "e\u{301}".as_bytes(),
        "\u{200b}".as_bytes(),
        b"\xff",
        b"\xe4\xbd",
        b"\xc3",
        b"\x9b",
        b"65535",
        b"0",
        b"?6h",
        b"?6l",
        b"?25l",
        b"?1h",
        b"?7l",
        b"?7h",
    ];
    let mut rng = Garbage(0x9e37_79b9_7f4a_7c15);
    for round in 0..200 {
        let cap = rng.below(20);
        let mut screen = Screen::new(
            size(1 + rng.below(12) as u16, 1 + rng.below(30) as u16),
            cap,
        );
        for _ in 0..40 {
            let mut chunk = Vec::new();
            for _ in 0..rng.below(60) {
                chunk.extend_from_slice(pieces[rng.below(pieces.len())]);
            }
            let replies = screen.process(&chunk);
            assert!(replies.len() <= 16 * chunk.len(), "round {round}");
            if rng.below(8) == 0 {
                screen.resize(size(1 + rng.below(12) as u16, 1 + rng.below(30) as u16));
            }
            let snap = screen.snapshot(usize::MAX);
            assert_eq!(snap.lines.len(), usize::from(snap.rows), "round {round}");
            assert!(snap.cursor.row < snap.rows, "round {round}");
            assert!(snap.cursor.col < snap.cols, "round {round}");
            assert!(snap.scrollback.len() <= cap, "round {round}");
        }
    }
}
