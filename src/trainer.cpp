#include "catdog/trainer.h"

#include <unistd.h>

#include <ctime>
#include <fstream>
#include <functional>
#include <numeric>
#include <optional>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "catdog/checkpoint.h"
#include "catdog/error.h"
#include "catdog/optimizer.h"
#include "catdog/plot.h"
#include "catdog/progress.h"

namespace catdog {

namespace fs = std::filesystem;

namespace {

// Validation and feature extraction need no gradients: larger batches cost
// nothing but memory and change results only within float noise.
constexpr int kInferenceBatchSize = 128;

// inputs (images or backbone features) and labels, on the training device.
// Returns false to stop early.
using BatchVisitor = std::function<bool(const torch::Tensor& inputs, const torch::Tensor& labels)>;

// The batches of one split, from images or from cached backbone features.
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual size_t num_batches() const = 0;
  // True when inputs are backbone features (classify), false for images (forward).
  virtual bool yields_features() const = 0;
  // Every batch of `epoch` (0-based) in the loader's order.
  virtual void for_each_batch(int epoch, const BatchVisitor& visit) = 0;
};

class ImageBatches : public BatchSource {
 public:
  ImageBatches(const fs::path& root, std::vector<Sample> samples, LoaderOptions options, torch::Device device)
      : loader_(root, std::move(samples), std::move(options)), device_(device) {}
  size_t num_batches() const override { return loader_.num_batches(); }
  bool yields_features() const override { return false; }
  void for_each_batch(int epoch, const BatchVisitor& visit) override {
    loader_.start_epoch(epoch);
    while (auto batch = loader_.next()) {
      if (batch->labels.numel() == 0) continue;
      if (!visit(batch->images.to(device_), batch->labels.to(device_))) break;
    }
    // A loader stopped early still decodes the rest (into its cache, for the next pass).
    while (loader_.next()) {
    }
  }
  std::string cache_description() const { return loader_.cache_description(); }
 private:
  BatchLoader loader_;
  torch::Device device_;
};

// Backbone features of every sample, computed once; batches are formed from
// the same per-epoch order as BatchLoader's, leaving out the images it leaves out.
class FeatureBatches : public BatchSource {
 public:
  FeatureBatches(torch::Tensor features, torch::Tensor labels, std::vector<bool> usable, int batch_size,
                 bool shuffle, uint64_t seed)
      : features_(std::move(features)),
        labels_(std::move(labels)),
        usable_(std::move(usable)),
        batch_size_(static_cast<size_t>(batch_size)),
        shuffle_(shuffle),
        seed_(seed) {}
  size_t num_batches() const override { return (usable_.size() + batch_size_ - 1) / batch_size_; }
  bool yields_features() const override { return true; }
  void for_each_batch(int epoch, const BatchVisitor& visit) override {
    std::vector<size_t> order(usable_.size());
    if (shuffle_)
      order = epoch_order(usable_.size(), seed_, epoch);
    else
      std::iota(order.begin(), order.end(), size_t{0});
    for (size_t start = 0; start < order.size(); start += batch_size_) {
      std::vector<int64_t> rows;
      for (size_t i = start; i < std::min(start + batch_size_, order.size()); ++i)
        if (usable_[order[i]]) rows.push_back(static_cast<int64_t>(order[i]));
      if (rows.empty()) continue;
      const auto index = torch::tensor(rows, torch::kInt64).to(features_.device());
      if (!visit(features_.index_select(0, index), labels_.index_select(0, index))) return;
    }
  }

 private:
  torch::Tensor features_, labels_;
  std::vector<bool> usable_;
  size_t batch_size_;
  bool shuffle_;
  uint64_t seed_;
};

torch::Tensor logits_of(Classifier& model, const BatchSource& source, const torch::Tensor& inputs) {
  return source.yields_features() ? model->classify(inputs) : model->forward(inputs);
}

// Sums over images; loss is the mean over images, as Keras reports it.
struct Tally {
  double loss_sum = 0;
  int64_t correct = 0, images = 0;

  void add(const torch::Tensor& mean_loss, const torch::Tensor& logits, const torch::Tensor& labels) {
    const int64_t n = labels.size(0);
    loss_sum += mean_loss.item<double>() * static_cast<double>(n);
    correct += logits.argmax(1).eq(labels).sum().item<int64_t>();
    images += n;
  }
  double loss() const { return images ? loss_sum / static_cast<double>(images) : 0.0; }
  double accuracy() const { return images ? static_cast<double>(correct) / static_cast<double>(images) : 0.0; }
};

// Loss and accuracy over the first `max_images` images of `source` (all when 0).
Tally evaluate(Classifier& model, BatchSource& source, int64_t max_images = 0) {
  torch::NoGradGuard no_grad;
  model->eval();
  Tally tally;
  source.for_each_batch(0, [&](const torch::Tensor& inputs, const torch::Tensor& labels) {
    const int64_t take = max_images > 0 ? std::min<int64_t>(labels.size(0), max_images - tally.images) : labels.size(0);
    const auto batch_inputs = inputs.narrow(0, 0, take), batch_labels = labels.narrow(0, 0, take);
    const auto logits = logits_of(model, source, batch_inputs);
    tally.add(torch::nn::functional::cross_entropy(logits, batch_labels), logits, batch_labels);
    return max_images <= 0 || tally.images < max_images;
  });
  return tally;
}

std::string metrics_text(const Tally& tally) {
  return fmt::format("loss {:.4f} acc {:.4f}", tally.loss(), tally.accuracy());
}

// One pass over the training batches with RMSprop; returns the epoch's tally.
Tally train_epoch(Classifier& model, KerasRMSprop& optimizer, BatchSource& source, int epoch, int epochs,
                  int batch_size, bool progress) {
  model->train();
  ProgressBar bar(fmt::format("epoch {}/{}", epoch, epochs), source.num_batches(), batch_size, progress);
  Tally tally;
  size_t step = 0;
  source.for_each_batch(epoch - 1, [&](const torch::Tensor& inputs, const torch::Tensor& labels) {
    optimizer.zero_grad();
    const auto logits = logits_of(model, source, inputs);
    // Sparse categorical cross-entropy on the softmax output = cross-entropy on the logits.
    const auto loss = torch::nn::functional::cross_entropy(logits, labels);
    loss.backward();
    optimizer.step();
    tally.add(loss.detach(), logits.detach(), labels);
    bar.update(++step, metrics_text(tally));
    return true;
  });
  bar.finish();
  return tally;
}

// FNV-1a over the sample list: names the data a feature cache was computed from.
std::string samples_fingerprint(const std::vector<Sample>& samples) {
  uint64_t hash = 1469598103934665603ull;
  const auto mix = [&](const std::string& text) {
    for (unsigned char c : text) hash = (hash ^ c) * 1099511628211ull;
  };
  for (const auto& sample : samples) mix(sample.path + '\t' + std::to_string(sample.label) + '\n');
  return fmt::format("{:016x}-{}", hash, samples.size());
}

struct CachedFeatures {
  torch::Tensor features;  // N x F, CPU
  std::vector<bool> usable;
};

std::optional<CachedFeatures> read_feature_cache(const fs::path& file, const std::string& fingerprint,
                                                 ModelKind kind) {
  if (!fs::is_regular_file(file)) return std::nullopt;
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(file.string(), torch::Device(torch::kCPU));
    c10::IValue stored_fingerprint, stored_kind;
    torch::Tensor features, usable;
    archive.read("fingerprint", stored_fingerprint);
    archive.read("kind", stored_kind);
    if (stored_fingerprint.toStringRef() != fingerprint || stored_kind.toStringRef() != model_name(kind))
      return std::nullopt;
    archive.read("features", features, /*is_buffer=*/true);
    archive.read("usable", usable, /*is_buffer=*/true);
    const auto flags = usable.to(torch::kBool).contiguous();
    const bool* data = flags.data_ptr<bool>();
    return CachedFeatures{features, std::vector<bool>(data, data + flags.numel())};
  } catch (const c10::Error& e) {
    spdlog::warn("ignoring unreadable feature cache {}: {}", file.string(), std::string(e.what()).substr(0, 120));
    return std::nullopt;
  }
}

void write_feature_cache(const fs::path& file, const std::string& fingerprint, ModelKind kind,
                         const CachedFeatures& cached) {
  std::vector<uint8_t> flags(cached.usable.begin(), cached.usable.end());
  torch::serialize::OutputArchive archive;
  archive.write("fingerprint", c10::IValue(fingerprint));
  archive.write("kind", c10::IValue(model_name(kind)));
  archive.write("features", cached.features, /*is_buffer=*/true);
  archive.write("usable", torch::tensor(flags, torch::kUInt8), /*is_buffer=*/true);
  fs::create_directories(file.parent_path());
  const fs::path temporary = file.string() + ".tmp";
  archive.save_to(temporary.string());
  fs::rename(temporary, file);
}

// One pass of the frozen backbone over `samples` (or the cached result of an earlier one).
CachedFeatures backbone_features(Classifier& model, const fs::path& root, const std::vector<Sample>& samples,
                                 const fs::path& cache_file, const TrainOptions& options, torch::Device device) {
  const auto fingerprint = samples_fingerprint(samples);
  if (auto cached = read_feature_cache(cache_file, fingerprint, model->kind())) {
    spdlog::info("features: reusing {}", cache_file.string());
    return *cached;
  }
  LoaderOptions loader_options;
  loader_options.batch_size = kInferenceBatchSize;
  loader_options.cache = CacheMode::Off;  // each image is decoded exactly once
  BatchLoader loader(root, samples, loader_options);
  CachedFeatures result{torch::Tensor(), std::vector<bool>(samples.size(), false)};
  torch::NoGradGuard no_grad;
  model->eval();
  ProgressBar bar("features", loader.num_batches(), kInferenceBatchSize, options.progress);
  loader.start_epoch(0);
  size_t step = 0;
  while (auto batch = loader.next()) {
    if (!batch->indices.empty()) {
      const auto features = model->features(batch->images.to(device)).to(torch::kCPU);
      if (!result.features.defined())
        result.features = torch::zeros({static_cast<int64_t>(samples.size()), features.size(1)});
      const auto rows = torch::tensor(std::vector<int64_t>(batch->indices.begin(), batch->indices.end()), torch::kInt64);
      result.features.index_copy_(0, rows, features);
      for (size_t index : batch->indices) result.usable[index] = true;
    }
    bar.update(++step);
  }
  bar.finish();
  if (!result.features.defined()) throw Error("no image of " + root.string() + " could be decoded: check the dataset");
  write_feature_cache(cache_file, fingerprint, model->kind(), result);
  return result;
}

torch::Tensor labels_of(const std::vector<Sample>& samples) {
  std::vector<int64_t> labels;
  labels.reserve(samples.size());
  for (const auto& sample : samples) labels.push_back(sample.label);
  return torch::tensor(labels, torch::kInt64);
}

std::string timestamp_now() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char text[32];
  std::strftime(text, sizeof(text), "%Y%m%d-%H%M%S", &local);
  return text;
}

// runs/latest -> the run, replaced atomically (a new link renamed over the old one).
void point_latest_link(const fs::path& run_dir) {
  const fs::path link = run_dir.parent_path() / "latest";
  const fs::path temporary = run_dir.parent_path() / (".latest-" + std::to_string(getpid()));
  std::error_code error;
  fs::remove(temporary, error);
  fs::create_directory_symlink(run_dir.filename(), temporary, error);
  if (!error) fs::rename(temporary, link, error);
  if (error) {
    fs::remove(temporary, error);
    spdlog::warn("could not point {} at {}: remove {} if it is not a link", link.string(), run_dir.string(),
                 link.string());
  }
}

fs::path prepare_run_dir(const TrainOptions& options) {
  if (!options.out_dir.empty()) {
    if (options.resume && !fs::is_regular_file(options.out_dir / kLastCheckpoint))
      throw Error("--resume: " + (options.out_dir / kLastCheckpoint).string() +
                  " does not exist: pass --out with the folder of a run that finished at least one epoch");
    fs::create_directories(options.out_dir);
    return options.out_dir;
  }
  if (options.resume) throw Error("--resume needs --out RUN_FOLDER: the run to continue");
  const fs::path base = fs::path("runs") / (model_name(options.model) + "-" + timestamp_now());
  fs::path run_dir = base;
  for (int n = 2; fs::exists(run_dir); ++n) run_dir = base.string() + "-" + std::to_string(n);
  fs::create_directories(run_dir);
  point_latest_link(run_dir);
  return run_dir;
}

const char* cache_mode_name(CacheMode mode) {
  switch (mode) {
    case CacheMode::Memory: return "memory";
    case CacheMode::Disk: return "disk";
    case CacheMode::Off: return "off";
    case CacheMode::Auto: break;
  }
  return "auto";
}

nlohmann::json settings_json(const TrainOptions& options, int epochs, torch::Device device) {
  return {{"model", model_name(options.model)},
          {"data_dir", options.data_dir.string()},
          {"epochs", epochs},
          {"batch_size", options.batch_size},
          {"learning_rate", options.learning_rate},
          {"weights", options.weights.string()},
          {"out_dir", options.out_dir.string()},
          {"resume", options.resume},
          {"seed", options.seed},
          {"split_seed", options.split_seed},
          {"cache", cache_mode_name(options.cache)},
          {"initial_eval_batches", options.initial_eval_batches},
          {"feature_cache", options.feature_cache},
          {"command_line", options.command_line},
          {"catdog_version", CATDOG_VERSION},
          {"threads", torch::get_num_threads()},
          {"device", device.str()}};
}

void write_json_file(const nlohmann::json& json, const fs::path& file) {
  std::ofstream out(file);
  out << json.dump(2) << "\n";
  if (!out) throw Error("cannot write " + file.string() + ": check that the run folder is writable");
}

fs::path backbone_weights_file(const TrainOptions& options) {
  const fs::path file = !options.weights.empty()
                            ? options.weights
                            : fs::path("data") / "weights" / keras_weights_file_name(options.model);
  if (!fs::is_regular_file(file))
    throw Error("backbone weights " + file.string() + " not found: run `scripts/download_weights.sh " +
                model_name(options.model) + "` or pass --weights FILE");
  return file;
}

// Copies `from` over `to` through to.tmp, so `to` is always a whole file.
void copy_atomically(const fs::path& from, const fs::path& to) {
  const fs::path temporary = to.string() + ".tmp";
  fs::copy_file(from, temporary, fs::copy_options::overwrite_existing);
  fs::rename(temporary, to);
}

// What --resume continues from: the run's own settings win over the flags,
// except --epochs.
struct ResumePoint {
  Checkpoint checkpoint;
  TrainOptions options;
};

ResumePoint load_resume_point(const TrainOptions& options, const fs::path& run_dir, torch::Device device) {
  ResumePoint resume{load_checkpoint(run_dir / kLastCheckpoint, device), options};
  const auto& meta = resume.checkpoint.meta;
  resume.options.model = meta.kind;
  resume.options.seed = meta.seed;
  resume.options.split_seed = meta.split_seed;
  resume.options.batch_size = meta.settings.value("batch_size", options.batch_size);
  resume.options.learning_rate = meta.settings.value("learning_rate", options.learning_rate);
  if (resume.options.model != options.model || resume.options.seed != options.seed ||
      resume.options.split_seed != options.split_seed || resume.options.batch_size != options.batch_size ||
      resume.options.learning_rate != options.learning_rate)
    spdlog::info("resume: keeping the run's model {}, seed {}, split seed {}, batch size {}, lr {}",
                 model_name(meta.kind), meta.seed, meta.split_seed, resume.options.batch_size,
                 resume.options.learning_rate);
  return resume;
}

}  // namespace

TrainResult train(const TrainOptions& requested, torch::Device device) {
  const fs::path run_dir = prepare_run_dir(requested);
  std::optional<ResumePoint> resume;
  if (requested.resume) resume = load_resume_point(requested, run_dir, device);
  const TrainOptions& options = resume ? resume->options : requested;
  const int epochs = options.epochs > 0 ? options.epochs : default_epochs(options.model);
  if (options.batch_size < 1) throw Error("--batch-size must be at least 1");

  const auto index = scan_dataset(options.data_dir);
  const auto split = split_dataset(index.samples, options.split_seed);
  spdlog::info("data {}: {} images ({} skipped): train {}, validation {}, test {}", index.root.string(),
               index.samples.size(), index.skipped.size(), split.train.size(), split.validation.size(),
               split.test.size());
  if (split.train.empty() || split.validation.empty())
    throw Error("dataset " + index.root.string() + " is too small to split into train and validation: add images");

  Classifier model{nullptr};
  History history;
  if (resume) {
    model = resume->checkpoint.model;
    history = resume->checkpoint.meta.history;
  } else {
    torch::manual_seed(options.seed);  // the initial weights depend on the seed alone
    model = Classifier(options.model);
    if (model->has_frozen_backbone()) {
      const auto weights = backbone_weights_file(options);
      spdlog::info("backbone weights: {}", weights.string());
      model->load_backbone_weights(weights);
    }
    model->to(device);
    model->weights_changed();
  }
  KerasRMSprop optimizer(model->trainable_parameters(), options.learning_rate);
  if (resume) optimizer.load_state(resume->checkpoint.optimizer_state);
  const int epochs_done = resume ? resume->checkpoint.meta.epochs_done : 0;

  const auto settings = settings_json(options, epochs, device);
  write_json_file(settings, run_dir / "settings.json");

  // Training batches follow BatchLoader's per-epoch order in both forms.
  std::unique_ptr<BatchSource> train_batches, validation_batches;
  if (model->has_frozen_backbone() && options.feature_cache) {
    const auto train_features =
        backbone_features(model, index.root, split.train, run_dir / "features" / "train.pt", options, device);
    const auto validation_features = backbone_features(model, index.root, split.validation,
                                                       run_dir / "features" / "validation.pt", options, device);
    train_batches = std::make_unique<FeatureBatches>(train_features.features.to(device),
                                                     labels_of(split.train).to(device), train_features.usable,
                                                     options.batch_size, true, options.seed);
    validation_batches = std::make_unique<FeatureBatches>(
        validation_features.features.to(device), labels_of(split.validation).to(device), validation_features.usable,
        kInferenceBatchSize, false, options.seed);
  } else {
    LoaderOptions loader_options;
    loader_options.batch_size = options.batch_size;
    loader_options.shuffle = true;
    loader_options.seed = options.seed;
    loader_options.cache = options.cache;
    loader_options.cache_dir = run_dir / "cache";
    auto images = std::make_unique<ImageBatches>(index.root, split.train, loader_options, device);
    spdlog::info("decoded-image cache: {}", images->cache_description());
    train_batches = std::move(images);
    loader_options.batch_size = kInferenceBatchSize;
    loader_options.shuffle = false;
    validation_batches = std::make_unique<ImageBatches>(index.root, split.validation, loader_options, device);
  }

  if (epochs_done == 0 && options.initial_eval_batches > 0) {
    const auto initial = evaluate(model, *validation_batches,
                                  static_cast<int64_t>(options.initial_eval_batches) * options.batch_size);
    spdlog::info("initial: val_loss {:.4f} val_accuracy {:.4f} ({} validation images)", initial.loss(),
                 initial.accuracy(), initial.images);
  }
  if (epochs_done >= epochs)
    spdlog::info("the run already has {} of {} epochs: nothing to train", epochs_done, epochs);

  CheckpointMeta meta;
  meta.kind = options.model;
  meta.split_seed = options.split_seed;
  meta.seed = options.seed;
  meta.settings = settings;
  double best_val_accuracy = -1;
  for (const auto& record : history) best_val_accuracy = std::max(best_val_accuracy, record.val_accuracy);

  for (int epoch = epochs_done + 1; epoch <= epochs; ++epoch) {
    const auto start = std::chrono::steady_clock::now();
    const auto trained = train_epoch(model, optimizer, *train_batches, epoch, epochs, options.batch_size,
                                     options.progress);
    const auto validated = evaluate(model, *validation_batches);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    history.push_back({epoch, trained.loss(), trained.accuracy(), validated.loss(), validated.accuracy(), seconds});
    spdlog::info("epoch {}/{} - loss {:.4f} - accuracy {:.4f} - val_loss {:.4f} - val_accuracy {:.4f} - {:.1f}s",
                 epoch, epochs, trained.loss(), trained.accuracy(), validated.loss(), validated.accuracy(), seconds);

    write_history_files(history, run_dir);
    plot_training_curves(history, run_dir / "curves.png");
    meta.epochs_done = epoch;
    meta.history = history;
    save_checkpoint(run_dir / kLastCheckpoint, model, optimizer.state(), meta);
    if (validated.accuracy() > best_val_accuracy) {  // ties keep the earlier epoch
      best_val_accuracy = validated.accuracy();
      copy_atomically(run_dir / kLastCheckpoint, run_dir / kBestCheckpoint);
      spdlog::info("best so far: {}", (run_dir / kBestCheckpoint).string());
    }
  }
  model->eval();
  return {run_dir, history};
}

}  // namespace catdog
