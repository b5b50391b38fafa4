#include "cli/model_options.h"

#include <filesystem>

#include "common/build_info.h"
#include "common/error.h"

namespace vae::cli {

namespace {
const char* const kModelOptionNames[] = {"--hidden", "--decoder-hidden", "--latent", "--activation", "--likelihood",
                                         "--beta",   "--samples",        "--batch",  "--seed",       "--init"};
}

VaeConfig ModelOptions::config(int input_dim) const {
  VaeConfig c;
  c.input_dim = input_dim;
  c.encoder_hidden = parse_int_list(hidden, "--hidden");
  if (!decoder_hidden.empty()) c.decoder_hidden_override = parse_int_list(decoder_hidden, "--decoder-hidden");
  c.latent = latent;
  c.activation = parse_activation(activation);
  c.likelihood = parse_likelihood(likelihood);
  c.beta = beta;
  c.samples = samples;
  c.init = parse_init(init);
  c.seed = seed;
  c.validate();
  if (batch < 1 || batch > (1 << 20)) throw Error("--batch: " + std::to_string(batch) + " is out of range 1..1048576");
  return c;
}

std::string DataOptions::resolved_dir() const {
  if (!dir.empty()) return dir;
  const std::string d = default_data_dir(kind());
  if (std::filesystem::path(d).is_absolute()) return d;
  // The repo's data/ when run from anywhere inside a build of this checkout.
  const std::filesystem::path in_source = std::filesystem::path(VAE_SOURCE_DIR) / d;
  return std::filesystem::exists(in_source) ? in_source.string() : d;
}

Dataset DataOptions::load() const {
  binarize_mode();  // refuse a bad --binarize before the (slow) load
  return load_dataset(resolved_dir(), kind());
}

void add_model_options(CLI::App& app, ModelOptions& o) {
  app.add_option("--hidden", o.hidden, "Encoder hidden widths, comma list, input side first")->capture_default_str();
  app.add_option("--decoder-hidden", o.decoder_hidden, "Decoder hidden widths, latent side first (default: --hidden mirrored)");
  app.add_option("--latent", o.latent, "Latent size Z")->capture_default_str();
  app.add_option("--activation", o.activation, "relu|tanh, on every hidden layer")->capture_default_str();
  app.add_option("--likelihood", o.likelihood, "bernoulli (BCE with logits) | gaussian (unit variance, sigmoid mean)")
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
  app.add_option("--dataset", o.dataset, "mnist|fashion-mnist")->capture_default_str();
  app.add_option("--binarize", o.binarize, "none|static|dynamic")->capture_default_str();
}

bool any_model_option_given(const CLI::App& app) {
  for (const char* name : kModelOptionNames)
    if (app.count(name) > 0) return true;
  return false;
}

}  // namespace vae::cli
