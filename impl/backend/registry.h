#pragma once
// Backends register by name. `vaebench backends` lists what this build compiled and what
// this machine can run; creating one that is not usable here fails with the list.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace vae {

struct BackendInfo {
  std::string name;
  std::string description;
  std::vector<std::string> devices;     // devices it supports in principle: "cpu", "cuda"
  std::vector<std::string> precisions;  // "fp64", "fp32", ... (common/precision.h) on some device
  // Whether it can run on `device` on this machine; on false, `reason` says why.
  std::function<bool(const std::string& device, std::string& reason)> usable;
  // Whether it runs the model `config` describes (its layer kinds and options); on false,
  // `reason` says what it cannot run. Unset: every model the reference runs.
  std::function<bool(const VaeConfig& config, std::string& reason)> supports;
  // Whether it runs every objective the reference has (model/objective.h); false: the default
  // objective only, and any other is refused up front by supports_model, naming it.
  bool runs_objectives = false;
  std::function<std::unique_ptr<Backend>(const VaeConfig&, const std::string& device, const std::string& precision)>
      create;
};

// Every backend compiled into this build, in a fixed order.
const std::vector<BackendInfo>& registered_backends();

// "reference (cpu), libtorch-eager (cpu), ..." : every backend with the devices it can use here.
std::string usable_backends_summary();

// The precisions `info` offers on `device`: its list, less tf32 where there are no tensor
// cores (tf32 needs a GPU, or cuda-emu, which rounds as they do). Tests, validate and the
// benchmark iterate over this, not over a list of their own.
std::vector<std::string> precisions_on(const BackendInfo& info, const std::string& device);

// Whether `precision` is among precisions_on(info, device).
bool offers_precision(const BackendInfo& info, const std::string& device, const std::string& precision);

// "" when `info` offers `precision` on `device`; else the "--precision P: not offered by
// backend B on D ..." message (naming the tensor-core devices for tf32, listing what it offers
// there). Throws vae::Error for a precision name that does not exist.
std::string precision_refusal(const BackendInfo& info, const std::string& device, const std::string& precision);

// Whether `info` runs config's model; on false, `reason` says why ("not supported for this model").
bool supports_model(const BackendInfo& info, const VaeConfig& config, std::string& reason);

// Throws vae::Error listing the registered names, or the usable devices, when the request
// cannot be met here, and naming what the backend cannot run when it does not support the model.
std::unique_ptr<Backend> create_backend(const std::string& name, const VaeConfig& config,
                                        const std::string& device, const std::string& precision);

}  // namespace vae
