#include "model/results_file.h"

#include <set>

#include "model/layers.h"

namespace vae {

namespace {

bool is_float(DType d) { return d == DType::F64 || d == DType::F32 || d == DType::BF16 || d == DType::F16; }

}  // namespace

std::vector<std::pair<std::string, std::vector<int64_t>>> expected_results_tensors(const ParamLayout& layout, int batch,
                                                                                   int adam_steps, bool running,
                                                                                   const std::vector<std::string>& totals) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> names;
  if (totals.empty())
    for (const char* out : {"out.recon", "out.kl", "out.loss", "out.elbo"}) names.push_back({out, {batch}});
  for (const std::string& t : totals) names.push_back({t, {1}});
  for (const ParamView& v : layout.views()) names.push_back({"grad." + v.name, v.shape});
  if (running)
    for (const BufferView& b : layout.model().buffers().views()) names.push_back({"running." + b.name, b.shape});
  if (adam_steps > 0) {
    names.push_back({"adam.loss", {adam_steps}});
    for (const ParamView& v : layout.views()) names.push_back({"adam.param." + v.name, v.shape});
  }
  return names;
}

CaseResultsFile read_case_results(const SafetensorsFile& file, const ParamLayout& layout, int batch, int adam_steps) {
  CaseResultsFile r;
  r.metadata = file.metadata;
  const bool has_buffers = layout.model().buffers().total() > 0;
  bool per_image = false;
  for (const Tensor& t : file.tensors) {
    r.has_adam |= adam_steps > 0 && t.name.rfind("adam.", 0) == 0;
    r.has_running |= has_buffers && t.name.rfind("running.", 0) == 0;
    per_image |= t.name.rfind("out.", 0) == 0;
  }
  // The totals' form only where no out.* tensor is given: a file with both is judged per image
  // (the stronger check) and its total.* are reported as unexpected.
  if (!per_image && (file.find("total.loss") || file.find("total.recon") || file.find("total.kl"))) {
    r.totals.push_back("total.loss");  // required in this form
    for (const char* optional : {"total.recon", "total.kl"})
      if (file.find(optional)) r.totals.push_back(optional);
  }
  std::set<std::string> counts;  // num_batches_tracked: an integer count, I64 in PyTorch
  for (const BufferView& b : layout.model().buffers().views())
    if (b.is_count()) counts.insert("running." + b.name);
  std::set<std::string> known;
  for (const auto& [name, shape] : expected_results_tensors(layout, batch, r.has_adam ? adam_steps : 0, r.has_running, r.totals)) {
    known.insert(name);
    r.order.push_back(name);
    ResultsTensor& e = r.tensors[name];
    e.shape = shape;
    const Tensor* t = file.find(name);
    if (!t) {
      e.problem = "missing";
    } else if (!is_float(t->dtype) && !(counts.count(name) && (t->dtype == DType::I64 || t->dtype == DType::I32))) {
      e.problem = "dtype " + to_string(t->dtype) + ", expected a float type (F64, F32, BF16 or F16)";
    } else if (t->shape != shape) {
      e.problem = "shape " + shape_text(t->shape) + " where " + shape_text(shape) + " is expected";
    } else {
      e.values = t->to_double();
    }
  }
  for (const Tensor& t : file.tensors)
    if (!known.count(t.name)) r.unexpected.push_back(t.name);
  return r;
}

}  // namespace vae
