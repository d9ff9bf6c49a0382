#!/usr/bin/env bash
# tsc --build --verbose --listEmittedFiles --pretty (TypeScript 5) on a
# 12-package monorepo with project references, 80 modules each. In package
# "widgets", 20 modules still read `user.name` after the User type renamed it
# to `displayName` (TS2339 repeated 20 times), plus one TS2345. tsc 5.9 still
# emits (noEmitOnError is off) and builds the later packages, listing files,
# and ends with "Found 21 errors.".
# Needs: npm install --prefix /tmp/corpus-npm-ts5 typescript@5
set -u
cd "$(dirname "$0")"
OUT="$PWD/output.log"
TSC=/tmp/corpus-npm-ts5/node_modules/.bin/tsc
[ -x "$TSC" ] || { echo "missing $TSC (see corpus README)" >&2; exit 1; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

# package -> dependencies (project references)
declare -A deps=(
  [types]="" [utils]="types" [http]="utils" [auth]="http types" [store]="types utils"
  [i18n]="utils" [widgets]="types store" [charts]="widgets utils" [forms]="widgets i18n"
  [search]="http store" [admin]="forms charts auth" [telemetry]="http"
)
order=(types utils http auth store i18n widgets charts forms search admin telemetry)

refs_json() {
  local out="" d
  for d in $1; do out="$out{ \"path\": \"../$d\" }, "; done
  echo "[${out%, }]"
}

for p in "${order[@]}"; do
  mkdir -p "packages/$p/src"
  cat > "packages/$p/tsconfig.json" <<EOF
{
  "compilerOptions": {
    "composite": true,
    "declaration": true,
    "strict": true,
    "target": "ES2020",
    "module": "commonjs",
    "rootDir": "src",
    "outDir": "dist"
  },
  "include": ["src"],
  "references": $(refs_json "${deps[$p]}")
}
EOF
done
cat > tsconfig.json <<EOF
{
  "files": [],
  "references": [$(for p in "${order[@]}"; do printf '{ "path": "packages/%s" }, ' "$p"; done | sed 's/, $//')]
}
EOF

cat > packages/types/src/user.ts <<'EOF'
export interface User {
  id: number;
  /** renamed from `name` in the profile redesign */
  displayName: string;
  email: string;
  roles: ReadonlyArray<"admin" | "editor" | "viewer">;
}
EOF

for p in "${order[@]}"; do
  for i in $(seq -w 1 80); do
    f="packages/$p/src/${p}_$i.ts"
    {
      for d in ${deps[$p]}; do
        [ "$d" = types ] && echo "import type { User } from \"../../types/src/user\";"
      done
      cat <<EOF
export interface ${p^}Options$i {
  enabled: boolean;
  retries: number;
  label?: string;
}

export function make${p^}$i(opts: Partial<${p^}Options$i> = {}): ${p^}Options$i {
  return { enabled: true, retries: $((10#$i % 5)), ...opts };
}
EOF
      if [ "$p" = widgets ] && [ $((10#$i % 4)) -eq 2 ]; then
        cat <<EOF

export function badge$i(user: User): string {
  return \`\${user.name} <\${user.email}>\`;
}
EOF
      fi
      if [ "$p" = widgets ] && [ "$i" = 57 ]; then
        cat <<'EOF'

export function retryLabel(n: number): string {
  return "retries: " + n;
}
export const label57 = retryLabel("3");
EOF
      fi
    } > "$f"
  done
done

"$TSC" --build --verbose --listEmittedFiles --pretty > "$OUT" 2>&1
echo "capture: tsc exited $?" >&2
