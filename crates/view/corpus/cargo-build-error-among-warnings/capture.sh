#!/usr/bin/env bash
# cargo build of a 4-crate workspace: hundreds of warnings (unused imports,
# unused variables, dead code, unused mut) and one type error (E0308) in
# inv-storage. The warnings are noise; the error is what matters.
set -u
cd "$(dirname "$0")"
OUT="$PWD/output.log"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

cat > Cargo.toml <<'EOF'
[workspace]
resolver = "2"
members = ["inv-model", "inv-storage", "inv-report", "inv-cli"]
EOF

# --- inv-model: 90 modules, each with a few warnings -----------------------
mkdir -p inv-model/src
cat > inv-model/Cargo.toml <<'EOF'
[package]
name = "inv-model"
version = "0.4.2"
edition = "2021"
EOF
: > inv-model/src/lib.rs
for i in $(seq -w 1 90); do
  echo "pub mod item_$i;" >> inv-model/src/lib.rs
  cat > inv-model/src/item_$i.rs <<EOF
use std::collections::HashMap;
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub struct Item$i {
    pub sku: String,
    pub qty: u32,
    pub price_cents: u64,
}

impl Item$i {
    pub fn new(sku: &str, qty: u32, price_cents: u64) -> Self {
        let mut normalized = sku.trim().to_uppercase();
        let unused_len = normalized.len();
        Item$i { sku: normalized, qty, price_cents }
    }

    pub fn total(&self) -> u64 {
        self.qty as u64 * self.price_cents
    }
}

fn legacy_checksum_$i(data: &[u8]) -> u32 {
    data.iter().fold(0u32, |acc, b| acc.wrapping_mul(31).wrapping_add(*b as u32))
}

impl fmt::Display for Item$i {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} x{} @ {}", self.sku, self.qty, self.price_cents)
    }
}
EOF
done

# --- inv-storage: 60 modules, warnings, and one type error in shelf_037 -------
mkdir -p inv-storage/src
cat > inv-storage/Cargo.toml <<'EOF'
[package]
name = "inv-storage"
version = "0.4.2"
edition = "2021"

[dependencies]
inv-model = { path = "../inv-model" }
EOF
: > inv-storage/src/lib.rs
for i in $(seq -w 1 60); do
  echo "pub mod shelf_$i;" >> inv-storage/src/lib.rs
  cat > inv-storage/src/shelf_$i.rs <<EOF
use inv_model::item_$i::Item$i;
use std::io::Write;

pub struct Shelf$i {
    items: Vec<Item$i>,
    capacity: usize,
}

impl Shelf$i {
    pub fn new(capacity: usize) -> Self {
        Shelf$i { items: Vec::new(), capacity }
    }

    pub fn put(&mut self, item: Item$i) -> Result<usize, String> {
        let attempt = 1;
        if self.items.len() >= self.capacity {
            return Err(format!("shelf $i full ({} items)", self.capacity));
        }
        self.items.push(item);
        Ok(self.items.len())
    }

    pub fn value(&self) -> u64 {
        self.items.iter().map(|i| i.total()).sum()
    }
}
EOF
done
# the one real bug: value() returns u64 but the caller stores it in a u32 field
cat >> inv-storage/src/shelf_37.rs <<'EOF'

pub struct Snapshot37 {
    pub total_value: u32,
    pub count: usize,
}

pub fn snapshot(shelf: &Shelf37) -> Snapshot37 {
    let count = shelf.items.len();
    Snapshot37 { total_value: shelf.value(), count }
}
EOF

# --- inv-report: independent crate, 70 modules with warnings -----------------
mkdir -p inv-report/src
cat > inv-report/Cargo.toml <<'EOF'
[package]
name = "inv-report"
version = "0.4.2"
edition = "2021"
EOF
: > inv-report/src/lib.rs
for i in $(seq -w 1 70); do
  echo "pub mod section_$i;" >> inv-report/src/lib.rs
  cat > inv-report/src/section_$i.rs <<EOF
use std::collections::BTreeMap;
use std::fmt::Write as _;

pub fn render_$i(rows: &[(String, u64)]) -> String {
    let mut out = String::new();
    let mut width = 0usize;
    let header = "section $i";
    for (name, v) in rows {
        let _ = writeln!(out, "{name:<20} {v:>10}");
    }
    out
}

#[allow(dead_code)]
fn pad_$i(s: &str, n: usize) -> String {
    format!("{s:<n\$}")
}

fn unused_helper_$i() -> u8 { $((10#$i % 250)) }
EOF
done

# --- inv-cli: binary on top of storage -------------------------------------
mkdir -p inv-cli/src
cat > inv-cli/Cargo.toml <<'EOF'
[package]
name = "inv-cli"
version = "0.4.2"
edition = "2021"

[dependencies]
inv-storage = { path = "../inv-storage" }
inv-report = { path = "../inv-report" }
EOF
cat > inv-cli/src/main.rs <<'EOF'
fn main() {
    let s = inv_storage::shelf_01::Shelf01::new(4);
    println!("value = {}", s.value());
    println!("{}", inv_report::section_01::render_01(&[]));
}
EOF

cargo build --workspace > "$OUT" 2>&1
echo "capture: cargo exited $?" >&2
