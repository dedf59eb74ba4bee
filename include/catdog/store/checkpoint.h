#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "catdog/data/preprocess.h"
#include "catdog/models/classifier.h"
#include "catdog/store/history.h"

namespace catdog {

// Everything eval and predict need besides the weights.
struct CheckpointMeta {
  ModelKind kind = ModelKind::Scratch;
  // The input side the model was trained at (preprocess.h): the one place
  // eval, predict, serve and export read it from. Saving checks it is the
  // model's; loading builds the model at it.
  int image_size = kDefaultImageSize;
  std::string preprocessing;  // the pixels it takes (registry.h's preprocessing_text), recorded for other tools
  std::vector<std::string> class_names = {"cat", "dog"};  // the model's outputs, in order
  std::string catdog_version = CATDOG_VERSION;
  uint64_t split_seed = 0;
  uint64_t seed = 0;
  int epochs_done = 0;
  History history;
  nlohmann::json settings;  // the training options and command line
};

struct Checkpoint {
  CheckpointMeta meta;
  Classifier model{nullptr};                   // on the requested device, eval mode
  std::vector<torch::Tensor> optimizer_state;  // KerasRMSprop::state(), on that device
};

// The checkpoint format: a LibTorch archive (torch::serialize) holding
//  "catdog/format" = "catdog-checkpoint-1", "catdog/meta" = JSON text of
//  CheckpointMeta, "model/<name>" for every parameter and buffer (frozen
//  backbone included, so a checkpoint needs nothing else), and
//  "optimizer/<i>" for the RMSprop accumulators, and "catdog/checksums" = JSON
//  text mapping the meta and every tensor's key to the CRC-32 of its bytes.
// Loading reads the file once and checks its zip container (zip_check.h:
// bounds of every record, their CRC-32s) before LibTorch parses those bytes.
// Serialized in memory and written with write_file_atomically: a run killed
// at any moment, or a full disk, leaves the previous checkpoint whole.
void save_checkpoint(const std::filesystem::path& file, Classifier& model,
                     const std::vector<torch::Tensor>& optimizer_state, const CheckpointMeta& meta);

// A checkpoint's metadata from its JSON text (`file` names it in errors),
// checked for meaning as well as form: class names two or more, printable and
// unique. What load_checkpoint reads before any tensor; Error otherwise.
CheckpointMeta read_checkpoint_meta(const std::string& json_text, const std::filesystem::path& file);

// Throws Error naming the file for a missing, truncated, foreign or corrupt
// file: a broken zip container or a record whose bytes fail their zip CRC, a
// tensor record shorter than its shape and dtype need, or a tensor that does
// not match its checksum.
Checkpoint load_checkpoint(const std::filesystem::path& file, torch::Device device);

}  // namespace catdog
