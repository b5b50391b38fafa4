#include "report/report_writer.h"
#include "report/scaling.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "common/progress.h"
#include "common/device_names.h"
#include "common/error.h"
#include "io/remove_tree.h"
#include "report/baseline.h"
#include "report/bench_results.h"
#include "report/document.h"
#include "report/svg_chart.h"
#include "train/time_to_quality.h"

namespace vae::report {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// ---- formatting -------------------------------------------------------------------------

std::string printf_string(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

std::string sci(double v) { return printf_string("%.2e", v); }
std::string fixed(double v, int digits) { return printf_string(("%." + std::to_string(digits) + "f").c_str(), v); }
std::string percent(double fraction, int digits = 1) { return fixed(100 * fraction, digits) + "%"; }

std::string device_class(const std::string& device) { return is_gpu_device(device) ? "cuda" : device; }

bool is_peer(const std::string& backend) { return backend.rfind("python-", 0) == 0; }

// Backends in the order readers expect: ours as registered, then the peers.
int backend_rank(const std::string& b) {
  static const std::vector<std::string> order = {"reference", "libtorch-eager", "torchscript", "libtorch-cudagraph",
                                                 "fused-cuda", "python-eager", "python-compile",
                                                 "python-compile-reduce-overhead"};
  const auto it = std::find(order.begin(), order.end(), b);
  return it == order.end() ? int(order.size()) : int(it - order.begin());
}

// The MLP first, then the other models by name.
bool model_before(const std::string& a, const std::string& b) {
  return std::make_pair(a != "mlp", a) < std::make_pair(b != "mlp", b);
}

struct RowKey {
  std::string backend, device, precision;
  std::string model = "mlp";  // the model measured (bench_results.h)
  bool operator<(const RowKey& o) const {
    if (model != o.model) return model_before(model, o.model);
    return std::make_tuple(backend_rank(backend), backend, device, precision) <
           std::make_tuple(backend_rank(o.backend), o.backend, o.device, o.precision);
  }
  // The backend as the tables name it: with its model when that is not the MLP.
  std::string name() const { return model == "mlp" ? backend : backend + " [" + model + "]"; }
  std::string label() const { return name() + " (" + device + ", " + precision + ")"; }
};

json parse_context_manifest(const json& bench) {
  const json& ctx = bench.value("context", json::object());
  if (ctx.contains("manifest") && ctx["manifest"].is_string()) {
    try {
      return json::parse(ctx["manifest"].get<std::string>());
    } catch (const json::exception&) {
    }
  }
  return ctx;
}

std::string json_text(const json& j, const std::string& key, const std::string& fallback = "unknown") {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

// ---- the pieces of the report -------------------------------------------------------------

struct Throughput {
  std::map<std::string, std::map<RowKey, std::map<int, const BenchRow*>>> by_kind;  // kind -> row -> batch
  std::set<int> batches;
};

Throughput index_rows(const std::vector<BenchRow>& rows) {
  Throughput t;
  for (const BenchRow& r : rows) {
    if (r.id.kind == "other") continue;
    t.by_kind[r.id.kind][RowKey{r.id.backend, r.id.device, r.id.precision, r.model}][r.id.batch] = &r;
    t.batches.insert(r.id.batch);
  }
  return t;
}

const std::vector<std::string> kKinds = {"train_epoch", "train_step", "eval"};

std::string kind_title(const std::string& kind) {
  if (kind == "train_epoch") return "Training epoch (shuffle + gather + steps, 60000 images)";
  if (kind == "train_step") return "Training step (one Adam step on a fixed batch)";
  if (kind == "eval") return "Evaluation (forward only)";
  return kind;
}

// The speedup baseline of a row: libtorch-eager fp32 on the same device.
const std::map<int, const BenchRow*>* eager_row(const std::map<RowKey, std::map<int, const BenchRow*>>& rows,
                                                const RowKey& k) {
  const auto it = rows.find(RowKey{"libtorch-eager", k.device, "fp32", k.model});
  return it == rows.end() ? nullptr : &it->second;
}

const BenchRow* best_of(const std::map<int, const BenchRow*>& by_batch) {
  const BenchRow* best = nullptr;
  for (const auto& [b, r] : by_batch)
    if (!r->failed && (!best || r->median_samples_per_second > best->median_samples_per_second)) best = r;
  return best;
}

struct ValidationRow {
  std::string backend, device, precision, quantity, worst_case;
  double max_abs = 0, max_rel = 0, norm_rel = 0, percent = 0;
  bool passed = true;
  // false: shown for information only (adam.drift, an external implementation's free-running
  // Adam results). No tolerance applies: no % of tolerance, no pass/fail, no part in any verdict.
  bool judged = true;
};

struct ValidationBackend {
  std::string backend, device, precision;
  int cases = 0, passed_cases = 0;
  bool passed = true;
  bool external = false;              // judged from results files (`validate --external`), e.g. the peers
  std::vector<std::string> problems;  // external: findings outside any case
  std::vector<ValidationRow> rows;
  std::map<std::string, std::pair<int, int>> models;  // the cases' model -> (passed, cases)
  // (case, line) for each failing case the validation diagnosed (validation/diagnosis.h).
  std::vector<std::pair<std::string, std::string>> diagnoses;
};

// A number of the validation JSON, which writes inf and NaN as strings (JSON has neither).
double number_of(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end()) return 0.0;
  if (it->is_number()) return it->get<double>();
  if (it->is_string()) {
    const std::string s = it->get<std::string>();
    if (s == "inf") return std::numeric_limits<double>::infinity();
    if (s == "-inf") return -std::numeric_limits<double>::infinity();
    if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
  }
  throw Error(std::string("--validation: \"") + key + "\" is " + it->dump() + ", not a number");
}

// The larger, with NaN counting as the largest (a NaN error is the worst error).
double worst(double a, double b) { return std::isnan(a) || std::isnan(b) ? std::numeric_limits<double>::quiet_NaN() : std::max(a, b); }

// Whether a comparison row of the validation JSON is judged: its "judged" flag, or for documents
// written before the flag, its check -- the rows that were shown but not judged (adam.drift, an
// external implementation's free-running adam.loss and adam.params) all said "not judged" there.
bool judged_row(const json& cmp) {
  const auto it = cmp.find("judged");
  if (it != cmp.end() && it->is_boolean()) return it->get<bool>();
  const auto check = cmp.find("check");
  return !(check != cmp.end() && check->is_string() && check->get<std::string>() == "not judged");
}

// The model of a validation case or training history: its config's "model", the MLP without one.
std::string model_of(const json& j) {
  if (!j.is_object() || !j.contains("config") || !j["config"].is_object()) return "mlp";
  const json& c = j["config"];
  return c.contains("model") && c["model"].is_string() ? c["model"].get<std::string>() : "mlp";
}

std::string quantity_group(const std::string& q) {
  if (q.rfind("grad.", 0) == 0) return "gradients (every tensor)";
  if (q.rfind("adam.grad.", 0) == 0) return "adam.grad (every tensor, median of the steps)";
  if (q.rfind("train.grad.", 0) == 0) return "train.grad (every tensor, median of the steps)";
  const size_t paren = q.find(" (");
  return paren == std::string::npos ? q : q.substr(0, paren);
}

std::vector<ValidationBackend> summarize_validation(const json& v) {
  std::vector<ValidationBackend> out;
  if (!v.contains("backends") || !v["backends"].is_object())
    throw Error("--validation: not `vaebench validate --json` output (no \"backends\" object)");
  for (auto it = v["backends"].begin(); it != v["backends"].end(); ++it) {
    const json& b = it.value();
    ValidationBackend vb{it.key(), device_class(json_text(b, "device", "cpu")), json_text(b, "precision", "")};
    vb.passed = b.value("passed", false);
    vb.external = b.value("kind", std::string("backend")) == "external";
    for (const json& p : b.value("problems", json::array())) vb.problems.push_back(p.is_string() ? p.get<std::string>() : p.dump());
    // Judged and not-judged rows of one quantity are kept apart (an external file's missing
    // adam.params fails, judged, where another case's adam.params is only shown).
    std::map<std::pair<std::string, bool>, ValidationRow> groups;
    std::vector<std::pair<std::string, bool>> order;
    bool flipped = false;  // a case the JSON failed only for rows that are not judged
    for (const json& c : b.value("cases", json::array())) {
      ++vb.cases;
      bool judged_failure = false, unjudged_failure = false;
      for (const json& cmp : c.value("comparisons", json::array())) {
        const bool judged = judged_row(cmp);
        const std::pair<std::string, bool> g{quantity_group(cmp.value("quantity", std::string("?"))), judged};
        auto [gi, fresh] = groups.try_emplace(g);
        ValidationRow& r = gi->second;
        if (fresh) {
          order.push_back(g);
          r = ValidationRow{vb.backend, vb.device, vb.precision, g.first, c.value("name", std::string())};
          r.judged = judged;
        }
        const double norm_rel = number_of(cmp, "norm_rel");
        if (judged) {
          const double pct = number_of(cmp, "percent_of_tolerance");
          if (!(pct <= r.percent) || fresh) r.percent = pct, r.worst_case = c.value("name", std::string());
          r.passed = r.passed && cmp.value("passed", false);
          judged_failure |= !cmp.value("passed", false);
        } else {
          // No share of a tolerance to rank by: the worst case is the one furthest off.
          if (!(norm_rel <= r.norm_rel) || fresh) r.worst_case = c.value("name", std::string());
          unjudged_failure |= !cmp.value("passed", true);
        }
        r.max_abs = worst(r.max_abs, number_of(cmp, "max_abs"));
        r.max_rel = worst(r.max_rel, number_of(cmp, "max_rel"));
        r.norm_rel = worst(r.norm_rel, norm_rel);
      }
      // The case's verdict is the JSON's, except that a row that is not judged cannot fail it
      // and a judged row that failed always does.
      const bool json_passed = c.value("passed", false);
      const bool passed = !judged_failure && (json_passed || unjudged_failure);
      if (c.contains("diagnosis") && c["diagnosis"].is_object())
        vb.diagnoses.push_back({c.value("name", std::string()), json_text(c["diagnosis"], "text", "")});
      flipped |= passed && !json_passed;
      vb.passed_cases += passed ? 1 : 0;
      auto& m = vb.models[model_of(c)];
      m.first += passed ? 1 : 0;
      ++m.second;
    }
    // The backend's verdict likewise: the JSON's, unless only a not-judged row failed it.
    const bool all_cases = vb.passed_cases == vb.cases;
    vb.passed = vb.passed ? all_cases : flipped && all_cases && vb.cases > 0 && vb.problems.empty();
    for (const auto& g : order) vb.rows.push_back(groups[g]);
    out.push_back(vb);
  }
  return out;
}

// What validation says about a benchmarked row: "PASS 18/18", "FAIL 3/18" or "not validated".
// When the validation covers several models, the verdict on the row's model's cases.
Cell validation_cell(const std::vector<ValidationBackend>& validation, const RowKey& key) {
  for (const ValidationBackend& v : validation)
    if (v.backend == key.backend && v.device == key.device && v.precision == key.precision) {
      if (v.models.size() <= 1 && (v.models.empty() || v.models.count(key.model))) {
        const std::string cases = " " + std::to_string(v.passed_cases) + "/" + std::to_string(v.cases);
        return v.passed ? Cell("PASS" + cases, Mark::Pass) : Cell("FAIL" + cases, Mark::Fail);
      }
      const auto m = v.models.find(key.model);
      if (m == v.models.end()) continue;
      const std::string cases = " " + std::to_string(m->second.first) + "/" + std::to_string(m->second.second);
      return m->second.first == m->second.second && v.problems.empty() ? Cell("PASS" + cases, Mark::Pass)
                                                                         : Cell("FAIL" + cases, Mark::Fail);
    }
  return Cell("not validated", Mark::Muted);
}

// The largest share of its tolerance among a backend's judged quantities (NaN the largest);
// nullopt when none is judged.
std::optional<double> worst_percent(const ValidationBackend& v) {
  std::optional<double> w;
  for (const ValidationRow& r : v.rows)
    if (r.judged) w = w ? worst(*w, r.percent) : r.percent;
  return w;
}

std::string percent_text(double p) { return std::isnan(p) ? "nan%" : std::isinf(p) ? "inf%" : fixed(p, 1) + "%"; }

// The precision as the throughput tables show it: CPU bf16 figures from a CPU that emulates
// bf16 (the manifest's cpu_bf16.hardware: no bf16 instructions, or oneDNN refuses bf16) time a
// software path, often 30-100x below the same CPU's fp32, and say so where they stand.
struct PrecisionLabels {
  bool cpu_bf16_emulated = false;
  explicit PrecisionLabels(const json& manifest)
      : cpu_bf16_emulated(json_text(manifest.value("cpu_bf16", json::object()), "hardware") == "emulated") {}
  bool emulated(const RowKey& k) const { return cpu_bf16_emulated && k.device == "cpu" && k.precision == "bf16"; }
  std::string operator()(const RowKey& k) const { return emulated(k) ? k.precision + " (emulated)" : k.precision; }
};

// ---- the summary's tables and figure -------------------------------------------------------

struct SummaryTables {
  std::vector<std::string> validation_header;
  std::vector<std::vector<Cell>> validation, throughput;
  json validation_json = json::array(), throughput_json = json::array();
  BarChart chart;
};

SummaryTables summary_tables(const std::vector<ValidationBackend>& validation, const Throughput& tp,
                             const PrecisionLabels& precision_text) {
  SummaryTables st;
  // Validation: one row per backend, device and precision.
  bool several_models = false;
  for (const ValidationBackend& v : validation)
    for (const auto& [m, n] : v.models) several_models |= m != "mlp";
  st.validation_header = {"backend", "device", "precision"};
  if (several_models) st.validation_header.push_back("models");
  for (const char* h : {"cases passed", "worst % of tolerance", "shown, not judged", "verdict"}) st.validation_header.push_back(h);
  for (const ValidationBackend& v : validation) {
    std::vector<Cell> row = {Cell(v.backend + (v.external ? " (external)" : "")), Cell(v.device), Cell(v.precision)};
    std::string models, unjudged;
    json unjudged_json = json::array();
    for (const auto& [m, n] : v.models) models += (models.empty() ? "" : ", ") + m;
    for (const ValidationRow& r : v.rows)
      if (!r.judged) {
        unjudged += (unjudged.empty() ? "" : ", ") + r.quantity;
        unjudged_json.push_back(r.quantity);
      }
    if (several_models) row.push_back(Cell(models));
    const std::optional<double> w = worst_percent(v);
    row.push_back(Cell(std::to_string(v.passed_cases) + "/" + std::to_string(v.cases)));
    row.push_back(w ? Cell(percent_text(*w), !(*w <= 100) ? Mark::Fail : Mark::None) : Cell("—", Mark::Muted));
    row.push_back(unjudged.empty() ? Cell("—", Mark::Muted) : Cell(unjudged, Mark::Muted));
    row.push_back(Cell(v.passed ? "PASS" : "FAIL", v.passed ? Mark::Pass : Mark::Fail));
    st.validation.push_back(row);
    st.validation_json.push_back({{"backend", v.backend}, {"device", v.device}, {"precision", v.precision},
                                  {"external", v.external}, {"cases", v.cases}, {"passed_cases", v.passed_cases},
                                  {"worst_percent_of_tolerance", w ? json(*w) : json(nullptr)},
                                  {"not_judged", unjudged_json}, {"passed", v.passed}});
  }

  // Throughput: per model, each backend in its headline kind (the first of kKinds it was timed
  // in: a backend timed on steps only, as the reference's quick run, still has its row), at its
  // best batch.
  std::vector<std::string> models;
  for (const auto& [kind, by_row] : tp.by_kind)
    for (const auto& [key, m] : by_row)
      if (std::find(models.begin(), models.end(), key.model) == models.end()) models.push_back(key.model);
  std::sort(models.begin(), models.end(), model_before);
  std::set<std::string> kinds;
  for (const std::string& model : models) {
    std::set<std::string> placed;  // the model's backends (label) that have their row
    for (const std::string& kind : kKinds) {
      const auto kit = tp.by_kind.find(kind);
      if (kit == tp.by_kind.end()) continue;
      for (const auto& [key, by_batch] : kit->second) {
        if (key.model != model || !placed.insert(key.label()).second) continue;
        kinds.insert(kind);
        const BenchRow* best = best_of(by_batch);
        std::optional<double> speedup;
        if (best)
          if (const auto* eager = eager_row(kit->second, key)) {
            const auto e = eager->find(best->id.batch);
            if (e != eager->end() && !e->second->failed && e->second->median_samples_per_second > 0)
              speedup = best->median_samples_per_second / e->second->median_samples_per_second;
          }
        const Cell validated = validation_cell(validation, key);
        st.throughput.push_back({Cell(model), Cell(key.backend), Cell(key.device), Cell(precision_text(key)), validated,
                                 Cell(kind), best ? Cell(std::to_string(best->id.batch)) : Cell("—"),
                                 best ? Cell(format_rate(best->median_samples_per_second)) : Cell("failed", Mark::Fail),
                                 speedup ? Cell(fixed(*speedup, 2) + "x") : Cell("", Mark::Muted)});
        json j = {{"model", model}, {"backend", key.backend}, {"device", key.device}, {"precision", key.precision},
                  {"kind", kind}, {"validation", validated.text}, {"failed", best == nullptr}};
        if (best) j.update({{"batch", best->id.batch}, {"samples_per_second", best->median_samples_per_second}});
        if (speedup) j["speedup_vs_libtorch_eager"] = *speedup;
        st.throughput_json.push_back(j);
        Bar bar;
        bar.label = models.size() > 1 ? key.label() : key.backend + " (" + key.device + ", " + key.precision + ")";
        bar.group = model;
        bar.hollow = is_peer(key.backend);
        bar.value = best ? best->median_samples_per_second : std::numeric_limits<double>::quiet_NaN();
        if (!best) bar.note = "failed";
        st.chart.bars.push_back(bar);
      }
    }
  }
  st.chart.title = "best samples/s per backend" + (kinds.size() == 1 ? " (" + *kinds.begin() + ")" : std::string());
  st.chart.value = Axis{"median samples/s at the best batch size", false, 0.0, std::nullopt};
  return st;
}

std::string read_binary(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string run_backend(const json& history) { return history.at("backend").value("name", std::string("?")); }
std::string run_device(const json& history) {
  return device_class(history.at("backend").value("device", std::string("cpu")));
}
// The backend's name, with the model when it is not the MLP ("libtorch-eager [conv-mnist]"), as
// the throughput rows name it.
std::string run_name(const json& history) {
  const std::string model = model_of(history);
  return run_backend(history) + (model == "mlp" ? "" : " [" + model + "]");
}

std::string run_label(const json& history) { return run_name(history) + " (" + run_device(history) + ")"; }

Series series_of(const std::string& name, bool dashed) {
  Series s;
  s.name = name;
  s.dashed = dashed;
  return s;
}

// Atomic folder replacement: assemble in `tmp`, then swap it in.
void publish_dir(const fs::path& tmp, const fs::path& out) {
  const fs::path old = out.string() + ".old-" + std::to_string(getpid());
  if (fs::exists(out)) fs::rename(out, old);
  fs::rename(tmp, out);
  remove_tree(old.string());
}

}  // namespace

std::string default_report_name(const json& doc) {
  const json bench = doc.is_object() ? doc : json::object();
  const json ctx = bench.value("context", json::object());
  const json manifest = parse_context_manifest(bench);
  std::string date = json_text(ctx, "date", "undated").substr(0, 10);
  std::string host = json_text(manifest, "host", json_text(ctx, "host_name", "host"));
  std::string device = "cpu";
  for (const json& b : bench.value("benchmarks", json::array()))
    if (auto id = parse_bench_name(b.value("run_name", b.value("name", std::string())))) {
      if (id->device == "cuda") {
        device = json_text(ctx, "device_name.cuda", "cuda");
        break;
      }
    }
  std::string name = date + "-" + host + "-" + device;
  for (char& c : name) c = std::isalnum((unsigned char)c) || c == '.' || c == '-' ? char(std::tolower(c)) : '-';
  return name;
}

ReportResult write_report(const ReportInputs& in, const std::string& out_dir) {
  ReportResult result;
  // No bench document at all (null) is a report without benchmarks, as one with none in it.
  const bool have_bench = !in.bench.is_null();
  const json bench = have_bench ? in.bench : json{{"benchmarks", json::array()}};
  const std::vector<BenchRow> rows = read_bench_rows(bench, "--bench");
  const Throughput tp = index_rows(rows);
  const json manifest = parse_context_manifest(bench);
  const PrecisionLabels precision_text(manifest);
  const json ctx = bench.value("context", json::object());
  const std::string no_benchmarks =
      !have_bench ? "No benchmark results were given to this report: throughput is not shown."
      : rows.empty()
          ? "No benchmark results: the bench JSON holds no benchmarks, so throughput is not shown."
          : "No benchmark results: none of the bench JSON's " + std::to_string(rows.size()) +
                " benchmarks is named <kind>/<backend>/<device>/<precision>/batch:<B>, so throughput is not shown.";
  std::vector<ValidationBackend> validation;
  for (const json& v : in.validations) {
    const std::vector<ValidationBackend> part = summarize_validation(v);
    validation.insert(validation.end(), part.begin(), part.end());
  }

  Document doc;
  doc.title = in.title;
  std::map<std::string, std::string> figures;  // file -> content (svg text or png bytes)
  json results = {{"format", "vaebench report v1"}, {"title", in.title}, {"manifest", manifest}};

  // ---- summary (also the terminal's one screen) --------------------------------------------
  std::ostringstream summary;
  summary << "validation:";
  if (validation.empty()) summary << " not run";
  for (const ValidationBackend& v : validation) {
    summary << "\n  " << v.backend << " (" << v.device << ", " << v.precision << "): " << (v.passed ? "PASS" : "FAIL")
            << ", " << v.passed_cases << "/" << v.cases << " cases" << (v.external ? " (external)" : "");
    // An implementation judged from outside (the Python peers) is shown failing but does not
    // fail our run, as a peer's failed benchmark does not.
    if (!v.external) result.validation_passed = result.validation_passed && v.passed;
  }
  // A peer that cannot run here (torch.compile without a working compiler, say) is shown as
  // failed but does not fail our run; our own backends do.
  for (const BenchRow& r : rows) result.benchmarks_failed = result.benchmarks_failed || (r.failed && !is_peer(r.id.backend));

  // ---- manifest -------------------------------------------------------------------------------
  doc.heading("Run");
  {
    std::vector<std::vector<Cell>> t;
    const auto add = [&](const std::string& k, const std::string& v) { t.push_back({Cell(k), Cell(v)}); };
    add("date", json_text(ctx, "date"));
    add("host", json_text(manifest, "host", json_text(ctx, "host_name")));
    add("git", json_text(manifest, "git_sha") + (manifest.value("git_dirty", json(false)) == json(true) ? " (dirty)" : ""));
    add("CPU", json_text(manifest, "cpu") + ", " + json_text(manifest, "cpu_cores") + " cores");
    if (manifest.contains("cpu_bf16"))
      add("CPU bf16", json_text(manifest["cpu_bf16"], "hardware") + " (" + json_text(manifest["cpu_bf16"], "reason") +
                          "; ATen " + json_text(manifest["cpu_bf16"], "aten_cpu_capability") + ")");
    std::string gpus;
    for (const json& g : manifest.value("gpus", json::array()))
      gpus += (gpus.empty() ? "" : "; ") + json_text(g, "name") + " (sm_" + json_text(g, "sm") + ", " +
              fixed(g.value("memory_gib", 0.0), 0) + " GiB)";
    add("GPU", gpus.empty() ? "none (" + json_text(manifest, "gpu_unavailable_reason", "not found") + ")" : gpus);
    add("CUDA driver / runtime", json_text(manifest, "cuda_driver") + " / " + json_text(manifest, "cuda_runtime"));
    add("LibTorch", json_text(manifest, "torch"));
    add("Python peer", ctx.contains("python_peer.torch")
                           ? "Python " + json_text(ctx, "python_peer.python") + ", torch " + json_text(ctx, "python_peer.torch")
                           : "not run");
    add("compiler, build", json_text(manifest, "compiler") + ", " + json_text(manifest, "build_type") + ", flags " +
                               json_text(manifest, "cxx_flags") + ", CUDA archs " +
                               json_text(manifest, "cuda_architectures"));
    const json ds = manifest.value("dataset", json::object());
    add("dataset", json_text(ds, "identity") + (ds.value("verified", false) ? " (verified)" : " (unverified)") +
                       ", SHA-256 " + json_text(ds, "sha256"));
    add("seed, threads", json_text(manifest, "seed") + ", " + json_text(manifest, "threads"));
    if (manifest.contains("skipped") && !manifest["skipped"].empty())
      add("not measured here", [&] {
        std::string s;
        for (const json& x : manifest["skipped"]) s += (s.empty() ? "" : "; ") + x.get<std::string>();
        return s;
      }());
    doc.table({"", ""}, t, true);
  }

  // ---- correctness ----------------------------------------------------------------------------
  doc.heading("Correctness against the double-precision reference");
  if (in.validations.empty()) {
    doc.paragraph("No validation results were given to this report.");
  } else {
    doc.paragraph(
        "Worst value over every case of the validation matrix, per backend and quantity (norm-wise relative error "
        "||b - r|| / ||r|| is what the tolerance bounds; tolerances and their reasoning are in "
        "validation/tolerances.h). Rows marked external are implementations outside vaebench -- the Python peers "
        "among them -- judged from their results files on the exported cases (docs/case-format.md) with the same "
        "tolerances; a failing one is shown failing here and next to its throughput, without failing the run. "
        "Rows marked not judged are shown for information only and have no tolerance: the distance of a "
        "free-running Adam trajectory from the reference's (adam.drift; an external implementation's adam.loss "
        "and adam.params), which correct implementations part from without a local bound "
        "(validation/tolerances.h); they take no part in any verdict.");
    std::vector<std::vector<Cell>> status, detail;
    for (const ValidationBackend& v : validation) {
      status.push_back({Cell(v.backend + (v.external ? " (external)" : "")), Cell(v.device), Cell(v.precision),
                        Cell(std::to_string(v.passed_cases) + "/" + std::to_string(v.cases)),
                        Cell(v.passed ? "PASS" : "FAIL", v.passed ? Mark::Pass : Mark::Fail)});
      for (const ValidationRow& r : v.rows)
        detail.push_back({Cell(r.backend), Cell(r.device), Cell(r.precision), Cell(r.quantity), Cell(sci(r.max_abs)), Cell(sci(r.max_rel)),
                          Cell(sci(r.norm_rel)),
                          !r.judged ? Cell("—", Mark::Muted)
                                    : Cell(fixed(r.percent, 1) + "%", !(r.percent <= 100) ? Mark::Fail : Mark::None),
                          Cell(r.worst_case),
                          !r.judged ? Cell("not judged", Mark::Muted)
                                    : Cell(r.passed ? "pass" : "FAIL", r.passed ? Mark::Pass : Mark::Fail)});
    }
    doc.table({"backend", "device", "precision", "cases passed", "result"}, status);
    for (const ValidationBackend& v : validation)
      for (const std::string& p : v.problems) doc.paragraph(v.backend + ": " + p);
    std::vector<std::vector<Cell>> diagnosed;
    json dj = json::array();
    for (const ValidationBackend& v : validation)
      for (const auto& [name, text] : v.diagnoses) {
        diagnosed.push_back({Cell(v.backend), Cell(name), Cell(text)});
        dj.push_back({{"backend", v.backend}, {"case", name}, {"diagnosis", text}});
      }
    if (!diagnosed.empty()) {
      doc.paragraph("Failing cases judged against the catalogue of known mistakes (docs/objectives.md): the mistake "
                    "named where every output and gradient lies within tolerance of it, or why none is.");
      doc.table({"backend", "case", "diagnosis"}, diagnosed);
      results["diagnoses"] = dj;
    }
    doc.table({"backend", "device", "precision", "quantity", "max abs", "max rel", "norm-wise", "% of tolerance", "worst case", "result"},
              detail);
    json vj = json::array();
    for (const ValidationBackend& v : validation) {
      json q = json::array();
      for (const ValidationRow& r : v.rows)
        q.push_back({{"quantity", r.quantity}, {"max_abs", r.max_abs}, {"max_rel", r.max_rel}, {"norm_rel", r.norm_rel},
                     {"percent_of_tolerance", r.judged ? json(r.percent) : json(nullptr)}, {"worst_case", r.worst_case},
                     {"judged", r.judged}, {"passed", r.judged ? json(r.passed) : json(nullptr)}});
      vj.push_back({{"backend", v.backend}, {"device", v.device}, {"precision", v.precision}, {"passed", v.passed},
                    {"external", v.external}, {"problems", v.problems}, {"cases", v.cases},
                    {"passed_cases", v.passed_cases}, {"quantities", q}});
    }
    results["validation"] = vj;
  }

  // ---- throughput ----------------------------------------------------------------------------
  doc.heading("Throughput");
  doc.paragraph(
      "Median samples/s over the repetitions (± coefficient of variation of the repetition times). Each iteration "
      "is timed by the backend's device timer (CUDA events on a GPU, the steady clock on a CPU) through Google "
      "Benchmark's manual time, after a warm-up. TFLOP/s counts the dense math exactly (impl/model/flops.h); % of "
      "peak uses the device's data-sheet peak of the row's precision (fp32: the CUDA cores' FP32; tf32 and "
      "bf16: the tensor cores' dense TF32 and BF16), or says unknown; a bf16 step runs only its products on "
      "tensor cores, so its share of the BF16 peak is the honest, smaller figure. Python peers (dashed in the "
      "plots) run the pytorch/examples VAE, timed the same way (bf16: under torch.autocast).");
  {
    // What each model was timed on: a model without its data set runs on seeded synthetic
    // images, which the report says beside its figures (and it shows no quality figure).
    std::map<std::string, std::set<std::string>> data_of;
    for (const BenchRow& r : rows)
      if (!r.data.empty()) data_of[r.model].insert(r.data);
    std::vector<std::string> models;
    for (const auto& [m, d] : data_of) models.push_back(m);
    std::sort(models.begin(), models.end(), model_before);
    std::string text;
    for (const std::string& m : models) {
      std::string list;
      for (const std::string& d : data_of[m]) list += (list.empty() ? "" : "; ") + d;
      text += (text.empty() ? "" : " ") + m + ": " + list + ".";
    }
    if (!text.empty()) doc.paragraph("Data timed on, per model: " + text);
  }
  if (precision_text.cpu_bf16_emulated &&
      std::any_of(rows.begin(), rows.end(), [](const BenchRow& r) { return r.id.device == "cpu" && r.id.precision == "bf16"; }))
    doc.paragraph("CPU bf16 rows are emulated, not native: " + json_text(manifest["cpu_bf16"], "reason") +
                  ". They time the software path, not what bf16 hardware does.");
  json tj = json::array();
  if (tp.by_kind.empty()) doc.paragraph(no_benchmarks);
  summary << "\nthroughput, best samples/s per backend (speedup against libtorch-eager at that batch):";
  for (const std::string& kind : kKinds) {
    const auto kit = tp.by_kind.find(kind);
    if (kit == tp.by_kind.end()) continue;
    const auto& by_row = kit->second;
    std::set<int> batches;
    for (const auto& [k, m] : by_row)
      for (const auto& [b, r] : m) batches.insert(b);
    doc.heading(kind_title(kind), 3);
    std::vector<std::string> header = {"backend", "device", "precision"};
    for (int b : batches) header.push_back("batch " + std::to_string(b));
    // The throughput table also says whether each system computes the right thing.
    std::vector<std::string> table_header = header;
    table_header.insert(table_header.begin() + 3, "validation");
    std::vector<std::vector<Cell>> table, efficiency, speedup, memory;
    Chart chart;
    chart.title = kind + ": samples/s against batch size";
    chart.x = Axis{"batch size", true, std::nullopt, std::nullopt};
    chart.y = Axis{"samples/s", true, std::nullopt, std::nullopt};
    for (const auto& [key, by_batch] : by_row) {
      const Cell validated = validation_cell(validation, key);
      std::vector<Cell> row = {Cell(key.name()), Cell(key.device), Cell(precision_text(key)), validated};
      std::vector<Cell> srow = {Cell(key.name()), Cell(key.device), Cell(precision_text(key))};
      std::vector<Cell> mrow = srow;
      Series s = series_of(key.label(), is_peer(key.backend));
      const auto* eager = eager_row(by_row, key);
      for (int b : batches) {
        const auto it = by_batch.find(b);
        if (it == by_batch.end()) {
          row.push_back(Cell("", Mark::Muted));
          srow.push_back(Cell("", Mark::Muted));
          mrow.push_back(Cell("", Mark::Muted));
          continue;
        }
        const BenchRow& r = *it->second;
        json entry = {{"kind", kind}, {"backend", key.backend}, {"device", key.device}, {"precision", key.precision},
                      {"model", key.model}, {"batch", b}, {"failed", r.failed}, {"validation", validated.text}};
        if (precision_text.emulated(key)) entry["emulated"] = true;
        if (r.failed) {
          row.push_back(Cell("failed: " + r.error, Mark::Fail));
          srow.push_back(Cell("", Mark::Muted));
          mrow.push_back(Cell("", Mark::Muted));
          entry["error"] = r.error;
        } else {
          row.push_back(Cell(format_rate(r.median_samples_per_second) + " ±" + percent(r.cv), r.cv > 0.1 ? Mark::Warn : Mark::None));
          s.points.emplace_back(b, r.median_samples_per_second);
          entry.update({{"samples_per_second", r.median_samples_per_second}, {"cv", r.cv},
                        {"repetitions", r.seconds.size()}, {"seconds_per_iteration", r.median_seconds}});
          if (r.tflops) entry["tflops"] = *r.tflops;
          if (r.peak_percent) entry["peak_percent"] = *r.peak_percent;
          if (r.bytes_per_second) entry["bytes_per_second"] = *r.bytes_per_second;
          if (r.peak_memory_mib) entry["peak_memory_mib"] = *r.peak_memory_mib;
          mrow.push_back(r.peak_memory_mib ? Cell(fixed(*r.peak_memory_mib, 1)) : Cell("n/a", Mark::Muted));
          const BenchRow* base = nullptr;
          if (eager) {
            const auto e = eager->find(b);
            if (e != eager->end() && !e->second->failed && e->second->median_samples_per_second > 0) base = e->second;
          }
          if (base) {
            const double x = r.median_samples_per_second / base->median_samples_per_second;
            srow.push_back(Cell(fixed(x, 2) + "x"));
            entry["speedup_vs_libtorch_eager"] = x;
          } else {
            srow.push_back(Cell("", Mark::Muted));
          }
        }
        tj.push_back(entry);
      }
      table.push_back(row);
      speedup.push_back(srow);
      memory.push_back(mrow);
      chart.series.push_back(s);
      if (const BenchRow* best = best_of(by_batch)) {
        const std::string peak = best->peak_percent ? fixed(*best->peak_percent, 2) + "%" : "unknown";
        efficiency.push_back({Cell(key.name()), Cell(key.device), Cell(precision_text(key)), validated,
                              Cell(std::to_string(best->id.batch)), Cell(format_rate(best->median_samples_per_second)),
                              Cell(best->tflops ? fixed(*best->tflops, 4) : "n/a"),
                              Cell(peak, best->peak_percent ? Mark::None : Mark::Muted),
                              Cell(best->bytes_per_second ? format_rate(*best->bytes_per_second) + "B/s" : "n/a")});
        if (kind == "train_epoch" || (kind == "train_step" && !tp.by_kind.count("train_epoch"))) {
          std::string sp;
          if (const auto* eager_m = eager_row(by_row, key)) {
            const auto e = eager_m->find(best->id.batch);
            if (e != eager_m->end() && !e->second->failed)
              sp = ", " + fixed(best->median_samples_per_second / e->second->median_samples_per_second, 2) + "x";
          }
          summary << "\n  " << kind << " " << key.label() << ": " << format_rate(best->median_samples_per_second)
                  << " samples/s at batch " << best->id.batch << sp << " [validation " << validated.text << "]";
        }
      } else {
        efficiency.push_back({Cell(key.name()), Cell(key.device), Cell(precision_text(key)), validated, Cell("—"),
                              Cell("failed", Mark::Fail), Cell(""), Cell(""), Cell("")});
        if (kind == "train_epoch") summary << "\n  " << kind << " " << key.label() << ": FAILED";
      }
    }
    doc.table(table_header, table);
    const std::string file = "throughput-" + kind + ".svg";
    figures[file] = render_svg(chart);
    doc.svg_figure(file, figures[file], kind + ": median samples/s against batch size, log-log (peers dashed)");
    doc.paragraph("Each backend at its best batch size:");
    doc.table({"backend", "device", "precision", "validation", "best batch", "samples/s", "TFLOP/s", "% of peak",
               "bytes/s (floor)"},
              efficiency);
    doc.paragraph("Speedup against libtorch-eager (fp32, same device, same batch):");
    doc.table(header, speedup);
    doc.paragraph("Peak memory during the timed iterations, MiB (Backend::memory_peak): on a GPU the backend's "
                  "device memory (LibTorch: its caching allocator's peak allocated bytes; fused-cuda: every buffer "
                  "it holds, sized before allocation); on the CPU the process's peak RSS, reset before each "
                  "benchmark (so it includes the resident dataset and LibTorch itself):");
    doc.table(header, memory);
  }
  results["throughput"] = tj;

  // ---- data-parallel scaling: measured, then modelled (report/scaling.h) ----------------------
  if (have_bench) add_scaling_sections(doc, figures, results, bench, in.scaling);

  // ---- per-kernel profile of one step (our kernels) ------------------------------------------
  if (in.profile && in.profile->contains("steps") && !(*in.profile)["steps"].empty()) {
    doc.heading("Per-kernel profile of one training step");
    doc.paragraph("Each call of our kernel families in one uncaptured training step (vaebench-bench --profile-out): "
                  "time between events around the call, its FLOP and DRAM bytes (each operand read and written "
                  "once), and its roofline bound max(FLOP / peak FLOP/s, bytes / peak bandwidth) from the "
                  "device's data sheet (the GEMM and conv families at the precision's peak, tf32 and bf16 on the "
                  "tensor cores; everything else at the FP32 peak). % of bound near 100 is at a roof; far below it, the call is limited by "
                  "something else (launch latency for tiny calls, or the kernel itself)." +
                  std::string(in.profile->contains("note") ? " " + (*in.profile)["note"].get<std::string>() + "." : ""));
    for (const json& step : (*in.profile)["steps"]) {
      doc.heading(step.value("backend", std::string("?")) + " " + step.value("device", std::string("?")) + " " +
                      step.value("precision", std::string("?")) + ", batch " + std::to_string(step.value("batch", 0)),
                  3);
      std::vector<std::vector<Cell>> rows;
      for (const json& c : step.value("calls", json::array())) {
        const bool known = c.contains("bound_seconds") && c["bound_seconds"].is_number();
        rows.push_back({Cell(c.value("name", std::string("?"))), Cell(fixed(c.value("seconds", 0.0) * 1e6, 2)),
                        Cell(format_rate(c.value("flops", 0.0))), Cell(format_rate(c.value("bytes", 0.0)) + "B"),
                        Cell(fixed(c.value("tflops", 0.0), 3)), Cell(fixed(c.value("gbps", 0.0), 1)),
                        known ? Cell(fixed(c["bound_seconds"].get<double>() * 1e6, 2) + " (" +
                                     c.value("bound", std::string("?")) + ")")
                              : Cell("unknown device", Mark::Muted),
                        known ? Cell(fixed(c.value("percent_of_bound", 0.0), 1) + "%") : Cell("", Mark::Muted)});
      }
      rows.push_back({Cell("total"), Cell(fixed(step.value("total_seconds", 0.0) * 1e6, 2)), Cell(""), Cell(""), Cell(""),
                      Cell(""), Cell(""), Cell("")});
      doc.table({"call", "µs", "FLOP", "bytes", "TFLOP/s", "GB/s", "bound µs", "% of bound"}, rows);
    }
    results["profile"] = *in.profile;
  }

  // ---- time to quality and training curves ----------------------------------------------------
  doc.heading("Time to quality and training");
  json trainings = json::array(), ttq = json::array();
  std::vector<std::vector<Cell>> ttq_summary;  // the summary's table
  if (in.trainings.empty()) {
    doc.paragraph("No training runs were given to this report.");
  } else {
    doc.paragraph("Training time (evaluation excluded) until the test loss first reaches " + fixed(in.target_loss, 1) +
                  " nats per image on the default model, MLPerf-style, next to the raw throughput at the training "
                  "batch size from the benchmarks above.");
    std::vector<std::vector<Cell>> t;
    Chart by_epoch, by_time, mu_chart, sigma_chart;
    by_epoch.title = "test loss against epoch";
    by_epoch.x = Axis{"epoch", false, std::nullopt, std::nullopt};
    by_epoch.y = Axis{"test loss (nats/image)", false, std::nullopt, std::nullopt};
    by_epoch.reference_y = in.target_loss;
    by_epoch.reference_label = "target " + fixed(in.target_loss, 0);
    by_time = by_epoch;
    by_time.title = "test loss against wall time";
    by_time.x = Axis{"wall time incl. evaluation (s)", false, 0.0, std::nullopt};
    mu_chart.title = "RMS of the posterior means μ (test set)";
    mu_chart.x = Axis{"epoch", false, std::nullopt, std::nullopt};
    mu_chart.y = Axis{"RMS of μ", false, 0.0, std::nullopt};
    sigma_chart = mu_chart;
    sigma_chart.title = "mean posterior σ (test set)";
    sigma_chart.y = Axis{"mean σ", false, 0.0, std::nullopt};
    summary << "\ntime to quality (test loss <= " << fixed(in.target_loss, 1) << "):";
    for (const TrainingRun& run : in.trainings) {
      const json& h = run.history;
      if (!h.contains("epochs") || !h.contains("backend"))
        throw Error("--train " + run.dir + ": not a training history (no \"epochs\" or \"backend\")");
      const std::string backend = run_backend(h), device = run_device(h);
      const json q = time_to_quality(h["epochs"], in.target_loss);
      Series le = series_of(run_label(h), is_peer(backend)), lt = le, mu = le, sigma = le;
      for (const json& e : h["epochs"]) {
        const double loss = e["test"]["loss"].get<double>();
        le.points.emplace_back(e["epoch"].get<double>(), loss);
        lt.points.emplace_back(e["wall_seconds"].get<double>(), loss);
        if (e["test"].contains("mu_rms")) mu.points.emplace_back(e["epoch"].get<double>(), e["test"]["mu_rms"].get<double>());
        if (e["test"].contains("sigma_mean"))
          sigma.points.emplace_back(e["epoch"].get<double>(), e["test"]["sigma_mean"].get<double>());
      }
      by_epoch.series.push_back(le);
      by_time.series.push_back(lt);
      mu_chart.series.push_back(mu);
      sigma_chart.series.push_back(sigma);
      // Raw throughput of the same backend at the training batch size.
      const int batch = h.value("training", json::object()).value("batch", 128);
      std::string raw = "n/a";
      for (const char* kind : {"train_epoch", "train_step"}) {
        const auto kit = tp.by_kind.find(kind);
        if (kit == tp.by_kind.end() || raw != "n/a") continue;
        for (const auto& [key, m] : kit->second)
          if (key.backend == backend && key.model == model_of(h) && key.device == device && key.precision == h["backend"].value("precision", "fp32")) {
            const auto b = m.find(batch);
            if (b != m.end() && !b->second->failed) raw = format_rate(b->second->median_samples_per_second) + " (" + kind + ")";
          }
      }
      const json& last = h["epochs"].empty() ? json::object() : h["epochs"].back();
      const bool reached = q["reached"].get<bool>();
      const bool diverged = h.contains("diverged") && !h["diverged"].is_null();
      t.push_back({Cell(run_name(h)), Cell(device), Cell(std::to_string(h["epochs"].size())),
                   Cell(reached ? fixed(q["train_seconds"].get<double>(), 2) + " s" : (diverged ? "diverged" : "not reached"),
                        reached ? Mark::None : Mark::Fail),
                   Cell(reached ? std::to_string(q["epoch"].get<int>()) : "—"),
                   Cell(last.contains("test") ? fixed(last["test"]["loss"].get<double>(), 2) : "—"),
                   Cell(h.contains("iw") && h["iw"].is_object()
                            ? fixed(h["iw"]["test_nll"].get<double>(), 2) + " (S=" + std::to_string(h["iw"]["samples"].get<int>()) + ")"
                            : "—"),
                   Cell(last.contains("samples_per_second") ? format_rate(last["samples_per_second"].get<double>()) : "—"), Cell(raw)});
      ttq_summary.push_back({Cell(run_name(h)), Cell(device),
                             Cell(reached ? fixed(q["train_seconds"].get<double>(), 1) + " s" : (diverged ? "diverged" : "not reached"),
                                  reached ? Mark::None : Mark::Fail),
                             Cell(reached ? std::to_string(q["epoch"].get<int>()) : "—")});
      summary << "\n  " << run_label(h) << ": "
              << (reached ? fixed(q["train_seconds"].get<double>(), 1) + " s of training (epoch " +
                                std::to_string(q["epoch"].get<int>()) + ")"
                          : std::string(diverged ? "diverged" : "not reached"));
      ttq.push_back({{"backend", backend}, {"model", model_of(h)}, {"device", device}, {"time_to_quality", q},
                     {"final_test_loss", last.contains("test") ? last["test"]["loss"] : json(nullptr)},
                     {"iw", h.value("iw", json(nullptr))}});
      trainings.push_back(h);
    }
    doc.table({"backend", "device", "epochs run", "time to quality", "at epoch", "final test loss", "IW test NLL",
               "training samples/s (last epoch)", "benchmark samples/s at this batch"},
              t);
    for (auto& [chart, file, caption] :
         std::vector<std::tuple<Chart*, std::string, std::string>>{
             {&by_epoch, "test-loss-epoch.svg", "test loss per image against epoch (target dashed)"},
             {&by_time, "test-loss-time.svg", "test loss per image against wall time including evaluation"},
             {&mu_chart, "posterior-mu.svg", "RMS over the test set of the posterior means μ, against epoch"},
             {&sigma_chart, "posterior-sigma.svg", "mean posterior σ over the test set, against epoch"}}) {
      figures[file] = render_svg(*chart);
      doc.svg_figure(file, figures[file], caption);
    }
    // Pictures from the first run that has them (ours before the peers').
    for (const TrainingRun& run : in.trainings) {
      const fs::path samples = fs::path(run.dir) / "samples.png", recon = fs::path(run.dir) / "reconstructions.png";
      if (!fs::exists(samples) || !fs::exists(recon)) continue;
      figures["samples.png"] = read_binary(samples);
      figures["reconstructions.png"] = read_binary(recon);
      doc.png_figure("samples.png", figures["samples.png"], "samples from the prior, " + run_label(run.history));
      doc.png_figure("reconstructions.png", figures["reconstructions.png"],
                     "test images (odd rows) and their reconstructions, " + run_label(run.history));
      break;
    }
  }
  results["time_to_quality"] = ttq;
  results["trainings"] = trainings;

  // ---- baseline --------------------------------------------------------------------------------
  std::string baseline_line;
  if (in.baseline) {
    const BaselineComparison cmp = compare_with_baseline(read_bench_rows(*in.baseline, "--baseline"), rows);
    doc.heading("Change against the baseline");
    doc.paragraph("Baseline: " + in.baseline_source +
                  ". Change of the median time per iteration (+ is slower). A change is flagged only when it exceeds "
                  "the measured noise: 3 x the larger coefficient of variation of the two runs (at least 1%) and, "
                  "when both runs have 4 or more repetitions, a two-sided Mann-Whitney U test at p < 0.05, as Google "
                  "Benchmark's compare.py does.");
    std::vector<std::vector<Cell>> t;
    json bj = json::array();
    int flagged = 0;
    for (const BaselineRow& r : cmp.rows) {
      flagged += r.flagged;
      t.push_back({Cell(r.run_name), Cell(fixed(r.old_seconds * 1e3, 3) + " ms"), Cell(fixed(r.new_seconds * 1e3, 3) + " ms"),
                   Cell((r.change >= 0 ? "+" : "") + percent(r.change)), Cell("±" + percent(r.noise)),
                   Cell(r.p ? fixed(*r.p, 4) : "too few repetitions", r.p ? Mark::None : Mark::Muted),
                   Cell(r.verdict, !r.flagged ? Mark::Muted : (r.change > 0 ? Mark::Fail : Mark::Pass))});
      bj.push_back({{"run_name", r.run_name}, {"old_seconds", r.old_seconds}, {"new_seconds", r.new_seconds},
                    {"change", r.change}, {"noise", r.noise}, {"p", r.p ? json(*r.p) : json(nullptr)},
                    {"flagged", r.flagged}, {"verdict", r.verdict}});
    }
    doc.table({"benchmark", "baseline", "now", "change", "noise band", "U test p", "verdict"}, t);
    if (!cmp.only_old.empty() || !cmp.only_new.empty())
      doc.paragraph(std::to_string(cmp.only_old.size()) + " benchmarks only in the baseline (or failed now), " +
                    std::to_string(cmp.only_new.size()) + " only in this run.");
    results["baseline"] = {{"source", in.baseline_source}, {"rows", bj}, {"only_old", cmp.only_old},
                           {"only_new", cmp.only_new}};
    summary << "\nagainst the baseline: " << flagged << " of " << cmp.rows.size()
            << " benchmarks changed beyond the noise";
    baseline_line = "Against the baseline (" + in.baseline_source + "): " + std::to_string(flagged) + " of " +
                    std::to_string(cmp.rows.size()) + " benchmarks changed beyond the noise (details below).";
  }

  // ---- the summary at the top: tables and a figure ---------------------------------------------
  {
    Document top;
    top.heading("Summary");
    const SummaryTables st = summary_tables(validation, tp, precision_text);
    if (validation.empty()) {
      top.paragraph("Validation: no validation results were given to this report, so correctness is not shown.");
    } else {
      top.paragraph("Validation against the double-precision reference, per backend (worst % of tolerance over "
                    "every judged quantity of every case; quantities shown but not judged are listed apart and "
                    "take no part in the verdict):");
      top.table(st.validation_header, st.validation);
    }
    if (st.throughput.empty()) {
      top.paragraph(no_benchmarks);
    } else {
      top.paragraph("Throughput, per model: each backend at its best batch size, in its headline measurement "
                    "(train_epoch where it was timed on whole epochs, else train_step, else eval), with its "
                    "validation verdict on that model's cases:");
      top.table({"model", "backend", "device", "precision", "validation", "measured", "best batch", "samples/s",
                 "vs libtorch-eager"},
                st.throughput);
      figures["summary-throughput.svg"] = render_svg(st.chart);
      top.svg_figure("summary-throughput.svg", figures["summary-throughput.svg"],
                     "best median samples/s per backend (the summary's throughput table; peers hollow)");
    }
    if (!ttq_summary.empty()) {
      top.paragraph("Time to quality (test loss <= " + fixed(in.target_loss, 1) + " nats per image):");
      top.table({"backend", "device", "time to quality", "at epoch"}, ttq_summary);
    }
    if (!baseline_line.empty()) top.paragraph(baseline_line);
    doc.blocks.insert(doc.blocks.begin(), top.blocks.begin(), top.blocks.end());
    results["summary_tables"] = {{"validation", st.validation_json}, {"throughput", st.throughput_json}};
  }

  // ---- write the folder -----------------------------------------------------------------------
  results["summary"] = summary.str();
  json files = have_bench ? json::array({"report.md", "report.html", "bench.json", "results.json"})
                          : json::array({"report.md", "report.html", "results.json"});
  const auto validation_file = [&](size_t i) {
    return in.validations.size() == 1 ? std::string("validation.json") : "validation-" + std::to_string(i + 1) + ".json";
  };
  for (size_t i = 0; i < in.validations.size(); ++i) files.push_back(validation_file(i));
  for (const auto& [f, content] : figures) files.push_back(f);
  results["files"] = files;

  const fs::path out(out_dir);
  if (!out.parent_path().empty()) fs::create_directories(out.parent_path());
  const fs::path tmp = out.string() + ".tmp-" + std::to_string(getpid());
  remove_tree(tmp.string());
  fs::create_directories(tmp);
  try {
    const auto write = [&](const std::string& name, const std::string& content) {
      std::ofstream os(tmp / name, std::ios::binary);
      os << content;
      if (!os.flush()) throw Error(out_dir + ": cannot write " + name);
    };
    write("report.md", render_markdown(doc));
    write("report.html", render_html(doc));
    if (have_bench) write("bench.json", in.bench.dump(2) + "\n");
    for (size_t i = 0; i < in.validations.size(); ++i) write(validation_file(i), in.validations[i].dump(2) + "\n");
    write("results.json", results.dump(2) + "\n");
    for (const auto& [f, content] : figures) write(f, content);
    publish_dir(tmp, out);
  } catch (...) {
    try {
      remove_tree(tmp.string());
    } catch (const Error&) {
      // the original error is the one to report
    }
    throw;
  }
  result.summary = "report: " + out_dir + "\n" + summary.str() + "\n";
  return result;
}

}  // namespace vae::report
