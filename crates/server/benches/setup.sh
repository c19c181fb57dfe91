# Sourced by load.sh and soak.sh from the repository root: builds the
# release binary, makes a fresh data dir from the test PKI (Alice's P12 as
# the signer, Dave as an RSA-2048 recipient, group "support" sending as
# Alice, S/MIME enabled), creates an agent token, starts `smimed serve` on a
# free loopback port and waits for it. Sets: bin, work, pki, agent, port,
# base, pid; defines smimed(). The caller's EXIT trap should call
# stop_server.
command -v wrk >/dev/null || { echo "$0: needs wrk (apt-get install wrk)"; exit 1; }
cargo build --release -q -p smimed
bin=${CARGO_TARGET_DIR:-target}/release/smimed
work=$(mktemp -d /tmp/smimed-bench.XXXXXX)
pki=tests/data/pki
smimed() { "$bin" --data-dir "$work/data" "$@"; }
stop_server() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"; }
printf '%s' p12-secret > "$work/p12.pass"
smimed cert import --passphrase-file "$work/p12.pass" "$pki/alice.p12" >/dev/null
smimed cert import "$pki/dave-dn.pem" >/dev/null   # RSA-2048 recipient
smimed group set support --email alice@example.org >/dev/null
smimed enable >/dev/null
agent=$(smimed token create --role agent --name bench-agent 2>/dev/null)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
SMIMED_LOG=warn "$bin" --data-dir "$work/data" serve --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.1; done
