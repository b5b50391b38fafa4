#pragma once
// bf16 on this CPU: whether the hardware does bf16 dot products (avx512_bf16, amx_bf16), which
// kernels LibTorch dispatches (ATen's CPU capability; whether oneDNN takes bf16 GEMMs and
// convolutions, or ATen's scalar fallback does), and from that the tier of the bf16 checks
// whose cost hangs on it. Measured: LibTorch's CPU autocast trained the default MLP at 45-121 k
// samples/s on a CPU with AVX512-BF16/AMX and at 1.0-1.6 k on an AVX2-only EPYC, where oneDNN
// refuses bf16 and every bf16 GEMM runs ATen's fallback (issue 35) -- a 10-epoch bf16 test
// took 19 minutes there. Those checks run their full form on the native tier and a bounded form,
// saying so, on the emulated one (docs/ci-budget.md).
//
// VAE_CPU_BF16=native|emulated forces the tier: it tests which form is chosen, never the
// timing (a forced "native" on an emulating CPU is as slow as it was).
#include <nlohmann/json.hpp>

#include <string>

namespace vae::libtorch {

struct CpuBf16Support {
  bool avx512_bf16 = false, amx_bf16 = false;  // /proc/cpuinfo's flags
  std::string flags_source;                   // where the flags came from
  std::string aten_capability;                // at::get_cpu_capability(): "AVX512", "AVX2", "DEFAULT"
  bool onednn_bf16 = false;                   // LibTorch sends bf16 GEMMs/convolutions to oneDNN
  bool hardware_native = false;               // bf16 instructions and oneDNN takes bf16: CPU bf16 figures are native
  bool native = false;                        // the tier: full-form bf16 checks (hardware_native unless forced)
  std::string forced_by;                      // "VAE_CPU_BF16=..." when the environment chose the tier
  std::string reason;                         // one sentence: why this tier

  // "native" or "emulated".
  std::string tier() const { return native ? "native" : "emulated"; }
};

// Asked once per process (LibTorch's answer does not change). Throws vae::Error naming
// VAE_CPU_BF16 when it holds anything but "native" or "emulated".
const CpuBf16Support& cpu_bf16_support();

// The uncached computation, for tests: `forced` is VAE_CPU_BF16's value (null: unset).
CpuBf16Support compute_cpu_bf16_support(const std::string& cpuinfo_path, const char* forced);

// For manifests and `vaebench info --json`.
nlohmann::json to_json(const CpuBf16Support& s);

// "bf16 on this CPU: emulated (...)": the line a bounded check prints.
std::string describe(const CpuBf16Support& s);

}  // namespace vae::libtorch
