// lb/upstream/pool_queue.cpp — WaitList: a FIFO of intrusive QueueWaiter
// hooks with deadlines, and the shared counts it keeps (see pool_queue.h).
#include "lb/upstream/pool_queue.h"

namespace lb {

void QueueWaiter::abandon_queue() {
  if (list_) list_->remove(*this, list_->live().abandoned_total);
}

void QueueWaiter::leave_queue_served() {
  if (list_) list_->remove_served(*this);
}

WaitList::~WaitList() {
  while (head_) remove(*head_, live_.abandoned_total);
}

bool WaitList::push(QueueWaiter& w, uint32_t max, uint64_t deadline_ns) {
  if (w.list_) return true;
  uint32_t waiting = live_.waiting.load(std::memory_order_relaxed);
  do {
    if (waiting >= max) {
      live_.full_total.add(1);
      return false;
    }
  } while (!live_.waiting.compare_exchange_weak(waiting, waiting + 1, std::memory_order_relaxed));
  w.list_ = this;
  w.deadline_ns_ = deadline_ns;
  w.ticket_ = live_.next_ticket.fetch_add(1, std::memory_order_relaxed);
  w.next_ = nullptr;
  w.prev_ = tail_;
  if (tail_) {
    if (deadline_ns < tail_->deadline_ns_) ordered_ = false;
    tail_->next_ = &w;
  } else {
    head_ = &w;
  }
  tail_ = &w;
  ++size_;
  live_.queued_total.add(1);
  if (head_ == &w) publish_head();
  // Pairs with the fence in PoolQueues::slot_released: either that worker
  // sees this waiter, or our next look at the servers sees its free slot.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return true;
}

void WaitList::remove(QueueWaiter& w, ShardedCounter& outcome) {
  if (w.list_ != this) return;
  const bool was_head = head_ == &w;
  unlink(w);
  outcome.add(1);
  if (was_head) publish_head();
}

void WaitList::unlink(QueueWaiter& w) {
  if (w.prev_) w.prev_->next_ = w.next_;
  else head_ = w.next_;
  if (w.next_) w.next_->prev_ = w.prev_;
  else tail_ = w.prev_;
  w.prev_ = w.next_ = nullptr;
  w.list_ = nullptr;
  --size_;
  if (!head_) ordered_ = true;
  live_.waiting.fetch_sub(1, std::memory_order_relaxed);
}

// This worker's oldest waiter, for the others to compare tickets with.
void WaitList::publish_head() {
  live_.slot(worker_).head_ticket.store(head_ ? head_->ticket_ : 0, std::memory_order_relaxed);
}

QueueWaiter* WaitList::pop_expired(uint64_t now_ns) {
  QueueWaiter* due = nullptr;
  if (ordered_) {
    if (head_ && head_->deadline_ns_ <= now_ns) due = head_;
  } else {
    for (QueueWaiter* w = head_; w; w = w->next_)
      if (w->deadline_ns_ <= now_ns) {
        due = w;
        break;
      }
  }
  if (due) remove(*due, live_.timeouts_total);
  return due;
}

uint64_t WaitList::next_deadline() const {
  if (!head_) return 0;
  if (ordered_) return head_->deadline_ns_;
  uint64_t earliest = head_->deadline_ns_;
  for (QueueWaiter* w = head_->next_; w; w = w->next_)
    if (w->deadline_ns_ < earliest) earliest = w->deadline_ns_;
  return earliest;
}

}  // namespace lb
