/* What vae_create gives for a backend, as tests/check_cuda_module.sh reads
 * it. Usage: backend_probe auto|cpu|cuda THREADS
 *
 * THREADS threads create a small trainer at once (the first use loads the
 * CUDA module, once); all must get the same answer. Then one train step and
 * one evaluation run on the trainer, if one was made. Prints, one per line:
 *   status=<vae_status> backend=<VAE_OPT_BACKEND or -1>
 *   error=<vae_last_error() of the failed create, or of the thread after success>
 *   library=<the path libvae was loaded from>
 *   module=<loaded|not loaded>   (whether libvae_cuda.so is in the process) */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vae/vae.h"

enum { MAX_THREADS = 16, DIM = 6, ROWS = 4 };

struct attempt {
  int backend;
  vae_status status;
  int64_t chosen;
  char error[512];
};

static void* create(void* argument) {
  struct attempt* a = argument;
  vae_config* config = NULL;
  vae_trainer* trainer = NULL;
  a->chosen = -1;
  if (vae_config_create(&config) != VAE_OK) {
    a->status = VAE_ERROR_OUT_OF_MEMORY;
    return NULL;
  }
  vae_config_set_int(config, VAE_OPT_INPUT_DIM, DIM);
  vae_config_set_int(config, VAE_OPT_LATENT_DIM, 2);
  vae_config_set_int(config, VAE_OPT_MAX_BATCH, ROWS);
  vae_config_set_int(config, VAE_OPT_BACKEND, a->backend);
  a->status = vae_create(config, &trainer);
  snprintf(a->error, sizeof a->error, "%s", vae_last_error());
  if (a->status == VAE_OK) {
    float x[ROWS * DIM], elbo[ROWS], loss = 0.0f;
    int i;
    for (i = 0; i < ROWS * DIM; ++i) x[i] = (float)(i % 2);
    vae_get_int(trainer, VAE_OPT_BACKEND, &a->chosen);
    if (vae_train_step(trainer, x, ROWS, &loss) != VAE_OK ||
        vae_evaluate(trainer, x, ROWS, elbo, NULL, NULL) != VAE_OK) {
      a->status = VAE_ERROR_INTERNAL;
      snprintf(a->error, sizeof a->error, "the trainer made does not train: %s", vae_last_error());
    }
  }
  vae_destroy(trainer);
  vae_config_destroy(config);
  return NULL;
}

static int module_seen(struct dl_phdr_info* info, size_t size, void* found) {
  const char* name = info->dlpi_name;
  const size_t length = strlen(name), suffix = strlen("libvae_cuda.so");
  (void)size;
  if (length >= suffix && strcmp(name + length - suffix, "libvae_cuda.so") == 0) *(int*)found = 1;
  return 0;
}

int main(int argc, char** argv) {
  struct attempt attempts[MAX_THREADS];
  pthread_t threads[MAX_THREADS];
  int count, i, loaded = 0, backend;
  uint32_t (*library_function)(void) = vae_version;
  void* library_address = NULL;
  Dl_info library;
  if (argc != 3 || (count = atoi(argv[2])) < 1 || count > MAX_THREADS) {
    fprintf(stderr, "usage: backend_probe auto|cpu|cuda THREADS (1..%d)\n", MAX_THREADS);
    return 2;
  }
  backend = strcmp(argv[1], "cuda") == 0  ? VAE_BACKEND_CUDA
            : strcmp(argv[1], "cpu") == 0 ? VAE_BACKEND_CPU
                                          : VAE_BACKEND_AUTO;
  for (i = 0; i < count; ++i) {
    memset(&attempts[i], 0, sizeof attempts[i]);
    attempts[i].backend = backend;
    if (pthread_create(&threads[i], NULL, create, &attempts[i]) != 0) return 2;
  }
  for (i = 0; i < count; ++i) pthread_join(threads[i], NULL);
  for (i = 1; i < count; ++i) {
    if (attempts[i].status != attempts[0].status || attempts[i].chosen != attempts[0].chosen ||
        strcmp(attempts[i].error, attempts[0].error) != 0) {
      printf("threads disagree: %d (%s) and %d (%s)\n", (int)attempts[0].status,
             attempts[0].error, (int)attempts[i].status, attempts[i].error);
      return 1;
    }
  }
  dl_iterate_phdr(module_seen, &loaded);
  memcpy(&library_address, &library_function, sizeof library_address);
  printf("status=%d backend=%lld\n", (int)attempts[0].status, (long long)attempts[0].chosen);
  printf("error=%s\n", attempts[0].error);
  printf("library=%s\n",
         dladdr(library_address, &library) != 0 && library.dli_fname ? library.dli_fname : "?");
  printf("module=%s\n", loaded ? "loaded" : "not loaded");
  return 0;
}
