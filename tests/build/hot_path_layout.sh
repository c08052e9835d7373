#!/usr/bin/env bash
# tests/build/hot_path_layout.sh — checks that the release lb was linked
# with its request path laid out first (Makefile LB_LDFLAGS,
# bench/hot_path.order): the listed functions must sit together, within
# their own size plus alignment padding, not spread over the 2 MB text. Also
# fails when the list has gone stale (under 80% of its names still in lb):
# run `make hot-path-order` and commit the new list.
#
#   BUILD=build tests/build/hot_path_layout.sh
set -euo pipefail

cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
LB_BIN=${LB_BIN:-$BUILD/lb}
ORDER=${ORDER:-bench/hot_path.order}

fail() { echo "hot_path_layout: FAIL: $*" >&2; exit 1; }
[[ -x $LB_BIN ]] || fail "build $LB_BIN first"
[[ -r $ORDER ]] || fail "$ORDER missing"

# "listed found lowest highest_end total_size" over the listed functions in lb.
read -r listed found low high size < <(
  nm -S -t d --defined-only "$LB_BIN" | awk -v order="$ORDER" '
    BEGIN { while ((getline line < order) > 0) if (line !~ /^#/ && line != "") { want[line] = 1; listed++ } }
    NF == 4 && ($3 == "T" || $3 == "t" || $3 == "W" || $3 == "w") && ($4 in want) && !($4 in seen) {
      seen[$4] = 1; found++
      a = $1 + 0; s = $2 + 0
      if (low == "" || a < low) low = a
      if (a + s > high) high = a + s
      size += s
    }
    END { printf "%d %d %d %d %d\n", listed, found, low, high, size }')

((found * 100 >= listed * 80)) ||
  fail "only $found of the $listed functions in $ORDER are in $LB_BIN: the list is stale (make hot-path-order)"
span=$((high - low))
# Functions are aligned to 16 bytes: allow that per function, plus one page.
allowed=$((size + found * 16 + 4096))
((span <= allowed)) ||
  fail "the $found request-path functions span $span bytes of $LB_BIN, more than the $allowed they need: not linked with $ORDER"
echo "hot_path_layout: $found of $listed request-path functions together in $span bytes ($size of code)"
