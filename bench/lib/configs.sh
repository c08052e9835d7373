# bench/lib/configs.sh — the contenders' configuration files for
# bench/bench.sh (sourced, not run), and the TLS certificate they share.
# Every contender gets the same three listeners: plain HTTP, TCP (L4), and
# HTTPS offering ALPN h2 and http/1.1, all on the same 3 backend ports.
#
# Idle backend connections kept: HAProxy keeps any number (http-reuse always,
# pool-max-conn -1); lb keeps keepalive.max_idle per server and worker, nginx
# "keepalive N" per worker. The plain listeners keep the original 64 / 32
# (wrk's 50 connections: at most 50 requests in flight). The HTTPS listener
# has its own pool ("web_tls") with TLS_POOL_IDLE = CONNS × H2_STREAMS (500)
# for both: h2load keeps that many requests in flight, and a smaller cache
# closes and reopens backend connections all the time (nginx with keepalive
# 32 served h2 at half the rate of keepalive 1024 here).
# Uses from the caller: OUT, work_dir, HTTP_PORTS, the *_HTTP/*_TCP/*_TLS
# ports, IDLE_CONNS, FD_LIMIT, LB_FORWARDED, NGINX_STREAM_MODULE, LB.
# shellcheck shell=bash disable=SC2034,SC2154  # variables shared with bench/bench.sh

# One self-signed ECDSA P-256 certificate (SAN localhost, 127.0.0.1) for all
# contenders: TLS_CERT, TLS_KEY, and TLS_PEM (both, for HAProxy's "crt").
make_tls_cert() {
  TLS_CERT=$work_dir/tls/cert.pem TLS_KEY=$work_dir/tls/key.pem TLS_PEM=$work_dir/tls/cert+key.pem
  mkdir -p "$work_dir/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
    -keyout "$TLS_KEY" -out "$TLS_CERT" >"$work_dir/tls/openssl.log" 2>&1 ||
    { cat "$work_dir/tls/openssl.log" >&2; die "openssl could not make the certificate"; }
  cat "$TLS_CERT" "$TLS_KEY" >"$TLS_PEM"
}

# ALPN list of lb's TLS listener, as JSON. Offered like HAProxy's and nginx's
# (h2, http/1.1) when lb accepts it; an lb that has no HTTP/2 yet rejects
# "h2" at --check, and then offers http/1.1 only: its tls-h2 rows say n/a.
# The baseline lb (LB_BASE_BIN, contender "lb-base") gets its own decision.
declare -A LB_ALPN=([lb]='"h2", "http/1.1"' [lb-base]='"h2", "http/1.1"')
LB_ALPN_NOTE=""
decide_lb_alpn() {  # contender (lb | lb-base) binary
  local who=$1 bin=$2 f err note
  f=$(write_lb_conf 1 "$who")
  if ! err=$("$bin" -c "$f" --check 2>&1); then
    LB_ALPN[$who]='"http/1.1"'
    f=$(write_lb_conf 1 "$who")
    "$bin" -c "$f" --check >/dev/null 2>&1 || { echo "$err" >&2; die "$who rejects $f"; }
    note="$who rejects ALPN h2 ($(sed -n 1p <<<"$err" | sed 's/^[^ ]*: //')); its TLS listener offers http/1.1 only"
    LB_ALPN_NOTE+="${LB_ALPN_NOTE:+; }$note"
    echo "bench: $note"
  fi
}

# The same configuration for lb and the baseline lb-base, on their own ports.
write_lb_conf() {  # workers [contender] -> file
  local w=$1 who=${2:-lb} fwd=false
  local f=$OUT/conf/$who-w$w.json
  local http_port tcp_port tls_port
  http_port=$(http_port_of "$who"); tcp_port=$(tcp_port_of "$who"); tls_port=$(tls_port_of "$who")
  [[ $LB_FORWARDED == 1 ]] && fwd=true
  cat >"$f" <<CONF
{
  "workers": $w,
  "shutdown_timeout": "1s",
  "logging": { "level": "warn", "error_log": "-", "access_log": null },
  "listeners": [
    { "name": "http", "listen": "127.0.0.1:$http_port", "protocol": "http", "pool": "web",
      "forwarded_headers": $fwd },
    { "name": "tcp", "listen": "127.0.0.1:$tcp_port", "protocol": "tcp", "pool": "web" },
    { "name": "https", "listen": "127.0.0.1:$tls_port", "protocol": "http", "pool": "web_tls",
      "forwarded_headers": $fwd,
      "tls": { "certificates": [ { "cert": "$TLS_CERT", "key": "$TLS_KEY" } ],
               "alpn": [ ${LB_ALPN[$who]} ] } }
  ],
  "pools": [
    { "name": "web", "algorithm": "round_robin",
      "servers": [
        { "address": "127.0.0.1:${HTTP_PORTS[0]}" },
        { "address": "127.0.0.1:${HTTP_PORTS[1]}" },
        { "address": "127.0.0.1:${HTTP_PORTS[2]}" }
      ],
      "keepalive": { "max_idle": 64, "idle_timeout": "60s" } },
    { "name": "web_tls", "algorithm": "round_robin",
      "servers": [
        { "address": "127.0.0.1:${HTTP_PORTS[0]}" },
        { "address": "127.0.0.1:${HTTP_PORTS[1]}" },
        { "address": "127.0.0.1:${HTTP_PORTS[2]}" }
      ],
      "keepalive": { "max_idle": $TLS_POOL_IDLE, "idle_timeout": "60s" } }
  ]
}
CONF
  echo "$f"
}

write_haproxy_conf() {
  local w=$1 f=$OUT/conf/haproxy-w$1.cfg
  # maxconn above the memory test's connection count; "no strict-limits" lets
  # HAProxy start when the fd limit is below its 2*maxconn estimate (the test
  # needs about maxconn + 100 descriptors, not 2*maxconn).
  cat >"$f" <<CONF
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

frontend fe_tls
  bind 127.0.0.1:$HX_TLS ssl crt $TLS_PEM alpn h2,http/1.1
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
CONF
  echo "$f"
}

# nginx: ssl_protocols as HAProxy's and lb's defaults (TLS 1.2 and 1.3; nginx
# before 1.23.4 leaves 1.3 out of its default and would handshake TLS 1.2).
# nginx 1.25.1 turned "listen ... http2" into the "http2 on;" directive
# (Debian 12 has 1.22: the listen parameter).
nginx_h2_listen_param() {
  local v
  v=$(nginx -v 2>&1 | sed -n 's|^nginx version: nginx/\([0-9.]*\).*|\1|p')
  if [[ $(printf '%s\n' "$v" 1.25.1 | sort -V | head -1) == 1.25.1 ]]; then
    NG_H2_LISTEN="" NG_H2_DIRECTIVE=" http2 on;"
  else
    NG_H2_LISTEN=" http2" NG_H2_DIRECTIVE=""
  fi
}

nginx_location() {  # upstream
  cat <<CONF
location / {
      proxy_pass http://$1;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_max_temp_file_size 0;
    }
CONF
}

write_nginx_conf() {
  local w=$1 f=$OUT/conf/nginx-w$1.conf n=$work_dir/nginx
  cat >"$f" <<CONF
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

  upstream web_tls {
    server 127.0.0.1:${HTTP_PORTS[0]};
    server 127.0.0.1:${HTTP_PORTS[1]};
    server 127.0.0.1:${HTTP_PORTS[2]};
    keepalive $TLS_POOL_IDLE;
    keepalive_requests 100000000;
    keepalive_timeout 60s;
  }

  server {
    listen 127.0.0.1:$NG_HTTP reuseport;
    $(nginx_location web)
  }

  server {
    listen 127.0.0.1:$NG_TLS ssl$NG_H2_LISTEN reuseport;$NG_H2_DIRECTIVE
    ssl_certificate $TLS_CERT;
    ssl_certificate_key $TLS_KEY;
    ssl_protocols TLSv1.2 TLSv1.3;
    $(nginx_location web_tls)
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
CONF
  echo "$f"
}
