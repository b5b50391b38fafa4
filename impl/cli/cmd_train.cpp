// vaebench train: train on MNIST (or Fashion-MNIST) with any backend; per-epoch history,
// checkpoints and --resume, importance-weighted test NLL, pictures.
#include <iostream>
#include <optional>

#include <torch/torch.h>

#include "cli/commands.h"
#include "cli/dist_options.h"
#include "manifest/manifest.h"
#include "cli/model_options.h"
#include "common/device_names.h"
#include "common/error.h"
#include "common/precision.h"
#include "io/atomic_file.h"
#include "train/trainer.h"

namespace vae::cli {

namespace {

struct TrainCliOptions {
  ModelOptions model;
  DataOptions data;
  DistOptions dist;
  TrainOptions train;
  int iw_samples = -1;  // -1: 5000 on CUDA, 200 on the CPU
  int threads = 0;
  bool no_pictures = false;
  std::string json_path;
};

// With --resume, options the user did not set come from the checkpoint, so that
// `vaebench train --resume --epochs 20` carries on exactly as the run was started.
void take_from_checkpoint(const CLI::App& app, const TrainingCheckpoint& ck, TrainCliOptions& o, VaeConfig& config) {
  // The model comes from the checkpoint unless it is described again (then it must match).
  bool described = false;
  for (const char* name : {"--hidden", "--decoder-hidden", "--latent", "--activation", "--likelihood", "--beta",
                           "--samples", "--init", "--seed"})
    described |= app.count(name) > 0;
  if (!described) config = ck.checkpoint.config;
  const nlohmann::json& t = ck.training;
  if (app.count("--batch") == 0) o.train.batch = t.at("batch");
  if (app.count("--seed") == 0) o.train.seed = t.at("seed");
  if (app.count("--lr") == 0) o.train.adam.lr = t.at("lr");
  if (app.count("--beta1") == 0) o.train.adam.beta1 = t.at("beta1");
  if (app.count("--beta2") == 0) o.train.adam.beta2 = t.at("beta2");
  if (app.count("--adam-eps") == 0) o.train.adam.eps = t.at("adam_eps");
  if (app.count("--kl-warmup") == 0) o.train.kl_warmup_steps = t.at("kl_warmup_steps");
  if (app.count("--binarize") == 0) o.train.binarize = parse_binarize(t.at("binarize").get<std::string>());
}

int run_train(const CLI::App& app, TrainCliOptions& o) {
  if (o.threads < 0) throw Error("--threads: must be >= 0");
  if (const std::optional<int> status = launch_world_if_asked(o.dist)) return *status;
  if (o.threads > 0) torch::set_num_threads(o.threads);
  const Dataset data = o.data.load();
  VaeConfig config = o.model.config(data.train);
  TrainOptions& t = o.train;
  t.batch = o.model.batch;
  t.seed = o.model.seed;
  t.binarize = o.data.binarize_mode();
  t.pictures = !o.no_pictures;
  const bool cuda = is_gpu_device(t.device);
  t.iw_samples = o.iw_samples >= 0 ? o.iw_samples : (cuda ? 5000 : 200);
  if (t.out_dir.empty()) t.out_dir = "results/train-" + t.backend + "-" + (cuda ? std::string("cuda") : t.device);
  std::optional<TrainingCheckpoint> resume_from;
  if (t.resume) {
    resume_from = load_training_checkpoint(t);
    take_from_checkpoint(app, *resume_from, o, config);
  }
  // The importance-weighted NLL estimates log p(x): computed for the default objective's
  // Bernoulli and Gaussian likelihoods only (a mean over pixels, a Gaussian without its constant
  // or a KL weight is not a log-likelihood).
  if (!config.default_objective()) {
    const std::string what = config.objective_summary();
    if (o.iw_samples > 0)
      throw Error("--iw-samples: the importance-weighted NLL is computed for the default objective's Bernoulli and "
                  "Gaussian likelihoods only, not for" + what + "; give --iw-samples 0");
    if (t.iw_samples > 0) std::cerr << "note: no importance-weighted NLL for the objective" << what << "\n";
    t.iw_samples = 0;
  }

  t.device = rank_device(t.device);
  const std::shared_ptr<dist::Group> group = join_world(o.dist, t.device);
  nlohmann::json history;
  const int status = train(config, data, t, make_manifest(&data), history, std::cout,
                           resume_from ? &*resume_from : nullptr, group.get());
  if (group && group->rank() != 0) return status;  // rank 0 writes and reports
  if (!o.json_path.empty()) {
    write_file_atomically(o.json_path, [&](std::ostream& os) { os << history.dump(2) << "\n"; });
    std::cout << "wrote " << o.json_path << "\n";
  }
  if (status == 0 && !history["epochs"].empty()) {
    const auto& last = history["epochs"].back();
    std::cout << "done: test loss " << last["test"]["loss"].get<double>() << " nats per image after epoch "
              << last["epoch"].get<int>() << "; checkpoint " << history["checkpoint"].get<std::string>() << "\n";
  }
  return status;
}

}  // namespace

Subcommand add_train_command(CLI::App& app) {
  auto* sub = app.add_subcommand("train", "Train the VAE on MNIST with a backend; history, checkpoints, pictures");
  auto o = std::make_shared<TrainCliOptions>();
  add_model_options(*sub, o->model);
  add_data_options(*sub, o->data);
  add_dist_options(*sub, o->dist);
  TrainOptions& t = o->train;
  sub->add_option("--backend", t.backend, "Backend (see `vaebench backends`)")->capture_default_str();
  sub->add_option("--device", t.device, "cpu or cuda[:N]")->capture_default_str();
  sub->add_option("--precision", t.precision, precision_names() + " (bf16: autocast mixed precision)")->capture_default_str();
  sub->add_option("--epochs", t.epochs, "Epochs to train (in total, counting those of a resumed run)")->capture_default_str();
  sub->add_option("--lr", t.adam.lr, "Adam learning rate")->capture_default_str();
  sub->add_option("--beta1", t.adam.beta1, "Adam beta1")->capture_default_str();
  sub->add_option("--beta2", t.adam.beta2, "Adam beta2")->capture_default_str();
  sub->add_option("--adam-eps", t.adam.eps, "Adam epsilon")->capture_default_str();
  sub->add_option("--kl-warmup", t.kl_warmup_steps, "KL annealing: beta rises linearly from 0 over this many steps (0: off)")
      ->capture_default_str();
  sub->add_option("--iw-samples", o->iw_samples, "Importance samples per test image for the final NLL (0: skip; "
                                                  "default 5000 on CUDA, 200 on the CPU)");
  sub->add_option("--out", t.out_dir, "Directory for checkpoint.safetensors, history.json and the pictures "
                                      "(default results/train-<backend>-<device>)");
  sub->add_flag("--resume", t.resume, "Continue from <out>/checkpoint.safetensors");
  sub->add_flag("--no-pictures", o->no_pictures, "Do not write the PNG pictures");
  sub->add_option("--check-every", t.check_every, "Steps between NaN/Inf checks (default 1 on CPU, 50 on CUDA)");
  sub->add_option("--threads", o->threads, "CPU threads for LibTorch (default: its own choice)");
  sub->add_option("--target-loss", t.target_loss,
                  "Record the training time to reach this test loss, nats per image (0: none)");
  sub->add_flag("--stop-at-target", t.stop_at_target, "Stop after the first epoch at --target-loss");
  sub->add_option("--json", o->json_path, "Also write the whole history as JSON to this file");
  return {sub, [sub, o]() { return run_train(*sub, *o); }};
}

}  // namespace vae::cli
