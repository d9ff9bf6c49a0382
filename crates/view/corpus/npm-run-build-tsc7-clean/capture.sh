#!/usr/bin/env bash
# Clean run: `npm run build` in a 1,100-module TypeScript app, compiled with
# TypeScript 7 (the native tsc) with --listEmittedFiles and
# --extendedDiagnostics, followed by npm pre/post scripts (clean, a bundle size
# report). Everything succeeds.
# Needs: npm install --prefix /tmp/corpus-npm typescript   (TypeScript 7.x)
set -u
cd "$(dirname "$0")"
OUT="$PWD/output.log"
NM=/tmp/corpus-npm/node_modules
[ -x "$NM/.bin/tsc" ] || { echo "missing $NM/.bin/tsc (see corpus README)" >&2; exit 1; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
export NO_COLOR=1

mkdir -p app/src/features app/scripts
cd app
ln -s "$NM" node_modules
cat > package.json <<'EOF'
{
  "name": "fleet-console",
  "version": "4.8.1",
  "private": true,
  "scripts": {
    "prebuild": "node scripts/clean.js",
    "build": "tsc -p . --listEmittedFiles --extendedDiagnostics",
    "postbuild": "node scripts/report.js"
  }
}
EOF
cat > tsconfig.json <<'EOF'
{
  "compilerOptions": {
    "strict": true,
    "target": "ES2022",
    "module": "commonjs",
    "declaration": true,
    "rootDir": "src",
    "outDir": "dist",
    "types": []
  },
  "include": ["src"]
}
EOF
cat > scripts/clean.js <<'EOF'
const fs = require("fs");
fs.rmSync("dist", { recursive: true, force: true });
console.log("clean: removed dist/");
EOF
cat > scripts/report.js <<'EOF'
const fs = require("fs");
const path = require("path");
let files = 0, bytes = 0;
(function walk(d) {
  for (const e of fs.readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) walk(p);
    else if (p.endsWith(".js")) { files++; bytes += fs.statSync(p).size; }
  }
})("dist");
console.log(`report: ${files} modules, ${(bytes / 1024).toFixed(1)} KiB of JavaScript in dist/`);
console.log("report: build OK");
EOF
cat > src/index.ts <<'EOF'
export * as vehicles from "./features/vehicle_0001";
EOF
for i in $(seq -w 1 1100); do
  cat > src/features/vehicle_$i.ts <<EOF
export type Status$i = "idle" | "moving" | "charging" | "offline";

export interface Vehicle$i {
  readonly id: string;
  status: Status$i;
  batteryPct: number;
  lastSeen: Date;
}

export function isLow$i(v: Vehicle$i, threshold = $((10#$i % 30 + 10))): boolean {
  return v.status !== "charging" && v.batteryPct < threshold;
}

export function summarize$i(fleet: ReadonlyArray<Vehicle$i>): Record<Status$i, number> {
  const out: Record<Status$i, number> = { idle: 0, moving: 0, charging: 0, offline: 0 };
  for (const v of fleet) out[v.status]++;
  return out;
}
EOF
done

npm run build > "$OUT" 2>&1
echo "capture: npm exited $?" >&2
