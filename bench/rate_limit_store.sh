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
# alternately at the local and the redis listener, ROUNDS rounds; reported:
# the median over the rounds of req/s and p99 per store, and the p99
# difference (target: redis p99 <= local p99 + 1 ms on loopback).
# lb: workers $WORKERS, access log off, level warn; one bench/backend HTTP
# port. Redis: redis-server --save "" --appendonly no on a free port.
# Needs: wrk, redis-server.
set -euo pipefail

BUILD=${BUILD:-build}
DUR=${DUR:-4}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-50}
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
for ((round = 1; round <= ROUNDS; round++)); do
  for store in local redis; do
    port=$LOCAL_PORT
    [[ $store == redis ]] && port=$REDIS_LISTENER_PORT
    wrk -t1 -c"$CONNS" -d"${DUR}s" --latency "http://127.0.0.1:$port/" >"$OUT/wrk-$store-$round.txt" 2>&1 || true
    read -r rps p50 p99 errors requests _ < <(parse_wrk "$OUT/wrk-$store-$round.txt")
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$store" "$round" "$rps" "$p50" "$p99" "$errors" >>"$OUT/runs.tsv"
  done
done
keys=$(redis-cli -p "$REDIS_PORT" --scan --pattern 'bench:*' | wc -l)

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
col() { awk -v s="$1" -v c="$2" -F'\t' '$1 == s { print $c }' "$OUT/runs.tsv" | median; }
local_rps=$(col local 3) local_p99=$(col local 5) local_err=$(awk -F'\t' '$1 == "local" { e += $6 } END { print e + 0 }' "$OUT/runs.tsv")
redis_rps=$(col redis 3) redis_p99=$(col redis 5) redis_err=$(awk -F'\t' '$1 == "redis" { e += $6 } END { print e + 0 }' "$OUT/runs.tsv")

echo "### Rate limit store: local vs redis ($(nproc) cores, workers $WORKERS, wrk -c$CONNS, ${DUR}s x $ROUNDS rounds, medians)"
echo
echo "| store | req/s | p99 (ms) | errors |"
echo "|---|---:|---:|---:|"
awk -v r="$local_rps" -v p="$local_p99" -v e="$local_err" 'BEGIN { printf "| local | %.0f | %.2f | %d |\n", r, p / 1000, e }'
awk -v r="$redis_rps" -v p="$redis_p99" -v e="$redis_err" 'BEGIN { printf "| redis | %.0f | %.2f | %d |\n", r, p / 1000, e }'
echo
awk -v a="$local_p99" -v b="$redis_p99" -v ra="$local_rps" -v rb="$redis_rps" 'BEGIN {
  d = (b - a) / 1000
  printf "redis - local: p99 %+.2f ms (target <= +1 ms: %s), req/s %+.1f%%\n", d, (d <= 1 ? "met" : "NOT met"), (ra > 0 ? (rb - ra) * 100 / ra : 0) }'
echo "keys in Redis after the runs: $keys (one per client address: every request counted there)"
