# tests/fuzz/campaign_lib.sh — sourced by the campaigns against a running lb
# (run_http_campaign.sh, run_h2_campaign.sh): the backend and lb processes,
# their cleanup, the sanitizer options, and the end-of-run checks. The caller
# sets LB_BUILD (build-san or build) and DIR (its temp dir) first.

BACKEND_PID= LB_PID=
campaign_cleanup() {
  [ -n "$LB_PID" ] && kill -KILL "$LB_PID" 2>/dev/null
  [ -n "$BACKEND_PID" ] && kill -TERM "$BACKEND_PID" 2>/dev/null
  wait 2>/dev/null
}
trap campaign_cleanup EXIT

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Waits until a line matching $2 is in file $1 (10 s).
wait_for_line() {
  for _ in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  return 1
}

# The test backend on two ephemeral http ports: PORTS[0], PORTS[1].
start_backend() {
  "$LB_BUILD/backend" --http 0,0 >"$DIR/backend.out" 2>"$DIR/backend.err" &
  BACKEND_PID=$!
  wait_for_line "$DIR/backend.out" '^ready' || { echo "backend did not start"; cat "$DIR/backend.err"; return 1; }
  mapfile -t PORTS < <(awk '/^listening http/ {print $3}' "$DIR/backend.out")
}

# lb on $DIR/lb.json (stdout/stderr in $DIR/lb.out, lb.err); waits until
# 127.0.0.1:$1 accepts.
start_lb() {
  "$LB_BUILD/lb" -c "$DIR/lb.json" >"$DIR/lb.out" 2>"$DIR/lb.err" &
  LB_PID=$!
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && break; sleep 0.05; done
}

# SIGTERM to lb if it still runs (20 s to exit). Sets LB_ALIVE (1: it was
# running) and LB_RC (its exit status).
stop_lb() {
  LB_ALIVE=1
  kill -0 "$LB_PID" 2>/dev/null || LB_ALIVE=0
  if [ $LB_ALIVE = 1 ]; then
    kill -TERM "$LB_PID"
    for _ in $(seq 400); do kill -0 "$LB_PID" 2>/dev/null || break; sleep 0.05; done
  fi
  wait "$LB_PID" 2>/dev/null
  LB_RC=$?
  LB_PID=
}

# Prints the top of an ASan/UBSan/LSan report in lb's stderr; 1 when there is one.
sanitizer_report() {
  grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$DIR/lb.err" || return 0
  echo "FAIL: sanitizer report in lb's stderr ($DIR/lb.err); top of the report:"
  grep -m1 -A24 -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$DIR/lb.err" | sed 's/^/    /'
  return 1
}
