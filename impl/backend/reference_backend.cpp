#include "backend/reference_backend.h"

#include "adam.h"
#include "vae_reference.h"

namespace vae {

namespace {

class ReferenceBackend final : public Backend {
 public:
  explicit ReferenceBackend(const VaeConfig& config)
      : Backend(config), model_(config), params_(init_params(config, layout())) {}

  std::string name() const override { return "reference"; }
  std::string device() const override { return "cpu"; }
  std::string precision() const override { return "fp64"; }

 protected:
  void set_params_impl(const std::vector<double>& flat) override {
    params_ = flat;
    adam_.reset();
  }
  std::vector<double> params_impl() const override { return params_; }

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
    BatchLosses losses = gradients_impl(x, batch, eps, grad);
    if (!adam_) adam_ = std::make_unique<ref::Adam>(params_.size(), options);
    adam_->step(params_, grad);
    return losses;
  }

 private:
  ref::Matrix as_matrix(const std::vector<double>& x, int batch) const {
    return Eigen::Map<const ref::Matrix>(x.data(), batch, config().input_dim);
  }
  static std::vector<double> to_vector(const Eigen::VectorXd& v) { return {v.data(), v.data() + v.size()}; }
  static BatchLosses to_batch(const ref::Losses& l) {
    return {to_vector(l.recon), to_vector(l.kl), to_vector(l.loss), to_vector(l.elbo)};
  }

  ref::VaeReference model_;
  std::vector<double> params_;
  std::unique_ptr<ref::Adam> adam_;
};

}  // namespace

BackendInfo reference_backend_info() {
  BackendInfo info;
  info.name = "reference";
  info.description = "Eigen, double precision, hand-written backward (the specification)";
  info.devices = {"cpu"};
  info.precisions = {"fp64"};
  info.usable = [](const std::string& device, std::string& reason) {
    if (device == "cpu") return true;
    reason = "the reference runs on the CPU only";
    return false;
  };
  info.create = [](const VaeConfig& config, const std::string&, const std::string&) {
    return std::unique_ptr<Backend>(new ReferenceBackend(config));
  };
  return info;
}

}  // namespace vae
