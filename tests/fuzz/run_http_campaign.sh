#!/usr/bin/env bash
# tests/fuzz/run_http_campaign.sh — the HTTP reset campaign: builds the
# sanitizer lb + backend (build-san) and the traffic tool, starts the backend
# (two http ports, its /ws route answers WebSocket 101s) and lb on free ports
# with a config generated in a temp dir, runs http_reset_fuzz for
# FUZZ_SECONDS (default 300), stops lb with SIGTERM and fails when:
#   - the tool says lb stopped answering or a plain GET / no longer works,
#   - lb died, or its stderr holds an ASan/UBSan/LSan report.
# The first lines of a sanitizer report (the stack's top frames) are printed.
#
#   FUZZ_SECONDS=60 FUZZ_SEED=7 FUZZ_CONNS=64 tests/fuzz/run_http_campaign.sh
#   LB_BUILD=build   ... against the release build instead (no sanitizer checks)
set -uo pipefail
cd "$(dirname "$0")/../.."
SECS=${FUZZ_SECONDS:-300}
SEED=${FUZZ_SEED:-$(date +%s)}
CONNS=${FUZZ_CONNS:-64}
LB_BUILD=${LB_BUILD:-build-san}
SAN=$([ "$LB_BUILD" = build-san ] && echo 1 || echo 0)

make --no-print-directory -j2 SANITIZE=$SAN "$LB_BUILD/lb" "$LB_BUILD/backend" >/dev/null || exit 1
make --no-print-directory build/http_reset_fuzz >/dev/null || exit 1
TOOL=build/http_reset_fuzz

DIR=$(mktemp -d /tmp/lb-http-campaign.XXXXXX)
BACKEND_PID= LB_PID=
cleanup() {
  [ -n "$LB_PID" ] && kill -KILL "$LB_PID" 2>/dev/null
  [ -n "$BACKEND_PID" ] && kill -TERM "$BACKEND_PID" 2>/dev/null
  wait 2>/dev/null
}
trap cleanup EXIT

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Waits until a line matching $2 is in file $1 (10 s).
wait_for_line() {
  for _ in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  return 1
}

"$LB_BUILD/backend" --http 0,0 >"$DIR/backend.out" 2>"$DIR/backend.err" &
BACKEND_PID=$!
wait_for_line "$DIR/backend.out" '^ready' || { echo "backend did not start"; cat "$DIR/backend.err"; exit 1; }
mapfile -t PORTS < <(awk '/^listening http/ {print $3}' "$DIR/backend.out")
LB_PORT=$("$TOOL" --free-port)

cat >"$DIR/lb.json" <<JSON
{
  "workers": 2,
  "shutdown_timeout": "2s",
  "logging": { "level": "warn", "error_log": "-", "access_log": null },
  "listeners": [ { "name": "fuzz", "listen": "127.0.0.1:$LB_PORT", "protocol": "http", "pool": "p",
                   "timeouts": { "request_header": "2s", "client_idle": "5s" } } ],
  "pools": [ { "name": "p", "algorithm": "round_robin",
               "servers": [ { "address": "127.0.0.1:${PORTS[0]}" }, { "address": "127.0.0.1:${PORTS[1]}" } ],
               "timeouts": { "connect": "1s", "response": "5s", "idle": "10s" } } ]
}
JSON

"$LB_BUILD/lb" -c "$DIR/lb.json" >"$DIR/lb.out" 2>"$DIR/lb.err" &
LB_PID=$!
for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$LB_PORT") 2>/dev/null && break; sleep 0.05; done

echo "campaign: $LB_BUILD/lb on :$LB_PORT, backend :${PORTS[0]} :${PORTS[1]}, $SECS s, seed $SEED, $CONNS connections (logs in $DIR)"
"$TOOL" --port "$LB_PORT" --seconds "$SECS" --seed "$SEED" --conns "$CONNS" | tee "$DIR/tool.out"
tool_rc=${PIPESTATUS[0]}

alive=1
kill -0 "$LB_PID" 2>/dev/null || alive=0
if [ $alive = 1 ]; then
  kill -TERM "$LB_PID"
  for _ in $(seq 200); do kill -0 "$LB_PID" 2>/dev/null || break; sleep 0.05; done
fi
wait "$LB_PID" 2>/dev/null
lb_rc=$?
LB_PID=

status=0
if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$DIR/lb.err"; then
  echo "FAIL: sanitizer report in lb's stderr ($DIR/lb.err); top of the report:"
  grep -m1 -A24 -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$DIR/lb.err" | sed 's/^/    /'
  status=1
fi
[ $alive = 1 ] || { echo "FAIL: lb was not running at the end of the campaign (exit $lb_rc)"; status=1; }
[ $tool_rc = 0 ] || { echo "FAIL: http_reset_fuzz exit $tool_rc"; status=1; }
if [ $status = 0 ]; then
  echo "campaign: PASS ($SECS s, seed $SEED; lb exit $lb_rc after SIGTERM)"
  rm -rf "$DIR"
else
  echo "campaign: reproduce with FUZZ_SEED=$SEED FUZZ_SECONDS=$SECS FUZZ_CONNS=$CONNS $0"
fi
exit $status
