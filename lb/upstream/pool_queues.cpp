// lb/upstream/pool_queues.cpp — a worker's pool queues: joining, the one
// deadline timer, and handing a freed slot to the process's oldest waiter
// (see pool_queues.h for the design).
#include "lb/upstream/pool_queues.h"

#include <vector>

#include "lb/core/runtime.h"
#include "lb/core/worker.h"

namespace lb {

namespace {
thread_local PoolQueues* t_queues = nullptr;  // the calling worker thread's registry
}  // namespace

// One pool's list on this worker; a Deferred so that a freed slot is
// offered at the start of the next loop iteration, off every call stack.
struct PoolQueues::Entry final : Deferred {
  Entry(PoolQueues& owner, std::shared_ptr<PoolLive> pool_live, uint32_t worker)
      : owner(owner), live(std::move(pool_live)), list(live->queue, worker) {}
  void run_deferred() override { owner.serve(*this); }

  PoolQueues& owner;
  std::shared_ptr<PoolLive> live;  // keeps the key (and the list's counters) alive
  WaitList list;
};

PoolQueues::PoolQueues(Worker& worker) : worker_(worker) {}

PoolQueues::~PoolQueues() = default;

void PoolQueues::init(uv_loop_t* loop) {
  uv_timer_init(loop, &timer_);
  timer_.data = this;
  timer_open_ = true;
}

void PoolQueues::bind_thread() { t_queues = this; }

void PoolQueues::close() {
  if (!timer_open_) return;
  timer_open_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
}

PoolQueues::Entry& PoolQueues::entry(const std::shared_ptr<PoolLive>& live) {
  auto& slot = entries_[live.get()];
  if (!slot) slot = std::make_unique<Entry>(*this, live, worker_.index());
  return *slot;
}

PoolQueues::Entry* PoolQueues::find(const PoolLive* live) {
  auto it = entries_.find(live);
  return it == entries_.end() ? nullptr : it->second.get();
}

bool PoolQueues::enter(const PoolRuntime& pool, QueueWaiter& w, uint64_t now_ns) {
  const conf::QueueConfig& q = pool.config->queue;
  Entry& e = entry(pool.live);
  const uint64_t deadline = now_ns + static_cast<uint64_t>(q.timeout.count()) * 1'000'000;
  if (!e.list.push(w, q.max, deadline)) return false;
  arm(deadline);
  worker_.defer(e);  // a slot freed while we joined: see the design notes
  return true;
}

void PoolQueues::slot_released(PoolLive& live) {
  // Pairs with the fence in WaitList::push.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (live.queue.waiting.load(std::memory_order_relaxed) == 0) return;
  if (PoolQueues* self = t_queues) self->route_slot(live);
}

// Offers a free slot of `live`'s pool to the oldest waiter of the process:
// here (served next iteration) or on the worker that holds it (kicked).
void PoolQueues::route_slot(PoolLive& live) {
  PoolQueueLive& q = live.queue;
  uint64_t oldest = 0;
  size_t at = 0;
  for (size_t i = 0; i < q.workers(); ++i) {
    const uint64_t t = q.slot(i).head_ticket.load(std::memory_order_relaxed);
    if (t != 0 && (oldest == 0 || t < oldest)) {
      oldest = t;
      at = i;
    }
  }
  if (oldest == 0) return;
  if (at == worker_.index()) {
    if (Entry* e = find(&live)) worker_.defer(*e);
    return;
  }
  Worker* peer = worker_.peer(at);
  if (!peer) return;
  q.slot(at).kicked.store(true, std::memory_order_relaxed);
  peer->kick_queues();  // its wake-up orders the flag before its look
}

void PoolQueues::on_kicked() {
  // Serving runs requests' code, which may make new entries: walk a copy.
  std::vector<Entry*> kicked;
  for (auto& [key, e] : entries_)
    if (e->live->queue.slot(worker_.index()).kicked.exchange(false, std::memory_order_relaxed))
      kicked.push_back(e.get());
  for (Entry* e : kicked) {
    if (!e->list.empty()) serve(*e);
    else route_slot(*e->live);  // our waiters left meanwhile: pass the slot on
  }
}

// Offers free slots to the list's waiters in order until one finds none.
// A waiter that leaves may be destroyed inside on_queue_turn; the list
// itself lives on, so its new head is read afresh each time.
void PoolQueues::serve(Entry& e) {
  while (QueueWaiter* head = e.list.front())
    if (!head->on_queue_turn()) return;
}

void PoolQueues::arm(uint64_t deadline_ns) {
  if (!timer_open_ || (timer_due_ns_ != 0 && timer_due_ns_ <= deadline_ns)) return;
  timer_due_ns_ = deadline_ns;
  const uint64_t now = worker_.now_ns();
  const uint64_t wait_ns = deadline_ns > now ? deadline_ns - now : 0;
  uv_timer_start(&timer_, &PoolQueues::on_timer, (wait_ns + 999'999) / 1'000'000, 0);
}

void PoolQueues::on_timer(uv_timer_t* timer) {
  auto* self = static_cast<PoolQueues*>(timer->data);
  self->timer_due_ns_ = 0;
  const uint64_t now = self->worker_.now_ns();
  std::vector<Entry*> entries;
  entries.reserve(self->entries_.size());
  for (auto& [key, e] : self->entries_)
    if (!e->list.empty()) entries.push_back(e.get());
  // A waiter answered here may end its connection and, with it, other
  // waiters: each pop re-reads the list.
  for (Entry* e : entries)
    while (QueueWaiter* w = e->list.pop_expired(now)) w->on_queue_timeout();
  uint64_t next = 0;
  for (auto& [key, e] : self->entries_) {
    const uint64_t d = e->list.next_deadline();
    if (d != 0 && (next == 0 || d < next)) next = d;
  }
  if (next != 0) self->arm(next);
}

void PoolQueues::prune() {
  for (auto it = entries_.begin(); it != entries_.end();) {
    Entry& e = *it->second;
    if (e.list.empty() && e.live.use_count() == 1) {
      worker_.cancel(e);
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace lb
