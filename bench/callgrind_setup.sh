# bench/callgrind_setup.sh — sourced by the scripts that profile lb under
# callgrind (bench/instructions.sh, bench/hot_path_order.sh): checks the
# tools and binaries, makes $work (removed on exit with every process in
# $pids), defines die and wait_for, starts one bench/backend with two HTTP
# ports (${ports[0]}, ${ports[1]}) and picks lb_port.
#
# Expects: SCRIPT_NAME (for messages), BUILD, LB_BIN, BACKEND_BIN.

DEADLINE_S=${DEADLINE_S:-60}

die() { echo "$SCRIPT_NAME: $*" >&2; exit 1; }
command -v valgrind >/dev/null || die "valgrind not found (apt-get install valgrind)"
command -v callgrind_annotate >/dev/null || die "callgrind_annotate not found (valgrind)"
command -v curl >/dev/null || die "curl not found"
[[ -x $LB_BIN && -x $BACKEND_BIN ]] || die "build $LB_BIN and $BACKEND_BIN first"

work=$(mktemp -d "${TMPDIR:-/tmp}/lb-$SCRIPT_NAME.XXXXXX")
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Runs "$@" until it succeeds or DEADLINE_S passes.
wait_for() {
  local deadline=$((SECONDS + DEADLINE_S))
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

"$BACKEND_BIN" --http 0,0 >"$work/backend.log" 2>&1 &
pids+=($!)
wait_for grep -q '^ready' "$work/backend.log" || die "backend did not start: $(cat "$work/backend.log")"
mapfile -t ports < <(awk '$1 == "listening" && $2 == "http" { print $3 }' "$work/backend.log")

# A free port for lb: bind-test with bash's /dev/tcp is not possible for
# listening, so pick from the range bench.sh uses and let lb fail loudly.
lb_port=$((20000 + RANDOM % 10000))
