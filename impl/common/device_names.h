#pragma once
// Device names as the command line, backends and reports use them:
//   "cpu"          the host;
//   "cuda", "cuda:N"  a GPU;
//   "cuda-emu"     our CUDA kernels on the CPU executor (impl/emu): a CPU device, for validation.
// "cuda-emu" starts with "cuda", so never test a prefix: ask these.
#include <string>

namespace vae {

inline constexpr const char* kEmuDevice = "cuda-emu";

inline bool is_gpu_device(const std::string& device) { return device == "cuda" || device.rfind("cuda:", 0) == 0; }
inline bool is_emu_device(const std::string& device) { return device == kEmuDevice; }

// Where LibTorch work for this device runs (the CPU executor's host is the CPU).
inline std::string torch_device_for(const std::string& device) { return is_emu_device(device) ? "cpu" : device; }

}  // namespace vae
