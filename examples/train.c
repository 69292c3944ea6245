/* Trains the default VAE (784-400-20, Bernoulli) for a few steps on
 * synthetic binary images through the C API, then saves, reloads and checks
 * the reloaded trainer gives the same parameters. Exit status 0 on success. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vae/vae.h"

#define CHECK(call)                                                          \
  do {                                                                       \
    vae_status status_ = (call);                                             \
    if (status_ != VAE_OK) {                                                 \
      fprintf(stderr, "%s failed: %s: %s\n", #call,                          \
              vae_status_string(status_), vae_last_error());                 \
      return 1;                                                              \
    }                                                                        \
  } while (0)

enum { ROWS = 64, DIM = 784, STEPS = 40 };

int main(void) {
  static float x[ROWS * DIM];
  unsigned state = 12345u;
  vae_config* config = NULL;
  vae_trainer* trainer = NULL;
  vae_trainer* reloaded = NULL;
  float first_loss = 0.0f, loss = 0.0f;
  int64_t count = 0;
  float* a;
  float* b;
  int i, step;

  /* Images of two kinds: the left half lit, or the right half lit, with noise. */
  for (i = 0; i < ROWS * DIM; ++i) {
    int row = i / DIM, col = (i % DIM) % 28;
    int lit = (row % 2 == 0) ? col < 14 : col >= 14;
    state = state * 1664525u + 1013904223u;
    x[i] = (float)(((state >> 16) % 100u) < (lit ? 90u : 10u));
  }

  printf("libvae %u\n", (unsigned)vae_version());
  CHECK(vae_config_create(&config));
  CHECK(vae_config_set_int(config, VAE_OPT_BACKEND, VAE_BACKEND_CPU));
  CHECK(vae_config_set_int(config, VAE_OPT_MAX_BATCH, ROWS));
  CHECK(vae_create(config, &trainer));
  vae_config_destroy(config);

  for (step = 0; step < STEPS; ++step) {
    CHECK(vae_train_step(trainer, x, ROWS, &loss));
    if (step == 0) first_loss = loss;
  }
  printf("loss: step 1 %.3f, step %d %.3f nats\n", first_loss, STEPS, loss);
  if (!(loss < first_loss - 50.0f)) {
    fprintf(stderr, "training did not lower the loss\n");
    return 1;
  }

  CHECK(vae_save(trainer, "example_checkpoint.safetensors"));
  CHECK(vae_load("example_checkpoint.safetensors", VAE_BACKEND_CPU, &reloaded));
  CHECK(vae_parameter_count(trainer, &count));
  a = malloc(sizeof(float) * (size_t)count);
  b = malloc(sizeof(float) * (size_t)count);
  if (a == NULL || b == NULL) return 1;
  CHECK(vae_get_parameters(trainer, a, count));
  CHECK(vae_get_parameters(reloaded, b, count));
  if (memcmp(a, b, sizeof(float) * (size_t)count) != 0) {
    fprintf(stderr, "reloaded parameters differ\n");
    return 1;
  }
  printf("saved and reloaded %lld parameters\n", (long long)count);
  free(a);
  free(b);
  remove("example_checkpoint.safetensors");
  vae_destroy(reloaded);
  vae_destroy(trainer);
  return 0;
}
