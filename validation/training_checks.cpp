#include "training_checks.h"

#include <chrono>
#include <map>
#include <memory>

#include "gradient_compare.h"
#include "running_stats_compare.h"
#include "model/layers.h"
#include "backend/registry.h"
#include "backend_checks.h"
#include "common/error.h"
#include "train/epoch_order.h"

namespace vae {

namespace {

std::vector<double> slice(const std::vector<double>& flat, const ParamView& v) {
  return {flat.begin() + long(v.offset), flat.begin() + long(v.offset + v.size)};
}

Comparison sums_comparison(const std::string& quantity, double got, double want, tol::Quantity q,
                           const std::string& precision, Likelihood likelihood) {
  return compare_normwise(quantity, {got}, {want}, tol::backend(q, precision, likelihood));
}

}  // namespace

std::vector<size_t> TrainingStepImages::next(int epoch, int batch) {
  auto it = orders_.find(epoch);
  if (it == orders_.end()) it = orders_.emplace(epoch, Order{epoch_order(count_, seed_, epoch), 0}).first;
  Order& o = it->second;
  if (o.next + size_t(batch) > o.indices.size())
    throw Error("training case: epoch " + std::to_string(epoch) + " has only " + std::to_string(count_) + " images");
  std::vector<size_t> out(o.indices.begin() + long(o.next), o.indices.begin() + long(o.next + size_t(batch)));
  o.next += size_t(batch);
  return out;
}

std::vector<TrainingCase> training_cases() {
  std::vector<TrainingCase> out;

  // The default architecture at a small width: dynamic binarization over two epochs, the KL
  // warm-up, batch 64 then 23 (a second captured step) then 64 again (the first replayed).
  TrainingCase dynamic;
  dynamic.name = "train-dynamic-warmup";
  dynamic.config.encoder_hidden = {48};
  dynamic.config.latent = 6;
  dynamic.config.seed = 3;
  dynamic.binarize = Binarize::Dynamic;
  dynamic.binarize_seed = 5;
  dynamic.shuffle_seed = 7;
  dynamic.noise_seed = 9;
  dynamic.steps = {{0, 64, 0.0}, {0, 64, 0.25}, {0, 23, 0.5}, {1, 64, 0.75}, {1, 23, 1.0}, {1, 64, 1.0}};
  out.push_back(dynamic);

  // tanh/gaussian, K = 3, beta 4, two hidden layers, statically binarized images.
  TrainingCase gaussian;
  gaussian.name = "train-tanh-gaussian-k3-static";
  gaussian.config.encoder_hidden = {40, 24};
  gaussian.config.latent = 5;
  gaussian.config.activation = Activation::Tanh;
  gaussian.config.likelihood = Likelihood::Gaussian;
  gaussian.config.beta = 4.0;
  gaussian.config.samples = 3;
  gaussian.config.seed = 4;
  gaussian.binarize = Binarize::Static;
  gaussian.binarize_seed = 6;
  gaussian.shuffle_seed = 8;
  gaussian.noise_seed = 10;
  gaussian.steps = {{0, 32, 1.0}, {0, 32, 1.0}, {0, 32, 1.0}, {0, 32, 1.0}};
  out.push_back(gaussian);

  // Batch 1 and an odd batch on the u8/255 images, latent 2.
  TrainingCase single;
  single.name = "train-batch1-scaled";
  single.config.encoder_hidden = {32};
  single.config.latent = 2;
  single.config.seed = 2;
  single.binarize = Binarize::None;
  single.shuffle_seed = 12;
  single.noise_seed = 13;
  single.steps = {{0, 1, 1.0}, {0, 1, 1.0}, {0, 7, 1.0}, {0, 1, 1.0}};
  single.hand_over_epoch_order = false;  // each step's indices travel with it
  out.push_back(single);

  // A convolutional model (k3 s1 p0 and k5 s2 p2 convs, output padding, tanh, Gaussian, K = 3):
  // statically binarized images, a batch that changes and comes back.
  TrainingCase conv;
  conv.name = "train-conv-odd-static";
  conv.config = conv_model("conv-odd");
  conv.binarize = Binarize::Static;
  conv.binarize_seed = 14;
  conv.shuffle_seed = 15;
  conv.noise_seed = 16;
  conv.steps = {{0, 12, 1.0}, {0, 5, 1.0}, {0, 12, 1.0}};
  out.push_back(conv);

  // Batch norm in the encoder and decoder: the running statistics each step updates are
  // compared, and eval_batch normalises by them; the KL warm-up, a batch that changes.
  TrainingCase bn;
  bn.name = "train-conv-bn-scaled";
  bn.config = conv_model("conv-bn");
  bn.binarize = Binarize::None;
  bn.shuffle_seed = 17;
  bn.noise_seed = 18;
  bn.steps = {{0, 8, 0.5}, {0, 3, 1.0}, {0, 8, 1.0}};
  out.push_back(bn);
  return out;
}

TrainingCase training_case_for(const VaeConfig& config, int batch, const std::string& name) {
  TrainingCase c;
  c.name = name;
  c.config = config;
  c.binarize = Binarize::Dynamic;
  c.binarize_seed = config.seed + 1;
  c.shuffle_seed = config.seed + 2;
  c.noise_seed = config.seed + 3;
  const int last = batch > 1 ? batch / 3 + 1 : 1;
  c.steps = {{0, batch, 0.0}, {0, batch, 0.5}, {0, last, 1.0}, {1, batch, 1.0}};
  return c;
}

CaseResult check_training_path(Backend& backend, const TrainingCase& c, const Split& train) {
  const auto start = std::chrono::steady_clock::now();
  const std::string& precision = backend.precision();
  CaseResult r;
  r.vcase = {c.name, c.config, c.steps.empty() ? 0 : c.steps.front().batch};
  r.x_source = "training split, " + to_string(c.binarize) + ", " + std::to_string(c.steps.size()) + " steps";
  auto& out = r.comparisons;

  const std::unique_ptr<Backend> reference = create_backend("reference", c.config, "cpu", "fp64");
  backend.set_params(reference->params());  // the reference's initial parameters for c.config.seed
  backend.set_train_data(train, c.binarize, c.binarize_seed);
  reference->set_train_data(train, c.binarize, c.binarize_seed);

  const auto& views = backend.layout().views();
  const BufferLayout& buffers = backend.layout().model().buffers();
  std::vector<Comparison> loss_steps, recon_steps, kl_steps, count_steps, adam_params, adam_moments, adam_counts;
  std::vector<std::vector<Comparison>> grad_steps(views.size());
  RunningStatsOverSteps running_steps;
  TrainingStepImages images(train.count, c.shuffle_seed);
  backend.set_running_stats(buffers.initial_values());
  std::vector<double> p0 = backend.params(), r0 = backend.running_stats();
  AdamState st0 = backend.adam_state();
  int epoch_handed_over = -1;
  for (const TrainingStep& step : c.steps) {
    if (c.hand_over_epoch_order && step.epoch != epoch_handed_over) {
      backend.set_epoch_order(epoch_order(train.count, c.shuffle_seed, step.epoch), uint64_t(step.epoch));
      epoch_handed_over = step.epoch;
    }
    const std::vector<size_t> indices = images.next(step.epoch, step.batch);
    StepOptions o;
    o.kl_weight = step.kl_weight;
    o.noise_seed = c.noise_seed;

    backend.train_batch(indices, uint64_t(step.epoch), o);
    const std::vector<double> g = backend.last_gradient();
    const TrainSums sums = backend.take_train_sums();
    std::vector<double> p1 = backend.params(), r1 = backend.running_stats();
    AdamState st1 = backend.adam_state();

    reference->set_params(p0);
    reference->set_adam_state(st0);
    reference->set_running_stats(r0);
    reference->train_batch(indices, uint64_t(step.epoch), o);
    const std::vector<double> g_ref = reference->last_gradient();
    const TrainSums want = reference->take_train_sums();
    running_steps.add(compare_running_stats("train.running", buffers, r1, reference->running_stats(), r0,
                                            tol::backend(tol::Quantity::RunningStats, precision)));

    loss_steps.push_back(sums_comparison("train.loss", sums.loss, want.loss, tol::Quantity::Recon, precision, backend.config().likelihood));
    recon_steps.push_back(sums_comparison("train.recon", sums.recon, want.recon, tol::Quantity::Recon, precision, backend.config().likelihood));
    kl_steps.push_back(sums_comparison("train.kl", sums.kl, want.kl, tol::Quantity::Kl, precision, backend.config().likelihood));
    count_steps.push_back(exact_finding("train.images", sums.images == want.images,
                                  std::to_string(sums.images) + " images summed, the step had " +
                                      std::to_string(want.images)));
    for (size_t k = 0; k < views.size(); ++k)
      grad_steps[k].push_back(compare_gradient_tensor("train.grad." + views[k].name, backend.layout(), k, g, g_ref,
                                                      gradient_tolerance(backend.layout(), precision, k, backend.config().likelihood)));
    const AdamStepComparisons a = compare_adam_step(p0, st0, g, o.adam, p1, st1, precision);
    adam_params.push_back(a.params);
    adam_moments.push_back(a.exp_avg);
    adam_moments.push_back(a.exp_avg_sq);
    adam_counts.push_back(a.count);
    p0 = std::move(p1);
    r0 = std::move(r1);
    st0 = std::move(st1);
  }
  if (!c.steps.empty()) {
    const std::string suffix = " (worst of " + std::to_string(c.steps.size()) + " steps)";
    for (Comparison& row : running_steps.worst(suffix)) out.push_back(std::move(row));
    out.push_back(worst_of(loss_steps, "train.loss" + suffix));
    out.push_back(worst_of(recon_steps, "train.recon" + suffix));
    out.push_back(worst_of(kl_steps, "train.kl" + suffix));
    out.push_back(worst_of(count_steps, "train.images" + suffix));
    for (size_t k = 0; k < views.size(); ++k) out.push_back(median_of(grad_steps[k], "train.grad." + views[k].name));
    out.push_back(worst_of(adam_params, "train.adam.step" + suffix));
    out.push_back(worst_of(adam_moments, "train.adam.moments" + suffix));
    out.push_back(worst_of(adam_counts, "train.adam.count" + suffix));
  }

  // Nothing above is non-finite, so neither side may have recorded a non-finite step.
  const std::optional<NonFinite> bad = backend.first_nonfinite();
  out.push_back(exact_finding("train.nonfinite", !bad.has_value(),
                        bad ? "reports step " + std::to_string(bad->step) + " non-finite (" + bad->quantities + ")"
                            : std::string()));

  // eval_batch at the backend's final point, with the noise its next step would draw.
  if (!c.steps.empty()) {
    const TrainingStep& last = c.steps.back();
    const std::vector<size_t> indices = images.next(last.epoch, last.batch);
    backend.eval_batch(indices, uint64_t(last.epoch), c.noise_seed);
    const TrainSums got = backend.take_train_sums();
    reference->set_params(p0);
    reference->set_adam_state(st0);
    reference->set_running_stats(r0);  // evaluation normalises by them
    reference->eval_batch(indices, uint64_t(last.epoch), c.noise_seed);
    const TrainSums want = reference->take_train_sums();
    out.push_back(sums_comparison("eval.loss", got.loss, want.loss, tol::Quantity::Recon, precision, backend.config().likelihood));
    out.push_back(sums_comparison("eval.kl", got.kl, want.kl, tol::Quantity::Kl, precision, backend.config().likelihood));
    out.push_back(exact_finding("eval.images", got.images == want.images,
                          std::to_string(got.images) + " images summed, the batch had " + std::to_string(want.images)));
  }

  r.passed = true;
  for (const Comparison& cmp : r.comparisons) r.passed &= cmp.passed;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace vae
