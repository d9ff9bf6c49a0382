#!/usr/bin/env bash
# A Python data-migration script (stdlib sqlite3, print-based progress) copies
# 60 tables from a legacy schema, printing a line per batch. On the last
# table it hits a duplicate e-mail and dies with an uncaught
# sqlite3.IntegrityError: the traceback is the very end of the output.
set -u
cd "$(dirname "$0")"
OUT="$PWD/output.log"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1

cat > migrate.py <<'EOF'
"""Copy every legacy_* table into the new schema, batch by batch."""
import sqlite3

TABLES = [f"t{i:02d}" for i in range(1, 60)] + ["users"]
BATCH = 200


def seed(db):
    for t in TABLES[:-1]:
        db.execute(f"CREATE TABLE legacy_{t} (id INTEGER PRIMARY KEY, payload TEXT)")
        db.executemany(f"INSERT INTO legacy_{t} VALUES (?, ?)", ((i, f"{t}-{i}") for i in range(1, 7001 + 37 * int(t[1:]))))
    db.execute("CREATE TABLE legacy_users (id INTEGER PRIMARY KEY, email TEXT)")
    rows = [(i, f"user{i}@example.com") for i in range(1, 9001)]
    rows[8123] = (8124, "user17@example.com")  # a duplicate the old schema allowed
    db.executemany("INSERT INTO legacy_users VALUES (?, ?)", rows)


def create_target(db):
    for t in TABLES[:-1]:
        db.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
    db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE)")


def copy_table(db, t):
    total = db.execute(f"SELECT COUNT(*) FROM legacy_{t}").fetchone()[0]
    done = 0
    cur = db.execute(f"SELECT * FROM legacy_{t} ORDER BY id")
    while True:
        batch = cur.fetchmany(BATCH)
        if not batch:
            break
        insert_batch(db, t, batch)
        done += len(batch)
        print(f"[{t}] copied {done}/{total} rows ({100 * done // total}%)")
    return total


def insert_batch(db, t, rows):
    db.executemany(f"INSERT INTO {t} VALUES (?, ?)", rows)


def main():
    db = sqlite3.connect(":memory:")
    seed(db)
    create_target(db)
    print(f"migration: {len(TABLES)} tables to copy")
    grand = 0
    for n, t in enumerate(TABLES, 1):
        print(f"migration: table {n}/{len(TABLES)}: legacy_{t} -> {t}")
        grand += copy_table(db, t)
        db.commit()
    print(f"migration: done, {grand} rows")


if __name__ == "__main__":
    main()
EOF

python3 migrate.py > "$OUT" 2>&1
echo "capture: python exited $?" >&2
