#!/usr/bin/env bash
# A CI-style ci.sh that runs six steps and keeps going after a failure:
# 1 lint (python -m compileall), 2 build (make + gcc), 3 unit tests
# (python -m unittest -v: 2 failures and 1 error among ~900 tests), 4
# integration tests (node --test, all pass), 5 package (tar -cvzf), 6 docs.
# Step 3 fails in the middle; steps 4-6 print thousands more lines; the run
# ends with a step summary and exit 1.
set -u
cd "$(dirname "$0")"
OUT="$PWD/output.log"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
export PYTHONDONTWRITEBYTECODE=1 LC_ALL=C NO_COLOR=1

mkdir -p app/warehouse app/tests native js/test docs
cd app
touch warehouse/__init__.py tests/__init__.py
for i in $(seq -w 1 120); do
  cat > warehouse/bin_$i.py <<EOF
"""Storage bin $i."""


def capacity(levels):
    return sum(levels) * $((10#$i % 4 + 1))


def label(row, col):
    return f"B$i-{row:02d}-{col:02d}"
EOF
  cat > tests/test_bin_$i.py <<EOF
import unittest
from warehouse import bin_$i


class Bin${i}Test(unittest.TestCase):
EOF
  for t in 1 2 3 4 5 6 7; do
    cat >> tests/test_bin_$i.py <<EOF
    def test_capacity_$t(self):
        self.assertEqual(bin_$i.capacity([$t, $t]), 2 * $t * $((10#$i % 4 + 1)))

EOF
  done
  echo "    def test_label(self):" >> tests/test_bin_$i.py
  echo "        self.assertEqual(bin_$i.label(3, 14), \"B$i-03-14\")" >> tests/test_bin_$i.py
done
cat > warehouse/picking.py <<'EOF'
def pick_order(stock, order):
    picked = {}
    for sku, qty in order.items():
        have = stock[sku]
        picked[sku] = min(have, qty)
    return picked


def route(aisles):
    return sorted(aisles, key=lambda a: (a[0], -a[1]))
EOF
cat > tests/test_picking.py <<'EOF'
import unittest
from warehouse.picking import pick_order, route


class PickingTest(unittest.TestCase):
    def test_partial_pick(self):
        self.assertEqual(pick_order({"A": 2}, {"A": 5}), {"A": 2})

    def test_unknown_sku_is_skipped(self):
        self.assertEqual(pick_order({"A": 2}, {"A": 1, "Z": 3}), {"A": 1})

    def test_route_is_serpentine(self):
        self.assertEqual(route([(1, 2), (1, 5), (2, 1), (2, 4)]), [(1, 2), (1, 5), (2, 4), (2, 1)])

    def test_route_empty(self):
        self.assertEqual(route([]), [])
EOF
cat > tests/test_labels.py <<'EOF'
import unittest
from warehouse import bin_007


class LabelTest(unittest.TestCase):
    def test_label_zero_padded(self):
        self.assertEqual(bin_007.label(1, 2), "B007-1-2")
EOF

cd ../native
cat > Makefile <<'EOF'
CFLAGS := -O2 -Wall -fPIC
SRCS := $(sort $(wildcard *.c))
libscan.so: $(SRCS:.c=.o)
	$(CC) -shared -o $@ $^
%.o: %.c
	$(CC) $(CFLAGS) -c $< -o $@
EOF
for i in $(seq -w 1 60); do
  echo "int scan_$i(const unsigned char *b, int n) { int s = 0; for (int k = 0; k < n; k++) s += b[k] * $((10#$i)); return s; }" > scan_$i.c
done

cd ../js
cat > package.json <<'EOF'
{ "name": "warehouse-ui", "version": "1.0.0", "private": true }
EOF
for m in $(seq -w 1 12); do
  cat > test/slots_$m.test.js <<EOF
const test = require("node:test");
const assert = require("node:assert");

function slot(row, col) { return row * 100 + col; }

test.describe("slots $m", () => {
EOF
  for t in $(seq 1 20); do
    echo "  test.it(\"maps row $m col $t\", () => assert.strictEqual(slot($((10#$m)), $t), $((10#$m * 100 + t))));" >> test/slots_$m.test.js
  done
  echo "});" >> test/slots_$m.test.js
done

cd ..
cat > gendocs.py <<'EOF'
import pathlib
import sys

out = pathlib.Path("docs")
for src in sorted(pathlib.Path("app/warehouse").glob("*.py")):
    page = out / (src.stem + ".html")
    doc = (src.read_text().split('"""')[1] if '"""' in src.read_text() else src.stem)
    page.write_text(f"<h1>{src.stem}</h1><p>{doc}</p>")
    print(f"docs: wrote {page} ({page.stat().st_size} bytes)")
print(f"docs: {len(list(out.glob('*.html')))} pages")
EOF

cat > ci.sh <<'EOF'
#!/usr/bin/env bash
# Runs every step, records failures, never stops early.
set -u
failed=()
passed=0
step() {
  local n=$1 name=$2; shift 2
  echo "==> [$n/6] $name: $*"
  local t0=$SECONDS
  "$@"
  local rc=$?
  if [ $rc -eq 0 ]; then
    echo "<== [$n/6] $name: ok ($((SECONDS - t0))s)"
    passed=$((passed + 1))
  else
    echo "<== [$n/6] $name: FAILED with exit code $rc ($((SECONDS - t0))s)"
    failed+=("$name")
  fi
}
step 1 lint python3 -m compileall app
step 2 build make -C native
step 3 unit-tests sh -c 'cd app && python3 -m unittest discover -v -s tests -t .'
step 4 integration-tests sh -c 'cd js && node --test --test-reporter=spec'
step 5 package tar -cvzf warehouse.tar.gz app native/libscan.so
step 6 docs python3 gendocs.py
echo "CI summary: $passed passed, ${#failed[@]} failed${failed:+ (${failed[*]})}"
[ ${#failed[@]} -eq 0 ]
EOF
bash ci.sh > "$OUT" 2>&1
echo "capture: ci.sh exited $?" >&2
