#pragma once
// One interface for every way of running the VAE (check-then-call): the public methods
// validate shapes and sizes, then call the backend's *_impl. Inputs and outputs cross this
// boundary in double, so any backend can be compared with the reference value for value;
// a float backend rounds on the way in and widens on the way out.
#include <memory>
#include <string>
#include <vector>

#include "model/adam_options.h"
#include "model/config.h"
#include "model/params.h"

namespace vae {

// Per-image results, each [B].
struct BatchLosses {
  std::vector<double> recon, kl, loss, elbo;
};

class Backend {
 public:
  explicit Backend(const VaeConfig& config);
  virtual ~Backend() = default;
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  virtual std::string name() const = 0;
  virtual std::string device() const = 0;     // "cpu", "cuda:0", ...
  virtual std::string precision() const = 0;  // "fp64", "fp32", "tf32", ...

  const VaeConfig& config() const { return config_; }
  const ParamLayout& layout() const { return layout_; }

  // The flat parameter buffer (model/params.h layout). Setting it resets the optimizer.
  void set_params(const std::vector<double>& flat);
  std::vector<double> params() const;

  // x: [batch, D] row-major; eps: [K, batch, Z].
  BatchLosses evaluate(const std::vector<double>& x, int batch, const std::vector<double>& eps);
  // Also the gradient of sum_b loss_b, in the flat layout.
  BatchLosses gradients(const std::vector<double>& x, int batch, const std::vector<double>& eps,
                        std::vector<double>& grad);
  // One Adam step on sum_b loss_b with the given noise; returns the losses before the step.
  BatchLosses train_step(const std::vector<double>& x, int batch, const std::vector<double>& eps,
                         const AdamOptions& adam);

 protected:
  virtual void set_params_impl(const std::vector<double>& flat) = 0;
  virtual std::vector<double> params_impl() const = 0;
  virtual BatchLosses evaluate_impl(const std::vector<double>& x, int batch, const std::vector<double>& eps) = 0;
  virtual BatchLosses gradients_impl(const std::vector<double>& x, int batch, const std::vector<double>& eps,
                                     std::vector<double>& grad) = 0;
  virtual BatchLosses train_step_impl(const std::vector<double>& x, int batch, const std::vector<double>& eps,
                                      const AdamOptions& adam) = 0;

 private:
  void check_inputs(const std::vector<double>& x, int batch, const std::vector<double>& eps) const;

  VaeConfig config_;
  ParamLayout layout_;
};

}  // namespace vae
