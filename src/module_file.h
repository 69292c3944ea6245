// The checks of a module file (the CUDA module, libvae_cuda.so) before the
// dynamic loader opens it: dlopen of a FIFO blocks until a writer comes, and
// an ELF object for another architecture is reported by glibc as "No such
// file or directory".
#pragma once

#include <string>

namespace vae {

// Why the file at `path` cannot be a module of this process, as the end of
// a sentence ("is a FIFO, not a regular file", "is an ELF object for
// another architecture (...)"), or "" when nothing is known against it
// (missing files and other dlopen failures are left to dlopen to report).
// Opens the file without blocking and reads at most its ELF header.
std::string module_file_problem(const std::string& path);

}  // namespace vae
