#!/usr/bin/env bash
# Clean run: cargo test on a 3-crate workspace (geo-core, geo-index, geo-cli)
# with ~3,900 unit tests, integration tests, a few ignored and should_panic
# tests, and doctests. Everything passes.
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
members = ["geo-core", "geo-index", "geo-cli"]
EOF

# geo-core: 60 shape modules x 30 tests
mkdir -p geo-core/src geo-core/tests
cat > geo-core/Cargo.toml <<'EOF'
[package]
name = "geo-core"
version = "2.1.0"
edition = "2021"
EOF
echo '//! Geometry primitives.' > geo-core/src/lib.rs
for i in $(seq -w 1 60); do
  echo "pub mod shape_$i;" >> geo-core/src/lib.rs
  {
  cat <<EOF
/// Area of a regular polygon with $((10#$i + 2)) sides.
///
/// \`\`\`
/// let a = geo_core::shape_$i::area(1.0);
/// assert!(a > 0.0);
/// \`\`\`
pub fn area(side: f64) -> f64 {
    let n = $((10#$i + 2)) as f64;
    n * side * side / (4.0 * (std::f64::consts::PI / n).tan())
}

pub fn perimeter(side: f64) -> f64 { $((10#$i + 2)) as f64 * side }

pub fn checked_side(side: f64) -> f64 {
    assert!(side >= 0.0, "negative side: {side}");
    side
}

#[cfg(test)]
mod tests {
    use super::*;
EOF
  for t in $(seq -w 1 30); do
    cat <<EOF
    #[test]
    fn scales_quadratically_$t() {
        let s = $((10#$t)) as f64 * 0.5;
        let r = area(2.0 * s) / area(s);
        assert!((r - 4.0).abs() < 1e-9, "ratio {r}");
        assert_eq!(perimeter(s), $((10#$i + 2)) as f64 * s);
    }
EOF
  done
  cat <<'EOF'
    #[test]
    #[should_panic(expected = "negative side")]
    fn rejects_negative_side() {
        checked_side(-1.0);
    }
}
EOF
  } > geo-core/src/shape_$i.rs
done
{
echo 'use geo_core::*;'
for i in $(seq -w 1 60); do
  cat <<EOF
#[test]
fn shape_${i}_area_positive() { assert!(shape_$i::area(3.0) > 0.0); }
#[test]
fn shape_${i}_perimeter_linear() { assert_eq!(shape_$i::perimeter(2.0), 2.0 * shape_$i::perimeter(1.0)); }
EOF
done
cat <<'EOF'
#[test]
#[ignore = "slow: sweeps 10^8 sides"]
fn exhaustive_sweep() {}
EOF
} > geo-core/tests/shapes.rs

# geo-index: 40 grid modules x 40 tests
mkdir -p geo-index/src
cat > geo-index/Cargo.toml <<'EOF'
[package]
name = "geo-index"
version = "2.1.0"
edition = "2021"

[dependencies]
geo-core = { path = "../geo-core" }
EOF
echo '//! Spatial grid index.' > geo-index/src/lib.rs
for i in $(seq -w 1 40); do
  echo "pub mod grid_$i;" >> geo-index/src/lib.rs
  {
  cat <<EOF
pub const CELL: i64 = $((10#$i * 8));

pub fn cell_of(x: i64, y: i64) -> (i64, i64) {
    (x.div_euclid(CELL), y.div_euclid(CELL))
}

#[cfg(test)]
mod tests {
    use super::*;
EOF
  for t in $(seq -w 1 40); do
    cat <<EOF
    #[test]
    fn cell_roundtrip_$t() {
        let (cx, cy) = cell_of($((10#$t * 13)), -$((10#$t * 7)));
        assert!(cx * CELL <= $((10#$t * 13)) && $((10#$t * 13)) < (cx + 1) * CELL);
        assert!(cy * CELL <= -$((10#$t * 7)) && -$((10#$t * 7)) < (cy + 1) * CELL);
    }
EOF
  done
  echo "}"
  } > geo-index/src/grid_$i.rs
done

# geo-cli: binary with its own tests
mkdir -p geo-cli/src
cat > geo-cli/Cargo.toml <<'EOF'
[package]
name = "geo-cli"
version = "2.1.0"
edition = "2021"

[dependencies]
geo-core = { path = "../geo-core" }
geo-index = { path = "../geo-index" }
EOF
{
cat <<'EOF'
fn parse_side(s: &str) -> Result<f64, String> {
    s.parse::<f64>().map_err(|e| format!("bad side {s:?}: {e}"))
}

fn main() {
    let side = std::env::args().nth(1).map(|s| parse_side(&s)).unwrap_or(Ok(1.0)).unwrap();
    println!("{}", geo_core::shape_01::area(side));
    println!("{:?}", geo_index::grid_01::cell_of(3, 4));
}

#[cfg(test)]
mod tests {
    use super::*;
EOF
for t in $(seq 1 150); do
  cat <<EOF
    #[test]
    fn parses_side_$t() { assert_eq!(parse_side("$t.25"), Ok($t.25)); }
EOF
done
cat <<'EOF'
    #[test]
    #[ignore]
    fn interactive_prompt() {}
}
EOF
} > geo-cli/src/main.rs

cargo test --workspace > "$OUT" 2>&1
echo "capture: cargo exited $?" >&2
