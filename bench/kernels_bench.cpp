// vaebench-kernels bench: Google Benchmark of every selected version on a GPU, the GEMM and
// conv families in one run (one JSON). Each version is validated against double precision
// first (a failing one is not timed), and so is each library comparison (cuBLAS for the GEMMs,
// cuDNN through LibTorch for the convolutions); each iteration flushes L2 (a memset over twice
// its size), then times the call between two CUDA events. Reported: time, TFLOP/s, % of the
// device's FP32 / TF32 / BF16 peak (bench/device_peaks.h), and bytes/s of compulsory traffic
// (each operand read once, each result written once).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <memory>

#include "common/error.h"
#include "device_peaks.h"
#include "kernels_commands.h"
#include "kernels_cublas.h"
#include "kernels_torch_conv.h"

#if defined(VAE_WITH_CUDA)
#include <cuda_runtime.h>
#endif

namespace vae::bench::kernels {

namespace gemm = vae::kernels::gemm;
namespace conv = vae::kernels::conv;

namespace {

// Operands and results of one timed call, in device memory for the whole run.
struct Buffers {
  std::vector<device::Array<float>> floats;
  device::Array<std::uint8_t> bytes;
  std::function<void(const device::Stream&)> call;
  double flops = 0, bytes_moved = 0;
};

const float* data_or_null(const device::Array<float>& a) { return a.size() ? a.data() : nullptr; }

std::shared_ptr<Buffers> buffers_for(const device::Stream& s, gemm::Version v, const gemm::check::Prepared& p) {
  auto b = std::make_shared<Buffers>();
  const auto& l = p.layer;
  const double M = l.batch, K = l.in, N = l.out, x_bytes = l.x_bytes.empty() ? 4 : 1;
  auto add = [&](const std::vector<float>& host) -> const device::Array<float>& {
    b->floats.push_back(device::to_device(s, host));
    return b->floats.back();
  };
  b->floats.reserve(12);
  b->bytes = device::to_device(s, l.x_bytes);
  const float* x = data_or_null(add(l.x));
  const float* w = data_or_null(add(l.weight));
  const std::size_t workspace_size = gemm::workspace_floats(v, p.pass, l.batch, l.in, l.out);
  float* workspace = b->floats.emplace_back(s.kind(), workspace_size).data();
  const std::uint8_t* xb = l.x_bytes.empty() ? nullptr : b->bytes.data();
  if (p.pass == gemm::Pass::forward) {
    gemm::ForwardArgs a;
    a.batch = l.batch, a.in = l.in, a.out = l.out, a.x = x, a.x_bytes = xb, a.weight = w;
    a.bias = data_or_null(add(l.bias));
    a.activation = l.activation;
    a.y = b->floats.emplace_back(s.kind(), std::size_t(M * N)).data();
    a.workspace = workspace, a.workspace_size = workspace_size;
    b->call = [v, a](const device::Stream& st) { gemm::forward(st, v, a); };
    b->flops = 2 * M * N * K;
    b->bytes_moved = x_bytes * M * K + 4 * (N * K + N + M * N);
  } else {
    gemm::BackwardArgs a;
    a.batch = l.batch, a.in = l.in, a.out = l.out, a.x = x, a.x_bytes = xb, a.weight = w;
    a.dy = data_or_null(add(l.dy)), a.y = data_or_null(add(l.y)), a.activation = l.activation;
    a.dx = b->floats.emplace_back(s.kind(), std::size_t(M * K)).data();
    a.dw = b->floats.emplace_back(s.kind(), std::size_t(N * K)).data();
    a.db = b->floats.emplace_back(s.kind(), std::size_t(N)).data();
    a.workspace = workspace, a.workspace_size = workspace_size;
    b->call = [v, a](const device::Stream& st) { gemm::backward(st, v, a); };
    b->flops = 4 * M * N * K + M * N;
    // dY and Y read by both products; W, X read; dX, dW, db written.
    b->bytes_moved = 2 * 2 * 4 * M * N + 4 * N * K + x_bytes * M * K + 4 * (M * K + N * K + N);
  }
  return b;
}

std::shared_ptr<Buffers> buffers_for(const device::Stream& s, conv::Version v, const conv::check::Prepared& p) {
  auto b = std::make_shared<Buffers>();
  const conv::check::Case& c = p.c;
  const ConvGeometry& g = c.geometry;
  auto add = [&](const std::vector<float>& host) -> const device::Array<float>& {
    b->floats.push_back(device::to_device(s, host));
    return b->floats.back();
  };
  auto output = [&](std::size_t n) { return b->floats.emplace_back(s.kind(), n).data(); };
  b->floats.reserve(12);
  b->bytes = device::to_device(s, p.x_bytes);
  const float* x = data_or_null(add(p.x));
  const std::uint8_t* xb = p.x_bytes.empty() ? nullptr : b->bytes.data();
  const float* w = data_or_null(add(p.weight));
  const std::size_t workspace_size = conv::workspace_floats(v, p.pass, g, c.batch);
  float* workspace = output(workspace_size);
  const std::size_t xs = std::size_t(c.batch) * std::size_t(g.in_size()), ys = std::size_t(c.batch) * std::size_t(g.out_size());
  if (p.pass == conv::Pass::forward) {
    conv::ForwardArgs a;
    a.geometry = g, a.batch = c.batch, a.x = x, a.x_bytes = xb, a.weight = w;
    a.bias = data_or_null(add(p.bias));
    a.activation = c.activation;
    a.y = output(ys);
    a.workspace = workspace, a.workspace_size = workspace_size;
    b->call = [v, a](const device::Stream& st) { conv::forward(st, v, a); };
  } else {
    conv::BackwardArgs a;
    a.geometry = g, a.batch = c.batch, a.x = x, a.x_bytes = xb, a.weight = w;
    a.dy = data_or_null(add(p.dy)), a.y = data_or_null(add(p.y)), a.activation = c.activation;
    a.dx = output(xs), a.dw = output(std::size_t(g.weight_size())), a.db = output(std::size_t(g.out_channels));
    a.workspace = workspace, a.workspace_size = workspace_size;
    b->call = [v, a](const device::Stream& st) { conv::backward(st, v, a); };
  }
  const ConvWork work = conv_work(p, /*reads_bytes=*/true);
  b->flops = work.flops, b->bytes_moved = work.bytes_moved;
  return b;
}

// The conv cases a selection names: the given ones, else every preset's conv layers at the
// batch, each geometry once (presets share layers). The odd geometries are for `check`: their
// times would say nothing about a model.
std::vector<conv::check::Case> conv_cases(const Selection& s) {
  if (!s.conv_cases.empty()) return s.conv_cases;
  std::vector<conv::check::Case> out;
  for (const conv::check::Case& c : conv::check::preset_layers(s.batch)) {
    const auto same = [&](const conv::check::Case& o) { return o.label() == c.label() && o.byte_input == c.byte_input; };
    if (std::none_of(out.begin(), out.end(), same)) out.push_back(c);
  }
  return out;
}

}  // namespace

int bench(const Selection& selection, const std::vector<std::string>& families, std::vector<std::string> benchmark_args) {
  if (selection.device != device::Kind::cuda)
    throw vae::Error("bench: refusing to time on the CPU executor (cuda-emu): its times say nothing about a GPU. "
                     "Validate there with `vaebench-kernels check --device cuda-emu`; time with --device cuda on a GPU");
  const auto has = [&](const char* f) { return std::find(families.begin(), families.end(), f) != families.end(); };
  std::string why;
  if (selection.cudnn && !torch_conv_available(&why)) throw vae::Error("bench --cudnn: " + why);
  if (selection.cudnn && !has("conv")) throw vae::Error("bench --cudnn: the cuDNN comparison is for --family conv (or all)");
  if (selection.cublas && !has("gemm")) throw vae::Error("bench --cublas: the cuBLAS comparison is for --family gemm (or all)");
#if !defined(VAE_WITH_CUDA)
  (void)benchmark_args;
  throw vae::Error("bench: this build has no CUDA (configured with VAE_WITH_CUDA=OFF)");
#else
  cudaDeviceProp props{};
  if (cudaGetDeviceProperties(&props, 0) != cudaSuccess) throw vae::Error("bench: cannot query CUDA device 0");
  const std::optional<DevicePeak> peak = find_device_peak(props.name);
  std::printf("device: %s (%s), L2 %d MiB\n", props.name, peak ? peak->model.c_str() : "no peak in bench/device_peaks.cpp",
              props.l2CacheSize >> 20);
  const device::Stream stream(device::Kind::cuda);
  auto flush = std::make_shared<device::Array<unsigned char>>(device::Kind::cuda, std::size_t(2) * props.l2CacheSize);

  // One benchmark: L2 flushed, then the call between two CUDA events, per iteration.
  const auto time = [&](const std::string& name, std::function<void(const device::Stream&)> call, double flops,
                        double bytes_moved, std::optional<double> peak_tflops_here) {
    benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& state) {
      device::Event start(device::Kind::cuda), stop(device::Kind::cuda);
      double seconds = 0;
      for (auto _ : state) {
        device::memset(stream, flush->data(), int(state.iterations() & 0xff), flush->size());
        start.record(stream);
        call(stream);
        stop.record(stream);
        stop.synchronize();
        const double s = device::Event::elapsed_ms(start, stop) / 1e3;
        state.SetIterationTime(s);
        seconds += s;
      }
      const double per_call = seconds / double(state.iterations());
      state.counters["TFLOP/s"] = flops / per_call / 1e12;
      state.counters["bytes_per_second"] = bytes_moved / per_call;
      if (peak_tflops_here) state.counters["peak_pct"] = 100.0 * flops / per_call / 1e12 / *peak_tflops_here;
    })->UseManualTime()->Unit(benchmark::kMicrosecond);
  };
  int failures = 0;
  // A library's call: timed if it passed its check against double precision.
  const auto time_library = [&](const std::string& name, const LibraryCall& call) {
    if (!call.failures.empty()) {
      std::fprintf(stderr, "%s: fails its check against double precision (%s); not timed\n", name.c_str(),
                   call.failures.front().c_str());
      ++failures;
      return;
    }
    time(name, call.call, call.flops, call.bytes_moved, peak_tflops(peak, call.precision));
  };
  const auto invalid = [&](const std::string& name, const char* family, int vi) {
    std::fprintf(stderr, "%s: fails its check against double precision; not timed "
                 "(vaebench-kernels check --device cuda --family %s --version %d)\n", name.c_str(), family, vi);
    ++failures;
  };
  if (has("gemm"))
    for (gemm::Pass pass : {gemm::Pass::forward, gemm::Pass::backward})
      for (const Case& c : cases(selection, pass)) {
        const gemm::check::Prepared prepared = gemm::check::prepare(pass, c.shape, c.activation, c.byte_input);
        for (int vi = gemm::kFirstVersion; vi <= gemm::kLastVersion; ++vi) {
          if (selection.version && *selection.version != vi) continue;
          const gemm::Version v = gemm::Version(vi);
          const std::string name = std::string(pass == gemm::Pass::forward ? "forward" : "backward") + "/v" +
                                   std::to_string(vi) + "/" + gemm::activation_name(c.activation) + "/" +
                                   (c.byte_input ? "u8/" : "") + c.shape.label();
          bool valid = true;
          for (const auto& r : gemm::check::run(stream, v, prepared)) valid = valid && r.comparison.pass;
          if (!valid) {
            invalid(name, "gemm", vi);
            continue;
          }
          const std::shared_ptr<Buffers> buffers = buffers_for(stream, v, prepared);
          time(name, buffers->call, buffers->flops, buffers->bytes_moved, peak_tflops(peak, gemm::precision(v)));
        }
        for (const char* cublas_precision : kCublasPrecisions) {
          if (!selection.cublas) break;
          const std::shared_ptr<LibraryCall> cublas = cublas_call(stream, cublas_precision, prepared);
          time_library(std::string(pass == gemm::Pass::forward ? "forward/" : "backward/") + cublas->name + "/" +
                           c.shape.label(),
                       *cublas);
        }
      }
  // conv: named conv/<pass>/<version or library>/<activation>/[u8/]<B:CxHxW:layer>.
  if (has("conv"))
    for (conv::Pass pass : {conv::Pass::forward, conv::Pass::backward})
      for (const conv::check::Case& c : conv_cases(selection)) {
        const conv::check::Prepared prepared = conv::check::prepare(pass, c);
        const std::string pass_name = pass == conv::Pass::forward ? "conv/forward/" : "conv/backward/";
        const std::string tail = std::string("/") + gemm::activation_name(c.activation) + "/" +
                                 (c.byte_input ? "u8/" : "") + c.label();
        for (int vi = conv::kFirstVersion; vi <= conv::kLastVersion; ++vi) {
          if (selection.version && *selection.version != vi) continue;
          const conv::Version v = conv::Version(vi);
          const std::string name = pass_name + "v" + std::to_string(vi) + tail;
          bool valid = true;
          for (const auto& r : conv::check::run(stream, v, prepared)) valid = valid && r.comparison.pass;
          if (!valid) {
            invalid(name, "conv", vi);
            continue;
          }
          const std::shared_ptr<Buffers> buffers = buffers_for(stream, v, prepared);
          time(name, buffers->call, buffers->flops, buffers->bytes_moved, peak_tflops(peak, conv::precision(v)));
        }
        for (const char* cudnn_precision : kCudnnPrecisions) {
          if (!selection.cudnn) break;
          const std::shared_ptr<LibraryCall> cudnn = torch_conv_call(stream, cudnn_precision, prepared);
          time_library(pass_name + cudnn->name + tail, *cudnn);
        }
      }
  std::vector<char*> argv;
  std::string program = "vaebench-kernels bench";
  argv.push_back(program.data());
  for (std::string& a : benchmark_args) argv.push_back(a.data());
  int argc = int(argv.size());
  benchmark::Initialize(&argc, argv.data());
  if (benchmark::ReportUnrecognizedArguments(argc, argv.data())) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return failures ? 1 : 0;
#endif
}

}  // namespace vae::bench::kernels
