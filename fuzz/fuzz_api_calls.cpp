// A structure-aware fuzz target of the C API: the input is a program
// (api_program.h) that builds a small CPU trainer and makes up to 64 calls
// with any arguments; ApiSession checks each call against the contract of
// vae.h, above all that a failed call changes nothing.
#include <cstddef>
#include <cstdint>

#include "api_program.h"
#include "api_session.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static vae_fuzz::ScratchDirectory scratch;
  vae_fuzz::ByteReader program(data, size);
  vae_fuzz::ApiSession session(program, scratch);
  session.run(64);
  return 0;
}
