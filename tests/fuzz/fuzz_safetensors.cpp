// libFuzzer target: the safetensors parser (checkpoints, exported validation cases) and the
// results reader of `vaebench validate --external` on top of it. Any input must give a file
// whose tensors lie inside the buffer, or a vae::Error; what parses must serialize and parse
// back to the same tensors, and the results reader must sort it into usable tensors of exactly
// the expected size or named problems, without throwing.
#include <cstdint>
#include <string>

#include "common/error.h"
#include "io/safetensors.h"
#include "model/results_file.h"

extern "C" int fuzz_safetensors_one(const uint8_t* data, size_t size) {
  try {
    const vae::SafetensorsFile file = vae::parse_safetensors(data, size, "fuzz input");
    const std::vector<uint8_t> again = vae::serialize_safetensors(file, "fuzz input");
    const vae::SafetensorsFile back = vae::parse_safetensors(again.data(), again.size(), "round trip");
    if (back.tensors.size() != file.tensors.size()) __builtin_trap();
    // The results reader for a small model, with and without the Adam part (the seed corpus
    // holds two well-formed results files for it: F32 with the Adam part, F16 without).
    vae::VaeConfig config;
    config.input_dim = 4;
    config.encoder_hidden = {3};
    config.latent = 2;
    static const vae::ParamLayout layout(config);
    for (int adam_steps : {0, 2}) {
      const vae::CaseResultsFile r = vae::read_case_results(file, layout, 2, adam_steps);
      for (const auto& [name, t] : r.tensors) {
        size_t n = 1;
        for (int64_t d : t.shape) n *= size_t(d);
        if (t.usable() ? t.values.size() != n : !t.values.empty()) __builtin_trap();
      }
    }
  } catch (const vae::Error&) {
  }
  return 0;
}

#ifdef VAE_FUZZ_MAIN
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) { return fuzz_safetensors_one(data, size); }
#endif
