#pragma once
// Training a VAE on an MNIST-format dataset with any backend, the pytorch/examples way:
// a seeded shuffle per epoch, mini-batches (the last one smaller), Adam, optional linear KL
// warm-up; per epoch the train and test losses, posterior statistics and throughput; a
// checkpoint after every good epoch (atomic, with the history so far, so --resume carries
// on exactly); at the end the importance-weighted test NLL and the pictures.
//
// Divergence: a NaN or Inf in a loss or the gradient stops training with the step and the
// quantity; no checkpoint is written after it, so the last good one stays intact.
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "data/dataset.h"
#include "data/pixels.h"
#include "model/adam_options.h"
#include "model/checkpoint.h"
#include "model/config.h"

namespace vae {

namespace dist {
class Group;
}

struct TrainOptions {
  std::string backend = "libtorch-eager", device = "cpu", precision = "fp32";
  int epochs = 10;
  int batch = 128;
  AdamOptions adam;
  int64_t kl_warmup_steps = 0;  // 0: full beta from the start; N: beta * min(1, step / N)
  int iw_samples = 0;           // 0: skip the importance-weighted NLL
  Binarize binarize = Binarize::None;
  uint64_t seed = 0;            // shuffling, noise, binarization (init comes from config.seed)
  std::string out_dir;          // checkpoint.safetensors, history.json, pictures
  bool resume = false;          // continue from out_dir/checkpoint.safetensors
  bool pictures = true;
  int check_every = 0;          // steps between non-finite checks; 0: 1 on CPU, 50 on CUDA
  double target_loss = 0;       // > 0: record the time to reach this test loss (time_to_quality.h)
  bool stop_at_target = false;  // and stop after the first epoch that reaches it
};

nlohmann::json to_json(const TrainOptions& o);

// The checkpoint file inside out_dir.
std::string checkpoint_path(const TrainOptions& o);

// A checkpoint written by train(), with the entries a resume needs, already parsed.
struct TrainingCheckpoint {
  Checkpoint checkpoint;          // config, parameters, Adam state (always present here)
  nlohmann::json training;        // the TrainOptions it was trained with (to_json)
  nlohmann::json epochs;          // the history's per-epoch records so far
  int epoch = 0;                  // epochs completed
  std::string dataset_sha256;
};

// Reads out_dir/checkpoint.safetensors; throws vae::Error naming the file when it is missing
// or is not a training checkpoint.
TrainingCheckpoint load_training_checkpoint(const TrainOptions& o);

// Runs the training; returns the process exit code (0 done, 1 diverged). The history (the
// JSON document `vaebench train --json` writes) is stored in `history` as it grows. With
// options.resume it continues from `resume_from`, or from the checkpoint it loads when that
// is null. Throws vae::Error for bad options or an unusable checkpoint.
//
// Data-parallel (`group` of more than one rank, dist/group.h): every rank walks the same epoch
// order and trains on its shard of each global batch (--batch images, split evenly, each rank
// drawing the noise of its images' global positions); the backend sums the gradient over the
// ranks before Adam, the loss sums and the non-finite record are reduced when read, so the
// history is the single-process one up to summation order. Rank 0 alone evaluates, writes the
// history, checkpoints and pictures and logs; the others write nothing. The batch must divide
// by the world size, and the ranks must agree on the model, options and dataset (checked).
int train(const VaeConfig& config, const Dataset& data, const TrainOptions& options, const nlohmann::json& manifest,
          nlohmann::json& history, std::ostream& log, const TrainingCheckpoint* resume_from = nullptr,
          dist::Group* group = nullptr);

}  // namespace vae
