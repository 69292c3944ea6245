// Writes the fuzz targets' seed corpora from fixed seeds:
//   fuzz_make_corpus <fuzz/corpus>   (cmake --build <build> --target fuzz_corpus)
// checkpoint_load/  checkpoints the library saves, and copies edited the way
//                   the defects of issue 10 need (issue10_*);
// idx_reader/       IDX files of bytes, one gzip-compressed;
// npy_reader/       .npy files of each accepted dtype and version, one gzip;
// api_calls/        programs of C-API calls (api_program.h).
#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "api_program.h"
#include "fuzz_support.h"
#include "safetensors.h"
#include "vae/vae.h"

namespace {

namespace fs = std::filesystem;
using vae_fuzz::Bytes;
using vae_fuzz::Op;
using vae_fuzz::ProgramWriter;
using vae_fuzz::TrainerChoices;
using vae_fuzz::require;

void ok(vae_status s, const char* what) {
  require(s == VAE_OK, std::string(what) + ": " + vae_last_error());
}

std::vector<float> binary_rows(int64_t rows, int64_t dim, unsigned seed) {
  std::vector<float> x(static_cast<std::size_t>(rows * dim));
  for (float& v : x) {
    seed = seed * 1103515245u + 12345u;
    v = (seed >> 16) % 5 < 2 ? 1.0f : 0.0f;
  }
  return x;
}

// ---- checkpoints ----

struct Model {
  const char* name;
  int64_t dim, latent, batch, samples;
  std::vector<int32_t> hidden;
  int likelihood, variance, activation, objective;
  int64_t condition_dim = 0;
};

// One-hot conditions of C classes for `rows` rows, row i of class i mod C
// (none for C = 0).
std::vector<float> one_hot_rows(int64_t rows, int64_t classes) {
  std::vector<float> c(static_cast<std::size_t>(rows * classes));
  for (int64_t i = 0; classes > 0 && i < rows; ++i) {
    c[static_cast<std::size_t>(i * classes + i % classes)] = 1.0f;
  }
  return c;
}

void save_model(const Model& m, const fs::path& path) {
  vae_config* c = nullptr;
  ok(vae_config_create(&c), "vae_config_create");
  const std::pair<int, int64_t> settings[] = {
      {VAE_OPT_INPUT_DIM, m.dim}, {VAE_OPT_LATENT_DIM, m.latent}, {VAE_OPT_MAX_BATCH, m.batch},
      {VAE_OPT_SAMPLES, m.samples}, {VAE_OPT_LIKELIHOOD, m.likelihood},
      {VAE_OPT_VARIANCE, m.variance}, {VAE_OPT_ACTIVATION, m.activation},
      {VAE_OPT_OBJECTIVE, m.objective}, {VAE_OPT_BACKEND, VAE_BACKEND_CPU},
      {VAE_OPT_CONDITION_DIM, m.condition_dim}};
  for (const auto& [option, value] : settings) ok(vae_config_set_int(c, option, value), "set");
  ok(vae_config_set_hidden_layers(c, m.hidden.data(), static_cast<int32_t>(m.hidden.size())), "hidden");
  vae_trainer* t = nullptr;
  ok(vae_create(c, &t), "vae_create");
  vae_config_destroy(c);
  const std::vector<float> x = binary_rows(m.batch, m.dim, 7);
  const std::vector<float> condition = one_hot_rows(m.batch, m.condition_dim);
  // Without conditions the _rows calls are their namesakes.
  const vae_rows rows{sizeof(vae_rows), m.batch, x.data(),
                      m.condition_dim > 0 ? condition.data() : nullptr};
  // Steps of both halves and of each alone, so the counters differ.
  for (const int update : {VAE_UPDATE_ALL, VAE_UPDATE_ENCODER, VAE_UPDATE_DECODER, VAE_UPDATE_ALL}) {
    ok(vae_set_int(t, VAE_OPT_UPDATE, update), "update");
    ok(vae_train_step_rows(t, &rows, nullptr), "vae_train_step_rows");
  }
  std::vector<float> elbo(static_cast<std::size_t>(m.batch));
  ok(vae_evaluate_rows(t, &rows, elbo.data(), nullptr, nullptr), "vae_evaluate_rows");
  ok(vae_save(t, path.c_str()), "vae_save");
  vae_destroy(t);
}

// A copy of a checkpoint with its metadata or values edited. The copy has
// no data checksum (which is optional), so the edited values reach the
// checks behind it instead of the checksum's.
template <class Edit>
void edited_copy(const fs::path& from, const fs::path& to, Edit edit) {
  vae::SafetensorsFile file = vae::read_safetensors(from);
  edit(file);
  file.metadata.erase("libvae.data_crc32");
  vae::write_safetensors(to, file);
}

void write_checkpoints(const fs::path& dir) {
  const Model models[] = {
      {"bernoulli_relu", 6, 2, 4, 1, {4}, VAE_LIKELIHOOD_BERNOULLI, VAE_VARIANCE_FIXED,
       VAE_ACTIVATION_RELU, VAE_OBJECTIVE_ELBO},
      {"gaussian_per_dim_tanh", 5, 2, 3, 2, {4, 3}, VAE_LIKELIHOOD_GAUSSIAN,
       VAE_VARIANCE_LEARNED_PER_DIM, VAE_ACTIVATION_TANH, VAE_OBJECTIVE_ELBO},
      {"gaussian_shared_no_hidden_iwae", 4, 3, 2, 3, {}, VAE_LIKELIHOOD_GAUSSIAN,
       VAE_VARIANCE_LEARNED_SHARED, VAE_ACTIVATION_RELU, VAE_OBJECTIVE_IWAE},
      {"gaussian_fixed", 3, 1, 2, 1, {2}, VAE_LIKELIHOOD_GAUSSIAN, VAE_VARIANCE_FIXED,
       VAE_ACTIVATION_TANH, VAE_OBJECTIVE_ELBO},
      {"bernoulli_conditional", 5, 2, 3, 2, {4}, VAE_LIKELIHOOD_BERNOULLI, VAE_VARIANCE_FIXED,
       VAE_ACTIVATION_RELU, VAE_OBJECTIVE_ELBO, 3},
  };
  for (const Model& m : models) save_model(m, dir / (std::string(m.name) + ".safetensors"));

  const fs::path base = dir / "bernoulli_relu.safetensors";
  // Defect 5: a step counter at INT64_MAX.
  edited_copy(base, dir / "issue10_steps_at_int64_max.safetensors", [](vae::SafetensorsFile& f) {
    f.metadata["libvae.steps"] = std::to_string(std::numeric_limits<int64_t>::max());
  });
  // Defect 6: a seed beyond int64.
  edited_copy(base, dir / "issue10_seed_1e300.safetensors",
              [](vae::SafetensorsFile& f) { f.metadata["VAE_OPT_SEED"] = "1e300"; });
  // Defect 7: a NaN weight, a negative second moment.
  edited_copy(base, dir / "issue10_nan_weight.safetensors", [](vae::SafetensorsFile& f) {
    f.tensors.at("encoder.0.weight").data[1] = std::numeric_limits<float>::quiet_NaN();
  });
  edited_copy(base, dir / "issue10_negative_second_moment.safetensors", [](vae::SafetensorsFile& f) {
    f.tensors.at("optimizer.exp_avg_sq.decoder.1.bias").data[0] = -1.0f;
  });
  // Defect 4: metadata describing a model far larger than the file.
  edited_copy(base, dir / "issue10_huge_model_small_file.safetensors", [](vae::SafetensorsFile& f) {
    f.metadata["VAE_OPT_INPUT_DIM"] = "20000";
    f.metadata["hidden_layers"] = "20000";
  });
}

// ---- data files ----

void write_gzip(const fs::path& path, const Bytes& bytes) {
  gzFile out = gzopen(path.c_str(), "wb9");
  require(out != nullptr, "gzopen " + path.string());
  require(gzwrite(out, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()),
          "gzwrite " + path.string());
  require(gzclose(out) == Z_OK, "gzclose " + path.string());
}

Bytes pattern(std::size_t count, unsigned seed) {
  Bytes b(count);
  for (auto& v : b) {
    seed = seed * 1103515245u + 12345u;
    v = static_cast<std::uint8_t>(seed >> 16);
  }
  return b;
}

Bytes idx(const std::vector<std::uint32_t>& dims, unsigned seed) {
  Bytes b{0, 0, 0x08, static_cast<std::uint8_t>(dims.size())};
  std::size_t count = 1;
  for (const std::uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<std::uint8_t>(d >> shift));
    count *= d;
  }
  const Bytes values = pattern(count, seed);
  b.insert(b.end(), values.begin(), values.end());
  return b;
}

void write_idx_files(const fs::path& dir) {
  vae_fuzz::write_bytes(dir / "images_3x4x5.idx", idx({3, 4, 5}, 1));
  vae_fuzz::write_bytes(dir / "labels_6.idx", idx({6}, 2));
  vae_fuzz::write_bytes(dir / "cube_2x2x2x2.idx", idx({2, 2, 2, 2}, 3));
  write_gzip(dir / "images_2x3x3.idx.gz", idx({2, 3, 3}, 4));
}

// A .npy file of `version` (1, 2 or 3) with the header padded to 64 bytes.
Bytes npy(int version, const std::string& descr, const std::string& shape, const Bytes& data) {
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  const std::size_t preamble = version == 1 ? 10 : 12;
  while ((preamble + header.size() + 1) % 64 != 0) header.push_back(' ');
  header.push_back('\n');
  Bytes b{0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<std::uint8_t>(version), 0};
  for (std::size_t i = 0; i < preamble - 8; ++i) b.push_back(static_cast<std::uint8_t>(header.size() >> (8 * i)));
  b.insert(b.end(), header.begin(), header.end());
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

Bytes float_data(std::size_t count, unsigned seed) {
  Bytes b;
  for (std::size_t i = 0; i < count; ++i) {
    seed = seed * 1103515245u + 12345u;
    const float v = static_cast<float>((seed >> 8) % 1000) / 999.0f;
    const auto* p = reinterpret_cast<const std::uint8_t*>(&v);
    b.insert(b.end(), p, p + sizeof v);
  }
  return b;
}

void write_npy_files(const fs::path& dir) {
  vae_fuzz::write_bytes(dir / "u1_2x6.npy", npy(1, "|u1", "(2, 6)", pattern(12, 5)));
  vae_fuzz::write_bytes(dir / "f4_3x4.npy", npy(1, "<f4", "(3, 4)", float_data(12, 6)));
  vae_fuzz::write_bytes(dir / "u1_2x2x3_v2.npy", npy(2, "<u1", "(2, 2, 3)", pattern(12, 7)));
  vae_fuzz::write_bytes(dir / "f4_5_v3.npy", npy(3, "<f4", "(5,)", float_data(5, 8)));
  write_gzip(dir / "f4_2x3.npy.gz", npy(1, "<f4", "(2, 3)", float_data(6, 9)));
}

// ---- C-API programs ----

ProgramWriter program(const TrainerChoices& c) {
  ProgramWriter w;
  w.trainer(c).config_calls(0);
  return w;
}

void write_programs(const fs::path& dir) {
  TrainerChoices bernoulli;
  bernoulli.hidden = {4};
  bernoulli.max_batch = 3;
  ProgramWriter train = program(bernoulli);
  for (std::uint8_t seed = 1; seed <= 3; ++seed) train.op(Op::kTrainStep).rows(3).floats(seed, 0).no_nulls();
  train.op(Op::kEvaluate).rows(7).floats(4, 0).no_nulls();
  train.op(Op::kLogLikelihood).rows(2).floats(5, 1).byte(1).byte(2).no_nulls();  // k 2, importance
  train.op(Op::kSave).byte(0);
  train.op(Op::kLoad).byte(2).byte(0).no_nulls();  // CPU backend, keep it
  train.op(Op::kTrainStep).rows(2).floats(6, 0).no_nulls();
  train.op(Op::kSample).rows(4).no_nulls();
  train.op(Op::kEncode).rows(5).floats(7, 1).no_nulls();
  train.op(Op::kDecode).rows(3).floats(8, 2).no_nulls();
  train.op(Op::kGetParameters).byte(2).no_nulls();
  vae_fuzz::write_bytes(dir / "train_save_load", train.bytes());

  TrainerChoices gaussian;
  gaussian.input_dim = 5;
  gaussian.hidden = {3, 2};
  gaussian.likelihood = VAE_LIKELIHOOD_GAUSSIAN;
  gaussian.variance = VAE_VARIANCE_LEARNED_PER_DIM;
  gaussian.samples = 2;
  gaussian.threads = 2;
  ProgramWriter epochs = program(gaussian);
  epochs.op(Op::kDatasetCreate).rows(7).floats(1, 1).no_nulls();
  epochs.op(Op::kDatasetCreateBytes).rows(5).byte_data(2).byte(3).no_nulls();  // dequantize
  epochs.op(Op::kSetProgress).byte(0).byte(0);  // on, never interrupting
  epochs.op(Op::kTrainEpoch).byte(0).rows(2).no_nulls();
  epochs.op(Op::kTrainEpoch).byte(1).rows(3).no_nulls();
  epochs.op(Op::kEvaluateDataset).byte(1).no_nulls();
  epochs.op(Op::kLogLikelihoodDataset).byte(0).byte(2).byte(1).no_nulls();  // k 3, prior
  epochs.op(Op::kDatasetSize).byte(0).no_nulls();
  epochs.op(Op::kDatasetDestroy).byte(0);
  epochs.op(Op::kSetFloat).option(VAE_OPT_KL_WEIGHT).double_value(0.5);
  epochs.op(Op::kTrainEpoch).byte(0).rows(1).no_nulls();
  vae_fuzz::write_bytes(dir / "datasets_and_epochs", epochs.bytes());

  // A cosine schedule after a warm-up, gradients clipped, the norm and the
  // next rate read, a round trip through a checkpoint, and a schedule
  // refused for want of decay steps.
  ProgramWriter controls = program(bernoulli);
  controls.op(Op::kSetInt).option(VAE_OPT_DECAY_STEPS).int_value(4);
  controls.op(Op::kSetInt).option(VAE_OPT_LR_SCHEDULE).int_value(VAE_SCHEDULE_COSINE);
  controls.op(Op::kSetInt).option(VAE_OPT_WARMUP_STEPS).int_value(2);
  controls.op(Op::kSetFloat).option(VAE_OPT_FINAL_LEARNING_RATE).double_value(1e-5);
  controls.op(Op::kSetFloat).option(VAE_OPT_CLIP_NORM).double_value(0.1);
  for (std::uint8_t seed = 1; seed <= 3; ++seed) {
    controls.op(Op::kTrainStep).rows(3).floats(seed, 0).no_nulls();
  }
  controls.op(Op::kGetFloat).option(VAE_OPT_GRAD_NORM);
  controls.op(Op::kGetFloat).option(VAE_OPT_NEXT_LEARNING_RATE);
  controls.op(Op::kSave).byte(0);
  controls.op(Op::kLoad).byte(2).byte(0).no_nulls();
  controls.op(Op::kSetInt).option(VAE_OPT_DECAY_STEPS).int_value(0);
  controls.op(Op::kTrainStep).rows(2).floats(4, 0).no_nulls();
  vae_fuzz::write_bytes(dir / "schedule_and_clipping", controls.bytes());

  // A conditional model (two classes): steps, every evaluation call and a
  // dataset's labels, then its float conditions, each with epochs; calls
  // without conditions, a label of no class and rows without conditions
  // refused; a round trip through a checkpoint, and a step after it.
  TrainerChoices conditional = bernoulli;
  conditional.condition_dim = 2;
  ProgramWriter classes = program(conditional);
  for (std::uint8_t seed = 1; seed <= 3; ++seed) {
    classes.op(Op::kTrainStepRows).rows_argument(3, true, seed).no_nulls();
  }
  classes.op(Op::kEvaluateRows).rows_argument(7, true, 4).no_nulls();
  classes.op(Op::kLogLikelihoodRows).rows_argument(2, true, 5).byte(1).byte(2).no_nulls();
  classes.op(Op::kEncodeRows).rows_argument(5, true, 6).no_nulls();
  classes.op(Op::kDecodeRows).rows_argument(3, true, 7).no_nulls();
  classes.op(Op::kSampleRows).rows_argument(4, false, 8).byte(1).no_nulls();  // no data
  // k 2, importance sampling, not adaptive, target 0; the outputs' size, ess.
  classes.op(Op::kLogLikelihoodStatsRows).rows_argument(2, true, 9);
  classes.byte(1).byte(1).byte(2).byte(0).byte(0).double_value(0.0).no_nulls().byte(1).byte(1);
  // 2 steps of 1 sample, ELBOs of 2; the outputs' size, the ELBO before.
  classes.op(Op::kRefinePosteriorRows).rows_argument(2, true, 10);
  classes.byte(1).byte(2).byte(0).byte(1).byte(1).no_nulls().byte(1).byte(1);
  classes.op(Op::kDatasetCreate).rows(7).floats(1, 0).no_nulls();
  // Dataset 0, its size, this trainer; labels below C from a seed.
  classes.op(Op::kDatasetSetLabels).byte(0).byte(0).byte(1).byte_data(2).byte(0).byte(0).no_nulls();
  classes.op(Op::kTrainEpoch).byte(0).rows(2).no_nulls();
  classes.op(Op::kEvaluateDataset).byte(0).no_nulls();
  classes.op(Op::kDatasetSetConditions).byte(0).byte(0).byte(1).floats(3, 1).no_nulls();
  classes.op(Op::kTrainEpoch).byte(0).rows(3).no_nulls();
  // The usage's size, no threshold, 4 rows of 2 samples for the information.
  classes.op(Op::kLatentUsage).byte(0).byte(1).byte(1).byte(1).byte(3).byte(1).byte(1).no_nulls();
  classes.byte(1);
  classes.op(Op::kTrainStep).rows(2).floats(4, 0).no_nulls();
  classes.op(Op::kDatasetSetLabels).byte(0).byte(0).byte(1).byte_data(5).byte(2).byte(3).no_nulls();
  classes.op(Op::kTrainStepRows).rows_argument(2, true, 6, false).no_nulls();
  classes.op(Op::kSave).byte(0);
  classes.op(Op::kLoad).byte(2).byte(0).no_nulls();  // CPU backend, keep it
  classes.op(Op::kTrainStepRows).rows_argument(3, true, 7).no_nulls();
  vae_fuzz::write_bytes(dir / "conditional_model", classes.bytes());

  // The _rows calls of a model without conditions, which are their
  // namesakes: conditions refused, for rows and for a dataset.
  ProgramWriter plain = program(bernoulli);
  plain.op(Op::kTrainStepRows).rows_argument(3, true, 1, false).no_nulls();
  plain.op(Op::kEncodeRows).rows_argument(4, true, 2, false).no_nulls();
  plain.op(Op::kDecodeRows).rows_argument(4, true, 3, false).no_nulls();
  plain.op(Op::kSampleRows).rows_argument(2, false, 4, false).byte(1).no_nulls();
  plain.op(Op::kEvaluateRows).rows_argument(2, true, 5).no_nulls();
  plain.op(Op::kDatasetCreate).rows(4).floats(6, 0).no_nulls();
  plain.op(Op::kDatasetSetLabels).byte(0).byte(0).byte(1).byte_data(7).byte(0).byte(0).no_nulls();
  vae_fuzz::write_bytes(dir / "rows_without_conditions", plain.bytes());

  ProgramWriter refused = program(bernoulli);
  refused.op(Op::kTrainStep).rows(2).poisoned_floats(3, 1, 0).no_nulls();  // NaN input
  refused.op(Op::kSetFloat).option(VAE_OPT_LEARNING_RATE).double_value(std::nan(""));
  refused.op(Op::kSetInt).option(VAE_OPT_INPUT_DIM).int_value(5);
  refused.op(Op::kSetInt).option(VAE_OPT_STEPS).int_value(0);
  refused.op(Op::kSetParameters).byte(2).poisoned_floats(4, 0, 1).no_nulls();  // +inf
  refused.op(Op::kGetParameters).byte(0).no_nulls();                          // count - 2
  refused.op(Op::kSave).byte(1);                                              // missing directory
  refused.op(Op::kSave).byte(2);                                              // over a directory
  refused.op(Op::kLoadDamaged).byte(0).byte(0).byte(40).byte(0);              // truncated
  refused.op(Op::kLoadDamaged).byte(1).byte(1).byte(200).byte(8);             // a bit flipped
  refused.op(Op::kForeignDataset).byte(1).floats(1, 0);
  refused.op(Op::kTrainEpoch).byte(0).rows(1).no_nulls();
  refused.op(Op::kEvaluate).rows(2).floats(2, 0).byte(224 + 1);  // x NULL
  refused.op(Op::kStatusString).int_value(3);
  vae_fuzz::write_bytes(dir / "refused_calls", refused.bytes());

  // vae_interrupt from the progress callback after the second step of four,
  // and with no epoch running.
  ProgramWriter interrupted = program(bernoulli);
  interrupted.op(Op::kDatasetCreate).rows(7).floats(1, 0).no_nulls();
  interrupted.op(Op::kSetProgress).byte(0).byte(2);
  interrupted.op(Op::kTrainEpoch).byte(0).rows(2).no_nulls();  // interrupted: 2 steps taken
  interrupted.op(Op::kSetProgress).byte(1);                   // off
  interrupted.op(Op::kInterrupt).no_nulls();
  interrupted.op(Op::kTrainEpoch).byte(0).rows(2).no_nulls();  // runs whole
  interrupted.op(Op::kEvaluateDataset).byte(0).no_nulls();
  vae_fuzz::write_bytes(dir / "interrupted_epoch", interrupted.bytes());

  // Steps shared through an allreduce hook (vae_set_allreduce): one that
  // sums (one rank), one that fails with VAE_ERROR_IO and a message, one
  // that doubles as two alike ranks would (world size 2, rank 1), none.
  ProgramWriter shared = program(bernoulli);
  shared.op(Op::kDatasetCreate).rows(7).floats(1, 0).no_nulls();
  shared.op(Op::kSetAllreduce).byte(0).byte(0).byte(0).byte(0).byte(0).byte(0).no_nulls();
  shared.op(Op::kTrainStep).rows(3).floats(2, 0).no_nulls();
  shared.op(Op::kTrainEpoch).byte(0).rows(2).no_nulls();
  shared.op(Op::kSetAllreduce).byte(2).byte(3).byte(1).byte(0).byte(0).byte(0).no_nulls();
  shared.op(Op::kTrainStep).rows(3).floats(3, 0).no_nulls();
  shared.op(Op::kTrainEpoch).byte(0).rows(2).no_nulls();
  shared.op(Op::kSetInt).option(VAE_OPT_WORLD_SIZE).int_value(2);
  shared.op(Op::kSetInt).option(VAE_OPT_RANK).int_value(1);
  shared.op(Op::kSetAllreduce).byte(1).byte(0).byte(0).byte(0).byte(0).byte(0).no_nulls();
  shared.op(Op::kTrainStep).rows(3).floats(4, 0).no_nulls();
  shared.op(Op::kSetInt).option(VAE_OPT_RANK).int_value(0);
  shared.op(Op::kSetInt).option(VAE_OPT_WORLD_SIZE).int_value(1);
  shared.op(Op::kSetAllreduce).byte(5).byte(0).byte(0).byte(0).byte(0).byte(0).no_nulls();
  shared.op(Op::kTrainStep).rows(3).floats(5, 0).no_nulls();
  vae_fuzz::write_bytes(dir / "shared_steps", shared.bytes());

  // Issue 10, defect 1: the thread count changed after a step at 2 threads.
  TrainerChoices threaded = bernoulli;
  threaded.threads = 2;
  threaded.max_batch = 40;
  ProgramWriter threads = program(threaded);
  threads.op(Op::kTrainStep).rows(40).floats(1, 0).no_nulls();
  threads.op(Op::kSetInt).option(VAE_OPT_THREADS).int_value(3);
  threads.op(Op::kTrainStep).rows(40).floats(2, 0).no_nulls();
  vae_fuzz::write_bytes(dir / "issue10_threads_change", threads.bytes());

  // Defect 6: an integer option set from 1e30, on a configuration and live.
  ProgramWriter huge;
  huge.trainer(bernoulli).config_calls(1).config_set_float(VAE_OPT_INPUT_DIM, 1e30);
  huge.op(Op::kSetFloat).option(VAE_OPT_OBJECTIVE).double_value(1e30);
  vae_fuzz::write_bytes(dir / "issue10_integer_option_1e30", huge.bytes());

  // Defect 10: vae_status_string of a value outside the enum.
  ProgramWriter status = program(bernoulli);
  status.op(Op::kStatusString).int_value(99);
  vae_fuzz::write_bytes(dir / "issue10_status_string_99", status.bytes());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus directory>\n", argv[0]);
    return 2;
  }
  const fs::path root = argv[1];
  const std::pair<const char*, void (*)(const fs::path&)> corpora[] = {
      {"checkpoint_load", write_checkpoints}, {"idx_reader", write_idx_files},
      {"npy_reader", write_npy_files}, {"api_calls", write_programs}};
  for (const auto& [name, write] : corpora) {
    fs::create_directories(root / name);
    write(root / name);
  }
  return 0;
}
