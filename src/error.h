// The exception the core throws; the C API turns it into a vae_status and
// this thread's error message.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

#include "vae/vae.h"

namespace vae {

class Error : public std::runtime_error {
 public:
  Error(vae_status status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  vae_status status() const { return status_; }

 private:
  vae_status status_;
};

// An ostringstream for messages that lets std::bad_alloc through: a plain
// one swallows it, sets badbit and yields a truncated message, so the call
// would report its own failure instead of running out of memory.
class MessageStream : public std::ostringstream {
 public:
  MessageStream() { exceptions(std::ios::badbit); }
};

[[noreturn]] inline void fail(vae_status status, const std::string& message) {
  throw Error(status, message);
}

[[noreturn]] inline void invalid_argument(const std::string& message) {
  throw Error(VAE_ERROR_INVALID_ARGUMENT, message);
}

}  // namespace vae
