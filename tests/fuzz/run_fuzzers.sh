#!/usr/bin/env bash
# tests/fuzz/run_fuzzers.sh — runs each named libFuzzer target (build-fuzz/fuzz_NAME)
# for FUZZ_SECONDS (default 300) on a working corpus seeded from
# tests/fuzz/seeds/NAME, then prints how long each ran and how many inputs it
# executed. Exit 1 when any target found a crash or a broken invariant (the
# input is saved under build-fuzz/artifacts/NAME/; the log under build-fuzz/logs/).
#
#   FUZZ_SECONDS=30 tests/fuzz/run_fuzzers.sh request_parser config
#   FUZZ_PARALLEL=2 ...   run two targets at a time (default 1: one after another)
set -uo pipefail
cd "$(dirname "$0")/../.."
SECONDS_EACH=${FUZZ_SECONDS:-300}
PARALLEL=${FUZZ_PARALLEL:-1}
OUT=build-fuzz
[ $# -gt 0 ] || set -- request_parser response_parser proxy_protocol config h2_request_head path_normalize jwt

# -timeout=60: every input runs in milliseconds, but on a loaded shared
# machine a 10 s timeout fired spuriously (the reported input re-ran in 1 ms).
# Per-target options: input size bounds (deep JSON nesting is slow to parse, so
# the config target stays at 4 KiB; paths at 1 KiB, where every shape of
# escapes, slashes and dots fits and the reference normalizer, which erases
# from the front, stays fast; tokens at 4 KiB, well past an RS512 token with
# a header and claims, below the 16 KiB cut-off verify() refuses unread) and
# dictionaries.
opts_for() {
  case "$1" in
    request_parser|response_parser) echo "-max_len=4096 -dict=tests/fuzz/dict/http.dict" ;;
    proxy_protocol) echo "-max_len=512" ;;
    config) echo "-max_len=4096 -dict=tests/fuzz/dict/json.dict" ;;
    h2_request_head) echo "-max_len=4096 -dict=tests/fuzz/dict/h2.dict" ;;
    path_normalize) echo "-max_len=1024 -dict=tests/fuzz/dict/path.dict" ;;
    jwt) echo "-max_len=4096 -dict=tests/fuzz/dict/jwt.dict" ;;
  esac
}

run_one() {
  local t=$1 bin=$OUT/fuzz_$1
  [ -x "$bin" ] || { echo "$t: $bin not built (make fuzz-build)"; return 1; }
  mkdir -p "$OUT/corpus/$t" "$OUT/artifacts/$t" "$OUT/logs"
  local log=$OUT/logs/$t.log start end rc
  start=$(date +%s)
  # The first corpus dir is written to; the checked-in seeds are only read.
  # shellcheck disable=SC2046
  "$bin" -max_total_time="$SECONDS_EACH" -timeout=60 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$OUT/artifacts/$t/" $(opts_for "$t") \
    "$OUT/corpus/$t" "tests/fuzz/seeds/$t" >"$log" 2>&1
  rc=$?
  end=$(date +%s)
  local runs cov
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  if [ $rc -eq 0 ]; then
    echo "$t: clean for $((end - start)) s, ${runs:-?} inputs, ${cov:-cov: ?}, corpus $(ls "$OUT/corpus/$t" | wc -l) files"
  else
    echo "$t: FAILED after $((end - start)) s (exit $rc); log $log; artifacts in $OUT/artifacts/$t/"
    grep -m5 -E 'invariant failed|ERROR: |runtime error:|SUMMARY' "$log" | sed 's/^/    /'
  fi
  return $rc
}

status=0
if [ "$PARALLEL" -gt 1 ]; then
  # Each job leaves its exit status in a file: `wait` cannot report a job twice.
  for t in "$@"; do
    while [ "$(jobs -rp | wc -l)" -ge "$PARALLEL" ]; do wait -n; done
    (run_one "$t"; echo $? >"$OUT/logs/$t.rc") &
  done
  wait
  for t in "$@"; do [ "$(cat "$OUT/logs/$t.rc" 2>/dev/null)" = 0 ] || status=1; done
else
  for t in "$@"; do run_one "$t" || status=1; done
fi
exit $status
