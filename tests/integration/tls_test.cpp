// tests/integration/tls_test.cpp — TLS termination (SPEC section 3 listener
// "tls", section 5 reload) of the real lb binary, seen by real clients: curl,
// `openssl s_client`, and a small OpenSSL-API client written here.
//
// Every certificate is generated during the run with the openssl CLI into a
// fresh temporary directory: a server CA; leaf certificates for a.example.com
// (two generations, "cert-a-v1" and "cert-a-v2" in O=), b.example.com and
// *.w.example.com; a separate client CA with a client certificate
// CN=client1,O=acme; and a "rogue" client certificate signed by the server CA
// (not the client CA). The organisation (O=) of each server certificate is
// unique, so the certificate lb served is identified by it.
//
// Covered: curl over TLS 1.2 and 1.3 (body, X-Forwarded-Proto https, a forged
// X-Client-Cert-Subject dropped); SNI (exact, wildcard, none, unknown, order of
// the list); ALPN; min_version 1.3; session resumption (s_client -sess_out /
// -sess_in for 1.2 and 1.3; tickets across two workers and across a reload);
// mTLS on http (subject forwarded) and tcp listeners; a 16 MiB echo through a
// TLS tcp listener; certificate swap on SIGHUP; bad pairs on reload rejected
// with the old certificate still served; garbage instead of a ClientHello;
// the tls_handshake deadline.
#include <doctest/doctest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "tests/integration/harness.h"

using namespace it;

namespace {

constexpr const char* kOpenssl = "/usr/bin/openssl";
constexpr const char* kCurl = "/usr/bin/curl";
constexpr const char* kToken = "t";

std::string join_args(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& a : v) out += (out.empty() ? "" : " ") + a;
  return out;
}

// ---- certificates ----------------------------------------------------------------
void openssl_or_throw(std::vector<std::string> args) {
  args.insert(args.begin(), kOpenssl);
  RunResult r = run_command(args, 20s);
  if (!r.status || *r.status != 0)
    throw std::runtime_error("openssl failed (" + std::to_string(r.status.value_or(-1)) + "): " + join_args(args) +
                             "\n" + r.out + r.err);
}

// All the key material of the suite, generated once per test process.
struct Pki {
  TempDir dir;
  std::string f(const std::string& name) const { return dir.file(name); }

  std::string ca() const { return f("ca.pem"); }
  std::string client_ca() const { return f("clientca.pem"); }

  Pki() {
    write_file(f("openssl.cnf"),
               "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n"
               "[v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n"
               "subjectKeyIdentifier = hash\n");
    make_ca("ca", "/CN=lb-test server CA");
    make_ca("clientca", "/CN=lb-test client CA");
    make_leaf("a", "/CN=a.example.com/O=cert-a-v1", "DNS:a.example.com,IP:127.0.0.1", "serverAuth", "ca", 1001);
    make_leaf("a2", "/CN=a.example.com/O=cert-a-v2", "DNS:a.example.com,IP:127.0.0.1", "serverAuth", "ca", 1002);
    make_leaf("b", "/CN=b.example.com/O=cert-b", "DNS:b.example.com,IP:127.0.0.1", "serverAuth", "ca", 1003);
    make_leaf("w", "/CN=w.example.com/O=cert-wild", "DNS:*.w.example.com,IP:127.0.0.1", "serverAuth", "ca", 1004);
    make_leaf("client", "/CN=client1/O=acme", "", "clientAuth", "clientca", 2001);
    make_leaf("rogue", "/CN=rogue/O=evil", "", "clientAuth", "ca", 2002);
    // The two halves of a mismatched pair, and a file that is no certificate.
    write_file(f("notacert.pem"), "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n");
    write_file(f("request.txt"), "GET /echo HTTP/1.1\r\nHost: a.example.com\r\nConnection: close\r\n\r\n");
  }

 private:
  void make_ca(const std::string& name, const std::string& subj) {
    openssl_or_throw({"req", "-x509", "-config", f("openssl.cnf"), "-extensions", "v3_ca", "-newkey", "ec",
                      "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", f(name + ".key"), "-out",
                      f(name + ".pem"), "-days", "3", "-subj", subj});
  }
  void make_leaf(const std::string& name, const std::string& subj, const std::string& san, const std::string& eku,
                 const std::string& ca, int serial) {
    std::string ext = "basicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature\nextendedKeyUsage = " + eku +
                      "\n";
    if (!san.empty()) ext += "subjectAltName = " + san + "\n";
    write_file(f(name + ".ext"), ext);
    openssl_or_throw({"req", "-new", "-config", f("openssl.cnf"), "-newkey", "ec", "-pkeyopt",
                      "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", f(name + ".key"), "-out", f(name + ".csr"),
                      "-subj", subj});
    openssl_or_throw({"x509", "-req", "-in", f(name + ".csr"), "-CA", f(ca + ".pem"), "-CAkey", f(ca + ".key"),
                      "-set_serial", std::to_string(serial), "-days", "3", "-extfile", f(name + ".ext"), "-out",
                      f(name + ".pem")});
  }
};

const Pki& pki() {
  static Pki p;
  return p;
}

json cert(const std::string& name) { return {{"cert", pki().f(name + ".pem")}, {"key", pki().f(name + ".key")}}; }

// Certificate files an lb under test reads (and a test may overwrite before a
// reload): <dir>/site.pem + site.key start as a copy of `initial`.
struct MutableCert {
  TempDir dir;
  explicit MutableCert(const std::string& initial) { install(initial); }
  std::string pem() const { return dir.file("site.pem"); }
  std::string key() const { return dir.file("site.key"); }
  json entry() const { return {{"cert", pem()}, {"key", key()}}; }
  void install(const std::string& name) { install_files(pki().f(name + ".pem"), pki().f(name + ".key")); }
  void install_files(const std::string& pem_src, const std::string& key_src) {
    write_file(pem(), read_file(pem_src).value());
    write_file(key(), read_file(key_src).value());
  }
};

// ---- config --------------------------------------------------------------------
json pool(const std::string& name, const std::vector<uint16_t>& ports) {
  json servers = json::array();
  for (auto p : ports) servers.push_back(server(p));
  return {{"name", name}, {"algorithm", "round_robin"}, {"servers", servers}};
}

json tls_listener(const std::string& name, const std::string& protocol, const std::string& pool_name, json tls,
                  json extra = json::object()) {
  json l = {{"name", name}, {"listen", "127.0.0.1:0"}, {"protocol", protocol}, {"pool", pool_name}, {"tls", tls}};
  for (auto& [k, v] : extra.items()) l[k] = v;
  return l;
}

json config(std::vector<json> listeners, std::vector<json> pools, json extra = json::object()) {
  json c = {{"listeners", listeners}, {"pools", pools}};
  for (auto& [k, v] : extra.items()) c[k] = v;
  return c;
}

json with_admin(json c) {
  c["admin"] = {{"listen", "127.0.0.1:0"}, {"token", kToken}};
  return c;
}

// ---- admin -----------------------------------------------------------------------
json stats(Lb& lb) {
  auto r = http_get(*lb.admin_port(), "/stats", 3s);
  if (!r || r->status != 200) return json::object();
  return json::parse(r->body, nullptr, false);
}

uint64_t generation_of(const json& s) {
  return s.contains("generation") && s["generation"].is_number_unsigned() ? s["generation"].get<uint64_t>() : 0;
}

size_t count_msg(Lb& lb, const std::string& msg) {
  size_t n = 0;
  for (const auto& j : lb.error_log())
    if (j.value("msg", "") == msg) ++n;
  return n;
}

uint64_t backend_requests(uint16_t port) {
  auto r = http_get(port, "/stats", 3s);
  if (!r || r->status != 200) return ~uint64_t(0);
  json j = json::parse(r->body, nullptr, false);
  return j.is_object() ? j.value("requests_total", ~uint64_t(0)) : ~uint64_t(0);
}

// ---- curl ------------------------------------------------------------------------
struct CurlResult {
  int exit = -1;        // curl's exit status (-1: killed at the timeout)
  int code = 0;         // %{http_code}
  std::string version;  // %{http_version}
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // of the final response
  std::string verbose;                                       // curl -v (stderr)

  std::vector<std::string> headers_named(const std::string& name) const {
    std::vector<std::string> out;
    for (const auto& [k, v] : headers)
      if (lower(k) == lower(name)) out.push_back(v);
    return out;
  }
  std::string describe() const {
    return "curl exit " + std::to_string(exit) + ", code " + std::to_string(code) + ", version " + version +
           "\nverbose:\n" + verbose.substr(0, 6000);
  }
};

// curl https://HOST:PORT/PATH with HOST resolved to 127.0.0.1 (so HOST is
// both the SNI name and the name verified against the CA).
CurlResult curl(uint16_t port, const std::string& host, const std::string& path, std::vector<std::string> extra = {},
                ms timeout = 10s) {
  TempDir tmp;
  std::vector<std::string> args{kCurl, "-q", "-sS", "-v", "--noproxy", "*", "--cacert", pki().ca(),
                                "--max-time", "8", "-D", tmp.file("head"), "-o", tmp.file("body"), "-w",
                                "%{http_code} %{http_version}"};
  bool is_ip = host == "127.0.0.1";
  if (!is_ip) {
    args.push_back("--resolve");
    args.push_back(host + ":" + std::to_string(port) + ":127.0.0.1");
  }
  for (auto& e : extra) args.push_back(e);
  args.push_back("https://" + host + ":" + std::to_string(port) + path);
  RunResult r = run_command(args, timeout);
  CurlResult c;
  c.exit = r.status.value_or(-1);
  c.verbose = r.err;
  std::string w = r.out;
  auto sp = w.find(' ');
  if (sp != std::string::npos) {
    c.code = std::atoi(w.substr(0, sp).c_str());
    c.version = w.substr(sp + 1);
  }
  c.body = read_file(tmp.file("body")).value_or("");
  // -D holds every response head (interim ones too); keep the last.
  std::string head = read_file(tmp.file("head")).value_or("");
  size_t pos = 0;
  while (pos < head.size()) {
    size_t e = head.find("\r\n", pos);
    if (e == std::string::npos) break;
    std::string line = head.substr(pos, e - pos);
    pos = e + 2;
    if (line.rfind("HTTP/", 0) == 0) {
      c.headers.clear();
      continue;
    }
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string v = line.substr(colon + 1);
    while (!v.empty() && v.front() == ' ') v.erase(0, 1);
    c.headers.emplace_back(line.substr(0, colon), v);
  }
  return c;
}

// ---- openssl s_client ------------------------------------------------------------
std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

// `openssl s_client -connect 127.0.0.1:PORT -CAfile ca.pem EXTRA < stdin_file`.
RunResult s_client(uint16_t port, const std::vector<std::string>& extra, const std::string& stdin_file = "/dev/null",
                   ms timeout = 10s) {
  std::string cmd = std::string(kOpenssl) + " s_client -connect 127.0.0.1:" + std::to_string(port) + " -CAfile " +
                    shell_quote(pki().ca());
  for (const auto& e : extra) cmd += " " + shell_quote(e);
  cmd += " < " + shell_quote(stdin_file) + " 2>&1";
  return run_command({"/bin/sh", "-c", cmd}, timeout);
}

// The "O = ..." of the "subject=" line s_client prints for the server's leaf.
std::string s_client_org(const std::string& out) {
  size_t p = out.find("\nsubject=");
  if (p == std::string::npos) return "(no subject line)";
  std::string line = out.substr(p + 9, out.find('\n', p + 1) - p - 9);
  size_t o = line.find("O = ");
  if (o == std::string::npos) return "(no O in " + line + ")";
  std::string org = line.substr(o + 4);
  return org.substr(0, org.find(','));
}

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

// ---- a TLS client on the OpenSSL API ---------------------------------------------
struct TlsOptions {
  std::string sni;             // empty: no SNI
  std::string verify_name;     // name checked against the certificate; empty: sni (or none)
  int min_version = TLS1_2_VERSION;
  int max_version = 0;         // 0: highest
  std::vector<std::string> alpn;
  SSL_SESSION* session = nullptr;  // offer it for resumption (not owned)
  std::string cert, key;           // client certificate
};

std::string ssl_errors() {
  std::string out;
  unsigned long e;
  char buf[256];
  while ((e = ERR_get_error()) != 0) {
    ERR_error_string_n(e, buf, sizeof buf);
    out += (out.empty() ? "" : "; ") + std::string(buf);
  }
  return out;
}

class TlsClient {
 public:
  TlsClient() = default;
  ~TlsClient() {
    // A client that just drops a working connection (no close_notify) makes
    // OpenSSL mark its session not resumable: say goodbye properly.
    if (ssl_ && handshake_done_ && !failed_) {
      ERR_clear_error();
      SSL_shutdown(ssl_);
    }
    if (ssl_) SSL_free(ssl_);
    if (ctx_) SSL_CTX_free(ctx_);
  }
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  // TCP connect + full handshake within `timeout`; false with error() set.
  bool connect(uint16_t port, const TlsOptions& o, ms timeout = 5s) {
    auto deadline = Clock::now() + timeout;
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx_, o.min_version);
    if (o.max_version) SSL_CTX_set_max_proto_version(ctx_, o.max_version);
    SSL_CTX_set_mode(ctx_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (SSL_CTX_load_verify_locations(ctx_, pki().ca().c_str(), nullptr) != 1) return fail("load CA");
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    if (!o.cert.empty()) {
      if (SSL_CTX_use_certificate_file(ctx_, o.cert.c_str(), SSL_FILETYPE_PEM) != 1 ||
          SSL_CTX_use_PrivateKey_file(ctx_, o.key.c_str(), SSL_FILETYPE_PEM) != 1)
        return fail("client certificate");
    }
    if (!o.alpn.empty()) {
      std::string wire;
      for (const auto& p : o.alpn) wire += static_cast<char>(p.size()) + p;
      SSL_CTX_set_alpn_protos(ctx_, reinterpret_cast<const unsigned char*>(wire.data()),
                              static_cast<unsigned>(wire.size()));
    }
    ssl_ = SSL_new(ctx_);
    if (!o.sni.empty()) SSL_set_tlsext_host_name(ssl_, o.sni.c_str());
    std::string vname = o.verify_name.empty() ? o.sni : o.verify_name;
    if (!vname.empty()) {
      if (vname == "127.0.0.1") X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), vname.c_str());
      else SSL_set1_host(ssl_, vname.c_str());
    }
    if (o.session) SSL_set_session(ssl_, o.session);
    sock_ = Socket::connect(port, timeout);
    if (!sock_) return fail("connect: " + sock_.error_text());
    sock_.set_nonblocking(true);
    SSL_set_fd(ssl_, sock_.fd());
    int r = op([&] { return SSL_connect(ssl_); }, deadline);
    if (r <= 0) {
      error_ = "handshake: " + error_;
      long v = SSL_get_verify_result(ssl_);
      if (v != X509_V_OK) error_ += std::string(" (verify: ") + X509_verify_cert_error_string(v) + ")";
      return false;
    }
    handshake_done_ = true;
    return true;
  }

  const std::string& error() const { return error_; }
  bool reused() const { return SSL_session_reused(ssl_) == 1; }
  std::string version() const { return SSL_get_version(ssl_); }
  std::string alpn() const {
    const unsigned char* p = nullptr;
    unsigned n = 0;
    SSL_get0_alpn_selected(ssl_, &p, &n);
    return std::string(reinterpret_cast<const char*>(p ? p : reinterpret_cast<const unsigned char*>("")), n);
  }
  // The organisation (O=) of the server's leaf certificate.
  std::string peer_org() const {
    X509* x = SSL_get0_peer_certificate(ssl_);
    if (!x) return "(no certificate)";
    char buf[256] = {0};
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_organizationName, buf, sizeof buf) < 0)
      return "(no O)";
    return buf;
  }
  // The session to resume later (owned by the caller: SSL_SESSION_free).
  SSL_SESSION* get1_session() const { return SSL_get1_session(ssl_); }
  Socket& socket() { return sock_; }

  bool write_all(std::string_view data, ms timeout = 5s) {
    auto deadline = Clock::now() + timeout;
    size_t off = 0;
    while (off < data.size()) {
      size_t len = data.size() - off;
      int r = op([&] { return SSL_write(ssl_, data.data() + off, static_cast<int>(len)); }, deadline);
      if (r <= 0) return false;
      off += static_cast<size_t>(r);
    }
    return true;
  }
  // > 0 bytes appended; 0 close_notify; -1 error (EOF without close_notify,
  // reset, alert); -2 timeout.
  int read_some(std::string& out, ms timeout) {
    char buf[65536];
    int r = op([&] { return SSL_read(ssl_, buf, sizeof buf); }, Clock::now() + timeout);
    if (r > 0) out.append(buf, static_cast<size_t>(r));
    return r;
  }

  // One HTTP/1.1 request; the response must carry Content-Length.
  std::optional<HttpResponse> http(const HttpRequest& req, ms timeout = 5s) {
    auto deadline = Clock::now() + timeout;
    if (!write_all(req.serialize(), timeout)) return std::nullopt;
    size_t end;
    while ((end = in_.find("\r\n\r\n")) == std::string::npos) {
      int r = read_some(in_, std::chrono::duration_cast<ms>(deadline - Clock::now()));
      if (r <= 0) {
        error_ = "reading head: " + std::to_string(r) + " " + error_;
        return std::nullopt;
      }
    }
    HttpResponse resp;
    std::string head = in_.substr(0, end + 2);
    in_.erase(0, end + 4);
    size_t eol = head.find("\r\n");
    std::string status = head.substr(0, eol);
    if (status.size() < 12) return std::nullopt;
    resp.version = status.substr(0, 8);
    resp.status = std::atoi(status.c_str() + 9);
    for (size_t pos = eol + 2; pos < head.size();) {
      size_t e = head.find("\r\n", pos);
      std::string line = head.substr(pos, e - pos);
      pos = e + 2;
      auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string v = line.substr(colon + 1);
      while (!v.empty() && v.front() == ' ') v.erase(0, 1);
      resp.headers.emplace_back(line.substr(0, colon), v);
    }
    auto cl = resp.header("Content-Length");
    if (!cl) {
      error_ = "response without Content-Length";
      return std::nullopt;
    }
    size_t n = std::strtoull(cl->c_str(), nullptr, 10);
    while (in_.size() < n) {
      int r = read_some(in_, std::chrono::duration_cast<ms>(deadline - Clock::now()));
      if (r <= 0) {
        error_ = "reading body: " + std::to_string(r) + " " + error_;
        return std::nullopt;
      }
    }
    resp.body = in_.substr(0, n);
    in_.erase(0, n);
    return resp;
  }

  // Echo `total` pseudo-random bytes through the connection, writing and
  // reading at once; true if what came back hashes the same.
  bool echo_stream(size_t total, ms timeout, std::string& why) {
    auto deadline = Clock::now() + timeout;
    std::string data(total, '\0');
    uint64_t s = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < total; i += 8) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      std::memcpy(&data[i], &s, std::min<size_t>(8, total - i));
    }
    Sha256 want, got;
    want.update(data.data(), data.size());
    size_t sent = 0, received = 0;
    std::vector<char> buf(1 << 16);
    while (received < total) {
      bool progress = false;
      bool want_out = false;
      if (sent < total) {
        size_t len = std::min<size_t>(1 << 16, total - sent);
        ERR_clear_error();
        int r = SSL_write(ssl_, data.data() + sent, static_cast<int>(len));
        if (r > 0) {
          sent += static_cast<size_t>(r);
          progress = true;
        } else {
          int e = SSL_get_error(ssl_, r);
          if (e == SSL_ERROR_WANT_WRITE) want_out = true;
          else if (e != SSL_ERROR_WANT_READ) {
            failed_ = true;
            why = "SSL_write error " + std::to_string(e) + " " + ssl_errors() + " after " + std::to_string(sent);
            return false;
          }
        }
      }
      for (;;) {
        ERR_clear_error();
        int r = SSL_read(ssl_, buf.data(), static_cast<int>(buf.size()));
        if (r > 0) {
          got.update(buf.data(), static_cast<size_t>(r));
          received += static_cast<size_t>(r);
          progress = true;
          continue;
        }
        int e = SSL_get_error(ssl_, r);
        if (e == SSL_ERROR_WANT_READ) break;
        if (e == SSL_ERROR_WANT_WRITE) {
          want_out = true;
          break;
        }
        failed_ = true;
        why = "SSL_read error " + std::to_string(e) + " " + ssl_errors() + " after " + std::to_string(received) +
              " received, " + std::to_string(sent) + " sent";
        return false;
      }
      if (progress) continue;
      auto left = std::chrono::duration_cast<ms>(deadline - Clock::now()).count();
      if (left <= 0) {
        why = "timeout after " + std::to_string(received) + " received, " + std::to_string(sent) + " sent";
        return false;
      }
      pollfd p{sock_.fd(), static_cast<short>(POLLIN | (want_out || sent < total ? POLLOUT : 0)), 0};
      ::poll(&p, 1, static_cast<int>(std::min<long>(left, 1000)));
    }
    if (received != total) {
      why = "received " + std::to_string(received) + " of " + std::to_string(total);
      return false;
    }
    if (got.hex() != want.hex()) {
      why = "checksum mismatch";
      return false;
    }
    return true;
  }

  // Sends close_notify; then waits for the peer to close. Returns 0 when it
  // answered with close_notify, -1 on a bare EOF/error, -2 on timeout.
  int close_and_wait(ms timeout) {
    auto deadline = Clock::now() + timeout;
    ERR_clear_error();
    SSL_shutdown(ssl_);
    return wait_peer_close(deadline);
  }
  // Reads (discarding data) until the peer closes: 0 close_notify, -1 EOF
  // without it or error, -2 timeout.
  int wait_peer_close(Clock::time_point deadline) {
    std::string sink;
    for (;;) {
      int r = read_some(sink, std::chrono::duration_cast<ms>(deadline - Clock::now()));
      if (r <= 0) return r;
      sink.clear();
    }
  }

 private:
  bool fail(const std::string& what) {
    error_ = what + ": " + ssl_errors();
    return false;
  }
  // Runs an SSL call on the non-blocking socket until it completes, fails or
  // the deadline passes (see read_some for the result).
  template <class F>
  int op(F f, Clock::time_point deadline) {
    for (;;) {
      ERR_clear_error();
      int r = f();
      if (r > 0) return r;
      int e = SSL_get_error(ssl_, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        auto left = std::chrono::duration_cast<ms>(deadline - Clock::now()).count();
        if (left <= 0) {
          error_ = "timeout";
          return -2;
        }
        pollfd p{sock_.fd(), static_cast<short>(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
        ::poll(&p, 1, static_cast<int>(left));
        continue;
      }
      if (e == SSL_ERROR_ZERO_RETURN) {
        error_ = "close_notify";
        return 0;
      }
      failed_ = true;
      std::string errs = ssl_errors();
      error_ = "SSL error " + std::to_string(e) + (errs.empty() ? "" : " (" + errs + ")") +
               (e == SSL_ERROR_SYSCALL ? " errno " + std::to_string(errno) : "");
      return -1;
    }
  }

  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  Socket sock_;
  std::string error_;
  std::string in_;
  bool handshake_done_ = false;
  bool failed_ = false;
};

struct SessionPtr {
  SSL_SESSION* s = nullptr;
  SessionPtr() = default;
  explicit SessionPtr(SSL_SESSION* p) : s(p) {}
  ~SessionPtr() { reset(nullptr); }
  SessionPtr(const SessionPtr&) = delete;
  SessionPtr& operator=(const SessionPtr&) = delete;
  void reset(SSL_SESSION* p) {
    if (s) SSL_SESSION_free(s);
    s = p;
  }
};

HttpRequest get(const std::string& target, const std::string& host = "a.example.com") {
  HttpRequest r;
  r.target = target;
  r.headers = {{"Host", host}};
  return r;
}

// A full handshake + GET /echo on a fresh connection; the session (with its
// ticket, which TLS 1.3 sends after the handshake) lands in `session`.
struct Visit {
  bool ok = false;
  bool reused = false;
  std::string version, org, error;
};
Visit visit(uint16_t port, TlsOptions o, SessionPtr* session = nullptr) {
  Visit v;
  TlsClient c;
  if (!c.connect(port, o)) {
    v.error = c.error();
    return v;
  }
  v.reused = c.reused();
  v.version = c.version();
  v.org = c.peer_org();
  auto r = c.http(get("/echo", o.sni.empty() ? "a.example.com" : o.sni));
  if (!r || r->status != 200) {
    v.error = r ? "status " + std::to_string(r->status) : "request: " + c.error();
    return v;
  }
  if (session) session->reset(c.get1_session());
  v.ok = true;
  return v;
}

std::string describe(const Visit& v) {
  return std::string("ok=") + (v.ok ? "1" : "0") + " reused=" + (v.reused ? "1" : "0") + " version=" + v.version +
         " org=" + v.org + " error=" + v.error;
}

TlsOptions sni(const std::string& name, int min = TLS1_2_VERSION, int max = 0) {
  TlsOptions o;
  o.sni = name;
  o.min_version = min;
  o.max_version = max;
  return o;
}

// The O= of the certificate served to a TLS client asking for `name`.
std::string served_org(uint16_t port, const std::string& name) {
  TlsClient c;
  if (!c.connect(port, sni(name))) return "(handshake failed: " + c.error() + ")";
  return c.peer_org();
}

}  // namespace

TEST_SUITE("tls") {

TEST_CASE("curl over TLS 1.2 and 1.3: 200 and body intact, X-Forwarded-Proto https, forged client subject dropped") {
  Backend be = Backend::http(1);
  Lb lb(config({tls_listener("web", "http", "p", {{"certificates", {cert("a"), cert("b")}}})},
               {pool("p", be.http_ports())}));
  const uint16_t port = lb.port("web");

  for (const auto& [label, flags] :
       std::vector<std::pair<std::string, std::vector<std::string>>>{{"TLSv1.2", {"--tlsv1.2", "--tls-max", "1.2"}},
                                                                     {"TLSv1.3", {"--tlsv1.3"}}}) {
    CAPTURE(label);
    std::string body = "hello over " + label + " " + std::string(1000, 'x');
    std::vector<std::string> extra = flags;
    for (std::string x : {"--http1.1", "--data-binary", body.c_str(), "-H", "X-Client-Cert-Subject: CN=forged,O=evil"})
      extra.push_back(x);
    CurlResult c = curl(port, "a.example.com", "/echo", extra);
    INFO(c.describe());
    CHECK(c.exit == 0);
    CHECK(c.code == 200);
    CHECK(c.version == "1.1");
    CHECK(c.body == body);
    CHECK(contains(c.verbose, "SSL connection using " + label));
    CHECK(c.headers_named("X-Seen-X-Forwarded-Proto") == std::vector<std::string>{"https"});
    CHECK(c.headers_named("X-Seen-X-Client-Cert-Subject").empty());  // no mTLS here: the forged one is gone
  }

  // A larger body both ways, to cross many TLS records.
  CurlResult big = curl(port, "b.example.com", "/bytes/3000000", {"--http1.1"});
  INFO(big.describe());
  CHECK(big.exit == 0);
  CHECK(big.code == 200);
  REQUIRE(big.body.size() == 3000000);
  CHECK(is_pattern(big.body.data(), big.body.size(), 0));
  CHECK(contains(big.verbose, "CN=b.example.com"));
}

TEST_CASE("SNI picks the certificate by exact and wildcard name; no or unknown SNI gets the first one") {
  Backend be = Backend::http(1);
  Lb lb(config({tls_listener("ab", "http", "p", {{"certificates", {cert("a"), cert("b"), cert("w")}}}),
                tls_listener("ba", "http", "p", {{"certificates", {cert("b"), cert("a")}}})},
               {pool("p", be.http_ports())}));
  const uint16_t ab = lb.port("ab"), ba = lb.port("ba");

  SUBCASE("openssl s_client -servername ... -showcerts") {
    for (const auto& [name, org] : std::vector<std::pair<std::string, std::string>>{
             {"a.example.com", "cert-a-v1"}, {"b.example.com", "cert-b"}, {"x.w.example.com", "cert-wild"}}) {
      RunResult r = s_client(ab, {"-servername", name, "-showcerts", "-verify_return_error", "-verify_hostname", name});
      INFO(name << "\n" << r.out);
      CHECK(r.status == 0);
      CHECK(s_client_org(r.out) == org);
      CHECK(contains(r.out, "Verify return code: 0 (ok)"));
    }
    RunResult none = s_client(ab, {"-noservername", "-showcerts"});
    INFO(none.out);
    CHECK(s_client_org(none.out) == "cert-a-v1");
    RunResult none_ba = s_client(ba, {"-noservername", "-showcerts"});
    INFO(none_ba.out);
    CHECK(s_client_org(none_ba.out) == "cert-b");
  }

  SUBCASE("OpenSSL API client: names, case, wildcard depth, unknown names") {
    CHECK(served_org(ab, "a.example.com") == "cert-a-v1");
    CHECK(served_org(ab, "b.example.com") == "cert-b");
    CHECK(served_org(ab, "B.Example.COM") == "cert-b");  // DNS names are case-insensitive
    CHECK(served_org(ab, "x.w.example.com") == "cert-wild");
    CHECK(served_org(ba, "a.example.com") == "cert-a-v1");
    CHECK(served_org(ba, "b.example.com") == "cert-b");
    // A wildcard covers one label only; unknown names get the default.
    for (const auto& [port, def] : std::vector<std::pair<uint16_t, std::string>>{{ab, "cert-a-v1"}, {ba, "cert-b"}}) {
      for (std::string name : {"deep.x.w.example.com", "c.example.com", "w.example.com"}) {
        TlsOptions o = sni(name);
        o.verify_name = "127.0.0.1";  // the default certificate does not carry the name; check the IP SAN
        TlsClient c;
        REQUIRE_MESSAGE(c.connect(port, o), name << ": " << c.error());
        CHECK_MESSAGE(c.peer_org() == def, name);
      }
      TlsOptions o;  // no SNI at all
      o.verify_name = "127.0.0.1";
      TlsClient c;
      REQUIRE_MESSAGE(c.connect(port, o), c.error());
      CHECK(c.peer_org() == def);
      auto r = c.http(get("/echo"));
      REQUIRE_MESSAGE(r.has_value(), c.error());
      CHECK(r->status == 200);
    }
  }

  SUBCASE("curl -v shows the served subject") {
    CurlResult a = curl(ab, "a.example.com", "/", {"--http1.1"});
    CurlResult b = curl(ab, "b.example.com", "/", {"--http1.1"});
    CurlResult ip = curl(ba, "127.0.0.1", "/", {"--http1.1"});  // no SNI for an IP address
    INFO(a.describe() << "\n" << b.describe() << "\n" << ip.describe());
    CHECK(a.code == 200);
    CHECK(b.code == 200);
    CHECK(ip.code == 200);
    CHECK(contains(a.verbose, "O=cert-a-v1"));
    CHECK(contains(b.verbose, "O=cert-b"));
    CHECK(contains(ip.verbose, "O=cert-b"));
  }
}

TEST_CASE("ALPN: http/1.1 is negotiated; a client offering h2 first still gets http/1.1") {
  Backend be = Backend::http(1);
  Lb lb(config({tls_listener("web", "http", "p", {{"certificates", {cert("a")}}, {"alpn", {"http/1.1"}}})},
               {pool("p", be.http_ports())}));
  const uint16_t port = lb.port("web");

  RunResult r = s_client(port, {"-servername", "a.example.com", "-alpn", "http/1.1"});
  INFO(r.out);
  CHECK(r.status == 0);
  CHECK(contains(r.out, "ALPN protocol: http/1.1"));

  RunResult both = s_client(port, {"-servername", "a.example.com", "-alpn", "h2,http/1.1"});
  INFO(both.out);
  CHECK(contains(both.out, "ALPN protocol: http/1.1"));

  TlsOptions o = sni("a.example.com");
  o.alpn = {"h2", "http/1.1"};
  TlsClient c;
  REQUIRE_MESSAGE(c.connect(port, o), c.error());
  CHECK(c.alpn() == "http/1.1");
  auto resp = c.http(get("/echo"));
  REQUIRE_MESSAGE(resp.has_value(), c.error());
  CHECK(resp->status == 200);

  CurlResult cu = curl(port, "a.example.com", "/echo", {"--http2"});
  INFO(cu.describe());
  CHECK(cu.exit == 0);
  CHECK(cu.code == 200);
  CHECK(cu.version == "1.1");
  CHECK(contains(cu.verbose, "ALPN: server accepted http/1.1"));
}

TEST_CASE("min_version 1.3 refuses a TLS 1.2-only client and serves TLS 1.3") {
  Backend be = Backend::http(1);
  Lb lb(config({tls_listener("web", "http", "p", {{"certificates", {cert("a")}}, {"min_version", "1.3"}})},
               {pool("p", be.http_ports())}));
  const uint16_t port = lb.port("web");
  const uint64_t before = backend_requests(be.http_port());

  CurlResult old = curl(port, "a.example.com", "/echo", {"--tlsv1.2", "--tls-max", "1.2", "--http1.1"});
  INFO(old.describe());
  CHECK(old.exit != 0);
  CHECK(old.code != 200);

  TlsClient c12;
  CHECK_FALSE(c12.connect(port, sni("a.example.com", TLS1_2_VERSION, TLS1_2_VERSION)));
  MESSAGE("TLS 1.2-only client: " << c12.error());

  RunResult s = s_client(port, {"-servername", "a.example.com", "-tls1_2"});
  INFO(s.out);
  CHECK(s.status != 0);

  CurlResult ok = curl(port, "a.example.com", "/echo", {"--tlsv1.3", "--http1.1", "--data-binary", "v13"});
  INFO(ok.describe());
  CHECK(ok.exit == 0);
  CHECK(ok.code == 200);
  CHECK(ok.body == "v13");
  CHECK(contains(ok.verbose, "SSL connection using TLSv1.3"));

  Visit v = visit(port, sni("a.example.com"));
  CHECK_MESSAGE(v.ok, describe(v));
  CHECK(v.version == "TLSv1.3");
  // The refused handshakes never reached the backend: one request from curl
  // 1.3, one from visit(), and the /stats read itself.
  CHECK(backend_requests(be.http_port()) == before + 3);
}

TEST_CASE("session resumption with openssl s_client -sess_out / -sess_in, TLS 1.2 and TLS 1.3") {
  Backend be = Backend::http(1);
  Lb lb(config({tls_listener("web", "http", "p", {{"certificates", {cert("a"), cert("b")}}})},
               {pool("p", be.http_ports())}));
  const uint16_t port = lb.port("web");
  TempDir tmp;

  SUBCASE("TLS 1.2") {
    std::string sess = tmp.file("s12.pem");
    RunResult first = s_client(port, {"-servername", "a.example.com", "-tls1_2", "-sess_out", sess});
    INFO(first.out);
    REQUIRE(first.status == 0);
    CHECK(contains(first.out, "New, TLSv1.2"));
    REQUIRE(read_file(sess).has_value());
    for (int i = 0; i < 3; ++i) {  // a TLS 1.2 ticket may be used again
      RunResult again = s_client(port, {"-servername", "a.example.com", "-tls1_2", "-sess_in", sess});
      INFO(again.out);
      CHECK(again.status == 0);
      CHECK(contains(again.out, "Reused, TLSv1.2"));
    }
  }

  SUBCASE("TLS 1.3 (a request is sent so the ticket arrives)") {
    std::string sess = tmp.file("s13.pem");
    RunResult first = s_client(port, {"-servername", "a.example.com", "-tls1_3", "-ign_eof", "-sess_out", sess},
                               pki().f("request.txt"));
    INFO(first.out);
    // (Not the exit status: s_client fails on lb's missing close_notify, see
    // the close_notify test.)
    CHECK(contains(first.out, "New, TLSv1.3"));
    CHECK(contains(first.out, "HTTP/1.1 200"));
    REQUIRE(read_file(sess).has_value());
    RunResult again = s_client(port, {"-servername", "a.example.com", "-tls1_3", "-ign_eof", "-sess_in", sess},
                               pki().f("request.txt"));
    INFO(again.out);
    CHECK(contains(again.out, "Reused, TLSv1.3"));
    CHECK(contains(again.out, "HTTP/1.1 200"));
  }
}

TEST_CASE("session tickets are accepted by every worker (workers 2) and survive a reload") {
  Backend be = Backend::http(1);
  Lb lb(with_admin(config({tls_listener("web", "http", "p", {{"certificates", {cert("a")}}})},
                          {pool("p", be.http_ports())}, {{"workers", 2}})));
  const uint16_t port = lb.port("web");
  constexpr int kRounds = 24;  // all on one worker by chance: 2 × 2^-24

  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    CAPTURE(version);
    TlsOptions o = sni("a.example.com", version, version);
    SessionPtr session;
    Visit first = visit(port, o, &session);
    REQUIRE_MESSAGE(first.ok, describe(first));
    CHECK_FALSE(first.reused);
    REQUIRE(session.s != nullptr);
    REQUIRE(SSL_SESSION_is_resumable(session.s) == 1);

    // Each new connection offers the ticket of the previous one.
    int reused = 0;
    std::string failures;
    for (int i = 0; i < kRounds; ++i) {
      TlsOptions oi = o;
      oi.session = session.s;
      SessionPtr next;
      Visit v = visit(port, oi, &next);
      if (v.ok && v.reused) ++reused;
      else if (failures.size() < 2000) failures += "\n#" + std::to_string(i) + ": " + describe(v);
      if (next.s && SSL_SESSION_is_resumable(next.s)) session.reset(next.s), next.s = nullptr;
    }
    INFO(failures);
    CHECK(reused == kRounds);

    // Many connections at once, all resuming from one session: they land on
    // both workers.
    std::atomic<int> parallel_reused{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 8; ++t)
      ts.emplace_back([&] {
        TlsOptions oi = o;
        oi.session = session.s;
        Visit v = visit(port, oi);
        if (v.ok && v.reused) ++parallel_reused;
      });
    for (auto& t : ts) t.join();
    CHECK(parallel_reused.load() == 8);
  }

  // A reload (same files) keeps the ticket keys: sessions from before resume after.
  SessionPtr s12, s13;
  REQUIRE(visit(port, sni("a.example.com", TLS1_2_VERSION, TLS1_2_VERSION), &s12).ok);
  REQUIRE(visit(port, sni("a.example.com", TLS1_3_VERSION, TLS1_3_VERSION), &s13).ok);
  uint64_t gen = generation_of(stats(lb));
  REQUIRE(gen >= 1);
  REQUIRE(lb.signal(SIGHUP));
  REQUIRE_MESSAGE(wait_until([&] { return generation_of(stats(lb)) == gen + 1; }, 5s), lb.diagnostics());
  CHECK(stats(lb)["last_reload"].value("ok", false) == true);
  for (int i = 0; i < 6; ++i) {  // both workers
    TlsOptions o12 = sni("a.example.com", TLS1_2_VERSION, TLS1_2_VERSION);
    o12.session = s12.s;
    Visit v12 = visit(port, o12);
    CHECK_MESSAGE((v12.ok && v12.reused), "TLS 1.2 after reload: " << describe(v12));
    TlsOptions o13 = sni("a.example.com", TLS1_3_VERSION, TLS1_3_VERSION);
    o13.session = s13.s;
    Visit v13 = visit(port, o13);
    CHECK_MESSAGE((v13.ok && v13.reused), "TLS 1.3 after reload: " << describe(v13));
  }
}

TEST_CASE("mTLS: a client certificate from client_ca is required; its subject is forwarded, a forged one dropped") {
  Backend be = Backend::http(1);
  Backend echo = Backend::echo(1);
  json tls = {{"certificates", {cert("a")}}, {"client_ca", pki().client_ca()}};
  Lb lb(config({tls_listener("web", "http", "p", tls), tls_listener("raw", "tcp", "e", tls)},
               {pool("p", be.http_ports()), pool("e", echo.echo_ports())}));
  const uint16_t web = lb.port("web"), raw = lb.port("raw");
  const std::vector<std::string> good = {"--cert", pki().f("client.pem"), "--key", pki().f("client.key")};

  SUBCASE("http listener, curl, TLS 1.2 and 1.3") {
    for (std::string v : {"1.2", "1.3"}) {
      CAPTURE(v);
      std::vector<std::string> ver = v == "1.2" ? std::vector<std::string>{"--tlsv1.2", "--tls-max", "1.2"}
                                                : std::vector<std::string>{"--tlsv1.3"};
      std::vector<std::string> extra = ver;
      for (const auto& x : good) extra.push_back(x);
      for (std::string x : {"--http1.1", "-H", "X-Client-Cert-Subject: CN=forged,O=evil", "--data-binary", "m"})
        extra.push_back(x);
      CurlResult ok = curl(web, "a.example.com", "/echo", extra);
      INFO(ok.describe());
      CHECK(ok.exit == 0);
      CHECK(ok.code == 200);
      CHECK(ok.body == "m");
      auto subj = ok.headers_named("X-Seen-X-Client-Cert-Subject");
      REQUIRE(subj.size() == 1);
      MESSAGE("forwarded subject: " << subj[0]);
      CHECK(contains(subj[0], "CN=client1"));
      CHECK(contains(subj[0], "O=acme"));
      CHECK_FALSE(contains(subj[0], "forged"));
      CHECK(ok.headers_named("X-Seen-X-Forwarded-Proto") == std::vector<std::string>{"https"});

      const uint64_t before = backend_requests(be.http_port());
      CurlResult none = curl(web, "a.example.com", "/echo", ver);
      INFO(none.describe());
      CHECK(none.exit != 0);
      CHECK(none.code != 200);

      std::vector<std::string> rogue = ver;
      for (const std::string& x :
           std::vector<std::string>{"--cert", pki().f("rogue.pem"), "--key", pki().f("rogue.key")})
        rogue.push_back(x);
      CurlResult foreign = curl(web, "a.example.com", "/echo", rogue);
      INFO(foreign.describe());
      CHECK(foreign.exit != 0);
      CHECK(foreign.code != 200);
      CHECK(backend_requests(be.http_port()) == before + 1);  // only the /stats read itself
    }
  }

  SUBCASE("http listener, OpenSSL API client") {
    TlsOptions o = sni("a.example.com");
    o.cert = pki().f("client.pem");
    o.key = pki().f("client.key");
    Visit v = visit(web, o);
    CHECK_MESSAGE(v.ok, describe(v));
    for (int ver : {TLS1_2_VERSION, TLS1_3_VERSION}) {
      Visit refused = visit(web, sni("a.example.com", ver, ver));
      CHECK_MESSAGE(!refused.ok, describe(refused));
    }
  }

  SUBCASE("tcp listener: echo with the certificate, nothing without") {
    TlsOptions o = sni("a.example.com");
    o.cert = pki().f("client.pem");
    o.key = pki().f("client.key");
    TlsClient c;
    REQUIRE_MESSAGE(c.connect(raw, o), c.error());
    std::string why;
    CHECK_MESSAGE(c.echo_stream(100000, 10s, why), why);

    for (int ver : {TLS1_2_VERSION, TLS1_3_VERSION}) {
      CAPTURE(ver);
      TlsClient n;
      if (!n.connect(raw, sni("a.example.com", ver, ver))) continue;  // refused in the handshake (1.2)
      // TLS 1.3: the client finishes first; the server's refusal arrives next.
      std::string got;
      n.write_all("ping", 2s);
      int r = n.read_some(got, 3s);
      CHECK_MESSAGE(r < 0, "read returned " << r << " data " << got);
      CHECK(r != -2);  // closed, not left hanging
      CHECK(got.empty());
    }
  }
}

TEST_CASE("tcp listener with TLS: 16 MiB echoed byte-identical, then a clean close") {
  Backend echo = Backend::echo(1);
  Lb lb(config({tls_listener("raw", "tcp", "e", {{"certificates", {cert("a"), cert("b")}}})},
               {pool("e", echo.echo_ports())}));
  for (int ver : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    CAPTURE(ver);
    TlsClient c;
    REQUIRE_MESSAGE(c.connect(lb.port("raw"), sni("b.example.com", ver, ver)), c.error());
    CHECK(c.peer_org() == "cert-b");
    CHECK(c.alpn().empty());  // no ALPN on a tcp listener unless configured
    auto t0 = Clock::now();
    std::string why;
    CHECK_MESSAGE(c.echo_stream(size_t(16) << 20, 30s, why), why);
    MESSAGE(c.version() << ": 16 MiB echoed in " << elapsed_ms(t0) << " ms");
    int closed = c.close_and_wait(5s);
    CHECK_MESSAGE(closed == 0, "after our close_notify lb answered " << closed << " (0 close_notify, -1 bare EOF, -2 nothing): "
                                                                     << c.error());
  }

  // openssl s_client -quiet as the client: a line comes back verbatim.
  TempDir tmp;
  std::string line = "line through s_client " + std::to_string(::getpid()) + "\n";
  write_file(tmp.file("in"), line);
  RunResult r = s_client(lb.port("raw"), {"-quiet", "-servername", "a.example.com", "-ign_eof"}, tmp.file("in"));
  INFO(r.out);
  CHECK(contains(r.out, line));
}

TEST_CASE("SIGHUP re-reads the certificate files: new connections get the swapped certificate") {
  Backend be = Backend::http(1);
  MutableCert site("a");
  Lb lb(with_admin(config({tls_listener("web", "http", "p", {{"certificates", {site.entry(), cert("b")}}})},
                          {pool("p", be.http_ports())}, {{"workers", 2}})));
  const uint16_t port = lb.port("web");
  REQUIRE(served_org(port, "a.example.com") == "cert-a-v1");

  // A connection opened before the reload.
  TlsClient old;
  REQUIRE_MESSAGE(old.connect(port, sni("a.example.com")), old.error());
  REQUIRE(old.http(get("/echo")).has_value());

  uint64_t gen = generation_of(stats(lb));
  site.install("a2");
  REQUIRE(lb.signal(SIGHUP));
  REQUIRE_MESSAGE(wait_until([&] { return generation_of(stats(lb)) == gen + 1; }, 5s), lb.diagnostics());
  CHECK(stats(lb)["last_reload"].value("ok", false) == true);
  for (int i = 0; i < 6; ++i) CHECK(served_org(port, "a.example.com") == "cert-a-v2");  // both workers
  CHECK(served_org(port, "b.example.com") == "cert-b");

  RunResult s = s_client(port, {"-servername", "a.example.com"});
  INFO(s.out);
  CHECK(s_client_org(s.out) == "cert-a-v2");
  CurlResult c = curl(port, "a.example.com", "/echo", {"--http1.1", "--data-binary", "after"});
  INFO(c.describe());
  CHECK(c.code == 200);
  CHECK(c.body == "after");
  CHECK(contains(c.verbose, "O=cert-a-v2"));

  // The connection from before keeps working with its certificate.
  auto r = old.http(get("/echo"));
  CHECK_MESSAGE(r.has_value(), old.error());
  if (r) CHECK(r->status == 200);
  CHECK(old.peer_org() == "cert-a-v1");
}

TEST_CASE("a bad certificate or key on reload is rejected; the old certificate keeps serving") {
  Backend be = Backend::http(1);
  MutableCert site("a");
  Lb lb(with_admin(config({tls_listener("web", "http", "p", {{"certificates", {site.entry(), cert("b")}}})},
                          {pool("p", be.http_ports())})));
  const uint16_t port = lb.port("web");
  REQUIRE(served_org(port, "a.example.com") == "cert-a-v1");
  const uint64_t gen = generation_of(stats(lb));

  struct Bad {
    std::string what, pem, key;
  };
  const std::vector<Bad> bads = {
      {"mismatched pair (a2 certificate, b key)", pki().f("a2.pem"), pki().f("b.key")},
      {"certificate file that is not a certificate", pki().f("notacert.pem"), pki().f("a2.key")},
      {"empty key file", pki().f("a2.pem"), "/dev/null"},
  };
  size_t failed = count_msg(lb, "reload failed");
  for (const auto& bad : bads) {
    CAPTURE(bad.what);
    site.install_files(bad.pem, bad.key);
    REQUIRE(lb.signal(SIGHUP));
    CHECK_MESSAGE(wait_until([&] { return count_msg(lb, "reload failed") > failed; }, 5s), lb.diagnostics());
    failed = count_msg(lb, "reload failed");
    json s = stats(lb);
    INFO(s.dump());
    CHECK(generation_of(s) == gen);
    CHECK(s["last_reload"].value("ok", true) == false);
    MESSAGE(bad.what << " → " << s["last_reload"].value("error", ""));
    CHECK(contains(s["last_reload"].value("error", ""), site.dir.path()));  // names the offending file
    // Old certificate, and the listener still answers.
    CHECK(served_org(port, "a.example.com") == "cert-a-v1");
    CHECK(served_org(port, "b.example.com") == "cert-b");
    CurlResult c = curl(port, "a.example.com", "/echo", {"--http1.1", "--data-binary", "still"});
    INFO(c.describe());
    CHECK(c.code == 200);
    CHECK(c.body == "still");
    CHECK(contains(c.verbose, "O=cert-a-v1"));
  }

  // Fixing the files applies them.
  site.install("a2");
  REQUIRE(lb.signal(SIGHUP));
  REQUIRE_MESSAGE(wait_until([&] { return generation_of(stats(lb)) == gen + 1; }, 5s), lb.diagnostics());
  CHECK(stats(lb)["last_reload"].value("ok", false) == true);
  CHECK(served_org(port, "a.example.com") == "cert-a-v2");
}

TEST_CASE("http listener: lb ends a TLS connection with close_notify, not a bare TCP close") {
  // RFC 8446 6.1: each party MUST send close_notify before closing its write
  // side. Without it, a close-delimited body cannot be told from a truncated
  // one, and OpenSSL 3 clients report "unexpected eof while reading".
  Backend be = Backend::http(1);
  Lb lb(config({tls_listener("web", "http", "p", {{"certificates", {cert("a")}}},
                             {{"timeouts", {{"client_idle", "300ms"}}}})},
               {pool("p", be.http_ports())}));
  const uint16_t port = lb.port("web");

  for (int ver : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    CAPTURE(ver);
    {  // after a response to "Connection: close"
      TlsClient c;
      REQUIRE_MESSAGE(c.connect(port, sni("a.example.com", ver, ver)), c.error());
      HttpRequest req = get("/echo");
      req.headers.emplace_back("Connection", "close");
      auto r = c.http(req);
      REQUIRE_MESSAGE(r.has_value(), c.error());
      CHECK(r->status == 200);
      int closed = c.wait_peer_close(Clock::now() + 3s);
      CHECK_MESSAGE(closed == 0, "Connection: close → " << closed
                                     << " (0 close_notify, -1 bare EOF, -2 still open): " << c.error());
    }
    {  // after client_idle on a kept-alive connection
      TlsClient c;
      REQUIRE_MESSAGE(c.connect(port, sni("a.example.com", ver, ver)), c.error());
      auto r = c.http(get("/echo"));
      REQUIRE_MESSAGE(r.has_value(), c.error());
      int closed = c.wait_peer_close(Clock::now() + 3s);
      CHECK_MESSAGE(closed == 0, "client_idle → " << closed << " (0 close_notify, -1 bare EOF, -2 still open): "
                                                  << c.error());
    }
  }

  // What a strict client sees: s_client over TLS 1.2 with "Connection: close".
  RunResult s = s_client(port, {"-servername", "a.example.com", "-tls1_2", "-ign_eof"}, pki().f("request.txt"));
  INFO(s.out);
  CHECK(contains(s.out, "HTTP/1.1 200"));
  CHECK_FALSE(contains(s.out, "unexpected eof"));
  CHECK(s.status == 0);
}

TEST_CASE("garbage instead of a ClientHello is closed without harm; lb keeps serving") {
  Backend be = Backend::http(1);
  Backend echo = Backend::echo(1);
  Lb lb(config({tls_listener("web", "http", "p", {{"certificates", {cert("a")}}}),
                tls_listener("raw", "tcp", "e", {{"certificates", {cert("a")}}})},
               {pool("p", be.http_ports()), pool("e", echo.echo_ports())}));
  const uint64_t before = backend_requests(be.http_port());

  // A TLS connection that stays open through all of it.
  TlsClient live;
  REQUIRE_MESSAGE(live.connect(lb.port("web"), sni("a.example.com")), live.error());
  REQUIRE(live.http(get("/echo")).has_value());

  std::string random(4096, '\0');
  uint64_t s = 42;
  for (auto& ch : random) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    ch = static_cast<char>(s);
  }
  const std::vector<std::pair<std::string, std::string>> garbage = {
      {"plain HTTP request", "GET /echo HTTP/1.1\r\nHost: a.example.com\r\n\r\n"},
      {"4 KiB of random bytes", random},
      {"handshake record with a nonsense body", std::string("\x16\x03\x01\x00\x10", 5) + std::string(16, '\xff')},
      {"record header with an oversized length", std::string("\x16\x03\x01\xff\xff", 5) + std::string(64, 'A')},
      {"application data before any handshake", std::string("\x17\x03\x03\x00\x08", 5) + "01234567"},
  };
  for (std::string name : {"web", "raw"}) {
    for (const auto& [what, bytes] : garbage) {
      CAPTURE(name);
      CAPTURE(what);
      Socket g = Socket::connect(lb.port(name));
      REQUIRE(g.valid());
      g.send_all(bytes, 2s);
      auto t0 = Clock::now();
      Socket::Drain d = g.recv_until_eof(3s);  // tls_handshake is the default 10 s: this close is the parse error's
      CHECK_MESSAGE((d.io == Io::eof || d.io == Io::error), to_string(d.io));
      CHECK(elapsed_ms(t0) < 3000);
      // Whatever came back is at most a TLS alert, never an answer.
      CHECK(d.data.find("HTTP/") == std::string::npos);
      if (!d.data.empty()) CHECK(d.data[0] == '\x15');
    }
  }
  CHECK(lb.running());
  CHECK(backend_requests(be.http_port()) == before + 2);  // the live request + this /stats read

  auto r = live.http(get("/echo"));
  CHECK_MESSAGE(r.has_value(), live.error());
  CurlResult c = curl(lb.port("web"), "a.example.com", "/echo", {"--http1.1", "--data-binary", "fine"});
  INFO(c.describe());
  CHECK(c.code == 200);
  CHECK(c.body == "fine");
  TlsClient t;
  REQUIRE_MESSAGE(t.connect(lb.port("raw"), sni("a.example.com")), t.error());
  std::string why;
  CHECK_MESSAGE(t.echo_stream(10000, 5s, why), why);
}

TEST_CASE("tls_handshake 500ms: a stalled handshake is closed at the deadline; a finished one is not") {
  Backend be = Backend::http(1);
  Backend echo = Backend::echo(1);
  json timeouts = {{"timeouts", {{"tls_handshake", "500ms"}}}};
  Lb lb(config({tls_listener("web", "http", "p", {{"certificates", {cert("a")}}}, timeouts),
                tls_listener("raw", "tcp", "e", {{"certificates", {cert("a")}}}, timeouts)},
               {pool("p", be.http_ports()), pool("e", echo.echo_ports())}));

  for (std::string name : {"web", "raw"}) {
    CAPTURE(name);
    // Silent client, and a client stalled after half a record header.
    std::vector<std::pair<std::string, Socket>> stalled;
    auto t0 = Clock::now();
    stalled.emplace_back("silent", Socket::connect(lb.port(name)));
    stalled.emplace_back("partial", Socket::connect(lb.port(name)));
    for (auto& [_, s] : stalled) REQUIRE(s.valid());
    stalled[1].second.send_all(std::string("\x16\x03\x01", 3), 1s);
    for (auto& [what, s] : stalled) {
      CAPTURE(what);
      Io io = s.wait_closed(4s);
      double t = elapsed_ms(t0);
      MESSAGE(name << "/" << what << ": closed after " << t << " ms (" << to_string(io) << ")");
      CHECK((io == Io::eof || io == Io::error));
      CHECK(t >= 400);
      CHECK(t < 2500);
    }

    // A completed handshake is no longer subject to the deadline: the
    // connection stays open past it and still works.
    TlsClient c;
    REQUIRE_MESSAGE(c.connect(lb.port(name), sni("a.example.com")), c.error());
    pollfd p{c.socket().fd(), POLLIN, 0};
    // Nothing (no close) for three handshake deadlines. Any bytes would be a
    // TLS 1.3 ticket: read them through SSL to tell.
    auto until = Clock::now() + 1500ms;
    bool closed = false;
    while (Clock::now() < until) {
      int left = static_cast<int>(std::chrono::duration_cast<ms>(until - Clock::now()).count());
      if (::poll(&p, 1, std::max(left, 1)) <= 0) continue;
      std::string sink;
      int r = c.read_some(sink, 10ms);
      if (r == 0 || r == -1) {
        closed = true;
        break;
      }
      if (r == -2) {  // a ticket was consumed, no application data: wait on
        continue;
      }
    }
    CHECK_FALSE(closed);
    if (name == "web") {
      auto r = c.http(get("/echo"));
      CHECK_MESSAGE(r.has_value(), c.error());
    } else {
      std::string why;
      CHECK_MESSAGE(c.echo_stream(1000, 3s, why), why);
    }
  }
  CHECK(lb.running());
}

}  // TEST_SUITE

TEST_CASE("lb --check loads the certificates: a mismatched pair fails with the JSON path, a good one is ok") {
  TempDir dir;
  auto check = [&](const json& cert_entry) {
    json cfg = config({tls_listener("web", "http", "p", {{"certificates", {cert_entry}}})}, {pool("p", {9})});
    cfg["listeners"][0]["listen"] = "127.0.0.1:1";  // --check never binds
    std::string path = dir.file("check.json");
    std::ofstream(path) << cfg.dump(2);
    return run_command({lb_bin(), "-c", path, "--check"}, 20s);
  };
  RunResult good = check(cert("a"));
  REQUIRE(good.status.has_value());
  CHECK(*good.status == 0);
  CHECK(good.out.find(": ok") != std::string::npos);

  RunResult bad = check({{"cert", pki().f("a2.pem")}, {"key", pki().f("b.key")}});
  REQUIRE(bad.status.has_value());
  CHECK(*bad.status == 1);
  INFO("stderr: " << bad.err);
  CHECK(bad.err.find("/listeners/0/tls") != std::string::npos);
  CHECK(bad.err.find("does not match") != std::string::npos);
}
