#!/usr/bin/env bash
# bench/bench.sh — lb beside HAProxy and nginx on the same machine, the same
# backends and the same load generators; what `make bench` runs.
#
#   BUILD=build bench/bench.sh                  full run, about 17 minutes
#   QUICK=1 BUILD=build bench/bench.sh          one short round, about 3 minutes
#   BENCH_ONLY=tls BUILD=build bench/bench.sh   the TLS scenarios only, about 7 minutes
#
# Everything runs on 127.0.0.1; nothing is pinned (on a 2-core machine the
# load generator, the proxy and the backends share the cores, so absolute
# numbers are low and noisy; the ratios are what matter). The machine (nproc,
# CPU, load average before and after) is part of the report.
#
# The parts, sourced from bench/lib/: procs.sh (processes, ports, CPU time
# and RSS of a process tree), configs.sh (the contenders' configurations and
# the TLS certificate), contenders.sh (start, check, stop), loadgen.sh (the
# scenarios' clients, their parsing, one measured run), report.sh (medians,
# paired ratios, the markdown report).
#
# Backends: one bench/backend process ($BUILD/backend, one thread) with 3 HTTP
# ports (default route: the fixed body "hello from PORT\n"; /bytes/65536 gives
# a 64 KiB body) and 3 TCP echo ports (started for completeness; the TCP
# scenario proxies HTTP traffic to the HTTP ports). Every contender uses the
# same 3 HTTP ports.
#
# Contenders, each configured the same way: round robin over the 3 HTTP
# ports, keep-alive to clients and to backends, no access log, warnings-only
# error log, no active health checks, no added headers; three listeners each:
# plain HTTP, TCP (L4), and HTTPS (TLS terminated, HTTP/1.1 to the backends)
# with one self-signed ECDSA P-256 certificate made at start (openssl req, in
# the temp dir) and ALPN h2, http/1.1; session resumption as each contender
# does by default (no client here resumes); first with 1 worker/thread each,
# then with 2:
#   lb       workers 1|2; http and tcp listeners on one pool (round_robin,
#            keepalive max_idle 64), the http+tls listener on a second pool
#            of the same servers (max_idle 500, see below), access_log
#            null, level warn, forwarded_headers false (HAProxy and nginx add no
#            X-Forwarded-* headers by default; LB_FORWARDED=1 turns them on);
#            tls alpn ["h2", "http/1.1"] when lb --check accepts it, else
#            ["http/1.1"] (lb without HTTP/2: its tls-h2 rows are n/a)
#   haproxy  nbthread 1|2, mode http + a mode tcp frontend, balance
#            roundrobin, option http-keep-alive, http-reuse always, no log;
#            bind ... ssl crt ... alpn h2,http/1.1
#   nginx    worker_processes 1|2, daemon off, upstream { keepalive 32 }
#            (keepalive 500 for the TLS server, see below),
#            proxy_http_version 1.1, proxy_set_header Connection "",
#            access_log off, keepalive_requests raised (the default closes a
#            client connection every 1000 requests, HTTP/2 ones too),
#            proxy_max_temp_file_size 0 (stream, never spool to disk),
#            listen ... reuseport (lb also uses one SO_REUSEPORT socket per
#            worker); listen ... ssl http2 (nginx < 1.25.1) or "http2 on;";
#            stream module (load_module ngx_stream_module.so) for the TCP
#            listener
# Idle backend connections kept, per worker: HAProxy any number; for the
# plain listeners lb 64 per server and nginx 32 in all (50 connections, at
# most 50 requests in flight); for the TLS listener both CONNS x H2_STREAMS
# = 500 (lb per server), as h2load keeps 500 requests in flight (details in
# bench/lib/configs.sh).
# The generated configurations are kept in $BUILD/bench/conf/.
#
# Scenarios (CONNS=50 connections, one client thread; see bench/lib/loadgen.sh):
#   plain:
#   1 keepalive-small   wrk: GET / over keep-alive connections
#   2 conn-per-request  the same with "Connection: close" (a new client
#                       connection per request; backend side stays pooled)
#   3 keepalive-64k     wrk: GET /bytes/65536 over keep-alive connections
#   4 tcp-l4            wrk: GET / through the contender's TCP (L4) listener
#   tls:
#   5 tls-keepalive     wrk: GET / over HTTPS keep-alive connections
#   6 tls-handshake     ab: GET / over HTTPS, a new connection and a full
#                       TLS handshake per request (req/s = handshakes/s)
#   7 tls-h2            h2load -m10: GET / over HTTP/2 (ALPN h2); n/a for a
#                       contender that does not negotiate h2
# plus "direct": wrk straight at one backend port, scenarios 1-3 (the
# ceiling; scenario 4's ceiling is scenario 1's).
#
# Paired runs: for each worker count (WORKERS, in order) the three contenders
# are started together (distinct ports; an idle one uses no CPU), each is
# checked with curl (HTTP, 64 KiB, TCP, HTTPS, h2) and warmed up (wrk 1s, and
# 1s over HTTPS when TLS scenarios run). Then ROUNDS rounds; in a round, for
# each scenario in turn, the client runs against the three contenders back
# to back, in an order rotated per round (round 1: lb haproxy nginx, round 2:
# haproxy nginx lb, round 3: nginx lb haproxy, ...) so none always goes
# first. For the first worker count only, the backend is warmed up too (wrk
# 1s) and each round starts with direct. Then the three are stopped. A
# scenario's three runs thus start within about 2*DUR seconds, so drifts in
# machine load (other tenants) hit them alike.
#
# Report: per scenario, workers and contender, the median over the rounds of
# req/s, p50 and p99 latency and CPU/req (user + system CPU time of the
# processes of the contender under test during its own run, from
# /proc/PID/stat, divided by the requests the client completed; for direct,
# the backend's), and errors (socket errors + non-2xx/3xx responses, summed).
# Ratios are paired: per scenario, workers and round, lb/HAProxy and lb/nginx
# of req/s, p99 and CPU/req from that round's runs; the report gives the
# median over the rounds of these per-round ratios, and the min-max over the
# rounds of lb/HAProxy req/s (a round whose denominator is 0 is left out).
# On a busy machine req/s still swings between rounds; CPU/req and memory
# stay comparable (the report warns when the load average exceeds nproc/2).
#
# Memory per idle keep-alive client connection (workers 1; with the plain
# scenarios), after the throughput rounds: for each contender in turn, alone
# (started fresh, then stopped), warm up (wrk 2s), wait 1s, read RSS (VmRSS
# from /proc/PID/status, summed over the contender's processes: nginx master
# + workers), then $BUILD/idle_conns opens IDLE_CONNS connections, sends one
# GET on each (at most 50 in flight), reads the responses and holds the
# connections idle; after 1s RSS is read again. Reported: (after - before) /
# IDLE_CONNS in bytes. idle_conns is compiled here from bench/idle_conns.cpp
# when it is missing.
#
# Output: the markdown report on stdout and in $BUILD/bench/results.md; raw
# client outputs in $BUILD/bench/raw/; in $BUILD/bench/raw/ also runs.tsv (per
# run: scenario workers contender round req/s p50_us p99_us errors
# cpu_us_per_req slot, slot = position in the round's order, 0 for direct),
# na.tsv (scenario workers contender reason, for rows that could not run),
# agg.tsv (the medians), ratios.tsv (per-round ratios: scenario workers
# round, then lb/HAProxy and lb/nginx of req/s, p99, CPU/req; "-" when
# undefined) and ratio_agg.tsv (their medians, lb/HAProxy req/s min and max,
# rounds counted); process logs in $BUILD/bench/logs/.
#
# Environment:
#   BUILD        build directory (default build)
#   BENCH_ONLY   what to run: empty or "all" (default), "plain" (scenarios
#                1-4, direct, memory), "tls" (scenarios 5-7), "memory", or
#                scenario names; words separated by spaces or commas
#   QUICK=1      DUR=2 ROUNDS=1
#   DUR          seconds per client run (default 4)
#   ROUNDS       rounds per worker count (default 5)
#   CONNS        client connections (default 50)
#   H2_STREAMS   h2load streams per connection (-m, default 10)
#   WORKERS      worker counts to test (default "1 2")
#   IDLE_CONNS   connections for the memory test (default 10000; 0 skips it)
#   LB_FORWARDED=1  lb adds X-Forwarded-*/X-Request-Id (its default)
#   LB_BIN, BACKEND_BIN, IDLE_BIN   binaries (defaults under $BUILD)
#   LB_BASE_BIN  a second lb binary (e.g. an older commit's build) run as a
#                fourth contender, "lb-base", with the same configuration on
#                its own ports, in the same rounds and rotation; the report
#                adds lb/lb-base ratios (before/after a change, measured in
#                one run). Not in the memory test.
#   FRESH=1      restart every contender before each round (not only once
#                per worker count), lb and lb-base from fresh copies of their
#                binaries. A process keeps its layout luck (address-space
#                randomisation, and the physical pages its text and heap land
#                on, hence its L2 cache conflicts) for its whole life, so
#                without FRESH all rounds of a run share one draw and two
#                runs of the same binaries can differ by ~4%; with FRESH each
#                round is a new draw for lb and lb-base (HAProxy and nginx
#                are restarted too, from the same files), and the spread
#                over the rounds shows it. Use it for before/after
#                comparisons of a few percent.
#                Adds about 2 s per contender per round.
# Needs: wrk, haproxy, nginx (nginx-light + libnginx-mod-stream), curl, g++
# (for idle_conns); for tls: openssl, ab (apache2-utils), h2load
# (nghttp2-client). The file-descriptor limit is raised to 65536 where
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
CONTENDERS=(lb haproxy nginx)
LB_BASE_BIN=${LB_BASE_BIN:-}
FRESH=${FRESH:-0}
[[ $FRESH == [01] ]] || { echo "bench: FRESH must be 0 or 1, not \"$FRESH\"" >&2; exit 1; }
[[ -z $LB_BASE_BIN ]] || CONTENDERS+=(lb-base)
read -r -a WORKER_LIST <<<"$WORKERS"

die() { echo "bench: $*" >&2; exit 1; }
((${#WORKER_LIST[@]} > 0)) || die "WORKERS is empty"

# shellcheck source=bench/lib/procs.sh
source bench/lib/procs.sh
# shellcheck source=bench/lib/configs.sh
source bench/lib/configs.sh
# shellcheck source=bench/lib/contenders.sh
source bench/lib/contenders.sh
# shellcheck source=bench/lib/loadgen.sh
source bench/lib/loadgen.sh
# shellcheck source=bench/lib/report.sh
source bench/lib/report.sh

# --- what to run ----------------------------------------------------------------
declare -A want=()
WITH_MEMORY=0
BENCH_ONLY=${BENCH_ONLY:-all}
read -r -a only_words <<<"${BENCH_ONLY//,/ }"
for word in "${only_words[@]}"; do
  case $word in
    all) for s in "${PLAIN_SCENARIOS[@]}" "${TLS_SCENARIOS[@]}"; do want[$s]=1; done; WITH_MEMORY=1 ;;
    plain) for s in "${PLAIN_SCENARIOS[@]}"; do want[$s]=1; done; WITH_MEMORY=1 ;;
    tls) for s in "${TLS_SCENARIOS[@]}"; do want[$s]=1; done ;;
    memory) WITH_MEMORY=1 ;;
    *)
      [[ " ${PLAIN_SCENARIOS[*]} ${TLS_SCENARIOS[*]} " == *" $word "* ]] ||
        die "BENCH_ONLY: unknown word \"$word\" (all, plain, tls, memory, or a scenario: ${PLAIN_SCENARIOS[*]} ${TLS_SCENARIOS[*]})"
      want[$word]=1
      ;;
  esac
done
SCENARIOS=() DIRECT_SCENARIOS=()
for s in "${PLAIN_SCENARIOS[@]}" "${TLS_SCENARIOS[@]}"; do
  [[ -n ${want[$s]:-} ]] && SCENARIOS+=("$s")
done
for s in keepalive-small conn-per-request keepalive-64k; do
  [[ -n ${want[$s]:-} ]] && DIRECT_SCENARIOS+=("$s")
done
((IDLE_CONNS > 0)) || WITH_MEMORY=0
((${#SCENARIOS[@]} > 0 || WITH_MEMORY)) || die "BENCH_ONLY selects nothing to run"
WITH_TLS=0
for s in "${TLS_SCENARIOS[@]}"; do [[ -n ${want[$s]:-} ]] && WITH_TLS=1; done

# --- prerequisites -----------------------------------------------------------
for tool in wrk haproxy nginx curl openssl; do
  command -v "$tool" >/dev/null || die "$tool not found (make bench-deps installs it)"
done
if [[ -n ${want[tls-handshake]:-} ]]; then command -v ab >/dev/null || die "ab not found (apt-get install apache2-utils; make bench-deps installs it)"; fi
if [[ -n ${want[tls-h2]:-} ]]; then command -v h2load >/dev/null || die "h2load not found (apt-get install nghttp2-client; make bench-deps installs it)"; fi
[[ -f $NGINX_STREAM_MODULE ]] || die "$NGINX_STREAM_MODULE missing (apt-get install libnginx-mod-stream)"
for bin in "$LB_BIN" "$BACKEND_BIN" ${LB_BASE_BIN:+"$LB_BASE_BIN"}; do
  [[ -x $bin ]] || die "$bin not found; build it first (make $bin)"
done
if ((WITH_MEMORY)) && [[ ! -x $IDLE_BIN ]]; then
  echo "bench: compiling $IDLE_BIN"
  g++ -O2 -std=c++20 bench/idle_conns.cpp -o "$IDLE_BIN"
fi

if ! ulimit -n 65536 2>/dev/null; then
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fi
FD_LIMIT=$(ulimit -n)
[[ $FD_LIMIT == unlimited ]] && FD_LIMIT=1048576
if ((WITH_MEMORY && FD_LIMIT < IDLE_CONNS + 2000)); then
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
LB_BASE=""
if [[ -n $LB_BASE_BIN ]]; then
  cp "$LB_BASE_BIN" "$work_dir/lb-base"
  LB_BASE=$work_dir/lb-base
fi
RUNS=$OUT/raw/runs.tsv
: >"$RUNS"
: >"$OUT/raw/na.tsv"

# --- process handling --------------------------------------------------------
pids=()   # everything started here, stopped on exit
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

LB_HTTP=$(pick_port); LB_TCP=$(pick_port); LB_TLS=$(pick_port)
HX_HTTP=$(pick_port); HX_TCP=$(pick_port); HX_TLS=$(pick_port)
NG_HTTP=$(pick_port); NG_TCP=$(pick_port); NG_TLS=$(pick_port)
LBB_HTTP=$(pick_port); LBB_TCP=$(pick_port); LBB_TLS=$(pick_port)

make_tls_cert
nginx_h2_listen_param
decide_lb_alpn lb "$LB"
[[ -z $LB_BASE ]] || decide_lb_alpn lb-base "$LB_BASE"

# --- report header ------------------------------------------------------------------
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
LOAD_START=$(loadavg)
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
first_line() { { "$@" 2>&1 || true; } | sed -n 1p; }
VERSIONS="lb: $(first_line "$LB" --version);${LB_BASE:+ lb-base: $(first_line "$LB_BASE" --version) ($LB_BASE_BIN);} $(first_line haproxy -v | cut -d' ' -f1-3); $(first_line nginx -v | sed 's/^nginx version: //'); $(first_line wrk --version | cut -d' ' -f1-2); $(first_line openssl version | cut -d' ' -f1-2)"
if ((WITH_TLS)); then VERSIONS+="; $(first_line h2load --version); ab $(ab -V 2>&1 | sed -n 's/.*Version \([0-9.]*\).*/\1/p' | head -1)"; fi
# Estimate: client runs (plus about 0.25s each for start-up and the CPU
# readings), about 2s per contender start + warm-up (3s with TLS), about 10s
# per contender for the memory test.
n_runs=$((ROUNDS * (${#DIRECT_SCENARIOS[@]} + ${#WORKER_LIST[@]} * ${#CONTENDERS[@]} * ${#SCENARIOS[@]})))
starts=$(( ${#WORKER_LIST[@]} * ${#CONTENDERS[@]} * (FRESH ? ROUNDS : 1) ))
est=$(( n_runs * DUR + n_runs / 4 + starts * (2 + WITH_TLS) + 1 + (WITH_MEMORY ? ${#CONTENDERS[@]} * 10 : 0) ))
echo "bench: nproc $(nproc), $CPU_MODEL, load average $LOAD_START"
echo "bench: scenarios: ${SCENARIOS[*]:-none}$( ((WITH_MEMORY)) && echo ", memory")"
echo "bench: $ROUNDS round(s) per worker count, $n_runs client runs of ${DUR}s, $CONNS connections, workers: $WORKERS; about $(( (est + 30) / 60 )) min ($est s)"
echo "bench: backends http ${HTTP_PORTS[*]}, echo ${ECHO_PORTS[*]}; fd limit $FD_LIMIT"

# --- throughput rounds (paired) ------------------------------------------------------
n_cont=${#CONTENDERS[@]}
start_all_contenders() {  # workers
  local who
  for who in "${CONTENDERS[@]}"; do start_contender "$who" "$1"; done
  for who in "${CONTENDERS[@]}"; do
    warm_up "http://127.0.0.1:$(http_port_of "$who")/" 1
    if ((WITH_TLS)); then warm_up "https://127.0.0.1:$(tls_port_of "$who")/" 1; fi
  done
}
stop_all_contenders() {
  local i
  for ((i = n_cont - 1; i >= 0; i--)); do stop_contender "${CONTENDERS[i]}"; done
}
# FRESH=1: a new file for each lb binary, so its text gets new page-cache
# pages (the old inode's pages go once no process maps them).
fresh_lb_copies() {
  local bin
  for bin in "$LB" ${LB_BASE:+"$LB_BASE"}; do
    { cp "$bin" "$bin.fresh" && mv -f "$bin.fresh" "$bin"; } || die "could not copy $bin afresh"
  done
}
round_workers=("${WORKER_LIST[@]}")
((${#SCENARIOS[@]} > 0)) || round_workers=()   # BENCH_ONLY=memory
for w in "${round_workers[@]}"; do
  echo "bench: workers $w: starting ${CONTENDERS[*]}$( ((FRESH)) && echo " (FRESH: again before each round)")"
  start_all_contenders "$w"
  with_direct=0
  if [[ $w == "${WORKER_LIST[0]}" ]] && ((${#DIRECT_SCENARIOS[@]} > 0)); then
    with_direct=1
    warm_up "http://127.0.0.1:${HTTP_PORTS[0]}/" 1
  fi
  for ((round = 1; round <= ROUNDS; round++)); do
    order=()
    for ((i = 0; i < n_cont; i++)); do order+=("${CONTENDERS[(i + round - 1) % n_cont]}"); done
    echo "bench: workers $w, round $round/$ROUNDS, order: ${order[*]}"
    if ((FRESH && round > 1)); then
      stop_all_contenders
      fresh_lb_copies
      start_all_contenders "$w"
    fi
    if ((with_direct)); then
      for scen in "${DIRECT_SCENARIOS[@]}"; do
        run_scenario "$scen" 1 direct "$round" 0 "$backend_pid" "${HTTP_PORTS[0]}" "" ""
      done
    fi
    for scen in "${SCENARIOS[@]}"; do
      for i in "${!order[@]}"; do
        who=${order[i]}
        run_scenario "$scen" "$w" "$who" "$round" $((i + 1)) "${cpid[$who]}" \
          "$(http_port_of "$who")" "$(tcp_port_of "$who")" "$(tls_port_of "$who")"
      done
    done
  done
  stop_all_contenders
done

# --- memory per idle connection ------------------------------------------------------
MEM_ROWS=()
if ((WITH_MEMORY)); then
  echo "bench: memory per idle keep-alive connection ($IDLE_CONNS connections, workers 1)"
  for who in "${CONTENDERS[@]}"; do
    [[ $who != lb-base ]] || continue
    start_contender "$who" 1
    hp=$(http_port_of "$who")
    warm_up "http://127.0.0.1:$hp/" 2
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
aggregate_runs
write_report
echo
cat "$OUT/results.md"
echo
echo "bench: report in $OUT/results.md, raw client output in $OUT/raw/"
