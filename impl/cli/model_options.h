#pragma once
// The options every subcommand shares: the model (--hidden, --latent, ...) and the data
// (--data, --dataset, --binarize, and for a folder of images --image-size, --image-crop, --image-cache).
#include <array>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "data/dataset.h"
#include "data/image_folder.h"
#include "data/pixels.h"
#include "model/config.h"

namespace vae::cli {

struct ModelOptions {
  std::string model = "mlp";   // a preset of model/layers.h: mlp | conv-mnist | conv-celeba64
  std::string encoder, decoder;  // layers as text (model/layers.h): a custom model (both, or neither)
  std::string input_shape;     // CxHxW for --encoder/--decoder (default: the data's, 1xNxN for N*N values)
  std::string hidden = "400";
  std::string decoder_hidden;  // empty: mirror --hidden
  std::optional<int> latent;   // unset: 20, or the preset's (conv-celeba64: 256)
  std::string activation = "relu";
  std::string likelihood = "bernoulli";
  double beta = 1.0;
  int samples = 1;
  int batch = 128;
  uint64_t seed = 0;
  std::string init = "torch";
  // The objective (model/objective.h); unset: the default's.
  std::string batch_reduction = "sum", pixel_reduction = "sum", bernoulli_input = "logits";
  double prob_clamp = 0;
  std::string gaussian_constant = "on", gaussian_half = "on";
  double sigma = 1;
  std::string kl_weight = "1";

  Objective objective() const;  // throws vae::Error naming the option

  // Builds and validates the config; throws vae::Error naming the offending option.
  // data_shape (C, H, W of the data's images), when known, is the input of --encoder/--decoder
  // without --input-shape; else 1xNxN for N*N values.
  VaeConfig config(int input_dim, std::optional<std::array<int64_t, 3>> data_shape = std::nullopt) const;
  // The same for the images of `data`.
  VaeConfig config(const Split& data) const;
  // Values per image of the model asked for when there is no data to ask: a preset's input,
  // --input-shape's, else MNIST's 784.
  int natural_input_dim() const;
};

struct DataOptions {
  std::string dir;  // empty: the dataset's default location
  std::string dataset = "mnist";
  std::string binarize = "none";
  // Only with --dataset images:DIR (unset: the defaults of ImageFolderOptions).
  std::optional<int> image_size;   // unset: 64
  std::optional<int> image_crop;   // unset: 148
  std::string image_cache;         // empty: beside the images

  DatasetKind kind() const { return parse_dataset_kind(dataset); }
  Binarize binarize_mode() const { return parse_binarize(binarize); }
  // Throws vae::Error naming the option for a value out of range, or for an --image-* option
  // given with another dataset (it would be ignored). Progress goes to std::cerr.
  ImageFolderOptions image_options() const;
  // images:DIR: DIR (--data is refused with it); otherwise --data or the dataset's default.
  std::string resolved_dir() const;
  Dataset load() const;
};

void add_model_options(CLI::App& app, ModelOptions& options);
void add_data_options(CLI::App& app, DataOptions& options);

// True when the user set any model option on this subcommand's command line.
bool any_model_option_given(const CLI::App& app);

}  // namespace vae::cli
