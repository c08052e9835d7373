// tls/connection.cpp — the bytes-in/bytes-out TLS adapter and its custom BIO.
// See connection.h for the contract.
#include "tls/connection.h"

#include <openssl/err.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstring>

namespace lb::tls {

namespace {

// Largest TLS record payload: one SSL_read never returns more.
constexpr size_t kReadChunk = 16 * 1024;

}  // namespace

// The BIO under every Connection's SSL: reads come from the caller's buffer
// for the duration of on_encrypted_input (no copy into a memory BIO), writes
// append to cipher_out_. An empty input reports "retry read", which OpenSSL
// turns into SSL_ERROR_WANT_READ; writes always succeed.
struct Connection::BioGlue {
  static int write_ex(BIO* bio, const char* data, size_t len, size_t* written) {
    auto* self = static_cast<Connection*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    self->cipher_out_.append(data, len);
    *written = len;
    return 1;
  }
  static int read_ex(BIO* bio, char* out, size_t len, size_t* read) {
    auto* self = static_cast<Connection*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    if (self->in_len_ == 0) {
      BIO_set_retry_read(bio);
      *read = 0;
      return 0;
    }
    size_t n = std::min(len, self->in_len_);
    std::memcpy(out, self->in_ptr_, n);
    self->in_ptr_ += n;
    self->in_len_ -= n;
    *read = n;
    return 1;
  }
  static long ctrl(BIO* bio, int cmd, long /*num*/, void* /*ptr*/) {
    auto* self = static_cast<Connection*>(BIO_get_data(bio));
    switch (cmd) {
      case BIO_CTRL_FLUSH: return 1;  // nothing buffered below us
      case BIO_CTRL_PENDING: return self ? static_cast<long>(self->in_len_) : 0;
      case BIO_CTRL_WPENDING: return 0;
      default: return 0;  // unsupported (push/pop, ktls, dgram...): "no"
    }
  }
  static BIO_METHOD* method() {
    static BIO_METHOD* const m = [] {
      int type = BIO_get_new_index();
      if (type < 0) return static_cast<BIO_METHOD*>(nullptr);
      BIO_METHOD* meth = BIO_meth_new(type | BIO_TYPE_SOURCE_SINK, "lb-tls-connection");
      if (!meth) return meth;
      BIO_meth_set_write_ex(meth, &BioGlue::write_ex);
      BIO_meth_set_read_ex(meth, &BioGlue::read_ex);
      BIO_meth_set_ctrl(meth, &BioGlue::ctrl);
      return meth;  // process lifetime: shared by every connection
    }();
    return m;
  }
};

std::unique_ptr<Connection> Connection::make(SSL_CTX* ctx, std::string& error) {
  ERR_clear_error();
  BIO_METHOD* method = BioGlue::method();
  auto conn = std::make_unique<Connection>(Private{});
  conn->ssl_.reset(SSL_new(ctx));
  BIO* bio = method ? BIO_new(method) : nullptr;
  if (!conn->ssl_ || !bio) {
    BIO_free(bio);
    error = "tls: " + drain_errors("out of memory");
    return nullptr;
  }
  BIO_set_data(bio, conn.get());
  BIO_set_init(bio, 1);
  SSL_set_bio(conn->ssl_.get(), bio, bio);  // one reference serves both directions
  return conn;
}

std::unique_ptr<Connection> Connection::server(std::shared_ptr<const ServerContext> ctx, std::string& error) {
  auto conn = make(ctx->default_ctx(), error);
  if (!conn) return nullptr;
  conn->server_ctx_ = std::move(ctx);
  conn->is_server_ = true;
  SSL_set_accept_state(conn->ssl_.get());
  return conn;
}

std::unique_ptr<Connection> Connection::client(std::shared_ptr<const ClientContext> ctx, std::string_view host,
                                               std::string session_key, std::string& error) {
  auto conn = make(ctx->ctx(), error);
  if (!conn) return nullptr;
  conn->client_ctx_ = std::move(ctx);
  conn->session_key_ = std::move(session_key);
  if (!conn->client_ctx_->prepare(conn->ssl_.get(), host, &conn->session_key_, error)) return nullptr;
  SSL_set_connect_state(conn->ssl_.get());
  // Emit the ClientHello now so the caller can flush it right after connect.
  if (conn->on_encrypted_input(nullptr, 0) == Status::error) {
    error = "tls: " + conn->error_;
    return nullptr;
  }
  return conn;
}

Connection::~Connection() {
  // SSL_free() without a sent close_notify marks the session "bad" (not
  // resumable). Backend and client connections routinely end by idle timeout
  // or TCP close, and a cached session must survive that (as nginx does);
  // sessions of connections that failed were already invalidated by OpenSSL
  // when the fatal alert went out.
  if (ssl_) SSL_set_shutdown(ssl_.get(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
}

Connection::Status Connection::on_encrypted_input(const char* data, size_t len) {
  if (failed_) return Status::error;
  if (peer_closed_) return Status::closed;  // nothing may follow close_notify

  // Normally OpenSSL consumes everything (it buffers partial records itself);
  // anything it left last time goes first.
  bool from_leftover = !leftover_in_.empty();
  if (from_leftover) {
    leftover_in_.append(data, len);
    in_ptr_ = leftover_in_.view().data();
    in_len_ = leftover_in_.size();
  } else {
    in_ptr_ = data;
    in_len_ = len;
  }

  Status st = drive();

  if (st == Status::error || st == Status::closed) {
    leftover_in_.release();
  } else if (from_leftover) {
    leftover_in_.consume(leftover_in_.size() - in_len_);
  } else if (in_len_ > 0) {
    leftover_in_.append(in_ptr_, in_len_);
  }
  in_ptr_ = nullptr;
  in_len_ = 0;
  if (plain_in_.empty()) plain_in_.release();  // the read loop's spare tail
  return st;
}

Connection::Status Connection::drive() {
  Status st = Status::ok;
  SSL* ssl = ssl_.get();
  if (!handshake_done_) {
    ERR_clear_error();
    int r = SSL_do_handshake(ssl);
    if (r != 1) {
      int e = SSL_get_error(ssl, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return Status::ok;
      if (e == SSL_ERROR_ZERO_RETURN) {  // close_notify mid-handshake: the peer gave up
        peer_closed_ = true;
        return Status::closed;
      }
      return fail(e);
    }
    handshake_done_ = true;
    st = Status::handshake_done;
    if (!flush_plain_out()) return Status::error;
  }

  // Decrypt until OpenSSL wants more bytes: application data, and also the
  // post-handshake messages (TLS 1.3 tickets, KeyUpdate) and alerts.
  for (;;) {
    char* tail = plain_in_.prepare(kReadChunk);
    size_t n = 0;
    ERR_clear_error();
    int r = SSL_read_ex(ssl, tail, kReadChunk, &n);
    if (r == 1) {
      plain_in_.commit(n);
      continue;
    }
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) break;
    if (e == SSL_ERROR_ZERO_RETURN) {
      peer_closed_ = true;
      return Status::closed;
    }
    return fail(e);
  }
  // A renegotiation-free peer can still make us want to write (KeyUpdate);
  // queued plaintext goes out as soon as SSL_write takes it.
  if (!plain_out_.empty() && !flush_plain_out()) return Status::error;
  return st;
}

Connection::Status Connection::fail(int ssl_error) {
  std::string reason;
  if (ssl_error == SSL_ERROR_SSL) {
    reason = drain_errors("TLS protocol error");
  } else if (ssl_error == SSL_ERROR_SYSCALL) {
    reason = drain_errors("unexpected end of stream");
  } else {
    ERR_clear_error();
    reason = "unexpected SSL_get_error " + std::to_string(ssl_error);
  }
  long verify = SSL_get_verify_result(ssl_.get());
  if ((SSL_get_verify_mode(ssl_.get()) & SSL_VERIFY_PEER) && verify != X509_V_OK) reason += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
  error_ = std::move(reason);
  failed_ = true;
  plain_out_.release();
  return Status::error;
}

bool Connection::flush_plain_out() {
  while (!plain_out_.empty()) {
    std::string_view pending = plain_out_.view();
    size_t written = 0;
    ERR_clear_error();
    int r = SSL_write_ex(ssl_.get(), pending.data(), pending.size(), &written);
    if (r == 1) {
      plain_out_.consume(written);
      continue;
    }
    int e = SSL_get_error(ssl_.get(), r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return true;  // keep it queued
    fail(e);
    return false;
  }
  return true;
}

bool Connection::write_plain(const char* data, size_t len) {
  if (failed_ || shutdown_sent_) return false;
  if (len == 0) return true;
  if (!handshake_done_ || !plain_out_.empty()) {
    plain_out_.append(data, len);  // keeps order behind what is already queued
    return handshake_done_ ? flush_plain_out() : true;
  }
  while (len > 0) {
    size_t written = 0;
    ERR_clear_error();
    int r = SSL_write_ex(ssl_.get(), data, len, &written);
    if (r == 1) {
      data += written;
      len -= written;
      continue;
    }
    int e = SSL_get_error(ssl_.get(), r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      plain_out_.append(data, len);
      return true;
    }
    fail(e);
    return false;
  }
  return true;
}

void Connection::shutdown() {
  if (shutdown_sent_) return;
  shutdown_sent_ = true;
  if (failed_ || !handshake_done_) {
    plain_out_.release();  // never sent; there is no session to close cleanly
    return;
  }
  flush_plain_out();
  if (failed_) return;
  ERR_clear_error();
  if (SSL_shutdown(ssl_.get()) < 0) ERR_clear_error();  // best effort: we close anyway
}

void Connection::consume_encrypted(size_t n) {
  if (n >= cipher_out_.size()) {
    std::string().swap(cipher_out_);  // drained: give the capacity back
  } else {
    cipher_out_.erase(0, n);
  }
}

std::string Connection::take_encrypted() {
  std::string out;
  out.swap(cipher_out_);
  return out;
}

std::string_view Connection::alpn() const {
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl_.get(), &data, &len);
  return data ? std::string_view(reinterpret_cast<const char*>(data), len) : std::string_view();
}

std::string_view Connection::sni() const {
  const char* name = SSL_get_servername(ssl_.get(), TLSEXT_NAMETYPE_host_name);
  return name ? std::string_view(name) : std::string_view();
}

std::string_view Connection::version() const {
  return handshake_done_ ? std::string_view(SSL_get_version(ssl_.get())) : std::string_view();
}

bool Connection::session_reused() const { return handshake_done_ && SSL_session_reused(ssl_.get()) == 1; }

std::string Connection::peer_subject() const {
  if (!handshake_done_ || failed_) return {};
  X509* cert = SSL_get0_peer_certificate(ssl_.get());
  if (!cert || !(SSL_get_verify_mode(ssl_.get()) & SSL_VERIFY_PEER) ||
      SSL_get_verify_result(ssl_.get()) != X509_V_OK)
    return {};
  return subject_rfc2253(cert);
}

SessionPtr Connection::session() const {
  return handshake_done_ ? SessionPtr(SSL_get1_session(ssl_.get())) : nullptr;
}

}  // namespace lb::tls
