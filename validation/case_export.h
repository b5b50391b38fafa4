#pragma once
// A validation case as one safetensors file for implementations outside this repository
// (`vaebench cases export`, docs/case-format.md): everything needed to compute the case and
// nothing that could be copied -- inputs x [B, D], noise eps [K, B, Z], the noise of each
// Adam step adam.eps [N, K, B, Z], the initial parameters param.<name> ([out, in] weights),
// batch norm's initial running statistics buffer.<name> (models with batch norm), and as
// metadata the configuration, the Adam hyper-parameters and the parameter (and buffer) order.
#include <string>

#include "cases.h"
#include "io/safetensors.h"
#include "model/adam_options.h"

namespace vae {

inline constexpr const char* kCaseFormat = "vaebench case v1";

SafetensorsFile case_file(const ValidationCase& c, const CaseInputs& in, int adam_steps, const AdamOptions& adam);

}  // namespace vae
