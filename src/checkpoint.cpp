#include "catdog/checkpoint.h"

#include <torch/torch.h>

#include "catdog/error.h"

namespace catdog {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFormatKey = "catdog/format";
constexpr const char* kFormat = "catdog-checkpoint-1";
constexpr const char* kMetaKey = "catdog/meta";
constexpr const char* kModelPrefix = "model/";
constexpr const char* kOptimizerPrefix = "optimizer/";

nlohmann::json meta_to_json(const CheckpointMeta& meta) {
  return {{"kind", model_name(meta.kind)},
          {"image_size", meta.image_size},
          {"preprocessing", meta.preprocessing},
          {"class_names", meta.class_names},
          {"catdog_version", meta.catdog_version},
          {"split_seed", meta.split_seed},
          {"seed", meta.seed},
          {"epochs_done", meta.epochs_done},
          {"history", history_to_json(meta.history)},
          {"settings", meta.settings}};
}

CheckpointMeta meta_from_json(const nlohmann::json& json) {
  CheckpointMeta meta;
  meta.kind = parse_model_kind(json.at("kind").get<std::string>());
  meta.image_size = json.at("image_size").get<int>();
  meta.preprocessing = json.at("preprocessing").get<std::string>();
  meta.class_names = json.at("class_names").get<std::vector<std::string>>();
  meta.catdog_version = json.at("catdog_version").get<std::string>();
  meta.split_seed = json.at("split_seed").get<uint64_t>();
  meta.seed = json.at("seed").get<uint64_t>();
  meta.epochs_done = json.at("epochs_done").get<int>();
  meta.history = history_from_json(json.at("history"));
  meta.settings = json.at("settings");
  return meta;
}

// Every parameter and buffer, frozen backbone included, by its full name.
std::vector<std::pair<std::string, torch::Tensor>> model_tensors(Classifier& model) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& item : model->named_parameters()) tensors.emplace_back(item.key(), item.value());
  for (const auto& item : model->named_buffers()) tensors.emplace_back(item.key(), item.value());
  return tensors;
}

Error not_a_checkpoint(const fs::path& file, const std::string& why) {
  return Error(file.string() + " is not a catdog checkpoint (" + why +
               "): pass a file written by `catdog train` (best.ckpt / last.ckpt)");
}

}  // namespace

void save_checkpoint(const fs::path& file, Classifier& model, const std::vector<torch::Tensor>& optimizer_state,
                     const CheckpointMeta& meta) {
  torch::serialize::OutputArchive archive;
  archive.write(kFormatKey, c10::IValue(std::string(kFormat)));
  archive.write(kMetaKey, c10::IValue(meta_to_json(meta).dump()));
  // Saved from the CPU so a checkpoint written on CUDA loads anywhere.
  for (const auto& [name, tensor] : model_tensors(model))
    archive.write(kModelPrefix + name, tensor.detach().to(torch::kCPU), /*is_buffer=*/true);
  for (size_t i = 0; i < optimizer_state.size(); ++i)
    archive.write(kOptimizerPrefix + std::to_string(i), optimizer_state[i].detach().to(torch::kCPU), true);

  const fs::path temporary = file.string() + ".tmp";
  try {
    archive.save_to(temporary.string());
  } catch (const c10::Error& e) {
    std::error_code ignored;
    fs::remove(temporary, ignored);
    throw Error("cannot write checkpoint " + temporary.string() + " (" + first_line(e.what()) +
                "): check that the run folder exists, is writable and the disk has space");
  }
  std::error_code error;
  fs::rename(temporary, file, error);
  if (error)
    throw Error("cannot replace " + file.string() + " (" + error.message() + "): check the run folder's permissions");
}

Checkpoint load_checkpoint(const fs::path& file, torch::Device device) {
  if (!fs::is_regular_file(file)) throw not_a_checkpoint(file, "no such file");
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(file.string(), torch::Device(torch::kCPU));
  } catch (const c10::Error& e) {
    throw not_a_checkpoint(file, "unreadable archive: " + first_line(e.what()));
  }
  c10::IValue format, meta_text;
  if (!archive.try_read(kFormatKey, format) || !format.isString() || format.toStringRef() != kFormat)
    throw not_a_checkpoint(file, std::string("no ") + kFormat + " marker");
  if (!archive.try_read(kMetaKey, meta_text) || !meta_text.isString())
    throw not_a_checkpoint(file, "no metadata");

  Checkpoint checkpoint;
  try {
    checkpoint.meta = meta_from_json(nlohmann::json::parse(meta_text.toStringRef()));
  } catch (const nlohmann::json::exception& e) {
    throw not_a_checkpoint(file, std::string("malformed metadata: ") + e.what());
  }

  checkpoint.model = Classifier(checkpoint.meta.kind, /*keras_init=*/false);
  const auto mismatch = [&](const std::string& why) {
    return Error("checkpoint " + file.string() + " does not match model " + model_name(checkpoint.meta.kind) + " (" +
                 why + "): pass a checkpoint written by this catdog version");
  };
  {
    torch::NoGradGuard no_grad;
    for (auto& [name, tensor] : model_tensors(checkpoint.model)) {
      torch::Tensor stored;
      if (!archive.try_read(kModelPrefix + name, stored, /*is_buffer=*/true)) throw mismatch(name + " is missing");
      if (!stored.sizes().equals(tensor.sizes()))
        throw mismatch(name + " has shape " + c10::str(stored.sizes()) + ", expected " + c10::str(tensor.sizes()));
      tensor.set_data(stored);  // adopt the loaded storage: no copy of up to 100 MB
    }
  }
  checkpoint.model->to(device);
  // After the move: an inference form the backbone derives lives on the device too.
  checkpoint.model->weights_changed();
  checkpoint.model->eval();

  for (size_t i = 0;; ++i) {
    torch::Tensor velocity;
    if (!archive.try_read(kOptimizerPrefix + std::to_string(i), velocity, /*is_buffer=*/true)) break;
    checkpoint.optimizer_state.push_back(velocity.to(device));
  }
  return checkpoint;
}

}  // namespace catdog
