// tests/unit/tls_connection_test.cpp — tls::Connection: a server and a client
// Connection pumped against each other in memory (no sockets): handshakes over
// TLS 1.2 and 1.3, SNI, ALPN, resumption across contexts sharing TicketKeys,
// version floor, mTLS, garbage input, large transfers, close_notify.
#include <doctest/doctest.h>

#include <openssl/rand.h>

#include <algorithm>
#include <limits>
#include <string>

#include "tls/connection.h"

namespace lb::tls::test {
std::string tls_test_file(std::string_view name);  // tests/unit/tls_pki.cpp
}

using namespace lb::tls;
using lb::tls::test::tls_test_file;
using Status = Connection::Status;

namespace {

struct Peer {
  std::unique_ptr<Connection> conn;
  std::string got;  // plaintext received
  bool handshake = false, closed = false, error = false;
  int handshake_reports = 0;
};

// Feeds `bytes` to `to` in `chunk`-sized pieces, collecting plaintext/status.
void feed(Peer& to, const std::string& bytes, size_t chunk) {
  for (size_t off = 0; off < bytes.size(); off += chunk) {
    Status st = to.conn->on_encrypted_input(bytes.data() + off, std::min(chunk, bytes.size() - off));
    to.got.append(to.conn->plaintext());
    to.conn->consume_plaintext(to.conn->plaintext().size());
    if (st == Status::handshake_done) {
      to.handshake = true;
      ++to.handshake_reports;
    }
    if (st == Status::closed) to.closed = true;
    if (st == Status::error) to.error = true;
  }
}

struct Link {
  Peer client, server;
  size_t chunk = std::numeric_limits<size_t>::max();

  // Moves ciphertext both ways until neither side has anything to send.
  void pump() {
    for (int i = 0; i < 100000; ++i) {
      bool moved = false;
      if (client.conn->pending_encrypted()) {
        feed(server, client.conn->take_encrypted(), chunk);
        moved = true;
      }
      if (server.conn->pending_encrypted()) {
        // Alternate the copying flavour of the output API.
        std::string bytes(server.conn->encrypted_output());
        server.conn->consume_encrypted(bytes.size());
        feed(client, bytes, chunk);
        moved = true;
      }
      if (!moved) return;
    }
    FAIL("pump did not settle");
  }
  bool established() const { return client.handshake && server.handshake && !client.error && !server.error; }
};

lb::conf::ListenerTls listener_tls() {
  lb::conf::ListenerTls t;
  t.certificates = {{tls_test_file("a.pem"), tls_test_file("a.key")},
                    {tls_test_file("b.pem"), tls_test_file("b.key")}};
  return t;
}

std::shared_ptr<const ServerContext> make_server(lb::conf::ListenerTls t = listener_tls(),
                                                 std::shared_ptr<TicketKeys> keys = nullptr) {
  std::string error;
  auto ctx = ServerContext::create(t, std::move(keys), error);
  REQUIRE_MESSAGE(ctx, error);
  return ctx;
}

std::shared_ptr<const ClientContext> make_client(ClientOptions o = {}, bool verify = true) {
  lb::conf::PoolTls p;
  p.verify = verify;
  p.ca = tls_test_file("root.pem");
  if (o.alpn.empty()) o.alpn = {"http/1.1"};
  std::string error;
  auto ctx = ClientContext::create(p, o, error);
  REQUIRE_MESSAGE(ctx, error);
  return ctx;
}

Link connect(std::shared_ptr<const ServerContext> s, std::shared_ptr<const ClientContext> c,
             std::string_view host = "a.example.com", std::string session_key = "", bool pump = true) {
  Link link;
  std::string error;
  link.server.conn = Connection::server(std::move(s), error);
  REQUIRE_MESSAGE(link.server.conn, error);
  link.client.conn = Connection::client(std::move(c), host, std::move(session_key), error);
  REQUIRE_MESSAGE(link.client.conn, error);
  CHECK(link.client.conn->pending_encrypted() > 0);  // ClientHello ready
  if (pump) link.pump();
  return link;
}

std::string peer_cert_subject(const Connection& c) {
  return subject_rfc2253(SSL_get0_peer_certificate(c.native_handle()));
}

std::string random_bytes(size_t n) {
  std::string s(n, '\0');
  REQUIRE(RAND_bytes(reinterpret_cast<unsigned char*>(s.data()), static_cast<int>(n)) == 1);
  return s;
}

}  // namespace

TEST_CASE("tls connection: handshake over TLS 1.3 and 1.2 with ALPN and SNI") {
  auto server = make_server();
  for (auto v : {lb::conf::TlsVersion::v1_3, lb::conf::TlsVersion::v1_2}) {
    ClientOptions o;
    o.max_version = v;
    Link link = connect(server, make_client(o));
    REQUIRE(link.established());
    const char* want = v == lb::conf::TlsVersion::v1_3 ? "TLSv1.3" : "TLSv1.2";
    CHECK(link.server.conn->version() == want);
    CHECK(link.client.conn->version() == want);
    CHECK(link.server.handshake_reports == 1);
    CHECK(link.client.handshake_reports == 1);
    CHECK(link.server.conn->alpn() == "http/1.1");
    CHECK(link.client.conn->alpn() == "http/1.1");
    CHECK(link.server.conn->sni() == "a.example.com");
    CHECK_FALSE(link.server.conn->session_reused());
    CHECK(link.client.conn->peer_subject() == "CN=a.example.com,O=lb-test");  // verified through the chain
    CHECK(link.server.conn->peer_subject().empty());

    // Data both ways; nothing left buffered once drained.
    CHECK(link.client.conn->write_plain("GET / HTTP/1.1\r\n\r\n"));
    CHECK(link.server.conn->write_plain("HTTP/1.1 200 OK\r\n\r\n"));
    link.pump();
    CHECK(link.server.got == "GET / HTTP/1.1\r\n\r\n");
    CHECK(link.client.got == "HTTP/1.1 200 OK\r\n\r\n");
    CHECK(link.server.conn->pending_encrypted() == 0);
    CHECK(link.server.conn->plaintext().empty());
    // Idle and drained: no buffer memory kept (at most std::string's inline storage).
    CHECK(link.server.conn->buffer_capacity() < 64);
    CHECK(link.client.conn->buffer_capacity() < 64);
  }
}

TEST_CASE("tls connection: verify on needs a name to check") {
  std::string error;
  auto conn = Connection::client(make_client(), "", "", error);
  CHECK_FALSE(conn);
  CHECK(error.find("sni") != std::string::npos);
}

TEST_CASE("tls connection: SNI picks the certificate, default otherwise") {
  auto server = make_server();
  {
    Link link = connect(server, make_client(), "x.b.example.com");  // verified against the wildcard
    REQUIRE(link.established());
    CHECK(peer_cert_subject(*link.client.conn) == "CN=wildcard b,O=lb-test");
    CHECK(link.server.conn->sni() == "x.b.example.com");
  }
  {
    Link link = connect(server, make_client(), "A.EXAMPLE.COM");
    REQUIRE(link.established());
    CHECK(peer_cert_subject(*link.client.conn) == "CN=a.example.com,O=lb-test");
  }
  auto unverified = make_client({}, /*verify=*/false);
  for (std::string_view host : {"unknown.org", "y.x.b.example.com", "127.0.0.1", ""}) {
    Link link = connect(server, unverified, host);  // IP or empty: no SNI sent at all
    REQUIRE(link.established());
    CHECK_MESSAGE(peer_cert_subject(*link.client.conn) == "CN=a.example.com,O=lb-test", host);
  }
}

TEST_CASE("tls connection: client rejects a certificate for another name") {
  Link link = connect(make_server(), make_client(), "wrong.example.com");
  CHECK(link.client.error);
  CHECK_FALSE(link.client.handshake);
  CHECK(link.client.conn->error_reason().find("certificate verify failed") != std::string::npos);
  CHECK(link.client.conn->error_reason().find("hostname mismatch") != std::string::npos);
  CHECK(link.server.error);  // got the alert
}

TEST_CASE("tls connection: ALPN is the server's first choice among the client's offers") {
  auto t = listener_tls();
  t.alpn = {"h2", "http/1.1"};
  auto server = make_server(t);
  ClientOptions o;
  SUBCASE("server preference wins") {
    o.alpn = {"http/1.1", "h2"};
    Link link = connect(server, make_client(o));
    REQUIRE(link.established());
    CHECK(link.server.conn->alpn() == "h2");
  }
  SUBCASE("no overlap: proceed without ALPN") {
    o.alpn = {"spdy/3", "imap"};
    Link link = connect(server, make_client(o));
    REQUIRE(link.established());
    CHECK(link.server.conn->alpn().empty());
    CHECK(link.client.conn->alpn().empty());
  }
}

TEST_CASE("tls connection: session resumption through tickets shared by two workers") {
  for (auto v : {lb::conf::TlsVersion::v1_3, lb::conf::TlsVersion::v1_2}) {
    CAPTURE(static_cast<int>(v));
    auto keys = std::make_shared<TicketKeys>(std::chrono::hours(1), 3);
    auto worker1 = make_server(listener_tls(), keys);
    auto worker2 = make_server(listener_tls(), keys);  // same config, same keys: a second worker
    ClientOptions o;
    o.max_version = v;
    auto client = make_client(o);

    Link first = connect(worker1, client, "a.example.com", "backend-1");
    REQUIRE(first.established());
    CHECK_FALSE(first.server.conn->session_reused());
    REQUIRE(client->cached_sessions() == 1);  // ticket arrived (TLS 1.3: after the handshake)

    Link same = connect(worker1, client, "a.example.com", "backend-1");
    REQUIRE(same.established());
    CHECK(same.server.conn->session_reused());
    CHECK(same.client.conn->session_reused());

    Link other = connect(worker2, client, "a.example.com", "backend-1");
    REQUIRE(other.established());
    CHECK(other.server.conn->session_reused());
    CHECK(other.server.conn->alpn() == "http/1.1");

    // One rotation: the previous key still decrypts (and the ticket is renewed).
    keys->rotate();
    Link after_one = connect(worker2, client, "a.example.com", "backend-1");
    REQUIRE(after_one.established());
    CHECK(after_one.server.conn->session_reused());

    // Enough rotations to push every key the client's ticket could use out.
    keys->rotate();
    keys->rotate();
    keys->rotate();
    Link expired = connect(worker1, client, "a.example.com", "backend-1");
    REQUIRE(expired.established());
    CHECK_FALSE(expired.server.conn->session_reused());

    // Separate keys (two unrelated contexts) do not resume each other's tickets.
    auto lonely = make_server(listener_tls(), std::make_shared<TicketKeys>());
    Link foreign = connect(lonely, client, "a.example.com", "backend-1");
    REQUIRE(foreign.established());
    CHECK_FALSE(foreign.server.conn->session_reused());

    // Without a session key nothing is cached or resumed.
    Link anon = connect(worker1, client, "a.example.com", "");
    REQUIRE(anon.established());
    CHECK_FALSE(anon.server.conn->session_reused());
  }
}

TEST_CASE("tls connection: a ticket never resumes on a listener with other client-cert rules") {
  auto keys = std::make_shared<TicketKeys>();
  auto open_listener = make_server(listener_tls(), keys);
  auto t = listener_tls();
  t.client_ca = tls_test_file("client-ca.pem");
  auto mtls_listener = make_server(t, keys);  // same ticket keys, stricter rules
  ClientOptions o;
  o.certificate = lb::conf::TlsCertificate{tls_test_file("client.pem"), tls_test_file("client.key")};
  auto client = make_client(o);
  Link first = connect(open_listener, client, "a.example.com", "k");
  REQUIRE(first.established());
  Link second = connect(mtls_listener, client, "a.example.com", "k");
  REQUIRE(second.established());
  CHECK_FALSE(second.server.conn->session_reused());  // full handshake, client cert checked
  CHECK(second.server.conn->peer_subject() == "CN=client-1,O=lb-test");
}

TEST_CASE("tls connection: explicit SSL_SESSION from the first handshake resumes") {
  auto server = make_server();
  auto client = make_client();
  Link first = connect(server, client, "a.example.com", "k");
  REQUIRE(first.established());
  SessionPtr session = first.client.conn->session();
  REQUIRE(session);
  CHECK(SSL_SESSION_is_resumable(session.get()) == 1);
  client->forget_session("k");
  client->store_session("k2", std::move(session));
  Link second = connect(server, client, "a.example.com", "k2");
  REQUIRE(second.established());
  CHECK(second.client.conn->session_reused());
}

TEST_CASE("tls connection: min_version 1.3 refuses a TLS 1.2-only client") {
  auto t = listener_tls();
  t.min_version = lb::conf::TlsVersion::v1_3;
  ClientOptions o;
  o.max_version = lb::conf::TlsVersion::v1_2;
  Link link = connect(make_server(t), make_client(o));
  CHECK(link.server.error);
  CHECK(link.client.error);
  CHECK_FALSE(link.server.handshake);
  CHECK(link.server.conn->error_reason().find("protocol") != std::string::npos);
  CHECK_FALSE(link.server.conn->write_plain("x"));
}

TEST_CASE("tls connection: mTLS") {
  auto t = listener_tls();
  t.client_ca = tls_test_file("client-ca.pem");
  auto server = make_server(t);
  for (auto v : {lb::conf::TlsVersion::v1_3, lb::conf::TlsVersion::v1_2}) {
    CAPTURE(static_cast<int>(v));
    ClientOptions o;
    o.max_version = v;
    SUBCASE("a certificate from client_ca is accepted") {
      o.certificate = lb::conf::TlsCertificate{tls_test_file("client.pem"), tls_test_file("client.key")};
      Link link = connect(server, make_client(o));
      REQUIRE(link.established());
      CHECK(link.server.conn->peer_subject() == "CN=client-1,O=lb-test");
      CHECK(link.client.conn->write_plain("hello"));
      link.pump();
      CHECK(link.server.got == "hello");
    }
    SUBCASE("no certificate: handshake error") {
      Link link = connect(server, make_client(o));
      CHECK(link.server.error);
      CHECK_FALSE(link.server.handshake);
      CHECK(link.server.conn->error_reason().find("certificate") != std::string::npos);
      CHECK(link.server.conn->peer_subject().empty());
      CHECK(link.client.error);  // the alert reaches the client (TLS 1.3: after its Finished)
    }
    SUBCASE("certificate from an untrusted CA: handshake error") {
      o.certificate = lb::conf::TlsCertificate{tls_test_file("rogue.pem"), tls_test_file("rogue.key")};
      Link link = connect(server, make_client(o));
      CHECK(link.server.error);
      CHECK(link.server.conn->error_reason().find("certificate") != std::string::npos);
    }
  }
}

TEST_CASE("tls connection: garbage instead of a ClientHello is an error, not a crash") {
  auto server = make_server();
  std::string error;
  for (std::string garbage : {std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), random_bytes(4096),
                              std::string("\x16\x03\x01\xff\xff", 5) + random_bytes(300),
                              std::string("\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00", 10)}) {
    auto conn = Connection::server(server, error);
    REQUIRE(conn);
    Status st = Status::ok;
    // Byte by byte first, to exercise partial-record buffering, then the rest.
    for (size_t i = 0; i < garbage.size() && st == Status::ok; ++i) st = conn->on_encrypted_input(&garbage[i], 1);
    CHECK(st == Status::error);
    CHECK_FALSE(conn->error_reason().empty());
    CHECK(conn->on_encrypted_input("more", 4) == Status::error);  // sticky
    CHECK_FALSE(conn->write_plain("x"));
    conn->shutdown();  // harmless after an error
    CHECK(conn->plaintext().empty());
  }
}

TEST_CASE("tls connection: 1 MiB in both directions, fed in odd-sized pieces") {
  for (auto v : {lb::conf::TlsVersion::v1_3, lb::conf::TlsVersion::v1_2}) {
    ClientOptions o;
    o.max_version = v;
    Link link = connect(make_server(), make_client(o));
    REQUIRE(link.established());
    link.chunk = 7777;
    const std::string up = random_bytes(1 << 20), down = random_bytes(1 << 20);
    // In several writes of uneven size, both at once.
    for (size_t off = 0; off < up.size(); off += 300'001) {
      size_t n = std::min<size_t>(300'001, up.size() - off);
      REQUIRE(link.client.conn->write_plain(up.data() + off, n));
      REQUIRE(link.server.conn->write_plain(down.data() + off, n));
    }
    link.pump();
    CHECK(link.server.got.size() == up.size());
    CHECK(link.server.got == up);
    CHECK(link.client.got == down);
    CHECK_FALSE(link.client.error);
    CHECK_FALSE(link.server.error);
    CHECK(link.server.conn->buffer_capacity() < 64);  // the 1 MiB buffers are gone once drained
  }
}

TEST_CASE("tls connection: plaintext written before the handshake is delivered after it") {
  Link link = connect(make_server(), make_client(), "a.example.com", "", /*pump=*/false);
  CHECK(link.client.conn->write_plain("early "));
  CHECK(link.client.conn->write_plain("bytes"));
  CHECK(link.client.conn->pending_plain_output() == 11);
  link.pump();
  REQUIRE(link.established());
  CHECK(link.client.conn->pending_plain_output() == 0);
  CHECK(link.server.got == "early bytes");
}

TEST_CASE("tls connection: close_notify") {
  for (auto v : {lb::conf::TlsVersion::v1_3, lb::conf::TlsVersion::v1_2}) {
    ClientOptions o;
    o.max_version = v;
    Link link = connect(make_server(), make_client(o));
    REQUIRE(link.established());
    // Last data and close_notify in one flight: the data comes with `closed`.
    CHECK(link.client.conn->write_plain("bye"));
    link.client.conn->shutdown();
    CHECK(link.client.conn->shutdown_sent());
    CHECK_FALSE(link.client.conn->write_plain("late"));
    std::string flight = link.client.conn->take_encrypted();
    Status st = link.server.conn->on_encrypted_input(flight);
    CHECK(st == Status::closed);
    CHECK(link.server.conn->plaintext() == "bye");
    CHECK(link.server.conn->peer_closed());
    CHECK(link.server.conn->on_encrypted_input("x", 1) == Status::closed);  // ignored after close

    // The server may still answer (half-close), then closes too.
    link.server.conn->consume_plaintext(3);
    CHECK(link.server.conn->write_plain("ack"));
    link.server.conn->shutdown();
    link.pump();
    CHECK(link.client.closed);
    CHECK(link.client.got == "ack");
    CHECK_FALSE(link.client.error);
    CHECK_FALSE(link.server.error);
  }
}

TEST_CASE("tls connection: shutdown before the handshake queues nothing") {
  Link link = connect(make_server(), make_client(), "a.example.com", "", /*pump=*/false);
  link.server.conn->shutdown();
  CHECK(link.server.conn->pending_encrypted() == 0);
  CHECK_FALSE(link.server.conn->write_plain("x"));
}
