#!/usr/bin/env bash
# bench/rate_limit_store.sh — the cost of counting a rate limit in Redis
# (SPEC 17): one lb with two listeners that differ only in their limit's
# "store", "local" and "redis", each limit far above the offered load (a
# token bucket of 1e9 per second: every request is counted, none refused),
# against a local redis-server; the numbers of the README's "Shared rate
# limits" section come from here. `make bench` runs it after bench/bench.sh
# (`make bench BENCH_ONLY=rate-limit` runs it alone).
#
#   BUILD=build bench/rate_limit_store.sh     about 30 s; a markdown table on stdout
#
# Load: wrk -t1 -c$CONNS -d${DUR}s --latency on GET / over keep-alive,
# alternately at the local and the redis listener, ROUNDS rounds, in two
# modes:
#   flat out   a closed loop (each connection sends its next request when the
#              previous answer arrives): the most each store can serve.
#   offered    a fixed offered load of about RATE req/s (bench/lib/paced.lua:
#              each connection pauses a random 0..2*CONNS*1000/RATE ms, mean
#              CONNS*1000/RATE, between requests),
#              below what either store serves flat out: the time a request
#              takes, without the queueing a saturated closed loop adds
#              (at saturation p99 mostly measures the queue: 50 connections
#              at 22,000 req/s is 2.3 ms of waiting on the mean alone).
# Reported: the median over the rounds of req/s and p99 per store and mode,
# and the p99 difference at the offered load (target: redis p99 <= local p99
# + 1 ms on loopback, SPEC 17 / issue 16).
# lb: workers $WORKERS, access log off, level warn; one bench/backend HTTP
# port. Redis: redis-server --save "" --appendonly no on a free port.
# Needs: wrk, redis-server.
set -euo pipefail

BUILD=${BUILD:-build}
DUR=${DUR:-4}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-50}
RATE=${RATE:-10000}   # offered load of the "offered" mode, req/s over all connections
WORKERS=${WORKERS:-1}
H2_STREAMS=${H2_STREAMS:-10}   # read by lib/loadgen.sh (parse_wrk is what is used here)
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
LB="$root/$BUILD/lb"
BACKEND="$root/$BUILD/backend"
STARTUP_DEADLINE_S=10
# shellcheck source=bench/lib/procs.sh
source "$here/lib/procs.sh"
# shellcheck source=bench/lib/loadgen.sh
source "$here/lib/loadgen.sh"

for tool in wrk redis-server; do
  command -v "$tool" >/dev/null || { echo "rate_limit_store: $tool not found (make bench-deps)" >&2; exit 1; }
done
[[ -x $LB && -x $BACKEND ]] || { echo "rate_limit_store: build $LB and $BACKEND first" >&2; exit 1; }

OUT=$(mktemp -d /tmp/lb-rate-limit-store.XXXXXX)
BACKEND_PID="" REDIS_PID="" LB_PID=""
cleanup() {
  stop "$LB_PID" 2
  stop "$REDIS_PID" 2
  stop "$BACKEND_PID" 2
  [[ -n ${KEEP_TMP:-} ]] || rm -rf "$OUT"
}
trap cleanup EXIT

start_http_backend "$OUT"

REDIS_PORT=$(pick_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no >"$OUT/redis.log" 2>&1 &
REDIS_PID=$!
wait_for "$REDIS_PID" redis-server port_open "$REDIS_PORT"

LOCAL_PORT=$(pick_port)
REDIS_LISTENER_PORT=$(pick_port)
limit() {
  echo "{ \"key\": \"client_ip\", \"rate\": 1000000000, \"per\": \"1s\", \"burst\": 1000000000, \"store\": \"$1\" }"
}
cat >"$OUT/lb.json" <<JSON
{ "workers": $WORKERS, "logging": { "level": "warn", "access_log": null },
  "redis": { "address": "127.0.0.1:$REDIS_PORT", "timeout": "50ms", "key_prefix": "bench:" },
  "listeners": [
    { "name": "local", "listen": "127.0.0.1:$LOCAL_PORT", "pool": "p", "forwarded_headers": false,
      "rate_limit": $(limit local) },
    { "name": "redis", "listen": "127.0.0.1:$REDIS_LISTENER_PORT", "pool": "p", "forwarded_headers": false,
      "rate_limit": $(limit redis) } ],
  "pools": [{ "name": "p", "servers": [{ "address": "127.0.0.1:$BACKEND_PORT" }] }] }
JSON
"$LB" -c "$OUT/lb.json" >"$OUT/lb.log" 2>&1 &
LB_PID=$!
wait_for "$LB_PID" lb port_open "$REDIS_LISTENER_PORT"
wait_for "$LB_PID" "lb (redis answering)" \
  bash -c "[[ \$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$REDIS_LISTENER_PORT/) == 200 ]]"

# Warm-up: connections, the script cached in Redis.
for port in "$LOCAL_PORT" "$REDIS_LISTENER_PORT"; do wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$port/" >/dev/null 2>&1 || true; done

: >"$OUT/runs.tsv"
PAUSE_MS=$(( CONNS * 1000 / RATE ))
(( PAUSE_MS >= 1 )) || { echo "rate_limit_store: RATE $RATE too high for $CONNS connections (wrk pauses whole ms)" >&2; exit 1; }
for ((round = 1; round <= ROUNDS; round++)); do
  for mode in flat offered; do
    for store in local redis; do
      port=$LOCAL_PORT
      [[ $store == redis ]] && port=$REDIS_LISTENER_PORT
      script=() script_args=()
      if [[ $mode == offered ]]; then script=(-s "$here/lib/paced.lua") script_args=(-- "$PAUSE_MS"); fi
      run="$OUT/wrk-$mode-$store-$round.txt"
      wrk -t1 -c"$CONNS" -d"${DUR}s" --latency "${script[@]}" "http://127.0.0.1:$port/" "${script_args[@]}" >"$run" 2>&1 || true
      read -r rps p50 p99 errors requests _ < <(parse_wrk "$run")
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode-$store" "$round" "$rps" "$p50" "$p99" "$errors" "$requests" >>"$OUT/runs.tsv"
    done
  done
done
keys=$(redis-cli -p "$REDIS_PORT" --scan --pattern 'bench:*' | wc -l)

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
col() { awk -v s="$1" -v c="$2" -F'\t' '$1 == s { print $c }' "$OUT/runs.tsv" | median; }
errors_of() { awk -v s="$1" -F'\t' '$1 == s { e += $6 } END { print e + 0 }' "$OUT/runs.tsv"; }

echo "### Rate limit store: local vs redis ($(nproc) cores, workers $WORKERS, wrk -c$CONNS, ${DUR}s x $ROUNDS rounds, medians)"
echo
echo "| load | store | req/s | p50 (ms) | p99 (ms) | errors |"
echo "|---|---|---:|---:|---:|---:|"
for mode in flat offered; do
  label="flat out"
  [[ $mode == offered ]] && label="offered ~$RATE/s"
  for store in local redis; do
    awk -v l="$label" -v s="$store" -v r="$(col "$mode-$store" 3)" -v m="$(col "$mode-$store" 4)" \
      -v p="$(col "$mode-$store" 5)" -v e="$(errors_of "$mode-$store")" \
      'BEGIN { printf "| %s | %s | %.0f | %.2f | %.2f | %d |\n", l, s, r, m / 1000, p / 1000, e }'
  done
done
echo
for mode in flat offered; do
  awk -v m="$mode" -v a="$(col "$mode-local" 5)" -v b="$(col "$mode-redis" 5)" \
    -v ra="$(col "$mode-local" 3)" -v rb="$(col "$mode-redis" 3)" 'BEGIN {
    d = (b - a) / 1000
    printf "%s: redis - local p99 %+.2f ms, req/s %+.1f%%", m, d, (ra > 0 ? (rb - ra) * 100 / ra : 0)
    if (m == "offered") printf " (target p99 <= +1 ms: %s)", (d <= 1 ? "met" : "NOT met")
    printf "\n" }'
done
echo "keys in Redis after the runs: $keys (one per client address: every request counted there)"
