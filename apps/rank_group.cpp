#include "rank_group.h"

#include <cstdlib>

namespace vae_app {
namespace {

class SingleProcess final : public RankGroup {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_size() const override { return 1; }
  void attach(vae_trainer*) override {}
  void wait_for_all() override {}
  int agree_on_stop(int signal_number) override { return signal_number; }
  bool leader_decides(bool decision) override { return decision; }
  [[noreturn]] void abort_all(int code) override { std::exit(code); }
};

}  // namespace

std::unique_ptr<RankGroup> single_process() { return std::make_unique<SingleProcess>(); }

}  // namespace vae_app
