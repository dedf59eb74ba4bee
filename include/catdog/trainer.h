#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

#include <torch/types.h>

#include "catdog/history.h"
#include "catdog/loader.h"
#include "catdog/models.h"
#include "catdog/split.h"

namespace catdog {

struct TrainOptions {
  ModelKind model = ModelKind::Scratch;
  std::filesystem::path data_dir;
  int epochs = 0;  // 0 = the model's recipe default
  int batch_size = 32;
  double learning_rate = 1e-4;
  std::filesystem::path weights;  // Keras no-top h5 for vgg16/mobilenetv2
  std::filesystem::path out_dir;  // empty = runs/<model>-<timestamp>, runs/latest -> it
  bool resume = false;            // continue from out_dir/last.ckpt
  uint64_t seed = 42;
  uint64_t split_seed = kDefaultSplitSeed;
  CacheMode cache = CacheMode::Auto;
  int initial_eval_batches = 20;  // the recipe's "initial loss" check
  // Frozen backbone: compute its features once per image and train the head
  // on them. Same result as the naive loop, one backbone pass instead of one
  // per epoch.
  bool feature_cache = true;
  bool progress = true;           // progress bars on stderr
  std::string command_line;       // recorded in the run folder
};

struct TrainResult {
  std::filesystem::path run_dir;
  History history;
};

// The whole recipe: scan + split the data, build the model (loading
// backbone weights), report the initial validation loss/accuracy, train with
// KerasRMSprop and sparse categorical cross-entropy, validate every epoch,
// write history.{csv,json}, curves.png, best.ckpt, last.ckpt and
// settings.json into the run folder.
TrainResult train(const TrainOptions& options, torch::Device device);

}  // namespace catdog
