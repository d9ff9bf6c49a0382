#!/usr/bin/env bash
# pip install -v --no-index --no-build-isolation of 32 local setuptools
# packages from a monorepo (verbose setuptools build logs: copying files,
# building wheels). The setup.py of "acme-ldap" raises in its custom build
# step (libldap too old), so pip reports "Failed to build acme-ldap"
# while the other wheels build, and the install fails.
# Needs: /tmp/corpus-venv with setuptools and wheel (see corpus README)
set -u
cd "$(dirname "$0")"
OUT="$PWD/output.log"
VENV=/tmp/corpus-venv
[ -x "$VENV/bin/pip" ] || { echo "missing $VENV (see corpus README)" >&2; exit 1; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
unset PIP_FIND_LINKS
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_COLOR=1 PYTHONDONTWRITEBYTECODE=1

names=(auth billing cache cli config crypto db events feeds geo http i18n jobs ldap \
       ledger logging mail media metrics notify orders pdf queue rbac reports \
       search sms storage tasks templates units zip)
for n in "${names[@]}"; do
  d="pkgs/acme-$n"
  mkdir -p "$d/src/acme_$n"
  cat > "$d/pyproject.toml" <<EOF
[build-system]
requires = ["setuptools>=61", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "acme-$n"
version = "3.$((${#n} % 5)).0"
description = "ACME $n component"
requires-python = ">=3.9"

[tool.setuptools.packages.find]
where = ["src"]
EOF
  echo "__version__ = \"3.$((${#n} % 5)).0\"" > "$d/src/acme_$n/__init__.py"
  for m in $(seq -w 1 14); do
    echo "def handler_$m(event):\n    return {'component': '$n', 'handler': $((10#$m)), 'event': event}" | sed 's/\\n/\n/' > "$d/src/acme_$n/mod_$m.py"
  done
done

cat > pkgs/acme-ldap/setup.py <<'EOF'
import subprocess
from setuptools import setup
from setuptools.command.build_py import build_py

REQUIRED = (2, 6, 0)


def ldap_version():
    # pretend pkg-config answered: the build host has an old libldap
    return (2, 5, 13)


class build_py_with_ldap(build_py):
    def run(self):
        found = ldap_version()
        print(f"acme-ldap: checking libldap >= {'.'.join(map(str, REQUIRED))}: found {'.'.join(map(str, found))}")
        if found < REQUIRED:
            raise RuntimeError(
                f"libldap {'.'.join(map(str, found))} is too old; acme-ldap needs >= "
                f"{'.'.join(map(str, REQUIRED))} (apt-get install libldap-dev from bookworm-backports)"
            )
        super().run()


setup(cmdclass={"build_py": build_py_with_ldap})
EOF

"$VENV/bin/pip" install -v --no-index --no-build-isolation --target "$WORK/site" pkgs/* > "$OUT" 2>&1
echo "capture: pip exited $?" >&2
