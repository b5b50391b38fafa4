// The fused-cuda backend as a whole: deterministic training (bitwise, under every thread order
// of the CPU executor; run to run on a GPU), a training run that follows libtorch-eager's,
// and what it refuses. Built twice: for cuda-emu (label cpu) and, with VAE_TEST_ON_CUDA, for
// the GPU (label gpu), where each test skips with the reason when there is no CUDA device.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "mnist_data.h"
#include "sanitizer_tier.h"
#include "backend/registry.h"
#include "registered_backends.h"
#include "common/error.h"
#include "device/device.h"
#include "model/layers.h"
#include "train/epoch_order.h"
#include "backend_checks.h"
#include "cases.h"
#include "compare.h"
#include "kernels/batch_norm/batch_norm.h"
#include "tolerances.h"

#ifdef VAE_TEST_ON_CUDA
#define FUSED_DEVICE "cuda"
#define FUSED_SUITE(name) Cuda##name
#else
#define FUSED_DEVICE "cuda-emu"
#define FUSED_SUITE(name) name
#endif

namespace vae {
namespace {

using testing::mnist;

// GTEST_SKIP returns from the function it is in, so this is a macro, not a function.
#define SKIP_WITHOUT_DEVICE() \
  if (const std::string why = testing::unusable_reason("fused-cuda", FUSED_DEVICE); !why.empty()) GTEST_SKIP() << why

VaeConfig small_config() {
  VaeConfig c;
  c.encoder_hidden = {48};
  c.latent = 6;
  c.samples = 2;
  c.beta = 1.5;
  return c;
}

// A small convolutional VAE with every layer kind: conv + batch norm, conv, dense to a shape,
// transposed conv + batch norm, a transposed conv as the output layer (the likelihood's
// row-block version); K = 1, so the decoder's first layer makes dH in its epilogue.
VaeConfig small_conv_config() {
  ModelSpec s;
  s.input = {1, 28, 28};
  s.encoder = parse_layers("conv4k4s2p1+bn:relu,conv6k3s2p1:tanh", "test encoder");  // 28 -> 14 -> 7
  s.decoder = parse_layers("dense6x7x7:none,convT4k4s2p1+bn:relu,convT1k4s2p1:none", "test decoder");
  s.latent = 5;
  VaeConfig c;
  c.model = "custom";
  c.input_dim = 784;
  c.latent = s.latent;
  c.beta = 1.5;
  c.layers = std::make_shared<const ModelSpec>(std::move(s));
  c.validate();
  return c;
}

// A seeded epoch order, cut into batches (the last one smaller), as training does.
std::vector<std::vector<size_t>> batches(int steps, int batch, uint64_t seed) {
  std::vector<std::vector<size_t>> out;
  for (int s = 0; s < steps; ++s) {
    std::vector<size_t> idx;
    const int n = s % 10 == 9 ? batch / 2 + 1 : batch;
    for (int i = 0; i < n; ++i) idx.push_back(size_t((seed * 7919 + uint64_t(s) * 104729 + uint64_t(i) * 1299709) % 60000));
    out.push_back(idx);
  }
  return out;
}

struct TrainingRun {
  std::vector<double> params, exp_avg_sq, running_stats;
  std::vector<TrainSums> sums;  // per window of steps
};

TrainingRun train(const std::string& backend, const std::string& device, const std::string& precision, const VaeConfig& c,
          int steps, int batch, int window, Binarize binarize) {
  const auto b = create_backend(backend, c, device, precision);
  b->set_train_data(mnist().train, binarize, 9);
  StepOptions o;
  o.noise_seed = 21;
  TrainingRun r;
  const auto order = batches(steps, batch, 3);
  for (int s = 0; s < steps; ++s) {
    o.kl_weight = std::min(1.0, 0.25 + 0.05 * s);  // a warm-up: the KL weight changes under the captured step
    b->train_batch(order[size_t(s)], uint64_t(s / 20), o);
    if ((s + 1) % window == 0) r.sums.push_back(b->take_train_sums());
  }
  EXPECT_FALSE(b->first_nonfinite().has_value());
  r.params = b->params();
  r.exp_avg_sq = b->adam_state().exp_avg_sq;
  r.running_stats = b->running_stats();
  return r;
}

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) { setenv(name, value.c_str(), 1); }
  ~ScopedEnv() { unsetenv(name_); }

 private:
  const char* name_;
};

// 100 steps (the sanitizer tier: 30, one window of every batch size and each worker count;
// under ASan 100 MLP steps took 114 s) of `c`, then the same again under other thread orders
// and worker counts (on a GPU: run to run): parameters, Adam's moments, the running sums and
// batch norm's running statistics identical bit for bit.
// sanitizer_steps: the steps and the runs under other thread orders in the sanitizer build
// (the MLP: 30, all three; the conv model: 10, one, 151 s under ASan with 30 and three).
void expect_bitwise_identical_training(const VaeConfig& c, int batch, int sanitizer_steps, size_t sanitizer_runs) {
  const int steps = testing::kSanitizerBuild ? sanitizer_steps : 100, window = testing::kSanitizerBuild ? 10 : 25;
  const TrainingRun first = train("fused-cuda", FUSED_DEVICE, "fp32", c, steps, batch, window, Binarize::Dynamic);
  // On the GPU: run to run. On the CPU executor: also under other thread orders and worker counts.
  std::vector<std::pair<std::string, std::string>> environments = {{"", ""}};
#ifndef VAE_TEST_ON_CUDA
  environments = {{"7", "1"}, {"12345", "2"}, {"99", "3"}};
  if (testing::kSanitizerBuild) environments.resize(std::min(environments.size(), sanitizer_runs));
#endif
  for (const auto& [seed, workers] : environments) {
    std::optional<ScopedEnv> s, w;
    if (!seed.empty()) s.emplace("VAE_EMU_SEED", seed), w.emplace("VAE_EMU_WORKERS", workers);
    const TrainingRun again = train("fused-cuda", FUSED_DEVICE, "fp32", c, steps, batch, window, Binarize::Dynamic);
    EXPECT_EQ(again.params, first.params) << "thread-order seed '" << seed << "', workers '" << workers << "'";
    EXPECT_EQ(again.exp_avg_sq, first.exp_avg_sq) << "thread-order seed '" << seed << "'";
    EXPECT_EQ(again.running_stats, first.running_stats) << "thread-order seed '" << seed << "'";
    ASSERT_EQ(again.sums.size(), first.sums.size());
    for (size_t i = 0; i < first.sums.size(); ++i) {
      EXPECT_EQ(again.sums[i].loss, first.sums[i].loss) << "window " << i;
      EXPECT_EQ(again.sums[i].kl, first.sums[i].kl) << "window " << i;
    }
  }
}

TEST(FUSED_SUITE(FusedBackend), HundredStepsAreBitwiseIdenticalRunToRunAndUnderEveryThreadOrder) {
  SKIP_WITHOUT_DEVICE();
  expect_bitwise_identical_training(small_config(), 24, 30, 3);
}

TEST(FUSED_SUITE(FusedBackend), HundredConvStepsWithBatchNormAreBitwiseIdenticalUnderEveryThreadOrder) {
  SKIP_WITHOUT_DEVICE();
  // Batch 8 (5 in every tenth step): the executor's time, not the tiling, grows with it; the
  // kernel tests prove the tile edges.
  const VaeConfig c = small_conv_config();
  expect_bitwise_identical_training(c, 8, 10, 1);
  // The running statistics move, each layer's count with them: three steps count 3.
  const TrainingRun r = train("fused-cuda", FUSED_DEVICE, "fp32", c, 3, 8, 3, Binarize::None);
  const ModelLayers layers(*c.layers);
  const BufferLayout& buffers = layers.buffers();
  for (const BufferView& v : buffers.views())
    if (v.is_count()) EXPECT_EQ(r.running_stats[v.offset], 3.0) << v.name;
    else if (v.kind == BufferKind::RunningMean) EXPECT_NE(r.running_stats[v.offset], 0.0) << v.name;
}

// Three hundred steps with the same seeds, data and KL warm-up as libtorch-eager: the two fp32
// trajectories start within fp32 rounding of each other and then drift apart as rounding
// differences compound (ReLU kinks, Adam's normalisation of tiny gradients), so the bound
// is on what training is for, the loss: each window's mean loss within 0.5% of eager's.
// A real difference (a wrong KL weight, a missing 1/K, another noise) moves it by percent.
// The training path's promise: once the epoch's order is on the device, a step on its next
// slice copies nothing from the host (the graph reads the slice at the device's cursor and
// moves it on), the smaller last batch included; only indices off the order travel.
TEST(FUSED_SUITE(FusedBackend), AStepOnTheEpochOrderCopiesNothingFromTheHost) {
  SKIP_WITHOUT_DEVICE();
  const VaeConfig c = small_config();
  const auto b = create_backend("fused-cuda", c, FUSED_DEVICE, "fp32");
  const Split& train = mnist().train;
  b->set_train_data(train, Binarize::Dynamic, 9);
  const std::vector<size_t> order = epoch_order(train.count, 5, 1);
  b->set_epoch_order(order, 1);
  StepOptions o;
  const auto slice = [&](size_t first, size_t n) {
    return std::vector<size_t>(order.begin() + long(first), order.begin() + long(first + n));
  };
  // First use of each batch size captures its step; these may copy (the KL weight, nothing else).
  b->train_batch(slice(0, 32), 1, o);
  b->train_batch(slice(32, 17), 1, o);
  const std::uint64_t before = device::host_to_device_copies();
  b->train_batch(slice(49, 32), 1, o);
  b->train_batch(slice(81, 32), 1, o);
  b->train_batch(slice(113, 17), 1, o);  // the other captured batch size, replayed
  b->eval_batch(slice(130, 32), 1, 0);   // eval reads the order too
  b->train_batch(slice(130, 32), 1, o);
  EXPECT_EQ(device::host_to_device_copies(), before) << "a step on the epoch order copied from the host";
  b->synchronize();
  // Indices off the order are uploaded: the counter sees copies when there are some.
  b->train_batch(slice(0, 32), 1, o);      // back to the start: a device-side rewind, still no copy
  EXPECT_EQ(device::host_to_device_copies(), before);
  b->train_batch({7, 3, 5}, 1, o);
  EXPECT_GT(device::host_to_device_copies(), before);
  EXPECT_FALSE(b->first_nonfinite().has_value());
  const TrainSums s = b->take_train_sums();
  EXPECT_EQ(s.images, 32 + 17 + 32 + 32 + 17 + 32 + 32 + 32 + 3);
}

// The per-kernel profile of a step lists every call of the captured step, in order, with its
// cost; a profiled step is a real step (it trains and moves on as train_batch does).
TEST(FUSED_SUITE(FusedBackend), AProfiledStepListsEveryKernelCallWithItsCost) {
  SKIP_WITHOUT_DEVICE();
  VaeConfig c = small_config();
  c.encoder_hidden = {48, 24};
  const auto b = create_backend("fused-cuda", c, FUSED_DEVICE, "fp32");
  b->set_train_data(mnist().train, Binarize::None, 9);
  StepOptions o;
  const std::vector<size_t> idx = {1, 2, 3, 4, 5, 6, 7, 8};
  b->train_batch(idx, 0, o);
  const std::vector<device::ProfiledCall> calls = b->profile_train_batch(idx, 0, o);
  std::vector<std::string> names;
  for (const auto& call : calls) {
    names.push_back(call.cost.name.substr(0, call.cost.name.find(' ')));
    EXPECT_GE(call.seconds, 0.0) << call.cost.name;
  }
  // gather, noise; 2 encoder layers + heads (z and KL in its epilogue: 2Z = 12 <= 64);
  // 2 decoder layers + output (the likelihood in its epilogue); the likelihood's tile sums;
  // the same GEMMs backwards with latent's between; Adam; the cursor.
  const std::vector<std::string> want = {"data.gather", "data.noise", "gemm.forward", "gemm.forward", "gemm.forward",
                                         "gemm.forward", "gemm.forward", "gemm.forward", "likelihood",
                                         "gemm.backward", "gemm.backward", "gemm.backward", "latent.backward",
                                         "gemm.backward", "gemm.backward", "gemm.backward", "data.advance"};
  std::vector<std::string> got_without_adam;
  for (const std::string& n : names)
    if (n != "adam.step") got_without_adam.push_back(n);
  EXPECT_EQ(got_without_adam, want);
  EXPECT_EQ(std::count(names.begin(), names.end(), "adam.step"), 1);
  // The first layer's forward GEMM: 2·B·784·48 FLOP (+ the epilogue), reading u8 images.
  ASSERT_GE(calls.size(), 3u);
  EXPECT_NE(calls[2].cost.name.find("8x784->48 relu, u8 input"), std::string::npos) << calls[2].cost.name;
  EXPECT_EQ(calls[2].cost.flops, 2.0 * 8 * 784 * 48 + 2.0 * 8 * 48);
  ASSERT_GE(calls.size(), 9u);
  EXPECT_NE(calls[4].cost.name.find("8x24->12 + latent K=2"), std::string::npos) << calls[4].cost.name;
  EXPECT_NE(calls[7].cost.name.find("16x48->784 + likelihood bernoulli + dL/dO"), std::string::npos) << calls[7].cost.name;
  EXPECT_NE(calls[8].cost.name.find("likelihood tile sums 2x8 from 13 tiles"), std::string::npos) << calls[8].cost.name;
  // With one sample the decoder's first layer makes dH in its dX epilogue: no latent.backward.
  VaeConfig one = c;
  one.samples = 1;
  const auto single = create_backend("fused-cuda", one, FUSED_DEVICE, "fp32");
  single->set_train_data(mnist().train, Binarize::None, 9);
  bool latent_grad_in_gemm = false;
  for (const auto& call : single->profile_train_batch(idx, 0, o)) {
    EXPECT_EQ(call.cost.name.rfind("latent.backward", 0), std::string::npos) << call.cost.name;
    latent_grad_in_gemm |= call.cost.name.find("8x6<-24 relu + latent dH") != std::string::npos;
  }
  EXPECT_TRUE(latent_grad_in_gemm);
  EXPECT_EQ(b->adam_state().step, 2);  // the profiled step stepped
  EXPECT_EQ(b->take_train_sums().images, 16);
  // Outside a profile nothing is recorded: LibTorch's kernels are not ours.
  const auto eager = create_backend("libtorch-eager", c, "cpu", "fp32");
  eager->set_train_data(mnist().train, Binarize::None, 9);
  EXPECT_TRUE(eager->profile_train_batch(idx, 0, o).empty());
}

TEST(FUSED_SUITE(FusedBackend), ShortTrainingFollowsLibTorchEager) {
  // 104 s under ASan; fused-cuda's training steps run there in the test above, eager's elsewhere.
  VAE_RELEASE_TIER_ONLY("300 training steps beside libtorch-eager");
  SKIP_WITHOUT_DEVICE();
  const VaeConfig c = small_config();
  const TrainingRun fused = train("fused-cuda", FUSED_DEVICE, "fp32", c, 300, 32, 50, Binarize::None);
  const TrainingRun eager = train("libtorch-eager", "cpu", "fp32", c, 300, 32, 50, Binarize::None);
  ASSERT_EQ(fused.sums.size(), eager.sums.size());
  for (size_t i = 0; i < fused.sums.size(); ++i) {
    const double f = fused.sums[i].loss / double(fused.sums[i].images), e = eager.sums[i].loss / double(eager.sums[i].images);
    EXPECT_EQ(fused.sums[i].images, eager.sums[i].images);
    EXPECT_LT(std::abs(f - e), 5e-3 * e) << "window " << i << ": fused " << f << ", eager " << e << " nats/image";
    if (i == 0) EXPECT_LT(std::abs(f - e), 1e-4 * e) << "the first window, before the drift";
  }
  EXPECT_LT(fused.sums.back().loss / double(fused.sums.back().images),
            0.8 * fused.sums.front().loss / double(fused.sums.front().images))
      << "training did not train";
}

// The convolutional step beside libtorch-eager's: 100 steps of the small conv model with batch
// norm, the same seeds, data and warm-up; each window's mean loss within 0.5% (as above), and
// the running statistics at the end within fp32 noise of eager's (they follow the batches'
// statistics, which differ by rounding only).
TEST(FUSED_SUITE(FusedBackend), ShortConvTrainingFollowsLibTorchEager) {
  VAE_RELEASE_TIER_ONLY("100 convolutional training steps beside libtorch-eager");
  SKIP_WITHOUT_DEVICE();
  const VaeConfig c = small_conv_config();
  const TrainingRun fused = train("fused-cuda", FUSED_DEVICE, "fp32", c, 100, 16, 25, Binarize::None);
  const TrainingRun eager = train("libtorch-eager", "cpu", "fp32", c, 100, 16, 25, Binarize::None);
  ASSERT_EQ(fused.sums.size(), eager.sums.size());
  for (size_t i = 0; i < fused.sums.size(); ++i) {
    const double f = fused.sums[i].loss / double(fused.sums[i].images), e = eager.sums[i].loss / double(eager.sums[i].images);
    EXPECT_LT(std::abs(f - e), 5e-3 * e) << "window " << i << ": fused " << f << ", eager " << e << " nats/image";
  }
  ASSERT_EQ(fused.running_stats.size(), eager.running_stats.size());
  double diff2 = 0, norm2 = 0;
  for (size_t i = 0; i < eager.running_stats.size(); ++i) {
    diff2 += (fused.running_stats[i] - eager.running_stats[i]) * (fused.running_stats[i] - eager.running_stats[i]);
    norm2 += eager.running_stats[i] * eager.running_stats[i];
  }
  EXPECT_LT(std::sqrt(diff2 / norm2), 1e-2) << "running statistics after 100 steps";
  EXPECT_LT(fused.sums.back().loss / double(fused.sums.back().images),
            0.9 * fused.sums.front().loss / double(fused.sums.front().images))
      << "training did not train";
}

// Batch norm over slices (batch_norm v2, a channel's values in several blocks, merged in
// order) inside the backend: conv-bn at batch 24 puts 24·14·14 = 4704 values in each channel of
// its first batch norm, two slices; the step against the reference (losses, every gradient,
// the running statistics, ten Adam steps) as the matrix judges it.
TEST(FUSED_SUITE(FusedBackend), BatchNormOverSlicesMatchesTheReference) {
  SKIP_WITHOUT_DEVICE();
  const ValidationCase c{"conv-bn-b24", conv_model("conv-bn"), 24};
  const ModelLayers layers(*c.config.layers);
  const DerivedLayer& first = layers.layers().front();
  ASSERT_TRUE(first.spec.batch_norm);
  ASSERT_GE(vae::kernels::batch_norm::split(vae::kernels::batch_norm::Version::split_channel, int(first.out.c),
                                            24ll * first.out.h * first.out.w)
                .slices,
            2);
  const CaseInputs in = make_inputs(c, &mnist(), Binarize::None);
  const ExpectedOutputs expected = expected_outputs(c, in);
  const auto b = create_backend("fused-cuda", c.config, FUSED_DEVICE, "fp32");
  const CaseResult r = check_backend(*b, c, in, expected);
  ASSERT_FALSE(r.comparisons.empty());
  for (const Comparison& cmp : r.comparisons)
    EXPECT_TRUE(cmp.passed) << cmp.quantity << ": norm rel " << cmp.norm_rel << ", " << cmp.percent_of_tolerance
                            << "% of " << cmp.tolerance_name;
}

// A convolutional step's profile names the conv, transposed-conv and batch-norm calls with
// their costs: the first conv's FLOPs are 2·B·(its MACs) + its bias adds.
TEST(FUSED_SUITE(FusedBackend), AProfiledConvStepListsConvAndBatchNormCalls) {
  SKIP_WITHOUT_DEVICE();
  const VaeConfig c = small_conv_config();
  const auto b = create_backend("fused-cuda", c, FUSED_DEVICE, "fp32");
  b->set_train_data(mnist().train, Binarize::None, 9);
  StepOptions o;
  const std::vector<size_t> idx = {1, 2, 3, 4, 5, 6, 7, 8};
  std::vector<std::string> names;
  const std::vector<device::ProfiledCall> calls = b->profile_train_batch(idx, 0, o);
  for (const auto& call : calls) names.push_back(call.cost.name.substr(0, call.cost.name.find(' ')));
  const std::vector<std::string> want = {
      "data.gather", "data.noise", "conv.forward", "batch_norm.train_forward", "conv.forward", "gemm.forward",
      "gemm.forward", "conv_transpose.forward", "batch_norm.train_forward", "conv_transpose.forward", "likelihood",
      "conv_transpose.backward", "batch_norm.backward", "conv_transpose.backward", "gemm.backward", "gemm.backward",
      "conv.backward", "batch_norm.backward", "conv.backward", "adam.step", "data.advance"};
  EXPECT_EQ(names, want);
  ASSERT_GE(calls.size(), 3u);
  const ModelLayers layers(*c.layers);
  const DerivedLayer& first = layers.layers().front();
  EXPECT_NE(calls[2].cost.name.find("8x1x28x28->4x14x14 k4 s2 p1 identity, u8 input"), std::string::npos)
      << calls[2].cost.name;
  EXPECT_EQ(calls[2].cost.flops, 2.0 * 8 * double(first.macs) + 8.0 * 4 * 14 * 14);
  // The output layer has the likelihood in its epilogue; v2 assembles the losses from its
  // block sums (8 images of 28x28 = 98 row blocks of 64, each holding 2 image slots).
  EXPECT_NE(calls[9].cost.name.find("8x4x14x14->1x28x28 k4 s2 p1 identity + likelihood bernoulli + dL/dO"),
            std::string::npos)
      << calls[9].cost.name;
  EXPECT_NE(calls[10].cost.name.find("likelihood conv block sums 1x8 from 196 block sums"), std::string::npos)
      << calls[10].cost.name;
  EXPECT_EQ(b->take_train_sums().images, 8);
}

TEST(FUSED_SUITE(FusedBackend), RefusesWhatItCannotDo) {
  SKIP_WITHOUT_DEVICE();
  const auto b = create_backend("fused-cuda", small_config(), FUSED_DEVICE, "fp32");
  try {
    b->train_batch({0, 1}, 0, {});
    FAIL() << "no error before set_train_data";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("before set_train_data"), std::string::npos) << e.what();
  }
  // The workspace is planned before anything runs: a batch that cannot fit is refused with
  // the bytes it needs (here 4·10^7 images, ~400 GB of activations: more than any GPU or this host has).
  b->set_train_data(mnist().train, Binarize::None, 0);
  try {
    b->train_batch(std::vector<size_t>(40'000'000, 0), 0, {});
    FAIL() << "a batch of 4·10^7 images was not refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fused-cuda: batch 40000000 needs "), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(" bytes of device memory"), std::string::npos) << e.what();
  }
  EXPECT_THROW(create_backend("fused-cuda", small_config(), FUSED_DEVICE, "fp64"), Error);
  EXPECT_THROW(create_backend("fused-cuda", small_config(), "cpu", "fp32"), Error);
}

}  // namespace
}  // namespace vae
