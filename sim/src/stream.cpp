#include "stream.h"

#include <chrono>

#include "state.h"

namespace cudasim {

Stream::Stream(int device, unsigned int flags, bool legacy)
    : device_(device), flags_(flags), legacy_(legacy), worker_([this] { work(); }) {}

Stream::~Stream() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  worker_.join();
}

uint64_t Stream::push(Operation op) {
  std::lock_guard<std::mutex> lock(mutex_);
  const uint64_t ticket = ++pushed_;
  queue_.emplace_back(ticket, std::move(op));
  changed_.notify_all();
  return ticket;
}

uint64_t Stream::last_ticket() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return pushed_;
}

bool Stream::reached(uint64_t ticket) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return done_ >= ticket;
}

void Stream::wait(uint64_t ticket) const {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return done_ >= ticket; });
}

void Stream::work() {
  const unsigned delay_us = settings().delay_us;
  for (;;) {
    Operation op;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything has run
      op = std::move(queue_.front().second);
      queue_.pop_front();
    }
    for (const Dependency& d : op.after) d.stream->wait(d.ticket);
    if (delay_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
    // After a fault the context is broken: nothing more runs.
    if (op.run && sticky_error() == cudaSuccess) op.run();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++done_;
    }
    changed_.notify_all();
  }
}

}  // namespace cudasim
