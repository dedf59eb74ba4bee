#pragma once
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "catdog/base/error.h"
#include "catdog/base/progress.h"
#include "catdog/base/runtime.h"
#include "catdog/data/dataset.h"
#include "catdog/data/loader.h"
#include "catdog/data/split.h"
#include "catdog/models/classifier.h"
#include "catdog/store/history.h"
#include "catdog/train/data_parallel.h"
#include "catdog/train/optimizer.h"
#include "catdog/train/recipe.h"

namespace catdog {

// The TensorFlow tutorial's "strategy 2": after `head_epochs` epochs of the
// head alone on the frozen backbone (stage 1), the backbone's weighted layers
// from `unfreeze_from` on train with the head (stage 2) at the learning rate
// times `learning_rate_factor`, with a fresh optimizer, BatchNorm frozen.
struct FineTuning {
  std::string unfreeze_from;  // a Keras layer name; "" = no stage 2 (the plain recipe)
  int head_epochs = 10;  // the app's default: the registry's augmented_epochs
  double learning_rate_factor = recipe::kFineTuneLearningRateFactor;
};

// The training recipe. The caller (the application) validated every value
// and picked every file; the trainer writes only the caches it is told to.
struct TrainOptions {
  ModelKind model = ModelKind::Scratch;
  int epochs = 1;  // total, resumed epochs and both fine-tuning stages included
  int batch_size = recipe::kBatchSize;
  double learning_rate = recipe::kLearningRate;
  FineTuning fine_tune;
  Schedule schedule = Schedule::Constant;  // per stage; cosine warms up over its first epoch
  double label_smoothing = 0;              // of the training loss (validation reports plain cross-entropy)
  // Early stopping: the run ends when val_loss has not improved for this many
  // epochs (0: never). In a fine-tuning run it watches stage 2.
  int patience = 0;
  bool augment = false;  // the training images augmented (augment.h's default ranges)
  // The input side of a new model (preprocess.h); a resumed one keeps its own.
  int image_size = kDefaultImageSize;
  std::filesystem::path weights;  // Keras no-top h5 for a model with a backbone
  uint64_t split_seed = kDefaultSplitSeed;
  CacheMode cache = CacheMode::Auto;
  std::filesystem::path image_cache_dir;  // for the loader's disk cache
  int initial_eval_batches = recipe::kInitialEvalBatches;
  // Frozen backbone: compute its features once per image and train the head
  // on them. Same result as the naive loop, one backbone pass instead of one
  // per epoch. The files (empty: not kept) let a later run reuse them.
  bool feature_cache = true;
  std::filesystem::path train_features_file, validation_features_file;
  std::FILE* progress = nullptr;  // where progress bars go (the application passes stderr); nullptr: none
  int progress_columns = ProgressBar::kDefaultColumns;  // the terminal's width, for the bars
  // Data-parallel training (distributed.h): this rank's process group, or
  // null for one process. Each rank then trains on its share of every batch
  // (batch_size is per rank), gradients and metrics are summed over ranks,
  // and the feature files above should be named for one rank only.
  ProcessGroup* group = nullptr;
  // Set by the caller (a signal handler, say) to stop: the step under way
  // finishes, the epoch under way is dropped (the last committed epoch stays
  // the run's) and train() throws TrainingInterrupted. One process only: a
  // data-parallel run ignores it (its ranks must stop at the same step).
  const std::atomic<bool>* stop = nullptr;
};

// train() stopped by TrainOptions::stop: "interrupted at epoch 3, batch 41".
class TrainingInterrupted : public Error {
 public:
  TrainingInterrupted(int epoch, size_t batches_done);
  int epoch;            // the epoch dropped
  size_t batches_done;  // its steps taken
};

// Where a resumed run continues from (a checkpoint's content).
struct TrainState {
  Classifier model{nullptr};
  std::vector<torch::Tensor> optimizer_state;
  History history;  // the epochs done
};

// What the trainer hands over after every epoch, before the next starts.
struct EpochEnd {
  const History& history;  // every epoch so far, this one last
  Classifier& model;
  const std::vector<torch::Tensor>& optimizer_state;
  bool is_best;            // val_accuracy beats every earlier epoch (ties keep the earlier)
};
// The application's hook to commit a run folder; an exception it throws
// stops training.
using EpochCallback = std::function<void(const EpochEnd&)>;

struct TrainResult {
  History history;
  Classifier model{nullptr};
};

// The whole recipe on `data` (scanned by the caller): split, build the
// model (loading backbone weights) or take `resume`'s, report the initial
// validation loss/accuracy, train with KerasRMSprop and sparse categorical
// cross-entropy, validate every epoch and call `on_epoch_end`, in one stage
// or the two of fine-tuning. Seeds and thread counts come from `runtime`.
// The loss stopped being finite: the epoch it happened in is not handed
// over, the epochs before it were (epochs_done of them).
class TrainingDiverged : public Error {
 public:
  TrainingDiverged(const std::string& message, int epochs_done) : Error(message), epochs_done_(epochs_done) {}
  int epochs_done() const { return epochs_done_; }

 private:
  int epochs_done_;
};

// Throws Error for a dataset with an empty class or too small to split, or a
// stage's learning rate float32 cannot hold (before the first epoch), and
// TrainingDiverged when the loss stops being finite.
TrainResult train(const DatasetIndex& data, const TrainOptions& options, const Runtime& runtime,
                  const EpochCallback& on_epoch_end, TrainState* resume = nullptr);

}  // namespace catdog
