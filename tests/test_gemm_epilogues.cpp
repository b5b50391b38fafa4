// The GEMM family's epilogues (kernels/gemm.h), which fuse the step's next stage into a layer's
// GEMM, against the separate kernels they replace and against double precision:
//   likelihood  the output layer's GEMM writes dL/dO and per-tile NLL row sums instead of the
//               logits; likelihood::run v2 assembles the per-image losses from those sums;
//   latent      the heads GEMM computes z for every sample and the KL per image;
//   latent backward  with one sample, the decoder's first layer's dX GEMM writes dH, not dz.
// For v3-v6 (latent backward: every version), each through its own epilogue code (v3's
// register tile, v5's staged tile, split-K's second pass): shapes that split K and shapes that
// do not, ragged tiles and row blocks, K > 1, both likelihoods, float and byte targets. Bitwise
// identical under every thread order; on the CPU executor also bitwise identical to the
// separate kernels where the operations are the same (dL/dO, z, KL, dH: the fused path changes
// where they are computed, not how).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "common/error.h"
#include "fused_kernel_test.h"
#include "kernels/gemm.h"
#include "kernels/latent.h"
#include "kernels/likelihood.h"

namespace {

using namespace fused_test;
namespace gemm = vae::kernels::gemm;
namespace latent = vae::kernels::latent;
namespace likelihood = vae::kernels::likelihood;
using vae::Likelihood;
using vae::device::Array;
using vae::device::to_device;
using vae::device::to_host;
using vae::kernels::RunningSums;

std::vector<gemm::Version> epilogue_versions() {
  std::vector<gemm::Version> v;
  for (int i = gemm::kFirstVersion; i <= gemm::kLastVersion; ++i)
    if (gemm::has_epilogues(gemm::version_from_int(i))) v.push_back(gemm::version_from_int(i));
  return v;
}

bool splits(gemm::Version v, int rows, int in, int out) {
  return gemm::workspace_floats(v, gemm::Pass::forward, rows, in, out) > 0;
}

// A dense layer on the device: input [rows, in], weight [out, in], bias [out], its workspace.
struct Layer {
  int rows = 0, in = 0, out = 0;
  Array<float> x, weight, bias, workspace;

  Layer(const Stream& s, gemm::Version v, int rows_, int in_, int out_, double weight_range, std::uint64_t stream_id)
      : rows(rows_), in(in_), out(out_) {
    x = to_device(s, uniform_floats(std::size_t(rows) * in, -1.0, 1.0, stream_id));
    weight = to_device(s, uniform_floats(std::size_t(out) * in, -weight_range, weight_range, stream_id + 1));
    bias = to_device(s, uniform_floats(std::size_t(out), -0.5, 0.5, stream_id + 2));
    workspace = Array<float>(kDevice, std::max<std::size_t>(1, gemm::workspace_floats(v, gemm::Pass::forward, rows, in, out)));
  }
  gemm::ForwardArgs args(float* y) const {
    gemm::ForwardArgs a;
    a.batch = rows, a.in = in, a.out = out;
    a.x = x.data(), a.weight = weight.data(), a.bias = bias.data();
    a.y = y;
    a.workspace = workspace.data(), a.workspace_size = workspace.size();
    return a;
  }
};

// --- the likelihood epilogue ------------------------------------------------------------------

struct LikelihoodCase {
  gemm::Version version;
  int batch, samples, hidden, pixels;  // B, K, G (the output layer's input), D
  Likelihood lik;
  bool byte_targets;
  std::string label() const {
    return std::string(gemm::version_name(version)) + " B=" + std::to_string(batch) + " K=" + std::to_string(samples) +
           " G=" + std::to_string(hidden) + " D=" + std::to_string(pixels) +
           (lik == Likelihood::Bernoulli ? " bernoulli" : " gaussian") + (byte_targets ? " byte targets" : " float targets");
  }
};

std::vector<LikelihoodCase> likelihood_cases() {
  std::vector<LikelihoodCase> cases;
  for (gemm::Version v : epilogue_versions()) {
    cases.push_back({v, 128, 1, 400, 784, Likelihood::Bernoulli, true});  // the default model's (v4/v5 split K)
    cases.push_back({v, 5, 3, 24, 70, Likelihood::Gaussian, false});      // K = 3, a ragged tile, no split
    cases.push_back({v, 70, 2, 200, 33, Likelihood::Bernoulli, false});   // 140 rows: 3 row blocks, split K
  }
  return cases;
}

struct LikelihoodRun {
  std::vector<float> logits;  // the plain GEMM's (separate path only)
  std::vector<float> gradient, recon, loss, elbo;
  RunningSums sums;
  std::vector<std::int64_t> record;
};

// One run on fresh buffers: the output layer's GEMM, then the likelihood, separate (GEMM into
// the logits, likelihood v1 over them) or fused (the epilogue, then likelihood v2).
LikelihoodRun run_likelihood(const Stream& s, const LikelihoodCase& c, bool fused, bool write_gradient = true) {
  const int B = c.batch, K = c.samples, D = c.pixels, rows = K * B;
  // Logits of a few units, some saturated: weights ~ 6/sqrt(G).
  const Layer layer(s, c.version, rows, c.hidden, D, 6.0 / std::sqrt(double(c.hidden)), 21);
  const std::vector<float> u = uniform_floats(std::size_t(B) * D, 0.0, 1.0, 31);
  std::vector<std::uint8_t> bytes;
  for (std::size_t i = 0; i < u.size(); ++i) bytes.push_back(i % 3 ? std::uint8_t(u[i] * 256.0f) : (u[i] < 0.3f ? 255 : 0));
  Array<float> x = to_device(s, c.byte_targets ? std::vector<float>{} : u);
  Array<std::uint8_t> x_bytes = to_device(s, c.byte_targets ? bytes : std::vector<std::uint8_t>{});
  Array<float> kl = to_device(s, uniform_floats(std::size_t(B), 0.0, 30.0, 32));
  Array<double> kl_weight = to_device(s, std::vector<double>{0.75});
  Array<float> out(kDevice, std::size_t(rows) * D), row_nll(kDevice, std::size_t(gemm::likelihood_tiles(D)) * rows);
  Array<float> recon(kDevice, std::size_t(B)), loss(kDevice, std::size_t(B)), elbo(kDevice, std::size_t(B));
  Array<RunningSums> sums = to_device(s, std::vector<RunningSums>{RunningSums{10, 100.0, 20.0, 110.0}});
  Array<std::int64_t> record = to_device(s, std::vector<std::int64_t>(vae::kernels::kNonFiniteSlots, -1));
  Array<std::int64_t> steps = to_device(s, std::vector<std::int64_t>{6});

  likelihood::Args a;
  a.likelihood = c.lik, a.batch = B, a.samples = K, a.pixels = D;
  a.kl = kl.data(), a.beta = 1.25, a.kl_weight = kl_weight.data();
  a.recon = recon.data(), a.loss = loss.data(), a.elbo = elbo.data();
  a.sums = sums.data(), a.nonfinite = record.data(), a.steps_taken = steps.data();
  LikelihoodRun r;
  if (fused) {
    gemm::LikelihoodEpilogue e;
    e.likelihood = c.lik, e.batch = B, e.samples = K;
    if (c.byte_targets) e.x_bytes = x_bytes.data();
    else e.x = x.data();
    e.write_gradient = write_gradient;
    e.row_nll = row_nll.data();
    gemm::ForwardArgs f = layer.args(write_gradient ? out.data() : nullptr);
    f.likelihood = &e;
    gemm::forward(s, c.version, f);
    a.row_nll = row_nll.data();
    likelihood::run(s, likelihood::Version::tile_sums, a);
  } else {
    gemm::forward(s, c.version, layer.args(out.data()));
    r.logits = to_host(s, out);
    if (c.byte_targets) a.x_bytes = x_bytes.data();
    else a.x = x.data();
    a.logits = out.data(), a.write_gradient = write_gradient;
    likelihood::run(s, likelihood::Version::row_blocks, a);
  }
  r.gradient = to_host(s, out), r.recon = to_host(s, recon), r.loss = to_host(s, loss), r.elbo = to_host(s, elbo);
  r.sums = to_host(s, sums)[0], r.record = to_host(s, record);
  return r;
}

// The reference's formulas in double on the plain GEMM's logits (the fused path computes the
// same float logits in registers: the GEMM is the same code up to its epilogue).
void expect_matches_double(const LikelihoodCase& c, const std::vector<float>& logits, const LikelihoodRun& got) {
  const int B = c.batch, K = c.samples, D = c.pixels;
  const std::string what = c.label();
  const std::vector<float> u = uniform_floats(std::size_t(B) * D, 0.0, 1.0, 31);
  const std::vector<float> kl = uniform_floats(std::size_t(B), 0.0, 30.0, 32);
  const auto target = [&](std::size_t i) {
    if (!c.byte_targets) return double(u[i]);
    const std::uint8_t byte = i % 3 ? std::uint8_t(u[i] * 256.0f) : (u[i] < 0.3f ? 255 : 0);
    return double(float(byte) / 255.0f);
  };
  ElementwiseCheck grad_check(vae::tol::kLikelihoodGradient, what), recon_check(vae::tol::kLikelihoodRecon, what + " recon"),
      loss_check(vae::tol::kLikelihoodRecon, what + " loss"), elbo_check(vae::tol::kLikelihoodRecon, what + " elbo"),
      sums_check(vae::tol::kRunningSumsDouble, what + " sums");
  const double beta_w = double(float(1.25 * 0.75));
  double recon_sum = 100.0, loss_sum = 110.0, recon_abs = 100.0, loss_abs = 110.0;
  for (int b = 0; b < B; ++b) {
    double recon = 0, scale = 0;
    for (int k = 0; k < K; ++k)
      for (int d = 0; d < D; ++d) {
        const std::size_t at = (std::size_t(k) * B + b) * D + d;
        const PixelExpectation e = expected_pixel(c.lik, logits[at], target(std::size_t(b) * D + d), K);
        recon += e.nll, scale += e.nll_scale;
        grad_check.add(got.gradient[at], e.gradient, e.gradient_scale, 0, at);
      }
    recon /= K, scale /= K;
    const double n = double(K) * D;
    recon_check.add(got.recon[b], recon, scale, n, std::size_t(b));
    loss_check.add(got.loss[b], recon + beta_w * kl[b], scale + std::fabs(beta_w * kl[b]), n + 3, std::size_t(b));
    elbo_check.add(got.elbo[b], -(recon + kl[b]), scale + std::fabs(kl[b]), n + 3, std::size_t(b));
    recon_sum += got.recon[b], loss_sum += got.loss[b];
    recon_abs += std::fabs(got.recon[b]), loss_abs += std::fabs(got.loss[b]);
  }
  EXPECT_EQ(got.sums.images, 10 + B) << what;
  sums_check.add(got.sums.recon, recon_sum, recon_abs, B, 0);
  sums_check.add(got.sums.loss, loss_sum, loss_abs, B, 2);
  for (const ElementwiseCheck* check : {&grad_check, &recon_check, &loss_check, &elbo_check, &sums_check}) check->report();
  EXPECT_EQ(grad_check.checked(), std::size_t(K) * B * D) << what;
}

class VAE_FUSED_SUITE(GemmEpilogues) : public DeviceTest {};

TEST_F(VAE_FUSED_SUITE(GemmEpilogues), TheLikelihoodEpilogueMatchesTheSeparateKernelsAndDoublePrecision) {
  bool saw_split = false, saw_unsplit = false;
  for (const LikelihoodCase& c : likelihood_cases()) {
    SCOPED_TRACE(c.label());
    (splits(c.version, c.samples * c.batch, c.hidden, c.pixels) ? saw_split : saw_unsplit) = true;
    const Stream s = stream();
    const LikelihoodRun separate = run_likelihood(s, c, false), fused = run_likelihood(s, c, true);
    expect_matches_double(c, separate.logits, fused);
    EXPECT_EQ(fused.record, std::vector<std::int64_t>(vae::kernels::kNonFiniteSlots, -1)) << "finite inputs";
#if !defined(VAE_TEST_ON_CUDA)
    // The host compiler builds both paths from the same inline functions: the same bits.
    EXPECT_TRUE(same_bits(fused.gradient, separate.gradient)) << "dL/dO differs from likelihood v1's";
#endif
    // Evaluation: no dL/dO (y may be null), the same losses as the step's.
    const LikelihoodRun eval = run_likelihood(s, c, true, false);
    EXPECT_TRUE(same_bits(eval.recon, fused.recon) && same_bits(eval.loss, fused.loss)) << "evaluation differs";
  }
  EXPECT_TRUE(saw_split && saw_unsplit) << "the cases must reach both the epilogue in the tile and split-K's second pass";
}

TEST_F(VAE_FUSED_SUITE(GemmEpilogues), TheLikelihoodEpilogueIsBitwiseIdenticalUnderEveryThreadOrder) {
  for (const LikelihoodCase& c : likelihood_cases()) {
    if (c.pixels == 784) continue;  // the small shapes reach the same code paths
    SCOPED_TRACE(c.label());
    const LikelihoodRun first = run_likelihood(stream(), c, true);
    for (const ThreadOrder& order : thread_orders()) {
      const LikelihoodRun again = run_likelihood(stream(order.seed, order.workers), c, true);
      EXPECT_TRUE(same_bits(again.gradient, first.gradient) && same_bits(again.recon, first.recon) &&
                  same_bits(again.loss, first.loss) && same_bits(again.elbo, first.elbo))
          << "thread-order seed " << order.seed << ", " << order.workers << " workers";
      EXPECT_EQ(std::memcmp(&again.sums, &first.sums, sizeof first.sums), 0) << "running sums, seed " << order.seed;
    }
  }
}

TEST_F(VAE_FUSED_SUITE(GemmEpilogues), TheLikelihoodEpilogueRecordsANonFiniteLoss) {
  const LikelihoodCase c{gemm::Version::split_k, 3, 1, 40, 70, Likelihood::Bernoulli, false};
  const Stream s = stream();
  // A weight of +inf makes every logit of one column infinite or NaN: recon and loss not finite.
  const Layer layer(s, c.version, 3, 40, 70, 1.0, 21);
  std::vector<float> w = to_host(s, layer.weight);
  w[5 * 40 + 3] = INFINITY;
  vae::device::copy_to_device(s, layer.weight.data(), w.data(), w.size() * sizeof(float));
  Array<float> x = to_device(s, uniform_floats(3 * 70, 0.0, 1.0, 31)), kl = to_device(s, std::vector<float>{1, 2, 3});
  Array<float> out(kDevice, 3 * 70), row_nll(kDevice, std::size_t(gemm::likelihood_tiles(70)) * 3);
  Array<float> recon(kDevice, 3), loss(kDevice, 3);
  Array<std::int64_t> record = to_device(s, std::vector<std::int64_t>(vae::kernels::kNonFiniteSlots, -1));
  Array<std::int64_t> steps = to_device(s, std::vector<std::int64_t>{41});
  gemm::LikelihoodEpilogue e;
  e.batch = 3, e.samples = 1, e.x = x.data(), e.row_nll = row_nll.data();
  gemm::ForwardArgs f = layer.args(out.data());
  f.likelihood = &e;
  gemm::forward(s, c.version, f);
  likelihood::Args a;
  a.batch = 3, a.samples = 1, a.pixels = 70, a.row_nll = row_nll.data(), a.kl = kl.data();
  a.recon = recon.data(), a.loss = loss.data(), a.nonfinite = record.data(), a.steps_taken = steps.data();
  likelihood::run(s, likelihood::Version::tile_sums, a);
  const std::vector<std::int64_t> r = to_host(s, record);
  EXPECT_EQ(r[vae::kernels::kNonFiniteLoss], 42);
  EXPECT_EQ(r[vae::kernels::kNonFiniteRecon], 42);
  EXPECT_EQ(r[vae::kernels::kNonFiniteKl], -1);
}

// --- the latent epilogue --------------------------------------------------------------------

struct LatentCase {
  gemm::Version version;
  int batch, samples, latent, hidden;  // B, K, Z, G (the heads' input)
  std::string label() const {
    return std::string(gemm::version_name(version)) + " B=" + std::to_string(batch) + " K=" + std::to_string(samples) +
           " Z=" + std::to_string(latent) + " G=" + std::to_string(hidden);
  }
};

std::vector<LatentCase> latent_cases() {
  std::vector<LatentCase> cases;
  for (gemm::Version v : epilogue_versions()) {
    cases.push_back({v, 128, 1, 20, 400});  // the default model's heads (v4/v5 split K)
    cases.push_back({v, 130, 3, 32, 24});   // 2Z = 64, the widest; 3 row blocks, ragged; no split
    cases.push_back({v, 1, 2, 7, 100});     // one image (v4/v5: split K)
  }
  return cases;
}

struct LatentRun {
  std::vector<float> heads, z, kl;
};

LatentRun run_latent(const Stream& s, const LatentCase& c, bool fused) {
  const int B = c.batch, Z = c.latent, K = c.samples;
  // Heads of a few units: log-variances within about ±4.
  const Layer layer(s, c.version, B, c.hidden, 2 * Z, 3.0 / std::sqrt(double(c.hidden)), 41);
  Array<float> eps = to_device(s, uniform_floats(std::size_t(K) * B * Z, -3.0, 3.0, 51));
  Array<float> heads(kDevice, std::size_t(B) * 2 * Z), z(kDevice, std::size_t(K) * B * Z), kl(kDevice, std::size_t(B));
  if (fused) {
    gemm::LatentEpilogue e;
    e.samples = K, e.eps = eps.data(), e.z = z.data(), e.kl = kl.data();
    gemm::ForwardArgs f = layer.args(heads.data());
    f.latent = &e;
    gemm::forward(s, c.version, f);
  } else {
    gemm::forward(s, c.version, layer.args(heads.data()));
    latent::ForwardArgs f;
    f.batch = B, f.latent = Z, f.samples = K;
    f.heads = heads.data(), f.eps = eps.data(), f.z = z.data(), f.kl = kl.data();
    latent::forward(s, latent::Version::per_image, f);
  }
  return {to_host(s, heads), to_host(s, z), to_host(s, kl)};
}

TEST_F(VAE_FUSED_SUITE(GemmEpilogues), TheLatentEpilogueMatchesTheSeparateKernelAndDoublePrecision) {
  bool saw_split = false, saw_unsplit = false;
  for (const LatentCase& c : latent_cases()) {
    SCOPED_TRACE(c.label());
    (splits(c.version, c.batch, c.hidden, 2 * c.latent) ? saw_split : saw_unsplit) = true;
    const Stream s = stream();
    const LatentRun separate = run_latent(s, c, false), fused = run_latent(s, c, true);
    EXPECT_TRUE(same_bits(fused.heads, separate.heads)) << "H differs: the epilogue must store it as the plain GEMM does";
#if !defined(VAE_TEST_ON_CUDA)
    EXPECT_TRUE(same_bits(fused.z, separate.z) && same_bits(fused.kl, separate.kl)) << "z or KL differs from latent v1's";
#endif
    const int B = c.batch, Z = c.latent, K = c.samples;
    const std::vector<float> eps = uniform_floats(std::size_t(K) * B * Z, -3.0, 3.0, 51);
    ElementwiseCheck z_check(vae::tol::kLatentZ, c.label()), kl_check(vae::tol::kLatentKl, c.label());
    for (int b = 0; b < B; ++b) {
      double kl_sum = 0, kl_scale = 0;
      for (int j = 0; j < Z; ++j) {
        const double mu = fused.heads[std::size_t(b) * 2 * Z + j], lv = fused.heads[std::size_t(b) * 2 * Z + Z + j];
        const double sigma = std::exp(0.5 * lv);
        for (int k = 0; k < K; ++k) {
          const std::size_t at = (std::size_t(k) * B + b) * Z + j;
          z_check.add(fused.z[at], mu + sigma * eps[at], std::fabs(mu) + std::fabs(sigma * eps[at]), 0, at);
        }
        kl_sum += 1.0 + lv - mu * mu - std::exp(lv);
        kl_scale += 0.5 * (1.0 + std::fabs(lv) + mu * mu + std::exp(lv));
      }
      kl_check.add(fused.kl[b], -0.5 * kl_sum, kl_scale, Z, std::size_t(b));
    }
    z_check.report();
    kl_check.report();
    EXPECT_EQ(z_check.checked(), std::size_t(K) * B * Z);
  }
  EXPECT_TRUE(saw_split && saw_unsplit) << "the cases must reach both the epilogue in the tile and split-K's second pass";
}

TEST_F(VAE_FUSED_SUITE(GemmEpilogues), TheLatentEpilogueIsBitwiseIdenticalUnderEveryThreadOrder) {
  for (const LatentCase& c : latent_cases()) {
    SCOPED_TRACE(c.label());
    const LatentRun first = run_latent(stream(), c, true);
    for (const ThreadOrder& order : thread_orders()) {
      const LatentRun again = run_latent(stream(order.seed, order.workers), c, true);
      EXPECT_TRUE(same_bits(again.heads, first.heads) && same_bits(again.z, first.z) && same_bits(again.kl, first.kl))
          << "thread-order seed " << order.seed << ", " << order.workers << " workers";
    }
  }
}

// --- the latent backward epilogue (K = 1) -------------------------------------------------

struct LatentBackwardCase {
  gemm::Version version;
  int batch, latent, width;  // B, Z, G (the decoder's first layer: z[B, Z] -> [B, G])
  gemm::Activation act;
  std::string label() const {
    return std::string(gemm::version_name(version)) + " B=" + std::to_string(batch) + " Z=" + std::to_string(latent) +
           " G=" + std::to_string(width) + " " + gemm::activation_name(act);
  }
};

std::vector<LatentBackwardCase> latent_backward_cases() {
  std::vector<LatentBackwardCase> cases;
  for (int i = gemm::kFirstVersion; i <= gemm::kLastVersion; ++i) {
    const gemm::Version v = gemm::version_from_int(i);
    cases.push_back({v, 128, 20, 400, gemm::Activation::relu});     // the default model's (v4/v5 split K)
    cases.push_back({v, 5, 7, 24, gemm::Activation::tanh});         // no split
    cases.push_back({v, 70, 33, 50, gemm::Activation::identity});  // 2Z = 66: wider than one tile is fine here
  }
  return cases;
}

struct LatentBackwardRun {
  std::vector<float> dz, d_heads, dw, db;
};

LatentBackwardRun run_latent_backward(const Stream& s, const LatentBackwardCase& c, bool fused) {
  const int B = c.batch, Z = c.latent, G = c.width;
  Array<float> dy = to_device(s, uniform_floats(std::size_t(B) * G, -0.01, 0.01, 71));
  Array<float> y = to_device(s, uniform_floats(std::size_t(B) * G, c.act == gemm::Activation::tanh ? -0.9 : -1.0, 0.9, 72));
  Array<float> z = to_device(s, uniform_floats(std::size_t(B) * Z, -2.0, 2.0, 73));
  Array<float> weight = to_device(s, uniform_floats(std::size_t(G) * Z, -0.3, 0.3, 74));
  Array<float> heads = to_device(s, uniform_floats(std::size_t(B) * 2 * Z, -2.0, 2.0, 75));
  Array<float> eps = to_device(s, uniform_floats(std::size_t(B) * Z, -3.0, 3.0, 76));
  Array<double> kl_weight = to_device(s, std::vector<double>{0.3});
  Array<float> dz(kDevice, std::size_t(B) * Z), dw(kDevice, std::size_t(G) * Z), db(kDevice, std::size_t(G));
  Array<float> workspace(kDevice, std::max<std::size_t>(1, gemm::workspace_floats(c.version, gemm::Pass::backward, B, Z, G)));
  gemm::BackwardArgs a;
  a.batch = B, a.in = Z, a.out = G;
  a.dy = dy.data(), a.y = y.data(), a.activation = c.act;
  a.x = z.data(), a.weight = weight.data();
  a.dw = dw.data(), a.db = db.data();
  a.workspace = workspace.data(), a.workspace_size = workspace.size();
  LatentBackwardRun r;
  if (fused) {
    gemm::LatentBackwardEpilogue e;
    e.heads = heads.data(), e.eps = eps.data(), e.beta = 1.5, e.kl_weight = kl_weight.data();
    e.d_heads = heads.data();  // in place, as the backend does
    a.latent = &e;
    gemm::backward(s, c.version, a);
  } else {
    a.dx = dz.data();
    gemm::backward(s, c.version, a);
    r.dz = to_host(s, dz);
    latent::BackwardArgs l;
    l.batch = B, l.latent = Z, l.samples = 1;
    l.heads = heads.data(), l.eps = eps.data(), l.dz = dz.data();
    l.beta = 1.5, l.kl_weight = kl_weight.data(), l.d_heads = heads.data();
    latent::backward(s, latent::Version::per_image, l);
  }
  r.d_heads = to_host(s, heads), r.dw = to_host(s, dw), r.db = to_host(s, db);
  return r;
}

TEST_F(VAE_FUSED_SUITE(GemmEpilogues), TheLatentBackwardEpilogueMatchesTheSeparateKernelAndDoublePrecision) {
  bool saw_split = false, saw_unsplit = false;
  for (const LatentBackwardCase& c : latent_backward_cases()) {
    SCOPED_TRACE(c.label());
    (gemm::workspace_floats(c.version, gemm::Pass::backward, c.batch, c.latent, c.width) > 0 ? saw_split : saw_unsplit) = true;
    const Stream s = stream();
    const LatentBackwardRun separate = run_latent_backward(s, c, false), fused = run_latent_backward(s, c, true);
    EXPECT_TRUE(same_bits(fused.dw, separate.dw) && same_bits(fused.db, separate.db)) << "dW or db changed";
#if !defined(VAE_TEST_ON_CUDA)
    EXPECT_TRUE(same_bits(fused.d_heads, separate.d_heads)) << "dH differs from latent v1's";
#endif
    // latent::backward's formulas in double on the GEMM's dz (the GEMM tests judge dz itself).
    const int B = c.batch, Z = c.latent;
    const std::vector<float> heads = uniform_floats(std::size_t(B) * 2 * Z, -2.0, 2.0, 75);
    const std::vector<float> eps = uniform_floats(std::size_t(B) * Z, -3.0, 3.0, 76);
    const double beta_w = double(float(1.5 * 0.3));
    ElementwiseCheck dmu_check(vae::tol::kLatentDmu, c.label()), dlv_check(vae::tol::kLatentDlogvar, c.label());
    for (int b = 0; b < B; ++b)
      for (int j = 0; j < Z; ++j) {
        const std::size_t mu_at = std::size_t(b) * 2 * Z + j, lv_at = mu_at + Z, at = std::size_t(b) * Z + j;
        const double mu = heads[mu_at], lv = heads[lv_at], dz = separate.dz[at], half_sigma = 0.5 * std::exp(0.5 * lv);
        dmu_check.add(fused.d_heads[mu_at], dz + beta_w * mu, std::fabs(dz) + std::fabs(beta_w * mu), 1, mu_at);
        dlv_check.add(fused.d_heads[lv_at], dz * eps[at] * half_sigma + 0.5 * beta_w * (std::exp(lv) - 1.0),
                      std::fabs(dz * eps[at] * half_sigma) + 0.5 * std::fabs(beta_w) * (std::exp(lv) + 1.0), 1, lv_at);
      }
    dmu_check.report();
    dlv_check.report();
  }
  EXPECT_TRUE(saw_split && saw_unsplit) << "the cases must reach both the epilogue in the tile and split-K's second pass";
}

TEST_F(VAE_FUSED_SUITE(GemmEpilogues), TheLatentBackwardEpilogueIsBitwiseIdenticalUnderEveryThreadOrder) {
  for (const LatentBackwardCase& c : latent_backward_cases()) {
    if (c.batch == 128) continue;  // the small shapes reach the same code paths
    SCOPED_TRACE(c.label());
    const LatentBackwardRun first = run_latent_backward(stream(), c, true);
    for (const ThreadOrder& order : thread_orders()) {
      const LatentBackwardRun again = run_latent_backward(stream(order.seed, order.workers), c, true);
      EXPECT_TRUE(same_bits(again.d_heads, first.d_heads) && same_bits(again.dw, first.dw) && same_bits(again.db, first.db))
          << "thread-order seed " << order.seed << ", " << order.workers << " workers";
    }
  }
}

// --- refusals ------------------------------------------------------------------------------

// gemm::validate's message for forward or backward arguments, or "" when it accepts them.
template <class Args>
std::string refusal(gemm::Version v, const Args& a) {
  try {
    gemm::validate(v, a);
  } catch (const vae::Error& e) {
    return e.what();
  }
  return "";
}

TEST_F(VAE_FUSED_SUITE(GemmEpilogues), RefusesWhatTheEpiloguesCannotDo) {
  const Stream s = stream();
  const Layer layer(s, gemm::Version::register_blocked, 6, 10, 70, 1.0, 61);
  Array<float> y(kDevice, 6 * 70), row_nll(kDevice, 2 * 6), x(kDevice, 3 * 70), z(kDevice, 6 * 35), eps(kDevice, 6 * 35);
  gemm::LikelihoodEpilogue lik;
  lik.batch = 3, lik.samples = 2, lik.x = x.data(), lik.row_nll = row_nll.data();
  gemm::ForwardArgs a = layer.args(y.data());
  a.likelihood = &lik;
  EXPECT_EQ(refusal(gemm::Version::register_blocked, a), "");
  EXPECT_NE(refusal(gemm::Version::naive, a).find("needs the 64x64 block tile of v3-v6"), std::string::npos);
  a.activation = gemm::Activation::relu;
  EXPECT_NE(refusal(gemm::Version::split_k, a).find("replaces the activation"), std::string::npos);
  a.activation = gemm::Activation::identity;
  lik.samples = 3;
  EXPECT_NE(refusal(gemm::Version::split_k, a).find("samples x batch (3 x 3)"), std::string::npos);
  lik.samples = 2, lik.row_nll = nullptr;
  EXPECT_NE(refusal(gemm::Version::split_k, a).find("row_nll is null"), std::string::npos);
  lik.row_nll = row_nll.data(), a.y = nullptr;
  EXPECT_NE(refusal(gemm::Version::split_k, a).find("y (for dL/dO) is null"), std::string::npos);
  lik.write_gradient = false;
  EXPECT_EQ(refusal(gemm::Version::split_k, a), "") << "evaluation writes no dL/dO";

  gemm::LatentEpilogue lat;
  lat.samples = 1, lat.eps = eps.data(), lat.z = z.data();
  a.y = y.data();
  a.latent = &lat;
  EXPECT_NE(refusal(gemm::Version::split_k, a).find("at most one epilogue"), std::string::npos);
  a.likelihood = nullptr;
  EXPECT_NE(refusal(gemm::Version::split_k, a).find("needs out = 2Z <= 64"), std::string::npos) << "2Z = 70";
  gemm::ForwardArgs heads = a;
  heads.out = 64;
  EXPECT_EQ(refusal(gemm::Version::tf32_wmma, heads), "");
  lat.z = nullptr;
  EXPECT_NE(refusal(gemm::Version::tf32_wmma, heads).find("needs eps and z"), std::string::npos);

  gemm::BackwardArgs back;
  back.batch = 6, back.in = 10, back.out = 70;
  back.dy = y.data(), back.x = x.data(), back.weight = layer.weight.data(), back.dw = y.data(), back.dx = z.data();
  gemm::LatentBackwardEpilogue grad;
  grad.heads = z.data(), grad.eps = eps.data(), grad.d_heads = z.data();
  back.latent = &grad;
  EXPECT_NE(refusal(gemm::Version::naive, back).find("in place of dx: give dx = null"), std::string::npos);
  back.dx = nullptr;
  EXPECT_EQ(refusal(gemm::Version::naive, back), "");
  grad.eps = nullptr;
  EXPECT_NE(refusal(gemm::Version::naive, back).find("needs heads, eps and d_heads"), std::string::npos);

  likelihood::Args tiles;
  tiles.batch = 3, tiles.samples = 2, tiles.pixels = 70, tiles.kl = x.data(), tiles.recon = x.data();
  try {
    likelihood::validate(likelihood::Version::tile_sums, tiles);
    ADD_FAILURE() << "likelihood v2 without row_nll was accepted";
  } catch (const vae::Error& e) {
    EXPECT_NE(std::string(e.what()).find("needs row_nll"), std::string::npos) << e.what();
  }
}

}  // namespace
