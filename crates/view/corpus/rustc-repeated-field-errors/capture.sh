#!/usr/bin/env bash
# rustc invoked directly on one 3,000-line file after a field rename
# (Order.qty -> Order.quantity): the same E0609 repeated dozens of times, two
# distinct errors (E0599, E0061) and many unused-variable warnings.
set -u
cd "$(dirname "$0")"
OUT="$PWD/output.log"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
export RUST_BACKTRACE=0

{
cat <<'EOF'
#![allow(dead_code)]
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct Order {
    pub id: u64,
    pub sku: String,
    pub quantity: u32,
    pub unit_price: u64,
}

impl Order {
    pub fn subtotal(&self) -> u64 {
        self.quantity as u64 * self.unit_price
    }
}

pub fn apply_discount(total: u64, pct: u8) -> u64 {
    total - total * pct as u64 / 100
}
EOF
for i in $(seq 1 330); do
  if [ $((i % 4)) -eq 1 ] && [ "$i" -lt 200 ]; then field=qty; else field=quantity; fi
  cat <<EOF

/// Rule $i of the pricing table.
pub fn rule_$i(order: &Order, book: &HashMap<String, u64>) -> u64 {
    let base = book.get(&order.sku).copied().unwrap_or(order.unit_price);
    let tier = if order.$field > $((i % 50 + 1)) { $((i % 20)) } else { 0 };
    let audit_tag = format!("rule-$i-{}", order.id);
    apply_discount(base * order.quantity as u64, tier)
}
EOF
done
cat <<'EOF'

pub fn total(orders: &[Order]) -> u64 {
    orders.iter().map(|o| o.subtotal_with_tax()).sum()
}

pub fn checkout(orders: &[Order]) -> u64 {
    apply_discount(total(orders))
}
EOF
} > pricing.rs

rustc --edition 2021 --crate-type lib pricing.rs > "$OUT" 2>&1
echo "capture: rustc exited $?" >&2
