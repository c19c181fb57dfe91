#!/usr/bin/env bash
# Load test of POST /api/v1/outgoing (sign+encrypt, 4 KiB, RSA-2048, one
# recipient) with wrk: 32 connections for 30 s, on loopback only. Prints
# throughput, latency percentiles, errors and the server's peak resident
# memory. Needs `wrk` (Debian package). Run from the repository root:
#   bash crates/server/benches/load.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
secs=${1:-30}
conns=${2:-32}
cd "$(dirname "$0")/../../.."
. crates/server/benches/setup.sh
trap stop_server EXIT
token=$agent

# A 4 KiB message to Dave.
python3 - "$work/msg.eml" <<'PY'
import sys
body = ("Hello Dave,\r\nthis is line %d of your ticket update.\r\n" * 1)
text = "".join(body % i for i in range(100))[:4096]
open(sys.argv[1], "w").write("From: alice@example.org\r\nTo: Dave@Example.org\r\nSubject: load\r\n\r\n" + text)
PY
cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $token"
wrk.headers["Content-Type"] = "message/rfc822"
local f = io.open("$work/msg.eml", "rb")
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  io.write(string.format("p50_ms=%.2f p99_ms=%.2f\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
LUA
curl -fs -H "Authorization: Bearer $token" -H 'Content-Type: message/rfc822' --data-binary @"$work/msg.eml" \
  "http://127.0.0.1:$port/api/v1/outgoing?group=support" | grep -q 'enveloped-data' || { echo "load.sh: /outgoing does not sign+encrypt"; exit 1; }

peak=0
( while kill -0 "$pid" 2>/dev/null; do
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    echo "$rss"; sleep 0.5
  done ) > "$work/rss" &
sampler=$!
wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$work/post.lua" "http://127.0.0.1:$port/api/v1/outgoing?group=support" | tee "$work/wrk.txt"
kill "$sampler" 2>/dev/null || true
peak=$(sort -n "$work/rss" | tail -1)
echo "server_peak_rss_mib=$((peak / 1024))"
