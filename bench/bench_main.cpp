// vaebench-bench: MNIST training and evaluation throughput of every backend usable here,
// on Google Benchmark.
//
// One benchmark per kind x backend x device x precision x batch size, named
//   <kind>/<backend>/<device>/<precision>/batch:<B>        (Google Benchmark adds /manual_time)
// with kind train_step (one Adam step on a fixed batch), train_epoch (a whole epoch of MNIST:
// the seeded shuffle, the gathers and every step, the last batch smaller) or eval (forward
// only). Every iteration is timed by the backend's own interval timer (CUDA events on a GPU,
// the steady clock after a synchronize on a CPU) through UseManualTime, after a warm-up that
// also triggers any one-off work (TorchScript's profiling runs, CUDA-graph captures).
// Repetitions give the median and the coefficient of variation; the JSON's context carries the
// run's manifest, so a result file says what produced it.
//
// Data-parallel (--nproc N, or torchrun's environment; dist/group.h): every rank runs the same
// benchmarks on its shard of each global batch --batches B (B/N images, the noise of its
// global positions), the gradient all-reduced in every step as in training. Every rank runs
// the same fixed number of iterations (--dp-iterations), timed on the host clock after the
// backend synchronizes and all ranks meet (so an iteration lasts as long as its slowest
// rank); items are the global batch's images. Rank 0 writes the JSON and the console; its
// context says world_size. One run per world size; `vaebench report --scaling` sets them side
// by side (efficiency against one process) with the all-reduce model (report/allreduce_model.h).
//
// Our options come first; anything after them (--benchmark_*) goes to Google Benchmark.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include "backend/registry.h"
#include "cli/dist_options.h"
#include "dist/launcher.h"
#include "common/build_info.h"
#include "manifest/manifest.h"
#include "common/device_names.h"
#include "common/error.h"
#include "common/precision.h"
#include "data/dataset.h"
#include "device_peaks.h"
#include "io/atomic_file.h"
#include "step_profile.h"
#include "model/config.h"
#include "model/params.h"
#include "train/epoch_order.h"
#include "common/counter_rng.h"
#include "model/layers.h"
#include "work_model.h"

namespace vae::bench {
namespace {

struct Options {
  std::vector<std::string> backends;  // empty: every registered one
  std::string devices = "all";        // cpu, cuda, or all (those usable here)
  std::string precisions = "default"; // default: fp32 where a backend has it, else its own
  std::string kinds = "train_step,train_epoch,eval";
  std::string batches = "32,64,128,256,512,1024,2048,4096,8192";
  std::string epoch_batches;          // empty: as --batches
  std::string data = VAE_SOURCE_DIR "/data/mnist";
  std::string model = "mlp";          // a preset of model/layers.h
  uint64_t seed = 0;
  int threads = 0;
  int repetitions = 5;
  double min_time = 0.5;
  std::string out;
  std::string profile_out;  // the per-kernel table of one step per backend and batch (step_profile.h)
  cli::DistOptions dist;
  int dp_iterations = 20;   // iterations per repetition in a data-parallel world (the same on every rank)
};

std::vector<std::string> split_list(const std::string& s, const std::string& option) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  if (out.empty()) throw Error(option + ": empty list");
  return out;
}

std::vector<int> parse_batches(const std::string& s, const std::string& option) {
  std::vector<int> out;
  for (const std::string& item : split_list(s, option)) {
    size_t used = 0;
    int b = 0;
    try {
      b = std::stoi(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || b < 1 || b > (1 << 20))
      throw Error(option + ": '" + item + "' is not a batch size (an integer from 1 to 1048576)");
    out.push_back(b);
  }
  return out;
}

Kind parse_kind(const std::string& s) {
  if (s == "train_step") return Kind::TrainStep;
  if (s == "train_epoch") return Kind::TrainEpoch;
  if (s == "eval") return Kind::Eval;
  throw Error("--kinds: unknown kind '" + s + "' (train_step, train_epoch, eval)");
}

// What the benchmarks share: the data, the model, one backend instance per
// (backend, device, precision) reused by every benchmark of it (creating one can cost a
// TorchScript compile), and which (backend, kind, batch) have been warmed up.
struct Shared {
  Dataset data;
  VaeConfig config;
  std::vector<double> init;
  uint64_t seed = 0;
  std::map<std::string, std::unique_ptr<Backend>> backends;
  std::set<std::string> warmed;
  std::shared_ptr<dist::Group> group;  // a data-parallel world, else null
};

Shared* shared = nullptr;

Backend& backend_for(const std::string& name, const std::string& device, const std::string& precision) {
  const std::string key = name + "/" + device + "/" + precision;
  auto it = shared->backends.find(key);
  if (it == shared->backends.end()) {
    std::unique_ptr<Backend> b = create_backend(name, shared->config, device, precision);
    b->set_params(shared->init);
    b->set_train_data(shared->data.train, Binarize::None, shared->seed);
    if (shared->group) b->set_gradient_all_reduce(shared->group->gradient_all_reduce());
    it = shared->backends.emplace(key, std::move(b)).first;
  }
  return *it->second;
}

// Seeded images of `shape` in [0, 255] for a model whose images MNIST does not have (the
// CelebA model without CelebA): `count` training and count / 6 test images. Throughput only:
// no quality figure is meaningful on them, and the data identity says "synthetic".
Dataset synthetic_dataset(const Shape& shape, size_t count, uint64_t seed) {
  Dataset d;
  d.identity = "synthetic " + shape.str() + " images (seeded uniform bytes), not a dataset";
  const auto fill = [&](Split& s, size_t n, uint64_t stream) {
    s.count = n;
    s.channels = size_t(shape.c);
    s.rows = size_t(shape.h);
    s.cols = size_t(shape.w);
    s.pixels.resize(n * s.dim());
    for (size_t i = 0; i < s.pixels.size(); ++i) s.pixels[i] = uint8_t(counter_bits(seed, stream, i) & 0xff);
    s.labels.assign(n, 0);
  };
  fill(d.train, count, kStreamSyntheticTrain);
  fill(d.test, std::max<size_t>(1, count / 6), kStreamSyntheticTest);
  return d;
}

// A fixed batch spread over the split (not the first B images, which a cache could favour).
std::vector<size_t> fixed_batch(int batch, size_t n) {
  std::vector<size_t> idx(static_cast<size_t>(batch));
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = (i * 7919) % n;
  return idx;
}

struct Case {
  Kind kind;
  std::string backend, device, precision;
  int batch;
  std::optional<double> peak;  // TFLOP/s of the device at this precision, when known
  double element_bytes;
};

// A data-parallel rank's share of a global batch `idx`, and the noise slice of its positions
// (the whole batch in one process).
std::vector<size_t> rank_share(const std::vector<size_t>& idx, StepOptions& step) {
  if (!shared->group) return idx;
  const dist::Shard sh = shared->group->shard(int64_t(idx.size()));
  step.slice = shared->group->noise_slice(int64_t(idx.size()));
  return {idx.begin() + long(sh.first), idx.begin() + long(sh.first + sh.count)};
}

// A data-parallel iteration ends when every rank's has: the host waits for the device, then
// for the other ranks (eval has no collective of its own).
void meet(Backend& b) {
  if (!shared->group) return;
  b.synchronize();
  std::vector<double> token{0.0};
  shared->group->sum(token, "the benchmark's end-of-iteration barrier");
}

void run_case(benchmark::State& state, const Case& c) {
  try {
    Backend& b = backend_for(c.backend, c.device, c.precision);
    const size_t n = shared->data.train.count;
    StepOptions step;
    step.noise_seed = shared->seed;
    const std::vector<size_t> fixed = rank_share(fixed_batch(c.batch, n), step);
    int epoch = 0;
    const auto one = [&] {
      switch (c.kind) {
        case Kind::TrainStep: b.train_batch(fixed, 0, step); break;
        case Kind::Eval: b.eval_batch(fixed, 0, shared->seed); break;
        case Kind::TrainEpoch: {
          const std::vector<size_t> order = epoch_order(n, shared->seed, ++epoch);
          b.set_epoch_order(order, uint64_t(epoch));  // as the trainer hands it over
          std::vector<size_t> idx;
          for (size_t first = 0; first < n; first += size_t(c.batch)) {
            idx.assign(order.begin() + long(first), order.begin() + long(std::min(n, first + size_t(c.batch))));
            StepOptions s = step;
            b.train_batch(rank_share(idx, s), uint64_t(epoch), s);
          }
          break;
        }
      }
    };
    // Warm-up, once per benchmark: a few steps of every batch size its iterations run (an
    // epoch's steps are a step's, at its full and its last, partial size).
    const std::string warm_key = c.backend + "/" + c.device + "/" + c.precision + "/" + to_string(c.kind) + "/" +
                                 std::to_string(c.batch);
    if (shared->warmed.insert(warm_key).second) {
      std::unique_ptr<IntervalTimer> t = b.make_interval_timer();
      t->start();
      for (const int64_t size : timed_batch_sizes(c.kind, int64_t(n), c.batch)) {
        StepOptions s = step;
        const std::vector<size_t> warm = rank_share(fixed_batch(int(size), n), s);
        for (int i = 0; i < 3; ++i) {
          if (c.kind == Kind::Eval) b.eval_batch(warm, 0, shared->seed);
          else b.train_batch(warm, 0, s);
        }
      }
      t->stop_seconds();
    }
    b.take_train_sums();
    b.synchronize();
    b.reset_memory_peak();
    std::unique_ptr<IntervalTimer> timer = b.make_interval_timer();
    meet(b);
    for (auto _ : state) {
      if (shared->group) {  // the host clock around the work and the ranks' meeting
        const auto t0 = std::chrono::steady_clock::now();
        one();
        meet(b);
        state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        continue;
      }
      timer->start();
      one();
      state.SetIterationTime(timer->stop_seconds());
    }
    TrainSums sums = b.take_train_sums();
    if (shared->group) {
      std::vector<double> v{double(sums.images), sums.loss};
      shared->group->sum(v, "the benchmark's loss sums");
      sums.images = int64_t(v[0]);
      sums.loss = v[1];
    }
    if (auto bad = b.first_nonfinite()) {
      state.SkipWithError(("non-finite " + bad->quantities + " at step " + std::to_string(bad->step)).c_str());
      return;
    }
    const Work w = c.kind == Kind::TrainEpoch ? epoch_work(shared->config, int64_t(n), c.batch, c.element_bytes)
                                              : step_work(shared->config, c.batch, c.kind != Kind::Eval, c.element_bytes);
    const double iters = double(state.iterations());
    state.SetItemsProcessed(int64_t(w.samples * iters));
    state.SetBytesProcessed(int64_t(w.bytes * iters));
    state.counters["TFLOP/s"] = benchmark::Counter(w.flops * iters / 1e12, benchmark::Counter::kIsRate);
    if (shared->group) state.counters["world_size"] = shared->group->world();
    if (c.peak && !shared->group)  // one device's peak; a world's would be N of them
      state.counters["peak_pct"] =
          benchmark::Counter(100.0 * w.flops * iters / 1e12 / *c.peak, benchmark::Counter::kIsRate);
    state.counters["loss"] = sums.images > 0 ? sums.loss / double(sums.images) : 0.0;
    b.synchronize();
    // What this measures depends on the device (Backend::memory_peak): the process's peak
    // RSS on the CPU, the backend's device memory on a GPU.
    state.counters["peak_mem_MiB"] = b.memory_peak().bytes / 1048576.0;
    // The report reads the timer from the label.
    state.SetLabel(shared->group ? "host clock after synchronize and a barrier of all " +
                                       std::to_string(shared->group->world()) + " ranks"
                                 : timer->method());
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

// The name the peak table is keyed by, from the run's manifest: the CPU model, or the first GPU.
std::string device_name(const nlohmann::json& manifest, const std::string& device) {
  if (device == "cpu") return manifest.value("cpu", "unknown");
  if (is_emu_device(device)) return manifest.value("cpu", "unknown") + " (CPU executor)";
  const nlohmann::json& gpus = manifest.at("gpus");
  return gpus.empty() ? "unknown" : gpus[0].value("name", "unknown");
}

// Flattens the manifest into Google Benchmark's string-valued context: top-level scalars as
// they are, anything structured as JSON text, plus the whole manifest under "manifest".
void add_manifest_context(const nlohmann::json& manifest) {
  for (auto it = manifest.begin(); it != manifest.end(); ++it) {
    const nlohmann::json& v = it.value();
    benchmark::AddCustomContext(it.key(), v.is_string() ? v.get<std::string>() : v.dump());
  }
  benchmark::AddCustomContext("manifest", manifest.dump());
}

int run(int argc, char** argv) {
  Options o;
  CLI::App app{"vaebench-bench: training and evaluation throughput of every backend (Google Benchmark)"};
  app.allow_extras();
  app.add_option("--backend", o.backends, "Backend to time (repeatable; default: all)");
  app.add_option("--device", o.devices, "cpu, cuda or all (those usable here)")->capture_default_str();
  app.add_option("--precision", o.precisions, "Comma list of " + precision_names() + " (each backend runs those it offers on the device), or 'default' (fp32 where a backend has it)")
      ->capture_default_str();
  app.add_option("--kinds", o.kinds, "Comma list of train_step, train_epoch, eval")->capture_default_str();
  app.add_option("--batches", o.batches, "Batch sizes for train_step and eval")->capture_default_str();
  app.add_option("--epoch-batches", o.epoch_batches, "Batch sizes for train_epoch (default: --batches)");
  app.add_option("--data", o.data, "Directory with the MNIST IDX files")->capture_default_str();
  app.add_option("--model", o.model, "mlp | conv-mnist | conv-celeba64 (a model whose images are not MNIST's runs on "
                                     "seeded synthetic images, and says so)")->capture_default_str();
  app.add_option("--seed", o.seed, "Seed for parameters, noise and shuffling")->capture_default_str();
  app.add_option("--threads", o.threads, "LibTorch CPU threads (0: LibTorch's default)")->capture_default_str();
  app.add_option("--repetitions", o.repetitions, "Repetitions per benchmark")->capture_default_str()->check(
      CLI::Range(1, 1000));
  app.add_option("--min-time", o.min_time, "Seconds per repetition at least")->capture_default_str()->check(
      CLI::PositiveNumber);
  app.add_option("--out", o.out, "Write the JSON here (atomically)");
  cli::add_dist_options(app, o.dist);
  app.add_option("--dp-iterations", o.dp_iterations,
                 "Data-parallel: iterations per repetition, the same on every rank (Google Benchmark's own choice "
                 "could differ between ranks)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--profile-out", o.profile_out,
                 "After the benchmarks: profile one training step per backend (those running our own kernels) "
                 "and --batches size, per kernel call with its roofline bound; JSON here, table on stdout");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  if (const std::optional<int> status = cli::launch_world_if_asked(o.dist)) return *status;

  // Google Benchmark's own flags: ours first, so the user's (the extras) override them.
  std::vector<std::string> gb_args = {argv[0], "--benchmark_repetitions=" + std::to_string(o.repetitions),
                                      "--benchmark_min_time=" + std::to_string(o.min_time),
                                      "--benchmark_report_aggregates_only=false"};
  const std::optional<dist::LaunchEnv> world = dist::launch_env_from_environment();
  const bool lead = !world || world->rank == 0;  // rank 0 writes the JSON
  const std::string tmp_out = o.out.empty() || !lead ? "" : o.out + ".tmp";
  if (!tmp_out.empty()) {
    gb_args.push_back("--benchmark_out=" + tmp_out);
    gb_args.push_back("--benchmark_out_format=json");
  }
  for (const std::string& extra : app.remaining()) {
    if (extra.rfind("--benchmark_", 0) != 0)
      throw Error("unknown option '" + extra + "' (ours are listed by --help; Google Benchmark's start with --benchmark_)");
    gb_args.push_back(extra);
  }

  const std::vector<Kind> kinds = [&] {
    std::vector<Kind> k;
    for (const std::string& s : split_list(o.kinds, "--kinds")) k.push_back(parse_kind(s));
    return k;
  }();
  const std::vector<int> batches = parse_batches(o.batches, "--batches");
  const std::vector<int> epoch_batches =
      o.epoch_batches.empty() ? batches : parse_batches(o.epoch_batches, "--epoch-batches");
  if (o.threads > 0) torch::set_num_threads(o.threads);

  Shared s;
  s.data = load_dataset(o.data, DatasetKind::Mnist);
  s.config = VaeConfig{};
  s.config.input_dim = int(s.data.train.dim());
  if (o.model != "mlp") {
    const ModelSpec spec = preset_spec(o.model);
    s.config.model = o.model;
    s.config.latent = spec.latent;
    s.config.input_dim = int(spec.input.numel());
    s.config.layers = std::make_shared<const ModelSpec>(spec);
    if (size_t(s.config.input_dim) != s.data.train.dim()) s.data = synthetic_dataset(spec.input, s.data.train.count, o.seed);
  }
  s.config.seed = o.seed;
  s.init = init_params(s.config, ParamLayout(s.config));
  s.seed = o.seed;
  shared = &s;
  nlohmann::json manifest = make_manifest(&s.data);
  if (world) {
    if (!o.profile_out.empty()) throw Error("--profile-out: profiles one process's step; run it without --nproc");
    if (o.devices == "all") throw Error("--nproc: name one --device (cpu, cuda or cuda-emu) for the world");
    const std::string device = cli::rank_device(o.devices);
    s.group = cli::join_world(o.dist, device);
    for (int b : batches)
      if (b < s.group->world())
        throw Error("--batches: " + std::to_string(b) + " images cannot be shared by " + std::to_string(s.group->world()) +
                    " ranks");
    nlohmann::json agree{{"options", std::vector<std::string>(argv + 1, argv + argc)},
                         {"dataset", s.data.identity}};
    s.group->check_same("the benchmark options and the dataset", agree.dump());
    manifest["data_parallel"] = {{"world_size", s.group->world()}, {"engines", s.group->engines()},
                                 {"iterations_per_repetition", o.dp_iterations}};
  }

  // What to register: every usable (backend, device, precision) the options ask for.
  std::set<std::string> wanted_backends(o.backends.begin(), o.backends.end());
  for (const std::string& w : wanted_backends) {
    bool known = false;
    for (const BackendInfo& info : registered_backends()) known |= info.name == w;
    if (!known) throw Error("--backend: unknown backend '" + w + "'; compiled here: " + usable_backends_summary());
  }
  if (o.devices != "all" && o.devices != "cpu" && o.devices != "cuda" && !is_emu_device(o.devices))
    throw Error("--device: '" + o.devices + "' is not cpu, cuda, cuda-emu or all");
  nlohmann::json skipped = nlohmann::json::array();
  int registered = 0;
  bool registered_bf16_on_cpu = false;
  struct Profiled {
    std::string backend, device, precision;
    std::optional<DevicePeak> peak;
  };
  std::vector<Profiled> to_profile;
  for (const BackendInfo& info : registered_backends()) {
    if (!wanted_backends.empty() && !wanted_backends.count(info.name)) continue;
    for (const std::string& device : info.devices) {
      if (o.devices != "all" && o.devices != device) continue;
      if (o.devices == "all" && is_emu_device(device)) {
        // The CPU executor runs our CUDA kernels to validate them; its times are no throughput.
        skipped.push_back(info.name + " on " + device + ": the CPU executor is for validation (ask for it with --device " +
                          device + ")");
        continue;
      }
      std::string reason;
      if (!info.usable(device, reason)) {
        skipped.push_back(info.name + " on " + device + ": " + reason);
        continue;
      }
      if (!supports_model(info, s.config, reason)) {
        skipped.push_back(info.name + " on " + device + ": not supported for this model (" + reason + ")");
        continue;
      }
      if (s.group) {
        const std::string why = create_backend(info.name, s.config, cli::rank_device(device),
                                               info.precisions.front())->data_parallel_refusal();
        if (!why.empty()) {
          skipped.push_back(info.name + " on " + device + ": not data-parallel (" + why + ")");
          continue;
        }
      }
      std::vector<std::string> precisions;
      if (o.precisions == "default") {
        const auto& p = info.precisions;
        precisions = {std::find(p.begin(), p.end(), "fp32") != p.end() ? "fp32" : p.front()};
      } else {
        for (const std::string& p : split_list(o.precisions, "--precision")) {
          parse_precision(p);  // an unknown name is an error, not an empty run
          if (offers_precision(info, device, p)) precisions.push_back(p);
        }
      }
      const std::string model = device_name(manifest, device);
      const std::optional<DevicePeak> peak = find_device_peak(model);
      for (const std::string& precision : precisions) {
        registered_bf16_on_cpu = registered_bf16_on_cpu || (device == "cpu" && precision == "bf16");
        to_profile.push_back({info.name, device, precision, peak});
        // The minimal bytes of a step (work_model.h) are the parameters, Adam's moments and the
        // images: fp32 at bf16 as well (fp32 master weights; bf16 holds only copies and activations).
        const double element_bytes = precision == "fp64" ? 8.0 : 4.0;
        for (Kind kind : kinds)
          for (int batch : kind == Kind::TrainEpoch ? epoch_batches : batches) {
            const Case c{kind, info.name, device, precision, batch, peak_tflops(peak, precision), element_bytes};
            // A model other than the MLP is part of the name, so two models' runs in one file stay
            // apart (the Python peer names them the same way).
            const std::string name = to_string(kind) + "/" + info.name + "/" + device + "/" + precision +
                                     (s.config.is_mlp() ? "" : "/model:" + s.config.model) + "/batch:" +
                                     std::to_string(batch);
            const std::string run_device = s.group ? cli::rank_device(device) : device;
            Case on_rank = c;
            on_rank.device = run_device;
            benchmark::internal::Benchmark* bm =
                benchmark::RegisterBenchmark(name.c_str(), [on_rank](benchmark::State& st) { run_case(st, on_rank); })
                    ->UseManualTime()
                    ->Unit(benchmark::kMillisecond);
            if (s.group) bm->Iterations(o.dp_iterations);
            ++registered;
          }
      }
      benchmark::AddCustomContext("device_name." + device, model);
      // A CPU without bf16 instructions times bf16 emulated in software: the JSON says so.
      if (device == "cpu" && registered_bf16_on_cpu && manifest["cpu_bf16"].value("hardware", "") == "emulated")
        benchmark::AddCustomContext("note.cpu.bf16", "emulated: " + manifest["cpu_bf16"]["reason"].get<std::string>());
      if (is_emu_device(device))
        benchmark::AddCustomContext("note." + device, "CPU executor: our CUDA kernels emulated on the host, "
                                                      "for validation; these times say nothing about a GPU");
      benchmark::AddCustomContext("peak." + device,
                                  peak ? peak_json(*peak).dump() : "unknown");
    }
  }
  if (registered == 0) throw Error("nothing to benchmark: no usable backend matches the options");

  manifest["seed"] = o.seed;
  manifest["threads"] = o.threads > 0 ? o.threads : torch::get_num_threads();
  manifest["model"] = to_json(s.config);
  manifest["skipped"] = skipped;
  add_manifest_context(manifest);

  std::vector<char*> gb_argv;
  for (std::string& a : gb_args) gb_argv.push_back(a.data());
  int gb_argc = int(gb_argv.size());
  benchmark::Initialize(&gb_argc, gb_argv.data());
  if (benchmark::ReportUnrecognizedArguments(gb_argc, gb_argv.data())) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (!tmp_out.empty()) std::filesystem::rename(tmp_out, o.out);
  if (!o.profile_out.empty()) {
    nlohmann::json steps = nlohmann::json::array();
    for (const Profiled& p : to_profile)
      for (int batch : batches) {
        Backend& b = backend_for(p.backend, p.device, p.precision);
        const std::vector<size_t> fixed = fixed_batch(batch, s.data.train.count);
        StepOptions step;
        step.noise_seed = s.seed;
        b.train_batch(fixed, 0, step);  // allocations and first-use work out of the profile
        const std::vector<device::ProfiledCall> calls = b.profile_train_batch(fixed, 0, step);
        if (calls.empty()) break;  // not our kernels: nothing to profile
        steps.push_back(profile_json(p.backend, p.device, p.precision, batch, calls, p.peak));
        std::cout << profile_text(steps.back()) << std::flush;
      }
    nlohmann::json doc = {{"manifest", manifest}, {"steps", steps}};
    if (std::any_of(to_profile.begin(), to_profile.end(), [](const Profiled& p) { return is_emu_device(p.device); }))
      doc["note"] = "cuda-emu rows time the CPU executor: they show the step's structure, not a GPU's speed";
    write_file_atomically(o.profile_out, [&](std::ostream& os) { os << doc.dump(2) << "\n"; });
  }
  shared = nullptr;
  return 0;
}

}  // namespace
}  // namespace vae::bench

int main(int argc, char** argv) {
  vae::dist::set_program_arguments(argc, argv);  // --nproc starts the ranks with them
  try {
    return vae::bench::run(argc, argv);
  } catch (const std::exception& e) {
    const char* rank = std::getenv("RANK");
    std::cerr << "vaebench-bench" << (rank ? std::string(" [rank ") + rank + "]" : "") << ": " << e.what() << "\n";
    return dynamic_cast<const vae::dist::PeerLostError*>(&e) ? vae::dist::kExitPeerLost : 2;
  }
}
