#!/usr/bin/env bash
# npm install --offline --foreground-scripts --loglevel verbose of an app with
# 96 local tarball dependencies (packed with `npm pack`), each with an install
# script that prints its build steps. The install script of
# @fleet/geo-native fails (missing PROJ headers, exit 1), so npm rolls back
# and reports the lifecycle failure with its verbose error log.
set -u
cd "$(dirname "$0")"
OUT="$PWD/output.log"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
export npm_config_cache="$WORK/npm-cache" NO_COLOR=1

pkgs=()
for area in admin billing catalog fleet geo maps orders routing; do
  for part in api cache client config events jobs model native schema store ui utils; do
    pkgs+=("$area-$part")
  done
done

mkdir -p tarballs app
for p in "${pkgs[@]}"; do
  d="src/$p"
  mkdir -p "$d"
  cat > "$d/package.json" <<EOF
{
  "name": "@fleet/$p",
  "version": "2.$((${#p} % 7)).$((${#p} % 3))",
  "main": "index.js",
  "scripts": { "install": "node build.js" }
}
EOF
  echo "module.exports = { name: '@fleet/$p' };" > "$d/index.js"
  if [ "$p" = geo-native ]; then
    cat > "$d/build.js" <<'EOF'
const fs = require("fs");
console.log("geo-native: configuring for node " + process.version + " (" + process.arch + ")");
const steps = ["projection.cc", "geodesic.cc", "tiles.cc", "rtree.cc", "bindings.cc"];
for (const s of steps) console.log("geo-native:   CXX(target) Release/obj.target/geo/src/" + s.replace(".cc", ".o"));
const header = "/usr/include/proj.h";
if (!fs.existsSync(header)) {
  console.error("geo-native: ../src/projection.cc:14:10: fatal error: proj.h: No such file or directory");
  console.error("geo-native:    14 | #include <proj.h>");
  console.error("geo-native: compilation terminated.");
  console.error("geo-native: build failed: PROJ development headers not found (install libproj-dev)");
  process.exit(1);
}
EOF
  else
    cat > "$d/build.js" <<EOF
const name = "$p";
const n = ${#p} * 2;
console.log(name + ": generating " + n + " bindings");
for (let i = 1; i <= n; i++) console.log(name + ":   [" + i + "/" + n + "] codegen " + name + "_" + i + ".js");
console.log(name + ": done");
EOF
  fi
  (cd "$d" && npm pack --pack-destination "$WORK/tarballs" >/dev/null 2>&1)
done

cd app
{
  echo '{ "name": "fleet-app", "version": "1.0.0", "private": true, "dependencies": {'
  first=1
  for p in "${pkgs[@]}"; do
    f=$(ls ../tarballs/fleet-$p-*.tgz)
    [ $first = 1 ] || echo ","
    first=0
    printf '  "@fleet/%s": "file:%s"' "$p" "$f"
  done
  echo
  echo '} }'
} > package.json

npm install --offline --foreground-scripts --loglevel verbose > "$OUT" 2>&1
echo "capture: npm exited $?" >&2
