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
. tests/fuzz/campaign_lib.sh
start_backend || exit 1
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

start_lb "$LB_PORT"

echo "campaign: $LB_BUILD/lb on :$LB_PORT, backend :${PORTS[0]} :${PORTS[1]}, $SECS s, seed $SEED, $CONNS connections (logs in $DIR)"
"$TOOL" --port "$LB_PORT" --seconds "$SECS" --seed "$SEED" --conns "$CONNS" | tee "$DIR/tool.out"
tool_rc=${PIPESTATUS[0]}

stop_lb
status=0
sanitizer_report || status=1
[ $LB_ALIVE = 1 ] || { echo "FAIL: lb was not running at the end of the campaign (exit $LB_RC)"; status=1; }
[ $tool_rc = 0 ] || { echo "FAIL: http_reset_fuzz exit $tool_rc"; status=1; }
if [ $status = 0 ]; then
  echo "campaign: PASS ($SECS s, seed $SEED; lb exit $LB_RC after SIGTERM)"
  rm -rf "$DIR"
else
  echo "campaign: reproduce with FUZZ_SEED=$SEED FUZZ_SECONDS=$SECS FUZZ_CONNS=$CONNS $0"
fi
exit $status
