#include "backend/cudagraph_backend.h"

#include "backend/libtorch_backend.h"
#include "common/device_names.h"
#include "common/error.h"

#ifdef VAE_TORCH_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <iterator>
#include <map>
#endif

namespace vae {

#ifdef VAE_TORCH_CUDA
namespace {

class CudaGraphBackend final : public LibTorchBackend {
 public:
  CudaGraphBackend(const VaeConfig& config, const std::string& device, const std::string& precision)
      : LibTorchBackend(config, device, precision) {
    if (!device_.is_cuda()) throw Error("--backend libtorch-cudagraph: CUDA graphs need --device cuda");
    step_t_ = libtorch::capturable_step_counter(flat_);
    kl_weight_ = torch::ones({}, options());
  }

  std::string name() const override { return "libtorch-cudagraph"; }

 protected:
  std::string data_parallel_refusal_impl() const override {
    return "its captured step has no all-reduce between the backward and Adam (an NCCL all-reduce inside the "
           "capture is not built yet); train data-parallel with libtorch-eager or fused-cuda";
  }

  void set_adam_state_impl(const AdamState& s) override {
    LibTorchBackend::set_adam_state_impl(s);
    if (step_t_.defined()) step_t_.fill_(double(s.step));
  }

  // A graph captured on the resident split reads that tensor's memory; set_train_data replaces
  // the tensor, so such a replay would read freed allocator memory (wrong data, no error).
  // Graphs of host-gathered batches read only their own static inputs and stay.
  void set_train_data_impl() override {
    LibTorchBackend::set_train_data_impl();
    for (auto it = graphs_.begin(); it != graphs_.end();) {
      const bool reads_resident_split = it->first.second;
      it = reads_resident_split ? graphs_.erase(it) : std::next(it);
    }
  }

  BatchLosses train_step_impl(const std::vector<double>& x, int batch, const std::vector<double>& eps,
                              const AdamOptions& adam) override {
    Captured& g = graph_for(batch, /*from_indices=*/false, adam);
    g.x.copy_(to_device(x, {batch, config().input_dim}));
    g.eps.copy_(to_device(eps, {config().samples, batch, config().latent}));
    kl_weight_.fill_(1.0);
    replay(g);
    return to_batch(g.out);
  }

  void train_batch_impl(const std::vector<size_t>& indices, uint64_t epoch, const StepOptions& o) override try {
    const int batch = int(indices.size());
    const bool resident = train_images_.defined();
    Captured& g = graph_for(batch, resident, o.adam);
    if (resident) {
      std::vector<int64_t> idx(indices.begin(), indices.end());
      g.idx.copy_(torch::from_blob(idx.data(), {batch}, torch::kInt64));
    } else {
      g.x.copy_(gather_batch(indices, epoch));
    }
    g.eps.copy_(step_noise(batch, o));
    kl_weight_.fill_(o.kl_weight);
    replay(g);
  } catch (const c10::Error& e) {
    throw_if_out_of_memory(e, int64_t(indices.size()));
  }

 private:
  struct Captured {
    at::cuda::CUDAGraph graph;
    AdamOptions adam;
    torch::Tensor x, idx, eps;  // static inputs
    libtorch::Losses out;       // static outputs, rewritten by each replay
    torch::Tensor grad;         // the captured step's gradient, rewritten by each replay
  };

  static bool same(const AdamOptions& a, const AdamOptions& b) {
    return a.lr == b.lr && a.beta1 == b.beta1 && a.beta2 == b.beta2 && a.eps == b.eps;
  }

  void replay(Captured& g) {
    g.graph.replay();
    last_grad_ = g.grad;  // set_params/set_adam_state forget it; a cached graph still writes it
    ++adam_steps_;  // host mirror of step_t_
    sum_images_ += g.x.size(0);
  }

  // The body that is captured: one whole training step reading only static tensors (batch
  // norm's running statistics are updated in place in running_, which stays put).
  libtorch::Losses captured_step(Captured& g, bool with_adam) {
    const torch::Tensor x = g.idx.defined() ? train_images_.index_select(0, g.idx) : g.x;
    libtorch::Losses l;
    {
      // No autocast cache: a bf16 copy of a weight cast during warm-up would outlive it,
      // outside the graph's pool (torch.cuda.graph's autocast caveat).
      const libtorch::PrecisionScope precision = precision_scope(/*autocast_cache=*/false);
      l = compute_losses(params_, x, g.eps, BatchNormMode::BatchStatsUpdate);
    }
    l.loss = l.recon + (config().kl_coefficient(int(x.size(0))) * kl_weight_) * l.kl;
    l.elbo = -(l.recon + l.kl);
    const torch::Tensor grad = flat_gradient(libtorch::batch_objective(config(), l.loss));
    if (with_adam) {
      libtorch::adam_step_capturable(flat_, grad, adam_, step_t_, g.adam);
      record(l, grad, step_t_);
      g.grad = grad;
      last_grad_ = grad;
    }
    return {l.recon.detach(), l.kl.detach(), l.loss.detach(), l.elbo.detach()};
  }

  Captured& graph_for(int batch, bool from_indices, const AdamOptions& adam) {
    const auto key = std::make_pair(batch, from_indices);
    auto it = graphs_.find(key);
    if (it != graphs_.end() && same(it->second->adam, adam)) return *it->second;
    auto g = std::make_unique<Captured>();
    g->adam = adam;
    const VaeConfig& c = config();
    g->x = torch::zeros({batch, c.input_dim}, options());
    if (from_indices) g->idx = torch::zeros({batch}, torch::TensorOptions().dtype(torch::kInt64).device(device_));
    g->eps = torch::zeros({c.samples, batch, c.latent}, options());
    torch::cuda::synchronize();
    {
      // Warm-up on a side stream (lazy cuBLAS/autograd initialisation must not happen during
      // capture); forward and backward only, so the parameters and Adam state do not move.
      // The warm-up runs the captured ops, running-statistics update included, so it restores
      // them afterwards (capture itself records and runs nothing).
      c10::cuda::CUDAStreamGuard guard(c10::cuda::getStreamFromPool(false, device_.index()));
      std::vector<torch::Tensor> running_before;
      for (const torch::Tensor& t : running_) running_before.push_back(t.clone());
      for (int i = 0; i < 3; ++i) captured_step(*g, /*with_adam=*/false);
      {
        torch::NoGradGuard no_grad;
        for (size_t i = 0; i < running_.size(); ++i) running_[i].copy_(running_before[i]);
      }
      g->graph.capture_begin();
      g->out = captured_step(*g, /*with_adam=*/true);
      g->graph.capture_end();
    }
    torch::cuda::synchronize();
    Captured& ref = *g;
    graphs_[key] = std::move(g);
    return ref;
  }

  torch::Tensor step_t_;    // device scalar in the parameters' dtype: Adam's step count, as capturable Adam keeps it
  torch::Tensor kl_weight_; // device scalar, set before each replay
  std::map<std::pair<int, bool>, std::unique_ptr<Captured>> graphs_;
};

}  // namespace
#endif

BackendInfo cudagraph_backend_info() {
  BackendInfo info;
  info.name = "libtorch-cudagraph";
  info.runs_objectives = true;  // libtorch/vae_math.h computes every objective
  info.description = "LibTorch eager math, whole training step captured in a CUDA graph and replayed";
  info.devices = {"cuda"};
  info.precisions = {"fp32", "fp64", "tf32", "bf16"};
#ifdef VAE_TORCH_CUDA
  info.usable = [](const std::string& device, std::string& reason) {
    if (!is_gpu_device(device)) {
      reason = "CUDA graphs need a CUDA device";
      return false;
    }
    return torch_cuda_usable(reason);
  };
  info.create = [](const VaeConfig& config, const std::string& device, const std::string& precision) {
    return std::unique_ptr<Backend>(new CudaGraphBackend(config, device, precision));
  };
#else
  // Either the LibTorch found has no CUDA half, or the build links only its CPU half
  // (VAE_TORCH_CPU_ONLY, the sanitizer build).
  static const char* const kWhy = "this build links no CUDA part of LibTorch (CPU-only LibTorch, or VAE_TORCH_CPU_ONLY)";
  info.usable = [](const std::string&, std::string& reason) {
    reason = kWhy;
    return false;
  };
  info.create = [](const VaeConfig&, const std::string&, const std::string&) -> std::unique_ptr<Backend> {
    throw Error(std::string("--backend libtorch-cudagraph: ") + kWhy);
  };
#endif
  return info;
}

}  // namespace vae
