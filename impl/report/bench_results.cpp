#include "report/bench_results.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "common/error.h"

namespace vae::report {

std::optional<BenchName> parse_bench_name(const std::string& run_name) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t i = 0; i <= run_name.size(); ++i)
    if (i == run_name.size() || run_name[i] == '/') {
      parts.push_back(run_name.substr(start, i - start));
      start = i + 1;
    }
  while (!parts.empty() && (parts.back() == "manual_time" || parts.back() == "real_time" ||
                            parts.back().rfind("repeats:", 0) == 0 || parts.back().rfind("min_time:", 0) == 0 ||
                            parts.back().rfind("iterations:", 0) == 0))  // data-parallel runs fix the iterations
    parts.pop_back();
  std::string model;
  if (parts.size() == 6 && parts[4].rfind("model:", 0) == 0 && parts[4].size() > 6) {
    model = parts[4].substr(6);
    parts.erase(parts.begin() + 4);
  }
  if (parts.size() != 5 || parts[4].rfind("batch:", 0) != 0) return std::nullopt;
  BenchName n{parts[0], parts[1], parts[2], parts[3], 0, model};
  try {
    size_t used = 0;
    n.batch = std::stoi(parts[4].substr(6), &used);
    if (used != parts[4].size() - 6 || n.batch < 1) return std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;
  }
  return n;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

double coefficient_of_variation(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  double mean = 0;
  for (double x : v) mean += x;
  mean /= double(v.size());
  double ss = 0;
  for (double x : v) ss += (x - mean) * (x - mean);
  return mean > 0 ? std::sqrt(ss / double(v.size() - 1)) / mean : 0;
}

namespace {

double to_seconds(double t, const std::string& unit) {
  if (unit == "ns") return t * 1e-9;
  if (unit == "us") return t * 1e-6;
  if (unit == "ms") return t * 1e-3;
  if (unit == "s") return t;
  throw Error("time_unit '" + unit + "' is not ns, us, ms or s");
}

}  // namespace

std::vector<BenchRow> read_bench_rows(const nlohmann::json& doc, const std::string& source) {
  if (!doc.is_object() || !doc.contains("benchmarks") || !doc["benchmarks"].is_array())
    throw Error(source + ": not Google Benchmark JSON (no \"benchmarks\" array)");
  std::vector<BenchRow> rows;
  std::map<std::string, size_t> index;  // run_name -> row
  struct Counters {
    std::vector<double> tflops, peak, bytes, memory;
  };
  std::map<std::string, Counters> counters;
  // A "model" is a model's name, or the model's config (vaebench-bench writes its VaeConfig JSON,
  // as a string, into the context): then the config's "model", which only a model that is not the
  // MLP has. "" when there is none.
  const auto model_at = [](const nlohmann::json& j, const char* key) -> std::string {
    const auto it = j.find(key);
    if (it == j.end()) return "";
    nlohmann::json v = *it;
    if (v.is_string()) {
      const std::string text = v.get<std::string>();
      if (text.empty() || text[0] != '{') return text;
      v = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    }
    if (!v.is_object()) return "";
    const auto m = v.find("model");
    return m != v.end() && m->is_string() ? m->get<std::string>() : "mlp";
  };
  const std::string context_model = doc.contains("context") && doc["context"].is_object() ? model_at(doc["context"], "model") : "";
  // The context's "dataset" is vaebench-bench's Dataset JSON (as a string): its "identity".
  std::string context_data;
  if (doc.contains("context") && doc["context"].is_object() && doc["context"].contains("dataset")) {
    nlohmann::json ds = doc["context"]["dataset"];
    if (ds.is_string()) ds = nlohmann::json::parse(ds.get<std::string>(), nullptr, /*allow_exceptions=*/false);
    if (ds.is_object() && ds.contains("identity") && ds["identity"].is_string()) context_data = ds["identity"];
  }
  for (const nlohmann::json& b : doc["benchmarks"]) {
    const std::string run_name = b.value("run_name", b.value("name", std::string()));
    if (run_name.empty()) throw Error(source + ": a benchmark entry has no name");
    if (b.value("run_type", "iteration") == "aggregate") continue;  // recomputed from the repetitions
    auto it = index.find(run_name);
    if (it == index.end()) {
      BenchRow r;
      r.run_name = run_name;
      if (auto id = parse_bench_name(run_name)) r.id = *id;
      else r.id.kind = "other", r.id.backend = run_name;
      for (const std::string& m : {model_at(b, "model"), r.id.model, context_model})
        if (!m.empty()) {
          r.model = m;
          break;
        }
      r.data = b.contains("data") && b["data"].is_string() ? b["data"].get<std::string>() : context_data;
      it = index.emplace(run_name, rows.size()).first;
      rows.push_back(r);
    }
    BenchRow& r = rows[it->second];
    if (b.value("error_occurred", false)) {
      r.failed = true;
      r.error = b.value("error_message", std::string("failed"));
      continue;
    }
    try {
      const double s = to_seconds(b.at("real_time").get<double>(), b.value("time_unit", std::string("ns")));
      r.seconds.push_back(s);
      r.samples_per_second.push_back(b.value("items_per_second", 0.0));
      Counters& c = counters[run_name];
      if (b.contains("TFLOP/s")) c.tflops.push_back(b["TFLOP/s"].get<double>());
      if (b.contains("peak_pct")) c.peak.push_back(b["peak_pct"].get<double>());
      if (b.contains("bytes_per_second")) c.bytes.push_back(b["bytes_per_second"].get<double>());
      if (b.contains("peak_mem_MiB")) c.memory.push_back(b["peak_mem_MiB"].get<double>());
      if (b.contains("label")) r.timer = b["label"].get<std::string>();
    } catch (const nlohmann::json::exception& e) {
      throw Error(source + ": benchmark " + run_name + ": " + e.what());
    }
  }
  for (BenchRow& r : rows) {
    if (r.seconds.empty()) {
      if (!r.failed) r.failed = true, r.error = "no measurements";
      continue;
    }
    r.median_seconds = median(r.seconds);
    r.median_samples_per_second = median(r.samples_per_second);
    r.cv = coefficient_of_variation(r.seconds);
    const Counters& c = counters[r.run_name];
    if (!c.tflops.empty()) r.tflops = median(c.tflops);
    if (!c.peak.empty()) r.peak_percent = median(c.peak);
    if (!c.bytes.empty()) r.bytes_per_second = median(c.bytes);
    if (!c.memory.empty()) r.peak_memory_mib = *std::max_element(c.memory.begin(), c.memory.end());
  }
  return rows;
}

}  // namespace vae::report
