// lb/security/redis_client.h — one worker's connection to the Redis of SPEC
// 17 (shared rate limits): a hiredis asynchronous context attached to the
// worker's own libuv loop, so the data path never blocks on Redis.
//
// - Pipelined: every call is appended to hiredis's output buffer, and what
//   a loop iteration appended leaves in one write just before the loop polls
//   again (redis_loop_events.h); replies come back in order.
// - A per-operation timeout: one timer per connection watches the oldest
//   unanswered call (every call has the same timeout, so deadlines are in
//   call order). A call past its deadline is answered "timeout" at once; its
//   late reply, when it comes, is dropped.
// - Scripts run by EVALSHA; a NOSCRIPT reply (Redis restarted, or SCRIPT
//   FLUSH) resends that call as EVAL, which also caches the script again.
// - Connecting sends AUTH (password_file) and SELECT (database) first, in
//   the same pipeline; a lost or refused connection is retried with
//   exponential backoff (50 ms doubling to 1 s, jittered). While no
//   connection is up (between attempts) a call fails at once, so a request
//   does not wait out the timeout for a Redis known to be down. A
//   connection that answers nothing for max(1 s, 10 timeouts) while calls
//   time out is dropped and made again (a hung Redis shows as disconnected).
// - State for /stats and /metrics goes to the process-wide RedisStatus.
//
// Lifetime: owned by its Worker (created and replaced as the configuration's
// "redis" changes, destroyed before the loop ends). A waiter that goes away
// before its answer cancel()s its RedisCall: the call then finishes silently,
// so a reply never reaches a dead exchange.
// Threading: the worker's thread only (RedisStatus is atomics).
#pragma once

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"

struct redisAsyncContext;
struct redisReply;

namespace lb {

// Process-wide Redis state (every worker's connection): /stats "redis" and
// lb_redis_errors_total. Also the outage epoch on_store_error "local" uses
// to start counting from empty at each failure.
class RedisStatus {
 public:
  static RedisStatus& process();

  // connected: every worker that has a connection has it up (and AUTH and
  // SELECT passed). False without any connection.
  bool connected() const {
    const int n = clients_.load(std::memory_order_acquire);
    return n > 0 && ready_.load(std::memory_order_acquire) == n;
  }
  bool configured() const { return clients_.load(std::memory_order_acquire) > 0; }
  std::optional<std::string> last_error() const;
  uint64_t errors_total() const { return errors_.load(std::memory_order_relaxed); }
  // Bumped when the process goes from "every answer good" to "a worker sees
  // errors": the start of an outage.
  uint64_t outage_epoch() const { return outage_epoch_.load(std::memory_order_acquire); }

 private:
  friend class RedisClient;
  void add_error(std::string message);
  std::atomic<int> clients_{0};  // workers with a connection object
  std::atomic<int> ready_{0};    // of them, connected and set up
  std::atomic<int> failing_{0};  // of them, whose last call failed
  std::atomic<uint64_t> errors_{0};
  std::atomic<uint64_t> outage_epoch_{0};
  mutable std::mutex mutex_;  // last_error_ only: written on errors, read by /stats
  std::optional<std::string> last_error_;
};

// A Lua script and its SHA-1 (for EVALSHA).
struct RedisScript {
  explicit RedisScript(std::string text);
  std::string text;
  std::string sha1;  // lower-case hex
};

// Who waits for a call's answer: `reply` (never an error reply) or, when
// null, `error` (timeout, connection lost, an error reply). Told on the
// worker's loop, never from inside RedisClient::eval.
class RedisWaiter {
 public:
  virtual void on_redis_reply(const redisReply* reply, std::string_view error) = 0;

 protected:
  ~RedisWaiter() = default;
};

class RedisClient;

// A call in flight, as its waiter holds it.
class RedisCall {
 public:
  RedisCall() = default;
  bool pending() const { return op_ != nullptr; }
  // The waiter is going away or no longer cares: nothing will be told.
  void cancel();

 private:
  friend class RedisClient;
  struct Op* op_ = nullptr;
};

class RedisClient {
 public:
  RedisClient(uv_loop_t* loop, const conf::RedisConfig& config);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  const conf::RedisConfig& config() const { return config_; }
  // A reload that changes only key_prefix keeps the connection.
  void set_key_prefix(std::string prefix) { config_.key_prefix = std::move(prefix); }

  // EVALSHA script KEYS ARGV. True: sent (or queued while connecting), the
  // answer goes to `waiter` through `call`. False: not sent (no connection
  // now), `error` says why and nothing will be told.
  bool eval(const RedisScript& script, std::span<const std::string_view> keys,
            std::span<const std::string_view> args, RedisWaiter& waiter, RedisCall& call, std::string& error);

 private:
  friend class RedisCall;
  void connect();
  void drop_connection(std::string_view why);  // not from a hiredis callback
  void schedule_reconnect();
  bool send(Op* op);
  void finish(Op* op, const redisReply* reply, std::string_view error);
  void arm_deadline();
  // record: also the /stats last_error (connection events, error replies).
  void note_error(std::string message, bool record);
  void note_success();
  void set_ready(bool ready);

  static void on_connect(const redisAsyncContext* ac, int status);
  static void on_disconnect(const redisAsyncContext* ac, int status);
  static void on_setup_reply(redisAsyncContext* ac, void* reply, void* privdata);
  static void on_reply(redisAsyncContext* ac, void* reply, void* privdata);
  static void on_deadline(uv_timer_t* timer);
  static void on_reconnect_timer(uv_timer_t* timer);

  uv_loop_t* loop_;
  conf::RedisConfig config_;
  RedisStatus& status_ = RedisStatus::process();
  redisAsyncContext* ctx_ = nullptr;  // null between attempts
  bool ready_ = false;                // connected, AUTH and SELECT passed
  bool failing_ = false;              // counted in RedisStatus::failing_
  bool closing_ = false;              // destructor running: no new calls
  int setup_pending_ = 0;             // AUTH / SELECT replies still expected
  bool setup_failed_ = false;         // AUTH or SELECT refused: we are disconnecting
  uint64_t silent_since_ns_ = 0;      // first timeout since the last reply (0: none)
  std::string drop_reason_;           // why the reconnect timer drops the attempt ("" = timeout)
  std::string logged_setup_failure_;  // the AUTH/SELECT refusal last logged ("" since connected)
  uint64_t backoff_ms_ = 0;
  uv_timer_t* deadline_timer_;   // the oldest call's timeout
  uv_timer_t* reconnect_timer_;  // backoff, or the connect deadline while connecting
  Op* oldest_ = nullptr;         // unanswered calls in deadline order (intrusive list)
  Op* newest_ = nullptr;
};

}  // namespace lb
