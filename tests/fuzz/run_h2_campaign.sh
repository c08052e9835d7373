#!/usr/bin/env bash
# tests/fuzz/run_h2_campaign.sh — the HTTP/2 frame campaign: builds the
# sanitizer lb + backend (build-san), starts the backend (two http ports) and
# lb with two h2c listeners (prior knowledge; HTTP/1.1 too on the same
# ports): one with the defaults, one tight (1 KiB / 8 header fields, 1000-byte
# bodies, 8 concurrent streams, a 1000-byte stream window, 5 requests per
# connection), runs tests/fuzz/h2_frame_fuzz.py for FUZZ_SECONDS (default
# 300) with lb's access log on (the lines of refused and reset streams are
# written from what the stream kept), stops lb with SIGTERM and fails when:
#   - the driver says lb died or stopped answering GET / over h2 or HTTP/1.1,
#   - lb was not running at the end, or did not exit 0 on SIGTERM,
#   - lb's descriptors did not return to what it started with (+2) within 20 s
#     of the traffic's end (idle server connections expire after 2 s here),
#   - its stderr holds an ASan/UBSan/LSan report (its top frames are printed).
#
#   FUZZ_SECONDS=60 FUZZ_SEED=7 FUZZ_H2_CONNS=32 tests/fuzz/run_h2_campaign.sh
#   LB_BUILD=build   ... against the release build instead (no sanitizer checks)
#   LB_LOG_LEVEL=info  lb's error log level (default warn); FUZZ_KEEP=1 keeps
#                    the temp dir (config, lb's stderr) after a pass too
#   H2_FUZZ_KIND=valid|hostile|mutated  every connection of one kind (see the driver)
#   FUZZ_H2_REPLAY=DIR/conn-N.json   instead of the campaign: that saved script
#   FUZZ_SEED=S FUZZ_H2_REPLAY_CONN=N[:M]  instead of the campaign: connection N of seed S
#                    (N to M one at a time, stopping when lb died: the culprit)
#                    (each then with the same checks: lb alive, SIGTERM → 0, no report)
#   H2_PYTHON=...    the interpreter (default: /usr/bin/python3, which has the
#                    Debian python3-h2/hpack/hyperframe; a pyenv one may not)
set -uo pipefail
cd "$(dirname "$0")/../.."
SECS=${FUZZ_SECONDS:-300}
SEED=${FUZZ_SEED:-$(date +%s)}
CONNS=${FUZZ_H2_CONNS:-32}
LB_BUILD=${LB_BUILD:-build-san}
SAN=$([ "$LB_BUILD" = build-san ] && echo 1 || echo 0)

PY=""
for cand in ${H2_PYTHON:-} /usr/bin/python3 python3; do
  if "$cand" -c 'import h2.connection, hpack, hyperframe' 2>/dev/null; then PY=$cand; break; fi
done
[ -n "$PY" ] || { echo "h2 campaign: no python3 with h2, hpack and hyperframe (apt-get install python3-h2)"; exit 1; }

make --no-print-directory -j2 SANITIZE=$SAN "$LB_BUILD/lb" "$LB_BUILD/backend" >/dev/null || exit 1

DIR=$(mktemp -d /tmp/lb-h2-campaign.XXXXXX)
. tests/fuzz/campaign_lib.sh
start_backend || exit 1
free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT1=$(free_port)
PORT2=$(free_port)
while [ "$PORT2" = "$PORT1" ]; do PORT2=$(free_port); done

cat >"$DIR/lb.json" <<JSON
{
  "workers": 2,
  "shutdown_timeout": "2s",
  "logging": { "level": "${LB_LOG_LEVEL:-warn}", "error_log": "-", "access_log": "$DIR/access.log" },
  "listeners": [
    { "name": "h2", "listen": "127.0.0.1:$PORT1", "protocol": "http", "pool": "p",
      "http2": { "cleartext": true },
      "timeouts": { "request_header": "2s", "client_idle": "5s" } },
    { "name": "h2tight", "listen": "127.0.0.1:$PORT2", "protocol": "http", "pool": "p",
      "http2": { "cleartext": true, "max_concurrent_streams": 8, "initial_window_size": 1000,
                 "max_requests_per_connection": 5 },
      "limits": { "max_header_bytes": 1024, "max_headers": 8, "max_body_bytes": 1000 },
      "timeouts": { "request_header": "2s", "client_idle": "3s" } }
  ],
  "pools": [ { "name": "p", "algorithm": "round_robin",
               "servers": [ { "address": "127.0.0.1:${PORTS[0]}" }, { "address": "127.0.0.1:${PORTS[1]}" } ],
               "keepalive": { "max_idle": 32, "idle_timeout": "2s" },
               "timeouts": { "connect": "1s", "response": "5s", "idle": "10s" } } ]
}
JSON

start_lb "$PORT2"
lb_fds() { ls "/proc/$LB_PID/fd" 2>/dev/null | wc -l; }
FDS_START=$(lb_fds)

echo "h2 campaign: $LB_BUILD/lb on :$PORT1 :$PORT2, backend :${PORTS[0]} :${PORTS[1]}, $SECS s, seed $SEED, $CONNS connections (logs in $DIR)"
if [ -n "${FUZZ_H2_REPLAY:-}" ]; then
  "$PY" -u tests/fuzz/h2_frame_fuzz.py --port "$PORT1,$PORT2" --lb-pid "$LB_PID" --replay "$FUZZ_H2_REPLAY" | tee "$DIR/driver.out"
elif [ -n "${FUZZ_H2_REPLAY_CONN:-}" ]; then
  "$PY" -u tests/fuzz/h2_frame_fuzz.py --port "$PORT1,$PORT2" --lb-pid "$LB_PID" --seed "$SEED" \
    --replay-conn "$FUZZ_H2_REPLAY_CONN" | tee "$DIR/driver.out"
else
  "$PY" -u tests/fuzz/h2_frame_fuzz.py --port "$PORT1,$PORT2" --seconds "$SECS" --seed "$SEED" --conns "$CONNS" \
    --lb-pid "$LB_PID" --log-dir "$DIR" | tee "$DIR/driver.out"
fi
driver_rc=${PIPESTATUS[0]}

# Every client connection is closed by now, and idle server connections
# expire after 2 s: lb's descriptors return to what it started with.
fds_end=$(lb_fds)
for _ in $(seq 100); do
  [ "$fds_end" -le $((FDS_START + 2)) ] && break
  sleep 0.2; fds_end=$(lb_fds)
done
echo "lb descriptors: $FDS_START at the start, $fds_end at the end"
fd_leak=0
if [ -n "$FDS_START" ] && [ "$fds_end" -gt $((FDS_START + 2)) ]; then
  fd_leak=1
  ls -l "/proc/$LB_PID/fd" >"$DIR/lb-fds.txt" 2>&1
  ss -tanp 2>/dev/null | grep "pid=$LB_PID," >>"$DIR/lb-fds.txt"
fi
stop_lb
status=0
[ $fd_leak = 0 ] || { echo "FAIL: lb still holds $fds_end descriptors 20 s after the traffic, $FDS_START at the start (list: $DIR/lb-fds.txt)"; status=1; }
sanitizer_report || status=1
[ $LB_ALIVE = 1 ] || { echo "FAIL: lb was not running at the end of the campaign (exit $LB_RC)"; status=1; }
[ $LB_ALIVE = 0 ] || [ $LB_RC = 0 ] || { echo "FAIL: lb exited $LB_RC on SIGTERM (expected 0)"; status=1; }
[ $driver_rc = 0 ] || { echo "FAIL: h2_frame_fuzz.py exit $driver_rc"; status=1; }
if [ $status = 0 ]; then
  echo "h2 campaign: PASS ($SECS s, seed $SEED; lb exit 0 after SIGTERM)"
  [ -n "${FUZZ_KEEP:-}" ] || rm -rf "$DIR"
else
  echo "h2 campaign: reproduce with FUZZ_SEED=$SEED FUZZ_SECONDS=$SECS FUZZ_H2_CONNS=$CONNS $0"
  echo "  (connection scripts of the last seconds, if any: $DIR/conn-*.json)"
fi
exit $status
