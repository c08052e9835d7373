# bench/lib/contenders.sh — starting, checking, warming up and stopping lb,
# HAProxy and nginx for bench/bench.sh (sourced, not run).
# Uses from the caller: OUT, work_dir, LB, pids, the *_HTTP/*_TCP ports,
# CONNS; the config writers of bench/lib/configs.sh.
# Sets: cpid[contender] (main pid while it runs).
# shellcheck shell=bash disable=SC2034,SC2154  # variables shared with bench/bench.sh

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
