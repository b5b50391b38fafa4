#include "libtorch/cpu_bf16.h"

#include <ATen/Version.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <cstdlib>

#include "common/cpu_features.h"
#include "common/error.h"

namespace vae::libtorch {

namespace {

// torch.ops.mkldnn._is_mkldnn_bf16_supported(): oneDNN's own answer (ideep's bf16 check, which
// honours ONEDNN_MAX_CPU_ISA), the one LibTorch's bf16 linear/matmul/conv dispatch asks.
bool onednn_takes_bf16() {
  const auto handle = c10::Dispatcher::singleton().findOp({"mkldnn::_is_mkldnn_bf16_supported", ""});
  if (!handle) return false;  // a LibTorch built without oneDNN
  return handle->typed<bool()>().call();
}

}  // namespace

CpuBf16Support compute_cpu_bf16_support(const std::string& cpuinfo_path, const char* forced) {
  CpuBf16Support s;
  const CpuFlags flags = read_cpu_flags(cpuinfo_path);
  s.flags_source = flags.source;
  // The flags that give bf16 dot products in hardware: AVX512-BF16 (vdpbf16ps) and AMX-BF16
  // (tile dot products). Without either, bf16 GEMMs are emulated (converted to fp32 in software).
  s.avx512_bf16 = flags.has("avx512_bf16");
  s.amx_bf16 = flags.has("amx_bf16");
  s.aten_capability = at::get_cpu_capability();
  s.onednn_bf16 = onednn_takes_bf16();
  const bool hardware = s.avx512_bf16 || s.amx_bf16;
  s.hardware_native = hardware && s.onednn_bf16;
  s.native = s.hardware_native;
  if (s.native)
    s.reason = std::string("the CPU has ") + (s.avx512_bf16 ? "avx512_bf16" : "") +
               (s.avx512_bf16 && s.amx_bf16 ? " and " : "") + (s.amx_bf16 ? "amx_bf16" : "") +
               " and LibTorch sends bf16 GEMMs to oneDNN";
  else if (!hardware)
    s.reason = "no avx512_bf16 or amx_bf16 in " + s.flags_source + ": bf16 GEMMs are emulated" +
               (s.onednn_bf16 ? " (by oneDNN in AVX-512)" : " (oneDNN refuses bf16; ATen's fallback runs them)");
  else
    s.reason = "the CPU has bf16 instructions but oneDNN does not take bf16 here (ONEDNN_MAX_CPU_ISA?): "
               "ATen's fallback runs bf16 GEMMs";
  if (forced) {
    const std::string v = forced;
    if (v != "native" && v != "emulated")
      throw Error("VAE_CPU_BF16='" + v + "': expected 'native' or 'emulated' (it forces the tier of the bf16 checks)");
    s.native = v == "native";
    s.forced_by = "VAE_CPU_BF16=" + v;
    s.reason = "forced by " + s.forced_by + " (the hardware's own tier: " + (s.hardware_native ? "native" : "emulated") +
               "; " + s.reason + ")";
  }
  return s;
}

const CpuBf16Support& cpu_bf16_support() {
  static const CpuBf16Support s = compute_cpu_bf16_support("/proc/cpuinfo", std::getenv("VAE_CPU_BF16"));
  return s;
}

nlohmann::json to_json(const CpuBf16Support& s) {
  return {{"tier", s.tier()},
          {"hardware", s.hardware_native ? "native" : "emulated"},
          {"avx512_bf16", s.avx512_bf16},
          {"amx_bf16", s.amx_bf16},
          {"aten_cpu_capability", s.aten_capability},
          {"onednn_bf16", s.onednn_bf16},
          {"forced_by", s.forced_by},
          {"reason", s.reason}};
}

std::string describe(const CpuBf16Support& s) { return "bf16 on this CPU: " + s.tier() + " (" + s.reason + ")"; }

}  // namespace vae::libtorch
