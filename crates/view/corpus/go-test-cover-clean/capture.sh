#!/usr/bin/env bash
# Clean run: go vet ./... then go test -v -cover -count=1 ./... on a 30-package
# module (~2,100 tests and subtests, t.Log output, one t.Skip per package).
# Everything passes; each package ends with PASS, coverage and "ok".
set -u
cd "$(dirname "$0")"
OUT="$PWD/output.log"
WORK="$(mktemp -d)"
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
cd "$WORK"
export GOPATH="$WORK/gopath" GOCACHE="$WORK/gocache" GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local GO111MODULE=on CGO_ENABLED=0

mkdir -p telemetry && cd telemetry
cat > go.mod <<'EOF'
module example.com/telemetry

go 1.19
EOF
for n in $(seq -w 1 30); do
  p="collector$n"
  mkdir -p "$p"
  cat > "$p/$p.go" <<EOF
// Package $p aggregates samples for shard $n.
package $p

import "sort"

// Percentile returns the q-th percentile (0..100) of xs using nearest rank.
func Percentile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	idx := int(q/100*float64(len(s)-1) + 0.5)
	return s[idx]
}

// Bucket maps a latency in ms to one of $((10#$n + 4)) buckets.
func Bucket(ms int) int {
	b := ms / 50
	if b >= $((10#$n + 4)) {
		b = $((10#$n + 3))
	}
	return b
}
EOF
  {
    cat <<EOF
package $p

import (
	"fmt"
	"testing"
)

func TestPercentile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3}
	for q := 0; q <= 100; q += 5 {
		q := q
		t.Run(fmt.Sprintf("q%03d", q), func(t *testing.T) {
			got := Percentile(xs, float64(q))
			if got < 1 || got > 5 {
				t.Fatalf("Percentile(%d) = %v out of range", q, got)
			}
		})
	}
}

func TestBucket(t *testing.T) {
	for ms := 0; ms < 1200; ms += 25 {
		ms := ms
		t.Run(fmt.Sprintf("ms%04d", ms), func(t *testing.T) {
			if b := Bucket(ms); b < 0 || b > $((10#$n + 3)) {
				t.Errorf("Bucket(%d) = %d", ms, b)
			}
		})
	}
	t.Logf("shard $n: %d buckets checked", 1200/25)
}

func TestLiveScrape(t *testing.T) {
	t.Skip("needs a running scrape target (set TELEMETRY_TARGET)")
}
EOF
  } > "$p/${p}_test.go"
done

{ go vet ./... && go test -v -cover -count=1 ./...; } > "$OUT" 2>&1
echo "capture: go exited $?" >&2
