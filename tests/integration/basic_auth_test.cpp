// tests/integration/basic_auth_test.cpp — SPEC 11 "auth.basic" through the
// real binary: htpasswd entries made by real tools (Apache's htpasswd -B for
// bcrypt, openssl passwd -6 for SHA-crypt), curl -u as the client, and a
// recording server that shows what lb forwarded: missing, malformed and
// wrong credentials are 401 with WWW-Authenticate and never reach the
// server; good ones pass with the Authorization field stripped; a request
// body waits intact while the bcrypt check runs off the loop; a route's auth
// replaces its listener's; the users file is re-read on reload.
#include <doctest/doctest.h>

#include <csignal>

#include "tests/integration/policy_util.h"

using namespace it;
using namespace it::policy;

namespace {

std::string tool_output(const std::vector<std::string>& args) {
  RunResult r = run_command(args, 30s);
  REQUIRE_MESSAGE(r.status == 0, r.err);
  std::string out = r.out;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// "user:$2y$..." from htpasswd -nbB (bcrypt, cost 5 to keep the test quick).
std::string bcrypt_line(const std::string& user, const std::string& password) {
  return tool_output({"/usr/bin/htpasswd", "-nbB", "-C", "5", user, password});
}

// "user:$6$..." from openssl passwd -6 (SHA-512 crypt).
std::string sha_crypt_line(const std::string& user, const std::string& password) {
  return user + ":" + tool_output({"/usr/bin/openssl", "passwd", "-6", password});
}

}  // namespace

TEST_CASE("basic auth: bcrypt and SHA-crypt users pass with the credentials stripped; everyone else gets 401") {
  RecordingServer server("app");
  TempDir dir;
  write_file(dir.file("htpasswd"), "# users\n" + bcrypt_line("bob", "b0b-secret") + "\n" +
                                       sha_crypt_line("alice", "al1ce pw") + "\n");
  json listener = web_listener("app", {{"auth", {{"basic", {{"users_file", dir.file("htpasswd")}, {"realm", "staff"}}}}}});
  Lb lb(make_config({listener}, {pool_of("app", {&server})}));
  const std::string url = base_url(lb.port()) + "/private";

  // No credentials: the challenge, lb's JSON body, nothing forwarded.
  auto none = get(lb.port(), "/private");
  REQUIRE(none);
  CHECK(none->status == 401);
  CHECK(none->header("WWW-Authenticate") == "Basic realm=\"staff\", charset=\"UTF-8\"");
  CHECK(none->body == "{\"error\":\"authentication required\"}\n");
  // Wrong password, unknown user, another scheme, not base64.
  CHECK(curl({"-u", "bob:wrong"}, url).response.status == 401);
  CHECK(curl({"-u", "mallory:b0b-secret"}, url).response.status == 401);
  CHECK(get(lb.port(), "/private", {{"Authorization", "Bearer abc"}})->status == 401);
  CHECK(get(lb.port(), "/private", {{"Authorization", "Basic !!!!"}})->status == 401);
  CHECK(server.count() == 0);

  // Good credentials, twice each (the second from the per-worker cache).
  for (int i = 0; i < 2; ++i) {
    CurlResult bob = curl({"-u", "bob:b0b-secret"}, url);
    CHECK(bob.response.status == 200);
    CHECK(bob.response.body == "app");
    CurlResult alice = curl({"-u", "alice:al1ce pw"}, url);
    CHECK(alice.response.status == 200);
  }
  REQUIRE(server.count() == 4);
  for (const std::string& head : server.heads()) CHECK(values(head, "authorization").empty());

  auto lines = wait_access_lines(lb, 9);
  int refused = 0;
  for (const json& l : lines) refused += l["status"] == 401;
  CHECK(refused == 5);
}

TEST_CASE("basic auth: a request body waits intact while the credentials are checked off the loop") {
  RecordingServer server("app", [](const std::string& head, int) {
    return RecordingServer::ok(value(head, "content-length"));
  });
  TempDir dir;
  write_file(dir.file("htpasswd"), bcrypt_line("bob", "pw") + "\n");
  json listener = web_listener("app", {{"auth", {{"basic", {{"users_file", dir.file("htpasswd")}}}}}});
  Lb lb(make_config({listener}, {pool_of("app", {&server})}));
  std::string body(200'000, 'x');
  write_file(dir.file("body"), body);
  CurlResult r = curl({"-u", "bob:pw", "--data-binary", "@" + dir.file("body")}, base_url(lb.port()) + "/upload");
  CHECK(r.response.status == 200);
  CHECK(r.response.body == "200000");
  // HTTP/2 goes through the same check.
  json h2 = web_listener("app", {{"auth", {{"basic", {{"users_file", dir.file("htpasswd")}}}}},
                                 {"http2", {{"cleartext", true}}}});
  Lb lb2(make_config({h2}, {pool_of("app", {&server})}));
  CurlResult r2 = curl({"--http2-prior-knowledge", "-u", "bob:pw", "--data-binary", "@" + dir.file("body")},
                       base_url(lb2.port()) + "/upload");
  CHECK(r2.response.version == "HTTP/2");
  CHECK(r2.response.status == 200);
  CHECK(r2.response.body == "200000");
  CHECK(curl({"--http2-prior-knowledge", "-u", "bob:nope"}, base_url(lb2.port()) + "/x").response.status == 401);
}

TEST_CASE("basic auth: a route's auth replaces its listener's; the users file is re-read on reload") {
  RecordingServer server("app");
  TempDir dir;
  write_file(dir.file("staff"), sha_crypt_line("alice", "one") + "\n");
  write_file(dir.file("admins"), sha_crypt_line("root", "two") + "\n");
  json routes = json::array({{{"path_prefix", "/admin/"},
                              {"auth", {{"basic", {{"users_file", dir.file("admins")}, {"realm", "admin"}}}}}}});
  json listener = web_listener("app", {{"routes", routes}, {"auth", {{"basic", {{"users_file", dir.file("staff")}}}}}});
  json config = make_config({listener}, {pool_of("app", {&server})});
  Lb lb(config);
  const std::string base = base_url(lb.port());
  CHECK(curl({"-u", "alice:one"}, base + "/page").response.status == 200);
  CHECK(curl({"-u", "alice:one"}, base + "/admin/x").response.status == 401);
  CHECK(curl({"-u", "root:two"}, base + "/admin/x").response.status == 200);
  CHECK(curl({"-u", "root:two"}, base + "/page").response.status == 401);

  // A new password in the file takes effect on SIGHUP; the old one stops working.
  write_file(dir.file("staff"), sha_crypt_line("alice", "three") + "\n");
  REQUIRE(lb.signal(SIGHUP));
  CHECK(wait_until([&] { return curl({"-u", "alice:three"}, base + "/page").response.status == 200; }, 5s));
  CHECK(curl({"-u", "alice:one"}, base + "/page").response.status == 401);
}

TEST_CASE("basic auth: unsupported or malformed htpasswd entries are configuration errors") {
  TempDir dir;
  write_file(dir.file("htpasswd"), "plain:secret\nmd5:$apr1$abc$defghijklmnopqrstuvwx\nnocolon\n");
  json config = make_config({web_listener("p", {{"auth", {{"basic", {{"users_file", dir.file("htpasswd")}}}}}})},
                            {make_pool("p", "round_robin", {server(9)})});
  RunResult r = check_config(dir, config);
  CHECK(r.status != 0);
  CHECK(r.err.find("line 1: user \"plain\" has an unsupported hash") != std::string::npos);
  CHECK(r.err.find("line 2: user \"md5\" has an unsupported hash") != std::string::npos);
  CHECK(r.err.find("line 3: expected user:hash") != std::string::npos);
  CHECK(r.err.find("/listeners/0/auth/basic/users_file") != std::string::npos);
}

// One keep-alive connection carries requests through a route with auth and
// one without: what the first request's check decided (strip the
// credentials) must not carry over to the next (each request's admission
// state is reset as a whole).
TEST_CASE("basic auth: on one keep-alive connection, only the request that passed auth has its credentials stripped") {
  RecordingServer server("app");
  TempDir dir;
  write_file(dir.file("admins"), sha_crypt_line("root", "two") + "\n");
  json routes = json::array({{{"path_prefix", "/admin/"}, {"auth", {{"basic", {{"users_file", dir.file("admins")}}}}}}});
  Lb lb(make_config({web_listener("app", {{"routes", routes}})}, {pool_of("app", {&server})}));
  const std::string root = "Basic cm9vdDp0d28=";  // root:two

  Socket s = Socket::connect(lb.port());
  REQUIRE(s);
  auto exchange = [&](const std::string& target, std::vector<std::pair<std::string, std::string>> headers) {
    HttpRequest req;
    req.target = target;
    req.headers = std::move(headers);
    REQUIRE(s.send_all(req.serialize()));
    auto r = read_http_response(s, 5s);
    REQUIRE(r);
    return r->status;
  };
  CHECK(exchange("/admin/x", {{"Authorization", root}}) == 200);
  CHECK(exchange("/page", {{"Authorization", root}}) == 200);
  CHECK(exchange("/admin/y", {}) == 401);
  CHECK(exchange("/admin/z", {{"Authorization", root}}) == 200);

  REQUIRE(server.count() == 3);
  const std::vector<std::string> heads = server.heads();
  CHECK(values(heads[0], "authorization").empty());
  CHECK(values(heads[1], "authorization") == std::vector<std::string>{root});
  CHECK(values(heads[2], "authorization").empty());
}

// Checks are bounded per process (BasicAuthJob::kMaxJobsInFlight): a flood
// of wrong passwords against an expensive bcrypt entry gets 503 with
// Retry-After for everything past the bound, at once, and never reaches the
// server; when the flooding clients go away their queued checks are
// cancelled, so a genuine user is served in about one hash time instead of
// after the whole backlog (256 checks of ~1 s on a 4-thread pool: over a
// minute).
TEST_CASE("basic auth: a flood of checks past the bound is answered 503 at once; a departed client's queued check is cancelled") {
  RecordingServer server("app");
  TempDir dir;
  write_file(dir.file("htpasswd"), tool_output({"/usr/bin/htpasswd", "-nbB", "-C", "14", "carol", "right"}) + "\n");
  json listener = web_listener("app", {{"auth", {{"basic", {{"users_file", dir.file("htpasswd")}}}}}});
  Lb lb(make_config({listener}, {pool_of("app", {&server})}));

  constexpr int kFlood = 320;
  std::vector<Socket> flood;
  for (int i = 0; i < kFlood; ++i) {
    Socket s = Socket::connect(lb.port());
    REQUIRE(s);
    HttpRequest req;
    req.headers = {{"Authorization", "Basic Y2Fyb2w6d3Jvbmc="}};  // carol:wrong
    REQUIRE(s.send_all(req.serialize()));
    flood.push_back(std::move(s));
  }
  // Everything past the bound is refused without waiting for a hash.
  std::vector<bool> answered(kFlood, false);
  int busy = 0;
  auto poll_answers = [&] {
    for (int i = 0; i < kFlood; ++i) {
      if (answered[i] || flood[i].wait_closed(1ms) != Io::ok) continue;  // ok: bytes arrived
      answered[i] = true;
      auto r = read_http_response(flood[i], 2s);
      REQUIRE(r);
      if (r->status == 401) continue;  // one of the first checks, done (a slow machine's hash time passed)
      CHECK(r->status == 503);
      CHECK(r->header("Retry-After") == "1");
      CHECK(r->body == "{\"error\":\"authentication busy\"}\n");
      ++busy;
    }
    return busy >= kFlood - 256 - 16;
  };
  CHECK(wait_until(poll_answers, 10s));
  CHECK(busy <= kFlood - 256 + 16);
  CHECK(server.count() == 0);

  // The flooders leave: their queued checks are cancelled, so carol's own
  // check runs right after the few already on the pool's threads. lb learns
  // of the closes as it reads them, so carol may meet a 503 or two first:
  // she comes back, as Retry-After says. (Without the cancellation the
  // bound stays full, and a check that gets in waits behind 250 others of
  // ~1 s on a pool of 4 threads sharing 2 cores: past both deadlines.)
  flood.clear();
  CurlResult carol;
  CHECK(wait_until(
      [&] {
        carol = curl({"-u", "carol:right", "--max-time", "20"}, base_url(lb.port()) + "/");
        return carol.response.status != 503;
      },
      30s, 250ms));
  CHECK(carol.response.status == 200);
  CHECK(server.count() == 1);
}
