// join_rank_group of a vae-train built without MPI: this process alone.
#include <stdexcept>
#include <string>

#include "launcher_environment.h"
#include "rank_group.h"

namespace vae_app {

std::unique_ptr<RankGroup> join_rank_group(int*, char***) {
  const int launched = launched_processes();
  if (launched > 1) {
    throw std::runtime_error(
        "started as one of " + std::to_string(launched) +
        " processes (mpirun or srun), but this vae-train was built without MPI: install "
        "libopenmpi-dev and rebuild, or run it alone");
  }
  return single_process();
}

}  // namespace vae_app
