// vaebench-kernels check: every selected version against the double-precision reference.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>

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
          bool identical = true;
          for (const auto& other : runs)
            identical = identical && other[o].got.size() == r.got.size() &&
                        std::memcmp(other[o].got.data(), r.got.data(), r.got.size() * sizeof(float)) == 0;
          const bool pass_all = r.comparison.pass && identical;
          ++checks;
          failures += !pass_all;
          worst[int(v)] = std::max(worst[int(v)], r.comparison.percent_of_tolerance);
          std::string verdict = pass_all ? "PASS" : "FAIL";
          if (!identical) verdict += " (differs across " + std::string(selection.device == device::Kind::emu ? "thread orders)" : "runs)");
          if (!r.comparison.pass && r.comparison.worst_index >= 0)
            verdict += " (worst at element " + std::to_string(r.comparison.worst_index) + ")";
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

}  // namespace vae::bench::kernels
