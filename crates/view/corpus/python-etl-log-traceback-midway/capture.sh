#!/usr/bin/env bash
# A long-running Python ETL job (logging to stderr) importing 24,000 records in
# 960 batches. Batch 557 hits a chained exception (decimal.InvalidOperation while
# parsing, raised again in the "12,50 €" fallback) logged with a traceback; the job keeps
# going, logs retry WARNINGs that are noise, and exits 1 with a summary.
set -u
cd "$(dirname "$0")"
OUT="$PWD/output.log"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1

mkdir -p etl
cat > etl/__init__.py <<'EOF'
EOF
cat > etl/parse.py <<'EOF'
from decimal import Decimal, InvalidOperation

CURRENCY_ALIASES = {"EUR": "EUR", "€": "EUR", "USD": "USD", "$": "USD", "GBP": "GBP"}


def parse_amount(raw):
    try:
        return Decimal(raw["amount"]), raw["currency"]
    except InvalidOperation:
        # fall back to "12,50 €" style strings
        number, symbol = raw["amount"].rsplit(" ", 1)
        return Decimal(number.replace(",", ".")), CURRENCY_ALIASES[symbol]


def parse_record(raw):
    amount, currency = parse_amount(raw)
    return {"id": int(raw["id"]), "amount": amount, "currency": currency, "customer": raw["customer"]}
EOF
cat > etl/job.py <<'EOF'
import logging
import random
import sys

from etl.parse import parse_record

log = logging.getLogger("etl.import")


def source_records(n):
    rng = random.Random(42)
    for i in range(n):
        amount = f"{rng.randint(1, 99999) / 100:.2f}"
        currency = rng.choice(["EUR", "USD", "GBP"])
        if i == 13917:
            amount, currency = "1.234,50 CHF", "CHF"
        yield {"id": str(100000 + i), "amount": amount, "currency": currency, "customer": f"C{rng.randint(1, 4000):05d}"}


def main():
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    batch_size = 25
    total = 24000
    ok = failed = 0
    batch = []
    rng = random.Random(7)
    log.info("starting import: source=s3://ledger-exports/2024-06/ records=%d batch_size=%d", total, batch_size)
    for n, raw in enumerate(source_records(total), 1):
        batch.append(raw)
        if len(batch) < batch_size:
            continue
        b = n // batch_size
        log.info("batch %d/%d: fetched %d records (ids %s..%s)", b, total // batch_size, len(batch), batch[0]["id"], batch[-1]["id"])
        for raw in batch:
            try:
                rec = parse_record(raw)
            except Exception:
                failed += 1
                log.exception("batch %d: record %s could not be parsed; skipping", b, raw["id"])
                continue
            ok += 1
        if rng.random() < 0.08:
            log.warning("batch %d: upsert hit lock timeout, retrying (attempt 2/5)", b)
        log.info("batch %d/%d: upserted %d rows into ledger.payments", b, total // batch_size, len(batch))
        log.info("batch %d/%d: checkpoint written (offset=%d)", b, total // batch_size, n)
        batch = []
    log.info("import finished: %d ok, %d failed, %d total", ok, failed, ok + failed)
    if failed:
        log.error("import completed with %d failed record(s); see tracebacks above", failed)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
EOF

python3 -m etl.job > "$OUT" 2>&1
echo "capture: python exited $?" >&2
