#pragma once
// Google Benchmark JSON (ours and the Python peer's, merged) read back into one row per
// benchmark: the repetitions' times and the median, spread and counters the report shows.
// Names follow <kind>/<backend>/<device>/<precision>[/model:<model>]/batch:<B>[/iterations:<N>][/manual_time];
// an entry whose name does not is kept under its full name with kind "other". The model a row
// measured (the MLP unless told otherwise) comes from the entry's "model", else the name's
// model:<model> part, else the document context's "model", else "mlp"; a "model" is the model's
// name or its config JSON (object or string, as vaebench-bench writes it into the context), whose
// "model" key names a model that is not the MLP (model/config.h).
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vae::report {

struct BenchName {
  std::string kind, backend, device, precision;
  int batch = 0;
  std::string model;  // the name's model:<model> part; empty when it has none
};

// Splits a run name; nullopt when it does not follow the scheme.
std::optional<BenchName> parse_bench_name(const std::string& run_name);

struct BenchRow {
  std::string run_name;        // as Google Benchmark wrote it
  BenchName id;
  bool failed = false;
  std::string error;           // Google Benchmark's error_message when failed
  std::vector<double> seconds; // per repetition: seconds per iteration
  std::vector<double> samples_per_second;  // per repetition
  double median_samples_per_second = 0;
  double cv = 0;               // coefficient of variation of the per-repetition times (0.02 = 2%)
  double median_seconds = 0;
  std::optional<double> tflops;        // median over repetitions
  std::optional<double> peak_percent;  // median, when the device's peak is known
  std::optional<double> bytes_per_second;
  std::optional<double> peak_memory_mib;  // the largest over repetitions (Backend::memory_peak)
  std::string timer;           // the label: steady_clock / cuda_events
  std::string model = "mlp";   // the model measured (see above)
  // What it ran on: the entry's "data" (the Python peer writes one), else the identity of the
  // document context's "dataset" (vaebench-bench's); empty when neither says. Synthetic images
  // say so here ("synthetic 3x64x64 images ..., not a dataset").
  std::string data;
};

// Throws vae::Error naming `source` when the document is not Google Benchmark JSON.
std::vector<BenchRow> read_bench_rows(const nlohmann::json& doc, const std::string& source);

double median(std::vector<double> v);
// Sample standard deviation over the mean; 0 for fewer than two values.
double coefficient_of_variation(const std::vector<double>& v);

}  // namespace vae::report
