#pragma once
// The per-kernel table of one training step (Backend::profile_train_batch): each of our kernel
// families' calls with its time, FLOP and DRAM bytes, the rates it reached and its roofline
// bound from the device's data-sheet peak (device_peaks.h): max(FLOP / peak FLOP/s, bytes /
// peak bandwidth). A call far above its bound says what limits the step: a latency-bound
// launch (tiny work), or a kernel that reaches neither roof.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "device/call_profile.h"
#include "device_peaks.h"

namespace vae::bench {

// {"backend", "device", "precision", "batch", "peak": {...} | null, "total_seconds",
//  "calls": [{"name", "seconds", "flops", "bytes", "tflops", "gbps", "bound_seconds", "bound",
//             "percent_of_bound"}]}. GEMMs are bounded by the precision's peak (tf32: the
// tensor cores), every other call by the CUDA cores' FP32 peak.
nlohmann::json profile_json(const std::string& backend, const std::string& device, const std::string& precision,
                            int batch, const std::vector<device::ProfiledCall>& calls,
                            const std::optional<DevicePeak>& peak);

// The same as a text table for the terminal.
std::string profile_text(const nlohmann::json& step);

}  // namespace vae::bench
