#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include <torch/torch.h>

#include "backend/registry.h"
#include "common/progress.h"
#include "common/device_names.h"
#include "common/error.h"
#include "dist/group.h"
#include "io/atomic_file.h"
#include "model/checkpoint.h"
#include "train/epoch_order.h"
#include "train/evaluator.h"
#include "train/time_to_quality.h"
#include "train/pictures.h"

namespace vae {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

nlohmann::json metrics_json(const TestMetrics& m) {
  return {{"loss", m.loss},         {"recon", m.recon},   {"kl", m.kl},
          {"mu_mean", m.mu_mean},   {"mu_rms", m.mu_rms}, {"sigma_mean", m.sigma_mean},
          {"active_units", m.active_units}};
}

// The training options a resumed run must share with its checkpoint: those that decide which
// images and which noise each step sees. Backend, device, precision, epochs and Adam's
// hyper-parameters may change on resume (fine-tuning with a lower learning rate is common).
nlohmann::json must_match_on_resume(const nlohmann::json& training) {
  nlohmann::json j;
  for (const char* k : {"batch", "seed", "kl_warmup_steps", "binarize"}) j[k] = training.at(k);
  return j;
}

// Data-parallel: the loss sums over every rank's images, and the first non-finite step of any
// rank (its quantities as that rank saw them; on the other ranks "reported by rank k").
void reduce_over_ranks(dist::Group& group, TrainSums& sums, std::optional<NonFinite>& bad) {
  std::vector<double> s{double(sums.images), sums.recon, sums.kl, sums.loss};
  if (group.fault() != dist::Fault::skip_loss_sums) group.sum(s, "the loss sums");  // planted: rank-local sums
  sums = {int64_t(s[0]), s[1], s[2], s[3]};
  std::vector<double> first{bad ? double(bad->step) : INFINITY};
  group.min(first, "the non-finite record");
  if (!std::isfinite(first[0])) return;
  std::vector<double> reporter{bad && double(bad->step) == first[0] ? double(group.rank()) : INFINITY};
  group.min(reporter, "the non-finite record");
  if (int(reporter[0]) != group.rank())
    bad = NonFinite{int64_t(first[0]), "(reported by rank " + std::to_string(int(reporter[0])) + ")"};
}

// Data-parallel: every rank must hold rank 0's parameters and Adam state bit for bit after
// each epoch (they applied the same reduced gradient); else the run fails on every rank,
// naming the first rank that drifted.
void check_ranks_agree(dist::Group& group, const Backend& backend, int epoch) {
  const std::vector<double> mine = dist::training_state_values(backend.params(), backend.adam_state());
  const std::string what = "the parameters after epoch " + std::to_string(epoch);
  const size_t differ = group.differing_from_rank0(mine, what);
  std::vector<double> count{double(differ)}, first{differ ? double(group.rank()) : INFINITY};
  group.max(count, what);
  group.min(first, what);
  if (count[0] > 0)
    throw Error("data-parallel: after epoch " + std::to_string(epoch) + " rank " + std::to_string(int(first[0])) +
                " holds parameters or Adam state that differ from rank 0's (up to " + std::to_string(int64_t(count[0])) +
                " of " + std::to_string(mine.size()) + " values): the ranks drifted apart, so a rank did not apply "
                "the step the others applied");
}

void write_history(const TrainOptions& o, const nlohmann::json& history) {
  write_file_atomically((std::filesystem::path(o.out_dir) / "history.json").string(),
                        [&](std::ostream& os) { os << history.dump(2) << "\n"; });
}

}  // namespace

nlohmann::json to_json(const TrainOptions& o) {
  return {{"backend", o.backend},
          {"device", o.device},
          {"precision", o.precision},
          {"epochs", o.epochs},
          {"batch", o.batch},
          {"lr", o.adam.lr},
          {"beta1", o.adam.beta1},
          {"beta2", o.adam.beta2},
          {"adam_eps", o.adam.eps},
          {"kl_warmup_steps", o.kl_warmup_steps},
          {"iw_samples", o.iw_samples},
          {"binarize", to_string(o.binarize)},
          {"seed", o.seed},
          {"out_dir", o.out_dir},
          {"resume", o.resume},
          {"pictures", o.pictures},
          {"check_every", o.check_every},
          {"target_loss", o.target_loss},
          {"stop_at_target", o.stop_at_target}};
}

std::string checkpoint_path(const TrainOptions& o) {
  return (std::filesystem::path(o.out_dir) / "checkpoint.safetensors").string();
}

TrainingCheckpoint load_training_checkpoint(const TrainOptions& o) {
  const std::string path = checkpoint_path(o);
  if (!std::filesystem::exists(path)) throw Error("--resume: no checkpoint at " + path);
  TrainingCheckpoint t;
  t.checkpoint = load_checkpoint(path);
  const auto meta = [&](const char* key) -> const std::string& {
    const auto it = t.checkpoint.extra_metadata.find(key);
    if (it == t.checkpoint.extra_metadata.end())
      throw Error(path + ": not a training checkpoint (no '" + key + "' entry)");
    return it->second;
  };
  t.training = nlohmann::json::parse(meta("training"));
  t.epochs = nlohmann::json::parse(meta("history"));
  t.epoch = std::stoi(meta("epoch"));
  t.dataset_sha256 = meta("dataset_sha256");
  if (!t.checkpoint.adam) throw Error(path + ": no Adam state to resume from");
  return t;
}

int train(const VaeConfig& config, const Dataset& data, const TrainOptions& o, const nlohmann::json& manifest,
          nlohmann::json& history, std::ostream& lead_log, const TrainingCheckpoint* resume_from, dist::Group* group) {
  const bool lead = !group || group->rank() == 0;  // the rank that evaluates, logs and writes
  const int world = group ? group->world() : 1;
  std::ostream discard(nullptr);
  std::ostream& log = lead ? lead_log : discard;
  if (o.epochs < 1) throw Error("--epochs: must be >= 1, got " + std::to_string(o.epochs));
  if (o.batch < 1) throw Error("--batch: must be >= 1, got " + std::to_string(o.batch));
  if (!(o.adam.lr > 0)) throw Error("--lr: must be > 0");
  if (o.kl_warmup_steps < 0) throw Error("--kl-warmup: must be >= 0");
  if (o.iw_samples < 0) throw Error("--iw-samples: must be >= 0");
  if (!(o.target_loss >= 0) || !std::isfinite(o.target_loss))
    throw Error("--target-loss: must be a finite number >= 0 (0: none)");
  if (o.stop_at_target && o.target_loss <= 0) throw Error("--stop-at-target: needs --target-loss");
  if (data.train.dim() != size_t(config.input_dim))
    throw Error("dataset: images have " + std::to_string(data.train.dim()) + " pixels, the model expects " +
                std::to_string(config.input_dim));
  if (group) {
    if (o.batch % world != 0)
      throw Error("--batch " + std::to_string(o.batch) + ": not divisible by the world size " + std::to_string(world) +
                  " (--nproc / WORLD_SIZE): every rank trains on batch / world images of each step");
    const size_t tail = data.train.count % size_t(o.batch);
    if (tail != 0 && tail < size_t(world))
      throw Error("--batch " + std::to_string(o.batch) + ": the epoch's last batch has " + std::to_string(tail) +
                  " images, fewer than the " + std::to_string(world) + " ranks");
    nlohmann::json agree = to_json(o);
    if (is_gpu_device(o.device)) agree["device"] = "cuda";  // one GPU per rank: cuda:LOCAL_RANK differs
    agree["model"] = to_json(config);
    agree["dataset"] = data.identity;
    agree["dataset_sha256"] = data.combined_sha256;
    group->check_same("the model, the training options and the dataset", agree.dump());
  }
  std::error_code ec;
  if (lead) std::filesystem::create_directories(o.out_dir, ec);
  if (ec) throw Error("--out " + o.out_dir + ": cannot create directory: " + ec.message());

  const std::unique_ptr<Backend> backend = create_backend(o.backend, config, o.device, o.precision);
  if (group) backend->set_gradient_all_reduce(group->gradient_all_reduce());
  const bool on_cuda = is_gpu_device(backend->device());
  const int check_every = o.check_every > 0 ? o.check_every : (on_cuda ? 50 : 1);
  const Evaluator evaluator(config, torch_device_for(backend->device()), o.precision == "fp64" ? torch::kFloat64 : torch::kFloat32);
  const std::string ck_path = checkpoint_path(o);

  history = {{"format", "vaebench training history v1"},
             {"manifest", manifest},
             {"config", to_json(config)},
             {"training", to_json(o)},
             {"backend", {{"name", backend->name()},
                          {"device", backend->device()},
                          {"precision", backend->precision()},
                          {"torch_threads", torch::get_num_threads()}}},
             {"epochs", nlohmann::json::array()},
             {"iw", nullptr},
             {"pictures", nlohmann::json::array()},
             {"checkpoint", ck_path},
             {"diverged", nullptr},
             {"resumed_from_epoch", nullptr},
             {"time_to_quality", nullptr},
             {"data_parallel", group ? nlohmann::json{{"world_size", world},
                                                      {"engines", group->engines()},
                                                      {"images_per_rank", o.batch / world}}
                                     : nlohmann::json(nullptr)}};

  int first_epoch = 1;
  double wall_before = 0;  // training wall time of the epochs before a resume
  if (o.resume) {
    const TrainingCheckpoint loaded = resume_from ? TrainingCheckpoint{} : load_training_checkpoint(o);
    const TrainingCheckpoint& r = resume_from ? *resume_from : loaded;
    const Checkpoint& ck = r.checkpoint;
    if (to_json(ck.config) != to_json(config))
      throw Error("--resume: " + ck_path + " holds a " + ck.config.summary() + " model, not " + config.summary());
    if (must_match_on_resume(to_json(o)) != must_match_on_resume(r.training))
      throw Error("--resume: " + ck_path + " was trained with " + must_match_on_resume(r.training).dump() +
                  ", this run asks for " + must_match_on_resume(to_json(o)).dump() +
                  "; batch, seed, KL warm-up and binarization must stay the same");
    if (r.training.at("lr") != o.adam.lr || r.training.at("beta1") != o.adam.beta1 ||
        r.training.at("beta2") != o.adam.beta2 || r.training.at("adam_eps") != o.adam.eps)
      log << "note: Adam's hyper-parameters differ from the checkpoint's (lr " << r.training.at("lr") << " -> "
          << o.adam.lr << "); the moments carry over\n";
    if (r.dataset_sha256 != data.combined_sha256)
      throw Error("--resume: " + ck_path + " was trained on another dataset (SHA-256 " + r.dataset_sha256 + ")");
    backend->set_params(ck.params);
    backend->set_adam_state(*ck.adam);
    backend->set_running_stats(ck.running_stats);
    history["epochs"] = r.epochs;
    first_epoch = r.epoch + 1;
    if (!history["epochs"].empty()) wall_before = history["epochs"].back()["wall_seconds"].get<double>();
    history["resumed_from_epoch"] = r.epoch;
    log << "resuming from " << ck_path << ": epoch " << r.epoch << ", step " << ck.adam->step << "\n";
    if (first_epoch > o.epochs) log << "the checkpoint already has " << r.epoch << " epochs; nothing to train\n";
  }

  log << "training " << config.summary() << " with " << backend->name() << " on " << backend->device() << " ("
      << backend->precision() << "), " << o.epochs << " epochs of " << data.train.count << " " << data.identity
      << " images, batch " << o.batch << ", Adam lr " << o.adam.lr << "\n";
  if (group)
    log << "data-parallel: " << world << " ranks of " << o.batch / world << " images each, the gradient summed over "
        << group->engines() << "\n";
  backend->set_train_data(data.train, o.binarize, o.seed);
  const size_t n = data.train.count;
  int64_t step = backend->adam_state().step;
  const auto start = Clock::now();

  for (int epoch = first_epoch; epoch <= o.epochs; ++epoch) {
    const std::vector<size_t> order = epoch_order(n, o.seed, epoch);
    backend->set_epoch_order(order, uint64_t(epoch));  // fused-cuda keeps it on the device
    Progress progress("epoch " + std::to_string(epoch) + "/" + std::to_string(o.epochs), int64_t(n),
                      lead ? std::cerr : discard);
    TrainSums sums;
    const auto add = [&](const TrainSums& s) {
      sums.images += s.images;
      sums.recon += s.recon;
      sums.kl += s.kl;
      sums.loss += s.loss;
    };
    const auto epoch_start = Clock::now();
    std::optional<NonFinite> bad;
    for (size_t begin = 0; begin < n && !bad; begin += size_t(o.batch)) {
      std::vector<size_t> idx(order.begin() + long(begin), order.begin() + long(std::min(n, begin + size_t(o.batch))));
      StepOptions so;
      so.adam = o.adam;
      so.noise_seed = o.seed;
      so.kl_weight = o.kl_warmup_steps > 0 ? std::min(1.0, double(step + 1) / double(o.kl_warmup_steps)) : 1.0;
      if (group) {  // this rank's shard of the global batch, with the noise of its global positions
        const dist::Shard shard = group->shard(int64_t(idx.size()));
        so.slice = group->noise_slice(int64_t(idx.size()));
        idx = std::vector<size_t>(idx.begin() + shard.first, idx.begin() + shard.first + shard.count);
        group->maybe_fail_at_step(step + 1);
      }
      backend->train_batch(idx, uint64_t(epoch), so);
      ++step;
      if (step % check_every == 0 || begin + size_t(o.batch) >= n) {
        bad = backend->first_nonfinite();
        TrainSums taken = backend->take_train_sums();
        if (group) reduce_over_ranks(*group, taken, bad);
        add(taken);
        progress.update(int64_t(std::min(n, begin + size_t(o.batch))),
                        "loss " + fixed(sums.loss / double(std::max<int64_t>(1, sums.images)), 2));
      }
    }
    if (bad) {  // (no progress.finish: it would report the whole epoch as done)
      const int64_t good_epoch = epoch - 1;
      history["diverged"] = {{"step", bad->step}, {"epoch", epoch}, {"quantities", bad->quantities}};
      if (lead) write_history(o, history);
      log << "training diverged at step " << bad->step << " (epoch " << epoch << "): non-finite " << bad->quantities
          << "\n";
      if (good_epoch >= 1 && std::filesystem::exists(ck_path))
        log << "the last good checkpoint is " << ck_path << " (after epoch " << good_epoch << "), left as it was\n";
      else
        log << "no epoch completed, so no checkpoint was written\n";
      return 1;
    }
    const double train_seconds = seconds_since(epoch_start);
    const double samples_per_second = double(sums.images) / train_seconds;
    progress.finish("loss " + fixed(sums.loss / double(sums.images), 2));

    if (group) check_ranks_agree(*group, *backend, epoch);
    const auto eval_start = Clock::now();
    const ModelState state{backend->params(), backend->running_stats()};
    if (!lead) {  // the other ranks hold the same parameters; rank 0 evaluates and writes
      bool stop = false;
      if (o.stop_at_target && group) {
        std::vector<double> flag{0.0};
        group->broadcast(flag, "the stop-at-target decision");
        stop = flag[0] != 0;
      }
      if (stop) break;
      continue;
    }
    const TestMetrics test = evaluator.test_metrics(state, data.test, o.binarize, o.seed, o.seed + 1);
    const double eval_seconds = seconds_since(eval_start);
    const double images = double(sums.images);
    const nlohmann::json record = {
        {"epoch", epoch},
        {"step", step},
        {"train", {{"loss", sums.loss / images}, {"recon", sums.recon / images}, {"kl", sums.kl / images}}},
        {"test", metrics_json(test)},
        {"samples_per_second", samples_per_second},
        {"train_seconds", train_seconds},
        {"eval_seconds", eval_seconds},
        {"wall_seconds", wall_before + seconds_since(start)}};
    history["epochs"].push_back(record);
    log << "epoch " << epoch << "/" << o.epochs << ": train loss " << fixed(sums.loss / images, 2) << " (recon "
        << fixed(sums.recon / images, 2) << ", KL " << fixed(sums.kl / images, 2) << "), test loss "
        << fixed(test.loss, 2) << " (recon " << fixed(test.recon, 2) << ", KL " << fixed(test.kl, 2) << "), mu rms "
        << fixed(test.mu_rms, 3) << ", sigma " << fixed(test.sigma_mean, 3) << ", active units " << test.active_units
        << "/" << config.latent << ", " << fixed(samples_per_second, 0) << " samples/s\n";

    Checkpoint ck;
    ck.config = config;
    ck.params = state.params;
    ck.running_stats = state.running_stats;
    ck.adam = backend->adam_state();
    ck.extra_metadata = {{"epoch", std::to_string(epoch)},
                         {"training", to_json(o).dump()},
                         {"history", history["epochs"].dump()},
                         {"backend", backend->name()},
                         {"dataset", data.identity},
                         {"dataset_sha256", data.combined_sha256}};
    save_checkpoint(ck_path, ck, o.precision == "fp64" ? DType::F64 : DType::F32);
    bool reached = false;
    if (o.target_loss > 0) {
      history["time_to_quality"] = time_to_quality(history["epochs"], o.target_loss);
      reached = history["time_to_quality"]["reached"].get<bool>();
      if (reached && history["time_to_quality"]["epoch"] == epoch)
        log << "reached test loss <= " << fixed(o.target_loss, 1) << " after epoch " << epoch << ": "
            << fixed(history["time_to_quality"]["train_seconds"].get<double>(), 2) << " s of training\n";
    }
    write_history(o, history);
    if (o.stop_at_target && group) {
      std::vector<double> flag{reached ? 1.0 : 0.0};
      group->broadcast(flag, "the stop-at-target decision");
    }
    if (reached && o.stop_at_target) break;
  }
  if (!lead) return 0;

  const ModelState state{backend->params(), backend->running_stats()};
  if (o.iw_samples > 0) {
    const auto t = Clock::now();
    const double nll = evaluator.iw_nll(state, data.test, o.binarize, o.seed, o.iw_samples, o.seed + 2);
    history["iw"] = {{"samples", o.iw_samples}, {"test_nll", nll}, {"seconds", seconds_since(t)}};
    log << "importance-weighted test NLL (S=" << o.iw_samples << "): " << fixed(nll, 2) << " nats per image ("
        << fixed(seconds_since(t), 1) << " s)\n";
  }
  if (o.pictures) {
    for (const std::string& f : write_pictures(o.out_dir, evaluator, state, config, data.test, o.binarize, o.seed))
      history["pictures"].push_back(f);
    log << "pictures: " << o.out_dir << "/{" << [&] {
      std::string s;
      for (const auto& f : history["pictures"]) s += (s.empty() ? "" : ",") + f.get<std::string>();
      return s;
    }() << "}\n";
  }
  write_history(o, history);
  return 0;
}

}  // namespace vae
