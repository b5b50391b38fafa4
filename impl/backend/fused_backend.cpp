#include "backend/fused_backend.h"

#include "common/precision.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "common/error.h"
#include "device/device.h"
#include "kernels/adam.h"
#include "kernels/batch_norm/batch_norm.h"
#include "kernels/conv/conv.h"
#include "kernels/data.h"
#include "kernels/gemm.h"
#include "kernels/latent.h"
#include "kernels/layer_activation.h"
#include "kernels/likelihood.h"
#include "kernels/step_records.h"
#include "model/layers.h"

namespace vae {

namespace {

namespace k = kernels;
using device::Array;
using device::Kind;

// The GEMM and conv versions each precision runs (kernels/gemm.cu, kernels/conv/conv.cu list
// them). GEMM v4 splits K when the output has too few blocks to fill a GPU (batch 128); conv v3
// splits the weight gradient's B·H·W depth where the output has too few blocks; the tensor-core
// versions (GEMM v5 / v6, conv v4 / v5) are those on tf32 / bf16 tensor cores.
struct KernelVersions {
  k::gemm::Version gemm;
  k::conv::Version conv;
};
KernelVersions kernel_versions(const std::string& precision) {
  switch (parse_precision(precision)) {
    case Precision::fp32: return {k::gemm::Version::split_k, k::conv::Version::register_blocked};
    case Precision::tf32: return {k::gemm::Version::tf32_wmma, k::conv::Version::tf32_wmma};
    case Precision::bf16: return {k::gemm::Version::bf16_wmma, k::conv::Version::bf16_wmma};
    case Precision::fp64: break;
  }
  throw Error("fused-cuda: --precision " + precision + " is not offered (fp32, tf32, bf16)");
}
// v2: a channel over many blocks where it has many values (v1's kernels where it has few).
constexpr k::batch_norm::Version kBatchNormVersion = k::batch_norm::Version::split_channel;

// How batch norm runs in one pass: the batch's statistics (the validation path's value and
// gradient), the same and the running statistics updated (a training step), or the running
// statistics (evaluation: test metrics, sampling).
enum class BatchNormMode { batch, batch_update, running };

// The device keeps the flat layout but for the encoder heads: [mu.weight, mu.bias,
// logvar.weight, logvar.bias] become [mu.weight, logvar.weight, mu.bias, logvar.bias], so
// that mu and log-variance are one GEMM of width 2Z. Adam is element-wise, so nothing else
// cares; every host boundary (parameters, gradients, moments) converts.
struct HeadsPacking {
  size_t mu_weight = 0, weight_size = 0, bias_size = 0;  // offsets and sizes in the flat layout

  explicit HeadsPacking(const ParamLayout& l)
      : mu_weight(l.mu().weight_offset), weight_size(size_t(l.mu().out) * size_t(l.mu().in)), bias_size(size_t(l.mu().out)) {}

  // flat -> device order (to_device = true) or back.
  template <typename From, typename To>
  void convert(const std::vector<From>& in, std::vector<To>& out, bool to_device) const {
    out.resize(in.size());
    std::transform(in.begin(), in.end(), out.begin(), [](From v) { return static_cast<To>(v); });
    // Flat: W_mu b_mu W_lv b_lv; device: W_mu W_lv b_mu b_lv. W_mu stays in place.
    const size_t wl_flat = mu_weight + weight_size + bias_size, bm_flat = mu_weight + weight_size,
                 bl_flat = wl_flat + weight_size;
    const size_t wl_dev = mu_weight + weight_size, bm_dev = wl_dev + weight_size, bl_dev = bm_dev + bias_size;
    const auto move = [&](size_t from, size_t to, size_t n) {
      for (size_t i = 0; i < n; ++i) out[to_device ? to + i : from + i] = static_cast<To>(in[to_device ? from + i : to + i]);
    };
    move(wl_flat, wl_dev, weight_size);
    move(bm_flat, bm_dev, bias_size);
    move(bl_flat, bl_dev, bias_size);
  }
};

// One layer of the model (model/layers.h) as the step runs it: its sizes, its parameters'
// offsets in the device buffers, and its batch norm's running statistics on the device.
struct DeviceLayer {
  LayerKind kind = LayerKind::Dense;
  int in = 0, out = 0;          // features per image (C·H·W in and out)
  ConvGeometry geometry;        // conv2d / conv_transpose2d, from model/layers
  size_t weight = 0, bias = 0;  // offsets in the device layout
  k::gemm::Activation act = k::gemm::Activation::identity;  // after batch norm when it has one
  bool batch_norm = false;
  int channels = 0, hw = 0;     // batch norm: the output's C and H·W
  size_t bn_weight = 0, bn_bias = 0;          // offsets in the device layout
  size_t running_mean = 0, running_var = 0;   // offsets in running_ (the model's BufferLayout)
  size_t count = 0;                           // index in counts_
  bool is_conv() const { return kind != LayerKind::Dense; }
};

// A layer's outputs for one batch size: y (after the activation), and with batch norm the
// conv's output before it and the batch statistics the backward reads.
struct LayerBuffers {
  Array<float> y, pre, mean, rstd;
};

// Activations and scratch for one batch size, planned up front (sizes known before anything runs).
struct Workspace {
  int batch = 0;
  Array<float> x;                       // [B, D] inputs (validation path: allocated at its first use), or
  Array<std::uint8_t> x_bytes;          // [B, D] gathered bytes (training path)
  Array<float> eps;                     // [K, B, Z]
  std::vector<LayerBuffers> enc;       // [B, out_l]
  Array<float> heads;                   // [B, 2Z]; its gradient in place
  Array<float> z;                       // [K·B, Z]
  std::vector<LayerBuffers> dec;       // [K·B, out_l]
  Array<float> d_logits;                // [K·B, D] dL/dO from the output layer's likelihood
                                        // epilogue (the logits are never stored); a conv
                                        // version without one writes the logits here, which
                                        // likelihood v1 turns into dL/dO in place
  Array<float> row_nll;                 // the epilogue's NLL sums: [D/64 tiles][K·B] (GEMM), or
                                        // per block and image (conv, conv_nll_layout.h)
  Array<float> kl, recon, loss, elbo;   // [B]
  Array<float> grad_a, grad_b;          // ping-pong layer gradients
  Array<float> dz;                      // [K·B, Z] with K > 1 (K = 1: the GEMM's epilogue makes dH)
  Array<float> gemm_workspace;          // the GEMM, conv and batch-norm kernels' split sums (one at a time)
  device::Graph train_step;             // captured on first use
  AdamOptions captured_adam;
};

class FusedBackend final : public Backend {
 public:
  FusedBackend(const VaeConfig& config, Kind kind, const std::string& precision)
      : Backend(config),
        kind_(kind),
        precision_(precision),
        versions_(kernel_versions(precision)),
        stream_(kind, emu::Options::from_environment()),
        packing_(layout()) {
    plan_layers();
    const size_t n = layout().total();
    params_ = Array<float>(kind_, n);
    grad_ = Array<float>(kind_, n);
    exp_avg_ = Array<float>(kind_, n);
    exp_avg_sq_ = Array<float>(kind_, n);
    adam_state_ = Array<k::adam::DeviceState>(kind_, 1);
    nonfinite_ = Array<std::int64_t>(kind_, k::kNonFiniteSlots);
    sums_ = Array<k::RunningSums>(kind_, 1);
    kl_weight_ = Array<double>(kind_, 1);
    cursor_ = Array<k::data::BatchCursor>(kind_, 1);
    device::memset(stream_, sums_.data(), 0, sums_.bytes());
    device::memset(stream_, cursor_.data(), 0, cursor_.bytes());
    write_kl_weight(1.0);
    set_params_impl(init_params(config, layout()));
    const BufferLayout& buffers = layout().model().buffers();
    if (buffers.total() > 0) {
      running_ = Array<float>(kind_, buffers.total());
      counts_ = Array<std::int64_t>(kind_, batch_norm_layers_);
      set_running_stats_impl(buffers.initial_values());
    }
  }

  std::string name() const override { return "fused-cuda"; }
  std::string device() const override { return kind_ == Kind::cuda ? "cuda:0" : "cuda-emu"; }
  std::string precision() const override { return precision_; }

  void synchronize() override { stream_.synchronize(); }
  // Every buffer is allocated by this backend, none is freed or grown inside a step, so the
  // peak is what it holds: parameters, optimizer state, the resident images and order, and
  // one workspace per batch size used (its size was computed before it was allocated).
  void reset_memory_peak() override {}
  MemoryPeak memory_peak() const override {
    size_t bytes = params_.bytes() + grad_.bytes() + exp_avg_.bytes() + exp_avg_sq_.bytes() + adam_state_.bytes() +
                   nonfinite_.bytes() + sums_.bytes() + kl_weight_.bytes() + cursor_.bytes() + images_.bytes() +
                   order_.bytes() + running_.bytes() + counts_.bytes();
    for (const auto& [batch, w] : workspaces_) {
      bytes += w.x.bytes() + w.x_bytes.bytes() + w.eps.bytes() + w.heads.bytes() + w.z.bytes() + w.d_logits.bytes() +
               w.row_nll.bytes() + w.kl.bytes() + w.recon.bytes() + w.loss.bytes() + w.elbo.bytes() + w.grad_a.bytes() +
               w.grad_b.bytes() + w.dz.bytes() + w.gemm_workspace.bytes();
      for (const auto* layers : {&w.enc, &w.dec})
        for (const LayerBuffers& b : *layers) bytes += b.y.bytes() + b.pre.bytes() + b.mean.bytes() + b.rstd.bytes();
    }
    return {double(bytes), kind_ == Kind::cuda ? "device: fused-cuda buffers" : "CPU-executor buffers (fused-cuda's)"};
  }
  std::unique_ptr<IntervalTimer> make_interval_timer() override {
    return std::make_unique<EventIntervalTimer>(stream_);
  }

 protected:
  void set_params_impl(const std::vector<double>& flat) override {
    upload(params_, flat);
    reset_adam(0);
  }
  std::vector<double> params_impl() const override { return download(params_); }

  AdamState adam_state_impl() const override {
    k::adam::DeviceState s;
    device::copy_to_host(stream_, &s, adam_state_.data(), sizeof s);
    stream_.synchronize();
    return {s.step, download(exp_avg_), download(exp_avg_sq_)};
  }
  void set_adam_state_impl(const AdamState& s) override {
    reset_adam(s.step);
    upload(exp_avg_, s.exp_avg);
    upload(exp_avg_sq_, s.exp_avg_sq);
  }

  // The model's BufferLayout: running means and variances in running_ (float, as
  // nn.BatchNorm2d keeps them in a float model), each layer's count in counts_ (int64).
  std::vector<double> running_stats_impl() const override {
    const BufferLayout& buffers = layout().model().buffers();
    if (buffers.total() == 0) return {};
    const std::vector<float> values = device::to_host(stream_, running_);
    const std::vector<std::int64_t> counts = device::to_host(stream_, counts_);
    std::vector<double> flat(values.begin(), values.end());
    size_t count = 0;
    for (const BufferView& v : buffers.views())
      if (v.is_count()) flat[v.offset] = double(counts[count++]);
    return flat;
  }
  void set_running_stats_impl(const std::vector<double>& flat) override {
    const BufferLayout& buffers = layout().model().buffers();
    if (buffers.total() == 0) return;
    std::vector<float> values(flat.size(), 0.0f);
    std::vector<std::int64_t> counts;
    for (const BufferView& v : buffers.views())
      for (size_t i = 0; i < v.size; ++i) {
        if (v.is_count()) counts.push_back(std::int64_t(flat[v.offset + i]));
        else values[v.offset + i] = float(flat[v.offset + i]);
      }
    device::copy_to_device(stream_, running_.data(), values.data(), running_.bytes());
    device::copy_to_device(stream_, counts_.data(), counts.data(), counts_.bytes());
    stream_.synchronize();  // the host vectors end here
  }

  BatchLosses evaluate_impl(const std::vector<double>& x, int batch, const std::vector<double>& eps) override {
    Workspace& w = workspace(batch);
    load_inputs(w, x, eps);
    forward(w, w.x.data(), nullptr, BatchNormMode::batch);
    output_likelihood(w, false, nullptr, w.x.data(), nullptr);
    return read_losses(w);
  }

  BatchLosses gradients_impl(const std::vector<double>& x, int batch, const std::vector<double>& eps,
                             std::vector<double>& grad) override {
    Workspace& w = workspace(batch);
    load_inputs(w, x, eps);
    forward(w, w.x.data(), nullptr, BatchNormMode::batch);
    output_likelihood(w, true, nullptr, w.x.data(), nullptr);
    backward(w, w.x.data(), nullptr);
    grad = download(grad_);
    return read_losses(w);
  }

  BatchLosses train_step_impl(const std::vector<double>& x, int batch, const std::vector<double>& eps,
                              const AdamOptions& adam) override {
    Workspace& w = workspace(batch);
    load_inputs(w, x, eps);
    forward(w, w.x.data(), nullptr, BatchNormMode::batch_update);
    output_likelihood(w, true, nullptr, w.x.data(), nullptr);
    backward(w, w.x.data(), nullptr);
    reduce_gradient();
    adam_step(adam, false);
    return read_losses(w);
  }
  // grad_ holds the last step's gradient (device layout) until the next step or gradients().
  std::vector<double> last_gradient_impl() const override { return download(grad_); }

  void set_train_data_impl() override {
    const Split& split = train_split();
    images_ = device::to_device(stream_, split.pixels);
    image_count_ = split.count;
    order_ = Array<std::uint32_t>(kind_, split.count);
    order_host_.clear();
    for (auto& [batch, w] : workspaces_) w.train_step = device::Graph();  // they read the old buffers
  }

  // The epoch's order goes to the device once (N x 4 bytes); a step on its next slice then
  // only replays its graph, which reads the slice at the device's cursor and moves it on.
  void set_epoch_order_impl(const std::vector<size_t>& order, uint64_t epoch) override {
    place_order(order, epoch);
  }

  // One captured graph per batch size: gather, noise, forward, loss, backward, Adam, cursor.
  // A step on the next slice of the epoch order copies nothing from the host; other indices
  // are uploaded first (B x 4 bytes), and so is a KL weight that differs from the last step's.
  // A data-parallel step (or one on a slice of a global batch) runs uncaptured: the all-reduce
  // between the backward and Adam is a host call (reduce_gradient), and the slice's noise
  // positions change from call to call.
  void train_batch_impl(const std::vector<size_t>& indices, uint64_t epoch, const StepOptions& o) override {
    Workspace& w = prepare_step(indices, epoch, o);
    if (data_parallel() || o.slice.global != 0) {
      training_step(w, o);
      cursor_host_ += indices.size();
      return;
    }
    if (w.train_step.empty() || !same(w.captured_adam, o.adam)) {
      device::Graph::begin_capture(stream_);
      try {
        training_step(w, o);
      } catch (...) {
        device::Graph::end_capture(stream_);
        throw;
      }
      w.train_step = device::Graph::end_capture(stream_);
      w.captured_adam = o.adam;
    }
    w.train_step.launch(stream_);
    cursor_host_ += indices.size();  // the graph's last launch moved the device's cursor on
  }

  std::vector<device::ProfiledCall> profile_train_batch_impl(const std::vector<size_t>& indices, uint64_t epoch,
                                                             const StepOptions& o) override {
    Workspace& w = prepare_step(indices, epoch, o);
    device::CallProfile profile(stream_);
    training_step(w, o);  // the captured step's launches, one by one
    cursor_host_ += indices.size();
    return profile.calls();
  }

  void eval_batch_impl(const std::vector<size_t>& indices, uint64_t epoch, uint64_t noise_seed) override {
    Workspace& w = workspace(int(indices.size()));
    place_batch(indices, epoch);  // eval does not move the cursor
    gather_and_noise(w, noise_seed);
    forward(w, nullptr, w.x_bytes.data(), BatchNormMode::running);
    output_likelihood(w, false, sums_.data(), nullptr, w.x_bytes.data(), /*with_kl_weight=*/false);
  }

  TrainSums take_train_sums_impl() override {
    k::RunningSums s;
    device::copy_to_host(stream_, &s, sums_.data(), sizeof s);
    stream_.synchronize();
    device::memset(stream_, sums_.data(), 0, sums_.bytes());
    return {s.images, s.recon, s.kl, s.loss};
  }

  std::optional<NonFinite> first_nonfinite_impl() override {
    std::int64_t record[k::kNonFiniteSlots];
    device::copy_to_host(stream_, record, nonfinite_.data(), sizeof record);
    stream_.synchronize();
    std::int64_t first = -1;
    for (std::int64_t r : record)
      if (r >= 0 && (first < 0 || r < first)) first = r;
    if (first < 0) return std::nullopt;
    std::string what;
    const auto add = [&](int slot, const std::string& name) {
      if (record[slot] == first) what += (what.empty() ? "" : ", ") + name;
    };
    add(k::kNonFiniteLoss, "loss");
    add(k::kNonFiniteRecon, "recon");
    add(k::kNonFiniteKl, "kl");
    if (record[k::kNonFiniteGradient] == first) {
      // The gradient buffer holds the latest step's: the views named are that step's.
      const std::string views = nonfinite_gradient_views(download(grad_));
      add(k::kNonFiniteGradient, views.empty() ? "gradient" : views);
    }
    return NonFinite{first, what};
  }

 private:
  static bool same(const AdamOptions& a, const AdamOptions& b) {
    return a.lr == b.lr && a.beta1 == b.beta1 && a.beta2 == b.beta2 && a.eps == b.eps;
  }

  // The model's layer list as the device runs it. The heads are one GEMM of width 2Z in the
  // device layout (HeadsPacking: W_mu;W_lv then b_mu;b_lv); every other offset is the flat
  // layout's, which HeadsPacking leaves in place.
  void plan_layers() {
    const ModelLayers& model = layout().model();
    const std::vector<ParamView>& views = model.views();
    const BufferLayout& buffers = model.buffers();
    for (const DerivedLayer& l : model.layers()) {
      if (l.role == LayerRole::Head) continue;
      DeviceLayer d;
      d.kind = l.spec.kind;
      d.in = int(l.in.numel());
      d.out = int(l.out.numel());
      if (d.is_conv()) d.geometry = conv_geometry(l);
      d.weight = views[l.weight].offset;
      d.bias = views[l.bias].offset;
      d.act = k::kernel_activation(l.spec.activation);
      if (l.spec.batch_norm) {
        d.batch_norm = true;
        d.channels = int(l.out.c);
        d.hw = int(l.out.h * l.out.w);
        d.bn_weight = views[*l.bn_weight].offset;
        d.bn_bias = views[*l.bn_bias].offset;
        d.running_mean = buffers.views()[l.bn_buffers->mean].offset;
        d.running_var = buffers.views()[l.bn_buffers->var].offset;
        d.count = batch_norm_layers_++;
      }
      if (l.role == LayerRole::Encoder) encoder_.push_back(d);
      else if (l.role == LayerRole::Decoder) decoder_.push_back(d);
      else out_ = d;
    }
    const LinearLayer& mu = layout().mu();
    heads_.in = mu.in;
    heads_.out = 2 * mu.out;
    heads_.weight = mu.weight_offset;
    heads_.bias = mu.weight_offset + 2 * packing_.weight_size;
    // The latent sits between dense layers: the decoder's first layer reads z as a flat vector
    // (model/layers refuses a conv there), which the latent backward epilogue needs.
    const DeviceLayer& first_decoder = decoder_.empty() ? out_ : decoder_.front();
    if (first_decoder.is_conv()) throw Error("fused-cuda: the decoder's first layer must be dense (it reads z)");
  }

  // The buffers of one batch size, allocated at its first use; the total is computed first
  // and a batch that cannot fit is refused with the bytes it needs, before anything runs.
  Workspace& workspace(int batch) {
    auto it = workspaces_.find(batch);
    if (it != workspaces_.end()) return it->second;
    const VaeConfig& c = config();
    const int KB_int = c.samples * batch;
    const size_t B = size_t(batch), KB = size_t(KB_int), Z = size_t(c.latent), D = size_t(c.input_dim);
    // Gradients ping-pong between two buffers as wide as any layer's output (and dz).
    size_t widest = KB * Z;
    for (const DeviceLayer& l : encoder_) widest = std::max(widest, B * size_t(l.out));
    for (const DeviceLayer& l : decoder_) widest = std::max(widest, KB * size_t(l.out));
    size_t scratch = 0;  // split sums of the GEMM, conv and batch-norm kernels, one launch at a time
    const auto need = [&](const DeviceLayer& l, int rows) {
      if (l.is_conv()) {
        for (auto pass : {k::conv::Pass::forward, k::conv::Pass::backward})
          scratch = std::max(scratch, k::conv::workspace_floats(versions_.conv, pass, l.geometry, rows));
        if (l.batch_norm)
          scratch = std::max(scratch, k::batch_norm::workspace_floats(kBatchNormVersion, rows, l.channels, l.hw));
      } else {
        for (auto pass : {k::gemm::Pass::forward, k::gemm::Pass::backward})
          scratch = std::max(scratch, k::gemm::workspace_floats(versions_.gemm, pass, rows, l.in, l.out));
      }
    };
    const auto layer_floats = [](const DeviceLayer& l, size_t rows) {
      return rows * size_t(l.out) * (l.batch_norm ? 2 : 1) + (l.batch_norm ? 2 * size_t(l.channels) : 0);
    };
    for (const DeviceLayer& l : encoder_) need(l, batch);
    need(heads_, batch);
    for (const DeviceLayer& l : decoder_) need(l, KB_int);
    need(out_, KB_int);
    // The likelihood epilogue's NLL sums: per 64-column tile and row (GEMM), per block and
    // image (conv v3, v4); none when the row-block likelihood reads the logits (conv v1, v2).
    const size_t nll_floats = !out_.is_conv() ? size_t(k::gemm::likelihood_tiles(c.input_dim)) * KB
                              : k::conv::has_likelihood_epilogue(versions_.conv)
                                  ? k::conv::likelihood_floats(out_.geometry, KB_int)
                                  : 0;
    const size_t dz = c.samples > 1 ? KB * Z : 0;
    size_t floats = KB * Z + B * 2 * Z + KB * Z + KB * D + nll_floats + 4 * B + 2 * widest + dz + scratch;
    for (const DeviceLayer& l : encoder_) floats += layer_floats(l, B);
    for (const DeviceLayer& l : decoder_) floats += layer_floats(l, KB);
    const size_t bytes = floats * sizeof(float) + B * D;
    const size_t available = device::available_bytes(kind_);
    if (bytes > available)
      throw Error("fused-cuda: batch " + std::to_string(batch) + " needs " + std::to_string(bytes) +
                  " bytes of device memory for its activations and workspace, " + std::to_string(available) +
                  " are free on " + device());

    Workspace& w = workspaces_[batch];
    w.batch = batch;
    const auto buffers_for = [&](const DeviceLayer& l, size_t rows) {
      LayerBuffers b;
      b.y = Array<float>(kind_, rows * size_t(l.out));
      if (l.batch_norm) {
        b.pre = Array<float>(kind_, rows * size_t(l.out));
        b.mean = Array<float>(kind_, size_t(l.channels));
        b.rstd = Array<float>(kind_, size_t(l.channels));
      }
      return b;
    };
    w.x_bytes = Array<std::uint8_t>(kind_, B * D);
    w.eps = Array<float>(kind_, KB * Z);
    for (const DeviceLayer& l : encoder_) w.enc.push_back(buffers_for(l, B));
    w.heads = Array<float>(kind_, B * 2 * Z);
    w.z = Array<float>(kind_, KB * Z);
    for (const DeviceLayer& l : decoder_) w.dec.push_back(buffers_for(l, KB));
    w.d_logits = Array<float>(kind_, KB * D);
    w.row_nll = Array<float>(kind_, nll_floats);
    w.kl = Array<float>(kind_, B);
    w.recon = Array<float>(kind_, B);
    w.loss = Array<float>(kind_, B);
    w.elbo = Array<float>(kind_, B);
    w.grad_a = Array<float>(kind_, widest);
    w.grad_b = Array<float>(kind_, widest);
    w.dz = Array<float>(kind_, dz);
    w.gemm_workspace = Array<float>(kind_, scratch);
    return w;
  }

  void load_inputs(Workspace& w, const std::vector<double>& x, const std::vector<double>& eps) {
    if (w.x.size() == 0) {  // the validation path's float inputs; training reads the resident bytes
      const size_t bytes = x.size() * sizeof(float);
      if (bytes > device::available_bytes(kind_))
        throw Error("fused-cuda: batch " + std::to_string(w.batch) + " needs " + std::to_string(bytes) +
                    " more bytes of device memory for its float inputs, " +
                    std::to_string(device::available_bytes(kind_)) + " are free on " + device());
      w.x = Array<float>(kind_, x.size());
    }
    const std::vector<float> xf(x.begin(), x.end()), ef(eps.begin(), eps.end());
    device::copy_to_device(stream_, w.x.data(), xf.data(), w.x.bytes());
    device::copy_to_device(stream_, w.eps.data(), ef.data(), w.eps.bytes());
    stream_.synchronize();  // the host vectors end here
  }

  // What a training step needs on the device before its launches: the batch's images in the
  // order, the KL weight, and graphs captured with the current noise seed.
  Workspace& prepare_step(const std::vector<size_t>& indices, uint64_t epoch, const StepOptions& o) {
    Workspace& w = workspace(int(indices.size()));
    place_batch(indices, epoch);
    if (o.kl_weight != kl_weight_host_) write_kl_weight(o.kl_weight);
    if (o.noise_seed != noise_seed_) {
      noise_seed_ = o.noise_seed;
      for (auto& [batch, ws] : workspaces_) ws.train_step = device::Graph();  // the seed is part of the capture
    }
    return w;
  }

  // The device holds order_host_ in order_ and the cursor {epoch, cursor_host_}: a batch that
  // is its next slice needs nothing; any other becomes the device's order (its own indices).
  void place_batch(const std::vector<size_t>& indices, uint64_t epoch) {
    const auto is_slice_at = [&](size_t position) {
      return epoch == order_epoch_ && position + indices.size() <= order_host_.size() &&
             std::equal(indices.begin(), indices.end(), order_host_.begin() + long(position));
    };
    if (is_slice_at(cursor_host_)) return;
    if (is_slice_at(0)) {  // the same batch again (the train_step benchmark): rewind on the device
      device::memset(stream_, &cursor_.data()->position, 0, sizeof(std::int64_t));
      cursor_host_ = 0;
      return;
    }
    place_order(indices, epoch);
  }

  void place_order(const std::vector<size_t>& indices, uint64_t epoch) {
    if (images_.size() == 0) throw Error("fused-cuda: training before set_train_data");
    if (indices.size() > order_.size())
      throw Error("fused-cuda: " + std::to_string(indices.size()) + " images in one batch or order, the training split has " +
                  std::to_string(order_.size()));
    order_host_.assign(indices.begin(), indices.end());
    std::vector<std::uint32_t> order(indices.begin(), indices.end());
    const k::data::BatchCursor cursor{std::int64_t(epoch), 0};
    device::copy_to_device(stream_, order_.data(), order.data(), order.size() * sizeof(std::uint32_t));
    device::copy_to_device(stream_, cursor_.data(), &cursor, sizeof cursor);
    stream_.synchronize();  // the host copies end here (pageable memory)
    order_epoch_ = epoch;
    cursor_host_ = 0;
  }

  void write_kl_weight(double weight) {
    device::copy_to_device(stream_, kl_weight_.data(), &weight, sizeof weight);
    stream_.synchronize();
    kl_weight_host_ = weight;
  }

  // The data-parallel sum of the step's gradient, once the backward is done (no-op alone).
  void reduce_gradient() {
    if (!data_parallel()) return;
    stream_.synchronize();
    all_reduce_gradient(grad_.data(), grad_.size(), GradientAllReduce::Element::f32);
  }

  void gather_and_noise(Workspace& w, uint64_t noise_seed, BatchSlice slice = {}) {
    k::data::GatherArgs g;
    g.batch = w.batch;
    g.pixels = config().input_dim;
    g.images = images_.data();
    g.image_count = image_count_;
    g.order = order_.data();
    g.order_count = order_.size();  // the capacity: a captured gather outlives any one order
    g.cursor = cursor_.data();
    g.binarize = train_binarize();
    g.binarize_seed = train_binarize_seed();
    g.x_bytes = w.x_bytes.data();
    k::data::gather(stream_, k::data::Version::per_element, g);
    k::data::NoiseArgs n;
    n.samples = config().samples;
    n.batch = w.batch;
    n.latent = config().latent;
    n.seed = noise_seed;
    n.first = slice.first;
    n.global_batch = slice.global;
    n.steps_taken = &adam_state_.data()->step;  // the step's number: optimizer steps before it
    n.eps = w.eps.data();
    k::data::noise(stream_, k::data::Version::per_element, n);
  }

  void training_step(Workspace& w, const StepOptions& o) {
    gather_and_noise(w, o.noise_seed, o.slice);
    forward(w, nullptr, w.x_bytes.data(), BatchNormMode::batch_update);
    output_likelihood(w, true, sums_.data(), nullptr, w.x_bytes.data(), /*with_kl_weight=*/true);
    backward(w, nullptr, w.x_bytes.data(), /*with_kl_weight=*/true);
    reduce_gradient();
    adam_step(o.adam, true);
    k::data::advance(stream_, cursor_.data(), w.batch);
  }

  float* param(size_t offset) const { return params_.data() + offset; }
  float* gradient(size_t offset) const { return grad_.data() + offset; }

  void gemm_forward(const DeviceLayer& l, int rows, const float* x, const std::uint8_t* x_bytes, float* y,
                    Workspace& w, const k::gemm::LikelihoodEpilogue* likelihood = nullptr,
                    const k::gemm::LatentEpilogue* latent = nullptr) {
    k::gemm::ForwardArgs a;
    a.batch = rows;
    a.in = l.in;
    a.out = l.out;
    a.x = x;
    a.x_bytes = x ? nullptr : x_bytes;
    a.weight = param(l.weight);
    a.bias = param(l.bias);
    a.activation = l.act;
    a.y = y;
    a.workspace = w.gemm_workspace.data();
    a.workspace_size = w.gemm_workspace.size();
    a.likelihood = likelihood;
    a.latent = latent;
    k::gemm::forward(stream_, versions_.gemm, a);
  }

  void gemm_backward(const DeviceLayer& l, int rows, const float* dy, const float* y, const float* x,
                     const std::uint8_t* x_bytes, float* dx, Workspace& w,
                     const k::gemm::LatentBackwardEpilogue* latent = nullptr) {
    k::gemm::BackwardArgs a;
    a.batch = rows;
    a.in = l.in;
    a.out = l.out;
    a.dy = dy;
    a.y = y;
    a.activation = l.act;
    a.x = x;
    a.x_bytes = x ? nullptr : x_bytes;
    a.weight = param(l.weight);
    a.dx = dx;
    a.dw = gradient(l.weight);
    a.db = gradient(l.bias);
    a.workspace = w.gemm_workspace.data();
    a.workspace_size = w.gemm_workspace.size();
    a.latent = latent;
    k::gemm::backward(stream_, versions_.gemm, a);
  }

  // A hidden layer's forward: dense (GEMM, activation in the epilogue) or conv (the conv
  // kernel; with batch norm in training its output goes to `pre`, and batch norm applies the
  // activation; in evaluation, with the running statistics, the conv's epilogue normalises
  // and `pre` is not written).
  void layer_forward(const DeviceLayer& l, int rows, const float* x, const std::uint8_t* x_bytes, LayerBuffers& out,
                     Workspace& w, BatchNormMode mode) {
    if (!l.is_conv()) return gemm_forward(l, rows, x, x_bytes, out.y.data(), w);
    const bool normalise_in_epilogue = l.batch_norm && mode == BatchNormMode::running;
    k::conv::EvalBatchNormEpilogue eval;
    if (normalise_in_epilogue) {
      eval.gamma = param(l.bn_weight), eval.beta = param(l.bn_bias);
      eval.running_mean = running_.data() + l.running_mean;
      eval.running_var = running_.data() + l.running_var;
      eval.eps = kBatchNormEps;
      eval.activation = l.act;
    }
    k::conv::ForwardArgs a;
    a.geometry = l.geometry;
    a.batch = rows;
    a.x = x;
    a.x_bytes = x ? nullptr : x_bytes;
    a.weight = param(l.weight);
    a.bias = param(l.bias);
    a.activation = l.batch_norm ? k::gemm::Activation::identity : l.act;
    a.y = l.batch_norm && !normalise_in_epilogue ? out.pre.data() : out.y.data();
    a.eval_batch_norm = normalise_in_epilogue ? &eval : nullptr;
    a.workspace = w.gemm_workspace.data();
    a.workspace_size = w.gemm_workspace.size();
    k::conv::forward(stream_, versions_.conv, a);
    if (!l.batch_norm || normalise_in_epilogue) return;
    k::batch_norm::TrainForwardArgs t;
    t.batch = rows, t.channels = l.channels, t.hw = l.hw;
    t.x = out.pre.data();
    t.gamma = param(l.bn_weight), t.beta = param(l.bn_bias);
    t.eps = kBatchNormEps, t.momentum = kBatchNormMomentum;
    t.activation = l.act;
    t.y = out.y.data();
    t.mean = out.mean.data(), t.rstd = out.rstd.data();
    t.workspace = w.gemm_workspace.data(), t.workspace_size = w.gemm_workspace.size();
    if (mode == BatchNormMode::batch_update) {
      t.running_mean = running_.data() + l.running_mean;
      t.running_var = running_.data() + l.running_var;
      t.num_batches_tracked = counts_.data() + l.count;
    }
    k::batch_norm::train_forward(stream_, kBatchNormVersion, t);
  }

  // A layer's backward from dy, the gradient of its output y: dense (GEMM, act' as the
  // prologue) or conv (batch norm's backward first, in place over dy: each element is read
  // before it is written, and the conv's bias gradient summed in the same pass; then the
  // conv's dx and dW). Writes dx unless null (the first layer).
  void layer_backward(const DeviceLayer& l, int rows, float* dy, const float* y, const float* x,
                      const std::uint8_t* x_bytes, const LayerBuffers* out, float* dx, Workspace& w) {
    if (!l.is_conv()) return gemm_backward(l, rows, dy, y, x, x_bytes, dx, w);
    k::gemm::Activation act = l.act;
    if (l.batch_norm) {
      k::batch_norm::BackwardArgs b;
      b.batch = rows, b.channels = l.channels, b.hw = l.hw;
      b.dy = dy, b.y = y, b.activation = l.act;
      b.x = out->pre.data();
      b.gamma = param(l.bn_weight);
      b.mean = out->mean.data(), b.rstd = out->rstd.data();
      b.dx = dy;
      b.dgamma = gradient(l.bn_weight), b.dbeta = gradient(l.bn_bias);
      b.dbias = gradient(l.bias);  // the conv's bias gradient, summed in batch norm's dx pass
      b.workspace = w.gemm_workspace.data(), b.workspace_size = w.gemm_workspace.size();
      k::batch_norm::backward(stream_, kBatchNormVersion, b);
      act = k::gemm::Activation::identity;  // dy is now the gradient of the conv's output
    }
    k::conv::BackwardArgs a;
    a.geometry = l.geometry;
    a.batch = rows;
    a.dy = dy;
    a.y = act == k::gemm::Activation::identity ? nullptr : y;
    a.activation = act;
    a.x = x;
    a.x_bytes = x ? nullptr : x_bytes;
    a.weight = param(l.weight);
    a.dx = dx;
    a.dw = gradient(l.weight);
    a.db = l.batch_norm ? nullptr : gradient(l.bias);  // with batch norm: its backward summed it
    a.workspace = w.gemm_workspace.data();
    a.workspace_size = w.gemm_workspace.size();
    k::conv::backward(stream_, versions_.conv, a);
  }

  // Whether the heads GEMM computes z and KL in its epilogue: mu and logvar must share its
  // 64-column tile (2Z <= 64); wider latents run latent::forward after it.
  bool latent_in_epilogue() const {
    return k::gemm::has_epilogues(versions_.gemm) && heads_.out <= k::gemm::kEpilogueTileCols;
  }

  // Encoder, heads with reparameterization + KL, decoder up to its last hidden layer (the
  // output layer runs with the likelihood: output_likelihood). The input is floats (x) or the
  // gathered bytes, which the first layer reads as byte / 255.
  void forward(Workspace& w, const float* x, const std::uint8_t* x_bytes, BatchNormMode mode) {
    const int B = w.batch, KB = config().samples * B;
    const float* in = x;
    const std::uint8_t* in_bytes = x_bytes;
    for (size_t l = 0; l < encoder_.size(); ++l) {
      layer_forward(encoder_[l], B, in, in_bytes, w.enc[l], w, mode);
      in = w.enc[l].y.data();
      in_bytes = nullptr;
    }
    if (latent_in_epilogue()) {
      k::gemm::LatentEpilogue lat;
      lat.samples = config().samples;
      lat.eps = w.eps.data();
      lat.z = w.z.data();
      lat.kl = w.kl.data();
      gemm_forward(heads_, B, in, in_bytes, w.heads.data(), w, nullptr, &lat);
    } else {
      gemm_forward(heads_, B, in, in_bytes, w.heads.data(), w);
      k::latent::ForwardArgs lat;
      lat.batch = B;
      lat.latent = config().latent;
      lat.samples = config().samples;
      lat.heads = w.heads.data();
      lat.eps = w.eps.data();
      lat.z = w.z.data();
      lat.kl = w.kl.data();
      k::latent::forward(stream_, k::latent::Version::per_image, lat);
    }
    in = w.z.data();
    for (size_t l = 0; l < decoder_.size(); ++l) {
      layer_forward(decoder_[l], KB, in, nullptr, w.dec[l], w, mode);
      in = w.dec[l].y.data();
    }
  }

  // The output layer and the likelihood, then the per-image losses. The output layer's GEMM
  // (dense) or conv (v3, v4) has the likelihood in its epilogue: dL/dO if write_gradient, and
  // the NLL's sums per tile and row (GEMM) or per block and image (conv); the logits never
  // reach memory, and likelihood v2 assembles the losses. A conv version without the
  // epilogue writes the logits, which likelihood v1 turns into the losses and dL/dO in place.
  void output_likelihood(Workspace& w, bool write_gradient, k::RunningSums* sums, const float* x,
                         const std::uint8_t* x_bytes, bool with_kl_weight = false) {
    const int KB = config().samples * w.batch;
    const float* hidden = decoder_.empty() ? w.z.data() : w.dec.back().y.data();
    k::likelihood::Args a;
    a.likelihood = config().likelihood;
    a.batch = w.batch;
    a.samples = config().samples;
    a.pixels = config().input_dim;
    a.kl = w.kl.data();
    a.beta = config().beta;
    a.kl_weight = with_kl_weight ? kl_weight_.data() : nullptr;
    a.recon = w.recon.data();
    a.loss = w.loss.data();
    a.elbo = w.elbo.data();
    a.sums = sums;
    if (sums && write_gradient) {  // a training step: record the first non-finite loss
      a.nonfinite = nonfinite_.data();
      a.steps_taken = &adam_state_.data()->step;
    }
    if (out_.is_conv()) {
      k::conv::ForwardArgs f;
      f.geometry = out_.geometry;
      f.batch = KB;
      f.x = hidden;
      f.weight = param(out_.weight);
      f.bias = param(out_.bias);
      f.activation = k::gemm::Activation::identity;
      f.y = w.d_logits.data();
      f.workspace = w.gemm_workspace.data();
      f.workspace_size = w.gemm_workspace.size();
      k::conv::LikelihoodEpilogue e;
      if (k::conv::has_likelihood_epilogue(versions_.conv)) {
        e.likelihood = config().likelihood;
        e.batch = w.batch;
        e.samples = config().samples;
        e.x = x;
        e.x_bytes = x ? nullptr : x_bytes;
        e.write_gradient = write_gradient;
        e.block_nll = w.row_nll.data();
        f.likelihood = &e;
      }
      k::conv::forward(stream_, versions_.conv, f);
      if (f.likelihood) {
        a.row_nll = w.row_nll.data();
        a.conv_hw = int(out_.geometry.out_h() * out_.geometry.out_w());
        a.conv_channels = out_.geometry.out_channels;
        return k::likelihood::run(stream_, k::likelihood::Version::tile_sums, a);
      }
      a.logits = w.d_logits.data();
      a.write_gradient = write_gradient;
      a.x = x;
      a.x_bytes = x ? nullptr : x_bytes;
      return k::likelihood::run(stream_, k::likelihood::Version::row_blocks, a);
    }
    k::gemm::LikelihoodEpilogue e;
    e.likelihood = config().likelihood;
    e.batch = w.batch;
    e.samples = config().samples;
    e.x = x;
    e.x_bytes = x ? nullptr : x_bytes;
    e.write_gradient = write_gradient;
    e.row_nll = w.row_nll.data();
    gemm_forward(out_, KB, hidden, nullptr, w.d_logits.data(), w, &e);
    a.row_nll = w.row_nll.data();
    k::likelihood::run(stream_, k::likelihood::Version::tile_sums, a);
  }

  // dL/dO back to every parameter's gradient.
  void backward(Workspace& w, const float* x, const std::uint8_t* x_bytes, bool with_kl_weight = false) {
    const int B = w.batch, KB = config().samples * B;
    float* bufs[2] = {w.grad_a.data(), w.grad_b.data()};
    int next = 0;
    // With one sample, the decoder's first layer (dense: it reads z) turns dz into dH in its dX
    // epilogue; with K > 1 an image's K rows of dz lie in other blocks, and latent::backward
    // adds them after it.
    const bool latent_in_epilogue = config().samples == 1;
    k::gemm::LatentBackwardEpilogue lat_epilogue;
    lat_epilogue.heads = w.heads.data();
    lat_epilogue.eps = w.eps.data();
    lat_epilogue.beta = config().beta;
    lat_epilogue.kl_weight = with_kl_weight ? kl_weight_.data() : nullptr;
    lat_epilogue.d_heads = w.heads.data();
    // Output layer and decoder, top first; the last one writes dz (or dH).
    float* dy = w.d_logits.data();
    const float* y = nullptr;  // the output layer's activation is the identity
    const DeviceLayer* layer = &out_;
    const LayerBuffers* outputs = nullptr;
    for (size_t i = decoder_.size() + 1; i-- > 0;) {
      const bool first_decoder_layer = i == 0;
      const float* input = first_decoder_layer ? w.z.data() : w.dec[i - 1].y.data();
      if (first_decoder_layer && latent_in_epilogue) {
        gemm_backward(*layer, KB, dy, y, input, nullptr, nullptr, w, &lat_epilogue);
        break;
      }
      float* dx = first_decoder_layer ? w.dz.data() : bufs[next];
      layer_backward(*layer, KB, dy, y, input, nullptr, outputs, dx, w);
      if (first_decoder_layer) break;
      dy = dx;
      y = w.dec[i - 1].y.data();
      layer = &decoder_[i - 1];
      outputs = &w.dec[i - 1];
      next ^= 1;
    }
    if (!latent_in_epilogue) {
      k::latent::BackwardArgs lat;
      lat.batch = B;
      lat.latent = config().latent;
      lat.samples = config().samples;
      lat.heads = w.heads.data();
      lat.eps = w.eps.data();
      lat.dz = w.dz.data();
      lat.beta = config().beta;
      lat.kl_weight = lat_epilogue.kl_weight;
      lat.d_heads = w.heads.data();
      k::latent::backward(stream_, k::latent::Version::per_image, lat);
    }
    // Heads and encoder, top first; the first layer reads the input and writes no dx.
    dy = w.heads.data();
    y = w.heads.data();
    layer = &heads_;
    outputs = nullptr;
    for (size_t i = encoder_.size() + 1; i-- > 0;) {
      const bool first_layer = i == 0;
      const float* input = first_layer ? x : w.enc[i - 1].y.data();
      float* dx = first_layer ? nullptr : bufs[next];
      layer_backward(*layer, B, dy, y, input, first_layer ? x_bytes : nullptr, outputs, dx, w);
      if (first_layer) break;
      dy = dx;
      y = w.enc[i - 1].y.data();
      layer = &encoder_[i - 1];
      outputs = &w.enc[i - 1];
      next ^= 1;
    }
  }

  void adam_step(const AdamOptions& options, bool record_nonfinite) {
    k::adam::StepArgs a;
    a.count = params_.size();
    a.params = params_.data();
    a.exp_avg = exp_avg_.data();
    a.exp_avg_sq = exp_avg_sq_.data();
    a.grad = grad_.data();
    a.options = options;
    a.state = adam_state_.data();
    a.nonfinite = record_nonfinite ? nonfinite_.data() : nullptr;
    k::adam::step(stream_, k::adam::Version::grid_stride, a);
  }

  void reset_adam(std::int64_t step) {
    device::memset(stream_, exp_avg_.data(), 0, exp_avg_.bytes());
    device::memset(stream_, exp_avg_sq_.data(), 0, exp_avg_sq_.bytes());
    const k::adam::DeviceState s{step, 0.0f, 0.0f};
    device::copy_to_device(stream_, adam_state_.data(), &s, sizeof s);
    device::memset(stream_, nonfinite_.data(), 0xff, nonfinite_.bytes());  // -1: finite so far
    stream_.synchronize();
  }

  BatchLosses read_losses(Workspace& w) const {
    const auto get = [&](const Array<float>& a) {
      const std::vector<float> f = device::to_host(stream_, a);
      return std::vector<double>(f.begin(), f.end());
    };
    return {get(w.recon), get(w.kl), get(w.loss), get(w.elbo)};
  }

  void upload(Array<float>& a, const std::vector<double>& flat) {
    std::vector<float> packed;
    packing_.convert(flat, packed, true);
    device::copy_to_device(stream_, a.data(), packed.data(), a.bytes());
    stream_.synchronize();
  }
  std::vector<double> download(const Array<float>& a) const {
    const std::vector<float> packed = device::to_host(stream_, a);
    std::vector<double> flat;
    packing_.convert(packed, flat, false);
    return flat;
  }

  Kind kind_;
  std::string precision_;
  KernelVersions versions_;  // the GEMM and conv versions of precision_
  device::Stream stream_;
  HeadsPacking packing_;
  std::vector<DeviceLayer> encoder_, decoder_;
  DeviceLayer heads_, out_;
  size_t batch_norm_layers_ = 0;
  Array<float> running_;                 // batch norm's running statistics (BufferLayout offsets;
                                         // the count slots unused)
  Array<std::int64_t> counts_;           // num_batches_tracked, one per batch-norm layer
  Array<float> params_, grad_, exp_avg_, exp_avg_sq_;
  Array<k::adam::DeviceState> adam_state_;
  Array<std::int64_t> nonfinite_;
  Array<k::RunningSums> sums_;
  Array<double> kl_weight_;
  double kl_weight_host_ = 1.0;
  uint64_t noise_seed_ = 0;
  Array<k::data::BatchCursor> cursor_;
  Array<std::uint8_t> images_;
  size_t image_count_ = 0;
  Array<std::uint32_t> order_;           // [N]: the epoch's order, or one batch's indices
  std::vector<size_t> order_host_;       // what order_ holds
  uint64_t order_epoch_ = 0;             // the cursor's epoch
  size_t cursor_host_ = 0;               // the cursor's position, as the device has it
  std::map<int, Workspace> workspaces_;
};

}  // namespace

BackendInfo fused_backend_info() {
  BackendInfo info;
  info.name = "fused-cuda";
  info.description = "our own CUDA kernels, the whole step fused and captured (cuda-emu: the same kernels on the CPU executor, for validation)";
  info.devices = {"cuda", "cuda-emu"};
  // bf16: the GEMM and conv operands in bf16 with fp32 sums; master weights, Adam, batch norm,
  // the latent, the likelihood and every reduction in fp32 (activations stay fp32 in memory).
  info.precisions = {"fp32", "tf32", "bf16"};
  info.usable = [](const std::string& device, std::string& reason) {
    if (device == "cuda-emu") return true;
    if (device == "cuda" || device == "cuda:0") return device::cuda_usable(&reason);
    reason = "fused-cuda runs on cuda (the GPU) or cuda-emu (its kernels on the CPU executor)";
    return false;
  };
  // The GEMM and conv epilogues apply relu, tanh or nothing (kernels/activation_math.h).
  info.supports = [](const VaeConfig& config, std::string& reason) {
    const ModelLayers model(model_spec(config));
    for (const DerivedLayer& l : model.layers()) {
      const LayerActivation a = l.spec.activation;
      if (a == LayerActivation::Relu || a == LayerActivation::Tanh || a == LayerActivation::None) continue;
      reason = "fused-cuda's kernels apply relu, tanh or no activation; " + l.label + " has " + activation_text(l.spec);
      return false;
    }
    return true;
  };
  info.create = [](const VaeConfig& config, const std::string& device, const std::string& precision) {
    return std::unique_ptr<Backend>(
        new FusedBackend(config, device == "cuda-emu" ? Kind::emu : Kind::cuda, precision));
  };
  return info;
}

}  // namespace vae
