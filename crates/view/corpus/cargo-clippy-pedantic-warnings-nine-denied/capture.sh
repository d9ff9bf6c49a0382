#!/usr/bin/env bash
# cargo clippy --all-targets -- -W clippy::pedantic -D clippy::all on a
# 2-crate workspace (a common CI setting): hundreds of pedantic *warnings*
# (must_use_candidate, doc_markdown, redundant closures: noise) in textkit and
# reportgen, and nine different default-set lints in reportgen, each an
# *error* under -D clippy::all. Every distinct error matters.
set -u
cd "$(dirname "$0")"
OUT="$PWD/output.log"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
export RUST_BACKTRACE=0 CARGO_TERM_COLOR=never

cat > Cargo.toml <<'EOF'
[workspace]
resolver = "2"
members = ["textkit", "reportgen"]
EOF
mkdir -p textkit/src reportgen/src
cat > textkit/Cargo.toml <<'EOF'
[package]
name = "textkit"
version = "0.9.0"
edition = "2021"
EOF
: > textkit/src/lib.rs
for i in $(seq -w 1 120); do
  echo "pub mod wrap_$i;" >> textkit/src/lib.rs
  cat > textkit/src/wrap_$i.rs <<EOF
/// Wraps \`text\` at $((10#$i + 20)) columns, see wrap_columns.
pub fn wrap(text: &str) -> Vec<String> {
    let width = $((10#$i + 20));
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        if !cur.is_empty() && cur.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

pub fn column_of(offset: u64) -> u32 {
    (offset % $((10#$i + 20))) as u32
}

#[cfg(test)]
mod tests {
    #[test]
    fn wraps() {
        assert!(super::wrap("a b c").len() <= 1);
    }
}
EOF
done

cat > reportgen/Cargo.toml <<'EOF'
[package]
name = "reportgen"
version = "0.9.0"
edition = "2021"

[dependencies]
textkit = { path = "../textkit" }
EOF
: > reportgen/src/lib.rs
for i in $(seq -w 1 30); do
  echo "pub mod table_$i;" >> reportgen/src/lib.rs
  cat > reportgen/src/table_$i.rs <<EOF
pub struct Table$i {
    pub rows: Vec<Vec<String>>,
}

impl Table$i {
    pub fn width(&self) -> usize {
        self.rows.iter().map(|r| r.len()).max().unwrap_or(0)
    }
}
EOF
done
cat >> reportgen/src/table_03.rs <<'EOF'

pub fn has_rows(t: &Table03) -> bool {
    t.rows.len() == 0
}
EOF
cat >> reportgen/src/table_07.rs <<'EOF'

pub fn header(cols: &Vec<String>) -> String {
    cols.join(" | ")
}
EOF
cat >> reportgen/src/table_11.rs <<'EOF'

pub fn total(values: &[u64]) -> u64 {
    let mut sum = 0;
    for i in 0..values.len() {
        sum += values[i];
    }
    return sum;
}
EOF
cat >> reportgen/src/table_14.rs <<'EOF'

pub fn label(name: &str) -> String {
    format!("{}", name)
}
EOF
cat >> reportgen/src/table_18.rs <<'EOF'

pub fn first_long(words: &[&str]) -> Option<usize> {
    words.iter().filter(|w| w.len() > 8).next().map(|w| w.len())
}
EOF
cat >> reportgen/src/table_21.rs <<'EOF'

pub fn ratio(a: f64, b: f64) -> bool {
    a / b == 0.333
}
EOF
cat >> reportgen/src/table_25.rs <<'EOF'

pub fn padded(s: &String) -> String {
    let copy = s.clone();
    copy.to_string()
}
EOF
cat >> reportgen/src/table_29.rs <<'EOF'

pub fn wrap_all(texts: &[&str]) -> usize {
    let mut n = 0;
    for t in texts.iter() {
        n = n + textkit::wrap_001::wrap(t).len();
    }
    if n > 0 { true } else { false };
    n
}
EOF

cargo clippy --all-targets -- -W clippy::pedantic -D clippy::all > "$OUT" 2>&1
echo "capture: cargo clippy exited $?" >&2
