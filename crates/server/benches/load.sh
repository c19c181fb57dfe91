#!/usr/bin/env bash
# Load test of POST /api/v1/outgoing (sign+encrypt, 4 KiB, RSA-2048, one
# recipient) with wrk: 32 connections for 30 s, on loopback only. Prints
# throughput, latency percentiles, errors and the server's peak resident
# memory, and, side by side in the same run, the machine's RSA-2048 signing
# ceiling (`openssl speed -multi <cores> rsa2048`, before and after wrk;
# each message needs one signature) and the ratio to the higher of the two.
# Needs `wrk` (Debian package). Run from the repository root:
#   bash crates/server/benches/load.sh [SECONDS] [CONNECTIONS] [WRK_THREADS]
set -euo pipefail
secs=${1:-30}
conns=${2:-32}
threads=${3:-2}
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
# Read whole before grep: `curl | grep -q` fails under pipefail whenever grep
# quits before curl's last write (SIGPIPE).
sent=$(curl -fs -H "Authorization: Bearer $token" -H 'Content-Type: message/rfc822' --data-binary @"$work/msg.eml" \
  "http://127.0.0.1:$port/api/v1/outgoing?group=support") || true
grep -q 'enveloped-data' <<<"$sent" || { echo "load.sh: /outgoing does not sign+encrypt"; exit 1; }

cores=$(nproc)
ceiling() {
  openssl speed -seconds 10 -multi "$cores" -mr rsa2048 2>/dev/null |
    awk -F: '/^\+F2:/ {v=$4} END {printf "%.0f", v}'
}
before=$(ceiling)
echo "openssl_speed_multi${cores}_rsa2048_sign_per_s_before=$before"

peak=0
( while kill -0 "$pid" 2>/dev/null; do
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    echo "$rss"; sleep 0.5
  done ) > "$work/rss" &
sampler=$!
wrk -t"$threads" -c"$conns" -d"${secs}s" --latency -s "$work/post.lua" "http://127.0.0.1:$port/api/v1/outgoing?group=support" | tee "$work/wrk.txt"
kill "$sampler" 2>/dev/null || true
peak=$(sort -n "$work/rss" | tail -1)
echo "server_peak_rss_mib=$((peak / 1024))"
after=$(ceiling)
echo "openssl_speed_multi${cores}_rsa2048_sign_per_s_after=$after"
rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk.txt")
python3 -c "import sys; r, a, b = map(float, sys.argv[1:]); c = max(a, b); print(f'requests_per_s={r:.0f} ceiling={c:.0f} ratio={100 * r / c:.1f}%')" "$rps" "$before" "$after"
