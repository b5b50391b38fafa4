#pragma once
// What the CUDA runtime sees on this machine. Never throws: a machine without a GPU or
// driver is a normal answer ("no CUDA device: <why>"), not an error.
#include <string>
#include <vector>

namespace vae {

struct CudaDevice {
  int index = 0;
  std::string name;
  int sm_major = 0, sm_minor = 0;
  int multiprocessors = 0;
  double memory_gib = 0;
  double clock_ghz = 0;
};

struct CudaInfo {
  bool compiled = false;          // built with VAE_WITH_CUDA
  std::string compiled_archs;     // e.g. "80;90"
  int runtime_version = 0;        // e.g. 13000
  int driver_version = 0;         // 0 when no driver is installed
  std::vector<CudaDevice> devices;
  std::string unavailable_reason; // set when devices is empty
};

CudaInfo query_cuda();

// "13.0" from 13000; "none" for 0.
inline std::string cuda_version_string(int v) {
  if (v <= 0) return "none";
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

}  // namespace vae
