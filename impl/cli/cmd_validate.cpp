// vaebench validate: first the reference's own proof (finite differences, LibTorch float64
// autograd, Adam, importance sampling) over its matrix, then every selected backend against
// the reference over the backend matrix -- or both over the one configuration the model
// options describe. --export writes each case as safetensors, backends' outputs included.
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/manifest.h"
#include "cli/model_options.h"
#include "common/device_names.h"
#include "common/error.h"
#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "backend/registry.h"
#include "backend_checks.h"
#include "validation_report.h"
#include "vae_reference.h"

namespace vae::cli {

namespace {

struct ValidateOptions {
  ModelOptions model;
  DataOptions data;
  std::vector<std::string> backends;  // empty: every backend usable on the device
  std::string device = "cpu";
  std::string precision = "fp32";
  std::string case_name;  // empty: all cases
  std::string json_path;
  std::string export_dir;
};

struct BackendExport {
  std::string backend;
  BackendCaseOutputs outputs;
};

Tensor tensor_from(const std::string& name, std::vector<int64_t> shape, const std::vector<double>& v) {
  return Tensor::from(name, std::move(shape), v.data());
}

Tensor tensor_from(const std::string& name, const Eigen::VectorXd& v) {
  return Tensor::from(name, {int64_t(v.size())}, v.data());
}

// One case as safetensors: inputs, parameters, the reference's outputs and gradients, and
// the config (README "Export format").
void export_case(const std::string& dir, const ValidationCase& c, const CaseInputs& in,
                 const std::vector<BackendExport>& backends = {}) {
  const ref::VaeReference model(c.config);
  const ref::Matrix x = Eigen::Map<const ref::Matrix>(in.x.data(), c.batch, c.config.input_dim);
  std::vector<double> grad;
  const ref::Losses out = model.forward_backward(in.params, x, in.eps, grad);

  SafetensorsFile f;
  f.tensors.push_back(tensor_from("x", {c.batch, c.config.input_dim}, in.x));
  f.tensors.push_back(tensor_from("eps", {c.config.samples, c.batch, c.config.latent}, in.eps));
  for (const ParamView& v : model.layout().views()) {
    const std::vector<double> p(in.params.begin() + long(v.offset), in.params.begin() + long(v.offset + v.size));
    f.tensors.push_back(tensor_from("param." + v.name, v.shape, p));
  }
  f.tensors.push_back(tensor_from("out.recon", out.recon));
  f.tensors.push_back(tensor_from("out.kl", out.kl));
  f.tensors.push_back(tensor_from("out.loss", out.loss));
  f.tensors.push_back(tensor_from("out.elbo", out.elbo));
  for (const ParamView& v : model.layout().views()) {
    const std::vector<double> g(grad.begin() + long(v.offset), grad.begin() + long(v.offset + v.size));
    f.tensors.push_back(tensor_from("grad." + v.name, v.shape, g));
  }
  for (const BackendExport& b : backends) {
    const std::string prefix = "backend." + b.backend + ".";
    f.tensors.push_back(tensor_from(prefix + "out.recon", {c.batch}, b.outputs.losses.recon));
    f.tensors.push_back(tensor_from(prefix + "out.kl", {c.batch}, b.outputs.losses.kl));
    f.tensors.push_back(tensor_from(prefix + "out.loss", {c.batch}, b.outputs.losses.loss));
    f.tensors.push_back(tensor_from(prefix + "out.elbo", {c.batch}, b.outputs.losses.elbo));
    for (const ParamView& v : model.layout().views()) {
      const std::vector<double> g(b.outputs.grad.begin() + long(v.offset),
                                  b.outputs.grad.begin() + long(v.offset + v.size));
      f.tensors.push_back(tensor_from(prefix + "grad." + v.name, v.shape, g));
    }
  }
  nlohmann::json config = to_json(c.config);
  config["batch"] = c.batch;
  f.metadata["config"] = config.dump();
  f.metadata["x_source"] = in.x_source;
  f.metadata["format"] = "vaebench validation case v1";
  write_safetensors((std::filesystem::path(dir) / (c.name + ".safetensors")).string(), f);
}

// The backends to check: as named (each must be usable on the device), or every one usable.
std::vector<std::string> selected_backends(const ValidateOptions& o) {
  std::vector<std::string> names;
  std::string known;
  for (const BackendInfo& info : registered_backends()) {
    known += (known.empty() ? "" : ", ") + info.name;
    std::string reason;
    const bool usable = info.name == "reference" || info.usable(o.device, reason);
    bool has_precision = info.name == "reference";
    for (const std::string& p : info.precisions) has_precision |= p == o.precision;
    if (o.backends.empty()) {
      if (usable && has_precision) names.push_back(info.name);
      continue;
    }
    for (const std::string& wanted : o.backends)
      if (wanted == info.name) {
        if (!usable)
          throw Error("--backend " + wanted + " --device " + o.device + ": not usable here (" + reason +
                      "); usable here: " + usable_backends_summary());
        if (!has_precision) throw Error("--precision " + o.precision + ": not supported by backend " + wanted);
        names.push_back(wanted);
      }
  }
  for (const std::string& wanted : o.backends) {
    bool found = false;
    for (const std::string& n : names) found |= n == wanted;
    if (!found) throw Error("--backend: unknown backend '" + wanted + "', this build has: " + known);
  }
  return names;
}

std::vector<ValidationCase> pick_cases(std::vector<ValidationCase> cases, const std::string& name) {
  if (name.empty()) return cases;
  std::vector<ValidationCase> picked;
  for (const ValidationCase& c : cases)
    if (c.name == name) picked.push_back(c);
  return picked;
}

std::string case_names(const std::vector<ValidationCase>& a, const std::vector<ValidationCase>& b) {
  std::string s;
  for (const auto* m : {&a, &b})
    for (const ValidationCase& c : *m) s += (s.empty() ? "" : ", ") + c.name;
  return s;
}

int run_validate(const ValidateOptions& o, bool single) {
  const Binarize binarize = o.data.binarize_mode();
  const Dataset data = o.data.load();
  const int input_dim = int(data.test.dim());
  if (o.precision != "fp32" && o.precision != "fp64" && o.precision != "tf32")
    throw Error("--precision: unknown precision '" + o.precision + "', choose from: fp32, fp64, tf32");
  if (o.precision == "tf32" && !is_gpu_device(o.device) && !is_emu_device(o.device))
    throw Error("--precision tf32: TF32 is a tensor-core format of NVIDIA GPUs; use it with --device cuda "
                "(or cuda-emu, which rounds as the tensor cores do)");
  const std::vector<std::string> backends = selected_backends(o);
  bool with_reference = false;
  std::vector<std::string> others;
  for (const std::string& b : backends) {
    if (b == "reference") with_reference = true;
    else others.push_back(b);
  }

  std::vector<ValidationCase> reference_cases, backend_cases;
  if (single) {
    const ValidationCase custom{"custom-b" + std::to_string(o.model.batch), o.model.config(input_dim), o.model.batch};
    reference_cases = backend_cases = {custom};
  } else {
    reference_cases = pick_cases(reference_matrix(), o.case_name);
    backend_cases = pick_cases(backend_matrix(), o.case_name);
    if (reference_cases.empty() && backend_cases.empty())
      throw Error("--case: no case named '" + o.case_name + "'; cases: " +
                  case_names(reference_matrix(), backend_matrix()));
  }
  if (!o.export_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(o.export_dir, ec);
    if (ec) throw Error("--export " + o.export_dir + ": cannot create directory: " + ec.message());
  }
  std::cout << "data: " << data.identity << "\n\n";

  std::vector<BackendResults> results;
  if (with_reference && !reference_cases.empty()) {
    BackendResults ref{"reference", "cpu", "fp64", {}};
    std::cout << "== reference: its own proof on " << reference_cases.size() << " case(s)\n\n";
    for (ValidationCase c : reference_cases) {
      c.config.input_dim = input_dim;
      const CaseInputs in = make_inputs(c, &data, binarize);
      ref.cases.push_back(check_reference(c, in));
      print_case_table(std::cout, ref.cases.back());
      if (!o.export_dir.empty()) export_case(o.export_dir, c, in);
    }
    results.push_back(std::move(ref));
  }
  const size_t first_backend = results.size();
  for (const std::string& name : others) results.push_back({name, o.device, o.precision, {}});
  if (!others.empty())
    std::cout << "== backends against the reference on " << backend_cases.size() << " case(s), device " << o.device
              << ", precision " << o.precision << "\n\n";
  if (!others.empty())
    for (ValidationCase c : backend_cases) {
      c.config.input_dim = input_dim;
      const CaseInputs in = make_inputs(c, &data, binarize);
      const ExpectedOutputs expected = expected_outputs(c, in);
      std::vector<BackendExport> exports;
      for (size_t i = 0; i < others.size(); ++i) {
        const std::unique_ptr<Backend> backend = create_backend(others[i], c.config, o.device, o.precision);
        BackendExport e{others[i], {}};
        results[first_backend + i].cases.push_back(check_backend(*backend, c, in, expected, &e.outputs));
        std::cout << "[" << others[i] << " " << backend->device() << " " << backend->precision() << "] ";
        print_case_table(std::cout, results[first_backend + i].cases.back());
        exports.push_back(std::move(e));
      }
      if (!o.export_dir.empty()) export_case(o.export_dir, c, in, exports);
    }

  std::cout << "summary:\n";
  bool all = !results.empty();
  for (const BackendResults& r : results) {
    size_t failed = 0;
    for (const CaseResult& c : r.cases) failed += !c.passed;
    std::cout << "  " << (r.passed() ? "PASS " : "FAIL ") << r.backend << " (" << r.device << ", " << r.precision
              << "): " << r.cases.size() - failed << "/" << r.cases.size() << " cases pass";
    for (const CaseResult& c : r.cases)
      if (!c.passed) std::cout << (&c == &r.cases.front() ? "; failing: " : " ") << c.vcase.name;
    std::cout << "\n";
    all &= r.passed();
  }
  if (!o.json_path.empty()) {
    const nlohmann::json doc = validation_document(results, make_manifest(&data));
    write_file_atomically(o.json_path, [&](std::ostream& os) { os << doc.dump(2) << "\n"; });
    std::cout << "wrote " << o.json_path << "\n";
  }
  if (!o.export_dir.empty()) std::cout << "exported the cases to " << o.export_dir << "\n";
  return all ? 0 : 1;
}

}  // namespace

Subcommand add_validate_command(CLI::App& app) {
  auto* sub = app.add_subcommand(
      "validate", "Check the reference (finite differences, LibTorch float64, Adam, importance sampling), then every "
                  "backend against it");
  auto o = std::make_shared<ValidateOptions>();
  add_model_options(*sub, o->model);
  add_data_options(*sub, o->data);
  sub->add_option("--backend", o->backends, "Backends to check (repeatable; default: every one usable on --device)");
  sub->add_option("--device", o->device, "cpu or cuda[:N]")->capture_default_str();
  sub->add_option("--precision", o->precision, "fp32, fp64 or tf32 for the non-reference backends")->capture_default_str();
  sub->add_option("--case", o->case_name, "Run only the matrix case of this name (e.g. default-b128)");
  sub->add_option("--json", o->json_path, "Write the results as JSON to this file");
  sub->add_option("--export", o->export_dir, "Write each case (inputs, parameters, outputs, gradients) as safetensors here");
  return {sub, [sub, o]() { return run_validate(*o, any_model_option_given(*sub)); }};
}

}  // namespace vae::cli
