// lb/security/basic_auth.h — HTTP Basic credentials (SPEC 11 "auth.basic"):
// parsing the Authorization field and checking a password against an
// htpasswd entry with libcrypt's crypt_r.
//
// bcrypt is slow on purpose (tens of milliseconds at the usual cost), so a
// check never runs on a worker loop: it goes to libuv's thread pool and the
// answer comes back to the loop (BasicAuthJob). Successful checks are
// remembered per worker thread (a digest of user, password and hash, never
// the password), so a client sending the same credentials on every request
// pays the hash once.
//
// The pool is bounded by jobs, not threads: at most kMaxJobsInFlight checks
// are queued or running in the whole process. A flood of wrong passwords
// (each costing the pool tens of milliseconds) is then answered 503 at once
// instead of queueing without limit ahead of every genuine user, and a job
// whose client went away before its turn is cancelled, not computed.
#pragma once

#include <uv.h>

#include <string>
#include <string_view>

namespace lb {

// "Basic dXNlcjpwYXNz" → user, password. False when the scheme is not Basic
// or the value is not base64 of "user:password".
bool parse_basic_credentials(std::string_view authorization, std::string& user, std::string& password);

// Constant-time: crypt_r(password, hash) equals hash. Blocking (see above).
bool verify_password(const std::string& password, const std::string& hash);

// Who waits for a check; told on its loop thread, unless it detached first.
class BasicAuthWaiter {
 public:
  virtual void on_basic_auth_result(bool ok) = 0;

 protected:
  ~BasicAuthWaiter() = default;
};

class BasicAuthJob {
 public:
  // True (and `ok` set) when the per-thread cache already knows these
  // credentials are good; no job is started then.
  static bool cached(const std::string& user, const std::string& password, const std::string& hash);
  static constexpr int kMaxJobsInFlight = 256;
  enum class Start { started, busy, failed };
  // Starts a check on the thread pool; the result goes to `waiter` unless
  // detach() is called first. `job` is set when started; busy: the process
  // has kMaxJobsInFlight checks already; failed: the pool refused the work
  // (the caller answers as for a failed check).
  static Start start(uv_loop_t* loop, std::string user, std::string password, std::string hash,
                     BasicAuthWaiter* waiter, BasicAuthJob*& job);
  // The waiter is going away: a job still queued is cancelled, a running
  // one finishes; either way it frees itself silently.
  void detach();

 private:
  BasicAuthJob() = default;
  static void work(uv_work_t* req);
  static void done(uv_work_t* req, int status);

  uv_work_t req_{};
  std::string user_, password_, hash_;
  bool ok_ = false;
  BasicAuthWaiter* waiter_ = nullptr;
};

}  // namespace lb
