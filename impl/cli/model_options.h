#pragma once
// The options every subcommand shares: the model (--hidden, --latent, ...) and the data
// (--data, --dataset, --binarize).
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "data/dataset.h"
#include "data/pixels.h"
#include "model/config.h"

namespace vae::cli {

struct ModelOptions {
  std::string hidden = "400";
  std::string decoder_hidden;  // empty: mirror --hidden
  int latent = 20;
  std::string activation = "relu";
  std::string likelihood = "bernoulli";
  double beta = 1.0;
  int samples = 1;
  int batch = 128;
  uint64_t seed = 0;
  std::string init = "torch";

  // Builds and validates the config; throws vae::Error naming the offending option.
  VaeConfig config(int input_dim) const;
};

struct DataOptions {
  std::string dir;  // empty: the dataset's default location
  std::string dataset = "mnist";
  std::string binarize = "none";

  DatasetKind kind() const { return parse_dataset_kind(dataset); }
  Binarize binarize_mode() const { return parse_binarize(binarize); }
  std::string resolved_dir() const;
  Dataset load() const;
};

void add_model_options(CLI::App& app, ModelOptions& options);
void add_data_options(CLI::App& app, DataOptions& options);

// True when the user set any model option on this subcommand's command line.
bool any_model_option_given(const CLI::App& app);

}  // namespace vae::cli
