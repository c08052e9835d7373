#!/usr/bin/env bash
# bench/hot_path_order.sh — writes bench/hot_path.order: the functions of lb
# that a proxied HTTP/1.1 request runs, one mangled name per line, costliest
# first. The release build links lb with lld and this list as its
# --symbol-ordering-file, so those functions sit together at the start of
# the text instead of spread over 2 MB: a request then touches about half as
# many code pages and fewer instruction-cache lines (README, "Data-path
# measurements"). What `make hot-path-order` runs; run it again when the
# request path changes much. A stale list is harmless: names that no longer
# exist are skipped (--no-warn-symbol-ordering) and new functions are merely
# left where the linker puts them.
#
#   BUILD=build bench/hot_path_order.sh [OUT]
#
# Method (as bench/instructions.sh): lb (workers 1, one http listener, round
# robin over 2 bench/backend ports) runs under callgrind with names left
# mangled; curl sends N1, then N2 requests, once on one keep-alive
# connection and once with a new connection per request. A function is on
# the request path when its instruction count grows with the number of
# requests: the difference between the N2 and N1 runs cancels start-up and
# shutdown. Only functions in lb itself are listed (libuv, libc and OpenSSL
# are shared libraries the list cannot move).
#
# Environment: BUILD (default build), LB_BIN, BACKEND_BIN, N1 (100), N2 (600).
# Needs valgrind (callgrind_annotate) and curl.
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
LB_BIN=${LB_BIN:-$BUILD/lb}
BACKEND_BIN=${BACKEND_BIN:-$BUILD/backend}
OUT=${1:-bench/hot_path.order}
N1=${N1:-100}
N2=${N2:-600}
SCRIPT_NAME=hot_path_order
# shellcheck source=bench/callgrind_setup.sh
source bench/callgrind_setup.sh

write_lb_config
lb_real=$(readlink -f "$LB_BIN")

# profile N CLOSE → per-function self cost, "cost<TAB>mangled name", lb's own functions only.
profile() {
  local n=$1 close=$2 out
  out=$work/cg.$n.$close
  callgrind_requests "$out" "$n" "$close" "" / --demangle=no
  # Lines look like "  1,234 (0.5%)  file:function [object]".
  callgrind_annotate --threshold=100 --inclusive=no --auto=no "$out" |
    awk -v obj="[$lb_real]" '
      $NF == obj && $1 ~ /^[0-9,]+$/ {
        cost = $1; gsub(",", "", cost)
        name = $0; sub(/ \[[^]]*\]$/, "", name); sub(/^.*:/, "", name)
        print cost "\t" name
      }'
}

for close in 0 1; do
  profile "$N1" "$close" >"$work/a.$close"
  profile "$N2" "$close" >"$work/b.$close"
  # Per-request cost: what grew between the N1 and N2 runs (at least one
  # instruction per request, so one-off work that varies a little drops out).
  awk -F'\t' -v n=$((N2 - N1)) 'NR == FNR { a[$2] = $1; next } ($1 - a[$2]) >= n { print ($1 - a[$2]) / n "\t" $2 }' \
    "$work/a.$close" "$work/b.$close" | sort -t$'\t' -k1,1gr >"$work/hot.$close"
done
# Keep-alive functions first, then those only a new connection adds.
{
  echo "# lb's request-path functions, costliest first (bench/hot_path_order.sh; generated, do not edit)."
  cut -f2 "$work/hot.0" "$work/hot.1" | awk '!seen[$0]++'
} >"$OUT"
echo "hot_path_order: $(($(wc -l <"$OUT") - 1)) functions written to $OUT"
