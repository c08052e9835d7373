#!/usr/bin/env bash
# bench/conf_load.sh — how long loading a configuration takes as it grows:
# `lb --check` and a real start (until /healthz answers, then SIGTERM) on one
# pool with N servers (numeric addresses), for N in $SIZES (default
# "5000 20000 100000"), plus `--check` on JSON nested DEPTH deep (rejected
# with an error), plus `--check` on a pool of $NAMES (default 200) host
# names that each take $SLOW_MS (default 180) ms to fail, asked of the test
# DNS server tests/integration/dns_server.py through "dns.resolvers" (lookups
# run concurrently, so this costs about one lookup, not NAMES of them). Prints one line per
# measurement; linear loading means the time per server stays flat as N grows.
#
#   bench/conf_load.sh [LB_BIN]        (default build/lb)
set -euo pipefail
LB=${1:-build/lb}
SIZES=${SIZES:-"5000 20000 100000"}
DEPTH=${DEPTH:-40000}
NAMES=${NAMES:-200}
SLOW_MS=${SLOW_MS:-180}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }

gen() {  # gen N ADMIN_PORT LISTEN_PORT > file
  local n=$1 admin=$2 listen=$3
  printf '{"workers":1,"admin":{"listen":"127.0.0.1:%s"},' "$admin"
  printf '"logging":{"level":"error"},'
  printf '"listeners":[{"name":"web","listen":"127.0.0.1:%s","pool":"big"}],' "$listen"
  printf '"pools":[{"name":"big","servers":['
  awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) {
      printf "%s{\"address\":\"10.%d.%d.%d:%d\"}", (i ? "," : ""), int(i / 65536) % 256, int(i / 256) % 256, i % 256, 8000 + i % 7 } }'
  printf ']}]}\n'
}

for n in $SIZES; do
  admin=$(free_port); listen=$(free_port)
  gen "$n" "$admin" "$listen" > "$TMP/c$n.json"
  t0=$(now); "$LB" -c "$TMP/c$n.json" --check > /dev/null; t1=$(now)
  printf 'servers=%-7s check %6.2fs' "$n" "$(echo "$t1 - $t0" | bc)"
  t0=$(now)
  "$LB" -c "$TMP/c$n.json" 2> "$TMP/err$n" & pid=$!
  until curl -fs "http://127.0.0.1:$admin/healthz" > /dev/null 2>&1; do
    kill -0 "$pid" 2> /dev/null || { echo; echo "lb exited:"; cat "$TMP/err$n"; exit 1; }
    sleep 0.02
  done
  t1=$(now)
  kill -TERM "$pid"; wait "$pid" || true
  printf '   start (until /healthz answers) %6.2fs\n' "$(echo "$t1 - $t0" | bc)"
done

python3 -c "import sys; d=int(sys.argv[1]); print('{\"workers\":' + '['*d + ']'*d + '}')" "$DEPTH" > "$TMP/deep.json"
t0=$(now); rc=0; "$LB" -c "$TMP/deep.json" --check > /dev/null 2> "$TMP/deep.err" || rc=$?; t1=$(now)
printf 'nesting=%s check %6.2fs exit %d: %s\n' "$DEPTH" "$(echo "$t1 - $t0" | bc)" "$rc" "$(head -c 200 "$TMP/deep.err")"

echo "{\"delay_ms\": $SLOW_MS, \"names\": {}}" > "$TMP/zone.json"
python3 tests/integration/dns_server.py "$TMP/zone.json" "$TMP/queries.log" > "$TMP/dns.port" &
DNS_PID=$!
trap 'kill $DNS_PID 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 100); do [ -s "$TMP/dns.port" ] && break; sleep 0.05; done
gen 1 "$(free_port)" "$(free_port)" | python3 -c '
import json, sys
c = json.load(sys.stdin)
c["dns"] = {"resolvers": ["127.0.0.1:" + sys.argv[2]], "timeout": "5s"}
c["pools"][0]["servers"] = [{"address": "h%d.invalid:80" % i} for i in range(int(sys.argv[1]))]
print(json.dumps(c))' "$NAMES" "$(cat "$TMP/dns.port")" > "$TMP/dns.json"
t0=$(now); rc=0
"$LB" -c "$TMP/dns.json" --check > /dev/null 2> "$TMP/dns.err" || rc=$?
t1=$(now)
printf 'names=%s (%sms each, unresolvable) check %6.2fs exit %d, %d errors\n' "$NAMES" "$SLOW_MS" \
  "$(echo "$t1 - $t0" | bc)" "$rc" "$(wc -l < "$TMP/dns.err")"
