// The adam family (impl/kernels/adam.cu): ten steps against the reference Adam in double
// (reference/adam.cpp) within the argued fp32 tolerance, torch's rounding order bit for bit
// (kernels/adam.h), the step count and bias corrections on the device (a captured step
// replayed ten times, a resumed count), the non-finite record, and bitwise-identical results
// under every thread order.
#include <cmath>
#include <vector>

#include "adam.h"
#include "common/error.h"
#include "fused_kernel_test.h"
#include "kernels/adam.h"
#include "model/params.h"

namespace {

using namespace fused_test;
namespace adam = vae::kernels::adam;
using vae::AdamOptions;
using vae::device::Array;
using vae::device::to_device;
using vae::device::to_host;

constexpr adam::Version kVersion = adam::Version::grid_stride;
constexpr int kSteps = 10;

AdamOptions other_options() {
  AdamOptions o;
  o.lr = 3e-3, o.beta1 = 0.8, o.beta2 = 0.99, o.eps = 1e-6;
  return o;
}

// Gradients whose entries span eleven decades (1e-9 .. 1e2, fixed per entry, random signs per
// step): Adam's normalisation, eps, and large steps are all exercised.
std::vector<std::vector<float>> make_gradients(std::size_t n, int steps) {
  const std::vector<float> decade = uniform_floats(n, -9.0, 2.0, 21);
  std::vector<std::vector<float>> g(static_cast<std::size_t>(steps), std::vector<float>(n));
  for (int t = 0; t < steps; ++t) {
    const std::vector<float> u = uniform_floats(n, -1.0, 1.0, 22 + std::uint64_t(t));
    for (std::size_t i = 0; i < n; ++i) g[std::size_t(t)][i] = float(u[i] * std::pow(10.0, double(decade[i])));
  }
  return g;
}

struct State {
  std::vector<float> params, m, v;
  adam::DeviceState device_state;
  std::vector<std::int64_t> record;
};

// The device buffers of one optimizer.
struct DeviceOptimizer {
  Array<float> params, m, v, grad;
  Array<adam::DeviceState> state;
  Array<std::int64_t> record;
  adam::StepArgs args;

  DeviceOptimizer(const Stream& s, const std::vector<float>& p, const AdamOptions& options, std::int64_t steps_taken = 0)
      : params(to_device(s, p)), m(to_device(s, std::vector<float>(p.size(), 0.0f))),
        v(to_device(s, std::vector<float>(p.size(), 0.0f))), grad(kDevice, p.size()),
        state(to_device(s, std::vector<adam::DeviceState>{adam::DeviceState{steps_taken, 0.0f, 0.0f}})),
        record(to_device(s, std::vector<std::int64_t>(vae::kernels::kNonFiniteSlots, -1))) {
    args.count = p.size(), args.params = params.data(), args.exp_avg = m.data(), args.exp_avg_sq = v.data();
    args.grad = grad.data(), args.options = options, args.state = state.data(), args.nonfinite = record.data();
  }
  void set_gradient(const Stream& s, const std::vector<float>& g) const {
    vae::device::copy_to_device(s, grad.data(), g.data(), g.size() * sizeof(float));
  }
  State read(const Stream& s) const { return {to_host(s, params), to_host(s, m), to_host(s, v), to_host(s, state)[0], to_host(s, record)}; }
};

State run_steps(const Stream& s, const std::vector<float>& p, const std::vector<std::vector<float>>& grads,
                const AdamOptions& options) {
  DeviceOptimizer opt(s, p, options);
  for (const std::vector<float>& g : grads) {
    opt.set_gradient(s, g);
    adam::step(s, kVersion, opt.args);
  }
  return opt.read(s);
}

std::vector<double> widen(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

// torch's order (kernels/adam.h), written out on the host in float: the kernel must give
// these bits. Bias corrections as Python computes them: in double, then rounded to float.
void torch_order_step(std::vector<float>& p, std::vector<float>& m, std::vector<float>& v, const std::vector<float>& g,
                      std::int64_t t, const AdamOptions& o) {
  const float step_size = float(o.lr / (1.0 - std::pow(o.beta1, double(t))));
  const float bias_correction2_sqrt = float(std::sqrt(1.0 - std::pow(o.beta2, double(t))));
  const float w1 = float(1.0 - o.beta1), b2 = float(o.beta2), w2 = float(1.0 - o.beta2), eps = float(o.eps);
  for (std::size_t i = 0; i < p.size(); ++i) {
    m[i] = std::fma(w1, g[i] - m[i], m[i]);
    v[i] = std::fma(w2 * g[i], g[i], b2 * v[i]);
    const float denom = std::sqrt(v[i]) / bias_correction2_sqrt + eps;
    p[i] = p[i] + (-step_size * m[i]) / denom;
  }
}

class VAE_FUSED_SUITE(AdamKernel) : public DeviceTest {};

TEST_F(VAE_FUSED_SUITE(AdamKernel), TenStepsMatchTheReferenceAdamInDouble) {
  for (const AdamOptions& options : {AdamOptions{}, other_options()})
    for (std::size_t n : {std::size_t(10007), vae::ParamLayout(vae::VaeConfig{}).total()}) {
      if (n > 10007 && options.lr != AdamOptions{}.lr) continue;  // the default model once, with defaults
      const std::vector<float> p0 = uniform_floats(n, -0.5, 0.5, 20);
      const auto grads = make_gradients(n, kSteps);
      const State got = run_steps(stream(), p0, grads, options);

      std::vector<double> p = widen(p0);
      vae::ref::Adam reference(n, options);
      std::vector<double> big_m(n, 0.0);  // the m recurrence on |g|: the scale of m's rounding
      for (const std::vector<float>& g : grads) {
        reference.step(p, widen(g));
        for (std::size_t i = 0; i < n; ++i) big_m[i] = options.beta1 * big_m[i] + (1 - options.beta1) * std::fabs(g[i]);
      }
      const std::string what = "n " + std::to_string(n) + " lr " + std::to_string(options.lr);
      ElementwiseCheck p_check(vae::tol::kAdamKernelParams, what), m_check(vae::tol::kAdamKernelMoments, what + " m"),
          v_check(vae::tol::kAdamKernelMoments, what + " v");
      for (std::size_t i = 0; i < n; ++i) {
        p_check.add(got.params[i], p[i], std::fabs(p[i]) + 4.0 * (kSteps + 1) * options.lr, kSteps, i);
        m_check.add(got.m[i], reference.first_moment()[i], big_m[i], 2 * kSteps, i);
        v_check.add(got.v[i], reference.second_moment()[i], reference.second_moment()[i], 2 * kSteps, i);
      }
      for (const ElementwiseCheck* c : {&p_check, &m_check, &v_check}) c->report();
      EXPECT_EQ(got.device_state.step, kSteps);
      for (std::int64_t slot : got.record) EXPECT_EQ(slot, -1);
    }
}

TEST_F(VAE_FUSED_SUITE(AdamKernel), RoundsInTorchsOrder) {
  const std::size_t n = 4099;
  for (const AdamOptions& options : {AdamOptions{}, other_options()}) {
    std::vector<float> p = uniform_floats(n, -0.5, 0.5, 20), m(n, 0.0f), v(n, 0.0f);
    const auto grads = make_gradients(n, kSteps);
    const State got = run_steps(stream(), p, grads, options);
    for (int t = 0; t < kSteps; ++t) torch_order_step(p, m, v, grads[std::size_t(t)], t + 1, options);
    EXPECT_TRUE(same_bits(got.params, p) && same_bits(got.m, m) && same_bits(got.v, v)) << "lr " << options.lr;
    EXPECT_EQ(got.device_state.step_size, float(options.lr / (1.0 - std::pow(options.beta1, double(kSteps)))));
    EXPECT_EQ(got.device_state.bias_correction2_sqrt, float(std::sqrt(1.0 - std::pow(options.beta2, double(kSteps)))));
  }
}

// The step count and bias corrections live on the device: one captured step, replayed ten
// times with the gradient buffer refilled in between, equals ten eager steps bit for bit.
TEST_F(VAE_FUSED_SUITE(AdamKernel), CapturedStepReplayedTenTimesEqualsTenSteps) {
  const std::size_t n = 3001;
  const std::vector<float> p0 = uniform_floats(n, -0.5, 0.5, 20);
  const auto grads = make_gradients(n, kSteps);
  const Stream s = stream();
  DeviceOptimizer opt(s, p0, AdamOptions{});
  vae::device::Graph::begin_capture(s);
  adam::step(s, kVersion, opt.args);
  const vae::device::Graph graph = vae::device::Graph::end_capture(s);
  for (const std::vector<float>& g : grads) {
    opt.set_gradient(s, g);
    graph.launch(s);
  }
  const State replayed = opt.read(s), eager = run_steps(s, p0, grads, AdamOptions{});
  EXPECT_EQ(replayed.device_state.step, kSteps);
  EXPECT_TRUE(same_bits(replayed.params, eager.params) && same_bits(replayed.m, eager.m) && same_bits(replayed.v, eager.v));
  EXPECT_EQ(replayed.device_state.step_size, eager.device_state.step_size);
  EXPECT_FALSE(same_bits(replayed.params, p0));
}

// A resumed optimizer (a checkpoint's count on the device) corrects for its own step number.
TEST_F(VAE_FUSED_SUITE(AdamKernel), ResumedStepCountSetsTheBiasCorrections) {
  const std::size_t n = 513;
  const std::vector<float> p0 = uniform_floats(n, -0.5, 0.5, 20);
  const auto grads = make_gradients(n, 1);
  const Stream s = stream();
  DeviceOptimizer opt(s, p0, AdamOptions{}, 5);
  opt.set_gradient(s, grads[0]);
  adam::step(s, kVersion, opt.args);
  const State got = opt.read(s);
  EXPECT_EQ(got.device_state.step, 6);
  std::vector<float> p = p0, m(n, 0.0f), v(n, 0.0f);
  torch_order_step(p, m, v, grads[0], 6, AdamOptions{});
  EXPECT_TRUE(same_bits(got.params, p));
}

// A non-finite gradient entry records its step (the count after the increment, as LibTorch's
// record) once; the step is applied as torch applies it (that entry turns NaN), the rest of
// the buffer steps on as usual.
TEST_F(VAE_FUSED_SUITE(AdamKernel), NonFiniteGradientRecordsItsStepAndIsAppliedLikeTorch) {
  const std::size_t n = 777;
  const std::vector<float> p0 = uniform_floats(n, -0.5, 0.5, 20);
  auto grads = make_gradients(n, 6);
  grads[2][5] = NAN;        // step 3
  grads[4][700] = INFINITY;  // step 5
  const Stream s = stream();
  DeviceOptimizer opt(s, p0, AdamOptions{});
  for (const std::vector<float>& g : grads) {
    opt.set_gradient(s, g);
    adam::step(s, kVersion, opt.args);
  }
  const State got = opt.read(s);
  EXPECT_EQ(got.record[vae::kernels::kNonFiniteGradient], 3);
  for (int slot : {vae::kernels::kNonFiniteLoss, vae::kernels::kNonFiniteRecon, vae::kernels::kNonFiniteKl})
    EXPECT_EQ(got.record[std::size_t(slot)], -1);
  std::vector<float> p = p0, m(n, 0.0f), v(n, 0.0f);
  for (int t = 0; t < 6; ++t) torch_order_step(p, m, v, grads[std::size_t(t)], t + 1, AdamOptions{});
  EXPECT_TRUE(std::isnan(got.params[5]) && std::isnan(got.params[700]));
  // NaN where the host's is NaN (a GPU's NaN has other payload bits), the same bits elsewhere.
  ASSERT_EQ(got.params.size(), p.size());
  std::size_t differing = 0;
  for (std::size_t i = 0; i < n; ++i)
    if (std::isnan(p[i]) ? !std::isnan(got.params[i]) : !same_bits(std::vector<float>{got.params[i]}, std::vector<float>{p[i]}))
      ++differing;
  EXPECT_EQ(differing, 0u);
}

TEST_F(VAE_FUSED_SUITE(AdamKernel), BitwiseIdenticalAcrossThreadOrdersAndWorkers) {
  const std::size_t n = 300001;  // more entries than the grid has threads: the stride loop runs twice
  const std::vector<float> p0 = uniform_floats(n, -0.5, 0.5, 20);
  const auto grads = make_gradients(n, 2);
  const std::vector<ThreadOrder> runs = thread_orders();
  const State first = run_steps(stream(runs[0].seed, runs[0].workers), p0, grads, AdamOptions{});
  for (std::size_t r = 1; r < runs.size(); ++r) {
    const State again = run_steps(stream(runs[r].seed, runs[r].workers), p0, grads, AdamOptions{});
    EXPECT_TRUE(same_bits(first.params, again.params) && same_bits(first.m, again.m) && same_bits(first.v, again.v))
        << "thread-order seed " << runs[r].seed << " with " << runs[r].workers << " workers";
  }
}

TEST_F(VAE_FUSED_SUITE(AdamKernel), BadArgumentsAreNamed) {
  adam::StepArgs a;
  EXPECT_THROW(adam::validate(kVersion, a), vae::Error);
  float f = 0;
  adam::DeviceState st;
  a.count = 1, a.params = &f, a.exp_avg = &f, a.exp_avg_sq = &f, a.grad = &f, a.state = &st;
  a.options.beta2 = 1.0;
  EXPECT_THROW(adam::validate(kVersion, a), vae::Error);
}

}  // namespace
