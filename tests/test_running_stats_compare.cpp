// The running-statistics check (validation/running_stats_compare.h) passes the reference's own
// update and fp32-sized noise on it, and fails each way of getting nn.BatchNorm2d's update
// wrong: the biased variance, the momentum's complement, a count that did not move.
#include <gtest/gtest.h>

#include <cmath>

#include "backend/registry.h"
#include "cases.h"
#include "model/layers.h"
#include "common/counter_rng.h"
#include "model/noise.h"
#include "running_stats_compare.h"

namespace vae {
namespace {

struct Step {
  VaeConfig config = conv_model("conv-bn");
  int batch = 2;
  ParamLayout layout{config};
  std::vector<double> before, after;
  const BufferLayout& buffers() const { return layout.model().buffers(); }
};

// One reference training step on seeded images; the running statistics before and after.
Step reference_step() {
  Step s;
  const std::unique_ptr<Backend> ref = create_backend("reference", s.config, "cpu", "fp64");
  std::vector<double> x(size_t(s.batch) * size_t(s.config.input_dim));
  for (size_t i = 0; i < x.size(); ++i) x[i] = counter_uniform(11, 0, i);
  s.before = ref->running_stats();
  ref->train_step(x, s.batch, make_eps(5, 1, s.config.samples, s.batch, s.config.latent), AdamOptions{});
  s.after = ref->running_stats();
  return s;
}

// The judged rows for `got` against the reference's update.
std::vector<Comparison> judge(const Step& s, const std::vector<double>& got) {
  return compare_running_stats("running", s.buffers(), got, s.after, s.before,
                               tol::backend(tol::Quantity::RunningStats, "fp32"));
}

bool all_pass(const std::vector<Comparison>& rows) {
  for (const Comparison& c : rows)
    if (!c.passed) return false;
  return !rows.empty();
}

// Rewrites every running_var the step produced as `f(batch variance, n)` would have, where the
// batch's unbiased variance is recovered from the expected update.
template <typename F>
std::vector<double> with_variance(const Step& s, F f) {
  const BufferLayout& buffers = s.buffers();
  std::vector<double> got = s.after;
  for (const BufferView& v : buffers.views()) {
    if (v.name.find("running_var") == std::string::npos) continue;
    for (size_t i = v.offset; i < v.offset + v.size; ++i) {
      const double unbiased = (s.after[i] - (1 - kBatchNormMomentum) * s.before[i]) / kBatchNormMomentum;
      got[i] = f(s.before[i], unbiased);
    }
  }
  return got;
}

TEST(RunningStatsCompare, PassesTheUpdateAndFp32RoundingOfIt) {
  const Step s = reference_step();
  const std::vector<Comparison> same = judge(s, s.after);
  ASSERT_EQ(same.size(), 3u);  // conv-bn: enc.0, enc.1, dec.1
  EXPECT_EQ(same[0].quantity, "running.enc.0.bn");
  EXPECT_TRUE(all_pass(same));
  std::vector<double> rounded = s.after;
  for (double& v : rounded) v = double(float(v));
  EXPECT_TRUE(all_pass(judge(s, rounded)));
}

TEST(RunningStatsCompare, CatchesTheBiasedVariance) {
  const Step s = reference_step();
  // Encoder layer 0 of conv-bn at batch 2 averages n = 2*14*14 = 392 values per channel.
  const std::vector<double> biased = with_variance(s, [](double before, double unbiased) {
    return (1 - kBatchNormMomentum) * before + kBatchNormMomentum * unbiased * 391.0 / 392.0;
  });
  const std::vector<Comparison> rows = judge(s, biased);
  EXPECT_FALSE(rows[0].passed) << rows[0].percent_of_tolerance << "% of tolerance";
}

TEST(RunningStatsCompare, CatchesTheMomentumTheWrongWayRound) {
  const Step s = reference_step();
  const std::vector<double> swapped = with_variance(s, [](double before, double unbiased) {
    return kBatchNormMomentum * before + (1 - kBatchNormMomentum) * unbiased;
  });
  EXPECT_FALSE(all_pass(judge(s, swapped)));
}

TEST(RunningStatsCompare, CatchesAMeanOffByAShareOfTheSpread) {
  const Step s = reference_step();
  const BufferLayout& buffers = s.buffers();
  std::vector<double> got = s.after;
  const BufferView& mean = buffers.view("enc.1.bn.running_mean");
  got[mean.offset] += 1e-3 * std::abs(got[mean.offset]) + 1e-4;  // tiny against the variances' scale
  const std::vector<Comparison> rows = judge(s, got);
  EXPECT_TRUE(rows[0].passed);
  EXPECT_FALSE(rows[1].passed) << rows[1].percent_of_tolerance << "% of tolerance";
}

TEST(RunningStatsCompare, CatchesACountThatDidNotMove) {
  const Step s = reference_step();
  const BufferLayout& buffers = s.buffers();
  std::vector<double> got = s.after;
  got[buffers.view("dec.1.bn.num_batches_tracked").offset] = 0;
  const std::vector<Comparison> rows = judge(s, got);
  EXPECT_FALSE(rows[2].passed);
  EXPECT_NE(rows[2].note.find("num_batches_tracked 0, expected 1"), std::string::npos) << rows[2].note;
}

}  // namespace
}  // namespace vae
