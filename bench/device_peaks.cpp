#include "device_peaks.h"

#include <vector>

namespace vae::bench {

namespace {

struct Row {
  const char* name_contains;  // first matching row wins, so more specific names come first
  DevicePeak peak;
};

// Dense (non-sparse) figures at boost clock, from NVIDIA's data sheets.
const std::vector<Row>& table() {
  // name, FP32, TF32, BF16, FP16 TFLOP/s (dense), DRAM TB/s
  static const std::vector<Row> rows = {
      {"H200 NVL", {"NVIDIA H200 NVL", 60.0, 417.5, 835.5, 835.5, 4.8, "NVIDIA H200 Tensor Core GPU data sheet"}},
      {"H200", {"NVIDIA H200 SXM", 67.0, 494.7, 989.4, 989.4, 4.8, "NVIDIA H200 Tensor Core GPU data sheet"}},
      {"H100 PCIe", {"NVIDIA H100 PCIe", 51.2, 378.0, 756.5, 756.5, 2.0, "NVIDIA H100 Tensor Core GPU data sheet"}},
      {"H100 NVL", {"NVIDIA H100 NVL", 60.0, 417.5, 835.5, 835.5, 3.9, "NVIDIA H100 Tensor Core GPU data sheet"}},
      {"H100", {"NVIDIA H100 SXM5", 67.0, 494.7, 989.4, 989.4, 3.35, "NVIDIA H100 Tensor Core GPU data sheet"}},
      {"A100-SXM4-80GB", {"NVIDIA A100 SXM4 80GB", 19.5, 156.0, 312.0, 312.0, 2.039, "NVIDIA A100 Tensor Core GPU data sheet"}},
      {"A100-SXM4-40GB", {"NVIDIA A100 SXM4 40GB", 19.5, 156.0, 312.0, 312.0, 1.555, "NVIDIA A100 Tensor Core GPU data sheet"}},
      {"A100-PCIE-40GB", {"NVIDIA A100 PCIe 40GB", 19.5, 156.0, 312.0, 312.0, 1.555, "NVIDIA A100 Tensor Core GPU data sheet"}},
      {"A100 80GB PCIe", {"NVIDIA A100 PCIe 80GB", 19.5, 156.0, 312.0, 312.0, 1.935, "NVIDIA A100 Tensor Core GPU data sheet"}},
  };
  return rows;
}

}  // namespace

std::optional<DevicePeak> find_device_peak(const std::string& device_name) {
  for (const Row& r : table())
    if (device_name.find(r.name_contains) != std::string::npos) return r.peak;
  return std::nullopt;
}

nlohmann::json peak_json(const DevicePeak& p) {
  return {{"model", p.model},          {"fp32_tflops", p.fp32_tflops}, {"tf32_tflops", p.tf32_tflops},
          {"bf16_tflops", p.bf16_tflops}, {"fp16_tflops", p.fp16_tflops}, {"memory_tbps", p.memory_tbps},
          {"source", p.source}};
}

std::optional<double> peak_tflops(const std::optional<DevicePeak>& peak, const std::string& precision) {
  if (!peak) return std::nullopt;
  if (precision == "fp32") return peak->fp32_tflops;
  if (precision == "tf32") return peak->tf32_tflops;
  if (precision == "bf16") return peak->bf16_tflops;
  return std::nullopt;
}

}  // namespace vae::bench
