# bench/callgrind_setup.sh — sourced by the scripts that profile lb under
# callgrind (bench/instructions.sh, bench/hot_path_order.sh): checks the
# tools and binaries, makes $work (removed on exit with every process in
# $pids), defines die, wait_for, write_lb_config, callgrind_requests and
# strace_requests, starts one bench/backend with two HTTP ports (${ports[0]},
# ${ports[1]}) and picks lb_port.
#
# Expects: SCRIPT_NAME (for messages), BUILD, LB_BIN, BACKEND_BIN.

# shellcheck shell=bash
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

# write_lb_config [ROUTES_JSON] [ACCESS_JSON] [LISTENER_EXTRA]: $work/lb.json
# — one worker, one http listener on lb_port, round robin over the two
# backend ports, access log off, forwarded_headers off (as in bench.sh).
write_lb_config() {
  cat >"$work/lb.json" <<JSON
{
  "workers": 1,
  "shutdown_timeout": "1s",
  "logging": { "level": "warn", "error_log": "-", "access_log": null },
  "listeners": [
    { "name": "http", "listen": "127.0.0.1:$lb_port", "protocol": "http", "pool": "web",
      "forwarded_headers": false, "routes": ${1:-[]}, "access": ${2:-null} ${3:-} }
  ],
  "pools": [
    { "name": "web", "algorithm": "round_robin",
      "servers": [ { "address": "127.0.0.1:${ports[0]}" }, { "address": "127.0.0.1:${ports[1]}" } ],
      "keepalive": { "max_idle": 64, "idle_timeout": "60s" } }
  ]
}
JSON
  "$LB_BIN" --check -c "$work/lb.json" >/dev/null || die "generated config rejected"
}

# callgrind_requests OUT N CLOSE HOST PATH [VALGRIND_OPTION...]: lb under
# callgrind (profile written to OUT), N requests from one curl (CLOSE=1: a
# new connection each; HOST: a Host field, or empty), then lb stopped.
callgrind_requests() {
  local out=$1
  shift
  lb_requests_under "$1" "$2" "$3" "$4" valgrind --tool=callgrind "${@:5}" --callgrind-out-file="$out"
}

# strace_requests OUT N CLOSE HOST PATH: the same with lb under `strace -f
# -c -U calls,name` (the count of each system call, all threads, and their
# total, written to OUT).
strace_requests() {
  local out=$1
  shift
  lb_requests_under "$1" "$2" "$3" "$4" strace -f -c -U calls,name -o "$out"
}

# lb_requests_under N CLOSE HOST PATH WRAPPER...: lb run as WRAPPER... lb -c
# lb.json, N requests from one curl, then lb stopped.
lb_requests_under() {
  local n=$1 close=$2 host=$3 path=$4 vpid i
  shift 4
  "$@" "$LB_BIN" -c "$work/lb.json" >"$work/lb.log" 2>&1 &
  vpid=$!
  wait_for curl -s -o /dev/null "http://127.0.0.1:$lb_port/" || die "lb under $1 did not answer: $(tail -5 "$work/lb.log")"
  : >"$work/urls"
  for ((i = 0; i < n; i++)); do echo "url = \"http://127.0.0.1:$lb_port$path\"" >>"$work/urls"; done
  local args=(-s -K "$work/urls")
  ((close)) && args+=(-H 'Connection: close')
  [[ -n $host ]] && args+=(-H "Host: $host")
  curl "${args[@]}" >/dev/null
  # Stop lb itself: under valgrind that is $vpid, under strace its only child.
  local child=""
  # (The file has no newline, so read reports EOF even when it got a pid.)
  if [[ -r /proc/$vpid/task/$vpid/children ]]; then read -r child _ <"/proc/$vpid/task/$vpid/children" || true; fi
  kill -TERM "${child:-$vpid}"
  wait "$vpid" || true
}
