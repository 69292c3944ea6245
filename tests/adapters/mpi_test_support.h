// What the tests run under mpirun use: this process's rank, comparisons
// across the ranks, and a file name the ranks share.
#pragma once

#include <mpi.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace vae_mpi_test {

inline int rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

inline int size() {
  int s = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  return s;
}

// Whether every rank holds bit for bit the same values (the same answer on
// every rank).
inline bool same_on_every_rank(const std::vector<float>& values) {
  const int n = size();
  std::vector<float> all(values.size() * static_cast<size_t>(n));
  MPI_Allgather(values.data(), static_cast<int>(values.size()), MPI_FLOAT, all.data(),
                static_cast<int>(values.size()), MPI_FLOAT, MPI_COMM_WORLD);
  int same = 1;
  for (int r = 1; r < n; ++r) {
    if (std::memcmp(all.data(), all.data() + values.size() * static_cast<size_t>(r),
                    values.size() * sizeof(float)) != 0) {
      same = 0;
    }
  }
  return same != 0;
}

// A file name rank 0 chose, the same on every rank.
inline std::string shared_path(const std::string& stem) {
  char name[256] = {};
  if (rank() == 0) {
    std::snprintf(name, sizeof name, "/tmp/vae_%s_%ld", stem.c_str(),
                  static_cast<long>(getpid()));
  }
  MPI_Bcast(name, sizeof name, MPI_CHAR, 0, MPI_COMM_WORLD);
  return name;
}

}  // namespace vae_mpi_test
