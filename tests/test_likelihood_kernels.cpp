// The likelihood family (impl/kernels/likelihood.cu) against the reference's math in double
// (reference/README.md: bernoulli and gaussian NLL, recon over K samples, dL/do, loss and
// ELBO): float, byte and binarized targets, the gradient written over the logits, the running
// sums and the non-finite record, bitwise-identical under every thread order.
#include <algorithm>
#include <cmath>
#include <vector>

#include "common/error.h"
#include "fused_kernel_test.h"
#include "kernels/likelihood.h"

namespace {

using namespace fused_test;
namespace likelihood = vae::kernels::likelihood;
using vae::Likelihood;
using vae::device::Array;
using vae::device::to_device;
using vae::device::to_host;
using vae::kernels::RunningSums;

constexpr likelihood::Version kVersion = likelihood::Version::row_blocks;

enum class Targets { floats, bytes, binarized_bytes };
const char* targets_name(Targets t) {
  return t == Targets::floats ? "float targets" : t == Targets::bytes ? "byte targets" : "binarized targets";
}

struct Inputs {
  Shape shape;
  Likelihood lik = Likelihood::Bernoulli;
  Targets targets = Targets::floats;
  double beta = 1.0, kl_weight = 1.0;
  std::vector<float> logits, x, kl;  // [K·B, D], [B, D] (floats), [B]
  std::vector<std::uint8_t> x_bytes;
  // The target as the kernel reads it: x, or float(byte) / 255.
  float target(std::size_t at) const { return targets == Targets::floats ? x[at] : float(x_bytes[at]) / 255.0f; }
};

Inputs make_inputs(const Shape& s, Likelihood lik, Targets targets, double beta, double w) {
  Inputs in{s, lik, targets, beta, w, {}, {}, {}, {}};
  const std::size_t bd = std::size_t(s.batch) * s.pixels;
  in.logits = uniform_floats(bd * s.samples, -8.0, 8.0, 11);
  // Saturated logits, where the stable forms matter: exp(-|o|) underflows, sigmoid hits 0 or 1.
  for (std::size_t i = 0; i < in.logits.size(); i += 97) in.logits[i] = (i / 97) % 2 ? 40.0f : -40.0f;
  in.logits[0] = 0.0f;
  in.kl = uniform_floats(std::size_t(s.batch), 0.0, 30.0, 12);
  if (targets == Targets::floats) {
    in.x = uniform_floats(bd, 0.0, 1.0, 13);
  } else {
    const std::vector<float> u = uniform_floats(bd, 0.0, 1.0, 14);
    for (float v : u)
      in.x_bytes.push_back(targets == Targets::bytes ? std::uint8_t(v * 256.0f) : (v < 0.3f ? std::uint8_t(255) : 0));
  }
  return in;
}

struct Outputs {
  std::vector<float> gradient, recon, loss, elbo;
  RunningSums sums;
  std::vector<std::int64_t> record;
};

// One run on a fresh device state: sums start at `sums_before`, the record at -1 everywhere.
Outputs run(const Stream& s, const Inputs& in, bool write_gradient = true, std::int64_t steps_taken = 41,
            RunningSums sums_before = {}) {
  const Shape& sh = in.shape;
  Array<float> logits = to_device(s, in.logits), kl = to_device(s, in.kl);
  Array<float> x = to_device(s, in.x);
  Array<std::uint8_t> x_bytes = to_device(s, in.x_bytes);
  Array<double> kl_weight = to_device(s, std::vector<double>{in.kl_weight});
  Array<float> recon(kDevice, std::size_t(sh.batch)), loss(kDevice, std::size_t(sh.batch)), elbo(kDevice, std::size_t(sh.batch));
  Array<RunningSums> sums = to_device(s, std::vector<RunningSums>{sums_before});
  Array<std::int64_t> record = to_device(s, std::vector<std::int64_t>(vae::kernels::kNonFiniteSlots, -1));
  Array<std::int64_t> steps = to_device(s, std::vector<std::int64_t>{steps_taken});
  likelihood::Args a;
  a.likelihood = in.lik, a.batch = sh.batch, a.samples = sh.samples, a.pixels = sh.pixels;
  a.logits = logits.data(), a.write_gradient = write_gradient;
  if (in.targets == Targets::floats) a.x = x.data();
  else a.x_bytes = x_bytes.data();
  a.kl = kl.data(), a.beta = in.beta, a.kl_weight = kl_weight.data();
  a.recon = recon.data(), a.loss = loss.data(), a.elbo = elbo.data();
  a.sums = sums.data(), a.nonfinite = record.data(), a.steps_taken = steps.data();
  likelihood::run(s, kVersion, a);
  return {to_host(s, logits), to_host(s, recon), to_host(s, loss), to_host(s, elbo), to_host(s, sums)[0],
          to_host(s, record)};
}

void expect_matches_double(const Inputs& in, const Outputs& out, const std::string& what) {
  const Shape& sh = in.shape;
  const int B = sh.batch, K = sh.samples, D = sh.pixels;
  ElementwiseCheck grad_check(vae::tol::kLikelihoodGradient, what), recon_check(vae::tol::kLikelihoodRecon, what + " recon"),
      loss_check(vae::tol::kLikelihoodRecon, what + " loss"), elbo_check(vae::tol::kLikelihoodRecon, what + " elbo"),
      sums_check(vae::tol::kRunningSumsDouble, what + " sums");
  const double beta_w = double(float(in.beta * in.kl_weight));
  double recon_sum = 0, kl_sum = 0, loss_sum = 0, recon_abs = 0, kl_abs = 0, loss_abs = 0;
  for (int b = 0; b < B; ++b) {
    double recon = 0, scale = 0;
    for (int k = 0; k < K; ++k)
      for (int d = 0; d < D; ++d) {
        const std::size_t at = (std::size_t(k) * B + b) * D + d;
        const PixelExpectation e = expected_pixel(in.lik, in.logits[at], in.target(std::size_t(b) * D + d), K);
        recon += e.nll, scale += e.nll_scale;
        grad_check.add(out.gradient[at], e.gradient, e.gradient_scale, 0, at);
      }
    recon /= K, scale /= K;
    const double kl = in.kl[b], n = double(K) * D;
    recon_check.add(out.recon[b], recon, scale, n, std::size_t(b));
    loss_check.add(out.loss[b], recon + beta_w * kl, scale + std::fabs(beta_w * kl), n + 3, std::size_t(b));
    elbo_check.add(out.elbo[b], -(recon + kl), scale + std::fabs(kl), n + 3, std::size_t(b));
    // The sums add the kernel's own float values, in double.
    recon_sum += out.recon[b], kl_sum += in.kl[b], loss_sum += out.loss[b];
    recon_abs += std::fabs(out.recon[b]), kl_abs += std::fabs(in.kl[b]), loss_abs += std::fabs(out.loss[b]);
  }
  EXPECT_EQ(out.sums.images, B) << what;
  sums_check.add(out.sums.recon, recon_sum, recon_abs, B, 0);
  sums_check.add(out.sums.kl, kl_sum, kl_abs, B, 1);
  sums_check.add(out.sums.loss, loss_sum, loss_abs, B, 2);
  for (const ElementwiseCheck* c : {&grad_check, &recon_check, &loss_check, &elbo_check, &sums_check}) c->report();
  for (std::int64_t slot : out.record) EXPECT_EQ(slot, -1) << what << ": finite inputs recorded a non-finite step";
}

class VAE_FUSED_SUITE(LikelihoodKernels) : public DeviceTest {};

TEST_F(VAE_FUSED_SUITE(LikelihoodKernels), EveryLikelihoodAndTargetMatchesDoublePrecision) {
  for (const Shape& sh : shapes())
    for (Likelihood lik : {Likelihood::Bernoulli, Likelihood::Gaussian})
      for (Targets t : {Targets::floats, Targets::bytes, Targets::binarized_bytes}) {
        if (sh.batch == 300 && t != Targets::floats) continue;  // one large odd case is enough
        const Inputs in = make_inputs(sh, lik, t, 2.0, 0.4);
        expect_matches_double(in, run(stream(), in), sh.label() + " " + vae::to_string(lik) + " " + targets_name(t));
      }
}

// Bytes are read as byte / 255: the same bits as floats holding float(byte) / 255.
TEST_F(VAE_FUSED_SUITE(LikelihoodKernels), ByteTargetsEqualTheirFloatValues) {
  for (Targets t : {Targets::bytes, Targets::binarized_bytes}) {
    const Inputs bytes = make_inputs({3, 2, 7, 33}, Likelihood::Bernoulli, t, 1.0, 1.0);
    Inputs floats = bytes;
    floats.targets = Targets::floats;
    for (std::size_t i = 0; i < bytes.x_bytes.size(); ++i) floats.x.push_back(bytes.target(i));
    floats.x_bytes.clear();
    const Outputs a = run(stream(), bytes), b = run(stream(), floats);
    EXPECT_TRUE(same_bits(a.gradient, b.gradient) && same_bits(a.recon, b.recon) && same_bits(a.loss, b.loss))
        << targets_name(t);
  }
}

// Forward only: the logits stay as they were, the losses are the same bits.
TEST_F(VAE_FUSED_SUITE(LikelihoodKernels), ForwardOnlyLeavesTheLogits) {
  const Inputs in = make_inputs({4, 3, 7, 33}, Likelihood::Gaussian, Targets::floats, 1.0, 1.0);
  const Outputs with = run(stream(), in, true), without = run(stream(), in, false);
  EXPECT_TRUE(same_bits(without.gradient, in.logits));
  EXPECT_FALSE(same_bits(with.gradient, in.logits));
  EXPECT_TRUE(same_bits(with.recon, without.recon) && same_bits(with.loss, without.loss));
}

// The sums continue from what the device holds (a later take_train_sums reads them all).
TEST_F(VAE_FUSED_SUITE(LikelihoodKernels), RunningSumsAccumulateAcrossBatches) {
  const Inputs in = make_inputs({7, 1, 7, 33}, Likelihood::Bernoulli, Targets::floats, 1.0, 1.0);
  const RunningSums before{100, 1000.5, 20.25, 1100.75};
  const Outputs fresh = run(stream(), in), continued = run(stream(), in, true, 41, before);
  EXPECT_EQ(continued.sums.images, before.images + 7);
  EXPECT_DOUBLE_EQ(continued.sums.recon, before.recon + fresh.sums.recon);
  EXPECT_DOUBLE_EQ(continued.sums.kl, before.kl + fresh.sums.kl);
  EXPECT_DOUBLE_EQ(continued.sums.loss, before.loss + fresh.sums.loss);
}

// A NaN logit makes its image's recon and loss non-finite: both slots take steps_taken + 1,
// KL's stays -1; an infinite KL marks KL and loss.
TEST_F(VAE_FUSED_SUITE(LikelihoodKernels), NonFiniteLossIsRecordedWithItsStep) {
  Inputs in = make_inputs({6, 2, 7, 33}, Likelihood::Bernoulli, Targets::floats, 1.0, 1.0);
  in.logits[(std::size_t(1) * 6 + 4) * 33 + 5] = NAN;  // sample 1 of image 4
  Outputs out = run(stream(), in, true, 41);
  EXPECT_EQ(out.record[vae::kernels::kNonFiniteRecon], 42);
  EXPECT_EQ(out.record[vae::kernels::kNonFiniteLoss], 42);
  EXPECT_EQ(out.record[vae::kernels::kNonFiniteKl], -1);
  EXPECT_EQ(out.record[vae::kernels::kNonFiniteGradient], -1);
  EXPECT_TRUE(std::isnan(out.recon[4]));
  EXPECT_TRUE(std::isfinite(out.recon[3]));

  Inputs kl_inf = make_inputs({6, 2, 7, 33}, Likelihood::Gaussian, Targets::floats, 1.0, 1.0);
  kl_inf.kl[2] = INFINITY;
  out = run(stream(), kl_inf, true, 6);
  EXPECT_EQ(out.record[vae::kernels::kNonFiniteKl], 7);
  EXPECT_EQ(out.record[vae::kernels::kNonFiniteLoss], 7);
  EXPECT_EQ(out.record[vae::kernels::kNonFiniteRecon], -1);
}

// The first record sticks: a later non-finite step leaves it.
TEST_F(VAE_FUSED_SUITE(LikelihoodKernels), FirstNonFiniteStepSticks) {
  Inputs in = make_inputs({2, 1, 7, 33}, Likelihood::Bernoulli, Targets::floats, 1.0, 1.0);
  in.logits[3] = NAN;
  const Stream s = stream();
  Array<float> logits = to_device(s, in.logits), kl = to_device(s, in.kl), x = to_device(s, in.x);
  Array<float> recon(kDevice, 2);
  Array<std::int64_t> record = to_device(s, std::vector<std::int64_t>(vae::kernels::kNonFiniteSlots, -1));
  Array<std::int64_t> steps = to_device(s, std::vector<std::int64_t>{9});
  likelihood::Args a;
  a.batch = 2, a.samples = 1, a.pixels = 33, a.logits = logits.data(), a.x = x.data(), a.kl = kl.data();
  a.recon = recon.data(), a.nonfinite = record.data(), a.steps_taken = steps.data();
  likelihood::run(s, kVersion, a);
  const std::int64_t later = 20;
  vae::device::copy_to_device(s, steps.data(), &later, sizeof later);
  vae::device::copy_to_device(s, logits.data(), in.logits.data(), in.logits.size() * sizeof(float));
  likelihood::run(s, kVersion, a);
  EXPECT_EQ(to_host(s, record)[vae::kernels::kNonFiniteRecon], 10);
}

TEST_F(VAE_FUSED_SUITE(LikelihoodKernels), BitwiseIdenticalAcrossThreadOrdersAndWorkers) {
  for (Likelihood lik : {Likelihood::Bernoulli, Likelihood::Gaussian}) {
    const Inputs in = make_inputs({300, 2, 7, 33}, lik, Targets::bytes, 1.5, 0.7);
    const std::vector<ThreadOrder> runs = thread_orders();
    const Outputs first = run(stream(runs[0].seed, runs[0].workers), in);
    for (std::size_t r = 1; r < runs.size(); ++r) {
      const Outputs again = run(stream(runs[r].seed, runs[r].workers), in);
      EXPECT_TRUE(same_bits(first.gradient, again.gradient) && same_bits(first.recon, again.recon) &&
                  same_bits(first.loss, again.loss) && same_bits(first.elbo, again.elbo))
          << vae::to_string(lik) << ": thread-order seed " << runs[r].seed << " with " << runs[r].workers << " workers";
      EXPECT_TRUE(first.sums.recon == again.sums.recon && first.sums.kl == again.sums.kl &&
                  first.sums.loss == again.sums.loss)
          << vae::to_string(lik) << ": running sums, seed " << runs[r].seed;
    }
  }
}

TEST_F(VAE_FUSED_SUITE(LikelihoodKernels), BadArgumentsAreNamed) {
  likelihood::Args a;
  a.batch = 1, a.samples = 1, a.pixels = 1;
  float f = 0;
  a.logits = &f, a.kl = &f, a.recon = &f;
  EXPECT_THROW(likelihood::validate(kVersion, a), vae::Error);  // no targets
  a.x = &f;
  std::int64_t record[4];
  a.nonfinite = record;
  EXPECT_THROW(likelihood::validate(kVersion, a), vae::Error);  // a record without its step
}

}  // namespace
