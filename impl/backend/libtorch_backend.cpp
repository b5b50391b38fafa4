#include "backend/libtorch_backend.h"

#include "model/layers.h"

#if VAE_TORCH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include <ATen/Context.h>

#include "common/device_names.h"
#include "common/error.h"
#include "common/precision.h"
#include "cuda/device_info.h"
#include "libtorch/vml_dispatch.h"
#include "model/noise.h"

namespace vae {

TorchPrecision parse_torch_precision(const std::string& precision, const std::string& device) {
  switch (parse_precision(precision)) {
    case Precision::fp64: return {precision, torch::kFloat64, false, std::nullopt};
    case Precision::fp32: return {precision, torch::kFloat32, false, std::nullopt};
    case Precision::tf32:
      if (!is_gpu_device(device))
        throw Error("--precision tf32: TF32 is a tensor-core format of NVIDIA GPUs; use it with --device cuda");
      return {precision, torch::kFloat32, true, std::nullopt};
    case Precision::bf16:
      // fp32 master parameters and Adam; autocast's bf16 for the products (cuBLAS's own
      // TF32 switch is moot there: its operands are bf16 already).
      return {precision, torch::kFloat32, false, torch::kBFloat16};
  }
  throw std::logic_error("unhandled precision");
}

torch::Device parse_torch_device(const std::string& device) {
  if (device == "cpu") return torch::Device(torch::kCPU);
  if (device == "cuda") return torch::Device(torch::kCUDA, 0);
  if (device.rfind("cuda:", 0) == 0) {
    try {
      return torch::Device(device);
    } catch (const std::exception&) {
    }
  }
  throw Error("--device: '" + device + "' is not a device; use cpu, cuda or cuda:N");
}

bool torch_cuda_usable(std::string& reason) {
  if (torch::cuda::is_available()) return true;
  const CudaInfo info = query_cuda();
  reason = "LibTorch sees no CUDA device (" +
           (info.unavailable_reason.empty() ? std::string("torch::cuda::is_available() is false")
                                             : info.unavailable_reason) +
           ")";
  return false;
}

LibTorchBackend::LibTorchBackend(const VaeConfig& config, const std::string& device, const std::string& precision)
    : Backend(config), device_(parse_torch_device(device)), precision_(parse_torch_precision(precision, device)) {
  libtorch::resolve_mkl_vml_dispatch();  // before any CPU op of any LibTorch backend (vml_dispatch.h)
  if (device_.is_cuda()) {
    std::string reason;
    if (!torch_cuda_usable(reason)) throw Error("--device " + device + ": " + reason);
    if (device_.index() >= int(torch::cuda::device_count()))
      throw Error("--device " + device + ": this machine has " + std::to_string(torch::cuda::device_count()) +
                  " CUDA device(s)");
  }
  LibTorchBackend::set_params_impl(init_params(config, layout()));
  const BufferLayout& buffers = layout().model().buffers();
  const std::vector<double> initial = buffers.initial_values();
  if (!initial.empty()) running_ = libtorch::split_buffers(buffers, to_device(initial, {int64_t(initial.size())}));
}

libtorch::BatchNormState LibTorchBackend::batch_norm_state(BatchNormMode mode) const {
  if (mode == BatchNormMode::BatchStats) return {};
  return {running_, mode == BatchNormMode::RunningStats};
}

std::vector<double> LibTorchBackend::running_stats_impl() const {
  return running_.empty() ? std::vector<double>{} : to_host(libtorch::join_buffers(running_));
}

void LibTorchBackend::set_running_stats_impl(const std::vector<double>& stats) {
  if (running_.empty()) return;
  torch::NoGradGuard no_grad;
  const std::vector<torch::Tensor> values =
      libtorch::split_buffers(layout().model().buffers(), to_device(stats, {int64_t(stats.size())}));
  for (size_t i = 0; i < running_.size(); ++i) running_[i].copy_(values[i]);  // in place (captured graphs)
}

torch::Tensor LibTorchBackend::to_device(const std::vector<double>& v, std::vector<int64_t> shape) const {
  const torch::Tensor host = torch::from_blob(const_cast<double*>(v.data()), shape, torch::kFloat64);
  return host.to(options(), /*non_blocking=*/false, /*copy=*/true);  // copy: never alias the caller's vector
}

std::vector<double> LibTorchBackend::to_host(const torch::Tensor& t) {
  const torch::Tensor h = t.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  return {h.data_ptr<double>(), h.data_ptr<double>() + h.numel()};
}

libtorch::PrecisionScope LibTorchBackend::precision_scope(bool autocast_cache) const {
  return libtorch::PrecisionScope(device_, precision_.allow_tf32, precision_.autocast, autocast_cache);
}

void LibTorchBackend::set_params_impl(const std::vector<double>& flat) {
  const torch::Tensor values = to_device(flat, {int64_t(flat.size())});
  // In place once allocated: a captured CUDA graph keeps pointing at these tensors.
  if (flat_.defined()) {
    torch::NoGradGuard no_grad;
    flat_.copy_(values);
  } else {
    flat_ = values;
    for (const ParamView& v : layout().views())
      params_.push_back(flat_.narrow(0, int64_t(v.offset), int64_t(v.size)).view(v.shape).detach().requires_grad_(true));
  }
  set_adam_state_impl({0, std::vector<double>(flat.size(), 0.0), std::vector<double>(flat.size(), 0.0)});
}

std::vector<double> LibTorchBackend::params_impl() const { return to_host(flat_); }

AdamState LibTorchBackend::adam_state_impl() const {
  return {adam_steps_, to_host(adam_.exp_avg), to_host(adam_.exp_avg_sq)};
}

void LibTorchBackend::set_adam_state_impl(const AdamState& s) {
  const int64_t n = flat_.numel();
  adam_steps_ = s.step;
  if (!adam_.exp_avg.defined()) {
    adam_.exp_avg = torch::empty({n}, options());
    adam_.exp_avg_sq = torch::empty({n}, options());
    sums_ = torch::empty({3}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
    nonfinite_ = torch::empty({4}, torch::TensorOptions().dtype(torch::kInt64).device(device_));
  }
  adam_.exp_avg.copy_(to_device(s.exp_avg, {n}));
  adam_.exp_avg_sq.copy_(to_device(s.exp_avg_sq, {n}));
  // A fresh optimizer state starts a fresh record of sums and non-finite steps.
  sums_.zero_();
  sum_images_ = 0;
  nonfinite_.fill_(-1);
  last_grad_ = torch::Tensor();
}

libtorch::Losses LibTorchBackend::compute_losses(const std::vector<torch::Tensor>& params, const torch::Tensor& x,
                                                 const torch::Tensor& eps, BatchNormMode bn) {
  return libtorch::forward(config(), libtorch::params_from_views(layout(), params), x, eps, nullptr,
                           batch_norm_state(bn));
}

torch::Tensor LibTorchBackend::flat_gradient(const torch::Tensor& loss_sum) const {
  const std::vector<torch::Tensor> grads = torch::autograd::grad({loss_sum}, params_);
  std::vector<torch::Tensor> flat;
  flat.reserve(grads.size());
  for (const torch::Tensor& g : grads) flat.push_back(g.reshape({-1}));
  return torch::cat(flat);
}

libtorch::Losses LibTorchBackend::step(const torch::Tensor& x, const torch::Tensor& eps, double kl_weight,
                                       const AdamOptions* adam) {
  libtorch::Losses l;
  {
    const libtorch::PrecisionScope precision = precision_scope();
    l = compute_losses(params_, x, eps, adam ? BatchNormMode::BatchStatsUpdate : BatchNormMode::BatchStats);
  }
  l.loss = l.recon + (config().kl_coefficient(int(x.size(0))) * kl_weight) * l.kl;
  l.elbo = -(l.recon + l.kl);
  const torch::Tensor grad = flat_gradient(libtorch::batch_objective(config(), l.loss));
  last_grad_ = grad;
  if (adam) {
    if (data_parallel()) {
      TORCH_CHECK(grad.is_contiguous(), "the flat gradient is one contiguous buffer");
      all_reduce_gradient(grad.data_ptr(), size_t(grad.numel()),
                          grad.scalar_type() == torch::kFloat64 ? GradientAllReduce::Element::f64
                                                                : GradientAllReduce::Element::f32);
    }
    ++adam_steps_;
    libtorch::adam_step(flat_, grad, adam_, adam_steps_, *adam);
    record(l, grad, torch::full({}, adam_steps_, torch::TensorOptions().dtype(torch::kInt64).device(device_)));
    sum_images_ += l.recon.size(0);
  }
  return {l.recon.detach(), l.kl.detach(), l.loss.detach(), l.elbo.detach()};
}

void LibTorchBackend::add_to_sums(const libtorch::Losses& l) {
  sums_.add_(torch::stack({l.recon.sum(), l.kl.sum(), l.loss.sum()}).to(torch::kFloat64));
}

void LibTorchBackend::record(const libtorch::Losses& l, const torch::Tensor& grad, const torch::Tensor& step_number) {
  torch::NoGradGuard no_grad;
  add_to_sums(l);
  const auto not_finite = [](const torch::Tensor& t) { return torch::isfinite(t).all().logical_not(); };
  // The gradient through its sum: NaN and Inf propagate through a sum (Inf - Inf = NaN), so
  // one reduction replaces isfinite's four passes over the flat buffer (7% of a CPU step at
  // batch 128). It also fires if finite entries sum past the float range, a step that has
  // diverged anyway.
  const torch::Tensor bad =
      torch::stack({not_finite(l.loss), not_finite(l.recon), not_finite(l.kl), not_finite(grad.sum())});
  nonfinite_.copy_(torch::where(bad.logical_and(nonfinite_ < 0), step_number.to(torch::kInt64), nonfinite_));
}

BatchLosses LibTorchBackend::to_batch(const libtorch::Losses& l) const {
  return {to_host(l.recon), to_host(l.kl), to_host(l.loss), to_host(l.elbo)};
}

BatchLosses LibTorchBackend::evaluate_impl(const std::vector<double>& x, int batch, const std::vector<double>& eps) {
  torch::NoGradGuard no_grad;
  const libtorch::PrecisionScope precision = precision_scope();
  const VaeConfig& c = config();
  libtorch::Losses l = compute_losses(params_, to_device(x, {batch, c.input_dim}),
                                      to_device(eps, {c.samples, batch, c.latent}), BatchNormMode::BatchStats);
  l.loss = l.recon + c.kl_coefficient(batch) * l.kl;
  l.elbo = -(l.recon + l.kl);
  return to_batch(l);
}

BatchLosses LibTorchBackend::gradients_impl(const std::vector<double>& x, int batch, const std::vector<double>& eps,
                                            std::vector<double>& grad) {
  const VaeConfig& c = config();
  const libtorch::Losses l =
      step(to_device(x, {batch, c.input_dim}), to_device(eps, {c.samples, batch, c.latent}), 1.0, nullptr);
  grad = to_host(last_grad_);
  return to_batch(l);
}

BatchLosses LibTorchBackend::train_step_impl(const std::vector<double>& x, int batch, const std::vector<double>& eps,
                                             const AdamOptions& adam) {
  const VaeConfig& c = config();
  return to_batch(step(to_device(x, {batch, c.input_dim}), to_device(eps, {c.samples, batch, c.latent}), 1.0, &adam));
}

std::vector<double> LibTorchBackend::last_gradient_impl() const {
  if (!last_grad_.defined()) throw Error(name() + ": the last step kept no gradient");
  return to_host(last_grad_);
}

void LibTorchBackend::set_train_data_impl() {
  train_images_ = torch::Tensor();
  if (train_binarize() == Binarize::Dynamic) return;  // a fresh draw each epoch: gathered on the host per step
  // Resident on the device, already scaled (or statically binarized) exactly as the host
  // gather would do it, so a step is one index_select.
  std::vector<size_t> all(train_split().count);
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  train_images_ = host_images(all, 0).to(device_);
}

torch::Tensor LibTorchBackend::host_images(const std::vector<size_t>& indices, uint64_t epoch) const {
  torch::Tensor host = torch::empty({int64_t(indices.size()), int64_t(config().input_dim)},
                                    torch::TensorOptions().dtype(precision_.dtype));
  if (precision_.dtype == torch::kFloat64) gather_train_images(indices, epoch, host.data_ptr<double>());
  else gather_train_images(indices, epoch, host.data_ptr<float>());
  return host;
}

torch::Tensor LibTorchBackend::gather_batch(const std::vector<size_t>& indices, uint64_t epoch) {
  if (!train_images_.defined()) return host_images(indices, epoch).to(device_);
  std::vector<int64_t> idx(indices.begin(), indices.end());
  const torch::Tensor index =
      torch::from_blob(idx.data(), {int64_t(idx.size())}, torch::kInt64).to(device_, false, true);
  return train_images_.index_select(0, index);
}

torch::Tensor LibTorchBackend::step_noise(int batch, const StepOptions& o) const {
  const VaeConfig& c = config();
  torch::Tensor host = torch::empty({c.samples, batch, c.latent}, torch::TensorOptions().dtype(precision_.dtype));
  // The same noise as every other backend at this step (counter RNG keyed by the step).
  if (precision_.dtype == torch::kFloat64)
    fill_eps(o.noise_seed, uint64_t(adam_steps_), c.samples, batch, c.latent, host.data_ptr<double>(), o.slice);
  else fill_eps(o.noise_seed, uint64_t(adam_steps_), c.samples, batch, c.latent, host.data_ptr<float>(), o.slice);
  return host.to(device_);
}

void LibTorchBackend::train_batch_impl(const std::vector<size_t>& indices, uint64_t epoch, const StepOptions& o) {
  try {
    step(gather_batch(indices, epoch), step_noise(int(indices.size()), o), o.kl_weight, &o.adam);
  } catch (const c10::Error& e) {
    throw_if_out_of_memory(e, int64_t(indices.size()));
  }
}

void LibTorchBackend::throw_if_out_of_memory(const c10::Error& e, int64_t batch) const {
  const std::string what = e.msg();
  const bool oom = dynamic_cast<const c10::OutOfMemoryError*>(&e) != nullptr ||
                   what.find("can't allocate memory") != std::string::npos ||
                   what.find("not enough memory") != std::string::npos;
  if (!oom) throw;
  // Activations kept for the backward, per image: every layer's output (and pre-activation)
  // on the encoder side, K samples of the decoder side, the input and the logits.
  const VaeConfig& c = config();
  double per_image = 2.0 * c.input_dim + 4.0 * c.latent;
  for (const DerivedLayer& l : layout().model().layers()) {
    if (l.role == LayerRole::Head || l.role == LayerRole::Output) continue;
    const double kept = (l.bn_weight ? 3.0 : 2.0) * double(l.out.numel());  // output, pre-activation, pre-norm
    per_image += l.role == LayerRole::Encoder ? kept : c.samples * kept;
  }
  per_image += 3.0 * c.samples * c.input_dim;
  const double gib = per_image * double(batch) * double(torch::elementSize(precision_.dtype)) / double(1ull << 30);
  std::string torch_says = what.substr(0, what.find('\n'));
  if (const size_t at = torch_says.find("you tried to allocate"); at != std::string::npos)
    torch_says = torch_says.substr(at);
  char estimate[64];
  std::snprintf(estimate, sizeof estimate, "%.2f GiB", gib);
  throw Error(name() + " on " + device() + ": out of memory at batch " + std::to_string(batch) +
              ": the step needs about " + estimate + " for activations (LibTorch: " + torch_says +
              "); use a smaller --batch");
}

void LibTorchBackend::eval_batch_impl(const std::vector<size_t>& indices, uint64_t epoch, uint64_t noise_seed) try {
  torch::NoGradGuard no_grad;
  const libtorch::PrecisionScope precision = precision_scope();
  StepOptions noise;
  noise.noise_seed = noise_seed;
  libtorch::Losses l = compute_losses(params_, gather_batch(indices, epoch), step_noise(int(indices.size()), noise),
                                      BatchNormMode::RunningStats);
  l.loss = l.recon + config().kl_coefficient(int(indices.size())) * l.kl;
  add_to_sums(l);
  sum_images_ += int64_t(indices.size());
} catch (const c10::Error& e) {
  throw_if_out_of_memory(e, int64_t(indices.size()));
}

void LibTorchBackend::synchronize() {
  if (device_.is_cuda()) torch::cuda::synchronize(device_.index() < 0 ? -1 : device_.index());
}

std::unique_ptr<IntervalTimer> LibTorchBackend::make_interval_timer() {
  if (!device_.is_cuda()) return Backend::make_interval_timer();
#if VAE_TORCH_CUDA
  // The device layer's event timer on the stream LibTorch queues this device's work on.
  const c10::DeviceIndex index = device_.index() < 0 ? 0 : device_.index();
  return std::make_unique<EventIntervalTimer>(device::Stream::wrap_cuda(c10::cuda::getCurrentCUDAStream(index).stream()));
#else
  throw Error("libtorch backend: a CUDA device in a build whose LibTorch has no CUDA part");
#endif
}

void LibTorchBackend::reset_memory_peak() {
  if (!device_.is_cuda()) return Backend::reset_memory_peak();
#if VAE_TORCH_CUDA
  c10::cuda::CUDACachingAllocator::resetPeakStats(device_.index() < 0 ? 0 : device_.index());
#endif
}

Backend::MemoryPeak LibTorchBackend::memory_peak() const {
  if (!device_.is_cuda()) return Backend::memory_peak();
#if VAE_TORCH_CUDA
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device_.index() < 0 ? 0 : device_.index());
  const auto aggregate = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
  return {double(stats.allocated_bytes[aggregate].peak), "device: LibTorch caching allocator, peak allocated"};
#else
  throw Error("libtorch backend: a CUDA device in a build whose LibTorch has no CUDA part");
#endif
}

TrainSums LibTorchBackend::take_train_sums_impl() {
  const std::vector<double> s = to_host(sums_);
  TrainSums out{sum_images_, s[0], s[1], s[2]};
  sums_.zero_();
  sum_images_ = 0;
  return out;
}

std::optional<NonFinite> LibTorchBackend::first_nonfinite_impl() {
  const torch::Tensor rec = nonfinite_.to(torch::kCPU);
  const int64_t* r = rec.data_ptr<int64_t>();
  int64_t first = -1;
  for (int i = 0; i < 4; ++i)
    if (r[i] >= 0 && (first < 0 || r[i] < first)) first = r[i];
  if (first < 0) return std::nullopt;
  std::string what;
  const char* names[3] = {"loss", "recon", "kl"};
  for (int i = 0; i < 3; ++i)
    if (r[i] == first) what += (what.empty() ? "" : ", ") + std::string(names[i]);
  if (r[3] == first)
    what += (what.empty() ? "" : ", ") +
            (last_grad_.defined() ? nonfinite_gradient_views(to_host(last_grad_)) : std::string("gradient"));
  return NonFinite{first, what};
}

}  // namespace vae
