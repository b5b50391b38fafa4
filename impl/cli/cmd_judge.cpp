// vaebench judge CASE RESULTS: one results file judged against the case file it was computed
// from -- the reference's outputs, gradients and Adam steps for that case, the tolerances and
// the diagnosis of `validate --external` -- with nothing else to repeat: the case file carries
// its configuration and objective. What the Python package (python/, vaebench.check) calls, in
// the LibTorch-free vaebench-judge; exit status 0 pass, 1 fail, 2 bad input.
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "case_export.h"
#include "cli/commands.h"
#include "common/build_info.h"
#include "common/error.h"
#include "common/precision.h"
#include "io/atomic_file.h"
#include "external_checks.h"
#include "validation_report.h"

namespace vae::cli {

namespace {

struct JudgeOptions {
  std::string case_path, results_path, precision, name = "implementation", json_path;
  bool quiet = false;
};

int run_judge(const JudgeOptions& o) {
  if (!o.precision.empty() && !find_precision(o.precision))
    throw Error("--precision: unknown precision '" + o.precision + "', choose from: " + precision_names());
  const CaseFromFile cf = read_case_file(o.case_path);
  const ExpectedOutputs expected = expected_outputs(cf.vcase, cf.inputs, cf.adam_steps);
  ExternalImplementation impl{o.name, std::filesystem::path(o.results_path).parent_path().string(), o.precision};
  impl.file = o.results_path;
  BackendResults results = external_results(impl);
  check_external_case(impl, cf.vcase, cf.inputs, expected, cf.adam_steps, results);
  const CaseResult& r = results.cases.front();
  if (!o.quiet) {
    std::cout << "[" << o.name << " " << results.device << " " << results.precision << "] ";
    print_case_table(std::cout, r);
  }
  if (!o.json_path.empty()) {
    const nlohmann::json doc = {
        {"passed", r.passed},
        {"judge", {{"program", "vaebench " VAE_VERSION}, {"git_sha", VAE_GIT_SHA}, {"build", VAE_BUILD_TYPE},
                   {"reference", "reference/ (Eigen, double precision, hand-derived gradients)"}}},
        {"implementation", {{"name", o.name}, {"device", results.device}, {"precision", results.precision},
                            {"reports_itself_as", results.implementation}}},
        {"case", to_json(r)}};
    if (o.json_path == "-") std::cout << doc.dump(1) << "\n";
    else write_file_atomically(o.json_path, [&](std::ostream& os) { os << doc.dump(1) << "\n"; });
  }
  return r.passed ? 0 : 1;
}

}  // namespace

Subcommand add_judge_command(CLI::App& app) {
  auto o = std::make_shared<JudgeOptions>();
  CLI::App* sub = app.add_subcommand(
      "judge", "Judge one results file against the case file it was computed from (docs/case-format.md): the "
               "table, the diagnosis of a failure; exit status 0 pass, 1 fail");
  sub->add_option("CASE", o->case_path, "The case file (cases export or cases write)")->required()->check(CLI::ExistingFile);
  sub->add_option("RESULTS", o->results_path, "The implementation's results file for it")->required();
  sub->add_option("--precision", o->precision, "Judge at this precision's tolerances (default: the file's metadata)");
  sub->add_option("--name", o->name, "The implementation's name in the table")->capture_default_str();
  sub->add_option("--json", o->json_path, "Write the verdict as JSON to this file ('-': to stdout, after the table)");
  sub->add_flag("--quiet", o->quiet, "No table (with --json)");
  return {sub, [o]() { return run_judge(*o); }};
}

}  // namespace vae::cli
