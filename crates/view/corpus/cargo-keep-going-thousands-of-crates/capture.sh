#!/usr/bin/env bash
# cargo build --keep-going of a vendored monorepo with 2,400 small path
# crates, run in a pseudo-terminal (script -qec) with colour, so the output has
# ANSI escapes, CRLF line ends and cargo's \r progress bar. One crate
# (media-metrics-1187) has a borrow-checker error; the build keeps going.
set -u
cd "$(dirname "$0")"
OUT="$PWD/output.log"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
export RUST_BACKTRACE=0 CARGO_TERM_COLOR=always CARGO_TERM_PROGRESS_WHEN=always CARGO_TERM_PROGRESS_WIDTH=110

domains=(auth billing catalog search payments shipping notify media ledger audit)
kinds=(core proto client server cache codec store ledger metrics util)
names=()
for i in $(seq 1 2400); do
  d=${domains[$((i % 10))]}
  k=${kinds[$(((i / 10) % 10))]}
  names+=("$d-$k-$(printf %04d "$i")")
done

{
  echo '[workspace]'
  echo 'resolver = "2"'
  echo 'members = ["app", "vendor/*"]'
} > Cargo.toml

mkdir -p vendor app/src
for i in $(seq 1 2400); do
  n=${names[$((i - 1))]}
  mkdir -p "vendor/$n/src"
  cat > "vendor/$n/Cargo.toml" <<EOF
[package]
name = "$n"
version = "$((i % 3)).$((i % 17)).$((i % 7))"
edition = "2021"
EOF
  cat > "vendor/$n/src/lib.rs" <<EOF
pub fn id() -> u32 { $i }
pub fn name() -> &'static str { "$n" }
EOF
done

# the broken crate: mutable borrow while an immutable borrow is alive
broken=${names[1186]}   # media-metrics-1187
cat >> "vendor/$broken/src/lib.rs" <<'EOF'

pub fn settle(entries: &mut Vec<i64>) -> i64 {
    let first = &entries[0];
    entries.push(-*first);
    *first + entries.iter().sum::<i64>()
}
EOF

{
  cat <<'EOF'
[package]
name = "app"
version = "0.1.0"
edition = "2021"

[dependencies]
EOF
  for n in "${names[@]}"; do echo "$n = { path = \"../vendor/$n\" }"; done
} > app/Cargo.toml
first=${names[0]//-/_}
echo "fn main() { println!(\"{} {}\", $first::id(), $first::name()); }" > app/src/main.rs

script -qec "stty cols 120 rows 40; cargo build --keep-going" /dev/null > "$OUT" 2>&1
echo "capture: script exited $?" >&2
