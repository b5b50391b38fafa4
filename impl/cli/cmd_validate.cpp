// vaebench validate: first the reference's own proof (finite differences, LibTorch float64
// autograd, Adam, importance sampling) over its matrix, then every selected backend against
// the reference over the backend matrix -- or both over the one configuration the model
// options describe. --export writes each case as safetensors, backends' outputs included.
// --external NAME=DIR judges the results files of an implementation outside this repository
// (validation/external_checks.h) on the cases `vaebench cases export` wrote.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <iostream>
#include <set>

#include "cli/case_selection.h"
#include "cli/commands.h"
#include "cli/dist_options.h"
#include "manifest/manifest.h"
#include "cli/model_options.h"
#include "common/precision.h"
#include "common/device_names.h"
#include "common/error.h"
#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "backend/registry.h"
#include "backend_checks.h"
#include "data_parallel_checks.h"
#include "external_checks.h"
#include "gradient_compare.h"
#include "tolerances.h"
#include "training_checks.h"
#include "validation_report.h"
#include "vae_reference.h"

namespace vae::cli {

namespace {

// A backend that does not run a case's model: the case is listed as not supported (neither a
// pass nor a failure) and said so on the console; true when it was skipped.
bool skip_unsupported(const std::string& backend, const VaeConfig& config, const std::string& case_name,
                      BackendResults& results) {
  for (const BackendInfo& info : registered_backends()) {
    std::string reason;
    if (info.name != backend || supports_model(info, config, reason)) continue;
    results.not_supported.push_back(case_name + ": " + reason);
    std::cout << "[" << backend << "] case " << case_name << ": not supported for this model (" << reason << ")\n\n";
    return true;
  }
  return false;
}


struct ValidateOptions {
  ModelOptions model;
  DataOptions data;
  std::vector<std::string> backends;  // empty: every backend usable on the device
  std::string device = "cpu";
  std::string precision = "fp32";
  std::string case_name;  // empty: all cases
  std::string json_path;
  std::string export_dir;
  std::vector<std::string> externals;  // NAME=DIR
  std::string external_precision;      // empty: each results file's metadata
  std::string matrix = "all";          // the cases externals are judged on
  int adam_steps = 10;                 // Adam steps externals are judged on
  bool training_path = true;           // also check train_batch/eval_batch (training_checks.h)
  DistOptions dist;                    // --nproc N: the data-parallel checks instead (data_parallel_checks.h)
};

struct BackendExport {
  std::string backend, precision;  // the precision selects the cross-check's tolerance
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
  nlohmann::json precisions = nlohmann::json::object();
  for (const BackendExport& b : backends) precisions[b.backend] = b.precision;
  f.metadata["backend_precisions"] = precisions.dump();
  // The bound each backend tensor was judged at (tolerances.h, through the same functions the
  // judge calls), so that scripts/crosscheck_export.py judges a bf16 or tf32 export as
  // vaebench did rather than at one fp32 figure.
  nlohmann::json bounds = nlohmann::json::object();
  for (const BackendExport& b : backends) {
    const auto norm = [&](tol::Quantity q) { return tol::backend(q, b.precision, c.config.likelihood).norm_rel; };
    nlohmann::json& t = bounds[b.backend] = {{"out.recon", norm(tol::Quantity::Recon)},
                                             {"out.kl", norm(tol::Quantity::Kl)},
                                             {"out.loss", norm(tol::Quantity::Recon)},
                                             {"out.elbo", norm(tol::Quantity::Recon)}};
    for (size_t k = 0; k < model.layout().views().size(); ++k)
      t["grad." + model.layout().views()[k].name] =
          gradient_tolerance(model.layout(), b.precision, k, c.config.likelihood).norm_rel;
  }
  f.metadata["backend_tolerances"] = bounds.dump();
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
    const bool has_precision = info.name == "reference" || offers_precision(info, o.device, o.precision);
    if (o.backends.empty()) {
      // With --external, only what is named: the implementations were asked about, not ours.
      if (usable && has_precision && o.externals.empty()) names.push_back(info.name);
      continue;
    }
    for (const std::string& wanted : o.backends)
      if (wanted == info.name) {
        if (!usable)
          throw Error("--backend " + wanted + " --device " + o.device + ": not usable here (" + reason +
                      "); usable here: " + usable_backends_summary());
        if (!has_precision) throw Error(precision_refusal(info, o.device, o.precision));
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

// --external NAME=DIR, each checked before any work: a usable name, an existing folder.
std::vector<ExternalImplementation> parse_externals(const ValidateOptions& o) {
  if (!o.external_precision.empty() && !find_precision(o.external_precision))
    throw Error("--external-precision: unknown precision '" + o.external_precision + "', choose from: " +
                precision_names());
  std::vector<ExternalImplementation> out;
  for (const std::string& spec : o.externals) {
    const std::string what = "--external " + spec + ": ";
    const size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
      throw Error(what + "expected NAME=DIR, e.g. --external my-vae=results/");
    ExternalImplementation impl{spec.substr(0, eq), spec.substr(eq + 1), o.external_precision};
    for (char ch : impl.name)
      if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_' && ch != '.')
        throw Error(what + "NAME may hold letters, digits, '-', '_' and '.' only");
    for (const BackendInfo& info : registered_backends())
      if (info.name == impl.name) throw Error(what + "NAME '" + impl.name + "' is a built-in backend; choose another");
    for (const ExternalImplementation& other : out)
      if (other.name == impl.name) throw Error(what + "NAME '" + impl.name + "' is given twice");
    if (!std::filesystem::is_directory(impl.dir)) throw Error(what + impl.dir + " is not a folder");
    out.push_back(impl);
  }
  return out;
}

// The summary lines, and the JSON document when --json asks (rank 0 alone in a data-parallel
// world: the others' verdicts are the same, data_parallel_checks.h); 0 when everything passed.
int report_results(const ValidateOptions& o, const std::vector<BackendResults>& results, const Dataset& data,
                   bool writes_json = true) {
  std::cout << "summary:\n";
  bool all = !results.empty();
  for (const BackendResults& r : results) {
    size_t failed = 0;
    for (const CaseResult& c : r.cases) failed += !c.passed;
    std::cout << "  " << (r.passed() ? "PASS " : "FAIL ") << r.backend << " (" << r.device << ", " << r.precision
              << "): " << r.cases.size() - failed << "/" << r.cases.size() << " cases pass";
    std::string failing;
    for (const CaseResult& c : r.cases)
      if (!c.passed) failing += " " + c.vcase.name;
    if (!failing.empty()) std::cout << "; failing:" << failing;
    if (!r.problems.empty()) std::cout << "; " << r.problems.size() << " error(s) outside the cases (above)";
    std::cout << "\n";
    all &= r.passed();
  }
  if (!o.json_path.empty() && writes_json) {
    const nlohmann::json doc = validation_document(results, make_manifest(&data));
    write_file_atomically(o.json_path, [&](std::ostream& os) { os << doc.dump(2) << "\n"; });
    std::cout << "wrote " << o.json_path << "\n";
  }
  return all ? 0 : 1;
}

// --case split in two: the training-path cases of `all_training` it names (every one when --case
// is empty, none with --no-training-path), fitted to the data, go to `training`; the other
// names, for a matrix, are returned (comma list; empty when --case is).
std::string select_training_cases(const ValidateOptions& o, const std::vector<TrainingCase>& all_training,
                                  int input_dim, std::vector<TrainingCase>& training) {
  const std::vector<std::string> wanted = split_case_names(o.case_name);
  std::string matrix_names;
  for (const std::string& name : wanted) {
    bool is_training = false;
    for (const TrainingCase& t : all_training) is_training |= t.name == name;
    if (!is_training) matrix_names += (matrix_names.empty() ? "" : ",") + name;
  }
  for (TrainingCase t : all_training)
    if (o.training_path && (o.case_name.empty() || std::find(wanted.begin(), wanted.end(), t.name) != wanted.end())) {
      fit_to_data(t.config, input_dim);
      training.push_back(t);
    }
  return matrix_names;
}

// `validate --nproc N` (or a launched world): every selected backend's data-parallel steps
// against its single-process steps, on the data-parallel matrix or the one configuration given.
int run_validate_data_parallel(const CLI::App& app, const ValidateOptions& o, dist::Group& group) {
  if (!o.export_dir.empty() || !o.externals.empty())
    throw Error("--nproc: --export and --external are single-process checks; run them without --nproc");
  const Dataset data = o.data.load();
  const int input_dim = int(data.test.dim());
  const Binarize binarize = o.data.binarize_mode();
  const std::vector<std::string> backends = selected_backends(o);
  std::vector<ValidationCase> cases;
  std::vector<TrainingCase> training;
  if (any_model_option_given(app)) {
    const ValidationCase custom = custom_case(o.model, input_dim);
    cases = {custom};
    if (o.training_path) training = {training_case_for(custom.config, custom.batch, "train-dp-" + custom.name)};
  } else {
    const std::string names = select_training_cases(o, data_parallel_training_cases(), input_dim, training);
    if (o.case_name.empty() || !names.empty()) {
      std::string known;
      for (const ValidationCase& c : data_parallel_matrix()) known += (known.empty() ? "" : ", ") + c.name;
      for (const std::string& n : split_case_names(names)) {
        bool found = false;
        for (const ValidationCase& c : data_parallel_matrix()) found |= c.name == n;
        if (!found) throw Error("--case " + n + ": not a data-parallel case (--nproc); they are: " + known);
      }
      cases = pick_cases(data_parallel_matrix(), names);
    }
  }
  nlohmann::json agree{{"backends", backends}, {"device", is_gpu_device(o.device) ? "cuda" : o.device},
                       {"precision", o.precision},
                       {"case", o.case_name}, {"dataset", data.identity}, {"dataset_sha256", data.combined_sha256},
                       {"adam_steps", o.adam_steps}};
  for (const ValidationCase& c : cases) agree["case." + c.name] = to_json(c.config);
  group.check_same("the validation options and the dataset", agree.dump());

  const std::string world = ", " + std::to_string(group.world()) + " ranks over " + group.engines();
  std::cout << "data: " << data.identity << "\n\n== data-parallel steps against single-process steps, " << group.world()
            << " ranks (" << group.engines() << "), device " << o.device << ", precision " << o.precision << "\n\n";
  std::vector<BackendResults> results;
  for (const std::string& name : backends) {
    const bool is_reference = name == "reference";
    const std::string device = is_reference ? "cpu" : o.device, precision = is_reference ? "fp64" : o.precision;
    const BackendFactory make = [&](const VaeConfig& config) { return create_backend(name, config, device, precision); };
    BackendResults r{name, device + world, precision, {}};
    const auto refused = [&](const VaeConfig& config, const std::string& case_name) {
      if (skip_unsupported(name, config, case_name, r)) return true;
      const std::string why = make(config)->data_parallel_refusal();
      if (why.empty()) return false;
      r.not_supported.push_back(case_name + ": " + why);
      std::cout << "[" << name << "] case " << case_name << ": not supported data-parallel (" << why << ")\n\n";
      return true;
    };
    for (ValidationCase c : cases) {
      fit_to_data(c.config, input_dim);
      if (refused(c.config, c.name)) continue;
      const CaseInputs in = make_inputs(c, &data, binarize);
      r.cases.push_back(check_data_parallel(make, c, in, group, std::max(1, o.adam_steps)));
      std::cout << "[" << name << " " << r.device << " " << precision << "] ";
      print_case_table(std::cout, r.cases.back());
    }
    for (const TrainingCase& t : training) {
      if (refused(t.config, t.name)) continue;
      r.cases.push_back(check_data_parallel_training(make, t, data.train, group));
      std::cout << "[" << name << " " << r.device << " " << precision << "] ";
      print_case_table(std::cout, r.cases.back());
    }
    results.push_back(std::move(r));
  }
  return report_results(o, results, data, group.rank() == 0);
}

int run_validate(const CLI::App& app, const ValidateOptions& o) {
  if (const std::optional<int> status = launch_world_if_asked(o.dist)) return *status;
  if (const std::shared_ptr<dist::Group> group = join_world(o.dist, rank_device(o.device))) {
    ValidateOptions on_rank = o;
    on_rank.device = rank_device(o.device);
    return run_validate_data_parallel(app, on_rank, *group);
  }
  const bool single = any_model_option_given(app);
  const Binarize binarize = o.data.binarize_mode();
  const Dataset data = o.data.load();
  const int input_dim = int(data.test.dim());
  if (needs_tensor_cores(parse_precision(o.precision)) && !is_gpu_device(o.device) && !is_emu_device(o.device))
    throw Error("--precision " + o.precision + ": a tensor-core format of NVIDIA GPUs; use it with --device cuda "
                "(or cuda-emu, which rounds as the tensor cores do)");
  const std::vector<ExternalImplementation> externals = parse_externals(o);
  if (o.adam_steps < 0 || o.adam_steps > 1000)
    throw Error("--adam-steps: " + std::to_string(o.adam_steps) + " is out of range 0..1000");
  const std::vector<std::string> backends = selected_backends(o);
  bool with_reference = false;
  std::vector<std::string> others;
  for (const std::string& b : backends) {
    if (b == "reference") with_reference = true;
    else others.push_back(b);
  }

  std::vector<ValidationCase> reference_cases, backend_cases;
  std::vector<TrainingCase> training;
  if (single) {
    const ValidationCase custom = custom_case(o.model, input_dim);
    reference_cases = backend_cases = {custom};
    if (o.training_path) training = {training_case_for(custom.config, custom.batch, "train-" + custom.name)};
  } else {
    // --case may name training-path cases ("train-..."); the rest must be matrix cases.
    const std::string matrix_names = select_training_cases(o, training_cases(), input_dim, training);
    check_case_names(matrix_names, "all");
    const bool all_cases = o.case_name.empty();
    if (all_cases || !matrix_names.empty()) {
      reference_cases = pick_cases(reference_matrix(), matrix_names);
      backend_cases = pick_cases(backend_matrix(), matrix_names);
    }
  }
  const std::vector<ValidationCase> external_cases =
      externals.empty() ? std::vector<ValidationCase>{} : selected_cases(app, o.model, o.matrix, o.case_name, input_dim);
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
      fit_to_data(c.config, input_dim);
      const CaseInputs in = make_inputs(c, &data, binarize);
      ref.cases.push_back(check_reference(c, in));
      print_case_table(std::cout, ref.cases.back());
      if (!o.export_dir.empty()) export_case(o.export_dir, c, in);
    }
    results.push_back(std::move(ref));
  }
  const size_t first_backend = results.size();
  for (const std::string& name : others) results.push_back({name, o.device, o.precision, {}});
  const size_t first_external = results.size();
  for (const ExternalImplementation& e : externals) results.push_back(external_results(e));
  // Externals are judged on a case right after the backends when both have it, sharing the
  // reference's expected outputs (ten Adam steps, of which they may use the first few).
  std::set<std::string> pending;
  for (const ValidationCase& c : external_cases) pending.insert(c.name);
  const auto judge_externals = [&](const ValidationCase& c, const CaseInputs& in, const ExpectedOutputs& expected) {
    for (size_t i = 0; i < externals.size(); ++i) {
      BackendResults& r = results[first_external + i];
      check_external_case(externals[i], c, in, expected, o.adam_steps, r);
      std::cout << "[" << r.backend << " (external) " << r.device << " " << r.precision << "] ";
      print_case_table(std::cout, r.cases.back());
    }
    pending.erase(c.name);
  };
  if (!others.empty())
    std::cout << "== backends against the reference on " << backend_cases.size() << " case(s), device " << o.device
              << ", precision " << o.precision << "\n\n";
  if (!others.empty())
    for (ValidationCase c : backend_cases) {
      fit_to_data(c.config, input_dim);
      const CaseInputs in = make_inputs(c, &data, binarize);
      const ExpectedOutputs expected = expected_outputs(c, in);
      std::vector<BackendExport> exports;
      for (size_t i = 0; i < others.size(); ++i) {
        if (skip_unsupported(others[i], c.config, c.name, results[first_backend + i])) continue;
        const std::unique_ptr<Backend> backend = create_backend(others[i], c.config, o.device, o.precision);
        BackendExport e{others[i], backend->precision(), {}};
        results[first_backend + i].cases.push_back(check_backend(*backend, c, in, expected, &e.outputs));
        std::cout << "[" << others[i] << " " << backend->device() << " " << backend->precision() << "] ";
        print_case_table(std::cout, results[first_backend + i].cases.back());
        exports.push_back(std::move(e));
      }
      if (!o.export_dir.empty()) export_case(o.export_dir, c, in, exports);
      if (pending.count(c.name) && o.adam_steps <= int(expected.step_params.size())) judge_externals(c, in, expected);
    }

  if (!others.empty() && !training.empty()) {
    std::cout << "== the training path against the reference backend's on " << training.size()
              << " case(s): train_batch, eval_batch, sums, non-finite record\n\n";
    for (const TrainingCase& t : training)
      for (size_t i = 0; i < others.size(); ++i) {
        if (skip_unsupported(others[i], t.config, t.name, results[first_backend + i])) continue;
        const std::unique_ptr<Backend> backend = create_backend(others[i], t.config, o.device, o.precision);
        results[first_backend + i].cases.push_back(check_training_path(*backend, t, data.train));
        std::cout << "[" << others[i] << " " << backend->device() << " " << backend->precision() << "] ";
        print_case_table(std::cout, results[first_backend + i].cases.back());
      }
  }

  if (!externals.empty()) {
    if (!pending.empty())
      std::cout << "== implementations outside vaebench against the reference on " << pending.size() << " case(s)\n\n";
    for (const ValidationCase& c : external_cases) {
      if (!pending.count(c.name)) continue;
      const CaseInputs in = make_inputs(c, &data, binarize);
      judge_externals(c, in, expected_outputs(c, in, o.adam_steps));
    }
    const std::vector<std::string> known = known_case_names(app, o.model, input_dim);
    for (size_t i = 0; i < externals.size(); ++i) {
      check_stray_results(externals[i], known, results[first_external + i]);
      for (const std::string& p : results[first_external + i].problems)
        std::cout << "[" << externals[i].name << "] error: " << p << "\n";
    }
  }

  const int status = report_results(o, results, data);
  if (!o.export_dir.empty()) std::cout << "exported the cases to " << o.export_dir << "\n";
  return status;
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
  sub->add_option("--precision", o->precision, precision_names() + " for the non-reference backends (bf16: autocast's mixed precision)")->capture_default_str();
  sub->add_option("--case", o->case_name, "Run only the matrix cases of these names (comma list, e.g. default-b128)");
  sub->add_option("--json", o->json_path, "Write the results as JSON to this file");
  sub->add_option("--export", o->export_dir, "Write each case (inputs, parameters, outputs, gradients) as safetensors here");
  sub->add_option("--external", o->externals,
                  "NAME=DIR: judge the results files DIR/<case>.safetensors of an implementation outside vaebench "
                  "(docs/case-format.md); repeatable. Only named --backend values are checked with it");
  sub->add_option("--external-precision", o->external_precision,
                  "Tolerances for --external: " + precision_names() + " (default: each file's metadata precision)");
  sub->add_option("--matrix", o->matrix, "The cases --external is judged on: backend, reference or all (as exported)")
      ->capture_default_str();
  sub->add_option("--adam-steps", o->adam_steps, "Adam steps --external results hold (as exported)")->capture_default_str();
  add_dist_options(*sub, o->dist);
  sub->add_flag("!--no-training-path", o->training_path,
                "Skip the training-path check (train_batch and eval_batch against the reference backend's)");
  return {sub, [sub, o]() { return run_validate(*sub, *o); }};
}

}  // namespace vae::cli
