#pragma once
// Implementations outside this repository against the reference (`vaebench validate
// --external NAME=DIR`): each case's results file, DIR/<case>.safetensors (docs/case-format.md),
// judged with the tolerances and tables the built-in backends get (validation/expected_outputs.h).
// Bad input never throws: a missing or unreadable file, a missing, misshapen or non-float
// tensor, NaN or Inf are failures of the quantity (or of "results file") with the reason.
#include <string>
#include <vector>

#include "expected_outputs.h"
#include "validation_report.h"

namespace vae {

struct ExternalImplementation {
  std::string name;       // the NAME of --external NAME=DIR, its row in tables and reports
  std::string dir;
  std::string precision;  // the tolerances to judge by; empty: each file's metadata "precision"
  std::string file;       // one results file for the one case judged (vaebench judge); empty: DIR/<case>.safetensors
};

// The file an implementation writes for case `c`.
std::string results_path(const ExternalImplementation& impl, const ValidationCase& c);

// The implementation's row before any case: name, kind "external", folder, precision if given.
BackendResults external_results(const ExternalImplementation& impl);

// Judges case `c` (its inputs `in`) and appends it to `results`; device, precision and
// implementation come from the first file that names them (a later file that disagrees gets a
// note). A file whose metadata names an objective other than the case's is refused, naming
// both; a failing case whose every tensor is usable is diagnosed (validation/diagnosis.h). `expected` must
// hold at least `adam_steps` Adam steps; a file without any adam.* tensor is judged without
// the Adam part (it is optional), which a note says.
void check_external_case(const ExternalImplementation& impl, const ValidationCase& c, const CaseInputs& in,
                         const ExpectedOutputs& expected, int adam_steps, BackendResults& results);

// After the cases: every results file in DIR whose case exists nowhere (`known`: every case
// name that exists) becomes a problem; one that exists but was not selected is left alone.
void check_stray_results(const ExternalImplementation& impl, const std::vector<std::string>& known,
                         BackendResults& results);

}  // namespace vae
