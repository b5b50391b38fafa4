#pragma once
// The arithmetic a backend runs in, parsed in one place. Backends, options, tolerances and
// reports carry the name ("fp32", ...); this is where a name becomes a meaning.
//   fp64  float64 throughout (the reference; LibTorch's tight structural check)
//   fp32  float32 throughout
//   tf32  float32 storage, matrix products on tensor cores with operands rounded to tf32
//         (10-bit mantissa) and fp32 sums: NVIDIA GPUs (or the CPU executor's emulation)
//   bf16  mixed precision as torch.autocast(dtype=torch.bfloat16) runs it: fp32 master
//         parameters and Adam, matrix products and convolutions with bf16 operands (8-bit
//         mantissa) and fp32 accumulation, the losses, KL, exp and likelihood in fp32
#include <optional>
#include <string>

#include "common/error.h"

namespace vae {

enum class Precision { fp64, fp32, tf32, bf16 };

inline constexpr Precision kAllPrecisions[] = {Precision::fp64, Precision::fp32, Precision::tf32, Precision::bf16};

inline const char* precision_name(Precision p) {
  switch (p) {
    case Precision::fp64: return "fp64";
    case Precision::fp32: return "fp32";
    case Precision::tf32: return "tf32";
    case Precision::bf16: return "bf16";
  }
  return "?";
}

inline std::string precision_names() {
  std::string s;
  for (Precision p : kAllPrecisions) s += (s.empty() ? "" : ", ") + std::string(precision_name(p));
  return s;
}

inline std::optional<Precision> find_precision(const std::string& name) {
  for (Precision p : kAllPrecisions)
    if (name == precision_name(p)) return p;
  return std::nullopt;
}

// `option` names what was given ("--precision", a file's field); throws vae::Error otherwise.
inline Precision parse_precision(const std::string& name, const std::string& option = "--precision") {
  if (const std::optional<Precision> p = find_precision(name)) return *p;
  throw Error(option + ": unknown precision '" + name + "', choose from: " + precision_names());
}

// Whether the format exists only on NVIDIA tensor cores (or their emulation): tf32. bf16 has
// CPU implementations too (LibTorch's CPU autocast), so a CPU backend may offer it.
inline bool needs_tensor_cores(Precision p) { return p == Precision::tf32; }

}  // namespace vae
