#!/usr/bin/env bash
# A Python dataset-sync script using real tqdm progress bars (\r rewrites on
# stderr, tqdm.write lines between them): scan, copy and verify 1,800 shard
# files. One manifest entry is wrong, so shard-01733.bin fails its sha256
# check in the verify stage; the script finishes the stage and exits 1.
# Needs: /tmp/corpus-venv with tqdm (pip install tqdm)
set -u
cd "$(dirname "$0")"
OUT="$PWD/output.log"
PY=/tmp/corpus-venv/bin/python
[ -x "$PY" ] || { echo "missing $PY (see corpus README)" >&2; exit 1; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 COLUMNS=100

cat > sync_shards.py <<'EOF'
import hashlib
import json
import os
import shutil
import sys
import time

from tqdm import tqdm

SRC, DST = "remote", "local"


def make_source(n):
    os.makedirs(SRC, exist_ok=True)
    manifest = {}
    for i in range(n):
        name = f"shard-{i:05d}.bin"
        data = hashlib.sha256(str(i).encode()).digest() * 1024  # 32 KiB
        with open(os.path.join(SRC, name), "wb") as f:
            f.write(data)
        manifest[name] = hashlib.sha256(data).hexdigest()
    # the upstream manifest has one stale entry
    manifest["shard-01733.bin"] = hashlib.sha256(b"stale").hexdigest()
    with open(os.path.join(SRC, "MANIFEST.json"), "w") as f:
        json.dump(manifest, f)


def main():
    make_source(1800)
    with open(os.path.join(SRC, "MANIFEST.json")) as f:
        manifest = json.load(f)
    print(f"sync: {len(manifest)} shards listed in {SRC}/MANIFEST.json", file=sys.stderr)

    names = []
    for name in tqdm(sorted(manifest), desc="scan", unit="file", ncols=100):
        st = os.stat(os.path.join(SRC, name))
        names.append((name, st.st_size))
        time.sleep(0.0004)

    os.makedirs(DST, exist_ok=True)
    total = sum(s for _, s in names)
    with tqdm(total=total, desc="copy", unit="B", unit_scale=True, unit_divisor=1024, ncols=100) as bar:
        for name, size in names:
            shutil.copyfile(os.path.join(SRC, name), os.path.join(DST, name))
            bar.update(size)
            tqdm.write(f"copied {name} ({size / 1024:.1f} KiB)", file=sys.stderr)
            time.sleep(0.0004)

    bad = []
    for name, _ in tqdm(names, desc="verify", unit="file", ncols=100):
        with open(os.path.join(DST, name), "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        if digest != manifest[name]:
            bad.append(name)
            tqdm.write(f"ERROR sha256 mismatch for {name}: expected {manifest[name]} got {digest}", file=sys.stderr)
        time.sleep(0.0004)

    print(f"sync: copied {len(names)} shards ({total / 1024 / 1024:.1f} MiB), {len(bad)} failed verification", file=sys.stderr)
    if bad:
        print("sync: FAILED: " + ", ".join(bad), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
EOF

"$PY" sync_shards.py > "$OUT" 2>&1
echo "capture: python exited $?" >&2
