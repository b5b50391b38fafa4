#pragma once
// What the LibTorch backends share: the flat parameter tensor on the backend's device and
// dtype, Adam as in Python's torch.optim.Adam, the training data resident on the device,
// running loss sums and the non-finite record kept on the device. A backend supplies only
// how the per-image losses are computed (eager ops, a TorchScript function, ...), and may
// replace how a step is run (the CUDA-graph backend replays a captured step).
#include <torch/torch.h>

#include <optional>

#include "backend/backend.h"
#include "backend/registry.h"
#include "common/device_names.h"
#include "libtorch/autocast.h"
#include "libtorch/torch_adam.h"
#include "libtorch/vae_math.h"

namespace vae {

// "fp64" -> float64, "fp32"/"tf32" -> float32 (tf32 also lets cuBLAS use tensor cores),
// "bf16" -> float32 master parameters with autocast to bf16 (libtorch/autocast.h).
struct TorchPrecision {
  std::string name;
  torch::Dtype dtype;  // parameters, Adam's moments, data and noise
  bool allow_tf32;
  std::optional<torch::Dtype> autocast;
};
TorchPrecision parse_torch_precision(const std::string& precision, const std::string& device);

// "cpu" or "cuda[:N]" -> a torch device; throws vae::Error naming --device otherwise.
torch::Device parse_torch_device(const std::string& device);

// Whether LibTorch sees a CUDA device; on false, `reason` says why.
bool torch_cuda_usable(std::string& reason);

// Registry entry of a LibTorch backend class B(config, device, precision) that runs on the CPU
// and, when LibTorch sees one, on CUDA.
template <typename B>
BackendInfo cpu_and_cuda_backend_info(std::string name, std::string description) {
  BackendInfo info;
  info.name = std::move(name);
  info.description = std::move(description);
  info.devices = {"cpu", "cuda"};
  info.precisions = {"fp32", "fp64", "tf32", "bf16"};
  info.usable = [](const std::string& device, std::string& reason) {
    if (device == "cpu") return true;
    if (!is_gpu_device(device)) {
      reason = "LibTorch runs on cpu or cuda[:N]";
      return false;
    }
    return torch_cuda_usable(reason);
  };
  info.create = [](const VaeConfig& config, const std::string& device, const std::string& precision) {
    return std::unique_ptr<Backend>(new B(config, device, precision));
  };
  return info;
}

class LibTorchBackend : public Backend {
 public:
  LibTorchBackend(const VaeConfig& config, const std::string& device, const std::string& precision);

  std::string device() const override { return device_.str(); }
  std::string precision() const override { return precision_.name; }
  void synchronize() override;
  // CUDA: events on the current stream (what the work is queued on); CPU: the host clock.
  std::unique_ptr<IntervalTimer> make_interval_timer() override;
  // On a GPU: LibTorch's caching allocator, allocated bytes (all LibTorch tensors of the
  // process on that device, which during a benchmark are this backend's); else host RSS.
  void reset_memory_peak() override;
  MemoryPeak memory_peak() const override;

 protected:
  // How a call runs batch norm (models that have it): with the batch's statistics and
  // running_ untouched (the validation path's forward and gradient), with the batch's while
  // updating running_ (a training step), or with running_ (evaluation).
  enum class BatchNormMode { BatchStats, BatchStatsUpdate, RunningStats };
  libtorch::BatchNormState batch_norm_state(BatchNormMode mode) const;

  // Per-image recon and KL ([B] each) from the parameters, one tensor per view of the layout
  // (params_); x [B, D], eps [K, B, Z]. Autograd must be able to differentiate it with
  // respect to them. The default is the eager math (libtorch/vae_math); the TorchScript
  // backend runs its scripted function.
  virtual libtorch::Losses compute_losses(const std::vector<torch::Tensor>& params, const torch::Tensor& x,
                                          const torch::Tensor& eps, BatchNormMode bn);
  // The gradient of `loss_sum` in the flat layout. Taken with respect to the per-view leaves
  // and concatenated once: differentiating through narrow/view of one flat tensor instead
  // makes autograd zero-fill a flat-sized buffer per view (measured: +35% on a CPU step of
  // the default model at batch 128).
  torch::Tensor flat_gradient(const torch::Tensor& loss_sum) const;

  void set_params_impl(const std::vector<double>& flat) override;
  std::vector<double> params_impl() const override;
  AdamState adam_state_impl() const override;
  void set_adam_state_impl(const AdamState& state) override;
  std::vector<double> running_stats_impl() const override;
  void set_running_stats_impl(const std::vector<double>& stats) override;
  BatchLosses evaluate_impl(const std::vector<double>& x, int batch, const std::vector<double>& eps) override;
  BatchLosses gradients_impl(const std::vector<double>& x, int batch, const std::vector<double>& eps,
                             std::vector<double>& grad) override;
  BatchLosses train_step_impl(const std::vector<double>& x, int batch, const std::vector<double>& eps,
                              const AdamOptions& adam) override;
  std::vector<double> last_gradient_impl() const override;  // last_grad_, widened
  void set_train_data_impl() override;
  void train_batch_impl(const std::vector<size_t>& indices, uint64_t epoch, const StepOptions& options) override;
  TrainSums take_train_sums_impl() override;
  std::optional<NonFinite> first_nonfinite_impl() override;
  void eval_batch_impl(const std::vector<size_t>& indices, uint64_t epoch, uint64_t noise_seed) override;

  // Turns LibTorch's out-of-memory error for a step or forward on `batch` images (a CUDA
  // OutOfMemoryError, or the CPU allocator's "can't allocate memory") into a vae::Error that
  // says what was asked for: the device, the batch, the allocation that failed (LibTorch's
  // own figure) and our estimate of the step's activation memory. Any other error is
  // rethrown as it is.
  [[noreturn]] void throw_if_out_of_memory(const c10::Error& e, int64_t batch) const;

  // Tensors on the backend's device and dtype.
  torch::Tensor to_device(const std::vector<double>& v, std::vector<int64_t> shape) const;
  static std::vector<double> to_host(const torch::Tensor& t);
  torch::TensorOptions options() const { return torch::TensorOptions().dtype(precision_.dtype).device(device_); }
  // The precision's settings (TF32, autocast) for one forward; see libtorch/autocast.h.
  libtorch::PrecisionScope precision_scope(bool autocast_cache = true) const;

  // The training batch for `indices`: gathered on the device from the resident split (or on
  // the host for dynamic binarization) into x [B, D]; eps [K, B, Z] from the counter RNG.
  torch::Tensor gather_batch(const std::vector<size_t>& indices, uint64_t epoch);
  // The images `indices` gathered on the host as the training data says, [n, D] in the dtype.
  torch::Tensor host_images(const std::vector<size_t>& indices, uint64_t epoch) const;
  torch::Tensor step_noise(int batch, const StepOptions& options) const;

  // Forward, gradient of sum_b loss_b, then (when `adam`) one Adam step; records running
  // sums and non-finite values. kl_weight multiplies config().beta. With `adam` it is a
  // training step and updates batch norm's running statistics. Returns the losses.
  libtorch::Losses step(const torch::Tensor& x, const torch::Tensor& eps, double kl_weight, const AdamOptions* adam);
  // Adds one step's losses and gradient to the device-side running sums and the non-finite
  // record (the caller counts the images, which a replayed CUDA graph cannot do).
  void record(const libtorch::Losses& l, const torch::Tensor& grad, const torch::Tensor& step_number);
  // Adds the losses' sums to the device-side running sums (the caller counts the images).
  void add_to_sums(const libtorch::Losses& l);
  BatchLosses to_batch(const libtorch::Losses& l) const;

  torch::Device device_;
  TorchPrecision precision_;
  torch::Tensor flat_;         // parameters, the flat buffer (Adam updates it in place)
  std::vector<torch::Tensor> params_;  // one leaf per view, requires_grad, sharing flat_'s storage
  // Batch norm's running statistics, one tensor per BufferLayout view in the dtype (empty
  // without batch norm); updated in place, so a captured CUDA graph keeps pointing at them.
  std::vector<torch::Tensor> running_;
  libtorch::AdamTensors adam_;
  int64_t adam_steps_ = 0;
  torch::Tensor last_grad_;    // the last step's gradient: last_gradient(), naming non-finite tensors
  torch::Tensor train_images_; // [N, D] resident split in the backend's dtype (undefined: gather on host)
  torch::Tensor sums_;         // float64 [3]: recon, kl, loss summed over images
  int64_t sum_images_ = 0;
  torch::Tensor nonfinite_;    // int64 [4]: first step with non-finite loss, recon, kl, gradient; -1 = none
};

}  // namespace vae
