// Runs a C-API call in a child process, for the tests of what a call may
// cost before it refuses: the child's address space is limited (except
// under a sanitizer that maps its shadow memory up front), and what it says
// comes back as "status N: <vae_last_error()> peak +K KiB", or how it died.
#pragma once

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <functional>
#include <string>

#include "test_support.h"
#include "vae/vae.h"

namespace vae::testing {

inline long peak_rss_kib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

inline std::string call_in_child(size_t address_space_bytes, unsigned int seconds,
                                 const std::function<vae_status()>& call) {
  int fds[2];
  if (pipe(fds) != 0) return "pipe failed";
  const pid_t child = fork();
  if (child == 0) {
    close(fds[0]);
    alarm(seconds);
    if (!kShadowSanitizer) {
      const rlimit limit{address_space_bytes, address_space_bytes};
      setrlimit(RLIMIT_AS, &limit);
    }
    const long before = peak_rss_kib();
    const vae_status s = call();
    const std::string said = "status " + std::to_string(static_cast<int>(s)) + ": " +
                             vae_last_error() + " peak +" +
                             std::to_string(peak_rss_kib() - before) + " KiB";
    const ssize_t ignored = write(fds[1], said.data(), said.size());
    static_cast<void>(ignored);
    _exit(0);
  }
  close(fds[1]);
  std::string said;
  char buffer[512];
  for (ssize_t n; (n = read(fds[0], buffer, sizeof buffer)) > 0;) said.append(buffer, n);
  close(fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  if (WIFSIGNALED(status)) said += " [killed by signal " + std::to_string(WTERMSIG(status)) + "]";
  return said;
}

}  // namespace vae::testing
