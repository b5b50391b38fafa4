#pragma once
// One interface for every way of running the VAE (check-then-call): the public methods
// validate shapes and sizes, then call the backend's *_impl.
//
// Two ways in:
//   * the validation path (evaluate / gradients / train_step): inputs and outputs cross the
//     boundary in double with the noise given from outside, so any backend can be compared
//     with the reference value for value; a float backend rounds on the way in and widens on
//     the way out;
//   * the training path (set_train_data / train_batch): the dataset is handed over once, a
//     step names the images it trains on, the backend gathers them and draws its own noise,
//     and running sums stay inside the backend (on its device) until asked for, so a step
//     needs no host round trip.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "device/call_profile.h"
#include "device/interval_timer.h"
#include "data/dataset.h"
#include "data/pixels.h"
#include "model/adam_options.h"
#include "model/checkpoint.h"
#include "model/config.h"
#include "model/noise.h"
#include "model/params.h"

namespace vae {

// Per-image results, each [B].
struct BatchLosses {
  std::vector<double> recon, kl, loss, elbo;
};

// One training step's knobs besides the data.
struct StepOptions {
  AdamOptions adam;
  double kl_weight = 1.0;    // multiplies config.beta (KL annealing); 1 = the configured beta
  uint64_t noise_seed = 0;   // eps of step t = counter RNG (noise_seed, t) where the backend uses it
  // A data-parallel rank's images within the step's global batch: its noise is drawn for their
  // global positions (model/noise.h). Default: the call's images are the whole batch.
  BatchSlice slice;
};

// Data-parallel training (impl/dist): a training step (train_step, train_batch) hands its
// gradient to this between its backward and its Adam step; after the call the buffer holds
// the sum over every rank's images, the same on every rank, so every rank takes the same step.
class GradientAllReduce {
 public:
  enum class Element { f32, f64 };
  virtual ~GradientAllReduce() = default;
  // `count` values at `data`, in the memory of `device` (a Backend::device(): "cpu", "cuda:N",
  // or "cuda-emu", whose device memory is host memory).
  virtual void sum(void* data, size_t count, Element element, const std::string& device) = 0;
  // A bug planted on purpose (tests: dist::Fault::stale_rank): this rank's training steps leave
  // its parameters as they were, so the ranks drift apart.
  virtual bool planted_stale_rank() const { return false; }
};

// Sums over the images trained on since the last take_train_sums(), in nats.
struct TrainSums {
  int64_t images = 0;
  double recon = 0, kl = 0, loss = 0;
};

// The first optimizer step at which a loss or the gradient stopped being finite.
struct NonFinite {
  int64_t step = -1;          // 1-based optimizer step (AdamState::step after it)
  std::string quantities;     // e.g. "loss, recon, gradient (dec.out.weight, dec.out.bias)"
};

class Backend {
 public:
  explicit Backend(const VaeConfig& config);
  virtual ~Backend() = default;
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  virtual std::string name() const = 0;
  virtual std::string device() const = 0;     // "cpu", "cuda:0", ...
  virtual std::string precision() const = 0;  // "fp64", "fp32", "tf32", ...

  const VaeConfig& config() const { return config_; }
  const ParamLayout& layout() const { return layout_; }

  // The flat parameter buffer (model/params.h layout). Setting it resets the optimizer.
  void set_params(const std::vector<double>& flat);
  std::vector<double> params() const;

  // Adam's moments and step count, flat layout, for checkpoints and --resume. The state of a
  // backend that has not stepped yet is step 0 with zero moments.
  AdamState adam_state() const;
  void set_adam_state(const AdamState& state);

  // Batch norm's running statistics (the model's BufferLayout, ModelLayers::buffers(): running
  // means and variances, num_batches_tracked), widened to double: model state, not parameters,
  // as in nn.BatchNorm2d. A training step (train_step, train_batch) normalises by the batch's
  // statistics and updates these (momentum 0.1, unbiased variance); evaluate and gradients
  // (the validation path) use the batch's and leave them; eval_batch normalises by them, as
  // evaluation does. A new backend starts at PyTorch's initial values (mean 0, variance 1,
  // count 0); set_params does not touch them. Empty for a model without batch norm.
  std::vector<double> running_stats() const;
  void set_running_stats(const std::vector<double>& stats);

  // --- validation path -------------------------------------------------------------------
  // x: [batch, D] row-major; eps: [K, batch, Z].
  BatchLosses evaluate(const std::vector<double>& x, int batch, const std::vector<double>& eps);
  // Also the gradient of sum_b loss_b, in the flat layout.
  BatchLosses gradients(const std::vector<double>& x, int batch, const std::vector<double>& eps,
                        std::vector<double>& grad);
  // One Adam step on sum_b loss_b with the given noise; returns the losses before the step.
  BatchLosses train_step(const std::vector<double>& x, int batch, const std::vector<double>& eps,
                         const AdamOptions& adam);
  // The gradient (flat layout, widened to double) that the last train_step used for its Adam
  // update, so that checks can judge the step on the backend's own gradient. Only right after
  // train_step: throws vae::Error if anything else ran the model or reset the state since.
  std::vector<double> last_gradient() const;

  // --- training path ---------------------------------------------------------------------
  // The split stays owned by the caller and must outlive the training; images become
  // u8/255 or are binarized as `binarize` says (seeded by binarize_seed, see data/pixels.h).
  void set_train_data(const Split& split, Binarize binarize, uint64_t binarize_seed);
  // Optional: the epoch's image order, from whose start the following train_batch calls of
  // `epoch` take consecutive slices (as the trainer and the benchmarks do). A backend may keep
  // it on its device so that such a step needs no host-to-device copy (fused-cuda); every
  // backend trains on whatever indices train_batch names, whether they follow it or not.
  void set_epoch_order(const std::vector<size_t>& order, uint64_t epoch);
  // One Adam step on the images `indices` of the train split; `epoch` selects the dynamic
  // binarization draw. Losses are added to the running sums; nothing is read back.
  void train_batch(const std::vector<size_t>& indices, uint64_t epoch, const StepOptions& options);
  // Reads and resets the running sums (waits for the device).
  TrainSums take_train_sums();
  // Whether any step since set_params/set_adam_state saw a non-finite loss or gradient
  // (waits for the device). Training stops on the first one it reports.
  std::optional<NonFinite> first_nonfinite();
  // Forward only (no gradient, no step) on the images `indices` with the noise the next
  // training step would draw; the losses go to the running sums as a step's do (callers
  // that mix the two take the sums in between). What the `eval` benchmark times.
  void eval_batch(const std::vector<size_t>& indices, uint64_t epoch, uint64_t noise_seed);

  // --- data-parallel training ----------------------------------------------------------------
  // From now on every training step sums its gradient over the ranks through `reduce` before
  // its Adam step (null: a single process again). Throws vae::Error when this backend or this
  // model cannot train data-parallel (data_parallel_refusal).
  void set_gradient_all_reduce(std::shared_ptr<GradientAllReduce> reduce);
  // Why this backend cannot train `config()` data-parallel, or "" when it can. Batch norm is
  // refused for every backend: each rank would normalise by its own images' statistics (DDP
  // without SyncBatchNorm), which is not the single-process step this suite proves.
  std::string data_parallel_refusal() const;

  // --- timing ------------------------------------------------------------------------------
  // Waits until the work queued so far is done.
  virtual void synchronize() {}
  // A timer for the backend's device work (interval_timer.h); the default is the host clock
  // after synchronize().
  virtual std::unique_ptr<IntervalTimer> make_interval_timer();

  // --- memory ------------------------------------------------------------------------------
  // The most memory the backend's work held since reset_memory_peak(), in bytes, and what was
  // measured: the default is the process's peak RSS (a CPU backend); a GPU backend measures
  // its device memory. A benchmark resets before its timed loop and reads after it.
  struct MemoryPeak {
    double bytes = 0;
    std::string what;  // e.g. "host peak RSS (process)", "device: LibTorch allocator peak"
  };
  virtual void reset_memory_peak();
  virtual MemoryPeak memory_peak() const;

  // --- per-kernel profile --------------------------------------------------------------------
  // One training step as train_batch would take it, run uncaptured with each of our kernel
  // families' calls timed and costed (device/call_profile.h), for the per-kernel table. Empty
  // for a backend whose kernels are not ours (LibTorch's).
  std::vector<device::ProfiledCall> profile_train_batch(const std::vector<size_t>& indices, uint64_t epoch,
                                                        const StepOptions& options);

 protected:
  virtual void set_params_impl(const std::vector<double>& flat) = 0;
  virtual std::vector<double> params_impl() const = 0;
  virtual AdamState adam_state_impl() const = 0;
  virtual void set_adam_state_impl(const AdamState& state) = 0;
  // A backend that runs batch-norm models keeps the running statistics; the defaults serve
  // models without batch norm only (the public methods refuse them otherwise).
  virtual std::vector<double> running_stats_impl() const { return {}; }
  virtual void set_running_stats_impl(const std::vector<double>& /*stats*/) {}
  virtual BatchLosses evaluate_impl(const std::vector<double>& x, int batch, const std::vector<double>& eps) = 0;
  virtual BatchLosses gradients_impl(const std::vector<double>& x, int batch, const std::vector<double>& eps,
                                     std::vector<double>& grad) = 0;
  virtual BatchLosses train_step_impl(const std::vector<double>& x, int batch, const std::vector<double>& eps,
                                      const AdamOptions& adam) = 0;
  virtual void set_train_data_impl() {}  // a backend that keeps the data on its device copies it here
  virtual void set_epoch_order_impl(const std::vector<size_t>& /*order*/, uint64_t /*epoch*/) {}
  virtual std::vector<device::ProfiledCall> profile_train_batch_impl(const std::vector<size_t>& /*indices*/,
                                                                     uint64_t /*epoch*/, const StepOptions& /*options*/) {
    return {};
  }
  virtual void train_batch_impl(const std::vector<size_t>& indices, uint64_t epoch, const StepOptions& options) = 0;
  virtual TrainSums take_train_sums_impl() = 0;
  virtual std::optional<NonFinite> first_nonfinite_impl() = 0;
  virtual void eval_batch_impl(const std::vector<size_t>& indices, uint64_t epoch, uint64_t noise_seed) = 0;

  // The training data as handed to set_train_data.
  const Split& train_split() const { return *train_split_; }
  Binarize train_binarize() const { return train_binarize_; }
  uint64_t train_binarize_seed() const { return train_binarize_seed_; }
  // Gathers the images `indices` into out[indices.size() * D] as the training data says.
  template <typename T>
  void gather_train_images(const std::vector<size_t>& indices, uint64_t epoch, T* out) const {
    if (train_binarize_ == Binarize::None) gather_scaled(*train_split_, indices, out);
    else gather_binarized(*train_split_, indices, train_binarize_, train_binarize_seed_, epoch, out);
  }

  // A backend that cannot call all_reduce_gradient in its training steps says why (the default
  // is that it can).
  virtual std::string data_parallel_refusal_impl() const { return ""; }
  // The data-parallel sum of a training step's gradient (no-op in a single process); a training
  // step calls it between its backward and its Adam step.
  void all_reduce_gradient(void* data, size_t count, GradientAllReduce::Element element) {
    if (gradient_all_reduce_) gradient_all_reduce_->sum(data, count, element, device());
  }
  bool data_parallel() const { return gradient_all_reduce_ != nullptr; }

  // "gradient (enc.0.weight, dec.out.bias)" for the views of `grad` holding NaN or Inf.
  std::string nonfinite_gradient_views(const std::vector<double>& grad) const;

 private:
  // What last_gradient() returns; called only when a train_step was the last model call.
  virtual std::vector<double> last_gradient_impl() const = 0;

  void check_indices(const std::vector<size_t>& indices, const char* what) const;
  // check_indices, and a KL weight that is finite and >= 0: what a training step is given.
  void check_step(const std::vector<size_t>& indices, const StepOptions& options, const char* what) const;
  void check_inputs(const std::vector<double>& x, int batch, const std::vector<double>& eps) const;
  // Running statistics must have as many values as the model's BufferLayout.
  void check_running_stats_size(size_t size) const;

  // `adam`, or with lr 0 on a rank where dist::Fault::stale_rank is planted (its steps then
  // leave its parameters as they were, the moments still move).
  AdamOptions planted_adam(const AdamOptions& adam) const;

  VaeConfig config_;
  ParamLayout layout_;
  const Split* train_split_ = nullptr;
  Binarize train_binarize_ = Binarize::None;
  uint64_t train_binarize_seed_ = 0;
  bool after_step_ = false;  // the last call that ran the model or reset it was train_step or train_batch
  std::shared_ptr<GradientAllReduce> gradient_all_reduce_;
};

}  // namespace vae
