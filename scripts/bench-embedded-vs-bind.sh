#!/usr/bin/env bash
# Queries/s of the embedded DNS server against BIND 9 (and Knot) on this machine, same zone,
# same queries, per-query logging off, loaded by dnsperf over UDP on 127.0.0.1.
# Results and how to read them: docs/benchmarks.md, "Embedded DNS server vs BIND".
#
#   scripts/bench-embedded-vs-bind.sh [seconds per run] [records] [rounds]
#
# Each round runs embedded, BIND, Knot one after the other (alternating, so a noisy neighbour
# hits all alike). Prints one line per run: server, qps, server CPU seconds, qps per CPU second,
# and dnsperf's average latency. Not part of the test suite. Needs dnsperf, named, knotd
# (scripts/install-test-deps.sh installs them).
set -euo pipefail
SECONDS_PER_RUN="${1:-15}"
RECORDS="${2:-1000}"
ROUNDS="${3:-3}"
CLIENTS="${CLIENTS:-8}"
THREADS="${THREADS:-1}"
SERVER_THREADS="${SERVER_THREADS:-2}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="$(mktemp -d /tmp/dnsfb-bench.XXXXXX)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
wait_ready() { # port
  for _ in $(seq 100); do
    dig +short +time=1 +tries=1 @127.0.0.1 -p "$1" host-1.bench.test A >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "server on port $1 did not answer" >&2; return 1
}
run() { # name port pid
  local before after ticks qps lat
  before=$(cpu_ticks "$3")
  out=$(dnsperf -s 127.0.0.1 -p "$2" -d "$DIR/queries.txt" -l "$SECONDS_PER_RUN" -c "$CLIENTS" -T "$THREADS" -q 500 2>&1)
  after=$(cpu_ticks "$3")
  ticks=$((after - before))
  qps=$(echo "$out" | awk '/Queries per second/ {print $4}')
  lat=$(echo "$out" | awk '/Average Latency/ {print $4}')
  lost=$(echo "$out" | awk '/Queries lost/ {print $3}')
  python3 - "$1" "$qps" "$ticks" "$(getconf CLK_TCK)" "$lat" "$lost" "$SECONDS_PER_RUN" <<'EOF'
import sys
name, qps, ticks, hz, lat, lost, secs = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6], float(sys.argv[7])
cpu = ticks / hz
print(f"{name:9} qps {qps:9.0f}  server-cpu {100*cpu/secs:5.0f} %  queries/cpu-s {qps*secs/max(cpu,0.01):9.0f}  avg-latency-ms {1000*float(lat):6.3f}  lost {lost}")
EOF
}

cargo build --release -q -p dnsfailback-provider-embedded --example bench_server --manifest-path "$ROOT/Cargo.toml"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/bench_server"

# The embedded server writes the zone file and the query file BIND and Knot use.
EPORT=$(free_port)
TOKIO_WORKER_THREADS="$SERVER_THREADS" "$BIN" "127.0.0.1:$EPORT" "$RECORDS" 100000 "$DIR" >/dev/null &
EPID=$!; PIDS+=("$EPID")
wait_ready "$EPORT"

BPORT=$(free_port)
mkdir -p "$DIR/bind"
cat > "$DIR/bind/named.conf" <<EOF
options {
  directory "$DIR/bind"; pid-file "$DIR/bind/named.pid"; session-keyfile "$DIR/bind/s.key";
  listen-on port $BPORT { 127.0.0.1; }; listen-on-v6 { none; };
  recursion no; dnssec-validation no; notify no; querylog no;
};
controls { };
logging { category default { null; }; category queries { null; }; };
zone "bench.test" { type primary; file "$DIR/bench.test.zone"; };
EOF
named -f -n "$SERVER_THREADS" -c "$DIR/bind/named.conf" &
BPID=$!; PIDS+=("$BPID")
wait_ready "$BPORT"

KPORT=$(free_port)
mkdir -p "$DIR/knot/db"
cat > "$DIR/knot/knot.conf" <<EOF
server:
  rundir: "$DIR/knot"
  listen: 127.0.0.1@$KPORT
  udp-workers: $SERVER_THREADS
  tcp-workers: 1
  background-workers: 1
database:
  storage: "$DIR/knot/db"
log:
  - target: stderr
    any: error
zone:
  - domain: bench.test
    file: "$DIR/bench.test.zone"
    zonefile-load: whole
    journal-content: none
EOF
knotd -c "$DIR/knot/knot.conf" 2>/dev/null &
KPID=$!; PIDS+=("$KPID")
wait_ready "$KPORT"

echo "# $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# dnsperf -c $CLIENTS -T $THREADS -q 500 -l $SECONDS_PER_RUN, $RECORDS records, server threads $SERVER_THREADS"
for _ in $(seq "$ROUNDS"); do
  run embedded "$EPORT" "$EPID"
  run bind "$BPORT" "$BPID"
  run knot "$KPORT" "$KPID"
done
