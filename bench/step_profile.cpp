#include "step_profile.h"

#include <algorithm>
#include <cstdio>

namespace vae::bench {

nlohmann::json profile_json(const std::string& backend, const std::string& device, const std::string& precision,
                            int batch, const std::vector<device::ProfiledCall>& calls,
                            const std::optional<DevicePeak>& peak) {
  nlohmann::json out = {{"backend", backend}, {"device", device}, {"precision", precision}, {"batch", batch}};
  out["peak"] = peak ? peak_json(*peak) : nlohmann::json(nullptr);
  double total = 0;
  nlohmann::json rows = nlohmann::json::array();
  for (const device::ProfiledCall& c : calls) {
    total += c.seconds;
    nlohmann::json r = {{"name", c.cost.name}, {"seconds", c.seconds}, {"flops", c.cost.flops}, {"bytes", c.cost.bytes}};
    r["tflops"] = c.seconds > 0 ? c.cost.flops / c.seconds / 1e12 : 0.0;
    r["gbps"] = c.seconds > 0 ? c.cost.bytes / c.seconds / 1e9 : 0.0;
    if (peak) {
      // The products of the GEMM and conv families run on tensor cores at tf32 and bf16; every
      // other call (and every call at fp32) on the CUDA cores.
      const bool products = c.cost.name.rfind("gemm.", 0) == 0 || c.cost.name.rfind("conv.", 0) == 0 ||
                            c.cost.name.rfind("conv_transpose.", 0) == 0;
      const std::optional<double> at_precision = peak_tflops(peak, precision);  // fp32: the CUDA cores' own
      const double tflops = products && at_precision ? *at_precision : peak->fp32_tflops;
      const double compute = c.cost.flops / (tflops * 1e12), memory = c.cost.bytes / (peak->memory_tbps * 1e12);
      const double bound = std::max(compute, memory);
      r["bound_seconds"] = bound;
      r["bound"] = compute >= memory ? "compute" : "memory";
      r["percent_of_bound"] = c.seconds > 0 ? 100.0 * bound / c.seconds : 0.0;
    } else {
      r["bound_seconds"] = nullptr;
      r["bound"] = "unknown device";
      r["percent_of_bound"] = nullptr;
    }
    rows.push_back(r);
  }
  out["total_seconds"] = total;
  out["calls"] = rows;
  return out;
}

std::string profile_text(const nlohmann::json& step) {
  std::string s = step.value("backend", "?") + " " + step.value("device", "?") + " " + step.value("precision", "?") +
                  ", batch " + std::to_string(step.value("batch", 0)) + ": one training step, per kernel call\n";
  char line[512];
  std::snprintf(line, sizeof line, "  %-58s %10s %9s %9s %10s %8s\n", "call", "us", "TFLOP/s", "GB/s", "bound us",
                "% bound");
  s += line;
  for (const nlohmann::json& r : step.at("calls")) {
    const bool known = !r.at("bound_seconds").is_null();
    std::snprintf(line, sizeof line, "  %-58.58s %10.2f %9.3f %9.1f %10s %8s\n", r.value("name", "?").c_str(),
                  r.value("seconds", 0.0) * 1e6, r.value("tflops", 0.0), r.value("gbps", 0.0),
                  known ? std::to_string(r.at("bound_seconds").get<double>() * 1e6).substr(0, 8).c_str() : "n/a",
                  known ? std::to_string(r.at("percent_of_bound").get<double>()).substr(0, 6).c_str() : "n/a");
    s += line;
  }
  std::snprintf(line, sizeof line, "  total %.2f us\n", step.value("total_seconds", 0.0) * 1e6);
  s += line;
  return s;
}

}  // namespace vae::bench
