#!/usr/bin/env bash
# Soak test: mixed API traffic for SECONDS (default 600) on CONNECTIONS
# (default 32) with wrk, plus a certificate import (and delete) every few
# seconds through the admin API. Reports throughput, latency percentiles,
# errors of both loops, and the server's resident memory sampled every
# 5 s (after warm-up it must stay flat). Loopback only. Needs `wrk`.
# Run from the repository root:
#   bash crates/server/benches/soak.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
secs=${1:-600}
conns=${2:-32}
cd "$(dirname "$0")/../../.."
. crates/server/benches/setup.sh
trap 'kill "${importer:-}" "${sampler:-}" 2>/dev/null || true; wait "${importer:-}" "${sampler:-}" 2>/dev/null || true; stop_server' EXIT
admin=$(smimed token create --role admin --name soak-admin 2>/dev/null)

# 4 KiB to Dave (outgoing), and one to Alice herself, signed and encrypted,
# which the service can decrypt and verify (incoming).
python3 - "$work" <<'PY'
import sys
text = "".join("Hello,\r\nthis is line %d of your ticket update.\r\n" % i for i in range(100))[:4096]
for name, to in (("out.eml", "Dave@Example.org"), ("self.eml", "alice@example.org")):
    open(f"{sys.argv[1]}/{name}", "w").write(f"From: alice@example.org\r\nTo: {to}\r\nSubject: soak\r\n\r\n{text}")
PY
curl -fs -H "Authorization: Bearer $agent" -H 'Content-Type: message/rfc822' --data-binary @"$work/self.eml" \
  "$base/api/v1/outgoing?group=support" > "$work/in.eml"
report=$(curl -fs -H "Authorization: Bearer $agent" -H 'Content-Type: message/rfc822' --data-binary @"$work/in.eml" \
  "$base/api/v1/incoming") || true
grep -q '"code":"verified"' <<<"$report" || { echo "soak.sh: /incoming does not verify"; exit 1; }

cat > "$work/mix.lua" <<LUA
local function slurp(p) local f = io.open(p, "rb"); local d = f:read("*a"); f:close(); return d end
local out, inc = slurp("$work/out.eml"), slurp("$work/in.eml")
local agent = { ["Authorization"] = "Bearer $agent", ["Content-Type"] = "message/rfc822" }
local json = { ["Authorization"] = "Bearer $agent", ["Content-Type"] = "application/json" }
local admin = { ["Authorization"] = "Bearer $admin" }
local n = 0
request = function()
  n = n + 1
  local k = n % 4
  if k == 0 then return wrk.format("POST", "/api/v1/outgoing?group=support", agent, out)
  elseif k == 1 then return wrk.format("POST", "/api/v1/incoming", agent, inc)
  elseif k == 2 then return wrk.format("POST", "/api/v1/security-options", json,
      '{"group":"support","to":["dave@example.org"],"cc":["alice@example.org"]}')
  else return wrk.format("GET", "/api/v1/certificates?per_page=50", admin) end
end
done = function(summary, latency, requests)
  io.write(string.format("p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
  io.write(string.format("requests=%d non2xx=%d socket_errors=%d\n", summary.requests,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA

# A certificate import every 3 s: Bob's certificate is deleted and imported
# again, so the store really changes under the load.
( ok=0; bad=0
  while true; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $admin" \
      -H 'Content-Type: application/octet-stream' --data-binary @"$pki/bob.pem" "$base/api/v1/certificates")
    [ "$code" = 200 ] && ok=$((ok + 1)) || bad=$((bad + 1))
    fp=$(openssl x509 -in "$pki/bob.pem" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f)
    code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "Authorization: Bearer $admin" "$base/api/v1/certificates/$fp")
    [ "$code" = 200 ] && ok=$((ok + 1)) || bad=$((bad + 1))
    echo "$ok $bad" > "$work/imports"
    sleep 3
  done ) &
importer=$!
( t=0; while kill -0 "$pid" 2>/dev/null; do
    echo "$t $(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)"; sleep 5; t=$((t + 5))
  done ) > "$work/rss" &
sampler=$!
wrk -t2 -c"$conns" -d"${secs}s" --timeout 10s --latency -s "$work/mix.lua" "$base" | tee "$work/wrk.txt"
kill "$importer" "$sampler" 2>/dev/null || true
read -r ok bad < "$work/imports"
echo "import_loop_ok=$ok import_loop_errors=$bad"
echo "server_errors_logged=$(grep -c ' ERROR ' "$work/server.log" || true)"
# Memory: first sample after 60 s of warm-up, the last, and the peak (KiB).
awk -v secs="$secs" '$1 >= 60 && first == "" {first = $2} {last = $2; if ($2 > peak) peak = $2}
  END {printf "rss_kib_after_warmup=%d rss_kib_end=%d rss_kib_peak=%d\n", first, last, peak}' "$work/rss"
awk '$1 % 60 == 0 {printf "%s:%d ", $1, $2 / 1024} END {print "(s:MiB)"}' "$work/rss"
