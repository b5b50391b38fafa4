#include "backend/reference_backend.h"

#include <cmath>
#include <utility>

#include "adam.h"
#include "model/noise.h"
#include "vae_reference.h"

namespace vae {

namespace {

class ReferenceBackend final : public Backend {
 public:
  explicit ReferenceBackend(const VaeConfig& config)
      : Backend(config), model_(config), params_(init_params(config, layout())),
        running_(layout().model().buffers().initial_values()) {}

  std::string name() const override { return "reference"; }
  std::string device() const override { return "cpu"; }
  std::string precision() const override { return "fp64"; }

 protected:
  void set_params_impl(const std::vector<double>& flat) override {
    params_ = flat;
    adam_.reset();
    nonfinite_.reset();
  }
  std::vector<double> params_impl() const override { return params_; }

  AdamState adam_state_impl() const override {
    if (!adam_) return {0, std::vector<double>(params_.size(), 0.0), std::vector<double>(params_.size(), 0.0)};
    return {adam_->steps(), adam_->first_moment(), adam_->second_moment()};
  }
  void set_adam_state_impl(const AdamState& s) override {
    adam_ = std::make_unique<ref::Adam>(AdamOptions{}, s.step, s.exp_avg, s.exp_avg_sq);
    nonfinite_.reset();
  }

  std::vector<double> running_stats_impl() const override { return running_; }
  void set_running_stats_impl(const std::vector<double>& stats) override { running_ = stats; }

  BatchLosses evaluate_impl(const std::vector<double>& x, int batch, const std::vector<double>& eps) override {
    return to_batch(model_.forward(params_, as_matrix(x, batch), eps));
  }

  BatchLosses gradients_impl(const std::vector<double>& x, int batch, const std::vector<double>& eps,
                             std::vector<double>& grad) override {
    return to_batch(model_.forward_backward(params_, as_matrix(x, batch), eps, grad));
  }

  BatchLosses train_step_impl(const std::vector<double>& x, int batch, const std::vector<double>& eps,
                              const AdamOptions& options) override {
    std::vector<double> grad;
    BatchLosses losses = to_batch(model_.forward_backward(params_, as_matrix(x, batch), eps, grad, 1.0, running()));
    all_reduce_gradient(grad.data(), grad.size(), GradientAllReduce::Element::f64);
    adam_step(grad, options);
    last_grad_ = std::move(grad);
    return losses;
  }
  std::vector<double> last_gradient_impl() const override { return last_grad_; }

  void train_batch_impl(const std::vector<size_t>& indices, uint64_t epoch, const StepOptions& o) override {
    const int batch = int(indices.size());
    const std::vector<double> x = gather(indices, epoch), eps = next_step_eps(o.noise_seed, batch, o.slice);
    std::vector<double> grad;
    const ref::Losses l = model_.forward_backward(params_, as_matrix(x, batch), eps, grad, o.kl_weight, running());
    all_reduce_gradient(grad.data(), grad.size(), GradientAllReduce::Element::f64);
    adam_step(grad, o.adam);
    add_to_sums(l, batch);
    if (!nonfinite_) record_nonfinite(l, grad);
    last_grad_ = std::move(grad);
  }

  void eval_batch_impl(const std::vector<size_t>& indices, uint64_t epoch, uint64_t noise_seed) override {
    const int batch = int(indices.size());
    const std::vector<double> x = gather(indices, epoch);
    add_to_sums(model_.forward(params_, as_matrix(x, batch), next_step_eps(noise_seed, batch), running()), batch);
  }

  TrainSums take_train_sums_impl() override { return std::exchange(sums_, TrainSums{}); }
  std::optional<NonFinite> first_nonfinite_impl() override { return nonfinite_; }

 private:
  // The running statistics for the reference's calls: none in a model without batch norm.
  std::vector<double>* running() { return running_.empty() ? nullptr : &running_; }

  std::vector<double> gather(const std::vector<size_t>& indices, uint64_t epoch) const {
    std::vector<double> x(indices.size() * size_t(config().input_dim));
    gather_train_images(indices, epoch, x.data());
    return x;
  }

  // The noise of the next optimizer step (counter RNG keyed by the step), as every backend draws it.
  std::vector<double> next_step_eps(uint64_t noise_seed, int batch, BatchSlice slice = {}) const {
    const uint64_t step = uint64_t(adam_ ? adam_->steps() : 0);
    return make_eps(noise_seed, step, config().samples, batch, config().latent, slice);
  }

  void add_to_sums(const ref::Losses& l, int batch) {
    sums_.images += batch;
    sums_.recon += l.recon.sum();
    sums_.kl += l.kl.sum();
    sums_.loss += l.loss.sum();
  }

  void adam_step(const std::vector<double>& grad, const AdamOptions& options) {
    if (!adam_) adam_ = std::make_unique<ref::Adam>(params_.size(), options);
    adam_->set_options(options);
    adam_->step(params_, grad);
  }

  void record_nonfinite(const ref::Losses& l, const std::vector<double>& grad) {
    std::string what;
    const auto add = [&](bool bad, const std::string& name) {
      if (bad) what += (what.empty() ? "" : ", ") + name;
    };
    add(!l.loss.allFinite(), "loss");
    add(!l.recon.allFinite(), "recon");
    add(!l.kl.allFinite(), "kl");
    bool grad_ok = true;
    for (double g : grad) grad_ok &= std::isfinite(g);
    add(!grad_ok, nonfinite_gradient_views(grad));
    if (!what.empty()) nonfinite_ = NonFinite{adam_->steps(), what};
  }

  ref::Matrix as_matrix(const std::vector<double>& x, int batch) const {
    return Eigen::Map<const ref::Matrix>(x.data(), batch, config().input_dim);
  }
  static std::vector<double> to_vector(const Eigen::VectorXd& v) { return {v.data(), v.data() + v.size()}; }
  static BatchLosses to_batch(const ref::Losses& l) {
    return {to_vector(l.recon), to_vector(l.kl), to_vector(l.loss), to_vector(l.elbo)};
  }

  ref::VaeReference model_;
  std::vector<double> params_;
  std::vector<double> running_;  // batch norm's running statistics (empty without batch norm)
  std::unique_ptr<ref::Adam> adam_;
  std::vector<double> last_grad_;  // the last train_step's or train_batch's, for last_gradient()
  TrainSums sums_;
  std::optional<NonFinite> nonfinite_;
};

}  // namespace

std::unique_ptr<Backend> create_reference_backend(const VaeConfig& config) {
  return std::unique_ptr<Backend>(new ReferenceBackend(config));
}

BackendInfo reference_backend_info() {
  BackendInfo info;
  info.name = "reference";
  info.runs_objectives = true;
  info.description = "Eigen, double precision, hand-written backward (the specification)";
  info.devices = {"cpu"};
  info.precisions = {"fp64"};
  info.usable = [](const std::string& device, std::string& reason) {
    if (device == "cpu") return true;
    reason = "the reference runs on the CPU only";
    return false;
  };
  info.create = [](const VaeConfig& config, const std::string&, const std::string&) {
    return create_reference_backend(config);
  };
  return info;
}

}  // namespace vae
