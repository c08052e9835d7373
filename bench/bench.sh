#!/usr/bin/env bash
# bench/bench.sh — lb beside HAProxy and nginx on the same machine, the same
# backends and the same load generator; what `make bench` runs.
#
#   BUILD=build bench/bench.sh            full run, about 10 minutes
#   QUICK=1 BUILD=build bench/bench.sh    one short round, about 2 minutes
#
# Everything runs on 127.0.0.1; nothing is pinned (on a 2-core machine the
# load generator, the proxy and the backends share the cores, so absolute
# numbers are low and noisy; the ratios are what matter). The machine (nproc,
# CPU, load average before and after) is part of the report.
#
# Backends: one bench/backend process ($BUILD/backend, one thread) with 3 HTTP
# ports (default route: the fixed body "hello from PORT\n"; /bytes/65536 gives
# a 64 KiB body) and 3 TCP echo ports (started for completeness; the TCP
# scenario proxies HTTP traffic to the HTTP ports). Every contender uses the
# same 3 HTTP ports.
#
# Contenders, each configured the same way: round robin over the 3 HTTP
# ports, keep-alive to clients and to backends, no access log, warnings-only
# error log, no active health checks, no added headers; first with 1
# worker/thread each, then with 2:
#   lb       workers 1|2; an http listener and a tcp listener on one pool
#            (round_robin, keepalive max_idle 64), access_log null, level
#            warn, forwarded_headers false (HAProxy and nginx add no
#            X-Forwarded-* headers by default; LB_FORWARDED=1 turns them on)
#   haproxy  nbthread 1|2, mode http + a mode tcp frontend, balance
#            roundrobin, option http-keep-alive, http-reuse always, no log
#   nginx    worker_processes 1|2, daemon off, upstream { keepalive 32 },
#            proxy_http_version 1.1, proxy_set_header Connection "",
#            access_log off, keepalive_requests raised (the default closes a
#            client connection every 1000 requests), proxy_max_temp_file_size
#            0 (stream, never spool to disk), listen ... reuseport (lb also
#            uses one SO_REUSEPORT socket per worker); stream module
#            (load_module ngx_stream_module.so) for the TCP listener
# The generated configurations are kept in $BUILD/bench/conf/.
#
# Scenarios (wrk -t1 -c50 -d${DUR}s --latency, one wrk thread, 50 connections):
#   1 keepalive-small   GET / over keep-alive connections
#   2 conn-per-request  the same with "Connection: close" (a new client
#                       connection per request; backend side stays pooled)
#   3 keepalive-64k     GET /bytes/65536 over keep-alive connections
#   4 tcp-l4            GET / through the contender's TCP (L4) listener
# plus "direct": wrk straight at one backend port, scenarios 1-3 (the
# ceiling; scenario 4's ceiling is scenario 1's).
#
# Paired runs: for each worker count (WORKERS, in order) the three contenders
# are started together (distinct ports; an idle one uses no CPU), each is
# checked with curl and warmed up (wrk 1s). Then ROUNDS rounds; in a round,
# for each scenario in turn, wrk runs against the three contenders back to
# back, in an order rotated per round (round 1: lb haproxy nginx, round 2:
# haproxy nginx lb, round 3: nginx lb haproxy, ...) so none always goes
# first. For the first worker count only, the backend is warmed up too (wrk
# 1s) and each round starts with direct. Then the three are stopped. A
# scenario's three runs thus start within about 2*DUR seconds, so drifts in
# machine load (other tenants) hit them alike.
#
# Report: per scenario, workers and contender, the median over the rounds of
# req/s, p50 and p99 latency and CPU/req (user + system CPU time of the
# processes of the contender under test during its own run, from
# /proc/PID/stat, divided by the requests wrk completed; for direct, the
# backend's), and errors (socket errors + non-2xx/3xx responses, summed).
# Ratios are paired: per scenario, workers and round, lb/HAProxy and lb/nginx
# of req/s, p99 and CPU/req from that round's runs; the report gives the
# median over the rounds of these per-round ratios, and the min-max over the
# rounds of lb/HAProxy req/s (a round whose denominator is 0 is left out).
# On a busy machine req/s still swings between rounds; CPU/req and memory
# stay comparable (the report warns when the load average exceeds nproc/2).
#
# Memory per idle keep-alive client connection (workers 1), after the
# throughput rounds: for each contender in turn, alone (started fresh, then
# stopped), warm up (wrk 2s), wait 1s, read RSS (VmRSS from /proc/PID/status,
# summed over the contender's processes: nginx master + workers), then
# $BUILD/idle_conns opens IDLE_CONNS connections, sends one GET on each (at
# most 50 in flight), reads the responses and holds the connections idle; after
# 1s RSS is read again. Reported: (after - before) / IDLE_CONNS in bytes.
# idle_conns is compiled here from bench/idle_conns.cpp when it is missing.
#
# Output: the markdown report on stdout and in $BUILD/bench/results.md; raw
# wrk outputs in $BUILD/bench/raw/; in $BUILD/bench/raw/ also runs.tsv (per
# run: scenario workers contender round req/s p50_us p99_us errors
# cpu_us_per_req slot, slot = position in the round's order, 0 for direct),
# agg.tsv (the medians), ratios.tsv (per-round ratios: scenario workers
# round, then lb/HAProxy and lb/nginx of req/s, p99, CPU/req; "-" when
# undefined) and ratio_agg.tsv (their medians, lb/HAProxy req/s min and max,
# rounds counted); process logs in $BUILD/bench/logs/.
#
# Environment:
#   BUILD        build directory (default build)
#   QUICK=1      DUR=2 ROUNDS=1 (about 2 minutes)
#   DUR          seconds per wrk run (default 4)
#   ROUNDS       rounds per worker count (default 5)
#   CONNS        wrk connections (default 50)
#   WORKERS      worker counts to test (default "1 2")
#   IDLE_CONNS   connections for the memory test (default 10000; 0 skips it)
#   LB_FORWARDED=1  lb adds X-Forwarded-*/X-Request-Id (its default)
#   LB_BIN, BACKEND_BIN, IDLE_BIN   binaries (defaults under $BUILD)
# Needs: wrk, haproxy, nginx (nginx-light + libnginx-mod-stream), curl, g++
# (for idle_conns). The file-descriptor limit is raised to 65536 where
# allowed, else to the hard limit; below IDLE_CONNS + 2000 the script stops.
# Ports are picked free at start (20000-32767, below the ephemeral range).
# Every process started here is stopped on exit (trap), by pid.
# shellcheck disable=SC2317  # functions below run from traps
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
if [[ ${QUICK:-0} == 1 ]]; then
  DUR=${DUR:-2}
  ROUNDS=${ROUNDS:-1}
else
  DUR=${DUR:-4}
  ROUNDS=${ROUNDS:-5}
fi
CONNS=${CONNS:-50}
WORKERS=${WORKERS:-"1 2"}
IDLE_CONNS=${IDLE_CONNS:-10000}
LB_FORWARDED=${LB_FORWARDED:-0}
LB_BIN=${LB_BIN:-$BUILD/lb}
BACKEND_BIN=${BACKEND_BIN:-$BUILD/backend}
IDLE_BIN=${IDLE_BIN:-$BUILD/idle_conns}
STARTUP_DEADLINE_S=15
NGINX_STREAM_MODULE=/usr/lib/nginx/modules/ngx_stream_module.so
SCENARIOS=(keepalive-small conn-per-request keepalive-64k tcp-l4)
DIRECT_SCENARIOS=(keepalive-small conn-per-request keepalive-64k)
CONTENDERS=(lb haproxy nginx)
read -r -a WORKER_LIST <<<"$WORKERS"
((${#WORKER_LIST[@]} > 0)) || { echo "bench: WORKERS is empty" >&2; exit 1; }

die() { echo "bench: $*" >&2; exit 1; }

# --- prerequisites -----------------------------------------------------------
for tool in wrk haproxy nginx curl; do
  command -v "$tool" >/dev/null || die "$tool not found (make bench-deps installs it)"
done
[[ -f $NGINX_STREAM_MODULE ]] || die "$NGINX_STREAM_MODULE missing (apt-get install libnginx-mod-stream)"
for bin in "$LB_BIN" "$BACKEND_BIN"; do
  [[ -x $bin ]] || die "$bin not found; build it first (make $bin)"
done
if [[ ! -x $IDLE_BIN ]]; then
  echo "bench: compiling $IDLE_BIN"
  g++ -O2 -std=c++20 bench/idle_conns.cpp -o "$IDLE_BIN"
fi

if ! ulimit -n 65536 2>/dev/null; then
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fi
FD_LIMIT=$(ulimit -n)
[[ $FD_LIMIT == unlimited ]] && FD_LIMIT=1048576
if ((IDLE_CONNS > 0 && FD_LIMIT < IDLE_CONNS + 2000)); then
  die "open-file limit is $FD_LIMIT (hard $(ulimit -Hn)); the memory test needs $((IDLE_CONNS + 2000)): raise it (ulimit -n) or set IDLE_CONNS lower"
fi

# --- directories, snapshot of the binaries ---------------------------------
OUT=$(realpath -m "$BUILD/bench")
rm -rf "$OUT/raw" "$OUT/conf" "$OUT/logs"
mkdir -p "$OUT/raw" "$OUT/conf" "$OUT/logs"
work_dir=$(mktemp -d "${TMPDIR:-/tmp}/lb-bench.XXXXXX")
mkdir -p "$work_dir/nginx/logs"
# Copies, so a rebuild while the benchmark runs cannot mix two versions.
cp "$LB_BIN" "$work_dir/lb"
cp "$BACKEND_BIN" "$work_dir/backend"
LB=$work_dir/lb
RUNS=$OUT/raw/runs.tsv
: >"$RUNS"

# --- process handling --------------------------------------------------------
pids=()   # everything started here, stopped on exit

# Sets STAT to the /proc/PID/stat fields after "(comm)": state ppid ...
# (pure bash, no subshell: this runs often).
STAT=""
read_stat() {
  local line
  STAT=""
  { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
  STAT=${line##*) }
}

alive() {
  read_stat "$1" || return 1
  [[ -n $STAT && ${STAT:0:1} != Z ]]
}

# Stops pid $1: SIGTERM, then SIGKILL after $2 seconds.
stop() {
  local pid=$1 grace_s=${2:-5} i
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace_s * 20; i++)); do
    alive "$pid" || break
    sleep 0.05
  done
  if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    if alive "${pids[i]}"; then stop "${pids[i]}" 3; fi
  done
  rm -rf "$work_dir"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs "$@" until it succeeds; fails when pid $1 dies or the deadline passes.
wait_for() {
  local pid=$1 what=$2 deadline=$((SECONDS + STARTUP_DEADLINE_S))
  shift 2
  until "$@"; do
    alive "$pid" || { echo "bench: $what exited during start-up" >&2; return 1; }
    ((SECONDS < deadline)) || { echo "bench: $what not ready after ${STARTUP_DEADLINE_S}s" >&2; return 1; }
    sleep 0.05
  done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
file_has_line() { grep -qx "$2" "$1" 2>/dev/null; }

# --- free ports ----------------------------------------------------------------
declare -A taken=()
listening_ports() {
  # local ports of sockets in LISTEN state (0A), decimal
  cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
    awk 'NR > 1 && $4 == "0A" { split($2, a, ":"); print a[2] }' |
    while read -r hex; do echo $((16#$hex)); done
}
for p in $(listening_ports); do taken[$p]=1; done
pick_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 12768))
    [[ -z ${taken[$p]:-} ]] && ! port_open "$p" && break
  done
  taken[$p]=1
  echo "$p"
}

# --- backends -------------------------------------------------------------------
backend_log=$OUT/logs/backend.log
"$work_dir/backend" --http 0,0,0 --echo 0,0,0 >"$backend_log" 2>&1 &
backend_pid=$!
pids+=("$backend_pid")
wait_for "$backend_pid" backend file_has_line "$backend_log" ready || { cat "$backend_log" >&2; exit 1; }
mapfile -t HTTP_PORTS < <(awk '$1 == "listening" && $2 == "http" { print $3 }' "$backend_log")
mapfile -t ECHO_PORTS < <(awk '$1 == "listening" && $2 == "echo" { print $3 }' "$backend_log")
((${#HTTP_PORTS[@]} == 3)) || die "backend did not report 3 http ports"
for p in "${HTTP_PORTS[@]}" "${ECHO_PORTS[@]}"; do taken[$p]=1; done

LB_HTTP=$(pick_port); LB_TCP=$(pick_port)
HX_HTTP=$(pick_port); HX_TCP=$(pick_port)
NG_HTTP=$(pick_port); NG_TCP=$(pick_port)

# --- configurations -------------------------------------------------------------
write_lb_conf() {  # workers -> file
  local w=$1 f=$OUT/conf/lb-w$1.json fwd=false
  [[ $LB_FORWARDED == 1 ]] && fwd=true
  cat >"$f" <<EOF
{
  "workers": $w,
  "shutdown_timeout": "1s",
  "logging": { "level": "warn", "error_log": "-", "access_log": null },
  "listeners": [
    { "name": "http", "listen": "127.0.0.1:$LB_HTTP", "protocol": "http", "pool": "web",
      "forwarded_headers": $fwd },
    { "name": "tcp", "listen": "127.0.0.1:$LB_TCP", "protocol": "tcp", "pool": "web" }
  ],
  "pools": [
    { "name": "web", "algorithm": "round_robin",
      "servers": [
        { "address": "127.0.0.1:${HTTP_PORTS[0]}" },
        { "address": "127.0.0.1:${HTTP_PORTS[1]}" },
        { "address": "127.0.0.1:${HTTP_PORTS[2]}" }
      ],
      "keepalive": { "max_idle": 64, "idle_timeout": "60s" } }
  ]
}
EOF
  echo "$f"
}

write_haproxy_conf() {
  local w=$1 f=$OUT/conf/haproxy-w$1.cfg
  # maxconn above the memory test's connection count; "no strict-limits" lets
  # HAProxy start when the fd limit is below its 2*maxconn estimate (the test
  # needs about maxconn + 100 descriptors, not 2*maxconn).
  cat >"$f" <<EOF
global
  nbthread $w
  maxconn $((IDLE_CONNS + 1000))
  no strict-limits

defaults
  mode http
  maxconn $((IDLE_CONNS + 1000))
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
  option http-keep-alive
  http-reuse always

frontend fe_http
  bind 127.0.0.1:$HX_HTTP
  default_backend be_http

backend be_http
  balance roundrobin
  server s1 127.0.0.1:${HTTP_PORTS[0]}
  server s2 127.0.0.1:${HTTP_PORTS[1]}
  server s3 127.0.0.1:${HTTP_PORTS[2]}

frontend fe_tcp
  mode tcp
  bind 127.0.0.1:$HX_TCP
  default_backend be_tcp

backend be_tcp
  mode tcp
  balance roundrobin
  server s1 127.0.0.1:${HTTP_PORTS[0]}
  server s2 127.0.0.1:${HTTP_PORTS[1]}
  server s3 127.0.0.1:${HTTP_PORTS[2]}
EOF
  echo "$f"
}

write_nginx_conf() {
  local w=$1 f=$OUT/conf/nginx-w$1.conf n=$work_dir/nginx
  cat >"$f" <<EOF
load_module $NGINX_STREAM_MODULE;
daemon off;
master_process on;
worker_processes $w;
worker_rlimit_nofile $FD_LIMIT;
pid $n/nginx.pid;
error_log $n/logs/error.log warn;

events {
  worker_connections $((FD_LIMIT - 100));
}

http {
  access_log off;
  keepalive_timeout 60s;
  keepalive_requests 100000000;
  client_body_temp_path $n/client_body;
  proxy_temp_path $n/proxy;

  upstream web {
    server 127.0.0.1:${HTTP_PORTS[0]};
    server 127.0.0.1:${HTTP_PORTS[1]};
    server 127.0.0.1:${HTTP_PORTS[2]};
    keepalive 32;
    keepalive_requests 100000000;
    keepalive_timeout 60s;
  }

  server {
    listen 127.0.0.1:$NG_HTTP reuseport;
    location / {
      proxy_pass http://web;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_max_temp_file_size 0;
    }
  }
}

stream {
  upstream tcp_web {
    server 127.0.0.1:${HTTP_PORTS[0]};
    server 127.0.0.1:${HTTP_PORTS[1]};
    server 127.0.0.1:${HTTP_PORTS[2]};
  }
  server {
    listen 127.0.0.1:$NG_TCP reuseport;
    proxy_pass tcp_web;
  }
}
EOF
  echo "$f"
}

# --- contenders -------------------------------------------------------------------
declare -A cpid=()   # contender -> main pid, while it runs
http_port_of() { case $1 in lb) echo "$LB_HTTP" ;; haproxy) echo "$HX_HTTP" ;; nginx) echo "$NG_HTTP" ;; esac; }
tcp_port_of() { case $1 in lb) echo "$LB_TCP" ;; haproxy) echo "$HX_TCP" ;; nginx) echo "$NG_TCP" ;; esac; }

http_ok() {  # url -> 0 when it answers 200
  [[ $(curl -s -o /dev/null -m 5 -w '%{http_code}' "$1") == 200 ]]
}

start_contender() {  # name workers
  local name=$1 w=$2 f log=$OUT/logs/$1-w$2.log hp tp
  hp=$(http_port_of "$name"); tp=$(tcp_port_of "$name")
  case $name in
    lb)
      f=$(write_lb_conf "$w")
      "$LB" -c "$f" --check >/dev/null || die "lb rejects $f"
      "$LB" -c "$f" >>"$log" 2>&1 &
      ;;
    haproxy)
      f=$(write_haproxy_conf "$w")
      haproxy -c -q -f "$f" 2>/dev/null || { haproxy -c -f "$f" >&2 || true; die "haproxy rejects $f"; }
      haproxy -db -f "$f" >>"$log" 2>&1 &
      ;;
    nginx)
      f=$(write_nginx_conf "$w")
      nginx -t -q -c "$f" -p "$work_dir/nginx" -e "$work_dir/nginx/logs/startup.log" ||
        die "nginx rejects $f"
      nginx -c "$f" -p "$work_dir/nginx" -e "$work_dir/nginx/logs/startup.log" >>"$log" 2>&1 &
      ;;
  esac
  local pid=$!
  cpid[$name]=$pid
  pids+=("$pid")
  wait_for "$pid" "$name" port_open "$hp" || { cat "$log" >&2; exit 1; }
  wait_for "$pid" "$name" port_open "$tp" || { cat "$log" >&2; exit 1; }
  # Sanity: small body, 64 KiB body, and HTTP through the TCP listener.
  wait_for "$pid" "$name" http_ok "http://127.0.0.1:$hp/" || die "$name: GET / does not answer 200"
  local size
  size=$(curl -s -o /dev/null -m 5 -w '%{size_download}' "http://127.0.0.1:$hp/bytes/65536")
  [[ $size == 65536 ]] || die "$name: /bytes/65536 gave $size bytes"
  http_ok "http://127.0.0.1:$tp/" || die "$name: GET / through the tcp listener does not answer 200"
}

stop_contender() {  # name
  stop "${cpid[$1]}" 5
  unset "cpid[$1]"
}

warm_up() {  # port seconds
  wrk -t1 -c"$CONNS" -d"$2s" "http://127.0.0.1:$1/" >/dev/null 2>&1 || true
}

# Sum of VmRSS (kB) over pid $1 and its child processes (nginx workers).
rss_kb() {
  local root=$1 total=0 p f key val _
  local procs=("$root")
  for p in /proc/[0-9]*; do
    read_stat "${p#/proc/}" || continue
    read -r _ f _ <<<"$STAT"
    [[ $f == "$root" ]] && procs+=("${p#/proc/}")
  done
  for p in "${procs[@]}"; do
    while read -r key val _; do
      [[ $key == VmRSS: ]] && total=$((total + val))
    done 2>/dev/null <"/proc/$p/status" || true
  done
  echo "$total"
}

# utime + stime (clock ticks) of pid $1 and its child processes, all threads.
cpu_ticks() {
  local root=$1 total=0 p f ppid
  local -a a
  for p in /proc/[0-9]*; do
    read_stat "${p#/proc/}" || continue
    read -r -a a <<<"$STAT"
    ppid=${a[1]}
    # after "(comm)": [0]=state [1]=ppid ... [11]=utime [12]=stime
    if [[ ${p#/proc/} == "$root" || $ppid == "$root" ]]; then
      total=$((total + a[11] + a[12]))
    fi
  done
  echo "$total"
}
CLK_TCK=$(getconf CLK_TCK)

# --- wrk ----------------------------------------------------------------------------
# Parses wrk --latency output: prints "rps p50_us p99_us errors requests".
parse_wrk() {
  awk '
    function us(v,   n) {
      n = v + 0
      if (v ~ /us$/) return n
      if (v ~ /ms$/) return n * 1000
      if (v ~ /m$/) return n * 60000000
      if (v ~ /s$/) return n * 1000000
      return n
    }
    /^ +50%/ { p50 = us($2) }
    /^ +99%/ { p99 = us($2) }
    /^Requests\/sec:/ { rps = $2 }
    $2 == "requests" && $3 == "in" { reqs = $1 }
    /Socket errors:/ { gsub(/,/, ""); err += $4 + $6 + $8 + $10 }
    /Non-2xx or 3xx responses:/ { err += $5 }
    END { printf "%s %s %s %d %d\n", (rps == "" ? 0 : rps), (p50 == "" ? 0 : p50), (p99 == "" ? 0 : p99), err, reqs }
  ' "$1"
}

# run_wrk scenario workers contender round slot pid url [wrk args...]
# Also measures the CPU time the process pid (and its children) used during
# the run, per request: robust against other load on the machine, unlike
# req/s. Only the contender under test is measured (the others sit idle).
run_wrk() {
  local scen=$1 w=$2 who=$3 round=$4 slot=$5 pid=$6 url=$7 raw t0 t1 cpu
  shift 7
  raw=$OUT/raw/$scen-$who-w$w-r$round.txt
  t0=$(cpu_ticks "$pid")
  wrk -t1 -c"$CONNS" -d"${DUR}s" --latency "$@" "$url" >"$raw" 2>&1 || true
  t1=$(cpu_ticks "$pid")
  read -r rps p50 p99 err reqs < <(parse_wrk "$raw")
  cpu=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN { printf "%.1f", (n > 0 ? d * 1e6 / hz / n : 0) }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scen" "$w" "$who" "$round" "$rps" "$p50" "$p99" "$err" "$cpu" "$slot" >>"$RUNS"
  printf '  %-17s %-8s w%s  %8.0f req/s  p50 %8.0fus  p99 %8.0fus  errors %s  cpu %6.1fus/req\n' \
    "$scen" "$who" "$w" "$rps" "$p50" "$p99" "$err" "$cpu"
}

# run_scenario scenario workers contender round slot pid http_port tcp_port
run_scenario() {
  local hp=$7 tp=$8
  local -a a=("$1" "$2" "$3" "$4" "$5" "$6")
  case $1 in
    keepalive-small) run_wrk "${a[@]}" "http://127.0.0.1:$hp/" ;;
    conn-per-request) run_wrk "${a[@]}" "http://127.0.0.1:$hp/" -H 'Connection: close' ;;
    keepalive-64k) run_wrk "${a[@]}" "http://127.0.0.1:$hp/bytes/65536" ;;
    tcp-l4) run_wrk "${a[@]}" "http://127.0.0.1:$tp/" ;;
    *) die "unknown scenario $1" ;;
  esac
}

# --- report header ------------------------------------------------------------------
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
LOAD_START=$(loadavg)
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
first_line() { { "$@" 2>&1 || true; } | sed -n 1p; }
VERSIONS="lb: $(first_line "$LB" --version); $(first_line haproxy -v | cut -d' ' -f1-3); $(first_line nginx -v | sed 's/^nginx version: //'); $(first_line wrk --version | cut -d' ' -f1-2)"
# Estimate: wrk runs (plus about 0.25s each for wrk start-up and the CPU
# readings), about 2s per contender start + warm-up, about 10s per contender
# for the memory test.
n_runs=$((ROUNDS * (${#DIRECT_SCENARIOS[@]} + ${#WORKER_LIST[@]} * ${#CONTENDERS[@]} * ${#SCENARIOS[@]})))
est=$(( n_runs * DUR + n_runs / 4 + ${#WORKER_LIST[@]} * ${#CONTENDERS[@]} * 2 + 1 + (IDLE_CONNS > 0 ? ${#CONTENDERS[@]} * 10 : 0) ))
echo "bench: nproc $(nproc), $CPU_MODEL, load average $LOAD_START"
echo "bench: $ROUNDS round(s) per worker count, $n_runs wrk runs of ${DUR}s, wrk -t1 -c$CONNS, workers: $WORKERS; about $(( (est + 30) / 60 )) min ($est s)"
echo "bench: backends http ${HTTP_PORTS[*]}, echo ${ECHO_PORTS[*]}; fd limit $FD_LIMIT"

# --- throughput rounds (paired) ------------------------------------------------------
n_cont=${#CONTENDERS[@]}
for w in "${WORKER_LIST[@]}"; do
  echo "bench: workers $w: starting ${CONTENDERS[*]}"
  for who in "${CONTENDERS[@]}"; do start_contender "$who" "$w"; done
  for who in "${CONTENDERS[@]}"; do warm_up "$(http_port_of "$who")" 1; done
  with_direct=0
  if [[ $w == "${WORKER_LIST[0]}" ]]; then
    with_direct=1
    warm_up "${HTTP_PORTS[0]}" 1
  fi
  for ((round = 1; round <= ROUNDS; round++)); do
    order=()
    for ((i = 0; i < n_cont; i++)); do order+=("${CONTENDERS[(i + round - 1) % n_cont]}"); done
    echo "bench: workers $w, round $round/$ROUNDS, order: ${order[*]}"
    if ((with_direct)); then
      for scen in "${DIRECT_SCENARIOS[@]}"; do
        run_scenario "$scen" 1 direct "$round" 0 "$backend_pid" "${HTTP_PORTS[0]}" ""
      done
    fi
    for scen in "${SCENARIOS[@]}"; do
      for i in "${!order[@]}"; do
        who=${order[i]}
        run_scenario "$scen" "$w" "$who" "$round" $((i + 1)) "${cpid[$who]}" \
          "$(http_port_of "$who")" "$(tcp_port_of "$who")"
      done
    done
  done
  for ((i = n_cont - 1; i >= 0; i--)); do stop_contender "${CONTENDERS[i]}"; done
done

# --- memory per idle connection ------------------------------------------------------
MEM_ROWS=()
if ((IDLE_CONNS > 0)); then
  echo "bench: memory per idle keep-alive connection ($IDLE_CONNS connections, workers 1)"
  for who in "${CONTENDERS[@]}"; do
    start_contender "$who" 1
    hp=$(http_port_of "$who")
    warm_up "$hp" 2
    sleep 1   # let the proxy settle (idle backend connections, freed buffers)
    before=$(rss_kb "${cpid[$who]}")
    idle_log=$OUT/logs/idle_conns-$who.log
    "$IDLE_BIN" --port "$hp" --count "$IDLE_CONNS" --concurrency "$CONNS" --timeout-ms 120000 \
      </dev/null >"$idle_log" 2>&1 &
    idle_pid=$!
    pids+=("$idle_pid")
    deadline=$((SECONDS + 130))
    until file_has_line "$idle_log" ready; do
      alive "$idle_pid" || { cat "$idle_log" >&2; die "$who: idle_conns failed"; }
      ((SECONDS < deadline)) || die "$who: idle_conns not ready after 130s"
      sleep 0.1
    done
    sleep 1   # let the proxy settle with the connections idle
    after=$(rss_kb "${cpid[$who]}")
    stop "$idle_pid" 5
    closed=$(awk '$1 == "closed_by_peer" { print $2 }' "$idle_log")
    per=$(( (after - before) * 1024 / IDLE_CONNS ))
    printf '  %-8s RSS before %8d KiB, after %8d KiB, %6d bytes/connection (closed by peer: %s)\n' \
      "$who" "$before" "$after" "$per" "${closed:-?}"
    MEM_ROWS+=("| $who | $before | $after | $per | ${closed:-?} |")
    stop_contender "$who"
  done
fi
LOAD_END=$(loadavg)

# --- report ---------------------------------------------------------------------------
# Medians per (scenario, workers, contender) -> agg.tsv:
#   scenario workers contender rps p50 p99 errors runs cpu_us_per_req
sort -k1,1 -k2,2 -k3,3 "$RUNS" | awk -F'\t' '
  function median(a, n,   i, j, t) {
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  function flush() {
    if (n == 0) return
    printf "%s\t%s\t%s\t%.0f\t%.0f\t%.0f\t%d\t%d\t%.1f\n", k1, k2, k3, median(r, n), median(p5, n), median(p9, n), e, n, median(c, n)
    n = 0; e = 0
  }
  { key = $1 SUBSEP $2 SUBSEP $3
    if (key != last) { flush(); last = key; k1 = $1; k2 = $2; k3 = $3 }
    n++; r[n] = $5 + 0; p5[n] = $6 + 0; p9[n] = $7 + 0; e += $8; c[n] = $9 + 0 }
  END { flush() }
' >"$OUT/raw/agg.tsv"

# Paired ratios. Per (scenario, workers, round) -> ratios.tsv:
#   scenario workers round rps_hx rps_ng p99_hx p99_ng cpu_hx cpu_ng
# (lb/HAProxy and lb/nginx; "-" when a run is missing or the denominator is 0).
# Per (scenario, workers) -> ratio_agg.tsv: the same six medians over the
# rounds, then the min and max of rps_hx, then the number of rounds.
: >"$OUT/raw/ratios.tsv"
awk -F'\t' -v scens="${SCENARIOS[*]}" -v workers="${WORKER_LIST[*]}" -v rounds="$ROUNDS" \
    -v per_round="$OUT/raw/ratios.tsv" '
  function ratio(k1, k2, f) {
    if (!((k1, f) in v) || !((k2, f) in v) || v[k2, f] == 0) return "-"
    return sprintf("%.4f", v[k1, f] / v[k2, f])
  }
  function median(a, n,   i, j, t) {
    if (n == 0) return "-"
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return sprintf("%.4f", (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2)
  }
  $3 == "lb" || $3 == "haproxy" || $3 == "nginx" {
    k = $1 SUBSEP $2 SUBSEP $4 SUBSEP $3
    v[k, "rps"] = $5 + 0; v[k, "p99"] = $7 + 0; v[k, "cpu"] = $9 + 0
  }
  END {
    ns = split(scens, S, " "); nw = split(workers, W, " ")
    split("rps p99 cpu", F, " ")
    for (si = 1; si <= ns; si++) for (wi = 1; wi <= nw; wi++) {
      delete n
      for (r = 1; r <= rounds; r++) {
        base = S[si] SUBSEP W[wi] SUBSEP r
        if (!((base SUBSEP "lb", "rps") in v)) continue
        line = S[si] "\t" W[wi] "\t" r
        col = 0
        for (fi = 1; fi <= 3; fi++) for (ci = 1; ci <= 2; ci++) {
          x = ratio(base SUBSEP "lb", base SUBSEP (ci == 1 ? "haproxy" : "nginx"), F[fi])
          line = line "\t" x
          col++
          if (x != "-") { n[col]++; vals[col, n[col]] = x + 0 }
        }
        print line > per_round
      }
      out = S[si] "\t" W[wi]
      for (col = 1; col <= 6; col++) {
        delete a
        for (i = 1; i <= n[col]; i++) a[i] = vals[col, i]
        out = out "\t" median(a, n[col] + 0)
      }
      mn = "-"; mx = "-"
      for (i = 1; i <= n[1]; i++) {
        if (mn == "-" || vals[1, i] < mn) mn = vals[1, i]
        if (mx == "-" || vals[1, i] > mx) mx = vals[1, i]
      }
      if (mn != "-") { mn = sprintf("%.4f", mn); mx = sprintf("%.4f", mx) }
      print out "\t" mn "\t" mx "\t" (n[1] + 0)
      delete vals
    }
  }
' "$RUNS" >"$OUT/raw/ratio_agg.tsv"

fmt_lat() {  # microseconds -> "123us" / "1.23ms"
  awk -v u="$1" 'BEGIN { if (u < 1000) printf "%dus", u; else if (u < 1000000) printf "%.2fms", u / 1000; else printf "%.2fs", u / 1000000 }'
}
get() {  # scenario workers contender field(4=rps 5=p50 6=p99 7=errors 9=cpu us/req)
  awk -F'\t' -v s="$1" -v w="$2" -v c="$3" -v f="$4" '$1 == s && $2 == w && $3 == c { print $f }' "$OUT/raw/agg.tsv"
}
get_ratio() {  # scenario workers field(3..8 = medians of rps_hx rps_ng p99_hx p99_ng cpu_hx cpu_ng, 9/10 = min/max of rps_hx) -> "0.97" or "—"
  awk -F'\t' -v s="$1" -v w="$2" -v f="$3" '
    $1 == s && $2 == w { x = $f }
    END { if (x == "" || x == "-") print "—"; else printf "%.2f\n", x }
  ' "$OUT/raw/ratio_agg.tsv"
}

{
  echo "# lb vs HAProxy vs nginx"
  echo
  echo "- machine: nproc $(nproc), $CPU_MODEL, $(uname -sr); load average at start $LOAD_START, at end $LOAD_END"
  echo "- $VERSIONS"
  echo "- wrk -t1 -c$CONNS -d${DUR}s --latency; nothing pinned; $ROUNDS round(s) per worker count"
  echo "- paired runs: per worker count the three contenders run at once; per scenario their wrk runs are back to back, the order rotated per round; direct opens each round of workers ${WORKER_LIST[0]}"
  echo "- absolute numbers: medians over rounds; ratios: medians over rounds of the per-round (paired) ratios"
  echo "- backends: one bench/backend process (1 thread), 3 HTTP ports; contenders round-robin over them with backend keep-alive; direct = wrk to one backend port"
  echo "- errors = wrk socket errors + non-2xx/3xx responses, summed over rounds"
  if awk -v a="${LOAD_START%% *}" -v b="${LOAD_END%% *}" -v n="$(nproc)" 'BEGIN { exit !(a > n / 2 || b > n / 2) }'; then
    echo "- **warning: the machine was busy (load average $LOAD_START at start, $LOAD_END at end, on $(nproc) CPUs): req/s and latency are noisy; CPU/req and memory are the more reliable columns**"
  fi
  echo
  echo "## Throughput and latency"
  echo
  echo "CPU/req: CPU time (user + system, all threads and processes) the contender used during the run divided by the requests wrk completed; for direct, the backend's. Unlike req/s it is hardly affected by other load on the machine."
  echo
  echo "| scenario | workers | contender | req/s | p50 | p99 | CPU/req | errors |"
  echo "|---|---|---|---:|---:|---:|---:|---:|"
  row() {  # scenario workers contender [label-workers]
    echo "| $1 | ${4:-$2} | $3 | $(get "$1" "$2" "$3" 4) | $(fmt_lat "$(get "$1" "$2" "$3" 5)") | $(fmt_lat "$(get "$1" "$2" "$3" 6)") | $(get "$1" "$2" "$3" 9)us | $(get "$1" "$2" "$3" 7) |"
  }
  for scen in "${SCENARIOS[@]}"; do
    if [[ " ${DIRECT_SCENARIOS[*]} " == *" $scen "* ]]; then row "$scen" 1 direct —; fi
    for w in "${WORKER_LIST[@]}"; do
      for who in "${CONTENDERS[@]}"; do row "$scen" "$w" "$who"; done
    done
  done
  echo
  echo "## lb relative to HAProxy and nginx"
  echo
  echo "Paired: each ratio is computed per round from that round's back-to-back runs; the table gives the median over the $ROUNDS round(s), and for lb/HAProxy req/s also the min–max over the rounds. req/s ratio: above 1 is better for lb. p99 and CPU/req ratios: below 1 is better for lb."
  echo
  echo "| scenario | workers | lb/HAProxy req/s | lb/HAProxy req/s (min–max) | lb/nginx req/s | lb/HAProxy p99 | lb/nginx p99 | lb/HAProxy CPU/req | lb/nginx CPU/req |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
  for scen in "${SCENARIOS[@]}"; do
    for w in "${WORKER_LIST[@]}"; do
      lo=$(get_ratio "$scen" "$w" 9) hi=$(get_ratio "$scen" "$w" 10)
      if [[ $lo == — ]]; then range=—; else range="$lo–$hi"; fi
      echo "| $scen | $w | $(get_ratio "$scen" "$w" 3) | $range | $(get_ratio "$scen" "$w" 4) | $(get_ratio "$scen" "$w" 5) | $(get_ratio "$scen" "$w" 6) | $(get_ratio "$scen" "$w" 7) | $(get_ratio "$scen" "$w" 8) |"
    done
  done
  if ((${#MEM_ROWS[@]} > 0)); then
    echo
    echo "## Memory per idle keep-alive client connection ($IDLE_CONNS connections, 1 worker)"
    echo
    echo "RSS summed over the contender's processes (nginx: master + worker), after a 2s warm-up and with the connections idle."
    echo
    echo "| contender | RSS before (KiB) | RSS after (KiB) | bytes / connection | closed by peer |"
    echo "|---|---:|---:|---:|---:|"
    printf '%s\n' "${MEM_ROWS[@]}"
  fi
} >"$OUT/results.md"

echo
cat "$OUT/results.md"
echo
echo "bench: report in $OUT/results.md, raw wrk output in $OUT/raw/"
