// vaebench-kernels bench: Google Benchmark of every selected version on a GPU. Each version
// is validated against double precision first (a failing one is not timed); each iteration
// flushes L2 (a memset over twice its size), then times the call between two CUDA events.
// Reported: time, TFLOP/s, % of the device's FP32 or TF32 peak (bench/device_peaks.h), and
// bytes/s of compulsory traffic (each operand read once, each result written once).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <functional>
#include <memory>

#include "common/error.h"
#include "device_peaks.h"
#include "kernels_commands.h"
#include "kernels_cublas.h"

#if defined(VAE_WITH_CUDA)
#include <cuda_runtime.h>
#endif

namespace vae::bench::kernels {

namespace gemm = vae::kernels::gemm;

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

}  // namespace

int bench(const Selection& selection, std::vector<std::string> benchmark_args) {
  if (selection.device != device::Kind::cuda)
    throw vae::Error("bench: refusing to time on the CPU executor (cuda-emu): its times say nothing about a GPU. "
                     "Validate there with `vaebench-kernels check --device cuda-emu`; time with --device cuda on a GPU");
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
          std::fprintf(stderr, "%s: fails its check against double precision; not timed "
                       "(vaebench-kernels check --device cuda --version %d)\n", name.c_str(), vi);
          ++failures;
          continue;
        }
        const std::shared_ptr<Buffers> buffers = buffers_for(stream, v, prepared);
        time(name, buffers->call, buffers->flops, buffers->bytes_moved, peak_tflops(peak, gemm::precision(v)));
      }
      for (const char* cublas_precision : kCublasPrecisions) {
        if (!selection.cublas) break;
        const std::shared_ptr<CublasCall> cublas = cublas_call(stream, cublas_precision, prepared);
        const std::string name = std::string(pass == gemm::Pass::forward ? "forward/" : "backward/") + cublas->name +
                                 "/" + c.shape.label();
        if (!cublas->failures.empty()) {
          std::fprintf(stderr, "%s: fails its check against double precision (%s); not timed\n", name.c_str(),
                       cublas->failures.front().c_str());
          ++failures;
          continue;
        }
        time(name, cublas->call, cublas->flops, cublas->bytes_moved, peak_tflops(peak, cublas->precision));
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
