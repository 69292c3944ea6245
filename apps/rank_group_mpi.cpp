// The rank group of a vae-train built with MPI: MPI_COMM_WORLD when a
// launcher started this process, the vae_mpi adapter summing each step.
#include <mpi.h>
#include <time.h>
#include <vae/vae_mpi.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "launcher_environment.h"
#include "rank_group.h"

namespace vae_app {
namespace {

class MpiRanks final : public RankGroup {
 public:
  MpiRanks(int* argc, char*** argv) {
    if (MPI_Init(argc, argv) != MPI_SUCCESS) throw std::runtime_error("MPI_Init failed");
    if (vae_mpi_create(MPI_COMM_WORLD, &group_) != VAE_OK) {
      const std::string message = vae_mpi_last_error();
      MPI_Finalize();
      throw std::runtime_error(message);
    }
    MPI_Comm local = MPI_COMM_NULL;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local) ==
        MPI_SUCCESS) {
      MPI_Comm_size(local, &local_size_);
      MPI_Comm_free(&local);
    }
  }
  ~MpiRanks() override {
    // Rank 0 may still be evaluating or writing pictures: the others wait
    // for it here without spinning, then all finalize together.
    wait_for_all();
    vae_mpi_destroy(group_);
    MPI_Finalize();
  }
  MpiRanks(const MpiRanks&) = delete;
  MpiRanks& operator=(const MpiRanks&) = delete;

  int rank() const override { return vae_mpi_rank(group_); }
  int size() const override { return vae_mpi_size(group_); }
  int local_size() const override { return local_size_; }

  void attach(vae_trainer* trainer) override {
    if (vae_mpi_attach(group_, trainer) != VAE_OK) {
      throw std::runtime_error(vae_mpi_last_error());
    }
  }

  // MPI_Barrier spins while it waits, taking a core from the rank still at
  // work; a nonblocking barrier polled every millisecond does not.
  void wait_for_all() override {
    MPI_Request request = MPI_REQUEST_NULL;
    if (MPI_Ibarrier(MPI_COMM_WORLD, &request) != MPI_SUCCESS) return;
    int done = 0;
    while (MPI_Test(&request, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && done == 0) {
      const timespec millisecond{0, 1000000};
      nanosleep(&millisecond, nullptr);
    }
  }

  [[noreturn]] void abort_all(int code) override {
    std::fflush(stdout);
    MPI_Abort(MPI_COMM_WORLD, code);
    std::exit(code);
  }

 private:
  vae_mpi* group_ = nullptr;
  int local_size_ = 1;
};

}  // namespace

std::unique_ptr<RankGroup> join_rank_group(int* argc, char*** argv) {
  if (launched_processes() == 0) return single_process();
  return std::make_unique<MpiRanks>(argc, argv);
}

}  // namespace vae_app
