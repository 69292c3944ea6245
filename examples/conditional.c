/* A conditional VAE through the C API: images of two kinds (the left half
 * lit, or the right half), each row given its kind as a one-hot condition.
 * After training, the decoder is asked for each kind by its condition alone:
 * vae_sample_rows draws z ~ p(z) and decodes it under condition e_0 or e_1,
 * and the lit half must follow the condition. Exit status 0 on success. */
#include <stdio.h>
#include <stdlib.h>

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

enum { ROWS = 64, SIDE = 8, DIM = SIDE * SIDE, CLASSES = 2, STEPS = 600, DRAWS = 32 };

/* The mean brightness of the left and the right half of n images. */
static void halves(const float* images, int n, double* left, double* right) {
  int i;
  *left = 0.0;
  *right = 0.0;
  for (i = 0; i < n * DIM; ++i) {
    if ((i % DIM) % SIDE < SIDE / 2) {
      *left += images[i];
    } else {
      *right += images[i];
    }
  }
  *left /= n * DIM / 2.0;
  *right /= n * DIM / 2.0;
}

int main(void) {
  static float x[ROWS * DIM], condition[ROWS * CLASSES];
  static float draws[DRAWS * DIM], draw_condition[DRAWS * CLASSES];
  unsigned state = 2024u;
  vae_config* config = NULL;
  vae_trainer* trainer = NULL;
  vae_rows rows = {0};
  const int32_t hidden[] = {32};
  float loss = 0.0f;
  double left[CLASSES], right[CLASSES];
  int i, k, step;

  for (i = 0; i < ROWS * DIM; ++i) {
    int row = i / DIM, col = (i % DIM) % SIDE;
    int lit = (row % CLASSES == 0) ? col < SIDE / 2 : col >= SIDE / 2;
    state = state * 1664525u + 1013904223u;
    x[i] = (float)(((state >> 16) % 100u) < (lit ? 90u : 10u));
  }
  for (i = 0; i < ROWS; ++i) condition[i * CLASSES + i % CLASSES] = 1.0f;

  CHECK(vae_config_create(&config));
  CHECK(vae_config_set_int(config, VAE_OPT_INPUT_DIM, DIM));
  CHECK(vae_config_set_int(config, VAE_OPT_LATENT_DIM, 2));
  CHECK(vae_config_set_int(config, VAE_OPT_MAX_BATCH, ROWS));
  CHECK(vae_config_set_int(config, VAE_OPT_CONDITION_DIM, CLASSES));
  CHECK(vae_config_set_int(config, VAE_OPT_BACKEND, VAE_BACKEND_CPU));
  CHECK(vae_config_set_float(config, VAE_OPT_LEARNING_RATE, 3e-3));
  CHECK(vae_config_set_hidden_layers(config, hidden, 1));
  CHECK(vae_create(config, &trainer));
  vae_config_destroy(config);

  rows.size = sizeof rows;
  rows.n = ROWS;
  rows.data = x;
  rows.condition = condition;
  for (step = 0; step < STEPS; ++step) CHECK(vae_train_step_rows(trainer, &rows, &loss));
  printf("loss after %d steps: %.2f nats\n", STEPS, loss);

  for (k = 0; k < CLASSES; ++k) {
    for (i = 0; i < DRAWS * CLASSES; ++i) draw_condition[i] = (i % CLASSES == k) ? 1.0f : 0.0f;
    rows.n = DRAWS;
    rows.data = NULL; /* vae_sample_rows draws z itself */
    rows.condition = draw_condition;
    CHECK(vae_sample_rows(trainer, &rows, draws));
    halves(draws, DRAWS, &left[k], &right[k]);
    printf("class %d: left half %.2f, right half %.2f\n", k, left[k], right[k]);
  }
  vae_destroy(trainer);
  /* Class 0 lights the left half, class 1 the right. */
  if (!(left[0] > right[0] + 0.3 && right[1] > left[1] + 0.3)) {
    fprintf(stderr, "the samples do not follow their conditions\n");
    return 1;
  }
  return 0;
}
