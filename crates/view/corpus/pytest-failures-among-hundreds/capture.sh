#!/usr/bin/env bash
# pytest -v --color=yes on a 2,400-test suite: 3 failures (a dict assert diff,
# a KeyError deep in library code, one parametrized case) and 1 fixture setup
# ERROR, among passing tests and a DeprecationWarning summary.
# Needs: python3 -m venv /tmp/corpus-venv && /tmp/corpus-venv/bin/pip install pytest
set -u
cd "$(dirname "$0")"
OUT="$PWD/output.log"
PY=/tmp/corpus-venv/bin/python
[ -x "$PY" ] || { echo "missing $PY (see corpus README)" >&2; exit 1; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
export PYTHONDONTWRITEBYTECODE=1

mkdir -p shop tests
cat > shop/__init__.py <<'EOF'
EOF
cat > shop/cart.py <<'EOF'
import warnings


class Cart:
    def __init__(self, catalog):
        self.catalog = catalog
        self.lines = {}

    def add(self, sku, qty=1):
        if sku not in self.catalog:
            raise ValueError(f"unknown sku {sku}")
        self.lines[sku] = self.lines.get(sku, 0) + qty
        return self

    def total(self):
        return sum(self.catalog[s]["price"] * q for s, q in self.lines.items())

    def summary(self):
        return {s: {"qty": q, "price": self.catalog[s]["price"]} for s, q in self.lines.items()}

    def legacy_total(self):
        warnings.warn("Cart.legacy_total() is deprecated; use total()", DeprecationWarning, stacklevel=2)
        return self.total()
EOF
cat > shop/tax.py <<'EOF'
RATES = {"DE": 0.19, "FR": 0.20, "NL": 0.21, "IT": 0.22}


def _lookup(region):
    return RATES[region.upper()]


def rate_for(address):
    return _lookup(address["country"])


def with_tax(amount_cents, address):
    return round(amount_cents * (1 + rate_for(address)))
EOF
cat > tests/conftest.py <<'EOF'
import pytest


@pytest.fixture
def catalog():
    return {f"SKU-{i:04d}": {"price": 100 + i} for i in range(500)}


@pytest.fixture
def warehouse_conn():
    raise ConnectionRefusedError("warehouse db at 127.0.0.1:5433 refused connection")
EOF
for m in $(seq -w 1 24); do
  cat > tests/test_cart_$m.py <<EOF
import pytest
from shop.cart import Cart


@pytest.mark.parametrize("i", range(80))
def test_add_then_total_$m(catalog, i):
    sku = f"SKU-{(i * $((10#$m))) % 500:04d}"
    cart = Cart(catalog).add(sku, 2)
    assert cart.total() == 2 * catalog[sku]["price"]


@pytest.mark.parametrize("q", [1, 2, 3, 5, 8, 13, 21, 34, 55, 89])
def test_quantity_accumulates_$m(catalog, q):
    cart = Cart(catalog).add("SKU-0001", q).add("SKU-0001", q)
    assert cart.lines["SKU-0001"] == 2 * q


def test_legacy_total_$m(catalog):
    assert Cart(catalog).add("SKU-0002").legacy_total() == 102
EOF
done
cat > tests/test_summary.py <<'EOF'
from shop.cart import Cart


def test_summary_shape(catalog):
    cart = Cart(catalog).add("SKU-0003", 2).add("SKU-0007")
    assert cart.summary() == {
        "SKU-0003": {"qty": 2, "price": 103},
        "SKU-0007": {"qty": 1, "price": 107.0, "currency": "EUR"},
    }


def test_reserve_stock(catalog, warehouse_conn):
    assert warehouse_conn.reserve("SKU-0003", 1)
EOF
cat > tests/test_tax.py <<'EOF'
import pytest
from shop.tax import with_tax


@pytest.mark.parametrize("country,expected", [
    ("DE", 1190), ("FR", 1200), ("NL", 1210), ("IT", 1220), ("de", 1190), ("AT", 1200),
])
def test_with_tax(country, expected):
    assert with_tax(1000, {"country": country}) == expected


@pytest.mark.parametrize("amount", range(0, 10000, 50))
def test_tax_is_monotonic(amount):
    assert with_tax(amount + 50, {"country": "DE"}) >= with_tax(amount, {"country": "DE"})


def test_rounding_half_even():
    assert with_tax(50, {"country": "NL"}) == 61
EOF

"$PY" -m pytest -v --color=yes -p no:cacheprovider tests > "$OUT" 2>&1
echo "capture: pytest exited $?" >&2
