#!/usr/bin/env bash
# bench/instructions.sh — user-space instructions lb spends per proxied
# request, counted by valgrind (callgrind), which is deterministic where
# timings on this shared machine are not. What `make instructions` runs.
#
#   BUILD=build bench/instructions.sh
#
# Method: lb (workers 1, one http listener, round robin over 2 bench/backend
# ports, access log off, forwarded_headers off as in bench.sh) runs under
# `valgrind --tool=callgrind`; curl sends N requests to it, then lb is stopped
# and callgrind's total is read. Done for N = N1 and N = N2 and reported as
# (total(N2) - total(N1)) / (N2 - N1), which cancels start-up, warm-up and
# shutdown. Two modes:
#   keep-alive        one curl process, N URLs: one connection, N requests
#   conn-per-request  the same with "Connection: close": a new connection each
#   keep-alive, 10 / 1000 routes   keep-alive requests that match the last of
#                     10 or 1,000 routes (100 host names, one path_prefix each)
#   keep-alive, access list of 10 / 10000 ranges   a listener deny list that
#                     does not hold the client (every request is checked)
# Heap allocations per request come from the same runs: the calls to malloc
# (callgrind's call counts for malloc), differenced the same way. System
# calls per request (keep-alive and conn-per-request): lb run natively under
# `strace -f -c`, N1 and N2 requests, differenced the same way.
#
# Environment: BUILD (default build), LB_BIN, BACKEND_BIN, N1 (200), N2 (2200),
# LISTENER_EXTRA (JSON members added to the listener, e.g.
# ', "tracing": {"sample_percent": 100}'), KEEPALIVE_ONLY=1 (only the first mode).
# Needs valgrind, strace and curl. Prints a markdown table.
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
LB_BIN=${LB_BIN:-$BUILD/lb}
BACKEND_BIN=${BACKEND_BIN:-$BUILD/backend}
N1=${N1:-200}
N2=${N2:-2200}
SCRIPT_NAME=instructions
# shellcheck source=bench/callgrind_setup.sh
source bench/callgrind_setup.sh
command -v strace >/dev/null || die "strace not found (apt-get install strace)"

# routes_json N: N routes over 100 host names (exact), each with its own
# path_prefix, all to pool "web"; the request the route modes send matches
# the last one, so a linear scan would compare every route.
routes_json() {
  local n=$1 i sep=""
  printf '['
  for ((i = 0; i < n; i++)); do
    printf '%s{ "host": "h%d.example.com", "path_prefix": "/api/v%d/", "pool": "web" }' "$sep" $((i % 100)) "$i"
    sep=","
  done
  printf ']'
}

# access_json N: a deny list of N /24 ranges in 10.0.0.0/8 (none holds the
# client, 127.0.0.1, so every request is checked against all and admitted).
access_json() {
  local n=$1 i sep=""
  printf '{ "deny": ['
  for ((i = 0; i < n; i++)); do
    printf '%s"10.%d.%d.0/24"' "$sep" $((i / 256 % 256)) $((i % 256))
    sep=","
  done
  printf '] }'
}

# write_config ROUTES [RANGES]: lb.json with that many routes (0 = none)
# and a listener access list of RANGES ranges (0 = none).
write_config() {
  local routes="[]" access="null"
  (($1 > 0)) && routes=$(routes_json "$1")
  ((${2:-0} > 0)) && access=$(access_json "$2")
  write_lb_config "$routes" "$access" "${LISTENER_EXTRA:-}"
}
write_config 0


# measure N close(0|1) [HOST PATH] → "instructions malloc_calls"
measure() {
  local n=$1 close=$2 host=${3:-} path=${4:-/} out
  out=$work/cg.$n.$close.${host:-none}
  callgrind_requests "$out" "$n" "$close" "$host" "$path" --compress-strings=no --compress-pos=no
  local total mallocs
  total=$(awk '/^(summary|totals):/ { print $2; exit }' "$out")
  # Calls into malloc: "calls=K ..." lines following a cfn=...malloc line.
  mallocs=$(awk '/^cfn=(.* )?malloc$/ { want = 1; next } want && /^calls=/ { split($1, a, "="); s += a[2] } { want = 0 } END { print s + 0 }' "$out")
  echo "$total $mallocs"
}

# syscalls N close(0|1) → the system calls lb made (strace -c total),
# natively (not under valgrind); nothing when strace could not count them
# (e.g. ptrace not allowed here).
syscalls() {
  local out=$work/strace.$1.$2
  (strace_requests "$out" "$1" "$2" "" /) >/dev/null 2>&1 || true
  [[ -f $out ]] && awk '$NF == "total" && $(NF - 1) ~ /^[0-9]+$/ { print $(NF - 1); exit }' "$out"
}
per_request() {  # total(N1) total(N2) → per request, or — when either is missing
  if [[ -z $1 || -z $2 ]]; then echo "—"; return; fi
  awk -v a="$1" -v b="$2" -v n=$((N2 - N1)) 'BEGIN { printf "%.2f", (b - a) / n }'
}

echo "| mode | instructions / request | malloc calls / request | system calls / request |"
echo "|---|---:|---:|---:|"
closes="0 1"
[[ ${KEEPALIVE_ONLY:-0} == 1 ]] && closes=0
for close in $closes; do
  read -r t1 m1 < <(measure "$N1" "$close")
  read -r t2 m2 < <(measure "$N2" "$close")
  s1=$(syscalls "$N1" "$close" || true)
  s2=$(syscalls "$N2" "$close" || true)
  mode=keep-alive
  ((close)) && mode=conn-per-request
  echo "| $mode | $(((t2 - t1) / (N2 - N1))) | $(per_request "$m1" "$m2") | $(per_request "$s1" "$s2") |"
done
[[ ${KEEPALIVE_ONLY:-0} == 1 ]] && exit 0
# Routing cost (SPEC 10): keep-alive requests matching the last of 10
# routes, then the last of 1,000 routes.
for routes in 10 1000; do
  write_config "$routes"
  last=$((routes - 1))
  read -r t1 m1 < <(measure "$N1" 0 "h$((last % 100)).example.com" "/api/v$last/items")
  read -r t2 m2 < <(measure "$N2" 0 "h$((last % 100)).example.com" "/api/v$last/items")
  echo "| keep-alive, $routes routes | $(((t2 - t1) / (N2 - N1))) | $(per_request "$m1" "$m2") |"
done
# Access rules (SPEC 11): a listener deny list of 10, then 10,000 ranges.
for ranges in 10 10000; do
  write_config 0 "$ranges"
  read -r t1 m1 < <(measure "$N1" 0)
  read -r t2 m2 < <(measure "$N2" 0)
  echo "| keep-alive, access list of $ranges ranges | $(((t2 - t1) / (N2 - N1))) | $(per_request "$m1" "$m2") |"
done
