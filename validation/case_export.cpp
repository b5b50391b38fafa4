#include "case_export.h"

#include <nlohmann/json.hpp>

#include "backend_checks.h"
#include "model/layers.h"
#include "model/params.h"

namespace vae {

SafetensorsFile case_file(const ValidationCase& c, const CaseInputs& in, int adam_steps, const AdamOptions& adam) {
  const VaeConfig& cfg = c.config;
  const ParamLayout layout(cfg);
  SafetensorsFile f;
  f.tensors.push_back(Tensor::from("x", {c.batch, cfg.input_dim}, in.x.data()));
  f.tensors.push_back(Tensor::from("eps", {cfg.samples, c.batch, cfg.latent}, in.eps.data()));
  // The same noise per step as the built-in backends get (validation/backend_checks.h).
  std::vector<double> steps;
  for (int s = 1; s <= adam_steps; ++s) {
    const std::vector<double> e = adam_step_eps(c, s);
    steps.insert(steps.end(), e.begin(), e.end());
  }
  f.tensors.push_back(Tensor::from("adam.eps", {adam_steps, cfg.samples, c.batch, cfg.latent}, steps.data()));
  nlohmann::json names = nlohmann::json::array();
  for (const ParamView& v : layout.views()) {
    f.tensors.push_back(Tensor::from("param." + v.name, v.shape, in.params.data() + v.offset));
    names.push_back(v.name);
  }
  // Batch norm's running statistics at their initial values (nn.BatchNorm2d's), so the file
  // is the whole state_dict; num_batches_tracked F64 like every tensor here.
  nlohmann::json buffer_names = nlohmann::json::array();
  const std::vector<double> running = layout.model().buffers().initial_values();
  for (const BufferView& b : layout.model().buffers().views()) {
    f.tensors.push_back(Tensor::from("buffer." + b.name, b.shape, running.data() + b.offset));
    buffer_names.push_back(b.name);
  }
  nlohmann::json config = to_json(cfg);
  config["batch"] = c.batch;
  f.metadata["format"] = kCaseFormat;
  f.metadata["case"] = c.name;
  f.metadata["config"] = config.dump();
  // The objective the results are judged under, always written (the config carries it only
  // when it is not the default): what an implementation must compute.
  f.metadata["objective"] = to_json(cfg.objective, cfg.likelihood).dump();
  f.metadata["parameters"] = names.dump();
  if (!buffer_names.empty()) f.metadata["buffers"] = buffer_names.dump();
  f.metadata["adam"] = nlohmann::json{{"steps", adam_steps}, {"lr", adam.lr}, {"beta1", adam.beta1},
                                      {"beta2", adam.beta2}, {"eps", adam.eps}}.dump();
  f.metadata["x_source"] = in.x_source;
  return f;
}

}  // namespace vae
