#!/usr/bin/env bash
# bench/run_demo.sh — what `make run` starts: demo backends and lb on conf/demo.json.
#
#   BUILD=build bench/run_demo.sh        (make run sets BUILD)
#
# Starts $BUILD/backend (http 9001-9003, tcp echo 9011-9013), waits for it to
# print "ready", starts $BUILD/lb -c conf/demo.json, waits until 127.0.0.1:8080
# accepts, prints what to try, then waits. Ctrl-C (or SIGTERM) stops lb and
# the backends. lb's logs (error log on stderr, access log on stdout) go to
# the terminal; the backend's output goes to a log file named at start-up.
# Environment: BUILD (default build), CONF (default conf/demo.json),
# LB_BIN (default $BUILD/lb), BACKEND_BIN (default $BUILD/backend).
# shellcheck disable=SC2317  # functions below run from traps and wait_for
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
CONF=${CONF:-conf/demo.json}
BACKEND_BIN=${BACKEND_BIN:-$BUILD/backend}
LB_BIN=${LB_BIN:-$BUILD/lb}
STARTUP_DEADLINE_S=15

for bin in "$BACKEND_BIN" "$LB_BIN"; do
  if [[ ! -f $bin || ! -x $bin ]]; then
    echo "run_demo: $bin not found; build it first (make $bin)" >&2
    exit 1
  fi
done

work_dir=$(mktemp -d "${TMPDIR:-/tmp}/lb-demo.XXXXXX")
backend_log=$work_dir/backend.log
backend_pid=""
lb_pid=""

# True while $1 is a live (not zombie) process.
alive() {
  local state=""
  [[ -r /proc/$1/stat ]] || return 1
  read -r _ _ state _ < "/proc/$1/stat" 2>/dev/null || return 1
  [[ $state != Z ]]
}

# Stops $1 with SIGTERM, then SIGKILL after $2 seconds.
stop() {
  local pid=$1 grace_s=$2 i
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace_s * 10; i++)); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  trap - EXIT INT TERM
  echo
  echo "run_demo: stopping lb and backends"
  stop "$lb_pid" 8   # lb drains for up to shutdown_timeout (5s in demo.json)
  stop "$backend_pid" 3
  rm -rf "$work_dir"
}
trap cleanup EXIT
trap 'exit 0' INT TERM   # the EXIT trap does the work

# Runs "$@" until it succeeds or the deadline passes; fails early when the
# process $1 (pid) dies.
wait_for() {
  local pid=$1 what=$2 deadline=$((SECONDS + STARTUP_DEADLINE_S))
  shift 2
  until "$@"; do
    if ! alive "$pid"; then
      echo "run_demo: $what exited during start-up" >&2
      return 1
    fi
    if ((SECONDS >= deadline)); then
      echo "run_demo: $what not ready after ${STARTUP_DEADLINE_S}s" >&2
      return 1
    fi
    sleep 0.1
  done
}

backend_ready() { grep -qx ready "$backend_log" 2>/dev/null; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

"$BACKEND_BIN" --http 9001,9002,9003 --echo 9011,9012,9013 >"$backend_log" 2>&1 &
backend_pid=$!
if ! wait_for "$backend_pid" backend backend_ready; then
  cat "$backend_log" >&2
  exit 1
fi
echo "run_demo: backends up (http 9001-9003, echo 9011-9013; log $backend_log)"

# The TLS listener's certificate: self-signed for 127.0.0.1/localhost, made
# for this run; conf/demo.json names it through ${LB_DEMO_CERT}/${LB_DEMO_KEY}.
export LB_DEMO_CERT=$work_dir/demo.pem LB_DEMO_KEY=$work_dir/demo.key
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$LB_DEMO_KEY" -out "$LB_DEMO_CERT" 2>/dev/null

"$LB_BIN" -c "$CONF" &
lb_pid=$!
wait_for "$lb_pid" lb port_open 8443 || exit 1

cat <<EOF

  lb is running (pid $lb_pid) with $CONF. Try, in another terminal:

    curl -i http://127.0.0.1:8080/x?y=1       # 308 to https://127.0.0.1:8443/x?y=1 (route "to-https")
    curl -i http://127.0.0.1:8080/lb-health   # answered by lb itself (route "health", respond)
    curl -ik https://127.0.0.1:8443/          # HTTP/2; HSTS set; repeat: X-Backend-Port rotates 9001-9003
    curl -ik https://127.0.0.1:8443/api/x     # pool "api", the server sees /v1/x and X-Route: api
    curl -ik -c /tmp/lb-jar -b /tmp/lb-jar https://127.0.0.1:8443/app/   # sticky: same X-Backend-Port every time
    curl -ik -d hello https://127.0.0.1:8443/echo   # the backend shows what lb forwarded (X-Seen-*)
    curl http://127.0.0.1:9901/stats        # admin API: listeners, pools, servers
    curl http://127.0.0.1:9901/metrics
    curl -X POST -H 'Authorization: Bearer demo-token' http://127.0.0.1:9901/reload
    kill -HUP $lb_pid                        # reload $CONF from disk

  TCP echo listener on 8081:
    printf 'hi\n' | nc -q1 127.0.0.1 8081
    bash -c 'exec 3<>/dev/tcp/127.0.0.1/8081; printf "hi\n" >&3; head -c3 <&3'

  Ctrl-C stops lb and the backends.

EOF

# Returns when lb exits by itself; Ctrl-C/SIGTERM interrupt it via the traps.
set +e
wait "$lb_pid"
status=$?
set -e
lb_pid=""
echo "run_demo: lb exited with status $status" >&2
exit "$status"
