// vaebench-kernels check: every selected version against the double-precision reference.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>

#include "kernels/batch_norm/batch_norm_check.h"
#include "kernels/conv/conv_check.h"
#include "kernels_commands.h"

namespace vae::bench::kernels {

namespace gemm = vae::kernels::gemm;
using gemm::Activation;
using gemm::Pass;

namespace {

std::vector<Activation> activations_for(const std::string& choice, Pass pass) {
  if (choice == "all") return {Activation::identity, Activation::relu, Activation::tanh};
  if (choice == "identity") return {Activation::identity};
  if (choice == "relu") return {Activation::relu};
  if (choice == "tanh") return {Activation::tanh};
  // default: an epilogue that clips forward, a prologue that scales backward
  return {pass == Pass::forward ? Activation::relu : Activation::tanh};
}

std::vector<gemm::Version> versions(const Selection& s) {
  std::vector<gemm::Version> v;
  for (int i = gemm::kFirstVersion; i <= gemm::kLastVersion; ++i)
    if (!s.version || *s.version == i) v.push_back(gemm::Version(i));
  return v;
}

// Thread orders far apart (the executor mixes the seed again per block and phase).
std::uint64_t thread_order_seed(int i) { return 0x5eedull + 0x9e3779b97f4a7c15ull * std::uint64_t(i); }

// Whether output o came out bit for bit the same in every run.
bool identical_runs(const std::vector<std::vector<gemm::check::OutputResult>>& runs, std::size_t o) {
  for (const auto& run : runs)
    if (run[o].got.size() != runs[0][o].got.size() ||
        std::memcmp(run[o].got.data(), runs[0][o].got.data(), runs[0][o].got.size() * sizeof(float)) != 0)
      return false;
  return true;
}

// A table row's result: PASS, or FAIL with why (runs that differ, the worst element).
std::string row_verdict(const gemm::check::OutputResult& r, bool identical, device::Kind kind) {
  std::string verdict = r.comparison.pass && identical ? "PASS" : "FAIL";
  if (!identical) verdict += " (differs across " + std::string(kind == device::Kind::emu ? "thread orders)" : "runs)");
  if (!r.comparison.pass && r.comparison.worst_index >= 0)
    verdict += " (worst at element " + std::to_string(r.comparison.worst_index) + ")";
  return verdict;
}

std::string percent(double p) {
  if (!std::isfinite(p)) return "inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", p);
  return buf;
}

}  // namespace

std::vector<Case> cases(const Selection& s, Pass pass) {
  std::vector<Case> out;
  std::vector<gemm::check::Shape> shapes = s.shapes;
  if (shapes.empty()) {
    for (const gemm::check::Layer& l : gemm::check::default_model_layers())
      out.push_back({l.shape, l.activation, l.byte_input, l.name});
    shapes = gemm::check::odd_shapes();
  }
  for (const gemm::check::Shape& shape : shapes)
    for (Activation a : activations_for(s.activation, pass)) out.push_back({shape, a, false, "shape"});
  return out;
}

int check(const Selection& selection, int seeds) {
  const char* device_label = device::device_name(selection.device);
  std::printf("GEMM kernels on %s against double precision (tolerances: validation/tolerances.h gemm-fp32, gemm-tf32);"
              " %d %s per case must agree bit for bit\n\n",
              device_label, seeds, selection.device == device::Kind::emu ? "thread order(s)" : "run(s)");
  std::printf("%-21s %-4s %-8s %-13s %-5s %10s %10s %10s %8s  %s\n", "version", "op", "act", "shape M,N,K", "input",
              "max abs", "max rel", "norm-wise", "% tol", "result");
  int checks = 0, failures = 0;
  std::map<int, double> worst;  // version -> worst % of tolerance
  for (Pass pass : {Pass::forward, Pass::backward})
    for (const Case& c : cases(selection, pass)) {
      const gemm::check::Prepared prepared = gemm::check::prepare(pass, c.shape, c.activation, c.byte_input);
      for (gemm::Version v : versions(selection)) {
        std::vector<std::vector<gemm::check::OutputResult>> runs;
        std::string error;
        try {
          for (int i = 0; i < seeds; ++i) {
            device::Stream stream(selection.device, vae::emu::Options{thread_order_seed(i), 0});
            runs.push_back(gemm::check::run(stream, v, prepared));
          }
        } catch (const std::exception& e) {
          error = e.what();
        }
        if (!error.empty()) {
          ++checks, ++failures;
          std::printf("%-21s %-4s %-8s %-13s %-5s  FAIL: %s\n", gemm::version_name(v), pass == Pass::forward ? "y" : "*",
                      gemm::activation_name(c.activation), c.shape.label().c_str(), c.byte_input ? "u8" : "f32",
                      error.c_str());
          worst[int(v)] = INFINITY;
          continue;
        }
        for (std::size_t o = 0; o < runs[0].size(); ++o) {
          const gemm::check::OutputResult& r = runs[0][o];
          const bool identical = identical_runs(runs, o);
          const bool pass_all = r.comparison.pass && identical;
          ++checks;
          failures += !pass_all;
          worst[int(v)] = std::max(worst[int(v)], r.comparison.percent_of_tolerance);
          const std::string verdict = row_verdict(r, identical, selection.device);
          std::printf("%-21s %-4s %-8s %-13s %-5s %10.3g %10.3g %10.3g %8s  %s\n", gemm::version_name(v), r.output.c_str(),
                      gemm::activation_name(c.activation), c.shape.label().c_str(), c.byte_input ? "u8" : "f32",
                      r.comparison.max_abs, r.comparison.max_rel, r.comparison.norm_rel,
                      percent(r.comparison.percent_of_tolerance).c_str(), verdict.c_str());
        }
      }
      std::fflush(stdout);
    }
  std::printf("\nworst %% of tolerance by version:");
  for (const auto& [v, w] : worst) std::printf("  v%d %s", v, percent(w).c_str());
  std::printf("\n%d checks, %d failed: %s\n", checks, failures, failures ? "FAIL" : "PASS");
  return failures ? 1 : 0;
}

namespace {

// One row group of a family's table: a case in one pass, prepared once, run by any version.
struct FamilyItem {
  std::string label, what;  // the case as its option takes it; the pass and where it comes from
  std::function<std::vector<gemm::check::OutputResult>(const device::Stream&, int version)> run;
};

struct Family {
  const char* name;            // "conv"
  const char* judge;           // what the table is judged against
  const char* case_heading;    // "case B:CxHxW:layer"
  int first_version, last_version;
  const char* (*version_name)(int);
  std::vector<FamilyItem> items;
};

// Every selected version on every item, `seeds` times (thread orders or runs) that must agree
// bit for bit; one table row per output. Returns the exit status.
int check_family(const Family& f, const Selection& selection, int seeds) {
  std::printf("%s kernels on %s against %s (tolerances: validation/tolerances.h's GEMM bounds at each version's "
              "precision, n = each output's sum length); %d %s per case must agree bit for bit\n\n",
              f.name, device::device_name(selection.device), f.judge, seeds,
              selection.device == device::Kind::emu ? "thread order(s)" : "run(s)");
  std::printf("%-21s %-19s %-34s %-26s %10s %10s %10s %8s  %s\n", "version", "out", f.case_heading, "what", "max abs",
              "max rel", "norm-wise", "% tol", "result");
  int checks = 0, failures = 0;
  std::map<int, double> worst;
  for (const FamilyItem& item : f.items) {
    for (int v = f.first_version; v <= f.last_version; ++v) {
      if (selection.version && *selection.version != v) continue;
      std::vector<std::vector<gemm::check::OutputResult>> runs;
      std::string error;
      try {
        for (int i = 0; i < seeds; ++i) {
          device::Stream stream(selection.device, vae::emu::Options{thread_order_seed(i), 0});
          runs.push_back(item.run(stream, v));
        }
      } catch (const std::exception& e) {
        error = e.what();
      }
      if (!error.empty()) {
        ++checks, ++failures;
        worst[v] = INFINITY;
        std::printf("%-21s %-19s %-34s FAIL: %s\n", f.version_name(v), "*", item.label.c_str(), error.c_str());
        continue;
      }
      for (std::size_t o = 0; o < runs[0].size(); ++o) {
        const gemm::check::OutputResult& r = runs[0][o];
        const bool identical = identical_runs(runs, o);
        const bool pass_all = r.comparison.pass && identical;
        ++checks;
        failures += !pass_all;
        worst[v] = std::max(worst[v], r.comparison.percent_of_tolerance);
        const std::string verdict = row_verdict(r, identical, selection.device);
        std::printf("%-21s %-19s %-34s %-26.26s %10.3g %10.3g %10.3g %8s  %s\n", f.version_name(v), r.output.c_str(),
                    item.label.c_str(), item.what.c_str(), r.comparison.max_abs, r.comparison.max_rel,
                    r.comparison.norm_rel, percent(r.comparison.percent_of_tolerance).c_str(), verdict.c_str());
      }
    }
    std::fflush(stdout);
  }
  std::printf("\nworst %% of tolerance by version:");
  for (const auto& [v, w] : worst) std::printf("  v%d %s", v, percent(w).c_str());
  std::printf("\n%d checks, %d failed: %s\n", checks, failures, failures ? "FAIL" : "PASS");
  return failures ? 1 : 0;
}

}  // namespace

int check_conv(const Selection& selection, int seeds) {
  namespace conv = vae::kernels::conv;
  std::vector<conv::check::Case> cases = selection.conv_cases;
  if (cases.empty()) {
    cases = conv::check::preset_layers(selection.batch);
    for (const conv::check::Case& c : conv::check::odd_cases()) cases.push_back(c);
  }
  Family f{"conv", "the double-precision reference layers", "case B:CxHxW:layer", conv::kFirstVersion,
           conv::kLastVersion, [](int v) { return conv::version_name(conv::Version(v)); }, {}};
  for (conv::Pass pass : {conv::Pass::forward, conv::Pass::backward})
    for (const conv::check::Case& c : cases) {
      auto prepared = std::make_shared<const conv::check::Prepared>(conv::check::prepare(pass, c));
      f.items.push_back({c.label(),
                         std::string(pass == conv::Pass::forward ? "forward " : "backward ") + c.name +
                             (c.byte_input ? ", u8" : ""),
                         [prepared](const device::Stream& s, int v) {
                           return conv::check::run(s, conv::version_from_int(v), *prepared);
                         }});
    }
  return check_family(f, selection, seeds);
}

int check_batch_norm(const Selection& selection, int seeds) {
  namespace bn = vae::kernels::batch_norm;
  std::vector<bn::check::Case> cases = selection.bn_cases;
  if (cases.empty()) {
    cases = bn::check::preset_layers(selection.batch);
    for (const bn::check::Case& c : bn::check::odd_cases()) cases.push_back(c);
  }
  Family f{"batch_norm", "the double-precision BatchNorm2d", "case B:C:HW:act", bn::kFirstVersion, bn::kLastVersion,
           [](int v) { return bn::version_name(bn::Version(v)); }, {}};
  for (bn::check::Pass pass : {bn::check::Pass::train_forward, bn::check::Pass::eval_forward, bn::check::Pass::backward})
    for (const bn::check::Case& c : cases) {
      auto prepared = std::make_shared<const bn::check::Prepared>(bn::check::prepare(pass, c));
      f.items.push_back({c.label(), std::string(bn::check::pass_name(pass)) + " " + c.name,
                         [prepared](const device::Stream& s, int v) {
                           return bn::check::run(s, bn::version_from_int(v), *prepared);
                         }});
    }
  return check_family(f, selection, seeds);
}

}  // namespace vae::bench::kernels
