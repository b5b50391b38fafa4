// The training path of the Backend interface (set_train_data / train_batch / sums / the
// non-finite record / Adam state), for every CPU backend against the reference.
#include <cmath>
#include <limits>

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "mnist_data.h"
#include "io/remove_tree.h"

#include "adam.h"
#include "backend/registry.h"
#include "common/error.h"
#include "backend_checks.h"
#include "registered_backends.h"
#include "common/counter_rng.h"
#include "model/noise.h"
#include "cases.h"
#include "compare.h"
#include "tolerances.h"
#include "gradient_compare.h"
#include "model/layers.h"
#include "libtorch/torch_adam.h"

namespace vae {
namespace {

using testing::mnist;

VaeConfig small_config() {
  VaeConfig c;
  c.encoder_hidden = {64};
  c.latent = 5;
  c.samples = 2;
  c.beta = 2.0;
  return c;
}

std::vector<size_t> batch_indices(int step, int batch) {
  std::vector<size_t> idx;
  for (int i = 0; i < batch; ++i) idx.push_back(size_t((step * 7919 + i * 104729) % 60000));
  return idx;
}

struct Trained {
  std::vector<double> params;
  TrainSums sums;
};

Trained train(Backend& b, int steps, const StepOptions& o, Binarize binarize = Binarize::None) {
  b.set_train_data(mnist().train, binarize, 5);
  for (int s = 0; s < steps; ++s) b.train_batch(batch_indices(s, 32), uint64_t(s / 2), o);
  const TrainSums sums = b.take_train_sums();
  return {b.params(), sums};
}

using testing::BackendEntry;
using testing::host_backends;
using testing::host_backends_one_precision;

class TrainingPath : public ::testing::TestWithParam<BackendEntry> {};

TEST_P(TrainingPath, FollowsTheReference) {
  const auto& [name, device, precision] = GetParam();
  StepOptions o;
  o.noise_seed = 11;
  o.kl_weight = 0.5;
  for (Binarize binarize : {Binarize::None, Binarize::Dynamic}) {
    const auto reference = create_backend("reference", small_config(), "cpu", "fp64");
    const auto backend = create_backend(name, small_config(), device, precision);
    const Trained want = train(*reference, 6, o, binarize);
    const Trained got = train(*backend, 6, o, binarize);
    const tol::Tolerance& t = tol::backend(tol::Quantity::AdamParams, precision);
    const Comparison params = compare_normwise("params", got.params, want.params, t);
    EXPECT_TRUE(params.passed) << to_string(binarize) << ": norm rel " << params.norm_rel;
    EXPECT_EQ(got.sums.images, 6 * 32);
    EXPECT_EQ(want.sums.images, 6 * 32);
    const tol::Tolerance& lt = tol::backend(tol::Quantity::AdamLoss, precision);
    for (const auto& [g, w] : {std::pair{got.sums.loss, want.sums.loss}, {got.sums.recon, want.sums.recon},
                               {got.sums.kl, want.sums.kl}})
      EXPECT_LE(std::abs(g - w), lt.norm_rel * std::abs(w)) << to_string(binarize) << ": " << g << " vs " << w;
    // The loss that was trained is recon + beta * kl_weight * kl.
    EXPECT_NEAR(got.sums.loss, got.sums.recon + 2.0 * 0.5 * got.sums.kl, 1e-6 * std::abs(got.sums.loss));
  }
}

INSTANTIATE_TEST_SUITE_P(Cpu, TrainingPath, ::testing::ValuesIn(host_backends(false)),
                         [](const auto& info) { return testing::test_name(info.param); });

TEST(TrainingPath, KlWeightChangesTheTrajectory) {
  StepOptions full, none;
  none.kl_weight = 0.0;
  const auto a = create_backend("libtorch-eager", small_config(), "cpu", "fp64");
  const auto b = create_backend("libtorch-eager", small_config(), "cpu", "fp64");
  const Trained ta = train(*a, 2, full), tb = train(*b, 2, none);
  EXPECT_GT(compare_normwise("params", ta.params, tb.params, tol::kBackendFp64).norm_rel, 1e-6);
  EXPECT_DOUBLE_EQ(tb.sums.loss, tb.sums.recon);
}

TEST(TrainingPath, ResumingFromSavedAdamStateIsBitwiseIdentical) {
  for (const auto& [name, device, precision] : host_backends_one_precision(true)) {
    StepOptions o;
    o.noise_seed = 3;
    const auto straight = create_backend(name, small_config(), device, precision);
    straight->set_train_data(mnist().train, Binarize::None, 0);
    for (int s = 0; s < 6; ++s) straight->train_batch(batch_indices(s, 16), 0, o);

    const auto first = create_backend(name, small_config(), device, precision);
    first->set_train_data(mnist().train, Binarize::None, 0);
    for (int s = 0; s < 3; ++s) first->train_batch(batch_indices(s, 16), 0, o);
    const AdamState state = first->adam_state();
    EXPECT_EQ(state.step, 3) << name;
    const auto resumed = create_backend(name, small_config(), device, precision);
    resumed->set_params(first->params());
    resumed->set_adam_state(state);
    resumed->set_train_data(mnist().train, Binarize::None, 0);
    for (int s = 3; s < 6; ++s) resumed->train_batch(batch_indices(s, 16), 0, o);
    if (name == "torchscript") {
      // TorchScript's profiling executor swaps in an optimised graph (with its own symbolic
      // backward) after its profiling runs, which rounds differently: a resumed process sits
      // at another point of that warm-up, so it agrees to fp32 rounding, not bit for bit.
      const Comparison c = compare_normwise("params", resumed->params(), straight->params(), tol::kFp32AdamParams);
      EXPECT_TRUE(c.passed) << name << ": norm rel " << c.norm_rel;
      continue;
    }
    EXPECT_EQ(resumed->params(), straight->params()) << name;
    EXPECT_EQ(resumed->adam_state().exp_avg_sq, straight->adam_state().exp_avg_sq) << name;
  }
}

TEST(TrainingPath, NonFiniteLossAndGradientAreReportedWithTheStep) {
  for (const auto& [name, device, precision] : host_backends_one_precision(true)) {
    const auto b = create_backend(name, small_config(), device, precision);
    b->set_train_data(mnist().train, Binarize::None, 0);
    b->train_batch(batch_indices(0, 8), 0, {});
    b->train_batch(batch_indices(1, 8), 0, {});
    ASSERT_FALSE(b->first_nonfinite().has_value()) << name;
    // Poison one output bias through the Adam state: an infinite first moment makes the
    // next update NaN (inf / inf), so the step after that computes NaN losses.
    AdamState s = b->adam_state();
    const ParamView& bias = b->layout().view("dec.out.bias");
    s.exp_avg[bias.offset] = std::numeric_limits<double>::infinity();
    s.exp_avg_sq[bias.offset] = std::numeric_limits<double>::infinity();
    const std::vector<double> p = b->params();
    b->set_params(p);
    b->set_adam_state(s);
    b->train_batch(batch_indices(2, 8), 0, {});  // step 3: the update is NaN, the losses were finite
    b->train_batch(batch_indices(3, 8), 0, {});  // step 4: NaN losses and gradient
    b->train_batch(batch_indices(4, 8), 0, {});
    const std::optional<NonFinite> bad = b->first_nonfinite();
    ASSERT_TRUE(bad.has_value()) << name;
    EXPECT_EQ(bad->step, 4) << name;
    EXPECT_NE(bad->quantities.find("loss"), std::string::npos) << name << ": " << bad->quantities;
    EXPECT_NE(bad->quantities.find("gradient ("), std::string::npos) << name << ": " << bad->quantities;
    EXPECT_NE(bad->quantities.find("dec.out.bias"), std::string::npos) << name << ": " << bad->quantities;
  }
}

// A backend that is right except for a small error in one place: the checks must say where.
// kl_skew scales every KL it reports; grad_skew scales enc.mu.bias of gradients() (step 0).
// The Adam errors act on train_step at `error_step` (1-based; 0: every step):
//   TrainGradient   the gradient the step uses has enc.mu.bias scaled by 1 + 1e-3 (its
//                   gradient is computed, skewed, and applied by an Adam in double, rounded back);
//   LrOff           the step is 1.001 times what the inner Adam did (lr x 1.001);
//   NoBiasCorrection the step is scaled by 1 - beta1^t (bias correction 1 missing);
//   CountStuck      the Adam step count is not advanced.
enum class AdamError { None, TrainGradient, LrOff, NoBiasCorrection, CountStuck };

class SkewedBackend final : public Backend {
 public:
  SkewedBackend(const VaeConfig& c, double kl_skew, double grad_skew, AdamError adam_error = AdamError::None,
                int64_t error_step = 0)
      : Backend(c), inner_(create_backend("libtorch-eager", c, "cpu", "fp32")), kl_skew_(kl_skew), grad_skew_(grad_skew),
        adam_error_(adam_error), error_step_(error_step) {}
  std::string name() const override { return "skewed"; }
  std::string device() const override { return "cpu"; }
  std::string precision() const override { return "fp32"; }

 protected:
  void set_params_impl(const std::vector<double>& p) override { inner_->set_params(p); }
  std::vector<double> params_impl() const override { return inner_->params(); }
  AdamState adam_state_impl() const override { return inner_->adam_state(); }
  void set_adam_state_impl(const AdamState& s) override { inner_->set_adam_state(s); }
  BatchLosses evaluate_impl(const std::vector<double>& x, int b, const std::vector<double>& eps) override {
    return skew(inner_->evaluate(x, b, eps));
  }
  BatchLosses gradients_impl(const std::vector<double>& x, int b, const std::vector<double>& eps,
                             std::vector<double>& grad) override {
    BatchLosses l = skew(inner_->gradients(x, b, eps, grad));
    scale_view(grad, 1 + grad_skew_);
    return l;
  }
  BatchLosses train_step_impl(const std::vector<double>& x, int b, const std::vector<double>& eps,
                              const AdamOptions& a) override {
    const std::vector<double> p0 = inner_->params();
    const AdamState st0 = inner_->adam_state();
    const int64_t t = st0.step + 1;
    const bool hit = error_step_ == 0 || error_step_ == t;
    if (adam_error_ == AdamError::TrainGradient) {
      BatchLosses l = inner_->gradients(x, b, eps, last_grad_);
      if (hit) scale_view(last_grad_, 1 + 1e-3);
      std::vector<double> p = p0;
      ref::Adam opt(a, st0.step, st0.exp_avg, st0.exp_avg_sq);
      opt.step(p, last_grad_);
      inner_->set_params(p);
      inner_->set_adam_state({opt.steps(), opt.first_moment(), opt.second_moment()});
      return skew(l);
    }
    BatchLosses l = inner_->train_step(x, b, eps, a);
    last_grad_ = inner_->last_gradient();
    if (adam_error_ == AdamError::None || !hit) return skew(l);
    std::vector<double> p = inner_->params();
    AdamState st = inner_->adam_state();
    double f = 1.0;
    if (adam_error_ == AdamError::LrOff) f = 1.001;
    if (adam_error_ == AdamError::NoBiasCorrection) f = 1.0 - std::pow(a.beta1, double(t));
    for (size_t i = 0; i < p.size(); ++i) p[i] = p0[i] + f * (p[i] - p0[i]);
    if (adam_error_ == AdamError::CountStuck) st.step = st0.step;
    inner_->set_params(p);
    inner_->set_adam_state(st);
    return skew(l);
  }
  std::vector<double> last_gradient_impl() const override { return last_grad_; }
  void train_batch_impl(const std::vector<size_t>&, uint64_t, const StepOptions&) override {}
  TrainSums take_train_sums_impl() override { return {}; }
  std::optional<NonFinite> first_nonfinite_impl() override { return std::nullopt; }
  void eval_batch_impl(const std::vector<size_t>&, uint64_t, uint64_t) override {}

 private:
  BatchLosses skew(BatchLosses l) const {
    for (double& k : l.kl) k *= 1 + kl_skew_;
    return l;
  }
  void scale_view(std::vector<double>& grad, double factor) const {
    const ParamView& v = layout().view("enc.mu.bias");
    for (size_t i = v.offset; i < v.offset + v.size; ++i) grad[i] *= factor;
  }
  std::unique_ptr<Backend> inner_;
  double kl_skew_, grad_skew_;
  AdamError adam_error_;
  int64_t error_step_;
  std::vector<double> last_grad_;
};

TEST(BackendChecks, CatchSmallErrorsAndNameTheQuantity) {
  const ValidationCase c{"skewed", small_config(), 16};
  const CaseInputs in = make_inputs(c, &mnist(), Binarize::None);
  constexpr int kSteps = 3;
  const ExpectedOutputs expected = expected_outputs(c, in, kSteps);
  const auto failing = [&](double kl_skew, double grad_skew, AdamError adam_error = AdamError::None,
                           int64_t error_step = 0) {
    SkewedBackend b(c.config, kl_skew, grad_skew, adam_error, error_step);
    std::vector<std::string> names;
    for (const Comparison& cmp : check_backend(b, c, in, expected).comparisons)
      if (!cmp.passed) names.push_back(cmp.quantity);
    return names;
  };
  const auto adam = [&](const std::string& q) { return std::vector<std::string>{q + " (worst of 3 Adam steps)"}; };
  EXPECT_EQ(failing(0, 0), std::vector<std::string>{});
  // 1e-3 relative in the KL (10x its fp32 bound), 1e-4 in one gradient tensor (5x its bound).
  EXPECT_EQ(failing(1e-3, 0), std::vector<std::string>{"kl"});
  EXPECT_EQ(failing(0, 1e-4), std::vector<std::string>{"grad.enc.mu.bias"});
  // The gradient every step uses, 1e-3 off in one tensor (50x its bound): caught (the
  // free-running trajectory would barely see it: Adam is scale-invariant), and only as the
  // gradient: (B) applies Adam to the backend's own gradient. Judged by the median step, so
  // one step's excess alone (what an fp32 ReLU kink flip causes) is shown, not failed.
  const std::vector<std::string> every_step = failing(0, 0, AdamError::TrainGradient, 0);
  ASSERT_EQ(every_step.size(), 1u);
  EXPECT_EQ(every_step[0].rfind("adam.grad.enc.mu.bias (median of 3 Adam steps; the worst at ", 0), 0u) << every_step[0];
  for (int64_t step : {1, 2, 3})
    EXPECT_EQ(failing(0, 0, AdamError::TrainGradient, step), std::vector<std::string>{}) << "step " << step;
  // The update itself: lr x 1.001, a missing bias correction, a step count left behind.
  for (int64_t step : {1, 3}) {
    EXPECT_EQ(failing(0, 0, AdamError::LrOff, step), adam("adam.step")) << "step " << step;
    EXPECT_EQ(failing(0, 0, AdamError::NoBiasCorrection, step), adam("adam.step")) << "step " << step;
  }
  EXPECT_EQ(failing(0, 0, AdamError::CountStuck, 2), adam("adam.count"));
}

TEST(BackendChecks, LastGradientIsTheGradientTheStepUsed) {
  const ValidationCase c{"small", small_config(), 8};
  const CaseInputs in = make_inputs(c, &mnist(), Binarize::None);
  for (const auto& [name, device, precision] : host_backends(true)) {
    const auto b = create_backend(name, c.config, device, precision);
    b->set_params(in.params);
    EXPECT_THROW(b->last_gradient(), Error) << name;  // no step yet
    std::vector<double> want;
    b->gradients(in.x, c.batch, in.eps, want);
    EXPECT_THROW(b->last_gradient(), Error) << name;  // gradients() is not a step
    b->set_params(in.params);
    b->train_step(in.x, c.batch, in.eps, AdamOptions{});
    const std::vector<double> got = b->last_gradient();
    // Same point, same noise: the same computation as gradients() (up to the backend's rounding).
    const Comparison cmp = compare_normwise("grad", got, want, tol::backend(tol::Quantity::Gradient, precision));
    EXPECT_TRUE(cmp.passed) << name << " " << precision << ": norm rel " << cmp.norm_rel;
    b->evaluate(in.x, c.batch, in.eps);
    EXPECT_THROW(b->last_gradient(), Error) << name;
  }
}

// eval_batch (what the eval benchmark times): the forward losses of the next step's noise,
// the same in every backend, and no step taken.
TEST(TrainingPath, EvalBatchIsTheForwardOfTheNextStepAndDoesNotStep) {
  std::vector<size_t> idx(40);
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = 3 * i + 1;
  const auto reference = create_backend("reference", small_config(), "cpu", "fp64");
  reference->set_train_data(mnist().train, Binarize::None, 0);
  StepOptions step;
  step.noise_seed = 7;
  reference->train_batch(idx, 0, step);  // so the noise comes from step 1, not 0
  reference->take_train_sums();
  const std::vector<double> params = reference->params();
  const AdamState adam = reference->adam_state();
  reference->eval_batch(idx, 0, 7);
  const TrainSums want = reference->take_train_sums();
  EXPECT_EQ(reference->params(), params);
  EXPECT_EQ(reference->adam_state().step, adam.step);
  // A training step on the same images and noise starts from the same losses.
  reference->train_batch(idx, 0, step);
  EXPECT_NEAR(reference->take_train_sums().loss, want.loss, 1e-9 * want.loss);
  for (const auto& [name, device, precision] : host_backends(false)) {
    const auto b = create_backend(name, small_config(), device, precision);
    b->set_params(params);
    b->set_adam_state(adam);
    b->set_train_data(mnist().train, Binarize::None, 0);
    b->eval_batch(idx, 0, 7);
    const TrainSums got = b->take_train_sums();
    const double loss_tol = tol::backend(tol::Quantity::Recon, precision).norm_rel,
                 kl_tol = tol::backend(tol::Quantity::Kl, precision).norm_rel;
    EXPECT_EQ(got.images, 40) << name;
    EXPECT_NEAR(got.loss, want.loss, loss_tol * want.loss) << name;
    EXPECT_NEAR(got.kl, want.kl, kl_tol * want.kl) << name;
    // Parameters cross the boundary in the backend's precision: unchanged up to that rounding.
    const Comparison unchanged = compare_normwise("params", b->params(), params, tol::backend(tol::Quantity::AdamParams, precision));
    EXPECT_TRUE(unchanged.passed) << name;
    if (precision == "fp64") EXPECT_EQ(b->params(), params) << name;
    EXPECT_EQ(b->adam_state().step, adam.step) << name;
  }
}

// In a binary that links LibTorch (see io/remove_tree.h for why this is not remove_all).
// libtorch-cudagraph's Adam (the capturable branch, step count in a device tensor) run on the
// CPU with the counter the backend makes: next to fp64 parameters it must step as the
// double-precision Adam does, to fp64 rounding. A float32 counter would promote the bias
// corrections to float32 (float(0.999) alone is 1e-8 off, 1 - 0.999^t turns that into ~1e-5).
TEST(TorchAdam, TheCapturableStepOfAnFp64BackendIsDoublePrecisionAdam) {
  const size_t n = 257;
  std::vector<double> p(n), g(n);
  for (size_t i = 0; i < n; ++i) p[i] = std::sin(0.37 * double(i));
  const AdamOptions o;
  const torch::Tensor p0 = torch::tensor(p, torch::kFloat64);
  torch::Tensor param = p0.clone();
  libtorch::AdamTensors state{torch::zeros_like(param), torch::zeros_like(param)};
  torch::Tensor step = libtorch::capturable_step_counter(param);
  EXPECT_EQ(step.scalar_type(), torch::kFloat64);
  ref::Adam expected(n, o);
  std::vector<double> q = p;
  for (int t = 1; t <= 4; ++t) {
    for (size_t i = 0; i < n; ++i) g[i] = std::cos(0.11 * double(i * t)) * (1 + t);
    libtorch::adam_step_capturable(param, torch::tensor(g, torch::kFloat64), state, step, o);
    expected.step(q, g);
  }
  // The updates are lr-sized; judge them, not the parameters they are added to.
  const torch::Tensor got = (param - p0), want = torch::tensor(q, torch::kFloat64) - p0;
  const double rel = ((got - want).norm() / want.norm()).item<double>();
  EXPECT_LT(rel, 1e-12) << "capturable Adam at fp64 is off by " << rel << " norm-wise";
  // Next to float32 parameters the counter is float32, as Python's Adam keeps it.
  EXPECT_EQ(libtorch::capturable_step_counter(param.to(torch::kFloat32)).scalar_type(), torch::kFloat32);
}

// A bias before batch norm has an identically zero gradient: both sides hold rounding noise,
// judged against the layer's weight gradient. Noise passes; a gradient a real mistake would
// leave there (a dropped mean term: of the weight gradient's order) fails, named; every other
// tensor is judged norm-wise as before.
TEST(GradientCompare, ABiasBeforeBatchNormIsJudgedAgainstItsWeightGradient) {
  const VaeConfig c = conv_model("conv-bn");
  const ParamLayout layout(c);
  std::vector<double> want(layout.total());
  for (size_t i = 0; i < want.size(); ++i) want[i] = std::sin(0.7 * double(i)) * 1e-2;
  size_t bias = 0, weight = 0;
  for (const DerivedLayer& l : layout.model().layers())
    if (l.bn_weight) {
      bias = l.bias;
      weight = l.weight;
      break;
    }
  const ParamView& b = layout.views()[bias];
  for (size_t i = 0; i < b.size; ++i) want[b.offset + i] = 1e-12 * double(i % 3);  // rounding noise
  double weight_norm = 0;
  for (size_t i = 0; i < layout.views()[weight].size; ++i)
    weight_norm += std::pow(want[layout.views()[weight].offset + i], 2);
  weight_norm = std::sqrt(weight_norm);
  std::vector<double> noise = want, mistake = want;
  for (size_t i = 0; i < b.size; ++i) {
    noise[b.offset + i] = -1e-12 * double(i % 5);
    mistake[b.offset + i] = 0.05 * weight_norm / std::sqrt(double(b.size));
  }
  const tol::Tolerance& fp32 = tol::backend(tol::Quantity::Gradient, "fp32");
  const Comparison ok = compare_gradient_tensor("grad." + b.name, layout, bias, noise, want, fp32);
  EXPECT_TRUE(ok.passed) << ok.norm_rel;
  EXPECT_NE(ok.note.find("before batch norm"), std::string::npos) << ok.note;
  EXPECT_FALSE(compare_normwise("grad." + b.name, {noise.begin() + long(b.offset), noise.begin() + long(b.offset + b.size)},
                                {want.begin() + long(b.offset), want.begin() + long(b.offset + b.size)}, fp32)
                   .passed)
      << "noise against noise: the plain norm-wise check cannot judge this tensor";
  const Comparison bad = compare_gradient_tensor("grad." + b.name, layout, bias, mistake, want, fp32);
  EXPECT_FALSE(bad.passed) << bad.norm_rel;
  EXPECT_EQ(gradient_scale_view(layout, weight), weight);  // other tensors: judged on their own
  const Comparison w = compare_gradient_tensor("grad.w", layout, weight, mistake, want, fp32);
  EXPECT_TRUE(w.passed);
  EXPECT_TRUE(w.note.empty());
}

TEST(RemoveTree, RemovesNestedContentAndIgnoresAMissingPath) {
  const std::string root = (std::filesystem::temp_directory_path() / ("vaebench-rm-" + std::to_string(getpid()))).string();
  std::filesystem::create_directories(root + "/a/b");
  std::ofstream(root + "/a/b/f.txt") << "x";
  std::ofstream(root + "/g.txt") << "y";
  remove_tree(root);
  EXPECT_FALSE(std::filesystem::exists(root));
  EXPECT_NO_THROW(remove_tree(root));
}

TEST(TrainingPath, BadRequestsNameWhatIsWrong) {
  const auto b = create_backend("libtorch-eager", small_config(), "cpu", "fp32");
  try {
    b->train_batch({0}, 0, {});
    FAIL() << "no error before set_train_data";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("before set_train_data"), std::string::npos) << e.what();
  }
  b->set_train_data(mnist().train, Binarize::None, 0);
  try {
    b->train_batch({60000}, 0, {});
    FAIL() << "no error for an index past the split";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("image index 60000 out of range"), std::string::npos) << e.what();
  }
  VaeConfig wrong = small_config();
  wrong.input_dim = 100;
  const auto c = create_backend("reference", wrong, "cpu", "fp64");
  EXPECT_THROW(c->set_train_data(mnist().train, Binarize::None, 0), Error);
  AdamState short_state;
  short_state.exp_avg.resize(3);
  short_state.exp_avg_sq.resize(3);
  EXPECT_THROW(b->set_adam_state(short_state), Error);
}

// Batch norm's running statistics through the Backend interface, for every backend that runs
// a batch-norm model here: PyTorch's initial values at first; a training step moves them (and
// counts), the validation path's gradients do not; set_running_stats takes them back and
// refuses a wrong count of values, a negative variance and a count that is not a whole number.
TEST(RunningStats, AreKeptMovedByTrainingStepsAndCheckedWhenSet) {
  const VaeConfig config = conv_model("conv-bn");
  const ParamLayout layout(config);
  const BufferLayout& buffers = layout.model().buffers();
  const std::vector<double> initial = buffers.initial_values();
  int backends = 0;
  for (const testing::BackendEntry& e : testing::host_backends_one_precision(/*with_reference=*/true)) {
    if (!testing::unsupported_reason(e.name, config).empty()) continue;
    ++backends;
    SCOPED_TRACE(e.name + "/" + e.device + "/" + e.precision);
    const auto b = create_backend(e.name, config, e.device, e.precision);
    EXPECT_EQ(b->running_stats(), initial);
    const int batch = 3;
    std::vector<double> x(size_t(batch) * size_t(config.input_dim));
    for (size_t i = 0; i < x.size(); ++i) x[i] = counter_uniform(3, 0, i);
    const std::vector<double> eps = make_eps(4, 0, config.samples, batch, config.latent);
    std::vector<double> grad;
    b->gradients(x, batch, eps, grad);
    EXPECT_EQ(b->running_stats(), initial) << "the validation path's gradient must not move them";
    b->train_step(x, batch, eps, AdamOptions{});
    const std::vector<double> moved = b->running_stats();
    EXPECT_NE(moved, initial);
    EXPECT_EQ(moved[buffers.view("dec.1.bn.num_batches_tracked").offset], 1.0);
    b->set_running_stats(initial);
    EXPECT_EQ(b->running_stats(), initial);
    std::vector<double> bad = initial;
    bad[buffers.view("enc.0.bn.running_var").offset] = -1;
    EXPECT_THROW(b->set_running_stats(bad), Error);
    bad = initial;
    bad[buffers.view("enc.0.bn.num_batches_tracked").offset] = 0.5;
    EXPECT_THROW(b->set_running_stats(bad), Error);
    EXPECT_THROW(b->set_running_stats({1.0, 2.0}), Error);
  }
  EXPECT_GE(backends, 3) << "the reference and the LibTorch CPU backends run batch norm";
  // A model without batch norm has none, and takes only none.
  const auto mlp = create_backend("reference", small_config(), "cpu", "fp64");
  EXPECT_TRUE(mlp->running_stats().empty());
  EXPECT_THROW(mlp->set_running_stats({0.0}), Error);
}

}  // namespace
}  // namespace vae
