# bench/lib/configs.sh — the contenders' configuration files for
# bench/bench.sh (sourced, not run): the same listeners on the same 3
# backend ports for each.
# Uses from the caller: OUT, work_dir, HTTP_PORTS, the *_HTTP/*_TCP ports,
# IDLE_CONNS, FD_LIMIT, LB_FORWARDED, NGINX_STREAM_MODULE.
# shellcheck shell=bash disable=SC2034,SC2154  # variables shared with bench/bench.sh

write_lb_conf() {  # workers -> file
  local w=$1 f=$OUT/conf/lb-w$1.json fwd=false
  [[ $LB_FORWARDED == 1 ]] && fwd=true
  cat >"$f" <<CONF
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
CONF
  echo "$f"
}
