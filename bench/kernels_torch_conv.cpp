#include "kernels_torch_conv.h"

#include "common/error.h"
#include "kernels/conv/conv_plan.h"

#if defined(VAE_KERNELS_TORCH)
#include <torch/torch.h>

#include "libtorch/autocast.h"
#if VAE_TORCH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif
#endif

namespace vae::bench::kernels {

namespace conv = vae::kernels::conv;

ConvWork conv_work(const conv::check::Prepared& p, bool reads_bytes) {
  const ConvGeometry& g = p.c.geometry;
  const double batch = p.c.batch;
  const conv::plan::Core core = conv::plan::core_of(g, p.c.batch);
  const conv::plan::Dims d = conv::plan::dims(conv::Direction::forward, core);
  const double macs = double(d.rows) * d.cols * d.depth;  // the core conv's: the layer's either way
  const double x = batch * g.in_size(), y = batch * g.out_size(), w = g.weight_size(), b = g.out_channels;
  const double x_bytes = reads_bytes && !p.x_bytes.empty() ? 1.0 : 4.0;
  ConvWork work;
  if (p.pass == conv::Pass::forward) {
    work.flops = 2 * macs + y;
    work.bytes_moved = x_bytes * x + 4 * (w + b + y);
  } else {
    const bool prologue = p.c.activation != conv::Activation::identity;
    work.flops = 4 * macs + y;
    work.bytes_moved = 4 * (y * (prologue ? 2 : 1) + w) + x_bytes * x + 4 * (x + w + b);
  }
  return work;
}

#if !defined(VAE_KERNELS_TORCH)
bool torch_conv_available(std::string* why) {
  if (why) *why = "this build has no LibTorch (configured with VAE_WITH_TORCH=OFF)";
  return false;
}

std::shared_ptr<LibraryCall> torch_conv_call(const device::Stream&, const std::string&, const conv::check::Prepared&) {
  throw vae::Error("bench --cudnn: this build has no LibTorch (configured with VAE_WITH_TORCH=OFF)");
}
#else
bool torch_conv_available(std::string*) { return true; }

namespace {

torch::Tensor tensor(const std::vector<float>& host, std::vector<std::int64_t> sizes, const torch::Device& device) {
  return torch::from_blob(const_cast<float*>(host.data()), sizes, torch::kFloat).to(device, /*non_blocking=*/false,
                                                                                     /*copy=*/true);
}

std::vector<float> to_host(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

// The tensors of one call and its last results, alive as long as the timed call.
struct State {
  torch::Tensor x, weight, bias, dy, y;
  std::vector<torch::Tensor> results;
};

}  // namespace

std::shared_ptr<LibraryCall> torch_conv_call(const device::Stream& stream, const std::string& precision,
                                             const conv::check::Prepared& p) {
  const bool gpu = stream.kind() == device::Kind::cuda, tf32 = precision == "tf32";
  if (precision != "fp32" && !tf32) throw vae::Error("bench --cudnn: no LibTorch comparison in " + precision);
  if (tf32 && !gpu) throw vae::Error("bench --cudnn: tf32 is cuDNN's on a GPU; the CPU convolution runs fp32 only");
#if !VAE_TORCH_CUDA
  if (gpu)
    throw vae::Error("bench --cudnn: this build links no CUDA part of LibTorch (CPU-only LibTorch, or "
                     "VAE_TORCH_CPU_ONLY)");
#endif
  const ConvGeometry& g = p.c.geometry;
  const std::int64_t B = p.c.batch;
  const torch::Device device = gpu ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  auto state = std::make_shared<State>();
  // cuDNN reads floats: uint8 images as the kernels see them, byte / 255 rounded to float.
  std::vector<float> x = p.x;
  for (std::uint8_t b : p.x_bytes) x.push_back(float(b) / 255.0f);
  state->x = tensor(x, {B, g.in_channels, g.in_h, g.in_w}, device);
  const std::int64_t w0 = g.transposed ? g.in_channels : g.out_channels, w1 = g.transposed ? g.out_channels : g.in_channels;
  state->weight = tensor(p.weight, {w0, w1, g.kernel, g.kernel}, device);
  const std::vector<std::int64_t> y_sizes{B, g.out_channels, g.out_h(), g.out_w()};
  const std::vector<std::int64_t> stride{g.stride, g.stride}, padding{g.padding, g.padding}, dilation{1, 1};
  const std::vector<std::int64_t> output_padding{g.output_padding, g.output_padding};
  const conv::Activation activation = p.c.activation;
  const bool forward = p.pass == conv::Pass::forward;
  if (forward) {
    state->bias = tensor(p.bias, {g.out_channels}, device);
  } else {
    state->dy = tensor(p.dy, y_sizes, device);
    state->y = tensor(p.y, y_sizes, device);
  }
  const bool transposed = g.transposed;
  const std::int64_t out_channels = g.out_channels;
  const auto work = [state, forward, activation, stride, padding, dilation, output_padding, transposed, out_channels,
                     tf32, gpu]() {
    torch::NoGradGuard no_grad;
    if (gpu) vae::libtorch::set_cuda_tf32(tf32);  // process-wide: set for this call
    if (forward) {
      torch::Tensor y = at::convolution(state->x, state->weight, state->bias, stride, padding, dilation, transposed,
                                        output_padding, /*groups=*/1);
      if (activation == conv::Activation::relu) y.relu_();
      else if (activation == conv::Activation::tanh) y.tanh_();
      state->results = {y};
      return;
    }
    torch::Tensor grad = state->dy;
    if (activation == conv::Activation::relu) grad = at::threshold_backward(state->dy, state->y, 0);
    else if (activation == conv::Activation::tanh) grad = at::tanh_backward(state->dy, state->y);
    const std::vector<std::int64_t> bias_sizes{out_channels};
    auto [dx, dw, db] = at::convolution_backward(grad, state->x, state->weight, bias_sizes, stride, padding, dilation,
                                                 transposed, output_padding, /*groups=*/1, {true, true, true});
    state->results = {dx, dw, db};
  };
  auto result = std::make_shared<LibraryCall>();
  result->precision = precision;
  result->name = std::string(gpu ? "cudnn-" : "torch-cpu-") + precision;
#if VAE_TORCH_CUDA
  if (gpu) {
    at::globalContext().setBenchmarkCuDNN(true);  // cuDNN's autotuner, as a performance-minded user runs it
    // The inputs were copied on LibTorch's current stream; the timed work runs on ours.
    c10::cuda::getCurrentCUDAStream(0).synchronize();
    const c10::cuda::CUDAStream on = c10::cuda::getStreamFromExternal(
        static_cast<cudaStream_t>(stream.cuda_stream()), /*device_index=*/0);
    result->call = [work, on](const device::Stream&) {
      const c10::cuda::CUDAStreamGuard guard(on);  // LibTorch's work on the stream the events time
      work();
    };
  }
#endif
  if (!gpu) result->call = [work](const device::Stream&) { work(); };
  const ConvWork counted = conv_work(p, /*reads_bytes=*/false);
  result->flops = counted.flops, result->bytes_moved = counted.bytes_moved;
  result->call(stream);  // the first call: autotunes on a GPU, and gives the results judged
  stream.synchronize();
  const tol::GemmTolerance& t = tol::gemm(precision);
  for (std::size_t o = 0; o < p.outputs.size(); ++o)
    judge_library_output(p.outputs[o], to_host(state->results.at(o)), p.expected[o], t, result->failures);
  return result;
}
#endif

}  // namespace vae::bench::kernels
