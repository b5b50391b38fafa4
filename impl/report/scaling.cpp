#include "report/scaling.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "common/error.h"
#include "model/config.h"
#include "model/params.h"
#include "report/allreduce_model.h"
#include "report/bench_results.h"
#include "report/svg_chart.h"

namespace vae::report {

namespace {

using nlohmann::json;

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// A context value that vaebench-bench wrote as JSON text (or as JSON).
json context_json(const json& bench, const char* key) {
  const json ctx = bench.value("context", json::object());
  if (!ctx.contains(key)) return nullptr;
  const json& v = ctx.at(key);
  if (!v.is_string()) return v;
  try {
    return json::parse(v.get<std::string>());
  } catch (const json::exception&) {
    return nullptr;
  }
}

std::string key_of(const BenchRow& r) {
  return r.id.kind + "/" + r.id.backend + "/" + r.id.device + "/" + r.id.precision + "/" + r.model + "/batch:" +
         std::to_string(r.id.batch);
}

bool usable(const BenchRow& r) { return !r.failed && r.median_samples_per_second > 0 && r.id.backend.rfind("python-", 0) != 0; }

void add_measured(Document& doc, std::map<std::string, std::string>& figures, json& results, const json& bench,
                  const std::vector<json>& scaling) {
  std::map<int, std::vector<BenchRow>> by_world;
  by_world[world_size_of(bench)] = read_bench_rows(bench, "--bench");
  for (const json& s : scaling) {  // documents of one world size may hold other devices' benchmarks
    const int n = world_size_of(s);
    std::vector<BenchRow>& list = by_world[n];
    for (BenchRow& r : read_bench_rows(s, "--scaling")) {
      for (const BenchRow& other : list)
        if (usable(r) && usable(other) && key_of(other) == key_of(r))
          throw Error("--scaling: " + key_of(r) + " was measured twice with world size " + std::to_string(n) +
                      "; give one document per world size and device");
      list.push_back(std::move(r));
    }
  }
  doc.heading("Data-parallel scaling (measured)");
  if (!by_world.count(1)) {
    doc.paragraph("No one-process run among the bench documents, so no efficiency can be computed.");
    return;
  }
  doc.paragraph("One vaebench-bench run per world size (--nproc N: every rank trains on batch/N images of the same "
                "global batch, the gradient all-reduced each step; each iteration timed on the host clock until "
                "every rank is done). Speed-up is samples/s against one process at the same global batch, "
                "efficiency the speed-up over N (strong scaling). Measured on the machine the manifests name; "
                "ranks sharing one machine's cores are not a cluster.");
  std::map<std::string, const BenchRow*> one;
  for (const BenchRow& r : by_world[1])
    if (usable(r)) one[key_of(r)] = &r;
  std::vector<std::vector<Cell>> table;
  json rows = json::array();
  Chart chart;
  chart.title = "train_step: samples/s against world size";
  chart.x = Axis{"ranks", false, 0.0, std::nullopt};
  chart.y = Axis{"samples/s", false, 0.0, std::nullopt};
  for (const auto& [key, base] : one) {
    size_t worlds_with_it = 0;
    for (const auto& [n, list] : by_world)
      worlds_with_it += std::any_of(list.begin(), list.end(), [&](const BenchRow& r) { return usable(r) && key_of(r) == key; });
    if (worlds_with_it < 2) continue;  // measured in one process only: nothing to scale
    Series series{base->id.backend + " " + base->id.device + " " + base->id.precision + " B=" +
                      std::to_string(base->id.batch),
                  {}, false};
    for (const auto& [n, list] : by_world)
      for (const BenchRow& r : list) {
        if (!usable(r) || key_of(r) != key) continue;
        const double speedup = r.median_samples_per_second / base->median_samples_per_second;
        table.push_back({Cell(r.id.kind), Cell(r.model), Cell(r.id.backend), Cell(r.id.device), Cell(r.id.precision),
                         Cell(std::to_string(r.id.batch)), Cell(std::to_string(n)),
                         Cell(fixed(r.median_samples_per_second, 0)), Cell(fixed(speedup, 2) + "x"),
                         Cell(fixed(100.0 * speedup / n, 1) + "%")});
        rows.push_back({{"benchmark", key}, {"world_size", n}, {"samples_per_second", r.median_samples_per_second},
                        {"speedup", speedup}, {"efficiency", speedup / n}});
        if (r.id.kind == "train_step") series.points.push_back({double(n), r.median_samples_per_second});
      }
    if (series.points.size() > 1) chart.series.push_back(series);
  }
  if (table.empty()) {
    doc.paragraph("No benchmark appears in both the one-process run and another world size's.");
  } else {
    doc.table({"kind", "model", "backend", "device", "precision", "global batch", "ranks", "samples/s", "speed-up",
               "efficiency"},
              table);
  }
  if (!chart.series.empty()) {
    figures["scaling.svg"] = render_svg(chart);
    doc.svg_figure("scaling.svg", figures["scaling.svg"], "train_step: median samples/s against the number of ranks");
  }
  results["scaling"] = rows;
}

void add_model(Document& doc, json& results, const json& bench) {
  const json config_json = context_json(bench, "model");
  std::optional<VaeConfig> config;
  if (config_json.is_object()) {
    try {
      config = config_from_json(config_json);
    } catch (const std::exception&) {
      config.reset();
    }
  }
  std::vector<std::vector<Cell>> table;
  json rows = json::array();
  const int worlds[] = {8, 64, 512};
  if (config && world_size_of(bench) == 1)
    for (const BenchRow& r : read_bench_rows(bench, "--bench")) {
      if (!usable(r) || r.id.kind != "train_step" || r.model != config->model) continue;
      const double element_bytes = r.id.precision == "fp64" ? 8.0 : 4.0;
      const double bytes = double(ParamLayout(*config).total()) * element_bytes;
      std::vector<Cell> row = {Cell(r.model), Cell(r.id.backend), Cell(r.id.device), Cell(r.id.precision),
                               Cell(std::to_string(r.id.batch)), Cell(fixed(1e3 * r.median_seconds, 3)),
                               Cell(fixed(bytes / 1048576.0, 2))};
      json j = {{"benchmark", key_of(r)}, {"step_seconds", r.median_seconds}, {"gradient_bytes", bytes}};
      for (int n : worlds) {
        const double t = ring_allreduce_seconds(bytes, n), e = predicted_efficiency(r.median_seconds, bytes, n);
        row.push_back(Cell(fixed(1e3 * t, 3) + " ms, " + fixed(100.0 * e, 1) + "%", Mark::Muted));
        j["predicted"][std::to_string(n)] = {{"allreduce_seconds", t}, {"efficiency", e}};
      }
      table.push_back(row);
      rows.push_back(j);
    }
  doc.heading("Data-parallel scaling (a model, not a measurement)");
  doc.paragraph(std::string("Predicted weak scaling (each GPU keeps the batch shown; the global batch grows with N): ") +
                "one ring all-reduce of the flat gradient per step, T(N) = 2(N-1)/N x bytes / bus bandwidth + "
                "2(N-1) x step latency (nccl-tests' bus bandwidth, NVIDIA/nccl-tests doc/PERFORMANCE.md), not "
                "overlapped with the backward (our backends reduce between backward and Adam), so efficiency = "
                "t / (t + T(N)) with t the step time measured above on one device. Up to 8 GPUs: " +
                kNvlink4.name + ", " + fixed(kNvlink4.bus_gbps, 0) + " GB/s (" + kNvlink4.source + "). Beyond: " +
                kInfinibandNdr.name + ", " + fixed(kInfinibandNdr.bus_gbps, 0) + " GB/s (" + kInfinibandNdr.source +
                "). NCCL's trees would cut the latency term at large N. Where t was measured on a CPU, the "
                "prediction is for a GPU as fast as that CPU -- a GPU's shorter step makes the all-reduce weigh more.");
  if (table.empty()) {
    doc.paragraph("No one-process train_step result of a vaebench backend with its model in the bench context: "
                  "nothing to model.");
  } else {
    std::vector<std::string> header = {"model", "backend", "device", "precision", "batch per GPU", "step (ms, measured)",
                                       "gradient (MiB)"};
    for (int n : worlds) header.push_back("all-reduce, efficiency at " + std::to_string(n) + " GPUs (model)");
    doc.table(header, table);
  }
  results["allreduce_model"] = {{"formula", "2(N-1)/N * bytes / bus_bandwidth + 2(N-1) * step_latency"},
                                {"links",
                                 {{{"name", kNvlink4.name}, {"bus_gbps", kNvlink4.bus_gbps}, {"step_us", kNvlink4.step_us}},
                                  {{"name", kInfinibandNdr.name},
                                   {"bus_gbps", kInfinibandNdr.bus_gbps},
                                   {"step_us", kInfinibandNdr.step_us}}}},
                                {"rows", rows}};
}

}  // namespace

int world_size_of(const json& bench) {
  const json dp = context_json(bench, "data_parallel");
  if (dp.is_object() && dp.contains("world_size") && dp["world_size"].is_number_integer()) return dp["world_size"];
  return 1;
}

void add_scaling_sections(Document& doc, std::map<std::string, std::string>& figures, json& results, const json& bench,
                          const std::vector<json>& scaling) {
  if (!scaling.empty()) add_measured(doc, figures, results, bench, scaling);
  add_model(doc, results, bench);
}

}  // namespace vae::report
