#include <sys/stat.h>
#include <zlib.h>

#include <fstream>

#include <torch/torch.h>

#include "catdog/base/error.h"
#include "catdog/store/checkpoint.h"
#include "catdog/train/optimizer.h"
#include "test_support.h"

namespace {

namespace fs = std::filesystem;
using catdog::testing::TempDir;

catdog::CheckpointMeta sample_meta() {
  catdog::CheckpointMeta meta;
  meta.kind = catdog::ModelKind::Scratch;
  meta.split_seed = 18446744073709551557ull;  // needs all 64 bits
  meta.seed = 7;
  meta.image_size = 160;
  meta.preprocessing = "RGB, bilinear resize to 160x160, x / 127.5 - 1";
  meta.epochs_done = 2;
  meta.history = {{1, 0.7, 0.5, 0.69, 0.55, 3.5}, {2, 0.6, 0.65, 0.62, 0.7, 3.25}};
  meta.settings = {{"batch_size", 32}, {"command_line", "catdog train --epochs 2"}};
  return meta;
}

struct SavedModel {
  catdog::Classifier model{catdog::ModelKind::Scratch};
  std::vector<torch::Tensor> optimizer_state;
};

SavedModel save_sample(const fs::path& file) {
  torch::manual_seed(3);
  SavedModel saved;
  for (const auto& parameter : saved.model->trainable_parameters())
    saved.optimizer_state.push_back(torch::rand(parameter.sizes()));
  catdog::save_checkpoint(file, saved.model, saved.optimizer_state, sample_meta());
  return saved;
}

torch::Tensor fixed_input() {
  torch::manual_seed(11);
  return torch::rand({2, 3, 160, 160}) * 2 - 1;
}

void write_bytes(const fs::path& file, const std::string& bytes) {
  std::ofstream out(file, std::ios::binary);
  out << bytes;
}

std::string load_error(const fs::path& file) {
  try {
    catdog::load_checkpoint(file, torch::kCPU);
  } catch (const catdog::Error& e) {
    return e.what();
  }
  return "no error";
}

void expect_not_a_checkpoint(const fs::path& file) {
  const auto message = load_error(file);
  EXPECT_NE(message.find(file.string() + " is not a catdog checkpoint ("), std::string::npos) << message;
  EXPECT_EQ(message.find("catdog train"), std::string::npos) << "the app says what to run: " << message;
}

std::string read_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

uint32_t le32(const std::string& bytes, size_t at) {
  uint32_t value = 0;
  for (size_t i = 4; i-- > 0;) value = value << 8 | static_cast<unsigned char>(bytes[at + i]);
  return value;
}

void put_le32(std::string& bytes, size_t at, uint32_t value) {
  for (size_t i = 0; i < 4; ++i) bytes[at + i] = static_cast<char>(value >> (8 * i));
}

// The largest tensor record of a LibTorch archive (a zip, stored uncompressed):
// where its central directory entry and its data are.
struct ZipRecord {
  size_t directory_entry = 0, local_header = 0, data = 0;
  uint32_t size = 0;
};

ZipRecord largest_tensor_record(const std::string& zip) {
  const size_t end = zip.rfind(std::string("PK\x05\x06", 4));
  size_t entry = le32(zip, end + 16);  // the central directory's offset
  ZipRecord largest;
  while (zip.compare(entry, 4, std::string("PK\x01\x02", 4)) == 0) {
    const size_t name_length = le32(zip, entry + 28) & 0xFFFF, extra = le32(zip, entry + 30) & 0xFFFF,
                 comment = le32(zip, entry + 32) & 0xFFFF;
    const std::string name = zip.substr(entry + 46, name_length);
    const uint32_t size = le32(zip, entry + 24);
    if (name.find("/data/") != std::string::npos && size > largest.size) {
      const size_t local = le32(zip, entry + 42);
      const size_t local_name = le32(zip, local + 26) & 0xFFFF, local_extra = le32(zip, local + 28) & 0xFFFF;
      largest = {entry, local, local + 30 + local_name + local_extra, size};
    }
    entry += 46 + name_length + extra + comment;
  }
  return largest;
}

std::string corrupt_message(const fs::path& file) {
  return "checkpoint " + file.string() + " is corrupt (";
}

// Class names and their order survive the round trip; the model comes back with that many outputs.
TEST(Checkpoint, ClassNamesAndTheirOrderSurviveTheRoundTrip) {
  TempDir dir;
  torch::manual_seed(4);
  catdog::Classifier model(catdog::ModelKind::Scratch, 7);
  auto meta = sample_meta();
  meta.class_names = {"Zebra", "ant", "bee", "cat", "dog", "eel", "fox"};
  catdog::save_checkpoint(dir / "seven.ckpt", model, {}, meta);
  auto loaded = catdog::load_checkpoint(dir / "seven.ckpt", torch::kCPU);
  EXPECT_EQ(loaded.meta.class_names, meta.class_names);
  EXPECT_EQ(loaded.model->num_classes(), 7);
  torch::NoGradGuard no_grad;
  model->eval();
  EXPECT_TRUE(torch::equal(loaded.model->forward(fixed_input()), model->forward(fixed_input())));

  // Names that do not match the stored head are a mismatch, not a crash.
  meta.class_names = {"cat", "dog"};
  catdog::save_checkpoint(dir / "lying.ckpt", model, {}, meta);
  EXPECT_NE(load_error(dir / "lying.ckpt").find("dense_1"), std::string::npos) << load_error(dir / "lying.ckpt");
}

}  // namespace

TEST(Checkpoint, RoundTripGivesIdenticalOutputsAndMeta) {
  TempDir dir;
  auto saved = save_sample(dir / "best.ckpt");
  saved.model->eval();
  const auto input = fixed_input();
  torch::NoGradGuard no_grad;
  const auto expected = saved.model->forward(input);

  auto loaded = catdog::load_checkpoint(dir / "best.ckpt", torch::kCPU);
  EXPECT_FALSE(loaded.model->is_training());
  EXPECT_TRUE(torch::equal(loaded.model->forward(input), expected));
  ASSERT_EQ(loaded.optimizer_state.size(), saved.optimizer_state.size());
  for (size_t i = 0; i < saved.optimizer_state.size(); ++i)
    EXPECT_TRUE(torch::equal(loaded.optimizer_state[i], saved.optimizer_state[i]));

  const auto& meta = loaded.meta;
  EXPECT_EQ(meta.kind, catdog::ModelKind::Scratch);
  EXPECT_EQ(meta.image_size, 160);
  EXPECT_EQ(meta.preprocessing, "RGB, bilinear resize to 160x160, x / 127.5 - 1");
  EXPECT_EQ(meta.class_names, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(meta.catdog_version, CATDOG_VERSION);
  EXPECT_EQ(meta.split_seed, 18446744073709551557ull);
  EXPECT_EQ(meta.seed, 7u);
  EXPECT_EQ(meta.epochs_done, 2);
  ASSERT_EQ(meta.history.size(), 2u);
  EXPECT_EQ(meta.history[1].val_accuracy, 0.7);
  EXPECT_EQ(meta.history[0].seconds, 3.5);
  EXPECT_EQ(meta.settings["command_line"], "catdog train --epochs 2");
  EXPECT_FALSE(fs::exists(dir / "best.ckpt.tmp"));
}

TEST(Checkpoint, StoresEveryParameterUnderModelPrefix) {
  TempDir dir;
  auto saved = save_sample(dir / "x.ckpt");
  torch::serialize::InputArchive archive;
  archive.load_from((dir / "x.ckpt").string());
  c10::IValue format;
  archive.read("catdog/format", format);
  EXPECT_EQ(format.toStringRef(), "catdog-checkpoint-1");
  for (const auto& item : saved.model->named_parameters()) {
    torch::Tensor stored;
    ASSERT_TRUE(archive.try_read("model/" + item.key(), stored, true)) << item.key();
    EXPECT_TRUE(torch::equal(stored, item.value()));
  }
  torch::Tensor first_accumulator;
  EXPECT_TRUE(archive.try_read("optimizer/0", first_accumulator, true));
}

TEST(Checkpoint, StaleTemporaryFileIsReplaced) {
  TempDir dir;
  write_bytes(dir / "last.ckpt.tmp", "left over from a killed run");
  save_sample(dir / "last.ckpt");
  EXPECT_EQ(catdog::load_checkpoint(dir / "last.ckpt", torch::kCPU).meta.epochs_done, 2);
  EXPECT_FALSE(fs::exists(dir / "last.ckpt.tmp"));
}

TEST(Checkpoint, FailedWriteLeavesPreviousCheckpointWhole) {
  TempDir dir;
  save_sample(dir / "last.ckpt");
  const auto size_before = fs::file_size(dir / "last.ckpt");
  fs::create_directory(dir / "last.ckpt.tmp");  // the temporary cannot be written
  catdog::Classifier other(catdog::ModelKind::Scratch);
  auto meta = sample_meta();
  meta.epochs_done = 3;
  EXPECT_THROW(catdog::save_checkpoint(dir / "last.ckpt", other, {}, meta), catdog::Error);
  EXPECT_EQ(fs::file_size(dir / "last.ckpt"), size_before);
  EXPECT_EQ(catdog::load_checkpoint(dir / "last.ckpt", torch::kCPU).meta.epochs_done, 2);
}

TEST(Checkpoint, WritingIntoMissingFolderIsAnError) {
  TempDir dir;
  catdog::Classifier model(catdog::ModelKind::Scratch);
  EXPECT_THROW(catdog::save_checkpoint(dir / "missing" / "last.ckpt", model, {}, sample_meta()), catdog::Error);
}

TEST(Checkpoint, MissingFileIsAnError) {
  TempDir dir;
  expect_not_a_checkpoint(dir / "nothing.ckpt");
}

TEST(Checkpoint, TruncatedFileIsAnError) {
  TempDir dir;
  save_sample(dir / "whole.ckpt");
  std::ifstream in(dir / "whole.ckpt", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  write_bytes(dir / "half.ckpt", bytes.substr(0, bytes.size() / 2));
  expect_not_a_checkpoint(dir / "half.ckpt");
}

// /dev/full fails every write with ENOSPC: a real "disk full" for the checkpoint's FILE.tmp.
TEST(Checkpoint, DiskFullIsOneErrorAndKeepsThePreviousCheckpoint) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  TempDir dir;
  save_sample(dir / "last.ckpt");
  const auto before = read_bytes(dir / "last.ckpt");
  fs::create_symlink("/dev/full", dir / "last.ckpt.tmp");
  catdog::Classifier other(catdog::ModelKind::Scratch);
  try {
    catdog::save_checkpoint(dir / "last.ckpt", other, {}, sample_meta());
    FAIL() << "no error on a full disk";
  } catch (const catdog::Error& e) {
    EXPECT_NE(std::string(e.what()).find("no space left on device while writing " + (dir / "last.ckpt").string()),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(read_bytes(dir / "last.ckpt"), before);
  EXPECT_FALSE(fs::exists(fs::symlink_status(dir / "last.ckpt.tmp")));
}

// A saved checkpoint with its largest tensor record edited by `edit`, loaded:
// the error must call that file corrupt and say `why`.
template <typename Edit>
void expect_corrupt_after(const std::string& name, Edit&& edit, const std::string& why) {
  TempDir dir;
  save_sample(dir / "whole.ckpt");
  auto bytes = read_bytes(dir / "whole.ckpt");
  const auto record = largest_tensor_record(bytes);
  ASSERT_GT(record.size, 64u);
  edit(bytes, record);
  write_bytes(dir / name, bytes);
  const auto message = load_error(dir / name);
  EXPECT_NE(message.find(corrupt_message(dir / name)), std::string::npos) << message;
  EXPECT_NE(message.find(why), std::string::npos) << message;
}

// A crafted file: the zip is consistent (sizes, CRC), only the record is short.
TEST(Checkpoint, ARecordShorterThanItsShapeIsAnErrorNamingTheFile) {
  const auto shorten = [](std::string& bytes, const ZipRecord& record) {
    const uint32_t crc = static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(&bytes[record.data]), 64));
    put_le32(bytes, record.directory_entry + 20, 64);  // compressed and uncompressed size: 16 floats
    put_le32(bytes, record.directory_entry + 24, 64);
    put_le32(bytes, record.directory_entry + 16, crc);
    put_le32(bytes, record.local_header + 14, crc);
    // No data descriptor after the record: its CRC is in the local header.
    bytes[record.directory_entry + 8] &= ~0x08;
    bytes[record.local_header + 6] &= ~0x08;
  };
  expect_corrupt_after("short.ckpt", shorten, "a tensor record is shorter than its shape and dtype need");
}

TEST(Checkpoint, AFlippedByteIsAnErrorNamingTheFile) {
  const auto flip = [](std::string& bytes, const ZipRecord& record) {
    bytes[record.data + record.size / 2] ^= 0x10;  // one bit of one weight
  };
  expect_corrupt_after("flipped.ckpt", flip, ": CRC mismatch)");
}

TEST(Checkpoint, AFlippedByteInTheCentralDirectoryIsAnErrorNamingTheFile) {
  const auto flip = [](std::string& bytes, const ZipRecord& record) {
    bytes[record.directory_entry + 42] ^= 0x01;  // the record's offset
  };
  expect_corrupt_after("directory.ckpt", flip, ": no local header at its offset)");
}

TEST(Checkpoint, ARecordLengthPastTheFileEndIsAnErrorNamingTheFile) {
  const auto stretch = [](std::string& bytes, const ZipRecord& record) {
    put_le32(bytes, record.directory_entry + 20, 0xF0000000);  // 4 GB
    put_le32(bytes, record.directory_entry + 24, 0xF0000000);
  };
  expect_corrupt_after("long.ckpt", stretch, ": its size reaches past the records");
}

TEST(Checkpoint, AFifoIsRefusedWithoutBlocking) {
  TempDir dir;
  ASSERT_EQ(::mkfifo((dir / "fifo.ckpt").c_str(), 0600), 0);
  const auto message = load_error(dir / "fifo.ckpt");
  EXPECT_NE(message.find((dir / "fifo.ckpt").string() + ": a FIFO, not a regular file"), std::string::npos)
      << message;
}

// Inputs the fuzzer crashed load_checkpoint with: LibTorch's unpickler and
// TorchScript parser threw, crashed or allocated 4 GB on them (see the
// folder's README); the zip check now refuses them before LibTorch parses.
TEST(Checkpoint, FuzzFindingsAreErrorsNamingTheFile) {
  const auto inputs = catdog::testing::fuzz_regressions("load_checkpoint");
  ASSERT_GE(inputs.size(), 23u);
  for (const auto& input : inputs) {
    if (input.extension() != ".ckpt") continue;
    const auto message = load_error(input);
    EXPECT_TRUE(message.find(input.string() + " is not a catdog checkpoint (") != std::string::npos ||
                message.find(corrupt_message(input)) != std::string::npos)
        << message;
  }
}

// Checkpoints from before checksums: loaded as they are.
TEST(Checkpoint, ACheckpointWithoutChecksumsStillLoads) {
  TempDir dir;
  catdog::Classifier model(catdog::ModelKind::Scratch);
  torch::serialize::OutputArchive archive;
  archive.write("catdog/format", c10::IValue(std::string("catdog-checkpoint-1")));
  archive.write("catdog/meta", c10::IValue(R"({"kind":"scratch","image_size":160,"preprocessing":"x",
    "class_names":["cat","dog"],"catdog_version":"0.1.0","split_seed":1,"seed":2,"epochs_done":4,"history":[],
    "settings":{}})"));
  for (const auto& item : model->named_parameters()) archive.write("model/" + item.key(), item.value(), true);
  for (const auto& item : model->named_buffers()) archive.write("model/" + item.key(), item.value(), true);
  archive.save_to((dir / "old.ckpt").string());
  auto loaded = catdog::load_checkpoint(dir / "old.ckpt", torch::kCPU);
  EXPECT_EQ(loaded.meta.epochs_done, 4);
  const auto input = fixed_input();
  torch::NoGradGuard no_grad;
  model->eval();
  EXPECT_TRUE(torch::equal(loaded.model->forward(input), model->forward(input)));
}

TEST(Checkpoint, ForeignFilesAreErrors) {
  TempDir dir;
  std::string random_bytes(4096, '\0');
  std::mt19937 random(5);
  for (auto& byte : random_bytes) byte = static_cast<char>(random());
  write_bytes(dir / "random.ckpt", random_bytes);
  expect_not_a_checkpoint(dir / "random.ckpt");

  torch::save(torch::ones({3}), (dir / "tensor.pt").string());
  expect_not_a_checkpoint(dir / "tensor.pt");

  write_bytes(dir / "history.json", R"([{"epoch": 1}])");
  expect_not_a_checkpoint(dir / "history.json");

  write_bytes(dir / "empty.ckpt", "");
  expect_not_a_checkpoint(dir / "empty.ckpt");
}

// The input size is one value, stored in the checkpoint: the model loads at
// it (scratch's Dense layer depends on it). Saving refuses metadata that is
// not the model's; a size off the rule is not a checkpoint.
TEST(Checkpoint, TheInputSizeTravelsWithTheModel) {
  TempDir dir;
  torch::manual_seed(3);
  catdog::Classifier scratch(catdog::ModelKind::Scratch, 2, 224);
  auto meta = sample_meta();
  meta.image_size = 224;
  catdog::save_checkpoint(dir / "224.ckpt", scratch, {}, meta);
  auto loaded = catdog::load_checkpoint(dir / "224.ckpt", torch::kCPU);
  EXPECT_EQ(loaded.meta.image_size, 224);
  EXPECT_EQ(loaded.model->image_size(), 224);
  const auto input = torch::rand({1, 3, 224, 224}) * 2 - 1;
  torch::NoGradGuard no_grad;
  scratch->eval();
  EXPECT_TRUE(torch::equal(loaded.model->forward(input), scratch->forward(input)));

  meta.image_size = 160;
  EXPECT_NE(catdog::testing::error_of([&] {
              catdog::save_checkpoint(dir / "lying.ckpt", scratch, {}, meta);
            }).find("its metadata says 160 px inputs, its model takes 224 px"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "lying.ckpt"));

  torch::serialize::OutputArchive archive;
  archive.write("catdog/format", c10::IValue(std::string("catdog-checkpoint-1")));
  archive.write("catdog/meta", c10::IValue(R"({"kind":"scratch","image_size":100,"preprocessing":"x",
    "class_names":["cat","dog"],"catdog_version":"0.1.0","split_seed":1,"seed":2,"epochs_done":4,"history":[],
    "settings":{}})"));
  archive.save_to((dir / "odd.ckpt").string());
  EXPECT_NE(load_error(dir / "odd.ckpt").find("its input size 100 px is not a multiple of 32 from 96 to 512"),
            std::string::npos)
      << load_error(dir / "odd.ckpt");
}

TEST(Checkpoint, WrongModelIsAnError) {
  TempDir dir;
  catdog::Classifier scratch(catdog::ModelKind::Scratch);
  auto meta = sample_meta();
  meta.kind = catdog::ModelKind::MobileNetV2;  // a scratch model's tensors labelled mobilenetv2
  catdog::save_checkpoint(dir / "wrong.ckpt", scratch, {}, meta);
  const auto message = load_error(dir / "wrong.ckpt");
  EXPECT_NE(message.find("checkpoint " + (dir / "wrong.ckpt").string() + " does not match model mobilenetv2"),
            std::string::npos)
      << message;
}

// The metadata's meaning is checked on load, not only its bytes (issue 22,
// item 24): an edited class list with a valid checksum is refused, not
// printed raw or indexed past its end.
TEST(Checkpoint, ClassNamesMustBeTwoOrMorePrintableAndUnique) {
  TempDir dir;
  catdog::Classifier model(catdog::ModelKind::Scratch);
  const auto error_for = [&](const std::vector<std::string>& names) {
    auto meta = sample_meta();
    meta.class_names = names;
    const auto file = dir / "edited.ckpt";
    catdog::save_checkpoint(file, model, {}, meta);
    return load_error(file);
  };
  const auto expect_refused = [&](const std::vector<std::string>& names, const std::string& why) {
    const auto message = error_for(names);
    EXPECT_NE(message.find((dir / "edited.ckpt").string() + " is not a catdog checkpoint ("), std::string::npos)
        << message;
    EXPECT_NE(message.find(why), std::string::npos) << message;
  };
  expect_refused({"cat"}, "names 1 class(es)");
  expect_refused({"cat", "do\x1b[31mg"}, "'do\\x1b[31mg' is not printable text");
  expect_refused({"cat", "dog\n"}, "'dog\\x0a' is not printable text");
  expect_refused({"cat", ""}, "'' is not printable text");
  expect_refused({"dog", "dog"}, "class name 'dog' appears twice");
  EXPECT_EQ(error_for({"chien \xc3\xa9", "a\\b"}), "no error");  // UTF-8 and a backslash are printable
}
