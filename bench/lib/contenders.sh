# bench/lib/contenders.sh — starting, checking, warming up and stopping lb,
# HAProxy and nginx for bench/bench.sh (sourced, not run).
# Uses from the caller: OUT, work_dir, LB, LB_BASE (with LB_BASE_BIN), pids, the *_HTTP/*_TCP/*_TLS ports,
# CONNS; the config writers of bench/lib/configs.sh.
# Sets: cpid[contender] (main pid while it runs) and H2[contender] (1 when its
# TLS listener negotiates h2 by ALPN, 0 when not).
# shellcheck shell=bash disable=SC2034,SC2154  # variables shared with bench/bench.sh

declare -A cpid=() H2=()
http_port_of() { case $1 in lb) echo "$LB_HTTP" ;; lb-base) echo "$LBB_HTTP" ;; haproxy) echo "$HX_HTTP" ;; nginx) echo "$NG_HTTP" ;; esac; }
tcp_port_of() { case $1 in lb) echo "$LB_TCP" ;; lb-base) echo "$LBB_TCP" ;; haproxy) echo "$HX_TCP" ;; nginx) echo "$NG_TCP" ;; esac; }
tls_port_of() { case $1 in lb) echo "$LB_TLS" ;; lb-base) echo "$LBB_TLS" ;; haproxy) echo "$HX_TLS" ;; nginx) echo "$NG_TLS" ;; esac; }
lb_bin_of() { case $1 in lb) echo "$LB" ;; lb-base) echo "$LB_BASE" ;; esac; }

http_ok() {  # url [curl args] -> 0 when it answers 200
  local url=$1
  shift
  [[ $(curl -s -k -o /dev/null -m 5 -w '%{http_code}' "$@" "$url") == 200 ]]
}

start_contender() {  # name workers
  local name=$1 w=$2 f log=$OUT/logs/$1-w$2.log hp tp sp
  hp=$(http_port_of "$name"); tp=$(tcp_port_of "$name"); sp=$(tls_port_of "$name")
  case $name in
    lb | lb-base)
      local bin
      bin=$(lb_bin_of "$name")
      f=$(write_lb_conf "$w" "$name")
      "$bin" -c "$f" --check >/dev/null || die "$name rejects $f"
      "$bin" -c "$f" >>"$log" 2>&1 &
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
  local port
  for port in "$hp" "$tp" "$sp"; do
    wait_for "$pid" "$name" port_open "$port" || { cat "$log" >&2; exit 1; }
  done
  # Sanity: small body, 64 KiB body, HTTP through the TCP listener, HTTPS.
  wait_for "$pid" "$name" http_ok "http://127.0.0.1:$hp/" || die "$name: GET / does not answer 200"
  local size
  size=$(curl -s -o /dev/null -m 5 -w '%{size_download}' "http://127.0.0.1:$hp/bytes/65536")
  [[ $size == 65536 ]] || die "$name: /bytes/65536 gave $size bytes"
  http_ok "http://127.0.0.1:$tp/" || die "$name: GET / through the tcp listener does not answer 200"
  http_ok "https://127.0.0.1:$sp/" --http1.1 || die "$name: GET / over HTTPS does not answer 200"
  # h2 by ALPN: HAProxy and nginx must; lb may not have HTTP/2 yet.
  if [[ $(curl -s -k -o /dev/null -m 5 -w '%{http_code} %{http_version}' --http2 "https://127.0.0.1:$sp/") == "200 2" ]]; then
    H2[$name]=1
  else
    H2[$name]=0
    [[ $name == lb* ]] || die "$name: HTTPS does not negotiate h2"
  fi
}

stop_contender() {  # name
  local pid=${cpid[$1]} i
  stop "$pid" 5
  unset "cpid[$1]"
  # Forget the pid too, so the exit trap never signals a recycled one
  # (FRESH=1 starts and stops every contender once per round).
  for i in "${!pids[@]}"; do [[ ${pids[i]} != "$pid" ]] || unset "pids[i]"; done
  pids=("${pids[@]}")
}

warm_up() {  # url seconds
  wrk -t1 -c"$CONNS" -d"$2s" "$1" >/dev/null 2>&1 || true
}
