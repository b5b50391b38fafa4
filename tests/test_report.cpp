// The report generator on small synthetic results: what it shows must come from its inputs,
// a failing backend or benchmark must show as failing, the HTML must stand alone, the
// baseline comparison must flag only changes beyond the noise.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "command_runner.h"
#include "common/error.h"
#include "report/baseline.h"
#include "report/bench_results.h"
#include "model/config.h"
#include "report/allreduce_model.h"
#include "report/report_writer.h"
#include "temp_dir.h"
#include "train/time_to_quality.h"

namespace vae::report {
namespace {

using nlohmann::json;
using vae::testing::TempDir;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// One Google Benchmark iteration entry per repetition, seconds per iteration given.
void add_bench(json& doc, const std::string& name, int batch, const std::vector<double>& seconds,
               const std::string& error = "") {
  const std::string run = name + "/batch:" + std::to_string(batch) + "/manual_time";
  for (size_t i = 0; i < std::max<size_t>(1, seconds.size()); ++i) {
    json b = {{"name", run}, {"run_name", run}, {"run_type", "iteration"}, {"repetitions", seconds.size()},
              {"repetition_index", i}, {"threads", 1}, {"time_unit", "ms"}};
    if (!error.empty()) {
      b["error_occurred"] = true;
      b["error_message"] = error;
      b["iterations"] = 0;
      b["real_time"] = 0;
    } else {
      b["iterations"] = 10;
      b["real_time"] = seconds[i] * 1e3;
      b["items_per_second"] = batch / seconds[i];
      b["TFLOP/s"] = 1e-3 * batch / seconds[i];
    }
    doc["benchmarks"].push_back(b);
  }
  // Aggregates as Google Benchmark writes them; the reader must recompute, not trust them.
  json agg = {{"name", run + "_median"}, {"run_name", run}, {"run_type", "aggregate"}, {"aggregate_name", "median"},
              {"real_time", 999.0}, {"time_unit", "ms"}, {"items_per_second", 1.0}};
  doc["benchmarks"].push_back(agg);
}

json synthetic_bench() {
  json manifest = {{"host", "testhost"}, {"git_sha", "0123abcd"}, {"git_dirty", false}, {"cpu", "Test CPU"},
                   {"cpu_cores", 2}, {"torch", "2.11.0"}, {"dataset", {{"identity", "MNIST"}, {"sha256", "feedbeef"}}}};
  json doc = {{"context", {{"date", "2026-11-22T10:00:00+00:00"}, {"host_name", "testhost"}, {"manifest", manifest.dump()}}},
              {"benchmarks", json::array()}};
  add_bench(doc, "train_epoch/libtorch-eager/cpu/fp32", 128, {0.010, 0.0102, 0.0098});  // 12.8k samples/s
  add_bench(doc, "train_epoch/torchscript/cpu/fp32", 128, {0.005, 0.0051, 0.0049});     // 2x eager
  add_bench(doc, "train_epoch/broken/cpu/fp32", 128, {}, "non-finite loss at step 3");
  add_bench(doc, "train_epoch/python-eager/cpu/fp32", 128, {0.020, 0.020, 0.020});
  add_bench(doc, "eval/libtorch-eager/cpu/fp32", 1024, {0.001, 0.001, 0.001});
  return doc;
}

json comparison(const std::string& quantity, double norm_rel, double percent, bool passed) {
  return {{"quantity", quantity}, {"max_abs", norm_rel * 10}, {"max_rel", norm_rel * 3}, {"norm_rel", norm_rel},
          {"percent_of_tolerance", percent}, {"passed", passed}, {"check", "norm-wise"}, {"count", 1}};
}

json synthetic_validation() {
  json good_case = {{"name", "default-b128"}, {"passed", true},
                    {"comparisons", {comparison("kl", 1e-6, 1.0, true), comparison("grad.enc.0.weight", 2e-7, 1.0, true),
                                     comparison("grad.dec.out.bias", 4e-7, 2.0, true)}}};
  json bad_case = {{"name", "latent2-b1"}, {"passed", false},
                   {"comparisons", {comparison("kl", 3e-3, 3000.0, false), comparison("grad.enc.0.weight", 1e-7, 0.5, true)}}};
  return {{"passed", false},
          {"backends",
           {{"libtorch-eager", {{"device", "cpu"}, {"precision", "fp32"}, {"passed", true}, {"cases", {good_case}}}},
            {"broken", {{"device", "cpu"}, {"precision", "fp32"}, {"passed", false}, {"cases", {good_case, bad_case}}}}}}};
}

json synthetic_history(const std::string& backend, std::vector<double> test_losses, double seconds_per_epoch) {
  json epochs = json::array();
  double wall = 0;
  for (size_t i = 0; i < test_losses.size(); ++i) {
    wall += seconds_per_epoch + 0.5;
    epochs.push_back({{"epoch", i + 1}, {"step", 469 * (i + 1)},
                      {"train", {{"loss", test_losses[i] + 5}, {"recon", 100.0}, {"kl", 20.0}}},
                      {"test", {{"loss", test_losses[i]}, {"recon", 90.0}, {"kl", 20.0}, {"mu_rms", 0.9}, {"sigma_mean", 0.3}}},
                      {"samples_per_second", 60000 / seconds_per_epoch}, {"train_seconds", seconds_per_epoch},
                      {"eval_seconds", 0.5}, {"wall_seconds", wall}});
  }
  return {{"format", "vaebench training history v1"},
          {"backend", {{"name", backend}, {"device", "cpu"}, {"precision", "fp32"}}},
          {"training", {{"batch", 128}}},
          {"epochs", epochs},
          {"iw", nullptr},
          {"diverged", nullptr}};
}

ReportInputs synthetic_inputs() {
  ReportInputs in;
  in.bench = synthetic_bench();
  in.validations = {synthetic_validation()};
  in.trainings.push_back({synthetic_history("libtorch-eager", {127.6, 116.0, 111.5, 109.2, 108.0}, 3.0), "/nonexistent"});
  in.trainings.push_back({synthetic_history("python-eager", {128.0, 117.0, 112.0}, 4.0), "/nonexistent"});
  in.title = "synthetic";
  return in;
}

// The lines of `text` that contain `what`.
std::vector<std::string> lines_with(const std::string& text, const std::string& what) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.find(what) != std::string::npos) out.push_back(line);
  return out;
}

// The part of a rendered report from `from` up to `to` (the next section).
std::string section(const std::string& text, const std::string& from, const std::string& to) {
  const size_t a = text.find(from);
  if (a == std::string::npos) return "";
  const size_t b = text.find(to, a);
  return text.substr(a, b == std::string::npos ? std::string::npos : b - a);
}

TEST(ReportGenerator, WritesEveryFileAndShowsTheFailingBackendAsFailing) {
  TempDir tmp;
  const std::string out = tmp.file("report");
  const ReportResult r = write_report(synthetic_inputs(), out);
  EXPECT_FALSE(r.validation_passed);
  EXPECT_TRUE(r.benchmarks_failed);
  for (const char* f : {"report.md", "report.html", "bench.json", "validation.json", "results.json",
                        "throughput-train_epoch.svg", "throughput-eval.svg", "test-loss-epoch.svg", "test-loss-time.svg",
                        "posterior-mu.svg", "posterior-sigma.svg"})
    EXPECT_TRUE(std::filesystem::exists(out + "/" + f)) << f;
  EXPECT_EQ(tmp.listing(), std::vector<std::string>{"report"});  // no temporary folder left behind

  const std::string md = slurp(out + "/report.md");
  EXPECT_NE(md.find("| broken | cpu | fp32 | 1/2 | **FAIL** |"), std::string::npos) << md;
  EXPECT_NE(md.find("| libtorch-eager | cpu | fp32 | 1/1 | PASS |"), std::string::npos);
  // The failing quantity is named with its worst case and error, the failing benchmark with its message.
  EXPECT_NE(md.find("| broken | cpu | fp32 | kl | 3.00e-02 | 9.00e-03 | 3.00e-03 | **3000.0%** | latent2-b1 | **FAIL** |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("failed: non-finite loss at step 3"), std::string::npos);
  EXPECT_NE(r.summary.find("broken (cpu, fp32): FAIL, 1/2 cases"), std::string::npos) << r.summary;
  EXPECT_NE(r.summary.find("train_epoch broken (cpu, fp32): FAILED"), std::string::npos) << r.summary;

  const std::string html = slurp(out + "/report.html");
  EXPECT_NE(html.find("<td class=\"fail\">FAIL</td>"), std::string::npos);
  const json results = json::parse(slurp(out + "/results.json"));
  bool broken_failed = false;
  for (const json& v : results["validation"]) broken_failed |= v["backend"] == "broken" && v["passed"] == false;
  EXPECT_TRUE(broken_failed);
}

// One validation per device (scripts/run on a GPU machine): every backend of each is shown,
// told apart by device and precision, and each input file is kept.
TEST(ReportGenerator, ShowsTheValidationOfEveryDevice) {
  TempDir tmp;
  const std::string out = tmp.file("report");
  ReportInputs in = synthetic_inputs();
  json cuda = synthetic_validation();
  cuda["backends"].erase("broken");
  cuda["backends"]["libtorch-eager"]["device"] = "cuda:0";
  cuda["backends"]["libtorch-eager"]["precision"] = "tf32";
  in.validations.push_back(cuda);
  const ReportResult r = write_report(in, out);
  EXPECT_FALSE(r.validation_passed);  // the CPU document still holds the broken backend
  const std::string md = slurp(out + "/report.md");
  EXPECT_NE(md.find("| libtorch-eager | cpu | fp32 | 1/1 | PASS |"), std::string::npos) << md;
  EXPECT_NE(md.find("| libtorch-eager | cuda | tf32 | 1/1 | PASS |"), std::string::npos) << md;
  EXPECT_NE(md.find("| libtorch-eager | cuda | tf32 | kl |"), std::string::npos) << md;
  EXPECT_NE(r.summary.find("libtorch-eager (cuda, tf32): PASS"), std::string::npos) << r.summary;
  EXPECT_TRUE(std::filesystem::exists(out + "/validation-1.json"));
  EXPECT_TRUE(std::filesystem::exists(out + "/validation-2.json"));
  EXPECT_FALSE(std::filesystem::exists(out + "/validation.json"));
}

// The Python peers judged as outside implementations (`validate --external`): a failing peer
// is shown failing in the correctness table and next to its throughput, with NaN errors
// shown as such, and does not fail the run; a passing one shows PASS where it is timed.
TEST(ReportGenerator, ShowsAFailingPeerFailingNextToItsThroughput) {
  TempDir tmp;
  const std::string out = tmp.file("report");
  ReportInputs in = synthetic_inputs();
  json peers = synthetic_validation();
  peers["backends"].erase("broken");
  peers["backends"].erase("libtorch-eager");
  json nan_case = {{"name", "default-b128"}, {"passed", false},
                   {"comparisons", {{{"quantity", "grad.enc.0.weight"}, {"max_abs", "nan"}, {"max_rel", "nan"},
                                     {"norm_rel", "nan"}, {"percent_of_tolerance", "inf"}, {"passed", false},
                                     {"note", "3 non-finite value(s) (NaN or Inf)"}}}}};
  peers["backends"]["python-eager"] = {{"kind", "external"}, {"device", "cpu"}, {"precision", "fp32"}, {"passed", false},
                                       {"problems", {"x.safetensors: results for a case that does not exist"}},
                                       {"cases", {nan_case}}};
  in.validations = {peers};
  in.bench["benchmarks"].clear();
  add_bench(in.bench, "train_epoch/libtorch-eager/cpu/fp32", 128, {0.010, 0.0102, 0.0098});
  add_bench(in.bench, "train_epoch/python-eager/cpu/fp32", 128, {0.020, 0.020, 0.020});
  const ReportResult r = write_report(in, out);
  EXPECT_TRUE(r.validation_passed);  // a peer's failure is shown, but it is not ours
  const std::string md = slurp(out + "/report.md");
  EXPECT_NE(md.find("| python-eager (external) | cpu | fp32 | 0/1 | **FAIL** |"), std::string::npos) << md;
  EXPECT_NE(md.find("| python-eager | cpu | fp32 | gradients (every tensor) | nan | nan | nan | **inf%** | default-b128 | **FAIL** |"),
            std::string::npos) << md;
  EXPECT_NE(md.find("| python-eager | cpu | fp32 | **FAIL 0/1** | 6.40k ±0.0% |"), std::string::npos) << md;
  EXPECT_NE(md.find("results for a case that does not exist"), std::string::npos) << md;
  EXPECT_NE(r.summary.find("train_epoch python-eager (cpu, fp32): 6.40k samples/s at batch 128, 0.50x [validation FAIL 0/1]"),
            std::string::npos) << r.summary;
  EXPECT_NE(r.summary.find("python-eager (cpu, fp32): FAIL, 0/1 cases (external)"), std::string::npos) << r.summary;
}

// A failing case's diagnosis (validation/diagnosis.h) reaches the correctness section and results.json.
TEST(ReportGenerator, ShowsTheDiagnosisOfAFailingCase) {
  TempDir tmp;
  const std::string out = tmp.file("report");
  ReportInputs in = synthetic_inputs();
  json v = synthetic_validation();
  v["backends"].erase("broken");
  json failing = {{"name", "custom-b8"}, {"passed", false},
                  {"diagnosis", {{"text", "kl-mean-over-latent: kl = KL / 20 (Z)"}, {"named", {"kl-mean-over-latent"}}}},
                  {"comparisons", {comparison("kl", 0.95, 9500.0, false)}}};
  v["backends"]["mine"] = {{"kind", "external"}, {"device", "cpu"}, {"precision", "fp32"}, {"passed", false},
                           {"cases", {failing}}};
  in.validations = {v};
  write_report(in, out);
  const std::string md = slurp(out + "/report.md");
  EXPECT_NE(md.find("| mine | custom-b8 | kl-mean-over-latent: kl = KL / 20 (Z) |"), std::string::npos) << md;
  const json results = json::parse(slurp(out + "/results.json"));
  EXPECT_EQ(results["diagnoses"][0]["case"], "custom-b8");
}

// A row that is shown but not judged (adam.drift; an external implementation's free-running Adam
// results) says so: no % of tolerance, no pass/fail, and no part in the verdict even when its
// figures are far off -- while a judged row beside it still passes or fails with its share.
json not_judged(const std::string& quantity, double norm_rel, double percent, bool passed) {
  json c = comparison(quantity, norm_rel, percent, passed);
  c["check"] = "not judged";
  c["judged"] = false;
  return c;
}

TEST(ReportGenerator, ShowsNotJudgedRowsAsNotJudgedAndLeavesThemOutOfTheVerdict) {
  TempDir tmp;
  ReportInputs in = synthetic_inputs();
  // A not-judged row failing (as a producer might record a drift beyond some bound): the case and
  // the backend say failed, but only because of it.
  json eager_case = {{"name", "default-b1"}, {"passed", false},
                     {"comparisons", {comparison("kl", 1e-6, 1.0, true),
                                      not_judged("adam.drift (not judged, worst of 10 Adam steps)", 4e-3, 5000.0, false)}}};
  // A document written before the flag: the row says "not judged" only in its check.
  json old_style = comparison("adam.params (after 10 Adam steps)", 2.7e-3, 0.0, true);
  old_style["check"] = "not judged";
  json peer_case = {{"name", "default-b128"}, {"passed", true},
                    {"comparisons", {comparison("grad.enc.0.weight", 2e-7, 1.5, true), old_style}}};
  json broken_case = {{"name", "latent2-b1"}, {"passed", false},
                      {"comparisons", {comparison("kl", 3e-3, 3000.0, false),
                                       not_judged("adam.drift (not judged, worst of 10 Adam steps)", 1e-3, 0.0, true)}}};
  in.validations = {{{"passed", false},
                     {"backends",
                      {{"libtorch-eager", {{"device", "cpu"}, {"precision", "fp32"}, {"passed", false}, {"cases", {eager_case}}}},
                       {"python-eager", {{"kind", "external"}, {"device", "cpu"}, {"precision", "fp32"}, {"passed", true},
                                         {"cases", {peer_case}}}}}}}};
  const ReportResult ours = write_report(in, tmp.file("ours"));
  EXPECT_TRUE(ours.validation_passed) << ours.summary;  // the failing drift is not a verdict
  EXPECT_NE(ours.summary.find("libtorch-eager (cpu, fp32): PASS, 1/1 cases"), std::string::npos) << ours.summary;
  const std::string md = slurp(tmp.file("ours") + "/report.md");
  const std::string correctness = section(md, "## Correctness", "## Throughput");
  for (const std::string& q : {"| adam.drift |", "| adam.params |"}) {
    const auto rows = lines_with(correctness, q);
    ASSERT_EQ(rows.size(), 1u) << q << "\n" << md;
    EXPECT_NE(rows[0].find("| — |"), std::string::npos) << rows[0];
    EXPECT_NE(rows[0].find("| not judged |"), std::string::npos) << rows[0];
    for (const char* verdict : {"pass", "FAIL", "%"}) EXPECT_EQ(rows[0].find(verdict), std::string::npos) << rows[0];
  }
  EXPECT_NE(md.find("| libtorch-eager | cpu | fp32 | adam.drift | 4.00e-02 | 1.20e-02 | 4.00e-03 | — | default-b1 | not judged |"),
            std::string::npos) << md;
  // The judged row beside them keeps its share and verdict.
  EXPECT_NE(md.find("| libtorch-eager | cpu | fp32 | kl | 1.00e-05 | 3.00e-06 | 1.00e-06 | 1.0% | default-b1 | pass |"),
            std::string::npos) << md;
  EXPECT_NE(md.find("| libtorch-eager | cpu | fp32 | 1/1 | PASS |"), std::string::npos) << md;
  // The summary: the worst share is the judged one's; the shown-only quantities are named apart.
  const std::string top = section(md, "## Summary", "## Run");
  EXPECT_NE(top.find("| libtorch-eager | cpu | fp32 | 1/1 | 1.0% | adam.drift | PASS |"), std::string::npos) << top;
  EXPECT_NE(top.find("| python-eager (external) | cpu | fp32 | 1/1 | 1.5% | adam.params | PASS |"), std::string::npos) << top;
  EXPECT_NE(top.find("| mlp | libtorch-eager | cpu | fp32 | PASS 1/1 |"), std::string::npos) << top;
  const std::string html = slurp(tmp.file("ours") + "/report.html");
  EXPECT_NE(html.find("<td class=\"muted\">not judged</td>"), std::string::npos);
  EXPECT_EQ(html.find("<td class=\"pass\">not judged</td>"), std::string::npos);
  const json results = json::parse(slurp(tmp.file("ours") + "/results.json"));
  int unjudged = 0;
  for (const json& v : results["validation"])
    for (const json& q : v["quantities"])
      if (q["judged"] == false) {
        ++unjudged;
        EXPECT_TRUE(q["percent_of_tolerance"].is_null()) << q;
        EXPECT_TRUE(q["passed"].is_null()) << q;
      } else {
        EXPECT_TRUE(q["percent_of_tolerance"].is_number()) << q;
      }
  EXPECT_EQ(unjudged, 2);

  // A judged failure still fails, with its share, next to a not-judged row that does not.
  in.validations[0]["backends"]["broken"] = {{"device", "cpu"}, {"precision", "fp32"}, {"passed", false}, {"cases", {broken_case}}};
  const ReportResult bad = write_report(in, tmp.file("bad"));
  EXPECT_FALSE(bad.validation_passed);
  const std::string bmd = slurp(tmp.file("bad") + "/report.md");
  EXPECT_NE(bmd.find("| broken | cpu | fp32 | kl | 3.00e-02 | 9.00e-03 | 3.00e-03 | **3000.0%** | latent2-b1 | **FAIL** |"),
            std::string::npos) << bmd;
  EXPECT_NE(bmd.find("| broken | cpu | fp32 | adam.drift | 1.00e-02 | 3.00e-03 | 1.00e-03 | — | latent2-b1 | not judged |"),
            std::string::npos) << bmd;
  EXPECT_NE(section(bmd, "## Summary", "## Run").find("| broken | cpu | fp32 | 0/1 | **3000.0%** | adam.drift | **FAIL** |"),
            std::string::npos) << bmd;
}

// A backend timed on steps only (the reference in scripts/run's quick mode, whose epochs take
// minutes) keeps its summary row, in the kind it was timed in, beside the others' epochs.
TEST(ReportGenerator, SummaryKeepsABackendTimedOnStepsOnly) {
  TempDir tmp;
  const std::string out = tmp.file("report");
  ReportInputs in = synthetic_inputs();
  add_bench(in.bench, "train_step/reference/cpu/fp64", 128, {0.100, 0.100, 0.100});        // 1.28k samples/s
  add_bench(in.bench, "train_step/libtorch-eager/cpu/fp32", 128, {0.010, 0.010, 0.010});  // 12.8k
  write_report(in, out);
  const std::string top = section(slurp(out + "/report.md"), "## Summary", "## Run");
  EXPECT_NE(top.find("| mlp | reference | cpu | fp64 | not validated | train_step | 128 | 1.28k | 0.10x |"),
            std::string::npos) << top;
  // The others keep their headline, whole epochs.
  EXPECT_NE(top.find("| mlp | libtorch-eager | cpu | fp32 | PASS 1/1 | train_epoch | 128 | 12.8k | 1.00x |"),
            std::string::npos) << top;
  EXPECT_EQ(top.find("| mlp | libtorch-eager | cpu | fp32 | PASS 1/1 | train_step"), std::string::npos) << top;
}

// The summary at the top is tables and a figure: each backend with its validation verdict and
// its best throughput, in Markdown tables and HTML <table>s, and the bar chart embedded.
TEST(ReportGenerator, SummaryIsTablesAndAFigure) {
  TempDir tmp;
  const std::string out = tmp.file("report");
  write_report(synthetic_inputs(), out);
  const std::string md = slurp(out + "/report.md");
  const std::string top = section(md, "## Summary", "## Run");
  ASSERT_FALSE(top.empty()) << md;
  EXPECT_EQ(top.find("```"), std::string::npos) << top;  // no preformatted text
  EXPECT_NE(top.find("| backend | device | precision | cases passed | worst % of tolerance | shown, not judged | verdict |"),
            std::string::npos) << top;
  EXPECT_NE(top.find("| libtorch-eager | cpu | fp32 | 1/1 | 2.0% | — | PASS |"), std::string::npos) << top;
  EXPECT_NE(top.find("| broken | cpu | fp32 | 1/2 | **3000.0%** | — | **FAIL** |"), std::string::npos) << top;
  EXPECT_NE(top.find("| model | backend | device | precision | validation | measured | best batch | samples/s | vs libtorch-eager |"),
            std::string::npos) << top;
  EXPECT_NE(top.find("| mlp | libtorch-eager | cpu | fp32 | PASS 1/1 | train_epoch | 128 | 12.8k | 1.00x |"), std::string::npos) << top;
  EXPECT_NE(top.find("| mlp | torchscript | cpu | fp32 | not validated | train_epoch | 128 | 25.6k | 2.00x |"), std::string::npos) << top;
  EXPECT_NE(top.find("| mlp | python-eager | cpu | fp32 | not validated | train_epoch | 128 | 6.40k | 0.50x |"), std::string::npos) << top;
  EXPECT_NE(top.find("| mlp | broken | cpu | fp32 | **FAIL 1/2** | train_epoch | — | **failed** |"), std::string::npos) << top;
  EXPECT_NE(top.find("| libtorch-eager | cpu | 12.0 s | 4 |"), std::string::npos) << top;  // time to quality
  EXPECT_NE(top.find("![best median samples/s per backend"), std::string::npos) << top;
  EXPECT_NE(top.find("](summary-throughput.svg)"), std::string::npos) << top;

  // The figure: one bar per measured backend, the failed one named without a bar.
  const std::string svg = slurp(out + "/summary-throughput.svg");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  size_t bars = 0;
  for (size_t p = svg.find("class=\"bar\""); p != std::string::npos; p = svg.find("class=\"bar\"", p + 1)) ++bars;
  EXPECT_EQ(bars, 3u) << svg;
  for (const char* label : {">libtorch-eager (cpu, fp32)<", ">torchscript (cpu, fp32)<", ">python-eager (cpu, fp32)<",
                            ">broken (cpu, fp32)<", ">12.8k<", ">25.6k<", ">failed<"})
    EXPECT_NE(svg.find(label), std::string::npos) << label << "\n" << svg;

  // The HTML: the same tables as <table>, the figure inline, no <pre>.
  const std::string html = slurp(out + "/report.html");
  const std::string htop = section(html, "<h2>Summary</h2>", "<h2>Run</h2>");
  ASSERT_FALSE(htop.empty());
  EXPECT_EQ(htop.find("<pre>"), std::string::npos) << htop;
  size_t tables = 0;
  for (size_t p = htop.find("<table>"); p != std::string::npos; p = htop.find("<table>", p + 1)) ++tables;
  EXPECT_EQ(tables, 3u);  // validation, throughput, time to quality
  EXPECT_NE(htop.find("<td>broken</td><td>cpu</td><td>fp32</td><td>1/2</td><td class=\"fail\">3000.0%</td>"), std::string::npos)
      << htop;
  EXPECT_NE(htop.find("<td class=\"pass\">PASS</td>"), std::string::npos);
  EXPECT_NE(htop.find("<figure id=\"summary-throughput.svg\">\n<svg xmlns="), std::string::npos) << htop;

  const json results = json::parse(slurp(out + "/results.json"));
  ASSERT_EQ(results["summary_tables"]["throughput"].size(), 4u);
  EXPECT_EQ(results["summary_tables"]["throughput"][0]["backend"], "libtorch-eager");
  EXPECT_EQ(results["summary_tables"]["throughput"][0]["samples_per_second"], 12800.0);
  EXPECT_EQ(results["summary_tables"]["validation"].size(), 2u);
}

// Results that name their model (the convolutional VAEs) are grouped by it: per model its own
// throughput rows and validation verdict, one bar per backend and model, coloured by model.
TEST(ReportGenerator, SummaryGroupsThroughputByModel) {
  TempDir tmp;
  const std::string out = tmp.file("report");
  ReportInputs in = synthetic_inputs();
  in.bench["benchmarks"].clear();
  add_bench(in.bench, "train_epoch/libtorch-eager/cpu/fp32", 128, {0.010, 0.010, 0.010});
  add_bench(in.bench, "train_epoch/libtorch-eager/cpu/fp32/model:conv-mnist", 128, {0.040, 0.040, 0.040});
  add_bench(in.bench, "train_step/torchscript/cpu/fp32", 64, {0.001, 0.001, 0.001});
  for (json& b : in.bench["benchmarks"])  // the entry's own field, as the Python peer may write it
    if (b["run_name"].get<std::string>().find("torchscript") != std::string::npos) b["model"] = "conv-mnist";
  json conv_case = {{"name", "conv-mnist-b16"}, {"passed", false}, {"config", {{"model", "conv-mnist"}}},
                    {"comparisons", {comparison("kl", 3e-3, 300.0, false)}}};
  json mlp_case = {{"name", "default-b128"}, {"passed", true}, {"config", {{"latent", 20}}},
                   {"comparisons", {comparison("kl", 1e-6, 1.0, true)}}};
  in.validations = {{{"backends",
                      {{"libtorch-eager", {{"device", "cpu"}, {"precision", "fp32"}, {"passed", false}, {"cases", {mlp_case, conv_case}}}}}}}};
  write_report(in, out);
  const std::string md = slurp(out + "/report.md");
  const std::string top = section(md, "## Summary", "## Run");
  EXPECT_NE(top.find("| libtorch-eager | cpu | fp32 | conv-mnist, mlp | 1/2 | **300.0%** | — | **FAIL** |"), std::string::npos) << top;
  EXPECT_NE(top.find("| mlp | libtorch-eager | cpu | fp32 | PASS 1/1 | train_epoch | 128 | 12.8k | 1.00x |"), std::string::npos) << top;
  EXPECT_NE(top.find("| conv-mnist | libtorch-eager | cpu | fp32 | **FAIL 0/1** | train_epoch | 128 | 3.20k | 1.00x |"),
            std::string::npos) << top;
  // conv-mnist's torchscript was timed on steps only: its row says so, with no ratio (eager has no
  // conv-mnist step to compare with), instead of the backend missing from the summary.
  EXPECT_NE(top.find("| conv-mnist | torchscript | cpu | fp32 | not validated | train_step | 64 | 64.0k |"),
            std::string::npos) << top;
  EXPECT_LT(top.find("| mlp | libtorch-eager"), top.find("| conv-mnist | libtorch-eager"));  // the MLP first
  // The sections below keep the models apart too.
  EXPECT_NE(md.find("| libtorch-eager [conv-mnist] | cpu | fp32 | **FAIL 0/1** | 3.20k ±0.0% |"), std::string::npos) << md;
  EXPECT_NE(md.find("| libtorch-eager | cpu | fp32 | PASS 1/1 | 12.8k ±0.0% |"), std::string::npos) << md;
  EXPECT_NE(md.find("| torchscript [conv-mnist] | cpu | fp32 | not validated |"), std::string::npos) << md;
  const std::string svg = slurp(out + "/summary-throughput.svg");
  EXPECT_NE(svg.find(">libtorch-eager [conv-mnist] (cpu, fp32)<"), std::string::npos) << svg;
  // Training runs of another model are named with it too (time to quality, the curves).
  EXPECT_NE(top.find("| libtorch-eager | cpu | 12.0 s | 4 |"), std::string::npos) << top;
  {
    ReportInputs conv = in;
    conv.trainings[0].history["config"]["model"] = "conv-mnist";
    write_report(conv, tmp.file("conv-train"));
    const std::string cmd = slurp(tmp.file("conv-train") + "/report.md");
    EXPECT_NE(section(cmd, "## Summary", "## Run").find("| libtorch-eager [conv-mnist] | cpu | 12.0 s | 4 |"),
              std::string::npos) << cmd;
  }
  EXPECT_NE(svg.find("<g class=\"legend\">"), std::string::npos) << svg;
  EXPECT_NE(svg.find(">conv-mnist</text>"), std::string::npos) << svg;
}

// Without benchmark results (an empty bench document, or none at all) or without validation the
// report still renders and says what is missing.
TEST(ReportGenerator, RendersWithoutBenchmarksAndSaysSo) {
  TempDir tmp;
  ReportInputs in = synthetic_inputs();
  in.bench["benchmarks"] = json::array();
  write_report(in, tmp.file("empty"));
  std::string md = slurp(tmp.file("empty") + "/report.md");
  std::string top = section(md, "## Summary", "## Run");
  EXPECT_NE(top.find("No benchmark results: the bench JSON holds no benchmarks, so throughput is not shown."), std::string::npos)
      << top;
  EXPECT_NE(top.find("| libtorch-eager | cpu | fp32 | 1/1 | 2.0% | — | PASS |"), std::string::npos) << top;
  EXPECT_EQ(top.find("summary-throughput.svg"), std::string::npos) << top;
  EXPECT_FALSE(std::filesystem::exists(tmp.file("empty") + "/summary-throughput.svg"));
  EXPECT_NE(section(md, "## Throughput", "## Time to quality").find("No benchmark results"), std::string::npos) << md;
  EXPECT_NE(slurp(tmp.file("empty") + "/report.html").find("<p>No benchmark results"), std::string::npos);

  // Only benchmarks outside the naming scheme: said so, with their count.
  in.bench["benchmarks"] = json::array();
  in.bench["benchmarks"].push_back({{"name", "BM_Other"}, {"run_name", "BM_Other"}, {"real_time", 1.0}, {"time_unit", "ms"}});
  write_report(in, tmp.file("other"));
  EXPECT_NE(slurp(tmp.file("other") + "/report.md").find("none of the bench JSON's 1 benchmarks is named"), std::string::npos);

  // No bench document and no validation at all.
  in.bench = json();
  in.validations.clear();
  const ReportResult r = write_report(in, tmp.file("none"));
  EXPECT_TRUE(r.validation_passed);
  EXPECT_FALSE(r.benchmarks_failed);
  md = slurp(tmp.file("none") + "/report.md");
  top = section(md, "## Summary", "## Run");
  EXPECT_NE(top.find("No benchmark results were given to this report"), std::string::npos) << top;
  EXPECT_NE(top.find("no validation results were given to this report"), std::string::npos) << top;
  EXPECT_FALSE(std::filesystem::exists(tmp.file("none") + "/bench.json"));
  const json results = json::parse(slurp(tmp.file("none") + "/results.json"));
  for (const json& f : results["files"]) EXPECT_TRUE(std::filesystem::exists(tmp.file("none") + "/" + f.get<std::string>())) << f;
}

TEST(ReportGenerator, NumbersComeFromTheInputs) {
  TempDir tmp;
  const std::string out = tmp.file("report");
  const ReportResult r = write_report(synthetic_inputs(), out);
  const std::string md = slurp(out + "/report.md");
  // Medians of the repetitions (not the aggregate entries' 999 ms), their spread, the speedup.
  EXPECT_NE(md.find("| libtorch-eager | cpu | fp32 | PASS 1/1 | 12.8k ±2.0% |"), std::string::npos) << md;
  EXPECT_NE(md.find("| torchscript | cpu | fp32 | not validated | 25.6k ±2.0% |"), std::string::npos) << md;
  EXPECT_NE(md.find("| torchscript | cpu | fp32 | 2.00x |"), std::string::npos) << md;
  EXPECT_NE(md.find("| python-eager | cpu | fp32 | 0.50x |"), std::string::npos) << md;
  // Time to quality: eager reaches <= 110 at epoch 4 after 4 x 3 s of training; the peer never does.
  EXPECT_NE(md.find("| libtorch-eager | cpu | 5 | 12.00 s | 4 | 108.00 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| python-eager | cpu | 3 | **not reached** |"), std::string::npos) << md;
  EXPECT_NE(r.summary.find("libtorch-eager (cpu): 12.0 s of training (epoch 4)"), std::string::npos) << r.summary;
  // The manifest reaches the report.
  EXPECT_NE(md.find("0123abcd"), std::string::npos);
  EXPECT_NE(md.find("feedbeef"), std::string::npos);
  const json results = json::parse(slurp(out + "/results.json"));
  EXPECT_EQ(results["manifest"]["git_sha"], "0123abcd");
  EXPECT_EQ(results["time_to_quality"][0]["time_to_quality"]["epoch"], 4);
}

// CPU bf16 figures from a CPU that emulates bf16 (its manifest's cpu_bf16.hardware) are
// labelled emulated in the throughput tables, explained once, and marked in results.json;
// fp32 rows, and bf16 rows of a CPU with native bf16, are not.
TEST(ReportGenerator, LabelsEmulatedCpuBf16Figures) {
  for (const std::string hardware : {"emulated", "native"}) {
    TempDir tmp;
    ReportInputs in = synthetic_inputs();
    json manifest = json::parse(in.bench["context"]["manifest"].get<std::string>());
    manifest["cpu_bf16"] = {{"tier", hardware}, {"hardware", hardware}, {"reason", "no avx512_bf16 or amx_bf16 in a test"},
                            {"aten_cpu_capability", "AVX2"}};
    in.bench["context"]["manifest"] = manifest.dump();
    add_bench(in.bench, "train_step/libtorch-eager/cpu/bf16", 128, {0.1, 0.1, 0.1});
    const std::string out = tmp.file("report");
    write_report(in, out);
    const std::string md = slurp(out + "/report.md");
    const bool emulated = hardware == "emulated";
    EXPECT_EQ(md.find("| libtorch-eager | cpu | bf16 (emulated) |") != std::string::npos, emulated) << md;
    EXPECT_EQ(md.find("| libtorch-eager | cpu | bf16 |") != std::string::npos, !emulated) << md;
    EXPECT_NE(md.find("| libtorch-eager | cpu | fp32 |"), std::string::npos) << "fp32 rows keep their label";
    EXPECT_EQ(md.find("CPU bf16 rows are emulated, not native: no avx512_bf16 or amx_bf16 in a test") != std::string::npos,
              emulated);
    EXPECT_NE(md.find("| CPU bf16 | " + hardware + " (no avx512_bf16"), std::string::npos) << md;
    const json results = json::parse(slurp(out + "/results.json"));
    int marked = 0;
    for (const json& e : results["throughput"]) marked += e.contains("emulated");
    EXPECT_EQ(marked, emulated ? 1 : 0);
  }
}

TEST(ReportGenerator, HtmlStandsAloneAndMarkdownReferencesExistingFigures) {
  TempDir tmp;
  const std::string out = tmp.file("report");
  ReportInputs in = synthetic_inputs();
  // A run folder with pictures: they must be embedded in the HTML and copied for the Markdown.
  const std::string run_dir = tmp.file("run");
  std::filesystem::create_directories(run_dir);
  const std::string fake_png = std::string("\x89PNG\r\n\x1a\n", 8) + "not really";
  for (const char* f : {"samples.png", "reconstructions.png"}) std::ofstream(run_dir + "/" + f, std::ios::binary) << fake_png;
  in.trainings[0].dir = run_dir;
  write_report(in, out);
  const std::string html = slurp(out + "/report.html");
  // Nothing fetched from anywhere: the only URL is the SVG namespace.
  const std::regex url(R"(https?://[^"' )]+)");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), url); it != std::sregex_iterator(); ++it)
    EXPECT_EQ(it->str(), "http://www.w3.org/2000/svg");
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("src=\"samples.png\""), std::string::npos);
  EXPECT_NE(html.find("src=\"data:image/png;base64,iVBORw0KGg"), std::string::npos);
  size_t svgs = 0;
  const std::string root = "<svg xmlns=";  // a chart's own nested <svg> (its clip box) has no namespace
  for (size_t p = html.find(root); p != std::string::npos; p = html.find(root, p + 1)) ++svgs;
  EXPECT_EQ(svgs, 7u);  // the summary's bars, two throughput kinds, two loss curves, μ and σ
  const std::string md = slurp(out + "/report.md");
  const std::regex image(R"(!\[[^\]]*\]\(([^)]+)\))");
  int images = 0;
  for (auto it = std::sregex_iterator(md.begin(), md.end(), image); it != std::sregex_iterator(); ++it, ++images)
    EXPECT_TRUE(std::filesystem::exists(out + "/" + (*it)[1].str())) << (*it)[1].str();
  EXPECT_EQ(images, 9);
  EXPECT_EQ(slurp(out + "/samples.png"), fake_png);
}

TEST(ReportGenerator, ReplacesAnOlderFolderAndLeavesNothingOnBadInput) {
  TempDir tmp;
  const std::string out = tmp.file("report");
  std::filesystem::create_directories(out);
  std::ofstream(out + "/stale.txt") << "old";
  write_report(synthetic_inputs(), out);
  EXPECT_FALSE(std::filesystem::exists(out + "/stale.txt"));
  EXPECT_EQ(tmp.listing(), std::vector<std::string>{"report"});

  ReportInputs bad = synthetic_inputs();
  bad.bench = json{{"context", json::object()}};
  try {
    write_report(bad, tmp.file("bad"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--bench"), std::string::npos) << e.what();
  }
  bad = synthetic_inputs();
  bad.trainings.push_back({json{{"epochs", json::array()}}, "somewhere"});
  EXPECT_THROW(write_report(bad, tmp.file("bad")), Error);
  EXPECT_EQ(tmp.listing(), std::vector<std::string>{"report"});
}

// Through the vaebench binary, which links LibTorch (whose own std::filesystem::remove_all
// once crashed replacing a folder with content): written twice, the second replaces the first.
TEST(ReportCommand, WritesAndReplacesTheFolderAndExitsOneOnAFailedBenchmark) {
#ifndef VAEBENCH_EXE
  GTEST_SKIP() << "this build has no vaebench executable (VAE_WITH_TORCH=OFF)";
#else
  TempDir tmp;
  std::ofstream(tmp.file("bench.json")) << synthetic_bench().dump();
  std::ofstream(tmp.file("validation.json")) << synthetic_validation().dump();
  const std::string args = "report --bench " + tmp.file("bench.json") + " --out " + tmp.file("out");
  for (int i = 0; i < 2; ++i) {
    const auto r = vae::testing::vaebench(args);
    EXPECT_EQ(r.status, 1) << r.output;  // the broken benchmark
    EXPECT_NE(r.output.find("FAILED: a benchmark failed"), std::string::npos) << r.output;
    std::ofstream(tmp.file("out") + "/stale.txt") << "from the run before";
  }
  const auto r = vae::testing::vaebench(args + " --validation " + tmp.file("validation.json"));
  EXPECT_NE(r.output.find("FAILED: a backend failed validation"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(tmp.file("out") + "/stale.txt"));
  EXPECT_TRUE(std::filesystem::exists(tmp.file("out") + "/report.html"));
  EXPECT_EQ(tmp.listing(), (std::vector<std::string>{"bench.json", "out", "validation.json"}));
  const auto bad = vae::testing::vaebench("report --bench " + tmp.file("validation.json") + " --out " + tmp.file("x"));
  EXPECT_EQ(bad.status, 2) << bad.output;
  EXPECT_NE(bad.output.find("--bench: not Google Benchmark JSON"), std::string::npos) << bad.output;
#endif
}

TEST(ReportGenerator, DefaultFolderNameIsDateHostDevice) {
  json bench = synthetic_bench();
  EXPECT_EQ(default_report_name(bench), "2026-11-22-testhost-cpu");
  add_bench(bench, "train_step/libtorch-eager/cuda/fp32", 128, {0.001});
  bench["context"]["device_name.cuda"] = "NVIDIA H100 80GB HBM3";
  EXPECT_EQ(default_report_name(bench), "2026-11-22-testhost-nvidia-h100-80gb-hbm3");
}

TEST(BenchNames, FollowTheScheme) {
  const auto n = parse_bench_name("train_epoch/fused-cuda/cuda/fp32/batch:128/manual_time");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->kind, "train_epoch");
  EXPECT_EQ(n->backend, "fused-cuda");
  EXPECT_EQ(n->device, "cuda");
  EXPECT_EQ(n->precision, "fp32");
  EXPECT_EQ(n->batch, 128);
  EXPECT_TRUE(n->model.empty());
  const auto m = parse_bench_name("train_step/libtorch-eager/cpu/fp32/model:conv-mnist/batch:16/manual_time");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->model, "conv-mnist");
  EXPECT_EQ(m->batch, 16);
  EXPECT_FALSE(parse_bench_name("train_step/libtorch-eager/cpu/fp32/conv-mnist/batch:16"));
  EXPECT_FALSE(parse_bench_name("BM_Something/8"));
  EXPECT_FALSE(parse_bench_name("eval/x/cpu/fp32/batch:12x"));
}

TEST(Baseline, MannWhitneyMatchesScipy) {
  // Values from scipy.stats.mannwhitneyu (two-sided): exact without ties, asymptotic with them.
  EXPECT_NEAR(*mann_whitney_p({1, 2, 3, 4}, {5, 6, 7, 8}), 0.028571428571428571, 1e-12);
  EXPECT_NEAR(*mann_whitney_p({1.0, 1.1, 1.2, 1.3, 1.4, 1.5}, {1.25, 1.35, 1.6, 1.7, 1.8, 1.9}), 0.041125541125541126,
              1e-12);
  EXPECT_NEAR(*mann_whitney_p({1, 2, 2, 3, 4}, {2, 3, 5, 6, 7}), 0.11161176829829224, 1e-9);
  EXPECT_FALSE(mann_whitney_p({}, {1}));
}

TEST(Baseline, FlagsOnlyChangesBeyondTheNoise) {
  json old_doc = {{"benchmarks", json::array()}}, new_doc = {{"benchmarks", json::array()}};
  // 30% slower with about 1% noise, 5 repetitions each: flagged.
  add_bench(old_doc, "train_step/a/cpu/fp32", 128, {1.00, 1.01, 0.99, 1.00, 1.02});
  add_bench(new_doc, "train_step/a/cpu/fp32", 128, {1.30, 1.31, 1.29, 1.30, 1.32});
  // 2% faster inside 5% noise: not flagged.
  add_bench(old_doc, "train_step/b/cpu/fp32", 128, {1.00, 1.05, 0.95, 1.04, 0.96});
  add_bench(new_doc, "train_step/b/cpu/fp32", 128, {0.98, 1.03, 0.93, 1.02, 0.94});
  // 20% faster but only 2 repetitions: the noise band decides (no test possible).
  add_bench(old_doc, "train_step/c/cpu/fp32", 128, {1.00, 1.00});
  add_bench(new_doc, "train_step/c/cpu/fp32", 128, {0.80, 0.80});
  add_bench(old_doc, "train_step/gone/cpu/fp32", 128, {1.0});
  const BaselineComparison c = compare_with_baseline(read_bench_rows(old_doc, "old"), read_bench_rows(new_doc, "new"));
  ASSERT_EQ(c.rows.size(), 3u);
  EXPECT_TRUE(c.rows[0].flagged);
  EXPECT_EQ(c.rows[0].verdict, "slower");
  EXPECT_NEAR(c.rows[0].change, 0.30, 0.005);
  ASSERT_TRUE(c.rows[0].p);
  EXPECT_LT(*c.rows[0].p, 0.05);
  EXPECT_FALSE(c.rows[1].flagged);
  EXPECT_EQ(c.rows[1].verdict, "within noise");
  EXPECT_TRUE(c.rows[2].flagged);
  EXPECT_EQ(c.rows[2].verdict, "faster");
  EXPECT_FALSE(c.rows[2].p);
  EXPECT_EQ(c.only_old, std::vector<std::string>{"train_step/gone/cpu/fp32/batch:128/manual_time"});
}

TEST(TimeToQuality, CountsTrainingTimeUpToTheFirstEpochAtTheTarget) {
  const json h = synthetic_history("x", {120, 111, 109.9, 105}, 2.5);
  const json q = vae::time_to_quality(h["epochs"], 110);
  EXPECT_TRUE(q["reached"].get<bool>());
  EXPECT_EQ(q["epoch"], 3);
  EXPECT_DOUBLE_EQ(q["train_seconds"].get<double>(), 7.5);
  EXPECT_DOUBLE_EQ(q["wall_seconds"].get<double>(), 9.0);
  EXPECT_FALSE(vae::time_to_quality(h["epochs"], 100)["reached"].get<bool>());
}


// ---- data-parallel scaling: measured and modelled, kept apart -------------------------------

TEST(AllreduceModel, TheRingFormulaWithTheNamedLinks) {
  // 1 GB over 8 GPUs on NVLink: 2*7/8 * 1e9 / 450e9 + 14 * 1 us; 64 GPUs on InfiniBand NDR.
  EXPECT_NEAR(ring_allreduce_seconds(1e9, 8), 1.75e9 / 450e9 + 14e-6, 1e-12);
  EXPECT_NEAR(ring_allreduce_seconds(1e9, 64), 2.0 * 63 / 64 * 1e9 / 50e9 + 126 * 3e-6, 1e-12);
  EXPECT_EQ(ring_allreduce_seconds(1e9, 1), 0.0);
  EXPECT_NEAR(predicted_efficiency(0.01, 1e9, 8), 0.01 / (0.01 + ring_allreduce_seconds(1e9, 8)), 1e-15);
}

TEST(ReportGenerator, ScalingTableFromOneRunPerWorldSizeAndTheModelApart) {
  TempDir tmp;
  ReportInputs in = synthetic_inputs();
  in.bench["context"]["model"] = to_json(VaeConfig{}).dump();  // 784-400-20, as vaebench-bench writes it
  add_bench(in.bench, "train_step/libtorch-eager/cpu/fp32", 512, {0.010, 0.010, 0.010});  // 51.2k samples/s
  json two = {{"context", {{"data_parallel", json{{"world_size", 2}, {"engines", "gloo"}}.dump()}}},
              {"benchmarks", json::array()}};
  add_bench(two, "train_step/libtorch-eager/cpu/fp32", 512, {0.008, 0.008, 0.008});  // 64k: 1.25x, 62.5%
  in.scaling = {two};
  const std::string out = tmp.file("scaling");
  write_report(in, out);
  const std::string md = slurp(out + "/report.md");
  const std::string measured =
      section(md, "## Data-parallel scaling (measured)", "## Data-parallel scaling (a model, not a measurement)");
  EXPECT_NE(measured.find("| train_step | mlp | libtorch-eager | cpu | fp32 | 512 | 2 | 64000 | 1.25x | 62.5% |"),
            std::string::npos)
      << measured;
  EXPECT_NE(measured.find("| 512 | 1 | 51200 | 1.00x | 100.0% |"), std::string::npos) << measured;
  EXPECT_EQ(measured.find("GPUs (model)"), std::string::npos) << "no modelled figure among the measured ones";
  EXPECT_TRUE(std::filesystem::exists(out + "/scaling.svg"));
  const std::string modelled = section(md, "## Data-parallel scaling (a model, not a measurement)", "## Time to quality");
  // 784-400-20: 652,824 parameters, fp32: 2.49 MiB; at 8 GPUs 2*7/8*2611296 B / 450 GB/s + 14 us.
  const double bytes = 652824.0 * 4, t8 = 1.75 * bytes / 450e9 + 14e-6;
  char want[96];
  std::snprintf(want, sizeof want, "| 10.000 | 2.49 | %.3f ms, %.1f%% |", 1e3 * t8, 100.0 * 0.010 / (0.010 + t8));
  EXPECT_NE(modelled.find(want), std::string::npos) << want << "\n" << modelled;
  const json results = json::parse(slurp(out + "/results.json"));
  EXPECT_EQ(results["scaling"].size(), 2u);
  EXPECT_NEAR(results["allreduce_model"]["rows"][0]["predicted"]["8"]["allreduce_seconds"].get<double>(), t8, 1e-12);

  // Two documents of one world size are refused, naming the option.
  in.scaling = {two, two};
  try {
    write_report(in, tmp.file("twice"));
    ADD_FAILURE() << "two world-2 documents were accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--scaling: train_step/libtorch-eager/cpu/fp32/mlp/batch:512 was measured "
                                         "twice with world size 2"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace vae::report
