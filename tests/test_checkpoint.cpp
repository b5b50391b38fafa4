// Checkpoints: round trip, readable by Python's safetensors with named tensors and the
// config in the metadata, and clear errors for files that are not (matching) checkpoints.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "model/checkpoint.h"
#include "model/layers.h"
#include "model/params.h"
#include "io/safetensors.h"

namespace vae {
namespace {

VaeConfig small() {
  VaeConfig c;
  c.input_dim = 6;
  c.encoder_hidden = {5, 4};
  c.latent = 3;
  c.activation = Activation::Tanh;
  c.seed = 9;
  return c;
}

Checkpoint initial() {
  Checkpoint c;
  c.config = small();
  c.params = init_params(c.config, ParamLayout(c.config));
  return c;
}

struct TempDir {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("vaebench-ckpt-" + std::to_string(getpid()));
  TempDir() { std::filesystem::create_directories(path); }
  ~TempDir() { std::filesystem::remove_all(path); }
};

std::string error_of(const std::string& path) {
  try {
    load_checkpoint(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Checkpoint, RoundTripInDoubleWithAdamState) {
  TempDir dir;
  Checkpoint c = initial();
  c.adam = AdamState{7, std::vector<double>(c.params.size(), 0.25), std::vector<double>(c.params.size(), 1e-9)};
  c.extra_metadata["epoch"] = "3";
  const std::string path = (dir.path / "a.safetensors").string();
  save_checkpoint(path, c, DType::F64);
  const Checkpoint back = load_checkpoint(path);
  EXPECT_EQ(to_json(back.config), to_json(c.config));
  EXPECT_EQ(back.params, c.params);
  ASSERT_TRUE(back.adam.has_value());
  EXPECT_EQ(back.adam->step, 7);
  EXPECT_EQ(back.adam->exp_avg, c.adam->exp_avg);
  EXPECT_EQ(back.adam->exp_avg_sq, c.adam->exp_avg_sq);
  EXPECT_EQ(back.extra_metadata.at("epoch"), "3");
}

TEST(Checkpoint, Float32RoundsOnce) {
  TempDir dir;
  Checkpoint c = initial();
  const std::string path = (dir.path / "f.safetensors").string();
  save_checkpoint(path, c, DType::F32);
  const Checkpoint back = load_checkpoint(path);
  for (size_t i = 0; i < c.params.size(); ++i) EXPECT_EQ(back.params[i], double(float(c.params[i])));
  EXPECT_FALSE(back.adam.has_value());
  EXPECT_EQ(read_safetensors(path).at("enc.0.weight").dtype, DType::F32);
}

TEST(Checkpoint, ErrorsNameTheFileAndProblem) {
  TempDir dir;
  Checkpoint c = initial();
  const std::string path = (dir.path / "c.safetensors").string();
  save_checkpoint(path, c, DType::F64);

  SafetensorsFile f = read_safetensors(path);
  SafetensorsFile no_format = f;
  no_format.metadata.erase("format");
  write_safetensors(path, no_format);
  EXPECT_NE(error_of(path).find(path + ": not a vaebench checkpoint"), std::string::npos);

  SafetensorsFile missing = f;
  missing.tensors.erase(missing.tensors.begin() + 2);  // enc.1.weight
  write_safetensors(path, missing);
  EXPECT_EQ(error_of(path), path + ": checkpoint has no tensor 'enc.1.weight'");

  SafetensorsFile wrong_config = f;
  nlohmann::json cfg = nlohmann::json::parse(f.metadata.at("config"));
  cfg["latent"] = 4;  // every head now has the wrong shape
  wrong_config.metadata["config"] = cfg.dump();
  write_safetensors(path, wrong_config);
  EXPECT_EQ(error_of(path), path + ": tensor 'enc.mu.weight' has shape [3,4], the config needs [4,4]");

  cfg["latent"] = 0;
  wrong_config.metadata["config"] = cfg.dump();
  write_safetensors(path, wrong_config);
  EXPECT_NE(error_of(path).find(path + ": --latent: 0 is out of range"), std::string::npos);

  EXPECT_THROW(save_checkpoint(path, Checkpoint{small(), {1.0, 2.0}, {}, {}}, DType::F64), Error);
}

TEST(Checkpoint, PythonSafetensorsOpensItWithNamedTensorsAndConfig) {
  if (std::string(VAE_PYTHON).empty()) GTEST_SKIP() << "no Python configured (VAE_PYTHON)";
  TempDir dir;
  Checkpoint c = initial();
  const std::string path = (dir.path / "py.safetensors").string();
  save_checkpoint(path, c, DType::F32);
  const std::string script =
      "import json,sys\n"
      "from safetensors import safe_open\n"
      "from safetensors.numpy import load_file\n"
      "t = load_file(sys.argv[1])\n"
      "meta = safe_open(sys.argv[1], framework='np').metadata()\n"
      "cfg = json.loads(meta['config'])\n"
      "assert cfg['hidden'] == [5, 4] and cfg['latent'] == 3 and cfg['activation'] == 'tanh', cfg\n"
      "assert t['enc.0.weight'].shape == (5, 6) and str(t['enc.0.weight'].dtype) == 'float32'\n"
      "assert t['dec.out.weight'].shape == (6, 5) and t['enc.mu.bias'].shape == (3,)\n"
      "print('python ok')\n";
  const std::string script_path = (dir.path / "check.py").string();
  FILE* fp = std::fopen(script_path.c_str(), "w");
  ASSERT_NE(fp, nullptr);
  std::fputs(script.c_str(), fp);
  std::fclose(fp);
  EXPECT_EQ(std::system((std::string(VAE_PYTHON) + " " + script_path + " " + path).c_str()), 0);
}

// A model with batch norm: the running statistics go in under nn.BatchNorm2d's state_dict
// names (num_batches_tracked an I64 scalar) and come back; a checkpoint without them, or with a
// float count, is refused naming the tensor.
TEST(Checkpoint, BatchNormRunningStatisticsRoundTripAsAStateDict) {
  TempDir dir;
  Checkpoint c;
  ModelSpec spec;
  spec.input = {1, 6, 6};
  spec.encoder = parse_layers("conv2k2s2p0+bn:relu", "encoder");
  spec.decoder = parse_layers("dense18x3x3:none,convT1k2s2p0:none", "decoder");
  spec.latent = 3;
  c.config.model = "bn-small";
  c.config.input_dim = 36;
  c.config.latent = 3;
  c.config.layers = std::make_shared<const ModelSpec>(std::move(spec));
  const ParamLayout layout(c.config);
  const BufferLayout& buffers = layout.model().buffers();
  c.params = init_params(c.config, layout);
  c.running_stats = buffers.initial_values();
  c.running_stats[buffers.view("enc.0.bn.running_mean").offset] = 0.125;
  c.running_stats[buffers.view("enc.0.bn.num_batches_tracked").offset] = 42;
  const std::string path = (dir.path / "bn.safetensors").string();
  save_checkpoint(path, c, DType::F32);
  const Checkpoint back = load_checkpoint(path);
  EXPECT_EQ(back.running_stats, c.running_stats);
  const SafetensorsFile f = read_safetensors(path);
  EXPECT_EQ(f.at("enc.0.bn.num_batches_tracked").dtype, DType::I64);
  EXPECT_TRUE(f.at("enc.0.bn.num_batches_tracked").shape.empty());
  EXPECT_EQ(f.at("enc.0.bn.running_var").dtype, DType::F32);

  SafetensorsFile without = f;
  without.tensors.erase(std::remove_if(without.tensors.begin(), without.tensors.end(),
                                       [](const Tensor& t) { return t.name == "enc.0.bn.running_var"; }),
                        without.tensors.end());
  write_safetensors(path, without);
  EXPECT_NE(error_of(path).find("no tensor 'enc.0.bn.running_var'"), std::string::npos) << error_of(path);
  SafetensorsFile float_count = f;
  for (Tensor& t : float_count.tensors)
    if (t.name == "enc.0.bn.num_batches_tracked") {
      const double v = 42;
      t = Tensor::from(t.name, {}, &v);
    }
  write_safetensors(path, float_count);
  EXPECT_NE(error_of(path).find("must be an I64 scalar"), std::string::npos) << error_of(path);
  c.running_stats.pop_back();
  EXPECT_THROW(save_checkpoint(path, c, DType::F32), Error);
}

}  // namespace
}  // namespace vae
