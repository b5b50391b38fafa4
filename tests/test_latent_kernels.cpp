// The latent family (impl/kernels/latent.cu) against the reference's math in double
// (reference/README.md: reparameterization, KL, and the latent backward), in place and not,
// with the KL weight read from device memory at run time, bitwise-identical under every thread
// order.
#include <cmath>
#include <vector>

#include "common/error.h"
#include "fused_kernel_test.h"
#include "kernels/latent.h"
#include "model/noise.h"

namespace {

using namespace fused_test;
namespace latent = vae::kernels::latent;
using vae::device::Array;
using vae::device::to_device;
using vae::device::to_host;

constexpr latent::Version kVersion = latent::Version::per_image;

struct Inputs {
  Shape shape;
  double beta = 1.0, kl_weight = 1.0;
  std::vector<float> heads, eps, dz;  // [B, 2Z], [K, B, Z], [K·B, Z]
};

Inputs make_inputs(const Shape& s, double beta, double kl_weight) {
  Inputs in{s, beta, kl_weight, {}, {}, {}};
  const std::size_t bz = std::size_t(s.batch) * s.latent, kbz = bz * s.samples;
  const std::vector<float> mu = uniform_floats(bz, -2.0, 2.0, 1), logvar = uniform_floats(bz, -3.0, 2.0, 2);
  for (int b = 0; b < s.batch; ++b) {
    in.heads.insert(in.heads.end(), mu.begin() + long(b) * s.latent, mu.begin() + long(b + 1) * s.latent);
    in.heads.insert(in.heads.end(), logvar.begin() + long(b) * s.latent, logvar.begin() + long(b + 1) * s.latent);
  }
  in.eps.resize(kbz);
  vae::fill_eps(0x5eed, 7, s.samples, s.batch, s.latent, in.eps.data());
  in.dz = uniform_floats(kbz, -1.0, 1.0, 3);
  return in;
}

struct Outputs {
  std::vector<float> z, kl, d_heads;
};

// Forward then backward on the device; d_heads over the heads buffer when in_place.
Outputs run(const Stream& s, const Inputs& in, bool in_place) {
  const Shape& sh = in.shape;
  Array<float> heads = to_device(s, in.heads), eps = to_device(s, in.eps), dz = to_device(s, in.dz);
  Array<double> kl_weight = to_device(s, std::vector<double>{in.kl_weight});
  Array<float> z(kDevice, in.dz.size()), kl(kDevice, std::size_t(sh.batch)), d_heads(kDevice, in.heads.size());
  latent::ForwardArgs f;
  f.batch = sh.batch, f.latent = sh.latent, f.samples = sh.samples;
  f.heads = heads.data(), f.eps = eps.data(), f.z = z.data(), f.kl = kl.data();
  latent::forward(s, kVersion, f);
  latent::BackwardArgs b;
  b.batch = sh.batch, b.latent = sh.latent, b.samples = sh.samples;
  b.heads = heads.data(), b.eps = eps.data(), b.dz = dz.data();
  b.beta = in.beta, b.kl_weight = kl_weight.data();
  b.d_heads = in_place ? heads.data() : d_heads.data();
  latent::backward(s, kVersion, b);
  return {to_host(s, z), to_host(s, kl), to_host(s, in_place ? heads : d_heads)};
}

// The reference's formulas in double on the kernel's float inputs.
void expect_matches_double(const Inputs& in, const Outputs& out, const std::string& what) {
  const Shape& sh = in.shape;
  const int B = sh.batch, Z = sh.latent, K = sh.samples;
  ElementwiseCheck z_check(vae::tol::kLatentZ, what), kl_check(vae::tol::kLatentKl, what),
      dmu_check(vae::tol::kLatentDmu, what), dlogvar_check(vae::tol::kLatentDlogvar, what);
  const double beta_w = in.beta * in.kl_weight;
  for (int b = 0; b < B; ++b) {
    double kl_sum = 0, kl_scale = 0;
    for (int j = 0; j < Z; ++j) {
      const double mu = in.heads[std::size_t(b) * 2 * Z + j], lv = in.heads[std::size_t(b) * 2 * Z + Z + j];
      const double sigma = std::exp(0.5 * lv);
      double dmu = beta_w * mu, dmu_scale = std::fabs(beta_w * mu);
      double dlv = 0.5 * beta_w * (std::exp(lv) - 1.0), dlv_scale = 0.5 * std::fabs(beta_w) * (std::exp(lv) + 1.0);
      for (int k = 0; k < K; ++k) {
        const std::size_t at = (std::size_t(k) * B + b) * Z + j;
        const double eps = in.eps[at], dz = in.dz[at];
        z_check.add(out.z[at], mu + sigma * eps, std::fabs(mu) + std::fabs(sigma * eps), 0, at);
        dmu += dz, dmu_scale += std::fabs(dz);
        dlv += dz * eps * 0.5 * sigma, dlv_scale += std::fabs(dz * eps * 0.5 * sigma);
      }
      dmu_check.add(out.d_heads[std::size_t(b) * 2 * Z + j], dmu, dmu_scale, K, std::size_t(b) * 2 * Z + j);
      dlogvar_check.add(out.d_heads[std::size_t(b) * 2 * Z + Z + j], dlv, dlv_scale, K, std::size_t(b) * 2 * Z + Z + j);
      kl_sum += 1.0 + lv - mu * mu - std::exp(lv);
      kl_scale += 0.5 * (1.0 + std::fabs(lv) + mu * mu + std::exp(lv));
    }
    kl_check.add(out.kl[b], -0.5 * kl_sum, kl_scale, Z, std::size_t(b));
  }
  for (const ElementwiseCheck* c : {&z_check, &kl_check, &dmu_check, &dlogvar_check}) c->report();
}

class VAE_FUSED_SUITE(LatentKernels) : public DeviceTest {};

TEST_F(VAE_FUSED_SUITE(LatentKernels), ForwardAndBackwardMatchDoublePrecision) {
  for (const Shape& sh : shapes())
    for (const auto& [beta, w] : std::vector<std::pair<double, double>>{{1.0, 1.0}, {4.0, 0.3}}) {
      const Inputs in = make_inputs(sh, beta, w);
      const std::string what = sh.label() + " beta " + std::to_string(beta) + " w " + std::to_string(w);
      expect_matches_double(in, run(stream(), in, false), what);
    }
}

// d_heads may be heads: the same bits as a separate buffer.
TEST_F(VAE_FUSED_SUITE(LatentKernels), InPlaceBackwardEqualsOutOfPlace) {
  const Inputs in = make_inputs({37, 3, 7, 33}, 2.0, 0.5);
  const Outputs apart = run(stream(), in, false), in_place = run(stream(), in, true);
  EXPECT_TRUE(same_bits(apart.d_heads, in_place.d_heads));
  EXPECT_TRUE(same_bits(apart.z, in_place.z));
}

// w is read from device memory when the kernel runs: a captured backward replayed after the
// host changes w computes with the new w (a graph need not be re-captured for the warm-up).
TEST_F(VAE_FUSED_SUITE(LatentKernels), CapturedBackwardReadsTheKlWeightAtReplay) {
  const Shape sh{5, 2, 7, 33};
  const Inputs base = make_inputs(sh, 3.0, 1.0);
  const Stream s = stream();
  Array<float> heads = to_device(s, base.heads), eps = to_device(s, base.eps), dz = to_device(s, base.dz);
  Array<double> kl_weight = to_device(s, std::vector<double>{1.0});
  Array<float> d_heads(kDevice, base.heads.size()), z(kDevice, base.dz.size()), kl(kDevice, std::size_t(sh.batch));
  latent::BackwardArgs b;
  b.batch = sh.batch, b.latent = sh.latent, b.samples = sh.samples;
  b.heads = heads.data(), b.eps = eps.data(), b.dz = dz.data(), b.beta = base.beta;
  b.kl_weight = kl_weight.data(), b.d_heads = d_heads.data();
  vae::device::Graph::begin_capture(s);
  latent::backward(s, kVersion, b);
  const vae::device::Graph graph = vae::device::Graph::end_capture(s);
  for (double w : {0.0, 0.25, 1.0}) {
    vae::device::copy_to_device(s, kl_weight.data(), &w, sizeof w);
    graph.launch(s);
    Inputs in = base;
    in.kl_weight = w;
    Outputs expected = run(s, in, false);
    EXPECT_TRUE(same_bits(to_host(s, d_heads), expected.d_heads)) << "w = " << w;
    expect_matches_double(in, expected, "replayed with w " + std::to_string(w));
  }
}

TEST_F(VAE_FUSED_SUITE(LatentKernels), BitwiseIdenticalAcrossThreadOrdersAndWorkers) {
  const Inputs in = make_inputs({300, 2, 7, 33}, 1.5, 0.7);
  const std::vector<ThreadOrder> runs = thread_orders();
  const Outputs first = run(stream(runs[0].seed, runs[0].workers), in, false);
  for (std::size_t r = 1; r < runs.size(); ++r) {
    const Outputs again = run(stream(runs[r].seed, runs[r].workers), in, false);
    EXPECT_TRUE(same_bits(first.z, again.z) && same_bits(first.kl, again.kl) && same_bits(first.d_heads, again.d_heads))
        << "thread-order seed " << runs[r].seed << " with " << runs[r].workers << " workers";
  }
}

TEST_F(VAE_FUSED_SUITE(LatentKernels), BadArgumentsAreNamed) {
  latent::ForwardArgs f;
  f.batch = 0, f.latent = 2, f.samples = 1;
  EXPECT_THROW(latent::validate(kVersion, f), vae::Error);
  EXPECT_THROW(latent::version_from_int(2), vae::Error);
}

}  // namespace
