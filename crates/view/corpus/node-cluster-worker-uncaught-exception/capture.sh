#!/usr/bin/env bash
# Node 20 cluster: a primary forks a worker that dispatches 3,000 delivery jobs,
# logging a line per job. At job 1874 the worker dies of an uncaught
# TypeError (reading 'lat' of undefined) with node's source excerpt and stack
# trace; the primary logs the exit, forks a new worker that finishes the rest,
# and the run ends with a summary and exit code 1.
set -u
cd "$(dirname "$0")"
OUT="$PWD/output.log"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
export NO_COLOR=1 NODE_OPTIONS=

mkdir -p lib
cat > lib/geo.js <<'EOF'
"use strict";
const R = 6371;
const rad = (d) => (d * Math.PI) / 180;

function haversine(a, b) {
  const dLat = rad(b.lat - a.lat);
  const dLon = rad(b.lon - a.lon);
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dLon / 2) ** 2;
  return 2 * R * Math.asin(Math.sqrt(h));
}

module.exports = { haversine };
EOF
cat > lib/jobs.js <<'EOF'
"use strict";
function makeJob(n) {
  const seed = (n * 7919) % 1000;
  const job = {
    id: `job-${String(n).padStart(5, "0")}`,
    route: {
      origin: { lat: 52 + seed / 10000, lon: 13 + seed / 20000 },
      dest: { lat: 48 + seed / 9000, lon: 11 + seed / 15000 },
    },
    parcels: 1 + (seed % 9),
  };
  if (n === 1874) delete job.route.origin; // a job imported from the legacy API
  return job;
}
module.exports = { makeJob };
EOF
cat > lib/dispatch.js <<'EOF'
"use strict";
const { haversine } = require("./geo");

function estimate(job) {
  const km = haversine(job.route.origin, job.route.dest);
  return { km, minutes: Math.round(km / 1.2) + 5 * job.parcels };
}

function dispatch(job, log) {
  const eta = estimate(job);
  log(`dispatched ${job.id}: ${job.parcels} parcels, ${eta.km.toFixed(1)} km, eta ${eta.minutes} min`);
  return eta;
}
module.exports = { dispatch };
EOF
cat > server.js <<'EOF'
"use strict";
const cluster = require("node:cluster");
const TOTAL = 3000;

if (cluster.isPrimary) {
  let next = 1, ok = 0, crashed = [];
  const start = () => {
    const w = cluster.fork({ START_AT: String(next) });
    console.log(`primary: forked worker ${w.id} (pid ${w.process.pid}) starting at job ${next}`);
    w.on("message", (m) => { if (m.done) { ok++; next = m.done + 1; } });
    w.on("exit", (code, signal) => {
      if (next > TOTAL) {
        console.log(`primary: worker ${w.id} finished; ${ok} jobs dispatched, ${crashed.length} crashed (${crashed.join(", ")})`);
        process.exitCode = crashed.length ? 1 : 0;
        return;
      }
      console.error(`primary: worker ${w.id} exited with code ${code}${signal ? " signal " + signal : ""} while handling job ${next}; marking it failed and restarting`);
      crashed.push(`job-${String(next).padStart(5, "0")}`);
      next++;
      start();
    });
  };
  console.log(`primary: pid ${process.pid}, ${TOTAL} jobs queued`);
  start();
} else {
  const { makeJob } = require("./lib/jobs");
  const { dispatch } = require("./lib/dispatch");
  const id = cluster.worker.id;
  const log = (msg) => console.log(`[worker ${id}] ${msg}`);
  let n = Number(process.env.START_AT);
  const step = () => {
    if (n > TOTAL) { process.disconnect(); return; }
    const job = makeJob(n);
    dispatch(job, log);
    process.send({ done: n });
    n++;
    setImmediate(step);
  };
  log(`ready, resuming at job ${n}`);
  setImmediate(step);
}
EOF

node server.js > "$OUT" 2>&1
echo "capture: node exited $?" >&2
