#pragma once
// The backends a test covers, read from the registry (the registry is the list: a backend
// added there is tested without touching the tests).
#include <ostream>
#include <string>
#include <vector>

#include "backend/registry.h"
#include "common/device_names.h"

namespace vae::testing {

struct BackendEntry {
  std::string name, device, precision;
};

inline void PrintTo(const BackendEntry& e, std::ostream* os) { *os << e.name << "/" << e.device << "/" << e.precision; }

inline std::string test_name(const BackendEntry& e) {
  std::string s = e.name + "_" + e.device + "_" + e.precision;
  for (char& ch : s)
    if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s;
}

// Why backend `name` cannot run on `device` here, or "" when it can (or is not registered:
// create_backend then says so).
inline std::string unusable_reason(const std::string& name, const std::string& device) {
  for (const BackendInfo& info : registered_backends()) {
    std::string reason;
    if (info.name == name && !info.usable(device, reason)) return reason;
  }
  return "";
}

// What backend `name` cannot run of config's model, or "" when it runs it.
inline std::string unsupported_reason(const std::string& name, const VaeConfig& config) {
  for (const BackendInfo& info : registered_backends()) {
    std::string reason;
    if (info.name == name && !supports_model(info, config, reason)) return reason;
  }
  return "";
}

// Whether a test binary built for `binary_device` ("cuda": the GPU twin, label gpu; else the
// host's) covers backends on `device`: the GPU twin the GPU, the host binary cpu and cuda-emu.
inline bool covered_by(const std::string& binary_device, const std::string& device) {
  if (binary_device == "cuda") return is_gpu_device(device);
  return device == "cpu" || is_emu_device(device);
}

// Every registered backend on the host's devices (cpu, and cuda-emu: our CUDA kernels on the
// CPU executor), in each precision it offers there (tf32 only where the tensor cores are
// emulated), the reference included or not.
inline std::vector<BackendEntry> host_backends(bool with_reference) {
  std::vector<BackendEntry> out;
  for (const BackendInfo& info : registered_backends()) {
    if (info.name == "reference" && !with_reference) continue;
    for (const std::string& device : info.devices) {
      if (device != "cpu" && !is_emu_device(device)) continue;
      std::string reason;
      if (!info.usable(device, reason)) continue;
      for (const std::string& precision : precisions_on(info, device)) out.push_back({info.name, device, precision});
    }
  }
  return out;
}

// host_backends with one precision per backend and device: fp32 where offered, else the first.
inline std::vector<BackendEntry> host_backends_one_precision(bool with_reference) {
  std::vector<BackendEntry> out;
  for (const BackendEntry& e : host_backends(with_reference)) {
    bool have = false;
    for (BackendEntry& o : out)
      if (o.name == e.name && o.device == e.device) {
        have = true;
        if (e.precision == "fp32") o.precision = "fp32";
      }
    if (!have) out.push_back(e);
  }
  return out;
}

}  // namespace vae::testing
