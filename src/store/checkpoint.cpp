#include "catdog/store/checkpoint.h"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include <torch/torch.h>

#include "catdog/base/atomic_file.h"
#include "catdog/base/error.h"
#include "catdog/base/precision.h"
#include "catdog/base/text.h"
#include "catdog/store/zip_check.h"

namespace catdog {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFormatKey = "catdog/format";
constexpr const char* kFormat = "catdog-checkpoint-1";
constexpr const char* kMetaKey = "catdog/meta";
// JSON object: every other key -> CRC-32 of its bytes as a tensor: what the
// loaded model gets, beyond the zip's CRCs of the records (check_zip).
constexpr const char* kChecksumsKey = "catdog/checksums";
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

using catdog::crc32_of;  // the bytes' overload, beside these two

uint32_t crc32_of(const torch::Tensor& cpu_contiguous) {
  return crc32_of(cpu_contiguous.data_ptr(), cpu_contiguous.numel() * cpu_contiguous.element_size());
}

uint32_t crc32_of(const std::string& text) { return crc32_of(text.data(), text.size()); }

// The bytes a tensor's view reaches in its storage, from its sizes, strides and offset.
bool fits_its_storage(const torch::Tensor& tensor) {
  if (tensor.numel() == 0) return true;
  if (tensor.storage_offset() < 0) return false;
  uint64_t last = static_cast<uint64_t>(tensor.storage_offset());
  for (int64_t d = 0; d < tensor.dim(); ++d) {
    if (tensor.stride(d) < 0) return false;
    last += static_cast<uint64_t>(tensor.size(d) - 1) * static_cast<uint64_t>(tensor.stride(d));
  }
  return (last + 1) * tensor.element_size() <= tensor.storage().nbytes();
}

// LibTorch 1.13 gives a loaded tensor a storage of the size its pickle
// declares over a buffer of the size its zip record has: a short record is
// read past its end. The record of each storage is not exposed, so this
// checks that the storages, largest first, fit the records, largest first:
// what a crafted file (short record, valid CRCs) or an inflated shape breaks.
bool records_hold_their_storages(const std::vector<ZipRecord>& zip_records,
                                 const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  std::map<const void*, uint64_t> storages;  // distinct storages: their declared bytes
  for (const auto& [key, tensor] : tensors)
    if (tensor.numel() > 0) storages[tensor.storage().data()] = tensor.storage().nbytes();
  std::vector<uint64_t> records, declared;
  // LibTorch stores each storage as the record data/<n>, under the archive's folder in some versions.
  const std::string storage_folder = std::string("data") + '/';
  for (const auto& record : zip_records)
    if (record.name.rfind(storage_folder, 0) == 0 || record.name.find('/' + storage_folder) != std::string::npos)
      records.push_back(record.size);
  for (const auto& [data, bytes] : storages) declared.push_back(bytes);
  std::sort(records.rbegin(), records.rend());
  std::sort(declared.rbegin(), declared.rend());
  if (declared.size() > records.size()) return false;
  for (size_t i = 0; i < declared.size(); ++i)
    if (declared[i] > records[i]) return false;
  return true;
}

Error not_a_checkpoint(const fs::path& file, const std::string& why) {
  return Error(file.string() + " is not a catdog checkpoint (" + why + ")");
}

// The metadata's meaning, beyond its bytes: the names eval and predict print
// and index by (the head's outputs are checked against their count below).
void check_class_names(const fs::path& file, const std::vector<std::string>& names) {
  if (names.size() < 2)
    throw not_a_checkpoint(file,
                           "it names " + std::to_string(names.size()) + " class(es); a classifier has two or more");
  std::set<std::string> seen;
  for (const auto& name : names) {
    if (name.empty() || !is_printable_text(name))
      throw not_a_checkpoint(file, "class name '" + escape_text(name) + "' is not printable text");
    if (!seen.insert(name).second) throw not_a_checkpoint(file, "class name '" + name + "' appears twice");
  }
}

}  // namespace

void save_checkpoint(const fs::path& file, Classifier& model, const std::vector<torch::Tensor>& optimizer_state,
                     const CheckpointMeta& meta) {
  if (meta.image_size != model->image_size())
    throw Error("checkpoint " + file.string() + ": its metadata says " + std::to_string(meta.image_size) +
                " px inputs, its model takes " + std::to_string(model->image_size()) +
                " px: record the model's input size");
  torch::serialize::OutputArchive archive;
  nlohmann::json checksums;
  const std::string meta_text = meta_to_json(meta).dump();
  archive.write(kFormatKey, c10::IValue(std::string(kFormat)));
  archive.write(kMetaKey, c10::IValue(meta_text));
  checksums[kMetaKey] = crc32_of(meta_text);
  const auto write_tensor = [&](const std::string& key, const torch::Tensor& tensor) {
    // Saved from the CPU so a checkpoint written on CUDA loads anywhere.
    const auto cpu = tensor.detach().to(torch::kCPU).contiguous();
    archive.write(key, cpu, /*is_buffer=*/true);
    checksums[key] = crc32_of(cpu);
  };
  for (const auto& [name, tensor] : model_tensors(model)) write_tensor(kModelPrefix + name, tensor);
  for (size_t i = 0; i < optimizer_state.size(); ++i)
    write_tensor(kOptimizerPrefix + std::to_string(i), optimizer_state[i]);
  archive.write(kChecksumsKey, c10::IValue(checksums.dump()));

  // Serialized in memory, then written all or nothing: a full disk is one
  // Error from write_file_atomically, never an exception from a destructor.
  std::ostringstream bytes;
  try {
    archive.save_to(bytes);
  } catch (const c10::Error& e) {
    throw Error("cannot serialize checkpoint " + file.string() + " (" + first_line(e.what()) +
                "): report this as a catdog bug");
  }
  write_file_atomically(file, bytes.str());
}

CheckpointMeta read_checkpoint_meta(const std::string& json_text, const fs::path& file) {
  CheckpointMeta meta;
  try {
    meta = meta_from_json(nlohmann::json::parse(json_text));
  } catch (const nlohmann::json::exception& e) {
    throw not_a_checkpoint(file, std::string("malformed metadata: ") + e.what());
  }
  check_class_names(file, meta.class_names);
  return meta;
}

namespace {

Error corrupt_checkpoint(const fs::path& file, const std::string& what) {
  return Error("checkpoint " + file.string() + " is corrupt (" + what + ")");
}

Checkpoint read_checkpoint(const fs::path& file, torch::Device device) {
  // Only a missing file is "no such file": a link loop or a folder on the
  // way is the reader's to name (UnreadableFile, with the system's reason).
  std::error_code ignored;
  if (fs::status(file, ignored).type() == fs::file_type::not_found) throw not_a_checkpoint(file, "no such file");
  torch::serialize::InputArchive archive;
  ZipCheck zip;
  try {
    // Checked first: LibTorch's parser crashes on corrupt lengths.
    zip = load_checked_archive(file, archive);
  } catch (const Error&) {  // unreadable: a FIFO, no permission
    throw;
  } catch (const std::exception& e) {  // c10::Error, and std::runtime_error / out_of_range from a bad pickle
    throw not_a_checkpoint(file, "unreadable archive: " + first_line(e.what()));
  }
  if (!zip.is_zip) throw not_a_checkpoint(file, "not a zip archive: " + zip.problem);
  if (!zip.problem.empty()) throw corrupt_checkpoint(file, zip.problem);
  c10::IValue format, meta_text;
  if (!archive.try_read(kFormatKey, format) || !format.isString() || format.toStringRef() != kFormat)
    throw not_a_checkpoint(file, std::string("no ") + kFormat + " marker");
  if (!archive.try_read(kMetaKey, meta_text) || !meta_text.isString())
    throw not_a_checkpoint(file, "no metadata");

  const auto corrupt = [&](const std::string& what) { return corrupt_checkpoint(file, what); };
  // Checkpoints written before checksums existed have none: loaded unverified.
  nlohmann::json checksums;
  if (c10::IValue checksums_text; archive.try_read(kChecksumsKey, checksums_text)) {
    if (!checksums_text.isString()) throw corrupt("checksums are not text");
    checksums = nlohmann::json::parse(checksums_text.toStringRef(), nullptr, /*allow_exceptions=*/false);
    if (!checksums.is_object()) throw corrupt("malformed checksums");
  }
  const auto verify = [&](const std::string& key, uint32_t actual) {
    if (checksums.is_null()) return;
    const auto expected = checksums.find(key);
    if (expected == checksums.end() || !expected->is_number_unsigned()) throw corrupt("no checksum for " + key);
    if (expected->get<uint64_t>() != actual) throw corrupt(key + " does not match its checksum");
  };
  const auto checked = [&](const std::string& key, const torch::Tensor& stored, torch::ScalarType dtype) {
    if (stored.scalar_type() != dtype)
      throw corrupt(key + " is " + dtype_name(stored.scalar_type()) + ", expected " + dtype_name(dtype));
    if (stored.device() != torch::kCPU || !fits_its_storage(stored))
      throw corrupt(key + " reaches past its storage");
  };
  Checkpoint checkpoint;
  verify(kMetaKey, crc32_of(meta_text.toStringRef()));
  checkpoint.meta = read_checkpoint_meta(meta_text.toStringRef(), file);

  if (!is_valid_image_size(checkpoint.meta.image_size))
    throw not_a_checkpoint(
        file, "its input size " + std::to_string(checkpoint.meta.image_size) + " px is not " + image_size_rule());
  checkpoint.model = Classifier(checkpoint.meta.kind, static_cast<int64_t>(checkpoint.meta.class_names.size()),
                                checkpoint.meta.image_size, /*keras_init=*/false);
  const auto mismatch = [&](const std::string& why) {
    return Error("checkpoint " + file.string() + " does not match model " + model_name(checkpoint.meta.kind) + " (" +
                 why + "): pass a checkpoint written by this catdog version");
  };
  // Everything is read and its record sizes checked before any byte is used.
  std::vector<std::pair<std::string, torch::Tensor>> stored;  // key, tensor
  const auto targets = model_tensors(checkpoint.model);
  for (const auto& [name, tensor] : targets) {
    torch::Tensor value;
    if (!archive.try_read(kModelPrefix + name, value, /*is_buffer=*/true)) throw mismatch(name + " is missing");
    if (!value.sizes().equals(tensor.sizes()))
      throw mismatch(name + " has shape " + c10::str(value.sizes()) + ", expected " + c10::str(tensor.sizes()));
    checked(kModelPrefix + name, value, tensor.scalar_type());
    stored.emplace_back(kModelPrefix + name, value);
  }
  for (size_t i = 0;; ++i) {
    const std::string key = kOptimizerPrefix + std::to_string(i);
    torch::Tensor velocity;
    if (!archive.try_read(key, velocity, /*is_buffer=*/true)) break;
    checked(key, velocity, torch::kFloat32);
    stored.emplace_back(key, velocity);
  }
  if (!records_hold_their_storages(zip.records, stored))
    throw corrupt("a tensor record is shorter than its shape and dtype need");
  for (auto& [key, tensor] : stored) {
    tensor = tensor.contiguous();
    verify(key, crc32_of(tensor));
  }

  {
    torch::NoGradGuard no_grad;
    // Adopts the loaded storage (contiguous as saved): no copy of up to 100 MB.
    for (size_t i = 0; i < targets.size(); ++i) targets[i].second.set_data(stored[i].second);
  }
  checkpoint.model->to(device);
  // After the move: an inference form the backbone derives lives on the device too.
  checkpoint.model->weights_changed();
  checkpoint.model->eval();
  for (size_t i = targets.size(); i < stored.size(); ++i)
    checkpoint.optimizer_state.push_back(stored[i].second.to(device));
  return checkpoint;
}

}  // namespace

Checkpoint load_checkpoint(const fs::path& file, torch::Device device) {
  // A malformed archive can make LibTorch throw anything anywhere (an entry of
  // another type, a bad pickle, ...): all of it means a corrupt file.
  try {
    return read_checkpoint(file, device);
  } catch (const Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw corrupt_checkpoint(file, "it declares more memory than there is");
  } catch (const std::exception& e) {  // c10::Error mostly
    throw corrupt_checkpoint(file, "LibTorch: " + first_line(e.what()));
  }
}

}  // namespace catdog
