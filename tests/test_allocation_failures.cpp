// Allocation-failure injection, as SQLite does it: a scenario of create ->
// train -> evaluate -> save -> load -> train -> evaluate is run once to count
// its allocations, then once per allocation with that one failing, alone or
// with every later one of its call. Each time the call that met the failure
// returns VAE_ERROR_OUT_OF_MEMORY saying so, leaves its trainer (parameters
// and counters), its output pointer and the old checkpoint file as they
// were, and leaks nothing; the call then succeeds when repeated, and the
// scenario ends exactly as the run without a failure did. Calls that fail
// for other reasons are put through the same, and vae_load is shown to
// refuse a small file that promises a large model without allocating it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "failing_allocator.h"
#include "safetensors.h"
#include "test_support.h"
#include "vae/vae.h"

namespace {

namespace fs = std::filesystem;
using vae::testing::AllocationWatch;
using vae::testing::FailingAllocator;

using vae::testing::read_file;
using vae::testing::write_file;

constexpr int64_t kDim = 8;
constexpr int64_t kBatch = 4;

std::vector<std::string> directory_entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

// What a failed call must leave as it was.
struct TrainerState {
  std::vector<float> parameters;
  int64_t steps = 0;
  int64_t epochs = 0;
  bool operator==(const TrainerState& o) const {
    return parameters == o.parameters && steps == o.steps && epochs == o.epochs;
  }
};

TrainerState observe(const vae_trainer* t) {
  TrainerState s;
  int64_t count = 0;
  EXPECT_EQ(vae_parameter_count(t, &count), VAE_OK);
  s.parameters.resize(static_cast<size_t>(count));
  EXPECT_EQ(vae_get_parameters(t, s.parameters.data(), count), VAE_OK);
  EXPECT_EQ(vae_get_int(t, VAE_OPT_STEPS, &s.steps), VAE_OK);
  EXPECT_EQ(vae_get_int(t, VAE_OPT_EPOCHS, &s.epochs), VAE_OK);
  return s;
}

// The handles and buffers of one run of the scenario.
struct Handles {
  explicit Handles(fs::path checkpoint_path) : checkpoint(std::move(checkpoint_path)) {}
  ~Handles() {
    vae_destroy(loaded);
    vae_destroy(trainer);
    vae_config_destroy(config);
  }
  Handles(const Handles&) = delete;
  Handles& operator=(const Handles&) = delete;

  fs::path checkpoint;
  std::vector<float> x = vae::testing::binary(kBatch * kDim, 5);
  vae_config* config = nullptr;
  vae_trainer* trainer = nullptr;
  vae_trainer* loaded = nullptr;
  std::vector<float> elbo = std::vector<float>(kBatch);
  std::vector<float> reconstruction = std::vector<float>(kBatch);
  std::vector<float> kl = std::vector<float>(kBatch);
};

// One C API call of the scenario. A call that changes a trainer names it; a
// call that creates a handle names where it goes, which must stay null when
// it fails.
struct Step {
  const char* name;
  std::function<vae_status(Handles&)> call;
  vae_trainer* Handles::*changes = nullptr;
  vae_trainer* Handles::*creates = nullptr;
  bool saves = false;
};

std::vector<Step> scenario() {
  const int32_t widths[] = {6};
  return {
      {"vae_config_create", [](Handles& r) { return vae_config_create(&r.config); }},
      {"vae_config_set_int", [](Handles& r) {
         const int64_t options[][2] = {{VAE_OPT_INPUT_DIM, kDim}, {VAE_OPT_LATENT_DIM, 2},
                                       {VAE_OPT_MAX_BATCH, kBatch}, {VAE_OPT_BACKEND, VAE_BACKEND_CPU},
                                       {VAE_OPT_THREADS, 1}};
         for (const auto& o : options) {
           const vae_status s = vae_config_set_int(r.config, static_cast<int>(o[0]), o[1]);
           if (s != VAE_OK) return s;
         }
         return VAE_OK;
       }},
      {"vae_config_set_hidden_layers",
       [widths](Handles& r) { return vae_config_set_hidden_layers(r.config, widths, 1); }},
      {"vae_create", [](Handles& r) { return vae_create(r.config, &r.trainer); }, nullptr, &Handles::trainer},
      {"vae_train_step 1", [](Handles& r) { return vae_train_step(r.trainer, r.x.data(), kBatch, nullptr); },
       &Handles::trainer},
      {"vae_train_step 2", [](Handles& r) {
         float loss = 0;
         return vae_train_step(r.trainer, r.x.data(), kBatch, &loss);
       }, &Handles::trainer},
      {"vae_evaluate", [](Handles& r) {
         return vae_evaluate(r.trainer, r.x.data(), kBatch, r.elbo.data(), r.reconstruction.data(),
                             r.kl.data());
       }, &Handles::trainer},
      {"vae_save", [](Handles& r) { return vae_save(r.trainer, r.checkpoint.c_str()); }, &Handles::trainer,
       nullptr, true},
      {"vae_load", [](Handles& r) { return vae_load(r.checkpoint.c_str(), VAE_BACKEND_CPU, &r.loaded); },
       nullptr, &Handles::loaded},
      {"vae_train_step after load",
       [](Handles& r) { return vae_train_step(r.loaded, r.x.data(), kBatch, nullptr); }, &Handles::loaded},
      {"vae_evaluate after load", [](Handles& r) {
         return vae_evaluate(r.loaded, r.x.data(), kBatch, r.elbo.data(), r.reconstruction.data(),
                             r.kl.data());
       }, &Handles::loaded},
  };
}

// How a run ended: the loaded trainer's state and its last evaluation.
struct Outcome {
  TrainerState loaded;
  std::vector<float> elbo, reconstruction, kl;
  bool operator==(const Outcome& o) const {
    return loaded == o.loaded && elbo == o.elbo && reconstruction == o.reconstruction && kl == o.kl;
  }
};

class AllocationFailures : public ::testing::Test {
 protected:
  void SetUp() override {
    checkpoint_ = dir_ / "model.safetensors";
    // The checkpoint the scenario's save overwrites: another model's.
    Handles old(checkpoint_);
    ASSERT_EQ(vae_config_create(&old.config), VAE_OK);
    ASSERT_EQ(vae_config_set_int(old.config, VAE_OPT_INPUT_DIM, 5), VAE_OK);
    ASSERT_EQ(vae_create(old.config, &old.trainer), VAE_OK);
    ASSERT_EQ(vae_save(old.trainer, checkpoint_.c_str()), VAE_OK);
    old_checkpoint_ = read_file(checkpoint_);
  }

  // Runs the scenario with the fail_at-th watched allocation failing (none
  // when 0), and with `persistent` every later one of the same call too,
  // checking each call as the file's comment says.
  void run(int64_t fail_at, bool persistent, Outcome* outcome) {
    write_file(checkpoint_, old_checkpoint_);
    FailingAllocator::reset(fail_at, persistent);
    Handles r(checkpoint_);
    for (const Step& step : scenario()) {
      SCOPED_TRACE(std::string(step.name) + ", allocation " + std::to_string(fail_at));
      const TrainerState before = step.changes ? observe(r.*step.changes) : TrainerState{};
      const bool failed_before = FailingAllocator::failed();
      vae_status s = VAE_OK;
      {
        const AllocationWatch watch;
        s = step.call(r);
      }
      if (s != VAE_OK) {
        FailingAllocator::disarm();
        ASSERT_TRUE(FailingAllocator::failed() && !failed_before) << vae_last_error();
        ASSERT_EQ(s, VAE_ERROR_OUT_OF_MEMORY) << vae_last_error();
        EXPECT_NE(std::strstr(vae_last_error(), "memory"), nullptr) << vae_last_error();
        if (step.changes) {
          EXPECT_TRUE(observe(r.*step.changes) == before);
        }
        if (step.creates) {
          EXPECT_EQ(r.*step.creates, nullptr);
        }
        if (step.saves) {
          EXPECT_TRUE(read_file(checkpoint_) == old_checkpoint_) << "a failed save changed the file";
          EXPECT_EQ(directory_entries(dir_), std::vector<std::string>{"model.safetensors"});
        }
        s = step.call(r);
      }
      ASSERT_EQ(s, VAE_OK) << vae_last_error();
    }
    outcome->loaded = observe(r.loaded);
    outcome->elbo = r.elbo;
    outcome->reconstruction = r.reconstruction;
    outcome->kl = r.kl;
  }

  void fail_each_allocation(bool persistent);

  const vae::testing::TestDirectory scratch_{"vae_allocation"};
  const fs::path dir_ = scratch_.path();
  fs::path checkpoint_;
  std::string old_checkpoint_;
};

// Fails each allocation of the scenario in turn, once or persistently.
void AllocationFailures::fail_each_allocation(bool persistent) {
  Outcome reference;
  ASSERT_NO_FATAL_FAILURE(run(0, false, &reference));
  const int64_t points = FailingAllocator::count();
  ASSERT_GT(points, 100);
  // This thread's error message keeps a buffer once a long message has been
  // held; make it hold one before counting the blocks alive.
  vae_trainer* absent = nullptr;
  ASSERT_EQ(vae_load((dir_ / std::string(200, 'x')).c_str(), VAE_BACKEND_CPU, &absent), VAE_ERROR_IO);
  const int64_t live = FailingAllocator::live_blocks();

  const auto start = std::chrono::steady_clock::now();
  for (int64_t n = 1; n <= points; ++n) {
    {
      Outcome outcome;
      ASSERT_NO_FATAL_FAILURE(run(n, persistent, &outcome));
      ASSERT_TRUE(FailingAllocator::failed()) << "allocation " << n << " of " << points << " never came";
      ASSERT_TRUE(outcome == reference) << "allocation " << n << ": the scenario ended differently";
    }
    ASSERT_EQ(FailingAllocator::live_blocks(), live) << "allocation " << n << ": blocks leaked";
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "[ injection ] " << points << " allocation points, each failed "
            << (persistent ? "with all after it in its call" : "once") << ", in " << seconds << " s\n";
  RecordProperty("allocation_points", static_cast<int>(points));

  // The count is exact: one past the last allocation never fails.
  Outcome past_the_end;
  ASSERT_NO_FATAL_FAILURE(run(points + 1, persistent, &past_the_end));
  EXPECT_FALSE(FailingAllocator::failed());
  EXPECT_TRUE(past_the_end == reference);
}

TEST_F(AllocationFailures, EachAllocationFailingOnce) { fail_each_allocation(false); }

// Memory that stays exhausted: the unwinding and the error report must not
// need any either.
TEST_F(AllocationFailures, EachAllocationFailingWithAllAfterIt) { fail_each_allocation(true); }

// A 5 KB checkpoint whose metadata describes a model of 2048 inputs and 2048
// hidden units (8.4 million parameters, 34 MB a buffer) while its tensors
// are a small model's: vae_load refuses it from the shapes before allocating
// anything of the size the metadata describes.
TEST_F(AllocationFailures, SmallFileClaimingALargeModelIsRefusedBeforeAllocatingIt) {
  Handles h(checkpoint_);
  ASSERT_EQ(vae_config_create(&h.config), VAE_OK);
  ASSERT_EQ(vae_config_set_int(h.config, VAE_OPT_INPUT_DIM, kDim), VAE_OK);
  ASSERT_EQ(vae_config_set_int(h.config, VAE_OPT_LATENT_DIM, 2), VAE_OK);
  ASSERT_EQ(vae_config_set_int(h.config, VAE_OPT_BACKEND, VAE_BACKEND_CPU), VAE_OK);
  const int32_t widths[] = {6};
  ASSERT_EQ(vae_config_set_hidden_layers(h.config, widths, 1), VAE_OK);
  ASSERT_EQ(vae_create(h.config, &h.trainer), VAE_OK);
  ASSERT_EQ(vae_save(h.trainer, checkpoint_.c_str()), VAE_OK);
  vae::SafetensorsFile file = vae::read_safetensors(checkpoint_);
  file.metadata["VAE_OPT_INPUT_DIM"] = "2048";
  file.metadata["hidden_layers"] = "2048";
  const fs::path claim = dir_ / "claim.safetensors";
  vae::write_safetensors(claim, file);
  ASSERT_LT(fs::file_size(claim), 8192u);

  FailingAllocator::reset(0);
  vae_status s = VAE_OK;
  {
    const AllocationWatch watch;
    s = vae_load(claim.c_str(), VAE_BACKEND_CPU, &h.loaded);
  }
  EXPECT_EQ(s, VAE_ERROR_FORMAT) << vae_last_error();
  EXPECT_NE(std::strstr(vae_last_error(), "wrong shape"), nullptr) << vae_last_error();
  EXPECT_EQ(h.loaded, nullptr);
  EXPECT_LT(FailingAllocator::largest(), std::size_t{1} << 20);
}

// How a call ended, and its message.
struct Result {
  vae_status status = VAE_OK;
  std::string message;
};

// Runs `call`, its allocations watched, on a thread of its own: the thread's
// error message starts empty, so storing the message allocates too.
Result in_new_thread(const std::function<vae_status()>& call) {
  Result r;
  std::thread thread([&] {
    {
      const AllocationWatch watch;
      r.status = call();
    }
    r.message = vae_last_error();
  });
  thread.join();
  return r;
}

// A call that fails for another reason, with an allocation failing on its
// way to the error (building and storing the message included), once or
// with all after it: it reports running out of memory instead, changes
// nothing and leaks nothing.
TEST_F(AllocationFailures, FailingCallsThatRunOutOfMemorySaySo) {
  Handles h(checkpoint_);
  ASSERT_EQ(vae_config_create(&h.config), VAE_OK);
  ASSERT_EQ(vae_config_set_int(h.config, VAE_OPT_INPUT_DIM, kDim), VAE_OK);
  ASSERT_EQ(vae_config_set_int(h.config, VAE_OPT_BACKEND, VAE_BACKEND_CPU), VAE_OK);
  ASSERT_EQ(vae_create(h.config, &h.trainer), VAE_OK);
  ASSERT_EQ(vae_save(h.trainer, checkpoint_.c_str()), VAE_OK);
  // One flipped bit in the last byte of the data section.
  std::string damaged = read_file(checkpoint_);
  damaged.back() = static_cast<char>(damaged.back() ^ 1);
  const fs::path damaged_path = dir_ / "damaged.safetensors";
  write_file(damaged_path, damaged);
  const std::string missing = (dir_ / "no_such_dir" / "model.safetensors").string();
  const TrainerState before = observe(h.trainer);

  struct Call {
    const char* name;
    vae_status status;  // without an allocation failure
    std::function<vae_status()> call;
  };
  const std::vector<Call> calls = {
      {"vae_config_set_int out of range", VAE_ERROR_INVALID_ARGUMENT,
       [&] { return vae_config_set_int(h.config, VAE_OPT_INPUT_DIM, 0); }},
      {"vae_train_step with no rows", VAE_ERROR_INVALID_ARGUMENT,
       [&] { return vae_train_step(h.trainer, h.x.data(), 0, nullptr); }},
      {"vae_save into a missing directory", VAE_ERROR_IO,
       [&] { return vae_save(h.trainer, missing.c_str()); }},
      {"vae_load of a missing file", VAE_ERROR_IO,
       [&] { return vae_load(missing.c_str(), VAE_BACKEND_CPU, &h.loaded); }},
      {"vae_load of a damaged file", VAE_ERROR_FORMAT,
       [&] { return vae_load(damaged_path.c_str(), VAE_BACKEND_CPU, &h.loaded); }},
  };
  for (const Call& c : calls) {
    SCOPED_TRACE(c.name);
    const int64_t live = FailingAllocator::live_blocks();
    FailingAllocator::reset(0);
    {
      const Result counted = in_new_thread(c.call);
      ASSERT_EQ(counted.status, c.status) << counted.message;
    }
    const int64_t points = FailingAllocator::count();
    ASSERT_GT(points, 0);
    for (const bool persistent : {false, true}) {
      for (int64_t n = 1; n <= points; ++n) {
        FailingAllocator::reset(n, persistent);
        const Result r = in_new_thread(c.call);
        ASSERT_TRUE(FailingAllocator::failed()) << "allocation " << n << " of " << points;
        ASSERT_EQ(r.status, VAE_ERROR_OUT_OF_MEMORY)
            << "allocation " << n << (persistent ? " and after" : "") << ": " << r.message;
        ASSERT_NE(r.message.find("memory"), std::string::npos) << r.message;
        ASSERT_EQ(h.loaded, nullptr);
      }
    }
    ASSERT_EQ(FailingAllocator::live_blocks(), live) << "blocks leaked";
    std::cout << "[ injection ] " << c.name << ": " << points << " allocation points\n";
  }
  EXPECT_TRUE(observe(h.trainer) == before);
  EXPECT_TRUE(read_file(damaged_path) == damaged);
}

}  // namespace
