#include "stop_signals.h"

#include <errno.h>
#include <sched.h>

#include <atomic>
#include <cstring>
#include <stdexcept>
#include <string>

namespace vae_app {
namespace {

// The handler's whole state: lock-free atomics, so it may run on any thread
// (the kernel gives a process's signal to any thread not blocking it).
std::atomic<int> g_received{0};
std::atomic<vae_trainer*> g_target{nullptr};
std::atomic<int> g_handlers_running{0};
static_assert(std::atomic<int>::is_always_lock_free);
static_assert(std::atomic<vae_trainer*>::is_always_lock_free);

void restore_default_actions() {
  struct sigaction fallback {};
  fallback.sa_handler = SIG_DFL;
  sigemptyset(&fallback.sa_mask);
  sigaction(SIGINT, &fallback, nullptr);
  sigaction(SIGTERM, &fallback, nullptr);
}

// Async-signal-safe: atomics, sigaction and vae_interrupt only.
extern "C" void on_stop_signal(int signal_number) {
  const int saved_errno = errno;
  g_handlers_running.fetch_add(1);
  int none = 0;
  g_received.compare_exchange_strong(none, signal_number);
  restore_default_actions();
  vae_trainer* trainer = g_target.load();
  if (trainer != nullptr) vae_interrupt(trainer);
  g_handlers_running.fetch_sub(1);
  errno = saved_errno;
}

void catch_signal(int signal_number, struct sigaction* previous) {
  if (sigaction(signal_number, nullptr, previous) != 0) {
    throw std::runtime_error(std::string("sigaction: ") + std::strerror(errno));
  }
  if (previous->sa_handler == SIG_IGN) return;
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  // No SA_RESTART: a system call the signal interrupts (an open or a read
  // that blocks) fails with EINTR, so that the first signal ends a run
  // blocked in I/O (run_vae_train exits as the signal asks) instead of
  // waiting on.
  action.sa_flags = 0;
  if (sigaction(signal_number, &action, nullptr) != 0) {
    throw std::runtime_error(std::string("sigaction: ") + std::strerror(errno));
  }
}

}  // namespace

StopSignals::StopSignals() {
  g_received.store(0);
  catch_signal(SIGINT, &previous_interrupt_);
  try {
    catch_signal(SIGTERM, &previous_terminate_);
  } catch (...) {
    sigaction(SIGINT, &previous_interrupt_, nullptr);
    throw;
  }
}

StopSignals::~StopSignals() {
  sigaction(SIGINT, &previous_interrupt_, nullptr);
  sigaction(SIGTERM, &previous_terminate_, nullptr);
}

int StopSignals::received() { return g_received.load(); }

InterruptTarget::InterruptTarget(vae_trainer* trainer) { g_target.store(trainer); }

InterruptTarget::~InterruptTarget() {
  // A handler that loaded the trainer counted itself first (both atomics
  // are sequentially consistent), so it is counted here until it is done.
  g_target.store(nullptr);
  while (g_handlers_running.load() != 0) sched_yield();
}

}  // namespace vae_app
