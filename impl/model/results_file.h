#pragma once
// Reading what an implementation outside this repository computed for one case (the results
// file of docs/case-format.md): per-image out.recon, out.kl, out.loss, out.elbo [B] -- or, for
// code that gives only the batch's totals, total.loss [1] (the scalar it differentiates) with
// optional total.recon and total.kl [1], each reduced over the batch as the objective says;
// grad.<name> for every parameter in the flat layout's shapes; optionally adam.loss [N] and
// adam.param.<name> after N Adam steps; optionally, for a model with batch norm, running.<name>
// (its running statistics after the training-mode forward of out.*). Any float dtype (F64, F32,
// BF16, F16; num_batches_tracked may also be I64 or I32).
//
// The reader never throws for a bad tensor: each expected tensor comes back with its values
// or with the problem that made it unusable (missing, wrong shape, wrong dtype), so every
// other quantity of the case can still be judged and each failure is named. A file that is
// not safetensors at all (truncated, garbage) is vae::Error from the safetensors parser.
// Torch-free, so the safetensors fuzz target drives it too.
#include <map>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "model/params.h"

namespace vae {

struct ResultsTensor {
  std::vector<int64_t> shape;  // what the file must hold
  std::vector<double> values;  // empty when `problem` is set
  std::string problem;         // e.g. "missing", "shape [3] where [400,784] is expected"
  bool usable() const { return problem.empty(); }
};

struct CaseResultsFile {
  std::map<std::string, std::string> metadata;  // implementation, precision, device, ...
  // out.recon, out.kl, out.loss, out.elbo, grad.<name> (layout order); with Adam also
  // adam.loss and adam.param.<name>.
  std::map<std::string, ResultsTensor> tensors;
  std::vector<std::string> order;      // the keys of `tensors` in the order to report them
  bool has_adam = false;               // the file holds some adam.* tensor and adam_steps > 0
  bool has_running = false;            // the file holds some running.* tensor and the model has batch norm
  // The totals' form: the total.* names expected (total.loss first), empty for per-image out.*.
  std::vector<std::string> totals;
  std::vector<std::string> unexpected;  // tensors that are not part of the format
};

// The names an honest file holds, in report order; `adam_steps` 0 leaves out the Adam part,
// `running` false the running statistics; `totals` (total.* names) replaces the per-image out.*.
std::vector<std::pair<std::string, std::vector<int64_t>>> expected_results_tensors(
    const ParamLayout& layout, int batch, int adam_steps, bool running = false,
    const std::vector<std::string>& totals = {});

// Sorts the tensors of `file` into the expected ones (see above) and the rest. Adam tensors
// are expected as a whole once any of them is present (a partial Adam part reports the
// missing ones), and must then have adam.loss of length `adam_steps`; running.* likewise.
CaseResultsFile read_case_results(const SafetensorsFile& file, const ParamLayout& layout, int batch, int adam_steps);

}  // namespace vae
