// The checks of the CUDA module's file before dlopen (src/module_file.h):
// a FIFO is refused without blocking, an ELF object of another
// architecture is named as such, and a loadable file passes.
#include <gtest/gtest.h>

#include <elf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <string>

#include <fcntl.h>

#include "module_file.h"
#include "test_support.h"

namespace {

bool has(const std::string& text, const char* part) { return text.find(part) != std::string::npos; }

// The running test program: an ELF object of this process's architecture.
std::string own_executable() {
  char path[4096] = {};
  const ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  return n > 0 ? std::string(path, static_cast<size_t>(n)) : "";
}

TEST(ModuleFile, AFifoIsRefusedWithoutBlocking) {
  const vae::testing::TestDirectory dir("module_file");
  const std::string fifo = (dir.path() / "libvae_cuda.so").string();
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  auto checked = std::async(std::launch::async, [&] { return vae::module_file_problem(fifo); });
  if (checked.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    const int writer = open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (writer >= 0) close(writer);
    ADD_FAILURE() << "blocked on a FIFO";
  }
  const std::string problem = checked.get();
  EXPECT_TRUE(has(problem, "a FIFO, not a regular file")) << problem;
}

TEST(ModuleFile, AnObjectOfAnotherArchitectureIsNamedAsSuch) {
  const vae::testing::TestDirectory dir("module_file");
  std::string bytes = vae::testing::read_file(own_executable());
  ASSERT_GT(bytes.size(), 20u);
  EXPECT_EQ(vae::module_file_problem(own_executable()), "");
  // e_machine (offset 18, little-endian here) of another machine.
  const int other = bytes[18] == static_cast<char>(EM_AARCH64) ? EM_X86_64 : EM_AARCH64;
  bytes[18] = static_cast<char>(other & 0xFF);
  bytes[19] = static_cast<char>(other >> 8);
  const std::string foreign = (dir.path() / "foreign.so").string();
  vae::testing::write_file(foreign, bytes);
  const std::string problem = vae::module_file_problem(foreign);
  EXPECT_TRUE(has(problem, "an ELF object for another architecture")) << problem;
  EXPECT_TRUE(has(problem, other == EM_AARCH64 ? "AArch64" : "x86-64")) << problem;
}

TEST(ModuleFile, MissingAndNonElfFilesAreLeftToTheLoader) {
  const vae::testing::TestDirectory dir("module_file");
  EXPECT_EQ(vae::module_file_problem((dir.path() / "absent.so").string()), "");
  const std::string text = (dir.path() / "text.so").string();
  vae::testing::write_file(text, "not an ELF object at all");
  EXPECT_EQ(vae::module_file_problem(text), "");
}

}  // namespace
