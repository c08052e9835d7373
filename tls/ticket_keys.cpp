// tls/ticket_keys.cpp — session-ticket key rotation and the OpenSSL 3 ticket
// callback (SSL_CTX_set_tlsext_ticket_key_evp_cb). See ticket_keys.h.
#include "tls/ticket_keys.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>

namespace lb::tls {

namespace {

// SSL_CTX ex_data slot holding the TicketKeys* (allocated once per process).
int ex_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

}  // namespace

TicketKeys::KeySet::~KeySet() {
  for (auto& k : keys) OPENSSL_cleanse(&k, sizeof k);
}

TicketKeys::TicketKeys(std::chrono::seconds rotation, size_t keep)
    : rotation_(std::max(rotation, std::chrono::seconds(1))), keep_(std::max<size_t>(keep, 2)) {
  fetched_cipher_ = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);
  cipher_ = fetched_cipher_ ? fetched_cipher_ : EVP_aes_256_cbc();
  ERR_clear_error();
  keys_.store(std::make_shared<const KeySet>());
  // Without a key (RAND failure) no tickets are issued: full handshakes only.
  rotate();
}

TicketKeys::~TicketKeys() { EVP_CIPHER_free(fetched_cipher_); }

size_t TicketKeys::key_count() const { return keys_.load()->keys.size(); }

bool TicketKeys::rotate() {
  auto now = Clock::now();
  for (;;) {
    auto expected = keys_.load();
    if (rotate_from(expected, now)) return true;
    if (keys_.load() == expected) return false;  // RAND failed, not a lost race
  }
}

// Publishes expected + one fresh key; false when another thread published
// first (the caller re-reads) or the random generator failed.
bool TicketKeys::rotate_from(const std::shared_ptr<const KeySet>& expected, Clock::time_point now) {
  Key fresh;
  if (RAND_bytes(fresh.name.data(), sizeof fresh.name) != 1 ||
      RAND_priv_bytes(fresh.aes.data(), sizeof fresh.aes) != 1 ||
      RAND_priv_bytes(fresh.hmac.data(), sizeof fresh.hmac) != 1) {
    OPENSSL_cleanse(&fresh, sizeof fresh);
    ERR_clear_error();
    return false;
  }
  auto next = std::make_shared<KeySet>();
  next->created = now;
  next->keys.reserve(keep_);
  next->keys.push_back(fresh);
  OPENSSL_cleanse(&fresh, sizeof fresh);
  for (size_t i = 0; i < expected->keys.size() && next->keys.size() < keep_; ++i)
    next->keys.push_back(expected->keys[i]);
  auto want = expected;
  return keys_.compare_exchange_strong(want, std::shared_ptr<const KeySet>(std::move(next)));
}

std::shared_ptr<const TicketKeys::KeySet> TicketKeys::current() {
  auto set = keys_.load();
  auto now = Clock::now();
  if (set->keys.empty() || now - set->created >= rotation_) {
    // Lost races are fine: someone else rotated; take what is published.
    rotate_from(set, now);
    set = keys_.load();
  }
  return set;
}

void TicketKeys::attach(SSL_CTX* ctx) {
  SSL_CTX_set_ex_data(ctx, ex_index(), this);
  SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, &TicketKeys::ticket_callback);
  // A ticket must not outlive the key that can decrypt it.
  SSL_CTX_set_timeout(ctx, static_cast<long>(ticket_lifetime().count()));
}

int TicketKeys::ticket_callback(SSL* ssl, unsigned char key_name[16], unsigned char* iv,
                                EVP_CIPHER_CTX* cipher_ctx, EVP_MAC_CTX* mac_ctx, int enc) {
  // Both the SNI-selected context and the initial one carry the pointer.
  auto* self = static_cast<TicketKeys*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ex_index()));
  if (!self) return 0;  // no keys: issue none, accept none (full handshake)
  return self->on_ticket(key_name, iv, cipher_ctx, mac_ctx, enc);
}

// enc = 1: fill key_name/iv and init both contexts for encryption; 1 = ok,
//          0 = issue no ticket.
// enc = 0: find key_name; 0 = unknown (full handshake), 1 = ok,
//          2 = ok but re-issue the ticket under the current key.
int TicketKeys::on_ticket(unsigned char key_name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher_ctx,
                          EVP_MAC_CTX* mac_ctx, int enc) {
  auto set = current();
  if (set->keys.empty()) return 0;

  const Key* key = nullptr;
  bool is_current = true;
  if (enc) {
    key = &set->keys.front();
    std::memcpy(key_name, key->name.data(), key->name.size());
    if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(cipher_)) != 1) {
      ERR_clear_error();
      return 0;
    }
  } else {
    for (size_t i = 0; i < set->keys.size(); ++i) {
      if (std::memcmp(key_name, set->keys[i].name.data(), set->keys[i].name.size()) == 0) {
        key = &set->keys[i];
        is_current = i == 0;
        break;
      }
    }
    if (!key) return 0;
  }

  OSSL_PARAM params[3];
  params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(key->hmac.data()),
                                                key->hmac.size());
  params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0);
  params[2] = OSSL_PARAM_construct_end();
  if (EVP_MAC_CTX_set_params(mac_ctx, params) != 1) return -1;

  int ok = enc ? EVP_EncryptInit_ex(cipher_ctx, cipher_, nullptr, key->aes.data(), iv)
               : EVP_DecryptInit_ex(cipher_ctx, cipher_, nullptr, key->aes.data(), iv);
  if (ok != 1) return -1;
  if (enc) return 1;
  return is_current ? 1 : 2;
}

}  // namespace lb::tls
