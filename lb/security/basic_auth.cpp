// lb/security/basic_auth.cpp — Basic credentials, crypt_r checks off the loop.
#include "lb/security/basic_auth.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <atomic>
#include <cstring>
#include <unordered_set>

namespace lb {

namespace {

constexpr size_t kMaxCredentialBytes = 4096;
constexpr size_t kCacheLimit = 4096;

// SHA-256 of user, password and hash: what the cache remembers.
std::string credential_digest(const std::string& user, const std::string& password, const std::string& hash) {
  std::string input = user;
  input.push_back('\0');
  input += password;
  input.push_back('\0');
  input += hash;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(input.data(), input.size(), md, &len, EVP_sha256(), nullptr);
  OPENSSL_cleanse(input.data(), input.size());
  return std::string(reinterpret_cast<char*>(md), len);
}

// Checks queued or running in the process (every worker's loop shares
// libuv's one thread pool).
std::atomic<int> jobs_in_flight{0};

std::unordered_set<std::string>& verified_cache() {
  thread_local std::unordered_set<std::string> cache;
  return cache;
}

}  // namespace

bool parse_basic_credentials(std::string_view value, std::string& user, std::string& password) {
  size_t sp = value.find(' ');
  if (sp == std::string_view::npos || sp != 5) return false;
  std::string_view scheme = value.substr(0, 5);
  for (size_t i = 0; i < 5; ++i)
    if ((scheme[i] | 0x20) != "basic"[i]) return false;
  std::string_view b64 = value.substr(6);
  while (!b64.empty() && b64.front() == ' ') b64.remove_prefix(1);
  if (b64.empty() || b64.size() % 4 != 0 || b64.size() > kMaxCredentialBytes) return false;
  for (char c : b64) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=';
    if (!ok) return false;
  }
  std::string decoded(b64.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(decoded.data()),
                          reinterpret_cast<const unsigned char*>(b64.data()), static_cast<int>(b64.size()));
  if (n < 0) return false;
  // EVP_DecodeBlock counts the padding as zero bytes.
  size_t pad = b64.ends_with("==") ? 2 : b64.ends_with('=') ? 1 : 0;
  decoded.resize(static_cast<size_t>(n) - pad);
  size_t colon = decoded.find(':');
  if (colon == std::string::npos) return false;
  user = decoded.substr(0, colon);
  password = decoded.substr(colon + 1);
  OPENSSL_cleanse(decoded.data(), decoded.size());
  return true;
}

bool verify_password(const std::string& password, const std::string& hash) {
  crypt_data data{};
  const char* out = crypt_r(password.c_str(), hash.c_str(), &data);
  bool ok = out && out[0] != '*' && std::strlen(out) == hash.size() && CRYPTO_memcmp(out, hash.data(), hash.size()) == 0;
  OPENSSL_cleanse(&data, sizeof data);
  return ok;
}

bool BasicAuthJob::cached(const std::string& user, const std::string& password, const std::string& hash) {
  return verified_cache().count(credential_digest(user, password, hash)) != 0;
}

BasicAuthJob::Start BasicAuthJob::start(uv_loop_t* loop, std::string user, std::string password, std::string hash,
                                        BasicAuthWaiter* waiter, BasicAuthJob*& out) {
  out = nullptr;
  if (jobs_in_flight.fetch_add(1, std::memory_order_relaxed) >= kMaxJobsInFlight) {
    jobs_in_flight.fetch_sub(1, std::memory_order_relaxed);
    return Start::busy;
  }
  auto* job = new BasicAuthJob;
  job->user_ = std::move(user);
  job->password_ = std::move(password);
  job->hash_ = std::move(hash);
  job->waiter_ = waiter;
  job->req_.data = job;
  if (uv_queue_work(loop, &job->req_, &BasicAuthJob::work, &BasicAuthJob::done) != 0) {
    OPENSSL_cleanse(job->password_.data(), job->password_.size());
    delete job;
    jobs_in_flight.fetch_sub(1, std::memory_order_relaxed);
    return Start::failed;
  }
  out = job;
  return Start::started;
}

void BasicAuthJob::detach() {
  waiter_ = nullptr;
  // Still queued: taken off the pool's queue; done() then runs with
  // UV_ECANCELED and frees the job. Running already: UV_EBUSY, it finishes.
  uv_cancel(reinterpret_cast<uv_req_t*>(&req_));
}

void BasicAuthJob::work(uv_work_t* req) {
  auto* job = static_cast<BasicAuthJob*>(req->data);
  job->ok_ = verify_password(job->password_, job->hash_);
}

void BasicAuthJob::done(uv_work_t* req, int status) {
  auto* job = static_cast<BasicAuthJob*>(req->data);
  jobs_in_flight.fetch_sub(1, std::memory_order_relaxed);
  if (status == UV_ECANCELED) job->ok_ = false;  // only a detached job is cancelled: nobody is told
  if (job->ok_) {
    auto& cache = verified_cache();
    if (cache.size() >= kCacheLimit) cache.clear();  // bounded; re-verified on the next request
    cache.insert(credential_digest(job->user_, job->password_, job->hash_));
  }
  OPENSSL_cleanse(job->password_.data(), job->password_.size());
  if (job->waiter_) job->waiter_->on_basic_auth_result(job->ok_);
  delete job;
}

}  // namespace lb
