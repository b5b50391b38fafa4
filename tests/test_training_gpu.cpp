// The training path on CUDA: each CUDA backend follows the reference step for step (same
// images, same noise), across two batch sizes (the CUDA-graph backend captures one graph
// per size), keeps its loss sums on the device, and reports a non-finite step. Skips with
// the backend's reason when it cannot run here. The backends come from the registry: every
// one that offers the cuda device.
#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "mnist_data.h"
#include "backend/registry.h"
#include "registered_backends.h"
#include "common/device_names.h"
#include "compare.h"
#include "tolerances.h"

namespace vae {
namespace {

using testing::mnist;

std::vector<size_t> batch_indices(int step, int batch) {
  std::vector<size_t> idx;
  for (int i = 0; i < batch; ++i) idx.push_back(size_t((step * 7919 + i * 104729) % 60000));
  return idx;
}


std::vector<std::string> cuda_backends() {
  std::vector<std::string> names;
  for (const BackendInfo& info : registered_backends())
    for (const std::string& device : info.devices)
      if (is_gpu_device(device)) names.push_back(info.name);
  return names;
}

class CudaTraining : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaTraining, FollowsTheReference) {
  if (const std::string why = testing::unusable_reason(GetParam(), "cuda"); !why.empty()) GTEST_SKIP() << why;
  VaeConfig c;
  c.encoder_hidden = {64};
  c.latent = 5;
  c.samples = 2;
  StepOptions o;
  o.noise_seed = 4;
  o.kl_weight = 0.5;
  const auto reference = create_backend("reference", c, "cpu", "fp64");
  const auto backend = create_backend(GetParam(), c, "cuda", "fp32");
  for (Backend* b : {reference.get(), backend.get()}) {
    b->set_train_data(mnist().train, Binarize::None, 0);
    for (int s = 0; s < 8; ++s) b->train_batch(batch_indices(s, s % 4 == 3 ? 17 : 64), 0, o);
  }
  const Comparison p =
      compare_normwise("params", backend->params(), reference->params(), tol::backend(tol::Quantity::AdamParams, "fp32"));
  EXPECT_TRUE(p.passed) << GetParam() << ": norm rel " << p.norm_rel;
  EXPECT_EQ(backend->adam_state().step, 8);
  const TrainSums got = backend->take_train_sums(), want = reference->take_train_sums();
  EXPECT_EQ(got.images, want.images);
  EXPECT_NEAR(got.loss, want.loss, tol::kFp32AdamLoss.norm_rel * want.loss);
  EXPECT_FALSE(backend->first_nonfinite().has_value());

  // An infinite Adam moment makes the next update NaN; the step after computes NaN losses.
  AdamState s = backend->adam_state();
  s.exp_avg[0] = s.exp_avg_sq[0] = std::numeric_limits<double>::infinity();
  backend->set_params(backend->params());
  backend->set_adam_state(s);
  for (int k = 0; k < 3; ++k) backend->train_batch(batch_indices(k, 64), 0, o);
  const std::optional<NonFinite> bad = backend->first_nonfinite();
  ASSERT_TRUE(bad.has_value()) << GetParam();
  EXPECT_EQ(bad->step, 10) << GetParam();
  EXPECT_NE(bad->quantities.find("loss"), std::string::npos) << bad->quantities;
}

INSTANTIATE_TEST_SUITE_P(Cuda, CudaTraining, ::testing::ValuesIn(cuda_backends()),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& ch : s)
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return s;
                         });

}  // namespace
}  // namespace vae
