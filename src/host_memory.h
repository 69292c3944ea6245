// The host memory a process may have: what a trainer's workspace, which is
// zero-filled as it is allocated, is checked against before it is
// allocated. On a host that overcommits memory, allocating more than it can
// give succeeds, and filling it wakes the kernel's OOM killer, which ends
// the process; a trainer too large is refused instead (vae_create,
// vae_load: VAE_ERROR_OUT_OF_MEMORY naming the amounts).
#pragma once

#include <cstdint>
#include <string>

namespace vae {

struct Config;

// The bytes the machine can give this process: its physical memory and
// swap, lowered by the address-space and data-segment limits (setrlimit)
// where they are set.
double host_memory_limit();

// Throws Error(VAE_ERROR_OUT_OF_MEMORY) when `bytes` of host memory exceed
// host_memory_limit(); `what` names them ("a CPU trainer of 784-400-20 with
// max batch 128 and 1 sample").
void check_host_memory(double bytes, const std::string& what);

// A trainer as the memory messages name it: "a CPU trainer of 784-400-20
// with max batch 128 and 1 sample(s) per data point" (backend: "CPU").
std::string describe_trainer(const Config& config, const char* backend);

// A byte count as people read it: "43.1 GB" (powers of 1000), "512 bytes".
std::string byte_text(double bytes);

}  // namespace vae
