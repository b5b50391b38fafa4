// vaebench validate: the reference's own proof (finite differences, LibTorch float64
// autograd, Adam, importance sampling) over the configuration matrix, or over the one
// configuration the model options describe. --export writes each case as safetensors.
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/manifest.h"
#include "cli/model_options.h"
#include "common/error.h"
#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "validation_report.h"
#include "vae_reference.h"

namespace vae::cli {

namespace {

struct ValidateOptions {
  ModelOptions model;
  DataOptions data;
  std::string json_path;
  std::string export_dir;
};

Tensor tensor_from(const std::string& name, std::vector<int64_t> shape, const std::vector<double>& v) {
  return Tensor::from(name, std::move(shape), v.data());
}

Tensor tensor_from(const std::string& name, const Eigen::VectorXd& v) {
  return Tensor::from(name, {int64_t(v.size())}, v.data());
}

// One case as safetensors: inputs, parameters, the reference's outputs and gradients, and
// the config (README "Export format").
void export_case(const std::string& dir, const ValidationCase& c, const CaseInputs& in) {
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
  nlohmann::json config = to_json(c.config);
  config["batch"] = c.batch;
  f.metadata["config"] = config.dump();
  f.metadata["x_source"] = in.x_source;
  f.metadata["format"] = "vaebench validation case v1";
  write_safetensors((std::filesystem::path(dir) / (c.name + ".safetensors")).string(), f);
}

int run_validate(const ValidateOptions& o, bool single) {
  const Binarize binarize = o.data.binarize_mode();
  const Dataset data = o.data.load();
  const int input_dim = int(data.test.dim());

  std::vector<ValidationCase> cases;
  if (single) cases.push_back({"custom-b" + std::to_string(o.model.batch), o.model.config(input_dim), o.model.batch});
  else cases = reference_matrix();
  if (!o.export_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(o.export_dir, ec);
    if (ec) throw Error("--export " + o.export_dir + ": cannot create directory: " + ec.message());
  }

  BackendResults results{"reference", {}};
  std::cout << "Validating backend 'reference' on " << cases.size() << " case(s); data: " << data.identity << "\n\n";
  for (ValidationCase& c : cases) {
    c.config.input_dim = input_dim;
    const CaseInputs in = make_inputs(c, &data, binarize);
    results.cases.push_back(check_reference(c, in));
    print_case_table(std::cout, results.cases.back());
    if (!o.export_dir.empty()) export_case(o.export_dir, c, in);
  }

  std::cout << "summary:\n";
  for (const CaseResult& r : results.cases)
    std::cout << "  " << (r.passed ? "pass " : "FAIL ") << r.vcase.name << "\n";
  std::cout << "reference: " << (results.passed() ? "PASS" : "FAIL") << "\n";
  if (!o.json_path.empty()) {
    const nlohmann::json doc = validation_document({results}, make_manifest(&data));
    write_file_atomically(o.json_path, [&](std::ostream& os) { os << doc.dump(2) << "\n"; });
    std::cout << "wrote " << o.json_path << "\n";
  }
  if (!o.export_dir.empty()) std::cout << "exported " << cases.size() << " case(s) to " << o.export_dir << "\n";
  return results.passed() ? 0 : 1;
}

}  // namespace

Subcommand add_validate_command(CLI::App& app) {
  auto* sub = app.add_subcommand(
      "validate", "Check the reference: finite differences, LibTorch float64 autograd, Adam, importance sampling");
  auto o = std::make_shared<ValidateOptions>();
  add_model_options(*sub, o->model);
  add_data_options(*sub, o->data);
  sub->add_option("--json", o->json_path, "Write the results as JSON to this file");
  sub->add_option("--export", o->export_dir, "Write each case (inputs, parameters, outputs, gradients) as safetensors here");
  return {sub, [sub, o]() { return run_validate(*o, any_model_option_given(*sub)); }};
}

}  // namespace vae::cli
