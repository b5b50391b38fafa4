#include "backend/backend.h"

#include "common/error.h"

namespace vae {

Backend::Backend(const VaeConfig& config) : config_(config), layout_(config) {}

void Backend::set_params(const std::vector<double>& flat) {
  if (flat.size() != layout_.total())
    throw Error(name() + ": parameter buffer has " + std::to_string(flat.size()) + " values, the model needs " +
                std::to_string(layout_.total()));
  set_params_impl(flat);
}

std::vector<double> Backend::params() const { return params_impl(); }

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
  return evaluate_impl(x, batch, eps);
}

BatchLosses Backend::gradients(const std::vector<double>& x, int batch, const std::vector<double>& eps,
                               std::vector<double>& grad) {
  check_inputs(x, batch, eps);
  return gradients_impl(x, batch, eps, grad);
}

BatchLosses Backend::train_step(const std::vector<double>& x, int batch, const std::vector<double>& eps,
                                const AdamOptions& adam) {
  check_inputs(x, batch, eps);
  return train_step_impl(x, batch, eps, adam);
}

}  // namespace vae
