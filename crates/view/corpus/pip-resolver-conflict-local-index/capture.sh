#!/usr/bin/env bash
# pip install --dry-run against a local package index (python -m http.server
# on 127.0.0.1 serving 1,115 generated wheels): hundreds of "Collecting" /
# "Downloading" lines, resolver backtracking INFO lines, then a
# ResolutionImpossible: acme-billing needs acme-proto<3 while acme-search needs
# acme-proto>=4. Nothing leaves the machine.
# Needs: /tmp/corpus-venv (see corpus README)
set -u
cd "$(dirname "$0")"
OUT="$PWD/output.log"
VENV=/tmp/corpus-venv
[ -x "$VENV/bin/pip" ] || { echo "missing $VENV (see corpus README)" >&2; exit 1; }
WORK="$(mktemp -d)"
SERVER_PID=
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
cd "$WORK"
unset PIP_FIND_LINKS
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_COLOR=1 PYTHONDONTWRITEBYTECODE=1 PIP_CACHE_DIR="$WORK/pip-cache"

cat > make_index.py <<'EOF'
"""Write real wheels and a PEP 503 simple index under ./index/simple."""
import base64
import hashlib
import os
import zipfile

ROOT = "index/simple"


def wheel(name, version, requires=()):
    dist = name.replace("-", "_")
    d = os.path.join(ROOT, name)
    os.makedirs(d, exist_ok=True)
    fn = f"{dist}-{version}-py3-none-any.whl"
    files = {
        f"{dist}/__init__.py": f'__version__ = "{version}"\n',
        f"{dist}-{version}.dist-info/METADATA": "Metadata-Version: 2.1\n"
        f"Name: {name}\nVersion: {version}\n" + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{dist}-{version}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: make_index\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{dist}-{version}.dist-info/RECORD,,")
    files[f"{dist}-{version}.dist-info/RECORD"] = "\n".join(record) + "\n"
    with zipfile.ZipFile(os.path.join(d, fn), "w") as z:
        for path, text in files.items():
            z.writestr(path, text)


libs = [f"acme-lib{i:03d}" for i in range(1, 1101)]
for i, name in enumerate(libs):
    wheel(name, f"1.{i % 7}.{i % 3}")
for v in ("2.9.0", "3.5.1", "4.1.0", "4.2.0"):
    wheel("acme-proto", v)
for v in ("5.0.0", "5.1.0", "5.2.0"):
    wheel("acme-billing", v, ["acme-proto<3", "acme-lib010", "acme-lib020"])
for v in ("7.0.0", "7.1.0", "7.2.0", "7.3.0"):
    wheel("acme-search", v, ["acme-proto>=4", "acme-lib030"])
for v in ("1.0.0", "1.1.0"):
    wheel("acme-gateway", v, ["acme-billing>=5", "acme-search>=7"])
wheel("acme-platform", "2024.6.0", libs[:600] + ["acme-gateway"] + libs[600:])
EOF
"$VENV/bin/python" make_index.py

PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$VENV/bin/python" -m http.server "$PORT" --bind 127.0.0.1 --directory index >/dev/null 2>&1 &
SERVER_PID=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/simple/" >/dev/null && break; sleep 0.1; done

"$VENV/bin/pip" install --dry-run --index-url "http://127.0.0.1:$PORT/simple/" acme-platform > "$OUT" 2>&1
echo "capture: pip exited $?" >&2
