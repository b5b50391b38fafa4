// vaebench cases export DIR: every validation case as a file that any framework can read
// (docs/case-format.md), for implementations outside this repository; their results come
// back through `vaebench validate --external NAME=DIR`.
#include <filesystem>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "case_export.h"
#include "cli/case_selection.h"
#include "cli/commands.h"
#include "common/error.h"
#include "io/safetensors.h"

namespace vae::cli {

namespace {

struct CasesExportOptions {
  std::string dir;
  std::string matrix = "all";
  std::string case_name;
  int adam_steps = 10;
  ModelOptions model;
  DataOptions data;
};

int run_cases_export(const CLI::App& app, const CasesExportOptions& o) {
  if (o.adam_steps < 0 || o.adam_steps > 1000)
    throw Error("--adam-steps: " + std::to_string(o.adam_steps) + " is out of range 0..1000");
  const Binarize binarize = o.data.binarize_mode();
  const Dataset data = o.data.load();
  const std::vector<ValidationCase> cases = selected_cases(app, o.model, o.matrix, o.case_name, int(data.test.dim()));
  std::error_code ec;
  std::filesystem::create_directories(o.dir, ec);
  if (ec) throw Error(o.dir + ": cannot create the folder: " + ec.message());
  const AdamOptions adam;  // what the built-in backends are checked with
  uintmax_t bytes = 0;
  for (const ValidationCase& c : cases) {
    const std::string path = (std::filesystem::path(o.dir) / (c.name + ".safetensors")).string();
    // Each file is written atomically, so an interrupted export leaves whole files only.
    write_safetensors(path, case_file(c, make_inputs(c, &data, binarize), o.adam_steps, adam));
    bytes += std::filesystem::file_size(path);
    std::cout << "  " << c.name << ": " << c.config.summary() << ", B=" << c.batch << "\n";
  }
  std::cout << "wrote " << cases.size() << " case(s), " << (bytes + (1 << 19)) / (1 << 20) << " MiB, to " << o.dir
            << " (" << data.identity << ", " << o.adam_steps << " Adam steps)\n"
            << "next: compute each case (docs/case-format.md), write DIR/<case>.safetensors, then\n"
            << "  vaebench validate --external NAME=DIR"
            << (app.get_option("--matrix")->count() ? " --matrix " + o.matrix : std::string())
            << (o.adam_steps != 10 ? " --adam-steps " + std::to_string(o.adam_steps) : std::string())
            << " [the same model and data options]\n";
  return 0;
}

struct CasesWriteOptions {
  std::string path, config_path;
  int batch = 16;
  int adam_steps = 10;
};

// One case of a configuration given as JSON (the "config" of a case file's metadata: the
// layer list, likelihood, objective, seed), with synthetic inputs: what the Python package
// asks for, having read the layer list from a module.
int run_cases_write(const CasesWriteOptions& o) {
  if (o.adam_steps < 0 || o.adam_steps > 1000)
    throw Error("--adam-steps: " + std::to_string(o.adam_steps) + " is out of range 0..1000");
  if (o.batch < 1 || o.batch > 100000) throw Error("--batch: " + std::to_string(o.batch) + " is out of range 1..100000");
  std::ifstream in(o.config_path);
  if (!in) throw Error("--config " + o.config_path + ": cannot read the file");
  VaeConfig config;
  try {
    config = config_from_json(nlohmann::json::parse(in));
  } catch (const nlohmann::json::exception& e) {
    throw Error("--config " + o.config_path + ": not a vaebench configuration: " + e.what());
  } catch (const Error& e) {
    throw Error("--config " + o.config_path + ": " + e.what());
  }
  const ValidationCase c{std::filesystem::path(o.path).stem().string(), config, o.batch};
  write_safetensors(o.path, case_file(c, make_inputs(c, nullptr, Binarize::None), o.adam_steps, AdamOptions{}));
  std::cout << "wrote " << o.path << ": " << config.summary() << ", B=" << o.batch << "\n";
  return 0;
}

}  // namespace

Subcommand add_cases_command(CLI::App& app) {
  CLI::App* cases = app.add_subcommand("cases", "Validation cases as files, for implementations outside vaebench");
  cases->require_subcommand(1);
  auto o = std::make_shared<CasesExportOptions>();
  CLI::App* sub = cases->add_subcommand(
      "export", "Write each validation case (inputs, noise, initial parameters, configuration) as DIR/<case>.safetensors "
                "(docs/case-format.md)");
  sub->add_option("DIR", o->dir, "Folder for the case files (created if needed)")->required();
  sub->add_option("--matrix", o->matrix, "backend, reference or all (ignored with model options)")->capture_default_str();
  sub->add_option("--case", o->case_name, "Only the cases of these names (comma list, e.g. default-b1,default-b128)");
  sub->add_option("--adam-steps", o->adam_steps, "Adam steps whose noise is included (adam.eps)")->capture_default_str();
  add_model_options(*sub, o->model);
  add_data_options(*sub, o->data);
  auto w = std::make_shared<CasesWriteOptions>();
  CLI::App* write = cases->add_subcommand(
      "write", "Write one case of a configuration given as JSON (a case file's \"config\") with synthetic inputs "
               "U[0,1) to FILE; its name is FILE's stem");
  write->add_option("FILE", w->path, "The case file to write (.safetensors)")->required();
  write->add_option("--config", w->config_path, "The configuration, a JSON file")->required()->check(CLI::ExistingFile);
  write->add_option("--batch", w->batch, "Images in the case")->capture_default_str();
  write->add_option("--adam-steps", w->adam_steps, "Adam steps whose noise is included (adam.eps)")->capture_default_str();
  return {cases, [sub, o, write, w]() { return sub->parsed() ? run_cases_export(*sub, *o) : run_cases_write(*w); }};
}

}  // namespace vae::cli
