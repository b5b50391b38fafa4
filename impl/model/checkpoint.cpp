#include "model/checkpoint.h"

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "model/layers.h"
#include "model/params.h"

namespace vae {

namespace {

constexpr const char* kFormat = "vaebench checkpoint v1";

Tensor make_tensor(const std::string& name, std::vector<int64_t> shape, const double* values, size_t n,
                   DType dtype) {
  if (dtype == DType::F64) return Tensor::from(name, std::move(shape), values);
  if (dtype != DType::F32) throw Error("checkpoint " + name + ": dtype must be F32 or F64, got " + to_string(dtype));
  const std::vector<float> f(values, values + n);
  return Tensor::from(name, std::move(shape), f.data());
}

std::vector<double> read_tensor(const SafetensorsFile& f, const std::string& path, const std::string& name,
                                const std::vector<int64_t>& shape, bool is_count = false) {
  const Tensor* t = f.find(name);
  if (!t) throw Error(path + ": checkpoint has no tensor '" + name + "'");
  if (t->shape != shape)
    throw Error(path + ": tensor '" + name + "' has shape " + shape_text(t->shape) + ", the config needs " +
                shape_text(shape));
  if (is_count && t->dtype != DType::I64)
    throw Error(path + ": tensor '" + name + "' must be an I64 scalar (num_batches_tracked), is " +
                to_string(t->dtype) + " " + shape_text(t->shape));
  if (!is_count && t->dtype != DType::F32 && t->dtype != DType::F64)
    throw Error(path + ": tensor '" + name + "' is " + to_string(t->dtype) + ", expected F32 or F64");
  return t->to_double();
}

}  // namespace

void save_checkpoint(const std::string& path, const Checkpoint& c, DType dtype) {
  const ParamLayout layout(c.config);
  if (c.params.size() != layout.total())
    throw Error(path + ": checkpoint has " + std::to_string(c.params.size()) + " parameters, the config needs " +
                std::to_string(layout.total()));
  const BufferLayout& buffers = layout.model().buffers();
  if (c.running_stats.size() != buffers.total())
    throw Error(path + ": checkpoint has " + std::to_string(c.running_stats.size()) +
                " batch-norm running statistics, the config needs " + std::to_string(buffers.total()));
  SafetensorsFile f;
  for (const ParamView& v : layout.views())
    f.tensors.push_back(make_tensor(v.name, v.shape, c.params.data() + v.offset, v.size, dtype));
  for (const BufferView& b : buffers.views()) {
    if (b.is_count()) {
      const int64_t count = int64_t(c.running_stats[b.offset]);
      f.tensors.push_back(Tensor::from(b.name, b.shape, &count));
    } else {
      f.tensors.push_back(make_tensor(b.name, b.shape, c.running_stats.data() + b.offset, b.size, dtype));
    }
  }
  f.metadata = c.extra_metadata;
  f.metadata["format"] = kFormat;
  f.metadata["config"] = to_json(c.config).dump();
  f.metadata["step"] = std::to_string(c.adam ? c.adam->step : 0);
  if (c.adam) {
    const int64_t n = int64_t(layout.total());
    if (c.adam->exp_avg.size() != layout.total() || c.adam->exp_avg_sq.size() != layout.total())
      throw Error(path + ": Adam state does not match the parameter count " + std::to_string(n));
    // The optimizer state stays in double: it is what makes a resumed run bitwise identical.
    f.tensors.push_back(Tensor::from("adam.exp_avg", {n}, c.adam->exp_avg.data()));
    f.tensors.push_back(Tensor::from("adam.exp_avg_sq", {n}, c.adam->exp_avg_sq.data()));
  }
  write_safetensors(path, f);
}

Checkpoint load_checkpoint(const std::string& path) {
  const SafetensorsFile f = read_safetensors(path);
  const auto format = f.metadata.find("format");
  if (format == f.metadata.end() || format->second != kFormat)
    throw Error(path + ": not a vaebench checkpoint (metadata 'format' is missing or not '" + kFormat + "')");
  const auto config = f.metadata.find("config");
  if (config == f.metadata.end()) throw Error(path + ": checkpoint metadata has no 'config'");
  Checkpoint c;
  try {
    c.config = config_from_json(nlohmann::json::parse(config->second));
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": checkpoint config is not valid JSON: " + e.what());
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  const ParamLayout layout(c.config);
  c.params.resize(layout.total());
  for (const ParamView& v : layout.views()) {
    const std::vector<double> values = read_tensor(f, path, v.name, v.shape);
    std::copy(values.begin(), values.end(), c.params.begin() + long(v.offset));
  }
  const BufferLayout& buffers = layout.model().buffers();
  c.running_stats.resize(buffers.total());
  for (const BufferView& b : buffers.views()) {
    const std::vector<double> values = read_tensor(f, path, b.name, b.shape, b.is_count());
    std::copy(values.begin(), values.end(), c.running_stats.begin() + long(b.offset));
  }
  if (f.find("adam.exp_avg") || f.find("adam.exp_avg_sq")) {
    AdamState s;
    const std::vector<int64_t> flat{int64_t(layout.total())};
    s.exp_avg = read_tensor(f, path, "adam.exp_avg", flat);
    s.exp_avg_sq = read_tensor(f, path, "adam.exp_avg_sq", flat);
    try {
      s.step = std::stoll(f.metadata.at("step"));
    } catch (const std::exception&) {
      throw Error(path + ": checkpoint has Adam state but no valid 'step' in its metadata");
    }
    c.adam = std::move(s);
  }
  for (const auto& [key, value] : f.metadata)
    if (key != "format" && key != "config" && key != "step") c.extra_metadata[key] = value;
  return c;
}

}  // namespace vae
