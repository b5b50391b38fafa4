#include "cli/model_options.h"

#include <cmath>
#include <filesystem>
#include <iostream>

#include "common/build_info.h"
#include "common/error.h"
#include "model/layers.h"

namespace vae::cli {

namespace {
const char* const kModelOptionNames[] = {"--model", "--encoder", "--decoder", "--input-shape", "--hidden",
                                         "--decoder-hidden", "--latent", "--activation", "--likelihood",
                                         "--beta",   "--samples",        "--batch",  "--seed",       "--init",
                                         "--batch-reduction", "--pixel-reduction", "--bernoulli-input", "--prob-clamp",
                                         "--gaussian-constant", "--gaussian-half", "--sigma", "--kl-weight"};

// The layers of a preset or of --encoder/--decoder, for data of input_dim values per image.
std::shared_ptr<const ModelSpec> layers_for(const ModelOptions& o, int input_dim,
                                            const std::optional<std::array<int64_t, 3>>& data_shape) {
  const bool custom = !o.encoder.empty() || !o.decoder.empty();
  if (custom && (o.encoder.empty() || o.decoder.empty()))
    throw Error(std::string(o.encoder.empty() ? "--decoder" : "--encoder") + " given without " +
                (o.encoder.empty() ? "--encoder" : "--decoder") + ": a model given as layers needs both");
  if (custom && o.model != "mlp")
    throw Error("--model " + o.model + " and --encoder/--decoder both describe the model: give one of them");
  if (!custom && o.model == "mlp") {
    if (!o.input_shape.empty()) throw Error("--input-shape: only for a model given as layers (--encoder/--decoder)");
    return nullptr;
  }
  ModelSpec s;
  if (custom) {
    s.encoder = parse_layers(o.encoder, "--encoder");
    s.decoder = parse_layers(o.decoder, "--decoder");
    s.latent = o.latent.value_or(20);
    if (!o.input_shape.empty()) {
      s.input = parse_shape(o.input_shape, "--input-shape");
    } else if (data_shape) {
      s.input = Shape{(*data_shape)[0], (*data_shape)[1], (*data_shape)[2]};
    } else {
      const auto side = int64_t(std::llround(std::sqrt(double(input_dim))));
      if (side * side != input_dim)
        throw Error("--input-shape: the data has " + std::to_string(input_dim) +
                    " values per image, not a square; say its shape CxHxW");
      s.input = Shape{1, side, side};
    }
  } else {
    if (!o.input_shape.empty()) throw Error("--input-shape: --model " + o.model + " has its own input shape");
    s = preset_spec(o.model, o.latent);
  }
  if (s.input.numel() != input_dim)
    throw Error((custom ? "--input-shape " : "--model " + o.model + ": its input ") + s.input.str() + " has " +
                std::to_string(s.input.numel()) + " values per image, the data has " + std::to_string(input_dim));
  return std::make_shared<const ModelSpec>(std::move(s));
}
}  // namespace

int ModelOptions::natural_input_dim() const {
  if (!input_shape.empty()) return int(parse_shape(input_shape, "--input-shape").numel());
  if (model != "mlp" && encoder.empty() && decoder.empty()) return int(preset_spec(model).input.numel());
  return 784;
}

VaeConfig ModelOptions::config(const Split& data) const {
  return config(int(data.dim()), std::array<int64_t, 3>{int64_t(data.channels), int64_t(data.rows), int64_t(data.cols)});
}

VaeConfig ModelOptions::config(int input_dim, std::optional<std::array<int64_t, 3>> data_shape) const {
  VaeConfig c;
  c.input_dim = input_dim;
  c.layers = layers_for(*this, input_dim, data_shape);
  if (c.layers) c.model = encoder.empty() ? model : "custom";
  if (!c.layers) c.encoder_hidden = parse_int_list(hidden, "--hidden");
  if (!decoder_hidden.empty()) c.decoder_hidden_override = parse_int_list(decoder_hidden, "--decoder-hidden");
  c.latent = c.layers ? c.layers->latent : latent.value_or(20);
  c.activation = parse_activation(activation);
  c.likelihood = parse_likelihood(likelihood);
  c.objective = objective();
  c.beta = beta;
  c.samples = samples;
  c.init = parse_init(init);
  c.seed = seed;
  c.validate();
  if (batch < 1 || batch > (1 << 20)) throw Error("--batch: " + std::to_string(batch) + " is out of range 1..1048576");
  return c;
}

Objective ModelOptions::objective() const {
  Objective o;
  o.batch = parse_reduction(batch_reduction, "--batch-reduction");
  o.pixels = parse_reduction(pixel_reduction, "--pixel-reduction");
  o.bernoulli_input = parse_bernoulli_input(bernoulli_input);
  o.clamp = prob_clamp;
  o.gaussian_constant = parse_switch(gaussian_constant, "--gaussian-constant");
  o.gaussian_half = parse_switch(gaussian_half, "--gaussian-half");
  o.sigma = sigma;
  parse_kl_weight(kl_weight, o);
  return o;  // VaeConfig::validate checks it against the likelihood
}

ImageFolderOptions DataOptions::image_options() const {
  if (kind() != DatasetKind::Images) {
    const char* given = image_size ? "--image-size"
                        : image_crop ? "--image-crop"
                        : !image_cache.empty() ? "--image-cache"
                                               : nullptr;
    if (given) throw Error(std::string(given) + ": only used with --dataset images:DIR, not " + dataset);
  }
  // Negative values are refused here, before they turn into huge unsigned ones; the rest of
  // the range is check_image_folder_options's.
  auto take = [](const std::optional<int>& value, const char* name, size_t& target) {
    if (!value) return;
    if (*value < 1) throw Error(std::string(name) + ": " + std::to_string(*value) + " must be at least 1");
    target = size_t(*value);
  };
  ImageFolderOptions o;
  take(image_size, "--image-size", o.size);
  take(image_crop, "--image-crop", o.crop);
  o.cache_dir = image_cache;
  o.log = &std::cerr;
  check_image_folder_options(o);
  return o;
}

std::string DataOptions::resolved_dir() const {
  if (kind() == DatasetKind::Images) {
    if (!dir.empty()) throw Error("--data: not used with --dataset images:DIR (the folder is part of its value)");
    return image_folder_of(dataset);
  }
  if (!dir.empty()) return dir;
  const std::string d = default_data_dir(kind());
  if (std::filesystem::path(d).is_absolute()) return d;
  // The repo's data/ when run from anywhere inside a build of this checkout.
  const std::filesystem::path in_source = std::filesystem::path(VAE_SOURCE_DIR) / d;
  return std::filesystem::exists(in_source) ? in_source.string() : d;
}

Dataset DataOptions::load() const {
  binarize_mode();  // refuse a bad --binarize before the (slow) load
  const ImageFolderOptions images = image_options();  // refuses --image-* without images:DIR too
  if (kind() == DatasetKind::Images) return load_image_folder(resolved_dir(), images);
  return load_dataset(resolved_dir(), kind());
}

void add_model_options(CLI::App& app, ModelOptions& o) {
  app.add_option("--model", o.model, "mlp (--hidden, ...) | conv-mnist | conv-celeba64 (the seeds' convolutional VAEs)")
      ->capture_default_str();
  app.add_option("--encoder", o.encoder, "Encoder layers, e.g. conv32k4s2p1:relu,conv64k4s2p1+bn:relu (README: "
                                         "models as layers); with --decoder");
  app.add_option("--decoder", o.decoder, "Decoder layers, the last one the output, e.g. "
                                         "dense64x7x7:none,convT32k4s2p1:relu,convT1k4s2p1:none");
  app.add_option("--input-shape", o.input_shape, "CxHxW of the images for --encoder/--decoder (default: 1xNxN)");
  app.add_option("--hidden", o.hidden, "Encoder hidden widths, comma list, input side first")->capture_default_str();
  app.add_option("--decoder-hidden", o.decoder_hidden, "Decoder hidden widths, latent side first (default: --hidden mirrored)");
  app.add_option("--latent", o.latent, "Latent size Z (default 20; conv-celeba64: 256)");
  app.add_option("--activation", o.activation, "relu|tanh, on every hidden layer")->capture_default_str();
  app.add_option("--likelihood", o.likelihood,
                 "bernoulli | gaussian (sigmoid mean) | continuous-bernoulli (on sigmoid probabilities)")
      ->capture_default_str();
  // The objective as the code under test writes it (model/objective.h, docs/case-format.md).
  app.add_option("--batch-reduction", o.batch_reduction, "Objective: sum|mean of the per-image losses over the batch")
      ->capture_default_str();
  app.add_option("--pixel-reduction", o.pixel_reduction, "Objective: sum|mean of the per-pixel NLL over pixels")
      ->capture_default_str();
  app.add_option("--bernoulli-input", o.bernoulli_input,
                 "Objective, bernoulli: logits (BCE with logits) | probs (BCE on sigmoid probabilities)")
      ->capture_default_str();
  app.add_option("--prob-clamp", o.prob_clamp,
                 "Objective: probabilities clamped to [C, 1-C] (bernoulli probs, continuous-bernoulli; 0: none)")
      ->capture_default_str();
  app.add_option("--gaussian-constant", o.gaussian_constant, "Objective, gaussian: on|off, + log sigma + 0.5 log 2pi per pixel")
      ->capture_default_str();
  app.add_option("--gaussian-half", o.gaussian_half, "Objective, gaussian: on (0.5 (x-m)^2/sigma^2) | off ((x-m)^2/sigma^2)")
      ->capture_default_str();
  app.add_option("--sigma", o.sigma, "Objective, gaussian: the fixed standard deviation")->capture_default_str();
  app.add_option("--kl-weight", o.kl_weight,
                 "Objective: W multiplies beta*KL, or batch/N for B/N (PyTorch-VAE's M_N, N the training set's size)")
      ->capture_default_str();
  app.add_option("--beta", o.beta, "Weight of the KL term")->capture_default_str();
  app.add_option("--samples", o.samples, "K Monte-Carlo samples of z per image")->capture_default_str();
  app.add_option("--batch", o.batch, "Batch size")->capture_default_str();
  app.add_option("--seed", o.seed, "Seed for parameters, noise and data order")->capture_default_str();
  app.add_option("--init", o.init, "Parameter init: torch (nn.Linear default) | xavier")->capture_default_str();
}

void add_data_options(CLI::App& app, DataOptions& o) {
  app.add_option("--data", o.dir, "Directory with the four IDX files (.gz or raw) (default: data/mnist, or "
                                  "/usr/share/datasets/fashion-mnist)");
  app.add_option("--dataset", o.dataset,
                 "mnist|fashion-mnist|images:DIR (DIR: a folder of .jpg/.jpeg/.png files, e.g. CelebA's img_align_celeba)")
      ->capture_default_str();
  app.add_option("--binarize", o.binarize, "none|static|dynamic")->capture_default_str();
  app.add_option("--image-size", o.image_size, "images:DIR: side of the square RGB images the model sees (default 64)");
  app.add_option("--image-crop", o.image_crop,
                 "images:DIR: side of the centred square cut from each image before shrinking (default 148)");
  app.add_option("--image-cache", o.image_cache,
                 "images:DIR: folder for the decoded cache (default: DIR itself; use for a read-only DIR)");
}

bool any_model_option_given(const CLI::App& app) {
  for (const char* name : kModelOptionNames)
    if (app.count(name) > 0) return true;
  return false;
}

}  // namespace vae::cli
