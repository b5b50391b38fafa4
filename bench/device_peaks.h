#pragma once
// Peak arithmetic rates of the devices we measure on, from the vendors' data sheets, so a
// benchmark can say what fraction of the machine a backend uses. Looked up by the device
// name the driver reports; a device not in the table has no peak ("unknown" in reports)
// rather than a guessed one. CPUs are never in it: their peak depends on the vector width,
// the clock under load and the FMA ports in use, none of which we measure.
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace vae::bench {

struct DevicePeak {
  std::string model;       // the table row that matched, e.g. "NVIDIA H100 SXM5"
  double fp32_tflops = 0;  // dense FP32 FMA on the CUDA cores (2 FLOP per FMA)
  double tf32_tflops = 0;  // dense TF32 on the tensor cores (without sparsity)
  double bf16_tflops = 0;  // dense BF16 on the tensor cores, fp32 accumulation (without sparsity)
  double fp16_tflops = 0;  // dense FP16 on the tensor cores (without sparsity)
  double memory_tbps = 0;  // DRAM bandwidth, TB/s
  std::string source;      // where the numbers come from
};

std::optional<DevicePeak> find_device_peak(const std::string& device_name);

// The row as the benchmark context and the step profile write it:
// {"model", "fp32_tflops", "tf32_tflops", "bf16_tflops", "fp16_tflops", "memory_tbps", "source"}.
nlohmann::json peak_json(const DevicePeak& peak);

// The peak that applies to a precision: fp32 -> CUDA-core FP32, tf32 -> tensor-core TF32,
// bf16 -> tensor-core BF16 (autocast's products; the rest of a step is not on tensor cores,
// so a mixed-precision step's share of it is a lower bound); fp64 or an unknown device -> none.
std::optional<double> peak_tflops(const std::optional<DevicePeak>& peak, const std::string& precision);

}  // namespace vae::bench
