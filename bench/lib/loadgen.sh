# bench/lib/loadgen.sh — the scenarios and their load generators for
# bench/bench.sh (sourced, not run): which client runs each scenario, how its
# output is parsed, and one measured run (client + CPU time of the process
# under test) appended to runs.tsv.
#
# Clients (CONNS connections each, one client thread/process):
#   wrk     keep-alive HTTP/1.1, or "Connection: close" for conn-per-request;
#           over https for tls-keepalive. wrk resumes the TLS session when it
#           reconnects, so it is not used to count handshakes.
#   ab      tls-handshake: ApacheBench, HTTP/1.0 (the server closes after
#           each response), a new SSL object per connection and no session
#           offered: every request is a new TCP connection and a full TLS
#           handshake (HAProxy's counters showed 0% resumption for ab, 99%
#           for wrk -H 'Connection: close', 98% for h2load --h1 likewise).
#   h2load  tls-h2: -m H2_STREAMS concurrent streams per connection, ALPN
#           h2; the run counts only when "Application protocol: h2" was
#           negotiated, else the row is n/a (h2 not negotiated).
# TLS is OpenSSL's default on both sides: TLSv1.3, X25519, and
# TLS_AES_256_GCM_SHA384 (h2load prefers AES-128 by default; it is pinned to
# TLS13_CIPHER so a server that honours the client's order — nginx — and one
# that prefers its own — HAProxy, lb — negotiate the same suite).
# Uses from the caller: OUT, work_dir, DUR, CONNS, RUNS, H2, CLK_TCK.
# shellcheck shell=bash disable=SC2034,SC2154  # variables shared with bench/bench.sh

PLAIN_SCENARIOS=(keepalive-small conn-per-request keepalive-64k tcp-l4)
TLS_SCENARIOS=(tls-keepalive tls-handshake tls-h2)
H2_STREAMS=${H2_STREAMS:-10}
TLS_POOL_IDLE=$((CONNS * H2_STREAMS))   # idle backend connections kept for the HTTPS listener (configs.sh)
TLS13_CIPHER=TLS_AES_256_GCM_SHA384
AB_MAX_REQUESTS=1000000   # ab stops at -t seconds or at this many requests

client_of() {  # scenario -> wrk | ab | h2load
  case $1 in tls-handshake) echo ab ;; tls-h2) echo h2load ;; *) echo wrk ;; esac
}

# Parsers: print "rps p50_us p99_us errors requests protocol" (protocol "-"
# when the client does not report one). errors = socket/connection errors +
# responses other than 2xx/3xx.
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
    END { printf "%s %s %s %d %d -\n", (rps == "" ? 0 : rps), (p50 == "" ? 0 : p50), (p99 == "" ? 0 : p99), err, reqs }
  ' "$1"
}

# ab: percentiles are whole milliseconds. "Failed requests" without its
# "Length" part (ab compares every body's length with the first one's).
parse_ab() {
  awk '
    /^Requests per second:/ { rps = $4 }
    /^Complete requests:/ { reqs = $3 }
    /^Failed requests:/ { failed = $3 }
    /^ +\(Connect: / {
      gsub(/[(),]/, ""); split_seen = 1
      for (i = 1; i < NF; i++) if ($i == "Connect:" || $i == "Receive:" || $i == "Exceptions:") err += $(i + 1)
    }
    /^Non-2xx responses:/ { err += $3 }
    /^ +50% / { p50 = $2 * 1000 }
    /^ +99% / { p99 = $2 * 1000 }
    END {
      if (!split_seen) err += failed
      printf "%s %s %s %d %d -\n", (rps == "" ? 0 : rps), (p50 == "" ? 0 : p50), (p99 == "" ? 0 : p99), err, reqs
    }
  ' "$1"
}

# h2load: p50/p99 from its per-request log (start, status, duration in us).
parse_h2load() {
  local log=$2 p50=0 p99=0
  if [[ -s $log ]]; then
    read -r p50 p99 < <(cut -f3 "$log" | sort -n | awk '
      { a[NR] = $1 }
      function rank(p,   r) { r = int(p * NR); if (r < p * NR) r++; return a[r < 1 ? 1 : r] }
      END { print rank(0.50), rank(0.99) }')
  fi
  awk -v p50="$p50" -v p99="$p99" '
    /^finished in/ { rps = $4 }
    /^requests:/ { reqs = $6; err += $10 }
    /^status codes:/ { err += $7 + $9 }
    /^Application protocol:/ { proto = $3 }
    END { printf "%s %s %s %d %d %s\n", (rps == "" ? 0 : rps), p50, p99, err, reqs, (proto == "" ? "none" : proto) }
  ' "$1"
}

# n/a rows: scenario workers contender reason -> na.tsv (once each).
declare -A NA_SEEN=()
mark_na() {
  local key="$1 $2 $3"
  [[ -n ${NA_SEEN[$key]:-} ]] && return 0
  NA_SEEN[$key]=1
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$OUT/raw/na.tsv"
}
print_na() {  # scenario contender workers reason
  printf '  %-17s %-8s w%s  n/a (%s)\n' "$1" "$2" "$3" "$4"
}

# run_load scenario workers contender round slot pid client url [client args...]
# Also measures the CPU time the process pid (and its children) used during
# the run, per request: robust against other load on the machine, unlike
# req/s. Only the contender under test is measured (the others sit idle).
run_load() {
  local scen=$1 w=$2 who=$3 round=$4 slot=$5 pid=$6 client=$7 url=$8 raw log t0 t1 cpu
  shift 8
  raw=$OUT/raw/$scen-$who-w$w-r$round.txt
  log=$work_dir/h2load-requests.log
  rm -f "$log"
  t0=$(cpu_ticks "$pid")
  case $client in
    wrk) wrk -t1 -c"$CONNS" -d"${DUR}s" --latency "$@" "$url" >"$raw" 2>&1 || true ;;
    ab) ab -q -r -c"$CONNS" -t"$DUR" -n "$AB_MAX_REQUESTS" "$@" "$url" >"$raw" 2>&1 || true ;;
    h2load)
      h2load -t1 -c"$CONNS" -m"$H2_STREAMS" -D"$DUR" --tls13-ciphers="$TLS13_CIPHER" \
        --log-file="$log" "$@" "$url" >"$raw" 2>&1 || true
      ;;
  esac
  t1=$(cpu_ticks "$pid")
  read -r rps p50 p99 err reqs proto < <("parse_$client" "$raw" "$log")
  rm -f "$log"
  if [[ $client == h2load && $proto != h2 ]]; then
    mark_na "$scen" "$w" "$who" "h2 not negotiated"
    print_na "$scen" "$who" "$w" "h2 not negotiated: $proto"
    return 0
  fi
  cpu=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN { printf "%.1f", (n > 0 ? d * 1e6 / hz / n : 0) }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scen" "$w" "$who" "$round" "$rps" "$p50" "$p99" "$err" "$cpu" "$slot" >>"$RUNS"
  printf '  %-17s %-8s w%s  %8.0f req/s  p50 %8.0fus  p99 %8.0fus  errors %s  cpu %6.1fus/req\n' \
    "$scen" "$who" "$w" "$rps" "$p50" "$p99" "$err" "$cpu"
}

# run_scenario scenario workers contender round slot pid http_port tcp_port tls_port
run_scenario() {
  local hp=$7 tp=$8 sp=$9
  local -a a=("$1" "$2" "$3" "$4" "$5" "$6")
  if [[ $1 == tls-h2 && ${H2[$3]:-1} == 0 ]]; then  # known at start: skip the run
    mark_na "$1" "$2" "$3" "h2 not negotiated"
    print_na "$1" "$3" "$2" "h2 not negotiated"
    return 0
  fi
  case $1 in
    keepalive-small) run_load "${a[@]}" wrk "http://127.0.0.1:$hp/" ;;
    conn-per-request) run_load "${a[@]}" wrk "http://127.0.0.1:$hp/" -H 'Connection: close' ;;
    keepalive-64k) run_load "${a[@]}" wrk "http://127.0.0.1:$hp/bytes/65536" ;;
    tcp-l4) run_load "${a[@]}" wrk "http://127.0.0.1:$tp/" ;;
    tls-keepalive) run_load "${a[@]}" wrk "https://127.0.0.1:$sp/" ;;
    tls-handshake) run_load "${a[@]}" ab "https://127.0.0.1:$sp/" ;;
    tls-h2) run_load "${a[@]}" h2load "https://127.0.0.1:$sp/" ;;
    *) die "unknown scenario $1" ;;
  esac
}
