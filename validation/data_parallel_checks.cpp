#include "data_parallel_checks.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "backend/registry.h"
#include "backend_checks.h"
#include "common/error.h"
#include "gradient_compare.h"
#include "tolerances.h"
#include "train/epoch_order.h"

namespace vae {

namespace {

// Rows [first, first + count) of x [B, D].
std::vector<double> rows(const std::vector<double>& x, int dim, int64_t first, int64_t count) {
  return {x.begin() + long(first * dim), x.begin() + long((first + count) * dim)};
}

// Columns [first, first + count) of eps [K, B, Z]: the noise of those batch positions.
std::vector<double> eps_columns(const std::vector<double>& eps, int samples, int batch, int latent, int64_t first,
                                int64_t count) {
  std::vector<double> out;
  out.reserve(size_t(samples * count * latent));
  for (int k = 0; k < samples; ++k) {
    const auto from = eps.begin() + long((int64_t(k) * batch + first) * latent);
    out.insert(out.end(), from, from + long(count * latent));
  }
  return out;
}

double sum_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

// The ranks' parameters and Adam moments must be identical bit for bit: rank 0's are
// broadcast and every rank counts the values that differ from its own.
Comparison ranks_identical(dist::Group& group, const std::string& quantity, const std::vector<double>& params,
                           const AdamState& state) {
  const std::vector<double> mine = dist::training_state_values(params, state);
  const size_t differ = group.differing_from_rank0(mine, quantity);
  Comparison c = exact_finding(quantity, differ == 0,
                               "rank " + std::to_string(group.rank()) + ": " + std::to_string(differ) + " of " +
                                   std::to_string(mine.size()) + " parameter, moment and step values differ from rank 0's");
  c.count = mine.size();
  return c;
}

// Each row becomes the worst over the ranks (largest errors, any rank's failure), with the
// note of the first rank that failed it; every rank ends with the same table.
void worst_over_ranks(CaseResult& r, dist::Group& group) {
  auto& rows = r.comparisons;
  std::vector<double> v;
  for (const Comparison& c : rows) {
    const auto finite = [](double x) { return std::isnan(x) ? std::numeric_limits<double>::infinity() : x; };
    v.insert(v.end(), {finite(c.percent_of_tolerance), finite(c.max_abs), finite(c.max_rel), finite(c.norm_rel),
                       c.passed ? 0.0 : 1.0});
  }
  group.max(v, "the verdicts of " + r.vcase.name);
  nlohmann::json notes = nlohmann::json::array();
  for (const Comparison& c : rows) notes.push_back(c.passed ? std::string() : c.note);
  const std::vector<std::string> all = group.all_gather_text("the notes of " + r.vcase.name, notes.dump());
  for (size_t i = 0; i < rows.size(); ++i) {
    Comparison& c = rows[i];
    c.percent_of_tolerance = v[5 * i];
    c.max_abs = v[5 * i + 1];
    c.max_rel = v[5 * i + 2];
    c.norm_rel = v[5 * i + 3];
    c.passed = v[5 * i + 4] == 0.0;
    if (c.passed) continue;
    for (size_t rank = 0; rank < all.size(); ++rank) {
      const std::string note = nlohmann::json::parse(all[rank]).at(i).get<std::string>();
      if (!note.empty()) {
        c.note = note.rfind("rank ", 0) == 0 ? note : "rank " + std::to_string(rank) + ": " + note;
        break;
      }
    }
  }
  r.passed = true;
  for (const Comparison& c : rows) r.passed &= c.passed;
}

// The judged rows of a run of steps, collected per step and summarised as check_backend does.
struct StepRows {
  std::vector<Comparison> loss, loss_reference, kl, images, adam_step, adam_moments, ranks;
  std::vector<std::vector<Comparison>> grad, grad_reference;
  explicit StepRows(size_t views) : grad(views), grad_reference(views) {}

  void append_to(std::vector<Comparison>& out, const std::vector<ParamView>& views, const std::string& prefix,
                 size_t steps) const {
    const std::string suffix = " (worst of " + std::to_string(steps) + " steps)";
    const auto add_worst = [&](const std::vector<Comparison>& v, const std::string& name) {
      if (!v.empty()) out.push_back(worst_of(v, prefix + name + suffix));
    };
    add_worst(loss, "loss vs single process");
    add_worst(kl, "kl vs single process");
    add_worst(images, "images");
    add_worst(loss_reference, "loss vs reference");
    // Median of the steps, as check_backend: a ReLU pre-activation within rounding of its
    // kink may take the other side in one of the two float runs (their GEMMs block B/N and B
    // rows differently), moving one bias entry by an image's share at that step only.
    for (size_t k = 0; k < views.size(); ++k) {
      out.push_back(median_of(grad[k], prefix + "grad." + views[k].name + " vs single process"));
      out.push_back(median_of(grad_reference[k], prefix + "grad." + views[k].name + " vs reference"));
    }
    add_worst(adam_step, "adam.step");
    add_worst(adam_moments, "adam.moments");
    add_worst(ranks, "ranks identical");
  }
};

// The three backends of a case: the data-parallel one (its gradient all-reduced over the
// group), its single-process twin and the fp64 reference; with the tolerances they are judged by.
struct Subjects {
  std::unique_ptr<Backend> dp, single, reference;
  std::string precision;
  const tol::Tolerance *losses, *kl;
  Subjects(const BackendFactory& make_backend, const VaeConfig& config, dist::Group& group)
      : dp(make_backend(config)), single(make_backend(config)),
        reference(create_backend("reference", config, "cpu", "fp64")), precision(dp->precision()),
        losses(&tol::backend(tol::Quantity::Recon, precision, config.likelihood)),
        kl(&tol::backend(tol::Quantity::Kl, precision)) {
    dp->set_gradient_all_reduce(group.gradient_all_reduce());
  }
  // Puts the single-process twin and the reference where the data-parallel backend stood.
  void align(const std::vector<double>& p0, const AdamState& st0) {
    for (Backend* b : {single.get(), reference.get()}) {
      b->set_params(p0);
      b->set_adam_state(st0);
    }
  }
};

// What one step produced on each side: loss and KL sums (the data-parallel ones reduced over
// the ranks), the gradient each stepped with, and the data-parallel backend's state around it.
struct StepOutcome {
  double loss = 0, kl = 0, single_loss = 0, single_kl = 0, reference_loss = 0;
  std::vector<double> g, g_single, g_ref;
  std::vector<double> p0, p1;
  AdamState st0, st1;
};

void judge_step(StepRows& steps, const Subjects& b, dist::Group& group, const StepOutcome& o, const AdamOptions& adam) {
  const ParamLayout& layout = b.dp->layout();
  steps.loss.push_back(compare_normwise("loss", {o.loss}, {o.single_loss}, tol::data_parallel(*b.losses)));
  steps.kl.push_back(compare_normwise("kl", {o.kl}, {o.single_kl}, tol::data_parallel(*b.kl)));
  steps.loss_reference.push_back(compare_normwise("loss", {o.loss}, {o.reference_loss}, *b.losses));
  for (size_t k = 0; k < layout.views().size(); ++k) {
    const std::string& name = layout.views()[k].name;
    const tol::Tolerance& gradient = gradient_tolerance(layout, b.precision, k, b.dp->config().likelihood);
    steps.grad[k].push_back(compare_gradient_tensor(name, layout, k, o.g, o.g_single, tol::data_parallel(gradient)));
    steps.grad_reference[k].push_back(compare_gradient_tensor(name, layout, k, o.g, o.g_ref, gradient));
  }
  const AdamStepComparisons a = compare_adam_step(o.p0, o.st0, o.g, adam, o.p1, o.st1, b.precision);
  steps.adam_step.push_back(a.params);
  steps.adam_moments.insert(steps.adam_moments.end(), {a.exp_avg, a.exp_avg_sq, a.count});
  steps.ranks.push_back(ranks_identical(group, "parameters and Adam state", o.p1, o.st1));
}

CaseResult finish(CaseResult r, dist::Group& group, std::chrono::steady_clock::time_point start) {
  worst_over_ranks(r, group);  // sets r.passed
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace

std::vector<ValidationCase> data_parallel_matrix() {
  std::vector<ValidationCase> m;
  VaeConfig mlp;
  mlp.encoder_hidden = {48};
  mlp.latent = 6;
  mlp.seed = 3;
  m.push_back({"dp-mlp-b64", mlp, 64});

  VaeConfig gaussian;
  gaussian.encoder_hidden = {40, 24};
  gaussian.latent = 5;
  gaussian.activation = Activation::Tanh;
  gaussian.likelihood = Likelihood::Gaussian;
  gaussian.beta = 4.0;
  gaussian.samples = 3;
  gaussian.seed = 4;
  m.push_back({"dp-tanh-gaussian-k3-b7", gaussian, 7});

  m.push_back({"dp-conv-odd-b6", conv_model("conv-odd"), 6});
  m.push_back({"dp-conv-bn-b4", conv_model("conv-bn"), 4});
  return m;
}

std::vector<TrainingCase> data_parallel_training_cases() {
  // The single-process training path's dynamic case (training_checks.h), in three steps.
  for (TrainingCase c : training_cases())
    if (c.name == "train-dynamic-warmup") {
      c.name = "train-dp-dynamic-warmup";
      c.steps = {{0, 64, 0.0}, {0, 23, 0.5}, {1, 64, 1.0}};
      return {c};
    }
  throw Error("data_parallel_training_cases: training_cases() has no train-dynamic-warmup");
}

CaseResult check_data_parallel(const BackendFactory& make_backend, const ValidationCase& c, const CaseInputs& in,
                               dist::Group& group, int adam_steps) {
  if (adam_steps < 1) throw Error("check_data_parallel: adam_steps must be >= 1");
  if (c.batch < group.world())
    throw Error("data-parallel case " + c.name + ": batch " + std::to_string(c.batch) + " is smaller than the " +
                std::to_string(group.world()) + " ranks");
  const auto start = std::chrono::steady_clock::now();
  CaseResult r;
  r.vcase = c;
  r.x_source = in.x_source + "; rank " + std::to_string(group.rank()) + " of " + std::to_string(group.world()) +
               " holds " + std::to_string(group.shard(c.batch).count) + " images";

  Subjects b(make_backend, c.config, group);
  const VaeConfig& m = c.config;
  const dist::Shard shard = group.shard(c.batch);
  const BatchSlice noise = group.noise_slice(c.batch);
  const std::vector<double> x = rows(in.x, m.input_dim, shard.first, shard.count);
  const bool reduce_sums = group.fault() != dist::Fault::skip_loss_sums;  // planted: rank-local sums

  b.dp->set_params(in.params);
  StepOutcome o;
  o.p1 = b.dp->params();
  o.st1 = b.dp->adam_state();
  const AdamOptions adam;
  StepRows steps(b.dp->layout().views().size());
  for (int s = 1; s <= adam_steps; ++s) {
    o.p0 = std::move(o.p1);
    o.st0 = std::move(o.st1);
    const std::vector<double> eps_all = adam_step_eps(c, s);
    const std::vector<double> eps = eps_columns(eps_all, m.samples, c.batch, m.latent, noise.first, shard.count);
    const BatchLosses l = b.dp->train_step(x, int(shard.count), eps, adam);
    o.g = b.dp->last_gradient();
    o.p1 = b.dp->params();
    o.st1 = b.dp->adam_state();
    std::vector<double> sums{sum_of(l.loss), sum_of(l.kl)};
    if (reduce_sums) group.sum(sums, "the loss sums of " + c.name);
    o.loss = sums[0];
    o.kl = sums[1];

    b.align(o.p0, o.st0);
    const BatchLosses l_single = b.single->train_step(in.x, c.batch, eps_all, adam);
    o.g_single = b.single->last_gradient();
    o.single_loss = sum_of(l_single.loss);
    o.single_kl = sum_of(l_single.kl);
    o.reference_loss = sum_of(b.reference->train_step(in.x, c.batch, eps_all, adam).loss);
    o.g_ref = b.reference->last_gradient();
    judge_step(steps, b, group, o, adam);
  }
  steps.append_to(r.comparisons, b.dp->layout().views(), "dp.", size_t(adam_steps));
  return finish(std::move(r), group, start);
}

CaseResult check_data_parallel_training(const BackendFactory& make_backend, const TrainingCase& c, const Split& train,
                                        dist::Group& group) {
  const auto start = std::chrono::steady_clock::now();
  CaseResult r;
  r.vcase = {c.name, c.config, c.steps.empty() ? 0 : c.steps.front().batch};
  r.x_source = "training split, " + to_string(c.binarize) + ", " + std::to_string(c.steps.size()) + " steps over " +
               std::to_string(group.world()) + " ranks";

  Subjects b(make_backend, c.config, group);
  for (Backend* x : {b.dp.get(), b.single.get(), b.reference.get()}) x->set_train_data(train, c.binarize, c.binarize_seed);
  b.dp->set_params(b.reference->params());
  const bool reduce_sums = group.fault() != dist::Fault::skip_loss_sums;

  StepOutcome o;
  o.p1 = b.dp->params();
  o.st1 = b.dp->adam_state();
  TrainingStepImages images(train.count, c.shuffle_seed);
  StepRows steps(b.dp->layout().views().size());
  for (const TrainingStep& step : c.steps) {
    if (step.batch < group.world())
      throw Error("data-parallel case " + c.name + ": a step of " + std::to_string(step.batch) + " images for " +
                  std::to_string(group.world()) + " ranks");
    o.p0 = std::move(o.p1);
    o.st0 = std::move(o.st1);
    const std::vector<size_t> all = images.next(step.epoch, step.batch);
    const dist::Shard shard = group.shard(step.batch);
    const std::vector<size_t> mine(all.begin() + long(shard.first), all.begin() + long(shard.first + shard.count));
    StepOptions opt;
    opt.kl_weight = step.kl_weight;
    opt.noise_seed = c.noise_seed;
    StepOptions on_rank = opt;
    on_rank.slice = group.noise_slice(step.batch);

    b.dp->train_batch(mine, uint64_t(step.epoch), on_rank);
    o.g = b.dp->last_gradient();
    const TrainSums sums = b.dp->take_train_sums();
    std::vector<double> reduced{double(sums.images), sums.loss, sums.kl};
    if (reduce_sums) group.sum(reduced, "the training sums of " + c.name);
    o.loss = reduced[1];
    o.kl = reduced[2];
    o.p1 = b.dp->params();
    o.st1 = b.dp->adam_state();

    b.align(o.p0, o.st0);
    b.single->train_batch(all, uint64_t(step.epoch), opt);
    o.g_single = b.single->last_gradient();
    const TrainSums want = b.single->take_train_sums();
    o.single_loss = want.loss;
    o.single_kl = want.kl;
    b.reference->train_batch(all, uint64_t(step.epoch), opt);
    o.g_ref = b.reference->last_gradient();
    o.reference_loss = b.reference->take_train_sums().loss;

    steps.images.push_back(exact_finding("images", int64_t(reduced[0]) == want.images,
                                         std::to_string(int64_t(reduced[0])) + " images summed over the ranks, the step had " +
                                             std::to_string(want.images)));
    judge_step(steps, b, group, o, opt.adam);
  }
  steps.append_to(r.comparisons, b.dp->layout().views(), "dp.train.", c.steps.size());
  return finish(std::move(r), group, start);
}

}  // namespace vae
