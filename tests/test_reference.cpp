// The reference proves itself on small synthetic models (D = 12): finite differences and
// LibTorch float64 autograd over activations, likelihoods, beta, K, depth and odd sizes,
// Adam against torch, importance sampling; plus closed forms and checks that must trip.
#include <gtest/gtest.h>

#include <cmath>

#include "adam.h"
#include "common/error.h"
#include "cases.h"
#include "named_config.h"
#include "reference_checks.h"
#include "vae_reference.h"

namespace vae {
namespace {

VaeConfig small(int latent = 3) {
  VaeConfig c;
  c.input_dim = 12;
  c.encoder_hidden = {9};
  c.latent = latent;
  return c;
}

using Named = vae::testing::NamedConfig;

std::vector<Named> synthetic_matrix() {
  std::vector<Named> m;
  m.push_back({"relu-bernoulli-b5", small(), 5});
  VaeConfig c = small();
  c.activation = Activation::Tanh;
  m.push_back({"tanh-bernoulli-b1", c, 1});
  c = small();
  c.likelihood = Likelihood::Gaussian;
  m.push_back({"relu-gaussian-b5", c, 5});
  c.activation = Activation::Tanh;
  c.beta = 2.5;
  c.samples = 4;
  m.push_back({"tanh-gaussian-beta2.5-k4-b5", c, 5});
  c = small(7);
  c.encoder_hidden = {33, 17};
  c.samples = 3;
  c.beta = 0.3;
  c.init = InitScheme::Xavier;
  m.push_back({"h33x17-z7-k3-b1", c, 1});
  c.decoder_hidden_override = std::vector<int>{5, 11, 6};
  c.activation = Activation::Tanh;
  m.push_back({"asymmetric-decoder-b5", c, 5});
  return m;
}


class ReferenceProof : public ::testing::TestWithParam<Named> {};

TEST_P(ReferenceProof, MatchesFiniteDifferencesTorchAutogradAdamAndIw) {
  const Named& n = GetParam();
  const ValidationCase c{n.name, n.config, n.batch};
  const CaseInputs in = make_inputs(c, nullptr, Binarize::None);
  ReferenceCheckOptions opt;
  opt.fd_full_below = 1000;  // small model: every entry of every tensor
  const CaseResult r = check_reference(c, in, opt);
  const size_t tensors = ParamLayout(n.config).views().size();
  EXPECT_EQ(r.comparisons.size(), 4 + 2 * tensors + 2 + 1);  // outputs, grads + fd, adam, iw
  for (const Comparison& cmp : r.comparisons) {
    EXPECT_TRUE(cmp.passed) << cmp.quantity << ": norm rel " << cmp.norm_rel << ", max abs " << cmp.max_abs
                            << ", " << cmp.percent_of_tolerance << "% of tolerance";
    EXPECT_GT(cmp.count, 0u) << cmp.quantity;
  }
  EXPECT_TRUE(r.passed);
}

INSTANTIATE_TEST_SUITE_P(Synthetic, ReferenceProof, ::testing::ValuesIn(synthetic_matrix()),
                         vae::testing::NamedConfigTestName());

TEST(ReferenceProof, FiniteDifferencesCatchAWrongGradient) {
  const VaeConfig cfg = small();
  const ValidationCase c{"wrong", cfg, 3};
  const CaseInputs in = make_inputs(c, nullptr, Binarize::None);
  const ref::VaeReference model(cfg);
  std::vector<double> grad;
  model.forward_backward(in.params, Eigen::Map<const ref::Matrix>(in.x.data(), 3, 12), in.eps, grad);
  const ParamView& v = model.layout().view("enc.logvar.bias");
  grad[v.offset + 1] *= 1.01;  // a 1% error in one entry
  for (const Comparison& cmp : finite_difference_checks(cfg, in, 3, grad))
    EXPECT_EQ(cmp.passed, cmp.quantity != "fd.enc.logvar.bias") << cmp.quantity;
}

TEST(Reference, ZeroParametersGiveClosedForms) {
  for (Likelihood lik : {Likelihood::Bernoulli, Likelihood::Gaussian}) {
    VaeConfig cfg = small();
    cfg.likelihood = lik;
    cfg.beta = 3;
    const ref::VaeReference model(cfg);
    const std::vector<double> zero(model.layout().total(), 0.0);
    const CaseInputs in = make_inputs({"zero", cfg, 2}, nullptr, Binarize::None);
    const ref::Matrix x = Eigen::Map<const ref::Matrix>(in.x.data(), 2, 12);
    const ref::Losses l = model.forward(zero, x, in.eps);
    for (int b = 0; b < 2; ++b) {
      // mu = 0, logvar = 0: q = N(0, I) = prior, so KL = 0; logits o = 0 for every pixel.
      EXPECT_DOUBLE_EQ(l.kl(b), 0.0);
      double expected = 12 * std::log(2.0);  // BCE(0, x) = log 2 whatever x is
      if (lik == Likelihood::Gaussian) {     // mean sigmoid(0) = 0.5
        expected = 0;
        for (int d = 0; d < 12; ++d) expected += 0.5 * (x(b, d) - 0.5) * (x(b, d) - 0.5);
        expected += 0.5 * 12 * std::log(2 * M_PI);
      }
      EXPECT_NEAR(l.recon(b), expected, 1e-12);
      EXPECT_NEAR(l.loss(b), expected, 1e-12);
      EXPECT_NEAR(l.elbo(b), -expected, 1e-12);
    }
  }
}

TEST(Reference, KlClosedFormAndBetaWeighting) {
  // Only the logvar/mu biases set: mu = 0.5, logvar = -1 for every image.
  VaeConfig cfg = small(2);
  cfg.beta = 4;
  const ref::VaeReference model(cfg);
  std::vector<double> p(model.layout().total(), 0.0);
  for (size_t i = 0; i < 2; ++i) {
    p[model.layout().view("enc.mu.bias").offset + i] = 0.5;
    p[model.layout().view("enc.logvar.bias").offset + i] = -1.0;
  }
  const CaseInputs in = make_inputs({"kl", cfg, 1}, nullptr, Binarize::None);
  const ref::Losses l = model.forward(p, Eigen::Map<const ref::Matrix>(in.x.data(), 1, 12), in.eps);
  const double kl = 2 * -0.5 * (1 - 1 - 0.25 - std::exp(-1.0));
  EXPECT_NEAR(l.kl(0), kl, 1e-15);
  EXPECT_NEAR(l.loss(0), l.recon(0) + 4 * kl, 1e-12);
  EXPECT_NEAR(l.elbo(0), -(l.recon(0) + kl), 1e-12);
}

TEST(Reference, RejectsMisshapenInputs) {
  const VaeConfig cfg = small();
  const ref::VaeReference model(cfg);
  const CaseInputs in = make_inputs({"shape", cfg, 2}, nullptr, Binarize::None);
  const ref::Matrix x = Eigen::Map<const ref::Matrix>(in.x.data(), 2, 12);
  std::vector<double> short_eps(in.eps.begin(), in.eps.end() - 1);
  EXPECT_THROW(model.forward(in.params, x, short_eps), Error);
  EXPECT_THROW(model.forward(std::vector<double>(3), x, in.eps), Error);
  EXPECT_THROW(model.forward(in.params, ref::Matrix(2, 11), in.eps), Error);
}

TEST(ReferenceAdam, TwoStepsByHand) {
  // p = 1, g = 0.5 twice. Step 1: m = 0.05, v = 2.5e-4; bias-corrected m^ = 0.5, v^ = 0.25.
  AdamOptions o;
  ref::Adam adam(1, o);
  std::vector<double> p{1.0};
  adam.step(p, {0.5});
  const double p1 = 1.0 - (o.lr / 0.1) * 0.05 / (std::sqrt(2.5e-4) / std::sqrt(1 - 0.999) + o.eps);
  EXPECT_DOUBLE_EQ(p[0], p1);
  adam.step(p, {0.5});
  const double m2 = 0.05 + 0.1 * (0.5 - 0.05), v2 = 0.999 * 2.5e-4 + 0.001 * 0.25;
  const double p2 = p1 - (o.lr / (1 - 0.81)) * m2 / (std::sqrt(v2) / std::sqrt(1 - 0.999 * 0.999) + o.eps);
  EXPECT_DOUBLE_EQ(p[0], p2);
  EXPECT_EQ(adam.steps(), 2);
  EXPECT_THROW(adam.step(p, {0.5, 0.5}), Error);
}

TEST(ReferenceIw, LogMeanExpIsStable) {
  Eigen::VectorXd v(3);
  v << 1000, 1000, 1000;
  EXPECT_DOUBLE_EQ(ref::log_mean_exp(v), 1000);
  v << -1e4, -1e4 + std::log(2.0), -1e4 + std::log(3.0);
  EXPECT_NEAR(ref::log_mean_exp(v), -1e4 + std::log(2.0), 1e-9);
  v << -INFINITY, -INFINITY, -INFINITY;
  EXPECT_EQ(ref::log_mean_exp(v), -INFINITY);
}

TEST(ReferenceIw, IsAtLeastTheMeanLogWeightOfTheSameSamples) {
  // Jensen: logmeanexp_s(log w_s) >= mean_s(log w_s) for the same S samples, per image; the
  // right side is the average of S one-sample estimates (each an unbiased ELBO estimate).
  const VaeConfig cfg = small();
  const ref::VaeReference model(cfg);
  const int batch = 8, samples = 64, per_sample = batch * cfg.latent;
  const CaseInputs in = make_inputs({"iw", cfg, batch}, nullptr, Binarize::None);
  const ref::Matrix x = Eigen::Map<const ref::Matrix>(in.x.data(), batch, 12);
  const std::vector<double> eps = make_eps(cfg.seed, 99, samples, batch, cfg.latent);
  const Eigen::VectorXd iw = model.iw_log_likelihood(in.params, x, eps, samples);
  Eigen::VectorXd mean_log_w = Eigen::VectorXd::Zero(batch);
  for (int s = 0; s < samples; ++s) {
    const std::vector<double> one(eps.begin() + s * per_sample, eps.begin() + (s + 1) * per_sample);
    mean_log_w += model.iw_log_likelihood(in.params, x, one, 1) / samples;
  }
  for (int b = 0; b < batch; ++b) EXPECT_GT(iw(b), mean_log_w(b)) << "image " << b;
  EXPECT_THROW(model.iw_log_likelihood(in.params, x, {}, 0), Error);
}

}  // namespace
}  // namespace vae
