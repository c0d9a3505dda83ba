// The worker's side of the intake: taking items off the list, closing it, draining it.

#include "sentry/intake.hpp"

#include <thread>

namespace monitoring::sentry::detail {

Intake::~Intake() {
  while (IntakeNode* node = take()) delete node;
}

void Intake::close() noexcept {
  admission_.fetch_or(1, std::memory_order_seq_cst);
  while ((admission_.load(std::memory_order_acquire) >> 1) != 0) std::this_thread::yield();
}

std::unique_ptr<IntakeNode> Intake::pop() noexcept {
  std::unique_ptr<IntakeNode> node(take());
  if (node) size_.fetch_sub(1, std::memory_order_relaxed);
  return node;
}

IntakeNode* Intake::take() noexcept {
  IntakeNode* tail = tail_;
  IntakeNode* next = tail->next.load(std::memory_order_acquire);
  if (tail == &stub_) {
    if (next == nullptr) return nullptr;
    tail_ = next;
    tail = next;
    next = next->next.load(std::memory_order_acquire);
  }
  if (next != nullptr) {
    tail_ = next;
    return tail;
  }
  if (tail != head_.load(std::memory_order_acquire)) return nullptr;  // a push is halfway
  // `tail` is the last node: put the stub behind it so that it can be taken.
  push(&stub_);
  next = tail->next.load(std::memory_order_acquire);
  if (next != nullptr) {
    tail_ = next;
    return tail;
  }
  return nullptr;
}

}  // namespace monitoring::sentry::detail
