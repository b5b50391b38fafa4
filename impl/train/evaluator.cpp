#include "train/evaluator.h"

#include <algorithm>
#include <cmath>

#include "backend/libtorch_backend.h"
#include "libtorch/vae_math.h"
#include "common/error.h"
#include "model/layers.h"
#include "model/noise.h"

namespace vae {

namespace {

constexpr int64_t kEvalBatch = 1000;

std::vector<size_t> range(size_t begin, size_t end) {
  std::vector<size_t> v;
  for (size_t i = begin; i < end; ++i) v.push_back(i);
  return v;
}

std::vector<float> to_floats(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  return {c.data_ptr<float>(), c.data_ptr<float>() + c.numel()};
}

}  // namespace

Evaluator::Evaluator(const VaeConfig& config, const std::string& device, torch::Dtype dtype)
    : config_(config), layout_(config), device_(parse_torch_device(device)), dtype_(dtype) {}

torch::Tensor Evaluator::flat(const std::vector<double>& values) const {
  return torch::from_blob(const_cast<double*>(values.data()), {int64_t(values.size())}, torch::kFloat64)
      .to(device_, dtype_, false, true);
}

libtorch::ParamTensors Evaluator::views(const ModelState& state, torch::Tensor& flat_params,
                                        libtorch::BatchNormState& bn) const {
  const size_t want = layout_.model().buffers().total();
  if (state.running_stats.size() != want)
    throw Error("evaluation: the model's batch norm needs " + std::to_string(want) + " running statistics, got " +
                std::to_string(state.running_stats.size()));
  flat_params = flat(state.params);
  bn = want == 0 ? libtorch::BatchNormState{}
                 : libtorch::BatchNormState{libtorch::split_buffers(layout_.model().buffers(), flat(state.running_stats)), true};
  return libtorch::view_params(layout_, flat_params);
}

torch::Tensor Evaluator::images(const Split& split, const std::vector<size_t>& indices, Binarize binarize,
                                uint64_t binarize_seed) const {
  std::vector<double> x(indices.size() * split.dim());
  // Held-out data is binarized once (a fixed draw) so that epochs are comparable.
  if (binarize == Binarize::None) gather_scaled(split, indices, x.data());
  else gather_binarized(split, indices, Binarize::Static, binarize_seed, 0, x.data());
  return torch::from_blob(x.data(), {int64_t(indices.size()), int64_t(split.dim())}, torch::kFloat64)
      .to(device_, dtype_, false, true);
}

TestMetrics Evaluator::test_metrics(const ModelState& state, const Split& split, Binarize binarize,
                                    uint64_t binarize_seed, uint64_t noise_seed) const {
  torch::NoGradGuard no_grad;
  torch::Tensor f;
  libtorch::BatchNormState bn;
  const libtorch::ParamTensors p = views(state, f, bn);
  double recon = 0, kl = 0;
  std::vector<torch::Tensor> mus, sigmas;
  for (size_t begin = 0, chunk = 0; begin < split.count; begin += kEvalBatch, ++chunk) {
    const std::vector<size_t> idx = range(begin, std::min(split.count, begin + size_t(kEvalBatch)));
    const torch::Tensor x = images(split, idx, binarize, binarize_seed);
    torch::Tensor eps = torch::empty({config_.samples, int64_t(idx.size()), config_.latent}, torch::kFloat64);
    fill_eps(noise_seed, chunk, config_.samples, int(idx.size()), config_.latent, eps.data_ptr<double>());
    libtorch::Encoding e;
    const libtorch::Losses l = libtorch::forward(config_, p, x, eps.to(device_, dtype_), &e, bn);
    recon += l.recon.sum().item<double>();
    kl += l.kl.sum().item<double>();
    mus.push_back(e.mu.to(torch::kFloat64));
    sigmas.push_back(torch::exp(0.5 * e.logvar).to(torch::kFloat64));
  }
  const double n = double(split.count);
  TestMetrics m;
  m.recon = recon / n;
  m.kl = kl / n;
  m.loss = m.recon + config_.beta * m.kl;
  const torch::Tensor mu = torch::cat(mus), sigma = torch::cat(sigmas);
  m.mu_mean = mu.mean().item<double>();
  m.mu_rms = mu.square().mean().sqrt().item<double>();
  m.sigma_mean = sigma.mean().item<double>();
  m.active_units = int((mu.var(0, /*unbiased=*/false) > 0.01).sum().item<int64_t>());
  return m;
}

double Evaluator::iw_nll(const ModelState& state, const Split& split, Binarize binarize,
                         uint64_t binarize_seed, int samples, uint64_t noise_seed) const {
  torch::NoGradGuard no_grad;
  torch::Tensor f;
  libtorch::BatchNormState bn;
  const libtorch::ParamTensors p = views(state, f, bn);
  // Images per chunk so that the [S, n, D] logits stay near 64M values.
  const int64_t per_chunk = std::max<int64_t>(1, (int64_t(1) << 26) / (int64_t(samples) * int64_t(split.dim())));
  auto gen = at::detail::createCPUGenerator(noise_seed);
  double total = 0;
  for (size_t begin = 0; begin < split.count; begin += size_t(per_chunk)) {
    const std::vector<size_t> idx = range(begin, std::min(split.count, begin + size_t(per_chunk)));
    const torch::Tensor x = images(split, idx, binarize, binarize_seed);
    const torch::Tensor eps =
        torch::randn({samples, int64_t(idx.size()), config_.latent}, gen, torch::TensorOptions(torch::kFloat64));
    total += libtorch::iw_log_likelihood(config_, p, x, eps.to(device_, dtype_), bn).sum().item<double>();
  }
  return -total / double(split.count);
}

std::vector<float> Evaluator::encode_mean(const ModelState& state, const Split& split,
                                          const std::vector<size_t>& indices, Binarize binarize,
                                          uint64_t binarize_seed) const {
  torch::NoGradGuard no_grad;
  torch::Tensor f;
  libtorch::BatchNormState bn;
  const libtorch::ParamTensors p = views(state, f, bn);
  std::vector<float> out;
  for (size_t begin = 0; begin < indices.size(); begin += size_t(kEvalBatch)) {
    const std::vector<size_t> idx(indices.begin() + long(begin),
                                  indices.begin() + long(std::min(indices.size(), begin + size_t(kEvalBatch))));
    const std::vector<float> mu = to_floats(libtorch::encode(config_, p, images(split, idx, binarize, binarize_seed), bn).mu);
    out.insert(out.end(), mu.begin(), mu.end());
  }
  return out;
}

std::vector<float> Evaluator::decode_mean(const ModelState& state, const std::vector<float>& z) const {
  torch::NoGradGuard no_grad;
  torch::Tensor f;
  libtorch::BatchNormState bn;
  const libtorch::ParamTensors p = views(state, f, bn);
  const int64_t n = int64_t(z.size()) / config_.latent;
  const torch::Tensor zt = torch::from_blob(const_cast<float*>(z.data()), {n, config_.latent}, torch::kFloat32)
                               .to(device_, dtype_, false, true);
  return to_floats(torch::sigmoid(libtorch::decode_logits(config_, p, zt, bn)));
}

}  // namespace vae
