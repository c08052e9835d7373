# bench/lib/loadgen.sh — the scenarios and their load generator for
# bench/bench.sh (sourced, not run): wrk's invocation per scenario, its
# output parsed, and one measured run (wrk + CPU time of the process under
# test) appended to runs.tsv.
# Uses from the caller: OUT, DUR, CONNS, RUNS, CLK_TCK.
# shellcheck shell=bash disable=SC2034,SC2154  # variables shared with bench/bench.sh

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
