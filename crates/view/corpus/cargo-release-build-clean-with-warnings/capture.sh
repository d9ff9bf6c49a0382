#!/usr/bin/env bash
# Clean run with noise: cargo build --release of a 3-crate workspace that
# succeeds but prints ~360 warnings: #[deprecated] API uses, unused results,
# and build-script `cargo:warning=` lines. Nothing failed; the proof is the
# "Finished `release` profile" line at the end.
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
members = ["mediakit", "pipeline", "transcoder"]
EOF

mkdir -p mediakit/src
cat > mediakit/Cargo.toml <<'EOF'
[package]
name = "mediakit"
version = "0.3.0"
edition = "2021"
build = "build.rs"
EOF
cat > mediakit/build.rs <<'EOF'
fn main() {
    for lib in ["libavcodec", "libavformat", "libswscale", "libopus", "libvpx"] {
        println!("cargo:warning={lib} not found via pkg-config; using the bundled stub");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
EOF
{
  echo '//! Media primitives.'
  for i in $(seq -w 1 60); do
    cat <<EOF

#[deprecated(since = "0.3.0", note = "use \`decode_frame_v2\` which reports the timestamp")]
pub fn decode_frame_$i(buf: &[u8]) -> Result<usize, String> {
    if buf.is_empty() { Err("empty".into()) } else { Ok(buf.len() / $((10#$i))) }
}

pub fn decode_frame_v2_$i(buf: &[u8]) -> Result<(usize, u64), String> {
    Ok((buf.len(), $((10#$i)) as u64))
}
EOF
  done
} > mediakit/src/lib.rs

for c in pipeline transcoder; do
  mkdir -p "$c/src"
  cat > "$c/Cargo.toml" <<EOF
[package]
name = "$c"
version = "0.3.0"
edition = "2021"

[dependencies]
mediakit = { path = "../mediakit" }
EOF
  {
    echo "//! $c stages."
    for i in $(seq -w 1 60); do
      cat <<EOF

pub fn stage_$i(input: &[u8]) -> usize {
    mediakit::decode_frame_$i(input);
    let n = mediakit::decode_frame_$i(input).unwrap_or(0);
    n + mediakit::decode_frame_v2_$i(input).map(|(a, _)| a).unwrap_or(0)
}
EOF
    done
  } > "$c/src/lib.rs"
done

cargo build --release --workspace > "$OUT" 2>&1
echo "capture: cargo exited $?" >&2
