// What the environment says about the processes a launcher (mpirun,
// mpiexec, srun) started: whether it did, how many, and this one's place.
#ifndef VAE_APPS_LAUNCHER_ENVIRONMENT_H
#define VAE_APPS_LAUNCHER_ENVIRONMENT_H

#include <cstdlib>
#include <string>

namespace vae_app {

// The launched processes' count from the variables that Open MPI's mpirun,
// MPICH's Hydra and srun's PMI-2 or PMIx plugins set for each process, or 0
// when none is set (a process started by hand, or a batch script's shell).
inline int launched_processes() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"}) {
    const char* value = std::getenv(name);
    if (value != nullptr && value[0] != '\0') return std::atoi(value);
  }
  return std::getenv("PMIX_RANK") != nullptr ? 1 : 0;
}

// This process's rank among those the launcher started on this machine
// (Open MPI, MPICH/Hydra, Slurm), or -1 when none says: known before
// MPI_Init, so before anything touches CUDA.
inline int launched_local_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"}) {
    const char* value = std::getenv(name);
    if (value != nullptr && value[0] != '\0') return std::atoi(value);
  }
  return -1;
}

}  // namespace vae_app

#endif  // VAE_APPS_LAUNCHER_ENVIRONMENT_H
