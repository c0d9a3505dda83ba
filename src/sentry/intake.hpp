#pragma once

// The client's intake: a bounded multi-producer, single-consumer queue that callers push to
// without a lock (Vyukov's intrusive list with a permanent stub node, bounded by a counter).
// The push side is inline because it runs on every capture on the caller's thread; the
// worker's pop lives in intake.cpp.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "sentry/event.hpp"

namespace monitoring::sentry::detail {

/// One item of the intake: an event or a finished transaction.
struct IntakeNode {
  std::atomic<IntakeNode*> next{nullptr};
  std::unique_ptr<Captured> captured;
  std::unique_ptr<TransactionRecord> transaction;
};

class Intake {
 public:
  explicit Intake(std::size_t capacity) noexcept : capacity_(capacity) {}
  /// Frees what is left: nothing after a normal close, a client that never started may hold
  /// items.
  ~Intake();
  Intake(const Intake&) = delete;
  Intake& operator=(const Intake&) = delete;

  /// Caller side, lock-free: takes `node` unless the intake is closed or full. `on_accept`
  /// runs just before the node becomes visible to the worker, so what it counts is never
  /// behind what the worker has finished.
  template <class OnAccept>
  bool try_push(std::unique_ptr<IntakeNode>& node, OnAccept&& on_accept) noexcept {
    bool accepted = false;
    // Registered as inside: close() waits for us, so nothing is pushed after the worker's
    // last look at the intake.
    if ((admission_.fetch_add(2, std::memory_order_seq_cst) & 1) == 0) {
      if (size_.fetch_add(1, std::memory_order_relaxed) < capacity_) {
        on_accept();
        push(node.release());
        accepted = true;
      } else {
        size_.fetch_sub(1, std::memory_order_relaxed);
      }
    }
    admission_.fetch_sub(2, std::memory_order_release);
    return accepted;
  }

  /// Stops admission and waits for callers that are inside try_push() (a few instructions).
  void close() noexcept;

  /// Worker only: the oldest item, or null when there is none (or a push is halfway, in which
  /// case the pusher's wake-up follows).
  std::unique_ptr<IntakeNode> pop() noexcept;

 private:
  void push(IntakeNode* node) noexcept {
    node->next.store(nullptr, std::memory_order_relaxed);
    IntakeNode* previous = head_.exchange(node, std::memory_order_acq_rel);
    // Until this store the worker cannot reach `node` (nor what follows it): it sees an empty
    // intake and is woken again by the pusher's wake-up after try_push().
    previous->next.store(node, std::memory_order_release);
  }
  IntakeNode* take() noexcept;

  const std::size_t capacity_;
  // Producers exchange head_; the worker owns tail_. The stub keeps the list non-empty.
  IntakeNode stub_;
  std::atomic<IntakeNode*> head_{&stub_};
  IntakeNode* tail_ = &stub_;
  std::atomic<std::size_t> size_{0};  // accepted, not yet taken by the worker
  // (callers inside try_push() << 1) | 1 once closed: close() waits until no caller is inside.
  std::atomic<std::uint64_t> admission_{0};
};

}  // namespace monitoring::sentry::detail
