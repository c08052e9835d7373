// tests/unit/conf_policy_config.h — a valid configuration that uses every
// SPEC 10 key (route names, path_prefix / path_exact / path_regex, methods,
// headers, the three actions, rewrites, header rules with variables, fault,
// per-route retries and timeouts, error_pages, sticky), shared by
// conf_route_test.cpp (what loads) and conf_route_errors_test.cpp (patches of
// it that must not load).
#pragma once

#include <nlohmann/json.hpp>

#include "tests/unit/conf_test_util.h"

namespace conf_test {

// Route 0 "api": pool "api" with every forwarding key; 1 (unnamed): redirect;
// 2 "old": redirect by prefix; 3 "items": regex, no action (the listener's
// pool); 4 "ping": respond on a wildcard host; 5 "teapot": respond to anything.
inline nlohmann::json policy_config() {
  return nlohmann::json::parse(R"({
  "listeners": [
    {"name": "web", "listen": "127.0.0.1:8080", "pool": "web",
     "request_headers": {"set": {"X-Forwarded-By": "lb %{listener}"}, "add": {}, "remove": ["X-Internal"]},
     "response_headers": {"set": {"Strict-Transport-Security": "max-age=63072000"}, "remove": ["Server"]},
     "error_pages": {"503": "errors/503.html", "5xx": "errors/5xx.json", "404": "errors/404.txt"},
     "routes": [
       {"name": "api", "host": "API.Example.com.", "path_prefix": "/api/", "methods": ["GET", "HEAD"],
        "headers": {"X-User-Type": "premium"}, "pool": "api",
        "rewrite": {"prefix": "/"},
        "request_headers": {"set": {"X-Route": "%{route}"},
                            "add": {"X-Client": "ip=%{client_ip}:%{client_port} sub=%{jwt.sub}"},
                            "remove": ["X-Debug"]},
        "response_headers": {"set": {"X-Served-By": "%{server}"}, "add": {"X-Path": "%{path}"},
                             "remove": ["X-Powered-By"]},
        "timeouts": {"response": "5s"},
        "retries": {"backoff_base": "10ms"},
        "fault": {"delay": "200ms", "delay_percent": 10, "abort_status": 503, "abort_percent": 1.5}},
       {"path_exact": "/login",
        "redirect": {"scheme": "https", "host": "Login.Example.com", "port": 8443, "path": "/signin",
                     "status": 308, "keep_query": false}},
       {"name": "old", "path_prefix": "/old/", "redirect": {"prefix": "/new/", "status": 302}},
       {"name": "items", "path_regex": "^/v[0-9]+/items$",
        "rewrite": {"regex": "^/v([0-9]+)/items$", "replace": "/items/\\1"}},
       {"name": "ping", "host": "*.example.com", "path_exact": "/ping",
        "respond": {"status": 204, "body": "", "content_type": "text/plain"}},
       {"name": "teapot", "respond": {"status": 418, "body": "short and stout", "content_type": "text/html"},
        "response_headers": {"set": {"X-Tls": "%{tls_version} %{tls_sni} %{scheme} %{host} %{request_id}"}}}
     ]}
  ],
  "pools": [
    {"name": "web", "servers": [{"address": "127.0.0.1:9001"}, {"address": "127.0.0.1:9002"}],
     "sticky": {"cookie": "srv", "max_age": "1h", "secure": true, "http_only": false, "same_site": "Strict"}},
    {"name": "api", "servers": [{"address": "127.0.0.1:9101"}],
     "retries": {"attempts": 5, "on": ["connect_failure", "503"], "backoff_base": "20ms", "backoff_max": "2s",
                 "budget_percent": 30},
     "timeouts": {"connect": "1s", "response": "20s", "idle": "90s"}}
  ]
})");
}

// The error pages policy_config() names, relative to the configuration file.
inline void write_error_pages(const TempDir& dir) {
  dir.write("errors/503.html", "<h1>busy</h1>\n");
  dir.write("errors/5xx.json", "{\"error\": \"server\"}");
  dir.write("errors/404.txt", "not here");
}

}  // namespace conf_test
