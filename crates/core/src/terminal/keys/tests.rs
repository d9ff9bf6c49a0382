//! Tests of `encode_key`: every family of names, the modifiers, the
//! application cursor and keypad switches, and the errors.

use super::*;

const NORMAL: KeyModes = KeyModes {
    application_cursor: false,
    application_keypad: false,
};
const APPLICATION: KeyModes = KeyModes {
    application_cursor: true,
    application_keypad: true,
};

fn key(name: &str) -> Vec<u8> {
    key_in(name, NORMAL)
}

fn key_in(name: &str, modes: KeyModes) -> Vec<u8> {
    match encode_key(name, modes) {
        Ok(bytes) => bytes,
        Err(err) => panic!("{name:?}: {err}"),
    }
}

#[test]
fn basic_named_keys() {
    let cases: &[(&str, &[u8])] = &[
        ("Enter", b"\r"),
        ("Tab", b"\t"),
        ("BTab", b"\x1b[Z"),
        ("Escape", b"\x1b"),
        ("Space", b" "),
        ("BSpace", b"\x7f"),
    ];
    for (name, want) in cases {
        assert_eq!(key(name), *want, "{name}");
    }
}

#[test]
fn names_ignore_case() {
    for name in ["enter", "ENTER", "eNtEr"] {
        assert_eq!(key(name), b"\r", "{name}");
    }
    assert_eq!(key("pageup"), b"\x1b[5~");
    assert_eq!(key("bspace"), b"\x7f");
    assert_eq!(key("f12"), b"\x1b[24~");
    assert_eq!(key("kpenter"), b"\r");
}

#[test]
fn common_spellings_besides_tmux() {
    assert_eq!(key("Esc"), b"\x1b");
    assert_eq!(key("Return"), b"\r");
    assert_eq!(key("Backspace"), b"\x7f");
}

#[test]
fn arrows_home_end_follow_application_cursor_mode() {
    let cases: &[(&str, &[u8], &[u8])] = &[
        ("Up", b"\x1b[A", b"\x1bOA"),
        ("Down", b"\x1b[B", b"\x1bOB"),
        ("Right", b"\x1b[C", b"\x1bOC"),
        ("Left", b"\x1b[D", b"\x1bOD"),
        ("Home", b"\x1b[H", b"\x1bOH"),
        ("End", b"\x1b[F", b"\x1bOF"),
    ];
    let app_cursor_only = KeyModes {
        application_cursor: true,
        application_keypad: false,
    };
    for (name, normal, application) in cases {
        assert_eq!(key_in(name, NORMAL), *normal, "{name}");
        assert_eq!(key_in(name, app_cursor_only), *application, "{name}");
    }
}

#[test]
fn editing_and_page_keys_with_all_their_names() {
    let cases: &[(&str, &[u8])] = &[
        ("PageUp", b"\x1b[5~"),
        ("PgUp", b"\x1b[5~"),
        ("PPage", b"\x1b[5~"),
        ("PageDown", b"\x1b[6~"),
        ("PgDn", b"\x1b[6~"),
        ("NPage", b"\x1b[6~"),
        ("IC", b"\x1b[2~"),
        ("Insert", b"\x1b[2~"),
        ("DC", b"\x1b[3~"),
        ("Delete", b"\x1b[3~"),
    ];
    for (name, want) in cases {
        assert_eq!(key(name), *want, "{name}");
        // Application cursor mode does not change them.
        assert_eq!(key_in(name, APPLICATION), *want, "{name}");
    }
}

#[test]
fn function_keys() {
    let cases: &[(&str, &[u8])] = &[
        ("F1", b"\x1bOP"),
        ("F2", b"\x1bOQ"),
        ("F3", b"\x1bOR"),
        ("F4", b"\x1bOS"),
        ("F5", b"\x1b[15~"),
        ("F6", b"\x1b[17~"),
        ("F7", b"\x1b[18~"),
        ("F8", b"\x1b[19~"),
        ("F9", b"\x1b[20~"),
        ("F10", b"\x1b[21~"),
        ("F11", b"\x1b[23~"),
        ("F12", b"\x1b[24~"),
    ];
    for (name, want) in cases {
        assert_eq!(key(name), *want, "{name}");
        assert_eq!(key_in(name, APPLICATION), *want, "{name}");
    }
    assert!(encode_key("F13", NORMAL).is_err());
}

#[test]
fn modified_keys_use_the_xterm_parameter() {
    let cases: &[(&str, &[u8])] = &[
        ("S-Up", b"\x1b[1;2A"),
        ("M-Up", b"\x1b[1;3A"),
        ("C-Up", b"\x1b[1;5A"),
        ("C-S-Left", b"\x1b[1;6D"),
        ("C-M-Right", b"\x1b[1;7C"),
        ("C-M-S-Down", b"\x1b[1;8B"),
        ("S-Home", b"\x1b[1;2H"),
        ("C-End", b"\x1b[1;5F"),
        ("S-F1", b"\x1b[1;2P"),
        ("C-F4", b"\x1b[1;5S"),
        ("C-F5", b"\x1b[15;5~"),
        ("M-F12", b"\x1b[24;3~"),
        ("C-PageUp", b"\x1b[5;5~"),
        ("S-Delete", b"\x1b[3;2~"),
    ];
    for (name, want) in cases {
        assert_eq!(key(name), *want, "{name}");
        // Modified arrows keep their CSI form in application cursor mode.
        assert_eq!(key_in(name, APPLICATION), *want, "{name}");
    }
}

#[test]
fn modifier_prefixes_ignore_case_and_order() {
    assert_eq!(key("c-up"), b"\x1b[1;5A");
    assert_eq!(key("s-C-left"), b"\x1b[1;6D");
    assert_eq!(key("S-c-LEFT"), b"\x1b[1;6D");
    assert_eq!(key("m-C-x"), b"\x1b\x18");
}

#[test]
fn ctrl_letters_are_control_codes_in_either_case() {
    assert_eq!(key("C-c"), [0x03]);
    assert_eq!(key("C-C"), [0x03]);
    assert_eq!(key("c-c"), [0x03]);
    assert_eq!(key("C-d"), [0x04]);
    assert_eq!(key("C-z"), [0x1a]);
    assert_eq!(key("C-a"), [0x01]);
    assert_eq!(key("C-m"), b"\r");
    assert_eq!(key("^c"), [0x03]);
    assert_eq!(key("^C"), [0x03]);
}

#[test]
fn ctrl_punctuation_and_space() {
    let cases: &[(&str, &[u8])] = &[
        ("C-@", &[0x00]),
        ("C-[", &[0x1b]),
        ("C-\\", &[0x1c]),
        ("C-]", &[0x1d]),
        ("C-^", &[0x1e]),
        ("C-_", &[0x1f]),
        ("C-?", &[0x7f]),
        ("C-/", &[0x1f]),
        ("C-Space", &[0x00]),
        ("C- ", &[0x00]),
        ("C-2", &[0x00]),
        ("C-3", &[0x1b]),
        ("C-8", &[0x7f]),
    ];
    for (name, want) in cases {
        assert_eq!(key(name), *want, "{name}");
    }
}

#[test]
fn ctrl_without_a_control_code_is_dropped() {
    assert_eq!(key("C-1"), b"1");
    assert_eq!(key("C-é"), "é".as_bytes());
    assert_eq!(key("C-Enter"), b"\r");
    assert_eq!(key("C-Tab"), b"\t");
    assert_eq!(key("C-Escape"), b"\x1b");
}

#[test]
fn meta_is_an_escape_prefix() {
    assert_eq!(key("M-b"), b"\x1bb");
    assert_eq!(key("M-B"), b"\x1bB");
    assert_eq!(key("M-f"), b"\x1bf");
    assert_eq!(key("M-."), b"\x1b.");
    assert_eq!(key("M--"), b"\x1b-");
    assert_eq!(key("M-é"), "\x1bé".as_bytes());
    assert_eq!(key("M-Enter"), b"\x1b\r");
    assert_eq!(key("M-BSpace"), b"\x1b\x7f");
    assert_eq!(key("M-Escape"), b"\x1b\x1b");
    assert_eq!(key("M-Space"), b"\x1b ");
    assert_eq!(key("C-M-c"), b"\x1b\x03");
}

#[test]
fn shift_on_characters_and_tab() {
    assert_eq!(key("S-a"), b"A");
    assert_eq!(key("S-1"), b"1");
    assert_eq!(key("S-Tab"), b"\x1b[Z");
    assert_eq!(key("C-BSpace"), [0x08]);
    // tmux drops every modifier of back-tab.
    assert_eq!(key("M-BTab"), b"\x1b[Z");
}

#[test]
fn single_characters_are_sent_as_themselves() {
    for name in [
        "a", "A", "q", "y", "n", "0", ":", "-", "^", "~", " ", "C", "M",
    ] {
        assert_eq!(key(name), name.as_bytes(), "{name:?}");
    }
    assert_eq!(key("é"), "é".as_bytes());
    assert_eq!(key("你"), "你".as_bytes());
    assert_eq!(key("😀"), "😀".as_bytes());
    assert_eq!(key("\x03"), [0x03]);
}

#[test]
fn keypad_follows_application_keypad_mode() {
    let cases: &[(&str, &[u8], &[u8])] = &[
        ("KP0", b"0", b"\x1bOp"),
        ("KP5", b"5", b"\x1bOu"),
        ("KP9", b"9", b"\x1bOy"),
        ("KP/", b"/", b"\x1bOo"),
        ("KP*", b"*", b"\x1bOj"),
        ("KP-", b"-", b"\x1bOm"),
        ("KP+", b"+", b"\x1bOk"),
        ("KP.", b".", b"\x1bOn"),
        ("KPEnter", b"\r", b"\x1bOM"),
    ];
    let keypad_only = KeyModes {
        application_cursor: false,
        application_keypad: true,
    };
    for (name, normal, application) in cases {
        assert_eq!(key_in(name, NORMAL), *normal, "{name}");
        assert_eq!(key_in(name, keypad_only), *application, "{name}");
    }
    // Application cursor mode alone does not change the keypad.
    let cursor_only = KeyModes {
        application_cursor: true,
        application_keypad: false,
    };
    assert_eq!(key_in("KP8", cursor_only), b"8");
}

#[test]
fn unknown_names_are_errors_that_say_what_to_use() {
    for name in [
        "", "Foo", "Ctrl-c", "C-", "M-", "X-a", "a-b", "Enterr", "C-Foo", "ab", "👍🏽",
    ] {
        let err = encode_key(name, NORMAL).expect_err(name);
        assert_eq!(err.name, name);
    }
    let err = encode_key("Foo", NORMAL).expect_err("Foo");
    assert_eq!(
        err.to_string(),
        "unknown key \"Foo\": use tmux names such as Enter, Tab, Escape, BSpace, Up, C-c, F1, PageDown"
    );
    assert_eq!(
        encode_key("", NORMAL).expect_err("empty").to_string(),
        "unknown key \"\": use tmux names such as Enter, Tab, Escape, BSpace, Up, C-c, F1, PageDown"
    );
}

#[test]
fn every_table_name_encodes_to_something() {
    for (name, _) in NAMES {
        for modes in [NORMAL, APPLICATION] {
            for prefix in ["", "C-", "M-", "S-", "C-M-S-"] {
                let full = format!("{prefix}{name}");
                assert!(!key_in(&full, modes).is_empty(), "{full}");
            }
        }
    }
}
