// Objectives as public code declares them (model/objective.h): the reference's per-pixel forms,
// reductions and KL weights proven like the default ELBO -- finite differences of the batch
// objective and LibTorch float64 autograd (libtorch/vae_math.h), Adam against torch -- on small
// MLPs and a conv model with batch norm; the continuous Bernoulli's two branches and the clamp's
// zero gradient reached by the cases; the reference with each known mistake switched on
// (validation/diagnosis.h) proven by finite differences of the mistaken loss; bad objectives
// refused naming the option.
#include <gtest/gtest.h>

#include <iostream>

#include <nlohmann/json.hpp>

#include "backend/registry.h"
#include "backend_checks.h"
#include "common/error.h"
#include "diagnosis.h"
#include "libtorch/vae_math.h"
#include "named_config.h"
#include "reference_checks.h"
#include "sanitizer_tier.h"

namespace vae {
namespace {

template <typename F>
void expect_refused(F f, const std::string& naming) {
  try {
    f();
    ADD_FAILURE() << "accepted; expected an error naming " << naming;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(naming), std::string::npos) << e.what();
  }
}

VaeConfig small(Likelihood likelihood, const Objective& objective) {
  VaeConfig c;
  c.input_dim = 12;
  c.encoder_hidden = {9};
  c.latent = 3;
  c.samples = 2;
  c.beta = 1.5;
  c.likelihood = likelihood;
  c.objective = objective;
  c.validate();
  return c;
}

using Named = vae::testing::NamedConfig;

Objective mean_batch() {
  Objective o;
  o.batch = Reduction::Mean;
  return o;
}

std::vector<Named> objective_matrix() {
  std::vector<Named> m;
  Objective o = mean_batch();
  m.push_back({"bernoulli-batch-mean", small(Likelihood::Bernoulli, o), 5});
  o.pixels = Reduction::Mean;
  m.push_back({"bernoulli-batch-and-pixel-mean", small(Likelihood::Bernoulli, o), 5});
  o = {};
  o.bernoulli_input = BernoulliInput::Probs;
  m.push_back({"bernoulli-probs", small(Likelihood::Bernoulli, o), 5});
  o.clamp = 1e-4;
  m.push_back({"bernoulli-probs-clamp-1e-4", small(Likelihood::Bernoulli, o), 5});
  o.clamp = 0.4;  // clamps some pixels: the clamp's zero gradient (ClampCasesReachTheClampAwayFromItsKink)
  m.push_back({"bernoulli-probs-clamp-0.4", small(Likelihood::Bernoulli, o), 5});
  o = {};
  m.push_back({"continuous-bernoulli", small(Likelihood::ContinuousBernoulli, o), 5});
  o.clamp = 1e-4;
  m.push_back({"continuous-bernoulli-clamp-1e-4", small(Likelihood::ContinuousBernoulli, o), 5});
  o = mean_batch();
  o.gaussian_constant = false;
  m.push_back({"gaussian-pythae", small(Likelihood::Gaussian, o), 5});
  o.pixels = Reduction::Mean;
  o.gaussian_half = false;
  o.kl_weight_train_size = 1000;
  m.push_back({"gaussian-pytorch-vae", small(Likelihood::Gaussian, o), 5});
  o = {};
  o.sigma = 0.3;
  o.kl_weight = 0.25;
  m.push_back({"gaussian-sigma-0.3-kl-weight-0.25", small(Likelihood::Gaussian, o), 5});
  // Conv with batch norm: the reductions through batch norm's backward, and the continuous
  // Bernoulli on a conv output (its exact branch only: validation/cases.h).
  VaeConfig conv = conv_model("conv-bn");
  conv.objective = mean_batch();
  conv.objective.pixels = Reduction::Mean;
  conv.likelihood = Likelihood::Gaussian;
  conv.objective.gaussian_constant = false;
  m.push_back({"conv-bn-gaussian-means", conv, 2});
  conv = conv_model("conv-bn");
  conv.likelihood = Likelihood::ContinuousBernoulli;
  conv.objective.clamp = 1e-4;
  m.push_back({"conv-bn-continuous-bernoulli", conv, 2});
  return m;
}

class ObjectiveProof : public ::testing::TestWithParam<Named> {};

TEST_P(ObjectiveProof, ReferenceMatchesFiniteDifferencesTorchFloat64AndAdam) {
  const Named& n = GetParam();
  const ValidationCase c{n.name, n.config, n.batch};
  const CaseInputs in = make_inputs(c, nullptr, Binarize::None);
  ReferenceCheckOptions opt;
  opt.fd_full_below = c.config.is_mlp() ? 1000 : 64;
  const CaseResult r = check_reference(c, in, opt);
  const size_t tensors = ParamLayout(n.config).views().size();
  EXPECT_GE(r.comparisons.size(), 4 + 2 * tensors + 2);  // outputs, grads + fd, adam (no IW: not a log-likelihood)
  for (const Comparison& cmp : r.comparisons)
    EXPECT_TRUE(cmp.passed) << cmp.quantity << ": norm rel " << cmp.norm_rel << ", max abs " << cmp.max_abs << ", "
                            << cmp.percent_of_tolerance << "% of tolerance";
}

INSTANTIATE_TEST_SUITE_P(Objectives, ObjectiveProof, ::testing::ValuesIn(objective_matrix()),
                         vae::testing::NamedConfigTestName());

// sigmoid of every logit the case's forward produces, through LibTorch float64.
std::vector<double> probabilities(const ValidationCase& c, const CaseInputs& in) {
  const auto t = [](const std::vector<double>& v, std::vector<int64_t> shape) {
    return torch::from_blob(const_cast<double*>(v.data()), shape, torch::kFloat64).clone();
  };
  const ParamLayout layout(c.config);
  const libtorch::ParamTensors p = libtorch::view_params(layout, t(in.params, {int64_t(in.params.size())}));
  const libtorch::Encoding e = libtorch::encode(c.config, p, t(in.x, {c.batch, c.config.input_dim}));
  const torch::Tensor eps = t(in.eps, {c.config.samples, c.batch, c.config.latent});
  const torch::Tensor z = e.mu.unsqueeze(0) + torch::exp(0.5 * e.logvar).unsqueeze(0) * eps;
  const torch::Tensor s = torch::sigmoid(libtorch::decode_logits(c.config, p, z)).contiguous();
  return {s.data_ptr<double>(), s.data_ptr<double>() + s.numel()};
}

TEST(Objectives, ContinuousBernoulliCasesReachBothBranchesOfTheNormaliser) {
  for (const Named& n : objective_matrix()) {
    if (n.config.likelihood != Likelihood::ContinuousBernoulli || !n.config.is_mlp()) continue;
    const ValidationCase c{n.name, n.config, n.batch};
    size_t inside = 0, outside = 0;
    for (double p : probabilities(c, make_inputs(c, nullptr, Binarize::None)))
      (p > ref::kContinuousBernoulliLow && p < ref::kContinuousBernoulliHigh ? inside : outside) += 1;
    EXPECT_GT(inside, 0u) << n.name << ": the Taylor branch is never reached";
    EXPECT_GT(outside, 0u) << n.name << ": the exact branch is never reached";
  }
}

TEST(Objectives, ClampCasesReachTheClampAwayFromItsKink) {
  for (const Named& n : objective_matrix()) {
    const double clamp = n.config.objective.clamp;
    if (clamp < 0.1) continue;  // 1e-4 never binds on these logits; 0.4 must
    const ValidationCase c{n.name, n.config, n.batch};
    size_t clamped = 0, free = 0;
    for (double p : probabilities(c, make_inputs(c, nullptr, Binarize::None))) {
      (p < clamp || p > 1 - clamp ? clamped : free) += 1;
      // Finite differences (step 1e-6 on a parameter) must not cross the kink.
      EXPECT_GT(std::min(std::abs(p - clamp), std::abs(p - (1 - clamp))), 1e-4) << n.name << ": p = " << p;
    }
    EXPECT_GT(clamped, 0u) << n.name;
    EXPECT_GT(free, 0u) << n.name;
  }
}

// The cases the known mistakes' reference gradients are proven on: every catalogue entry applies
// to one of them (an MLP, a Gaussian MLP under the PyTorch-VAE objective, a conv model with batch
// norm and a dense-to-shape decoder layer).
std::vector<ValidationCase> mistake_cases() {
  Objective pytorch_vae = mean_batch();
  pytorch_vae.pixels = Reduction::Mean;
  pytorch_vae.gaussian_half = false;
  pytorch_vae.gaussian_constant = false;
  pytorch_vae.kl_weight_train_size = 1000;
  VaeConfig conv = conv_model("conv-bn");
  conv.samples = 2;
  conv.beta = 1.5;
  return {{"mlp-bernoulli", small(Likelihood::Bernoulli, {}), 4},
          {"mlp-gaussian", small(Likelihood::Gaussian, {}), 4},
          {"mlp-pytorch-vae", small(Likelihood::Gaussian, pytorch_vae), 4},
          {"conv-bn", conv, 2}};
}

TEST(KnownMistakes, TheReferenceWithEachMistakeMatchesFiniteDifferencesOfTheMistakenLoss) {
  std::set<std::string> proven;
  for (const ValidationCase& c : mistake_cases()) {
    const CaseInputs in = make_inputs(c, nullptr, Binarize::None);
    for (const KnownMistake& k : known_mistakes()) {
      if (!k.applies(c)) continue;
      const MistakenCase mc = k.apply(c, in);
      const ref::VaeReference model(mc.config, mc.deviation);
      std::vector<double> grad;
      model.forward_backward(in.params, Eigen::Map<const ref::Matrix>(in.x.data(), c.batch, c.config.input_dim), mc.eps,
                             grad);
      CaseInputs mistaken = in;
      mistaken.eps = mc.eps;
      ReferenceCheckOptions opt;
      opt.fd_full_below = 200;
      for (const Comparison& cmp : finite_difference_checks(mc.config, mistaken, c.batch, grad, opt, mc.deviation))
        EXPECT_TRUE(cmp.passed) << c.name << " " << k.name << " " << cmp.quantity << ": " << cmp.percent_of_tolerance
                                << "% of tolerance";
      proven.insert(k.name);
    }
  }
  for (const KnownMistake& k : known_mistakes()) EXPECT_TRUE(proven.count(k.name)) << k.name << " is never proven";
}

TEST(KnownMistakes, FiniteDifferencesCatchAMistakenGradientDerivedForTheSpec) {
  // The mistaken reference's gradient of std = exp(logvar) taken for the spec's: the FD check
  // of the mistake must fail on the log-variance head (it is what the deviation changes).
  const ValidationCase c{"mlp", small(Likelihood::Bernoulli, {}), 4};
  const CaseInputs in = make_inputs(c, nullptr, Binarize::None);
  std::vector<double> spec_grad;
  ref::VaeReference(c.config).forward_backward(
      in.params, Eigen::Map<const ref::Matrix>(in.x.data(), c.batch, c.config.input_dim), in.eps, spec_grad);
  ref::Deviation d;
  d.sampling = ref::Deviation::Sampling::StdExpLogvar;
  bool caught = false;
  for (const Comparison& cmp : finite_difference_checks(c.config, in, c.batch, spec_grad, {}, d))
    caught |= !cmp.passed && cmp.quantity == "fd.enc.logvar.bias";
  EXPECT_TRUE(caught);
}

// libtorch-eager (LibTorch autograd through libtorch/vae_math.h) against the reference on every
// objective of the matrix and two MNIST-sized cases (784-400-20, B = 128: pythae's objective and
// pytorch/examples' clamped continuous Bernoulli), in fp64 and fp32: outputs, gradients, Adam.
TEST(Objectives, LibTorchEagerRunsEveryObjectiveAgainstTheReference) {
  std::vector<Named> cases = objective_matrix();
  VaeConfig mnist;
  mnist.likelihood = Likelihood::Gaussian;
  mnist.objective = mean_batch();
  mnist.objective.gaussian_constant = false;
  cases.push_back({"mnist-pythae-b128", mnist, 128});
  mnist = VaeConfig{};
  mnist.likelihood = Likelihood::ContinuousBernoulli;
  mnist.objective.clamp = 1e-4;
  cases.push_back({"mnist-cb-clamped-b128", mnist, 128});
  if (vae::testing::kSanitizerBuild) {  // the same paths as the small cases, at MNIST's size
    std::cout << "[sanitizer tier] the two MNIST-sized objective cases run in the Release build\n";
    cases.resize(cases.size() - 2);
  }
  for (const Named& n : cases) {
    const ValidationCase c{n.name, n.config, n.batch};
    const CaseInputs in = make_inputs(c, nullptr, Binarize::None);
    const ExpectedOutputs expected = expected_outputs(c, in, 3);
    for (const std::string precision : {"fp64", "fp32"}) {
      const auto backend = create_backend("libtorch-eager", c.config, "cpu", precision);
      const CaseResult r = check_backend(*backend, c, in, expected);
      for (const Comparison& cmp : r.comparisons)
        EXPECT_TRUE(cmp.passed) << n.name << " " << precision << " " << cmp.quantity << " at "
                                << cmp.percent_of_tolerance << "% of tolerance";
    }
  }
}

TEST(Objectives, BackendsThatRunTheDefaultObjectiveOnlyRefuseOthersUpFrontNamingThem) {
  Objective o = mean_batch();
  const VaeConfig c = small(Likelihood::Bernoulli, o);
  size_t refusing = 0;
  for (const BackendInfo& info : registered_backends()) {
    std::string reason;
    const bool runs = supports_model(info, c, reason);
    EXPECT_EQ(runs, info.runs_objectives) << info.name << ": " << reason;
    if (runs) continue;
    ++refusing;
    EXPECT_NE(reason.find("batch=mean"), std::string::npos) << info.name << ": " << reason;
    const std::string device = info.devices.back() == "cuda" && info.devices.size() > 1 ? info.devices.front()
                                                                                        : info.devices.back();
    expect_refused([&] { create_backend(info.name, c, device, info.precisions.front()); }, "default objective only");
  }
  EXPECT_GT(refusing, 0u);  // torchscript and fused-cuda: the refusal itself is under test
}


TEST(Objectives, OptionsThatDoNotExistOrDoNotFitTheLikelihoodAreRefusedNamingThem) {
  Objective o;
  o.clamp = 1e-4;
  expect_refused([&] { o.validate(Likelihood::Gaussian); }, "--prob-clamp");
  expect_refused([&] { o.validate(Likelihood::Bernoulli); }, "--prob-clamp");  // on logits: never forms p
  o = {};
  o.sigma = 2;
  expect_refused([&] { o.validate(Likelihood::Bernoulli); }, "--sigma");
  o = {};
  o.gaussian_constant = false;
  expect_refused([&] { o.validate(Likelihood::ContinuousBernoulli); }, "--gaussian-constant");
  o = {};
  o.bernoulli_input = BernoulliInput::Probs;
  expect_refused([&] { o.validate(Likelihood::Gaussian); }, "--bernoulli-input");
  o = {};
  o.clamp = 0.5;
  expect_refused([&] { o.validate(Likelihood::ContinuousBernoulli); }, "--prob-clamp");
  expect_refused([] { parse_reduction("avg", "--batch-reduction"); }, "--batch-reduction");
  expect_refused([] { parse_likelihood("poisson"); }, "--likelihood");
  expect_refused([] { Objective x; parse_kl_weight("batch/0", x); }, "--kl-weight");
  expect_refused([] { Objective x; parse_kl_weight("lots", x); }, "--kl-weight");
  expect_refused([] { parse_switch("maybe", "--gaussian-half"); }, "--gaussian-half");
  expect_refused([] { objective_from_json(nlohmann::json{{"clamp", 1e-4}}, Likelihood::Gaussian); },
                 "objective JSON: clamp");
  expect_refused([] { objective_from_json(nlohmann::json{{"batch", "median"}}, Likelihood::Bernoulli); },
                 "objective JSON: batch");
}

TEST(Objectives, JsonRoundTripsAndTheDefaultKeepsEveryConfigAsItWas) {
  Objective o = mean_batch();
  o.pixels = Reduction::Mean;
  o.gaussian_half = false;
  o.sigma = 0.5;
  o.kl_weight_train_size = 60000;
  EXPECT_EQ(objective_from_json(to_json(o, Likelihood::Gaussian), Likelihood::Gaussian), o);
  VaeConfig c;
  EXPECT_FALSE(to_json(c).contains("objective"));  // files written before objectives read the same
  c.likelihood = Likelihood::Gaussian;
  c.objective = o;
  EXPECT_EQ(config_from_json(to_json(c)).objective, o);
  EXPECT_NE(c.summary().find("kl_weight=batch/60000"), std::string::npos) << c.summary();
}

}  // namespace
}  // namespace vae
