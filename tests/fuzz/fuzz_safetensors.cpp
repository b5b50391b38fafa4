// libFuzzer target: the safetensors parser (checkpoints, exported validation cases). Any
// input must give a file whose tensors lie inside the buffer, or a vae::Error; what parses
// must serialize and parse back to the same tensors.
#include <cstdint>
#include <string>

#include "common/error.h"
#include "io/safetensors.h"

extern "C" int fuzz_safetensors_one(const uint8_t* data, size_t size) {
  try {
    const vae::SafetensorsFile file = vae::parse_safetensors(data, size, "fuzz input");
    const std::vector<uint8_t> again = vae::serialize_safetensors(file, "fuzz input");
    const vae::SafetensorsFile back = vae::parse_safetensors(again.data(), again.size(), "round trip");
    if (back.tensors.size() != file.tensors.size()) __builtin_trap();
  } catch (const vae::Error&) {
  }
  return 0;
}

#ifdef VAE_FUZZ_MAIN
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) { return fuzz_safetensors_one(data, size); }
#endif
