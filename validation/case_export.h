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

// A case file read back (what `vaebench judge` judges a results file against): the case (its
// name, configuration and batch from the metadata), its inputs, and its Adam steps.
struct CaseFromFile {
  ValidationCase vcase;
  CaseInputs inputs;
  int adam_steps = 0;
};
// Throws vae::Error naming `path` and what is wrong: not a vaebench case, a configuration that
// does not validate, a tensor missing or misshapen, Adam noise or hyper-parameters other than
// those the judge uses (the file was not written by `cases export` or was edited since).
CaseFromFile read_case_file(const std::string& path);

}  // namespace vae
