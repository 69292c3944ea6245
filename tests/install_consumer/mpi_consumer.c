/* Joins MPI_COMM_WORLD through the installed vae_mpi adapter and trains one
 * shared step of a small model: as one rank, the world size is 1 and the
 * step counter 1. Exit status 0 on success. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>

#include "vae/vae.h"
#include "vae/vae_mpi.h"

enum { ROWS = 8, DIM = 4 };

static int fail(const char* call, const char* message) {
  fprintf(stderr, "%s failed: %s\n", call, message);
  return 1;
}

static int train_one_step(vae_mpi* group) {
  static const int32_t hidden[] = {8};
  float x[ROWS * DIM];
  float loss = 0.0f;
  int64_t world = 0, steps = 0;
  vae_config* config = NULL;
  vae_trainer* trainer = NULL;
  int i, result = 1;
  for (i = 0; i < ROWS * DIM; ++i) x[i] = (float)((i * 7) % 3 == 0);
  if (vae_config_create(&config) != VAE_OK) return fail("vae_config_create", vae_last_error());
  if (vae_config_set_int(config, VAE_OPT_INPUT_DIM, DIM) != VAE_OK ||
      vae_config_set_int(config, VAE_OPT_LATENT_DIM, 2) != VAE_OK ||
      vae_config_set_int(config, VAE_OPT_MAX_BATCH, ROWS) != VAE_OK ||
      vae_config_set_int(config, VAE_OPT_BACKEND, VAE_BACKEND_CPU) != VAE_OK ||
      vae_config_set_hidden_layers(config, hidden, 1) != VAE_OK ||
      vae_create(config, &trainer) != VAE_OK) {
    result = fail("configuring the trainer", vae_last_error());
  } else if (vae_mpi_attach(group, trainer) != VAE_OK) {
    result = fail("vae_mpi_attach", vae_mpi_last_error());
  } else if (vae_train_step(trainer, x, ROWS, &loss) != VAE_OK ||
             vae_get_int(trainer, VAE_OPT_WORLD_SIZE, &world) != VAE_OK ||
             vae_get_int(trainer, VAE_OPT_STEPS, &steps) != VAE_OK) {
    result = fail("the shared step", vae_last_error());
  } else if (world != 1 || steps != 1 || !isfinite(loss) || loss <= 0.0f) {
    fprintf(stderr, "world size %lld, steps %lld, loss %g: expected 1, 1 and a loss > 0\n",
            (long long)world, (long long)steps, (double)loss);
  } else {
    printf("vae_mpi: rank %d of %d, one shared step, loss %.3f\n", vae_mpi_rank(group),
           vae_mpi_size(group), (double)loss);
    result = 0;
  }
  vae_destroy(trainer);
  vae_config_destroy(config);
  return result;
}

int main(int argc, char** argv) {
  vae_mpi* group = NULL;
  int result;
  if (MPI_Init(&argc, &argv) != MPI_SUCCESS) return fail("MPI_Init", "");
  if (vae_mpi_create(MPI_COMM_WORLD, &group) != VAE_OK) {
    result = fail("vae_mpi_create", vae_mpi_last_error());
  } else {
    result = train_one_step(group);
    vae_mpi_destroy(group);
  }
  MPI_Finalize();
  return result;
}
