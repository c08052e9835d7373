// tls/ticket_keys.h — session-ticket keys shared by every ServerContext of the
// process (all workers, all reload generations), so a client resumes on any
// worker and across reloads.
//
// A ticket is encrypted with AES-256-CBC and authenticated with HMAC-SHA256
// (the RFC 5077 layout OpenSSL implements); the keys come from RAND_bytes and
// never leave the process. The *current* key encrypts new tickets; the
// previous `keep - 1` keys still decrypt (a ticket decrypted with an older key
// is renewed under the current one). Keys rotate every `rotation` interval,
// checked lazily on the handshake path, or at once with rotate().
//
// Threading: fully thread-safe, no mutex. The key set is an immutable
// snapshot published through std::atomic<std::shared_ptr<const KeySet>>: the
// ticket callback (one call per full handshake or resumption, never per
// request) loads the snapshot, uses it, and drops it. (libstdc++ guards that
// atomic with a spin bit held for a pointer copy — never across crypto work.)
// A rotation builds a new snapshot and publishes it with compare-exchange, so
// concurrent rotations by two workers produce exactly one new key.
//
// Lifetime: attach() stores a raw pointer in the SSL_CTX; the owner of the
// SSL_CTX (ServerContext) holds a shared_ptr<TicketKeys>, and Connections hold
// the ServerContext, so the keys outlive every handshake that can call back.
#pragma once

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <vector>

namespace lb::tls {

class TicketKeys {
 public:
  using Clock = std::chrono::steady_clock;

  // `keep` >= 2 keys are kept (current + keep-1 decrypt-only ones). Tickets
  // stay valid for (keep - 1) * rotation, which attach() sets as the session
  // timeout, so every unexpired ticket can still be decrypted.
  explicit TicketKeys(std::chrono::seconds rotation = std::chrono::hours(1), size_t keep = 3);
  ~TicketKeys();
  TicketKeys(const TicketKeys&) = delete;
  TicketKeys& operator=(const TicketKeys&) = delete;

  // Makes a fresh key current now (the oldest beyond `keep` is dropped).
  // False only when the random generator fails; the old set stays in force.
  bool rotate();

  // Installs the ticket callback and session timeout on `ctx`. `this` must
  // outlive `ctx` and every SSL made from it (see "Lifetime" above).
  void attach(SSL_CTX* ctx);

  std::chrono::seconds ticket_lifetime() const { return rotation_ * static_cast<long>(keep_ - 1); }
  size_t key_count() const;

 private:
  struct Key {
    std::array<unsigned char, 16> name;
    std::array<unsigned char, 32> aes;
    std::array<unsigned char, 32> hmac;
  };
  struct KeySet {
    std::vector<Key> keys;  // [0] encrypts; all decrypt
    Clock::time_point created;
    ~KeySet();
  };

  static int ticket_callback(SSL* ssl, unsigned char key_name[16], unsigned char* iv,
                             EVP_CIPHER_CTX* cipher_ctx, EVP_MAC_CTX* mac_ctx, int enc);
  int on_ticket(unsigned char key_name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher_ctx,
                EVP_MAC_CTX* mac_ctx, int enc);
  std::shared_ptr<const KeySet> current();  // rotates first when the interval passed
  bool rotate_from(const std::shared_ptr<const KeySet>& expected, Clock::time_point now);

  const std::chrono::seconds rotation_;
  const size_t keep_;
  const EVP_CIPHER* cipher_ = nullptr;
  EVP_CIPHER* fetched_cipher_ = nullptr;  // owned; null when the legacy table is used
  std::atomic<std::shared_ptr<const KeySet>> keys_;
};

}  // namespace lb::tls
