// libFuzzer target: the command line's model and data options (the part of `vaebench` that
// turns user text into a model configuration). The input is split at NUL bytes into argv;
// any argv must give a valid configuration or a CLI11 parse error or a vae::Error naming
// the option -- never a crash, hang or an invalid config.
#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/model_options.h"
#include "common/error.h"
#include "model/params.h"

extern "C" int fuzz_cli_options_one(const uint8_t* data, size_t size) {
  std::vector<std::string> args = {"vaebench"};
  std::string current;
  for (size_t i = 0; i < size && args.size() < 64; ++i) {
    if (data[i] == 0) {
      args.push_back(current);
      current.clear();
    } else {
      current += char(data[i]);
    }
  }
  if (!current.empty()) args.push_back(current);
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());

  CLI::App app{"fuzz"};
  vae::cli::ModelOptions model;
  vae::cli::DataOptions data_options;
  vae::cli::add_model_options(app, model);
  vae::cli::add_data_options(app, data_options);
  try {
    app.parse(int(argv.size()), argv.data());
    const vae::VaeConfig config = model.config(784);
    // A config that passed validation must lay out parameters without overflow.
    const vae::ParamLayout layout(config);
    if (layout.total() == 0) __builtin_trap();
    (void)data_options.kind();
    (void)data_options.binarize_mode();
    (void)data_options.image_options();
  } catch (const CLI::Error&) {
  } catch (const vae::Error&) {
  }
  return 0;
}

#ifdef VAE_FUZZ_MAIN
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) { return fuzz_cli_options_one(data, size); }
#endif
