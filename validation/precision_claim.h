#pragma once
// Whether a result judged at a reduced precision's bounds (tf32, bf16) was in fact computed
// more precisely: every judged quantity also within fp32's bound. Such a row passes, but its
// pass says little (bf16's gradient bound is 1000x fp32's), and the usual cause is a mistake
// in the set-up: autocast not engaged, a results file that states bf16 for an fp32 run, a
// TorchScript function the autocast state never reached. The note says so; it does not fail.
#include <string>

#include "reference_checks.h"

namespace vae {

// "" when the precision is fp32 or fp64, when no row has an fp32 counterpart, or when some
// row exceeds its fp32 bound; else the note (which bound, the worst share of fp32's).
std::string loosely_judged_note(const CaseResult& r, const std::string& precision);

}  // namespace vae
