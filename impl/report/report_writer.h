#pragma once
// `vaebench report`: the run's evidence in one folder a reader can open anywhere --
//   report.md (renders on GitHub), report.html (offline, one file), bench.json (Google
//   Benchmark JSON, peers included), validation.json (as `vaebench validate --json`; with
//   one validation per device, validation-1.json, validation-2.json, ...),
//   results.json (everything the report shows, machine-readable), and the figures. It opens
//   with a summary of tables and a figure: per backend the validation verdict (cases passed,
//   worst % of tolerance over the judged quantities), per model each backend's best throughput
//   with its verdict, a bar chart of those (summary-throughput.svg), time to quality.
// A validation row marked not judged ("judged": false, or before that flag "check": "not
// judged") is shown as such -- no % of tolerance, no pass/fail -- and takes no part in a verdict.
// Every number in it comes from the inputs; nothing is measured here.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vae::report {

struct TrainingRun {
  nlohmann::json history;  // a training history (vaebench train, or the Python peer's)
  std::string dir;         // the folder it came from, where its pictures are
};

struct ReportInputs {
  nlohmann::json bench;                   // Google Benchmark JSON; null: no benchmarks (the report says so)
  std::vector<nlohmann::json> validations;  // `vaebench validate --json` outputs, e.g. one per device
  std::vector<TrainingRun> trainings;
  std::optional<nlohmann::json> baseline; // an earlier bench.json
  std::optional<nlohmann::json> profile;  // vaebench-bench --profile-out: per-kernel tables of one step
  std::vector<nlohmann::json> scaling;    // bench JSONs of other world sizes (vaebench-bench --nproc N)
  std::string baseline_source;
  double target_loss = 110;               // time to quality: test loss at or below this, nats per image
  std::string title = "vaebench report";
};

struct ReportResult {
  std::string summary;  // one screen of text: pass/fail, best throughput, speedups, time to quality
  bool validation_passed = true;
  bool benchmarks_failed = false;
};

// The folder name for a run: <date>-<host>-<device> from the bench JSON's context
// (device: "cpu", or the GPU's name in lower case with dashes when CUDA was measured).
std::string default_report_name(const nlohmann::json& bench);

// Builds the report and writes the folder atomically (assembled next to it, then renamed
// into place, replacing an older folder of the same name). Throws vae::Error naming the
// input that is malformed.
ReportResult write_report(const ReportInputs& inputs, const std::string& out_dir);

}  // namespace vae::report
