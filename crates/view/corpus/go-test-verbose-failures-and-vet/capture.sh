#!/usr/bin/env bash
# go test -v -count=1 ./... on a 24-package module with ~2,000 tests and
# subtests. Three problems: a table-test failure with got/want in
# pricing (TestRound/half_even), a panic (index out of range) in
# inventory's TestReserve that kills that package's test binary, and a go vet
# Printf error that stops package report from building its tests.
set -u
cd "$(dirname "$0")"
OUT="$PWD/output.log"
WORK="$(mktemp -d)"
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
cd "$WORK"
export GOPATH="$WORK/gopath" GOCACHE="$WORK/gocache" GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local GO111MODULE=on CGO_ENABLED=0

mkdir -p shop && cd shop
cat > go.mod <<'EOF'
module example.com/shop

go 1.19
EOF

pkgs=(accounts audit billing carts catalog checkout coupons currency delivery
      emails fraud giftcards inventory invoices loyalty orders payments pricing
      ratings refunds report returns search taxes)
for p in "${pkgs[@]}"; do
  mkdir -p "$p"
  cat > "$p/$p.go" <<EOF
// Package $p implements the $p service.
package $p

import "strings"

// Normalize trims and lower-cases an identifier.
func Normalize(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// Score weights a quantity.
func Score(q int) int { return q*${#p} + 1 }
EOF
  {
    cat <<EOF
package $p

import "testing"
EOF
    for t in $(seq -w 1 30); do
      cat <<EOF

func TestScore$t(t *testing.T) {
	if got, want := Score($((10#$t))), $((10#$t))*${#p}+1; got != want {
		t.Fatalf("Score($((10#$t))) = %d, want %d", got, want)
	}
}
EOF
    done
    cat <<EOF

func TestNormalize(t *testing.T) {
	cases := []struct{ name, in, want string }{
EOF
    for c in $(seq -w 1 36); do
      echo "		{\"case_$c\", \"  ID-$c \", \"id-$c\"},"
    done
    cat <<'EOF'
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Normalize(c.in); got != c.want {
				t.Errorf("Normalize(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}
EOF
  } > "$p/${p}_test.go"
done

cat > pricing/round.go <<'EOF'
package pricing

import "math"

// Round rounds cents to the nearest even cent on ties (banker's rounding).
func Round(x float64) int64 { return int64(math.Floor(x + 0.5)) }
EOF
cat > pricing/round_test.go <<'EOF'
package pricing

import "testing"

func TestRound(t *testing.T) {
	tests := []struct {
		name string
		in   float64
		want int64
	}{
		{"integer", 12, 12},
		{"below_half", 12.4, 12},
		{"above_half", 12.6, 13},
		{"half_even", 12.5, 12},
		{"half_odd", 13.5, 14},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Round(tt.in); got != tt.want {
				t.Errorf("Round(%v) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}
EOF
cat > inventory/reserve.go <<'EOF'
package inventory

// Reserve takes n units from the first bins that have stock.
func Reserve(bins []int, n int) []int {
	out := make([]int, 0, n)
	for i := 0; n > 0; i++ {
		if bins[i] > 0 {
			bins[i]--
			out = append(out, i)
			n--
		}
	}
	return out
}
EOF
cat > inventory/reserve_test.go <<'EOF'
package inventory

import "testing"

func TestReserve(t *testing.T) {
	bins := []int{1, 0, 2}
	got := Reserve(bins, 4) // more than in stock: should report shortage, not panic
	if len(got) != 3 {
		t.Fatalf("reserved %d units, want 3", len(got))
	}
}
EOF
cat > report/format.go <<'EOF'
package report

import "fmt"

// Line formats one report line.
func Line(sku string, qty int) string {
	return fmt.Sprintf("%-12d %6d", sku, qty)
}
EOF

go test -v -count=1 ./... > "$OUT" 2>&1
echo "capture: go exited $?" >&2
