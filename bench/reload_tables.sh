#!/usr/bin/env bash
# bench/reload_tables.sh — memory and reload cost of the balancers' lookup
# tables: lb with 8 workers and 20 Maglev pools (65,537-entry tables each).
#
#   BUILD=build bench/reload_tables.sh
#
# Starts lb (no backend needed: nothing is proxied; servers are unused
# loopback ports and there is no health check), waits until its CPU use has
# settled (workers build their view of the configuration after they receive
# it), then reports
#   - VmRSS after start-up and after RELOADS reloads (from /proc/PID/status),
#   - per reload: wall time of POST /reload on the admin API (the main thread
#     builds the Runtime and answers with the new generation, checked), and
#     the process CPU time (utime + stime from /proc/PID/stat) the reload
#     consumed until the process is idle again — this includes work the
#     workers do after POST /reload has answered.
# Averages over RELOADS reloads. Sleeps here only pace the sampling of an
# idle process; nothing waits on a fixed delay for correctness.
#
# Environment: BUILD (default build), LB_BIN, WORKERS (8), POOLS (20),
# SERVERS (servers per pool, 4), RELOADS (10), ALGORITHM (maglev).
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
LB_BIN=${LB_BIN:-$BUILD/lb}
WORKERS=${WORKERS:-8}
POOLS=${POOLS:-20}
SERVERS=${SERVERS:-4}
RELOADS=${RELOADS:-10}
ALGORITHM=${ALGORITHM:-maglev}
DEADLINE_S=60

die() { echo "reload_tables: $*" >&2; exit 1; }
command -v curl >/dev/null || die "curl not found"
[[ -x $LB_BIN ]] || die "build $LB_BIN first"

work=$(mktemp -d "${TMPDIR:-/tmp}/lb-reload.XXXXXX")
lb_pid=
cleanup() {
  if [[ -n $lb_pid ]]; then
    kill -TERM "$lb_pid" 2>/dev/null || true
    wait "$lb_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

base=$((20000 + RANDOM % 9000))
lb_port=$base
admin_port=$((base + 1))
{
  echo '{'
  echo "  \"workers\": $WORKERS, \"shutdown_timeout\": \"1s\","
  echo "  \"admin\": { \"listen\": \"127.0.0.1:$admin_port\", \"token\": \"bench-token\" },"
  echo '  "logging": { "level": "warn", "error_log": "-", "access_log": null },'
  echo "  \"listeners\": [ { \"name\": \"http\", \"listen\": \"127.0.0.1:$lb_port\", \"protocol\": \"http\", \"pool\": \"p0\" } ],"
  echo '  "pools": ['
  for ((p = 0; p < POOLS; p++)); do
    servers=
    for ((s = 0; s < SERVERS; s++)); do
      servers+="${servers:+, }{ \"address\": \"127.0.0.$((p + 2)):$((40000 + s))\" }"
    done
    echo "    { \"name\": \"p$p\", \"algorithm\": \"$ALGORITHM\", \"servers\": [ $servers ] }$( ((p + 1 < POOLS)) && echo ,)"
  done
  echo '  ]'
  echo '}'
} >"$work/lb.json"
"$LB_BIN" --check -c "$work/lb.json" >/dev/null || die "generated config rejected"

"$LB_BIN" -c "$work/lb.json" >"$work/lb.log" 2>&1 &
lb_pid=$!

admin() { curl -s --max-time 10 "$@"; }
deadline=$((SECONDS + DEADLINE_S))
until admin -o /dev/null "http://127.0.0.1:$admin_port/stats"; do
  ((SECONDS < deadline)) || die "lb did not start: $(tail -5 "$work/lb.log")"
  sleep 0.1
done

hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$lb_pid/stat"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$lb_pid/status"; }
# Until two samples 200 ms apart show no CPU used: the workers are done.
settle() {
  local a b deadline=$((SECONDS + DEADLINE_S))
  b=$(cpu_ticks)
  while :; do
    sleep 0.2
    a=$b
    b=$(cpu_ticks)
    ((a == b)) && return 0
    ((SECONDS < deadline)) || die "lb never went idle"
  done
}
now_ns() { date +%s%N; }

settle
rss_start=$(rss_kb)
total_wall_ns=0
total_ticks=0
for ((i = 1; i <= RELOADS; i++)); do
  t0=$(cpu_ticks)
  w0=$(now_ns)
  body=$(admin -X POST -H 'Authorization: Bearer bench-token' "http://127.0.0.1:$admin_port/reload")
  w1=$(now_ns)
  [[ $body == *"\"generation\":$((i + 1))"* ]] || die "reload $i answered: $body"
  settle
  t1=$(cpu_ticks)
  total_wall_ns=$((total_wall_ns + w1 - w0))
  total_ticks=$((total_ticks + t1 - t0))
done
rss_end=$(rss_kb)

echo "| $WORKERS workers, $POOLS $ALGORITHM pools × $SERVERS servers | value |"
echo "|---|---:|"
echo "| VmRSS after start | $((rss_start / 1024)) MiB |"
echo "| VmRSS after $RELOADS reloads | $((rss_end / 1024)) MiB |"
echo "| POST /reload wall time (mean) | $(awk -v t=$total_wall_ns -v n=$RELOADS 'BEGIN { printf "%.1f", t / n / 1e6 }') ms |"
echo "| CPU time per reload, all threads (mean) | $(awk -v t=$total_ticks -v n=$RELOADS -v hz=$hz 'BEGIN { printf "%.0f", t / n * 1000 / hz }') ms |"
