#include "pictures.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>

#include "caption.h"
#include "conditions.h"
#include "normal_quantile.h"
#include "png_writer.h"
#include "vae_handles.h"

namespace vae_app {
namespace {

constexpr int kSampleGridSide = 8;
// A conditional model's samples.png shows a row of each of its first classes.
constexpr std::int64_t kMaxSampleClasses = 32;
constexpr std::int64_t kReconstructedRows = 32;
constexpr int kReconstructionPairsPerRow = 4;
constexpr int kManifoldSide = 20;
constexpr double kManifoldLowQuantile = 0.05;
constexpr double kManifoldHighQuantile = 0.95;

struct ModelShape {
  std::int64_t input_dim;
  std::int64_t latent_dim;
  std::int64_t max_batch;  // the most rows one call may take
  std::int64_t classes;    // the conditions' width: 0 for a model without conditions
};

ModelShape model_shape(const vae_trainer* trainer) {
  return ModelShape{get_int_option(trainer, VAE_OPT_INPUT_DIM, "VAE_OPT_INPUT_DIM"),
                    get_int_option(trainer, VAE_OPT_LATENT_DIM, "VAE_OPT_LATENT_DIM"),
                    get_int_option(trainer, VAE_OPT_MAX_BATCH, "VAE_OPT_MAX_BATCH"),
                    get_int_option(trainer, VAE_OPT_CONDITION_DIM, "VAE_OPT_CONDITION_DIM")};
}

// Rows [first, first + count) of data (NULL for vae_sample_rows) with their conditions.
vae_rows rows_at(const float* data, std::int64_t width, const std::vector<float>& conditions,
                 const ModelShape& shape, std::int64_t first, std::int64_t count) {
  return vae_rows{sizeof(vae_rows), count, data != nullptr ? data + first * width : nullptr,
                  condition_row(conditions, first, shape.classes)};
}

// Calls call(first, count) over [0, total) in pieces of at most `chunk` rows.
template <typename Call>
void in_batches(std::int64_t total, std::int64_t chunk, Call call) {
  for (std::int64_t first = 0; first < total; first += chunk) {
    call(first, std::min(chunk, total - first));
  }
}

// Decodes the rows of z, row i under conditions' row i.
std::vector<float> decode(vae_trainer* trainer, const ModelShape& shape,
                          const std::vector<float>& z, const std::vector<float>& conditions,
                          std::int64_t rows) {
  std::vector<float> means(static_cast<std::size_t>(rows * shape.input_dim));
  in_batches(rows, shape.max_batch, [&](std::int64_t first, std::int64_t count) {
    const vae_rows r = rows_at(z.data(), shape.latent_dim, conditions, shape, first, count);
    check(vae_decode_rows(trainer, &r, means.data() + first * shape.input_dim),
          "vae_decode_rows");
  });
  return means;
}

int grid_columns(std::int64_t dim, int square_columns, int strip_columns) {
  return square_side(dim) > 0 ? square_columns : strip_columns;
}

std::string epoch_text(const vae_trainer* trainer) {
  return "epoch " + std::to_string(get_int_option(trainer, VAE_OPT_EPOCHS, "VAE_OPT_EPOCHS"));
}

// The parameters of an MLP VAE with these widths (as ParameterLayout counts).
// output: the decoder's output width (2 input when it predicts the variance).
// classes: the conditions' width, which both first layers take beside their input.
std::int64_t parameter_count(std::int64_t input, const std::vector<std::int32_t>& hidden,
                             std::int64_t latent, std::int64_t learned_log_variances,
                             std::int64_t output, std::int64_t classes) {
  std::int64_t count = learned_log_variances;
  std::int64_t in = input + classes;
  for (std::int32_t width : hidden) {
    count += (in + 1) * width;
    in = width;
  }
  count += (in + 1) * 2 * latent;
  in = latent + classes;
  for (auto it = hidden.rbegin(); it != hidden.rend(); ++it) {
    count += (in + 1) * *it;
    in = *it;
  }
  return count + (in + 1) * output;
}

}  // namespace

std::string model_description(const vae_trainer* trainer,
                               const std::vector<std::int32_t>& hidden) {
  const std::int64_t input = get_int_option(trainer, VAE_OPT_INPUT_DIM, "VAE_OPT_INPUT_DIM");
  const std::int64_t latent = get_int_option(trainer, VAE_OPT_LATENT_DIM, "VAE_OPT_LATENT_DIM");
  const bool gaussian = get_int_option(trainer, VAE_OPT_LIKELIHOOD, "VAE_OPT_LIKELIHOOD") ==
                        VAE_LIKELIHOOD_GAUSSIAN;
  const std::int64_t variance =
      gaussian ? get_int_option(trainer, VAE_OPT_VARIANCE, "VAE_OPT_VARIANCE")
               : std::int64_t{VAE_VARIANCE_FIXED};
  const std::int64_t learned = variance == VAE_VARIANCE_LEARNED_PER_DIM ? input
                               : variance == VAE_VARIANCE_LEARNED_SHARED ? 1
                                                                         : 0;
  std::int64_t count = 0;
  check(vae_parameter_count(trainer, &count), "vae_parameter_count");
  std::string widths = std::to_string(input);
  const std::int64_t output = variance == VAE_VARIANCE_DECODER ? 2 * input : input;
  const std::int64_t classes =
      get_int_option(trainer, VAE_OPT_CONDITION_DIM, "VAE_OPT_CONDITION_DIM");
  if (parameter_count(input, hidden, latent, learned, output, classes) == count) {
    for (std::int32_t w : hidden) widths += "-" + std::to_string(w);
    widths += "-" + std::to_string(latent);
  } else {
    widths += "-...-" + std::to_string(latent) + " (" + std::to_string(count) + " parameters)";
  }
  const bool iwae =
      get_int_option(trainer, VAE_OPT_OBJECTIVE, "VAE_OPT_OBJECTIVE") == VAE_OBJECTIVE_IWAE;
  return widths + (gaussian ? " gaussian" : " bernoulli") + (iwae ? ", iwae" : ", elbo") +
         (classes > 0 ? ", " + std::to_string(classes) + " classes" : "");
}

void write_samples_png(vae_trainer* trainer, const GrayRange& gray, const std::string& model,
                       const std::string& path) {
  const ModelShape shape = model_shape(trainer);
  const std::int64_t shown_classes = std::min(shape.classes, kMaxSampleClasses);
  const std::int64_t grid_rows = shape.classes > 0 ? shown_classes : kSampleGridSide;
  const std::int64_t rows = grid_rows * kSampleGridSide;
  const std::vector<float> conditions =
      class_conditions(shown_classes, kSampleGridSide, shape.classes);
  std::vector<float> means(static_cast<std::size_t>(rows * shape.input_dim));
  in_batches(rows, shape.max_batch, [&](std::int64_t first, std::int64_t count) {
    const vae_rows r = rows_at(nullptr, 0, conditions, shape, first, count);
    check(vae_sample_rows(trainer, &r, means.data() + first * shape.input_dim),
          "vae_sample_rows");
  });
  std::string what = "samples: decoded z ~ p(z)";
  if (shape.classes > 0) what = "samples: row k decodes z ~ p(z) under class k";
  if (shown_classes < shape.classes) {
    what += " (the first " + std::to_string(shown_classes) + " of " +
            std::to_string(shape.classes) + ")";
  }
  write_png(path, captioned(tile_images(means, rows, shape.input_dim,
                                        grid_columns(shape.input_dim, kSampleGridSide, 1), gray),
                            {what, model, epoch_text(trainer)}));
}

void write_reconstructions_png(vae_trainer* trainer, const DataMatrix& test, const GrayRange& gray,
                               const std::string& model, const std::string& path) {
  const ModelShape shape = model_shape(trainer);
  const std::int64_t rows = std::min(kReconstructedRows, test.rows);
  const std::vector<float> inputs = rows_as_floats(test, 0, rows);
  const std::vector<float> conditions = label_conditions(test, 0, rows, shape.classes);
  std::vector<float> mu(static_cast<std::size_t>(rows * shape.latent_dim));
  in_batches(rows, shape.max_batch, [&](std::int64_t first, std::int64_t count) {
    const vae_rows r = rows_at(inputs.data(), shape.input_dim, conditions, shape, first, count);
    check(vae_encode_rows(trainer, &r, mu.data() + first * shape.latent_dim, nullptr),
          "vae_encode_rows");
  });
  const std::vector<float> reconstructions = decode(trainer, shape, mu, conditions, rows);

  // Tiles in pairs: input, reconstruction, input, reconstruction, ...
  const auto dim = static_cast<std::size_t>(shape.input_dim);
  std::vector<float> pairs;
  pairs.reserve(2 * inputs.size());
  for (std::size_t row = 0; row < static_cast<std::size_t>(rows); ++row) {
    pairs.insert(pairs.end(), inputs.begin() + static_cast<std::ptrdiff_t>(row * dim),
                 inputs.begin() + static_cast<std::ptrdiff_t>((row + 1) * dim));
    pairs.insert(pairs.end(), reconstructions.begin() + static_cast<std::ptrdiff_t>(row * dim),
                 reconstructions.begin() + static_cast<std::ptrdiff_t>((row + 1) * dim));
  }
  write_png(path,
            captioned(tile_images(pairs, 2 * rows, shape.input_dim,
                                  grid_columns(shape.input_dim, 2 * kReconstructionPairsPerRow, 2),
                                  gray),
                      {shape.classes > 0 ? "test rows, each beside decode(mu(x, c), c), c its label"
                                         : "test rows, each beside decode(mu(x))",
                       model, epoch_text(trainer)}));
}

void write_manifold_png(vae_trainer* trainer, const GrayRange& gray, const std::string& model,
                        const std::string& path) {
  const ModelShape shape = model_shape(trainer);
  std::vector<double> quantiles(kManifoldSide);
  for (int i = 0; i < kManifoldSide; ++i) {
    quantiles[static_cast<std::size_t>(i)] = normal_quantile(
        kManifoldLowQuantile + (kManifoldHighQuantile - kManifoldLowQuantile) *
                                   static_cast<double>(i) / static_cast<double>(kManifoldSide - 1));
  }
  const std::int64_t rows = std::int64_t{kManifoldSide} * kManifoldSide;
  std::vector<float> z;
  z.reserve(static_cast<std::size_t>(2 * rows));
  for (int row = 0; row < kManifoldSide; ++row) {
    for (int column = 0; column < kManifoldSide; ++column) {
      z.push_back(static_cast<float>(quantiles[static_cast<std::size_t>(column)]));
      z.push_back(static_cast<float>(quantiles[static_cast<std::size_t>(kManifoldSide - 1 - row)]));
    }
  }
  // The manifold of a conditional model is each class's own: class 0's.
  const std::vector<float> conditions = class_conditions(1, rows, shape.classes);
  std::string what = "decoded z grid: normal quantiles 0.05..0.95, z1 rightwards, z2 upwards";
  if (shape.classes > 0) what += ", under class 0's condition";
  write_png(path, captioned(tile_images(decode(trainer, shape, z, conditions, rows), rows,
                                        shape.input_dim,
                                        grid_columns(shape.input_dim, kManifoldSide, 1), gray),
                            {what, model, epoch_text(trainer)}));
}

}  // namespace vae_app
