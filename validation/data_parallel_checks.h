#pragma once
// Data-parallel training against the single process (`vaebench validate --nproc N`): every
// rank runs these checks at once, each holding one shard of every batch, with the backend's
// gradient summed over the ranks by c10d (Backend::set_gradient_all_reduce).
//
// Per step, along the data-parallel backend's own trajectory (as check_backend judges Adam):
// the data-parallel step from p0, st0 on this rank's images and noise slice against the same
// backend, single-process, from p0, st0 on the whole batch; judged are the reduced loss sums,
// each gradient tensor after the all-reduce (median of the steps, as check_backend), and the
// reference Adam applied to the reduced gradient; the losses and gradients also against the
// fp64 reference. Then the ranks' parameters and Adam moments after the step, which must be
// identical bit for bit (rank 0's broadcast and compared on every rank). Two paths:
//   * the validation path (train_step): the case's images and noise given from outside, the
//     rank's rows of x and its columns of eps [K, B, Z] (its global positions);
//   * the training path (train_batch): the rank's share of the step's images from the
//     training split, its own noise drawn for its global positions (StepOptions::slice),
//     the sums read back with take_train_sums and summed over the ranks as the trainer does.
// Every comparison is the worst over the ranks (each rank judges its own gradient and its own
// parameters), so every rank reaches the same verdict. Tolerances: tol::data_parallel.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "cases.h"
#include "data/dataset.h"
#include "dist/group.h"
#include "reference_checks.h"
#include "training_checks.h"

namespace vae {

// The cases `validate --nproc N` runs without model options: the MLP at batch 64, tanh/Gaussian
// with K = 3 and beta 4 at batch 7 (a remainder for most N), a convolutional stack at batch 6,
// and a batch-norm model (refused by every backend: the refusal is the result).
std::vector<ValidationCase> data_parallel_matrix();
// Training-path cases: dynamic binarization over two epochs with a KL warm-up and an odd batch.
std::vector<TrainingCase> data_parallel_training_cases();

// `make_backend` creates a fresh backend of the kind under test for the case's model (called
// twice: the data-parallel backend and its single-process twin). `adam_steps` >= 1.
using BackendFactory = std::function<std::unique_ptr<Backend>(const VaeConfig&)>;
CaseResult check_data_parallel(const BackendFactory& make_backend, const ValidationCase& c, const CaseInputs& in,
                               dist::Group& group, int adam_steps = 10);
CaseResult check_data_parallel_training(const BackendFactory& make_backend, const TrainingCase& c, const Split& train,
                                        dist::Group& group);

}  // namespace vae
