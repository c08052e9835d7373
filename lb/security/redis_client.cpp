// lb/security/redis_client.cpp — hiredis on the worker's loop: connect and
// set up, calls with their deadlines, reconnection with backoff.
//
// hiredis rules this file keeps: a context is freed only outside hiredis's
// own callbacks (a timer, the destructor), or left for hiredis to free after
// its connect/disconnect callback; every sent call's callback runs exactly
// once (with a null reply when the context goes), which is when its Op is
// deleted.
#include "lb/security/redis_client.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/sha.h>
#include <sys/un.h>

#include <sys/socket.h>

#include <array>
#include <cstring>
#include <random>

#include "lb/io/log.h"
#include "lb/io/net_util.h"
#include "lb/security/redis_loop_events.h"

namespace lb {

namespace {

constexpr uint64_t kFirstBackoffMs = 50;
constexpr uint64_t kMaxBackoffMs = 1000;
// A connection attempt that is not set up by then is abandoned (hiredis has
// no connect timeout of its own).
constexpr uint64_t kMinConnectDeadlineMs = 1000;
// A connection that answers nothing for this long (and at least 10
// timeouts) while calls wait is dropped and made again: a hung Redis (or a
// silently dead path) shows as disconnected, and the calls hiredis still
// holds for it do not pile up.
constexpr uint64_t kMinSilenceMs = 1000;

void close_timer(uv_timer_t* t) {
  uv_close(reinterpret_cast<uv_handle_t*>(t), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
}

bool is_error(const redisReply* r) { return r && r->type == REDIS_REPLY_ERROR; }

// A TCP connect to a local port nobody listens on can connect the socket to
// itself when the kernel picks that same port as the ephemeral one (a
// "simultaneous open"): it would then hold the port Redis restarts on.
bool connected_to_itself(int fd) {
  sockaddr_storage local{}, peer{};
  socklen_t local_len = sizeof local, peer_len = sizeof peer;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0 ||
      getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0)
    return false;
  return local.ss_family != AF_UNIX && local_len == peer_len && std::memcmp(&local, &peer, local_len) == 0;
}

}  // namespace

// ---- RedisStatus

RedisStatus& RedisStatus::process() {
  static RedisStatus status;
  return status;
}

std::optional<std::string> RedisStatus::last_error() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

// Under a storm of failing calls every worker would queue on the mutex:
// a message is recorded only when nobody else is recording one right now.
void RedisStatus::add_error(std::string message) {
  std::unique_lock lock(mutex_, std::try_to_lock);
  if (lock.owns_lock()) last_error_ = std::move(message);
}

// ---- RedisScript

RedisScript::RedisScript(std::string script) : text(std::move(script)) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  static const char* kHex = "0123456789abcdef";
  for (unsigned char b : digest) {
    sha1 += kHex[b >> 4];
    sha1 += kHex[b & 15];
  }
}

// ---- calls

struct Op {
  RedisClient* client = nullptr;
  RedisWaiter* waiter = nullptr;  // null: nobody to tell (cancelled, or told already)
  RedisCall* call = nullptr;      // the waiter's handle, cleared when told
  const RedisScript* script = nullptr;  // static scripts: outlive every call
  std::vector<std::string> words;        // numkeys, KEYS…, ARGV…
  uint64_t deadline_ns = 0;
  Op* prev = nullptr;  // the client's deadline list, while unanswered
  Op* next = nullptr;
  bool listed = false;
  bool as_eval = false;  // resent as EVAL after NOSCRIPT
};

void RedisCall::cancel() {
  if (!op_) return;
  op_->waiter = nullptr;
  op_->call = nullptr;
  op_ = nullptr;
}

// ---- RedisClient

RedisClient::RedisClient(uv_loop_t* loop, const conf::RedisConfig& config)
    : loop_(loop), config_(config), deadline_timer_(new uv_timer_t), reconnect_timer_(new uv_timer_t) {
  uv_timer_init(loop_, deadline_timer_);
  uv_timer_init(loop_, reconnect_timer_);
  deadline_timer_->data = this;
  reconnect_timer_->data = this;
  status_.clients_.fetch_add(1, std::memory_order_acq_rel);
  connect();
}

RedisClient::~RedisClient() {
  closing_ = true;
  uv_timer_stop(reconnect_timer_);
  if (ctx_) {
    redisAsyncContext* ac = ctx_;
    ctx_ = nullptr;
    set_ready(false);
    redisAsyncFree(ac);  // every pending call is answered (null reply) and deleted
  }
  close_timer(deadline_timer_);
  close_timer(reconnect_timer_);
  if (failing_) status_.failing_.fetch_sub(1, std::memory_order_acq_rel);
  status_.clients_.fetch_sub(1, std::memory_order_acq_rel);
}

void RedisClient::connect() {
  const sockaddr_storage& ss = config_.address.sockaddr;
  redisAsyncContext* ac = nullptr;
  if (ss.ss_family == AF_UNIX) {
    ac = redisAsyncConnectUnix(reinterpret_cast<const sockaddr_un*>(&ss)->sun_path);
  } else {
    // The address conf/ resolved, as a number: hiredis never looks a name
    // up (its getaddrinfo would block the loop).
    const std::string host = format_ip(reinterpret_cast<const sockaddr*>(&ss));
    ac = redisAsyncConnect(host.c_str(), config_.address.port);
  }
  if (!ac || ac->err) {
    note_error(std::string("connect: ") + (ac ? ac->errstr : "out of memory"), true);
    if (ac) redisAsyncFree(ac);
    schedule_reconnect();
    return;
  }
  ac->data = this;
  if (attach_redis_to_loop(ac, loop_) != REDIS_OK) {
    note_error("connect: cannot watch the socket", true);
    redisAsyncFree(ac);
    schedule_reconnect();
    return;
  }
  redisAsyncSetConnectCallback(ac, &RedisClient::on_connect);
  redisAsyncSetDisconnectCallback(ac, &RedisClient::on_disconnect);
  ctx_ = ac;
  // AUTH and SELECT go first in the pipeline, before any call.
  setup_pending_ = 0;
  setup_failed_ = false;
  if (!config_.password.empty()) {
    const char* argv[] = {"AUTH", config_.password.c_str()};
    const size_t len[] = {4, config_.password.size()};
    if (redisAsyncCommandArgv(ac, &RedisClient::on_setup_reply, this, 2, argv, len) == REDIS_OK) ++setup_pending_;
  }
  if (config_.database != 0) {
    const std::string db = std::to_string(config_.database);
    const char* argv[] = {"SELECT", db.c_str()};
    const size_t len[] = {6, db.size()};
    if (redisAsyncCommandArgv(ac, &RedisClient::on_setup_reply, this, 2, argv, len) == REDIS_OK) ++setup_pending_;
  }
  const uint64_t deadline = std::max<uint64_t>(kMinConnectDeadlineMs, 4 * static_cast<uint64_t>(config_.timeout.count()));
  uv_timer_start(reconnect_timer_, &RedisClient::on_reconnect_timer, deadline, 0);
}

void RedisClient::on_connect(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<RedisClient*>(ac->data);
  if (ac != self->ctx_) return;
  if (status != REDIS_OK) {
    // hiredis frees the context after this callback.
    self->ctx_ = nullptr;
    self->note_error(std::string("connect: ") + (ac->errstr ? ac->errstr : "failed"), true);
    self->schedule_reconnect();
    return;
  }
  if (connected_to_itself(ac->c.fd)) {
    // Not from inside hiredis's connect handling (it would free the context
    // under its own feet): the reconnect timer drops it at once.
    self->drop_reason_ = "connected to itself (nothing listens on the port)";
    uv_timer_start(self->reconnect_timer_, &RedisClient::on_reconnect_timer, 0, 0);
    return;
  }
  if (self->setup_pending_ == 0) self->set_ready(true);
}

void RedisClient::on_setup_reply(redisAsyncContext* ac, void* r, void* privdata) {
  auto* self = static_cast<RedisClient*>(privdata);
  auto* reply = static_cast<redisReply*>(r);
  if (ac != self->ctx_ || !reply) return;  // the connection is going: on_disconnect tells
  // After a refused AUTH, SELECT's NOAUTH is only its consequence.
  if (self->setup_failed_) return;
  if (is_error(reply)) {
    self->note_error(std::string("setup: ") + reply->str, true);
    // Once per reason, not once per attempt (a wrong password would log every
    // second per worker); connecting again logs "redis connected".
    if (self->logged_setup_failure_ != reply->str) {
      self->logged_setup_failure_ = reply->str;
      log_warn("redis setup failed", {{"address", self->config_.address.text}, {"reason", reply->str}});
    }
    self->setup_failed_ = true;  // the disconnect that follows is ours: it keeps this reason
    redisAsyncDisconnect(ac);    // on_disconnect schedules the next attempt
    return;
  }
  if (--self->setup_pending_ == 0) self->set_ready(true);
}

void RedisClient::on_disconnect(const redisAsyncContext* ac, int) {
  auto* self = static_cast<RedisClient*>(ac->data);
  if (ac != self->ctx_) return;  // freed by us: already accounted
  self->ctx_ = nullptr;          // hiredis frees it after this callback
  self->set_ready(false);
  if (self->setup_failed_) {
    self->setup_failed_ = false;
  } else {
    self->note_error(std::string("connection lost: ") + (ac->err && ac->errstr ? ac->errstr : "closed"), true);
    log_warn("redis connection lost", {{"address", self->config_.address.text}});
  }
  self->schedule_reconnect();
}

void RedisClient::drop_connection(std::string_view why) {
  if (!ctx_) return;
  redisAsyncContext* ac = ctx_;
  ctx_ = nullptr;
  set_ready(false);
  note_error(std::string(why), true);
  redisAsyncFree(ac);
}

void RedisClient::schedule_reconnect() {
  if (closing_) return;
  backoff_ms_ = backoff_ms_ == 0 ? kFirstBackoffMs : std::min(kMaxBackoffMs, backoff_ms_ * 2);
  // Jitter (half to all of the step) keeps workers and instances from
  // reconnecting in lockstep after Redis comes back.
  thread_local std::minstd_rand rng(std::random_device{}());
  const uint64_t wait = backoff_ms_ / 2 + rng() % (backoff_ms_ / 2 + 1);
  uv_timer_start(reconnect_timer_, &RedisClient::on_reconnect_timer, wait, 0);
}

void RedisClient::on_reconnect_timer(uv_timer_t* timer) {
  auto* self = static_cast<RedisClient*>(timer->data);
  if (self->ctx_ && !self->ready_) {
    // The attempt's deadline: not connected and set up in time.
    self->drop_connection(self->drop_reason_.empty() ? "connect timeout" : self->drop_reason_);
    self->drop_reason_.clear();
    self->schedule_reconnect();
    return;
  }
  if (!self->ctx_) self->connect();
}

void RedisClient::set_ready(bool ready) {
  if (ready_ == ready) return;
  ready_ = ready;
  silent_since_ns_ = 0;
  status_.ready_.fetch_add(ready ? 1 : -1, std::memory_order_acq_rel);
  if (ready) {
    backoff_ms_ = 0;
    uv_timer_stop(reconnect_timer_);
    logged_setup_failure_.clear();
    log_info("redis connected", {{"address", config_.address.text}});
  }
}

void RedisClient::note_error(std::string message, bool record) {
  status_.errors_.fetch_add(1, std::memory_order_relaxed);
  if (!failing_) {
    failing_ = true;
    if (status_.failing_.fetch_add(1, std::memory_order_acq_rel) == 0)
      status_.outage_epoch_.fetch_add(1, std::memory_order_acq_rel);
  }
  if (record) status_.add_error(std::move(message));
}

void RedisClient::note_success() {
  if (!failing_) return;
  failing_ = false;
  status_.failing_.fetch_sub(1, std::memory_order_acq_rel);
}

bool RedisClient::eval(const RedisScript& script, std::span<const std::string_view> keys,
                       std::span<const std::string_view> args, RedisWaiter& waiter, RedisCall& call,
                       std::string& error) {
  if (closing_ || !ctx_) {
    error = "not connected to redis";
    note_error(error, false);  // the connection's own failure was recorded
    return false;
  }
  auto* op = new Op;
  op->client = this;
  op->script = &script;
  op->words.reserve(1 + keys.size() + args.size());
  op->words.push_back(std::to_string(keys.size()));
  for (std::string_view k : keys) op->words.emplace_back(k);
  for (std::string_view a : args) op->words.emplace_back(a);
  if (!send(op)) {
    delete op;
    error = "redis connection closing";
    note_error(error, false);
    return false;
  }
  op->waiter = &waiter;
  op->call = &call;
  call.op_ = op;
  op->deadline_ns = uv_hrtime() + static_cast<uint64_t>(config_.timeout.count()) * 1'000'000;
  // Append to the deadline list (every call has the same timeout: in order).
  op->listed = true;
  op->prev = newest_;
  if (newest_) newest_->next = op;
  else oldest_ = op;
  newest_ = op;
  if (oldest_ == op) arm_deadline();
  return true;
}

bool RedisClient::send(Op* op) {
  // EVALSHA|EVAL, sha|script, numkeys, KEYS…, ARGV…: a handful of words.
  constexpr size_t kMaxWords = 16;
  if (!ctx_ || op->words.size() + 2 > kMaxWords) return false;
  std::array<const char*, kMaxWords> argv;
  std::array<size_t, kMaxWords> len;
  argv[0] = op->as_eval ? "EVAL" : "EVALSHA";
  len[0] = op->as_eval ? 4 : 7;
  const std::string& body = op->as_eval ? op->script->text : op->script->sha1;
  argv[1] = body.data();
  len[1] = body.size();
  size_t n = 2;
  for (const std::string& w : op->words) {
    argv[n] = w.data();
    len[n++] = w.size();
  }
  return redisAsyncCommandArgv(ctx_, &RedisClient::on_reply, op, static_cast<int>(n), argv.data(), len.data()) ==
         REDIS_OK;
}

void RedisClient::on_reply(redisAsyncContext* ac, void* r, void* privdata) {
  auto* op = static_cast<Op*>(privdata);
  RedisClient* self = op->client;
  auto* reply = static_cast<redisReply*>(r);
  if (reply && ac == self->ctx_) self->silent_since_ns_ = 0;
  // The script is not in this server's cache (it restarted, or SCRIPT
  // FLUSH): the same call once more as EVAL, which caches it again.
  if (is_error(reply) && std::string_view(reply->str, reply->len).starts_with("NOSCRIPT") && !op->as_eval &&
      op->waiter && ac == self->ctx_) {
    op->as_eval = true;
    if (self->send(op)) return;  // still in the deadline list; answered by the resend
  }
  if (!reply) self->finish(op, nullptr, ac->err && ac->errstr ? ac->errstr : "connection lost");
  else if (is_error(reply)) self->finish(op, nullptr, std::string_view(reply->str, reply->len));
  else self->finish(op, reply, {});
  delete op;
}

// Tells the waiter (if any still waits) and takes the call off the deadline list.
void RedisClient::finish(Op* op, const redisReply* reply, std::string_view error) {
  if (op->listed) {
    op->listed = false;
    (op->prev ? op->prev->next : oldest_) = op->next;
    (op->next ? op->next->prev : newest_) = op->prev;
    if (!op->prev) arm_deadline();
  }
  RedisWaiter* waiter = op->waiter;
  if (!waiter) return;  // cancelled, or answered "timeout" already
  op->waiter = nullptr;
  if (op->call) op->call->op_ = nullptr;
  op->call = nullptr;
  if (reply) note_success();
  else note_error(error.empty() ? "error" : std::string(error), true);
  waiter->on_redis_reply(reply, error);
}

void RedisClient::arm_deadline() {
  if (closing_) return;
  if (!oldest_) {
    uv_timer_stop(deadline_timer_);
    return;
  }
  const uint64_t now = uv_hrtime();
  const uint64_t wait_ms = oldest_->deadline_ns > now ? (oldest_->deadline_ns - now + 999'999) / 1'000'000 : 0;
  uv_timer_start(deadline_timer_, &RedisClient::on_deadline, wait_ms, 0);
}

void RedisClient::on_deadline(uv_timer_t* timer) {
  auto* self = static_cast<RedisClient*>(timer->data);
  const uint64_t now = uv_hrtime();
  // The call stays with hiredis (its late reply is dropped); only its waiter
  // is answered now.
  bool timed_out = false;
  while (self->oldest_ && self->oldest_->deadline_ns <= now) {
    timed_out = true;
    self->finish(self->oldest_, nullptr, "timeout");
  }
  if (timed_out && self->ctx_ && self->ready_) {
    const uint64_t silence_ms = std::max<uint64_t>(kMinSilenceMs, 10 * static_cast<uint64_t>(self->config_.timeout.count()));
    if (self->silent_since_ns_ == 0) {
      self->silent_since_ns_ = now;
    } else if (now - self->silent_since_ns_ >= silence_ms * 1'000'000) {
      self->silent_since_ns_ = 0;
      self->drop_connection("no answer for " + std::to_string(silence_ms) + " ms");
      self->schedule_reconnect();
    }
  }
  self->arm_deadline();
}

}  // namespace lb
