// lb/dns/dns_resolver.cpp — see dns_resolver.h.
#include "lb/dns/dns_resolver.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <optional>

#include "conf/values.h"

namespace lb::dns {

namespace {

ares_channel channel_of(void* c) { return static_cast<ares_channel>(c); }

uint64_t now_ms(uv_loop_t* loop) { return uv_now(loop); }

Result classify(int status) {
  switch (status) {
    case ARES_SUCCESS: return Result::ok;
    case ARES_ENODATA: return Result::empty;
    case ARES_ENOTFOUND: case ARES_ENONAME: return Result::nxdomain;
    case ARES_ESERVFAIL: return Result::servfail;
    case ARES_ETIMEOUT: return Result::timeout;
    default: return Result::error;
  }
}

Answer failed(int status) {
  Answer a;
  a.result = classify(status);
  a.error = ares_strerror(status);
  return a;
}

// Orders and counts records: an empty successful answer is `empty`.
void finish_addresses(Answer& a) {
  if (a.addresses.empty()) {
    a.result = Result::empty;
    a.error = "no addresses in the answer";
    return;
  }
  a.result = Result::ok;
  a.ttl = a.addresses.front().ttl;
  for (const auto& r : a.addresses) a.ttl = std::min(a.ttl, r.ttl);
}

// The TTL of the first answer record of a raw DNS message: c-ares' SRV
// parser does not report TTLs. 0 when the message is malformed.
uint32_t first_answer_ttl(const unsigned char* buf, int len) {
  auto skip_name = [&](int pos) {
    while (pos < len) {
      const unsigned char c = buf[pos];
      if (c == 0) return pos + 1;
      if ((c & 0xC0) == 0xC0) return pos + 2;
      pos += c + 1;
    }
    return len;
  };
  if (len < 12) return 0;
  const int questions = (buf[4] << 8) | buf[5];
  int pos = 12;
  for (int i = 0; i < questions; ++i) pos = skip_name(pos) + 4;
  pos = skip_name(pos) + 4;  // name, type, class
  if (pos + 4 > len) return 0;
  return (uint32_t(buf[pos]) << 24) | (uint32_t(buf[pos + 1]) << 16) | (uint32_t(buf[pos + 2]) << 8) | buf[pos + 3];
}

}  // namespace

const char* to_string(Result r) {
  switch (r) {
    case Result::ok: return "ok";
    case Result::empty: return "empty";
    case Result::nxdomain: return "nxdomain";
    case Result::servfail: return "servfail";
    case Result::timeout: return "timeout";
    case Result::error: return "error";
  }
  return "error";
}

struct DnsResolver::Pending {
  Callback done;  // empty once answered or cancelled
  uint64_t deadline_ms = 0;
  // The answer, waiting for the timer to deliver it: callbacks never run
  // inside c-ares (nor before the caller holds its DnsLookup).
  std::optional<Answer> early;
};

struct DnsResolver::Poll {
  uv_poll_t handle;
  int fd;
};

DnsResolver::DnsResolver(uv_loop_t* loop, const conf::DnsConfig& settings)
    : loop_(loop), settings_(settings), timer_(new uv_timer_t) {
  static std::once_flag library;
  std::call_once(library, [] { ares_library_init(ARES_LIB_INIT_ALL); });
  uv_timer_init(loop_, timer_);
  timer_->data = this;
  ares_options opts{};
  opts.sock_state_cb = &DnsResolver::on_sock_state;
  opts.sock_state_cb_data = this;
  opts.timeout = static_cast<int>(std::max<int64_t>(settings.timeout.count(), 1));
  opts.tries = 2;
  // A SERVFAIL or REFUSED answer is final, so it is reported (and counted)
  // as what it is; c-ares would otherwise try the other servers and end
  // with "could not contact DNS servers". The next interval asks again.
  opts.flags = ARES_FLAG_NOCHECKRESP;
  ares_channel ch = nullptr;
  int rc = ares_init_options(&ch, &opts,
                             ARES_OPT_FLAGS | ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
  if (rc != ARES_SUCCESS) {
    init_error_ = std::string("DNS resolver not initialised: ") + ares_strerror(rc);
    return;
  }
  channel_ = ch;
  if (!settings.resolvers.empty()) {
    std::string csv;
    for (const auto& r : settings.resolvers) csv += (csv.empty() ? "" : ",") + r;
    rc = ares_set_servers_ports_csv(ch, csv.c_str());
    if (rc != ARES_SUCCESS) init_error_ = "dns.resolvers not usable: " + std::string(ares_strerror(rc));
  }
}

DnsResolver::~DnsResolver() {
  *alive_ = false;
  destroying_ = true;
  for (auto& p : pending_) p->done = nullptr;
  if (channel_) ares_destroy(channel_of(channel_));  // answers every query with EDESTRUCTION
  for (auto& [fd, poll] : polls_)
    uv_close(reinterpret_cast<uv_handle_t*>(&poll->handle), [](uv_handle_t* h) { delete reinterpret_cast<Poll*>(h); });
  uv_close(reinterpret_cast<uv_handle_t*>(timer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
}

void DnsLookup::reset() {
  if (pending_) pending_->done = nullptr;
  pending_.reset();
}

bool DnsLookup::active() const { return pending_ && pending_->done; }


// Keeps `answer` for delivery from the timer: a callback may destroy this
// resolver, which must never happen inside ares_process_fd (c-ares would
// go on with a freed channel).
void DnsResolver::finish(const std::shared_ptr<Pending>& p, Answer answer) {
  if (!p->done || p->early) return;
  p->early = std::move(answer);
  if (!destroying_) uv_timer_start(timer_, &DnsResolver::on_timer, 0, 0);
}

namespace {

// c-ares' `arg` for a search: the parser of its answer and the lookup.
struct Search {
  DnsResolver* resolver;
  std::shared_ptr<void> pending;
  Answer (*parse)(const unsigned char* buf, int len, int type);
  int type;
};

Answer parse_host(const ares_addrinfo* ai) {
  Answer a;
  for (const ares_addrinfo_node* n = ai ? ai->nodes : nullptr; n; n = n->ai_next) {
    AddressRecord r;
    if (n->ai_addrlen > sizeof r.addr) continue;
    std::memcpy(&r.addr, n->ai_addr, n->ai_addrlen);
    r.len = n->ai_addrlen;
    r.ttl = n->ai_ttl > 0 ? static_cast<uint32_t>(n->ai_ttl) : 0;
    if (r.addr.ss_family == AF_INET) reinterpret_cast<sockaddr_in&>(r.addr).sin_port = 0;
    if (r.addr.ss_family == AF_INET6) reinterpret_cast<sockaddr_in6&>(r.addr).sin6_port = 0;
    a.addresses.push_back(r);
  }
  // IPv4 first, as lb always preferred.
  std::stable_partition(a.addresses.begin(), a.addresses.end(),
                        [](const AddressRecord& r) { return r.addr.ss_family == AF_INET; });
  finish_addresses(a);
  return a;
}

template <class Ttl>
void add_record(Answer& a, int family, const void* ip, std::size_t ip_len, const Ttl& ttl) {
  AddressRecord r;
  r.addr.ss_family = static_cast<sa_family_t>(family);
  if (family == AF_INET) {
    std::memcpy(&reinterpret_cast<sockaddr_in&>(r.addr).sin_addr, ip, ip_len);
    r.len = sizeof(sockaddr_in);
  } else {
    std::memcpy(&reinterpret_cast<sockaddr_in6&>(r.addr).sin6_addr, ip, ip_len);
    r.len = sizeof(sockaddr_in6);
  }
  r.ttl = static_cast<uint32_t>(std::max(ttl.ttl, 0));
  a.addresses.push_back(r);
}

Answer parse_records(const unsigned char* buf, int len, int type) {
  Answer a;
  constexpr int kMax = 64;
  int n = kMax;
  if (type == ns_t_a) {
    ares_addrttl ttls[kMax];
    if (int rc = ares_parse_a_reply(buf, len, nullptr, ttls, &n); rc != ARES_SUCCESS) return failed(rc);
    for (int i = 0; i < n; ++i) add_record(a, AF_INET, &ttls[i].ipaddr, sizeof(in_addr), ttls[i]);
  } else {
    ares_addr6ttl ttls[kMax];
    if (int rc = ares_parse_aaaa_reply(buf, len, nullptr, ttls, &n); rc != ARES_SUCCESS) return failed(rc);
    for (int i = 0; i < n; ++i) add_record(a, AF_INET6, &ttls[i].ip6addr, sizeof(in6_addr), ttls[i]);
  }
  finish_addresses(a);
  return a;
}

Answer parse_srv(const unsigned char* buf, int len, int) {
  ares_srv_reply* list = nullptr;
  if (int rc = ares_parse_srv_reply(buf, len, &list); rc != ARES_SUCCESS) return failed(rc);
  Answer a;
  for (ares_srv_reply* r = list; r; r = r->next)
    a.srv.push_back({r->host ? r->host : "", r->port, r->priority, r->weight});
  ares_free_data(list);
  a.ttl = first_answer_ttl(buf, len);
  a.result = a.srv.empty() ? Result::empty : Result::ok;
  if (a.srv.empty()) a.error = "no SRV records in the answer";
  return a;
}

}  // namespace

// A new lookup; null (the lookup answers `error` from the timer) when the
// channel could not be set up.
std::shared_ptr<DnsResolver::Pending> DnsResolver::start(DnsLookup& lookup, Callback done) {
  auto p = std::make_shared<Pending>();
  p->done = std::move(done);
  p->deadline_ms = now_ms(loop_) + static_cast<uint64_t>(settings_.timeout.count());
  pending_.push_back(p);
  lookup = DnsLookup(p);
  if (channel_ && init_error_.empty()) return p;
  p->early = failed(ARES_ENOTINITIALIZED);
  p->early->error = init_error_;
  arm_timer();
  return nullptr;
}

DnsLookup DnsResolver::lookup_host(const std::string& name, Callback done) {
  DnsLookup lookup;
  auto p = start(lookup, std::move(done));
  if (!p) return lookup;
  ares_addrinfo_hints hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  auto* q = new Search{this, p, nullptr, 0};
  ares_getaddrinfo(channel_of(channel_), name.c_str(), nullptr, &hints,
                   [](void* arg, int status, int, ares_addrinfo* ai) {
                     std::unique_ptr<Search> q(static_cast<Search*>(arg));
                     auto p = std::static_pointer_cast<Pending>(q->pending);
                     if (status != ARES_EDESTRUCTION)
                       q->resolver->finish(p, status == ARES_SUCCESS ? parse_host(ai) : failed(status));
                     if (ai) ares_freeaddrinfo(ai);
                   },
                   q);
  arm_timer();
  return lookup;
}

DnsLookup DnsResolver::search(const std::string& name, int type, Callback done) {
  DnsLookup lookup;
  auto p = start(lookup, std::move(done));
  if (!p) return lookup;
  auto* q = new Search{this, p, type == ns_t_srv ? &parse_srv : &parse_records, type};
  ares_search(channel_of(channel_), name.c_str(), ns_c_in, type,
              [](void* arg, int status, int, unsigned char* buf, int len) {
                std::unique_ptr<Search> q(static_cast<Search*>(arg));
                auto p = std::static_pointer_cast<Pending>(q->pending);
                if (status != ARES_EDESTRUCTION)
                  q->resolver->finish(p, status == ARES_SUCCESS ? q->parse(buf, len, q->type) : failed(status));
              },
              q);
  arm_timer();
  return lookup;
}

DnsLookup DnsResolver::lookup_records(const std::string& name, int family, Callback done) {
  return search(name, family == AF_INET ? ns_t_a : ns_t_aaaa, std::move(done));
}

DnsLookup DnsResolver::lookup_srv(const std::string& name, Callback done) {
  return search(name, ns_t_srv, std::move(done));
}

// Runs the callbacks of answered lookups and answers `timeout` to lookups
// past dns.timeout (c-ares may still be retrying: its late answer finds the
// callback gone). A callback may destroy this resolver: `alive` says so.
void DnsResolver::deliver() {
  std::shared_ptr<bool> alive = alive_;
  const uint64_t now = now_ms(loop_);
  std::vector<std::shared_ptr<Pending>> due;
  for (const auto& p : pending_)
    if (p->done && (p->early || now >= p->deadline_ms)) due.push_back(p);
  std::erase_if(pending_, [&](const auto& p) {
    return !p->done || std::find(due.begin(), due.end(), p) != due.end();
  });
  for (auto& p : due) {
    if (!*alive) return;
    if (!p->done) continue;  // cancelled by an earlier callback
    Answer a;
    if (p->early) {
      a = std::move(*p->early);
    } else {
      a.result = Result::timeout;
      a.error = "no answer within dns.timeout (" + conf::detail::format_duration(settings_.timeout) + ")";
    }
    Callback cb = std::move(p->done);
    p->done = nullptr;
    cb(std::move(a));
  }
}

void DnsResolver::arm_timer() {
  if (destroying_) return;
  uint64_t wait = UINT64_MAX;
  if (channel_) {
    timeval tv{};
    if (timeval* t = ares_timeout(channel_of(channel_), nullptr, &tv))
      wait = static_cast<uint64_t>(t->tv_sec) * 1000 + static_cast<uint64_t>(t->tv_usec + 999) / 1000;
  }
  const uint64_t now = now_ms(loop_);
  for (const auto& p : pending_) wait = std::min(wait, p->early ? 0 : p->deadline_ms > now ? p->deadline_ms - now : 0);
  if (wait == UINT64_MAX) {
    uv_timer_stop(timer_);
    return;
  }
  uv_timer_start(timer_, &DnsResolver::on_timer, wait, 0);
}

void DnsResolver::on_timer(uv_timer_t* timer) {
  auto* self = static_cast<DnsResolver*>(timer->data);
  if (self->channel_) ares_process_fd(channel_of(self->channel_), ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  std::shared_ptr<bool> alive = self->alive_;
  self->deliver();
  if (*alive) self->arm_timer();
}

void DnsResolver::on_sock_state(void* data, int fd, int readable, int writable) {
  auto* self = static_cast<DnsResolver*>(data);
  if (self->destroying_) return;
  auto it = self->polls_.find(fd);
  if (!readable && !writable) {
    if (it == self->polls_.end()) return;
    uv_close(reinterpret_cast<uv_handle_t*>(&it->second->handle),
             [](uv_handle_t* h) { delete reinterpret_cast<Poll*>(h); });
    self->polls_.erase(it);
    return;
  }
  Poll* poll = nullptr;
  if (it == self->polls_.end()) {
    poll = new Poll{};
    poll->fd = fd;
    if (uv_poll_init_socket(self->loop_, &poll->handle, fd) != 0) {
      delete poll;
      return;
    }
    poll->handle.data = self;
    self->polls_.emplace(fd, poll);
  } else {
    poll = it->second;
  }
  uv_poll_start(&poll->handle, (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0), &DnsResolver::on_poll);
}

void DnsResolver::on_poll(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<DnsResolver*>(handle->data);
  const int fd = reinterpret_cast<Poll*>(handle)->fd;
  // On a poll error, let c-ares read and write: it sees the socket's error itself.
  const bool r = status < 0 || (events & UV_READABLE), w = status < 0 || (events & UV_WRITABLE);
  ares_process_fd(channel_of(self->channel_), r ? fd : ARES_SOCKET_BAD, w ? fd : ARES_SOCKET_BAD);
  self->arm_timer();
}

}  // namespace lb::dns
