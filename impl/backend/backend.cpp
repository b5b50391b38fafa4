#include "backend/backend.h"

#include <cmath>

#include "common/error.h"
#include "common/process_memory.h"
#include "model/layers.h"

namespace vae {

Backend::Backend(const VaeConfig& config) : config_(config), layout_(config) {}

void Backend::set_params(const std::vector<double>& flat) {
  if (flat.size() != layout_.total())
    throw Error(name() + ": parameter buffer has " + std::to_string(flat.size()) + " values, the model needs " +
                std::to_string(layout_.total()));
  after_step_ = false;
  set_params_impl(flat);
}

std::vector<double> Backend::params() const { return params_impl(); }

std::string Backend::data_parallel_refusal() const {
  if (layout_.model().buffers().total() > 0)
    return "batch norm normalises by each rank's own images (DDP without SyncBatchNorm), so a data-parallel step "
           "would not be the single-process step (a synchronised batch norm is not built)";
  if (!config_.objective.is_default())
    return "the objective" + summary(config_.objective, config_.likelihood) +
           " is not the default; summing the ranks' gradients is the single-process step only for the summed "
           "objective (a batch mean would need the gradients averaged, a batch/N KL weight each rank's share)";
  return data_parallel_refusal_impl();
}

void Backend::set_gradient_all_reduce(std::shared_ptr<GradientAllReduce> reduce) {
  if (reduce) {
    const std::string why = data_parallel_refusal();
    if (!why.empty()) throw Error(name() + " cannot train " + config_.summary() + " data-parallel: " + why);
  }
  gradient_all_reduce_ = std::move(reduce);
}

AdamState Backend::adam_state() const { return adam_state_impl(); }

void Backend::set_adam_state(const AdamState& state) {
  const size_t n = layout_.total();
  if (state.step < 0) throw Error(name() + ": Adam step count " + std::to_string(state.step) + " is negative");
  if (state.exp_avg.size() != n || state.exp_avg_sq.size() != n)
    throw Error(name() + ": Adam moments have " + std::to_string(state.exp_avg.size()) + " and " +
                std::to_string(state.exp_avg_sq.size()) + " values, the model needs " + std::to_string(n));
  after_step_ = false;
  set_adam_state_impl(state);
}

void Backend::check_running_stats_size(size_t size) const {
  const size_t want = layout_.model().buffers().total();
  if (size != want)
    throw Error(name() + ": running statistics have " + std::to_string(size) + " values, the model's batch norm needs " +
                std::to_string(want));
}

std::vector<double> Backend::running_stats() const {
  std::vector<double> stats = running_stats_impl();
  check_running_stats_size(stats.size());
  return stats;
}

void Backend::set_running_stats(const std::vector<double>& stats) {
  check_running_stats_size(stats.size());
  const BufferLayout& buffers = layout_.model().buffers();
  for (const BufferView& v : buffers.views())
    for (size_t i = v.offset; i < v.offset + v.size; ++i) {
      const double s = stats[i];
      const bool is_var = v.kind == BufferKind::RunningVar;
      const bool ok = std::isfinite(s) && (v.is_count() ? s >= 0 && s == std::floor(s) : !is_var || s >= 0);
      if (!ok)
        throw Error(name() + ": running statistic " + v.name + "[" + std::to_string(i - v.offset) + "] = " +
                    std::to_string(s) + " is not " + (v.is_count() ? "a count" : is_var ? "a variance" : "finite"));
    }
  after_step_ = false;
  set_running_stats_impl(stats);
}

void Backend::check_inputs(const std::vector<double>& x, int batch, const std::vector<double>& eps) const {
  if (batch < 1) throw Error(name() + ": batch must be >= 1, got " + std::to_string(batch));
  const size_t want_x = size_t(batch) * size_t(config_.input_dim);
  if (x.size() != want_x)
    throw Error(name() + ": x has " + std::to_string(x.size()) + " values, expected batch*D = " +
                std::to_string(want_x));
  const size_t want_eps = size_t(config_.samples) * size_t(batch) * size_t(config_.latent);
  if (eps.size() != want_eps)
    throw Error(name() + ": eps has " + std::to_string(eps.size()) + " values, expected K*batch*Z = " +
                std::to_string(want_eps));
}

BatchLosses Backend::evaluate(const std::vector<double>& x, int batch, const std::vector<double>& eps) {
  check_inputs(x, batch, eps);
  after_step_ = false;
  return evaluate_impl(x, batch, eps);
}

BatchLosses Backend::gradients(const std::vector<double>& x, int batch, const std::vector<double>& eps,
                               std::vector<double>& grad) {
  check_inputs(x, batch, eps);
  after_step_ = false;
  return gradients_impl(x, batch, eps, grad);
}

BatchLosses Backend::train_step(const std::vector<double>& x, int batch, const std::vector<double>& eps,
                                const AdamOptions& adam) {
  check_inputs(x, batch, eps);
  after_step_ = false;
  BatchLosses losses = train_step_impl(x, batch, eps, planted_adam(adam));
  after_step_ = true;
  return losses;
}

std::vector<double> Backend::last_gradient() const {
  if (!after_step_)
    throw Error(name() + ": last_gradient() is only available right after train_step or train_batch");
  std::vector<double> grad = last_gradient_impl();
  if (grad.size() != layout_.total())
    throw Error(name() + ": last gradient has " + std::to_string(grad.size()) + " values, the model needs " +
                std::to_string(layout_.total()));
  return grad;
}

void Backend::set_train_data(const Split& split, Binarize binarize, uint64_t binarize_seed) {
  if (split.dim() != size_t(config_.input_dim))
    throw Error(name() + ": training images have " + std::to_string(split.dim()) + " pixels, the model's input is " +
                std::to_string(config_.input_dim));
  if (split.count == 0) throw Error(name() + ": the training split is empty");
  train_split_ = &split;
  train_binarize_ = binarize;
  train_binarize_seed_ = binarize_seed;
  set_train_data_impl();
}

void Backend::check_indices(const std::vector<size_t>& indices, const char* what) const {
  if (!train_split_) throw Error(name() + ": " + what + " before set_train_data");
  if (indices.empty()) throw Error(name() + ": " + what + " with no images");
  for (size_t i : indices)
    if (i >= train_split_->count)
      throw Error(name() + ": image index " + std::to_string(i) + " out of range, the split has " +
                  std::to_string(train_split_->count));
}

void Backend::set_epoch_order(const std::vector<size_t>& order, uint64_t epoch) {
  check_indices(order, "set_epoch_order");
  set_epoch_order_impl(order, epoch);
}

void Backend::check_step(const std::vector<size_t>& indices, const StepOptions& options, const char* what) const {
  check_indices(indices, what);
  if (!(options.kl_weight >= 0) || !std::isfinite(options.kl_weight))
    throw Error(name() + ": KL weight must be finite and >= 0, got " + std::to_string(options.kl_weight));
  const BatchSlice& s = options.slice;
  if (s.first < 0 || (s.global > 0 && s.first + int64_t(indices.size()) > s.global) || (s.global == 0 && s.first != 0))
    throw Error(name() + ": the batch's slice (images " + std::to_string(s.first) + " .. " +
                std::to_string(s.first + int64_t(indices.size())) + " of a global batch of " + std::to_string(s.global) +
                ") lies outside it");
}

void Backend::train_batch(const std::vector<size_t>& indices, uint64_t epoch, const StepOptions& options) {
  check_step(indices, options, "train_batch");
  after_step_ = false;
  StepOptions o = options;
  o.adam = planted_adam(options.adam);
  train_batch_impl(indices, epoch, o);
  after_step_ = true;
}

AdamOptions Backend::planted_adam(const AdamOptions& adam) const {
  AdamOptions o = adam;
  if (gradient_all_reduce_ && gradient_all_reduce_->planted_stale_rank()) o.lr = 0;  // the step leaves the parameters
  return o;
}

std::vector<device::ProfiledCall> Backend::profile_train_batch(const std::vector<size_t>& indices, uint64_t epoch,
                                                               const StepOptions& options) {
  check_step(indices, options, "profile_train_batch");
  after_step_ = false;
  return profile_train_batch_impl(indices, epoch, options);
}

TrainSums Backend::take_train_sums() { return take_train_sums_impl(); }

std::optional<NonFinite> Backend::first_nonfinite() { return first_nonfinite_impl(); }

void Backend::eval_batch(const std::vector<size_t>& indices, uint64_t epoch, uint64_t noise_seed) {
  check_indices(indices, "eval_batch");
  after_step_ = false;
  eval_batch_impl(indices, epoch, noise_seed);
}

std::unique_ptr<IntervalTimer> Backend::make_interval_timer() {
  return std::make_unique<HostIntervalTimer>([this] { synchronize(); });
}

std::string Backend::nonfinite_gradient_views(const std::vector<double>& grad) const {
  std::string names;
  for (const ParamView& v : layout_.views()) {
    bool bad = false;
    for (size_t i = v.offset; i < v.offset + v.size && !bad; ++i) bad = !std::isfinite(grad[i]);
    if (bad) names += (names.empty() ? "" : ", ") + v.name;
  }
  return "gradient (" + (names.empty() ? std::string("no tensor now") : names) + ")";
}

void Backend::reset_memory_peak() { reset_peak_rss(); }

Backend::MemoryPeak Backend::memory_peak() const {
  return {double(peak_rss_bytes().value_or(0)), "host peak RSS (the whole process)"};
}

}  // namespace vae
