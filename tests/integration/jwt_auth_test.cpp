// tests/integration/jwt_auth_test.cpp — SPEC 11 "auth.jwt" through the real
// binary. Keys are generated at test time and tokens minted by PyJWT (an
// independent implementation; /usr/bin/python3, whose PyJWT the Makefile
// installs), the client is curl or a raw socket, and a recording server
// shows what lb forwarded: good RS256 / ES256 tokens pass with their claims
// in X-User and the token stripped; expired, wrong-audience, wrong-issuer,
// unsigned and algorithm-confused tokens are 401 invalid_token; a missing
// token is 401 Bearer; refusals never reach the server; cookie and query
// sources keep the other cookies and parameters; HS256 from a secret_file;
// rotated keys on reload; jwt.sub rate-limit keys; HTTP/2.
#include <doctest/doctest.h>

#include <csignal>

#include "tests/integration/policy_util.h"

using namespace it;
using namespace it::policy;

namespace {

// keys DIR PREFIX: PREFIXrsa.pem / PREFIXec.pem (private), PREFIXrsa.pub.pem
// and PREFIXjwks.json (both public keys).
// tokens SPECS: one token per [alg, key file, claims] line; "exp"/"nbf"/"iat"
// are relative to now. "none" is an unsigned token; "HS256-pem" signs with
// the key file's bytes as an HMAC secret (PyJWT refuses PEM secrets, so the
// algorithm-confusion token is made by hand).
constexpr const char* kMinter = R"PY(
import base64, hashlib, hmac, json, sys, time
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

if sys.argv[1] == "keys":
    d, p = sys.argv[2], sys.argv[3]
    rk = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ek = ec.generate_private_key(ec.SECP256R1())
    for name, k in (("rsa", rk), ("ec", ek)):
        open(f"{d}/{p}{name}.pem", "wb").write(k.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    open(f"{d}/{p}rsa.pub.pem", "wb").write(rk.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    ec_jwk = json.loads(ECAlgorithm.to_jwk(ek.public_key()))
    for c in ("x", "y"):  # PyJWT 2.6 drops leading zero bytes; RFC 7518 wants 32
        ec_jwk[c] = b64(base64.urlsafe_b64decode(ec_jwk[c] + "==").rjust(32, b"\0"))
    keys = [json.loads(RSAAlgorithm.to_jwk(rk.public_key())), ec_jwk]
    json.dump({"keys": keys}, open(f"{d}/{p}jwks.json", "w"))
else:
    now = int(time.time())
    for alg, keyfile, claims in json.loads(sys.argv[2]):
        for k in ("exp", "nbf", "iat"):
            if k in claims:
                claims[k] += now
        key = open(keyfile, "rb").read() if keyfile else b""
        if alg in ("none", "HS256-pem"):
            head = b64(json.dumps({"alg": alg[:5], "typ": "JWT"}).encode())
            body = b64(json.dumps(claims).encode())
            sig = "" if alg == "none" else b64(hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest())
            print(f"{head}.{body}.{sig}")
        else:
            print(jwt.encode(claims, key, algorithm=alg))
)PY";

std::string run_minter(const TempDir& dir, std::vector<std::string> args) {
  const std::string script = dir.file("mint.py");
  write_file(script, kMinter);
  args.insert(args.begin(), {"/usr/bin/python3", script});
  RunResult r = run_command(args, 60s);
  REQUIRE_MESSAGE(r.status == 0, r.err);
  return r.out;
}

void make_keys(const TempDir& dir, const std::string& prefix = "") { run_minter(dir, {"keys", dir.path(), prefix}); }

// One token per spec, in order.
std::vector<std::string> mint(const TempDir& dir, const json& specs) {
  std::string out = run_minter(dir, {"tokens", specs.dump()});
  std::vector<std::string> tokens;
  size_t pos = 0;
  while (pos < out.size()) {
    size_t end = out.find('\n', pos);
    if (end == std::string::npos) end = out.size();
    if (end > pos) tokens.push_back(out.substr(pos, end - pos));
    pos = end + 1;
  }
  REQUIRE(tokens.size() == specs.size());
  return tokens;
}

json claims(const std::string& sub, json extra = json::object()) {
  json c = {{"sub", sub}, {"iss", "https://issuer.example"}, {"aud", "api"}, {"exp", 600}, {"iat", 0}};
  c.update(extra);
  return c;
}

json jwt_block(const TempDir& dir, json extra = json::object()) {
  json j = {{"keys", dir.file("jwks.json")},
            {"algorithms", {"RS256", "ES256"}},
            {"issuer", "https://issuer.example"},
            {"audiences", {"api"}},
            {"forward_claims", {{"sub", "X-User"}}}};
  j.update(extra);
  return j;
}

json with_admin() { return {{"admin", {{"listen", "127.0.0.1:0"}}}}; }

CurlResult bearer(const std::string& url, const std::string& token, std::vector<std::string> extra = {}) {
  extra.push_back("-H");
  extra.push_back("Authorization: Bearer " + token);
  return curl(extra, url);
}

}  // namespace

TEST_CASE("jwt: good RS256 and ES256 tokens pass with claims forwarded and the token stripped; bad ones are 401") {
  RecordingServer server("app");
  TempDir dir;
  make_keys(dir);
  const std::string rsa = dir.file("rsa.pem"), ec = dir.file("ec.pem");
  std::vector<std::string> t = mint(dir, json::array({
      {"RS256", rsa, claims("alice")},
      {"ES256", ec, claims("bob")},
      {"RS256", rsa, claims("old", {{"exp", -3600}})},
      {"RS256", rsa, claims("eve", {{"aud", "other"}})},
      {"ES256", ec, claims("eve", {{"iss", "https://evil.example"}})},
      {"none", "", claims("eve")},
      {"HS256-pem", dir.file("rsa.pub.pem"), claims("eve")},
      {"RS256", rsa, claims("later", {{"nbf", 3600}})},
  }));
  json rules = {{"add", {{"X-Rule", "sub=%{jwt.sub}"}}}};
  json listener = web_listener("app", {{"auth", {{"jwt", jwt_block(dir)}}}, {"request_headers", rules}});
  Lb lb(make_config({listener}, {pool_of("app", {&server})}, with_admin()));
  const std::string url = base_url(lb.port()) + "/private";

  // Missing: the plain challenge (no error code), lb's JSON body.
  auto none = get(lb.port(), "/private");
  REQUIRE(none);
  CHECK(none->status == 401);
  CHECK(none->header("WWW-Authenticate") == "Bearer");
  CHECK(none->body == "{\"error\":\"authentication required\"}\n");
  // Another scheme is no token either.
  CHECK(get(lb.port(), "/private", {{"Authorization", "Basic Ym9iOnB3"}})->header("WWW-Authenticate") == "Bearer");
  // Each bad token: invalid_token.
  for (size_t i = 2; i < t.size(); ++i) {
    CAPTURE(i);
    auto r = get(lb.port(), "/private", {{"Authorization", "Bearer " + t[i]}});
    REQUIRE(r);
    CHECK(r->status == 401);
    CHECK(r->header("WWW-Authenticate") == "Bearer error=\"invalid_token\"");
  }
  CHECK(get(lb.port(), "/private", {{"Authorization", "Bearer not.a.token"}})->status == 401);
  CHECK(server.count() == 0);

  // Good tokens (scheme case-insensitive); a client-sent X-User is replaced.
  CurlResult a = bearer(url, t[0], {"-H", "X-User: root"});
  CHECK(a.response.status == 200);
  CurlResult b = curl({"-H", "authorization: bearer " + t[1]}, url);
  CHECK(b.response.status == 200);
  REQUIRE(server.count() == 2);
  const std::vector<std::string> heads = server.heads();
  CHECK(values(heads[0], "x-user") == std::vector<std::string>{"alice"});
  CHECK(values(heads[1], "x-user") == std::vector<std::string>{"bob"});
  CHECK(value(heads[0], "x-rule") == "sub=alice");
  for (const std::string& head : heads) CHECK(values(head, "authorization").empty());

  auto lines = wait_access_lines(lb, 11);
  int refused = 0;
  for (const json& l : lines) refused += l["status"] == 401;
  CHECK(refused == 9);
  json stats = admin_stats(lb);
  CHECK(stats["listeners"][0]["auth_failed_total"] == 9);
  auto metrics = http_get(*lb.admin_port(), "/metrics");
  REQUIRE(metrics);
  CHECK(metrics->body.find("lb_listener_auth_failed_total{listener=\"web\"} 9") != std::string::npos);

  // HTTP/2 (h2c prior knowledge): the same verdicts.
  json h2 = web_listener("app", {{"auth", {{"jwt", jwt_block(dir)}}}, {"http2", {{"cleartext", true}}}});
  Lb lb2(make_config({h2}, {pool_of("app", {&server})}));
  const std::string url2 = base_url(lb2.port()) + "/h2";
  CurlResult ok2 = bearer(url2, t[1], {"--http2-prior-knowledge", "-H", "X-User: root"});
  CHECK(ok2.response.version == "HTTP/2");
  CHECK(ok2.response.status == 200);
  CurlResult bad2 = bearer(url2, t[2], {"--http2-prior-knowledge"});
  CHECK(bad2.response.status == 401);
  CHECK(bad2.response.header("WWW-Authenticate") == "Bearer error=\"invalid_token\"");
  CHECK(curl({"--http2-prior-knowledge"}, url2).response.status == 401);
  REQUIRE(server.count() == 3);
  CHECK(values(server.last(), "x-user") == std::vector<std::string>{"bob"});
  CHECK(values(server.last(), "authorization").empty());
}

TEST_CASE("jwt: optional tokens, cookie and query sources, forward_token") {
  RecordingServer server("app");
  TempDir dir;
  make_keys(dir);
  std::vector<std::string> t = mint(dir, json::array({{"RS256", dir.file("rsa.pem"), claims("carol")},
                                                      {"RS256", dir.file("rsa.pem"), claims("x", {{"exp", -3600}})}}));
  auto route = [&](const std::string& prefix, json extra) {
    return json{{"path_prefix", prefix}, {"auth", {{"jwt", jwt_block(dir, extra)}}}};
  };
  json routes = json::array({route("/opt/", {{"required", false}}), route("/cookie/", {{"from", "cookie:tok"}}),
                             route("/query/", {{"from", "query:access_token"}}),
                             route("/keep/", {{"forward_token", true}}), route("/hdr/", {{"from", "header:X-Token"}})});
  Lb lb(make_config({web_listener("app", {{"routes", routes}})}, {pool_of("app", {&server})}));
  const std::string base = base_url(lb.port());

  // required: false — no token passes without claims (a client X-User is
  // still removed); a bad token still fails.
  CHECK(curl({"-H", "X-User: root"}, base + "/opt/a").response.status == 200);
  REQUIRE(server.count() == 1);
  CHECK(values(server.last(), "x-user").empty());
  CurlResult bad = bearer(base + "/opt/a", t[1]);
  CHECK(bad.response.status == 401);
  CHECK(bad.response.header("WWW-Authenticate") == "Bearer error=\"invalid_token\"");
  CHECK(bearer(base + "/opt/a", t[0]).response.status == 200);
  CHECK(values(server.last(), "x-user") == std::vector<std::string>{"carol"});

  // Cookie: the token's cookie goes, the others stay.
  CHECK(curl({"-H", "Cookie: a=1; tok=" + t[0] + "; b=2"}, base + "/cookie/x").response.status == 200);
  CHECK(value(server.last(), "cookie") == "a=1; b=2");
  CHECK(value(server.last(), "x-user") == "carol");
  CHECK(curl({"-H", "Cookie: a=1"}, base + "/cookie/x").response.header("WWW-Authenticate") == "Bearer");
  CHECK(curl({"-H", "Cookie: tok=" + t[1]}, base + "/cookie/x").response.status == 401);

  // Query: the parameter goes, the others stay.
  CHECK(curl({}, base + "/query/x?a=1&access_token=" + t[0] + "&b=2").response.status == 200);
  CHECK(request_line(server.last()) == "GET /query/x?a=1&b=2 HTTP/1.1");
  CHECK(curl({}, base + "/query/x?access_token=" + t[0]).response.status == 200);
  CHECK(request_line(server.last()) == "GET /query/x HTTP/1.1");
  CHECK(curl({}, base + "/query/x?a=1").response.status == 401);

  // forward_token keeps the Authorization header.
  CHECK(bearer(base + "/keep/x", t[0]).response.status == 200);
  CHECK(value(server.last(), "authorization") == "Bearer " + t[0]);
  // Another header: its whole value is the token, and it is stripped.
  CHECK(curl({"-H", "X-Token: " + t[0]}, base + "/hdr/x").response.status == 200);
  CHECK(values(server.last(), "x-token").empty());
  CHECK(value(server.last(), "x-user") == "carol");
  CHECK(server.count() == 7);
}

TEST_CASE("jwt: disguised or second token sources are refused; lookalike claim headers go; query tokens stay out of the log") {
  RecordingServer server("app");
  TempDir dir;
  make_keys(dir);
  std::vector<std::string> t = mint(dir, json::array({{"RS256", dir.file("rsa.pem"), claims("carol")}}));
  auto route = [&](const std::string& prefix, json extra) {
    return json{{"path_prefix", prefix}, {"auth", {{"jwt", jwt_block(dir, extra)}}}};
  };
  json routes = json::array({route("/opt/", {{"required", false}}), route("/cookie/", {{"from", "cookie:tok"}}),
                             route("/query/", {{"from", "query:access_token"}, {"required", false}})});
  Lb lb(make_config({web_listener("app", {{"routes", routes}})}, {pool_of("app", {&server})}));
  const std::string base = base_url(lb.port());

  // A name that is the token's once percent-decoded, or after a ';', is a
  // second source the server might read: refused, even beside a good token
  // and even where a token is optional.
  for (const std::string& q : std::vector<std::string>{"%61ccess_token=forged&access_token=" + t[0],
                                                       "%61ccess_token=forged",
                                                       "a=1;access_token=forged&access_token=" + t[0]}) {
    CAPTURE(q);
    CurlResult r = curl({}, base + "/query/x?" + q);
    CHECK(r.response.status == 401);
    CHECK(r.response.header("WWW-Authenticate") == "Bearer error=\"invalid_token\"");
  }
  CHECK(curl({"-H", "Cookie: t%6Fk=forged; tok=" + t[0]}, base + "/cookie/x").response.status == 401);
  CHECK(server.count() == 0);

  // The query token is in neither the forwarded target nor the access log.
  CHECK(curl({}, base + "/query/x?a=1&access_token=" + t[0]).response.status == 200);
  CHECK(request_line(server.last()) == "GET /query/x?a=1 HTTP/1.1");
  CHECK(curl({}, base + "/query/x?access_token=bad.token.here&b=2").response.status == 401);

  // A tab after "Bearer" still makes it a bearer token: verified (here
  // refused), not passed through as "no token".
  CHECK(curl({"-H", "Authorization: Bearer\tforged.token.value"}, base + "/opt/x").response.status == 401);
  CHECK(curl({"-H", "Authorization: Bearer\t" + t[0]}, base + "/opt/x").response.status == 200);
  CHECK(value(server.last(), "x-user") == "carol");

  // "X_User" is "X-User" to CGI-style servers (HTTP_X_USER): removed too.
  CHECK(curl({"-H", "X_User: root", "-H", "x-USER: root"}, base + "/opt/x").response.status == 200);
  CHECK(values(server.last(), "x_user").empty());
  CHECK(values(server.last(), "x-user").empty());
  CHECK(server.count() == 3);

  auto lines = wait_access_lines(lb, 9);
  REQUIRE(lines.size() >= 9);
  for (const json& l : lines) {
    CAPTURE(l.dump());
    const std::string query = l["query"].is_string() ? l["query"].get<std::string>() : "";
    CHECK(query.find(t[0]) == std::string::npos);
    CHECK(query.find("bad.token.here") == std::string::npos);
  }
  CHECK(lines[4]["query"] == "a=1");
  CHECK(lines[5]["query"] == "b=2");
}

TEST_CASE("jwt: HS256 from a secret_file; keys are re-read on reload") {
  RecordingServer server("app");
  TempDir dir;
  make_keys(dir, "old-");
  make_keys(dir, "new-");
  write_file(dir.file("secret"), "0123456789abcdef0123456789abcdef-hmac\n");
  write_file(dir.file("raw-secret"), "0123456789abcdef0123456789abcdef-hmac");
  std::vector<std::string> t =
      mint(dir, json::array({{"RS256", dir.file("old-rsa.pem"), claims("o")},
                             {"ES256", dir.file("new-ec.pem"), claims("n")},
                             {"HS256", dir.file("raw-secret"), claims("h")},
                             {"HS256-pem", dir.file("old-rsa.pem"), claims("wrong-secret")}}));
  write_file(dir.file("jwks.json"), read_file(dir.file("old-jwks.json")).value());
  json hs = {{"secret_file", dir.file("secret")}, {"algorithms", {"HS256"}}};
  json routes = json::array({{{"path_prefix", "/hs/"}, {"auth", {{"jwt", hs}}}}});
  json config = make_config({web_listener("app", {{"routes", routes}, {"auth", {{"jwt", jwt_block(dir)}}}})},
                            {pool_of("app", {&server})});
  Lb lb(config);
  const std::string base = base_url(lb.port());
  CHECK(bearer(base + "/hs/x", t[2]).response.status == 200);
  CHECK(bearer(base + "/hs/x", t[3]).response.status == 401);
  CHECK(bearer(base + "/hs/x", t[0]).response.status == 401);
  CHECK(bearer(base + "/x", t[0]).response.status == 200);
  CHECK(bearer(base + "/x", t[1]).response.status == 401);

  write_file(dir.file("jwks.json"), read_file(dir.file("new-jwks.json")).value());
  REQUIRE(lb.signal(SIGHUP));
  CHECK(wait_until([&] { return bearer(base + "/x", t[1]).response.status == 200; }, 5s));
  CHECK(bearer(base + "/x", t[0]).response.status == 401);
}

TEST_CASE("jwt: a jwt.sub rate-limit key gives each subject its own allowance") {
  RecordingServer server("app");
  TempDir dir;
  make_keys(dir);
  std::vector<std::string> t = mint(dir, json::array({{"RS256", dir.file("rsa.pem"), claims("one")},
                                                      {"RS256", dir.file("rsa.pem"), claims("two")}}));
  json limit = {{"key", "jwt.sub"}, {"algorithm", "token_bucket"}, {"rate", 2}, {"per", "1h"}, {"burst", 2}};
  json listener = web_listener("app", {{"auth", {{"jwt", jwt_block(dir, {{"required", false}})}}}, {"rate_limit", limit}});
  Lb lb(make_config({listener}, {pool_of("app", {&server})}));
  const std::string url = base_url(lb.port()) + "/x";
  for (int i = 0; i < 2; ++i) {
    CHECK(bearer(url, t[0]).response.status == 200);
    CHECK(bearer(url, t[1]).response.status == 200);
  }
  CHECK(bearer(url, t[0]).response.status == 429);
  CHECK(bearer(url, t[1]).response.status == 429);
  // Without a token the client address has its own allowance.
  CHECK(curl({}, url).response.status == 200);
  CHECK(server.count() == 5);
}

TEST_CASE("jwt: bad key files and short secrets are configuration errors naming the file") {
  TempDir dir;
  write_file(dir.file("jwks.json"), "{\"keys\": [{\"kty\": \"RSA\", \"n\": \"AQAB\", \"e\": \"AQAB\"}]}");
  write_file(dir.file("short"), "too-short\n");
  json bad_jwks = {{"keys", dir.file("jwks.json")}, {"algorithms", {"RS256"}}};
  json short_secret = {{"secret_file", dir.file("short")}, {"algorithms", {"HS256"}}};
  json routes = json::array({{{"path_prefix", "/a/"}, {"auth", {{"jwt", short_secret}}}}});
  json config = make_config({web_listener("p", {{"routes", routes}, {"auth", {{"jwt", bad_jwks}}}})},
                            {make_pool("p", "round_robin", {server(9)})});
  RunResult r = check_config(dir, config);
  CHECK(r.status != 0);
  CHECK(r.err.find("/listeners/0/auth/jwt/keys") != std::string::npos);
  CHECK(r.err.find(dir.file("jwks.json")) != std::string::npos);
  CHECK(r.err.find("/listeners/0/routes/0/auth/jwt/secret_file") != std::string::npos);
  CHECK(r.err.find(dir.file("short")) != std::string::npos);
}
