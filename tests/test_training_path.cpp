// The training path of every registered backend (train_batch, eval_batch, sums, non-finite
// record) against the reference backend's, on MNIST training images
// (validation/training_checks.h). Built twice like the backend matrix: for the host's devices
// (label cpu) and, with VAE_TEST_DEVICE="cuda", for the GPU (label gpu), where each test
// skips with the backend's reason when it cannot run here. Then the check itself must catch
// a backend that gets the training path wrong.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "mnist_data.h"
#include "sanitizer_tier.h"
#include "backend/registry.h"
#include "registered_backends.h"
#include "common/device_names.h"
#include "training_checks.h"

#ifndef VAE_TEST_DEVICE
#define VAE_TEST_DEVICE "cpu"
#define VAE_TEST_PREFIX Cpu
#endif

namespace vae {
namespace {

using testing::mnist;

struct TrainingEntry {
  std::string backend, device, precision;
  TrainingCase tcase;
};

void PrintTo(const TrainingEntry& e, std::ostream* os) {
  *os << e.backend << "/" << e.device << "/" << e.precision << "/" << e.tcase.name;
}


// Every registered backend (the reference is the judge) on every device of this binary, in
// every precision it offers there, on every training case.
std::vector<TrainingEntry> entries() {
  std::vector<TrainingEntry> out;
  for (const BackendInfo& info : registered_backends()) {
    if (info.name == "reference") continue;
    for (const std::string& device : info.devices) {
      if (!testing::covered_by(VAE_TEST_DEVICE, device)) continue;
      for (const std::string& precision : precisions_on(info, device))
        for (const TrainingCase& c : training_cases()) out.push_back({info.name, device, precision, c});
    }
  }
  return out;
}

// The sanitizer tier (sanitizer_tier.h): fused-cuda's convolutional training path once, in
// fp32 on conv-bn-scaled (batch norm's running statistics on the device); conv-odd and tf32
// took 54-72 s each under ASan, and the conv kernels' own tests run every geometry, the
// Gaussian epilogue and v4 (tf32) there. bf16 once per backend (see below): its code path is
// the precision scope (LibTorch) or the v6/v5 kernels, which the kernel tests cover.
std::string release_only(const TrainingEntry& e) {
  // bf16 (autocast, or the executor's v6/v5) once per backend on an MLP, and LibTorch's
  // autocast once on a convolutional model with batch norm.
  if (e.precision == "bf16" && e.tcase.name != "train-dynamic-warmup" &&
      !(e.device == "cpu" && e.tcase.name == "train-conv-bn-scaled"))
    return "bf16 beyond train-dynamic-warmup (and, on the CPU, train-conv-bn-scaled)";
  if (e.device != "cuda-emu" || e.tcase.config.is_mlp()) return "";
  if (e.precision == "fp32" && e.tcase.config.model == "conv-bn") return "";
  return "fused-cuda on the CPU executor, convolutional, other than fp32 conv-bn";
}

const testing::TierSplit<TrainingEntry>& tiered_entries() {
  static const testing::TierSplit<TrainingEntry> s = testing::split_by_tier(entries(), release_only);
  return s;
}

class TrainingPath : public ::testing::TestWithParam<TrainingEntry> {};

TEST_P(TrainingPath, FollowsTheReferenceBackend) {
  const TrainingEntry& e = GetParam();
  if (const std::string why = testing::unusable_reason(e.backend, e.device); !why.empty()) GTEST_SKIP() << why;
  if (const std::string why = testing::unsupported_reason(e.backend, e.tcase.config); !why.empty())
    GTEST_SKIP() << "not supported for this model: " << why;
  const std::unique_ptr<Backend> backend = create_backend(e.backend, e.tcase.config, e.device, e.precision);
  const CaseResult r = check_training_path(*backend, e.tcase, mnist().train);
  ASSERT_GT(r.comparisons.size(), 10u);
  for (const Comparison& cmp : r.comparisons)
    EXPECT_TRUE(cmp.passed) << cmp.quantity << ": norm rel " << cmp.norm_rel << ", " << cmp.percent_of_tolerance
                            << "% of " << cmp.tolerance_name << (cmp.note.empty() ? "" : " (" + cmp.note + ")");
  EXPECT_TRUE(r.passed);
}

INSTANTIATE_TEST_SUITE_P(VAE_TEST_PREFIX, TrainingPath, ::testing::ValuesIn(tiered_entries().run), [](const auto& info) {
  const TrainingEntry& e = info.param;
  std::string s = e.backend + (e.device == "cpu" || e.device == "cuda" ? "" : "_" + e.device) + "_" + e.precision +
                  "_" + e.tcase.name;
  for (char& ch : s)
    if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s;
});

VAE_TIER_REPORT_TEST(TrainingPathTier, tiered_entries())

// --- a second set_train_data --------------------------------------------------------------
// Every registered backend on this binary's devices, in one precision (fp32 where offered).
std::vector<testing::BackendEntry> one_precision_here() {
  std::vector<testing::BackendEntry> out;
  for (const BackendInfo& info : registered_backends())
    for (const std::string& device : info.devices) {
      if (!testing::covered_by(VAE_TEST_DEVICE, device)) continue;
      const bool fp32 = std::find(info.precisions.begin(), info.precisions.end(), "fp32") != info.precisions.end();
      out.push_back({info.name, device, fp32 ? "fp32" : info.precisions.front()});
    }
  return out;
}

class NewTrainData : public ::testing::TestWithParam<testing::BackendEntry> {};

// A backend that keeps the split on its device, and steps that read it (a captured graph),
// must read the split of the latest set_train_data: a graph still pointing at the old tensor
// replays on freed memory, with no error. The first split is the smaller one (the test
// images), so the second cannot be allocated where the first was and stale reads show.
TEST_P(NewTrainData, StepsAfterASecondSetTrainDataReadTheNewSplit) {
  const testing::BackendEntry& e = GetParam();
  if (const std::string why = testing::unusable_reason(e.name, e.device); !why.empty()) GTEST_SKIP() << why;
  VaeConfig c;
  c.encoder_hidden = {32};
  c.latent = 4;
  const std::vector<double> p0 = init_params(c, ParamLayout(c));
  std::vector<size_t> idx;
  for (size_t i = 0; i < 16; ++i) idx.push_back((i * 613) % mnist().test.count);  // valid in both splits
  StepOptions o;
  o.noise_seed = 3;
  const auto steps_on = [&](Backend& b, const Split& split) {
    b.set_params(p0);  // and fresh Adam state
    b.set_train_data(split, Binarize::None, 0);
    for (int s = 0; s < 3; ++s) b.train_batch(idx, 0, o);
    b.take_train_sums();
    return b.params();
  };
  const std::unique_ptr<Backend> reused = create_backend(e.name, c, e.device, e.precision);
  const std::vector<double> on_first = steps_on(*reused, mnist().test);
  const std::vector<double> on_second = steps_on(*reused, mnist().train);
  const std::unique_ptr<Backend> fresh = create_backend(e.name, c, e.device, e.precision);
  const std::vector<double> expected = steps_on(*fresh, mnist().train);
  ASSERT_EQ(on_second.size(), expected.size());
  double moved = 0, off = 0;  // how far the first split's result is from the second's, and the reused backend's
  for (size_t i = 0; i < expected.size(); ++i) {
    moved = std::max(moved, std::abs(on_first[i] - expected[i]));
    off = std::max(off, std::abs(on_second[i] - expected[i]));
  }
  ASSERT_GT(moved, 0.0) << "the two splits give the same parameters: the test could not see stale reads";
  EXPECT_LE(off, 1e-3 * moved) << "after a second set_train_data the steps differ from a fresh backend's on that "
                                  "split by " << off << " (the two splits' results differ by " << moved << ")";
}

INSTANTIATE_TEST_SUITE_P(VAE_TEST_PREFIX, NewTrainData, ::testing::ValuesIn(one_precision_here()),
                         [](const auto& info) { return testing::test_name(info.param); });

#if !defined(VAE_TEST_PREFIX_GPU)
// --- the check must be able to fail ------------------------------------------------------
// A reference backend with one training-path mistake. The validation path is untouched, so
// only the training-path check can see it.
enum class Mistake { IgnoresKlWeight, NoiseOfAnotherSeed, SameBinarizationEveryEpoch, SumsMissTheLastImage };

class FlawedBackend final : public Backend {
 public:
  FlawedBackend(const VaeConfig& c, Mistake m) : Backend(c), inner_(create_backend("reference", c, "cpu", "fp64")), m_(m) {}
  std::string name() const override { return "flawed-reference"; }
  std::string device() const override { return "cpu"; }
  std::string precision() const override { return "fp64"; }

 private:
  void set_params_impl(const std::vector<double>& p) override { inner_->set_params(p); }
  std::vector<double> params_impl() const override { return inner_->params(); }
  AdamState adam_state_impl() const override { return inner_->adam_state(); }
  void set_adam_state_impl(const AdamState& s) override { inner_->set_adam_state(s); }
  BatchLosses evaluate_impl(const std::vector<double>& x, int b, const std::vector<double>& eps) override {
    return inner_->evaluate(x, b, eps);
  }
  BatchLosses gradients_impl(const std::vector<double>& x, int b, const std::vector<double>& eps,
                             std::vector<double>& g) override {
    return inner_->gradients(x, b, eps, g);
  }
  BatchLosses train_step_impl(const std::vector<double>& x, int b, const std::vector<double>& eps,
                              const AdamOptions& a) override {
    return inner_->train_step(x, b, eps, a);
  }
  std::vector<double> last_gradient_impl() const override { return inner_->last_gradient(); }
  void set_train_data_impl() override { inner_->set_train_data(train_split(), train_binarize(), train_binarize_seed()); }
  void train_batch_impl(const std::vector<size_t>& indices, uint64_t epoch, const StepOptions& o) override {
    StepOptions flawed = o;
    if (m_ == Mistake::IgnoresKlWeight) flawed.kl_weight = 1.0;
    if (m_ == Mistake::NoiseOfAnotherSeed) flawed.noise_seed = o.noise_seed + 1;
    inner_->train_batch(indices, m_ == Mistake::SameBinarizationEveryEpoch ? 0 : epoch, flawed);
    if (m_ == Mistake::SumsMissTheLastImage) {
      TrainSums s = inner_->take_train_sums();
      s.images -= 1;
      pending_ = s;
    }
  }
  TrainSums take_train_sums_impl() override {
    if (pending_) return *std::exchange(pending_, std::nullopt);
    return inner_->take_train_sums();
  }
  std::optional<NonFinite> first_nonfinite_impl() override { return inner_->first_nonfinite(); }
  void eval_batch_impl(const std::vector<size_t>& indices, uint64_t epoch, uint64_t seed) override {
    inner_->eval_batch(indices, epoch, seed);
  }

  std::unique_ptr<Backend> inner_;
  Mistake m_;
  std::optional<TrainSums> pending_;
};

TrainingCase case_named(const std::string& name) {
  for (const TrainingCase& c : training_cases())
    if (c.name == name) return c;
  throw std::runtime_error("no training case " + name);
}

bool passes(Mistake m, const std::string& case_name, std::string* failing = nullptr) {
  const TrainingCase c = case_named(case_name);
  FlawedBackend b(c.config, m);
  const CaseResult r = check_training_path(b, c, mnist().train);
  if (failing)
    for (const Comparison& cmp : r.comparisons)
      if (!cmp.passed) *failing += cmp.quantity + "; ";
  return r.passed;
}

TEST(TrainingPathCheck, CatchesATrainingPathThatIgnoresTheKlWeight) {
  std::string failing;
  EXPECT_FALSE(passes(Mistake::IgnoresKlWeight, "train-dynamic-warmup", &failing));
  EXPECT_NE(failing.find("train.loss"), std::string::npos) << failing;
}

TEST(TrainingPathCheck, CatchesNoiseThatIsNotTheCounterRngsForTheStep) {
  std::string failing;
  EXPECT_FALSE(passes(Mistake::NoiseOfAnotherSeed, "train-batch1-scaled", &failing));
  EXPECT_NE(failing.find("train.recon"), std::string::npos) << failing;
}

TEST(TrainingPathCheck, CatchesADynamicBinarizationThatIgnoresTheEpoch) {
  std::string failing;
  EXPECT_FALSE(passes(Mistake::SameBinarizationEveryEpoch, "train-dynamic-warmup", &failing));
  EXPECT_NE(failing.find("train.recon"), std::string::npos) << failing;
}

TEST(TrainingPathCheck, CatchesSumsThatMissAnImage) {
  std::string failing;
  EXPECT_FALSE(passes(Mistake::SumsMissTheLastImage, "train-batch1-scaled", &failing));
  EXPECT_NE(failing.find("train.images"), std::string::npos) << failing;
}

TEST(TrainingPathCheck, PassesTheReferenceBackendItself) {
  const TrainingCase c = case_named("train-tanh-gaussian-k3-static");
  const std::unique_ptr<Backend> b = create_backend("reference", c.config, "cpu", "fp64");
  EXPECT_TRUE(check_training_path(*b, c, mnist().train).passed);
}
#endif

}  // namespace
}  // namespace vae
