#!/usr/bin/env bash
# git merge of a long-lived branch into main in a 3,600-file repo: both sides
# touched 2,400 of the same files in different places, so git prints an
# "Auto-merging" line for each, and among them three content conflicts and
# one modify/delete conflict. Ends with "Automatic merge failed".
set -u
cd "$(dirname "$0")"
OUT="$PWD/output.log"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null LC_ALL=C
export GIT_AUTHOR_NAME="Dev One" GIT_AUTHOR_EMAIL=dev1@example.com
export GIT_COMMITTER_NAME="Dev One" GIT_COMMITTER_EMAIL=dev1@example.com

git init -q -b main repo
cd repo
for d in api core db jobs ui; do
  mkdir -p "src/$d"
  for i in $(seq -w 1 720); do
    {
      echo "// $d module $i"
      echo "export const NAME_$i = \"$d-$i\";"
      for k in 1 2 3 4 5 6 7 8 9 10; do echo "// filler line $k"; done
      echo "export const LIMIT_$i = $((10#$i % 50 + 10));"
    } > "src/$d/m_$i.ts"
  done
done
mkdir -p docs && printf '# Old setup guide\n\nRun make setup.\n' > docs/old-setup.md
git add -A && git commit -q -m "initial import"

git checkout -q -b feature
for d in api core db jobs ui; do
  for i in $(seq -w 1 480); do
    sed -i "1s|.*|// $d module $i (feature: typed names)|" "src/$d/m_$i.ts"
  done
done
sed -i 's/LIMIT_217 = .*/LIMIT_217 = 500;/' src/core/m_217.ts
sed -i 's/LIMIT_044 = .*/LIMIT_044 = 12;/' src/db/m_044.ts
sed -i 's/LIMIT_390 = .*/LIMIT_390 = 0;/' src/ui/m_390.ts
printf '# Old setup guide\n\nRun make setup, then make seed.\n' > docs/old-setup.md
git commit -q -am "feature: typed names, new limits, setup docs"

git checkout -q main
for d in api core db jobs ui; do
  for i in $(seq -w 1 480); do
    sed -i "\$s|.*|export const LIMIT_$i = $((10#$i % 50 + 20));|" "src/$d/m_$i.ts"
  done
done
git rm -q docs/old-setup.md
git commit -q -am "main: raise limits, drop old docs"

git merge --no-edit feature > "$OUT" 2>&1
echo "capture: git exited $?" >&2
