#pragma once
// A backend against the reference, per case: recon, KL, loss and ELBO per image and every
// gradient tensor on the same inputs and noise; then ten Adam steps from the same start with
// the same noise each step, comparing the losses before each step and the parameters after it.
// What the reference expects and the rows of the comparison are LibTorch-free
// (expected_outputs.h, the judge's part); this part creates backends from the registry.
#include <string>
#include <vector>

#include "backend/backend.h"
#include "expected_outputs.h"
#include "reference_checks.h"

namespace vae {

// `backend` must have been created for c.config; its parameters are overwritten.
CaseResult check_backend(Backend& backend, const ValidationCase& c, const CaseInputs& in,
                         const ExpectedOutputs& expected, BackendCaseOutputs* outputs = nullptr);

}  // namespace vae
