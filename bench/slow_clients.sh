#!/usr/bin/env bash
# bench/slow_clients.sh — the slow-client attacks of slowhttptest against lb
# and against HAProxy, configured with comparable timeouts, on this machine;
# the numbers in the README's "Slow clients" section come from here.
#
#   BUILD=build bench/slow_clients.sh        about 2 minutes; a markdown table on stdout
#
# Attacks (slowhttptest, 300 connections each, opened 100 per second, -l 12):
#   slowloris  -H -i 1 -x 24             a header line every second, never the end of the head
#   slow body  -B -i 5 -s 8192 -x 10     POST announcing 8 KB, up to 10 bytes every 5 s
#   slow read  -X -w 512 -y 1024 -n 5 -z 32 -k 3 on /bytes/1048576
#                                        three 1 MB responses per connection, read 32 bytes
#                                        every 5 s through a 512..1024-byte window
# Contenders, one thread each, started fresh for every attack:
#   lb       timeouts request_header 2s, body_idle 2s, send 3s (access log off)
#   haproxy  timeout http-request 2s with option http-buffer-request (so that
#            it covers the body too, HAProxy's documented slow-POST defence),
#            timeout client 3s (inactivity either way: the slow-read defence),
#            timeout connect 5s, timeout server 60s, maxconn 4000
# Both forward to one bench/backend HTTP port ($BUILD/backend).
#
# For each (attack, contender): the contender's RSS after 20 warm-up requests
# (base), its peak while the attack runs, and after the attack once its
# sockets are closed; 100 normal requests with curl --interface 127.0.0.2
# (another client address), 30 ms apart, started once the attack holds 100
# sockets in the contender, counted ok when answered 200 within 5 s ("during":
# how many were made while the contender still held 50 or more attack
# sockets); the contender's peak of client connections (established or
# close-wait sockets on its port, from ss) and how long after the attack
# began it still held more than 8 of them; slowhttptest's own end ("Test ended on Nth second", and why: all
# its connections closed, or its -l limit — a slow reader cannot see the
# close while the kernel still feeds it what the proxy had handed over).
# Needs: slowhttptest, haproxy, curl.
set -euo pipefail

BUILD=${BUILD:-build}
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
LB="$root/$BUILD/lb"
BACKEND="$root/$BUILD/backend"
STARTUP_DEADLINE_S=10
# shellcheck source=bench/lib/procs.sh
source "$here/lib/procs.sh"

for tool in slowhttptest haproxy curl; do
  command -v "$tool" >/dev/null || { echo "slow_clients: $tool not found (make bench-deps / make deps)" >&2; exit 1; }
done
[[ -x $LB && -x $BACKEND ]] || { echo "slow_clients: build $LB and $BACKEND first" >&2; exit 1; }

OUT=$(mktemp -d /tmp/lb-slow-clients.XXXXXX)
BACKEND_PID="" PROXY_PID="" ATTACK_PID=""
cleanup() {
  [[ -n $ATTACK_PID ]] && kill "$ATTACK_PID" 2>/dev/null
  stop "$PROXY_PID" 2
  stop "$BACKEND_PID" 2
  [[ -n ${KEEP_TMP:-} ]] || rm -rf "$OUT"
}
trap cleanup EXIT

start_http_backend "$OUT"

rss_of() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# Client connections the contender holds on port $1 (a socket it closed, in
# FIN-WAIT with bytes the kernel still trickles out, is not the contender's).
conns_on() { ss -Htn state established state close-wait "( sport = :$1 )" | wc -l; }

start_lb() {
  cat >"$OUT/lb.json" <<JSON
{ "workers": 1, "logging": { "level": "warn", "access_log": null },
  "listeners": [{ "name": "web", "listen": "127.0.0.1:$1", "protocol": "http", "pool": "p",
                  "timeouts": { "request_header": "2s", "body_idle": "2s", "send": "3s" } }],
  "pools": [{ "name": "p", "servers": [{ "address": "127.0.0.1:$BACKEND_PORT" }] }] }
JSON
  "$LB" -c "$OUT/lb.json" >"$OUT/lb.log" 2>&1 &
  PROXY_PID=$!
}

start_haproxy() {
  cat >"$OUT/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 4000
  no strict-limits

defaults
  mode http
  maxconn 4000
  option http-buffer-request
  timeout http-request 2s
  timeout client 3s
  timeout connect 5s
  timeout server 60s

frontend fe
  bind 127.0.0.1:$1
  default_backend be

backend be
  server s1 127.0.0.1:$BACKEND_PORT
CONF
  haproxy -f "$OUT/haproxy.cfg" -db >"$OUT/haproxy.log" 2>&1 &
  PROXY_PID=$!
}

normal_request() {
  curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.2 --max-time 5 "http://127.0.0.1:$1/normal" || true
}

# slowhttptest's last words in FILE, colours removed: "5th s, No open connections left".
attacker_end() {
  sed 's/\x1b\[[0-9;]*[A-Za-z]//g' "$1" | awk '
    /Test ended on/ { sub(/.*Test ended on /, ""); sub(/ second.*/, " s"); ended = $0 }
    /Exit status:/ { sub(/.*Exit status: */, ""); why = $0 }
    END { print ended ", " why }'
}

# Samples the contender: RSS peak, client-connection peak, and the last
# moment (seconds since the attack began) it held attack connections.
sample() {
  local rss
  rss=$(rss_of "$PROXY_PID") CONNS=$(conns_on "$port")
  ((rss > peak)) && peak=$rss
  ((CONNS > peak_conns)) && peak_conns=$CONNS
  ((CONNS > 8)) && busy=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  return 0
}

# run_one CONTENDER ATTACK-NAME PATH SLOWHTTPTEST-ARGS... → one table row
run_one() {
  local who=$1 name=$2 path=$3
  shift 3
  local port base peak after peak_conns=0 busy=0 ok=0 during=0 i code t0 CONNS
  port=$(pick_port)
  "start_$who" "$port"
  wait_for "$PROXY_PID" "$who" port_open "$port"
  for i in $(seq 20); do curl -s -o /dev/null "http://127.0.0.1:$port/warm-up"; done
  base=$(rss_of "$PROXY_PID") peak=$base
  t0=$(date +%s.%N)
  slowhttptest "$@" -c 300 -r 100 -l 12 -p 3 -u "http://127.0.0.1:$port$path" \
    >"$OUT/$who-$name.out" 2>&1 &
  ATTACK_PID=$!
  for i in $(seq 200); do  # until the attack holds 100 sockets (10 s at most)
    sample
    ((CONNS >= 100)) && break
    sleep 0.05
  done
  for i in $(seq 100); do
    sample
    code=$(normal_request "$port")
    [[ $code == 200 ]] && ok=$((ok + 1))
    ((CONNS >= 50)) && during=$((during + 1))
    sleep 0.03
  done
  while alive "$ATTACK_PID"; do
    sample
    sleep 0.1
  done
  wait "$ATTACK_PID" 2>/dev/null || true
  ATTACK_PID=""
  for i in $(seq 100); do  # the contender's client connections are gone (5 s at most)
    sample
    ((CONNS <= 8)) && break
    sleep 0.05
  done
  after=$(rss_of "$PROXY_PID")
  awk -v n="$name" -v w="$who" -v ok="$ok" -v d="$during" -v b="$base" -v p="$peak" -v a="$after" \
      -v f="$peak_conns" -v busy="$busy" -v end="$(attacker_end "$OUT/$who-$name.out")" 'BEGIN {
    printf "| %s | %s | %d/100 (%d during) | %.1f / %.1f / %.1f | %d | %s s | %s |\n", n, w, ok, d, b / 1024,
           p / 1024, a / 1024, f, busy, end }'
  stop "$PROXY_PID" 5
  PROXY_PID=""
}

echo "slow clients on $(nproc) cores; lb: $("$LB" --version 2>&1 | head -1); $(haproxy -v | head -1 | cut -d' ' -f1-3); $(slowhttptest -h 2>&1 | grep -o 'version [0-9.]*' | head -1 || true)"
echo
echo "| attack | proxy | normal requests ok | RSS MiB base / peak / after | peak client connections | held them until | slowhttptest ended |"
echo "|---|---|---|---|---|---|---|"
for who in lb haproxy; do
  run_one "$who" slowloris / -H -i 1 -x 24
  run_one "$who" slow-body / -B -i 5 -s 8192 -x 10
  run_one "$who" slow-read /bytes/1048576 -X -w 512 -y 1024 -n 5 -z 32 -k 3
done
