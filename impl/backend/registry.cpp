#include "backend/registry.h"

#include <algorithm>

#include "backend/cudagraph_backend.h"
#include "backend/eager_backend.h"
#include "backend/fused_backend.h"
#include "backend/reference_backend.h"
#include "backend/torchscript_backend.h"
#include "common/device_names.h"
#include "common/error.h"
#include "common/precision.h"

namespace vae {

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

}  // namespace

const std::vector<BackendInfo>& registered_backends() {
  static const std::vector<BackendInfo> backends = {reference_backend_info(), eager_backend_info(),
                                                     torchscript_backend_info(), cudagraph_backend_info(),
                                                     fused_backend_info()};
  return backends;
}

std::string usable_backends_summary() {
  std::vector<std::string> entries;
  for (const BackendInfo& info : registered_backends()) {
    std::vector<std::string> devices;
    for (const std::string& d : info.devices) {
      std::string reason;
      if (info.usable(d, reason)) devices.push_back(d);
    }
    entries.push_back(info.name + " (" + (devices.empty() ? std::string("nothing here") : join(devices)) + ")");
  }
  return join(entries);
}

std::vector<std::string> precisions_on(const BackendInfo& info, const std::string& device) {
  std::vector<std::string> out;
  for (const std::string& p : info.precisions)
    if (!needs_tensor_cores(parse_precision(p, "backend " + info.name)) || is_gpu_device(device) || is_emu_device(device))
      out.push_back(p);
  return out;
}

bool offers_precision(const BackendInfo& info, const std::string& device, const std::string& precision) {
  const std::vector<std::string> here = precisions_on(info, device);
  return std::find(here.begin(), here.end(), precision) != here.end();
}

std::string precision_refusal(const BackendInfo& info, const std::string& device, const std::string& precision) {
  parse_precision(precision);  // an unknown name is named as such
  if (offers_precision(info, device, precision)) return "";
  const bool elsewhere = std::find(info.precisions.begin(), info.precisions.end(), precision) != info.precisions.end();
  return "--precision " + precision + ": not offered by backend " + info.name + " on " + device +
         (elsewhere ? " (" + precision + " is a tensor-core format of NVIDIA GPUs: use --device cuda, or cuda-emu where it is emulated)"
                    : std::string()) +
         "; choose from: " + join(precisions_on(info, device));
}

bool supports_model(const BackendInfo& info, const VaeConfig& config, std::string& reason) {
  if (!info.runs_objectives && !config.default_objective()) {
    reason = info.name + " runs the default objective only (BCE with logits or the Gaussian with its constant, summed "
             "over pixels and images, KL weighted by beta), not" + config.objective_summary() +
             "; the reference and the LibTorch eager and CUDA-graph backends run every objective";
    return false;
  }
  return !info.supports || info.supports(config, reason);
}

std::unique_ptr<Backend> create_backend(const std::string& name, const VaeConfig& config,
                                        const std::string& device, const std::string& precision) {
  std::vector<std::string> names;
  for (const BackendInfo& info : registered_backends()) {
    names.push_back(info.name);
    if (info.name != name) continue;
    std::string reason;
    if (!info.usable(device, reason))
      throw Error("--backend " + name + " --device " + device + ": not usable here (" + reason +
                  "); usable here: " + usable_backends_summary());
    if (!supports_model(info, config, reason))
      throw Error("--backend " + name + ": not supported for this model (" + reason + ")");
    if (const std::string refusal = precision_refusal(info, device, precision); !refusal.empty()) throw Error(refusal);
    return info.create(config, device, precision);
  }
  throw Error("--backend: unknown backend '" + name + "', this build has: " + join(names));
}

}  // namespace vae
