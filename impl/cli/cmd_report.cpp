// vaebench report: turns one run's results (benchmarks, validation, training histories)
// into a report folder under reports/ and prints the one-screen summary.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "common/build_info.h"
#include "common/error.h"
#include "report/report_writer.h"

namespace vae::cli {

namespace {

struct ReportOptions {
  std::string bench, baseline, profile, out, reports_dir = VAE_SOURCE_DIR "/reports", title;
  std::vector<std::string> validations, trains, scaling;
  double target_loss = 110;
};

nlohmann::json read_json(const std::string& path, const std::string& option) {
  std::ifstream in(path);
  if (!in) throw Error(option + " " + path + ": cannot open");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(option + " " + path + ": not valid JSON: " + e.what());
  }
}

int run_report(const ReportOptions& o) {
  report::ReportInputs in;
  in.bench = read_json(o.bench, "--bench");
  for (const std::string& v : o.validations) in.validations.push_back(read_json(v, "--validation"));
  for (const std::string& t : o.trains) {
    // A training output folder (its history.json and pictures) or a history file.
    const std::filesystem::path p(t);
    const bool dir = std::filesystem::is_directory(p);
    const std::string file = dir ? (p / "history.json").string() : t;
    in.trainings.push_back({read_json(file, "--train"), dir ? t : p.parent_path().string()});
  }
  if (!o.profile.empty()) in.profile = read_json(o.profile, "--profile");
  for (const std::string& f : o.scaling) in.scaling.push_back(read_json(f, "--scaling"));
  if (!o.baseline.empty()) {
    in.baseline = read_json(o.baseline, "--baseline");
    in.baseline_source = o.baseline;
  }
  if (!(o.target_loss > 0)) throw Error("--target-loss: must be > 0");
  in.target_loss = o.target_loss;
  const std::string out = o.out.empty() ? o.reports_dir + "/" + report::default_report_name(in.bench) : o.out;
  in.title = o.title.empty() ? "vaebench report " + std::filesystem::path(out).filename().string() : o.title;
  const report::ReportResult r = report::write_report(in, out);
  std::cout << r.summary;
  if (!r.validation_passed) std::cout << "FAILED: a backend failed validation (see the report)\n";
  if (r.benchmarks_failed) std::cout << "FAILED: a benchmark failed (see the report)\n";
  return r.validation_passed && !r.benchmarks_failed ? 0 : 1;
}

}  // namespace

Subcommand add_report_command(CLI::App& app) {
  auto o = std::make_shared<ReportOptions>();
  CLI::App* sub = app.add_subcommand("report", "Write a report folder (report.md, report.html, JSON, figures)");
  sub->add_option("--bench", o->bench, "Google Benchmark JSON from vaebench-bench (peers merged in)")->required();
  sub->add_option("--validation", o->validations, "JSON from vaebench validate --json (repeatable: one per device)");
  sub->add_option("--scaling", o->scaling,
                  "vaebench-bench JSON of another world size (--nproc N; repeatable): the data-parallel scaling table");
  sub->add_option("--train", o->trains, "A training output folder or history.json (repeatable)");
  sub->add_option("--baseline", o->baseline, "An earlier bench.json to compare with");
  sub->add_option("--profile", o->profile, "Per-kernel step profiles from vaebench-bench --profile-out");
  sub->add_option("--out", o->out, "The report folder (default: <reports-dir>/<date>-<host>-<device>)");
  sub->add_option("--reports-dir", o->reports_dir, "Where the default folder goes")->capture_default_str();
  sub->add_option("--target-loss", o->target_loss, "Time to quality target, test nats per image")->capture_default_str();
  sub->add_option("--title", o->title, "Report title");
  return {sub, [o] { return run_report(*o); }};
}

}  // namespace vae::cli
